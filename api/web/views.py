"""What each page shows, composed from the API's services (``api.services``).

Each page route makes one call here. These functions only *read* through the services (so
every authorization check and every rule stays where the API has it) and arrange the answer
for a person: names instead of member ids, the week as days, lateness as minutes. The only
new reads are in :func:`carer_day` (the carer's own visits placed on a map, from the
published rota's problem file; see its docstring) and :func:`calendar_url` (the same token
``GET /me/calendar-link`` makes).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from sqlmodel import Session

from api.errors import NotFound, ServiceError
from api.models import (
    ClientPublic,
    Member,
    MyVisitPublic,
    Rota,
    RotaDetail,
    RotaPublic,
    RunPublic,
    VisitPublic,
    role_of,
)
from api.security import create_token
from api.services import bank, clients, members, rotas, runs, visits
from api.services.problem_builder import carer_key, client_key
from api.services.rotas import week_of
from api.web.cover import CoverPublic, cover_options
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
    duration: int
    window: str
    carer_ids: list[int]
    carers: list[str]
    lateness: int
    volunteer: bool
    volunteer_ok: bool
    reasons: list[str]

    def partners_of(self, carer_id: int) -> list[str]:
        return [n for m, n in zip(self.carer_ids, self.carers, strict=False) if m != carer_id]


@dataclass
class BoardRow:
    carer_id: int
    name: str
    kind: str
    cells: list[list[BoardVisit]]
    minutes: int = 0


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
    run: RunPublic | None
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

    @property
    def prev_week(self) -> str:
        return (self.week_start - dt.timedelta(days=7)).isoformat()

    @property
    def next_week(self) -> str:
        return (self.week_start + dt.timedelta(days=7)).isoformat()


def default_week(session: Session, actor: Member, today: dt.date) -> dt.date:
    """This week when it has a rota, else next week."""
    this_week = week_of(today)
    return this_week if rotas.list_rotas(session, actor, this_week) else this_week + dt.timedelta(days=7)


def _names(session: Session, actor: Member) -> tuple[dict[int, Member], dict[int, ClientPublic]]:
    people = {m.id: m for m in members.list_members(session, actor) if m.id is not None}
    return people, {c.id: c for c in clients.list_clients(session, actor)}


def _board_visit(v: VisitPublic, people: dict[int, Member], client_names: dict[int, ClientPublic]
                 ) -> BoardVisit:
    end = v.start + dt.timedelta(minutes=v.duration_minutes) if v.start else None
    names = [people[m].full_name if m in people else f"member {m}" for m in v.carer_ids]
    client = client_names.get(v.client_id)
    window = f"{v.earliest_start:%a %H:%M}-{v.latest_start:%H:%M}"
    return BoardVisit(id=v.id, rota_id=v.rota_id, key=v.key, label=v.label, client_id=v.client_id,
                      client=client.name if client else f"client {v.client_id}",
                      priority=str(v.priority), status=str(v.status), start=v.start, end=end,
                      earliest=v.earliest_start,
                      duration=v.duration_minutes, window=window, carer_ids=list(v.carer_ids),
                      carers=names, lateness=lateness_of(v),
                      volunteer=any(m in people and role_of(people[m]) == "volunteer" for m in v.carer_ids),
                      volunteer_ok=v.volunteer_ok, reasons=list(v.reasons))


def _kpis(rota: RotaPublic | None, run: RunPublic | None) -> list[Kpi]:
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
    gap = run.gap_text if run is not None and run.rota_id == rota.id else (
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
          carer: int | None = None, client: int | None = None, day: int | None = None) -> Board:
    """The week board of one rota version (default: the week's published rota, else its latest
    draft), with the unassigned visits, the KPIs, and, when a draft is newer than the published
    rota, what the draft changes."""
    versions = rotas.list_rotas(session, actor, week_start)   # coordinator only, as GET /rotas
    published = next((r for r in reversed(versions) if r.status == "published"), None)
    latest = versions[-1] if versions else None
    draft = latest if latest is not None and latest.status == "draft" and (
        published is None or latest.version > published.version) else None
    chosen: RotaPublic | None = published or latest
    if rota_id is not None:
        chosen = next((r for r in versions if r.id == rota_id), None)
        if chosen is None:
            raise NotFound(f"rota {rota_id} not found in the week of {week_start:%d %b %Y}")
    people, client_names = _names(session, actor)
    days = [week_start + dt.timedelta(days=i) for i in range(7)]
    carers = sorted(((m.id, m.full_name) for m in people.values()
                     if m.id is not None and role_of(m) in ("staff", "volunteer")), key=lambda t: t[1])
    filters = {"carer": carer, "client": client, "day": day, "rota_id": rota_id}
    out = Board(week_start=week_start, days=days, versions=versions, rota=chosen, published=published,
                draft=draft, run=None, rows=[], unassigned=[], kpis=[], carers=carers,
                clients=sorted(((c.id, c.name) for c in client_names.values()), key=lambda t: t[1]),
                filters=filters)
    if chosen is None:
        return out
    detail = rotas.get_rota(session, actor, chosen.id)
    if chosen.run_id is not None:
        try:
            out.run = runs.get_run(session, actor, chosen.run_id)
        except NotFound:
            out.run = None
    out.kpis = _kpis(chosen, out.run)
    all_visits = [_board_visit(v, people, client_names) for v in detail.visits]
    shown = [v for v in all_visits if _keep(v, client, day)]
    row_of: dict[int, BoardRow] = {}
    for cid, name in carers:
        if carer is not None and cid != carer:
            continue
        kind = str(role_of(people[cid]))
        row_of[cid] = BoardRow(carer_id=cid, name=name, kind=kind, cells=[[] for _ in days])
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
        _compare(session, actor, out, draft, published, people, client_names, detail)
    return out


def _keep(v: BoardVisit, client: int | None, day: int | None) -> bool:
    if client is not None and v.client_id != client:
        return False
    if day is not None:
        return (v.start or v.earliest).weekday() == day
    return True


def _compare(session: Session, actor: Member, out: Board, draft: RotaPublic, published: RotaPublic,
             people: dict[int, Member], client_names: dict[int, ClientPublic], detail: RotaDetail) -> None:
    """The draft beside the published rota: both KPIs, the visits that move, who gains or loses."""
    other_id = published.id if detail.id == draft.id else draft.id
    other = rotas.get_rota(session, actor, other_id)
    d, p = (detail, other) if detail.id == draft.id else (other, detail)
    out.compare = [Kpi(f"{k.label}", f"{k.value}", f"published: {q.value}")
                   for k, q in zip(_kpis(draft, None), _kpis(published, None), strict=False)]
    before = {v.id: _board_visit(v, people, client_names) for v in p.visits}
    count: dict[str, int] = defaultdict(int)
    for v in d.visits:
        new = _board_visit(v, people, client_names)
        old = before.get(v.id)
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
    cover it (:func:`api.web.cover.cover_options`)."""
    detail = rotas.get_rota(session, actor, rota_id)
    found = next((v for v in detail.visits if v.id == visit_id), None)
    if found is None:
        raise NotFound(f"visit {visit_id} not found in rota {rota_id}")
    people, client_names = _names(session, actor)
    carers = sorted(((m.id, m.full_name) for m in people.values()
                     if m.id is not None and role_of(m) in ("staff", "volunteer")), key=lambda t: t[1])
    problem = rotas.rota_problem(session, actor, rota_id)
    pv: dict[str, Any] = next((x for x in problem.get("visits", []) if x["id"] == found.key), {})
    page = VisitPage(rota=RotaPublic(**detail.model_dump(exclude={"visits"})),
                     visit=_board_visit(found, people, client_names), carers=carers,
                     roles=max(1, len(pv.get("roles", [{}]))))
    editable = detail.status != "superseded" and str(found.status) in ("planned", "unassigned")
    if editable and (without or str(found.status) == "unassigned"):
        try:
            page.cover = cover_options(session, actor, rota_id, visit_id, without or [])
        except ServiceError as exc:
            page.cover_error = "; ".join([exc.message, *exc.errors])
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
    import math

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


# ----------------------------------------------------------------------------- family
@dataclass
class ClientWeek:
    client: ClientPublic
    visits: list[VisitPublic]


def coming(session: Session, actor: Member, week_start: dt.date, client_id: int | None
           ) -> tuple[list[ClientPublic], list[ClientWeek]]:
    """Who is coming when: the clients the caller may see (``GET /clients``) and, for the chosen
    one (or each, when there are at most five), the week's published visits
    (``GET /clients/{id}/visits``)."""
    visible = clients.list_clients(session, actor)
    chosen = [c for c in visible if c.id == client_id] if client_id is not None else (
        visible if len(visible) <= 5 else [])
    if client_id is not None and not chosen:
        raise NotFound(f"client {client_id} not found")
    return visible, [ClientWeek(c, visits.client_visits(session, actor, c.id, week_start)) for c in chosen]
