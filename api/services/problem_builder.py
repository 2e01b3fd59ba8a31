"""The co-op's data for one week → a ``carerota.problem/1`` dict (plus the id map back).

Ids in the file: carers ``m<member id>``, clients ``c<client id>``, visits
``t<template id>-<YYYYMMDD>`` (stable across re-solves of the same week). Skill expiry is
exact: a skill that expires inside the week goes into the carer's ``skills_valid_until``
(``{"medication": "2026-12-02"}``, the problem format's own field), so an expired medication
certificate makes the carer ineligible from that date on and the reasons a coordinator reads
name the skill, the carer and the date.

One bad record does not block the co-op's week: a carer without a home location, a care plan
visit whose window is impossible, or any record the problem file's validation refuses is left
out, and ``id_map["left_out"]`` says which and why (shown as the run's ``warnings``). Only a
week with nothing left to solve is refused.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from typing import Any

from sqlmodel import Session, col, select

from api.errors import Invalid, NotFound
from api.models import (
    Availability,
    Client,
    ClientCarer,
    Coop,
    Leave,
    Member,
    Rota,
    RotaStatus,
    Skill,
    TemplateDependency,
    Visit,
    VisitStatus,
    VisitTemplate,
    minutes_of,
    role_of,
    saved_id,
)
from scheduler.problem import PROBLEM_FORMAT, TIME_FORMAT, ProblemError, problem_from_dict

FMT = TIME_FORMAT  # the problem format's local times
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def iso(when: dt.datetime) -> str:
    return when.strftime(FMT)


def carer_key(member_id: int) -> str:
    return f"m{member_id}"


def client_key(client_id: int) -> str:
    return f"c{client_id}"


def visit_key(template_id: int, day: dt.date) -> str:
    return f"t{template_id}-{day:%Y%m%d}"


def check_week_start(week_start: dt.date) -> None:
    if week_start.weekday() != 0:
        raise Invalid(f"week_start: must be a Monday, got a {WEEKDAYS[week_start.weekday()]} "
                      f"({week_start.isoformat()})")
    if not dt.date(2000, 1, 3) <= week_start <= dt.date(2200, 1, 1):
        raise Invalid(f"week_start: {week_start.isoformat()} is out of range")


def _merge(intervals: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    out: list[tuple[dt.datetime, dt.datetime]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _subtract(intervals: list[tuple[dt.datetime, dt.datetime]],
              holes: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    for hs, he in holes:
        nxt: list[tuple[dt.datetime, dt.datetime]] = []
        for s, e in intervals:
            if he <= s or hs >= e:
                nxt.append((s, e))
                continue
            if s < hs:
                nxt.append((s, hs))
            if he < e:
                nxt.append((he, e))
        intervals = nxt
    return intervals


def skill_held_on(skill: Skill, day: dt.date) -> bool:
    return skill.expires_on is None or day < skill.expires_on


def build_problem(session: Session, coop_id: int, week_start: dt.date, history_weeks: int = 4,
                  pins: list[dict[str, Any]] | None = None,
                  skip_visit_keys: set[str] | None = None,
                  absent_from: dict[int, dt.datetime] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The problem dict and the id map for ``week_start`` (a Monday) of co-op ``coop_id``.

    ``pins``: ``{"visit": key, "carers": [member ids], "start": datetime | None}``.
    ``skip_visit_keys``: visits left out (cancelled or missed in the rota being re-solved).
    ``absent_from``: member id → the time from which the carer is absent for the rest of the week.
    Raises :class:`Invalid` naming every reason the week cannot be built.
    """
    check_week_start(week_start)
    coop = session.get(Coop, coop_id)
    if coop is None:
        raise NotFound(f"co-op {coop_id} not found")
    h_start = dt.datetime.combine(week_start, dt.time())
    h_end = h_start + dt.timedelta(days=7)
    days = [week_start + dt.timedelta(days=i) for i in range(7)]
    errors: list[str] = []

    carers_db = list(session.exec(
        select(Member).where(Member.coop_id == coop_id, Member.is_active == True,  # noqa: E712
                             col(Member.role).in_(["staff", "volunteer"])).order_by(col(Member.id))).all())
    from api.services.federation import borrowed_carers  # shared cover (issue 13)

    borrowed = borrowed_carers(session, coop_id, week_start)
    carers_db += [plan.member for plan in borrowed.values()]
    carer_ids = [saved_id(m) for m in carers_db]
    skills: dict[int, list[Skill]] = defaultdict(list)
    avail: dict[int, list[Availability]] = defaultdict(list)
    leave: dict[int, list[Leave]] = defaultdict(list)
    if carer_ids:
        for s in session.exec(select(Skill).where(col(Skill.member_id).in_(carer_ids))).all():
            skills[s.member_id].append(s)
        for a in session.exec(select(Availability).where(col(Availability.member_id).in_(carer_ids))).all():
            avail[a.member_id].append(a)
        for lv in session.exec(select(Leave).where(col(Leave.member_id).in_(carer_ids),
                                                   Leave.end > h_start, Leave.start < h_end)).all():
            leave[lv.member_id].append(lv)

    left_out: list[dict[str, Any]] = []
    carers: list[dict[str, Any]] = []
    for m in carers_db:
        mid = saved_id(m)
        if m.lat is None or m.lon is None:
            left_out.append({"kind": "member", "id": mid, "message":
                             f"{m.full_name} (member {mid}) is left out of the week: {NEEDS_HOME}"})
            continue
        held: set[str] = set()
        until: dict[str, str] = {}
        for s in skills[mid]:
            if all(skill_held_on(s, d) for d in days):
                held.add(s.name)
            elif skill_held_on(s, days[0]) and s.expires_on is not None:
                # valid at the start of the week, expiring inside it
                held.add(s.name)
                until[s.name] = s.expires_on.isoformat()
        intervals = []
        for a in avail[mid]:
            d = days[a.weekday]
            intervals.append((h_start + dt.timedelta(days=a.weekday, minutes=minutes_of(a.start)),
                              dt.datetime.combine(d, dt.time()) + dt.timedelta(minutes=minutes_of(a.end))))
        intervals += [(max(lv.start, h_start), min(lv.end, h_end)) for lv in leave[mid]
                      if lv.kind == "extra"]
        intervals = _merge(intervals)
        intervals = _subtract(intervals, [(lv.start, lv.end) for lv in leave[mid] if lv.kind == "leave"])
        if absent_from and mid in absent_from:
            intervals = _subtract(intervals, [(absent_from[mid], h_end)])
        week_cap = m.max_minutes_per_week
        if mid in borrowed:  # lent by another co-op: its days only, its rota's use deducted
            intervals = _subtract(intervals, borrowed[mid].blocked)
            week_cap = max(0, week_cap - borrowed[mid].week_minutes_used)
        carer: dict[str, Any] = {
            "id": carer_key(mid), "name": m.full_name, "kind": role_of(m).value,
            "skills": sorted(held), "location": {"lat": m.lat, "lon": m.lon},
            "availability": [{"start": iso(s), "end": iso(e)} for s, e in intervals],
            "max_minutes_per_day": m.max_minutes_per_day, "max_minutes_per_week": week_cap,
        }
        if until:
            carer["skills_valid_until"] = until
        if m.gender:
            carer["gender"] = m.gender
        if m.speed_kmh:
            carer["speed_kmh"] = m.speed_kmh
        if role_of(m) == "staff":
            if m.contracted_minutes is not None:
                carer["contracted_minutes"] = m.contracted_minutes
            if m.hourly_cost:
                carer["hourly_cost"] = m.hourly_cost
        carers.append(carer)
    in_problem = {int(c["id"][1:]) for c in carers}

    clients_db = list(session.exec(select(Client).where(Client.coop_id == coop_id,
                                                        Client.is_active == True)  # noqa: E712
                                   .order_by(col(Client.id))).all())
    client_ids = [saved_id(c) for c in clients_db]
    prefs: dict[int, dict[str, list[str]]] = defaultdict(lambda: {"preferred": [], "excluded": []})
    if client_ids:
        for row in session.exec(select(ClientCarer).where(col(ClientCarer.client_id).in_(client_ids))).all():
            if row.member_id in in_problem:
                prefs[row.client_id][row.kind].append(carer_key(row.member_id))
    history = _history(session, coop_id, week_start, history_weeks, in_problem)

    clients: list[dict[str, Any]] = []
    for c in clients_db:
        cid = saved_id(c)
        item: dict[str, Any] = {"id": client_key(cid), "name": c.name,
                                "location": {"lat": c.lat, "lon": c.lon},
                                "preferred_carers": sorted(prefs[cid]["preferred"]),
                                "excluded_carers": sorted(prefs[cid]["excluded"])}
        if c.gender_preference:
            item["gender_preference"] = c.gender_preference
        if history.get(cid):
            item["history"] = {carer_key(k): v for k, v in sorted(history[cid].items())}
        clients.append(item)

    templates = list(session.exec(select(VisitTemplate).where(
        VisitTemplate.coop_id == coop_id, VisitTemplate.is_active == True)  # noqa: E712
        .order_by(col(VisitTemplate.id))).all()) if client_ids else []
    active_clients = set(client_ids)
    visits: list[dict[str, Any]] = []
    visit_meta: dict[str, dict[str, Any]] = {}
    skip = skip_visit_keys or set()
    for t in templates:
        if t.client_id not in active_clients:
            continue
        if minutes_of(t.latest_start) < minutes_of(t.earliest_start):
            left_out.append({"kind": "care plan visit", "id": t.id, "message":
                             f"care plan visit '{t.label}' (id {t.id}) is left out of the week: its "
                             f"latest start {t.latest_start} is before its earliest start "
                             f"{t.earliest_start}"})
            continue
        for wd in sorted(t.days):
            d = days[wd]
            key = visit_key(saved_id(t), d)
            if key in skip:
                continue
            base = dt.datetime.combine(d, dt.time())
            roles = []
            for r in t.roles:
                role: dict[str, Any] = {"skills": list(r.get("skills", []))}
                if r.get("duration_minutes"):
                    role["duration_minutes"] = r["duration_minutes"]
                roles.append(role)
            visits.append({
                "id": key, "client": client_key(t.client_id),
                "earliest_start": iso(base + dt.timedelta(minutes=minutes_of(t.earliest_start))),
                "latest_start": iso(base + dt.timedelta(minutes=minutes_of(t.latest_start))),
                "duration_minutes": t.duration_minutes, "roles": roles,
                "volunteer_ok": t.volunteer_ok, "priority": t.priority.value,
                "max_lateness_minutes": t.max_lateness_minutes,
            })
            visit_meta[key] = {"template_id": t.id, "client_id": t.client_id, "label": t.label}

    dependencies: list[dict[str, Any]] = []
    for dep in session.exec(select(TemplateDependency).where(TemplateDependency.coop_id == coop_id)
                            .order_by(col(TemplateDependency.id))).all():
        for d in days:
            first, then = visit_key(dep.first_id, d), visit_key(dep.then_id, d)
            if first in visit_meta and then in visit_meta:
                item = {"first": first, "then": then, "min_gap_minutes": dep.min_gap_minutes}
                if dep.max_gap_minutes is not None:
                    item["max_gap_minutes"] = dep.max_gap_minutes
                dependencies.append(item)

    pinned: list[dict[str, Any]] = []
    for p in pins or []:
        if p["visit"] not in visit_meta or not all(m in in_problem for m in p["carers"]):
            continue
        pin: dict[str, Any] = {"visit": p["visit"], "carers": [carer_key(m) for m in p["carers"]]}
        if p.get("start") is not None:
            pin["start"] = iso(p["start"])
        pinned.append(pin)

    problem: dict[str, Any] = {
        "format": PROBLEM_FORMAT,
        "name": f"{coop.name}, week of {week_start:%d %b %Y}",
        "horizon": {"start": iso(h_start), "end": iso(h_end)},
        "carers": carers, "clients": clients, "visits": visits,
        "dependencies": dependencies, "pinned": pinned,
    }
    names = {"carers": {carer_key(saved_id(m)): f"{m.full_name} (member {m.id})" for m in carers_db},
             "clients": {client_key(saved_id(c)): f"client {c.name} (id {c.id})" for c in clients_db},
             "visits": {k: f"care plan visit '{m['label']}' on {k.split('-')[-1]}"
                        for k, m in visit_meta.items()}}
    for _attempt in range(5):
        if not problem["carers"]:
            errors.append("carers: the co-op has no active carer (staff or volunteer) with a home location")
        if not problem["visits"]:
            errors.append(f"visits: no care plan visit falls in the week of {week_start.isoformat()}")
        if errors:
            break
        try:
            problem_from_dict(problem)
            break
        except ProblemError as exc:
            if not _leave_out(problem, exc.errors, names, left_out):
                errors.extend(exc.errors)
                break
    else:
        errors.append("the week's records kept failing validation")
    if errors:
        detail = [w["message"] for w in left_out] + errors
        raise Invalid(f"the week of {week_start.isoformat()} cannot be built", detail)
    kept_visits = {v["id"] for v in problem["visits"]}
    id_map = {"carers": {c["id"]: int(c["id"][1:]) for c in problem["carers"]},
              "clients": {c["id"]: int(c["id"][1:]) for c in problem["clients"]},
              "visits": {k: m for k, m in visit_meta.items() if k in kept_visits},
              "left_out": left_out}
    return problem, id_map


NEEDS_HOME = "needs a home location (lat, lon) to be rostered"
_RECORD = re.compile(r"^(carers|clients|visits|dependencies|pinned)\[(\d+)\]")
_KIND = {"carers": "member", "clients": "client", "visits": "visit"}


def _leave_out(problem: dict[str, Any], errors: list[str], names: dict[str, dict[str, str]],
               left_out: list[dict[str, Any]]) -> bool:
    """Drop the records the validation refused (and every reference to them), noting each in
    ``left_out``. False when some error belongs to no single record (nothing dropped)."""
    bad: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for e in errors:
        m = _RECORD.match(e)
        if m is None:
            return False
        bad[m.group(1)][int(m.group(2))].append(e[m.end():].lstrip("."))
    dropped: dict[str, set[str]] = {"carers": set(), "clients": set(), "visits": set()}
    for section in ("carers", "clients", "visits"):
        for i, reasons in sorted(bad.get(section, {}).items()):
            rec = problem[section][i]
            rid = str(rec.get("id"))
            dropped[section].add(rid)
            who = names[section].get(rid, f"{_KIND[section]} {rid}")
            left_out.append({"kind": _KIND[section], "id": rid,
                             "message": f"{who} is left out of the week: {'; '.join(reasons)}"})
    for section in ("dependencies", "pinned"):
        for i, reasons in sorted(bad.get(section, {}).items()):
            left_out.append({"kind": section, "id": i,
                             "message": f"{section[:-1] if section == 'dependencies' else 'pin'} "
                                        f"{i + 1} is left out of the week: {'; '.join(reasons)}"})
    gone_carers, gone_clients = dropped["carers"], dropped["clients"]
    problem["carers"] = [c for c in problem["carers"] if c["id"] not in gone_carers]
    problem["clients"] = [c for c in problem["clients"] if c["id"] not in gone_clients]
    for c in problem["clients"]:
        for key in ("preferred_carers", "excluded_carers"):
            c[key] = [x for x in c.get(key, []) if x not in gone_carers]
        if "history" in c:
            c["history"] = {k: v for k, v in c["history"].items() if k not in gone_carers}
    gone_visits = dropped["visits"] | {v["id"] for v in problem["visits"] if v["client"] in gone_clients}
    problem["visits"] = [v for v in problem["visits"] if v["id"] not in gone_visits]
    bad_deps, bad_pins = set(bad.get("dependencies", {})), set(bad.get("pinned", {}))
    problem["dependencies"] = [d for i, d in enumerate(problem["dependencies"]) if i not in bad_deps
                               and d["first"] not in gone_visits and d["then"] not in gone_visits]
    problem["pinned"] = [p for i, p in enumerate(problem["pinned"]) if i not in bad_pins
                         and p["visit"] not in gone_visits and not set(p["carers"]) & gone_carers]
    return True


def _history(session: Session, coop_id: int, week_start: dt.date, weeks: int,
             carers: set[int]) -> dict[int, dict[int, int]]:
    """Minutes each carer spent with each client in the published rotas of recent weeks."""
    out: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    if weeks <= 0:
        return out
    first = week_start - dt.timedelta(days=7 * weeks)
    rotas = session.exec(select(Rota).where(Rota.coop_id == coop_id, Rota.week_start >= first,
                                            Rota.week_start < week_start,
                                            Rota.status == RotaStatus.published)).all()
    rota_ids = [saved_id(r) for r in rotas]
    if not rota_ids:
        return out
    for v in session.exec(select(Visit).where(col(Visit.rota_id).in_(rota_ids),
                                              col(Visit.status).in_([VisitStatus.planned,
                                                                     VisitStatus.completed]))).all():
        minutes = v.duration_minutes
        if v.status == "completed" and v.actual_start and v.actual_end:
            minutes = max(0, int((v.actual_end - v.actual_start).total_seconds() // 60))
        for m in v.carer_ids:
            if m in carers:
                out[v.client_id][m] += minutes
    return out
