"""/v1/chat/completions: plain JSON or an SSE stream."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ftsim.api.http.params import BackendDep, TenantDep
from ftsim.api.http.json_route import JSONRoute
from ftsim.simulator.inference.chat import ChatCompletion, ChatCompletionRequest

router = APIRouter(route_class=JSONRoute, prefix="/v1/chat", tags=["chat"])


@router.post("/completions", response_model=None)
async def create_chat_completion(
    body: ChatCompletionRequest, backend: BackendDep, tenant: TenantDep
) -> ChatCompletion | StreamingResponse:
    """A deterministic chat completion (streamed as server-sent events with `stream: true`)."""
    if body.stream:
        events = await run_in_threadpool(backend.chat.stream, tenant, body)
        return StreamingResponse(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})
    return await run_in_threadpool(backend.chat.create, tenant, body)
