"""The README's examples that tests/sdk/test_readme_examples.py leaves out run as written: the Quickstart against a
real `ftsim serve`, the manual-clock `curl`, the Azure fragment and the one-line `Simulator` outside pytest."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ftsim import Simulator
from tests.reliability.server_proc import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "README.md").read_text(encoding="utf-8")
DATASET = ROOT / "fixtures" / "datasets" / "sft_valid.jsonl"


def _section(title: str) -> str:
    return TEXT.split(title, 1)[1].split("\n## ", 1)[0]


def _blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


@pytest.mark.slow
def test_quickstart_runs_against_a_served_world(tmp_path):
    """Run on a fast clock (the README's default of 60x would make the job take seconds of real time)."""
    (code,) = _blocks(_section("## Quickstart"), "python")
    assert "http://127.0.0.1:8000/v1" in code
    with ServerProcess(tmp_path / "ftsim.db", speed=100_000) as server:
        code = code.replace("http://127.0.0.1:8000", server.base)
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"ft:gpt-4o-mini-2024-07-18:personal:demo:\w{8}", lines[0])  # the model name it promises
    assert len(lines) >= 7 and lines[1] == "The job has successfully completed"  # 5 events, newest first, a reply


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_manual_clock_curl_moves_the_clock_an_hour(tmp_path):
    (block,) = [b for b in _blocks(_section("## Quickstart"), "sh") if "--speed 0" in b]
    serve, curl = block.strip().splitlines()
    assert serve.split()[1:] == ["serve", "--speed", "0"]
    with ServerProcess(tmp_path / "ftsim.db", speed=0) as server:
        before = httpx.get(server.base + "/_sim/clock").json()["now"]
        argv = [w.replace("localhost:8000", f"localhost:{server.port}") for w in shlex.split(curl)]
        done = subprocess.run([*argv, "-s", "-f"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert httpx.get(server.base + "/_sim/clock").json()["now"] == before + 3600


def test_the_azure_fragment_runs_a_job_to_the_end():
    """The fragment assumes `sim` and an uploaded `file`; it must create a GlobalStandard job that finishes."""
    (fragment,) = _blocks(_section("### Azure OpenAI"), "python")
    with Simulator(seed=0) as sim:
        client = sim.azure_client(api_key="my-azure-key")
        file = client.files.create(file=DATASET.open("rb"), purpose="fine-tune")
        namespace = {"sim": sim, "file": file}
        exec(compile(fragment, "README.md", "exec"), namespace)  # noqa: S102 - our own README
        job = namespace["job"]
        assert job.id.startswith("ftjob-") and job.status == "pending"  # Azure's status before a job runs
        assert sim.run_until_complete(job.id).status == "succeeded"
        (line,) = sim.azure_cost("my-azure-key").lines
        assert line.kind == "training" and line.tier == "global"


def test_the_one_line_simulator_outside_pytest():
    (line,) = re.findall(r"Outside pytest: `([^`]+)`", TEXT)
    namespace = {"Simulator": Simulator}
    exec(line + "; models = client.models.list().data", namespace)  # noqa: S102 - our own README
    assert any(m.id == "gpt-4o-mini-2024-07-18" for m in namespace["models"])  # a client served by the Simulator
