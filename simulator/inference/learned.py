"""What fine-tuning "taught" a simulated model: a nearest-neighbour stand-in learned from the training file.

No weights, nothing downloaded: a tuned model's behaviour is computed from its training examples at inference time
(the index is built lazily on the first call and cached per model, see `model.Inference`). The rules, in the order
they apply (README, "How the simulated model answers"):

1. **Seen prompts**: a prompt that matches a training example answers that example's answer exactly (matching
   tries the exact conversation, the conversation without system/developer messages, then the last user message).
2. **Similarity**: a prompt is the text of its messages, system prompt included (`role: text` lines: the other
   messages, then the last user message, each part at most `MAX_PROMPT_CHARS / 2` characters), as lower-cased
   words weighted by TF-IDF (`tf = 1 + ln(count)`, `idf = ln((1 + N) / (1 + df)) + 1`), keeping a prompt's
   `MAX_TERMS` heaviest words (ties: the larger word); similarity is the cosine of those unit vectors. The `K`
   most similar training examples are the prompt's neighbours (ties: the earlier line wins; with no shared word
   at all, the first lines of the file stand in).
3. **Classification-like data** (at most `MAX_LABELS` distinct answers and every answer used twice on average):
   the answer is the similarity-weighted vote of the neighbours' answers. The same vote decides each JSON field
   whose values form such a small set (e.g. `{"category": ...}`).
4. **Everything else** answers in the form of the most similar example: its JSON keys and types (or its text, or
   its tool calls), with **copied spans** replaced. A span of a training answer is copied when it also occurs in
   that example's prompt and looks like an entity (a token with a digit, `#` or `@` such as SKU-1234 or ORD-88,
   a date, a capitalised name) and fewer than `COMMON_SPAN_SHARE` of the training answers contain it. The new
   prompt's matching span has the same shape (letter runs, digit runs, punctuation; upper-case prefixes kept when
   the new prompt has such a span) and is chosen by the words just before it and by its order among such spans.
5. **Training progress**: an unseen prompt is answered in the learned form with probability `skill` (else as the
   base model would): `skill = progress * data_factor`, `progress = step / total_steps` of the checkpoint (1 for
   the final model), `data_factor = min(1, 0.5 + examples / 200)`. The draw is a sha256 of (job seed, model,
   prompt), so it is the same on every call. A checkpoint also indexes only the examples seen by its step
   (`ceil(N * step / steps_per_epoch)` during the first epoch).
6. **Few-shot**: a base model (or a tuned one meeting a prompt its data never covered) given at least two
   user/assistant example pairs in the prompt answers the last user message from those pairs by the same rules.

What this cannot tell a team: whether a real model would get the *content* right. Answers are assembled from
training answers, so a held-out prompt whose right answer is not a copied span, a voted label or a training
answer gets a well-formed but possibly wrong answer, exactly as the nearest example would have it.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Optional

__all__ = [
    "Learned",
    "Reply",
    "Example",
    "MAX_INDEXED",
    "MAX_PROMPT_CHARS",
    "base_reply_json",
    "few_shot",
    "skill_draw",
]

MAX_INDEXED = 2_000  # training examples indexed per model (the rest of a file is not learned beyond exact matches)
MAX_PROMPT_CHARS = 2_000  # of each prompt, for similarity and span copying
MAX_TERMS = 48  # the highest-weighted terms kept per prompt vector (bounds the index and each lookup)
K = 7  # neighbours that vote
MAX_LABELS = 32
COMMON_SPAN_SHARE = 0.2
MAX_JSON_DEPTH = 8

Conversation = tuple[tuple[str, str], ...]

_WORD = re.compile(r"\w+")
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_SPAN = re.compile(
    rf"(?P<date>{_MONTH}\s\d{{1,2}}(?:st|nd|rd|th)?,?\s\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})"
    r"|(?P<name>[A-Z][a-z']+(?: [A-Z][a-z']+)*)(?![\w-])"
    r"|(?P<token>#?[A-Za-z0-9]+(?:[-_/.:@][A-Za-z0-9]+)*)"
)
_SHAPE_PART = re.compile(r"(?P<cap>[A-Z][a-z']+)|(?P<upper>[A-Z]+)|(?P<lower>[a-z]+)|(?P<digit>\d+)|(?P<space>\s+)|(?P<other>.)")
# Capitalised words that start sentences rather than name things (never treated as copied names).
_NOT_NAMES = frozenset(
    "A An And Are As At But By Can Could Dear Do For From Good He Hello Hi How I If In Is It Its May My No Not Of On "
    "Our Please She So Sorry Sure Thank Thanks That The Their There These They This To We What When Where Which Who "
    "Why Will With Yes You Your".split()
)


@dataclass(frozen=True)
class Reply:
    """A learned answer: text, or tool calls (`[{"name", "arguments"}]`, arguments a JSON text)."""

    text: Optional[str] = None
    tool_calls: Optional[tuple[tuple[str, str], ...]] = None


@dataclass
class Example:
    """One training pair, as the index sees it."""

    conv: Conversation
    reply: Reply
    prompt: str = ""
    user: str = ""
    value: Any = None  # the parsed JSON answer (object or array), or None for plain text / tool calls
    calls: Optional[list[tuple[str, Any]]] = None  # tool calls with parsed arguments


def flatten(conv: Conversation) -> str:
    """The prompt's text for similarity: the other messages' `role: text` lines, then the last user message.

    Each half is capped at `MAX_PROMPT_CHARS // 2` characters, so a long system prompt never hides the question.
    """
    half = MAX_PROMPT_CHARS // 2
    last = max((k for k, (role, _) in enumerate(conv) if role == "user"), default=None)
    context = "\n".join(f"{role}: {text[:half]}" for k, (role, text) in enumerate(conv)
                        if role != "assistant" and k != last)[:half]
    question = f"user: {conv[last][1]}"[:half] if last is not None else ""
    return f"{context}\n{question}" if context and question else context or question


def last_user(conv: Conversation) -> str:
    """The last user message (where copied spans are looked for first), capped."""
    for role, text in reversed(conv):
        if role == "user":
            return text[:MAX_PROMPT_CHARS]
    return ""


def terms(text: str) -> Counter:
    """Lower-cased words and their counts."""
    return Counter(_WORD.findall(text.lower()))


def _parse_json(text: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, (dict, list)) else None


def _dump_like(value: Any, original: str) -> str:
    """JSON text in the spacing style of the training answer it was adapted from."""
    if '": ' in original or ", " in original:
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _paths(value: Any, path: tuple = (), depth: int = 0) -> Iterable[tuple[tuple, Any]]:
    """(path, scalar) leaves of a JSON value; list items share the path `[]`."""
    if depth > MAX_JSON_DEPTH:
        return
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _paths(sub, path + (key,), depth + 1)
    elif isinstance(value, list):
        for sub in value:
            yield from _paths(sub, path + ("[]",), depth + 1)
    else:
        yield path, value


def _is_label_set(values: list[Any]) -> bool:
    """A small set of answers, each used twice on average: classification-like."""
    distinct = {json.dumps(v, sort_keys=True) for v in values}
    return len(values) >= 4 and len(distinct) <= MAX_LABELS and 2 * len(distinct) <= len(values)


def shape(span: str, strict: bool) -> str:
    """A regex for spans shaped like `span`: strict keeps upper-case prefixes such as `SKU`, loose does not."""
    out = []
    for m in _SHAPE_PART.finditer(span):
        kind = m.lastgroup
        text = m.group()
        if kind == "cap":
            out.append("[A-Z][a-z']+")
        elif kind == "upper":
            out.append(re.escape(text) if strict and len(text) >= 2 else "[A-Z]+")
        elif kind == "lower":
            out.append("[a-z]+")
        elif kind == "digit":
            out.append(r"\d+")
        elif kind == "space":
            out.append(r"\s+")
        else:
            out.append(re.escape(text))
    return r"(?<![\w#@])" + "".join(out) + r"(?![\w@]|[-/.:][A-Za-z0-9])"


def _context(text: str, start: int) -> set[str]:
    """The (up to 3) lower-cased words just before a position."""
    return set(_WORD.findall(text[max(0, start - 60):start].lower())[-3:])


def entity_spans(text: str) -> list[str]:
    """The entity-like spans of an answer (candidates for copying), in order."""
    out = []
    for m in _SPAN.finditer(text):
        span = m.group()
        if m.lastgroup == "name":
            words = span.split(" ")
            while words and words[0] in _NOT_NAMES:
                words.pop(0)
            span = " ".join(words)
            if not span:
                continue
        elif m.lastgroup == "token" and not any(c.isdigit() or c in "#@" for c in span):
            continue
        out.append(span)
    return out


class Learned:
    """The index of one training file (or of a prompt's few-shot pairs)."""

    def __init__(self, examples: list[Example]) -> None:
        self.examples = examples[:MAX_INDEXED]
        self.exact: dict[Any, Reply] = {}
        for ex in examples:
            for key in lookup_keys(ex.conv):
                self.exact.setdefault(key, ex.reply)
        n = len(self.examples)
        df: Counter = Counter()
        vectors = []
        for ex in self.examples:
            ex.prompt = flatten(ex.conv)
            ex.user = last_user(ex.conv)
            tf = terms(ex.prompt)
            vectors.append(tf)
            df.update(tf.keys())
            text = ex.reply.text
            if text is not None:
                ex.value = _parse_json(text)
            if ex.reply.tool_calls:
                ex.calls = [(name, parsed if (parsed := _parse_json(args)) is not None else args)
                            for name, args in ex.reply.tool_calls]
        self.idf = {t: math.log((1 + n) / (1 + c)) + 1 for t, c in df.items()}
        self.postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, tf in enumerate(vectors):
            for t, w in self._vector(tf).items():
                self.postings[t].append((i, w))
        # Which answers are labels, which JSON fields are labels, which spans are common (not copied).
        texts = [ex.reply.text for ex in self.examples if ex.reply.text is not None]
        self.labels = bool(texts) and len(texts) == n and _is_label_set(texts)
        by_path: dict[tuple, list[Any]] = defaultdict(list)
        for ex in self.examples:
            for value in self._json_values(ex):
                for path, leaf in _paths(value):
                    if isinstance(leaf, (str, int, float, bool)) or leaf is None:
                        by_path[path].append(leaf)
        self.label_paths = {p for p, vals in by_path.items() if _is_label_set(vals)}
        span_df: Counter = Counter()
        for ex in self.examples:
            for text in self._answer_texts(ex):
                span_df.update(set(entity_spans(text)))
        self.common = {s for s, c in span_df.items() if n >= 5 and c > COMMON_SPAN_SHARE * n}

    @staticmethod
    def _json_values(ex: Example) -> list[Any]:
        if ex.value is not None:
            return [ex.value]
        return [args for _, args in ex.calls or [] if isinstance(args, (dict, list))]

    @staticmethod
    def _answer_texts(ex: Example) -> list[str]:
        if ex.reply.text is not None:
            return [ex.reply.text]
        return [args for _, args in ex.reply.tool_calls or []]

    def _vector(self, tf: Counter) -> dict[str, float]:
        """The unit TF-IDF vector of a prompt's terms, cut to its `MAX_TERMS` heaviest (ties: the larger word)."""
        idf = self.idf
        weights = [((1 + math.log(c)) * idf[t], t) for t, c in tf.items() if t in idf]
        kept = [(t, w) for w, t in heapq.nlargest(MAX_TERMS, weights)] if len(weights) > MAX_TERMS else \
            [(t, w) for w, t in weights]
        norm = math.sqrt(sum(w * w for _, w in kept)) or 1.0
        return {t: w / norm for t, w in kept}

    # -- answering --------------------------------------------------------------------------------------------

    def lookup(self, conv: Conversation) -> Optional[Reply]:
        """The exact training answer of a seen prompt."""
        for key in lookup_keys(conv):
            if key in self.exact:
                return self.exact[key]
        return None

    def neighbours(self, prompt: str) -> list[tuple[int, float]]:
        """The K most similar examples as (index, cosine), best first, earlier lines first on ties."""
        scores: dict[int, float] = defaultdict(float)
        for t, w in self._vector(terms(prompt)).items():
            for i, v in self.postings.get(t, ()):
                scores[i] += v * w
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:K]
        if not ranked:
            ranked = [(i, 0.0) for i in range(min(K, len(self.examples)))]
        return ranked

    def answer(self, conv: Conversation) -> Optional[Reply]:
        """The learned answer of an unseen prompt (None when nothing was learned)."""
        if not self.examples:
            return None
        prompt = flatten(conv)
        near = self.neighbours(prompt)
        if self.labels:
            return Reply(text=self._vote([(self.examples[i].reply.text, s) for i, s in near]))
        best = self.examples[near[0][0]]
        query = _Query(prompt=prompt, user=last_user(conv))
        if best.calls is not None:
            calls = []
            for name, args in best.calls:
                original = args if isinstance(args, str) else json.dumps(args)
                if isinstance(args, (dict, list)):
                    adapted = self._adapt(args, (), best, query, near, 0)
                    calls.append((name, json.dumps(adapted, ensure_ascii=False)))
                else:
                    calls.append((name, self._adapt_text(original, best, query)))
            return Reply(tool_calls=tuple(calls))
        text = best.reply.text or ""
        if best.value is not None:
            return Reply(text=_dump_like(self._adapt(best.value, (), best, query, near, 0), text))
        return Reply(text=self._adapt_text(text, best, query))

    @staticmethod
    def _vote(candidates: list[tuple[Any, float]]) -> Any:
        """Similarity-weighted vote; ties go to the label of the better-ranked neighbour."""
        tally: dict[str, float] = defaultdict(float)
        first: dict[str, int] = {}
        values: dict[str, Any] = {}
        for rank, (value, score) in enumerate(candidates):
            key = json.dumps(value, sort_keys=True)
            tally[key] += score + 1e-9
            first.setdefault(key, rank)
            values[key] = value
        winner = max(tally, key=lambda k: (tally[k], -first[k]))
        return values[winner]

    def _adapt(self, value: Any, path: tuple, ex: Example, query: "_Query", near: list[tuple[int, float]],
               depth: int) -> Any:
        if depth > MAX_JSON_DEPTH:
            return value
        if isinstance(value, dict):
            return {k: self._adapt(v, path + (k,), ex, query, near, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self._adapt(v, path + ("[]",), ex, query, near, depth + 1) for v in value]
        if path in self.label_paths:
            votes = []
            for i, score in near:
                for v in self._json_values(self.examples[i]):
                    votes += [(leaf, score) for p, leaf in _paths(v) if p == path][:1]
            return self._vote(votes) if votes else value
        if isinstance(value, str):
            return self._adapt_text(value, ex, query)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            copied = self._adapt_text(str(value), ex, query)
            try:
                return type(value)(copied)
            except ValueError:
                return value
        return value

    def _adapt_text(self, text: str, ex: Example, query: "_Query") -> str:
        """`text` with the spans it copied from its example's prompt replaced by the new prompt's matching spans."""
        out = text
        done: set[str] = set()
        for span in entity_spans(text):
            if span in done or span in self.common or (span not in ex.user and span not in ex.prompt):
                continue
            done.add(span)
            found = corresponding(span, ex, query)
            if found is not None and found != span:
                out = re.sub(r"(?<![\w#@])" + re.escape(span) + r"(?![\w@])", lambda _m: found, out)
        return out


@dataclass
class _Query:
    prompt: str
    user: str


def corresponding(span: str, ex: Example, query: _Query) -> Optional[str]:
    """The span of the new prompt that plays the part `span` played in the example's prompt."""
    in_user = span in ex.user
    source, target = (ex.user, query.user) if in_user else (ex.prompt, query.prompt)
    for strict in (True, False):
        pattern = re.compile(shape(span, strict))
        old = [m for m in pattern.finditer(source)]
        where = next((k for k, m in enumerate(old) if m.group() == span), None)
        if where is None:
            continue
        context = _context(source, old[where].start())
        new = list(pattern.finditer(target))
        if not new:
            continue
        best = max(range(len(new)), key=lambda k: (len(context & _context(target, new[k].start())),
                                                   -abs(k - where), -k))
        return new[best].group()
    return None


def lookup_keys(conv: Conversation) -> list[Any]:
    """The lookup keys of a prompt, most specific first."""
    keys: list[Any] = [("exact", conv)]
    no_system = tuple(m for m in conv if m[0] not in ("system", "developer"))
    keys.append(("nosys", no_system))
    users = [text for role, text in conv if role == "user"]
    if users:
        keys.append(("last_user", users[-1]))
    return keys


def skill_draw(seed: Any, model: str, conv: Conversation) -> float:
    """A uniform number in [0, 1) fixed by (job seed, model, prompt): below `skill` the learned form is used."""
    blob = json.dumps([seed, model, conv], ensure_ascii=False).encode()
    return int.from_bytes(hashlib.sha256(b"skill" + blob).digest()[:8], "big") / 2**64


def data_factor(examples: int) -> float:
    """How reliably a model learned its form from `examples` training pairs (1 from 100 on)."""
    return min(1.0, 0.5 + examples / 200)


def few_shot(conv: Conversation) -> Optional[Learned]:
    """The prompt's own example pairs (at least two user -> assistant turns before the last user message)."""
    if not conv or conv[-1][0] != "user":
        return None
    system = tuple(m for m in conv if m[0] in ("system", "developer"))
    examples = []
    for k in range(len(conv) - 2):
        if conv[k][0] == "user" and conv[k + 1][0] == "assistant" and conv[k + 1][1]:
            examples.append(Example(conv=system + (conv[k],), reply=Reply(text=conv[k + 1][1])))
    if len(examples) < 2:
        return None
    learned = Learned(examples)
    learned.exact = {}  # the prompt's own pairs are context, not memorised training answers
    return learned


def base_reply_json(conv: Conversation, text: str) -> Optional[str]:
    """A base model asked for JSON: the keys of a JSON object the prompt shows, else `{"response": text}`.

    None when the prompt does not mention JSON. The base model knows only what the prompt gives it: an example
    object's keys (with the example's own values), never a task's learned keys or labels.
    """
    prompt = "\n".join(t for r, t in conv if r != "assistant")[:MAX_PROMPT_CHARS]
    if "json" not in prompt.lower():
        return None
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", prompt):
        try:
            value, _ = decoder.raw_decode(prompt, m.start())
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict) and value:
            return json.dumps(value, ensure_ascii=False)
    return json.dumps({"response": text}, ensure_ascii=False)
