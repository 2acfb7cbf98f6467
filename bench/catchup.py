"""Benchmark of catch-up: 1,000 concurrent jobs advanced through 24 simulated hours.

A fresh world on a SQLite file (the server's default store, WAL, synchronous=FULL) with a manual clock and the
simultaneous-jobs limit lifted: `--catchup-tenants` organizations share `--catchup-jobs` jobs on two base models,
each tenant training on its own `--catchup-examples`-example file. Two ways through the same 24 hours, each in
its own child process so that its peak memory is its own:

- jump: one `advance(86400)`: every validation, event, checkpoint, tuned model and result file of the day is
  produced in one catch-up transaction;
- poll: 1,440 advances of one simulated minute each, as a server polled once a minute would catch up.

Figures: job creation rate, catch-up wall time, rows written, and the child's peak RSS (ru_maxrss) above its
baseline after start-up. Targets (ftsim's own, the issue sets none): jump under 60 s and under 300 MB of peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import BENCH_DIR, peak_rss_mb

NAME = "catchup"
SECONDS_TARGET = 60.0
MEMORY_TARGET_MB = 300.0
DAY = 86_400
MODELS = ("gpt-4.1-mini-2025-04-14", "gpt-4o-mini-2024-07-18")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this benchmark."""
    parser.add_argument("--catchup-jobs", type=int, default=1000, help="concurrent jobs (default 1000)")
    parser.add_argument("--catchup-tenants", type=int, default=10, help="organizations sharing them (default 10)")
    parser.add_argument("--catchup-examples", type=int, default=50, help="examples per training file (default 50)")
    parser.add_argument("--catchup-modes", default="jump,poll", help="jump, poll or both (default jump,poll)")


def training_jsonl(n: int, tag: int) -> bytes:
    """A valid chat dataset of n examples, distinct per tenant."""
    line = ('{"messages":[{"role":"system","content":"tenant %d"},{"role":"user","content":"question %d about the '
            'catch-up benchmark"},{"role":"assistant","content":"answer %d, a few words long on purpose"}]}\n')
    return "".join(line % (tag, i, i) for i in range(n)).encode()


def _rss_mb() -> float:
    """Peak RSS of this process so far, in MB: VmHWM, which starts afresh at exec (ru_maxrss would carry over the
    peak of the benchmark process that started this child)."""
    return peak_rss_mb()


def child(mode: str, jobs: int, tenants: int, examples: int) -> dict[str, Any]:
    """One measurement, in this (child) process."""
    from ftsim.simulator.core.backend import Backend, SimConfig
    from ftsim.simulator.core.clock import ManualClock
    from ftsim.simulator.core.store import Store

    with tempfile.TemporaryDirectory(prefix="ftsim-catchup-") as tmp:
        backend = Backend(store=Store(Path(tmp) / "ftsim.db"), clock=ManualClock(),
                          config=SimConfig(max_concurrent_jobs_per_model=jobs + 1))
        orgs = [backend.tenant(f"sk-catchup-{t}") for t in range(tenants)]
        files = [backend.files.create(o, filename="train.jsonl", purpose="fine-tune",
                                      chunks=[training_jsonl(examples, t)]).id for t, o in enumerate(orgs)]
        started = time.perf_counter()
        ids = []
        for n in range(jobs):
            t = n % tenants
            ids.append((orgs[t], backend.jobs.create(orgs[t], model=MODELS[n % len(MODELS)], training_file=files[t],
                                                     suffix=f"j{n}").id))
        create_s = time.perf_counter() - started
        base_rss = _rss_mb()
        started = time.perf_counter()
        if mode == "jump":
            backend.advance(DAY)
            syncs = 1
        else:
            syncs = DAY // 60
            for _ in range(syncs):
                backend.advance(60)
        catchup_s = time.perf_counter() - started
        peak_rss = _rss_mb()
        statuses: dict[str, int] = {}
        for org, job_id in ids:
            status = backend.jobs.retrieve(org, job_id).status
            statuses[status] = statuses.get(status, 0) + 1
        store = backend.store
        rows = {kind: store.count(kind) for kind in ("event", "checkpoint", "model", "file")}
        db_mb = sum(p.stat().st_size for p in Path(tmp).glob("ftsim.db*")) / 2**20
        backend.close()
    return {"mode": mode, "jobs": jobs, "tenants": tenants, "examples": examples, "create_s": create_s,
            "jobs_per_s": jobs / create_s if create_s else None, "catchup_s": catchup_s, "syncs": syncs,
            "peak_rss_mb": peak_rss, "rss_before_mb": base_rss, "rss_growth_mb": max(0.0, peak_rss - base_rss),
            "statuses": statuses, "rows": rows, "db_mb": db_mb}


def _run_child(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.catchup", "--child", mode, str(args.catchup_jobs), str(args.catchup_tenants),
           str(args.catchup_examples)]
    out = subprocess.run(cmd, cwd=BENCH_DIR.parent, capture_output=True, text=True, timeout=3600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"catch-up child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Measure each mode in a child process; print the table; return the results."""
    modes = [m.strip() for m in args.catchup_modes.split(",") if m.strip()]
    results = {mode: _run_child(mode, args) for mode in modes}
    table = Table(title=f"catch-up: {args.catchup_jobs} concurrent jobs through 24 simulated hours")
    for col in ("mode", "syncs", "create jobs/s", "catch-up s", "events", "peak RSS MB (growth)", "succeeded",
                "target", "ok"):
        table.add_column(col)
    passed = True
    for mode, r in results.items():
        done = r["statuses"].get("succeeded", 0)
        ok = done == r["jobs"]
        target = ""
        if mode == "jump":
            ok = ok and r["catchup_s"] < SECONDS_TARGET and r["peak_rss_mb"] < MEMORY_TARGET_MB
            target = f"< {SECONDS_TARGET:g} s, < {MEMORY_TARGET_MB:g} MB"
        passed = passed and ok
        table.add_row(mode, str(r["syncs"]), f"{r['jobs_per_s']:.0f}", f"{r['catchup_s']:.2f}",
                      str(r["rows"]["event"]), f"{r['peak_rss_mb']:.0f} ({r['rss_growth_mb']:.0f})",
                      f"{done}/{r['jobs']}", target or "all succeed", "yes" if ok else "NO")
    console.print(table)
    return {"benchmark": NAME, "cpu_count": os.cpu_count(), "loadavg": list(os.getloadavg()), "results": results,
            "seconds_target": SECONDS_TARGET, "memory_target_mb": MEMORY_TARGET_MB, "passed": passed}


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.catchup`: run alone, or `--child MODE JOBS TENANTS EXAMPLES` (one measurement, JSON)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        mode, jobs, tenants, examples = argv[1], int(argv[2]), int(argv[3]), int(argv[4])
        print(json.dumps(child(mode, jobs, tenants, examples)))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.catchup")
    add_arguments(parser)
    result = run(parser.parse_args(argv), Console())
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
