from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from opside_hub.api.deps import RuntimeDep
from opside_hub.system.schemas import HealthEnvelope
from opside_hub.system.service import check_health

router = APIRouter(tags=["system"])


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
