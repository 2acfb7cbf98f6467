"""Bad input a user (or a fuzzer) gives the `ftsim` command: one line on stderr, a non-zero exit, no traceback.

Each test here was a traceback, an unbounded run or a silently ignored flag before the fix it guards.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftsim.api.cli import main

ROOT = Path(__file__).parents[2]
SUPPORT = ROOT / "fixtures" / "scenarios" / "support-bot.toml"
COST_PLAY = ROOT / "fixtures" / "answers" / "sft-cost-play.toml"
COMPARE = ["compare", "--model", "gpt-4.1-mini", "--calls-per-month", "100000", "--system-prompt-tokens", "2000",
           "--input-tokens", "500", "--output-tokens", "300"]


def one_line(err: str) -> bool:
    """A single `ftsim: ...` line, or argparse's usage error ending in one `error:` line."""
    lines = err.strip().splitlines()
    if "Traceback" in err or not lines:
        return False
    return len(lines) == 1 and lines[0].startswith("ftsim: ") or (
        lines[0].startswith("usage: ") and "error: " in lines[-1])


def run(argv: list[str], capsys) -> tuple[int, str]:
    """main(argv) as the console script runs it: an argparse exit becomes its code."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


# --- an as-of date near the end of the calendar ------------------------------------------------------------------

FAR_DATES = st.dates(min_value=dt.date(9990, 1, 1), max_value=dt.date.max)


@pytest.mark.parametrize("argv", [
    COMPARE,
    [*COMPARE, "--provider", "both"],
    ["whatif", str(SUPPORT), "--rows", "0"],
    ["decide", "--answers", str(COST_PLAY)],
])
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day=FAR_DATES)
def test_a_far_today_is_a_usage_error(argv, day, capsys):
    code, err = run([*argv, "--today", day.isoformat()], capsys)
    assert code == 2 and one_line(err) and "--today" in err


def test_a_far_today_in_a_scenario_or_answers_file_is_one_line(tmp_path, capsys):
    scenario = tmp_path / "far.toml"
    scenario.write_text(SUPPORT.read_text(encoding="utf-8").replace("today = 2026-11-22", "today = 9999-12-31"),
                        encoding="utf-8")
    code, err = run(["whatif", str(scenario)], capsys)
    assert code == 1 and one_line(err) and "today" in err
    answers = tmp_path / "far-answers.toml"
    answers.write_text(COST_PLAY.read_text(encoding="utf-8").replace("today = 2026-11-22", "today = 9999-12-31"),
                       encoding="utf-8")
    code, err = run(["decide", "--answers", str(answers)], capsys)
    assert code == 2 and one_line(err) and "today" in err and "year 10000" not in err


# --- what-if ranges whose point count overflows ---------------------------------------------------------------------

@pytest.mark.parametrize("spec", [
    "{ start = 0, stop = inf, step = 1 }",
    "{ start = 0, stop = 1e300, step = 1e-300 }",
    "{ start = -1e308, stop = 1e308, step = 1e300 }",
    "{ start = nan, stop = 5, step = 1 }",
    "{ start = 0, stop = 5, step = inf }",
    "{ start = 0, stop = nan, num = 3 }",
])
def test_non_finite_ranges_are_one_line(tmp_path, capsys, spec):
    text = SUPPORT.read_text(encoding="utf-8")
    start = text.index("calls_per_month = {")
    line = text[start:text.index("\n", start)]
    scenario = tmp_path / "range.toml"
    scenario.write_text(text.replace(line, f"calls_per_month = {spec}"), encoding="utf-8")
    code, err = run(["whatif", str(scenario), "--rows", "0"], capsys)
    assert code == 1 and one_line(err) and "calls_per_month" in err and "NaN to integer" not in err


# --- serve: numbers and choices argparse let through ----------------------------------------------------------------

@pytest.fixture
def no_server(monkeypatch):
    """A serve that gets as far as starting uvicorn fails the test instead of listening."""
    import uvicorn

    def refuse(*args, **kwargs):
        raise AssertionError("the server started")

    monkeypatch.setattr(uvicorn, "run", refuse)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "-1e400", "1e308", "abc", "", "0x10"])
       | st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not 0 <= v <= 1_000_000).map(repr))
def test_serve_speed_must_be_a_finite_sensible_number(text, capsys, no_server):
    code, err = run(["serve", "--db", ":memory:", f"--speed={text}"], capsys)
    assert code == 2 and one_line(err) and "--speed" in err


def test_serve_unknown_log_level_is_a_usage_error(capsys, no_server):
    code, err = run(["serve", "--db", ":memory:", "--log-level", "bogus"], capsys)
    assert code == 2 and one_line(err) and "--log-level" in err
