"""Engines and sessions: the embedded SQLite file by default, PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.settings import Settings


class StartupError(Exception):
    """The service cannot start with these settings; the message is one line naming the setting."""


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def ensure_schema(database_url: str, schema: str | None) -> None:
    """PostgreSQL with ``CAREROTA_DATABASE_SCHEMA``: create the schema when it does not exist;
    when it cannot be created (or the database cannot be reached), one ``StartupError`` line."""
    url = sa.make_url(database_url)
    if not schema or url.get_backend_name() != "postgresql":
        return
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"),
                                  {"s": schema}).first()
            if exists is None:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    except sa.exc.OperationalError as exc:
        raise StartupError(f"CAREROTA_DATABASE_URL: cannot connect to {url.render_as_string()}: "
                           f"{_first_line(exc)}") from None
    except sa.exc.DBAPIError as exc:
        raise StartupError(f"CAREROTA_DATABASE_SCHEMA: schema '{schema}' does not exist and cannot be "
                           f"created ({_first_line(exc)}); create it, or grant CREATE on the database"
                           ) from None
    finally:
        engine.dispose()


def make_engine(database_url: str, schema: str | None = None) -> Engine:
    """An engine for ``database_url``; for PostgreSQL, ``schema`` becomes the search path."""
    url = sa.make_url(database_url)
    kwargs: dict = {"pool_pre_ping": True}
    if url.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    elif url.get_backend_name() == "postgresql" and schema:
        kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
    engine = sa.create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    return engine


def engine_for(settings: Settings) -> Engine:
    return make_engine(settings.database_url, settings.database_schema)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
