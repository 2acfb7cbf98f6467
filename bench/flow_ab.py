"""The kit's full-flow test (bench/kit.py, figure 4) per phase, in two interpreters side by side: for a change
meant to make it cheaper, measured against another tree in the same minutes (a ratio; the machine's load moves
both alike).

    python bench/flow_ab.py OTHER_PYTHON [THIS_PYTHON] [--rounds 6] [--tests 200]

Each interpreter imports its own tree (an editable install); the rounds alternate which one runs first. Figures:
the median over rounds of CPU ms per test (after 20 of warm-up), per phase, and the ratio this/other.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

DATASET = Path(__file__).resolve().parents[1] / "fixtures" / "datasets" / "sft_valid.jsonl"

CHILD = r"""
import json, sys, time
import ftsim
data = open(sys.argv[1], "rb").read()
n = int(sys.argv[2])
pt = time.process_time
phases = dict.fromkeys(("simulator", "client", "files.create", "jobs.create", "run_until_complete", "close"), 0.0)

def one(count):
    marks = [pt()]
    sim = ftsim.Simulator(); marks.append(pt())
    client = sim.client(); marks.append(pt())
    f = client.files.create(file=("train.jsonl", data), purpose="fine-tune"); marks.append(pt())
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id); marks.append(pt())
    assert sim.run_until_complete(job.id).status == "succeeded"; marks.append(pt())
    sim.close(); marks.append(pt())
    if count:
        for name, a, b in zip(phases, marks, marks[1:]):
            phases[name] += b - a

for _ in range(20):
    one(False)
for _ in range(n):
    one(True)
out = {name: v / n * 1e3 for name, v in phases.items()}
out["total"] = sum(out.values())
print(json.dumps(out))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/flow_ab.py")
    parser.add_argument("other", help="the interpreter of the tree to compare with (e.g. /work/main/.venv/bin/python)")
    parser.add_argument("this", nargs="?", default=sys.executable, help="this tree's interpreter (default: this one)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--tests", type=int, default=200)
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, float]]] = {"other": [], "this": []}
    for r in range(args.rounds):
        order = [("other", args.other), ("this", args.this)]
        for name, python in order if r % 2 == 0 else order[::-1]:
            out = subprocess.run([python, "-c", CHILD, str(DATASET), str(args.tests)], capture_output=True, text=True,
                                 check=True, cwd="/")
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'phase (CPU ms per test)':26} {'other':>8} {'this':>8} {'ratio':>6}")
    for phase in runs["other"][0]:
        a = statistics.median(x[phase] for x in runs["other"])
        b = statistics.median(x[phase] for x in runs["this"])
        print(f"{phase:26} {a:8.3f} {b:8.3f} {b / a:6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
