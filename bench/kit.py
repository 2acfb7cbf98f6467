"""ftsim as a test dependency (issue 11): what it costs a library user, side by side in one run.

Two virtual environments under bench/data/kit/ (built once, then reused while the inputs stay the same):

- baseline: pytest and openai alone, at the versions of the running environment;
- core: the same plus ftsim's wheel (built from this checkout), core install only, as `pip install ftsim-openai`.

Figures, each the median of `--kit-runs` fresh processes, in CPU time (user + system of the child), so that a
busy machine moves them less than wall time:

1. `pytest --co` of a one-test file, core minus baseline: what installing ftsim adds to every pytest session
   (its plugin, and any plugin a dependency would bring). Target: at most 100 ms.
2. `import ftsim` in the core environment. Target: at most 150 ms.
3. The first `ftsim.Simulator()` in a process, after `import ftsim` (what the `ftsim` fixture's first test pays:
   the HTTP app and the simulator's modules are imported then). Target: at most 300 ms. The first `client()` and
   the first job to `succeeded` (the tokenizer is built then) are shown beside it, without a target, and so is
   what the first request beyond the fast lane adds (importing FastAPI and building its routes: a test that
   only uploads, creates jobs and polls never pays it).
4. A full-flow test in steady state: a fresh Simulator (as the fixture makes one a test), `files.create`,
   `fine_tuning.jobs.create`, `run_until_complete`, `close`; CPU per test over `--kit-tests` tests after 20 of
   warm-up, in one process. Target: at most 10 ms.

The targets are ftsim's (issue 11); the figures depend on the machine, so the JSON also records the load average.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import DATA_DIR

NAME = "kit"
ROOT = Path(__file__).resolve().parents[1]
KIT_DIR = DATA_DIR / "kit"
TARGETS_MS = {"pytest_co_extra": 100.0, "import": 150.0, "first_simulator": 300.0, "flow_per_test": 10.0}

# A child's CPU time: the parent measures its children's rusage around each run.
FIRST = r"""
import json, sys, time
t0 = time.process_time()
import ftsim
t1 = time.process_time()
sim = ftsim.Simulator()
t2 = time.process_time()
client = sim.client()
t3 = time.process_time()
data = open(sys.argv[1], "rb").read()
f = client.files.create(file=("train.jsonl", data), purpose="fine-tune")
job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id)
assert sim.run_until_complete(job.id).status == "succeeded"
t4 = time.process_time()
assert client.models.retrieve(client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model).id  # not the lane's
t5 = time.process_time()
print(json.dumps({"import": t1 - t0, "first_simulator": t2 - t1, "first_client": t3 - t2, "first_job": t4 - t3,
                  "first_fastapi": t5 - t4}))
"""

FLOW = r"""
import json, sys, time
import ftsim
data = open(sys.argv[1], "rb").read()
n = int(sys.argv[2])

def one():
    sim = ftsim.Simulator()
    client = sim.client()
    f = client.files.create(file=("train.jsonl", data), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id)
    assert sim.run_until_complete(job.id).status == "succeeded"
    sim.close()

for _ in range(20):
    one()
started = time.process_time()
for _ in range(n):
    one()
print(json.dumps({"flow_per_test": (time.process_time() - started) / n}))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--kit-runs and --kit-tests."""
    parser.add_argument("--kit-runs", type=int, default=7, help="kit: fresh processes per start-up figure (median)")
    parser.add_argument("--kit-tests", type=int, default=200, help="kit: full-flow tests measured in steady state")


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, **kwargs)


def _child_cpu(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """(CPU seconds of the child, its stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # microseconds, unlike os.times()' clock ticks
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stdout[-1500:]} {out.stderr[-1500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, out.stdout


def _wheel(console: Console) -> Path:
    """This checkout's wheel (no build isolation: offline)."""
    out = KIT_DIR / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    console.print("kit: building the wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out),
          str(ROOT)])
    return next(out.glob("ftsim_openai-*.whl"))


def _venv(name: str, requirements: list[str], key: str, console: Console) -> Path:
    """A virtual environment with `requirements`, rebuilt only when `key` changes."""
    where = KIT_DIR / name
    stamp = where / ".kit-key"
    if stamp.exists() and stamp.read_text() == key:
        return where / "bin" / "python"
    console.print(f"kit: creating the {name} environment")
    shutil.rmtree(where, ignore_errors=True)
    _run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(where)])
    python = where / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", *requirements])
    stamp.write_text(key)
    return python


def _environments(console: Console) -> tuple[Path, Path]:
    pins = [f"openai=={metadata.version('openai')}", f"pytest=={metadata.version('pytest')}"]
    baseline = _venv("baseline", pins, " ".join(pins), console)
    wheel = _wheel(console)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    # The wheel's own dependencies resolve as a user's would; the pins keep openai and pytest equal to baseline's.
    core = _venv("core", [*pins, str(wheel)], " ".join(pins) + " " + digest, console)
    return baseline, core


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def measure(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Every figure, as a dict of milliseconds (and the raw samples)."""
    baseline, core = _environments(console)
    scratch = Path(tempfile.mkdtemp(prefix="ftsim-kit-"))
    try:
        (scratch / "pytest.ini").write_text("[pytest]\n")
        (scratch / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
        dataset = ROOT / "fixtures" / "datasets" / "sft_valid.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
        co: dict[str, list[float]] = {"baseline": [], "core": []}
        first: dict[str, list[float]] = {}
        console.print(f"kit: {args.kit_runs} rounds of pytest --co in both environments, and first Simulator()")
        for _ in range(args.kit_runs):  # interleaved, so that a burst of load hits both sides alike
            for label, python in (("baseline", baseline), ("core", core)):
                cpu, _ = _child_cpu([str(python), "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider",
                                     "test_one.py"], scratch, env)
                co[label].append(cpu)
            _, out = _child_cpu([str(core), "-c", FIRST, str(dataset)], scratch, env)
            for key, value in json.loads(out.strip().splitlines()[-1]).items():
                first.setdefault(key, []).append(value)
        console.print(f"kit: {args.kit_tests} full-flow tests")
        _, out = _child_cpu([str(core), "-c", FLOW, str(dataset), str(args.kit_tests)], scratch, env)
        flow = json.loads(out.strip().splitlines()[-1])["flow_per_test"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    figures = {
        "pytest_co_baseline": _median_ms(co["baseline"]),
        "pytest_co_core": _median_ms(co["core"]),
        **{key: _median_ms(values) for key, values in first.items()},
        "flow_per_test": flow * 1000,
    }
    figures["pytest_co_extra"] = figures["pytest_co_core"] - figures["pytest_co_baseline"]
    return {"ms": figures, "samples_s": {"pytest_co": co, **first}}


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Measure, print the table, return the results."""
    result = measure(args, console)
    ms = result["ms"]
    met = {key: ms[key] <= target for key, target in TARGETS_MS.items()}
    table = Table(title="ftsim as a test dependency: CPU ms (median of fresh processes; flow: per test, steady)")
    for col in ("figure", "ms", "target", "met"):
        table.add_column(col)
    rows = [
        ("pytest --co, one test: pytest + openai alone", "pytest_co_baseline", None),
        ("pytest --co, one test: + ftsim core install", "pytest_co_core", None),
        ("  what ftsim adds", "pytest_co_extra", "pytest_co_extra"),
        ("import ftsim", "import", "import"),
        ("first Simulator() in a process", "first_simulator", "first_simulator"),
        ("  then its first client()", "first_client", None),
        ("  then its first job to succeeded (tokenizer built)", "first_job", None),
        ("  then its first request beyond the fast lane (FastAPI)", "first_fastapi", None),
        ("full-flow test, steady state", "flow_per_test", "flow_per_test"),
    ]
    for label, key, target in rows:
        table.add_row(label, f"{ms[key]:.1f}", f"<= {TARGETS_MS[target]:g}" if target else "",
                      ("yes" if met[target] else "NO") if target else "")
    console.print(table)
    return {"benchmark": NAME, "cpu_count": os.cpu_count(), "loadavg": list(os.getloadavg()), **result,
            "targets_ms": TARGETS_MS, "met": met, "passed": all(met.values())}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.kit")
    add_arguments(parser)
    sys.exit(0 if run(parser.parse_args(), Console())["passed"] else 1)
