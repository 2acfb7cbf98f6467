"""Python graders: `grade(sample, item)` from user source, run in a fresh isolated interpreter.

Only used when the server runs with python graders enabled. The child is `python -I` (no user site, no
PYTHON* variables) in an empty temporary directory, with an address-space limit (2 GB, as live) and a CPU limit,
killed after `timeout` seconds (live allows 2 minutes; the simulator defaults to 10 s). The user code's prints go
to stderr; the child writes one JSON line with the result on stdout. Any failure (exception, timeout, a
non-numeric result) raises `GraderError` with `python_grader_runtime_error` and its details.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time

from ftsim.simulator.graders.graders import GraderError

__all__ = ["run_python_grader", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 10.0
MAX_DETAILS = 2000

_RUNNER = r"""
import json, sys, traceback
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 ** 3, 2 * 1024 ** 3))
    cpu = int(sys.argv[1]) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
except Exception:
    pass
payload = json.loads(sys.stdin.read())
out = sys.stdout
sys.stdout = sys.stderr
try:
    namespace = {"__name__": "grader"}
    exec(compile(payload["source"], "grader.py", "exec"), namespace)
    value = namespace["grade"](payload["sample"], payload["item"])
    result = {"ok": True, "value": value if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)}
    result["numeric"] = isinstance(result["value"], (int, float))
except BaseException as exc:
    lines = traceback.format_exception_only(type(exc), exc)
    result = {"ok": False, "error": "".join(lines).strip()}
out.write(json.dumps(result) + "\n")
out.flush()
"""


def _fail(details: str) -> GraderError:
    return GraderError(python_grader_runtime_error=True, python_grader_runtime_error_details=details[:MAX_DETAILS])


def run_python_grader(source: str, sample: dict, item: dict, *, timeout: float = DEFAULT_TIMEOUT) -> tuple[float, float]:
    """(reward, seconds taken) of `grade(sample, item)`; GraderError when the grader fails."""
    payload = json.dumps({"source": source, "sample": sample, "item": item})
    started = time.perf_counter()  # a measurement reported to the client, not simulation logic
    with tempfile.TemporaryDirectory(prefix="ftsim-grader-") as workdir:
        try:
            proc = subprocess.run(
                [sys.executable, "-I", "-c", _RUNNER, str(math.ceil(timeout))],
                input=payload,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=workdir,
                env={"PATH": "/usr/bin:/bin"},
            )
        except subprocess.TimeoutExpired:
            raise _fail(f"grade() did not finish within {timeout:g} seconds") from None
        except OSError as exc:
            raise GraderError(python_grader_server_error=True, python_grader_server_error_type=type(exc).__name__) from None
    seconds = round(time.perf_counter() - started, 3)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise _fail(f"the grader process ended without a result: {tail[0]}") from None
    if not result.get("ok"):
        raise _fail(str(result.get("error")))
    if not result.get("numeric"):
        raise _fail(f"grade() returned {result.get('value')}, expected a number")
    value = float(result["value"])
    if not math.isfinite(value):
        raise _fail(f"grade() returned {value}, expected a finite number")
    return value, seconds
