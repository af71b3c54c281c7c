"""The client's report (`tendr report`) rendered: as JSON, Markdown or one self-contained
HTML page. What it holds is assembled by tendr.core.report; nothing here does I/O.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from tendr.cli.render import escape
from tendr.core.history import Finding
from tendr.core.report import Report


def as_json(report: Report) -> dict[str, Any]:
    return asdict(report)


# -- Markdown --------------------------------------------------------------------


def _md(value: object) -> str:
    """A value in a Markdown table cell: control characters shown, | and markup inert."""
    text = escape(value).replace("\\[", "[")  # rich's escape, without its markup escapes
    for char in "\\|`*<>[]":  # an underscore within a word is text in CommonMark
        text = text.replace(char, "\\" + char)
    return text


_STATUS = {
    "in_sync": "in sync",
    "drift": "drifting",
    "error": "not reachable",
    "unknown": "not planned in this period",
}


def markdown(report: Report) -> str:
    clients = ", ".join(report.clients) or "(no client)"
    lines = [
        f"# Maintenance report: {_md(clients)}",
        "",
        f"Period: {when(report.since)} to {when(report.until)}",
        "",
        "## Machines",
        "",
        "| machine | state | last checked | backups |",
        "| --- | --- | --- | --- |",
    ]
    for m in report.machines:
        backups = "; ".join(f"{job}: {state}" for job, state in m.backups) or "none"
        lines.append(
            f"| {_md(m.name)} | {_STATUS[m.status]} | {when(m.last_plan)} | {_md(backups)} |"
        )
    lines += ["", "## Problems found", ""]
    problems = [(m.name, p) for m in report.machines for p in m.problems]
    problems += [(m.name, ("unreachable", "", m.error)) for m in report.machines if m.error]
    found = _found(report)
    if not problems and not found:
        lines.append("None: every machine was as agreed at its last check.")
    for name, (op, resource, cause) in problems:
        lines.append(f"- **{_md(name)}**: {_md(op)} {_md(resource)}: {_md(cause)}")
    for f in found:
        lines.append(f"- **{_md(f.host)}**: {_md(f.what)}: {_md(f.cause)} (found {when(f.time)})")
    lines += ["", "## Changes made", ""]
    if not report.applied:
        lines.append("No change was made in this period.")
    else:
        lines += [
            "| when | machine | what | who | outcome | why |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for a in report.applied:
            lines.append(
                f"| {when(a.time)} | {_md(a.host)} | {_md(a.op)} {_md(a.resource)} | "
                f"{_md(a.person)} | {a.outcome} | {_md(a.why)} |"
            )
    lines += ["", "## Drift over the period", ""]
    lines += [f"- {day}: {count} resource(s) drifting" for day, count in report.drift_by_day] or [
        "No check in this period."
    ]
    for host, drifted in report.drifted.items():
        for op, resource, count, plans, now in drifted:
            state = "still drifting" if now else "since restored"
            lines.append(
                f"- {_md(host)}: {_md(op)} {_md(resource)} differed in {count} of {plans} "
                f"check(s), {state}"
            )
    return "\n".join(lines) + "\n"


# -- HTML ------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; color: #1d2733; max-width: 58rem;
       margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
       border-bottom: 2px solid #d9e1ea; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left;
       padding: .35rem .5rem; border-bottom: 1px solid #e3e8ee; vertical-align: top; }
th { background: #f3f6f9; } .muted { color: #5c6b7a; } .when { white-space: nowrap; }
.ok { color: #1a7f37; font-weight: 600; } .bad { color: #b42318; font-weight: 600; }
.chart rect { fill: #3b82c4; } .chart text { font-size: 11px; fill: #5c6b7a; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; }
       tr { break-inside: avoid; } }
"""


def _found(report: Report) -> list[Finding]:
    """What diagnose found in the period, each problem once (its latest finding)."""
    latest = {(f.host, f.what): f for f in report.found if f.area != "journal"}
    return sorted(latest.values(), key=lambda f: (f.host, f.time))


def when(iso: str) -> str:
    """An ISO 8601 time as a person reads it: 2026-11-02 08:00 UTC (or its own offset)."""
    if len(iso) < 16 or iso[10] != "T":
        return iso or "-"
    offset = iso[19:].split(".")[-1][-6:] if len(iso) > 19 else ""
    zone = "UTC" if offset in ("", "+00:00", "Z") else offset
    return f"{iso[:10]} {iso[11:16]} {zone}"


def _h(value: object) -> str:
    return html.escape(escape(value).replace("\\[", "["))


def _chart(days: Sequence[tuple[str, int]]) -> str:
    """Drifting resources per day, as an inline SVG bar chart."""
    if not days:
        return '<p class="muted">No check in this period.</p>'
    width, height, top = 640, 160, max(count for _, count in days) or 1
    step = width / len(days)
    bar = min(step * 0.7, 40)
    bars = []
    for i, (day, count) in enumerate(days):
        h = (height - 40) * count / top
        x = i * step + (step - bar) / 2
        bars.append(
            f'<rect x="{x:.1f}" y="{height - 20 - h:.1f}" width="{bar:.1f}" '
            f'height="{h:.1f}"><title>{day}: {count}</title></rect>'
            f'<text x="{x:.1f}" y="{height - 24 - h:.1f}">{count}</text>'
            f'<text x="{x:.1f}" y="{height - 5}">{day[5:]}</text>'
        )
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="drifting resources per day">{"".join(bars)}</svg>'
    )


def render_html(report: Report) -> str:
    clients = ", ".join(report.clients) or "(no client)"
    rows = []
    for m in report.machines:
        css = "ok" if m.status == "in_sync" else "bad"
        backups = "; ".join(f"{job}: {state}" for job, state in m.backups) or "none"
        rows.append(
            f"<tr><td>{_h(m.name)}</td><td class='{css}'>{_STATUS[m.status]}</td>"
            f"<td class='when'>{_h(when(m.last_plan))}</td><td>{_h(backups)}</td></tr>"
        )
    problems = [
        f"<li><b>{_h(m.name)}</b>: {_h(op)} {_h(resource)}: {_h(cause)}</li>"
        for m in report.machines
        for op, resource, cause in m.problems
    ] + [f"<li><b>{_h(m.name)}</b>: {_h(m.error)}</li>" for m in report.machines if m.error]
    problems += [
        f"<li><b>{_h(f.host)}</b>: {_h(f.what)}: {_h(f.cause)} "
        f"<span class='muted when'>(found {_h(when(f.time))})</span></li>"
        for f in _found(report)
    ]
    applied = [
        f"<tr><td class='when'>{_h(when(a.time))}</td><td>{_h(a.host)}</td>"
        f"<td>{_h(a.op)} {_h(a.resource)}</td><td>{_h(a.person)}</td>"
        f"<td>{_h(a.outcome)}</td><td>{_h(a.why)}</td></tr>"
        for a in report.applied
    ]
    drift = [
        f"<li>{_h(host)}: {_h(op)} {_h(resource)} differed in {count} of {plans} check(s), "
        f"{'still drifting' if now else 'since restored'}</li>"
        for host, items in report.drifted.items()
        for op, resource, count, plans, now in items
    ]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Maintenance report: {_h(clients)}</title><style>{_CSS}</style></head>
<body>
<h1>Maintenance report: {_h(clients)}</h1>
<p class="muted">Period: {_h(when(report.since))} to {_h(when(report.until))}</p>
<h2>Machines</h2>
<table><tr><th>machine</th><th>state</th><th>last checked</th><th>backups</th></tr>
{"".join(rows)}</table>
<h2>Problems found</h2>
{
        "<ul>" + "".join(problems) + "</ul>"
        if problems
        else "<p>None: every machine was as agreed at its last check.</p>"
    }
<h2>Changes made</h2>
{
        "<table><tr><th>when</th><th>machine</th><th>what</th><th>who</th><th>outcome</th>"
        "<th>why</th></tr>" + "".join(applied) + "</table>"
        if applied
        else "<p>No change was made in this period.</p>"
    }
<h2>Drift over the period</h2>
{_chart(report.drift_by_day)}
{"<ul>" + "".join(drift) + "</ul>" if drift else ""}
</body></html>
"""
