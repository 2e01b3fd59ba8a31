"""Roles are checked in one place (issue 10): the route's scope (``api.deps``: ``Coordinator``,
``Carer``, ``Volunteer``..., the web pages' ``page_user(...)`` calls the same check). The scope
is declared once per endpoint, shows in the OpenAPI schema and refuses a wrong role with a 403
before the request is read further; services check only what depends on the data (the co-op
boundary, one's own records, the carers on a visit, a client's shares)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.api.conftest import FUTURE_MONDAY, solved_rota

SERVICES = Path(__file__).resolve().parents[2] / "api" / "services"
#: endpoints whose role used to be checked (only) in the service, and the roles now declared
MOVED = {
    ("post", "/visits/{visit_id}/missed"): ["coordinator"],
    ("post", "/visits/{visit_id}/cancel"): ["coordinator"],
    ("get", "/me/rota"): ["staff", "volunteer"],
}


def _scopes(app) -> dict[tuple[str, str], list[str]]:
    out = {}
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            for requirement in op.get("security", []):
                for scopes in requirement.values():
                    out[(method, path)] = sorted(scopes)
    return out


def test_the_roles_services_used_to_check_are_declared_by_their_routes(app) -> None:
    """Marking a visit missed or cancelled and reading one's own week were role-checked inside
    the service, invisible in the schema; now their routes declare the roles."""
    scopes = _scopes(app)
    assert {k: scopes.get(k) for k in MOVED} == MOVED


def test_every_coordinator_route_declares_the_coordinator_scope(app) -> None:
    """Every operation under the coordinator's paths (rotas, runs, weeks, care plans, members'
    writes) says so in the schema; a route that lost its scope would be open to any role now
    that services no longer check the role again."""
    scopes = _scopes(app)
    coordinator_only = {k for k, v in scopes.items() if v == ["coordinator"]}
    must = {k for k in scopes if k[1].startswith(("/rotas", "/runs", "/weeks", "/care-plan", "/solve"))}
    must |= {(m, p) for (m, p) in scopes
             if p.startswith("/members") and m in ("post", "patch", "delete", "put")}
    must |= {("get", "/members"), ("patch", "/coops/me"), ("post", "/clients"),
             ("patch", "/clients/{client_id}"), ("put", "/clients/{client_id}/preferences"),
             ("post", "/clients/{client_id}/care-plan")}
    assert must - coordinator_only == set()


def test_services_hold_no_role_gates() -> None:
    """No service refuses by role: ``require_coordinator`` is gone and the one ``Forbidden`` left
    is the time bank's (a coordinator has no account: a fact of the ledger, not a permission)."""
    forbidden = []
    for path in sorted(SERVICES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            assert fn.name != "require_coordinator", path
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require_coordinator":
                    forbidden.append(f"{path.name}:{fn.name} calls require_coordinator")
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                        and getattr(node.exc.func, "id", None) == "Forbidden":
                    forbidden.append(f"{path.name}:{fn.name}")
    assert forbidden == ["bank.py:account_of"]


def test_a_wrong_role_is_refused_by_the_scope_and_changes_nothing(client, coop_a) -> None:
    """A carer cancelling a visit, or a coordinator asking for their own week, get the scope's
    403 naming the roles it needs; the visit stays as it was."""
    rota = solved_rota(client, coop_a, FUTURE_MONDAY)
    visit = next(v for v in rota["visits"] if v["status"] == "planned")
    r = client.post(f"/visits/{visit['id']}/cancel", headers=coop_a.h("staff"))
    assert r.status_code == 403 and r.json()["detail"] == "needs one of the roles: coordinator"
    assert client.get(f"/visits/{visit['id']}", headers=coop_a.h("coordinator")).json()["status"] == "planned"
    r = client.get("/me/rota", headers=coop_a.h("coordinator"))
    assert r.status_code == 403 and r.json()["detail"] == "needs one of the roles: staff, volunteer"
    r = client.post(f"/visits/{visit['id']}/cancel", headers=coop_a.h("coordinator"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_the_member_check_gives_its_connection_back_before_the_route_runs(client, coop_a):
    """FastAPI runs the member dependency and the route in separate threadpool calls. A request
    that keeps its pooled connection while it waits for a thread can stall the whole process
    once every thread waits for a connection (seen at 200 concurrent users), so the check must
    end its read transaction: the session holds no connection when the route starts."""
    from types import SimpleNamespace

    from fastapi.security import SecurityScopes
    from sqlmodel import Session

    from api.deps import get_current_member

    app = client.app
    request = SimpleNamespace(app=app, scope={}, url=SimpleNamespace(path="/me"), method="GET")
    with Session(app.state.engine, expire_on_commit=False) as session:
        member = get_current_member(SecurityScopes(["staff"]), request, session, coop_a.tokens["staff"])
        assert not session.in_transaction()
        assert member.id == coop_a.members["staff"]["id"] and member.full_name  # still loaded
