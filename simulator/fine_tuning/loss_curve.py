"""Plausible, seeded training curves: the metrics of step s of a job are a pure function of (seed, s, total).

Supervised and DPO: `train_loss` decays exponentially from a seeded start (1.5-3.5) towards a seeded floor
(0.02-0.35) with multiplicative noise; `train_mean_token_accuracy` rises as the loss falls. With a validation
file, `valid_loss` (a little above the training loss) is evaluated every `VALID_EVERY` steps and at the last step,
and `full_valid_*` at each epoch end. Reinforcement: `train_mean_reward` rises from ~0.2 towards a seeded ceiling;
the event `data` has the fuller live shape of reference §3.2 (`usage`, `errors`, `scores`, `timing` sub-objects
per grader, reasoning and completion token means, model graders' token usage), with seeded plausible values and
`valid_*` figures only at full-validation steps (null elsewhere). One entry per grader (the sub-graders of a
`multi`, at most `MAX_GRADERS`), so the JSON stays small.

Supervised and DPO event `data` and checkpoint `metrics` hold raw floats (the live event data shows
`0.0531…`-long values); only the results CSV rounds to 5 decimals (`1,3.63265,0.5,,`). A checkpoint's `metrics`
with a validation file always carries `valid_loss` and `valid_mean_token_accuracy` and never `full_valid_*`
(recorded live checkpoints).
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from typing import Any

__all__ = ["VALID_EVERY", "MAX_GRADERS", "is_eval_step", "metrics_at", "reward_metrics_at", "reward_message",
           "round5", "csv_number", "results_csv", "checkpoint_metrics_at", "graders_of"]

VALID_EVERY = 10
MAX_GRADERS = 4
RFT_SAMPLES_PER_STEP = 4  # graded samples per training step in the usage counts (a plausible figure)
CSV_HEADER = "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"


def round5(x: float) -> float:
    """Round to 5 decimals (what the real CSV and metrics show)."""
    return round(float(x), 5)


def csv_number(x: float | None) -> str:
    """A CSV cell: 5 decimals without trailing zeros (`0.5`, `1.0`, `3.63265`), empty for None."""
    if x is None:
        return ""
    text = f"{round5(x):.5f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _rng(seed: int, label: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@functools.lru_cache(maxsize=8192)  # a step's draws are asked again by its event, the results file and replays
def _gauss(seed: int, label: str, sigma: float) -> float:
    """A deterministic normal draw (Box-Muller on a hash): cheap enough for every step of a large job."""
    digest = hashlib.blake2b(f"{seed}:{label}".encode(), digest_size=16).digest()
    u1 = (int.from_bytes(digest[:8], "big") + 1) / 2**64
    u2 = int.from_bytes(digest[8:], "big") / 2**64
    return sigma * math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)


@functools.lru_cache(maxsize=256)
def _shape(seed: int) -> tuple[float, float, float]:
    """(start loss, floor, decay rate) of one job."""
    r = _rng(seed, "shape")
    return r.uniform(1.5, 3.5), r.uniform(0.02, 0.35), r.uniform(3.0, 6.0)


def _loss(seed: int, step: int, total: int, label: str, offset: float = 0.0) -> float:
    start, floor, rate = _shape(seed)
    progress = step / max(total, 1)
    mean = floor + offset + (start - floor) * math.exp(-rate * progress)
    noise = _gauss(seed, f"{label}:{step}", 0.12)
    return max(1e-6, mean * math.exp(noise))


def _accuracy(seed: int, loss: float, step: int, label: str) -> float:
    start, _, _ = _shape(seed)
    base = 0.45 + 0.55 * (1.0 - min(loss, start) / start)
    noise = _gauss(seed, f"{label}-acc:{step}", 0.02)
    return min(1.0, max(0.0, base + noise))


def metrics_at(
    seed: int, step: int, total_steps: int, *, steps_per_epoch: int, has_validation: bool
) -> dict[str, Any]:
    """The metrics of step `step` (1-based) in the order of the real events' `data` keys."""
    if not 1 <= step <= total_steps:
        raise ValueError(f"step {step} outside 1..{total_steps}")
    train = _loss(seed, step, total_steps, "train")
    out: dict[str, Any] = {
        "step": step,
        "train_loss": train,
        "total_steps": total_steps,
        "train_mean_token_accuracy": _accuracy(seed, train, step, "train"),
    }
    if has_validation and (step % VALID_EVERY == 0 or step == total_steps):
        valid = _loss(seed, step, total_steps, "valid", offset=0.05)
        out["valid_loss"] = valid
        out["valid_mean_token_accuracy"] = _accuracy(seed, valid, step, "valid")
    if has_validation and steps_per_epoch > 0 and step % steps_per_epoch == 0:
        full = _loss(seed, step, total_steps, "full", offset=0.08)
        out["full_valid_loss"] = full
        out["full_valid_mean_token_accuracy"] = _accuracy(seed, full, step, "full")
    return out


def checkpoint_metrics_at(seed: int, step: int, total_steps: int, *, has_validation: bool) -> dict[str, Any]:
    """A supervised or DPO checkpoint's `metrics`: step, train_* and, with a validation file, valid_* (raw floats)."""
    train = _loss(seed, step, total_steps, "train")
    out: dict[str, Any] = {"step": step, "train_loss": train,
                           "train_mean_token_accuracy": _accuracy(seed, train, step, "train")}
    if has_validation:
        valid = _loss(seed, step, total_steps, "valid", offset=0.05)
        out["valid_loss"] = valid
        out["valid_mean_token_accuracy"] = _accuracy(seed, valid, step, "valid")
    return out


def graders_of(grader: Any) -> list[dict[str, Any]]:
    """[{name, type, model}] of a job's grader: itself, or the sub-graders of a multi (at most MAX_GRADERS)."""
    if not isinstance(grader, dict):
        return [{"name": "grader", "type": "string_check", "model": None}]
    if grader.get("type") == "multi":
        subs = grader.get("graders")
        items = list(subs.items()) if isinstance(subs, dict) else list(enumerate(subs or []))
        found = [{"name": str(g.get("name") or key), "type": str(g.get("type")), "model": g.get("model")}
                 for key, g in items if isinstance(g, dict)]
        if found:
            return found[:MAX_GRADERS]
    return [{"name": str(grader.get("name") or "grader"), "type": str(grader.get("type")), "model": grader.get("model")}]


def _clamp01(x: float) -> float:
    return min(1.0, max(0.0, x))


def is_eval_step(step: int, total_steps: int, eval_every: int) -> bool:
    """Whether an RFT step runs the full validation (every `eval_every` steps and the final step)."""
    return eval_every > 0 and (step % eval_every == 0 or step == total_steps)


def reward_metrics_at(
    seed: int, step: int, total_steps: int, *, eval_every: int, grader: Any = None, sec_per_step: float = 60.0
) -> dict[str, Any]:
    """Reinforcement metrics of step `step` in the live key order: rewards rising, validation at eval steps."""
    if not 1 <= step <= total_steps:
        raise ValueError(f"step {step} outside 1..{total_steps}")
    ceiling = _rng(seed, "reward").uniform(0.6, 0.95)
    progress = step / max(total_steps, 1)
    mean = 0.2 + (ceiling - 0.2) * (1 - math.exp(-4 * progress))
    train = _clamp01(mean + _gauss(seed, f"reward:{step}", 0.03))
    is_eval = is_eval_step(step, total_steps, eval_every)
    valid = round5(_clamp01(mean + _gauss(seed, f"vreward:{step}", 0.03))) if is_eval else None
    graders = graders_of(grader)
    reasoning = 250.0 + _rng(seed, "reasoning").uniform(200, 900) * (1.0 - 0.3 * progress)
    reasoning *= math.exp(_gauss(seed, f"rt:{step}", 0.05))
    v_reasoning = round(reasoning * 1.02, 1) if is_eval else None
    n_valid = RFT_SAMPLES_PER_STEP * 2 if is_eval else 0

    def per_grader(i: int, g: dict[str, Any]) -> tuple[float, float | None]:
        if len(graders) == 1:
            return round5(train), valid
        t = round5(_clamp01(train + _gauss(seed, f"g{i}:{step}", 0.05)))
        return t, (round5(_clamp01(valid + _gauss(seed, f"vg{i}:{step}", 0.05))) if valid is not None else None)

    rewards = [per_grader(i, g) for i, g in enumerate(graders)]
    usage, errors, scores, latency = [], [], [], []
    model_usage: dict[str, Any] = {}
    for g, (t, v) in zip(graders, rewards):
        is_model = g["type"] in ("score_model", "label_model")  # graders that call a model use tokens
        prompt = round(300.0 + _rng(seed, f"gp:{g['name']}").uniform(0, 400), 1) if is_model else 0.0
        completion = round(20.0 + _rng(seed, f"gc:{g['name']}").uniform(0, 60), 1) if is_model else 0.0
        head = {"name": g["name"], "type": g["type"]}
        usage.append({**head, "model": g["model"] if is_model else None,
                      "train_prompt_tokens_mean": prompt, "train_prompt_tokens_count": RFT_SAMPLES_PER_STEP,
                      "train_completion_tokens_mean": completion, "train_completion_tokens_count": RFT_SAMPLES_PER_STEP,
                      "valid_prompt_tokens_mean": prompt if is_eval else None, "valid_prompt_tokens_count": n_valid,
                      "valid_completion_tokens_mean": completion if is_eval else None,
                      "valid_completion_tokens_count": n_valid})
        err: dict[str, Any] = dict(head)
        for split in ("train", "valid"):
            for kind in ("other_error", "sample_parse_error", "invalid_variable_error"):
                err[f"{split}_{kind}_mean"] = 0.0 if split == "train" or is_eval else None
                err[f"{split}_{kind}_count"] = 0
        errors.append(err)
        scores.append({**head, "train_reward_mean": t, "valid_reward_mean": v})
        lat = round(0.4 + (2.5 if is_model else 0.0) + abs(_gauss(seed, f"lat:{g['name']}:{step}", 0.1)), 3)
        latency.append({**head, "train_execution_latency_mean": lat,
                        "valid_execution_latency_mean": lat if is_eval else None})
        if is_model and isinstance(g["model"], str):
            tot = model_usage.setdefault(g["model"], {f"{p}_{k}_tokens": 0 for p in ("eval", "train")
                                                     for k in ("cached", "prompt", "completion")})
            tot["train_prompt_tokens"] += int(prompt * RFT_SAMPLES_PER_STEP)
            tot["train_completion_tokens"] += int(completion * RFT_SAMPLES_PER_STEP)
            tot["eval_prompt_tokens"] += int(prompt * n_valid)
            tot["eval_completion_tokens"] += int(completion * n_valid)
    full = max(float(sec_per_step), 0.0)
    eval_s = round(0.15 * full, 2) if is_eval else 0.0
    training_s = round(0.2 * full, 2)
    out: dict[str, Any] = {
        "step": step,
        "total_steps": total_steps,
        "usage": {"graders": usage, "samples": {
            "train_reasoning_tokens_mean": round(reasoning, 1), "train_reasoning_tokens_count": RFT_SAMPLES_PER_STEP,
            "valid_reasoning_tokens_mean": v_reasoning, "valid_reasoning_tokens_count": n_valid}},
        "errors": {"graders": errors},
        "scores": {"graders": scores, "train_reward_mean": round5(train), "valid_reward_mean": valid},
        "timing": {"step": {"eval": eval_s, "sampling": round(full - eval_s - training_s, 2),
                            "training": training_s, "full_iteration": round(full, 2)}, "graders": latency},
        "train_mean_reward": round5(train),
        "reasoning_tokens_mean": round(reasoning, 1),
        "completion_tokens_mean": round(reasoning + 40.0, 1),
    }
    if is_eval:
        out["full_valid_mean_reward"] = valid
    out["mean_unresponsive_rewards"] = 0.0
    out["model_graders_token_usage"] = model_usage
    if is_eval:
        out["full_valid_mean_parse_error"] = 0.0
    out["valid_reasoning_tokens_mean"] = v_reasoning
    return out


def reward_message(data: dict[str, Any]) -> str:
    """The live RFT metrics text: `Step 10/20 , train mean reward=0.42[, full validation mean reward=…, …]`."""
    msg = f"Step {data['step']}/{data['total_steps']} , train mean reward={data['train_mean_reward']:.2f}"
    if "full_valid_mean_reward" in data:
        msg += (f", full validation mean reward={data['full_valid_mean_reward']:.2f}"
                f", full validation mean parse error={data['full_valid_mean_parse_error']:.2f}")
    return msg


# Results files of jobs up to this many steps are kept (a few dozen, about 40 bytes a step): a test suite's jobs
# repeat (the same seed and job give the same job seed in test after test), and the text is a pure function of
# the arguments.
_CSV_CACHE_STEPS = 5000


def results_csv(seed: int, total_steps: int, *, steps_per_epoch: int, has_validation: bool) -> str:
    """The job's results file (decoded): header plus one row per step; empty valid cells when not evaluated.
    `steps_per_epoch` changes no cell (the file never shows the epoch-end `full_valid_*` figures)."""
    if total_steps <= _CSV_CACHE_STEPS:
        return _kept_csv(seed, total_steps, has_validation)
    return _results_csv(seed, total_steps, has_validation)


@functools.lru_cache(maxsize=32)
def _kept_csv(seed: int, total_steps: int, has_validation: bool) -> str:
    return _results_csv(seed, total_steps, has_validation)


def _results_csv(seed: int, total_steps: int, has_validation: bool) -> str:
    lines = [CSV_HEADER]
    for step in range(1, total_steps + 1):
        # steps_per_epoch=0: the file never shows the epoch-end `full_valid_*` figures, so none is worked out
        m = metrics_at(seed, step, total_steps, steps_per_epoch=0, has_validation=has_validation)
        cells = [
            str(step),
            csv_number(m["train_loss"]),
            csv_number(m["train_mean_token_accuracy"]),
            csv_number(m.get("valid_loss")),
            csv_number(m.get("valid_mean_token_accuracy")),
        ]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"
