"""ftsim.pricing.reports.report: the HTML is self-contained with its three charts; Markdown and CSV carry the grid."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.planning.compare import compare
from ftsim.pricing.reports.report import TABLE_ROWS, charts, format_of, render, write_report
from ftsim.pricing.planning.whatif import baseline_input, evaluate, load_scenario

CATALOG = load_catalog()
SCENARIOS = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def support_bot():
    scenario = load_scenario(SCENARIOS / "support-bot.toml")
    grid = evaluate(scenario, catalog=CATALOG)
    result = compare(baseline_input(scenario), catalog=CATALOG)
    return scenario, grid, result


def _svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", page, re.S)]


def test_html_is_self_contained_with_the_three_charts(support_bot):
    scenario, grid, result = support_bot
    page = render("html", scenario, grid, result, result.warnings)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)  # no external resource
    ids = [svg.get("id") for svg in _svgs(page)]
    assert ids == ["chart-volume", "chart-cumulative", "chart-breakdown"]
    assert "2027-01-14" in page  # the lifecycle warning
    assert "100,000 calls" in page


def test_volume_chart_marks_the_break_even_where_the_lines_cross(support_bot):
    _, _, result = support_bot
    volume = ET.fromstring(charts(result)["volume"])
    lines = volume.findall(f"{SVG}polyline")
    assert len(lines) == 2
    marks = volume.findall(f"{SVG}circle")
    assert len(marks) == 1 and marks[0].get("class") == "break-even"
    # $12 over 1.74 months amortised against $0.00012 saved per call: 57,471.3, compare's break-even volume
    assert result.break_even_calls_per_month == 57_472
    assert "break-even volume 57,472 calls/month" in "".join(volume.itertext())


def test_cumulative_chart_marks_the_break_even_month(support_bot):
    _, _, result = support_bot
    svg = ET.fromstring(charts(result)["cumulative"])
    assert len(svg.findall(f"{SVG}polyline")) == 2
    assert "payback after 1.00 months" in "".join(svg.itertext())


def test_no_break_even_mark_when_it_never_pays_back(support_bot):
    scenario, _, _ = support_bot
    params = baseline_input(scenario).model_copy(update={"cached_fraction": 1})
    result = compare(params, catalog=CATALOG)
    for svg in charts(result).values():
        assert ET.fromstring(svg).findall(f"{SVG}circle") == []


def test_breakdown_bars_sum_to_the_horizon_costs(support_bot):
    _, _, result = support_bot
    svg = ET.fromstring(charts(result)["breakdown"])
    text = "".join(svg.itertext())
    assert "$257.52" in text and "$248.64" in text
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert any(t.startswith("training: $12") for t in titles)


def test_markdown_has_summary_warnings_and_grid(support_bot):
    scenario, grid, result = support_bot
    text = render("md", scenario, grid, result, result.warnings)
    assert text.startswith("# Support bot")
    assert "| cost per call | $0.001480 | $0.001360 |" in text
    assert "> **Warning:**" in text
    table = [line for line in text.splitlines() if line.startswith("| calls/month")]
    assert len(table) == 1
    assert text.count("\n| ") >= len(grid)  # every row of a small grid


def test_csv_round_trips_the_full_grid(support_bot):
    scenario, grid, result = support_bot
    back = pd.read_csv(io.StringIO(render("csv", scenario, grid, result, [])))
    assert list(back.columns) == list(grid.columns)
    assert len(back) == len(grid)
    assert back["break_even_calls"].isna().sum() == grid["break_even_calls"].isna().sum()


def test_csv_files_are_streamed_by_the_fast_writer_with_to_csvs_bytes(tmp_path, monkeypatch, support_bot):
    """A million-row CSV took ~25 s through DataFrame.to_csv: the report must not go through it any more."""
    scenario, grid, result = support_bot
    buffer = io.StringIO()
    grid.to_csv(buffer, index=False)
    expected = buffer.getvalue()

    def refuse(*args, **kwargs):
        raise AssertionError("the CSV report went through DataFrame.to_csv (slow, whole text in memory)")

    monkeypatch.setattr(pd.DataFrame, "to_csv", refuse)
    path = write_report(tmp_path / "r.csv", scenario, grid, result, [])
    assert path.read_bytes() == expected.encode("utf-8")
    assert render("csv", scenario, grid, result, []) == expected


def test_big_grids_are_truncated_in_html_and_md():
    scenario = load_scenario(SCENARIOS / "dataset-size.toml")
    grid = pd.concat([evaluate(scenario, catalog=CATALOG)] * 4, ignore_index=True)
    assert len(grid) > TABLE_ROWS
    page = render("html", scenario, grid, None, [])
    assert page.count("<tr>") <= TABLE_ROWS + 2
    assert f"The first {TABLE_ROWS} rows" in page
    assert [svg.get("id") for svg in _svgs(page)] == ["chart-training"]


def test_write_report_picks_the_format_from_the_name(tmp_path, support_bot):
    scenario, grid, result = support_bot
    for name in ("r.html", "r.md", "r.csv"):
        path = write_report(tmp_path / name, scenario, grid, result, [])
        assert path.stat().st_size > 100
    with pytest.raises(ValueError, match="unknown report format"):
        format_of("report.pdf")


def test_cumulative_chart_jumps_at_each_retraining():
    import datetime as dt

    from ftsim.pricing.planning.compare import CompareInput

    params = CompareInput(model="gpt-4.1-mini", calls_per_month=300_000, system_prompt_tokens=2000,
                          input_tokens=500, output_tokens=300, training_tokens=24_000_000, retrain_every=3,
                          today=dt.date(2025, 7, 1))
    result = compare(params, catalog=CATALOG)
    assert result.tuned.trainings == 4
    svg = ET.fromstring(charts(result)["cumulative"])
    tuned = svg.findall(f"{SVG}polyline")[1].get("points").split()
    xs = [p.split(",")[0] for p in tuned]
    assert sum(a == b for a, b in zip(xs, xs[1:])) == 3  # vertical segments at months 3, 6, 9


def test_report_leads_with_the_answer(support_bot):
    """The summary block: as-of date, catalog version, the answer with net saving and the one break-even,
    the pivot by provider x model x cached share, sources; all before the charts."""
    scenario, grid, result = support_bot
    page = render("html", scenario, grid, result, result.warnings)
    top = page[:page.index("<h2>Charts</h2>")]
    assert "As of 2026-11-22" in top and "OpenAI catalog 2026-11" in top
    answer = top[top.index('id="answer"'):]
    assert "Pays back on OpenAI at 100,000 calls a month: net saving $8.88 over 1.74 months" in answer
    assert "Break-even volume: 57,472 calls a month" in answer
    assert "stops paying back above a cached share of 8.5%" in answer
    assert "Price sources:" in top and "S1 (" in top and "OAI-DEP" in top
    pivot = top[top.index('id="pivot"'):top.index("</table>", top.index('id="pivot"'))]
    assert pivot.count("<tr>") == 1 + 2 * 2  # header + (OpenAI, Azure) x (gpt-4.1-mini, gpt-4o-mini)
    assert "0% cached" in pivot and "50% cached" in pivot and "100% cached" in pivot
    assert 'class="pays_back"' in pivot and 'class="never_pays_back"' in pivot
    assert page.count("Break-even volume:") == 2  # the answer and the one definition
    assert "break-even after" not in page  # payback is named payback, not a second break-even


def test_grid_is_formatted_without_na_and_scrolls_inside_the_page(support_bot):
    scenario, grid, result = support_bot
    page = render("html", scenario, grid, result, result.warnings)
    assert "<NA>" not in page and "NaN" not in page and ">nan<" not in page
    assert '<div class="grid-wrap" id="grid">' in page and "overflow-x:auto" in page
    grid_html = page[page.index('id="grid"'):]
    assert "$0.001480" in grid_html and "$148.00" in grid_html and ">never<" in grid_html and ">50%<" in grid_html
    md = render("md", scenario, grid, result, result.warnings)
    assert "<NA>" not in md and "| never |" in md


def test_pivot_cells_are_compare_results(support_bot):
    from decimal import Decimal

    from ftsim.pricing.reports.report import pivot

    scenario, _, result = support_bot
    table = pivot(scenario, result, CATALOG)
    cell = table["cells"][("openai", "gpt-4.1-mini", Decimal("0"))]
    assert cell.verdict == "pays_back" and cell.net == result.net_savings_over_horizon_usd
    azure = table["cells"][("azure", "gpt-4.1-mini", Decimal("0"))]
    assert azure.verdict == "never_pays_back"  # $1,241 a month of hosting at 100,000 calls


def test_estimate_report_has_the_as_of_line():
    scenario = load_scenario(SCENARIOS / "dataset-size.toml")
    grid = evaluate(scenario, catalog=CATALOG)
    page = render("html", scenario, grid, None, [])
    assert 'id="as-of"' in page and "OpenAI catalog 2026-11" in page


def test_grid_counts_are_formatted_from_numpy_scalars(support_bot):
    from ftsim.pricing.reports.report import display_grid

    _, grid, _ = support_bot
    labels, rows = display_grid(grid)
    column = labels.index("break-even calls/month")
    assert "57,472" in [row[column] for row in rows]
