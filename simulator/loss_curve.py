"""Plausible, seeded training curves: the metrics of step s of a job are a pure function of (seed, s, total).

Supervised and DPO: `train_loss` decays exponentially from a seeded start (1.5-3.5) towards a seeded floor
(0.02-0.35) with multiplicative noise; `train_mean_token_accuracy` rises as the loss falls. With a validation
file, `valid_loss` (a little above the training loss) is evaluated every `VALID_EVERY` steps and at the last step,
and `full_valid_*` at each epoch end. Reinforcement: `train_mean_reward` rises from ~0.2 towards a seeded ceiling.

Values are rounded to 5 decimals, as in the real results CSV (`1,3.63265,0.5,,`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from typing import Any

__all__ = ["VALID_EVERY", "metrics_at", "reward_metrics_at", "round5", "csv_number", "results_csv"]

VALID_EVERY = 10
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
        "train_loss": round5(train),
        "total_steps": total_steps,
        "train_mean_token_accuracy": round5(_accuracy(seed, train, step, "train")),
    }
    if has_validation and (step % VALID_EVERY == 0 or step == total_steps):
        valid = _loss(seed, step, total_steps, "valid", offset=0.05)
        out["valid_loss"] = round5(valid)
        out["valid_mean_token_accuracy"] = round5(_accuracy(seed, valid, step, "valid"))
    if has_validation and steps_per_epoch > 0 and step % steps_per_epoch == 0:
        full = _loss(seed, step, total_steps, "full", offset=0.08)
        out["full_valid_loss"] = round5(full)
        out["full_valid_mean_token_accuracy"] = round5(_accuracy(seed, full, step, "full"))
    return out


def reward_metrics_at(seed: int, step: int, total_steps: int, *, eval_every: int) -> dict[str, Any]:
    """Reinforcement metrics of step `step`: mean reward rising, full validation reward at eval steps."""
    if not 1 <= step <= total_steps:
        raise ValueError(f"step {step} outside 1..{total_steps}")
    ceiling = _rng(seed, "reward").uniform(0.6, 0.95)
    progress = step / max(total_steps, 1)
    mean = 0.2 + (ceiling - 0.2) * (1 - math.exp(-4 * progress))
    train = min(1.0, max(0.0, mean + _gauss(seed, f"reward:{step}", 0.03)))
    out: dict[str, Any] = {"step": step, "total_steps": total_steps, "train_mean_reward": round5(train)}
    if eval_every > 0 and (step % eval_every == 0 or step == total_steps):
        valid = min(1.0, max(0.0, mean + _gauss(seed, f"vreward:{step}", 0.03)))
        out["full_valid_mean_reward"] = round5(valid)
        out["full_valid_mean_parse_error"] = 0.0
    return out


def results_csv(seed: int, total_steps: int, *, steps_per_epoch: int, has_validation: bool) -> str:
    """The job's results file (decoded): header plus one row per step; empty valid cells when not evaluated."""
    lines = [CSV_HEADER]
    for step in range(1, total_steps + 1):
        m = metrics_at(seed, step, total_steps, steps_per_epoch=steps_per_epoch, has_validation=has_validation)
        cells = [
            str(step),
            csv_number(m["train_loss"]),
            csv_number(m["train_mean_token_accuracy"]),
            csv_number(m.get("valid_loss")),
            csv_number(m.get("valid_mean_token_accuracy")),
        ]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"
