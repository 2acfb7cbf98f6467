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
from ftsim.pricing.reports.report_csv import csv_text, write_csv
from ftsim.pricing.planning.whatif import Scenario

__all__ = ["render", "render_html", "render_markdown", "render_csv", "charts", "write_report", "TABLE_ROWS"]

TABLE_ROWS = 200
BLUE, ORANGE, GREY = "#2563eb", "#ea580c", "#6b7280"
PARTS = [
    ("system_prompt", "system prompt", "#60a5fa"),
    ("system_prompt_cached", "cached prompt", "#a5b4fc"),
    ("input", "input", "#34d399"),
    ("output", "output", "#fbbf24"),
    ("training", "training", "#f87171"),
]
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 320, 70, 20, 36, 48


def _fmt_money(value: float) -> str:
    """Axis label for a dollar amount."""
    if abs(value) >= 1000:
        return f"${value:,.0f}"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}".rstrip("0").rstrip(".")


def _fmt_count(value: float) -> str:
    """Axis label for a count (calls, months)."""
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude * count >= top:
            break
    size = step * magnitude
    digits = max(0, 3 - math.floor(math.log10(size)))  # tiny figures (a $0.0000004 call) keep their digits
    return [round(size * k, digits) for k in range(count + 1) if size * (k - 1) < top]


def line_chart(title: str, series: list[tuple[str, str, list[float], list[float]]], *, x_label: str,
               y_label: str, marker: tuple[float, float, str] | None = None, chart_id: str = "") -> str:
    """An inline SVG line chart: series (label, colour, xs, ys) and an optional marked point."""
    xs = [x for _, _, sx, _ in series for x in sx]
    ys = [y for _, _, _, sy in series for y in sy]
    x_ticks, y_ticks = _ticks(max(xs + [1e-12])), _ticks(max(ys + [1e-12]))
    x_max, y_max = x_ticks[-1] or 1.0, y_ticks[-1] or 1.0
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def px(x: float) -> float:
        return PAD_L + plot_w * x / x_max

    def py(y: float) -> float:
        return PAD_T + plot_h * (1 - y / y_max)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" viewBox="0 0 {W} {H}" '
           f'width="{W}" height="{H}" role="img" aria-label="{html.escape(title)}" '
           f'font-family="sans-serif" font-size="11" fill="#374151">',
           f'<rect width="100%" height="100%" fill="#ffffff"/>',
           f'<title>{html.escape(title)}</title>',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">{html.escape(title)}</text>']
    for y in y_ticks:
        out.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{PAD_L - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{_fmt_money(y)}</text>')
    for x in x_ticks:
        out.append(f'<text x="{px(x):.1f}" y="{H - PAD_B + 16}" text-anchor="middle">{_fmt_count(x)}</text>')
    out.append(f'<text x="{PAD_L + plot_w / 2}" y="{H - 8}" text-anchor="middle">{html.escape(x_label)}</text>')
    out.append(f'<text x="14" y="{PAD_T + plot_h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {PAD_T + plot_h / 2})">{html.escape(y_label)}</text>')
    out.append(f'<rect x="{PAD_L}" y="{PAD_T}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#9ca3af"/>')
    for k, (label, colour, sx, sy) in enumerate(series):
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(sx, sy))
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5" '
                   f'class="series"><title>{html.escape(label)}</title></polyline>')
        out.append(f'<rect x="{PAD_L + 10}" y="{PAD_T + 8 + 18 * k}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{PAD_L + 28}" y="{PAD_T + 18 + 18 * k}">{html.escape(label)}</text>')
    if marker is not None:
        mx, my, text = marker
        out.append(f'<line x1="{px(mx):.1f}" x2="{px(mx):.1f}" y1="{PAD_T}" y2="{PAD_T + plot_h}" '
                   f'stroke="{GREY}" stroke-dasharray="4 3"/>')
        out.append(f'<circle cx="{px(mx):.1f}" cy="{py(my):.1f}" r="5" class="break-even" fill="#111827"/>')
        anchor = "end" if px(mx) > W * 0.6 else "start"
        dx = -8 if anchor == "end" else 8
        out.append(f'<text x="{px(mx) + dx:.1f}" y="{py(my) - 8:.1f}" text-anchor="{anchor}" '
                   f'font-weight="600" paint-order="stroke" stroke="#ffffff" stroke-width="4">{html.escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(title: str, bars: list[tuple[str, list[tuple[str, str, float]]]], *, chart_id: str = "") -> str:
    """An inline SVG horizontal stacked bar chart: bars of (label, [(part, colour, value)])."""
    height = PAD_T + 44 * len(bars) + 60
    total = max([sum(v for _, _, v in parts) for _, parts in bars] + [1e-12])
    ticks = _ticks(total)
    if not ticks[-1]:
        ticks = [0.0, 1.0]
    plot_w = W - 150 - PAD_R
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" viewBox="0 0 {W} {height}" '
           f'width="{W}" height="{height}" role="img" aria-label="{html.escape(title)}" '
           f'font-family="sans-serif" font-size="11" fill="#374151">',
           f'<rect width="100%" height="100%" fill="#ffffff"/>',
           f'<title>{html.escape(title)}</title>',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">{html.escape(title)}</text>']
    seen: dict[str, str] = {}
    for k, (label, parts) in enumerate(bars):
        y, x = PAD_T + 44 * k, 150.0
        out.append(f'<text x="142" y="{y + 20}" text-anchor="end">{html.escape(label)}</text>')
        for part, colour, value in parts:
            width = plot_w * value / ticks[-1]
            if width > 0:
                out.append(f'<rect x="{x:.1f}" y="{y + 6}" width="{width:.1f}" height="24" fill="{colour}" '
                           f'class="bar"><title>{html.escape(part)}: {_fmt_money(value)}</title></rect>')
            seen.setdefault(part, colour)
            x += width
        out.append(f'<text x="{x + 4:.1f}" y="{y + 22}">{_fmt_money(sum(v for _, _, v in parts))}</text>')
    base_y = PAD_T + 44 * len(bars) + 8
    for k, (part, colour) in enumerate(seen.items()):
        out.append(f'<rect x="{20 + 120 * k}" y="{base_y + 18}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{36 + 120 * k}" y="{base_y + 28}">{html.escape(part)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _f(value: Decimal | None) -> float:
    return float(value) if value is not None else 0.0


def charts(result: CompareResult) -> dict[str, str]:
    """The three compare charts as SVG strings, keyed volume, cumulative, breakdown."""
    base_call, tuned_call = _f(result.base.cost_per_call_usd), _f(result.tuned.cost_per_call_usd)
    horizon = _f(result.horizon_months)
    training_total = _f(result.tuned.training_cost_usd) * result.tuned.trainings
    amortised = training_total / horizon if horizon > 0 else training_total
    volume = result.inputs.calls_per_month
    saving = base_call - tuned_call
    be_volume = amortised / saving if saving > 0 else None
    top = max(volume * 2, (be_volume or 0) * 2, 1000)
    xs = [top * k / 50 for k in range(51)]
    marker = None
    if be_volume is not None:
        marker = (be_volume, base_call * be_volume,
                  f"break-even {be_volume:,.0f} calls/month over {result.horizon_months} months")
    volume_svg = line_chart(
        "Monthly cost against volume", [
            (f"base + long prompt ({result.base.model})", BLUE, xs, [base_call * x for x in xs]),
            (f"fine-tuned ({result.tuned.model}), training amortised", ORANGE,
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
                             f"break-even after {result.break_even_months} months")
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


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1000px;
color:#111827;padding:0 1rem}h1{font-size:1.6rem}table{border-collapse:collapse;font-size:.8rem;margin:1rem 0}
td,th{border:1px solid #e5e7eb;padding:.25rem .5rem;text-align:right}th{background:#f3f4f6}
.summary td{text-align:left}.warn{background:#fef3c7;border-left:4px solid #f59e0b;padding:.5rem 1rem;margin:.5rem 0}
svg.chart{display:block;margin:1rem 0;max-width:100%;height:auto;font-size:11px;fill:#374151}
svg .grid{stroke:#e5e7eb}svg .frame{fill:none;stroke:#9ca3af}svg .t{font-size:14px;font-weight:600}
svg .mark{font-weight:600}.verdict{font-size:1.1rem;font-weight:600}"""


def _summary_rows(result: CompareResult) -> list[tuple[str, str, str]]:
    """(label, base, tuned) rows of the summary table."""
    b, t = result.base, result.tuned
    return [
        ("model", b.snapshot, t.snapshot),
        ("prompt tokens per call", f"{b.prompt_tokens:,}", f"{t.prompt_tokens:,}"),
        ("cost per call", usd(b.cost_per_call_usd, 6), usd(t.cost_per_call_usd, 6)),
        ("monthly cost", usd(b.monthly_cost_usd), usd(t.monthly_cost_usd)),
        ("training", "-", f"{usd(t.training_cost_usd)} x {t.trainings}"),
        (f"total over {result.horizon_months} months", usd(b.horizon_cost_usd), usd(t.horizon_cost_usd)),
    ]


def _headline(result: CompareResult) -> list[str]:
    be = "never" if result.break_even_calls is None else f"{result.break_even_calls:,} calls"
    return [f"Verdict: {result.verdict.replace('_', ' ')}", f"Break-even: {be}",
            f"Monthly savings: {usd(result.monthly_savings_usd)}", result.summary]


def render_html(scenario: Scenario, grid: pd.DataFrame, result: CompareResult | None, warnings: list[str]) -> str:
    """One self-contained HTML page: summary, charts, warnings and the grid (first rows)."""
    e = html.escape
    body = [f"<h1>{e(scenario.title)}</h1>"]
    if result is not None:
        head = _headline(result)
        body.append(f'<p class="verdict">{e(head[0])}. {e(head[1])}. {e(head[2])}.</p><p>{e(head[3])}</p>')
        body.append('<table class="summary"><tr><th></th><th>base + long prompt</th><th>fine-tuned</th></tr>')
        body += [f"<tr><td>{e(a)}</td><td>{e(b)}</td><td>{e(c)}</td></tr>" for a, b, c in _summary_rows(result)]
        body.append("</table>")
    body += [f'<div class="warn">{e(w)}</div>' for w in warnings]
    body.append("<h2>Charts</h2>")
    svgs = charts(result).values() if result is not None else [_estimate_chart(grid, list(scenario.sweep))]
    body += list(svgs)
    body.append(f"<h2>Grid ({len(grid):,} rows)</h2>")
    if len(grid) > TABLE_ROWS:
        body.append(f"<p>The first {TABLE_ROWS} rows; export CSV for the full grid.</p>")
    body.append(grid.head(TABLE_ROWS).to_html(index=False, na_rep="never", border=0, float_format=_cell))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(scenario.title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _cell(value: float) -> str:
    """Table cell for a float: enough digits for per-call prices."""
    return f"{value:.8g}"


def render_markdown(scenario: Scenario, grid: pd.DataFrame, result: CompareResult | None,
                    warnings: list[str]) -> str:
    """Markdown: headline, summary table, warnings and the grid (first rows)."""
    e = md_escape
    lines = [f"# {e(scenario.title)}", ""]
    if result is not None:
        lines += [f"- {e(line)}" for line in _headline(result)] + ["", "| | base + long prompt | fine-tuned |",
                                                                    "|---|---:|---:|"]
        lines += [f"| {e(a)} | {e(b)} | {e(c)} |" for a, b, c in _summary_rows(result)] + [""]
    lines += [f"> **Warning:** {e(w)}" for w in warnings] + ([""] if warnings else [])
    lines += [f"## Grid ({len(grid):,} rows)", ""]
    head = grid.head(TABLE_ROWS)
    columns = list(head.columns)
    # column names are ftsim's own identifiers (sweeps are checked against a fixed list), written as they are
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in head.itertuples(index=False):
        lines.append("| " + " | ".join(_md(v) for v in row) + " |")
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
           result: CompareResult | None, warnings: list[str]) -> str:
    """The report in one format."""
    if fmt == "html":
        return render_html(scenario, grid, result, warnings)
    if fmt == "md":
        return render_markdown(scenario, grid, result, warnings)
    return render_csv(grid)


def format_of(path: str | Path) -> Literal["html", "md", "csv"]:
    """The report format from a file name (.html/.htm, .md/.markdown, .csv); ValueError otherwise."""
    suffix = Path(path).suffix.lower()
    formats = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".csv": "csv"}
    if suffix not in formats:
        raise ValueError(f"unknown report format {suffix or '(none)'!r}: use .html, .md or .csv")
    return formats[suffix]  # type: ignore[return-value]


def write_report(path: str | Path, scenario: Scenario, grid: pd.DataFrame, result: CompareResult | None,
                 warnings: list[str]) -> Path:
    """Render to the format the file name asks for and write it."""
    file = Path(path)
    fmt = format_of(file)
    if fmt == "csv":  # streamed chunk by chunk: a million rows never sit in memory as one string
        with file.open("wb") as stream:
            write_csv(grid, stream)
        return file
    file.write_text(render(fmt, scenario, grid, result, warnings), encoding="utf-8")
    return file
