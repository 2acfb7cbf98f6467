"""Python graders: `grade(sample, item)` from user source, run in a fresh isolated interpreter.

Only used when the server runs with python graders enabled. Each grader runs in a child process that gets:

- no inherited descriptors (close_fds, nothing passed), its input on stdin, its output in files of its own;
- an empty temporary working folder, deleted afterwards, and an environment of PATH and LANG only (`python -I`:
  no user site, no PYTHON* variables);
- resource limits: address space 2 GB (as live), CPU seconds (the time limit, rounded up), 64 open files, 64 MiB
  per written file, no core dumps, and, when the server runs as root, 64 processes for the unprivileged user;
- where the platform allows (Linux `unshare`, probed once): new network, PID and mount namespaces, so the grader
  has no network at all (not even loopback to this server), sees only its own processes in /proc (not the
  server's command line), and every process it starts dies with it; when the server runs as root, the grader
  runs as `nobody` (uid/gid 65534), so it cannot read the server's database or files (the store keeps them
  owner-only) nor /etc/shadow;
- a new session: at the time limit, and after every run, the whole process group is killed.

What remains (README, "Python graders"): without `unshare` the grader has the network and sees other processes;
a server not running as root cannot switch user, so the grader can read whatever that user can read, the
server's database included; the filesystem is not hidden (only permissions protect it); nothing bounds the disk
used beyond the 64 MiB per file. Enable python graders only for code you trust that far.

Any failure (exception, timeout, a non-numeric result) raises `GraderError` with `python_grader_runtime_error` and
its details; the user code's prints go to stderr (discarded), the child writes one JSON line on stdout.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ftsim.simulator.graders.graders import GraderError

__all__ = ["run_python_grader", "DEFAULT_TIMEOUT", "Sandbox", "sandbox"]

DEFAULT_TIMEOUT = 10.0
MAX_DETAILS = 2000
MAX_OUTPUT = 1024 * 1024  # bytes of the child's stdout read back (its result is one short line)
NOBODY = 65534
ADDRESS_SPACE = 2 * 1024**3
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_OPEN_FILES = 64
MAX_PROCESSES = 64
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

# The limits are set by the child itself, before it reads the user's code (a preexec_fn is unsafe in a threaded
# server). RLIMIT_NPROC counts per real user: it is set only when the grader runs as nobody (root is not limited,
# and an ordinary user's limit would count the server's own threads).
_RUNNER = r"""
import json, resource, sys, traceback
cpu, address_space, open_files, file_bytes, processes = (int(a) for a in sys.argv[1:6])
resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if processes:
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
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


@dataclass(frozen=True)
class Sandbox:
    """How graders are launched here: the command prefix, the interpreter, and what isolation it gives."""

    prefix: tuple[str, ...]
    python: str
    namespaces: bool  # network, PID and mount namespaces
    drops_to_nobody: bool


def _interpreters() -> list[str]:
    found = [os.path.realpath(sys.executable)]
    system = shutil.which("python3", path=ENV["PATH"])
    if system and os.path.realpath(system) not in found:
        found.append(os.path.realpath(system))
    return found


@functools.lru_cache(maxsize=1)
def sandbox() -> Sandbox:
    """Probe once which isolation this machine allows (namespaces need Linux's `unshare` and the right to use it)."""
    unshare = shutil.which("unshare", path=ENV["PATH"])
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if unshare and sys.platform.startswith("linux"):
        common = ["--net", "--pid", "--fork", "--mount-proc", "--kill-child"]
        if root:
            prefix = [unshare, *common, f"--setuid={NOBODY}", f"--setgid={NOBODY}", "--"]
        else:  # an unprivileged user namespace maps the user to root inside, with no more rights outside
            prefix = [unshare, "--user", "--map-root-user", *common, "--"]
        with tempfile.TemporaryDirectory(prefix="ftsim-grader-probe-") as workdir:
            if root:
                os.chown(workdir, NOBODY, NOBODY)
            for python in _interpreters():  # as nobody, a python under /root may not be executable
                try:
                    probe = subprocess.run([*prefix, python, "-I", "-c", "pass"], cwd=workdir, env=ENV,
                                           capture_output=True, timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    break
                if probe.returncode == 0:
                    return Sandbox(tuple(prefix), python, namespaces=True, drops_to_nobody=root)
    return Sandbox((), os.path.realpath(sys.executable), namespaces=False, drops_to_nobody=False)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants now (Linux /proc children lists; just `pid` where they are missing)."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    stack.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            pass
    return found


def _running(pid: int) -> bool:
    """Whether `pid` still runs (a zombie has finished: it only waits to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _kill_all(proc: subprocess.Popen) -> None:
    """Kill the child's process group and wait (bounded) until every process of its tree has stopped.

    Killing the sandbox's PID-namespace init makes the kernel kill everything in the namespace, including a
    grandchild that left the group with setsid(), but not synchronously with our reaping of `unshare`: without
    the wait, such a grandchild could still write for a moment after the grader's answer.
    """
    tree = _tree(proc.pid)
    _kill_group(proc.pid)
    proc.wait()
    deadline = time.monotonic() + 5.0
    for pid in tree[1:]:
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.005)  # a bounded wait for the kernel to finish the kill


def _fail(details: str) -> GraderError:
    return GraderError(python_grader_runtime_error=True, python_grader_runtime_error_details=details[:MAX_DETAILS])


def run_python_grader(source: str, sample: dict, item: dict, *, timeout: float = DEFAULT_TIMEOUT) -> tuple[float, float]:
    """(reward, seconds taken) of `grade(sample, item)`; GraderError when the grader fails."""
    box = sandbox()
    payload = json.dumps({"source": source, "sample": sample, "item": item}).encode()
    started = time.perf_counter()  # a measurement reported to the client, not simulation logic
    with tempfile.TemporaryDirectory(prefix="ftsim-grader-") as workdir, \
            tempfile.TemporaryDirectory(prefix="ftsim-grader-out-") as outdir:
        if box.drops_to_nobody:
            os.chown(workdir, NOBODY, NOBODY)
        stdout_path = Path(outdir) / "stdout"
        try:
            with open(stdout_path, "wb") as stdout:
                proc = subprocess.Popen(
                    [*box.prefix, box.python, "-I", "-c", _RUNNER, str(math.ceil(timeout) + 1), str(ADDRESS_SPACE),
                     str(MAX_OPEN_FILES), str(MAX_FILE_BYTES), str(MAX_PROCESSES if box.drops_to_nobody else 0)],
                    stdin=subprocess.PIPE,
                    stdout=stdout,
                    stderr=subprocess.DEVNULL,
                    cwd=workdir,
                    env=dict(ENV),
                    close_fds=True,
                    pass_fds=(),
                    start_new_session=True,
                )
                try:
                    proc.communicate(payload, timeout=timeout)
                except subprocess.TimeoutExpired:
                    raise _fail(f"grade() did not finish within {timeout:g} seconds") from None
                finally:
                    _kill_all(proc)  # whatever the grader left running
        except OSError as exc:
            raise GraderError(python_grader_server_error=True, python_grader_server_error_type=type(exc).__name__) from None
        with open(stdout_path, "rb") as out:
            out.seek(max(0, stdout_path.stat().st_size - MAX_OUTPUT))
            text = out.read().decode("utf-8", "replace")
    seconds = round(time.perf_counter() - started, 3)
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1])
        if not isinstance(result, dict):
            raise ValueError(result)
    except (IndexError, ValueError):
        raise _fail(f"the grader process ended without a result (exit status {proc.returncode})") from None
    if not result.get("ok"):
        raise _fail(str(result.get("error")))
    if not result.get("numeric"):
        raise _fail(f"grade() returned {result.get('value')}, expected a number")
    try:
        value = float(result["value"])
    except (TypeError, ValueError, KeyError):
        raise _fail(f"grade() returned {result.get('value')!r}, expected a number") from None
    if not math.isfinite(value):
        raise _fail(f"grade() returned {value}, expected a finite number")
    return value, seconds
