"""What each page shows, composed from the API's services (``api.services``).

Each page route makes one call here. These functions only *read* through the services (so
every authorization check and every rule stays where the API has it) and arrange the answer
for a person: names instead of member ids, the week as days, lateness as minutes. The new
reads: :func:`carer_day` (the carer's own visits placed on a map, from the published rota's
problem file; see its docstring), :func:`calendar_url` (the same token
``GET /me/calendar-link`` makes), :func:`rota_visits` and :func:`_names` (a coordinator's
rota and clients read as plain rows, for speed, after the rota service found the rota in
the caller's co-op, and logged as the API logs them), :func:`coming` (the names of the
carers on the visits ``GET /clients/{id}/visits`` gives) and :func:`gift_recipients` (whom
the caller may give hours to, by name).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from markupsafe import Markup, escape
from sqlmodel import Session, col

from api.errors import Invalid, NotFound, ServiceError
from api.models import (
    Client,
    ClientPublic,
    Member,
    MyVisitPublic,
    Rota,
    RotaPublic,
    SolveRun,
    Visit,
    VisitCarer,
    VisitPublic,
    role_of,
)
from api.security import create_token
from api.services import access_log as audit
from api.services import bank, clients, members, rotas, visits
from api.services import federation as fed_svc
from api.services.common import get_in_coop
from api.services.problem_builder import carer_key, client_key
from api.services.rotas import week_of
from api.services.wording import gap_text
from api.web.cover import CoverPublic, cover_options
from api.web.cover import prebuild as cover_prebuild
from api.web.deps import PageForbidden
from scheduler.problem import problem_from_dict
from timebank import Ledger

PRIORITY_ORDER = ("essential", "important", "optional")
DAY_FORMAT = "%a %d %b"


def minutes_text(minutes: int | float | None) -> str:
    if minutes is None:
        return "-"
    m = round(minutes)
    sign = "-" if m < 0 else ""
    h, rest = divmod(abs(m), 60)
    return f"{sign}{h} h {rest:02d} min" if h else f"{sign}{rest} min"


def lateness_of(v: VisitPublic) -> int:
    """Minutes the planned start is after the visit's start window (0 when on time)."""
    if v.start is None:
        return 0
    return max(0, int((v.start - v.latest_start).total_seconds() // 60))


# ----------------------------------------------------------------------------- the board
@dataclass
class BoardVisit:
    id: int
    rota_id: int
    key: str
    label: str
    client_id: int
    client: str
    priority: str
    status: str
    start: dt.datetime | None
    end: dt.datetime | None
    earliest: dt.datetime
    latest: dt.datetime
    duration: int
    window: str
    carer_ids: list[int]
    carers: list[str]
    lateness: int
    volunteer: bool
    volunteer_ok: bool
    reasons: list[str]
    area: str = ""

    def partners_of(self, carer_id: int) -> list[str]:
        return [n for m, n in zip(self.carer_ids, self.carers, strict=False) if m != carer_id]

    @property
    def carers_csv(self) -> str:
        return ",".join(map(str, self.carer_ids))

    @property
    def start_attr(self) -> str:
        return _hm_date(self.start) if self.start else ""

    def block(self, carer_id: int) -> str:
        """The visit's block in carer ``carer_id``'s row of the board, as HTML. One format
        string, not a template: a 500-client week has 8,800 blocks, and Jinja's per-value
        work (attribute lookups, escaping) took over a second of the page. Only the
        client's name, the label and the partners' names are text from people: escaped."""
        cls = f"visit prio-{self.priority}" + (" volunteer" if self.volunteer else "") + (
            " late" if self.lateness else "")
        extra = ""
        if len(self.carer_ids) > 1:
            extra += f'<span class="p">with {escape(", ".join(self.partners_of(carer_id)))}</span>'
        if self.lateness:
            extra += f'<span class="late-text">{self.lateness} min late</span>'
        if self.volunteer:
            extra += '<span class="sr-only">volunteer\'s visit</span>'
        times = f"{_hm(self.start)}–{_hm(self.end)}" if self.start and self.end else "-"
        e, lt = self.earliest, self.latest
        return (f'<a class="{cls}" id="visit-{self.id}-{carer_id}" data-visit="{self.id}" '
                f'data-rota="{self.rota_id}" data-carers="{self.carers_csv}" data-start="{self.start_attr}" '
                f'data-window="{e.hour * 60 + e.minute}-{lt.hour * 60 + lt.minute}" data-from="{carer_id}" '
                f'href="/web/rotas/{self.rota_id}/visits/{self.id}"><span class="t">{times}</span>'
                f'<span class="c">{escape(self.client)}</span><span class="l">{escape(self.label)} · '
                f'{self.duration} min · {self.priority}</span>{extra}</a>')


def _hm(d: dt.datetime) -> str:
    return f"{d.hour:02d}:{d.minute:02d}"


def _hm_date(d: dt.datetime) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}"


@dataclass
class BoardRow:
    carer_id: int
    name: str
    kind: str
    cells: list[list[BoardVisit]]
    minutes: int = 0

    @property
    def cells_html(self) -> list[Markup]:
        """Each day's blocks, in start order, as HTML (see :meth:`BoardVisit.block`)."""
        return [Markup("".join(v.block(self.carer_id) for v in cell)) for cell in self.cells]


@dataclass
class Kpi:
    label: str
    value: str
    detail: str = ""


@dataclass
class Change:
    visit: BoardVisit
    before: str
    after: str


@dataclass
class Board:
    week_start: dt.date
    days: list[dt.date]
    versions: list[RotaPublic]
    rota: RotaPublic | None
    published: RotaPublic | None
    draft: RotaPublic | None
    gap: str | None
    rows: list[BoardRow]
    unassigned: list[BoardVisit]
    kpis: list[Kpi]
    carers: list[tuple[int, str]]
    clients: list[tuple[int, str]]
    filters: dict[str, Any]
    compare: list[Kpi] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    gains: list[tuple[str, int]] = field(default_factory=list)
    visits_shown: int = 0
    areas: list[tuple[str, int]] = field(default_factory=list)   # (area, clients in it)
    day_from: int = 6 * 60    # the day's time line on the board, minutes of the day
    day_to: int = 22 * 60

    @property
    def prev_week(self) -> str:
        return (self.week_start - dt.timedelta(days=7)).isoformat()

    @property
    def next_week(self) -> str:
        return (self.week_start + dt.timedelta(days=7)).isoformat()


def default_week(session: Session, actor: Member, today: dt.date) -> dt.date:
    """This week when it has a rota, else next week."""
    this_week = week_of(today)
    return this_week if versions_of(session, actor, this_week) else this_week + dt.timedelta(days=7)


_ROTA_COLUMNS = ("id", "coop_id", "week_start", "version", "status", "run_id", "objective", "note",
                 "created_at", "published_at")


def versions_of(session: Session, actor: Member, week_start: dt.date) -> list[RotaPublic]:
    """``GET /rotas?week_start=`` (the rota service's ``list_rotas``: the caller's co-op, that
    week, by version) without reading each version's problem and rota file (5 MB of JSON on
    a 500-client week, 0.5 s) for the KPIs: the database picks ``kpis`` out of the rota file."""
    table = Rota.__table__   # type: ignore[attr-defined]
    kpis = table.c.rota_file["kpis"]
    rows = session.connection().execute(
        sa.select(*(table.c[n] for n in _ROTA_COLUMNS), kpis)
        .where(table.c.coop_id == actor.coop_id, table.c.week_start == week_start)
        .order_by(table.c.week_start, table.c.version)).all()
    return [RotaPublic(**dict(zip(_ROTA_COLUMNS, r[:-1], strict=True)), kpis=dict(r[-1] or {})) for r in rows]


def _gap_text(session: Session, actor: Member, rota: RotaPublic) -> str | None:
    """The ``gap_text`` of the run that made ``rota`` (as ``GET /runs/{id}`` words it), read
    without the run's problem file; None when the rota was edited since (or has no run)."""
    if rota.run_id is None:
        return None
    found = session.connection().execute(
        sa.select(col(SolveRun.gap), col(SolveRun.rota_id))
        .where(col(SolveRun.id) == rota.run_id, col(SolveRun.coop_id) == actor.coop_id)).first()
    return gap_text(found[0]) if found is not None and found[1] == rota.id else None


@dataclass(frozen=True)
class ClientName:
    id: int
    name: str
    area: str


@dataclass
class Names:
    """Who is who on a coordinator's page: the co-op's members and clients (with their area)."""

    people: dict[int, Member]
    clients: dict[int, ClientName]
    volunteers: set[int]

    def carer(self, member_id: int) -> str:
        m = self.people.get(member_id)
        return m.full_name if m is not None else f"member {member_id}"

    def client(self, client_id: int) -> ClientName:
        return self.clients.get(client_id) or ClientName(client_id, f"client {client_id}", NO_AREA)


_POSTCODE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?) ?[0-9][A-Z]{2}\b")
NO_AREA = "no address"
_SECTORS = ("east", "north-east", "north", "north-west", "west", "south-west", "south", "south-east")


def area_of(address: str | None, lat: float, lon: float, centre: tuple[float, float]) -> str:
    """A client's area for the board's filter. The data model has no area field, so it is
    derived: the postcode district of the address (``NP20`` of "1 High St, Newport NP20 1AB"),
    else the address's last part (the town, "Newport"), else, with no address, the direction
    of the client from the middle of the co-op's clients ("north-east, no address")."""
    if address and address.strip():
        found = _POSTCODE.search(address.upper())
        if found:
            return found.group(1)
        parts = [p.strip() for p in address.split(",") if p.strip()]
        if len(parts) > 1:
            return parts[-1]
    dy, dx = lat - centre[0], (lon - centre[1]) * math.cos(math.radians(centre[0]))
    if math.hypot(dx, dy) < 0.01:   # about a kilometre
        return f"centre, {NO_AREA}"
    sector = _SECTORS[int(((math.degrees(math.atan2(dy, dx)) + 22.5) % 360) // 45)]
    return f"{sector}, {NO_AREA}"


def _names(session: Session, actor: Member) -> Names:
    """The co-op's members (``GET /members``) and clients. The clients are read as names,
    addresses and places only (``GET /clients`` also reads each one's carer preferences, one
    query per client: 0.3 s of a 500-client board), logged as ``GET /clients`` logs them."""
    people = {m.id: m for m in members.list_members(session, actor) if m.id is not None}
    rows: list[Any] = list(session.connection().execute(
        sa.select(col(Client.id), col(Client.name), col(Client.address), col(Client.lat), col(Client.lon))
        .where(col(Client.coop_id) == actor.coop_id).order_by(col(Client.id))).all())
    audit.log_read(session, actor, [audit.client_record("client", r[0], r[0]) for r in rows])
    lats, lons = sorted(r[3] for r in rows), sorted(r[4] for r in rows)
    centre = (lats[len(lats) // 2], lons[len(lons) // 2]) if rows else (0.0, 0.0)
    found = {r[0]: ClientName(r[0], r[1], area_of(r[2], r[3], r[4], centre)) for r in rows}
    return Names(people=people, clients=found,
                 volunteers={i for i, m in people.items() if role_of(m) == "volunteer"})


_VISIT_COLUMNS = (col(Visit.id), col(Visit.week_visit_id), col(Visit.rota_id), col(Visit.key),
                  col(Visit.label), col(Visit.client_id), col(Visit.priority), col(Visit.status),
                  col(Visit.start), col(Visit.earliest_start), col(Visit.latest_start),
                  col(Visit.duration_minutes), col(Visit.volunteer_ok), col(Visit.reasons))


def rota_visits(session: Session, actor: Member, rota: RotaPublic, names: Names,
                visit_id: int | None = None) -> list[BoardVisit]:
    """The visits of a rota version the caller may read (``rota`` comes from the rota service,
    which found it in the caller's co-op), as the board shows them: what ``GET /rotas/{id}``
    gives, read as plain rows (8,841 ORM visits and their carer rows took 1.1 s of the board),
    and logged as it logs a rota read (one entry per client). ``visit_id``: that visit only."""
    where = [col(Visit.rota_id) == rota.id]
    if visit_id is not None:
        where.append(col(Visit.week_visit_id) == visit_id)
    conn = session.connection()
    query = sa.select(*_VISIT_COLUMNS).where(*where).order_by(col(Visit.id))
    rows: list[Any] = list(conn.execute(query).all())
    on: dict[int, list[int]] = defaultdict(list)
    for vid, member in conn.execute(
            sa.select(col(VisitCarer.visit_id), col(VisitCarer.member_id))
            .join(Visit, col(Visit.id) == col(VisitCarer.visit_id)).where(*where)
            .order_by(col(VisitCarer.visit_id), col(VisitCarer.role_index), col(VisitCarer.member_id))).all():
        on[vid].append(member)
    audit.log_read(session, actor, [audit.client_record("rota", rota.id, c)
                                    for c in sorted({r[5] for r in rows})])
    out = []
    for (row_id, week_visit, rota_id, key, label, client_id, priority, status, start, earliest, latest,
         duration, volunteer_ok, reasons) in rows:
        carer_ids = on.get(row_id, [])
        client = names.client(client_id)
        out.append(BoardVisit(
            id=week_visit, rota_id=rota_id, key=key, label=label, client_id=client_id, client=client.name,
            priority=str(priority), status=str(status), start=start,
            end=start + dt.timedelta(minutes=duration) if start else None, earliest=earliest, latest=latest,
            duration=duration, window=f"{earliest:%a %H:%M}-{latest:%H:%M}", carer_ids=carer_ids,
            carers=[names.carer(m) for m in carer_ids],
            lateness=max(0, int((start - latest).total_seconds() // 60)) if start else 0,
            volunteer=any(m in names.volunteers for m in carer_ids), volunteer_ok=bool(volunteer_ok),
            reasons=list(reasons or []), area=client.area))
    return out


def _kpis(rota: RotaPublic | None, gap_of_run: str | None) -> list[Kpi]:
    """The rota's KPIs; ``gap_of_run``: the gap of the solve that made it, if it did."""
    if rota is None:
        return []
    k = rota.kpis
    out = []
    by_priority = k.get("covered_by_priority") or {}   # the solver's form; the checker's is flat
    for prio in PRIORITY_ORDER:
        total = by_priority.get(prio, {}).get("total", k.get(f"visits_{prio}"))
        if total:
            covered = by_priority.get(prio, {}).get("covered", k.get(f"covered_{prio}", 0))
            out.append(Kpi(f"{prio.capitalize()} visits covered", f"{covered} of {total}",
                           f"{100 * covered / total:.0f}%"))
    out.append(Kpi("Travel", minutes_text(k.get("travel_minutes"))))
    if k.get("distinct_carers_per_client") is not None:
        out.append(Kpi("Carers per client", f"{float(k['distinct_carers_per_client']):.1f}",
                       "distinct carers a client sees in the week (fewer is better)"))
    out.append(Kpi("Contract shortfall", minutes_text(k.get("contract_shortfall_minutes")),
                   "contracted minutes staff are not given"))
    out.append(Kpi("Lateness", minutes_text(k.get("lateness_minutes"))))
    gap = gap_of_run if gap_of_run is not None else (
        "unknown (edited by hand since the solve)" if rota.run_id else "unknown (no solve)")
    out.append(Kpi("Gap to the bound", gap, "how far the rota may be from the best possible"))
    if rota.objective is not None:
        out.append(Kpi("Objective", f"{rota.objective:,.1f}", "the rota's cost; lower is better"))
    return out


def _describe(v: BoardVisit) -> str:
    if v.start is None:
        return "unassigned"
    return f"{', '.join(v.carers)} at {v.start:%a %H:%M}"


def board(session: Session, actor: Member, week_start: dt.date, rota_id: int | None = None,
          carer: int | None = None, client: int | None = None, day: int | None = None,
          area: str | None = None) -> Board:
    """The week board of one rota version (default: the week's published rota, else its latest
    draft), with the unassigned visits, the KPIs, and, when a draft is newer than the published
    rota, what the draft changes. Filters: a carer's row, a client, an area, a day."""
    versions = versions_of(session, actor, week_start)   # coordinator only, as GET /rotas
    published = next((r for r in reversed(versions) if r.status == "published"), None)
    latest = versions[-1] if versions else None
    draft = latest if latest is not None and latest.status == "draft" and (
        published is None or latest.version > published.version) else None
    chosen: RotaPublic | None = published or latest
    if rota_id is not None:
        chosen = next((r for r in versions if r.id == rota_id), None)
        if chosen is None:
            raise NotFound(f"rota {rota_id} not found in the week of {week_start:%d %b %Y}")
    names = _names(session, actor)
    people = names.people
    days = [week_start + dt.timedelta(days=i) for i in range(7)]
    carers = sorted(((m.id, m.full_name) for m in people.values()
                     if m.id is not None and role_of(m) in ("staff", "volunteer")), key=lambda t: t[1])
    filters = {"carer": carer, "client": client, "day": day, "rota_id": rota_id, "area": area}
    area_counts: dict[str, int] = defaultdict(int)
    for c in names.clients.values():
        area_counts[c.area] += 1
    out = Board(week_start=week_start, days=days, versions=versions, rota=chosen, published=published,
                draft=draft, gap=None, rows=[], unassigned=[], kpis=[], carers=carers,
                clients=sorted(((c.id, c.name) for c in names.clients.values()), key=lambda t: t[1]),
                filters=filters, areas=sorted(area_counts.items()))
    if area is not None and area not in area_counts:
        why = f"area: no client is in the area '{area}'"
        raise Invalid(why, [why])
    if chosen is None:
        return out
    out.gap = _gap_text(session, actor, chosen)
    out.kpis = _kpis(chosen, out.gap)
    all_visits = rota_visits(session, actor, chosen, names)
    shown = [v for v in all_visits if _keep(v, client, day, area)]
    row_of: dict[int, BoardRow] = {}
    for cid, name in carers:
        if carer is not None and cid != carer:
            continue
        kind = str(role_of(people[cid]))
        row_of[cid] = BoardRow(carer_id=cid, name=name, kind=kind, cells=[[] for _ in days])
    starts: list[int] = []
    ends: list[int] = []
    for v in all_visits:   # the day's time line spans every window of the week
        starts.append(v.earliest.hour * 60 + v.earliest.minute)
        ends.append(v.latest.hour * 60 + v.latest.minute + v.duration)
    if starts:
        out.day_from = max(0, min(starts) // 60 * 60)
        out.day_to = min(24 * 60, -(-max(ends) // 60) * 60)
    for v in shown:
        if v.start is None or v.status in ("unassigned", "cancelled"):
            if v.status == "unassigned" and carer is None:
                out.unassigned.append(v)
            continue
        for cid in v.carer_ids:
            row = row_of.get(cid)
            if row is not None:
                row.cells[(v.start.date() - week_start).days].append(v)
                row.minutes += v.duration
    for row in row_of.values():
        for cell in row.cells:
            cell.sort(key=lambda v: v.start or dt.datetime.min)
    out.rows = list(row_of.values())
    out.unassigned.sort(key=lambda v: (PRIORITY_ORDER.index(v.priority) if v.priority in PRIORITY_ORDER
                                       else 9, v.window))
    out.visits_shown = len(shown)
    if draft is not None and published is not None and chosen.id in (draft.id, published.id):
        _compare(session, actor, out, draft, published, names, all_visits, chosen)
    if chosen.status != "superseded":
        cover_prebuild(session, chosen.id)
    return out


def _keep(v: BoardVisit, client: int | None, day: int | None, area: str | None = None) -> bool:
    if client is not None and v.client_id != client:
        return False
    if area is not None and v.area != area:
        return False
    if day is not None:
        return (v.start or v.earliest).weekday() == day
    return True


def _compare(session: Session, actor: Member, out: Board, draft: RotaPublic, published: RotaPublic,
             names: Names, chosen_visits: list[BoardVisit], chosen: RotaPublic) -> None:
    """The draft beside the published rota: both KPIs, the visits that move, who gains or loses."""
    other = published if chosen.id == draft.id else draft
    other_visits = rota_visits(session, actor, other, names)
    d, p = (chosen_visits, other_visits) if chosen.id == draft.id else (other_visits, chosen_visits)
    out.compare = [Kpi(f"{k.label}", f"{k.value}", f"published: {q.value}")
                   for k, q in zip(_kpis(draft, None), _kpis(published, None), strict=False)]
    before = {v.id: v for v in p}
    count: dict[str, int] = defaultdict(int)
    for new in d:
        old = before.get(new.id)
        if old is None or (old.start, old.carer_ids) != (new.start, new.carer_ids):
            out.changes.append(Change(visit=new, before=_describe(old) if old else "not in the rota",
                                      after=_describe(new)))
            for n in new.carers:
                count[n] += 1
            for n in (old.carers if old else []):
                count[n] -= 1
    out.changes.sort(key=lambda c: (c.visit.start or dt.datetime.max, c.visit.client))
    out.gains = sorted(((n, c) for n, c in count.items() if c), key=lambda t: (-t[1], t[0]))


# ----------------------------------------------------------------------------- one visit
@dataclass
class VisitPage:
    rota: RotaPublic
    visit: BoardVisit
    carers: list[tuple[int, str]]
    roles: int
    cover: CoverPublic | None = None
    cover_error: str | None = None


def visit_page(session: Session, actor: Member, rota_id: int, visit_id: int,
               without: list[int] | None = None) -> VisitPage:
    """A visit of a rota version with what the move form needs (coordinator only, as the rota)
    and, for an unassigned visit or when ``without`` names carers who cannot come, who can
    cover it (:func:`api.web.cover.cover_options`). Only this visit is read (as the board
    reads visits), not the whole rota."""
    row = get_in_coop(session, Rota, rota_id, actor, "rota")   # the rota service's own check
    rota = rotas.rota_public(row)
    names = _names(session, actor)
    found = next(iter(rota_visits(session, actor, rota, names, visit_id)), None)
    if found is None:
        raise NotFound(f"visit {visit_id} not found in rota {rota_id}")
    carers = sorted(((m.id, m.full_name) for m in names.people.values()
                     if m.id is not None and role_of(m) in ("staff", "volunteer")), key=lambda t: t[1])
    pv: dict[str, Any] = next((x for x in row.problem.get("visits", []) if x["id"] == found.key), {})
    page = VisitPage(rota=rota, visit=found, carers=carers, roles=max(1, len(pv.get("roles", [{}]))))
    editable = rota.status != "superseded" and found.status in ("planned", "unassigned")
    if editable and (without or found.status == "unassigned"):
        try:
            page.cover = cover_options(session, actor, rota_id, visit_id, without or [])
        except ServiceError as exc:
            page.cover_error = "; ".join([exc.message, *exc.errors])
    elif editable:
        cover_prebuild(session, rota_id)
    return page


# ----------------------------------------------------------------------------- a carer
@dataclass
class CarerDay:
    day: dt.date
    visits: list[MyVisitPublic]


def carer_week(session: Session, actor: Member, week_start: dt.date | None, today: dt.date
               ) -> tuple[Any, list[CarerDay]]:
    """``GET /me/rota`` grouped by day."""
    week = visits.my_rota(session, actor, week_start, today)
    by_day: dict[dt.date, list[MyVisitPublic]] = defaultdict(list)
    for v in week.visits:
        if v.start is not None:
            by_day[v.start.date()].append(v)
    return week, [CarerDay(d, by_day[d]) for d in sorted(by_day)]


def calendar_url(request: Request, actor: Member, days: int) -> str:
    """The private iCalendar feed URL, made as ``GET /me/calendar-link`` makes it."""
    token = create_token(request.app.state.secret, actor.id or 0, actor.coop_id, [], days * 1440,
                         purpose="calendar")
    return str(request.url_for("calendar_feed", token=token))


@dataclass
class MapStop:
    label: str
    client: str
    address: str | None
    start: dt.datetime | None
    x: float
    y: float
    travel_from_previous: int
    home: bool = False


@dataclass
class DayMap:
    day: dt.date
    stops: list[MapStop]
    width: int
    height: int
    travel_total: int
    note: str = ""


def carer_day(session: Session, actor: Member, day: dt.date) -> DayMap:
    """The carer's day on a drawn map: home, then their own published visits in order, with the
    travel minutes between them as the solver and checker count them.

    The visits come from ``GET /me/rota`` (only the caller's own); the places and the travel
    times come from the problem file of the published rota each visit belongs to
    (``Problem.travel_minutes``, so the minutes are the rota's own, not a second estimate). The
    page draws positions only: the coordinates are not shown, and the clients are the ones whose
    address the carer already sees."""
    week = visits.my_rota(session, actor, week_of(day), day)
    todays = sorted((v for v in week.visits if v.start is not None and v.start.date() == day
                     and str(v.status) in ("planned", "completed")),
                    key=lambda v: v.start or dt.datetime.min)
    if not todays:
        return DayMap(day=day, stops=[], width=360, height=240, travel_total=0,
                      note="no visits in a published rota on this day")
    rota = session.get(Rota, todays[0].rota_id)
    if rota is None or rota.coop_id != actor.coop_id:
        raise NotFound("rota not found")
    problem = problem_from_dict({**rota.problem, "pinned": []})
    me = problem.carer_by_id.get(carer_key(actor.id or 0))
    if me is None:
        return DayMap(day=day, stops=[], width=360, height=240, travel_total=0,
                      note="you were not in this rota's problem file")
    places: list[tuple[str, str, str, str | None, dt.datetime | None, bool]] = [
        (me.id, "Home", "home", None, None, True)]
    for v in todays:
        cid = client_key(v.client_id)
        if cid in problem.client_by_id:
            places.append((cid, v.label or "visit", v.client.name, v.client.address, v.start, False))
    lats = [problem.location_of(p[0]).lat for p in places]
    lons = [problem.location_of(p[0]).lon for p in places]
    width, height, pad = 360, 300, 30
    span_lat = max(max(lats) - min(lats), 1e-3)
    span_lon = max(max(lons) - min(lons), 1e-3)
    aspect = math.cos(math.radians(sum(lats) / len(lats)))
    scale = min((width - 2 * pad) / (span_lon * aspect), (height - 2 * pad) / span_lat)
    stops: list[MapStop] = []
    total = 0
    prev: str | None = None
    for (pid, label, client, address, start, home), lat, lon in zip(places, lats, lons, strict=True):
        minutes = problem.travel_minutes(prev, pid, me) if prev is not None else 0
        total += minutes
        stops.append(MapStop(label=label, client=client, address=address, start=start,
                             x=round(pad + (lon - min(lons)) * aspect * scale, 1),
                             y=round(height - pad - (lat - min(lats)) * scale, 1),
                             travel_from_previous=minutes, home=home))
        prev = pid
    return DayMap(day=day, stops=stops, width=width, height=height, travel_total=total)


# ----------------------------------------------------------------------------- time bank
@dataclass
class Month:
    label: str
    given: int
    received: int
    lines: list[bank.StatementLinePublic]


def timebank(ledger: Ledger, actor: Member, today: dt.date) -> tuple[bank.TimebankPublic, list[Month]]:
    """``GET /me/timebank`` over the last year (first 500 lines), grouped by month."""
    st = bank.my_timebank(ledger, actor, today - dt.timedelta(days=365), today, today, None, 500)
    months: dict[str, Month] = {}
    for ln in st.lines:
        label = ln.service_date.strftime("%B %Y")
        m = months.setdefault(label, Month(label=label, given=0, received=0, lines=[]))
        m.lines.append(ln)
        if ln.minutes >= 0:
            m.received += ln.minutes
        else:
            m.given += -ln.minutes
    return st, list(reversed(months.values()))


@dataclass(frozen=True)
class Recipient:
    member_id: int
    name: str
    role: str


RECIPIENT_GROUPS = (("family", "Family members"), ("client", "Clients"), ("volunteer", "Volunteers"),
                    ("staff", "Staff"))


def gift_recipients(session: Session, actor: Member) -> list[Recipient]:
    """Whom the caller may give hours to, as ``POST /timebank/gifts`` decides it
    (``bank.transfer``): the active members of the caller's co-op, but the caller, whose role
    has a time-bank account; by role (family first), then name. Logged as member reads."""
    kinds = [r for r in bank.ACCOUNT_KIND]
    rows: list[Any] = list(session.connection().execute(
        sa.select(col(Member.id), col(Member.full_name), col(Member.role))
        .where(col(Member.coop_id) == actor.coop_id, col(Member.is_active) == True,  # noqa: E712
               col(Member.id) != actor.id, col(Member.role).in_(kinds))).all())
    audit.log_read(session, actor, [audit.member_record(r[0]) for r in rows])
    order = {role: i for i, (role, _) in enumerate(RECIPIENT_GROUPS)}
    found = [Recipient(r[0], r[1], str(r[2])) for r in rows]
    return sorted(found, key=lambda r: (order.get(r.role, 9), r.name.casefold(), r.member_id))


# ----------------------------------------------------------------------------- family
@dataclass
class ComingVisit:
    visit: VisitPublic
    carers: list[str]     # who is coming, in role order


@dataclass
class ClientWeek:
    client: ClientPublic
    visits: list[ComingVisit]


def coming(session: Session, actor: Member, week_start: dt.date, client_id: int | None
           ) -> tuple[list[ClientPublic], list[ClientWeek]]:
    """Who is coming when: the clients the caller may see (``GET /clients``) and, for the chosen
    one (or each, when there are at most five), the week's published visits
    (``GET /clients/{id}/visits``, which holds a family member to the clients shared with them)
    with the names of the carers on them. The names are read only for the carers on those
    visits, and logged as member reads (as ``GET /members`` logs them)."""
    visible = clients.list_clients(session, actor)
    chosen = [c for c in visible if c.id == client_id] if client_id is not None else (
        visible if len(visible) <= 5 else [])
    if client_id is not None and not chosen:
        raise NotFound(f"client {client_id} not found")
    weeks = [(c, visits.client_visits(session, actor, c.id, week_start)) for c in chosen]
    ids = sorted({m for _, vs in weeks for v in vs for m in v.carer_ids})
    named: dict[int, str] = {}
    if ids:
        rows: list[Any] = list(session.connection().execute(
            sa.select(col(Member.id), col(Member.full_name))
            .where(col(Member.id).in_(ids), col(Member.coop_id) == actor.coop_id)).all())
        named = {r[0]: r[1] for r in rows}
        audit.log_read(session, actor, [audit.member_record(m) for m in sorted(named)])
    return visible, [ClientWeek(c, [ComingVisit(v, [named.get(m, "a carer") for m in v.carer_ids])
                                    for v in vs]) for c, vs in weeks]


# ----------------------------------------------------------------------------- federation
@dataclass
class FederationPage:
    """``/web/federation``: what the API gives the caller about their co-op's federation. An
    officer: the member co-ops (names, limits, positions) and the federal view (aggregates,
    small counts suppressed); a coordinator: their co-op's position, limit and statement."""

    federation_id: int | None
    name: str | None = None
    officer: bool = False
    coordinator: bool = False
    coops: list[Any] = field(default_factory=list)
    view: Any = None
    own: Any = None
    statement: Any = None
    priorities: list[str] = field(default_factory=list)


def federation_allowed(session: Session, ledger: Ledger, actor: Member) -> tuple[int | None, bool]:
    """The federation of the caller's co-op and whether the caller is its officer; a 403 (the
    API's ``coordinator`` or ``officer`` scope) for anyone else."""
    fid = fed_svc.federation_of(ledger, actor.coop_id)
    officer = fid is not None and fed_svc.is_officer(session, ledger, actor, fid)
    if role_of(actor) != "coordinator" and not officer:
        raise PageForbidden("needs one of the roles: coordinator, officer (of a federation of co-ops)")
    return fid, officer


def federation_page(session: Session, ledger: Ledger, actor: Member, start: dt.date | None,
                    end: dt.date | None, today: dt.date) -> FederationPage:
    """The page's data, through the services of ``GET /federations/{id}``, ``.../view`` and
    ``.../statement`` (so each sees exactly what the API gives them)."""
    fid, officer = federation_allowed(session, ledger, actor)
    page = FederationPage(federation_id=fid, officer=officer,
                          coordinator=role_of(actor) == "coordinator",
                          priorities=list(fed_svc.PRIORITIES))
    if fid is None:
        return page
    info = fed_svc.show(session, ledger, actor, fid)
    page.name = info.name
    page.own = next((c for c in info.coops if c.coop_id == actor.coop_id), None)
    if officer:
        page.coops = info.coops
        page.view = fed_svc.federal_view(session, ledger, actor, fid, start, end, today)
    if page.coordinator:
        page.statement = fed_svc.statement(session, ledger, actor, fid, None, start, end, today)
    return page


def federation_view_export(session: Session, ledger: Ledger, actor: Member, start: dt.date | None,
                           end: dt.date | None, today: dt.date, kind: str) -> tuple[bytes, str, str]:
    """The federal view as ``GET .../view.csv`` or ``.png`` give it, for the page's links."""
    fid, _officer = federation_allowed(session, ledger, actor)
    if fid is None:
        raise NotFound("federation: your co-op is not in a federation")
    view = fed_svc.federal_view(session, ledger, actor, fid, start, end, today)
    if kind == "csv":
        return fed_svc.federal_view_csv(view).encode(), "text/csv", f"federation-{fid}-view.csv"
    return fed_svc.federal_view_png(view), "image/png", f"federation-{fid}-view.png"
