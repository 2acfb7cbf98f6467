"""Grader metrics at their largest accepted input (issue 13: every metric finishes in at most 1 s).

Each `text_similarity` metric compares two texts of `MAX_METRIC_CHARS` characters each, built for its worst case:
two different random strings over a two-letter alphabet with spaces (every character and most tokens match
somewhere, so the LCS rows change on every step) and a text of one repeated word (the longest single token run).
The figure is the slowest of three runs per metric; the target is 1 s.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from rich.console import Console
from rich.table import Table

NAME = "graders"
SECONDS_TARGET = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: the inputs are the caps, so that runs compare."""


def _inputs(size: int) -> dict[str, tuple[str, str]]:
    rng = random.Random(13)  # fixed: the same texts on every run
    mixed = lambda: "".join(rng.choice("ab ") for _ in range(size))  # noqa: E731
    return {"random a/b/space": (mixed(), mixed()), "one word repeated": (("ab " * size)[:size], ("ba " * size)[:size])}


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Time each metric at the cap; print the table; return the results."""
    from ftsim.simulator.graders.metrics import MAX_METRIC_CHARS, METRICS, similarity

    rows = []
    for label, (text, reference) in _inputs(MAX_METRIC_CHARS).items():
        for metric in METRICS:
            worst = 0.0
            for _ in range(3):
                started = time.perf_counter()
                similarity(metric, text, reference)
                worst = max(worst, time.perf_counter() - started)
            rows.append({"input": label, "metric": metric, "seconds": round(worst, 4)})
    passed = all(r["seconds"] <= SECONDS_TARGET for r in rows)
    table = Table(title=f"graders: text_similarity at the cap ({MAX_METRIC_CHARS:,} characters per side)")
    for col in ("input", "metric", "worst s", "target", "ok"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["input"], r["metric"], f"{r['seconds']:.3f}", f"<= {SECONDS_TARGET:g}",
                      "yes" if r["seconds"] <= SECONDS_TARGET else "NO")
    console.print(table)
    return {"name": NAME, "chars_per_side": MAX_METRIC_CHARS, "rows": rows, "passed": passed}
