"""``GET /health`` for load balancers and operators (no login)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.models import HealthPublic
from api.services import health as svc

router = APIRouter(tags=["meta"])


@router.get("/health", response_model=HealthPublic,
            responses={503: {"model": HealthPublic, "description": "the database or the broker is down"}})
async def health(request: Request):
    """The database, the broker (``embedded`` without one), the solve workers seen within twice
    the lease time, and the heartbeats of running runs. 200 when the database and the broker
    answer, else 503 with the same body."""
    body = await run_in_threadpool(svc.health, request.app.state.engine, request.app.state.settings)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if body.status == "ok" else 503)
