"""What-if reports: one self-contained HTML file (inline SVG charts, no scripts, no external links),
Markdown for pipelines and CSV for spreadsheets.

Charts (compare scenarios, drawn from the baseline's Decimal figures):
- monthly cost against volume for both paths, the tuned path carrying its training amortised over the
  horizon, with the break-even volume marked;
- cumulative cost over the horizon (training and retraining as steps), with the break-even month marked;
- a cost breakdown over the horizon (system prompt, cached prompt, input, output, training) per path.
Estimate scenarios get a bar chart of the training cost of each grid row (the first 40).
"""

from __future__ import annotations

import html
import math
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pandas as pd

from ftsim.pricing.planning.compare import CompareResult, usd
from ftsim.pricing.reports.charts import GREY, bar_chart, line_chart
from ftsim.pricing.reports.report_csv import csv_text, write_csv
from ftsim.pricing.planning.whatif import Scenario

__all__ = ["render", "render_html", "render_markdown", "render_csv", "charts", "write_report", "TABLE_ROWS", "pivot",
           "display_grid", "md_escape", "BREAK_EVEN_DEFINITION"]

TABLE_ROWS = 200
BLUE, ORANGE = "#2563eb", "#ea580c"
PARTS = [
    ("system_prompt", "system prompt", "#60a5fa"),
    ("system_prompt_cached", "cached prompt", "#a5b4fc"),
    ("input", "input", "#34d399"),
    ("output", "output", "#fbbf24"),
    ("training", "training", "#f87171"),
]
def _f(value: Decimal | None) -> float:
    return float(value) if value is not None else 0.0


def charts(result: CompareResult) -> dict[str, str]:
    """The three compare charts as SVG strings, keyed volume, cumulative, breakdown."""
    base_call, tuned_call = _f(result.base.cost_per_call_usd), _f(result.tuned.cost_per_call_usd)
    horizon = _f(result.horizon_months)
    training_total = _f(result.tuned.training_cost_usd) * result.tuned.trainings
    hosting = _f(result.tuned.hosting_monthly_usd)
    # the tuned line: per-call cost x volume + hosting + training spread over the horizon, so the lines cross at
    # compare's break-even volume
    amortised = (training_total / horizon if horizon > 0 else training_total) + hosting
    volume = result.inputs.calls_per_month
    saving = base_call - tuned_call
    be_volume = amortised / saving if saving > 0 else None
    top = max(volume * 2, (be_volume or 0) * 2, 1000)
    xs = [top * k / 50 for k in range(51)]
    marker = None
    if be_volume is not None:
        marker = (be_volume, base_call * be_volume,
                  f"break-even volume {math.ceil(round(be_volume, 6)):,} calls/month")
    volume_svg = line_chart(
        "Monthly cost against volume", [
            (f"base + long prompt ({result.base.model})", BLUE, xs, [base_call * x for x in xs]),
            (f"fine-tuned ({result.tuned.model}), training" + (" and hosting" if hosting else "") + " included", ORANGE,
             xs, [tuned_call * x + amortised for x in xs]),
        ], x_label="calls per month", y_label="USD per month", marker=marker, chart_id="chart-volume")
    months = [horizon * k / 60 for k in range(61)] if horizon > 0 else [0.0]
    every = result.inputs.retrain_every

    def tuned_at(m: float, before: bool = False) -> float:
        done = 1 if not every else min(result.tuned.trainings, 1 + int(m // every) - (1 if before else 0))
        return _f(result.tuned.monthly_cost_usd) * m + _f(result.tuned.training_cost_usd) * done

    steps = [float(every * k) for k in range(1, result.tuned.trainings)] if every else []
    tuned_xs = sorted(set(months) | set(steps))
    tuned_points = [(m, tuned_at(m)) for m in tuned_xs]
    for step in reversed(steps):  # a vertical jump at each retraining (reversed: indexes stay valid)
        tuned_points.insert(tuned_xs.index(step), (step, tuned_at(step, before=True)))

    be_month = _f(result.break_even_months) if result.break_even_months is not None else None
    cumulative_marker = None
    if be_month is not None and 0 < be_month <= horizon:
        cumulative_marker = (be_month, _f(result.base.monthly_cost_usd) * be_month,
                             f"payback after {result.break_even_months} months")
    cumulative_svg = line_chart(
        f"Cumulative cost over the {result.horizon_months}-month horizon", [
            ("base + long prompt", BLUE, months, [_f(result.base.monthly_cost_usd) * m for m in months]),
            ("fine-tuned (incl. training)", ORANGE, [x for x, _ in tuned_points], [y for _, y in tuned_points]),
        ], x_label="months", y_label="cumulative USD", marker=cumulative_marker, chart_id="chart-cumulative")
    calls = volume * horizon

    def parts(path, training: float) -> list[tuple[str, str, float]]:
        values = {k: _f(v) * calls for k, v in path.breakdown_per_call_usd.items()}
        values["training"] = training
        return [(label, colour, values.get(key, 0.0)) for key, label, colour in PARTS]

    breakdown_svg = bar_chart(f"Cost breakdown over {result.horizon_months} months", [
        ("base + long prompt", parts(result.base, 0.0)),
        ("fine-tuned", parts(result.tuned, training_total)),
    ], chart_id="chart-breakdown")
    return {"volume": volume_svg, "cumulative": cumulative_svg, "breakdown": breakdown_svg}


def _estimate_chart(grid: pd.DataFrame, swept: list[str]) -> str:
    """Training cost of the first 40 grid rows as bars."""
    bars = []
    for _, row in grid.head(40).iterrows():
        label = ", ".join(f"{row[n]}" for n in swept) or "baseline"
        bars.append((label[:24], [("training", PARTS[-1][2], float(row["training_cost_usd"]))]))
    return bar_chart("Training cost", bars, chart_id="chart-training")


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#111827;padding:0 1rem}h1{font-size:1.6rem;margin-bottom:.25rem}table{border-collapse:collapse;font-size:.8rem;
margin:.75rem 0}td,th{border:1px solid #e5e7eb;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f3f4f6}.summary td,.summary th,.pivot th:first-child{text-align:left}
.meta{color:#4b5563;font-size:.85rem;margin:.25rem 0 1rem}.answer{background:#eff6ff;border-left:4px solid #2563eb;
padding:.75rem 1rem;margin:1rem 0}.verdict{font-size:1.15rem;font-weight:600;margin:0 0 .4rem}
.warn{background:#fef3c7;border-left:4px solid #f59e0b;padding:.5rem 1rem;margin:.5rem 0}
.pays_back{background:#dcfce7}.pays_back_after_horizon{background:#fef9c3}.never_pays_back{background:#fee2e2}
.cannot_train{background:#e5e7eb;color:#374151}.na{color:#9ca3af}.def{font-size:.85rem;color:#374151}
.grid-wrap{max-width:100%;overflow-x:auto;max-height:36rem;overflow-y:auto;border:1px solid #e5e7eb}
.grid-wrap table{margin:0}.grid-wrap th{position:sticky;top:0}.sources{font-size:.8rem;color:#4b5563}
svg.chart{display:block;margin:1rem 0;max-width:100%;height:auto;font-size:11px;fill:#374151}"""

VERDICT_WORDS = {"pays_back": "pays back", "pays_back_after_horizon": "pays back after the horizon",
                 "never_pays_back": "does not pay back", "cannot_train": "cannot train"}
BREAK_EVEN_DEFINITION = (
    "Break-even volume: the calls a month at which the fine-tuned path's total cost over the horizon equals the "
    "base path's (training, retraining and hosting included). Payback: the months until the savings repay them "
    "at your volume. The horizon stops at the tuned model's shutdown."
)
DEFAULT_SHARES = ("0", "0.25", "0.5", "0.75", "1")
PROVIDER_NAMES = {"openai": "OpenAI", "azure": "Azure OpenAI"}


def money(value, places: int = 2) -> str:
    """$1,234.56 / -$1,234.56; per-call figures keep `places` decimals."""
    dec = Decimal(str(value))
    text = usd(abs(dec), places)
    return f"-{text}" if dec < 0 and text.strip("$0.,") else text


def percent(value) -> str:
    dec = (Decimal(str(value)) * 100).quantize(Decimal("0.01"))
    return f"{format(dec.normalize(), 'f')}%"


class PivotCell:
    """One (provider, model, cached share) cell: verdict and net saving over the horizon."""

    def __init__(self, verdict: str | None, net: Decimal | None, note: str = "") -> None:
        self.verdict, self.net, self.note = verdict, net, note

    def text(self) -> str:
        if self.verdict is None:
            return f"n/a ({self.note})" if self.note else "n/a"
        if self.verdict == "cannot_train":
            return "cannot train"
        return f"{VERDICT_WORDS[self.verdict]}, net {money(self.net)}"


def pivot(scenario: Scenario, result: CompareResult, catalog=None) -> dict:
    """The verdict at the baseline's other inputs, by provider x model x cached share (compare, in Decimal)."""
    from ftsim.pricing.catalog.catalog import load_catalog
    from ftsim.pricing.errors import PricingError
    from ftsim.pricing.planning.compare import compare
    from ftsim.pricing.planning.whatif import baseline_input

    catalog = catalog or load_catalog()
    axes = scenario.axes()
    models = [str(m) for m in axes.get("model", [result.inputs.model])][:8]
    shares = [Decimal(str(v)) for v in axes.get("cached_fraction", DEFAULT_SHARES)][:11]
    if "provider" in axes:
        providers = [str(p) for p in axes["provider"]]
    elif "provider" in scenario.baseline:
        providers = [result.provider]
    else:
        providers = ["openai", "azure"]
    base = baseline_input(scenario)
    cells: dict[tuple[str, str, Decimal], PivotCell] = {}
    for provider in providers:
        for model in models:
            for share in shares:
                update = {"model": model, "cached_fraction": share, "provider": provider}
                if provider == "azure":
                    update["base_model"] = None
                try:
                    r = compare(base.model_copy(update=update), catalog=catalog)
                    cells[(provider, model, share)] = PivotCell(r.verdict, r.net_savings_over_horizon_usd)
                except PricingError as exc:
                    note = "not fine-tunable there" if "not fine-tunable" in str(exc) else "not priced"
                    cells[(provider, model, share)] = PivotCell(None, None, note)
    return {"providers": providers, "models": models, "shares": shares, "cells": cells}


def _meta(scenario: Scenario, result: CompareResult | None, catalog=None) -> tuple[str, list[str]]:
    """The as-of line and the price sources."""
    from ftsim.pricing.catalog.catalog import load_catalog
    from ftsim.pricing.catalog.providers import load_providers

    catalog = catalog or load_catalog()
    as_of = result.as_of if result is not None else (scenario.today or catalog.effective_date)
    providers = load_providers()
    line = (f"As of {as_of.isoformat()} · OpenAI catalog {catalog.catalog_version} (effective "
            f"{catalog.effective_date.isoformat()}) · Azure and wind-down facts {providers.version}")
    sources = sorted(set(result.price_sources)) if result is not None else []
    if not sources:
        sources = [catalog.source_text(k) for k in catalog.sources]
    return line, sources


def _answer_lines(result: CompareResult) -> list[str]:
    """The answer first: verdict and net saving, then break-even volume and cache share."""
    where = PROVIDER_NAMES[result.provider]
    lines = [f"{VERDICT_WORDS[result.verdict].capitalize()} on {where} at {result.inputs.calls_per_month:,} "
             f"calls a month: net saving {money(result.net_savings_over_horizon_usd)} over "
             f"{result.horizon_months} months (to {result.horizon_end.isoformat()})."]
    volume = (f"{result.break_even_calls_per_month:,} calls a month" if result.break_even_calls_per_month is not None
              else "none (the fine-tuned call is not cheaper)")
    lines.append(f"Break-even volume: {volume}. Cached share of the long prompt: {percent(result.cached_fraction)}"
                 + (" (assumed)" if result.cached_fraction_assumed else "") + ".")
    share = result.break_even_cached_fraction
    if share is not None:
        lines.append("The fine-tuned path " + (
            "does not pay back even with nothing cached." if share <= 0 else
            "pays back even with the whole prompt cached." if share >= 1 else
            f"stops paying back above a cached share of {percent(share)}."))
    if result.break_even_months is not None and result.verdict != "cannot_train":
        lines.append(f"Payback at this volume: {result.break_even_months} months.")
    if result.verdict == "cannot_train":
        lines.append(result.eligibility)
    return lines


def _summary_rows(result: CompareResult) -> list[tuple[str, str, str]]:
    """(label, base, tuned) rows of the summary table."""
    b, t = result.base, result.tuned
    rows = [
        ("model", b.snapshot, t.snapshot),
        ("prompt tokens per call", f"{b.prompt_tokens:,}", f"{t.prompt_tokens:,}"),
        ("cost per call", usd(b.cost_per_call_usd, 6), usd(t.cost_per_call_usd, 6)),
        ("monthly cost", usd(b.monthly_cost_usd), usd(t.monthly_cost_usd)),
    ]
    if t.hosting_monthly_usd:
        rows.append(("hosting a month (in monthly cost)", "-", usd(t.hosting_monthly_usd)))
    rows += [
        ("training", "-", f"{usd(t.training_cost_usd)} x {t.trainings}"),
        (f"total over {result.horizon_months} months", usd(b.horizon_cost_usd), usd(t.horizon_cost_usd)),
    ]
    return rows


def _headline(result: CompareResult) -> list[str]:
    return _answer_lines(result)


COLUMN_LABELS = {
    "calls_per_month": "calls/month", "system_prompt_tokens": "prompt tokens", "input_tokens": "input tokens",
    "output_tokens": "output tokens", "tuned_system_prompt_tokens": "tuned prompt tokens",
    "cached_fraction": "cached share", "batch_fraction": "batch share", "base_model": "base model",
    "base_cost_per_call_usd": "base per call", "tuned_cost_per_call_usd": "tuned per call",
    "base_monthly_cost_usd": "base / month", "tuned_monthly_cost_usd": "tuned / month",
    "hosting_monthly_usd": "hosting / month", "monthly_savings_usd": "saving / month",
    "trained_tokens": "trained tokens", "training_cost_usd": "training", "break_even_calls": "payback calls",
    "break_even_months": "payback months", "break_even_calls_per_month": "break-even calls/month",
    "break_even_cached_fraction": "break-even cached share", "cached_fraction_used": "cached share used",
    "horizon_months": "horizon months", "base_horizon_cost_usd": "base total", "tuned_horizon_cost_usd": "tuned total",
    "net_savings_over_horizon_usd": "net saving", "n_epochs": "epochs", "n_examples": "examples",
    "tokens_per_example": "tokens/example", "training_hours": "training hours", "retrain_every": "retrain every",
}
PERCENT_COLUMNS = {"cached_fraction", "batch_fraction", "break_even_cached_fraction", "cached_fraction_used"}


def _format_cell(column: str, value) -> str:
    """A grid cell for people: money with $, shares as %, counts with commas, 'never' for no break-even."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars -> Python numbers
        value = value.item()
    missing = value is None or value is pd.NA or (isinstance(value, float) and value != value)
    if missing:
        return "never" if column.startswith("break_even") else "–"
    if column == "verdict":
        return VERDICT_WORDS.get(str(value), str(value))
    if column.endswith("_usd"):
        return money(value, 6 if "per_call" in column else 2)
    if column in PERCENT_COLUMNS:
        return percent(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        return f"{int(number):,}" if number.is_integer() else f"{number:,.2f}"
    return str(value)


def display_grid(grid: pd.DataFrame, rows: int = TABLE_ROWS) -> tuple[list[str], list[list[str]]]:
    """The first `rows` grid rows formatted for reading, with readable column labels."""
    head = grid.head(rows)
    columns = list(head.columns)
    body = [[_format_cell(c, v) for c, v in zip(columns, row)] for row in head.itertuples(index=False)]
    return [COLUMN_LABELS.get(c, c.replace("_", " ")) for c in columns], body


def render_html(scenario: Scenario, grid: pd.DataFrame, result: CompareResult | None, warnings: list[str],
                catalog=None) -> str:
    """One self-contained HTML page: the answer first (verdict, net saving, break-even, the pivot by provider,
    model and cached share, as-of date and sources), then warnings, charts and the grid (scrollable)."""
    e = html.escape
    meta, sources = _meta(scenario, result, catalog)
    body = [f"<h1>{e(scenario.title)}</h1>", f'<p class="meta" id="as-of">{e(meta)}</p>']
    if result is not None:
        lines = _answer_lines(result)
        body.append(f'<div class="answer" id="answer"><p class="verdict">{e(lines[0])}</p>'
                    + "".join(f"<p>{e(line)}</p>" for line in lines[1:]) + "</div>")
        table = pivot(scenario, result, catalog)
        body.append("<h2>Verdict by model and cached share</h2>")
        body.append('<div class="grid-wrap"><table class="pivot" id="pivot"><tr><th>provider / model</th>'
                    + "".join(f"<th>{e(percent(s))} cached</th>" for s in table["shares"]) + "</tr>")
        for provider in table["providers"]:
            for model in table["models"]:
                cells = [table["cells"][(provider, model, s)] for s in table["shares"]]
                body.append(f"<tr><th>{e(PROVIDER_NAMES.get(provider, provider))} · {e(model)}</th>" + "".join(
                    f'<td class="{c.verdict or "na"}">{e(c.text())}</td>' for c in cells) + "</tr>")
        body.append("</table></div>")
        body.append(f'<p class="def">{e(BREAK_EVEN_DEFINITION)} Cells: the baseline scenario with that model, '
                    "cached share and provider; net saving over each cell's horizon.</p>")
        body.append('<table class="summary"><tr><th></th><th>base + long prompt</th><th>fine-tuned</th></tr>')
        body += [f"<tr><td>{e(a)}</td><td>{e(b)}</td><td>{e(c)}</td></tr>" for a, b, c in _summary_rows(result)]
        body.append("</table>")
    body.append('<p class="sources"><b>Price sources:</b> ' + "; ".join(e(x) for x in sources) + "</p>")
    body += [f'<div class="warn">{e(w)}</div>' for w in warnings]
    body.append("<h2>Charts</h2>")
    svgs = charts(result).values() if result is not None else [_estimate_chart(grid, list(scenario.sweep))]
    body += list(svgs)
    body.append(f"<h2>Grid ({len(grid):,} rows)</h2>")
    if len(grid) > TABLE_ROWS:
        body.append(f"<p>The first {TABLE_ROWS} rows; export CSV for the full grid.</p>")
    labels, rows = display_grid(grid)
    body.append('<div class="grid-wrap" id="grid"><table class="grid"><thead><tr>'
                + "".join(f"<th>{e(c)}</th>" for c in labels) + "</tr></thead><tbody>")
    body += ["<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in rows]
    body.append("</tbody></table></div>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(scenario.title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _cell(value: float) -> str:
    """Table cell for a float: enough digits for per-call prices."""
    return f"{value:.8g}"


def render_markdown(scenario: Scenario, grid: pd.DataFrame, result: CompareResult | None,
                    warnings: list[str], catalog=None) -> str:
    """Markdown: the answer, the pivot, the summary table, sources, warnings and the grid (first rows)."""
    e = md_escape
    meta, sources = _meta(scenario, result, catalog)
    lines = [f"# {e(scenario.title)}", "", e(meta), ""]
    if result is not None:
        lines += [f"- {e(line)}" for line in _answer_lines(result)] + [""]
        table = pivot(scenario, result, catalog)
        lines += ["| provider / model | " + " | ".join(f"{e(percent(s))} cached" for s in table["shares"]) + " |",
                  "|---|" + "---|" * len(table["shares"])]
        for provider in table["providers"]:
            for model in table["models"]:
                cells = [table["cells"][(provider, model, s)].text() for s in table["shares"]]
                lines.append(f"| {e(PROVIDER_NAMES.get(provider, provider))} · {e(model)} | "
                             + " | ".join(e(c) for c in cells) + " |")
        lines += ["", e(BREAK_EVEN_DEFINITION), "", "| | base + long prompt | fine-tuned |", "|---|---:|---:|"]
        lines += [f"| {e(a)} | {e(b)} | {e(c)} |" for a, b, c in _summary_rows(result)] + [""]
    lines += ["Price sources: " + "; ".join(e(x) for x in sources), ""]
    lines += [f"> **Warning:** {e(w)}" for w in warnings] + ([""] if warnings else [])
    lines += [f"## Grid ({len(grid):,} rows)", ""]
    labels, rows = display_grid(grid)
    lines += ["| " + " | ".join(e(c) for c in labels) + " |", "|" + "---|" * len(labels)]
    lines += ["| " + " | ".join(e(v) for v in row) + " |" for row in rows]
    if len(grid) > TABLE_ROWS:
        lines += ["", f"First {TABLE_ROWS} of {len(grid):,} rows; use CSV for the full grid."]
    return "\n".join(lines) + "\n"


_MD_SPECIAL = set("\\`*_[]#|~")


def md_escape(text: object) -> str:
    """Text safe to embed in Markdown: one line, HTML special characters as entities, Markdown punctuation
    backslash-escaped (so a title `# <script>` renders as the characters typed, never as markup)."""
    out = []
    for char in " ".join(str(text).split()):
        if char == "<":
            out.append("&lt;")
        elif char == ">":
            out.append("&gt;")
        elif char == "&":
            out.append("&amp;")
        elif char in _MD_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    if out and out[0] in ("-", "+"):  # a leading list marker
        out[0] = "\\" + out[0]
    return "".join(out)


def _md(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "never" if value is pd.NA else ""
    return _cell(value) if isinstance(value, float) else md_escape(value)


def render_csv(grid: pd.DataFrame) -> str:
    """The full grid as CSV (empty break_even_calls = never), the bytes of `to_csv(index=False)`, fast."""
    return csv_text(grid)


def render(fmt: Literal["html", "md", "csv"], scenario: Scenario, grid: pd.DataFrame,
           result: CompareResult | None, warnings: list[str], catalog=None) -> str:
    """The report in one format (`catalog`: the one the figures came from; default the bundled newest)."""
    if fmt == "html":
        return render_html(scenario, grid, result, warnings, catalog)
    if fmt == "md":
        return render_markdown(scenario, grid, result, warnings, catalog)
    return render_csv(grid)


def format_of(path: str | Path) -> Literal["html", "md", "csv"]:
    """The report format from a file name (.html/.htm, .md/.markdown, .csv); ValueError otherwise."""
    suffix = Path(path).suffix.lower()
    formats = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".csv": "csv"}
    if suffix not in formats:
        raise ValueError(f"unknown report format {suffix or '(none)'!r}: use .html, .md or .csv")
    return formats[suffix]  # type: ignore[return-value]


def write_report(path: str | Path, scenario: Scenario, grid: pd.DataFrame, result: CompareResult | None,
                 warnings: list[str], catalog=None) -> Path:
    """Render to the format the file name asks for and write it.

    The report is written beside `path` under a temporary name and renamed over it when complete: an interrupted
    or failed write (Ctrl-C, a full disk) leaves no truncated report, and any previous one untouched.
    """
    import os
    import tempfile

    file = Path(path)
    fmt = format_of(file)
    fd, temp = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".part", dir=file.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            if fmt == "csv":  # streamed chunk by chunk: a million rows never sit in memory as one string
                write_csv(grid, stream)
            else:
                stream.write(render(fmt, scenario, grid, result, warnings, catalog).encode("utf-8"))
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, file)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return file


def _umask() -> int:
    """The process's umask (mkstemp creates files 0600; a report gets the mode open() would give it)."""
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
