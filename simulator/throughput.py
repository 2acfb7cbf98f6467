"""The duration model: how long each phase of a simulated fine-tuning job lasts.

Everything here is a pure function of its arguments (sizes, token counts, the job's seed); no clock, no global
random. The constants are calibrated on the one fully timed real job we have (R-QTRAN, gpt-4o-mini-2024-07-18,
80 examples, batch 1, 3 epochs = 240 steps): files validated at t0+47 s, training started at t0+50 s, last step
at t0+785 s (about 3 s a step), "New fine-tuned model created" 10 s after the last step, "The job has
successfully completed" 5 s after that, and `finished_at` 2 s before the "New fine-tuned model" event.

Phases (seconds):

* validation  = 40 + 5 per MB of training (+ validation) file + seeded jitter in [0, 8]
                (a small file: ~40-48 s, the real 47 s)
* queue       = 2 + seeded jitter in [0, 3] (the real 3 s); the same after a resume
* one step    = overhead + tokens_per_step / tokens_per_second
    - tokens_per_step = batch_size x tokens_per_epoch / n_examples (the billed tokens of one batch)
    - tokens_per_second: the catalog's `ModelEntry.tokens_per_second`, else `FALLBACK_TOKENS_PER_SECOND`
      by snapshot family, else 400
    - overhead: 0.2 s for supervised, DPO takes 2x the token time (a preferred and a non-preferred pass)
    - reinforcement: sampling and grading dominate: 45 s + 4 samples x tokens_per_step x compute_multiplier
      / tokens_per_second per step, so an o4-mini RFT run takes hours
  e.g. gpt-4o-mini (420 tok/s), ~1,200 tokens per example, batch 1 -> ~3.1 s a step;
  a 100-example gpt-4.1-mini job (3 epochs, 300 steps of ~100 tokens) -> ~0.5 s a step, a few minutes in all.
* after the last step: `finished_at` at +8 s, checkpoint events and "New fine-tuned model created" at +10 s,
  "The job has successfully completed" (status succeeded) at +15 s.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

__all__ = [
    "FALLBACK_TOKENS_PER_SECOND",
    "DEFAULT_TOKENS_PER_SECOND",
    "FINISHED_AFTER_LAST_STEP",
    "MODEL_CREATED_AFTER_LAST_STEP",
    "COMPLETED_AFTER_LAST_STEP",
    "jitter",
    "tokens_per_second",
    "validation_seconds",
    "queue_seconds",
    "seconds_per_step",
]

FALLBACK_TOKENS_PER_SECOND: dict[str, int] = {
    "gpt-4.1-nano": 800,
    "gpt-4.1-mini": 400,
    "gpt-4.1": 150,
    "gpt-4o-mini": 420,
    "gpt-4o": 150,
    "gpt-4": 100,
    "gpt-3.5-turbo": 500,
    "o4-mini": 200,
    "davinci-002": 300,
    "babbage-002": 1000,
}
DEFAULT_TOKENS_PER_SECOND = 400

VALIDATION_BASE_S = 40.0
VALIDATION_PER_MB_S = 5.0
VALIDATION_JITTER_S = 8
QUEUE_BASE_S = 2.0
QUEUE_JITTER_S = 3
SFT_STEP_OVERHEAD_S = 0.2
DPO_TOKEN_FACTOR = 2.0
RFT_STEP_OVERHEAD_S = 45.0
RFT_SAMPLES_PER_EXAMPLE = 4

FINISHED_AFTER_LAST_STEP = 8
MODEL_CREATED_AFTER_LAST_STEP = 10
COMPLETED_AFTER_LAST_STEP = 15


def jitter(seed: int, label: str, span: int) -> int:
    """A deterministic integer in [0, span] derived from (seed, label)."""
    if span <= 0:
        return 0
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (span + 1)


def tokens_per_second(snapshot: str, entry: Any = None) -> int:
    """Training throughput of a base model: the catalog's value, else the family table, else the default."""
    value = getattr(entry, "tokens_per_second", None)
    if isinstance(value, int) and value > 0:
        return value
    for family in sorted(FALLBACK_TOKENS_PER_SECOND, key=len, reverse=True):
        if snapshot == family or snapshot.startswith(family + "-"):
            return FALLBACK_TOKENS_PER_SECOND[family]
    return DEFAULT_TOKENS_PER_SECOND


def validation_seconds(file_bytes: int, seed: int) -> int:
    """Seconds spent in `validating_files` for files totalling `file_bytes`."""
    mb = max(0, file_bytes) / 1_000_000
    return int(VALIDATION_BASE_S + VALIDATION_PER_MB_S * mb) + jitter(seed, "validation", VALIDATION_JITTER_S)


def queue_seconds(seed: int, round_: int = 0) -> int:
    """Seconds spent in `queued` (round_ counts resumes, so each wait differs)."""
    return int(QUEUE_BASE_S) + jitter(seed, f"queue:{round_}", QUEUE_JITTER_S)


def seconds_per_step(
    *,
    method: str,
    tokens_per_step: float,
    tps: int,
    compute_multiplier: float = 1.0,
) -> float:
    """Duration of one optimisation step for `method` on a model training at `tps` tokens per second."""
    if tps <= 0:
        raise ValueError("tokens per second must be > 0")
    tokens = max(0.0, float(tokens_per_step))
    if method == "reinforcement":
        sampled = RFT_SAMPLES_PER_EXAMPLE * tokens * max(compute_multiplier, 1e-5)
        return RFT_STEP_OVERHEAD_S + sampled / tps
    factor = DPO_TOKEN_FACTOR if method == "dpo" else 1.0
    return SFT_STEP_OVERHEAD_S + factor * tokens / tps


def step_seconds_total(total_steps: int, per_step: float) -> int:
    """Whole seconds for `total_steps` steps (rounded up)."""
    return math.ceil(total_steps * per_step)
