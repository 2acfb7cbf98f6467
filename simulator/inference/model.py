"""The deterministic "model" behind chat completions and responses.

- A tuned (or checkpoint) model *learned* its training file: a prompt that matches one of its training examples
  gets that example's assistant message (SFT: each assistant turn, keyed by the messages before it; DPO: the
  `preferred_output`). Matching tries, in order: the exact conversation (role + text), the conversation without
  system/developer messages, then the last user message alone.
- Anything else gets a reply derived from a sha256 of (model, conversation, seed): the same request always gets
  the same words.
- Usage is counted with the model's real tokenizer: prompt tokens by the cookbook chat convention (3 per
  message, +1 for a `name`, +3 to prime the reply), completion tokens = the reply's tokens.

Learned maps are cached per (tenant, training file) in a small LRU (`LEARNED_CACHE_SIZE` models), reading at most
`MAX_LEARNED_EXAMPLES` examples of a file, so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

from ftsim.pricing.errors import EncodingUnavailable
from ftsim.pricing.dataset.images import inspect_url
from ftsim.pricing.dataset.tokenizer import get_encoding as _get_encoding
from ftsim.simulator.core.errors import NotFoundError, ServiceUnavailableError, SimulatorError
from ftsim.simulator.inference.models import ResolvedModel
from ftsim.simulator.inference.structured import json_reply
from ftsim.simulator.core.tenancy import Tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend

__all__ = ["Answer", "Conversation", "Inference", "message_text", "normalize", "count_prompt_tokens", "content_tokens", "deterministic_reply"]

LEARNED_CACHE_SIZE = 16
MAX_LEARNED_EXAMPLES = 50_000
MAX_LINE_BYTES = 8 * 1024 * 1024

# (role, text) pairs: the part of a conversation a reply depends on.
Conversation = tuple[tuple[str, str], ...]

_WORDS = (
    "the model considers your request and answers with a short simulated reply that stays the same for the same "
    "prompt seed and model data training tuned example result value plan step cost token batch epoch check "
    "output input summary detail note point clear simple useful next first second final answer question idea "
    "offline local deterministic simulator response quality review signal pattern context"
).split()


def get_encoding(name: str) -> Any:
    """The tiktoken encoding `name`; 503 with the fix when its bundled file is missing or corrupt (never a bare 500)."""
    try:
        return _get_encoding(name)
    except EncodingUnavailable as exc:
        raise ServiceUnavailableError(f"Token counting is unavailable on this server: {exc}") from None


def message_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list (images as `[image]`, for lookups)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    pieces.append(text)
                elif part.get("type") in ("image_url", "input_image"):
                    pieces.append("[image]")
        return "".join(pieces)
    return str(content)


def normalize(messages: Iterable[dict[str, Any]]) -> Conversation:
    """(role, stripped text) of each message."""
    return tuple((str(m.get("role", "")), message_text(m.get("content")).strip()) for m in messages)


def _keys(conv: Conversation) -> list[Any]:
    """The lookup keys of a prompt, most specific first."""
    keys: list[Any] = [("exact", conv)]
    no_system = tuple(m for m in conv if m[0] not in ("system", "developer"))
    keys.append(("nosys", no_system))
    users = [text for role, text in conv if role == "user"]
    if users:
        keys.append(("last_user", users[-1]))
    return keys


def _image_part(part: Any) -> tuple[str, str] | None:
    """(url, detail) of an image content part: chat's `image_url` or the Responses API's `input_image`."""
    if not isinstance(part, dict):
        return None
    if part.get("type") == "image_url" and isinstance(part.get("image_url"), dict):
        spec = part["image_url"]
        url, detail = spec.get("url"), spec.get("detail")
    elif part.get("type") == "input_image":
        url, detail = part.get("image_url"), part.get("detail")
    else:
        return None
    return (url, detail if isinstance(detail, str) else "auto") if isinstance(url, str) else None


def content_tokens(encoding: Any, content: Any) -> int:
    """Tokens of a message's content: its text, and each image by the gpt-4o image rule (`ftsim.pricing.dataset.images`)."""
    images = 0
    if isinstance(content, list):
        text_parts = []
        for part in content:
            image = _image_part(part)
            if image is None:
                text_parts.append(part)
                continue
            ref = inspect_url(*image)
            images += ref.tokens if ref.problem is None else 0
        content = text_parts
    return len(encoding.encode(message_text(content), disallowed_special=())) + images


def count_prompt_tokens(encoding: Any, messages: Iterable[dict[str, Any]]) -> int:
    """Prompt tokens by the cookbook chat convention (3 per message, 1 per name, 3 for the reply), images included."""
    total = 3
    for message in messages:
        total += 3
        total += len(encoding.encode(str(message.get("role", "")), disallowed_special=()))
        total += content_tokens(encoding, message.get("content"))
        name = message.get("name")
        if isinstance(name, str) and name:
            total += 1 + len(encoding.encode(name, disallowed_special=()))
    return total


def deterministic_reply(model: str, conv: Conversation, seed: Optional[int], variant: int = 0) -> str:
    """A reply that depends only on (model, conversation, seed, variant)."""
    blob = json.dumps([model, conv, seed, variant], ensure_ascii=False).encode()
    digest = hashlib.sha256(blob).digest()
    stream = hashlib.sha256(digest + b"words").digest() * 4
    n = 12 + digest[0] % 24
    words = [_WORDS[b % len(_WORDS)] for b in stream[:n]]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def _examples(path: Path) -> Iterable[tuple[Conversation, str]]:
    """(prompt, learned answer) pairs of a JSONL training file (bad lines skipped)."""
    count = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if count >= MAX_LEARNED_EXAMPLES:
                return
            if len(raw) > MAX_LINE_BYTES or not raw.strip():
                continue
            try:
                example = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                continue
            if not isinstance(example, dict):
                continue
            count += 1
            yield from _pairs(example)


def _pairs(example: dict[str, Any]) -> Iterable[tuple[Conversation, str]]:
    messages = example.get("messages")
    if isinstance(messages, list):  # SFT chat format
        messages = [m for m in messages if isinstance(m, dict)]
        for i, message in enumerate(messages):
            if message.get("role") == "assistant" and message.get("weight", 1) != 0 and i:
                answer = message_text(message.get("content"))
                if answer:
                    yield normalize(messages[:i]), answer
        return
    source = example.get("input")
    preferred = example.get("preferred_output")
    if isinstance(source, dict) and isinstance(source.get("messages"), list) and isinstance(preferred, list):  # DPO
        answers = [message_text(m.get("content")) for m in preferred if isinstance(m, dict)]
        if answers and answers[-1]:
            yield normalize(m for m in source["messages"] if isinstance(m, dict)), answers[-1]


@dataclass
class Answer:
    """A computed reply and its usage."""

    model: ResolvedModel
    texts: list[str]
    finish_reasons: list[str]
    prompt_tokens: int
    completion_tokens: int
    learned: bool

    @property
    def total_tokens(self) -> int:
        """Prompt + completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class Inference:
    """Answers conversations for a backend's models (shared by the chat and responses services)."""

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend
        self._cache: OrderedDict[tuple[str, str], dict[Any, str]] = OrderedDict()
        self._lock = threading.Lock()

    def answer(
        self,
        tenant: Tenant,
        *,
        model: str,
        messages: list[dict[str, Any]],
        seed: Optional[int] = None,
        n: int = 1,
        max_tokens: Optional[int] = None,
        json_mode: Optional[dict[str, Any]] = None,
    ) -> Answer:
        """The reply (n choices) of `model` to `messages`, with usage (404 model_not_found for bad models).

        `json_mode` (`{"schema": ...}`, see simulator/structured.py) makes a generic reply JSON fitting the schema;
        a learned answer is returned as it was trained.
        """
        resolved = self.backend.models.resolve_for_inference(tenant, model)
        encoding = get_encoding(resolved.entry.tokenizer)
        conv = normalize(messages)
        learned = self._learned_reply(tenant, resolved, conv)
        texts, reasons, completion = [], [], 0
        for index in range(n):
            text = learned if learned is not None else deterministic_reply(model, conv, seed, index)
            if learned is None and json_mode is not None:
                digest = hashlib.sha256(json.dumps([model, conv, seed, index]).encode()).digest()
                text = json_reply(json_mode.get("schema"), digest, text)
            tokens = encoding.encode(text, disallowed_special=())
            reason = "stop"
            if max_tokens is not None and len(tokens) > max_tokens:
                tokens = tokens[:max_tokens]
                text = encoding.decode(tokens)
                reason = "length"
            texts.append(text)
            reasons.append(reason)
            completion += len(tokens)
        prompt = count_prompt_tokens(encoding, messages)
        return Answer(resolved, texts, reasons, prompt, completion, learned is not None)

    def pieces(self, model: ResolvedModel, text: str) -> list[str]:
        """The reply split into token-sized pieces for streaming (joined they give `text`)."""
        encoding = get_encoding(model.entry.tokenizer)
        out: list[str] = []
        pending: list[int] = []
        for token in encoding.encode(text, disallowed_special=()):
            pending.append(token)
            piece = encoding.decode(pending)
            if "\ufffd" not in piece:  # wait until a multi-byte character is complete
                out.append(piece)
                pending = []
        if pending:
            out.append(encoding.decode(pending))
        return out

    # -- learned data -------------------------------------------------------------------------------

    def _learned_reply(self, tenant: Tenant, model: ResolvedModel, conv: Conversation) -> Optional[str]:
        if not model.tuned:
            return None
        file_id = self._training_file(tenant, model)
        if not file_id:
            return None
        table = self._table(tenant, file_id)
        for key in _keys(conv):
            if key in table:
                return table[key]
        return None

    def _training_file(self, tenant: Tenant, model: ResolvedModel) -> Optional[str]:
        """The training file of a tuned model (from its record, else from its job)."""
        record = model.record or {}
        file_id = record.get("training_file")
        if isinstance(file_id, str):
            return file_id
        for key in ("job_id", "fine_tuning_job_id", "fine_tuning_job"):
            job_id = record.get(key)
            if isinstance(job_id, str):
                job = self.backend.store.get("job", tenant.key, job_id)
                if job and isinstance(job.get("training_file"), str):
                    return job["training_file"]
        return None

    def _table(self, tenant: Tenant, file_id: str) -> dict[Any, str]:
        """The learned lookup table of a training file (LRU-cached)."""
        cache_key = (tenant.key, file_id)
        with self._lock:
            if cache_key in self._cache:
                self._cache.move_to_end(cache_key)
                return self._cache[cache_key]
        table: dict[Any, str] = {}
        try:
            path = self.backend.files.content_path(tenant, file_id)
            for conv, answer in _examples(path):
                for key in _keys(conv):
                    table.setdefault(key, answer)
        except (NotFoundError, OSError):
            return {}  # the training file is gone: the model answers generically (not cached)
        except SimulatorError:
            return {}
        with self._lock:
            self._cache[cache_key] = table
            while len(self._cache) > LEARNED_CACHE_SIZE:
                self._cache.popitem(last=False)
        return table

    def reset(self) -> None:
        """Forget cached learned tables."""
        with self._lock:
            self._cache.clear()
