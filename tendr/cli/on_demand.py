"""Acting on hosts now, without a state: run, do, shell, backup check."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from tendr.base.errors import NotConfirmed, NoTerminal
from tendr.cli.common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    AsOpt,
    Commands,
    Format,
    FormatOpt,
    LimitOpt,
    WorkspaceOpt,
    changes_here,
    err,
    host_named,
    load_workspace,
    named_hosts,
    out,
    person_acting,
    print_json,
    reporting,
    select_hosts,
)
from tendr.cli.progress import ApplyProgress, ReadingBar
from tendr.cli.render import escape, result_lines, results_json


def run(
    command: Annotated[
        list[str],
        typer.Argument(help="The command and its arguments, after --.", show_default=False),
    ],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
) -> None:
    """Run one command on the selected hosts in parallel, as root: each host's output and
    exit status. `tendr run -l client:acme -- lpstat -p`.

    The command is an argument vector: nothing in it is read by a shell, here or on
    the host. The rules decide `command.run` per host and command; a refused command
    is never sent. Exit 0 when it ran and succeeded on every host, 1 otherwise.
    """
    with reporting(fmt):
        from tendr.ops import engine
        from tendr.ops import on_demand as terminal

        named_hosts(limit_)
        loaded, person, selected = select_hosts(workspace, limit_, as_person)
        changes_here(loaded, "run")
        with ReadingBar(fmt, len(selected)) as reading:
            ran = terminal.run_command(
                loaded,
                selected,
                person,
                command,
                secrets=engine.secret_values(loaded, selected),
                progress=reading,
            )
        if fmt is Format.json:
            print_json({"command": command, "hosts": [_run_json(r) for r in ran]})
        else:
            for result in ran:
                _render_run(result)
        raise typer.Exit(EXIT_OK if all(r.ok for r in ran) else EXIT_ERROR)


def _run_json(result: Any) -> dict[str, Any]:
    return {
        "name": result.host,
        "status": result.status,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "refused": result.refused or None,
        "error": result.error or None,
    }


def _render_run(result: Any) -> None:
    """A host's output, each line rendered harmless: no escape sequence from the host
    takes effect on this terminal."""
    name = escape(result.host)
    if result.refused or result.error:
        out.print(f"[red]{name}: {escape(result.refused or result.error)}[/]")
        return
    color = "green" if result.ok else "red"
    out.print(f"[{color}]{name}: exit {result.status}[/]")
    for line in result.stdout:
        out.print(f"  {escape(line)}")
    for line in result.stderr:
        out.print(f"  [dim]{escape(line)}[/]")


def do(
    op: Annotated[str, typer.Argument(help="The operation, such as service.restart.")],
    resource: Annotated[str, typer.Argument(help="The resource, such as cups.service.")],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="backup.init: start over without asking.")
    ] = False,
) -> None:
    """Make one operation on one resource of the selected hosts, now, without a state:
    `tendr do service.restart cups.service -l acme-fs01`, `tendr do printer.enable
    frontdesk`, `tendr do backup.init documents -l acme-fs01` (a new, empty repository
    where none is; asked first, or --yes).

    The same rules, audit log and progress as apply. Exit 0 when it was done on every
    host, 1 otherwise, 130 when interrupted.
    """
    with reporting(fmt):
        from tendr.ops import on_demand as terminal
        from tendr.ops.execute import Interrupted

        named_hosts(limit_)
        loaded, person, selected = select_hosts(workspace, limit_, as_person)
        changes_here(loaded, "do")
        progress = ApplyProgress() if fmt is Format.text and err.is_terminal else None

        def confirm(lines: list[str]) -> None:
            for line in lines:
                err.print(escape(line))
            if yes:
                return
            if not sys.stdin.isatty():
                raise NoTerminal("no terminal to confirm on: pass --yes to start over")
            if fmt is Format.json or not typer.confirm(
                "Start over with a new, empty repository?", default=False
            ):
                raise NotConfirmed("not confirmed; nothing was done")

        try:
            done = terminal.do_operation(
                loaded, selected, person, op, resource, progress=progress, confirm=confirm
            )
        except Interrupted as exc:
            _render_done(exc.results, fmt)
            err.print("interrupted: what was underway is recorded as interrupted in the audit log")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            if progress is not None:
                progress.close()
        _render_done(done, fmt)
        ok = all(r.error is None and r.count("done") == len(r.results) for r in done)
        raise typer.Exit(EXIT_OK if ok else EXIT_ERROR)


def _render_done(results: list[Any], fmt: Format) -> None:
    if fmt is Format.json:
        print_json({"results": results_json(results)})
        return
    for line in result_lines(results, None, verdicts=False):
        out.print(line)


def shell(
    host: Annotated[str, typer.Argument(help="The host, by name.", show_default=False)],
    workspace: WorkspaceOpt = None,
    as_person: AsOpt = None,
) -> None:
    """An interactive SSH session on one host, with the workspace's pinned key, recorded
    whole (asciicast v2) and linked from the audit log: `tendr audit-log replay N`.

    Exit with ssh's exit status (the session's last command's), 1 when no session opened.
    """
    with reporting():
        from tendr.ops import shell as sessions

        loaded = load_workspace(workspace)
        changes_here(loaded, "shell")
        person = person_acting(as_person)
        target = host_named(loaded, host)
        recorded = sessions.session(loaded, target, person)
        err.print(
            f"session recorded: {escape(recorded.path.relative_to(loaded.root))} "
            "(tendr audit-log show --op shell; tendr audit-log replay N)"
        )
        raise typer.Exit(recorded.status)


backup_app = typer.Typer(
    rich_markup_mode=None,
    cls=Commands,
    help="Backups: check that they can be restored.",
    no_args_is_help=True,
)


@backup_app.command("check")
def backup_check(
    host: Annotated[str, typer.Argument(help="The host, by name.", show_default=False)],
    job: Annotated[str | None, typer.Argument(help="One job; default: every job.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    as_person: AsOpt = None,
) -> None:
    """Check a host's backup repository (restic check, reading a part of the data) and
    restore a sample of the newest snapshot's files into a temporary folder on the host,
    comparing them with the snapshot's record: passed, or failed with the reason.

    Exit 0 when every job passed, 1 otherwise.
    """
    with reporting(fmt):
        from tendr.ops.backup_check import check_backups

        loaded = load_workspace(workspace)
        person = person_acting(as_person)
        target = host_named(loaded, host)
        checked = check_backups(loaded, target, person, job)
        if fmt is Format.json:
            print_json(
                {
                    "host": host,
                    "jobs": [
                        {"name": c.job, "passed": c.passed, "reason": c.reason} for c in checked
                    ],
                }
            )
        else:
            for c in checked:
                verdict = "[green]passed[/]" if c.passed else "[red]FAILED[/]"
                out.print(f"{escape(host)} {escape(c.job)}: {verdict}: {escape(c.reason)}")
        raise typer.Exit(EXIT_OK if all(c.passed for c in checked) else EXIT_ERROR)
