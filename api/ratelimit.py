"""Rate limits on login and writes, with the ``limits`` library (slowapi's engine).

Login is limited per account (the e-mail tried, ``RATE_LIMIT_LOGIN``) and, more loosely, per
client address (``RATE_LIMIT_LOGIN_IP``): a whole office behind one address can log in at
shift start, while guessing one account's password stays slow. Writes are limited per client
address (``RATE_LIMIT_WRITE``).

The client address is the TCP peer, unless the peer is one of ``TRUSTED_PROXIES`` (addresses
or networks): then it is the right-most address of ``X-Forwarded-For`` that is not a trusted
proxy. With no trusted proxies (the default) ``X-Forwarded-For`` is ignored, so a caller
cannot choose its own address by sending the header.

Counters live in memory (one process), or in Redis with ``CAREROTA_REDIS_URL`` (or a Redis
``CAREROTA_BROKER_URL``), so that several API processes count together.

Used as FastAPI dependencies rather than slowapi decorators so that each app (and each test)
gets its own counters and its own configured rates.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable

from fastapi import Form, HTTPException, Request, status
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger("carerota.ratelimit")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """``["10.0.0.1", "192.168.0.0/16"]`` as networks; a bad entry is a ``ValueError`` naming it."""
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"TRUSTED_PROXIES: {entry!r} is not an IP address or network") from exc
    return out


def _trusted(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: Request, trusted: list[Network]) -> str:
    """The caller's address: the peer, or behind trusted proxies the first untrusted hop of
    ``X-Forwarded-For`` read from the right (the hops a proxy appended are the only ones it vouches for)."""
    peer = request.client.host if request.client else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for value in request.headers.getlist("x-forwarded-for") for h in value.split(",")]
    hops = [h for h in hops if h]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


class RateLimits:
    """The counters: in this process's memory by default; in Redis (``storage_uri``, e.g.
    ``redis://127.0.0.1:6379/0``) when several API processes must share them."""

    def __init__(self, login: str, write: str, login_ip: str = "100/minute",
                 trusted_proxies: Iterable[str] = (), storage_uri: str | None = None):
        storage = storage_from_string(storage_uri) if storage_uri else MemoryStorage()
        if not isinstance(storage, Storage):
            raise ValueError(f"{storage_uri!r}: not a synchronous rate-limit storage")
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(self.storage)
        #: while the shared storage cannot be reached, this process counts alone (slowapi's
        #: ``in_memory_fallback``): logins and writes stay limited, and the service stays up
        self.fallback = MovingWindowRateLimiter(MemoryStorage()) if storage_uri else None
        self.login: RateLimitItem = parse(login)
        self.login_ip: RateLimitItem = parse(login_ip)
        self.write: RateLimitItem = parse(write)
        self.trusted = parse_networks(trusted_proxies)

    def address(self, request: Request) -> str:
        return client_address(request, self.trusted)

    def hit(self, item: RateLimitItem, scope: str, key: str, per: str) -> None:
        limiter = self.limiter
        try:
            allowed = limiter.hit(item, scope, key)
        except Exception as exc:
            if self.fallback is None:
                raise
            log.warning("rate limits: the shared storage is unreachable (%s); counting in this process",
                        exc)
            limiter = self.fallback
            allowed = limiter.hit(item, scope, key)
        if not allowed:
            stats = limiter.get_window_stats(item, scope, key)
            retry = max(1, int(stats.reset_time - time.time()))
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                f"too many requests: at most {item} per {per}; retry in {retry} s",
                                headers={"Retry-After": str(retry)})


def limit_login(request: Request, username: str = Form(default="")) -> None:
    """Login attempts: per client address (loose), then per account (strict)."""
    limits_ = request.app.state.rate_limits
    limits_.hit(limits_.login_ip, "login-ip", limits_.address(request), "client address")
    limits_.hit(limits_.login, "login-account", username.strip().casefold(), "account")


def limit_signup(request: Request) -> None:
    """Sign-ups of new co-ops: per client address, at the login rate."""
    limits_ = request.app.state.rate_limits
    limits_.hit(limits_.login, "signup", limits_.address(request), "client address")


def limit_writes(request: Request) -> None:
    if request.method in WRITE_METHODS:
        limits_ = request.app.state.rate_limits
        limits_.hit(limits_.write, "write", limits_.address(request), "client address")
