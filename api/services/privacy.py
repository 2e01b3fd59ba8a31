"""Erasure, pseudonymisation and retention of personal data (care data is health data).

**Erasure** (``erase_member``, ``erase_client``: a coordinator's, or the retention job's) removes a
person who has left: their personal details and care needs are deleted or blanked, and what must
stay for the co-op's books and history (past visits, rota versions, the time bank) keeps only a
pseudonym (``Former member 12``, ``Former client 7``). The rows keep their ids, so the ledger,
which holds only ids and minutes (accounts are ``owner_ref`` = the member id), keeps every amount
and every balance exactly as it was without being touched (its entries are immutable). The stored
problem and rota files of past weeks (JSON copies of the data a solve saw) are rewritten: names
become the pseudonym, the client's visits lose their labels, and the skills their visits needed
are renamed to opaque tokens that the carers who held them hold too, so each stored rota still
passes the checker with the same objective. Coordinates stay in the stored problem files where
travel depends on them (a client's home; a carer's home only with ``home_travel``): rounding them
would change the week's travel times and the rota would no longer check; the client and member
rows keep them rounded to 0.01 degree (about 1 km).

Erasure is refused, with the reason, while an obligation stands: the person is still active,
under a legal hold (``set_hold``), or (members) has a time-bank balance other than zero while the
co-op's policy (``erase_with_open_balance``) forbids erasing one.

**Retention** (``run_retention``, the scheduler's ``retention`` job and ``carerota privacy
retention``): per co-op, rota versions of weeks that ended more than ``retention_visit_days`` ago
are pseudonymised (names out of their files and their visits' reasons and labels), and inactive
clients and members whose last visit (or, without one, joining) is older than
``retention_client_days`` / ``retention_member_days`` are erased when nothing forbids it (what is
refused is reported). Every step is marked (``rota.pseudonymised_at``, ``erased_at``), so a second
run finds nothing to do.

**Minimised exports** (``pseudonymise_problem``, ``pseudonymise_rota_file``): the week's problem
or a rota file with every id replaced by a stable pseudonym (keyed with the service's secret,
so the same person has the same pseudonym in every week's export and it cannot be turned back
into a database id), no names, no access notes or labels, coordinates rounded to 3 decimals
(about 100 m) and any travel matrix kept.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.errors import Conflict, Invalid, NotFound
from api.models import (
    Availability,
    Client,
    ClientShare,
    Coop,
    ErasurePublic,
    Leave,
    LegalHoldPublic,
    Member,
    PrivacyPolicy,
    PrivacyPolicyUpdate,
    RetentionReport,
    Rota,
    Skill,
    SolveRun,
    TemplateDependency,
    Visit,
    VisitCarer,
    VisitTemplate,
    saved_id,
    utcnow,
)
from api.services import access_log as audit
from api.services.common import get_in_coop, get_member
from api.services.problem_builder import carer_key, client_key
from timebank import Ledger
from timebank.errors import AccountNotFound

log = logging.getLogger("carerota.privacy")
ERASED_EMAIL_DOMAIN = "erased.invalid"


# ----------------------------------------------------------------------------- policy and holds
def policy_of(coop: Coop) -> PrivacyPolicy:
    return PrivacyPolicy.model_validate(coop, from_attributes=True)


def get_policy(session: Session, actor: Member) -> PrivacyPolicy:
    return policy_of(_coop(session, actor))


def _coop(session: Session, actor: Member) -> Coop:
    coop = session.get(Coop, actor.coop_id)
    if coop is None:
        raise NotFound(f"co-op {actor.coop_id} not found")
    return coop


def update_policy(session: Session, actor: Member, data: PrivacyPolicyUpdate) -> PrivacyPolicy:
    coop = _coop(session, actor)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(coop, key, value)
    session.add(coop)
    session.commit()
    return policy_of(coop)


def _subject(session: Session, actor: Member, kind: str, subject_id: int) -> Member | Client:
    if kind == "member":
        return get_member(session, subject_id, actor)
    return get_in_coop(session, Client, subject_id, actor, "client")


def _subject_record(kind: str, subject: Member | Client, what: str) -> audit.Record:
    sid = saved_id(subject)
    return (what, sid, sid, None) if kind == "client" else (what, sid, None, sid)


def set_hold(session: Session, actor: Member, kind: str, subject_id: int,
             reason: str | None) -> LegalHoldPublic:
    """Place (``reason``) or lift (``None``) a legal hold on a member or client record: while it
    stands the record cannot be erased, by a coordinator or by retention."""
    if reason is not None and not reason.strip():
        raise Invalid("reason: say why the record is held (it is shown when erasure is refused)",
                      ["reason: must not be blank"])
    subject = _subject(session, actor, kind, subject_id)
    if subject.erased_at is not None and reason is not None:
        raise Conflict(f"{kind} {subject_id} was erased on {subject.erased_at:%Y-%m-%d}; "
                       "there is nothing to hold")
    subject.legal_hold = reason.strip() if reason is not None else None
    session.add(subject)
    audit.log(session, actor, "write", [_subject_record(kind, subject, "legal_hold")])
    session.commit()
    return LegalHoldPublic(kind=kind, id=saved_id(subject), legal_hold=subject.legal_hold)


# ----------------------------------------------------------------------------- obligations
def member_balance(ledger: Ledger, member: Member) -> int | None:
    """The member's time-bank balance in minutes, None when they have no account."""
    try:
        account = ledger.member_account(str(member.coop_id), str(saved_id(member)))
    except AccountNotFound:
        return None
    return ledger.balance(account.id)


def _member_obligations(session: Session, ledger: Ledger, coop: Coop, member: Member) -> list[str]:
    why = []
    if member.legal_hold:
        why.append(f"legal hold: {member.legal_hold}")
    if member.is_active:
        why.append("the member is still active: deactivate them first (DELETE /members/{id})")
    balance = member_balance(ledger, member)
    if balance and not coop.erase_with_open_balance:
        why.append(f"time bank: the balance is {balance} minutes and the co-op's policy forbids erasure "
                   "with an open balance (settle it, or set erase_with_open_balance)")
    return why


def _client_obligations(session: Session, ledger: Ledger, coop: Coop, client: Client) -> list[str]:
    why = []
    if client.legal_hold:
        why.append(f"legal hold: {client.legal_hold}")
    if client.is_active:
        why.append("the client is still active: end their care first (PATCH /clients/{id} is_active false)")
    for m in session.exec(select(Member).where(Member.client_id == client.id,
                                               col(Member.erased_at).is_(None))).all():
        if m.is_active:
            why.append(f"member {m.id} (the client's login) is still active: deactivate them first")
    return why


# ----------------------------------------------------------------------------- rewriting stored files
def _rewrite(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_rewrite(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _rewrite(v, fn) for k, v in value.items()}
    return value


def _replacer(texts: dict[str, str]) -> Callable[[str], str]:
    """Replace each text (at least 2 characters; longest first) by its substitute wherever it
    stands on its own (not inside a longer word: erasing 'Ann' leaves 'Anna' alone)."""
    keys = sorted((t for t in texts if t and len(t.strip()) >= 2), key=len, reverse=True)
    if not keys:
        return lambda s: s
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(k)}(?!\w)" for k in keys))
    return lambda s: pattern.sub(lambda m: texts[m.group(0)], s)


def _erase_client_in_problem(problem: dict[str, Any], key: str, pseudonym: str) -> dict[str, Any]:
    """The problem with client ``key``'s name replaced, and its visits' needed skills renamed to
    opaque tokens held by exactly the carers who held the skills (so checks are unchanged)."""
    p = copy.deepcopy(problem)
    for c in p.get("clients", []):
        if c.get("id") == key:
            c["name"] = pseudonym
    tokens: dict[str, str] = {}
    for v in p.get("visits", []):
        if v.get("client") != key:
            continue
        for role in v.get("roles") or []:
            role["skills"] = [tokens.setdefault(s, f"need-{key}-{len(tokens) + 1}")
                              for s in role.get("skills", [])]
    if tokens:
        for carer in p.get("carers", []):
            held = list(carer.get("skills", []))
            carer["skills"] = held + [t for s, t in tokens.items() if s in held]
            valid = carer.get("skills_valid_until")
            if valid:
                valid.update({t: valid[s] for s, t in tokens.items() if s in valid})
    return p


def _client_keys_in(id_map: dict[str, Any], client_id: int) -> set[str]:
    return {k for k, meta in (id_map or {}).get("visits", {}).items() if meta.get("client_id") == client_id}


def _erase_client_in_id_map(id_map: dict[str, Any], client_id: int) -> dict[str, Any]:
    m = copy.deepcopy(id_map)
    for meta in m.get("visits", {}).values():
        if meta.get("client_id") == client_id:
            meta["label"] = "visit"
    return m


# ----------------------------------------------------------------------------- erasure
def member_pseudonym(member_id: int) -> str:
    return f"Former member {member_id}"


def client_pseudonym(client_id: int) -> str:
    return f"Former client {client_id}"


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _rewrite_coop_files(session: Session, coop_id: int, fn: Callable[[str], str],
                        client: tuple[int, str] | None, changed: dict[str, int]) -> None:
    """Apply ``fn`` to every text of the co-op's stored problem and rota files, runs and visit
    reasons; for an erased ``client`` (id, pseudonym) also its problem entries and labels."""
    key = client_key(client[0]) if client else None
    for rota in session.exec(select(Rota).where(Rota.coop_id == coop_id)).all():
        problem = _rewrite(rota.problem, fn)
        id_map = _rewrite(rota.id_map, fn)
        if client and key:
            problem = _erase_client_in_problem(problem, key, client[1])
            id_map = _erase_client_in_id_map(id_map, client[0])
        rota_file = _rewrite(rota.rota_file, fn)
        if (problem, id_map, rota_file) != (rota.problem, rota.id_map, rota.rota_file):
            rota.problem, rota.id_map, rota.rota_file = problem, id_map, rota_file
            session.add(rota)
            changed["rotas"] = changed.get("rotas", 0) + 1
    for run in session.exec(select(SolveRun).where(SolveRun.coop_id == coop_id)).all():
        problem = _rewrite(run.problem, fn) if run.problem is not None else None
        id_map = _rewrite(run.id_map, fn) if run.id_map is not None else None
        if client and key and problem is not None:
            problem = _erase_client_in_problem(problem, key, client[1])
        if client and id_map is not None:
            id_map = _erase_client_in_id_map(id_map, client[0])
        error = fn(run.error) if run.error else run.error
        if (problem, id_map, error) != (run.problem, run.id_map, run.error):
            run.problem, run.id_map, run.error = problem, id_map, error
            session.add(run)
            changed["runs"] = changed.get("runs", 0) + 1
    for v in session.exec(select(Visit).where(Visit.coop_id == coop_id)).all():
        reasons = [fn(r) for r in v.reasons]
        label = v.label
        if client and v.client_id == client[0]:
            label = "visit"
            reasons = ["not assigned"] if reasons else []
            v.template_id = None
        if reasons != v.reasons or label != v.label or (client and v.client_id == client[0]):
            v.reasons, v.label = reasons, label
            session.add(v)
            changed["visits"] = changed.get("visits", 0) + 1


def _erase_member_rows(session: Session, member: Member, now: dt.datetime) -> dict[str, int]:
    mid = saved_id(member)
    pseudonym = member_pseudonym(mid)
    texts = {t: pseudonym for t in (member.full_name,) if t}
    texts[member.email] = f"erased-{mid}@{ERASED_EMAIL_DOMAIN}"
    changed: dict[str, int] = {}
    for model in (Skill, Availability, Leave):
        rows = session.exec(select(model).where(model.member_id == mid)).all()
        for r in rows:
            session.delete(r)
        changed[str(model.__tablename__)] = len(rows)
    shares = session.exec(select(ClientShare).where(ClientShare.member_id == mid)).all()
    for sh in shares:
        session.delete(sh)
    changed["clientshare"] = len(shares)
    _rewrite_coop_files(session, member.coop_id, _replacer(texts), None, changed)
    from api.services.members import unset_password

    member.full_name = pseudonym
    member.email = texts[member.email]
    member.hashed_password = unset_password()
    member.gender = None
    member.lat, member.lon = _round(member.lat), _round(member.lon)
    member.speed_kmh = None
    member.hourly_cost = 0.0
    member.is_active = False
    member.erased_at = now
    session.add(member)
    changed["member"] = 1
    return changed


def _erase_client_rows(session: Session, client: Client, now: dt.datetime) -> dict[str, int]:
    cid = saved_id(client)
    pseudonym = client_pseudonym(cid)
    texts = {t: pseudonym for t in (client.name,) if t}
    for t in (client.address, client.access_notes):
        if t:
            texts[t] = "(erased)"
    changed: dict[str, int] = {}
    templates = list(session.exec(select(VisitTemplate).where(VisitTemplate.client_id == cid)).all())
    tids = [saved_id(t) for t in templates]
    if tids:
        deps = session.exec(select(TemplateDependency).where(
            sa.or_(col(TemplateDependency.first_id).in_(tids),
                   col(TemplateDependency.then_id).in_(tids)))).all()
        for d in deps:
            session.delete(d)
        changed["templatedependency"] = len(deps)
    _rewrite_coop_files(session, client.coop_id, _replacer(texts), (cid, pseudonym), changed)
    session.flush()   # visits no longer name the templates
    for tpl in templates:
        session.delete(tpl)
    changed["visittemplate"] = len(templates)
    from api.models import ClientCarer

    for model in (ClientCarer, ClientShare):
        rows = session.exec(select(model).where(model.client_id == cid)).all()
        for r in rows:
            session.delete(r)
        changed[str(model.__tablename__)] = len(rows)
    client.name = pseudonym
    client.address = None
    client.access_notes = None
    client.gender_preference = None
    client.lat, client.lon = round(client.lat, 2), round(client.lon, 2)
    client.is_active = False
    client.erased_at = now
    session.add(client)
    changed["client"] = 1
    return changed


def _refuse(kind: str, subject_id: int, why: list[str]) -> Conflict:
    return Conflict(f"{kind} {subject_id} cannot be erased: " + "; ".join(why), why)


def erase_member(session: Session, ledger: Ledger, actor: Member, member_id: int) -> ErasurePublic:
    """Erase a member who has left (see the module's docstring); 409 with every reason it is
    refused."""
    member = get_member(session, member_id, actor)
    if member.id == actor.id:
        raise Conflict("member: you cannot erase yourself", ["member: you cannot erase yourself"])
    why = [] if member.erased_at is not None else _member_obligations(session, ledger, _coop(session, actor),
                                                                       member)
    if why:
        raise _refuse("member", member_id, why)
    changed = _erase_member_rows(session, member, utcnow()) if member.erased_at is None else {}
    audit.log(session, actor, "write", [("erasure", saved_id(member), None, saved_id(member))])
    session.commit()
    log.info("co-op %s: member %s erased by member %s", member.coop_id, member.id, actor.id)
    return _erasure("member", member, changed)


def erase_client(session: Session, ledger: Ledger, actor: Member, client_id: int) -> ErasurePublic:
    """Erase a client record whose care has ended (its login, if any, is erased with
    ``erase_member``); 409 with every reason it is refused."""
    client = get_in_coop(session, Client, client_id, actor, "client")
    why = [] if client.erased_at is not None else _client_obligations(session, ledger, _coop(session, actor),
                                                                       client)
    if why:
        raise _refuse("client", client_id, why)
    changed = _erase_client_rows(session, client, utcnow()) if client.erased_at is None else {}
    audit.log(session, actor, "write", [("erasure", saved_id(client), saved_id(client), None)])
    session.commit()
    log.info("co-op %s: client %s erased by member %s", client.coop_id, client.id, actor.id)
    return _erasure("client", client, changed)


def _erasure(kind: str, subject: Member | Client, changed: dict[str, int]) -> ErasurePublic:
    sid = saved_id(subject)
    assert subject.erased_at is not None
    return ErasurePublic(kind=kind, id=sid, erased_at=subject.erased_at, changed=changed,
                         pseudonym=member_pseudonym(sid) if kind == "member" else client_pseudonym(sid))


# ----------------------------------------------------------------------------- retention
def _pseudonymise_rota(session: Session, rota: Rota, now: dt.datetime) -> None:
    """Names out of an expired rota version: its problem's carer and client names become their
    pseudonyms, visit labels and reasons go (ids and times stay: the books need them)."""
    names: dict[str, str] = {}
    problem = copy.deepcopy(rota.problem)
    for c in problem.get("carers", []):
        if c.get("name"):
            names[str(c["name"])] = member_pseudonym(int(str(c["id"])[1:]))
            c["name"] = member_pseudonym(int(str(c["id"])[1:]))
    for c in problem.get("clients", []):
        if c.get("name"):
            names[str(c["name"])] = client_pseudonym(int(str(c["id"])[1:]))
            c["name"] = client_pseudonym(int(str(c["id"])[1:]))
    fn = _replacer(names)
    id_map = copy.deepcopy(rota.id_map)
    for meta in id_map.get("visits", {}).values():
        meta["label"] = "visit"
    rota.problem, rota.id_map, rota.rota_file = problem, id_map, _rewrite(rota.rota_file, fn)
    rota.pseudonymised_at = now
    session.add(rota)
    for v in session.exec(select(Visit).where(Visit.rota_id == rota.id)).all():
        v.label = "visit"
        v.reasons = ["not assigned"] if v.reasons else []
        session.add(v)


def _pseudonymised_run(run: SolveRun) -> tuple[Any, Any, str | None] | None:
    """The run's stored problem, id map and error with the names out (as ``_pseudonymise_rota``),
    or None when there is nothing to change (so a second pass changes nothing)."""
    if run.problem is None:
        return None
    names: dict[str, str] = {}
    problem = copy.deepcopy(run.problem)
    for section, pseudonym in (("carers", member_pseudonym), ("clients", client_pseudonym)):
        for c in problem.get(section, []):
            if c.get("name"):
                new_name = pseudonym(int(str(c["id"])[1:]))
                names[str(c["name"])] = new_name
                c["name"] = new_name
    id_map = copy.deepcopy(run.id_map) if run.id_map is not None else None
    for meta in (id_map or {}).get("visits", {}).values():
        meta["label"] = "visit"
    error = _replacer(names)(run.error) if run.error else run.error
    if (problem, id_map, error) == (run.problem, run.id_map, run.error):
        return None
    return problem, id_map, error


def _last_visit(session: Session, where: Any) -> dt.datetime | None:
    return session.exec(select(sa.func.max(Visit.latest_start)).where(where)).one()


def run_retention(engine: Engine, ledger: Ledger, now: dt.datetime, dry_run: bool = False,
                  coop_id: int | None = None) -> RetentionReport:
    """Pseudonymise and erase what each co-op's retention periods say has expired (see the
    module's docstring). Idempotent: what was done is marked and not done again."""
    report = RetentionReport(dry_run=dry_run)
    with Session(engine, expire_on_commit=False) as session:
        coops = list(session.exec(select(Coop).where(True if coop_id is None else Coop.id == coop_id)).all())
        for coop in coops:
            cid = saved_id(coop)
            week_cutoff = (now - dt.timedelta(days=coop.retention_visit_days)).date() - dt.timedelta(days=7)
            expired = select(Rota).where(Rota.coop_id == cid, col(Rota.pseudonymised_at).is_(None),
                                         Rota.week_start <= week_cutoff)
            for rota in session.exec(expired).all():
                report.rotas_pseudonymised += 1
                if not dry_run:
                    _pseudonymise_rota(session, rota, now)
            for run in session.exec(select(SolveRun).where(SolveRun.coop_id == cid,
                                                           SolveRun.week_start <= week_cutoff)).all():
                new = _pseudonymised_run(run)
                if new is None:
                    continue
                report.runs_pseudonymised += 1
                if not dry_run:
                    run.problem, run.id_map, run.error = new
                    session.add(run)
            for client in session.exec(select(Client).where(Client.coop_id == cid, Client.is_active == False,  # noqa: E712
                                                            col(Client.erased_at).is_(None))).all():
                last = _last_visit(session, Visit.client_id == client.id)
                if last is None or last > now - dt.timedelta(days=coop.retention_client_days):
                    continue
                why = _client_obligations(session, ledger, coop, client)
                if why:
                    report.refused.append(f"co-op {cid} client {client.id}: " + "; ".join(why))
                    continue
                report.clients_erased += 1
                if not dry_run:
                    _erase_client_rows(session, client, now)
            for member in session.exec(select(Member).where(Member.coop_id == cid, Member.is_active == False,  # noqa: E712
                                                            col(Member.erased_at).is_(None))).all():
                last = session.exec(select(sa.func.max(Visit.latest_start))
                                    .join(VisitCarer, col(VisitCarer.visit_id) == col(Visit.id))
                                    .where(VisitCarer.member_id == member.id)).one() or member.created_at
                if last > now - dt.timedelta(days=coop.retention_member_days):
                    continue
                why = _member_obligations(session, ledger, coop, member)
                if why:
                    report.refused.append(f"co-op {cid} member {member.id}: " + "; ".join(why))
                    continue
                report.members_erased += 1
                if not dry_run:
                    _erase_member_rows(session, member, now)
            if not dry_run:
                session.commit()
    log.info("retention%s: %s rota versions and %s runs pseudonymised, %s clients and %s members "
             "erased, %s refused", " (dry run)" if dry_run else "", report.rotas_pseudonymised,
             report.runs_pseudonymised, report.clients_erased, report.members_erased, len(report.refused))
    return report


# ----------------------------------------------------------------------------- minimised exports
_KEY = re.compile(r"\b[mc]\d+\b|\bt\d+-\d{8}\b")


class Pseudonyms:
    """Stable pseudonyms of a co-op's problem-file ids: ``m12`` -> ``carer-3fa9c1d2``, keyed
    with the service's secret and the co-op (the same person has the same pseudonym in every
    week's export; the database id cannot be recovered without the secret)."""

    def __init__(self, secret: str, coop_id: int) -> None:
        self._key = hmac.new(secret.encode(), f"carerota-pseudonym:{coop_id}".encode(),
                             hashlib.sha256).digest()

    def __call__(self, ident: str) -> str:
        digest = hmac.new(self._key, ident.encode(), hashlib.sha256).hexdigest()[:10]
        kind = {"m": "carer", "c": "client", "t": "visit"}.get(ident[:1], "id")
        if kind == "visit" and "-" in ident:   # the day stays readable: t7-20261207 -> visit-..-20261207
            return f"visit-{digest}-{ident.rsplit('-', 1)[1]}"
        return f"{kind}-{digest}"

    def text(self, s: str) -> str:
        return _KEY.sub(lambda m: self(m.group(0)), s)


def _loc(loc: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(loc, dict):
        return loc
    return {"lat": round(float(loc["lat"]), 3), "lon": round(float(loc["lon"]), 3)}


#: the most places for which a pseudonymised problem carries its exact travel times
EXACT_TRAVEL_PLACES = 300


def _exact_travel(problem: dict[str, Any]) -> dict[str, dict[str, int]] | None:
    """Travel minutes between every pair of the problem's places as the exact coordinates give
    them, when one table can say it (every carer travels at the problem's speed) and the week
    is small enough; else None (the rounded coordinates are used)."""
    from scheduler.problem import problem_from_dict

    carers = problem.get("carers", [])
    if not carers or any(c.get("speed_kmh") is not None for c in carers):
        return None
    places = [str(c["id"]) for c in problem.get("clients", [])]
    if (problem.get("rules") or {}).get("home_travel"):
        places += [str(c["id"]) for c in carers]
    if len(places) > EXACT_TRAVEL_PLACES:
        return None
    parsed = problem_from_dict({**problem, "pinned": []})
    carer = parsed.carers[0]
    return {a: {b: parsed.travel_minutes(a, b, carer) for b in places} for a in places}


def pseudonymise_problem(problem: dict[str, Any], ps: Pseudonyms) -> dict[str, Any]:
    """A problem file with stable pseudonyms for ids, no names, coordinates rounded to 3
    decimals (about 100 m), everything the solver and the checker need kept (a travel matrix
    too, under the pseudonyms). When one table can hold them (``_exact_travel``), the exact
    travel times go in the matrix, so the pseudonymised rota file checks against the
    pseudonymised problem with the same objective."""
    p = copy.deepcopy(problem)
    exact = _exact_travel(problem)
    if exact is not None:
        p["travel"] = {**(p.get("travel") or {}), "matrix": exact}
    p["name"] = "pseudonymised week" + (f" from {p['horizon']['start'][:10]}" if p.get("horizon") else "")
    for c in p.get("carers", []):
        c["id"] = c["name"] = ps(str(c["id"]))
        c["location"] = _loc(c.get("location"))
    for c in p.get("clients", []):
        c["id"] = c["name"] = ps(str(c["id"]))
        c["location"] = _loc(c.get("location"))
        for field in ("excluded_carers", "preferred_carers"):
            if field in c:
                c[field] = [ps(str(x)) for x in c[field]]
        if isinstance(c.get("history"), dict):
            c["history"] = {ps(str(k)): v for k, v in c["history"].items()}
    for v in p.get("visits", []):
        v["id"], v["client"] = ps(str(v["id"])), ps(str(v["client"]))
    for d in p.get("dependencies", []) or []:
        d["first"], d["then"] = ps(str(d["first"])), ps(str(d["then"]))
    for pin in p.get("pinned", []) or []:
        pin["visit"] = ps(str(pin["visit"]))
        pin["carers"] = [ps(str(x)) for x in pin.get("carers", [])]
    travel = p.get("travel") or {}
    if isinstance(travel.get("matrix"), dict):
        travel["matrix"] = {ps(str(a)): {ps(str(b)): m for b, m in row.items()}
                            for a, row in travel["matrix"].items()}
    return p


def pseudonymise_rota_file(rota_file: dict[str, Any], ps: Pseudonyms) -> dict[str, Any]:
    """A rota file with the same pseudonyms as ``pseudonymise_problem`` (reasons too)."""
    r = copy.deepcopy(rota_file)
    r["problem"] = "pseudonymised week"
    for a in r.get("assignments", []):
        a["visit"] = ps(str(a["visit"]))
        a["carers"] = [ps(str(x)) for x in a.get("carers", [])]
    for u in r.get("unassigned", []):
        u["visit"] = ps(str(u["visit"]))
        u["reasons"] = [ps.text(str(x)) for x in u.get("reasons", [])]
    return r


__all__ = ["Pseudonyms", "carer_key", "client_key", "erase_client", "erase_member", "get_policy",
           "pseudonymise_problem", "pseudonymise_rota_file", "run_retention", "set_hold", "update_policy"]
