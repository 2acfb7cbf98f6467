"""`ftsim whatif`: reports in each format, the terminal table, one-line failures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ftsim.api.cli import main

ROOT = Path(__file__).parents[2]
SUPPORT = str(ROOT / "fixtures" / "scenarios" / "support-bot.toml")
DATASET = str(ROOT / "fixtures" / "scenarios" / "dataset-size.toml")


@pytest.mark.parametrize("name", ["report.html", "report.md", "report.csv"])
def test_writes_each_format(tmp_path, capsys, name):
    out = tmp_path / name
    assert main(["whatif", SUPPORT, "--out", str(out)]) == 0
    assert "126 rows" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    if name.endswith(".html"):
        assert text.count("<svg") == 3 and 'class="break-even"' in text
    elif name.endswith(".md"):
        assert text.startswith("# Support bot") and "| cost per call |" in text
    else:
        assert len(pd.read_csv(out)) == 126


def test_terminal_table(capsys):
    assert main(["whatif", SUPPORT, "--rows", "3", "--today", "2026-11-22"]) == 0
    out = capsys.readouterr().out
    assert "Support bot" in out and "first 3 of 126 rows" in out and "100,000 calls" in out


def test_estimate_scenario_on_the_terminal(capsys):
    assert main(["whatif", DATASET, "--rows", "2"]) == 0
    out = capsys.readouterr().out
    assert "72 rows" in out and "as of " in out and "training" in out and "$0.60" in out


@pytest.mark.parametrize("argv, code, text", [
    (["whatif", "missing.toml"], 1, "scenario file not found"),
    (["whatif", SUPPORT, "--out", "report.pdf"], 2, "unknown report format"),
    (["whatif", SUPPORT, "--rows", "-1"], 2, "--rows"),
])
def test_failures(capsys, argv, code, text):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert text in err and "Traceback" not in err


def test_bad_scenario_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[baseline]\nmodel = "gpt-4.1-mini"\n[sweep]\ncolour = [1]\n', encoding="utf-8")
    assert main(["whatif", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "colour" in err


def test_progress_bar_path_evaluates_the_whole_grid():
    from ftsim.api.cli.whatif import _evaluate_with_progress
    from ftsim.pricing.catalog.catalog import load_catalog
    from ftsim.pricing.planning.whatif import grid_size, load_scenario

    scenario = load_scenario(SUPPORT)
    grid = _evaluate_with_progress(scenario, load_catalog(), grid_size(scenario))
    assert len(grid) == 126


def test_the_scenarios_today_pins_the_as_of_date_and_today_overrides_it(capsys):
    """The README: `support-bot` pins 2026-11-22; `--today` moves it (a shorter horizon to 2027-01-14)."""
    assert main(["whatif", SUPPORT, "--rows", "0"]) == 0
    pinned = capsys.readouterr().out
    assert "as of 2026-11-22" in pinned and "over the 1.74-month horizon" in pinned
    assert main(["whatif", SUPPORT, "--rows", "0", "--today", "2026-12-06"]) == 0
    moved = capsys.readouterr().out
    assert "as of 2026-12-06" in moved and "over the 1.28-month horizon" in moved and "2026-11-22" not in moved
