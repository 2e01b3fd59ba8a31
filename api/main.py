"""The FastAPI app: ``create_app(settings)`` builds one with its own database, pool and limits."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api.admission import AdmissionLimit
from api.db import StartupError, engine_for, ensure_schema
from api.errors import ServiceError
from api.input import document_text_rule, validation_response
from api.models import ERROR_RESPONSES
from api.ratelimit import RateLimits
from api.routes import (
    access,
    auth,
    clients,
    export,
    federation,
    health,
    me,
    members,
    privacy,
    rotas,
    visits,
)
from api.security import configure_hasher
from api.services.wording import ledger_terms
from api.settings import Settings, get_settings
from api.worker import Lifetimes, SolvePool, Watchdog, recover_runs, worker_name
from timebank import Ledger
from timebank import create_engine as ledger_engine
from timebank.errors import (
    AccountNotFound,
    CrossCoopTransfer,
    LedgerError,
    LimitExceeded,
    RetryExhausted,
    TransactionNotFound,
    ValidationError,
)

log = logging.getLogger("carerota.api")

DESCRIPTION = """Care rota and time-banking service for social care co-operatives.

Log in with `POST /auth/token` (OAuth2 password flow; the role is the token's scope), then:
coordinators build care plans, request weekly rotas (`POST /rotas`, solved in a worker process),
publish and adjust them; carers read their week (`/me/rota`, an iCalendar feed); volunteers
read their time bank (`/me/timebank`)."""


def migrate(settings: Settings, engine) -> None:
    """Bring the API's schema to the latest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "api:migrations")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def make_ledger(settings: Settings) -> Ledger:
    kwargs: dict[str, Any] = {}
    if settings.database_schema and settings.database_url.startswith("postgresql"):
        kwargs["connect_args"] = {"options": f"-csearch_path={settings.database_schema}"}
    ledger = Ledger(ledger_engine(settings.database_url, **kwargs))
    ledger.create_schema()
    return ledger


def local_clock(tz: str) -> Callable[[], dt.datetime]:
    zone = ZoneInfo(tz)
    return lambda: dt.datetime.now(zone).replace(tzinfo=None, second=0, microsecond=0)


def _ledger_status(exc: LedgerError) -> int:
    if isinstance(exc, ValidationError | CrossCoopTransfer):
        return 422
    if isinstance(exc, AccountNotFound | TransactionNotFound):
        return 404
    if isinstance(exc, RetryExhausted):
        return 503
    if isinstance(exc, LimitExceeded):
        return 409
    return 409


DOCS_ASSETS = "/docs-assets"


def add_offline_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from assets served by the app itself (the
    ``fastapi-offline`` package ships them), so the docs work without reaching a CDN."""
    from pathlib import Path

    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    static = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=static), name="docs-assets")
    redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect}",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png")

    @app.get(redirect, include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png", with_google_fonts=False)


@contextmanager
def startup_lock(settings: Settings) -> Iterator[None]:
    """PostgreSQL: hold an advisory lock (per schema) while the schema is migrated and the
    ledger's triggers are installed, so API processes, workers and the scheduler starting at the
    same moment do it one after another (concurrent ``CREATE OR REPLACE FUNCTION`` fails with
    "tuple concurrently updated"). SQLite: nothing to do (one file, one writer)."""
    import sqlalchemy as sa

    url = sa.make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        yield
        return
    key = f"carerota-startup:{settings.database_schema or ''}"
    from api.db import _first_line

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        try:
            conn = engine.connect()
        except sa.exc.OperationalError as exc:
            raise StartupError(f"CAREROTA_DATABASE_URL: cannot connect to {url.render_as_string()}: "
                               f"{_first_line(exc)}") from None
        with conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": key})
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
    finally:
        engine.dispose()


def create_app(settings: Settings | None = None, *, start_pool: bool = True) -> FastAPI:
    settings = settings or get_settings()
    configure_hasher(settings.argon2_time_cost, settings.argon2_memory_cost, settings.argon2_parallelism)
    with startup_lock(settings):   # several processes starting at once build the schema once
        ensure_schema(settings.database_url, settings.database_schema)
        engine = engine_for(settings)
        if settings.run_migrations:
            migrate(settings, engine)
        else:
            from sqlmodel import SQLModel

            import api.models  # noqa: F401
            from timebank.models import ledger_tables

            ledger_names = {t.name for t in ledger_tables()}  # made with its triggers by make_ledger
            SQLModel.metadata.create_all(engine, tables=[t for n, t in SQLModel.metadata.tables.items()
                                                         if n not in ledger_names])
            from api.services.access_log import install_append_only

            with engine.begin() as conn:
                install_append_only(conn)
        ledger = make_ledger(settings)
    lifetimes = Lifetimes.of(settings)
    local = SolvePool(settings.database_url, settings.database_schema, settings.solve_processes,
                      settings.solve_workers, lifetimes)
    pool: Any = local
    if settings.broker_url:
        if not settings.secret_key:
            raise StartupError("CAREROTA_SECRET_KEY: required with CAREROTA_BROKER_URL (several API "
                               "processes must sign and check the same tokens and calendar links)")
        from api.celery_app import CeleryDispatcher

        pool = CeleryDispatcher(settings, local, engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        watchdog = None
        if start_pool:
            if settings.broker_url:   # runs are the workers'; this process only sweeps
                watchdog = Watchdog(engine, lifetimes, pool.submit, resend_queued=True).start()
            else:                     # embedded: this process's pool solves them
                for run_id in recover_runs(engine, lifetimes):
                    pool.submit(run_id)
                watchdog = Watchdog(engine, lifetimes, pool.submit, resend_queued=False,
                                    name=worker_name("embedded"), kind="embedded",
                                    concurrency=settings.solve_processes).start()
        yield
        if watchdog is not None:
            watchdog.stop()
        pool.shutdown()

    app = FastAPI(title="carerota", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    add_offline_docs(app)
    app.add_middleware(AdmissionLimit, limit=settings.max_concurrent_requests)
    app.state.settings = settings
    app.state.engine = engine
    app.state.secret = settings.resolved_secret()
    app.state.rate_limits = RateLimits(settings.rate_limit_login, settings.rate_limit_write,
                                       settings.rate_limit_login_ip, settings.trusted_proxies,
                                       storage_uri=settings.rate_limit_storage())
    app.state.pool = pool
    app.state.ledger = ledger
    app.state.clock = local_clock(settings.timezone)

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError):
        body: dict = {"detail": exc.message}
        if exc.errors:
            body["errors"] = exc.errors
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError):
        return validation_response(exc)

    @app.exception_handler(LedgerError)
    async def _ledger_error(_request: Request, exc: LedgerError):
        body: dict = {"detail": ledger_terms(str(exc))}
        if isinstance(exc, ValidationError):
            body = {"detail": "the time bank refused the request",
                    "errors": [ledger_terms(e) for e in exc.errors]}
        return JSONResponse(body, status_code=_ledger_status(exc))

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError):
        log.warning("integrity error: %s", exc)
        return JSONResponse({"detail": "the request conflicts with existing data"}, status_code=409)

    @app.exception_handler(DataError)
    async def _data_error(_request: Request, exc: DataError):
        # e.g. a NUL character or an out-of-range number PostgreSQL cannot store
        reason = str(exc.orig).splitlines()[0] if exc.orig else "invalid value"
        return JSONResponse({"detail": f"a value cannot be stored: {reason}"}, status_code=422)

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(_request: Request, exc: PoolTimeout):
        log.error("no database connection free: %s", exc)
        return JSONResponse({"detail": "the service is busy (no database connection free); retry"},
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(OperationalError)
    async def _db_unavailable(_request: Request, exc: OperationalError):
        log.error("database unavailable: %s", exc)
        return JSONResponse({"detail": "the database is busy or unavailable; retry"}, status_code=503,
                            headers={"Retry-After": "5"})

    for module in (auth, members, clients, rotas, visits, me, access, export, privacy, federation, health):
        app.include_router(module.router, responses=ERROR_RESPONSES)

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_text_rule(default_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema

    from api.web import install as install_pages  # the rota board's pages under /web

    install_pages(app)
    return app
