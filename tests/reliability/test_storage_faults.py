"""A real `ftsim serve` on a real full disk (issue 13, defect 10): a small tmpfs mounted in a private mount
namespace (`unshare --mount`, where the machine allows it; skipped elsewhere), so nothing is mounted on the host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from tests.reliability.server_proc import ROOT, free_port

AUTH = {"Authorization": "Bearer sk-full"}
CHUNK = b'{"messages": [{"role": "user", "content": "' + b"x" * 1000 + b'"}, {"role": "assistant", "content": "y"}]}\n'


def _can_mount_tmpfs() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "--mount", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt 2>/dev/null"],
                           capture_output=True, timeout=10)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _can_mount_tmpfs(), reason="cannot mount a tmpfs in a private mount namespace")


def _serve_on_tmpfs(folder, port, before=""):
    """`ftsim serve` with its database on a 3 MiB tmpfs over `folder`, visible only to the server."""
    serve = (f"exec {sys.executable} -m ftsim.api.cli serve --db {folder}/ftsim.db --port {port} --speed 0 "
             "--log-level error")
    script = f"mount -t tmpfs -o size=3m tmpfs {folder} && {before} {serve}"
    return subprocess.Popen(["unshare", "--mount", "sh", "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_ready(proc, base):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            if httpx.get(base + "/_sim/clock", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)  # bounded readiness poll of a real process
    raise TimeoutError("server not ready")


def test_a_full_disk_answers_503_keeps_every_acknowledged_file_and_delete_frees_space(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()
    port = free_port()
    proc = _serve_on_tmpfs(folder, port)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base)
        acknowledged, refused = [], None
        with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
            for _ in range(60):
                resp = client.post("/v1/files", files={"file": ("t.jsonl", CHUNK * 200)}, data={"purpose": "fine-tune"})
                if resp.status_code != 200:
                    refused = resp
                    break
                acknowledged.append(resp.json()["id"])
            assert refused is not None, "the 3 MiB disk never filled"
            assert refused.status_code == 503, refused.text
            assert set(refused.json()["error"]) == {"message", "type", "param", "code"}
            assert refused.headers["x-request-id"].startswith("req_")
            listed = {f["id"] for f in client.get("/v1/files", params={"limit": 100}).json()["data"]}
            assert listed == set(acknowledged)
            for file_id in acknowledged[:2]:
                assert client.delete(f"/v1/files/{file_id}").status_code == 200
            again = client.post("/v1/files", files={"file": ("t.jsonl", CHUNK * 200)}, data={"purpose": "fine-tune"})
            assert again.status_code == 200, again.text
            assert client.get(f"/v1/files/{acknowledged[-1]}").status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
    assert not any(folder.iterdir())  # the tmpfs went away with the server's namespace


def test_starting_on_a_full_disk_is_one_line_and_a_non_zero_exit(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()
    proc = _serve_on_tmpfs(folder, free_port(), before=f"(cat /dev/zero > {folder}/fill 2>/dev/null || true) &&")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode not in (0, None)
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ftsim: ") and "full" in lines[0], err.decode()
