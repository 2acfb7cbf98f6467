"""Text similarity metrics of the `text_similarity` grader, pure and deterministic.

Tokens are lower-cased runs of letters and digits. Faithfulness to the live grader (which uses third-party
libraries and, for `cosine`, embeddings) varies; the approximations are documented per metric:

- `fuzzy_match`: 2·LCS/(len(a)+len(b)) over the characters of the raw strings, which is rapidfuzz's `ratio`
  (the live grader's library) divided by 100.
- `bleu`: sentence BLEU, 1..4-grams, geometric mean with +1 smoothing for n > 1 and the brevity penalty
  (live: nltk sentence_bleu; equal without smoothing when every n-gram order matches).
- `gleu`: Google-BLEU, min(precision, recall) over all 1..4-grams (nltk sentence_gleu's definition).
- `meteor`: exact unigram matches only (no stemming or synonyms): Fmean = 10PR/(R+9P) with the fragmentation
  penalty 0.5·(chunks/matches)^3 (approximation of nltk meteor_score).
- `rouge_1`..`rouge_5`: n-gram overlap F1; `rouge_l`: longest-common-subsequence F1 (rouge-score's definitions,
  without stemming).
- `cosine`: cosine of term-frequency vectors (APPROXIMATION: live compares embeddings).

Work is bounded: every metric is linear in its inputs except the two longest-common-subsequence ones
(`fuzzy_match` on characters, `rouge_l` on tokens), which run the bit-parallel LCS: one pass over the longer
sequence with a handful of big-integer operations per element, O(n·m/word size). The graders cap each side at
`MAX_METRIC_CHARS` characters, which keeps the worst case well under a second (`make bench`, graders).
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from typing import Hashable, Sequence

__all__ = ["METRICS", "MAX_METRIC_CHARS", "similarity", "tokens", "lcs_length"]

METRICS = (
    "cosine", "fuzzy_match", "bleu", "gleu", "meteor",
    "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l",
)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
# The live API documents no size limit for text_similarity inputs (reference §4.3 is silent); 32 Ki characters per
# side is ftsim's own bound, chosen so that the slowest metric (fuzzy_match's character LCS) stays well under 1 s.
MAX_METRIC_CHARS = 32_768


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return _TOKEN.findall(text.lower())


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def rouge_n(hyp: list[str], ref: list[str], n: int) -> float:
    """ROUGE-N F1."""
    h, r = _ngrams(hyp, n), _ngrams(ref, n)
    if not h or not r:
        return 0.0
    overlap = sum((h & r).values())
    return _f1(overlap / sum(h.values()), overlap / sum(r.values()))


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence of `a` and `b` (bit-parallel: one pass over the longer one).

    Bit i of `v` is 1 while b[i] is not yet matched in the LCS table's current row; per element of `a` the row
    is updated with one addition, one subtraction and three bitwise operations on len(b)-bit integers.
    """
    if len(a) < len(b):
        a, b = b, a
    masks: dict[Hashable, int] = {}
    for i, element in enumerate(b):
        masks[element] = masks.get(element, 0) | (1 << i)
    full = (1 << len(b)) - 1
    v = full
    for element in a:
        match = masks.get(element)
        if match is None:
            continue
        u = v & match
        v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


def rouge_l(hyp: list[str], ref: list[str]) -> float:
    """ROUGE-L F1 (longest common subsequence)."""
    if not hyp or not ref:
        return 0.0
    lcs = lcs_length(hyp, ref)
    return _f1(lcs / len(hyp), lcs / len(ref))


def bleu(hyp: list[str], ref: list[str], max_n: int = 4) -> float:
    """Sentence BLEU with +1 smoothing above unigrams and the brevity penalty."""
    if not hyp or not ref:
        return 0.0
    logs = []
    for n in range(1, max_n + 1):
        h, r = _ngrams(hyp, n), _ngrams(ref, n)
        total = sum(h.values())
        match = sum((h & r).values())
        if n == 1:
            if match == 0:
                return 0.0
            logs.append(math.log(match / total))
        else:
            logs.append(math.log((match + 1) / (total + 1)))
    bp = 1.0 if len(hyp) > len(ref) else math.exp(1 - len(ref) / len(hyp))
    return bp * math.exp(sum(logs) / max_n)


def gleu(hyp: list[str], ref: list[str], max_n: int = 4) -> float:
    """Google-BLEU: min(precision, recall) over all 1..max_n grams."""
    h: Counter = Counter()
    r: Counter = Counter()
    for n in range(1, max_n + 1):
        h += _ngrams(hyp, n)
        r += _ngrams(ref, n)
    if not h or not r:
        return 0.0
    match = sum((h & r).values())
    return min(match / sum(h.values()), match / sum(r.values()))


def meteor(hyp: list[str], ref: list[str]) -> float:
    """METEOR with exact unigram matching only."""
    if not hyp or not ref:
        return 0.0
    # each hypothesis word takes the first still unused position of the same word in the reference
    positions: dict[str, deque[int]] = {}
    for j, word in enumerate(ref):
        positions.setdefault(word, deque()).append(j)
    alignment: list[int] = []
    for word in hyp:
        free = positions.get(word)
        alignment.append(free.popleft() if free else -1)
    matches = sum(1 for j in alignment if j >= 0)
    if matches == 0:
        return 0.0
    p, r = matches / len(hyp), matches / len(ref)
    fmean = 10 * p * r / (r + 9 * p)
    chunks, prev = 0, None
    for j in alignment:
        if j >= 0 and (prev is None or j != prev + 1):
            chunks += 1
        prev = j if j >= 0 else None
    return fmean * (1 - 0.5 * (chunks / matches) ** 3)


def cosine(hyp: list[str], ref: list[str]) -> float:
    """Cosine of term-frequency vectors."""
    h, r = Counter(hyp), Counter(ref)
    dot = sum(h[w] * r[w] for w in h)
    norm = math.sqrt(sum(v * v for v in h.values())) * math.sqrt(sum(v * v for v in r.values()))
    return 0.0 if norm == 0 else dot / norm


def similarity(metric: str, text: str, reference: str) -> float:
    """The score in [0, 1] of `text` against `reference` under `metric` (ValueError for an unknown metric)."""
    if metric == "fuzzy_match":
        total = len(text) + len(reference)
        return 1.0 if total == 0 else 2 * lcs_length(text, reference) / total
    hyp, ref = tokens(text), tokens(reference)
    if metric == "bleu":
        return bleu(hyp, ref)
    if metric == "gleu":
        return gleu(hyp, ref)
    if metric == "meteor":
        return meteor(hyp, ref)
    if metric == "cosine":
        return cosine(hyp, ref)
    if metric == "rouge_l":
        return rouge_l(hyp, ref)
    if metric.startswith("rouge_") and metric[6:].isdigit() and 1 <= int(metric[6:]) <= 5:
        return rouge_n(hyp, ref, int(metric[6:]))
    raise ValueError(f"unknown evaluation_metric {metric!r}")
