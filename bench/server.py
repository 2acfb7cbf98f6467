"""Benchmark of the server: requests/s and p50/p99 latency of retrieve job, list events and create file.

`ftsim serve` (uvicorn, one process, 127.0.0.1, --speed 0, a fresh SQLite database) side by side in the same run
with Stoplight Prism (`prism mock`, stateless, serving ../shared/openapi/openai-fine-tuning.openapi.json) as the
peer. Prism is installed by `npm install @stoplight/prism-cli` into bench/.peers/prism/ on first use; when that
fails the peer is reported unavailable and only ftsim's figures are printed.

Load generator: `--server-clients` threads, each with one keep-alive `http.client` connection (light, so the
generator takes as little CPU as possible from the server on the same cores), pre-built requests, bounded by
`--server-requests` per scenario and `--server-seconds` of wall time. Loopback only. Both servers stay up for
the whole run and the measurements alternate (ftsim, Prism, ftsim, ...) for `--server-rounds` rounds, keeping
each one's best round, so that a change in the machine's load hits both alike. Target: ftsim >= 2x Prism's
requests/s in every scenario.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import BENCH_DIR

NAME = "server"
RATIO_TARGET = 2.0
ROOT = BENCH_DIR.parent
SPEC = ROOT.parent / "shared" / "openapi" / "openai-fine-tuning.openapi.json"
PEER_DIR = BENCH_DIR / ".peers" / "prism"
PRISM = PEER_DIR / "node_modules" / ".bin" / "prism"
KEY = "sk-bench"
BOUNDARY = "ftsimBenchBoundary"
SCENARIOS = ("retrieve job", "list events", "create file")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this benchmark."""
    parser.add_argument("--server-requests", type=int, default=2000, help="requests per scenario (default 2000)")
    parser.add_argument("--server-rounds", type=int, default=5, help="alternating rounds, best kept (default 5)")
    parser.add_argument("--server-clients", type=int, default=8, help="concurrent client threads (default 8)")
    parser.add_argument("--server-seconds", type=float, default=20.0, help="wall-time cap per scenario (default 20)")
    parser.add_argument("--no-peer", action="store_true", help="skip Prism")


# -- processes ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(proc: subprocess.Popen, port: int, path: str, timeout: float) -> None:
    """Poll `path` until it answers (bounded); raise if the process dies or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path, headers={"Authorization": f"Bearer {KEY}"})
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.05)  # bounded readiness poll of a real process
    raise TimeoutError(f"not ready on port {port} within {timeout:.0f}s")


def stop(proc: subprocess.Popen | None) -> None:
    """Terminate a child we started."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def ensure_prism(console: Console) -> Path | None:
    """The prism executable, installing it with npm into bench/.peers/prism/ on first use; None if unavailable."""
    if PRISM.exists():
        return PRISM
    npm = shutil.which("npm")
    if npm is None:
        console.print("[yellow]peer unavailable[/yellow]: npm not found")
        return None
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    console.print("installing @stoplight/prism-cli into bench/.peers/prism ...")
    try:
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", "@stoplight/prism-cli"], cwd=PEER_DIR,
                       check=True, timeout=600, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        console.print(f"[yellow]peer unavailable[/yellow]: npm install failed ({exc})")
        return None
    return PRISM if PRISM.exists() else None


def training_jsonl(n: int = 20) -> bytes:
    """A small valid chat dataset."""
    line = '{"messages":[{"role":"user","content":"bench question %d"},{"role":"assistant","content":"answer %d"}]}\n'
    return "".join(line % (i, i) for i in range(n)).encode()


def multipart(content: bytes) -> tuple[bytes, str]:
    """A pre-built multipart body for POST /files and its content type."""
    body = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="bench.jsonl"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()
    return body, f"multipart/form-data; boundary={BOUNDARY}"


def call(port: int, method: str, path: str, body: bytes | None = None, ctype: str = "application/json", *,
         key: str = KEY, timeout: float = 60) -> dict:
    """One request to a local server as `key`; its JSON answer (RuntimeError unless 200)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": ctype}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
    return json.loads(data)


def start_ftsim(workdir: Path) -> tuple[subprocess.Popen, int, str]:
    """`ftsim serve` on a fresh database, with one succeeded job; (process, port, job id)."""
    port = free_port()
    cmd = [sys.executable, "-m", "ftsim.api.cli", "serve", "--db", str(workdir / "ftsim.db"), "--port", str(port),
           "--speed", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(proc, port, "/_sim/clock", 60)
    body, ctype = multipart(training_jsonl())
    file_id = call(port, "POST", "/v1/files", body, ctype)["id"]
    job = call(port, "POST", "/v1/fine_tuning/jobs", json.dumps(
        {"model": "gpt-4.1-mini-2025-04-14", "training_file": file_id, "suffix": "bench"}).encode())
    call(port, "POST", "/_sim/clock/advance", json.dumps({"seconds": 86400}).encode())
    status = call(port, "GET", f"/v1/fine_tuning/jobs/{job['id']}")["status"]
    if status != "succeeded":
        raise RuntimeError(f"bench job ended {status}")
    return proc, port, job["id"]


def start_prism(prism: Path) -> tuple[subprocess.Popen, int]:
    """`prism mock` of the shared spec on 127.0.0.1."""
    port = free_port()
    proc = subprocess.Popen([str(prism), "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(proc, port, "/models", 180)
    return proc, port


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by a process and its descendants (Linux /proc; 0.0 elsewhere)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


# -- load ---------------------------------------------------------------------------------------------------------


def load(port: int, method: str, path: str, body: bytes | None, ctype: str | None, *, requests: int, clients: int,
         seconds: float, warmup: int = 50) -> dict[str, Any]:
    """Drive one request shape with `clients` keep-alive threads; requests/s, p50, p99, errors."""
    headers = {"Authorization": f"Bearer {KEY}"}
    if ctype:
        headers["Content-Type"] = ctype
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    ticket = itertools.count()
    deadline = [0.0]

    def worker(quota: int | None) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        try:
            while True:
                if quota is None:
                    if next(ticket) >= requests or time.perf_counter() > deadline[0]:
                        break
                elif len(mine) >= quota:
                    break
                started = time.perf_counter()
                try:
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except OSError as exc:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    status = f"{type(exc).__name__}"
                mine.append(time.perf_counter() - started)
                if status != 200:
                    with lock:
                        errors.append(str(status))
        finally:
            conn.close()
            if quota is None:
                with lock:
                    latencies.extend(mine)

    warm = [threading.Thread(target=worker, args=(max(1, warmup // clients),)) for _ in range(clients)]
    for t in warm:
        t.start()
    for t in warm:
        t.join()
    errors.clear()
    threads = [threading.Thread(target=worker, args=(None,)) for _ in range(clients)]
    started = time.perf_counter()
    deadline[0] = started + seconds
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    n = len(ordered)
    return {
        "requests": n, "seconds": wall, "rps": n / wall if wall else 0.0,
        "p50_ms": statistics.median(ordered) * 1000 if n else None,
        "p99_ms": ordered[min(n - 1, int(n * 0.99))] * 1000 if n else None,
        "errors": len(errors), "error_samples": sorted(set(errors))[:5],
    }


def scenarios(job_id: str, prefix: str) -> dict[str, tuple[str, str, bytes | None, str | None]]:
    """The three request shapes, for a server whose paths start with `prefix`."""
    body, ctype = multipart(training_jsonl())
    return {
        "retrieve job": ("GET", f"{prefix}/fine_tuning/jobs/{job_id}", None, None),
        "list events": ("GET", f"{prefix}/fine_tuning/jobs/{job_id}/events?limit=20", None, None),
        "create file": ("POST", f"{prefix}/files", body, ctype),
    }


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Start both servers, drive every scenario against each, print the table, return the results."""
    opts = {"requests": args.server_requests, "clients": args.server_clients, "seconds": args.server_seconds}
    results: dict[str, dict[str, Any]] = {"ftsim": {}, "prism": {}}
    prism = None if args.no_peer else ensure_prism(console)
    peer_note = None if prism or args.no_peer else "peer unavailable: prism could not be installed"
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="ftsim-bench-") as tmp:
        try:
            proc, port, job_id = start_ftsim(Path(tmp))
            procs.append(proc)
            targets = {"ftsim": (port, scenarios(job_id, "/v1"), proc.pid)}
            if prism is not None:
                try:
                    pproc, pport = start_prism(prism)
                    procs.append(pproc)
                    targets["prism"] = (pport, scenarios("ftjob-abc123", ""), pproc.pid)
                except (RuntimeError, TimeoutError, OSError) as exc:
                    peer_note = f"peer unavailable: {exc}"
            if peer_note:
                console.print(f"[yellow]{peer_note}[/yellow]")
            errors: dict[tuple[str, str], int] = {}
            for _ in range(max(1, args.server_rounds)):
                for name in SCENARIOS:
                    for server, (p, shapes, pid) in targets.items():
                        cpu = tree_cpu_seconds(pid)
                        got = load(p, *shapes[name], **opts)
                        used = tree_cpu_seconds(pid) - cpu
                        got["server_cpu_ms_per_request"] = used * 1000 / got["requests"] if got["requests"] else None
                        got["requests_per_cpu_second"] = got["requests"] / used if used > 0 else None
                        errors[server, name] = errors.get((server, name), 0) + got["errors"]
                        best = results[server].get(name)
                        if best is None or got["rps"] > best["rps"]:
                            results[server][name] = got
            for (server, name), count in errors.items():
                results[server][name]["errors"] = count  # errors of every round, not only the best one
        finally:
            for proc in procs:
                stop(proc)
    table = Table(title=f"server throughput ({args.server_clients} keep-alive clients, loopback, {os.cpu_count()} cores)")
    for col in ("scenario", "server", "req/s", "p50 ms", "p99 ms", "errors", "server CPU ms/req", "ratio req/s",
                "ratio req/CPU-s", "target", "ok"):
        table.add_column(col)
    passed = True
    ratios: dict[str, float | None] = {}
    cpu_ratios: dict[str, float | None] = {}

    def fmt(value: float | None, spec: str) -> str:
        return format(value, spec) if value is not None else "n/a"

    for name in SCENARIOS:
        ours, peer = results["ftsim"][name], results["prism"].get(name)
        ratio = ours["rps"] / peer["rps"] if peer and peer["rps"] else None
        ours_cap, peer_cap = ours.get("requests_per_cpu_second"), (peer or {}).get("requests_per_cpu_second")
        cpu_ratio = ours_cap / peer_cap if ours_cap and peer_cap else None
        ratios[name], cpu_ratios[name] = ratio, cpu_ratio
        ok = ours["errors"] == 0 and (ratio is None or ratio >= RATIO_TARGET)
        passed = passed and ok
        table.add_row(name, "ftsim", f"{ours['rps']:.0f}", f"{ours['p50_ms']:.1f}", f"{ours['p99_ms']:.1f}",
                      str(ours["errors"]), fmt(ours.get("server_cpu_ms_per_request"), ".2f"),
                      f"{ratio:.2f}x" if ratio else "n/a", f"{cpu_ratio:.2f}x" if cpu_ratio else "n/a",
                      f">= {RATIO_TARGET:g}x req/s", ("yes" if ok else "NO") if ratio else "-")
        if peer:
            table.add_row("", "prism", f"{peer['rps']:.0f}", f"{peer['p50_ms']:.1f}", f"{peer['p99_ms']:.1f}",
                          str(peer["errors"]), fmt(peer.get("server_cpu_ms_per_request"), ".2f"), "", "", "", "")
    console.print(table)
    load_avg = os.getloadavg()
    if load_avg[0] > (os.cpu_count() or 1):
        console.print(f"[yellow]machine busy[/yellow] (load average {load_avg[0]:.1f} on {os.cpu_count()} cores): "
                      "absolute figures are low; rounds alternate between the servers, and the CPU-time ratio "
                      "(requests per server CPU-second) depends much less on the load")
    return {
        "benchmark": NAME, "clients": args.server_clients, "requests_per_scenario": args.server_requests,
        "rounds": args.server_rounds,
        "cpu_count": os.cpu_count(), "loadavg": list(load_avg), "results": results, "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        "ratio_target": RATIO_TARGET, "peer": "prism" if results["prism"] else None, "peer_note": peer_note,
        "passed": passed,
    }


def main() -> int:
    """Run this benchmark alone: `python -m bench.server`."""
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    add_arguments(parser)
    args = parser.parse_args()
    console = Console()
    result = run(args, console)
    print(json.dumps(result["ratios"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
