"""The co-op's data: SQLModel tables and the request/response models around them.

Convention: ``XBase`` holds the shared fields, ``X(table=True)`` the table, ``XCreate`` /
``XUpdate`` the request bodies (unknown fields forbidden, so nobody can mass-assign a
role, a co-op or a balance) and ``XPublic`` the response. No model inherits from a table.

Times of visits, availability and leave are local wall-clock times of the co-op (naive),
like the problem file; audit stamps (``created_at``...) are naive UTC.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import sqlalchemy as sa
import sqlalchemy.orm
from pydantic import (
    ConfigDict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic import NaiveDatetime as _NaiveDatetime
from sqlmodel import Column, Field, SQLModel, col

from api.input import strict_scalar

# Times in the API carry no offset: a visit's are the co-op's wall-clock times (08:00 is 08:00
# whatever the season), a record's stamps are UTC. JSON Schema's "date-time" format demands an
# offset, so the schema says what they are instead.
NaiveDatetime = Annotated[_NaiveDatetime, WithJsonSchema({
    "type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$",
    "description": "a time without an offset, e.g. 2026-12-01T08:30 (visits: the co-op's "
                   "local time; record stamps: UTC)"})]

ROLES = ("coordinator", "staff", "volunteer", "client", "family")
CARER_ROLES = ("staff", "volunteer")
HHMM_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
_HHMM = re.compile(HHMM_PATTERN)
Weekday = Annotated[int, Field(ge=0, le=6)]
HHMM = Annotated[str, StringConstraints(pattern=HHMM_PATTERN)]
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$"
#: database ids are 32-bit on PostgreSQL: larger numbers are refused as invalid, not crashed on
MAX_ID = 2_147_483_647
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def utcnow() -> NaiveDatetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Role(enum.StrEnum):
    coordinator = "coordinator"
    staff = "staff"
    volunteer = "volunteer"
    client = "client"
    family = "family"


class Priority(enum.StrEnum):
    essential = "essential"
    important = "important"
    optional = "optional"


class RotaStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    superseded = "superseded"


class VisitStatus(enum.StrEnum):
    planned = "planned"
    unassigned = "unassigned"
    completed = "completed"
    missed = "missed"
    cancelled = "cancelled"


class RunStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class LeaveKind(enum.StrEnum):
    leave = "leave"      # unavailable for the interval
    extra = "extra"      # a one-off extra availability


class RunKind(enum.StrEnum):
    request = "request"  # a coordinator asked for the week
    weekly = "weekly"    # the scheduled weekly solve
    resolve = "resolve"  # a re-solve of a rota after an absence


class CarerChoice(enum.StrEnum):
    """How a client regards a carer (``ClientCarer.kind``)."""

    preferred = "preferred"
    excluded = "excluded"


def _enum_values(enum_type: type[enum.StrEnum]) -> list[str]:
    return [member.value for member in enum_type]


def enum_column(enum_type: type[enum.StrEnum], length: int, **column: Any) -> Any:
    """A column holding one of ``enum_type``'s values as plain text.

    The database type stays ``VARCHAR(length)`` (no database enum type, no CHECK constraint), so
    rows written as strings before the columns were typed read back unchanged and no data
    migration is needed; SQLAlchemy turns what it reads into the enum member and refuses to
    write any other string (``validate_strings``). The API's JSON is the same strings."""
    return Column(sa.Enum(enum_type, native_enum=False, length=length, create_constraint=False,
                          validate_strings=True, values_callable=_enum_values),
                  nullable=False, **column)


class Forbid(SQLModel):
    """A request body: unknown fields refused, numbers and booleans strict (``api.input``)."""

    # SQLModel types model_config as its own SQLModelConfig; a plain ConfigDict is what it accepts
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        return value if field is None else strict_scalar(field.annotation, value)


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError("must be a time of day like '08:30'")
    return value


def role_of(member: Member) -> Role:
    """The member's role (the column is typed: always a :class:`Role`)."""
    return Role(member.role)


class _Row(Protocol):
    id: int | None


def saved_id(row: _Row) -> int:
    """The id of a row that is in the database (loaded, or added and flushed). Tables declare
    ``id: int | None`` because a new row has none until the database gives it one; code that
    holds a saved row asks for its id here instead of asserting at each use."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: add and flush it first")
    return row.id


def minutes_of(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


# ----------------------------------------------------------------------------- co-ops
class CoopBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    weekly_solve_enabled: bool = True


class Coop(CoopBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    # privacy policy (``PUT /coops/me/privacy``, ``api.services.privacy``)
    #: may a member be erased while their time-bank balance is not zero?
    erase_with_open_balance: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    #: days after a week ends that its visits' details and rota files keep names (then pseudonymised)
    retention_visit_days: int = Field(default=2922, sa_column_kwargs={"server_default": sa.text("2922")})
    #: days after an inactive client's last visit that their record is kept (then erased)
    retention_client_days: int = Field(default=2922, sa_column_kwargs={"server_default": sa.text("2922")})
    #: days after an inactive member's last visit (or joining) that their details are kept
    retention_member_days: int = Field(default=2192, sa_column_kwargs={"server_default": sa.text("2192")})


class CoopPublic(CoopBase):
    id: int


class CoopUpdate(Forbid):
    name: str = Field(default=None, min_length=1, max_length=200)
    weekly_solve_enabled: bool = Field(default=None)


class CoordinatorSignup(Forbid):
    email: Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, min_length=3, max_length=254)]
    full_name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=8, max_length=200)


class CoopCreate(Forbid):
    name: str = Field(min_length=1, max_length=200)
    coordinator: CoordinatorSignup


# ----------------------------------------------------------------------------- members
class MemberBase(SQLModel):
    email: Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, min_length=3, max_length=254)]
    full_name: str = Field(min_length=1, max_length=200)
    role: Role
    gender: str | None = Field(default=None, max_length=40)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    speed_kmh: float | None = Field(default=None, gt=0, le=200)
    max_minutes_per_day: int = Field(default=720, ge=0, le=1440)
    max_minutes_per_week: int = Field(default=2880, ge=0, le=10080)
    contracted_minutes: int | None = Field(default=None, ge=0, le=10080)
    hourly_cost: float = Field(default=0.0, ge=0, le=10000)


class Member(MemberBase, table=True):
    __table_args__ = (sa.UniqueConstraint("email", name="uq_member_email"),)
    id: int | None = Field(default=None, primary_key=True)
    coop_id: int = Field(foreign_key="coop.id", index=True)
    role: Role = Field(sa_column=enum_column(Role, 20))
    hashed_password: str
    is_active: bool = True
    client_id: int | None = Field(default=None, foreign_key="client.id")
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    #: set when the member's personal details were erased (the row keeps only a pseudonym)
    erased_at: NaiveDatetime | None = None
    #: a legal hold (its reason): erasure is refused while it stands
    legal_hold: str | None = Field(default=None, max_length=500)


class MemberCreate(Forbid, MemberBase):
    #: leave out to invite the member instead (``POST /members/{id}/password-link``)
    password: str | None = Field(default=None, min_length=8, max_length=200)
    client_id: Id | None = None

    @model_validator(mode="after")
    def _contract_staff_only(self) -> MemberCreate:
        if self.contracted_minutes is not None and self.role != Role.staff:
            raise ValueError("contracted_minutes: only staff have a contract")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon: give both or neither")
        return self


class MemberUpdate(Forbid):
    full_name: str = Field(default=None, min_length=1, max_length=200)
    gender: str | None = Field(default=None, max_length=40)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    speed_kmh: float | None = Field(default=None, gt=0, le=200)
    max_minutes_per_day: int = Field(default=None, ge=0, le=1440)
    max_minutes_per_week: int = Field(default=None, ge=0, le=10080)
    contracted_minutes: int | None = Field(default=None, ge=0, le=10080)
    hourly_cost: float = Field(default=None, ge=0, le=10000)
    password: str = Field(default=None, min_length=8, max_length=200)


class RoleChange(Forbid):
    """A member's new role (``PUT /members/{id}/role``)."""

    role: Role


class MemberPublic(MemberBase):
    id: int
    coop_id: int
    is_active: bool
    client_id: int | None = None

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects it
    @property
    def roster_warnings(self) -> list[str]:
        """What keeps this carer out of the rota's solves (empty when nothing does)."""
        if self.role in CARER_ROLES and (self.lat is None or self.lon is None):
            return ["needs a home location (lat, lon) to be rostered"]
        return []


# ----------------------------------------------------------------------------- skills
class SkillBase(SQLModel):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]+$", min_length=1, max_length=60)]
    #: the first day on which the skill is no longer held (None: never expires)
    expires_on: dt.date | None = None


class Skill(SkillBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)


class SkillCreate(Forbid, SkillBase):
    pass


class SkillPublic(SkillBase):
    id: int
    member_id: int


# ----------------------------------------------------------------------------- availability
class AvailabilityBase(SQLModel):
    weekday: int = Field(ge=0, le=6, description="0 = Monday ... 6 = Sunday")
    start: HHMM = Field(description="'HH:MM'")
    end: HHMM = Field(description="'HH:MM', after start; '24:00' is not allowed, use 23:59")


class Availability(AvailabilityBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)


class AvailabilityCreate(Forbid, AvailabilityBase):
    _v_start = field_validator("start")(_check_hhmm)
    _v_end = field_validator("end")(_check_hhmm)

    @model_validator(mode="after")
    def _ordered(self) -> AvailabilityCreate:
        if minutes_of(self.end) <= minutes_of(self.start):
            raise ValueError("end: availability must end after it starts")
        return self


class AvailabilityPublic(AvailabilityBase):
    id: int
    member_id: int


class LeaveBase(SQLModel):
    kind: LeaveKind = LeaveKind.leave
    start: NaiveDatetime
    end: NaiveDatetime
    note: str | None = Field(default=None, max_length=500)


class Leave(LeaveBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    kind: LeaveKind = Field(sa_column=enum_column(LeaveKind, 10))


class LeaveCreate(Forbid, LeaveBase):
    @model_validator(mode="after")
    def _ordered(self) -> LeaveCreate:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start/end: local times without a UTC offset")
        if self.end <= self.start:
            raise ValueError("end: must be after start")
        return self


class LeavePublic(LeaveBase):
    id: int
    member_id: int


# ----------------------------------------------------------------------------- clients
class ClientBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)
    #: how to get in (key safe, door code, dog...): shown to the carers on the client's visits
    access_notes: str | None = Field(default=None, max_length=1000)
    gender_preference: str | None = Field(default=None, max_length=40)


class Client(ClientBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    coop_id: int = Field(foreign_key="coop.id", index=True)
    is_active: bool = True
    #: set when the client's details and care needs were erased (the row keeps only a pseudonym)
    erased_at: NaiveDatetime | None = None
    #: a legal hold (its reason): erasure is refused while it stands
    legal_hold: str | None = Field(default=None, max_length=500)


class ClientCreate(Forbid, ClientBase):
    pass


class ClientUpdate(Forbid):
    name: str = Field(default=None, min_length=1, max_length=200)
    lat: float = Field(default=None, ge=-90, le=90)
    lon: float = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)
    access_notes: str | None = Field(default=None, max_length=1000)
    gender_preference: str | None = Field(default=None, max_length=40)
    is_active: bool = Field(default=None)


class ClientPublic(ClientBase):
    id: int
    coop_id: int
    is_active: bool
    preferred_carers: list[int] = []
    excluded_carers: list[int] = []


class ClientCarer(SQLModel, table=True):
    """A carer the client prefers (``preferred``) or never wants (``excluded``)."""

    __table_args__ = (sa.UniqueConstraint("client_id", "member_id", name="uq_client_carer"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    kind: CarerChoice = Field(sa_column=enum_column(CarerChoice, 10))


class ClientPreferences(Forbid):
    preferred_carers: list[Id] = Field(default_factory=list, max_length=200)
    excluded_carers: list[Id] = Field(default_factory=list, max_length=200)


class ClientShare(SQLModel, table=True):
    """The client shares their visits with a family member."""

    __table_args__ = (sa.UniqueConstraint("client_id", "member_id", name="uq_client_share"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)


class ShareCreate(Forbid):
    member_id: Id


class SharePublic(SQLModel):
    id: int
    client_id: int
    member_id: int


# ----------------------------------------------------------------------------- care plans
class RoleSpec(Forbid):
    skills: list[str] = Field(default_factory=list, max_length=20)
    duration_minutes: int | None = Field(default=None, gt=0, le=1440)


class VisitTemplateBase(SQLModel):
    label: str = Field(min_length=1, max_length=100)
    days: list[int] = Field(sa_column=Column(sa.JSON, nullable=False),
                            description="weekdays, 0 = Monday ... 6 = Sunday")
    earliest_start: str = Field(description="'HH:MM': the start window opens")
    latest_start: str = Field(description="'HH:MM': the start window closes")
    duration_minutes: int = Field(gt=0, le=1440)
    roles: list[dict[str, Any]] = Field(default_factory=lambda: [{"skills": []}],
                                        sa_column=Column(sa.JSON, nullable=False))
    priority: Priority = Priority.essential
    volunteer_ok: bool = False
    max_lateness_minutes: int = Field(default=0, ge=0, le=720)


class VisitTemplate(VisitTemplateBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    coop_id: int = Field(foreign_key="coop.id", index=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    priority: Priority = Field(sa_column=enum_column(Priority, 10))
    is_active: bool = True


def _check_template(days: list[int] | None, es: str | None, ls: str | None, duration: int | None,
                    ) -> None:
    if days is not None:
        if not days:
            raise ValueError("days: at least one weekday")
        if any(not 0 <= d <= 6 for d in days) or len(set(days)) != len(days):
            raise ValueError("days: distinct weekdays 0 (Monday) to 6 (Sunday)")
    if es is not None and ls is not None and minutes_of(ls) < minutes_of(es):
        raise ValueError("latest_start: the window ends before it starts")
    if ls is not None and duration is not None and minutes_of(ls) + duration > 2 * 1440:
        raise ValueError("duration_minutes: too long")


class VisitTemplateCreate(Forbid):
    label: str = Field(min_length=1, max_length=100)
    days: list[Weekday] = Field(min_length=1, max_length=7)
    earliest_start: HHMM
    latest_start: HHMM
    duration_minutes: int = Field(gt=0, le=1440)
    roles: list[RoleSpec] = Field(default_factory=lambda: [RoleSpec()], min_length=1, max_length=4)
    priority: Priority = Priority.essential
    volunteer_ok: bool = False
    max_lateness_minutes: int = Field(default=0, ge=0, le=720)

    _v_es = field_validator("earliest_start")(_check_hhmm)
    _v_ls = field_validator("latest_start")(_check_hhmm)

    @model_validator(mode="after")
    def _valid(self) -> VisitTemplateCreate:
        _check_template(self.days, self.earliest_start, self.latest_start, None)
        return self


class VisitTemplateUpdate(Forbid):
    label: str = Field(default=None, min_length=1, max_length=100)
    days: list[Weekday] = Field(default=None, min_length=1, max_length=7)
    earliest_start: HHMM = Field(default=None)
    latest_start: HHMM = Field(default=None)
    duration_minutes: int = Field(default=None, gt=0, le=1440)
    roles: list[RoleSpec] = Field(default=None, min_length=1, max_length=4)
    priority: Priority = Field(default=None)
    volunteer_ok: bool = Field(default=None)
    max_lateness_minutes: int = Field(default=None, ge=0, le=720)
    is_active: bool = Field(default=None)

    @field_validator("earliest_start", "latest_start")
    @classmethod
    def _hhmm(cls, v: str | None) -> str | None:
        return None if v is None else _check_hhmm(v)


class VisitTemplatePublic(VisitTemplateBase):
    id: int
    coop_id: int
    client_id: int
    is_active: bool


class TemplateDependencyBase(SQLModel):
    first_id: int = Field(foreign_key="visittemplate.id")
    then_id: int = Field(foreign_key="visittemplate.id")
    min_gap_minutes: int = Field(default=0, ge=0, le=1440)
    max_gap_minutes: int | None = Field(default=None, ge=0, le=1440)


class TemplateDependency(TemplateDependencyBase, table=True):
    """Same-day dependency between two visit templates of one client."""

    id: int | None = Field(default=None, primary_key=True)
    coop_id: int = Field(foreign_key="coop.id", index=True)


class TemplateDependencyCreate(Forbid):
    first_id: Id
    then_id: Id
    min_gap_minutes: int = Field(default=0, ge=0, le=1440)
    max_gap_minutes: int | None = Field(default=None, ge=0, le=1440)

    @model_validator(mode="after")
    def _valid(self) -> TemplateDependencyCreate:
        if self.first_id == self.then_id:
            raise ValueError("then_id: a visit cannot depend on itself")
        if self.max_gap_minutes is not None and self.max_gap_minutes < self.min_gap_minutes:
            raise ValueError("max_gap_minutes: must be at least min_gap_minutes")
        return self


class TemplateDependencyPublic(SQLModel):
    id: int
    first_id: int
    then_id: int
    min_gap_minutes: int
    max_gap_minutes: int | None


# ----------------------------------------------------------------------------- runs & rotas
class SolveRun(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    coop_id: int = Field(foreign_key="coop.id", index=True)
    week_start: dt.date
    kind: RunKind = Field(default=RunKind.request, sa_column=enum_column(RunKind, 20))
    #: set for scheduled runs: one weekly run per co-op and week, however often the job fires
    dedupe_key: str | None = Field(default=None, max_length=100, unique=True)
    status: RunStatus = Field(default=RunStatus.queued, sa_column=enum_column(RunStatus, 20))
    #: the lease of the worker solving the run: only its holder writes the run's outcome
    lease_id: str | None = Field(default=None, max_length=64)
    #: written by the lease holder every ``run_heartbeat_seconds``; a running run whose heartbeat
    #: is older than ``run_lease_seconds`` lost its worker and is taken over (or failed)
    heartbeat_at: NaiveDatetime | None = None
    #: solve attempts so far (a claim counts one); a run is tried at most ``run_max_attempts`` times
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    #: the worker holding (or last holding) the run: ``name`` of its ``solveworker`` row
    worker: str | None = Field(default=None, max_length=200)
    #: when the run was last handed to the pool or the broker
    enqueued_at: NaiveDatetime | None = None
    requested_by: int | None = Field(default=None, foreign_key="member.id")
    base_rota_id: int | None = Field(default=None, foreign_key="rota.id")
    problem: dict | None = Field(default=None, sa_column=Column(sa.JSON))
    id_map: dict | None = Field(default=None, sa_column=Column(sa.JSON))
    time_limit: float = 30.0
    objective: float | None = None
    best_bound: float | None = None
    gap: float | None = None
    #: visits the best rota so far covers, of the week's visits (the progress view's count)
    covered_visits: int | None = None
    total_visits: int | None = None
    progress_at: NaiveDatetime | None = None
    error: str | None = None
    rota_id: int | None = Field(default=None, foreign_key="rota.id")
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    started_at: NaiveDatetime | None = None
    finished_at: NaiveDatetime | None = None


class WorkerKind(enum.StrEnum):
    celery = "celery"        # a ``carerota worker`` process
    embedded = "embedded"    # the pool of an API process (no broker)


class SolveWorker(SQLModel, table=True):
    """A solve worker process seen alive (``carerota worker``, or the embedded pool of an API
    process): its row is written every heartbeat, so every API process can say which run."""

    name: str = Field(primary_key=True, max_length=200)
    kind: WorkerKind = Field(sa_column=enum_column(WorkerKind, 20))
    started_at: NaiveDatetime = Field(default_factory=utcnow)
    seen_at: NaiveDatetime = Field(default_factory=utcnow)
    concurrency: int = 1


class Rota(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("coop_id", "week_start", "version", name="uq_rota_version"),)
    id: int | None = Field(default=None, primary_key=True)
    coop_id: int = Field(foreign_key="coop.id", index=True)
    week_start: dt.date
    version: int
    status: RotaStatus = Field(default=RotaStatus.draft, sa_column=enum_column(RotaStatus, 20))
    run_id: int | None = None
    problem: dict = Field(sa_column=Column(sa.JSON, nullable=False))
    id_map: dict = Field(sa_column=Column(sa.JSON, nullable=False))
    rota_file: dict = Field(sa_column=Column(sa.JSON, nullable=False))
    objective: float | None = None
    note: str | None = Field(default=None, max_length=500)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    published_at: NaiveDatetime | None = None
    #: set when retention pseudonymised the version's files and visit details
    pseudonymised_at: NaiveDatetime | None = None


class WeekVisit(SQLModel, table=True):
    """A visit of a co-op's week, whatever the rota version: its id is the visit id the API
    shows, so a link or a check-out in flight survives hand edits and re-solves. Each version
    records its own assignment of it (a ``Visit`` row)."""

    __table_args__ = (sa.UniqueConstraint("coop_id", "week_start", "key", name="uq_weekvisit_key"),)
    id: int | None = Field(default=None, primary_key=True)
    coop_id: int = Field(foreign_key="coop.id", index=True)
    week_start: dt.date
    key: str = Field(max_length=100)


class Visit(SQLModel, table=True):
    """One rota version's record of a visit: its window, status, start and carers.

    The carers are the visit's ``VisitCarer`` rows (``carers``, loaded with the visit) and
    ``carer_ids`` is derived from them; there is no second copy to keep in step (revision 0006
    dropped the JSON column that was one). Change them with ``api.services.rotas.set_carers``."""

    __table_args__ = (sa.UniqueConstraint("rota_id", "key", name="uq_visit_key"),)
    id: int | None = Field(default=None, primary_key=True)
    #: the visit's lasting id (``WeekVisit``), the same in every version of the week's rota;
    #: always set (nullable in the database only so that SQLite adds it without a table rebuild)
    week_visit_id: int | None = Field(default=None, foreign_key="weekvisit.id", index=True)
    rota_id: int = Field(foreign_key="rota.id", index=True)
    coop_id: int = Field(foreign_key="coop.id", index=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    template_id: int | None = Field(default=None, foreign_key="visittemplate.id")
    #: the visit's id in the problem file; stable across versions of a week's rota
    key: str = Field(max_length=100)
    label: str = ""
    earliest_start: NaiveDatetime
    latest_start: NaiveDatetime
    duration_minutes: int
    priority: Priority = Field(sa_column=enum_column(Priority, 10))
    volunteer_ok: bool = False
    status: VisitStatus = Field(default=VisitStatus.planned, sa_column=enum_column(VisitStatus, 20))
    start: NaiveDatetime | None = None
    reasons: list[str] = Field(default_factory=list, sa_column=Column(sa.JSON, nullable=False))
    actual_start: NaiveDatetime | None = None
    actual_end: NaiveDatetime | None = None
    completed_by: int | None = None
    credited: bool = False

    if TYPE_CHECKING:   # mapped below, once VisitCarer exists
        carers: list[VisitCarer]

    @property
    def carer_ids(self) -> list[int]:
        """The carers on the visit, one member id per role in role order (its ``VisitCarer`` rows)."""
        return [vc.member_id for vc in sorted(self.carers, key=lambda vc: (vc.role_index, vc.member_id))]


class VisitCarer(SQLModel, table=True):
    """Who is on a visit (one row per carer), so a carer's week is one indexed query."""

    __table_args__ = (sa.UniqueConstraint("visit_id", "member_id", name="uq_visit_carer"),)
    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    role_index: int = 0


# ``Visit.carers``: added on the mapper rather than declared with SQLModel's ``Relationship``,
# whose reading of a ``list[VisitCarer]`` annotation fails under ``from __future__ import
# annotations``. Loaded with each visit (one ``IN`` query per batch of visits); a carer row
# removed from the list is deleted.
sa.inspect(Visit).add_property("carers", sa.orm.relationship(
    VisitCarer, order_by=col(VisitCarer.role_index), lazy="selectin",
    cascade="all, delete-orphan"))


# ----------------------------------------------------------------------------- API shapes
class ErrorBody(SQLModel):
    """Every 4xx: ``detail`` says what is wrong; ``errors`` lists each ``field: reason``
    (request validation errors keep FastAPI's list form in ``detail``)."""

    detail: str | list[dict[str, Any]]
    errors: list[str] = []


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text} for code, text in (
        (400, "bad request"), (401, "not logged in, or the token is invalid or expired"),
        (403, "the caller's role may not do this"), (404, "unknown id (or another co-op's)"),
        (409, "conflicts with the current state"), (422, "invalid input: each field and the reason"),
        (429, "rate limit exceeded"), (503, "the database stayed busy; retry"))
}


class PasswordLink(SQLModel):
    """A one-time token with which a member sets their own password (``POST /auth/password``):
    an invitation for a member who has none yet, else a reset. Hand it to the member; it stops
    working once any link of that member is used (the password changed), or at ``expires_at``."""

    member_id: int
    purpose: str
    token: str
    expires_at: NaiveDatetime


class PasswordSet(Forbid):
    token: str = Field(min_length=1, max_length=2000)
    password: str = Field(min_length=8, max_length=200)


class Token(SQLModel):
    access_token: str
    token_type: str = "bearer"
    scopes: list[str] = []


class RotaRequest(Forbid):
    week_start: dt.date = Field(description="the Monday the week starts on")
    time_limit: float | None = Field(default=None, gt=0, le=600)


class ResolveRequest(Forbid):
    absent_member_ids: list[Id] = Field(default_factory=list, max_length=200)
    time_limit: float | None = Field(default=None, gt=0, le=600)


class RunAccepted(SQLModel):
    run_id: int
    status: RunStatus
    week_start: dt.date


class UnassignedPublic(SQLModel):
    visit_id: int | None
    key: str
    reasons: list[str]


class RunPublic(SQLModel):
    id: int
    coop_id: int
    week_start: dt.date
    kind: RunKind
    status: RunStatus
    objective: float | None
    best_bound: float | None
    #: (objective - best_bound) / objective, 0 to 1; null when no bound is proven (see gap_text)
    gap: float | None
    #: visits covered by the best rota so far (the final rota's once succeeded), of total_visits
    covered_visits: int | None = None
    total_visits: int | None = None
    error: str | None
    rota_id: int | None
    created_at: NaiveDatetime
    started_at: NaiveDatetime | None
    finished_at: NaiveDatetime | None
    #: records of the co-op left out of the week's problem, and why (the rest was solved)
    warnings: list[str] = []
    unassigned: list[UnassignedPublic] = []

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects it
    @property
    def gap_text(self) -> str:
        """The gap as a percentage (``'3.4%'``), or ``'unknown (no bound proven)'``."""
        from api.services.wording import gap_text

        return gap_text(self.gap)


class VisitPublic(SQLModel):
    id: int
    rota_id: int
    client_id: int
    template_id: int | None
    key: str
    label: str
    earliest_start: NaiveDatetime
    latest_start: NaiveDatetime
    duration_minutes: int
    priority: Priority
    volunteer_ok: bool
    status: VisitStatus
    start: NaiveDatetime | None
    carer_ids: list[int]
    reasons: list[str]
    actual_start: NaiveDatetime | None
    actual_end: NaiveDatetime | None
    credited: bool


class VisitClientPublic(SQLModel):
    """What a carer needs to find and enter a client's home (only on the carer's own visits)."""

    id: int
    name: str
    address: str | None
    access_notes: str | None


class VisitPartnerPublic(SQLModel):
    """The other carer(s) of a double-up visit."""

    member_id: int
    full_name: str


class MyVisitPublic(VisitPublic):
    client: VisitClientPublic
    partners: list[VisitPartnerPublic] = []


class VisitDetail(VisitPublic):
    """One visit; ``client`` and ``partners`` are filled for the carers on it and coordinators."""

    client: VisitClientPublic | None = None
    partners: list[VisitPartnerPublic] = []


class MyRotaPublic(SQLModel):
    """A carer's week: which week is shown, why, and their own visits in its published rota."""

    week_start: dt.date
    #: why this week is shown: ``requested``, ``this week`` or ``next published week with visits``
    shown: str
    note: str
    visits: list[MyVisitPublic] = []


class RotaPublic(SQLModel):
    id: int
    coop_id: int
    week_start: dt.date
    version: int
    status: RotaStatus
    run_id: int | None
    objective: float | None
    note: str | None
    created_at: NaiveDatetime
    published_at: NaiveDatetime | None
    kpis: dict[str, Any] = {}


class RotaDetail(RotaPublic):
    visits: list[VisitPublic] = []


class AssignmentChange(Forbid):
    carer_ids: list[Id] = Field(min_length=1, max_length=4, description="one member id per role")
    start: NaiveDatetime


class Unassign(Forbid):
    reason: str = Field(default="unassigned by hand", max_length=300)


class CheckOut(Forbid):
    actual_start: NaiveDatetime | None = None
    actual_end: NaiveDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> CheckOut:
        if (self.actual_start is None) != (self.actual_end is None):
            raise ValueError("actual_start and actual_end: give both or neither")
        if self.actual_start and self.actual_end and self.actual_end <= self.actual_start:
            raise ValueError("actual_end: must be after actual_start")
        return self


class GiftCreate(Forbid):
    to_member_id: Id
    minutes: int = Field(gt=0, le=100_000)
    note: str | None = Field(default=None, max_length=500)


class DonationCreate(Forbid):
    """Hours given to the co-op's community pot (one pot per co-op)."""

    minutes: int = Field(gt=0, le=100_000)
    note: str | None = Field(default=None, max_length=500)


class ExchangeCreate(Forbid):
    """A volunteer gave ``minutes`` of help to another member outside the rota."""

    to_member_id: Id
    minutes: int = Field(gt=0, le=24 * 60)
    note: str | None = Field(default=None, max_length=500)


# ----------------------------------------------------------------------------- access log
class AccessLogEntry(SQLModel, table=True):
    """Who read or wrote a client's record or a member's personal details, what, when and why
    (the endpoint). Append-only: the database refuses UPDATE and DELETE (revision 0008).

    The subject ids are plain integers, not foreign keys: the log outlives what it is about."""

    __tablename__ = "accesslog"
    __table_args__ = (sa.Index("ix_accesslog_coop_id_id", "coop_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    coop_id: int = Field(foreign_key="coop.id")
    at: NaiveDatetime = Field(default_factory=utcnow)
    actor_id: int
    actor_role: str = Field(max_length=20)
    #: ``read`` or ``write``
    action: str = Field(max_length=10)
    #: the kind of record: client, preferences, care_plan, visit, member, access_log, export
    record_kind: str = Field(max_length=30)
    record_id: int | None = None
    #: the client the record is about, if any
    client_id: int | None = Field(default=None, index=True)
    #: the member the record is about, if any
    subject_member_id: int | None = Field(default=None, index=True)
    #: the endpoint and method, e.g. ``GET /visits/{visit_id}``
    endpoint: str = Field(max_length=300)


class AccessLogPublic(SQLModel):
    """One request's access. ``record_kind``... are the entry's first record that the reader
    may see (a list read or a rota touches many: ``subjects`` lists those the reader may see)."""

    id: int
    at: NaiveDatetime
    actor_id: int
    actor_role: str
    action: str
    record_kind: str
    record_id: int | None
    client_id: int | None
    subject_member_id: int | None
    endpoint: str
    subjects: list[AccessSubjectPublic] = []


class AccessLogPage(SQLModel):
    entries: list[AccessLogPublic]
    #: pass as ``before`` for the next (older) page; ``null`` on the last one
    next_cursor: int | None


class AccessLogSubject(SQLModel, table=True):
    """One record a logged request touched (an entry has one row per record: a list read, a
    rota, an export). Append-only, as ``accesslog`` (revision 0009p)."""

    __tablename__ = "accesslogsubject"
    id: int | None = Field(default=None, primary_key=True)
    #: set when the entry is flushed (the rows are added through ``AccessLogEntry.subject_rows``)
    entry_id: int | None = Field(default=None, foreign_key="accesslog.id", index=True, nullable=False)
    coop_id: int
    action: str = Field(max_length=10)
    record_kind: str = Field(max_length=30)
    record_id: int | None = None
    client_id: int | None = Field(default=None, index=True)
    subject_member_id: int | None = Field(default=None, index=True)


# ``AccessLogEntry.subject_rows``: an entry's records, written with it (``write_only``: the log is
# read by queries, never through it); on the mapper, as ``Visit.carers``.
sa.inspect(AccessLogEntry).add_property("subject_rows", sa.orm.relationship(
    AccessLogSubject, lazy="write_only", cascade="save-update", passive_deletes=True))


class AccessSubjectPublic(SQLModel):
    action: str
    record_kind: str
    record_id: int | None
    client_id: int | None
    subject_member_id: int | None


# ----------------------------------------------------------------------------- privacy
class PrivacyPolicy(SQLModel):
    """The co-op's privacy policy: erasure with an open balance, and retention periods (days)."""

    erase_with_open_balance: bool
    retention_visit_days: int
    retention_client_days: int
    retention_member_days: int


class PrivacyPolicyUpdate(Forbid):
    erase_with_open_balance: bool = Field(default=None)
    #: at least a year: retention shorter than that would pseudonymise the live weeks' rotas
    retention_visit_days: int = Field(default=None, ge=365, le=36500)
    retention_client_days: int = Field(default=None, ge=365, le=36500)
    retention_member_days: int = Field(default=None, ge=365, le=36500)


class LegalHoldSet(Forbid):
    reason: str = Field(min_length=1, max_length=500)


class LegalHoldPublic(SQLModel):
    kind: str
    id: int
    legal_hold: str | None


class ErasurePublic(SQLModel):
    """What an erasure did: the pseudonym the records keep and how many rows were rewritten."""

    kind: str
    id: int
    pseudonym: str
    erased_at: NaiveDatetime
    changed: dict[str, int]


class RetentionReport(SQLModel):
    """What a retention run did (or would do, ``dry_run``): per co-op, what was pseudonymised."""

    dry_run: bool
    rotas_pseudonymised: int = 0
    runs_pseudonymised: int = 0
    clients_erased: int = 0
    members_erased: int = 0
    refused: list[str] = []


# ----------------------------------------------------------------------------- federations
class FederationBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)


class Federation(FederationBase, table=True):
    """A federation of co-ops (issue 13); its ledger side (member co-ops, clearing accounts,
    limits, moves) is ``timebank.federation``'s, under the federation id ``str(id)``."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: NaiveDatetime = Field(default_factory=utcnow)


class FederationCreate(Forbid, FederationBase):
    #: each member co-op's position stays within -limit..+limit (minutes) unless set otherwise
    default_limit_minutes: int = Field(default=6000, ge=0, le=10_000_000)


class FederationInvite(SQLModel, table=True):
    """An officer invited a co-op; its coordinator joins with ``POST .../join``."""

    __table_args__ = (sa.UniqueConstraint("federation_id", "coop_id", name="uq_federation_invite"),)
    id: int | None = Field(default=None, primary_key=True)
    federation_id: int = Field(foreign_key="federation.id", index=True)
    coop_id: int = Field(foreign_key="coop.id")
    created_at: NaiveDatetime = Field(default_factory=utcnow)


class OfficerVote(SQLModel, table=True):
    """A member co-op's vote (cast by a coordinator) for an officer of the federation; one
    current vote per co-op. A candidate with the votes of more than half of the member co-ops
    is an officer."""

    __table_args__ = (sa.UniqueConstraint("federation_id", "coop_id", name="uq_officer_vote"),)
    id: int | None = Field(default=None, primary_key=True)
    federation_id: int = Field(foreign_key="federation.id", index=True)
    coop_id: int = Field(foreign_key="coop.id")
    member_id: int = Field(foreign_key="member.id")
    created_at: NaiveDatetime = Field(default_factory=utcnow)


class InviteCreate(Forbid):
    coop_id: Id


class VoteCreate(Forbid):
    member_id: Id


class LimitSet(Forbid):
    limit_minutes: int = Field(ge=0, le=10_000_000)


class FederalGiftCreate(Forbid):
    """Hours given to a member of another co-op of the federation (e.g. family)."""

    to_member_id: Id
    minutes: int = Field(gt=0, le=100_000)
    note: str | None = Field(default=None, max_length=500)


class FederalHelpCreate(Forbid):
    """The caller pays a volunteer of another co-op of the federation for help received."""

    volunteer_member_id: Id
    minutes: int = Field(gt=0, le=24 * 60)
    note: str | None = Field(default=None, max_length=500)


class SettlementCreate(Forbid):
    """A settlement from the pot of a co-op that owes to the pot of one that is owed."""

    from_coop_id: Id
    to_coop_id: Id
    minutes: int = Field(gt=0, le=10_000_000)
    note: str | None = Field(default=None, max_length=500)


class FederationCoopPublic(SQLModel):
    coop_id: int
    name: str
    limit_minutes: int
    #: > 0 the federation owes the co-op minutes, < 0 the co-op owes
    position_minutes: int
    active: bool


class OfficerPublic(SQLModel):
    member_id: int
    coop_id: int
    votes: int


class FederationPublic(SQLModel):
    id: int
    name: str
    default_limit_minutes: int
    coops: list[FederationCoopPublic]
    officers: list[OfficerPublic]
    #: votes a candidate needs to be an officer: more than half of the member co-ops
    votes_needed: int


class FederalMovePublic(SQLModel):
    move_id: int
    kind: str
    minutes: int
    from_coop_id: int
    to_coop_id: int
    replayed: bool
    reverses_move_id: int | None = None
    #: the caller's own balance after the move (members moving their own hours)
    balance: int | None = None


class SettlementLinePublic(SQLModel):
    counterparty_coop_id: int | None
    counterparty: str
    help_given_minutes: int
    help_received_minutes: int
    gifts_in_minutes: int
    gifts_out_minutes: int
    settlement_in_minutes: int
    settlement_out_minutes: int
    minutes_in: int
    minutes_out: int
    net_minutes_in: int
    moves: int


class SettlementStatementPublic(SQLModel):
    federation_id: int
    coop_id: int
    start: dt.date
    end: dt.date
    opening_position_minutes: int
    closing_position_minutes: int
    lines: list[SettlementLinePublic]
    total: SettlementLinePublic


class FederalViewRow(SQLModel):
    """One co-op's month; a figure over fewer than 5 people is ``null`` (suppressed)."""

    coop_id: int
    coop: str
    month: str
    hours_given: float | None
    visits_covered: dict[str, int | None]
    unmet_need: dict[str, int | None]
    carers_per_client: float | None


class FederalViewPublic(SQLModel):
    federation_id: int
    start: dt.date
    end: dt.date
    min_people: int
    rows: list[FederalViewRow]
    notes: list[str]


class CoverOffer(SQLModel, table=True):
    """Shared cover: a co-op lends one of its carers to another co-op of its federation for a
    day. The borrowing co-op's week includes them on that day (``api.services.problem_builder``)."""

    __table_args__ = (sa.UniqueConstraint("member_id", "day", name="uq_cover_offer_day"),)
    id: int | None = Field(default=None, primary_key=True)
    federation_id: int = Field(foreign_key="federation.id", index=True)
    lending_coop_id: int = Field(foreign_key="coop.id")
    borrowing_coop_id: int = Field(foreign_key="coop.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    day: dt.date
    created_at: NaiveDatetime = Field(default_factory=utcnow)


class CoverOfferCreate(Forbid):
    member_id: Id
    borrowing_coop_id: Id
    days: list[dt.date] = Field(min_length=1, max_length=31)


class CoverOfferPublic(SQLModel):
    id: int
    lending_coop_id: int
    borrowing_coop_id: int
    member_id: int
    day: dt.date


class WorkerSeen(SQLModel):
    name: str
    kind: str
    concurrency: int
    started_at: NaiveDatetime
    #: seconds since the worker last recorded itself (every heartbeat)
    seen_seconds_ago: float


class HeartbeatSeen(SQLModel):
    run_id: int
    worker: str | None
    attempts: int
    #: seconds since the run's holder last wrote its heartbeat
    seconds_ago: float | None


class HealthPublic(SQLModel):
    """``GET /health``: ``ok`` when the database (and the broker, when configured) answer."""

    status: str
    database: str
    #: ``embedded`` (solves in the API process), or the broker's state: ``ok`` / ``unreachable: ...``
    broker: str
    #: solve workers that recorded themselves within twice the lease time
    workers: list[WorkerSeen] = []
    queued_runs: int = 0
    running_runs: int = 0
    #: running runs whose heartbeat is older than the lease (the sweep takes them over)
    stale_runs: int = 0
    recent_heartbeats: list[HeartbeatSeen] = []
