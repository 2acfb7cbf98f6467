"""The README's "Testing your pipeline" examples run as written, so the docs cannot drift from the code."""

from __future__ import annotations

import inspect
import re
import shutil
from pathlib import Path

import pytest

from ftsim.api.testing.pytest_plugin import simulator_for

README = Path(__file__).resolve().parents[2] / "README.md"
DATASET = Path(__file__).resolve().parents[2] / "fixtures" / "datasets" / "sft_valid.jsonl"

# What the README's snippets assume the reader already has: imports, and their own `start_job`.
PRELUDE = '''
import datetime, time
import openai, pytest
import ftsim

def start_job(client):
    f = client.files.create(file=open("train.jsonl", "rb"), purpose="fine-tune")
    return client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id)
'''


def _section_code() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Testing your pipeline", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's testing section has no python examples"
    return PRELUDE + "\n".join(b for b in blocks if "def test_" in b or "def wait_for_job" in b)


def _examples() -> dict:
    namespace: dict = {}
    exec(compile(_section_code(), str(README), "exec"), namespace)  # noqa: S102 - our own README
    return {name: fn for name, fn in namespace.items() if name.startswith("test_") and callable(fn)}


EXAMPLES = _examples()


@pytest.mark.sdk1
@pytest.mark.sdk2
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_readme_example_runs(name, tmp_path, monkeypatch):
    """Each example runs as pytest would run it: with the `ftsim` fixture its own marker configures, if any."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # as on a machine with no key: the mock provides one
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    shutil.copy(DATASET, tmp_path / "train.jsonl")
    fn = EXAMPLES[name]
    if "ftsim" not in inspect.signature(fn).parameters:
        fn()
        return
    marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "ftsim"]
    with simulator_for(*(marks[0].args if marks else ()), **(marks[0].kwargs if marks else {})) as sim:
        fn(sim)


def test_readme_has_the_three_promised_examples():
    names = set(EXAMPLES)
    assert any("wait_for_job" in n for n in names)
    assert any("bad_file" in n or "fail" in n for n in names)
    assert any("rate_limit" in n or "503" in n for n in names)
