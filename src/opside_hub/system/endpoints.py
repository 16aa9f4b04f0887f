from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from opside_hub.api.deps import RuntimeDep
from opside_hub.core.schemas import Envelope, ErrorEnvelope
from opside_hub.system.schemas import HealthEnvelope, Ping, PingCreate
from opside_hub.system.service import check_health, ping_worker

# Public, at the root: load balancers and orchestrators probe it without a token.
router = APIRouter(tags=["system"])

# Authenticated, mounted through the `private` API router.
private_router = APIRouter(prefix="/system", tags=["system"])


@router.get(
    "/health",
    response_model=HealthEnvelope,
    responses={503: {"model": HealthEnvelope, "description": "A dependency is down"}},
    summary="Liveness and readiness of the database, Redis and the queue",
)
async def health(runtime: RuntimeDep) -> JSONResponse:
    result = await check_health(runtime)
    ok = result.status == "ok"
    body = HealthEnvelope(success=ok, status=result.status, data=result)
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status_code=200 if ok else 503)


@private_router.post(
    "/ping",
    response_model=Envelope[Ping],
    responses={503: {"model": ErrorEnvelope, "description": "No worker answered in time"}},
    summary="Round trip through the queue, a worker and the database",
)
async def ping(body: PingCreate, runtime: RuntimeDep) -> Envelope[Ping]:
    return Envelope(data=await ping_worker(runtime, body.message))
