"""Service settings, read from the environment with the ``CAREROTA_`` prefix."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _dev_secret(path: Path) -> str:
    """A random secret generated once and kept in ``path`` (mode 600) for development."""
    try:
        text = path.read_text(encoding="utf-8").strip()
        if len(text) >= 32:
            return text
    except OSError:
        pass
    key = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return key


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAREROTA_", env_file=None, extra="ignore")

    database_url: str = "sqlite:///./carerota.db"
    #: PostgreSQL only: the schema to work in (``search_path``), created at start when missing
    database_schema: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    secret_key: str = Field(default="", repr=False)
    secret_key_file: Path = Path(".carerota-secret")
    access_token_minutes: int = 60
    calendar_token_days: int = 365
    #: how long an invitation or password-reset link works
    password_link_hours: int = Field(default=72, ge=1, le=24 * 30)
    solve_time_limit: float = 30.0
    solve_workers: int = 1
    #: processes in the solve pool (each runs one solve at a time)
    solve_processes: int = 1
    #: the largest time limit a caller of the stateless ``POST /solve`` may ask for
    max_stateless_time_limit: float = 60.0
    #: weekly solve, crontab fields (default Thursday 18:00, for the next week)
    weekly_cron: str = "0 18 * * thu"
    timezone: str = "Europe/London"
    auto_confirm_after_hours: int = 24
    auto_confirm_interval_minutes: int = 15
    history_weeks: int = 4
    #: login attempts per account (the e-mail tried), e.g. ``10/minute``
    rate_limit_login: str = "10/minute"
    #: login attempts per client address (an office behind one address logs in together)
    rate_limit_login_ip: str = "100/minute"
    #: writes (POST/PUT/PATCH/DELETE) per client address
    rate_limit_write: str = "120/minute"
    #: requests served at once per process; the rest wait their turn (``api.admission``). At most
    #: the database pool's connections (SQLAlchemy's default 5 + 10 overflow)
    max_concurrent_requests: int = Field(default=15, ge=1, le=200)
    #: proxies whose ``X-Forwarded-For`` is believed (addresses or networks, comma-separated in
    #: the environment: ``CAREROTA_TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8``); empty: the header is ignored
    trusted_proxies: Annotated[list[str], NoDecode] = []
    allow_signup: bool = True
    #: argon2id cost of new password hashes (OWASP-level defaults; tests lower them)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost: int = Field(default=65536, ge=1024)
    argon2_parallelism: int = Field(default=4, ge=1)
    run_migrations: bool = True
    #: the Celery broker (``redis://host:6379/0``, ``amqp://user:pass@host:5672//``); unset: solves
    #: run in the API process's own pool (the embedded default). Set: ``POST /rotas`` and re-solves
    #: are queued for ``carerota worker`` processes on any machine reaching the database and broker
    broker_url: str | None = Field(default=None, repr=False)
    #: the broker queue the solve tasks go to (one per deployment sharing a broker)
    solve_queue: str = Field(default="carerota-solve", pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    #: Redis for the rate-limit counters shared by several API processes; unset: the broker when
    #: it is Redis, else each process counts in memory
    redis_url: str | None = Field(default=None, repr=False)
    #: a worker holding a run writes the run's heartbeat this often
    run_heartbeat_seconds: float = Field(default=5.0, gt=0)
    #: a run whose heartbeat is older than this lost its worker: it is taken over (queued again)
    #: while it has attempts left, else failed with the reason
    run_lease_seconds: float = Field(default=60.0, gt=0)
    #: solve attempts of a run whose worker died mid-solve (the first one and one retry)
    run_max_attempts: int = Field(default=2, ge=1, le=10)
    #: a queued run not claimed for this long is sent to the broker again (a broker that lost
    #: its messages loses no run; a duplicate message is harmless: a run is claimed once)
    requeue_after_seconds: float = Field(default=120.0, gt=0)
    #: ``text`` (the default) or ``json``: one JSON object a line, with the run id of solve logs
    log_format: str = Field(default="text", pattern=r"^(text|json)$")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value):
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("rate_limit_login", "rate_limit_login_ip", "rate_limit_write")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate like '10/minute' or '1000/hour'") from exc
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        from api.ratelimit import parse_networks

        parse_networks(value)
        return value

    def resolved_secret(self) -> str:
        return self.secret_key or _dev_secret(self.secret_key_file)

    def rate_limit_storage(self) -> str | None:
        """Where the rate-limit counters live: ``redis_url``, else a Redis broker, else memory (None)."""
        if self.redis_url:
            return self.redis_url
        if self.broker_url and self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None


@lru_cache
def get_settings() -> Settings:
    return Settings()
