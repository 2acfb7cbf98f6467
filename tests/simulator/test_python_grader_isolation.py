"""Python graders are isolated (issue 13, defect 9): no network, no view of the server, nothing outlives the limit.

The checks that need namespaces or a switch to `nobody` run where the machine allows them (`sandbox()` probes
once) and are skipped elsewhere, with the reason; the README lists what isolation is missing without them.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

import pytest

from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.store import Store
from ftsim.simulator.graders.python_runner import sandbox

BOX = sandbox()
needs_namespaces = pytest.mark.skipif(not BOX.namespaces, reason="no usable `unshare` here (see README)")
needs_root = pytest.mark.skipif(not BOX.drops_to_nobody, reason="only a server running as root can switch user")


@pytest.fixture
def world_readable_dir():
    """A folder anyone may enter and write (as a database folder may be), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="ftsim-iso-"))
    path.chmod(0o777)
    yield path
    for child in sorted(path.rglob("*"), reverse=True):
        child.unlink() if child.is_file() or child.is_symlink() else child.rmdir()
    path.rmdir()


@pytest.fixture
def server(world_readable_dir):
    """A python-graders backend on a database file in a folder anyone can enter."""
    db = world_readable_dir / "ftsim.db"
    b = Backend(store=Store(db), clock=ManualClock(), config=SimConfig(python_graders=True))
    b.graders.python_timeout = 1.0
    yield b
    b.close()


def grade(backend, source, item=None):
    grader = {"type": "python", "name": "p", "source": source}
    out = backend.graders.run(backend.tenant("sk-a"), grader=grader, model_sample="x", item=item or {})
    return out.reward, out.metadata.errors


@needs_root
def test_a_grader_cannot_read_the_servers_database_or_shadow(server):
    db = server.store.path
    other = server.tenant("sk-b")
    secret = server.files.create(other, filename="secret.jsonl", purpose="fine-tune",
                                 chunks=[b'{"messages": [{"role": "user", "content": "tenant b secret"}]}\n'])
    blob = str(server.files.content_path(other, secret.id))
    source = (
        "def grade(sample, item):\n"
        "    readable = 0\n"
        "    for path in (item['db'], item['blob'], '/etc/shadow'):\n"
        "        try:\n"
        "            open(path, 'rb').read(16)\n"
        "            readable += 1\n"
        "        except OSError:\n"
        "            pass\n"
        "    return readable\n"
    )
    assert grade(server, source, {"db": db, "blob": blob})[0] == 0.0
    assert oct(os.stat(db).st_mode & 0o777) == "0o600"  # the store keeps its database owner-only


@needs_namespaces
def test_a_grader_cannot_see_the_server_process(server):
    # the reported attack: the database path from /proc/<ppid>/cmdline
    source = (
        "import os\n"
        "def grade(sample, item):\n"
        "    seen = 0\n"
        "    for pid in os.listdir('/proc'):\n"
        "        try:\n"
        "            seen += b'pytest' in open(f'/proc/{pid}/cmdline', 'rb').read()\n"
        "        except OSError:\n"
        "            pass\n"
        "    return seen * 1000 + os.getppid()\n"
    )
    assert grade(server, source)[0] == 0.0  # no process of the server's in sight, and no parent


@needs_namespaces
def test_a_grader_cannot_open_a_socket_to_the_server():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        b = Backend(config=SimConfig(python_graders=True))
        try:
            source = (
                "import socket\n"
                "def grade(sample, item):\n"
                "    try:\n"
                "        socket.create_connection(('127.0.0.1', item['port']), timeout=0.5).close()\n"
                "        return 1\n"
                "    except OSError:\n"
                "        return 0\n"
            )
            assert grade(b, source, {"port": port})[0] == 0.0
        finally:
            b.close()


@pytest.mark.parametrize("escape", [False, pytest.param(True, marks=needs_namespaces)])
def test_nothing_a_grader_forks_outlives_the_time_limit(server, world_readable_dir, escape):
    # the grandchild (in its own session when `escape`) appends to a file every 20 ms for 5 s; the grader sleeps
    marks = world_readable_dir / "marks"
    source = (
        "import os, time\n"
        "def grade(sample, item):\n"
        "    if os.fork() == 0:\n"
        f"        {'os.setsid()' if escape else 'pass'}\n"
        "        for _ in range(250):\n"
        "            with open(item['marks'], 'a') as f:\n"
        "                f.write('x')\n"
        "            time.sleep(0.02)\n"
        "        os._exit(0)\n"
        "    time.sleep(30)\n"
        "    return 1\n"
    )
    reward, errors = grade(server, source, {"marks": str(marks)})
    assert reward == 0.0 and "did not finish" in errors["python_grader_runtime_error_details"]
    assert marks.exists()  # the grandchild did run
    size = marks.stat().st_size
    time.sleep(0.3)  # fifteen of its writes, had it survived
    assert marks.stat().st_size == size


def test_a_grader_starts_empty_handed():
    b = Backend(config=SimConfig(python_graders=True))
    try:
        source = (
            "import os\n"
            "def grade(sample, item):\n"
            "    fds = len(os.listdir('/proc/self/fd')) - 1  # listdir's own descriptor\n"
            "    return (os.listdir('.') == []) + 10 * (set(os.environ) <= {'PATH', 'LANG', 'LC_CTYPE'}) + 100 * (fds <= 3)\n"
        )
        assert grade(b, source)[0] == 111.0
    finally:
        b.close()


def test_without_namespaces_a_grader_still_runs_and_its_process_group_dies(monkeypatch, world_readable_dir):
    """The fallback where `unshare` is unusable: no namespaces, but the session is still killed whole."""
    import sys

    from ftsim.simulator.graders import python_runner

    monkeypatch.setattr(python_runner, "sandbox", lambda: python_runner.Sandbox((), sys.executable, False, False))
    b = Backend(config=SimConfig(python_graders=True))
    b.graders.python_timeout = 1.0
    try:
        assert grade(b, "def grade(sample, item):\n    return 0.25\n")[0] == 0.25
        marks = world_readable_dir / "marks"
        source = (
            "import os, time\n"
            "def grade(sample, item):\n"
            "    if os.fork() == 0:\n"
            "        for _ in range(250):\n"
            "            with open(item['marks'], 'a') as f:\n"
            "                f.write('x')\n"
            "            time.sleep(0.02)\n"
            "        os._exit(0)\n"
            "    return 1\n"  # returns at once: the grandchild must not outlive the run
        )
        assert grade(b, source, {"marks": str(marks)})[0] == 1.0
        size = marks.stat().st_size if marks.exists() else 0
        time.sleep(0.3)
        assert (marks.stat().st_size if marks.exists() else 0) == size
    finally:
        b.close()
