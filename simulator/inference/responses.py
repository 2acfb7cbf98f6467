"""POST /v1/responses: the same deterministic model as chat (simulator/inference/model.py), plain or streamed.

`input` is a string (one user message) or a list of input items; `instructions` becomes a leading system
message. A stream is the typed event sequence the SDK's accumulator expects: response.created,
response.in_progress, response.output_item.added, response.content_part.added, response.output_text.delta (one per
token), response.output_text.done, response.content_part.done, response.output_item.done, response.completed,
each with `event:` naming its type and a running `sequence_number`. `max_output_tokens` truncates the text and
makes the response `incomplete` (reason `max_output_tokens`), as live.

Reasoning models (o-series, gpt-5): the output starts with a `reasoning` item (its `summary` holds one
`summary_text` part when `reasoning.summary` is asked for, else it is empty), usage counts `reasoning_tokens` inside
`output_tokens`, and the response echoes `reasoning: {effort, summary}` (effort `medium` by default, as live).
A stream carries the item's events (`response.output_item.added`, the `response.reasoning_summary_*` events,
`response.output_item.done`) before the message's, which moves to `output_index` 1. Other models echo
`{effort: null, summary: null}` and refuse a `reasoning.effort` with 400 `unsupported_parameter`. How many
reasoning tokens a reply takes is ftsim's model: a seeded figure per effort, in multiples of 64.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, Iterator, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from ftsim.simulator.core.errors import BadRequestError
from ftsim.simulator.fine_tuning.params import check_metadata
from ftsim.simulator.inference.chat import MAX_TOOLS, check_array_length, check_sampling, sse
from ftsim.simulator.inference.model import Answer, Inference
from ftsim.simulator.inference.structured import json_format
from ftsim.simulator.core.tenancy import Tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend

__all__ = ["ResponseRequest", "Response", "Responses", "ReasoningItem", "input_messages", "is_reasoning_model"]


class ResponseRequest(BaseModel):
    """Body of POST /v1/responses (sampling knobs are accepted and echoed)."""

    model_config = ConfigDict(extra="allow")
    model: str
    input: Union[str, list[dict[str, Any]]]
    instructions: Optional[str] = None
    stream: Optional[bool] = False
    max_output_tokens: Optional[int] = Field(default=None, ge=1)
    metadata: Optional[dict[str, str]] = None
    # temperature and top_p stay in the extras: checked with the live wording by `check_sampling`, then echoed
    user: Optional[str] = None
    previous_response_id: Optional[str] = None
    store: Optional[bool] = None
    text: Optional[dict[str, Any]] = None
    tools: Optional[list[dict[str, Any]]] = None
    tool_choice: Optional[Union[str, dict[str, Any]]] = None
    reasoning: Optional[dict[str, Any]] = None


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


class SummaryText(BaseModel):
    """One part of a reasoning item's summary."""

    type: Literal["summary_text"] = "summary_text"
    text: str


class ReasoningItem(BaseModel):
    """The reasoning item a reasoning model's response starts with."""

    id: str
    type: Literal["reasoning"] = "reasoning"
    summary: list[SummaryText] = Field(default_factory=list)


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
    output: list[Union[ReasoningItem, OutputMessage, FunctionCallItem]] = Field(default_factory=list)
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


_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
EFFORTS = ("minimal", "low", "medium", "high")
SUMMARIES = ("auto", "concise", "detailed")
_EFFORT_TOKENS = {"minimal": 0, "low": 64, "medium": 192, "high": 576}  # ftsim's choice, see the module docstring


def is_reasoning_model(snapshot: str) -> bool:
    """Whether a (base) snapshot is a reasoning model (o1, o3, o4-mini, gpt-5 ...)."""
    return bool(_REASONING_MODEL.match(snapshot))


def _reasoning_settings(request: ResponseRequest, reasoning_model: bool) -> tuple[Optional[str], Optional[str]]:
    """(effort, summary) to run and echo; 400 for values the live API refuses."""
    asked = request.reasoning or {}
    if not isinstance(asked, dict):
        raise BadRequestError("Invalid type for 'reasoning': expected an object.", param="reasoning",
                              code="invalid_type")
    effort, summary = asked.get("effort"), asked.get("summary")
    if effort is not None and effort not in EFFORTS:
        raise BadRequestError(f"Invalid value: '{effort}'. Supported values are: "
                              + ", ".join(f"'{e}'" for e in EFFORTS) + ".", param="reasoning.effort",
                              code="invalid_value")
    if summary is not None and summary not in SUMMARIES:
        raise BadRequestError(f"Invalid value: '{summary}'. Supported values are: "
                              + ", ".join(f"'{s}'" for s in SUMMARIES) + ".", param="reasoning.summary",
                              code="invalid_value")
    if not reasoning_model:
        if effort is not None:
            raise BadRequestError("Unsupported parameter: 'reasoning.effort' is not supported with this model.",
                                  param="reasoning.effort", code="unsupported_parameter")
        return None, None
    return effort or "medium", summary


def _reasoning_tokens(effort: str, messages: list[dict[str, Any]], seed: int) -> int:
    """A seeded count per effort, a multiple of 64 (the granularity live counts show)."""
    base = _EFFORT_TOKENS[effort]
    if base == 0:
        return 0
    digest = hashlib.sha256(f"{seed}:{effort}:{messages!r}".encode()).digest()
    return base + 64 * (digest[0] % 4)


def _summary_text(messages: list[dict[str, Any]], summary: str) -> str:
    """A plausible summary of the model's reasoning about the last user message."""
    last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
    if isinstance(last, list):
        last = " ".join(p.get("text", "") for p in last if isinstance(p, dict))
    topic = " ".join(str(last or "").split())[:80] or "the request"
    text = f"**Working out the answer**\n\nThe user asks: \"{topic}\". I'll settle what is being asked and reply directly."
    if summary == "detailed":
        text += ("\n\n**Checking the reply**\n\nBefore answering I check that the reply addresses the question "
                 "as asked and keep it short.")
    return text


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


def _knob(knobs: dict[str, Any], name: str) -> float:
    """A sampling knob as the response echoes it (1.0 when not given)."""
    value = knobs.get(name)
    return 1.0 if value is None else float(value)


class Responses:
    """The responses service."""

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend

    @property
    def inference(self) -> Inference:
        """The chat service's inference engine: one learned-data cache for both APIs."""
        return self.backend.chat.inference

    def _build(self, tenant: Tenant, request: ResponseRequest) -> tuple[Response, Answer]:
        knobs = request.model_extra or {}
        check_sampling(knobs, ("temperature", "top_p"))
        check_array_length("tools", request.tools, MAX_TOOLS)
        check_metadata(request.metadata)  # echoed on the response: the API's one Metadata bounds it
        text_format = (request.text or {}).get("format")
        messages = input_messages(request)
        answer = self.inference.answer(
            tenant,
            model=request.model,
            messages=messages,
            max_tokens=request.max_output_tokens,
            json_mode=json_format(text_format=text_format),
            tools=None if request.tool_choice == "none" else request.tools,
        )
        effort, summary = _reasoning_settings(request, is_reasoning_model(answer.model.entry.snapshot))
        now = self.backend.now()
        truncated = answer.finish_reasons[0] == "length"
        output: list[Union[ReasoningItem, OutputMessage, FunctionCallItem]] = []
        reasoning_tokens = 0
        if effort is not None:
            reasoning_tokens = _reasoning_tokens(effort, messages, self.backend.config.seed)
            parts = [SummaryText(text=_summary_text(messages, summary))] if summary else []
            output.append(ReasoningItem(id=self.backend.new_id("rs_", 48, tenant=tenant.key), summary=parts))
        calls = answer.tool_calls[0] if answer.tool_calls else None
        if calls is None:
            output.append(OutputMessage(
                id=self.backend.new_id("msg_", 48, tenant=tenant.key),
                status="incomplete" if truncated else "completed",
                content=[OutputText(text=answer.texts[0])],
            ))
        else:
            output.extend(
                FunctionCallItem(id=self.backend.new_id("fc_", 48, tenant=tenant.key), call_id=c["id"], name=c["name"],
                                 arguments=c["arguments"])
                for c in calls
            )
        response = Response(
            id=self.backend.new_id("resp_", 48, tenant=tenant.key),
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
            temperature=_knob(knobs, "temperature"),
            top_p=_knob(knobs, "top_p"),
            reasoning={"effort": effort, "summary": summary},
            usage=ResponseUsage(
                input_tokens=answer.prompt_tokens,
                output_tokens=answer.completion_tokens + reasoning_tokens,
                output_tokens_details={"reasoning_tokens": reasoning_tokens},
                total_tokens=answer.total_tokens + reasoning_tokens,
            ),
            metadata=request.metadata or {},
            text={"format": text_format if isinstance(text_format, dict) else {"type": "text"}, "verbosity": "medium"},
        )
        self.backend.models.answered(tenant, answer.model)
        return response, answer

    def create(self, tenant: Tenant, request: ResponseRequest) -> Response:
        """A complete response."""
        return self._build(tenant, request)[0]

    def stream(self, tenant: Tenant, request: ResponseRequest) -> Iterator[str]:
        """The SSE events of a streamed response (errors are raised before the first event)."""
        final, answer = self._build(tenant, request)
        reasoning = final.output[0] if final.output and isinstance(final.output[0], ReasoningItem) else None
        started = final.model_copy(
            update={"status": "in_progress", "output": [], "usage": None, "completed_at": None, "incomplete_details": None}
        )
        events: list[str] = []

        def emit(kind: str, **fields: Any) -> None:
            body = {"type": kind, **fields, "sequence_number": len(events)}
            events.append(sse(body, event=kind))

        dump = lambda model: model.model_dump(mode="json")  # noqa: E731
        opening = started.model_dump(mode="json", exclude={"usage"})  # no usage until the end (the spec forbids null)
        emit("response.created", response=opening)
        emit("response.in_progress", response=opening)
        if reasoning is not None:
            emit("response.output_item.added", output_index=0, item=dump(reasoning.model_copy(update={"summary": []})))
            for n, part in enumerate(reasoning.summary):
                where = {"item_id": reasoning.id, "output_index": 0, "summary_index": n}
                emit("response.reasoning_summary_part.added", **where, part=dump(SummaryText(text="")))
                emit("response.reasoning_summary_text.delta", **where, delta=part.text)
                emit("response.reasoning_summary_text.done", **where, text=part.text)
                emit("response.reasoning_summary_part.done", **where, part=dump(part))
            emit("response.output_item.done", output_index=0, item=dump(reasoning))
        message = final.output[-1]
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
        index = len(final.output) - 1  # the message's output_index
        text = message.content[0].text
        ids = {"item_id": message.id, "output_index": index, "content_index": 0}
        in_progress_item = message.model_copy(update={"status": "in_progress", "content": []})
        emit("response.output_item.added", output_index=index, item=dump(in_progress_item))
        emit("response.content_part.added", **ids, part=dump(OutputText(text="")))
        for piece in self.inference.pieces(answer.model, text):
            emit("response.output_text.delta", **ids, delta=piece, logprobs=[])
        emit("response.output_text.done", **ids, text=text, logprobs=[])
        emit("response.content_part.done", **ids, part=dump(message.content[0]))
        emit("response.output_item.done", output_index=index, item=dump(message))
        kind = "response.completed" if final.status == "completed" else "response.incomplete"
        emit(kind, response=dump(final))
        return iter(events)
