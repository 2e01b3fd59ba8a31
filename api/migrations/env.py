"""Alembic environment: the API's tables only (the time bank and the job store own theirs)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import api.models  # noqa: F401  (registers the tables)
from api.db import make_engine
from timebank.models import ledger_tables

config = context.config
target_metadata = SQLModel.metadata


LEDGER = {t.name for t in ledger_tables()}  # the time bank names its own tables


def include_object(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and (name in LEDGER or name.startswith("apscheduler")))


def run_migrations_offline() -> None:
    from api.settings import Settings

    context.configure(url=Settings().database_url, target_metadata=target_metadata, literal_binds=True,
                      include_object=include_object, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          include_object=include_object, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    from api.settings import Settings

    settings = Settings()
    engine = make_engine(settings.database_url, settings.database_schema)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata,
                          include_object=include_object, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
