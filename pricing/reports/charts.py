"""Inline SVG charts: the ONE charting path of ftsim, shared by the what-if report (pricing/reports/report.py)
and the web console (api/http/console/): line charts (cost curves, loss and accuracy curves) and stacked bars.

Pure string building, no dependency beyond the standard library; every text is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from typing import Callable

__all__ = ["line_chart", "bar_chart", "plain_number", "GREY"]

GREY = "#6b7280"
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
               y_label: str, marker: tuple[float, float, str] | None = None, chart_id: str = "",
               x_format: Callable[[float], str] = _fmt_count, y_format: Callable[[float], str] = _fmt_money) -> str:
    """An inline SVG line chart: series (label, colour, xs, ys) and an optional marked point.

    Axes read as counts (x) and dollars (y) unless `x_format` / `y_format` say otherwise (the console's loss and
    accuracy curves: steps and plain numbers)."""
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
        out.append(f'<text x="{PAD_L - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y_format(y)}</text>')
    for x in x_ticks:
        out.append(f'<text x="{px(x):.1f}" y="{H - PAD_B + 16}" text-anchor="middle">{x_format(x)}</text>')
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
    plot_w = W - 150 - PAD_R - 70  # room for the total printed after each bar
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


def plain_number(value: float) -> str:
    """Axis label for a unitless figure (a loss, an accuracy)."""
    return f"{value:.4g}"
