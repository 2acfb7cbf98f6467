"""POST /v1/chat/completions: deterministic replies (see simulator/inference/model.py), plain or streamed as SSE.

A stream is `data: {chat.completion.chunk}` lines: a first chunk with the assistant role, one chunk per token
of content, a final chunk with `finish_reason`, a usage chunk (empty `choices`) when
`stream_options.include_usage` is true, then `data: [DONE]`.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from ftsim.simulator.fine_tuning.params import check_metadata
from ftsim.simulator.inference.model import Answer, Inference
from ftsim.simulator.inference.structured import json_format
from ftsim.simulator.core.errors import BadRequestError
from ftsim.simulator.core.tenancy import Tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend

__all__ = [
    "ChatMessageIn",
    "ChatCompletionRequest",
    "ChatCompletion",
    "ChatCompletionChunk",
    "CompletionUsage",
    "Chat",
    "MAX_STOP",
    "MAX_TOOLS",
    "SAMPLING_RANGES",
    "check_array_length",
    "check_sampling",
    "sse",
]

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ChatMessageIn(BaseModel):
    """One request message (extra keys such as tool_calls are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")
    role: Role
    content: Union[str, list[Union[dict[str, Any], str]], None] = None
    name: Optional[str] = None


class StreamOptions(BaseModel):
    """`stream_options`."""

    model_config = ConfigDict(extra="allow")
    include_usage: Optional[bool] = None


class ChatCompletionRequest(BaseModel):
    """Body of POST /v1/chat/completions (sampling knobs are accepted; they cannot change a deterministic reply)."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: Optional[bool] = False
    stream_options: Optional[StreamOptions] = None
    seed: Optional[int] = None
    n: Optional[int] = Field(default=None, ge=1, le=128)
    max_tokens: Optional[int] = Field(default=None, ge=1)
    max_completion_tokens: Optional[int] = Field(default=None, ge=1)
    metadata: Optional[dict[str, str]] = None
    service_tier: Optional[str] = None
    response_format: Optional[dict[str, Any]] = None
    tools: Optional[list[dict[str, Any]]] = None
    tool_choice: Optional[Union[str, dict[str, Any]]] = None


class FunctionCall(BaseModel):
    """The function a tool call names, with its arguments as a JSON text."""

    name: str
    arguments: str


class ToolCall(BaseModel):
    """One tool call of an assistant message."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatCompletionMessage(BaseModel):
    """The assistant message of a choice (`tool_calls` only when the model calls tools, as live)."""

    role: Literal["assistant"] = "assistant"
    content: Optional[str]
    refusal: Optional[str] = None
    annotations: list[Any] = Field(default_factory=list)
    tool_calls: Optional[list[ToolCall]] = None

    @model_serializer(mode="wrap")
    def _drop_absent_tool_calls(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        if data.get("tool_calls") is None:
            data.pop("tool_calls", None)
        return data


class Choice(BaseModel):
    """One choice of a chat completion."""

    index: int
    message: ChatCompletionMessage
    logprobs: Optional[Any] = None
    finish_reason: str


class PromptTokensDetails(BaseModel):
    """Prompt token breakdown."""

    cached_tokens: int = 0
    audio_tokens: int = 0


class CompletionTokensDetails(BaseModel):
    """Completion token breakdown."""

    reasoning_tokens: int = 0
    audio_tokens: int = 0
    accepted_prediction_tokens: int = 0
    rejected_prediction_tokens: int = 0


class CompletionUsage(BaseModel):
    """Usage of a chat completion."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails = Field(default_factory=PromptTokensDetails)
    completion_tokens_details: CompletionTokensDetails = Field(default_factory=CompletionTokensDetails)


class ChatCompletion(BaseModel):
    """OpenAI's chat.completion object."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    service_tier: Optional[str] = "default"
    system_fingerprint: Optional[str] = None


class ChunkDelta(BaseModel):
    """The delta of a streamed choice."""

    role: Optional[Literal["assistant"]] = None
    content: Optional[str] = None
    refusal: Optional[str] = None


class ChunkChoice(BaseModel):
    """One choice of a chunk."""

    index: int
    delta: dict[str, Any]
    logprobs: Optional[Any] = None
    finish_reason: Optional[str] = None


class ChatCompletionChunk(BaseModel):
    """OpenAI's chat.completion.chunk object."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    service_tier: Optional[str] = "default"
    system_fingerprint: Optional[str] = None
    usage: Optional[CompletionUsage] = None


def _delta(**fields: Any) -> dict[str, Any]:
    """A chunk delta without its unset keys (the live final delta is `{}`)."""
    return ChunkDelta(**fields).model_dump(exclude_none=True)


def sse(data: dict[str, Any] | str, event: str | None = None) -> str:
    """One server-sent event (`event:` line only when named)."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {text}\n\n"


def fingerprint(snapshot: str) -> str:
    """A stable `system_fingerprint` per base snapshot."""
    return "fp_" + hashlib.sha256(snapshot.encode()).hexdigest()[:10]


def usage_of(answer: Answer) -> CompletionUsage:
    """The chat usage block of an answer."""
    return CompletionUsage(
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        total_tokens=answer.total_tokens,
    )


# The sampling knobs' ranges (OpenAI's API reference: temperature 0..2, top_p 0..1, penalties -2..2) and the live
# refusal: a live answer of /v1/chat/completions quoted with its request id in litellm's exception mapping
# (BerriAI/litellm, litellm_core_utils/exception_mapping_utils.py, 2025): 400, message "Invalid 'temperature': decimal
# above maximum value. Expected a value <= 2, but got 200 instead.", param "temperature", code
# "decimal_above_max_value". An older wording ("3.0 is greater than the maximum of 2 - 'temperature'", 2024) is
# superseded by it. Assumed, as the same validator family's mirror: the minimum's message and code
# ("decimal_below_min_value"), the wrong type's ("Invalid type for 'temperature': expected a decimal, but got a
# string instead.", code "invalid_type", the family's form for other fields), the value printed as JSON has it, and
# the same answer from /v1/responses (a public note on the Responses API reports the same code and param).
SAMPLING_RANGES = {"temperature": (0, 2), "top_p": (0, 1), "presence_penalty": (-2, 2), "frequency_penalty": (-2, 2)}
_JSON_TYPES = {str: "a string", bool: "a boolean", list: "an array", dict: "an object", float: "NaN"}  # NaN: json.loads takes it


def check_sampling(values: dict[str, Any], names: Iterable[str] = SAMPLING_RANGES) -> None:
    """400, as live, for a sampling knob in `values` outside its range or not a number (they cannot change a
    deterministic reply, but the live API refuses them); a null knob is an absent one."""
    for name in names:
        value = values.get(name)
        if value is None:
            continue
        low, high = SAMPLING_RANGES[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            got = _JSON_TYPES.get(type(value), "a value")
            raise BadRequestError(f"Invalid type for '{name}': expected a decimal, but got {got} instead.",
                                  param=name, code="invalid_type")
        shown = json.dumps(value)
        if value > high:
            raise BadRequestError(f"Invalid '{name}': decimal above maximum value. Expected a value <= {high}, but got "
                                  f"{shown} instead.", param=name, code="decimal_above_max_value")
        if value < low:
            raise BadRequestError(f"Invalid '{name}': decimal below minimum value. Expected a value >= {low}, but got "
                                  f"{shown} instead.", param=name, code="decimal_below_min_value")


# Array limits of a request, and their live refusal: 'tools' at most 128 ("Invalid 'tools': array too long.
# Expected an array with maximum length 128, but got an array with length 163 instead.", param "tools", code
# "array_above_max_length", quoted from live answers in public issue threads, 2025-2026); 'stop' at most 4 (OpenAI's
# API reference), its answer assumed to be the same family's. The Responses API is assumed to share the tools limit.
MAX_TOOLS = 128
MAX_STOP = 4


def check_array_length(name: str, value: Any, maximum: int) -> None:
    """400, as live, for a list longer than `maximum` (a single value or none passes)."""
    if isinstance(value, list) and len(value) > maximum:
        raise BadRequestError(f"Invalid '{name}': array too long. Expected an array with maximum length {maximum}, "
                              f"but got an array with length {len(value)} instead.", param=name,
                              code="array_above_max_length")


class Chat:
    """The chat completions service."""

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend
        self.inference = Inference(backend)

    def _answer(self, tenant: Tenant, request: ChatCompletionRequest) -> Answer:
        check_sampling(request.model_extra or {})
        check_array_length("tools", request.tools, MAX_TOOLS)
        check_array_length("stop", (request.model_extra or {}).get("stop"), MAX_STOP)
        check_metadata(request.metadata)  # the API's one Metadata: 16 pairs, keys <= 64, values <= 512 characters
        messages = [m.model_dump(exclude_none=True) for m in request.messages]
        limit = request.max_completion_tokens or request.max_tokens
        answer = self.inference.answer(
            tenant, model=request.model, messages=messages, seed=request.seed, n=request.n or 1, max_tokens=limit,
            json_mode=json_format(chat_format=request.response_format),
            tools=None if request.tool_choice == "none" else request.tools,
        )
        self.backend.models.answered(tenant, answer.model)
        return answer

    def create(self, tenant: Tenant, request: ChatCompletionRequest) -> ChatCompletion:
        """A complete chat.completion."""
        answer = self._answer(tenant, request)
        choices = []
        for i, (text, reason) in enumerate(zip(answer.texts, answer.finish_reasons)):
            calls = answer.tool_calls[i] if i < len(answer.tool_calls) else None
            message = ChatCompletionMessage(content=text) if calls is None else ChatCompletionMessage(
                content=None, tool_calls=[ToolCall(id=c["id"], function=FunctionCall(name=c["name"], arguments=c["arguments"]))
                                          for c in calls])
            choices.append(Choice(index=i, message=message, finish_reason=reason))
        return ChatCompletion(
            id=self.backend.new_id("chatcmpl-", 29, tenant=tenant.key),
            created=self.backend.now(),
            model=request.model,
            choices=choices,
            usage=usage_of(answer),
            system_fingerprint=fingerprint(answer.model.entry.snapshot),
        )

    def stream(self, tenant: Tenant, request: ChatCompletionRequest) -> Iterator[str]:
        """The SSE lines of a streamed completion (errors are raised before the first line)."""
        answer = self._answer(tenant, request)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        base = ChatCompletionChunk(
            id=self.backend.new_id("chatcmpl-", 29, tenant=tenant.key),
            created=self.backend.now(),
            model=request.model,
            choices=[],
            system_fingerprint=fingerprint(answer.model.entry.snapshot),
        )
        events: list[str] = []

        def emit(choices: list[ChunkChoice], usage: CompletionUsage | None = None) -> None:
            chunk = base.model_copy(update={"choices": choices, "usage": usage})
            exclude = None if include_usage else {"usage"}
            events.append(sse(chunk.model_dump(mode="json", exclude=exclude)))

        for index, (text, reason) in enumerate(zip(answer.texts, answer.finish_reasons)):
            calls = answer.tool_calls[index] if index < len(answer.tool_calls) else None
            if calls is not None:  # a tool call: its name first, then its arguments piece by piece
                emit([ChunkChoice(index=index, delta={"role": "assistant", "content": None})])
                for k, call in enumerate(calls):
                    head = {"index": k, "id": call["id"], "type": "function",
                            "function": {"name": call["name"], "arguments": ""}}
                    emit([ChunkChoice(index=index, delta={"tool_calls": [head]})])
                    for piece in self.inference.pieces(answer.model, call["arguments"]):
                        emit([ChunkChoice(index=index, delta={"tool_calls": [{"index": k, "function": {"arguments": piece}}]})])
                emit([ChunkChoice(index=index, delta={}, finish_reason=reason)])
                continue
            emit([ChunkChoice(index=index, delta=_delta(role="assistant", content=""))])
            for piece in self.inference.pieces(answer.model, text):
                emit([ChunkChoice(index=index, delta=_delta(content=piece))])
            emit([ChunkChoice(index=index, delta={}, finish_reason=reason)])
        if include_usage:
            emit([], usage_of(answer))
        events.append(sse("[DONE]"))
        return iter(events)

    def reset(self) -> None:
        """Forget cached learned tables (ids restart after a reset)."""
        self.inference.reset()
