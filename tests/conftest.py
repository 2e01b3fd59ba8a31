"""Shared test helpers: every solve in a test goes through the independent checker."""

from __future__ import annotations

import math
import os

import pytest

from scheduler.problem import Problem


def objectives_equal(a: float, b: float) -> bool:
    """The spec's equality: objectives differing by less than 1e-6 of the larger are equal."""
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def assert_valid_solve(problem: Problem, time_limit: float = 10.0, workers: int = 1, seed: int = 0,
                       strategy: str = "auto"):
    """Solve ``problem``, check the rota independently, and return ``(rota, report)``.

    Fails the test when the checker finds any violation or the rota's claimed objective
    differs from the checker's recomputed one.
    """
    from scheduler.checker import check
    from scheduler.solve import SolveOptions, solve

    rota = solve(problem, SolveOptions(time_limit=time_limit, workers=workers, seed=seed, strategy=strategy))
    report = check(problem, rota)
    assert report.ok, "solver returned an invalid rota:\n" + "\n".join(
        str(v) for v in report.violations
    )
    assert rota.objective is not None
    assert objectives_equal(rota.objective, report.objective), (
        f"claimed objective {rota.objective} != recomputed {report.objective} "
        f"(breakdown {report.breakdown})"
    )
    return rota, report


PG_URL = os.environ.get(
    "CAREROTA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_available(url: str = PG_URL) -> str | None:
    """None when PostgreSQL answers at ``url``, else the reason it does not."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect is a reason to skip
        return f"PostgreSQL not reachable at {url}: {type(exc).__name__}: {exc}".splitlines()[0]
    return None


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The PostgreSQL URL for tests; skips (or fails under CAREROTA_REQUIRE_PG=1) without it."""
    reason = postgres_available()
    if reason is not None:
        if os.environ.get("CAREROTA_REQUIRE_PG") == "1":
            pytest.fail(f"CAREROTA_REQUIRE_PG=1 but {reason}")
        pytest.skip(reason)
    return PG_URL
