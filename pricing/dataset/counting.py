"""Billed tokens per training example.

Formula: what the live API bills, measured on seven real jobs with published data (gpt-3.5-turbo-0613 and -0125
with `cl100k_base`, gpt-4o-mini with `o200k_base`; `/work/shared/reference/live-data/README.md`), with the encoding
the model uses (`o200k_base` for gpt-4o/4.1/o4, `cl100k_base` for gpt-3.5/gpt-4; the catalog's `tokenizer`):

    tokens(example) = 1                                    # once per example (measured)
                    + sum over messages of (3              # per-message overhead
                        + sum over the message's keys of tokens(value)
                        + 1 if the message has a `name`)
                    + tokens(compact JSON of `tools`) + tokens(compact JSON of `functions`)   # once per example

Measured against live `trained_tokens` (every one of the seven jobs matches exactly): the 1 per example, the 3 per
message, tokens(role) + tokens(content) for string contents, `weight: 0` messages billed like any other and the
`weight` key adding nothing. The cookbook notebook ("Data preparation and analysis for chat model fine-tuning",
the pricing reference's TV3) adds 3 per example instead of 1 and so overcounts by 2 tokens an example an epoch.

Assumed (no public job settles them): the 1 per `name` and the name's tokens, `tool_calls`/`function_call`/
`tool_call_id`/`refusal` values, tool definitions as compact JSON (one cookbook job carried a constant 379 tokens an
example for its tools, close to the inference prompt cost, but the exact rendering is unknown), image tokens, DPO,
and the truncation cap.

How values count:

- a string (role, content, name, tool_call_id, refusal): its encoded length (`encode_ordinary`, so text that
  looks like a special token counts as plain text);
- `content: null`: 0; `content` as an array of parts: each text part's text; each `image_url` part by
  `ftsim.pricing.dataset.images` (gpt-4o rule; remote URLs assumed 1024x1024; skipped images cost 0); any other part by the
  compact JSON of the part;
- `tool_calls`, `function_call` and any other non-string value: the compact JSON (`separators=(",", ":")`,
  `ensure_ascii=False`) of the value;
- `weight` is metadata and is not counted. Messages with `weight: 0` are still counted (measured on live jobs);
- `parallel_tool_calls` is a flag and is not counted; RFT reference keys (anything besides `messages`/`tools`) are
  for the grader and are not counted.

Each example is capped at the model's training context (OpenAI truncates longer examples from the end and, as
the cookbook assumes, bills at most the cap).

DPO: OpenAI does not document how the two outputs are billed. Two bounds are returned:

- low  = tokens(input.messages + preferred + non_preferred), counted once, capped;
- high = tokens(input.messages + preferred) + tokens(input.messages + non_preferred), each capped.

The figure used everywhere (`tokens`, the report's `tokens_per_epoch`) is the **high** bound: conservative for
budgets. `tokens_low` keeps the low bound.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from ftsim.pricing.dataset.images import inspect_url

__all__ = ["ExampleTokens", "count_messages", "count_example", "TOKENS_PER_MESSAGE", "TOKENS_PER_NAME", "TOKENS_PER_EXAMPLE"]

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_EXAMPLE = 1  # measured on live jobs; the cookbook notebook adds 3


class Encoder(Protocol):
    """The part of `tiktoken.Encoding` the counter uses."""

    def encode_ordinary(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class ExampleTokens:
    """Billed tokens of one example: `tokens` (capped; DPO high bound), `tokens_low`, `raw` (uncapped)."""

    tokens: int
    tokens_low: int
    raw: int
    truncated: bool
    n_images: int = 0
    image_tokens: int = 0


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# Texts longer than this are encoded in pieces, so that the token list held at once stays small whatever the
# example. Pieces end just before a space, where the encodings' pre-tokenizer splits anyway: the count is the
# whole text's except in contrived cases (a piece with no space at all is cut hard).
_PIECE_CHARS = 256 * 1024


def _encoded_len(encode: Any, text: str) -> int:
    """len(encode(text)), in pieces for long texts."""
    if len(text) <= _PIECE_CHARS:
        return len(encode(text))
    total, start, size = 0, 0, len(text)
    while start < size:
        end = min(start + _PIECE_CHARS, size)
        if end < size:
            cut = text.rfind(" ", start + _PIECE_CHARS // 2, end)
            end = cut if cut > start else end
        total += len(encode(text[start:end]))
        start = end
    return total


_SHORT: dict[object, dict[str, int]] = {}  # token counts of short strings (roles, names), per encoder
_SHORT_MAX_LEN = 24
_SHORT_MAX_ENTRIES = 50_000


class _Counter:
    def __init__(self, enc: Encoder) -> None:
        self.encode = enc.encode_ordinary
        key = getattr(enc, "name", None) or id(enc)
        short = _SHORT.get(key)
        if short is None or len(short) >= _SHORT_MAX_ENTRIES:
            short = _SHORT[key] = {}
        self.short = short
        self.n_images = 0
        self.image_tokens = 0

    def string(self, value: str) -> int:
        if len(value) > _SHORT_MAX_LEN:
            return _encoded_len(self.encode, value)
        n = self.short.get(value)
        if n is None:
            n = self.short[value] = len(self.encode(value)) if value else 0
        return n

    def text(self, value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, str):
            return self.string(value)
        return _encoded_len(self.encode, _compact(value))

    def content(self, content: Any) -> int:
        if not isinstance(content, list):
            return self.text(content)
        total = 0
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                total += self.text(part["text"])
            elif isinstance(part, dict) and part.get("type") == "image_url" and isinstance(part.get("image_url"), dict):
                spec = part["image_url"]
                url = spec.get("url")
                ref = inspect_url(url, spec.get("detail", "auto")) if isinstance(url, str) else None
                if ref is not None and ref.problem is None:
                    self.n_images += 1
                    self.image_tokens += ref.tokens
                    total += ref.tokens
            else:
                total += self.text(part)
        return total

    def messages(self, messages: Any) -> int:
        total = 0
        if not isinstance(messages, list):
            return 0
        encode, short, max_len = self.encode, self.short, _SHORT_MAX_LEN
        for message in messages:
            if not isinstance(message, dict):
                continue
            total += TOKENS_PER_MESSAGE
            for key, value in message.items():
                if key == "weight":
                    continue
                if type(value) is str:  # the common case, inlined: `string(value)`
                    if len(value) > _PIECE_CHARS:
                        total += _encoded_len(encode, value)
                    elif len(value) > max_len:
                        total += len(encode(value))
                    else:
                        n = short.get(value)
                        if n is None:
                            n = short[value] = len(encode(value)) if value else 0
                        total += n
                elif key == "content":
                    total += self.content(value)
                else:
                    total += self.text(value)
                if key == "name":
                    total += TOKENS_PER_NAME
        return total

    def definitions(self, obj: Any) -> int:
        if not isinstance(obj, dict):
            return 0
        return sum(self.text(obj[key]) for key in ("tools", "functions") if key in obj)


def count_messages(messages: list[dict[str, Any]], enc: Encoder) -> int:
    """Billed count of a message list: 1 + 3 per message + tokens of every value + 1 per name."""
    return _Counter(enc).messages(messages) + TOKENS_PER_EXAMPLE


def count_example(obj: Any, method: str, enc: Encoder, context: int) -> ExampleTokens:
    """Billed tokens of one (validated) example under `method`, capped at `context`. Never raises on odd input."""
    counter = _Counter(enc)
    if method == "dpo" and isinstance(obj, dict):
        raw_input = obj.get("input")
        inp = raw_input if isinstance(raw_input, dict) else {}
        prompt = counter.messages(inp.get("messages")) + counter.definitions(inp) + TOKENS_PER_EXAMPLE
        preferred = counter.messages(obj.get("preferred_output"))
        rejected = counter.messages(obj.get("non_preferred_output"))
        first, second = prompt + preferred, prompt + rejected
        raw = first + second
        high = min(first, context) + min(second, context)
        low = min(prompt + preferred + rejected, context)
        truncated = first > context or second > context
        return ExampleTokens(high, low, raw, truncated, counter.n_images, counter.image_tokens)
    if not isinstance(obj, dict):
        return ExampleTokens(0, 0, 0, False)
    raw = counter.messages(obj.get("messages")) + TOKENS_PER_EXAMPLE
    if method != "reinforcement":
        raw += counter.definitions(obj)
    else:
        raw += counter.text(obj["tools"]) if "tools" in obj else 0
    capped = min(raw, context)
    return ExampleTokens(capped, capped, raw, raw > context, counter.n_images, counter.image_tokens)
