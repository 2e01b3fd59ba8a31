"""Per-client rate limits on login and writes, with the ``limits`` library (slowapi's engine).

Used as FastAPI dependencies rather than slowapi decorators so that each app (and each test)
gets its own counters and its own configured rates.
"""

from __future__ import annotations

import time

from fastapi import HTTPException, Request, status
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RateLimits:
    def __init__(self, login: str, write: str):
        self.storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.login: RateLimitItem = parse(login)
        self.write: RateLimitItem = parse(write)

    def hit(self, item: RateLimitItem, scope: str, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        if not self.limiter.hit(item, scope, client):
            stats = self.limiter.get_window_stats(item, scope, client)
            retry = max(1, int(stats.reset_time - time.time()))
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                f"too many requests: at most {item} per client; retry in {retry} s",
                                headers={"Retry-After": str(retry)})


def limit_login(request: Request) -> None:
    request.app.state.rate_limits.hit(request.app.state.rate_limits.login, "login", request)


def limit_writes(request: Request) -> None:
    if request.method in WRITE_METHODS:
        request.app.state.rate_limits.hit(request.app.state.rate_limits.write, "write", request)
