"""The deterministic "model" behind chat completions and responses.

- A tuned (or checkpoint) model *learned* its training file (SFT: each weighted assistant turn, text or tool
  calls, keyed by the messages before it; DPO: the `preferred_output`; RFT: the answer its grader rewards, when
  the grader compares the sample with an item field). A seen prompt gets its training answer exactly; an unseen
  one an answer in the training data's form, by the documented nearest-neighbour rules of `learned.py`.
- Anything else gets a reply derived from a sha256 of (model, conversation, seed): the same request always gets
  the same words (JSON-shaped when the prompt asks for JSON; in the form of the prompt's few-shot pairs when it
  has some).
- Usage is counted with the model's real tokenizer: prompt tokens by the cookbook chat convention (3 per
  message, +1 for a `name`, +3 to prime the reply), completion tokens = the reply's tokens.

Learned indexes are built lazily on a model's first call and cached per (tenant, training file, examples seen,
grader) in a small LRU (`LEARNED_CACHE_SIZE`), reading at most `MAX_LEARNED_EXAMPLES` examples of a file for exact
matches and indexing at most `learned.MAX_INDEXED` of them, so memory and time stay bounded whatever the file size.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

from ftsim.pricing.errors import EncodingUnavailable
from ftsim.pricing.dataset.images import inspect_url
from ftsim.pricing.dataset.tokenizer import get_encoding as _get_encoding
from ftsim.simulator.core.errors import NotFoundError, ServiceUnavailableError, SimulatorError
from ftsim.simulator.inference.learned import (
    Example, Learned, Reply, base_reply_json, data_factor, few_shot, skill_draw,
)
from ftsim.simulator.inference.models import ResolvedModel
from ftsim.simulator.inference.structured import json_reply
from ftsim.simulator.core.tenancy import Tenant
from ftsim.simulator.fine_tuning.types import JobRecord

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


def content_tokens(encoding: Any, content: Any, model: str | None = None) -> int:
    """Tokens of a message's content: its text, and each image by `model`'s image rule (gpt-4o's by default;
    gpt-4o-mini's own weights, `ftsim.pricing.dataset.images`)."""
    images = 0
    if isinstance(content, list):
        text_parts = []
        for part in content:
            image = _image_part(part)
            if image is None:
                text_parts.append(part)
                continue
            ref = inspect_url(*image, model=model)
            images += ref.tokens if ref.problem is None else 0
        content = text_parts
    return len(encoding.encode(message_text(content), disallowed_special=())) + images


def count_prompt_tokens(encoding: Any, messages: Iterable[dict[str, Any]], model: str | None = None) -> int:
    """Prompt tokens by the cookbook chat convention (3 per message, 1 per name, 3 for the reply), images included
    (by `model`'s image rule: the snapshot serving the call, a fine-tune by its base's)."""
    total = 3
    for message in messages:
        total += 3
        total += len(encoding.encode(str(message.get("role", "")), disallowed_special=()))
        total += content_tokens(encoding, message.get("content"), model)
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


def _examples(path: Path, limit: int, grader: Any = None) -> Iterable[tuple[Conversation, Reply]]:
    """(prompt, learned answer) pairs of the first `limit` lines of a JSONL training file (bad lines skipped)."""
    count = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if count >= min(limit, MAX_LEARNED_EXAMPLES):
                return
            if len(raw) > MAX_LINE_BYTES or not raw.strip():
                continue
            try:
                example = json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError):
                continue
            if not isinstance(example, dict):
                continue
            count += 1
            yield from _pairs(example, grader)


def _assistant_reply(message: dict[str, Any]) -> Optional[Reply]:
    """What an assistant message teaches: its text, or its tool calls (legacy `function_call` too)."""
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        out = []
        for call in calls:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                args = fn.get("arguments")
                out.append((fn["name"], args if isinstance(args, str) else json.dumps(args)))
        return Reply(tool_calls=tuple(out)) if out else None
    fn = message.get("function_call")
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        args = fn.get("arguments")
        return Reply(tool_calls=((fn["name"], args if isinstance(args, str) else json.dumps(args)),))
    answer = message_text(message.get("content"))
    return Reply(text=answer) if answer else None


def _pairs(example: dict[str, Any], grader: Any = None) -> Iterable[tuple[Conversation, Reply]]:
    messages = example.get("messages")
    if isinstance(messages, list):
        messages = [m for m in messages if isinstance(m, dict)]
        if grader is not None:  # RFT: the answer its grader rewards, when the grader says what that is
            reply = rft_target(grader, example)
            if reply is not None:
                yield normalize(messages), reply
            return
        for i, message in enumerate(messages):  # SFT chat format: each weighted assistant turn
            if message.get("role") == "assistant" and message.get("weight", 1) != 0 and i:
                reply = _assistant_reply(message)
                if reply is not None:
                    yield normalize(messages[:i]), reply
        return
    source = example.get("input")
    preferred = example.get("preferred_output")
    if isinstance(source, dict) and isinstance(source.get("messages"), list) and isinstance(preferred, list):  # DPO
        turns = [m for m in preferred if isinstance(m, dict)]
        reply = _assistant_reply(turns[-1]) if turns else None
        if reply is not None:
            yield normalize(m for m in source["messages"] if isinstance(m, dict)), reply


_ITEM_REF = re.compile(r"^\{\{\s*item\.([\w.]+)\s*\}\}$")
_SAMPLE_REF = re.compile(r"^\{\{\s*sample\.(output_text|output_json\.(\w+))\s*\}\}$")


def rft_target(grader: Any, item: dict[str, Any]) -> Optional[Reply]:
    """The answer an RFT grader rewards on a training item, when it compares the sample with an item field.

    `string_check` and `text_similarity` graders (alone or inside a `multi`) whose input is
    `{{sample.output_text}}` or `{{sample.output_json.<key>}}` and whose reference is `{{item.<path>}}` say what
    the best answer is; model-scored and python graders do not, and teach nothing here (an ASSUMPTION: the
    simulator cannot tell what such a grader rewards).
    """
    graders = list((grader.get("graders") or {}).values()) if grader.get("type") == "multi" else [grader]
    fields: dict[str, Any] = {}
    for g in graders:
        if not isinstance(g, dict) or g.get("type") not in ("string_check", "text_similarity"):
            continue
        sample = _SAMPLE_REF.match(str(g.get("input", "")).strip())
        ref = _ITEM_REF.match(str(g.get("reference", "")).strip())
        if not sample or not ref:
            continue
        value: Any = item
        for part in ref.group(1).split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if sample.group(2) is None:
            return Reply(text=text)
        fields[sample.group(2)] = value
    return Reply(text=json.dumps(fields, ensure_ascii=False)) if fields else None


@dataclass
class Answer:
    """A computed reply and its usage (`tool_calls[i]`: choice i's tool calls, `[{"id", "name", "arguments"}]`)."""

    model: ResolvedModel
    texts: list[str]
    finish_reasons: list[str]
    prompt_tokens: int
    completion_tokens: int
    learned: bool
    tool_calls: list[Optional[list[dict[str, str]]]] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        """Prompt + completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class _Tuned:
    """What a tuned model learned, and how reliably it applies it to unseen prompts."""

    learned: Learned
    skill: float
    seed: Any


def _tool_names(tools: Any) -> set[str]:
    """Function names offered by a request's `tools` (chat's nested form and the Responses API's flat form)."""
    names: set[str] = set()
    for tool in tools or []:
        if isinstance(tool, dict):
            nested = tool.get("function")
            fn: dict[str, Any] = nested if isinstance(nested, dict) else tool
            if isinstance(fn.get("name"), str):
                names.add(fn["name"])
    return names


class Inference:
    """Answers conversations for a backend's models (shared by the chat and responses services)."""

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend
        self._cache: OrderedDict[tuple[Any, ...], Learned] = OrderedDict()
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
        tools: Optional[list[Any]] = None,
    ) -> Answer:
        """The reply (n choices) of `model` to `messages`, with usage (404 model_not_found for bad models).

        Tuned models answer by `simulator/inference/learned.py`. `json_mode` (`{"schema": ...}`, see
        structured.py) makes a reply JSON fitting the schema (a learned JSON answer supplies the values it can); a
        seen prompt's training answer is returned as it was trained. Learned tool calls are made only when the
        request offers those functions in `tools`.
        """
        resolved = self.backend.models.resolve_for_inference(tenant, model)
        encoding = get_encoding(resolved.entry.tokenizer)
        conv = normalize(messages)
        reply, seen = self._reply(tenant, resolved, conv)
        offered = _tool_names(tools)
        texts: list[str] = []
        reasons: list[str] = []
        calls: list[Optional[list[dict[str, str]]]] = []
        completion = 0
        for index in range(n):
            choice_calls: Optional[list[dict[str, str]]] = None
            if reply is not None and reply.tool_calls and offered and {c[0] for c in reply.tool_calls} <= offered:
                choice_calls = [
                    {"id": "call_" + hashlib.sha256(json.dumps([model, conv, seed, index, k]).encode()).hexdigest()[:24],
                     "name": name, "arguments": args}
                    for k, (name, args) in enumerate(reply.tool_calls)
                ]
                text = ""
            elif reply is not None and reply.text is not None:
                text = reply.text
                if json_mode is not None and not seen:
                    digest = hashlib.sha256(json.dumps([model, conv, seed, index]).encode()).digest()
                    parsed = _json_or_none(text)
                    if json_mode.get("schema") is not None or not isinstance(parsed, dict):
                        text = json_reply(json_mode.get("schema"), digest, text, prefer=parsed)
            else:
                text = deterministic_reply(model, conv, seed, index)
                if json_mode is not None:
                    digest = hashlib.sha256(json.dumps([model, conv, seed, index]).encode()).digest()
                    text = json_reply(json_mode.get("schema"), digest, text)
                else:
                    text = base_reply_json(conv, text) or text
            if choice_calls is not None:
                completion += sum(len(encoding.encode(c["name"] + c["arguments"], disallowed_special=()))
                                  for c in choice_calls)
                texts.append(text)
                reasons.append("tool_calls")
                calls.append(choice_calls)
                continue
            tokens = encoding.encode(text, disallowed_special=())
            reason = "stop"
            if max_tokens is not None and len(tokens) > max_tokens:
                tokens = tokens[:max_tokens]
                text = encoding.decode(tokens)
                reason = "length"
            texts.append(text)
            reasons.append(reason)
            calls.append(None)
            completion += len(tokens)
        prompt = count_prompt_tokens(encoding, messages, resolved.entry.snapshot)
        return Answer(resolved, texts, reasons, prompt, completion, reply is not None and seen, calls)

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

    def _reply(self, tenant: Tenant, model: ResolvedModel, conv: Conversation) -> tuple[Optional[Reply], bool]:
        """(the learned reply or None for a generic one, whether the prompt was a seen training prompt)."""
        tuned = self._tuned(tenant, model) if model.tuned else None
        if tuned is not None:
            seen = tuned.learned.lookup(conv)
            if seen is not None:
                return seen, True
            if skill_draw(tuned.seed, model.id, conv) < tuned.skill:
                reply = tuned.learned.answer(conv)
                if reply is not None:
                    return reply, False
        shots = few_shot(conv)
        if shots is not None:
            return shots.answer(conv), False
        return None, False

    def _job(self, tenant: Tenant, record: dict[str, Any]) -> Optional[JobRecord]:
        for key in ("fine_tuning_job_id", "job_id", "fine_tuning_job"):
            job_id = record.get(key)
            if isinstance(job_id, str):
                row = self.backend.store.get("job", tenant.key, job_id)
                if row is not None:
                    try:
                        return JobRecord.from_row(row)
                    except (KeyError, TypeError, ValueError):  # unreadable (the catch-up fails such a job): no skill
                        return None
        return None

    def _tuned(self, tenant: Tenant, model: ResolvedModel) -> Optional[_Tuned]:
        """The tuned model's learned index, with the skill of its checkpoint (see learned.py, rule 5)."""
        record = model.record or {}
        rec = self._job(tenant, record)
        job, plan = (rec.job, rec.plan) if rec is not None else (None, None)
        file_id = record.get("training_file")
        if not isinstance(file_id, str):
            file_id = job.training_file if job else None
        if not isinstance(file_id, str):
            return None
        total = plan.total_steps if plan else None
        step = record.get("step_number")
        progress = 1.0
        limit = MAX_LEARNED_EXAMPLES
        if isinstance(total, int) and isinstance(step, int) and total > 0 and 0 < step < total:
            progress = step / total
        kind = job.method.type if job else None
        if isinstance(step, int) and progress < 1.0:  # a first-epoch checkpoint saw `step * batch_size` examples
            per_epoch = plan.steps_per_epoch if plan else None
            sub = getattr(job.method, job.method.type) if job else None
            batch = ((sub.hyperparameters if sub is not None else None) or {}).get("batch_size")
            if isinstance(per_epoch, int) and step < per_epoch and isinstance(batch, int) and batch > 0:
                limit = step * batch
        grader = None
        if job is not None and kind == "reinforcement":
            grader = job.method.grader()
            if not isinstance(grader, dict):
                return None
        learned = self._learned(tenant, file_id, limit, grader)
        if learned is None:
            return None
        skill = progress * data_factor(len(learned.examples))
        seed = job.seed if job else None
        return _Tuned(learned=learned, skill=skill, seed=seed)

    def _learned(self, tenant: Tenant, file_id: str, limit: int, grader: Any) -> Optional[Learned]:
        """The learned index of (the first `limit` examples of) a training file (LRU-cached).

        The cache only saves the parse: whether the file is still there is asked of the store every time, so that a
        deleted training file answers as it would after a restart (generically), however warm the cache was."""
        cache_key = (tenant.key, file_id, limit, json.dumps(grader, sort_keys=True) if grader else None)
        if not self.backend.store.exists("file", tenant.key, file_id):
            return None
        with self._lock:
            if cache_key in self._cache:
                self._cache.move_to_end(cache_key)
                return self._cache[cache_key]
        try:
            path = self.backend.files.content_path(tenant, file_id)
            learned = Learned([Example(conv=conv, reply=reply) for conv, reply in _examples(path, limit, grader)])
        except (NotFoundError, OSError):
            return None  # the training file is gone: the model answers generically (not cached)
        except SimulatorError:
            return None
        with self._lock:
            self._cache[cache_key] = learned
            while len(self._cache) > LEARNED_CACHE_SIZE:
                self._cache.popitem(last=False)
        return learned

    def reset(self) -> None:
        """Forget cached learned tables."""
        with self._lock:
            self._cache.clear()


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
