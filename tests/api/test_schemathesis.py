"""Schemathesis (v4) against the app's own OpenAPI schema, with all default checks, logged in as
a coordinator of a co-op with data: zero server errors and every answer as documented.

One tuning: on the operations below, a schema-valid request may still break a rule that JSON
Schema cannot express (an end before a start, a week that starts on a Monday, a local time
without a UTC offset, a problem file's own validation, transferring to yourself). There a 422 is
the right answer, so ``positive_data_acceptance`` is replaced by a stricter check of our own:
the 422 must name the reason. Every other default check runs everywhere."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.conftest import build_coop

EXAMPLES = 15
RULES_BEYOND_THE_SCHEMA = {
    "POST /members",                                   # lat and lon together; contract for staff only
    "POST /members/{member_id}/availability",          # end after start
    "POST /members/{member_id}/leave",                 # end after start, local times
    "GET /clients/{client_id}/visits",                 # week_start is a Monday
    "POST /clients/{client_id}/care-plan",             # window order, distinct weekdays
    "PATCH /care-plan/{template_id}",                  # window order
    "POST /care-plan-dependencies",                    # not on itself, gaps ordered
    "POST /rotas",                                     # week_start is a Monday, the week can be built
    "PUT /rotas/{rota_id}/visits/{visit_id}/assignment",  # local time; the checker's rules
    "GET /weeks/{week_start}/problem",                 # a Monday
    "POST /solve",                                     # the problem file's own validation
    "POST /visits/{visit_id}/complete",                # actual end after start, local times
    "GET /me/rota",                                    # a Monday
    "GET /me/timebank",                                # start before end
    "POST /timebank/gifts",                            # not to yourself
    "POST /timebank/exchanges",                        # not to yourself
    "PATCH /members/{member_id}",                      # lat and lon together
    "PUT /members/{member_id}/role",                   # not one's own; contract and client link fit
    "PUT /clients/{client_id}/preferences",            # known carers, not both preferred and excluded
    "POST /clients/{client_id}/shares",                # a family member of the co-op
    "POST /rotas/{rota_id}/resolve",                   # known carers
}


def _runner(operation, tuned: bool, headers: dict[str, str]):
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None)
    def run(case) -> None:
        if not tuned:
            case.call_and_validate(headers=headers)
            return
        response = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
        if response.status_code == 422:
            assert response.json().get("detail"), f"a 422 without a reason: {response.text}"

    return run


def _describe(exc: BaseException) -> str:
    """Every failure in ``exc``: a group's message (for schemathesis's, the whole report: the
    checks that failed, the response and a curl command), the notes Hypothesis adds (the
    falsifying example), then each member."""
    text = exc.message if isinstance(exc, BaseExceptionGroup) else str(exc)
    lines = [f"{type(exc).__name__}: {text}", *getattr(exc, "__notes__", [])]
    if isinstance(exc, BaseExceptionGroup):
        lines += [_describe(e) for e in exc.exceptions]
    return "\n".join(lines)


def test_api_conforms_to_its_schema_and_never_errors(backend, app, client):
    if backend != "sqlite":
        pytest.skip("schemathesis runs against the SQLite app (the rest of the suite covers PostgreSQL)")
    coop = build_coop(client, "fuzz")
    headers = coop.h("coordinator")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        tuned = operation.label in RULES_BEYOND_THE_SCHEMA

        run = _runner(operation, tuned, headers)
        # Only failed checks are caught, so that one run reports every operation's failures
        # (they still fail the test below). A failed check is an AssertionError: schemathesis
        # raises each as ``schemathesis.core.failures.Failure`` (an AssertionError) and several
        # at once as ``FailureGroup``, a BaseExceptionGroup of them (``except Exception`` would
        # not see it); our own 422 check is a plain assert, and Hypothesis may group the
        # distinct failures it found. ``except*`` takes exactly those leaves; anything else (a
        # crash in the app or in this test, an unusable schema, a Hypothesis health-check or
        # usage error, a skip, an interrupt) is raised at once and ends the test.
        try:
            run()
        except* AssertionError as group:
            failures.append(f"{operation.label}:\n{_describe(group)}")
    assert len(labels) > 40
    assert set(labels) >= RULES_BEYOND_THE_SCHEMA
    assert not failures, "\n\n".join(failures)
