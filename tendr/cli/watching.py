"""Between visits: watch (one cycle over the hosts) and status (the fleet at a glance)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from tendr.base.errors import PermissionDenied
from tendr.cli.common import (
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_OK,
    AsOpt,
    Format,
    FormatOpt,
    LimitOpt,
    WorkspaceOpt,
    err,
    may_read,
    no_out_at_gateway,
    out,
    print_json,
    reporting,
    select_hosts,
    write_out,
)
from tendr.cli.progress import ReadingBar
from tendr.cli.render import escape
from tendr.core import history, status
from tendr.gateway import session as gateway
from tendr.rules.actor import GATEWAY_ITSELF


def watch(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
) -> None:
    """One read-only cycle over the selected hosts (all by default; operation `watch`):
    each read as diagnose reads it, in one command; problems kept with when they were
    first and last seen and cleared; the [[alert]] entries of tendr.toml told of those
    that opened and cleared; the status page written.

    Exit 0 when no problem is open on the hosts, 2 when some is, 1 on an error.
    """
    with reporting(fmt):
        from tendr.ops import watch as watching

        loaded, person, selected = select_hosts(workspace, limit_, as_person)
        at_gateway = gateway.session()
        if at_gateway is not None and at_gateway.person is None:
            person = GATEWAY_ITSELF  # its own timer: no key or sudo named anyone
        else:
            may_read(loaded, as_person)
        with ReadingBar(fmt, len(selected)) as reading:
            done = watching.cycle(loaded, selected, person, reading)
        names = [h.name for h in selected]
        still = done.open(names)
        refused = [d for d in done.hosts if d.code == PermissionDenied.code]
        if fmt is Format.json:
            print_json(_cycle_json(done, still))  # its warnings in it
        else:
            _render_cycle(done, still)
            for line in done.warnings:
                err.print(f"[yellow]{escape(line)}[/]")
        if refused and len(refused) == len(done.hosts):
            raise typer.Exit(EXIT_ERROR)
        raise typer.Exit(EXIT_DRIFT if still else EXIT_OK)


def _cycle_json(done: Any, still: list[Any]) -> dict[str, Any]:
    return {
        "time": done.time,
        "hosts": [
            {"name": d.host, "read": d.read, "error": d.error or None, "code": d.code}
            for d in done.hosts
        ],
        "open": [status.problem_json(p) for p in still],
        "opened": [status.problem_json(e.problem) for e in done.events if e.kind == "opened"],
        "cleared": [status.problem_json(e.problem) for e in done.events if e.kind == "cleared"],
        "sent": done.sent,
        "warnings": done.warnings,
    }


def _render_cycle(done: Any, still: list[Any]) -> None:
    for d in done.hosts:
        if d.code == PermissionDenied.code:
            out.print(f"[red]{escape(d.host)}: {escape(d.error)}[/]")
    for event in done.events:
        p = event.problem
        colour = "red" if event.kind == "opened" else "green"
        out.print(
            f"[{colour}]{event.kind:<8}[/] {escape(p.host)} {escape(p.area)}: {escape(p.what)}"
        )
    out.print(f"{len(still)} problem(s) open on {len(done.hosts)} host(s)")
    for p in still:
        out.print(
            f"  {p.severity:<8} {escape(p.host)} {escape(p.area)}: {escape(p.what)} "
            f"(since {p.first_seen})"
        )
    for line in done.sent:
        out.print(f"told {escape(line)}")


class StatusFormat(StrEnum):
    text = "text"
    json = "json"
    html = "html"


def status_command(
    workspace: WorkspaceOpt = None,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
    fmt: Annotated[
        StatusFormat,
        typer.Option("--format", metavar="text|json|html", help="For people, scripts or a page."),
    ] = StatusFormat.text,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write it to this file, not standard output.")
    ] = None,
) -> None:
    """The fleet at a glance, per client and host, from what watch keeps (no host is
    touched): open problems with their age, drifting resources, the newest backup, when
    each host was last seen. Only the hosts you may read.

    Exit 0 when no problem is open, 2 when some is, 1 on an error.
    """
    with reporting(Format.json if fmt is StatusFormat.json else Format.text):
        no_out_at_gateway(out_file)
        loaded, _, selected = select_hosts(workspace, limit_, as_person)
        readable = {h.name for h in may_read(loaded, as_person).hosts}
        hosts = [h for h in selected if h.name in readable]
        store = history.watch_store(loaded.path(loaded.settings.history))
        found = status.gather(store, hosts, datetime.now(UTC))
        if fmt is StatusFormat.json:
            import json

            text = json.dumps(status.as_json(found), indent=2) + "\n"
        elif fmt is StatusFormat.html:
            text = status.render_html(found)
        else:
            text = ""
        if fmt is StatusFormat.text and out_file is None:
            _render_status(found)
        else:
            write_out(text or _plain(found), out_file, "status")
        raise typer.Exit(EXIT_DRIFT if any(h.problems for h in found.hosts) else EXIT_OK)


def _status_lines(found: status.Status) -> list[str]:
    lines = [f"as of {found.time}"]
    for client, hosts in found.clients.items():
        lines.append(f"{client}:")
        for h in hosts:
            seen = (
                f"last seen {status.age(h.last_seen, found.time)} ago"
                if h.last_seen
                else ("never read" if h.watched else "not watched yet")
            )
            lines.append(f"  {h.name}: {len(h.problems)} problem(s), {seen}")
            if h.error:
                lines.append(f"    error: {h.error}")
            for p in h.problems:
                opened = status.age(p.first_seen, found.time)
                lines.append(f"    {p.severity:<8} {p.area}: {p.what} (open {opened})")
            lines += [f"    drifting: {d}" for d in h.drifting]
            lines += [
                f"    backup {job}: newest {status.snapshot_time(t)}"
                for job, t in sorted(h.backups.items())
            ]
    return lines


def _render_status(found: status.Status) -> None:
    for line in _status_lines(found):
        out.print(escape(line))


def _plain(found: status.Status) -> str:
    return "\n".join(_status_lines(found)) + "\n"
