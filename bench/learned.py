"""The tuned model's learned index (simulator/inference/learned.py): build and answer time at its caps, and linearity.

Synthetic worst case: `MAX_INDEXED` examples whose prompts fill `MAX_PROMPT_CHARS`. Reported as ratios so that
runs on different machines compare: building twice the examples should take about twice as long (linear), and
an unseen prompt's answer should cost a small multiple of an exact (seen) lookup.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any

from rich.console import Console
from rich.table import Table

NAME = "learned"
LINEAR_TARGET = 3.0  # build(2N) / build(N) at most this (2 is linear)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options of its own: the synthetic data is fixed so that runs compare."""


def _examples(n: int, chars: int) -> list[Any]:
    from ftsim.simulator.inference.learned import Example, Reply

    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(20_000)]
    out = []
    for i in range(n):
        words, size = [], 0
        while size < chars:
            words.append(rng.choice(vocab[:2_000]) if rng.random() < 0.7 else rng.choice(vocab))
            size += len(words[-1]) + 1
        out.append(Example(conv=(("system", "Extract the SKU."), ("user", " ".join(words) + f" SKU-{i:05d}")),
                           reply=Reply(text=f'{{"sku": "SKU-{i:05d}"}}')))
    return out


def _timed(fn: Any, repeat: int = 1) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Measure; print the table; return the results."""
    from ftsim.simulator.inference.learned import MAX_INDEXED, MAX_PROMPT_CHARS, Learned

    half, full = _examples(MAX_INDEXED // 2, MAX_PROMPT_CHARS // 2), _examples(MAX_INDEXED, MAX_PROMPT_CHARS // 2)
    build_half = _timed(lambda: Learned(list(half)))
    build_full = _timed(lambda: Learned(list(full)))
    learned = Learned(list(full))
    seen, unseen = full[3].conv, (("system", "Extract the SKU."), ("user", "w1 w2 w30000 please SKU-99999"))
    lookup_s = _timed(lambda: learned.lookup(seen), 200)
    answer_s = _timed(lambda: learned.answer(unseen), 200)
    linear = build_full / build_half
    passed = linear <= LINEAR_TARGET
    table = Table(title=f"learned index: {MAX_INDEXED:,} examples of {MAX_PROMPT_CHARS:,}-character prompts")
    for col in ("build s", "build(2N)/build(N)", "seen lookup us", "unseen answer ms", "answer/lookup", "ok"):
        table.add_column(col)
    table.add_row(f"{build_full:.2f}", f"{linear:.2f}", f"{lookup_s * 1e6:.1f}", f"{answer_s * 1e3:.2f}",
                  f"{answer_s / max(lookup_s, 1e-9):.0f}", "yes" if passed else "NO")
    console.print(table)
    return {"benchmark": NAME, "cpu_count": os.cpu_count(), "loadavg": list(os.getloadavg()),
            "build_s": build_full, "build_ratio": linear, "lookup_s": lookup_s, "answer_s": answer_s,
            "linear_target": LINEAR_TARGET, "passed": passed}


if __name__ == "__main__":
    import sys

    sys.exit(0 if run(argparse.Namespace(), Console())["passed"] else 1)
