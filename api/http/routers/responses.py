"""/v1/responses: plain JSON or a typed SSE event stream."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ftsim.api.http.params import BackendDep, TenantDep
from ftsim.api.http.json_route import JSONRoute
from ftsim.simulator.inference.responses import Response, ResponseRequest

router = APIRouter(route_class=JSONRoute, prefix="/v1/responses", tags=["responses"])


@router.post("", response_model=None)
async def create_response(body: ResponseRequest, backend: BackendDep, tenant: TenantDep) -> Response | StreamingResponse:
    """A deterministic response (streamed as typed server-sent events with `stream: true`)."""
    if body.stream:
        events = await run_in_threadpool(backend.responses.stream, tenant, body)
        return StreamingResponse(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})
    return await run_in_threadpool(backend.responses.create, tenant, body)
