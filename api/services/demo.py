"""Seed a demo co-op from the example week generator (its week becomes the recurring pattern)."""

from __future__ import annotations

import copy
import datetime as dt
import secrets
from typing import Any

from sqlmodel import Session

from api.models import (
    Availability,
    CarerChoice,
    Client,
    ClientCarer,
    Coop,
    Member,
    Priority,
    Role,
    Skill,
    TemplateDependency,
    VisitTemplate,
    saved_id,
)
from api.security import hash_password
from api.services.bank import open_member_account
from scheduler.problem import TIME_FORMAT


def _hhmm(when: dt.datetime) -> str:
    return when.strftime("%H:%M")


def volunteer_week(problem: dict[str, Any]) -> dict[str, Any]:
    """The generated week made into a demo where the volunteers do the social calls.

    In the generated week, staff under contract take the ``volunteer_ok`` social calls (each
    minute they work below contract is a penalty), so a new user's first rota never rosters a
    volunteer. In the demo co-op the social calls are the volunteers' befriending service:
    the volunteers hold the social skills and give their afternoons on the days of the calls,
    and the staff's skills are their care skills only. No care visit changes, so no staff
    member loses any work to a volunteer. Returns a new problem dict."""
    out = copy.deepcopy(problem)
    calls = [v for v in out["visits"] if v.get("volunteer_ok")]
    volunteers = [c for c in out["carers"] if c["kind"] == "volunteer"]
    if not calls or not volunteers:
        return out
    needed = {s for v in calls for r in v.get("roles", []) for s in r.get("skills", [])}
    care = {s for v in out["visits"] if not v.get("volunteer_ok")
            for r in v.get("roles", []) for s in r.get("skills", [])}
    social_only = needed - care
    for c in out["carers"]:
        if c["kind"] == "staff":
            c["skills"] = [s for s in c.get("skills", []) if s not in social_only]
    spans: dict[dt.date, tuple[dt.datetime, dt.datetime]] = {}
    for v in calls:   # the afternoon around each day's calls, with an hour either side for travel
        es = dt.datetime.fromisoformat(v["earliest_start"])
        end = dt.datetime.fromisoformat(v["latest_start"]) + dt.timedelta(minutes=v["duration_minutes"])
        lo, hi = spans.get(es.date(), (es, end))
        spans[es.date()] = (min(lo, es), max(hi, end))
    availability = []
    for day, (lo, hi) in sorted(spans.items()):
        start = max(lo - dt.timedelta(hours=1), dt.datetime.combine(day, dt.time(0, 0)))
        stop = min(hi + dt.timedelta(hours=1), dt.datetime.combine(day, dt.time(23, 59)))
        availability.append({"start": start.strftime(TIME_FORMAT),
                             "end": stop.strftime(TIME_FORMAT)})
    for vol in volunteers:
        vol["skills"] = sorted(set(vol.get("skills", [])) | needed)
        vol["availability"] = list(availability)
    return out


def seed_demo(session: Session, problem: dict[str, Any], email_domain: str = "demo.carerota.example",
              password: str | None = None) -> tuple[Coop, str, str]:
    """Create a co-op holding the generated week's carers, clients and visits (as a care plan).

    Returns the co-op, the coordinator's e-mail and password."""
    tag = secrets.token_hex(3)
    password = password or secrets.token_urlsafe(12)
    coop = Coop(name=f"Demo co-op {tag}")
    session.add(coop)
    session.flush()
    coop_id = saved_id(coop)
    coordinator_email = f"coordinator-{tag}@{email_domain}"
    session.add(Member(coop_id=coop_id, email=coordinator_email, full_name="Demo Coordinator",
                       role=Role.coordinator, hashed_password=hash_password(password)))
    carer_ids: dict[str, int] = {}
    pw_hash = hash_password(secrets.token_urlsafe(16))   # carers get a login when a coordinator sets one
    for c in problem["carers"]:
        m = Member(coop_id=coop_id, email=f"{c['id']}-{tag}@{email_domain}", full_name=c.get("name", c["id"]),
                   role=Role(c["kind"]), hashed_password=pw_hash, gender=c.get("gender"),
                   lat=c["location"]["lat"], lon=c["location"]["lon"], speed_kmh=c.get("speed_kmh"),
                   max_minutes_per_day=c.get("max_minutes_per_day", 720),
                   max_minutes_per_week=c.get("max_minutes_per_week", 2880),
                   contracted_minutes=c.get("contracted_minutes"), hourly_cost=c.get("hourly_cost", 0.0))
        session.add(m)
        session.flush()
        open_member_account(session, m)
        member_id = carer_ids[c["id"]] = saved_id(m)
        for s in c.get("skills", []):
            session.add(Skill(member_id=member_id, name=s))
        for a in c.get("availability", []):
            start, end = dt.datetime.fromisoformat(a["start"]), dt.datetime.fromisoformat(a["end"])
            if end.date() != start.date():
                end = dt.datetime.combine(start.date(), dt.time(23, 59))
            if end > start:
                session.add(Availability(member_id=member_id, weekday=start.weekday(), start=_hhmm(start),
                                         end=_hhmm(end)))
    client_ids: dict[str, int] = {}
    for c in problem["clients"]:
        cl = Client(coop_id=coop_id, name=c.get("name", c["id"]), lat=c["location"]["lat"],
                    lon=c["location"]["lon"], gender_preference=c.get("gender_preference"))
        session.add(cl)
        session.flush()
        client_id = client_ids[c["id"]] = saved_id(cl)
        for kind in ("preferred", "excluded"):
            for cid in c.get(f"{kind}_carers", []):
                session.add(ClientCarer(client_id=client_id, member_id=carer_ids[cid],
                                        kind=CarerChoice(kind)))
    template_ids: dict[str, int] = {}
    for v in problem["visits"]:
        es, ls = dt.datetime.fromisoformat(v["earliest_start"]), dt.datetime.fromisoformat(v["latest_start"])
        if es.date() != ls.date():
            continue
        t = VisitTemplate(coop_id=coop_id, client_id=client_ids[v["client"]], label=v["id"],
                          days=[es.weekday()], earliest_start=_hhmm(es), latest_start=_hhmm(ls),
                          duration_minutes=v["duration_minutes"], roles=v.get("roles", [{"skills": []}]),
                          priority=Priority(v.get("priority", "essential")),
                          volunteer_ok=v.get("volunteer_ok", False),
                          max_lateness_minutes=v.get("max_lateness_minutes", 0))
        session.add(t)
        session.flush()
        template_ids[v["id"]] = saved_id(t)
    for d in problem.get("dependencies", []):
        if d["first"] in template_ids and d["then"] in template_ids:
            session.add(TemplateDependency(coop_id=coop_id, first_id=template_ids[d["first"]],
                                           then_id=template_ids[d["then"]],
                                           min_gap_minutes=d.get("min_gap_minutes", 0),
                                           max_gap_minutes=d.get("max_gap_minutes")))
    session.commit()
    return coop, coordinator_email, password
