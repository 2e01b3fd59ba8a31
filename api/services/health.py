"""``GET /health``: the database, the broker, the solve workers seen and the runs' heartbeats."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from api.models import HealthPublic, HeartbeatSeen, RunStatus, SolveRun, SolveWorker, WorkerSeen, utcnow
from api.settings import Settings

BROKER_TIMEOUT_SECONDS = 2.0


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def broker_state(url: str | None) -> str:
    """``embedded`` without a broker, else ``ok`` or ``unreachable: <reason>`` (bounded wait)."""
    if not url:
        return "embedded"
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS,
                        transport_options={"max_retries": 0, "socket_timeout": BROKER_TIMEOUT_SECONDS,
                                           "socket_connect_timeout": BROKER_TIMEOUT_SECONDS}) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                   timeout=BROKER_TIMEOUT_SECONDS)
            if url.startswith(("redis://", "rediss://")):
                conn.default_channel.client.ping()
        return "ok"
    except Exception as exc:
        return f"unreachable: {_first_line(exc)}"


def _age(now: dt.datetime, then: Any) -> float | None:
    if then is None:
        return None
    return round((now - then).total_seconds(), 1)


def health(engine: Engine, settings: Settings) -> HealthPublic:
    broker = broker_state(settings.broker_url)
    now = utcnow()
    runs = SolveRun.__table__  # type: ignore[attr-defined]
    workers_t = SolveWorker.__table__  # type: ignore[attr-defined]
    try:
        with engine.connect() as conn:
            seen_after = now - dt.timedelta(seconds=2 * settings.run_lease_seconds)
            workers = [WorkerSeen(name=w.name, kind=w.kind, concurrency=w.concurrency,
                                  started_at=w.started_at, seen_seconds_ago=_age(now, w.seen_at) or 0.0)
                       for w in conn.execute(sa.select(workers_t).where(workers_t.c.seen_at >= seen_after)
                                             .order_by(workers_t.c.name))]
            counts: dict[Any, int] = dict(conn.execute(sa.select(runs.c.status, sa.func.count())
                                       .where(runs.c.status.in_([RunStatus.queued, RunStatus.running]))
                                       .group_by(runs.c.status)).all())
            beats = conn.execute(sa.select(runs.c.id, runs.c.worker, runs.c.attempts, runs.c.heartbeat_at)
                                 .where(runs.c.status == RunStatus.running)
                                 .order_by(runs.c.heartbeat_at.desc()).limit(20)).all()
        database = "ok"
    except sa.exc.SQLAlchemyError as exc:
        return HealthPublic(status="unavailable", database=f"unreachable: {_first_line(exc)}", broker=broker)
    recent = [HeartbeatSeen(run_id=b.id, worker=b.worker, attempts=b.attempts or 0,
                            seconds_ago=_age(now, b.heartbeat_at)) for b in beats]
    stale = sum(1 for b in recent if b.seconds_ago is None or b.seconds_ago > settings.run_lease_seconds)
    ok = database == "ok" and broker in ("ok", "embedded")
    return HealthPublic(status="ok" if ok else "unavailable", database=database, broker=broker,
                        workers=workers, queued_runs=int(counts.get(RunStatus.queued, 0)),
                        running_runs=int(counts.get(RunStatus.running, 0)), stale_runs=stale,
                        recent_heartbeats=recent)
