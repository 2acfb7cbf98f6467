"""POST /v1/responses: the same deterministic model as chat (simulator/inference.py), plain or streamed.

`input` is a string (one user message) or a list of input items; `instructions` becomes a leading system
message. A stream is the typed event sequence the SDK's accumulator expects: response.created,
response.in_progress, response.output_item.added, response.content_part.added, response.output_text.delta (one per
token), response.output_text.done, response.content_part.done, response.output_item.done, response.completed,
each with `event:` naming its type and a running `sequence_number`. `max_output_tokens` truncates the text and
makes the response `incomplete` (reason `max_output_tokens`), as live.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from ftsim.simulator.inference.chat import sse
from ftsim.simulator.inference.model import Answer, Inference
from ftsim.simulator.inference.structured import json_format
from ftsim.simulator.core.tenancy import Tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend

__all__ = ["ResponseRequest", "Response", "Responses", "input_messages"]


class ResponseRequest(BaseModel):
    """Body of POST /v1/responses (sampling knobs are accepted and echoed)."""

    model_config = ConfigDict(extra="allow")
    model: str
    input: Union[str, list[dict[str, Any]]]
    instructions: Optional[str] = None
    stream: Optional[bool] = False
    max_output_tokens: Optional[int] = Field(default=None, ge=1)
    metadata: Optional[dict[str, str]] = None
    temperature: Optional[float] = Field(default=None, ge=0, le=2)
    top_p: Optional[float] = Field(default=None, ge=0, le=1)
    user: Optional[str] = None
    previous_response_id: Optional[str] = None
    store: Optional[bool] = None
    text: Optional[dict[str, Any]] = None
    tools: Optional[list[dict[str, Any]]] = None
    tool_choice: Optional[Union[str, dict[str, Any]]] = None


class OutputText(BaseModel):
    """An output_text content part."""

    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)
    logprobs: list[Any] = Field(default_factory=list)


class OutputMessage(BaseModel):
    """The assistant message item of a response."""

    id: str
    type: Literal["message"] = "message"
    status: Literal["in_progress", "completed", "incomplete"] = "completed"
    role: Literal["assistant"] = "assistant"
    content: list[OutputText]


class FunctionCallItem(BaseModel):
    """A function_call output item (a tuned model calling a tool it was trained to call)."""

    id: str
    type: Literal["function_call"] = "function_call"
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"] = "completed"


class ResponseUsage(BaseModel):
    """Usage of a response."""

    input_tokens: int
    input_tokens_details: dict[str, int] = Field(default_factory=lambda: {"cached_tokens": 0, "cache_write_tokens": 0})
    output_tokens: int
    output_tokens_details: dict[str, int] = Field(default_factory=lambda: {"reasoning_tokens": 0})
    total_tokens: int


class Response(BaseModel):
    """OpenAI's response object, with every field the spec requires."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["completed", "in_progress", "incomplete"] = "completed"
    background: bool = False
    completed_at: Optional[int] = None
    error: Optional[dict[str, Any]] = None
    incomplete_details: Optional[dict[str, Any]] = None
    instructions: Optional[str] = None
    max_output_tokens: Optional[int] = None
    max_tool_calls: Optional[int] = None
    model: str
    output: list[Union[OutputMessage, FunctionCallItem]] = Field(default_factory=list)
    parallel_tool_calls: bool = True
    previous_response_id: Optional[str] = None
    reasoning: dict[str, Any] = Field(default_factory=lambda: {"effort": None, "summary": None})
    service_tier: str = "default"
    store: bool = True
    temperature: float = 1.0
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}, "verbosity": "medium"})
    tool_choice: str = "auto"
    tools: list[Any] = Field(default_factory=list)
    top_logprobs: int = 0
    top_p: float = 1.0
    truncation: str = "disabled"
    usage: Optional[ResponseUsage] = None
    metadata: dict[str, str] = Field(default_factory=dict)


def input_messages(request: ResponseRequest) -> list[dict[str, Any]]:
    """The request as chat messages: instructions as a system message, then the input items."""
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    if isinstance(request.input, str):
        messages.append({"role": "user", "content": request.input})
        return messages
    for item in request.input:
        if "role" in item:
            messages.append({"role": item["role"], "content": item.get("content")})
        elif item.get("type") == "function_call_output":
            messages.append({"role": "tool", "content": item.get("output")})
    return messages


def _echo_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A request tool as the response echoes it: function tools with `strict` (default true) and `parameters`."""
    if tool.get("type") != "function":
        return tool
    return {"strict": True, "parameters": None, **tool}


class Responses:
    """The responses service."""

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend
        self._own: Inference | None = None

    @property
    def inference(self) -> Inference:
        """The chat service's inference engine (one learned-data cache), or a private one."""
        chat = getattr(self.backend, "chat", None)
        if chat is not None:
            return chat.inference
        if self._own is None:
            self._own = Inference(self.backend)
        return self._own

    def _build(self, tenant: Tenant, request: ResponseRequest) -> tuple[Response, Answer]:
        text_format = (request.text or {}).get("format")
        answer = self.inference.answer(
            tenant,
            model=request.model,
            messages=input_messages(request),
            max_tokens=request.max_output_tokens,
            json_mode=json_format(text_format=text_format),
            tools=None if request.tool_choice == "none" else request.tools,
        )
        now = self.backend.now()
        truncated = answer.finish_reasons[0] == "length"
        calls = answer.tool_calls[0] if answer.tool_calls else None
        output: list[Union[OutputMessage, FunctionCallItem]] = [OutputMessage(
            id=self.backend.new_id("msg_", 48),
            status="incomplete" if truncated else "completed",
            content=[OutputText(text=answer.texts[0])],
        )] if calls is None else [
            FunctionCallItem(id=self.backend.new_id("fc_", 48), call_id=c["id"], name=c["name"], arguments=c["arguments"])
            for c in calls
        ]
        response = Response(
            id=self.backend.new_id("resp_", 48),
            created_at=now,
            status="incomplete" if truncated else "completed",
            completed_at=None if truncated else now,
            incomplete_details={"reason": "max_output_tokens"} if truncated else None,
            instructions=request.instructions,
            max_output_tokens=request.max_output_tokens,
            model=request.model,
            output=output,
            tools=[_echo_tool(t) for t in request.tools or []],
            previous_response_id=request.previous_response_id,
            store=True if request.store is None else request.store,
            temperature=1.0 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            usage=ResponseUsage(
                input_tokens=answer.prompt_tokens,
                output_tokens=answer.completion_tokens,
                total_tokens=answer.total_tokens,
            ),
            metadata=request.metadata or {},
            text={"format": text_format if isinstance(text_format, dict) else {"type": "text"}, "verbosity": "medium"},
        )
        return response, answer

    def create(self, tenant: Tenant, request: ResponseRequest) -> Response:
        """A complete response."""
        return self._build(tenant, request)[0]

    def stream(self, tenant: Tenant, request: ResponseRequest) -> Iterator[str]:
        """The SSE events of a streamed response (errors are raised before the first event)."""
        final, answer = self._build(tenant, request)
        message = final.output[0]
        started = final.model_copy(
            update={"status": "in_progress", "output": [], "usage": None, "completed_at": None, "incomplete_details": None}
        )
        events: list[str] = []

        def emit(kind: str, **fields: Any) -> None:
            body = {"type": kind, **fields, "sequence_number": len(events)}
            events.append(sse(body, event=kind))

        dump = lambda model: model.model_dump(mode="json")  # noqa: E731
        ids = {"item_id": message.id, "output_index": 0, "content_index": 0}
        opening = started.model_dump(mode="json", exclude={"usage"})  # no usage until the end (the spec forbids null)
        emit("response.created", response=opening)
        emit("response.in_progress", response=opening)
        if not isinstance(message, OutputMessage):  # function calls: each item, then its arguments piece by piece
            for index, item in enumerate(final.output):
                if not isinstance(item, FunctionCallItem):  # a response holds one message or only function calls
                    continue
                emit("response.output_item.added", output_index=index,
                     item=dump(item.model_copy(update={"status": "in_progress", "arguments": ""})))
                for piece in self.inference.pieces(answer.model, item.arguments):
                    emit("response.function_call_arguments.delta", item_id=item.id, output_index=index, delta=piece)
                emit("response.function_call_arguments.done", item_id=item.id, output_index=index, name=item.name,
                     arguments=item.arguments)
                emit("response.output_item.done", output_index=index, item=dump(item))
            emit("response.completed", response=dump(final))
            return iter(events)
        text = message.content[0].text
        in_progress_item = message.model_copy(update={"status": "in_progress", "content": []})
        emit("response.output_item.added", output_index=0, item=dump(in_progress_item))
        emit("response.content_part.added", **ids, part=dump(OutputText(text="")))
        for piece in self.inference.pieces(answer.model, text):
            emit("response.output_text.delta", **ids, delta=piece, logprobs=[])
        emit("response.output_text.done", **ids, text=text, logprobs=[])
        emit("response.content_part.done", **ids, part=dump(message.content[0]))
        emit("response.output_item.done", output_index=0, item=dump(message))
        kind = "response.completed" if final.status == "completed" else "response.incomplete"
        emit(kind, response=dump(final))
        return iter(events)
