"""The duration model: how long each phase of a simulated fine-tuning job lasts.

Everything here is a pure function of its arguments (sizes, token counts, the job's seed); no clock, no global
random. The constants are calibrated on two recorded jobs:

* R-QTRAN, gpt-4o-mini-2024-07-18, 80 examples of about 1,265 billed tokens, batch 1, 3 epochs = 240 steps:
  files validated at t0+47 s, training started at t0+50 s, last step at t0+785 s (about 3.06 s a step),
  "New fine-tuned model created" 10 s after the last step, "The job has successfully completed" 5 s after that,
  and `finished_at` 2 s before the "New fine-tuned model" event;
* ruby-openai's job on `sarcastic.jsonl` (fixtures/live), gpt-3.5-turbo-0613, 10 examples of about 51 tokens,
  10 epochs = 100 steps at batch 1: 367 s from create to finish, about 1.7 s a step once training ran.

A tiny batch costs about 1.6 s whatever its size (the gpt-3.5 job), the rest is tokens / tokens_per_second (the
gpt-4o-mini job then gives ~870 tokens/s; gpt-3.5-turbo 500). The gpt-3.5 job also spent about 190 s before
training; the phases below keep R-QTRAN's 50 s, the only job whose phases are all timed.

Phases (seconds):

* validation  = 40 + 5 per MB of training (+ validation) file + seeded jitter in [0, 8]
                (a small file: ~40-48 s, the real 47 s)
* queue       = 2 + seeded jitter in [0, 3] (the real 3 s); the same after a resume
* one step    = overhead + tokens_per_step / tokens_per_second
    - tokens_per_step = batch_size x tokens_per_epoch / n_examples (the billed tokens of one batch)
    - tokens_per_second: the catalog's `ModelEntry.tokens_per_second`, else `FALLBACK_TOKENS_PER_SECOND`
      by snapshot family, else 400
    - overhead: 1.6 s a step, DPO takes 2x the token time (a preferred and a non-preferred pass)
* reinforcement: the core training loop lasts exactly the planner's expected figure,
  `ftsim.pricing.costs.rft.estimate_duration(...).seconds_expected`, for the job's resolved n_epochs and batch_size, its
  compute_multiplier, reasoning_effort, eval_interval, eval_samples, grader kind and validation size (one duration
  model for `ftsim estimate` and the simulator); it is spread evenly over the steps (`rft_loop_seconds`,
  `loop_seconds`), so an o4-mini RFT run takes hours
  e.g. gpt-4o-mini (870 tok/s), ~1,265 tokens per example, batch 1 -> ~3.05 s a step;
  gpt-3.5-turbo (500 tok/s), ~51 tokens per example, batch 1 -> ~1.7 s a step;
  a 100-example gpt-4.1-mini job (3 epochs, 300 steps of ~100 tokens) -> ~1.7 s a step, under ten minutes in all.
* after the last step: `finished_at` at +8 s, checkpoint events and "New fine-tuned model created" at +10 s,
  "The job has successfully completed" (status succeeded) at +15 s.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from ftsim.pricing.costs.rft import estimate_duration

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
    "rft_grader_kind",
    "rft_loop_seconds",
    "loop_seconds",
]

FALLBACK_TOKENS_PER_SECOND: dict[str, int] = {  # the catalog's values (see its doc), for entries without one
    "gpt-4.1-nano": 1660,
    "gpt-4.1-mini": 830,
    "gpt-4.1": 310,
    "gpt-4o-mini": 870,
    "gpt-4o": 310,
    "gpt-4": 210,
    "gpt-3.5-turbo": 500,
    "o4-mini": 410,
    "davinci-002": 620,
    "babbage-002": 2070,
}
DEFAULT_TOKENS_PER_SECOND = 830

VALIDATION_BASE_S = 40.0
VALIDATION_PER_MB_S = 5.0
VALIDATION_JITTER_S = 8
QUEUE_BASE_S = 2.0
QUEUE_JITTER_S = 3
SFT_STEP_OVERHEAD_S = 1.6  # the gpt-3.5-turbo job's ~1.7 s steps of ~51 tokens
DPO_TOKEN_FACTOR = 2.0

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
    compute_multiplier: float = 1.0,  # kept for callers; token-billed steps do not depend on it
) -> float:
    """Duration of one optimisation step for `method` on a model training at `tps` tokens per second."""
    if tps <= 0:
        raise ValueError("tokens per second must be > 0")
    if method == "reinforcement":
        raise ValueError("reinforcement steps come from the planner's duration model: use rft_loop_seconds")
    tokens = max(0.0, float(tokens_per_step))
    factor = DPO_TOKEN_FACTOR if method == "dpo" else 1.0
    return SFT_STEP_OVERHEAD_S + factor * tokens / tps


def loop_seconds(steps: int, per_step: float) -> int:
    """Training-loop seconds after `steps` steps: the step clock of the lifecycle (ceil, float-safe)."""
    return max(0, math.ceil(steps * per_step - 1e-9))


def _grader_kind_of(grader: Any) -> str:
    kind = grader.get("type") if isinstance(grader, dict) else None
    if kind == "score_model":
        return "model"
    if kind == "python":
        return "python"
    if kind == "multi":
        subs = grader.get("graders")
        subs = subs.values() if isinstance(subs, dict) else subs if isinstance(subs, list) else []
        kinds = {_grader_kind_of(g) for g in subs}
        return "model" if "model" in kinds else "python" if "python" in kinds else "string"
    return "string"


def rft_grader_kind(grader: Any) -> str:
    """The planner's grader kind of a job's grader: score_model (or a multi holding one) is "model", else string."""
    return _grader_kind_of(grader)


def _hp_value(value: Any) -> Any:
    """A job hyperparameter as the planner takes it: "auto", an int, or a decimal string (never a float)."""
    if value in (None, "auto"):
        return "auto"
    if isinstance(value, float):
        return repr(value)
    return value


def rft_loop_seconds(hyperparameters: dict[str, Any], *, n_examples: int, n_validation: int, grader: Any) -> int:
    """Seconds of the core training loop of an RFT job: the planner's `estimate_duration(...).seconds_expected`."""
    hp = hyperparameters
    duration = estimate_duration(
        n_examples=n_examples,
        n_validation=n_validation,
        n_epochs=_hp_value(hp.get("n_epochs")),
        batch_size=_hp_value(hp.get("batch_size")),
        compute_multiplier=_hp_value(hp.get("compute_multiplier")),
        reasoning_effort=str(hp.get("reasoning_effort") or "default"),
        eval_interval=_hp_value(hp.get("eval_interval")),
        eval_samples=_hp_value(hp.get("eval_samples")),
        grader_kind=rft_grader_kind(grader),
    )
    return duration.seconds_expected
