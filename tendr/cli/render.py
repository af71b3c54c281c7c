"""Rendering plans and results: text for terminals, plain data for JSON. No host I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape as _markup_escape

from tendr.base.changes import WAITS, Change, FieldChange, HostResult

if TYPE_CHECKING:  # the plan's types only: escape() is for every command
    from tendr.core.plan import HostPlan, Plan

COLORS = {"+": "green", "~": "yellow", "-": "red", "?": "magenta"}


def escape(value: object) -> str:
    """A value from a workspace, a host or the audit log as rich markup that prints it
    literally and harmlessly: markup escaped, and every character Python would not print
    raw (control characters such as ESC, CR, newline and DEL, C1 controls, and invisible
    format characters such as the bidi overrides U+202A-U+202E and U+2066-U+2069) shown
    as its escape, `\\x1b` or `\\u202e`. Raw, a file path with ESC[5A ESC[J in it erases
    the lines above it, say a plan before apply's question, and a bidi override reverses
    what follows. Every value printed as text goes through here."""
    text = str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return _markup_escape(text)


def change_json(change: Change) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "resource": change.resource,
        "resolved": change.resolved or None,
        "op": change.op,
        "action": change.action,
        "before": change.before(),
        "after": change.after(),
        "note": change.note or None,
        "needs": list(change.needs),
        "pulled_in_by": change.pulled or None,
        "source": change.source,
        "allowed": change.allowed,
        "rule": change.rule or None,
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "hosts": [
            {
                "name": h.host,
                "error": h.error,
                "code": h.code or ("host.failed" if h.error else None),
                "in_sync": h.in_sync,
                "changes": [change_json(c) for c in h.changes],
            }
            for h in plan.hosts
        ],
        "summary": plan.summary(),
    }


def _field(item: FieldChange) -> str:
    return escape(item.text())


def change_lines(change: Change) -> list[str]:
    """A change as rich-markup lines: sign, operation, resource, then each field."""
    color = COLORS[change.sign]
    lines = [f"  [{color}]{change.sign}[/] {change.op:<18} {escape(change.resource)}"]
    if change.resolved and change.resolved != change.resource:
        lines[0] += f" = {escape(change.resolved)}"
    if change.allowed is False:
        lines[0] += f"  [red bold]blocked[/] [red]({escape(change.rule)})[/]"
    elif change.allowed:
        lines[0] += f"  [dim]allowed by {escape(change.rule)}[/]"
    lines.extend(f"      {_field(item)}" for item in change.fields)
    if change.note:
        lines.append(f"      [dim]{escape(change.note)}[/]")
    if change.needs:
        lines.append(f"      [dim]needs {escape(', '.join(change.needs))}[/]")
    if change.pulled:
        lines.append(f"      [dim]pulled in: {escape(change.pulled)} needs it[/]")
    return lines


def host_lines(host: HostPlan) -> list[str]:
    if host.error:
        return [f"[bold]{escape(host.host)}[/]: [red]error[/]: {escape(host.error)}"]
    if host.in_sync:
        return [f"[bold]{escape(host.host)}[/]: [green]in sync[/]"]
    lines = [f"[bold]{escape(host.host)}[/]: {len(host.changes)} change(s)"]
    for change in host.changes:
        lines.extend(change_lines(change))
    return lines


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    parts = [f"{s['add']} to add", f"{s['change']} to change", f"{s['remove']} to remove"]
    if s["unknown"] > s["waiting"]:
        parts.append(f"{s['unknown'] - s['waiting']} not readable")
    if s["waiting"]:
        parts.append(f"{s['waiting']} waiting")
    hosts = f"{s['hosts']} host(s): {s['in_sync']} in sync"
    if s["errors"]:
        hosts += f", {s['errors']} failed"
    return f"Plan: {', '.join(parts)}. {hosts}."


def results_json(results: list[HostResult]) -> list[dict[str, Any]]:
    return [
        {
            "name": r.host,
            "error": r.error,
            "code": r.code or ("host.failed" if r.error else None),
            "changes": [
                {
                    **change_json(c.change),
                    "outcome": c.outcome,
                    "reason": c.reason or None,
                    "recorded": c.recorded,
                }
                for c in r.results
            ],
        }
        for r in results
    ]


def apply_json(
    plan: Plan, results: list[HostResult], after: Plan | None, error: str | None
) -> dict[str, Any]:
    """apply's one JSON shape, whatever happened: the plan, each change's result, the
    hosts read again (null when nothing ran), and why it stopped short (or null)."""
    return {
        "plan": plan_json(plan),
        "results": results_json(results),
        "after": plan_json(after) if after is not None else None,
        "error": error,
    }


_OUTCOME = {
    "done": "[green]done[/]",
    "failed": "[red]failed[/]",
    "refused": "[red]refused[/]",
    "skipped": "[yellow]not run[/]",
    "interrupted": "[red]interrupted[/]",
}


def _host_state(host: HostPlan | None) -> str:
    """A host's verdict after apply: the same as plan's (in sync or not)."""
    if host is None:
        return "[red]not read again[/]"
    if host.error:
        return f"[red]not read again: {escape(host.error)}[/]"
    if host.in_sync:
        return "[green]converged[/]"
    left = sum(c.action != "unknown" for c in host.changes)
    waiting = sum(c.waiting for c in host.changes)
    unread = len(host.changes) - left - waiting
    parts = (
        ([f"{left} change(s) remain"] if left else [])
        + ([f"{unread} resource(s) could not be read"] if unread else [])
        + ([f"{waiting} change(s) waiting (not approved now)"] if waiting else [])
    )
    return f"[red]not converged: {', '.join(parts)}[/]"


def result_lines(
    results: list[HostResult], after: Plan | None, *, verdicts: bool = True
) -> list[str]:
    """What was done, what failed and why, then what the hosts look like now (without
    `verdicts`, for `tendr do`, which does not read the hosts again)."""
    remaining = {h.host: h for h in after.hosts} if after else {}
    lines: list[str] = []
    for result in results:
        now = remaining.get(result.host)
        head = f"[bold]{escape(result.host)}[/]"
        if result.error:
            head += f": [red]error[/]: {escape(result.error)}"
            if verdicts and (result.results or now is not None):
                head += f"; {_host_state(now)}"
        elif verdicts:
            head += f": {_host_state(now)}"
        lines.append(head)
        said = result.error or ""
        for item in result.results:
            # Why changes were not run is said once, not again for each of them; but each
            # says the change it waited on.
            if (
                item.outcome == "skipped"
                and item.reason
                and said.endswith(item.reason)
                and not item.reason.startswith(WAITS)
            ):
                reason = ""
            else:
                said = item.reason
                reason = f": {escape(item.reason)}" if item.reason else ""
            unrecorded = "" if item.recorded else " [red](not in the audit log)[/]"
            lines.append(
                f"  {_OUTCOME[item.outcome]} {item.change.op} "
                f"{escape(item.change.resource)}{reason}{unrecorded}"
            )
        if now is not None and not now.error:
            lines.extend(line for c in now.changes for line in change_lines(c))
    totals = {
        k: sum(r.count(k) for r in results)
        for k in ("done", "failed", "interrupted", "refused", "skipped")
    }
    errors = sum(r.error is not None for r in results)
    lines.append(
        f"Applied: {totals['done']} done, {totals['failed']} failed, "
        + (f"{totals['interrupted']} interrupted, " if totals["interrupted"] else "")
        + f"{totals['refused']} refused, {totals['skipped']} not run; "
        f"{errors} host(s) with errors."
    )
    return lines
