"""plan and apply: the plan rendered, confirmed, applied, its results rendered."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tendr.base.errors import NotConfirmed, NoTerminal
from tendr.cli.common import (
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    AsOpt,
    Format,
    FormatOpt,
    LimitOpt,
    OnlyOpt,
    WorkspaceOpt,
    changes_here,
    err,
    error,
    out,
    print_json,
    reporting,
    select_hosts,
    select_parts,
)
from tendr.cli.progress import ApplyProgress, ReadingBar
from tendr.cli.render import apply_json, escape, host_lines, plan_json, result_lines, summary_line
from tendr.core import history
from tendr.core.plan import Plan


def plan(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
    only_: OnlyOpt = None,
) -> None:
    """Dry-run audit: per host, how the machine differs from its desired state.

    Exit 0 when every host is in sync, 2 when there is drift, 1 on any error.
    """
    with reporting(fmt):
        from tendr.core.only import only
        from tendr.ops import engine

        loaded, person, selected = select_hosts(workspace, limit_, as_person)
        parts = select_parts(loaded, selected, only_)
        with ReadingBar(fmt, len(selected)) as reading:
            whole = engine.plan_for(loaded, selected, person, reading)
        result = only(whole, parts)
        render_plan(result, fmt)
        # The drift history keeps what was read, the whole of it.
        if problem := history.record(loaded.path(loaded.settings.history), whole, person):
            err.print(f"warning: {escape(problem)}")
        if result.has_errors:
            raise typer.Exit(EXIT_ERROR)
        raise typer.Exit(EXIT_OK if result.in_sync else EXIT_DRIFT)


def apply(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    only_allowed: Annotated[
        bool, typer.Option(help="Apply what the rules allow; report the rest as refused.")
    ] = False,
    only_: OnlyOpt = None,
) -> None:
    """Make the permitted changes, then read the hosts again and say what converged.

    Exit 0 when every change was made and no drift remains, 1 otherwise, 130 when
    interrupted.
    """
    raise typer.Exit(applying(workspace, fmt, limit_, as_person, yes, only_allowed, only_))


def applying(
    workspace: Path | None,
    fmt: Format,
    limit_: list[str] | None,
    as_person: str | None,
    yes: bool,
    only_allowed: bool,
    only_: list[str] | None = None,
) -> int:
    """apply's work, its exit code returned (an error or an interruption exits): onboard
    --apply goes on after it."""
    with reporting(fmt):
        from tendr.ops import apply as workflow
        from tendr.ops.execute import Interrupted

        loaded, person, selected = select_hosts(workspace, limit_, as_person)
        parts = select_parts(loaded, selected, only_)
        changes_here(loaded, "apply")
        phase = "before any change was made"
        reading = ReadingBar(fmt, len(selected))

        def confirm(planned: Plan) -> None:
            nonlocal phase
            reading.close()
            if fmt is Format.text:
                render_plan(planned, fmt)
            _confirm(yes, fmt)
            phase = "some changes may already have been made"

        progress = ApplyProgress() if fmt is Format.text and err.is_terminal else None
        try:
            applied = workflow.apply(
                loaded,
                selected,
                person,
                only_allowed=only_allowed,
                parts=parts,
                confirm=confirm,
                reading=reading,
                applying=progress,
            )
        except Interrupted as exc:
            _render_results(workflow.Applied(Plan(), exc.results), fmt)
            err.print(
                "interrupted: what was underway is recorded as interrupted in the "
                "audit log; run 'tendr plan' to see where each host stands now"
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except KeyboardInterrupt:
            err.print(f"interrupted {phase}; run 'tendr plan' to see where each host stands")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            reading.close()
            if progress is not None:
                progress.close()
        if not applied.ran:
            _render_unapplied(applied, person, fmt)
        else:
            _render_results(applied, fmt)
        if applied.unrecorded:
            err.print(f"warning: {escape(applied.unrecorded)}")
        return EXIT_OK if applied.ok else EXIT_ERROR


def render_plan(plan: Plan, fmt: Format) -> None:
    if fmt is Format.json:
        print_json(plan_json(plan))
        return
    lines = [line for host in plan.hosts for line in host_lines(host)]
    out.print("\n".join([*lines, summary_line(plan)]))  # one print: rich is slow per call


def _confirm(yes: bool, fmt: Format) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise NoTerminal("no terminal to confirm on: pass --yes to apply without asking")
    if fmt is Format.json or not typer.confirm("Apply these changes?", default=False):
        raise NotConfirmed("not confirmed; nothing was applied")


def _render_unapplied(applied: Any, person: str, fmt: Format) -> None:
    """An apply that changed nothing: refused, or with nothing to do."""
    if fmt is Format.json:
        _render_results(applied, fmt)
        return
    render_plan(applied.plan, fmt)
    if applied.error:
        error(applied.error)
    elif applied.results:
        out.print(f"Nothing applied: {escape(person)} may make none of the planned changes:")
        for result in applied.results:
            for item in result.results:
                out.print(
                    f"  [red]refused[/] {escape(result.host)}: "
                    f"{escape(item.change.op)} {escape(item.change.resource)}"
                )
    elif unread := applied.plan.summary()["unknown"] - applied.plan.summary()["waiting"]:
        out.print(f"Nothing to apply, but {unread} resource(s) could not be read: not converged.")
    elif waiting := applied.plan.summary()["waiting"]:
        out.print(f"Nothing to apply now: {waiting} change(s) waiting (not approved now).")
    elif not applied.plan.has_errors:
        out.print("Nothing to apply.")


def _render_results(applied: Any, fmt: Format) -> None:
    if fmt is Format.json:
        print_json(apply_json(applied.plan, applied.results, applied.after, applied.error))
        return
    if applied.results or applied.after is not None:
        out.print("\n" + "\n".join(result_lines(applied.results, applied.after)))
    if applied.error:
        error(applied.error)
