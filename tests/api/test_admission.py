"""Admission control (``api.admission``): the stall it prevents needs more requests in flight
than the database pool has connections, so the limit itself is what must hold."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from api.admission import AdmissionLimit


def _counting_app():
    state = {"now": 0, "most": 0, "served": 0}

    async def app(scope, receive, send):
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        await asyncio.sleep(0.02)
        state["now"] -= 1
        state["served"] += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app, state


def test_no_more_requests_are_served_at_once_than_the_limit_and_none_is_dropped():
    """30 requests at once through a limit of 4: never more than 4 inside, all 30 answered."""
    inner, state = _counting_app()
    app = AdmissionLimit(inner, limit=4)

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return await asyncio.gather(*(c.get("/") for _ in range(30)))

    answers = asyncio.run(go())
    assert [r.status_code for r in answers] == [200] * 30
    assert state["served"] == 30 and state["most"] == 4


def test_the_service_app_is_limited_by_its_setting(app):
    """The limit is the configured one (the pool's 15 by default), on every app the service makes."""
    gates = [m for m in app.user_middleware if m.cls is AdmissionLimit]
    assert len(gates) == 1
    assert gates[0].kwargs["limit"] == app.state.settings.max_concurrent_requests == 15


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="limit"):
        AdmissionLimit(_counting_app()[0], limit=0)
