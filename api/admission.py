"""Admission control: at most ``limit`` requests of one process are being served at once.

FastAPI serves a sync route in several threadpool calls (its dependencies, the route, the
response), and the request's database session keeps its pooled connection between some of them.
With more requests in flight than the pool has connections, every thread can end up waiting for
a connection held by a request that is itself waiting for a thread: the process stalls until the
pool times out (200 concurrent users on 2 processes did, with 503s after 30 s). Requests beyond
the limit wait here, on the event loop, holding neither a thread nor a connection; with the limit
at most the pool's connections (and below the threadpool's 40 threads) every admitted request can
always get both.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import anyio

Scope = dict[str, Any]


class AdmissionLimit:
    """Pure ASGI middleware (no buffering of bodies, no change to responses)."""

    def __init__(self, app: Any, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit: at least 1 request at a time, got {limit}")
        self.app = app
        self.limit = limit
        # one semaphore per event loop: tests run several apps' clients, each on its own loop
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.Semaphore] = (
            weakref.WeakKeyDictionary())

    def _gate(self) -> anyio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = anyio.Semaphore(self.limit)
        return gate

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self._gate():
            await self.app(scope, receive, send)
