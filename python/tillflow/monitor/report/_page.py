"""The report page's HTML pieces: escaping, cards, tables, badges, the
formats of times and numbers, and the page's template and style.

Titles and bodies handed to `section`, `card` and `note`
are markup the report built; every value from the warehouse goes through
`e` (tables call it on each cell)."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any

__all__ = [
    "CSS",
    "PAGE",
    "Html",
    "badge",
    "card",
    "count",
    "e",
    "money",
    "note",
    "number",
    "seconds",
    "section",
    "short",
    "table",
    "wall",
    "when",
    "zone",
]


class Html(str):
    """Markup built here, which `e` leaves alone."""


def e(value: Any) -> str:
    if isinstance(value, Html):
        return value
    return html.escape("" if value is None else str(value), quote=True)


def section(key: str, title: str, cards: str) -> str:
    return f'<section id="{key}"><h2>{title}</h2><div class="grid">{cards}</div></section>'


def card(title: str, body: str, *, wide: bool = False) -> str:
    return f'<div class="card{" wide" if wide else ""}"><h3>{title}</h3>{body}</div>'


def note(text: str) -> str:
    return f'<p class="empty">{text}</p>'


def badge(text: Any, tone: str) -> Html:
    return Html(f'<span class="badge {tone}">{e(text)}</span>')


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    numeric: Sequence[int] = (),
    times: Sequence[int] = (),
    compact: bool = False,
) -> str:
    def cell(i: int, value: Any, tag: str = "td") -> str:
        kind = " class=num" if i in numeric else " class=time" if i in times else ""
        return f"<{tag}{kind}>{e(value)}</{tag}>"

    head = "".join(cell(i, h, "th") for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return (
        f'<div class="scroll"><table class="{"compact" if compact else ""}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def short(text: str | None, limit: int = 160) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def zone(name: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return dt.timezone.utc


def wall(value: dt.datetime | None, tz: str) -> dt.datetime | None:
    """``value`` as wall time in ``tz``, like the tables' other times."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(zone(tz)).replace(tzinfo=None)


def when(value: dt.datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.2f} s" if value < 120 else f"{value / 60:,.1f} min"


def count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def number(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def money(value: Any) -> str:
    return "" if value is None else f"{value:,.2f}"


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tillflow">
<title>{title}</title>
<style>{css}</style>
{plotly}
</head>
<body>
{body}
</body>
</html>
"""

CSS = """
:root { --ink:#1f2933; --muted:#66727f; --line:#e3e7ec; --bg:#f4f6f8; --ok:#2e9e5b; --warn:#c98a06;
  --bad:#d64545; --accent:#3b6fb6; }
* { box-sizing: border-box; }
body { margin:0; padding:24px 32px 40px; background:var(--bg); color:var(--ink);
  font:14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; }
h1 { margin:0 0 6px; font-size:26px; }
h2 { margin:28px 0 12px; font-size:19px; border-bottom:2px solid var(--line); padding-bottom:4px; }
h3 { margin:0 0 10px; font-size:14px; color:var(--muted); font-weight:600; }
code { background:#eef1f4; padding:1px 4px; border-radius:4px; }
dl.meta { display:flex; flex-wrap:wrap; gap:4px 28px; margin:0 0 16px; color:var(--muted); }
dl.meta div, .pipeline dl div { display:flex; gap:6px; }
dl.meta dt { font-weight:600; } dl.meta dd, .pipeline dd { margin:0; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit, minmax(170px, 1fr)); gap:12px; }
.kpi { background:#fff; border-radius:10px; padding:12px 16px; box-shadow:0 1px 2px rgba(0,0,0,.06);
  border-top:4px solid var(--accent); }
.kpi.ok { border-top-color:var(--ok); } .kpi.warn { border-top-color:var(--warn); }
.kpi.bad { border-top-color:var(--bad); }
.kpi .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.kpi .value { font-size:24px; font-weight:650; } .kpi .sub { color:var(--muted); font-size:12px; }
.grid { display:grid; grid-template-columns:repeat(auto-fit, minmax(420px, 1fr)); gap:16px;
  align-items:start; }
.card { background:#fff; border-radius:10px; padding:14px 16px; box-shadow:0 1px 2px rgba(0,0,0,.06);
  min-width:0; }
.card.wide { grid-column:1 / -1; }
.empty { color:var(--muted); font-style:italic; margin:8px 0; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:600; white-space:nowrap; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.time { white-space:nowrap; font-variant-numeric:tabular-nums; }
table.compact { margin-top:8px; } table.compact td { padding:3px 8px; }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:600;
  background:#e9edf1; color:var(--muted); }
.badge.ok { background:#e3f4ea; color:#1f7a45; } .badge.warn { background:#fdf1d6; color:#8a5d00; }
.badge.bad { background:#fbe3e3; color:#a32c2c; }
.health { display:grid; grid-template-columns:repeat(auto-fit, minmax(260px, 1fr)); gap:12px; }
.pipeline { border:1px solid var(--line); border-left:5px solid var(--ok); border-radius:8px;
  padding:10px 14px; }
.pipeline.warn { border-left-color:var(--warn); } .pipeline.bad { border-left-color:var(--bad); }
.pipeline .name { font-weight:650; font-size:15px; margin-bottom:6px; }
.pipeline dl { margin:0; display:grid; gap:2px; } .pipeline dt { color:var(--muted); min-width:90px; }
.pipeline .why { margin-top:6px; color:var(--muted); font-size:12px; }
.pipeline .error { margin-top:6px; color:#a32c2c; font-size:12px; overflow-wrap:anywhere; }
footer { margin-top:32px; color:var(--muted); font-size:12px; text-align:center; }
"""
