"""The console's HTML: one page layout and small builders, from Python strings (no template engine).

Every value that comes from the world (ids, names, messages, metadata) goes through `esc` (HTML-escaped); the
builders return markup, so pages compose them as plain strings.
"""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal
from typing import Any, Iterable

__all__ = ["esc", "page", "clock_bar", "when", "badge", "table", "kv", "money"]

NAV = [("/console/jobs", "Jobs"), ("/console/files", "Files"), ("/console/models", "Models"),
       ("/console/faults", "Faults"), ("/console/azure/deployments", "Azure"),
       ("/console/planner/estimate", "Estimate"),
       ("/console/planner/compare", "Compare"), ("/console/planner/whatif", "What if"),
       ("/console/planner/decide", "Decide"), ("/docs", "API docs"),
       ("/redoc", "API reference")]


def esc(value: Any) -> str:
    """Text as HTML (None as an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def when(ts: Any) -> str:
    """A Unix time, or an ISO 8601 UTC date-time as ARM writes them, as a UTC date and time (empty for None)."""
    if ts is None:
        return ""
    if isinstance(ts, str) and not ts.isdigit():
        moment = dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    else:
        moment = dt.datetime.fromtimestamp(int(ts), dt.timezone.utc)
    return f'<time datetime="{moment.isoformat().replace("+00:00", "Z")}">{moment:%Y-%m-%d %H:%M:%S}</time>'


def money(value: Any) -> str:
    """A dollar amount (Decimal or its string) as $x.xx (small ones keep 4 places); '' when unknown."""
    if value is None or value == "":
        return ""
    amount = Decimal(str(value))
    places = Decimal("0.01") if abs(amount) >= 1 or amount == 0 else Decimal("0.0001")
    return f"${amount.quantize(places):,}"


def badge(status: str) -> str:
    """A status as a coloured badge (the colour is decoration: the word carries the meaning)."""
    return f'<span class="badge {esc(status)}">{esc(status.replace("_", " "))}</span>'


def table(headers: list[str], rows: Iterable[list[str]], *, caption: str, table_id: str = "",
          empty: str = "Nothing yet.") -> str:
    """A table of already-built cells, with a caption (read by screen readers) and column headers."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="muted">{esc(empty)}</td></tr>'
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return (f'<table{ident}><caption class="skip">{esc(caption)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def kv(pairs: list[tuple[str, str]]) -> str:
    """A definition list of label -> already-built value."""
    return '<dl class="kv">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def clock_bar(now: int, speed: float) -> str:
    """The clock bar's content: the simulated present, the speed and the buttons that move the clock.

    It reloads itself every 2 seconds; a button answers the new bar and tells the page (`clock-changed`) so
    the live parts of the page refresh at once."""
    speed_text = "manual clock (speed 0)" if not speed else f"speed {speed:g}x"
    buttons = "".join(
        f'<button type="button" hx-post="/console/clock/advance?seconds={s}" hx-target="#clock" '
        f'hx-swap="outerHTML">{esc(label)}</button>'
        for s, label in ((60, "Advance 1 minute"), (3600, "Advance 1 hour"), (86400, "Advance 1 day"))
    )
    buttons += ('<button type="button" hx-post="/console/clock/run" hx-target="#clock" hx-swap="outerHTML">'
                "Run every job to the end</button>")
    return (f'<section id="clock" aria-label="Simulated clock" hx-get="/console/clock" hx-trigger="every 2s" '
            f'hx-swap="outerHTML"><span>Simulated time: {when(now)} UTC</span>'
            f'<span class="muted" id="speed">{esc(speed_text)}</span>{buttons}</section>')


def page(title: str, body: str, *, clock: str = "", tenant: str = "", kind: str = "Organization", switch: str = "",
         status: int = 200) -> str:
    """A whole console page: skip link, navigation, tenant (`kind`: Organization or Azure account) with the account
    switch, clock bar, then `body`."""
    nav = "".join(f'<li><a href="{href}">{esc(label)}</a></li>' for href, label in NAV)
    who = (f'<span class="tenant">{esc(kind)} <strong id="tenant">{esc(tenant)}</strong> · '
           f'<a href="/console/key">change key</a></span>{switch}'
           if tenant else '<span class="tenant"><a href="/console/key">Choose an API key</a></span>')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · ftsim console</title>
<link rel="stylesheet" href="/console/static/console.css">
<link rel="icon" href="/console/static/favicon.svg" type="image/svg+xml">
<script src="/console/static/htmx.min.js" defer></script>
</head><body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><a href="/">ftsim console</a><nav aria-label="Sections"><ul>{nav}</ul></nav>{who}</header>
{clock}
<main id="main" tabindex="-1">
<h1>{esc(title)}</h1>
{body}
</main>
</body></html>"""
