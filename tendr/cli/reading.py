"""Commands that read: logs, diagnose, history, report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from tendr.base.errors import PermissionDenied
from tendr.cli.common import (
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_OK,
    TIME_HELP,
    AsOpt,
    Format,
    FormatOpt,
    LimitOpt,
    OnlyOpt,
    WorkspaceOpt,
    err,
    host_named,
    load_workspace,
    may_read,
    no_out_at_gateway,
    options,
    out,
    print_json,
    reporting,
    select_hosts,
    select_parts,
    time_option,
    write_out,
)
from tendr.cli.progress import ReadingBar
from tendr.cli.render import escape
from tendr.core import history
from tendr.core import report as report_data
from tendr.core.authorize import may


def logs(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
    since: Annotated[str | None, typer.Option(help=f"From this time: {TIME_HELP}")] = None,
    errors: Annotated[bool, typer.Option("--errors", help="Priority err and worse only.")] = False,
    unit: Annotated[
        str | None, typer.Option(help="Only this unit's, such as cups.service.")
    ] = None,
    grep: Annotated[str | None, typer.Option(help="Only lines matching this pattern.")] = None,
    lines: Annotated[
        int, typer.Option(min=1, max=100000, help="The newest this many lines, in time order.")
    ] = 200,
    show_all: Annotated[
        bool,
        typer.Option("--all", help="tendr's own logins and sudo too (each reading adds some)."),
    ] = False,
) -> None:
    """The selected hosts' journals (`-l HOST`), newest last, each line rendered
    harmless: no escape sequence from a host takes effect on this terminal.

    Exit 0 when every host's journal was read, 1 otherwise.
    """
    with reporting(fmt):
        from tendr.ops import logs as journal

        start = time_option("--since", since)
        with options(unit="--unit", grep="--grep"):
            wanted = journal.query(start, errors, unit, grep, lines, own=show_all)
        loaded, person, selected = select_hosts(workspace, limit_, as_person)
        may_read(loaded, as_person)  # one who may read nothing is not shown every host refused
        with ReadingBar(fmt, len(selected)) as reading:
            found = journal.read(loaded, selected, person, wanted, progress=reading)
        if fmt is Format.json:
            print_json(
                {
                    "hosts": [
                        {"name": h.host, "lines": h.lines, "error": h.error or None} for h in found
                    ]
                }
            )
        else:
            for host in found:
                if host.error:
                    out.print(f"[red]{escape(host.host)}: {escape(host.error)}[/]")
                    continue
                out.print(f"[bold]{escape(host.host)}[/]: {len(host.lines)} line(s)")
                for line in host.lines:
                    out.print(f"  {escape(line)}")
        raise typer.Exit(EXIT_ERROR if any(h.error for h in found) else EXIT_OK)


def diagnose(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
    only_: OnlyOpt = None,
) -> None:
    """One screen per host for a technician who just got a call (`-l HOST`): failed
    units with their last errors, the journal's errors grouped, disk space and memory
    pressure, backups, printer queues, drift against the desired state and what the
    health check recorded since the last visit; each problem with its probable cause
    and the tendr operation that fixes it.

    Exit 0 when no host has a problem, 2 when some has, 1 on an error.
    """
    with reporting(fmt):
        from tendr.ops import diagnose as diagnosis

        loaded, person, selected = select_hosts(workspace, limit_, as_person)
        may_read(loaded, as_person)  # one who may read nothing is not shown every host refused
        parts = select_parts(loaded, selected, only_)
        with ReadingBar(fmt, len(selected)) as reading:
            found = diagnosis.diagnose(loaded, selected, person, reading, parts)
        if fmt is Format.json:
            print_json(diagnosis.as_json(found))
        else:
            for host in found:
                _render_diagnosis(host)
        if any(h.error for h in found):
            raise typer.Exit(EXIT_ERROR)
        raise typer.Exit(EXIT_DRIFT if any(h.problems for h in found) else EXIT_OK)


def _render_diagnosis(host: Any) -> None:
    name = escape(host.host)
    if host.error and not host.problems:
        out.print(f"[red]{name}: {escape(host.error)}[/]")
        return
    if not host.problems:
        out.print(f"[green]{name}: no problem found[/]")
        return
    out.print(f"[bold]{name}[/]: {len(host.problems)} problem(s)")
    for problem in host.problems:
        out.print(f"  [red]{escape(problem.area):<8}[/] {escape(problem.what)}")
        out.print(f"           cause: {escape(problem.cause)}")
        if problem.fix:
            out.print(f"           fix:   {escape(problem.fix)}")
        for line in problem.detail:
            out.print(f"           [dim]| {escape(line)}[/]")
    if host.error:
        out.print(f"  [red]{escape(host.error)}[/]")


def history_command(
    host: Annotated[str, typer.Argument(help="The host, by name.", show_default=False)],
    resource: Annotated[
        str | None, typer.Argument(help="One resource (a unit, a path...).")
    ] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    as_person: AsOpt = None,
    since: Annotated[
        str | None, typer.Option(help=f"Only plans at or after this time: {TIME_HELP}")
    ] = None,
) -> None:
    """Since when and how often a host's resources have drifted, from every plan kept
    in the drift history (operation `history`).

    Exit 0 when nothing drifts at the last plan, 2 when something does, 1 on an error.
    """
    with reporting(fmt):
        loaded = load_workspace(workspace)
        person, target = may_read(loaded, as_person).person, host_named(loaded, host)
        if not (decision := may(loaded, person, "history", target)).allowed:
            raise PermissionDenied(message=f"permission denied: {decision.reason}")
        start = time_option("--since", since)
        found = history.runs(
            loaded.path(loaded.settings.history),
            [host],
            start.isoformat(timespec="seconds") if start else None,
        )
        if resource is not None:
            declared = [d.spec.key for d in loaded.desired(target)]
            history.known_resource(resource, declared, found)
        drifts = history.summarize(found, resource)
        if fmt is Format.json:
            print_json(
                {
                    "host": host,
                    "plans": len([r for r in found if r.status != "error"]),
                    "resources": [_drift_json(d) for d in drifts],
                }
            )
        else:
            _render_history(host, found, drifts)
        raise typer.Exit(EXIT_DRIFT if any(d.now for d in drifts) else EXIT_OK)


def _drift_json(drift: history.Drift) -> dict[str, Any]:
    return {
        "kind": drift.kind,
        "resource": drift.resource,
        "op": drift.op,
        "drifting": drift.now,
        "since": drift.since,
        "drifted": drift.drifted,
        "plans": drift.runs,
        "first": drift.first,
        "last": drift.last,
    }


def _render_history(host: str, found: list[history.Run], drifts: list[history.Drift]) -> None:
    read = [r for r in found if r.status != "error"]
    if not read:
        out.print(f"{escape(host)}: no plan in the drift history yet")
        return
    out.print(f"[bold]{escape(host)}[/]: {len(read)} plan(s), {read[0].time} to {read[-1].time}")
    if not drifts:
        out.print("  in sync in every plan")
    for d in drifts:
        what = f"{escape(d.op)} {escape(d.resource)}"
        if d.now:
            out.print(
                f"  [yellow]drifting[/] {what}: since {d.since}; in {d.drifted} of {d.runs} plan(s)"
            )
        else:
            out.print(
                f"  [green]in sync[/] {what}: drifted in {d.drifted} of {d.runs} plan(s), "
                f"last {d.last}"
            )


class ReportFormat(StrEnum):
    markdown = "markdown"
    html = "html"
    json = "json"


def report(
    workspace: WorkspaceOpt = None,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
    since: Annotated[
        str | None, typer.Option(help=f"From this time (30 days ago unless given): {TIME_HELP}")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help=f"Up to this time (now unless given): {TIME_HELP}")
    ] = None,
    fmt: Annotated[
        ReportFormat,
        typer.Option(
            "--format", metavar="markdown|html|json", help="Markdown, one HTML page, or JSON."
        ),
    ] = ReportFormat.markdown,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write it to this file, not standard output.")
    ] = None,
) -> None:
    """The client's report for a period (`-l client:acme`): their machines, in sync or
    drifting, problems found and their causes, the changes made (who, why), drift over
    the period and backup status, from the drift history and the audit log. The HTML is
    one self-contained page that prints well.

    Operation `report` per host; hosts the rules leave out are named on standard error.
    """
    with reporting():
        from tendr.cli import client_report

        no_out_at_gateway(out_file)
        loaded, person, selected = select_hosts(workspace, limit_, as_person)
        may_read(loaded, as_person)
        end = time_option("--until", until) or datetime.now(UTC)
        start = time_option("--since", since) or end - timedelta(days=30)
        built, refused = report_data.gather(loaded, person, selected, start, end)
        for name, why in refused.items():
            err.print(f"left out {escape(name)}: {escape(why)}")
        if fmt is ReportFormat.json:
            text = json.dumps(client_report.as_json(built), indent=2) + "\n"
        elif fmt is ReportFormat.html:
            text = client_report.render_html(built)
        else:
            text = client_report.markdown(built)
        write_out(text, out_file, "report")
