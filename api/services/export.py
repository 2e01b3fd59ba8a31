"""Subject access: everything held about a person as one JSON document.

A member's export: their profile (no password hash), skills, availability and leave, the client
record they are linked to (a client: its details, preferences, shares, care plan and visits), the
shares of a family member, the visits they were on as a carer, the rotas those visits are in, their
whole time-bank statement and the access-log entries about them. A client's export (a client
record without a member, or one a coordinator asks for) has the client's part. Each export is
logged (``record_kind`` ``export``) before it is gathered, so it lists itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session, col, select

from api.errors import Forbidden, NotFound
from api.models import Availability as AvailabilityRow
from api.models import (
    AvailabilityPublic,
    Client,
    ClientCarer,
    ClientShare,
    LeavePublic,
    Member,
    MemberPublic,
    Rota,
    SkillPublic,
    SolveRun,
    TemplateDependency,
    Visit,
    VisitCarer,
    VisitTemplatePublic,
    saved_id,
)
from api.models import Leave as LeaveRow
from api.models import Skill as SkillRow
from api.models import VisitTemplate as TemplateRow
from api.services import access_log as audit
from api.services import bank
from api.services.clients import _public as client_public
from api.services.common import get_in_coop, get_member
from api.services.rotas import visit_public
from timebank import Ledger

FORMAT = "carerota-subject-access/1"


def _dump(rows: list[Any]) -> list[dict]:
    return [r.model_dump(mode="json") for r in rows]


def _visits_and_rotas(session: Session, visits: list[Visit]) -> tuple[list[dict], list[dict]]:
    rota_ids = sorted({v.rota_id for v in visits})
    rotas = list(session.exec(select(Rota).where(col(Rota.id).in_(rota_ids)).order_by(col(Rota.id))).all()) \
        if rota_ids else []
    return _dump([visit_public(v) for v in visits]), [_rota_row(r) for r in rotas]


def _rota_row(r: Rota) -> dict[str, Any]:
    return {"id": r.id, "week_start": r.week_start.isoformat(), "version": r.version, "status": str(r.status),
            "published_at": r.published_at.isoformat() if r.published_at else None}


def _client_part(session: Session, client: Client) -> dict:
    templates = list(session.exec(select(TemplateRow).where(TemplateRow.client_id == client.id)
                                  .order_by(col(TemplateRow.id))).all())
    template_ids = [saved_id(t) for t in templates]
    deps = list(session.exec(
        select(TemplateDependency).where(col(TemplateDependency.first_id).in_(template_ids))
        .order_by(col(TemplateDependency.id))).all()) if template_ids else []
    shares = list(session.exec(select(ClientShare).where(ClientShare.client_id == client.id)
                               .order_by(col(ClientShare.id))).all())
    visits = list(session.exec(select(Visit).where(Visit.client_id == client.id)
                               .order_by(col(Visit.earliest_start), col(Visit.id))).all())
    visit_rows, rotas = _visits_and_rotas(session, visits)
    return {
        "record": client_public(session, client).model_dump(mode="json"),
        "shares": [{"id": s.id, "family_member_id": s.member_id} for s in shares],
        "care_plan": [VisitTemplatePublic.model_validate(t, from_attributes=True).model_dump(mode="json")
                      for t in templates],
        "care_plan_dependencies": _dump(deps),
        "visits": visit_rows,
        "rotas": rotas,
    }


def _statement(ledger: Ledger, member: Member, today: dt.date) -> dict:
    """The member's whole time-bank statement (every page), from the day they joined (at most ten
    years back); a coordinator has no account."""
    start = max(member.created_at.date(), today - dt.timedelta(days=3650))
    try:
        page = bank.my_timebank(ledger, member, start, today, today, None, 500)
    except (Forbidden, NotFound) as exc:
        return {"account": None, "note": str(exc)}
    out = page.model_dump(mode="json")
    while page.next_cursor is not None:
        page = bank.my_timebank(ledger, member, None, None, today, page.next_cursor, 500)
        out["lines"].extend(ln.model_dump(mode="json") for ln in page.lines)
    out.pop("next_cursor", None)
    out.pop("limit", None)
    return out


def _of_member(session: Session, model: Any, public: Any, member_id: int) -> list[dict]:
    rows = session.exec(select(model).where(model.member_id == member_id).order_by(col(model.id))).all()
    return _dump([public.model_validate(r, from_attributes=True) for r in rows])


def _member_export(session: Session, ledger: Ledger, actor: Member, member: Member, today: dt.date) -> dict:
    client = session.get(Client, member.client_id) if member.client_id is not None else None
    audit.log_read(session, actor, [("export", saved_id(member), client.id if client else None,
                                     saved_id(member))])
    carer_visits = list(session.exec(
        select(Visit).join(VisitCarer, col(VisitCarer.visit_id) == col(Visit.id))
        .where(VisitCarer.member_id == member.id).order_by(col(Visit.earliest_start), col(Visit.id))).all())
    visit_rows, rotas = _visits_and_rotas(session, carer_visits)
    mid = saved_id(member)
    shared = session.exec(select(ClientShare).where(ClientShare.member_id == mid)
                          .order_by(col(ClientShare.id))).all()
    key, client_key = f"m{mid}", (f"c{client.id}" if client is not None else None)
    in_files = [r for r in session.exec(select(Rota).where(Rota.coop_id == member.coop_id)
                                        .order_by(col(Rota.id))).all()
                if key in (r.id_map or {}).get("carers", {})]
    rotas += [_rota_row(r) for r in in_files if r.id not in {x["id"] for x in rotas}]
    rotas.sort(key=lambda x: x["id"])
    runs = [r for r in session.exec(select(SolveRun).where(SolveRun.coop_id == member.coop_id)
                                    .order_by(col(SolveRun.id))).all()
            if r.requested_by == mid or key in (r.id_map or {}).get("carers", {})
            or (client_key is not None and client_key in (r.id_map or {}).get("clients", {}))]
    choices = session.exec(select(ClientCarer).where(ClientCarer.member_id == mid)
                           .order_by(col(ClientCarer.id))).all()
    return {
        "format": FORMAT,
        "exported_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(),
        "subject": {"kind": "member", "member_id": mid, "client_id": client.id if client else None},
        "profile": MemberPublic.model_validate(member, from_attributes=True).model_dump(mode="json"),
        "skills": _of_member(session, SkillRow, SkillPublic, mid),
        "availability": _of_member(session, AvailabilityRow, AvailabilityPublic, mid),
        "leave": _of_member(session, LeaveRow, LeavePublic, mid),
        "client": _client_part(session, client) if client is not None else None,
        "shared_with_me": [{"id": s.id, "client_id": s.client_id} for s in shared],
        "visits_as_carer": visit_rows,
        "rotas_as_carer": rotas,
        "preferences_about_me": [{"id": c.id, "client_id": c.client_id, "kind": str(c.kind)}
                                 for c in choices],
        "solve_runs": [{"id": r.id, "week_start": r.week_start.isoformat(), "kind": str(r.kind),
                        "status": str(r.status), "requested_by_me": r.requested_by == mid} for r in runs],
        "timebank": _statement(ledger, member, today),
        "access_log": _dump(audit.entries_about(session, member.coop_id, client.id if client else None, mid)),
        "access_log_by_me": _dump(audit.entries_by(session, member.coop_id, mid)),
    }


def my_export(session: Session, ledger: Ledger, actor: Member, today: dt.date) -> dict:
    """Everything held about the caller."""
    return _member_export(session, ledger, actor, actor, today)


def member_export(session: Session, ledger: Ledger, actor: Member, member_id: int, today: dt.date) -> dict:
    """Everything held about a member of the caller's co-op (a coordinator's: the route's scope)."""
    return _member_export(session, ledger, actor, get_member(session, member_id, actor), today)


def client_export(session: Session, actor: Member, client_id: int) -> dict:
    """Everything held about a client record of the caller's co-op (a coordinator's)."""
    client = get_in_coop(session, Client, client_id, actor, "client")
    audit.log_read(session, actor, [("export", client.id, client.id, None)])
    return {
        "format": FORMAT,
        "exported_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(),
        "subject": {"kind": "client", "client_id": client.id},
        "client": _client_part(session, client),
        "access_log": _dump(audit.entries_about(session, client.coop_id, client.id, None)),
    }


# ----------------------------------------------------------------------------- the readable page
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Your data held by carerota</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}
table{border-collapse:collapse;margin:.3rem 0 1rem}td,th{border:1px solid #bbb;padding:.2rem .4rem;
text-align:left;vertical-align:top}th{background:#f2f2f2}h2{margin-top:2rem}</style></head>
<body>
<h1>Everything carerota holds about you</h1>
<p>Exported {{ doc.exported_at }} (UTC), format {{ doc.format }}. The same data as a JSON file:
<code>GET /me/export</code>.</p>
{%- macro show(value) -%}
{%- if value is mapping -%}
<table>{% for k, v in value.items() %}<tr><th>{{ k }}</th><td>{{ show(v) }}</td></tr>{% endfor %}</table>
{%- elif value is string -%}{{ value }}
{%- elif value is iterable -%}
{%- if not value -%}<em>none</em>
{%- elif value[0] is mapping -%}
{%- set keys = value[0].keys() | list -%}
<table><tr>{% for k in keys %}<th>{{ k }}</th>{% endfor %}</tr>
{% for row in value %}<tr>{% for k in keys %}<td>{{ show(row[k]) }}</td>{% endfor %}</tr>
{% endfor %}</table>
{%- else -%}{{ value | join(", ") }}{%- endif -%}
{%- elif value is none -%}<em>none</em>
{%- else -%}{{ value }}{%- endif -%}
{%- endmacro %}
{% for section, value in doc.items() if section not in ("format", "exported_at") %}
<h2>{{ SECTIONS.get(section, section) }}</h2>
{{ show(value) }}
{% endfor %}
</body></html>
"""
SECTIONS = {
    "subject": "Who this is about", "profile": "Your details", "skills": "Skills",
    "availability": "Availability", "leave": "Leave", "client": "Your care record",
    "shared_with_me": "Care records shared with you", "visits_as_carer": "Visits you made or will make",
    "rotas_as_carer": "Rotas you are in", "timebank": "Time bank statement",
    "access_log": "Who read or changed your records",
}


def render_html(doc: dict) -> str:
    """The export as a readable page: every section of the JSON file as tables; every value is
    HTML-escaped (autoescape), so a name or a note can never become markup."""
    from jinja2 import Environment

    env = Environment(autoescape=True)
    return env.from_string(_PAGE).render(doc=doc, SECTIONS=SECTIONS)
