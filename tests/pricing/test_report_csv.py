"""ftsim.pricing.reports.report_csv: the fast CSV writer gives the bytes of DataFrame.to_csv(index=False), chunk by chunk."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.reports.report_csv import csv_chunks, csv_text, write_csv
from ftsim.pricing.planning.whatif import evaluate, load_scenario

CATALOG = load_catalog()
SCENARIOS = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"


def pandas_csv(frame: pd.DataFrame) -> str:
    """The reference: what the report wrote before (to_csv into a string)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["support-bot.toml", "dataset-size.toml", "rft-hours.toml"])
def test_scenario_grids_match_to_csv_byte_for_byte(name):
    grid = evaluate(load_scenario(SCENARIOS / name), catalog=CATALOG)
    assert csv_text(grid) == pandas_csv(grid)
    assert b"".join(csv_chunks(grid, chunk_rows=7)) == pandas_csv(grid).encode()  # chunk edges change nothing


def test_a_sample_of_the_big_grid_matches_to_csv():
    scenario = load_scenario(SCENARIOS / "big-grid.toml")
    scenario = scenario.model_copy(update={"sweep": {**scenario.sweep, "calls_per_month": [10_000, 990_000]}})
    grid = evaluate(scenario, catalog=CATALOG)  # 20,000 rows: every column kind of the million-row grid
    assert grid["break_even_calls"].isna().any() and grid["break_even_months"].isna().any()
    assert csv_text(grid) == pandas_csv(grid)


def test_tricky_values_match_to_csv():
    frame = pd.DataFrame({
        "f": [0.0, -0.0, 1e-5, 1e-4, 0.1 + 0.2, 2400000.0, 1e9, 123456789.123456, np.inf, -np.inf, np.nan, -3.3],
        "i": [0, -1, 7, 10, 99, 100, -123456789, 2**62, 5, 6, 8, 9],
        "n": pd.array([1, None, -3, 0, 10**12, None, 2, 3, 4, 5, 6, 7], dtype="Int64"),
        "s": ["a,b", 'say "hi"', "line\nbreak", "é ünï", None, "", "plain", "cr\r", "x", "y", "z", "w"],
        "o": pd.Series([3, "auto", None, 2.5, True, "gpt-4o", 3, "auto", 1, 2, 4, 5], dtype=object),
        "b": [True, False] * 6,
        "with,comma": ["gpt-4.1-mini"] * 12,
    })
    assert csv_text(frame) == pandas_csv(frame)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                          st.integers(-10**9, 10**9).map(lambda k: k / 100),
                          st.integers(-10**15, 10**15).map(lambda k: k / 10**6)), min_size=1, max_size=40),
       st.lists(st.integers(-2**63 + 1, 2**63 - 1), min_size=1, max_size=40),
       st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=1, max_size=40))
def test_any_floats_ints_and_texts_match_to_csv(floats, ints, texts):
    n = min(len(floats), len(ints), len(texts))
    frame = pd.DataFrame({"f": floats[:n], "i": ints[:n], "t": pd.Series(texts[:n], dtype=object)})
    assert csv_text(frame) == pandas_csv(frame)


def test_write_csv_streams_chunks_into_a_binary_file(tmp_path):
    grid = evaluate(load_scenario(SCENARIOS / "support-bot.toml"), catalog=CATALOG)
    with (tmp_path / "g.csv").open("wb") as stream:
        write_csv(grid, stream, chunk_rows=10)
    assert (tmp_path / "g.csv").read_text(encoding="utf-8") == pandas_csv(grid)
    assert len(list(csv_chunks(grid, chunk_rows=10))) == 1 + -(-len(grid) // 10)  # header + chunks


def test_frames_it_does_not_model_still_match():
    dates = pd.DataFrame({"d": pd.date_range("2026-01-01", periods=3), "x": [1.5, 2.0, np.nan]})
    assert csv_text(dates) == pandas_csv(dates)
    lone = pd.DataFrame({"only": ["", "a", None]})
    assert csv_text(lone) == pandas_csv(lone)
