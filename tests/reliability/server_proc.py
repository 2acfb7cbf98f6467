"""A real `ftsim serve` subprocess on 127.0.0.1 for the crash, load and security tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`python -m ftsim.api.cli serve` on a given database; kill() is SIGKILL (no clean shutdown)."""

    def __init__(self, db: Path, *, speed: float = 0.0, extra: list[str] | None = None,
                 sim_key: str | None = None) -> None:
        self.db = db
        self.speed = speed
        self.extra = list(extra or []) + (["--sim-key", sim_key] if sim_key else [])
        self.sim_key = sim_key  # sent on the readiness poll of /_sim when the server needs it
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log = db.parent / "server.log"

    @property
    def base(self) -> str:
        """The server's root URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Spawn the server and wait (bounded) until it answers. A port taken between `free_port()` and the
        server's bind (another test process picked it meanwhile) is retried on a new one, three times at most."""
        for attempt in range(3):
            self.port = free_port()
            cmd = [sys.executable, "-m", "ftsim.api.cli", "serve", "--db", str(self.db), "--port", str(self.port),
                   "--speed", f"{self.speed:g}", *self.extra]
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self.log.parent.mkdir(parents=True, exist_ok=True)
            logged = self.log.stat().st_size if self.log.exists() else 0
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
            try:
                self.wait_ready(timeout)
                return self
            except RuntimeError:
                if attempt == 2 or "cannot listen on" not in self.log.read_text()[logged:]:
                    raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Poll GET /_sim/clock until it answers 200, the process dies, or `timeout` passes."""
        deadline = time.monotonic() + timeout
        headers = {"x-ftsim-sim-key": self.sim_key} if self.sim_key else {}
        with httpx.Client(timeout=1.0, headers=headers) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
                try:
                    if client.get(self.base + "/_sim/clock").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.02)  # bounded readiness poll of a real process
        raise TimeoutError(f"server not ready within {timeout}s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to flush or clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Terminate politely (SIGTERM), then make sure it is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
