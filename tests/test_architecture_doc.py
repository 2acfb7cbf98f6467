"""docs/ARCHITECTURE.md's module tables name every module under api/, simulator/ and pricing/, and nothing else.

The tables went stale once already (a restructure moved every module); this holds them to the tree, so a module
added, moved or removed without its row fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
LAYERS = ("pricing", "simulator", "api")


def _rows(text: str) -> dict[str, list[tuple[str | None, list[str]]]]:
    """Per layer section (`## pricing/ ...`): each table row's folder heading (`**core/**`) and the paths named in
    its first cell."""
    rows: dict[str, list[tuple[str | None, list[str]]]] = {}
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        layer = section.split("\n", 1)[0].split("/", 1)[0].strip()
        if layer not in LAYERS:
            continue
        group: str | None = None
        for line in section.splitlines():
            if not line.startswith("| "):
                continue
            first = line.split("|")[1].strip()
            heading = re.fullmatch(r"\*\*([\w/]+/)\*\*.*", first)
            if heading:
                group = heading.group(1)
                continue
            paths = re.findall(r"`([^`]+)`", first)
            if paths:
                rows.setdefault(layer, []).append((group, paths))
    return rows


def _modules_on_disk(layer: str) -> set[str]:
    """Every module of a layer folder, relative to it; an `__init__.py` counts when it holds more than a docstring."""
    base = ROOT / layer
    found = set()
    for path in base.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        if path.name == "__init__.py":
            body = ast.parse(path.read_text(encoding="utf-8")).body
            if all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body):
                continue
        found.add(path.relative_to(base).as_posix())
    return found


ROWS = _rows(DOC.read_text(encoding="utf-8"))


def test_the_doc_has_a_table_per_layer():
    assert set(ROWS) == set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_every_module_has_a_row_and_every_row_a_module(layer):
    named = [p for _, paths in ROWS[layer] for p in paths if p.endswith(".py")]
    on_disk = _modules_on_disk(layer)
    assert sorted(on_disk - set(named)) == [], f"modules under {layer}/ missing from docs/ARCHITECTURE.md"
    assert sorted(set(named) - on_disk) == [], f"docs/ARCHITECTURE.md names modules {layer}/ does not have"
    assert len(named) == len(set(named)), "a module is named in two rows"


@pytest.mark.parametrize("layer", LAYERS)
def test_every_path_named_in_a_row_exists(layer):
    """Data files and folders named beside the modules (`catalog/2026-11.json`, `dataset/encodings/*.tiktoken`)."""
    missing = [p for _, paths in ROWS[layer] for p in paths if not list((ROOT / layer).glob(p))]
    assert missing == []


@pytest.mark.parametrize("layer", LAYERS)
def test_rows_sit_under_their_folder_heading(layer):
    misplaced = [p for group, paths in ROWS[layer] for p in paths
                 if (group is None and "/" in p.rstrip("/")) or (group is not None and not p.startswith(group))]
    assert misplaced == []


def test_the_contracts_block_runs_as_written():
    """The "Contracts other layers rely on" example names real functions and attributes, with the stated values."""
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    namespace = {"path": ROOT / "fixtures" / "datasets" / "sft_valid.jsonl"}
    # Each line is an expression statement or an assignment: running it checks every name and attribute it uses.
    exec(compile(code.replace("report.examples_prompts", "pass"), str(DOC), "exec"), namespace)  # noqa: S102
    entry, report = namespace["entry"], namespace["report"]
    assert entry.snapshot == "gpt-4.1-mini-2025-04-14" and entry.tokenizer in ("o200k_base", "cl100k_base")
    assert entry.methods <= {"supervised", "dpo", "reinforcement", "vision"}
    assert report.valid and report.first_error is None and report.detected_format == "chat"
