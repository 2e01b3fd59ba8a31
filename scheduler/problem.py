"""The problem file (`carerota.problem/1`): typed values, loading and validation.

Everything the engine reasons about is here, in integer minutes from the horizon start.
Validation collects every problem in the file before failing, so a coordinator fixes a
file in one pass; each message names the field and the reason
(``visits[12].client: unknown client 'p99'``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

PROBLEM_FORMAT = "carerota.problem/1"
PRIORITIES = ("essential", "important", "optional")
CARER_KINDS = ("staff", "volunteer")
EARTH_RADIUS_KM = 6371.0
MINUTES_PER_DAY = 1440
# the format's local times ("2026-11-30T08:10"), and how a person reads a time and a day
TIME_FORMAT = "%Y-%m-%dT%H:%M"
READABLE_TIME = "%a %d %b %H:%M"
READABLE_DAY = "%a %d %b"

DEFAULT_WEIGHTS: dict[str, float] = {
    "unassigned_essential": 1_000_000,
    "unassigned_important": 10_000,
    "unassigned_optional": 100,
    "lateness": 10,
    "max_lateness": 0,
    "travel": 1,
    "distinct_carers": 30,
    "non_preferred": 5,
    "unfamiliar": 5,
    "contract_shortfall": 1,
    "cost": 0,
}
WEIGHT_KEYS = tuple(DEFAULT_WEIGHTS)


class ProblemError(ValueError):
    """A problem file that does not follow the format; ``errors`` holds every message."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float


@dataclass(frozen=True)
class Interval:
    """Half-open ``[start, end)`` in minutes from the horizon start."""

    start: int
    end: int

    def contains(self, start: int, end: int) -> bool:
        return self.start <= start and end <= self.end


@dataclass(frozen=True)
class Carer:
    id: str
    name: str
    kind: str
    skills: frozenset[str]
    location: Location
    availability: tuple[Interval, ...]
    speed_kmh: float | None = None
    gender: str | None = None
    max_minutes_per_day: int = 720
    max_minutes_per_week: int = 2880
    contracted_minutes: int | None = None
    hourly_cost: float = 0.0
    # (skill, minute from the horizon start at which it stops counting: midnight of the
    # ``skills_valid_until`` date): a certificate that expires
    skills_until: tuple[tuple[str, int], ...] = ()

    def skills_at(self, minute: int) -> frozenset[str]:
        """The skills the carer holds for a visit starting at ``minute`` (a skill with an
        expiry counts only before it)."""
        if not self.skills_until:
            return self.skills
        return self.skills - {s for s, until in self.skills_until if minute >= until}

    def expiry_of(self, skill: str) -> int | None:
        return next((until for s, until in self.skills_until if s == skill), None)

    @property
    def is_volunteer(self) -> bool:
        return self.kind == "volunteer"

    @property
    def cost_per_hour(self) -> float:
        """Volunteers cost nothing, whatever their file says."""
        return 0.0 if self.is_volunteer else self.hourly_cost


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    location: Location
    gender_preference: str | None = None
    excluded_carers: frozenset[str] = frozenset()
    preferred_carers: frozenset[str] = frozenset()
    history: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Role:
    skills: frozenset[str] = frozenset()
    duration_minutes: int | None = None


@dataclass(frozen=True)
class Visit:
    id: str
    client: str
    earliest_start: int
    latest_start: int
    duration_minutes: int
    roles: tuple[Role, ...] = (Role(),)
    volunteer_ok: bool = False
    priority: str = "essential"
    max_lateness_minutes: int = 0

    @property
    def last_start(self) -> int:
        """The latest start allowed at all, lateness included."""
        return self.latest_start + self.max_lateness_minutes

    def role_duration(self, role: int) -> int:
        d = self.roles[role].duration_minutes
        return self.duration_minutes if d is None else d


@dataclass(frozen=True)
class Dependency:
    first: str
    then: str
    min_gap_minutes: int = 0
    max_gap_minutes: int | None = None


@dataclass(frozen=True)
class Pin:
    visit: str
    carers: tuple[str, ...]
    start: int | None = None


@dataclass(frozen=True)
class Travel:
    speed_kmh: float = 30.0
    road_factor: float = 1.3
    minimum_minutes: int = 0
    matrix: Mapping[str, Mapping[str, int]] | None = None


@dataclass(frozen=True)
class Rules:
    min_rest_minutes: int = 660
    count_travel_as_work: bool = True
    home_travel: bool = False


@dataclass
class Problem:
    name: str
    horizon_start: datetime
    horizon_minutes: int
    travel: Travel
    rules: Rules
    weights: dict[str, float]
    carers: list[Carer]
    clients: list[Client]
    visits: list[Visit]
    dependencies: list[Dependency] = field(default_factory=list)
    pinned: list[Pin] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.carer_by_id = {c.id: c for c in self.carers}
        self.client_by_id = {c.id: c for c in self.clients}
        self.visit_by_id = {v.id: v for v in self.visits}
        self.pin_by_visit = {p.visit: p for p in self.pinned}
        self._places: dict[str, Location] = {c.id: c.location for c in self.clients}
        for c in self.carers:
            self._places.setdefault(c.id, c.location)
        self._travel_cache: dict[tuple[str, str, float], int] = {}

    # -- time -------------------------------------------------------------------------
    @property
    def horizon_end(self) -> datetime:
        return self.horizon_start + timedelta(minutes=self.horizon_minutes)

    def minute_of(self, when: datetime) -> int:
        return int((when - self.horizon_start).total_seconds() // 60)

    def time_of(self, minute: int) -> datetime:
        return self.horizon_start + timedelta(minutes=minute)

    def iso(self, minute: int) -> str:
        return self.time_of(minute).strftime(TIME_FORMAT)

    def day_of(self, minute: int) -> int:
        """Calendar-day index (0 = the horizon's first date) of a minute."""
        return (self.time_of(minute).date() - self.horizon_start.date()).days

    def day_start(self, day: int) -> int:
        """Minute at which calendar day ``day`` begins (may be negative for day 0)."""
        midnight = datetime.combine(self.horizon_start.date(), datetime.min.time())
        return self.minute_of(midnight + timedelta(days=day))

    @property
    def days(self) -> int:
        """Number of calendar days a visit of this horizon can start on."""
        return self.day_of(max(self.horizon_minutes - 1, 0)) + 1

    # -- travel -----------------------------------------------------------------------
    def location_of(self, place_id: str) -> Location:
        return self._places[place_id]

    def travel_minutes(self, from_id: str, to_id: str, carer: Carer) -> int:
        """Spec travel time between two places (client or carer ids) for ``carer``."""
        speed = carer.speed_kmh or self.travel.speed_kmh
        key = (from_id, to_id, speed)
        hit = self._travel_cache.get(key)
        if hit is not None:
            return hit
        minutes = self._travel_uncached(from_id, to_id, speed)
        self._travel_cache[key] = minutes
        return minutes

    def _travel_uncached(self, from_id: str, to_id: str, speed: float) -> int:
        matrix = self.travel.matrix
        if matrix is not None and from_id in matrix and to_id in matrix[from_id]:
            return int(matrix[from_id][to_id])
        if from_id == to_id:
            return 0
        a, b = self._places[from_id], self._places[to_id]
        if a == b:
            return 0
        km = haversine_km(a, b)
        return max(self.travel.minimum_minutes, math.ceil(km * self.travel.road_factor / speed * 60))

    # -- serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return problem_to_dict(self)


def haversine_km(a: Location, b: Location) -> float:
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


# ======================================================================================
# Loading
# ======================================================================================

_TOP_KEYS = {"format", "name", "horizon", "travel", "rules", "weights", "carers", "clients",
             "visits", "dependencies", "pinned"}
_TRAVEL_KEYS = {"speed_kmh", "road_factor", "minimum_minutes", "matrix"}
_RULES_KEYS = {"min_rest_minutes", "count_travel_as_work", "home_travel"}
_CARER_KEYS = {"id", "name", "kind", "skills", "location", "speed_kmh", "gender", "availability",
               "max_minutes_per_day", "max_minutes_per_week", "contracted_minutes", "hourly_cost",
               "skills_valid_until"}
_CLIENT_KEYS = {"id", "name", "location", "gender_preference", "excluded_carers",
                "preferred_carers", "history"}
_VISIT_KEYS = {"id", "client", "earliest_start", "latest_start", "duration_minutes", "roles",
               "volunteer_ok", "priority", "max_lateness_minutes"}
_ROLE_KEYS = {"skills", "duration_minutes"}
_DEP_KEYS = {"first", "then", "min_gap_minutes", "max_gap_minutes"}
_PIN_KEYS = {"visit", "carers", "start"}


def parse_time(text: str) -> datetime:
    """Local wall-clock ISO 8601 to the minute, without offset."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is not None:
        raise ValueError("must be local time without a UTC offset")
    if when.second or when.microsecond:
        raise ValueError("must be to the minute (no seconds)")
    return when


class _Reader:
    """Reads values out of the raw JSON, recording an error per bad field."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, path: str, reason: str) -> None:
        self.errors.append(f"{path}: {reason}")

    def obj(self, raw: Any, path: str, allowed: set[str], required: Iterable[str] = ()) -> dict:
        if not isinstance(raw, dict):
            self.err(path or "file", f"must be an object, got {_kind(raw)}")
            return {}
        for key in sorted(set(raw) - allowed):
            self.err(f"{path}.{key}" if path else key, "unknown key")
        for key in required:
            if key not in raw:
                self.err(f"{path}.{key}" if path else key, "is required")
        return raw

    def string(self, raw: dict, key: str, path: str, default: str | None = None,
               required: bool = False) -> str | None:
        if key not in raw:
            return default
        value = raw[key]
        if not isinstance(value, str) or (required and not value):
            self.err(f"{path}.{key}", f"must be a non-empty string, got {_show(value)}")
            return default
        return value

    def integer(self, raw: dict, key: str, path: str, default: int | None, minimum: int | None = 0,
                strictly_positive: bool = False) -> int | None:
        if key not in raw or (raw[key] is None and default is None):
            return default
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or value != int(value):
            self.err(f"{path}.{key}", f"must be a whole number of minutes, got {_show(value)}")
            return default
        value = int(value)
        if strictly_positive and value <= 0:
            self.err(f"{path}.{key}", f"must be greater than zero, got {value}")
            return default
        if minimum is not None and value < minimum:
            self.err(f"{path}.{key}", f"must be at least {minimum}, got {value}")
            return default
        return value

    def number(self, raw: dict, key: str, path: str, default: float | None,
               positive: bool = False) -> float | None:
        if key not in raw or (raw[key] is None and default is None):
            return default
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.err(f"{path}.{key}", f"must be a number, got {_show(value)}")
            return default
        if positive and value <= 0:
            self.err(f"{path}.{key}", f"must be greater than zero, got {value}")
            return default
        if not positive and value < 0:
            self.err(f"{path}.{key}", f"must not be negative, got {value}")
            return default
        return float(value)

    def boolean(self, raw: dict, key: str, path: str, default: bool) -> bool:
        if key not in raw:
            return default
        value = raw[key]
        if not isinstance(value, bool):
            self.err(f"{path}.{key}", f"must be true or false, got {_show(value)}")
            return default
        return value

    def str_list(self, raw: dict, key: str, path: str) -> list[str]:
        if key not in raw:
            return []
        value = raw[key]
        if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
            self.err(f"{path}.{key}", "must be a list of non-empty strings")
            return []
        return value

    def time(self, raw: dict, key: str, path: str) -> datetime | None:
        if key not in raw:
            return None
        value = raw[key]
        if not isinstance(value, str):
            self.err(f"{path}.{key}", f"must be a time like '2026-11-30T08:00', got {_show(value)}")
            return None
        try:
            return parse_time(value)
        except ValueError as exc:
            reason = str(exc) if "must" in str(exc) else "is not a valid time"
            self.err(f"{path}.{key}", f"{reason} (like '2026-11-30T08:00'), got {_show(value)}")
            return None

    def location(self, raw: dict, key: str, path: str) -> Location | None:
        if key not in raw:
            return None
        value = self.obj(raw[key], f"{path}.{key}", {"lat", "lon"}, ("lat", "lon"))
        lon = self._coordinate(value, "lon", f"{path}.{key}", 180)
        lat = self._coordinate(value, "lat", f"{path}.{key}", 90)
        if lat is None or lon is None:
            return None
        return Location(lat, lon)

    def _coordinate(self, raw: dict, key: str, path: str, limit: float) -> float | None:
        if key not in raw:
            return None
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.err(f"{path}.{key}", f"must be a number, got {_show(value)}")
            return None
        if abs(value) > limit:
            self.err(f"{path}.{key}", f"must lie between -{limit:g} and {limit:g}, got {value}")
            return None
        return float(value)

    def items(self, raw: dict, key: str, path: str) -> list[tuple[str, Any]]:
        if key not in raw:
            return []
        value = raw[key]
        if not isinstance(value, list):
            self.err(key if not path else f"{path}.{key}", f"must be a list, got {_kind(value)}")
            return []
        prefix = key if not path else f"{path}.{key}"
        return [(f"{prefix}[{i}]", item) for i, item in enumerate(value)]


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), "a value")


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def load_problem(source: str | Path | Mapping[str, Any]) -> Problem:
    """Load a problem from a path, a JSON text or an already parsed mapping.

    Raises :class:`ProblemError` listing every problem found.
    """
    if isinstance(source, Mapping):
        raw: Any = source
    else:
        text = source if isinstance(source, str) else ""  # a Path is always read below
        if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip()
                                        .startswith("{")):
            path = Path(source)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ProblemError([f"{path}: cannot read the file ({exc.strerror})"]) from None
            except UnicodeDecodeError as exc:
                raise ProblemError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProblemError(
                [f"file: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]
            ) from None
    return problem_from_dict(raw)


def problem_from_dict(raw: Any) -> Problem:
    r = _Reader()
    top = r.obj(raw, "", _TOP_KEYS, ("format", "horizon", "carers", "clients", "visits"))
    if r.errors and not isinstance(raw, dict):
        raise ProblemError(r.errors)
    if "format" in top and top["format"] != PROBLEM_FORMAT:
        r.err("format", f"must be '{PROBLEM_FORMAT}', got {_show(top['format'])}")
    name = r.string(top, "name", "", default="") or ""

    # horizon
    hz = r.obj(top.get("horizon", {}), "horizon", {"start", "end"}, ("start", "end")) \
        if "horizon" in top else {}
    h_start, h_end = r.time(hz, "start", "horizon"), r.time(hz, "end", "horizon")
    horizon_ok = h_start is not None and h_end is not None
    if h_start is not None and h_end is not None and h_end <= h_start:
        r.err("horizon.end", "must be after horizon.start")
        horizon_ok = False
    start0 = h_start or datetime(2000, 1, 1)
    horizon_minutes = int((h_end - start0).total_seconds() // 60) if horizon_ok and h_end else 0

    def minute(raw_obj: dict, key: str, path: str) -> int | None:
        t = r.time(raw_obj, key, path)
        if t is None or not horizon_ok:
            return None
        return int((t - start0).total_seconds() // 60)

    # travel
    tr = r.obj(top.get("travel", {}), "travel", _TRAVEL_KEYS)
    matrix = None
    if tr.get("matrix") is not None:
        matrix = _read_matrix(r, tr["matrix"])
    travel = Travel(
        speed_kmh=r.number(tr, "speed_kmh", "travel", 30.0, positive=True) or 30.0,
        road_factor=r.number(tr, "road_factor", "travel", 1.3, positive=True) or 1.3,
        minimum_minutes=r.integer(tr, "minimum_minutes", "travel", 0) or 0,
        matrix=matrix,
    )

    ru = r.obj(top.get("rules", {}), "rules", _RULES_KEYS)
    rules = Rules(
        min_rest_minutes=r.integer(ru, "min_rest_minutes", "rules", 660) or 0,
        count_travel_as_work=r.boolean(ru, "count_travel_as_work", "rules", True),
        home_travel=r.boolean(ru, "home_travel", "rules", False),
    )

    wt = r.obj(top.get("weights", {}), "weights", set(DEFAULT_WEIGHTS))
    weights = dict(DEFAULT_WEIGHTS)
    for key in DEFAULT_WEIGHTS:
        value = r.number(wt, key, "weights", DEFAULT_WEIGHTS[key])
        weights[key] = DEFAULT_WEIGHTS[key] if value is None else value

    # carers
    carers: list[Carer] = []
    seen: dict[str, str] = {}
    for path, item in r.items(top, "carers", ""):
        c = r.obj(item, path, _CARER_KEYS, ("id", "kind", "location", "availability"))
        cid = r.string(c, "id", path, required=True)
        if cid is not None and cid in seen:
            r.err(f"{path}.id", f"duplicate carer id '{cid}' (also {seen[cid]})")
        elif cid is not None:
            seen[cid] = path
        kind = c.get("kind")
        if "kind" in c and kind not in CARER_KINDS:
            r.err(f"{path}.kind", f"must be 'staff' or 'volunteer', got {_show(kind)}")
        loc = r.location(c, "location", path)
        avail: list[Interval] = []
        for apath, a in r.items(c, "availability", path):
            ai = r.obj(a, apath, {"start", "end"}, ("start", "end"))
            s, e = minute(ai, "start", apath), minute(ai, "end", apath)
            if s is not None and e is not None:
                if e < s:
                    r.err(f"{apath}.end", "availability ends before it starts")
                else:
                    avail.append(Interval(s, e))
        contracted = r.integer(c, "contracted_minutes", path, None)
        if contracted is not None and kind == "volunteer":
            r.err(f"{path}.contracted_minutes", "volunteers have no contract (staff only)")
        skills = frozenset(r.str_list(c, "skills", path))
        until = _skills_until(r, c, path, skills, h_start)
        if cid is None or loc is None or kind not in CARER_KINDS:
            continue
        carers.append(Carer(
            id=cid, name=r.string(c, "name", path, default=cid) or cid, kind=str(kind),
            skills=skills, skills_until=until, location=loc,
            availability=tuple(sorted(avail, key=lambda i: (i.start, i.end))),
            speed_kmh=r.number(c, "speed_kmh", path, None, positive=True),
            gender=r.string(c, "gender", path),
            max_minutes_per_day=r.integer(c, "max_minutes_per_day", path, 720) or 0,
            max_minutes_per_week=r.integer(c, "max_minutes_per_week", path, 2880) or 0,
            contracted_minutes=contracted,
            hourly_cost=r.number(c, "hourly_cost", path, 0.0) or 0.0,
        ))
    carer_ids = set(seen)
    carer_of = {c.id: c for c in carers}

    # clients
    clients: list[Client] = []
    seen_cl: dict[str, str] = {}
    for path, item in r.items(top, "clients", ""):
        c = r.obj(item, path, _CLIENT_KEYS, ("id", "location"))
        cid = r.string(c, "id", path, required=True)
        if cid is not None and cid in seen_cl:
            r.err(f"{path}.id", f"duplicate client id '{cid}' (also {seen_cl[cid]})")
        elif cid is not None:
            seen_cl[cid] = path
        loc = r.location(c, "location", path)
        excluded = r.str_list(c, "excluded_carers", path)
        preferred = r.str_list(c, "preferred_carers", path)
        for key, ids in (("excluded_carers", excluded), ("preferred_carers", preferred)):
            for i, x in enumerate(ids):
                if x not in carer_ids:
                    r.err(f"{path}.{key}[{i}]", f"unknown carer '{x}'")
        for x in sorted(set(excluded) & set(preferred)):
            r.err(f"{path}.preferred_carers", f"carer '{x}' is both preferred and excluded")
        history: dict[str, int] = {}
        if "history" in c:
            h = c["history"]
            if not isinstance(h, dict):
                r.err(f"{path}.history", f"must be an object of carer id to minutes, got {_kind(h)}")
            else:
                for k, v in h.items():
                    if k not in carer_ids:
                        r.err(f"{path}.history.{k}", f"unknown carer '{k}'")
                    elif isinstance(v, bool) or not isinstance(v, int) or v < 0:
                        r.err(f"{path}.history.{k}", f"must be whole minutes >= 0, got {_show(v)}")
                    else:
                        history[k] = v
        if cid is None or loc is None:
            continue
        clients.append(Client(
            id=cid, name=r.string(c, "name", path, default=cid) or cid, location=loc,
            gender_preference=r.string(c, "gender_preference", path),
            excluded_carers=frozenset(excluded), preferred_carers=frozenset(preferred),
            history=history,
        ))
    for cid in sorted(set(seen_cl) & carer_ids):
        r.err(f"{seen_cl[cid]}.id", f"id '{cid}' is also a carer id (places must be unique)")
    for a, row in (matrix or {}).items():
        for place in (a, *row):
            if place not in seen_cl and place not in carer_ids:
                where = "travel.matrix" + (f".{a}" if place != a else "")
                r.err(f"{where}.{place}", f"unknown place '{place}' (not a client or carer id)")

    # visits
    visits: list[Visit] = []
    seen_v: dict[str, str] = {}
    for path, item in r.items(top, "visits", ""):
        v = r.obj(item, path, _VISIT_KEYS,
                  ("id", "client", "earliest_start", "latest_start", "duration_minutes"))
        vid = r.string(v, "id", path, required=True)
        if vid is not None and vid in seen_v:
            r.err(f"{path}.id", f"duplicate visit id '{vid}' (also {seen_v[vid]})")
        elif vid is not None:
            seen_v[vid] = path
        client = r.string(v, "client", path, required=True)
        if client is not None and client not in seen_cl:
            r.err(f"{path}.client", f"unknown client '{client}'")
        es, ls = minute(v, "earliest_start", path), minute(v, "latest_start", path)
        if es is not None and ls is not None:
            if ls < es:
                r.err(f"{path}.latest_start", "window shorter than zero: latest_start is before "
                      "earliest_start")
            if es < 0:
                r.err(f"{path}.earliest_start", "is before the horizon start")
            if ls >= horizon_minutes:
                r.err(f"{path}.latest_start", "is at or after the horizon end")
        duration = r.integer(v, "duration_minutes", path, None, strictly_positive=True)
        roles: list[Role] = []
        raw_roles = r.items(v, "roles", path) if "roles" in v else []
        if "roles" in v and isinstance(v["roles"], list) and not v["roles"]:
            r.err(f"{path}.roles", "must list at least one role")
        for rpath, rr in raw_roles:
            ro = r.obj(rr, rpath, _ROLE_KEYS)
            roles.append(Role(
                skills=frozenset(r.str_list(ro, "skills", rpath)),
                duration_minutes=r.integer(ro, "duration_minutes", rpath, None,
                                           strictly_positive=True),
            ))
        priority = v.get("priority", "essential")
        if priority not in PRIORITIES:
            r.err(f"{path}.priority", f"must be one of essential, important, optional, got "
                  f"{_show(priority)}")
        lateness = r.integer(v, "max_lateness_minutes", path, 0) or 0
        volunteer_ok = r.boolean(v, "volunteer_ok", path, False)
        if None in (vid, client, es, ls, duration) or priority not in PRIORITIES:
            continue
        assert vid is not None and client is not None and es is not None and ls is not None
        assert duration is not None
        visits.append(Visit(
            id=vid, client=client, earliest_start=es, latest_start=ls,
            duration_minutes=duration, roles=tuple(roles) if roles else (Role(),),
            volunteer_ok=volunteer_ok, priority=str(priority), max_lateness_minutes=lateness,
        ))
    visit_of = {v.id: v for v in visits}

    # dependencies
    dependencies: list[Dependency] = []
    for path, item in r.items(top, "dependencies", ""):
        d = r.obj(item, path, _DEP_KEYS, ("first", "then"))
        first, then = r.string(d, "first", path, required=True), r.string(d, "then", path,
                                                                       required=True)
        for key, ref in (("first", first), ("then", then)):
            if ref is not None and ref not in seen_v:
                r.err(f"{path}.{key}", f"unknown visit '{ref}'")
        if first is not None and first == then:
            r.err(f"{path}.then", "a visit cannot depend on itself")
        lo = r.integer(d, "min_gap_minutes", path, 0, minimum=None)
        hi = r.integer(d, "max_gap_minutes", path, None, minimum=None)
        if lo is not None and hi is not None and hi < lo:
            r.err(f"{path}.max_gap_minutes", f"is below min_gap_minutes ({hi} < {lo})")
        if first and then and first in visit_of and then in visit_of and first != then:
            dependencies.append(Dependency(first, then, lo or 0, hi))

    # pins
    pinned: list[Pin] = []
    pinned_seen: dict[str, str] = {}
    for path, item in r.items(top, "pinned", ""):
        p = r.obj(item, path, _PIN_KEYS, ("visit", "carers"))
        vid = r.string(p, "visit", path, required=True)
        pcarers = r.str_list(p, "carers", path)
        start = minute(p, "start", path)
        visit = visit_of.get(vid) if vid else None
        if vid is not None and vid not in seen_v:
            r.err(f"{path}.visit", f"unknown visit '{vid}'")
        if vid is not None and vid in pinned_seen:
            r.err(f"{path}.visit", f"visit '{vid}' is already pinned by {pinned_seen[vid]}")
        elif vid is not None:
            pinned_seen[vid] = path
        if len(set(pcarers)) != len(pcarers):
            r.err(f"{path}.carers", "the same carer is named twice")
        for i, cid in enumerate(pcarers):
            if cid not in carer_ids:
                r.err(f"{path}.carers[{i}]", f"unknown carer '{cid}'")
        if visit is not None:
            if len(pcarers) != len(visit.roles):
                r.err(f"{path}.carers", f"visit '{visit.id}' has {len(visit.roles)} role(s), "
                      f"the pin names {len(pcarers)} carer(s)")
            for i, (cid, role) in enumerate(zip(pcarers, visit.roles, strict=False)):
                carer = carer_of.get(cid)
                if carer is None:
                    continue
                held = carer.skills_at(start if start is not None else visit.earliest_start)
                for skill in sorted(role.skills - held):
                    r.err(f"{path}.carers[{i}]", f"carer '{cid}' lacks skill '{skill}' needed by "
                          f"role {i + 1} of visit '{visit.id}'")
                if carer.is_volunteer and not visit.volunteer_ok:
                    r.err(f"{path}.carers[{i}]", f"carer '{cid}' is a volunteer and visit "
                          f"'{visit.id}' is not volunteer_ok")
            if start is not None and not (visit.earliest_start <= start <= visit.last_start):
                r.err(f"{path}.start", f"outside the start window of visit '{visit.id}'")
        if vid and visit is not None:
            pinned.append(Pin(vid, tuple(pcarers), start))

    if r.errors:
        raise ProblemError(r.errors)
    assert h_start is not None
    return Problem(name=name, horizon_start=h_start, horizon_minutes=horizon_minutes,
                   travel=travel, rules=rules, weights=weights, carers=carers, clients=clients,
                   visits=visits, dependencies=dependencies, pinned=pinned)


def _skills_until(r: _Reader, raw: dict, path: str, skills: frozenset[str],
                  h_start: datetime | None) -> tuple[tuple[str, int], ...]:
    """``skills_valid_until``: ``{skill: "YYYY-MM-DD"}``, each a skill the carer holds, valid
    for visits that start before midnight at the start of that date."""
    value = raw.get("skills_valid_until")
    if value is None:
        return ()
    if not isinstance(value, dict):
        r.err(f"{path}.skills_valid_until", f"must be an object of skill: date, got {_kind(value)}")
        return ()
    out: list[tuple[str, int]] = []
    for skill, when in value.items():
        field = f"{path}.skills_valid_until.{skill}"
        if skill not in skills:
            r.err(field, f"'{skill}' is not one of the carer's skills")
            continue
        try:
            day = date.fromisoformat(when) if isinstance(when, str) and len(when) == 10 else None
        except ValueError:
            day = None
        if day is None:
            r.err(field, f"must be a date like \"2026-12-02\", got {_show(when)}")
            continue
        if h_start is not None:
            midnight = datetime.combine(day, datetime.min.time())
            out.append((skill, int((midnight - h_start).total_seconds() // 60)))
    return tuple(sorted(out))


def _read_matrix(r: _Reader, raw: Any) -> dict[str, dict[str, int]] | None:
    if not isinstance(raw, dict):
        r.err("travel.matrix", f"must be an object of objects, got {_kind(raw)}")
        return None
    out: dict[str, dict[str, int]] = {}
    for a, row in raw.items():
        if not isinstance(row, dict):
            r.err(f"travel.matrix.{a}", f"must be an object, got {_kind(row)}")
            continue
        out[a] = {}
        for b, v in row.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                r.err(f"travel.matrix.{a}.{b}", f"must be whole minutes >= 0, got {_show(v)}")
            else:
                out[a][b] = v
    return out


# ======================================================================================
# Writing
# ======================================================================================

def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def problem_to_dict(p: Problem) -> dict[str, Any]:
    """The v1 JSON form of a problem (round-trips through :func:`problem_from_dict`)."""
    iso = p.iso
    out: dict[str, Any] = {
        "format": PROBLEM_FORMAT,
        "name": p.name,
        "horizon": {"start": iso(0), "end": iso(p.horizon_minutes)},
        "travel": {"speed_kmh": _num(p.travel.speed_kmh), "road_factor": p.travel.road_factor,
                   "minimum_minutes": p.travel.minimum_minutes,
                   "matrix": ({a: dict(row) for a, row in p.travel.matrix.items()}
                              if p.travel.matrix is not None else None)},
        "rules": {"min_rest_minutes": p.rules.min_rest_minutes,
                  "count_travel_as_work": p.rules.count_travel_as_work,
                  "home_travel": p.rules.home_travel},
        "weights": {k: _num(v) for k, v in p.weights.items()},
        "carers": [],
        "clients": [],
        "visits": [],
        "dependencies": [],
        "pinned": [],
    }
    for c in p.carers:
        d: dict[str, Any] = {"id": c.id, "name": c.name, "kind": c.kind,
                             "skills": sorted(c.skills),
                             "location": {"lat": c.location.lat, "lon": c.location.lon},
                             "availability": [{"start": iso(a.start), "end": iso(a.end)}
                                              for a in c.availability],
                             "max_minutes_per_day": c.max_minutes_per_day,
                             "max_minutes_per_week": c.max_minutes_per_week}
        if c.speed_kmh is not None:
            d["speed_kmh"] = _num(c.speed_kmh)
        if c.gender is not None:
            d["gender"] = c.gender
        if c.contracted_minutes is not None:
            d["contracted_minutes"] = c.contracted_minutes
        if c.hourly_cost:
            d["hourly_cost"] = _num(c.hourly_cost)
        if c.skills_until:
            d["skills_valid_until"] = {s: p.time_of(until).date().isoformat() for s, until in c.skills_until}
        out["carers"].append(d)
    for cl in p.clients:
        e: dict[str, Any] = {"id": cl.id, "name": cl.name,
                             "location": {"lat": cl.location.lat, "lon": cl.location.lon}}
        if cl.gender_preference is not None:
            e["gender_preference"] = cl.gender_preference
        if cl.excluded_carers:
            e["excluded_carers"] = sorted(cl.excluded_carers)
        if cl.preferred_carers:
            e["preferred_carers"] = sorted(cl.preferred_carers)
        if cl.history:
            e["history"] = dict(cl.history)
        out["clients"].append(e)
    for v in p.visits:
        f: dict[str, Any] = {"id": v.id, "client": v.client,
                             "earliest_start": iso(v.earliest_start),
                             "latest_start": iso(v.latest_start),
                             "duration_minutes": v.duration_minutes,
                             "roles": [{"skills": sorted(r.skills)} | (
                                 {"duration_minutes": r.duration_minutes}
                                 if r.duration_minutes is not None else {}) for r in v.roles],
                             "volunteer_ok": v.volunteer_ok, "priority": v.priority}
        if v.max_lateness_minutes:
            f["max_lateness_minutes"] = v.max_lateness_minutes
        out["visits"].append(f)
    for dep in p.dependencies:
        g: dict[str, Any] = {"first": dep.first, "then": dep.then,
                             "min_gap_minutes": dep.min_gap_minutes}
        if dep.max_gap_minutes is not None:
            g["max_gap_minutes"] = dep.max_gap_minutes
        out["dependencies"].append(g)
    for pin in p.pinned:
        h: dict[str, Any] = {"visit": pin.visit, "carers": list(pin.carers)}
        if pin.start is not None:
            h["start"] = iso(pin.start)
        out["pinned"].append(h)
    return out
