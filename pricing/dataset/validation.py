"""Per-method format checks of one training example, as OpenAI's fine-tuning service does them.

Rules and texts come from the behaviour reference §4. Where OpenAI's wording is known it is used verbatim
(`invalid_file_format` with the prefix "The job failed due to a file format error in the training file. Invalid
file format. Example N ..."; `invalid_training_file`; `invalid_n_examples`). Verbatim live details: `contains an
extra "KEY".`, `is missing key 'KEY'.`, `Discriminator 'role' is missing in value`, `Input tag 'X' found using
'role' does not match any of the expected tags: ...`, `message contains an invalid token: TOKEN.`. Every other detail
(and those of `reader.py` and `scan.py`) is unknown on the live API: ftsim writes what the live API plausibly says,
in the same pattern, and never mentions itself in a message. `Example N` is the 1-based line number of the
example in the file, so that it points at the line to fix.

| method        | top-level keys                                        | roles                                   |
|---------------|-------------------------------------------------------|-----------------------------------------|
| supervised    | messages, tools, parallel_tool_calls, functions       | system, user, assistant, tool, function |
| dpo           | input{messages,tools,parallel_tool_calls}, preferred_output, non_preferred_output | as supervised (input) |
| reinforcement | messages, tools, + any reference key                  | developer, user, assistant, tool        |

Message keys: system/user `role, content, name`; assistant `role, content, name, weight, tool_calls,
function_call, refusal` (refusal is in the API spec's assistant message); tool `role, content, tool_call_id`;
function `role, content, name`; developer `role, content, name`. `weight` is 0 or 1, on assistant messages only.
Images (`image_url` content parts) may appear in user and system (and RFT developer) messages, never in assistant
messages, at most 10 per example; an image that is undecodable, over 10 MB or not jpeg/png/webp is *skipped* by
OpenAI (§4.4), so it is a warning here, not an error. Images need a model with the `vision` method.

Special tokens: the live API refuses a file whose message text holds a special token of the tokenizer
("Example 6174 message contains an invalid token: <|fim_suffix|>.", behaviour reference §4.1). The caller passes
the model's encoding's special tokens (`<|endoftext|>`, `<|endofprompt|>`, and for `cl100k_base` the three
`<|fim_...|>` tokens); the first one met in message order is named. Whether a model on `o200k_base` also refuses `cl100k_base`'s
`<|fim_...|>` tokens is not settled by the sources: ftsim refuses only the model's own encoding's special tokens.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ftsim.pricing.dataset.images import inspect_url

__all__ = [
    "Finding",
    "Severity",
    "example_format",
    "validate_example",
    "first_special_token",
    "format_mismatch",
    "n_examples_finding",
    "MIN_EXAMPLES",
    "RFT_MAX_TRAINING",
    "RFT_MAX_VALIDATION",
]

Severity = Literal["error", "warning"]
MIN_EXAMPLES = 10
MAX_IMAGES_PER_EXAMPLE = 10
RFT_MAX_TRAINING = 50_000
RFT_MAX_VALIDATION = 1_000

SFT_ROLES = ("system", "user", "assistant", "tool", "function")
RFT_ROLES = ("developer", "user", "assistant", "tool")
MESSAGE_KEYS = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "weight", "tool_calls", "function_call", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
    "function": {"role", "content", "name"},
}
IMAGE_ROLES = {"system", "user", "developer"}
SFT_KEYS = {"messages", "tools", "parallel_tool_calls", "functions"}
DPO_KEYS = {"input", "preferred_output", "non_preferred_output"}
DPO_INPUT_KEYS = {"messages", "tools", "parallel_tool_calls"}


class Finding(BaseModel):
    """One problem in a dataset: file line (1-based, None for the whole file), severity, OpenAI code and text."""

    model_config = ConfigDict(frozen=True)

    line: int | None
    severity: Severity
    code: str
    message: str
    param: str = "training_file"


def _file_word(param: str) -> str:
    return "validation" if param == "validation_file" else "training"


def format_error(line: int, detail: str, param: str = "training_file") -> Finding:
    """An `invalid_file_format` error with OpenAI's prefix: '... Invalid file format. Example N <detail>'."""
    prefix = f"The job failed due to a file format error in the {_file_word(param)} file. Invalid file format."
    return Finding(line=line, severity="error", code="invalid_file_format", message=f"{prefix} Example {line}{detail}", param=param)


def warning(line: int | None, code: str, message: str, param: str = "training_file") -> Finding:
    """A warning finding (the job would still run)."""
    return Finding(line=line, severity="warning", code=code, message=message, param=param)


def example_format(obj: Any) -> Literal["chat", "preference", "prompt_completion", "unknown"]:
    """Which dataset format one parsed line is in, from its keys."""
    if not isinstance(obj, dict):
        return "unknown"
    if "messages" in obj:
        return "chat"
    if obj.keys() & DPO_KEYS:
        return "preference"
    if "prompt" in obj or "completion" in obj:
        return "prompt_completion"
    return "unknown"


class _Checker:
    """Collects the findings of one example."""

    def __init__(self, line: int, param: str, vision: bool) -> None:
        self.line = line
        self.param = param
        self.vision = vision
        self.findings: list[Finding] = []
        self.n_images = 0
        self.errors = 0

    def error(self, detail: str) -> None:
        self.errors += 1
        self.findings.append(format_error(self.line, detail, self.param))

    def warn(self, code: str, message: str) -> None:
        self.findings.append(warning(self.line, code, f"Example {self.line}: {message}", self.param))

    # -- helpers ---------------------------------------------------------------------------------------
    def extra_keys(self, where: str, obj: dict, allowed: set[str]) -> None:
        for key in obj:
            if key not in allowed:
                self.error(f'{where} contains an extra "{key}".')
                return

    def tools(self, obj: dict, where: str = "", only_tools: bool = False) -> None:
        tools = obj.get("tools")
        if "tools" in obj and not (isinstance(tools, list) and all(_is_tool(t) for t in tools)):
            self.error(f"{where} 'tools' must be an array of {{\"type\": \"function\", \"function\": {{\"name\": ...}}}} objects.")
        if only_tools:
            return
        if "parallel_tool_calls" in obj and not isinstance(obj["parallel_tool_calls"], bool):
            self.error(f"{where} 'parallel_tool_calls' must be a boolean.")
        if "functions" in obj:
            functions = obj["functions"]
            if not (isinstance(functions, list) and 1 <= len(functions) <= 128 and all(_is_function(f) for f in functions)):
                self.error(f"{where} 'functions' must be an array of 1 to 128 function definitions.")

    def messages(self, messages: Any, roles: tuple[str, ...], where: str = "", key: str = "messages") -> list[dict]:
        if not isinstance(messages, list) or not messages:
            self.error(f"{where}, '{key}' must be a non-empty array.")
            return []
        good: list[dict] = []
        for index, message in enumerate(messages, start=1):
            if self.message(message, index, roles, where):
                good.append(message)
        if self.n_images > MAX_IMAGES_PER_EXAMPLE:
            self.error(f" has {self.n_images} images, but at most {MAX_IMAGES_PER_EXAMPLE} are allowed per example.")
        return good if len(good) == len(messages) else []

    def message(self, message: Any, index: int, roles: tuple[str, ...], where: str) -> bool:
        at = f"{where}, message {index}"
        if not isinstance(message, dict):
            self.error(f"{at} must be an object.")
            return False
        if "role" not in message:
            self.error(f"{at} Discriminator 'role' is missing in value")
            return False
        role = message["role"]
        if role not in roles:
            tags = ", ".join(f"'{r}'" for r in roles)
            self.error(f"{at} Input tag '{role}' found using 'role' does not match any of the expected tags: {tags}")
            return False
        before = self.n_errors()
        self.extra_keys(at, message, MESSAGE_KEYS[role])
        if role == "assistant" and "weight" in message and (type(message["weight"]) is not int or message["weight"] not in (0, 1)):
            self.error(f"{at} has an invalid weight {message['weight']!r}: it must be 0 or 1.")
        if "name" in message and not isinstance(message["name"], str):
            self.error(f"{at} 'name' must be a string.")
        if role == "function" and not isinstance(message.get("name"), str):
            self.error(f"{at} is a function message without a 'name'.")
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            self.error(f"{at} is a tool message without a 'tool_call_id'.")
        if role == "assistant":
            self.assistant_extras(message, at)
        self.content(message, role, at)
        return self.n_errors() == before

    def n_errors(self) -> int:
        return self.errors

    def assistant_extras(self, message: dict, at: str) -> None:
        if "tool_calls" in message:
            calls = message["tool_calls"]
            if not (isinstance(calls, list) and calls and all(_is_tool_call(c) for c in calls)):
                self.error(f"{at} 'tool_calls' must be a non-empty array of {{id, type: \"function\", function: {{name, arguments}}}}.")
        if "function_call" in message and not _is_call(message["function_call"]):
            self.error(f"{at} 'function_call' must be {{name, arguments}} with string values.")
        if "refusal" in message and not isinstance(message["refusal"], (str, type(None))):
            self.error(f"{at} 'refusal' must be a string.")

    def content(self, message: dict, role: str, at: str) -> None:
        content = message.get("content")
        has_call = bool(message.get("tool_calls")) or bool(message.get("function_call"))
        if content is None:
            if role == "assistant" and (has_call or message.get("refusal")):
                return
            self.error(f"{at} is missing 'content'.")
            return
        if isinstance(content, str):
            if not content and not has_call:
                self.warn("empty_content", f"{at.lstrip(', ')} has empty content.")
            return
        if not isinstance(content, list) or not content:
            self.error(f"{at} 'content' must be a string or a non-empty array of content parts.")
            return
        for part in content:
            if not isinstance(part, dict) or "type" not in part:
                self.error(f"{at} has a content part that is not an object with a 'type'.")
                return
            kind = part["type"]
            if kind == "text":
                if not isinstance(part.get("text"), str) or set(part) - {"type", "text"}:
                    self.error(f"{at} has a text part without a string 'text'.")
                    return
            elif kind == "image_url":
                if not self.image(part, role, at):
                    return
            else:
                self.error(f"{at} has an unsupported content part type {kind!r}.")
                return

    def image(self, part: dict, role: str, at: str) -> bool:
        if role not in IMAGE_ROLES:
            self.error(f"{at} contains an image, but images are not allowed in {role} messages.")
            return False
        if not self.vision:
            self.error(f"{at} contains an image, but this model or method does not support image inputs.")
            return False
        spec = part.get("image_url")
        if not isinstance(spec, dict) or not isinstance(spec.get("url"), str) or set(part) - {"type", "image_url"}:
            self.error(f"{at} has an image_url part without an 'image_url': {{\"url\": ...}} object.")
            return False
        detail = spec.get("detail", "auto")
        if detail not in ("low", "high", "auto") or set(spec) - {"url", "detail"}:
            self.error(f"{at} has an image_url with an invalid 'detail' or extra keys.")
            return False
        self.n_images += 1
        ref = inspect_url(spec["url"], detail)
        if ref.problem:
            self.warn("image_skipped", f"{at.lstrip(', ')}: the image will be skipped: {ref.problem}.")
        elif ref.source == "remote":
            self.warn("image_not_fetched", f"{at.lstrip(', ')}: remote image not fetched offline; counted as 1024x1024 ({detail}).")
        return True


def _is_function(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("name"), str)


def _is_tool(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("type") == "function" and _is_function(obj.get("function"))


def _is_call(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("name"), str) and isinstance(obj.get("arguments"), str)


def _is_tool_call(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("id"), str) and obj.get("type") == "function" and _is_call(obj.get("function"))


@functools.lru_cache(maxsize=8)
def _special_pattern(special: frozenset[str]) -> re.Pattern[str] | None:
    if not special:
        return None
    return re.compile("|".join(re.escape(token) for token in sorted(special, key=len, reverse=True)))


def _strings(value: Any) -> Iterable[str]:
    """Every string inside a message value (content, text parts, names, tool call arguments), in order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _message_lists(obj: dict, method: str) -> list[Any]:
    if method == "dpo":
        inp = obj.get("input")
        first = inp.get("messages") if isinstance(inp, dict) else None
        return [first, obj.get("preferred_output"), obj.get("non_preferred_output")]
    return [obj.get("messages")]


def first_special_token(obj: Any, method: str, special: frozenset[str]) -> str | None:
    """The first special token of the tokenizer found in the example's message text, or None."""
    pattern = _special_pattern(special)
    if pattern is None or not isinstance(obj, dict):
        return None
    for messages in _message_lists(obj, method):
        if not isinstance(messages, list):
            continue
        for message in messages:
            if not isinstance(message, dict):
                continue
            for key, value in message.items():
                # Roles are checked against a fixed list already; image data URLs cannot hold `<|`.
                if key == "role":
                    continue
                for text in _strings(value):
                    if "<|" in text:
                        found = pattern.search(text)
                        if found:
                            return found.group(0)
    return None


def validate_example(
    obj: Any,
    line: int,
    method: str,
    *,
    vision: bool = False,
    param: str = "training_file",
    special: frozenset[str] = frozenset(),
) -> tuple[list[Finding], int]:
    """Findings for one parsed line under `method` (supervised|dpo|reinforcement), and its image count. Never raises.

    `special`: the special tokens of the model's encoding; message text holding one is refused, as live."""
    check = _Checker(line, param, vision)
    try:
        if not isinstance(obj, dict):
            check.error(f" is not a JSON object (found {_json_type(obj)}).")
        elif method == "dpo":
            _check_dpo(check, obj)
        elif method == "reinforcement":
            _check_rft(check, obj)
        else:
            _check_sft(check, obj)
        if not check.errors:
            token = first_special_token(obj, method, special)
            if token is not None:
                check.error(f" message contains an invalid token: {token}.")
    except RecursionError:
        check.error(" is nested too deeply.")
    return check.findings, check.n_images


def _check_sft(check: _Checker, obj: dict) -> None:
    if "messages" not in obj:
        check.error(" is missing key 'messages'.")
        return
    check.extra_keys("", obj, SFT_KEYS)
    check.tools(obj)
    messages = check.messages(obj["messages"], SFT_ROLES)
    if messages:
        assistants = [m for m in messages if m["role"] == "assistant"]
        if not assistants:
            check.error(" has no assistant message to train on.")
        elif all(m.get("weight", 1) == 0 for m in assistants):
            check.warn("no_trained_message", "every assistant message has weight 0, so nothing is trained on.")


def _check_dpo(check: _Checker, obj: dict) -> None:
    for key in ("input", "preferred_output", "non_preferred_output"):
        if key not in obj:
            check.error(f" is missing key '{key}'.")
            return
    check.extra_keys("", obj, DPO_KEYS)
    inp = obj["input"]
    if not isinstance(inp, dict):
        check.error(", 'input' must be an object.")
        return
    if "messages" not in inp:
        check.error(" is missing key 'input.messages'.")
        return
    check.extra_keys(", input", inp, DPO_INPUT_KEYS)
    check.tools(inp, ", input")
    messages = check.messages(inp["messages"], SFT_ROLES, ", input", "input.messages")
    if messages and messages[-1]["role"] == "assistant":
        check.warn("dpo_input_ends_with_assistant", "input.messages ends with an assistant message; the preferred and non-preferred outputs must be the last assistant message.")
    for key in ("preferred_output", "non_preferred_output"):
        out = obj[key]
        if not (isinstance(out, list) and len(out) == 1):
            check.error(f", '{key}' must be an array of exactly one assistant message.")
            continue
        msg = out[0]
        if not (isinstance(msg, dict) and msg.get("role") == "assistant"):
            check.error(f", '{key}' must hold an assistant message.")
            continue
        if "weight" in msg:
            check.error(f', {key} message 1 contains an extra "weight".')
            continue
        check.message(msg, 1, ("assistant",), f", {key}")
    if check.n_images:
        check.error(" contains images, but preference fine-tuning is text only.")


def _check_rft(check: _Checker, obj: dict) -> None:
    if "messages" not in obj:
        check.error(" is missing key 'messages'.")
        return
    check.tools(obj, only_tools=True)  # every other key is a reference field for the grader ({{item.<key>}})
    messages = check.messages(obj["messages"], RFT_ROLES)
    if messages and messages[-1]["role"] == "assistant":
        check.warn("rft_ends_with_assistant", "the last message is an assistant message; the model samples the reply itself.")


def _json_type(obj: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(obj), "a number")


def format_mismatch(detected: str, method: str, file_id: str, param: str = "training_file") -> Finding | None:
    """The `invalid_training_file` error OpenAI gives when the file's format does not fit the method."""
    if detected == "chat" and method == "dpo":
        fmt, wanted = "fine-tune-chat", "supervised"
    elif detected == "preference" and method in ("supervised", "reinforcement"):
        fmt, wanted = "fine-tune-preference", "dpo"
    elif detected == "prompt_completion":
        word = _file_word(param)
        return Finding(
            line=None, severity="error", code=f"invalid_{word}_file", param=param,
            message=f"The job failed due to an invalid {word} file. Unexpected file format, expected either prompt/completion pairs or chat messages.",
        )
    else:
        return None
    word = _file_word(param)
    message = (
        f"The job failed due to an invalid {word} file. Invalid file format. Input file {file_id} is in the {fmt} "
        f"format, but the specified fine-tuning job is not using '{wanted}' as the training method (provided method={method}). "
    )
    return Finding(line=None, severity="error", code=f"invalid_{word}_file", message=message, param=param)


def n_examples_finding(n: int, method: str, param: str = "training_file") -> Finding | None:
    """`invalid_n_examples` when a training file has fewer than 10 examples (or an RFT file too many)."""
    label = "Validation" if param == "validation_file" else "Training"
    if param == "training_file" and n < MIN_EXAMPLES:
        msg = f"Training file has {n} example(s), but must have at least {MIN_EXAMPLES} examples"
    elif method == "reinforcement" and n > (limit := RFT_MAX_VALIDATION if param == "validation_file" else RFT_MAX_TRAINING):
        msg = f"{label} file has {n} example(s), but must have at most {limit} examples"
    else:
        return None
    return Finding(line=None, severity="error", code="invalid_n_examples", message=msg, param=param)
