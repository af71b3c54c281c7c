"""The command line: parse, call the core, render. The one place that prints and exits."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from typer.core import TyperGroup

from tendr import __version__
from tendr.base.errors import (
    PermissionDenied,
    SelectionError,
    TendrError,
    UserError,
    WorkspaceError,
)
from tendr.base.selection import check_selector, no_match, select
from tendr.cli.render import (
    apply_json,
    escape,
    host_lines,
    plan_json,
    result_lines,
    results_json,
    summary_line,
)
from tendr.core import audit, history
from tendr.core.authorize import Reading, may, readable, reading
from tendr.core.plan import Plan
from tendr.gateway import session as gateway
from tendr.gateway.commit import commit_at_gateway
from tendr.rules.actor import acting_person
from tendr.rules.decide import matching_rules, roles_of
from tendr.rules.model import READING_OPS, check_op_pattern, check_operation
from tendr.rules.resources import FIELDS, field_of
from tendr.workspace.hosts import Host, route
from tendr.workspace.init import create_workspace
from tendr.workspace.inventory import host_rows, limit
from tendr.workspace.loader import Workspace, find_root, load
from tendr.workspace.schema import FAMILIES, FILE_NAMES, schema_for

try:  # typer 0.29 and later carry their own copy of click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import UsageError  # type: ignore[assignment]

# pyinfra (engine, apply) is imported inside the commands that touch hosts, so that
# validate, hosts, schema and rules answer without loading it.

# Exit codes, documented in README.md.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DRIFT = 2
EXIT_BUG = 3
EXIT_USAGE = 64  # sysexits.h EX_USAGE
EXIT_INTERRUPTED = 130


class _Commands(TyperGroup):
    """Usage errors (an unknown option or command) exit with EXIT_USAGE, not click's 2,
    which is plan's code for drift."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise


app = typer.Typer(
    cls=_Commands,
    help="Keep client machines in the state you promised: plan, apply, audit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(StrEnum):
    text = "text"
    json = "json"


WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder [default: $TENDR_WORKSPACE, or .]",
        show_default=False,
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", help="Output for people or for scripts.")]
LimitOpt = Annotated[
    list[str] | None,
    typer.Option("--limit", "-l", help="Only these hosts: NAME, group:G, client:C, tag:T, all."),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"tendr {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[  # noqa: ARG001 - handled by its eager callback
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """tendr: desired state for managed-service providers' client machines."""
    with _reporting():
        at_gateway = gateway.session()
        if at_gateway is not None and at_gateway.person:
            _record_request(at_gateway)  # before any check: refusals are on record too
        gateway.check_command(ctx.invoked_subcommand)


@contextmanager
def _reporting(fmt: Format = Format.text) -> Iterator[None]:
    """Render every error in one place: user mistakes plainly, bugs as bugs."""
    try:
        yield
    except WorkspaceError as exc:
        if fmt is Format.json:
            _print_json({"ok": False, "problems": [_problem_json(p) for p in exc.problems]})
        else:
            for problem in exc.problems:
                _error(str(problem))
            err.print(f"{exc}; nothing was done.")
        raise typer.Exit(EXIT_ERROR) from None
    except TendrError as exc:
        if fmt is Format.json:
            _print_json({"ok": False, "error": str(exc)})
        else:
            _error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception:
        _report_bug()
        raise typer.Exit(EXIT_BUG) from None


def _error(message: str) -> None:
    """An error on stderr. tendr's own message may span lines (a refused apply lists a
    change a line): each line is escaped, so only the values' line breaks show as \\n."""
    err.print("[red]error[/]: " + "\n".join(escape(line) for line in message.split("\n")))


def _report_bug() -> None:
    """A bug: its traceback in the debug log, or on stderr when the log cannot be written."""
    # In the user's own folder: a fixed name in /tmp could be a planted link.
    debug_log = Path.home() / ".cache" / "tendr" / "debug.log"
    try:
        debug_log.parent.mkdir(parents=True, exist_ok=True)
        with debug_log.open("a", encoding="utf-8") as handle:
            handle.write(f"--- tendr {__version__}: {' '.join(sys.argv)}\n{traceback.format_exc()}")
        where = f"details in {debug_log}"
    except OSError as exc:
        err.print(traceback.format_exc(), markup=False, highlight=False)
        where = f"details above ({debug_log} could not be written: {exc.strerror or exc})"
    err.print(f"internal error in tendr (a bug, not your mistake); {where}", markup=False)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _problem_json(problem: Any) -> dict[str, Any]:
    return {
        "file": problem.file,
        "key": problem.key,
        "line": problem.line,
        "column": problem.column,
        "message": problem.message,
    }


def _load(workspace: Path | None) -> Workspace:
    """The workspace: --workspace, $TENDR_WORKSPACE or the current folder; at the gateway
    its own, with what a workspace may not hold there refused."""
    gateway.refuse_overrides(workspace_given=workspace is not None, as_given=False)
    at_gateway = gateway.session()
    if at_gateway is None:
        return load(find_root(workspace))
    loaded = load(at_gateway.workspace)
    from tendr.gateway.served import own_keys

    if problems := gateway.gateway_problems(loaded) + own_keys(loaded):
        raise UserError("\n".join(problems))
    return loaded


def _record_request(at_gateway: gateway.Session) -> None:
    """What a person asks the gateway, in its audit log before it is done or refused."""
    command, line = gateway.request()
    record = audit.event(
        command,
        line,
        "asked",
        f"through {at_gateway.via}",
        person=at_gateway.person or "",
        account=at_gateway.account,
        command=command,
    )
    log = gateway.audit_log(at_gateway.workspace)
    try:
        audit.append(log, [record])
    except OSError as exc:
        raise UserError(
            f"the gateway records what it is asked, and its audit log {log} cannot be "
            f"written ({exc.strerror}); nothing was done"
        ) from None


def _selected(
    workspace: Path | None, limit_: list[str] | None, as_person: str | None
) -> tuple[Workspace, str, list[Host]]:
    """The workspace, who acts, and the hosts `--limit` selects: what every command that
    reaches hosts starts from."""
    loaded = _load(workspace)
    return loaded, _person(as_person), limit(loaded, limit_ or [])


def _changes_here(loaded: Workspace, command: str) -> None:
    """A copy of a workspace a gateway serves changes no host: the gateway does."""
    from tendr.gateway.served import served_elsewhere

    if why := served_elsewhere(loaded, command):
        raise UserError(why)


def _reader(loaded: Workspace, as_person: str | None) -> Reading:
    """What the acting person may read (see authorize.reading); one who may read nothing
    is refused, rather than shown an empty answer."""
    found = reading(loaded, _person(as_person))
    if found.nothing:
        why = "is in no role" if not found.role else "holds no reading operation"
        raise PermissionDenied(
            message=f"permission denied: {found.person} {why}, and may read nothing here "
            f"(reading a host takes one of {', '.join(READING_OPS)} on it)"
        )
    return found


def _named_hosts(limit_: list[str] | None) -> None:
    """run and do act at once, without a plan to confirm: the hosts must be named."""
    if not limit_:
        raise UserError("name the hosts with --limit/-l (HOST, group:G, client:C, or all)")


def _host(loaded: Workspace, name: str) -> Host:
    """One host of the workspace, by its name."""
    found = next((h for h in loaded.hosts if h.name == name), None)
    if found is None:
        raise UserError(f"{name!r} is not a host of this workspace (tendr hosts lists them)")
    return found


def _person(as_person: str | None) -> str:
    """Who acts: at the gateway, whom its key or sudo names; elsewhere the account
    running tendr (SUDO_USER through sudo), or --as for root."""
    gateway.refuse_overrides(workspace_given=False, as_given=as_person is not None)
    at_gateway = gateway.session()
    if at_gateway is not None and at_gateway.person:
        return at_gateway.person
    return acting_person(as_person)


@app.command()
def validate(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.text) -> None:
    """Check every file of the workspace; list every problem (exit 1) or say it is valid."""
    with _reporting(fmt):
        loaded = _load(workspace)
        counts = {
            "hosts": len(loaded.hosts),
            "states": len(loaded.states),
            "rules": len(loaded.rules),
        }
        if fmt is Format.json:
            _print_json({"ok": True, "problems": [], **counts})
        else:
            out.print(
                f"workspace {escape(loaded.root)} is valid: {counts['hosts']} hosts, "
                f"{counts['states']} state files, {counts['rules']} rules files"
            )


hosts_app = typer.Typer(
    cls=_Commands,
    help="The inventory (tendr hosts), and re-pinning a host's key (tendr hosts pin).",
)
app.add_typer(hosts_app, name="hosts")


@hosts_app.callback(invoke_without_command=True)
def hosts(
    ctx: typer.Context,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
) -> None:
    """The inventory: each host you may read, its client, address, connector, groups and
    state files."""
    if ctx.invoked_subcommand is not None:
        return
    with _reporting(fmt):
        loaded = _load(workspace)
        shown = list(_reader(loaded, as_person).hosts)
        for selector in limit_ or []:  # as --limit, among the hosts they may read only
            reason = check_selector(selector)
            if reason is None and not select([selector], shown):
                reason = no_match(selector, shown)  # suggesting only a host they may read
            if reason:
                raise SelectionError(selector=selector, reason=reason)
        rows = host_rows(loaded, select(limit_, shown) if limit_ else shown)
        if fmt is Format.json:
            _print_json({"hosts": rows})
            return
        table = Table(box=None, pad_edge=False)
        for column in ("host", "client", "address", "connector", "groups", "states"):
            table.add_column(column, overflow="fold")
        for row in rows:
            address = row["address"] or "-"
            if row["port"] and row["port"] != 22:
                address += f":{row['port']}"
            if row["via"]:
                address += f" via {row['via']}"
            cells = (
                row["name"],
                row["client"],
                address,
                row["connector"],
                ", ".join(row["groups"]) or "-",
                ", ".join(row["states"]) or "-",
            )
            table.add_row(*map(escape, cells))  # cells are rich markup
        # On a terminal long cells fold; into a pipe nothing is cut.
        (out if out.is_terminal else Console(width=1000, highlight=False)).print(table)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create (must be new or empty).")],
) -> None:
    """Create a new workspace that targets no host yet, with examples; you become its
    administrator."""
    with _reporting():
        creator = acting_person(None)
        written = create_workspace(directory, creator)
        for path in written:
            out.print(f"created {escape(path)}")
        out.print(
            f"{escape(creator)} is the administrator (rules/roles.toml). The workspace "
            "targets no host yet: copy hosts/acme.toml.example to hosts/CLIENT.toml "
            "and states/baseline.toml.example to states/NAME.toml, edit them, then "
            f"tendr validate -w {escape(directory)}"
        )


@app.command()
def schema(
    family: Annotated[str | None, typer.Argument(help="hosts, states, rules or settings.")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write one .schema.json per family here.")
    ] = None,
) -> None:
    """JSON Schema of the workspace files, for editors (Taplo / Even Better TOML)."""
    with _reporting():
        if family is not None and family not in FAMILIES:
            raise UserError(f"unknown family {family!r} (expected one of: {', '.join(FAMILIES)})")
        families = [family] if family else list(FAMILIES)
        if output is None:
            data = schema_for(families[0]) if family else {f: schema_for(f) for f in families}
            _print_json(data)
            return
        if gateway.session() is not None:
            raise PermissionDenied(
                message="the gateway writes no file you name: --output is refused"
            )
        output.mkdir(parents=True, exist_ok=True)
        for name in families:
            target = output / FILE_NAMES[name]
            target.write_text(json.dumps(schema_for(name), indent=2) + "\n", encoding="utf-8")
            out.print(f"wrote {escape(target)}")


def main() -> None:
    """Console-script entry point."""
    app()


AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as", help="Act as this person (root only; how roles are tested).", show_default=False
    ),
]


class _ReadingBar:
    """A bar on a terminal while several hosts are read; nothing in JSON mode or pipes.
    Closed before anything else is printed, so it never lingers above the plan."""

    def __init__(self, fmt: Format, total: int) -> None:
        self.bar: Progress | None = None
        if fmt is Format.text and err.is_terminal and total > 1:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            )
            self.task = self.bar.add_task("reading hosts", total=total)
            self.bar.start()

    def __call__(self, host: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=f"reading hosts ({escape(host)})")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __enter__(self) -> _ReadingBar:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _OverallOnly(ProgressColumn):
    """A column shown for the overall bar only; a host's line is its text alone."""

    def __init__(self, column: ProgressColumn) -> None:
        super().__init__()
        self.column = column

    def render(self, task: Task) -> RenderableType:
        return self.column.render(task) if task.total is not None else ""


class _ApplyProgress:
    """On a terminal: one bar for every change, and a line per host still working that
    names its change; a host's line goes when the host is done."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            _OverallOnly(BarColumn()),
            _OverallOnly(MofNCompleteColumn()),
            _OverallOnly(TimeElapsedColumn()),
            console=err,
            transient=True,
        )
        self.lines: dict[str, TaskID] = {}
        self.overall: TaskID | None = None

    def start(self, total: int) -> None:
        self.overall = self.bar.add_task("applying", total=total)
        self.bar.start()

    def working(self, host: str, what: str) -> None:
        text = escape(f"  {host}: {what}")
        if host in self.lines:
            self.bar.update(self.lines[host], description=text)
        else:
            self.lines[host] = self.bar.add_task(text, total=None)

    def advance(self, host: str) -> None:  # noqa: ARG002 - one bar counts every host
        if self.overall is not None:
            self.bar.advance(self.overall)

    def finished(self, host: str) -> None:
        if host in self.lines:
            self.bar.remove_task(self.lines.pop(host))

    def close(self) -> None:
        self.bar.stop()


def _render_plan(plan: Plan, fmt: Format) -> None:
    if fmt is Format.json:
        _print_json(plan_json(plan))
        return
    lines = [line for host in plan.hosts for line in host_lines(host)]
    out.print("\n".join([*lines, summary_line(plan)]))  # one print: rich is slow per call


@app.command()
def plan(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
) -> None:
    """Dry-run audit: per host, how the machine differs from its desired state.

    Exit 0 when every host is in sync, 2 when there is drift, 1 on any error.
    """
    with _reporting(fmt):
        from tendr.ops import engine

        loaded, person, selected = _selected(workspace, limit_, as_person)
        with _ReadingBar(fmt, len(selected)) as reading:
            result = engine.plan_for(loaded, selected, person, reading)
        _render_plan(result, fmt)
        if problem := history.record(loaded.path(loaded.settings.history), result, person):
            err.print(f"warning: {escape(problem)}")
        if result.has_errors:
            raise typer.Exit(EXIT_ERROR)
        raise typer.Exit(EXIT_OK if result.in_sync else EXIT_DRIFT)


@app.command()
def apply(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    only_allowed: Annotated[
        bool, typer.Option(help="Apply what the rules allow; report the rest as refused.")
    ] = False,
) -> None:
    """Make the permitted changes, then read the hosts again and say what converged.

    Exit 0 when every change was made and no drift remains, 1 otherwise, 130 when
    interrupted.
    """
    with _reporting(fmt):
        from tendr.ops import apply as workflow
        from tendr.ops.execute import Interrupted

        loaded, person, selected = _selected(workspace, limit_, as_person)
        _changes_here(loaded, "apply")
        phase = "before any change was made"
        reading = _ReadingBar(fmt, len(selected))

        def confirm(planned: Plan) -> None:
            nonlocal phase
            reading.close()
            if fmt is Format.text:
                _render_plan(planned, fmt)
            _confirm(yes, fmt)
            phase = "some changes may already have been made"

        progress = _ApplyProgress() if fmt is Format.text and err.is_terminal else None
        try:
            applied = workflow.apply(
                loaded,
                selected,
                person,
                only_allowed=only_allowed,
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
        raise typer.Exit(EXIT_OK if applied.ok else EXIT_ERROR)


@app.command()
def logs(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
    since: Annotated[
        str | None, typer.Option(help="From this time: '-2h', 'today', '2026-11-28 08:00'.")
    ] = None,
    errors: Annotated[bool, typer.Option("--errors", help="Priority err and worse only.")] = False,
    unit: Annotated[
        str | None, typer.Option(help="Only this unit's, such as cups.service.")
    ] = None,
    grep: Annotated[str | None, typer.Option(help="Only lines matching this pattern.")] = None,
    lines: Annotated[int, typer.Option(min=1, max=100000, help="At most this many lines.")] = 200,
) -> None:
    """The selected hosts' journals (`-l HOST`), newest last, each line rendered
    harmless: no escape sequence from a host takes effect on this terminal.

    Exit 0 when every host's journal was read, 1 otherwise.
    """
    with _reporting(fmt):
        from tendr.ops import logs as journal

        wanted = journal.query(since, errors, unit, grep, lines)
        loaded, person, selected = _selected(workspace, limit_, as_person)
        _reader(loaded, as_person)  # one who may read nothing is not shown every host refused
        with _ReadingBar(fmt, len(selected)) as reading:
            found = journal.read(loaded, selected, person, wanted, progress=reading)
        if fmt is Format.json:
            _print_json(
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


@app.command()
def diagnose(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
) -> None:
    """One screen per host for a technician who just got a call (`-l HOST`): failed
    units with their last errors, the journal's errors grouped, disk space and memory
    pressure, backups, printer queues, drift against the desired state and what the
    health check recorded since the last visit; each problem with its probable cause
    and the tendr operation that fixes it.

    Exit 0 when no host has a problem, 2 when some has, 1 on an error.
    """
    with _reporting(fmt):
        from tendr.ops import diagnose as diagnosis

        loaded, person, selected = _selected(workspace, limit_, as_person)
        _reader(loaded, as_person)  # one who may read nothing is not shown every host refused
        with _ReadingBar(fmt, len(selected)) as reading:
            found = diagnosis.diagnose(loaded, selected, person, reading)
        if fmt is Format.json:
            _print_json(diagnosis.as_json(found))
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


@app.command("history")
def history_command(
    host: Annotated[str, typer.Argument(help="The host, by name.", show_default=False)],
    resource: Annotated[
        str | None, typer.Argument(help="One resource (a unit, a path...).")
    ] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    as_person: AsOpt = None,
    since: Annotated[
        str | None, typer.Option(help=f"Only plans at or after this time: {_TIME_HELP}")
    ] = None,
) -> None:
    """Since when and how often a host's resources have drifted, from every plan kept
    in the drift history (operation `history`).

    Exit 0 when nothing drifts at the last plan, 2 when something does, 1 on an error.
    """
    with _reporting(fmt):
        loaded = _load(workspace)
        person, target = _reader(loaded, as_person).person, _host(loaded, host)
        if not (decision := may(loaded, person, "history", target)).allowed:
            raise PermissionDenied(message=f"permission denied: {decision.reason}")
        start = _time_option("--since", since)
        found = history.runs(
            loaded.path(loaded.settings.history),
            [host],
            start.isoformat(timespec="seconds") if start else None,
        )
        drifts = history.summarize(found, resource)
        if fmt is Format.json:
            _print_json(
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


@app.command()
def onboard(
    name: Annotated[str, typer.Argument(help="The host's name in the workspace.")],
    address: Annotated[str, typer.Option(help="Its DNS name or IP address.")],
    client: Annotated[str, typer.Option(help="The client: hosts/CLIENT.toml.")],
    bootstrap_user: Annotated[
        str, typer.Option(help="An account on the host that may sudo without a password.")
    ],
    bootstrap_key: Annotated[
        Path | None,
        typer.Option(help="That account's private key (unencrypted); without it, its password."),
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="The SSH port.")] = 22,
    group: Annotated[
        list[str] | None, typer.Option(help="A group of the host (repeatable).")
    ] = None,
    ssh_key: Annotated[
        Path | None,
        typer.Option(
            help="The controller's private key for the service account (its .pub is "
            "installed) [default: the client file's ssh_key]"
        ),
    ] = None,
    via: Annotated[
        str | None,
        typer.Option(
            help="The workspace's host to reach it through (the client's gateway; ADDRESS "
            "is as that host reaches it) [default: the client file's via]"
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Pin the host key shown.")] = False,
    expect_fingerprint: Annotated[
        str | None, typer.Option(help="Pin the host key only if it is this one (SHA256:…).")
    ] = None,
    apply_now: Annotated[
        bool,
        typer.Option(
            "--apply", help="Approve the host now (host.approve) and apply its plan (--yes)."
        ),
    ] = False,
    adopt_account: Annotated[
        bool,
        typer.Option(
            "--adopt-account",
            help="Take over a service account tendr did not make: its keys are shown and, "
            "once confirmed (--yes or on a terminal), replaced by tendr's alone.",
        ),
    ] = False,
    workspace: WorkspaceOpt = None,
    as_person: AsOpt = None,
) -> None:
    """Bring a new client machine under management: pin its host key (shown; confirmed),
    read its facts, make the service account with the controller's key and passwordless
    sudo (visudo-checked), write it into hosts/CLIENT.toml, then show its plan. The host
    stays audit-only (plans, no changes) until `tendr approve HOST`, or `--apply`. An
    existing account tendr did not make is refused, unless `--adopt-account`.

    Run again, it changes nothing and says so. Operation `host.onboard`.
    """
    with _reporting():
        from tendr.ops import engine
        from tendr.ops import onboard as onboarding

        loaded = _load(workspace)
        person = _person(as_person)
        at_gateway = gateway.session()
        if at_gateway is not None:
            ssh_key = _gateway_onboarding(ssh_key, bootstrap_key)
        host = _new_host(loaded, name, address, port, client, group or [], ssh_key, via)
        controller_key = Path(host.ssh_key or "")

        def confirm(shown: str) -> bool:
            out.print(f"{escape(name)} ({escape(route(host))}) offers {escape(shown)}")
            if expect_fingerprint is not None:
                return shown.split()[-1] == expect_fingerprint
            if yes:
                return True
            if not sys.stdin.isatty():
                raise UserError(
                    "no terminal to confirm the key on: pass --yes or --expect-fingerprint"
                )
            return typer.confirm("Pin this host key?", default=False)

        onboarding.check_allowed(loaded, person, host, approve=apply_now)
        password = None
        if bootstrap_key is None:  # asked, never an argument (ps would show it)
            if at_gateway is not None and not sys.stdin.isatty():
                # Over SSH without a terminal, what is typed shows on the person's screen.
                raise UserError(
                    f"{bootstrap_user}'s password is asked on a terminal: connect with ssh -t "
                    f"(ssh -t {at_gateway.account}@HOST onboard ...); nothing was changed"
                )
            password = typer.prompt(f"{bootstrap_user}'s password", hide_input=True)
        done = onboarding.onboard(
            loaded,
            person,
            host,
            bootstrap_user=bootstrap_user,
            bootstrap_key=bootstrap_key.expanduser() if bootstrap_key else None,
            bootstrap_password=password,
            controller_key=controller_key,
            confirm=confirm,
            approve=apply_now,
            name_key=at_gateway is None,
            adopt=_adopting(yes) if adopt_account else None,
        )
        _render_onboarded(name, done)
        changed = [loaded.settings.known_hosts] if "pin" in done.made else []
        changed += [f"hosts/{client}.toml"] if "hosts file" in done.made else []
        commit_at_gateway(loaded.root, changed, f"onboard {name} (client {client}) by {person}")
        if apply_now:
            apply(workspace, Format.text, [name], as_person, yes=yes, only_allowed=False)
        reloaded = _load(workspace)
        plan = engine.plan_for(reloaded, [_host(reloaded, name)], person)
        _render_plan(plan, Format.text)
        if not _host(reloaded, name).approved:
            out.print(f"{escape(name)} is audit-only until approved: tendr approve {escape(name)}")


@hosts_app.command("pin")
def hosts_pin(
    host: Annotated[str, typer.Argument(help="The host, by name.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Pin the key shown.")] = False,
    expect_fingerprint: Annotated[
        str | None, typer.Option(help="Pin the key only if it is this one (SHA256:…).")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_person: AsOpt = None,
) -> None:
    """Re-pin a host's key, deliberately (the machine was reinstalled): shows the key
    pinned and the key offered, and pins the new one when confirmed. Operation
    `host.pin`."""
    with _reporting():
        from tendr.ops import onboard as onboarding

        loaded = _load(workspace)
        target = _host(loaded, host)
        old, new = onboarding.repin_keys(loaded, _person(as_person), target)
        out.print(f"{escape(host)}: pinned  {escape(old or '(none)')}")
        out.print(f"{escape(host)}: offered {escape(new)}")
        if old == new:
            out.print("the key offered is the one pinned: nothing changed")
            return
        if expect_fingerprint is not None:
            confirmed = new.split()[-1] == expect_fingerprint
        elif yes:
            confirmed = True
        elif sys.stdin.isatty():
            confirmed = typer.confirm("Pin the offered key?", default=False)
        else:
            raise UserError("no terminal to confirm on: pass --yes or --expect-fingerprint")
        if not confirmed:
            raise UserError("the offered key was not confirmed; nothing was changed")
        person = _person(as_person)
        onboarding.repin(loaded, person, target)
        out.print(f"{escape(host)}: pinned the offered key")
        commit_at_gateway(
            loaded.root, [loaded.settings.known_hosts], f"pin {host}'s key {new} by {person}"
        )


@app.command("approve")
def approve_command(
    host: Annotated[str, typer.Argument(help="The host, by name.", show_default=False)],
    workspace: WorkspaceOpt = None,
    as_person: AsOpt = None,
) -> None:
    """Let tendr change an onboarded host (it was audit-only): operation `host.approve`."""
    with _reporting():
        from tendr.ops import onboard as onboarding

        loaded = _load(workspace)
        person, target = _person(as_person), _host(loaded, host)
        if onboarding.approve(loaded, person, target):
            out.print(f"{escape(host)} approved: apply, do, run and shell may act on it now")
            commit_at_gateway(loaded.root, [target.file], f"approve {host} by {person}")
        else:
            out.print(f"{escape(host)} was approved already: nothing changed")


def _gateway_onboarding(ssh_key: Path | None, bootstrap_key: Path | None) -> Path:
    """At the gateway the client machines get the gateway's own key, and the bootstrap
    user logs in with a password: a key path would be read as the gateway account, which
    alone may read its files (the technician's key is on their machine)."""
    from tendr.gateway.served import gateway_key

    if ssh_key is not None:
        raise PermissionDenied(
            message="at the gateway, --ssh-key is refused: client machines get the gateway's "
            f"own key ({gateway_key()}.pub)"
        )
    if bootstrap_key is not None:
        raise PermissionDenied(
            message="at the gateway, --bootstrap-key is refused: it would name a file the "
            "gateway account reads; leave it out and give the bootstrap user's password "
            "when asked (ssh -t tendr@controller onboard ...)"
        )
    return gateway_key()


def _adopting(yes: bool) -> Callable[[str], bool]:
    """Onboarding's question before it takes over an account: shown, then --yes or asked."""

    def adopt(shown: str) -> bool:
        out.print("\n".join(escape(line) for line in shown.split("\n")))
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UserError("no terminal to confirm on: pass --yes to adopt the account")
        return typer.confirm("Adopt this account?", default=False)

    return adopt


def _render_onboarded(name: str, done: Any) -> None:
    facts = done.facts
    out.print(
        f"{escape(name)}: {escape(' '.join(facts.get('os', ['?'])))}, "
        f"{escape(' '.join(facts.get('arch', ['?'])))}, host name "
        f"{escape(' '.join(facts.get('hostname', ['?'])))}"
    )
    for what in ("disk", "printer", "backup"):
        for value in facts.get(what, []):
            out.print(f"  {what}: {escape(value)}")
    if done.changed:
        out.print(f"onboarded: {escape(', '.join(done.made))}")
    else:
        out.print("already onboarded: nothing changed")


def _new_host(
    loaded: Workspace,
    name: str,
    address: str,
    port: int,
    client: str,
    groups: list[str],
    ssh_key: Path | None,
    via: str | None,
) -> Host:
    """The host as onboarding will write it, checked as a hosts file's entry is, its
    gateway resolved as the workspace resolves one."""
    from pydantic import ValidationError

    from tendr.workspace.hosts import HostsFile
    from tendr.workspace.loader import gateway_problem

    existing = next((h for h in loaded.hosts if h.name == name), None)
    if existing is not None:
        # Run again, a host keeps its way in: never straight to an address that is only
        # meaningful behind its gateway.
        via = via or existing.via
        if (existing.address, existing.port, existing.client, existing.via) != (
            address,
            port,
            client,
            via,
        ):
            raise UserError(
                f"{name} is in {existing.file} already, at {route(existing)}: onboarding "
                "does not move a host"
            )
    known = existing or next((h for h in loaded.hosts if h.client == client and h.ssh_key), None)
    key = ssh_key or (Path(known.ssh_key) if known and known.ssh_key else None)
    if key is None:
        raise UserError("--ssh-key: the controller's key for the service account is needed")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", client):
        raise UserError(f"--client {client!r}: a client name (letters, digits, _ . -)")
    entry_data = {"address": address, "port": port, "groups": groups, "via": via}
    data = {"hosts": {name: entry_data}}
    try:
        parsed = HostsFile.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise UserError(f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None
    entry = parsed.hosts[name]
    defaults = parsed.defaults.model_copy(
        update={"ssh_key": str(key.expanduser()), "via": _client_via(loaded, client)}
    )
    host = Host.resolve(name, client, entry, defaults, f"hosts/{client}.toml")
    gateway = next((h for h in loaded.hosts if h.name == host.via), None)
    if host.via is not None and (problem_ := gateway_problem(host, gateway, True)):
        raise UserError(f"--via {host.via}: {problem_}")
    return host.model_copy(update={"gateway": gateway})


def _client_via(loaded: Workspace, client: str) -> str | None:
    """[defaults] via of hosts/CLIENT.toml: a new host of the file is reached so too."""
    import tomllib

    path = loaded.root / "hosts" / f"{client}.toml"
    try:
        defaults = tomllib.loads(path.read_text(encoding="utf-8")).get("defaults", {})
    except FileNotFoundError:
        return None
    via = defaults.get("via") if isinstance(defaults, dict) else None
    return via if isinstance(via, str) else None


class ReportFormat(StrEnum):
    markdown = "markdown"
    html = "html"
    json = "json"


@app.command()
def report(
    workspace: WorkspaceOpt = None,
    limit_: LimitOpt = None,
    as_person: AsOpt = None,
    since: Annotated[
        str | None, typer.Option(help=f"From this time [default: 30 days ago]: {_TIME_HELP}")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help=f"Up to this time [default: now]: {_TIME_HELP}")
    ] = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="Markdown, one HTML page, or JSON.")
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
    with _reporting():
        from tendr.cli import client_report

        if out_file is not None and gateway.session() is not None:
            raise PermissionDenied(message="the gateway writes no file you name: --out is refused")
        loaded, person, selected = _selected(workspace, limit_, as_person)
        _reader(loaded, as_person)
        allowed, refused = readable(loaded, person, "report", selected)
        if not allowed:
            raise PermissionDenied(message=f"permission denied: {person} may report on no host")
        for name, why in refused.items():
            err.print(f"left out {escape(name)}: {escape(why)}")
        end = _time_option("--until", until) or datetime.now(UTC)
        start = _time_option("--since", since) or end - timedelta(days=30)
        runs = [
            r
            for r in history.runs(
                loaded.path(loaded.settings.history),
                [h.name for h in allowed],
                start.isoformat(timespec="seconds"),
            )
            if audit.parse_time(r.time) <= end
        ]
        query = audit.Query(since=start, until=end)
        lines = audit.read_lines(loaded.path(loaded.settings.audit_log))
        records = [r for r in audit.records(lines) if query(r)]
        jobs = {
            h.name: [d.spec.key for d in loaded.desired(h) if d.spec.kind == "backup"]
            for h in allowed
        }
        built = client_report.build(
            [(h.name, h.client, jobs[h.name]) for h in allowed],
            runs,
            records,
            start.isoformat(timespec="seconds"),
            end.isoformat(timespec="seconds"),
        )
        if fmt is ReportFormat.json:
            text = json.dumps(client_report.as_json(built), indent=2) + "\n"
        elif fmt is ReportFormat.html:
            text = client_report.render_html(built)
        else:
            text = client_report.markdown(built)
        if out_file is None:
            sys.stdout.write(text)
        else:
            try:
                out_file.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise UserError(f"cannot write {out_file}: {exc.strerror}") from None
            err.print(f"report written to {escape(out_file)}")


@app.command(context_settings={"allow_interspersed_args": False})
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
    with _reporting(fmt):
        from tendr.ops import engine
        from tendr.ops import on_demand as terminal

        _named_hosts(limit_)
        loaded, person, selected = _selected(workspace, limit_, as_person)
        _changes_here(loaded, "run")
        with _ReadingBar(fmt, len(selected)) as reading:
            ran = terminal.run_command(
                loaded,
                selected,
                person,
                command,
                secrets=engine.secret_values(loaded, selected),
                progress=reading,
            )
        if fmt is Format.json:
            _print_json({"command": command, "hosts": [_run_json(r) for r in ran]})
        else:
            for result in ran:
                _render_run(result)
        raise typer.Exit(EXIT_OK if all(r.ok for r in ran) else EXIT_ERROR)


@app.command("do")
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
    with _reporting(fmt):
        from tendr.ops import on_demand as terminal
        from tendr.ops.execute import Interrupted

        _named_hosts(limit_)
        loaded, person, selected = _selected(workspace, limit_, as_person)
        _changes_here(loaded, "do")
        progress = _ApplyProgress() if fmt is Format.text and err.is_terminal else None

        def confirm(lines: list[str]) -> None:
            for line in lines:
                err.print(escape(line))
            if yes:
                return
            if not sys.stdin.isatty():
                raise UserError("no terminal to confirm on: pass --yes to start over")
            if fmt is Format.json or not typer.confirm(
                "Start over with a new, empty repository?", default=False
            ):
                raise UserError("not confirmed; nothing was done")

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
        _print_json({"results": results_json(results)})
        return
    for line in result_lines(results, None, verdicts=False):
        out.print(line)


@app.command()
def shell(
    host: Annotated[str, typer.Argument(help="The host, by name.", show_default=False)],
    workspace: WorkspaceOpt = None,
    as_person: AsOpt = None,
) -> None:
    """An interactive SSH session on one host, with the workspace's pinned key, recorded
    whole (asciicast v2) and linked from the audit log: `tendr audit-log replay N`.

    Exit with ssh's exit status (the session's last command's), 1 when no session opened.
    """
    with _reporting():
        from tendr.ops import shell as sessions

        loaded = _load(workspace)
        _changes_here(loaded, "shell")
        person = _person(as_person)
        target = _host(loaded, host)
        recorded = sessions.session(loaded, target, person)
        err.print(
            f"session recorded: {escape(recorded.path.relative_to(loaded.root))} "
            "(tendr audit-log show --op shell; tendr audit-log replay N)"
        )
        raise typer.Exit(recorded.status)


backup_app = typer.Typer(
    cls=_Commands, help="Backups: check that they can be restored.", no_args_is_help=True
)
app.add_typer(backup_app, name="backup")


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
    with _reporting(fmt):
        from tendr.ops import on_demand as terminal

        loaded = _load(workspace)
        person = _person(as_person)
        target = _host(loaded, host)
        checked = terminal.check_backups(loaded, target, person, job)
        if fmt is Format.json:
            _print_json(
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


def _confirm(yes: bool, fmt: Format) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError("no terminal to confirm on: pass --yes to apply without asking")
    if fmt is Format.json or not typer.confirm("Apply these changes?", default=False):
        raise UserError("not confirmed; nothing was applied")


def _render_unapplied(applied: Any, person: str, fmt: Format) -> None:
    """An apply that changed nothing: refused, or with nothing to do."""
    if fmt is Format.json:
        _render_results(applied, fmt)
        return
    _render_plan(applied.plan, fmt)
    if applied.error:
        _error(applied.error)
    elif applied.results:
        out.print(f"Nothing applied: {escape(person)} may make none of the planned changes:")
        for result in applied.results:
            for item in result.results:
                out.print(
                    f"  [red]refused[/] {escape(result.host)}: "
                    f"{escape(item.change.op)} {escape(item.change.resource)}"
                )
    elif unread := applied.plan.summary()["unknown"]:
        out.print(f"Nothing to apply, but {unread} resource(s) could not be read: not converged.")
    elif not applied.plan.has_errors:
        out.print("Nothing to apply.")


def _render_results(applied: Any, fmt: Format) -> None:
    if fmt is Format.json:
        _print_json(apply_json(applied.plan, applied.results, applied.after, applied.error))
        return
    if applied.results or applied.after is not None:
        out.print("\n" + "\n".join(result_lines(applied.results, applied.after)))
    if applied.error:
        _error(applied.error)


rules_app = typer.Typer(
    cls=_Commands, help="Permission rules: who may do what, where.", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")


@rules_app.command("explain")
def rules_explain(
    person: Annotated[str, typer.Argument(help="An operating-system account name.")],
    operation: Annotated[str, typer.Argument(help="e.g. service.restart, package.install, plan")],
    host: Annotated[str, typer.Argument(help="A host name from hosts/.")],
    resource: Annotated[
        str | None,
        typer.Argument(help="The unit, path, package, queue, job or module (rules may name some)."),
    ] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    as_person: AsOpt = None,
) -> None:
    """Why PERSON may or may not apply OPERATION on HOST (to RESOURCE), and the rule
    that decides. You may ask about yourself on a host you may read; about someone
    else, or any host, with rules.edit on every host.

    Exit 0 when allowed, 1 when not.
    """
    with _reporting(fmt):
        loaded = _load(workspace)
        reader = _reader(loaded, as_person)
        if person != reader.person and not reader.workspace:
            raise PermissionDenied(
                message=f"permission denied: {reader.person} may ask about themselves only "
                f"(asking about others needs rules.edit on every host)"
            )
        visible = loaded.hosts if reader.workspace else reader.hosts
        target = next((h for h in visible if h.name == host), None)
        if target is None:  # the same answer whether it exists or is not theirs to read
            raise UserError(f"no host named {host!r} among those you may read (tendr hosts)")
        if reason := check_operation(operation):
            raise UserError(reason)
        if resource is not None and field_of(operation) is None:
            raise UserError(f"{operation} acts on no resource; leave RESOURCE out")
        decision = may(loaded, person, operation, target, resource)
        found = matching_rules(person, operation, target, loaded.rules, loaded.owner, resource)
        roles = roles_of(person, loaded.rules, loaded.owner)
        if fmt is Format.json:
            _print_json(
                {
                    "person": person,
                    "operation": operation,
                    "host": host,
                    "resource": resource,
                    "allowed": decision.allowed,
                    "rule": decision.rule,
                    "reason": decision.reason,
                    "roles": roles,
                    "matching": [str(m) for m in found],
                }
            )
        else:
            verdict = "[green]allowed[/]" if decision.allowed else "[red]denied[/]"
            out.print(f"{verdict}: {escape(decision.reason)}")
            out.print(f"deciding rule: {escape(decision.rule or 'none (default deny)')}")
            out.print(f"{escape(person)}'s roles: {escape(', '.join(roles) or 'none')}")
            for match in found:
                out.print(f"  matches {escape(str(match))}")
        raise typer.Exit(EXIT_OK if decision.allowed else EXIT_ERROR)


@rules_app.command("list")
def rules_list(
    workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.text, as_person: AsOpt = None
) -> None:
    """Every role: its file, members and rules; and the grants, holding or not. With
    rules.edit on every host, all of them; otherwise your own roles and the grants to or
    by you."""
    with _reporting(fmt):
        loaded = _load(workspace)
        reader = reading(loaded, _person(as_person))
        now = datetime.now(UTC)
        mine = [g for g in loaded.grants if reader.person in (g.person, g.granted_by)]
        held = {g.role for g in mine if g.person == reader.person and g.holds_at(now)}
        if not (reader.workspace or reader.role or held):
            raise PermissionDenied(
                message=f"permission denied: {reader.person} is in no role: the rules are "
                "shown to those who hold one"
            )
        shown = set(roles_of(reader.person, loaded.rules, loaded.owner)) | held
        rows: list[dict[str, Any]] = [
            {
                "file": file,
                "role": name,
                "description": role.description,
                "members": [
                    loaded.owner + " (@owner)" if m == "@owner" else m for m in role.members
                ],
                "allow": [_rule_json(r) for r in role.allow],
                "deny": [_rule_json(r) for r in role.deny],
            }
            for file, rules_file in loaded.rules
            for name, role in rules_file.roles.items()
            if reader.workspace or name in shown
        ]
        grants = [
            {**g.model_dump(), "holds": g.holds_at(now)}
            for g in (loaded.grants if reader.workspace else mine)
        ]
        if fmt is Format.json:
            _print_json({"roles": rows, "grants": grants})
            return
        for row in rows:
            out.print(
                f"[bold]{escape(row['role'])}[/] ({escape(row['file'])}): "
                f"{escape(row['description'])}"
            )
            out.print(f"  members: {escape(', '.join(row['members']) or 'none')}")
            for effect in ("allow", "deny"):
                for rule in row[effect]:
                    only = "".join(
                        f"; {name} {', '.join(rule[name])}" for name in FIELDS if name in rule
                    )
                    out.print(
                        f"  {effect} {escape(', '.join(rule['ops']))} "
                        f"on {escape(', '.join(rule['hosts']))}{escape(only)}"
                    )
        for made in grants:
            state = "holds" if made["holds"] else "does not hold now"
            out.print(
                f"[bold]grant {escape(made['id'])}[/] ({state}): {escape(made['person'])} "
                f"as {escape(made['role'])} on {escape(', '.join(made['hosts']))}, from "
                f"{escape(made['start'])} until {escape(made['until'])}, by "
                f"{escape(made['granted_by'])}: {escape(made['reason'])}"
            )


def _rule_json(rule: Any) -> dict[str, Any]:
    found = {"ops": list(rule.ops), "hosts": list(rule.hosts)}
    found.update({name: list(getattr(rule, name)) for name in rule.resource_fields()})
    return found


@app.command()
def grant(
    person_or_revoke: Annotated[
        str, typer.Argument(metavar="PERSON", help="Who gets the role (or: revoke ID).")
    ],
    role_or_id: Annotated[str, typer.Argument(metavar="ROLE", help="The role they get.")],
    hosts: Annotated[
        list[str] | None,
        typer.Option("--hosts", help="Where: NAME, group:G, client:C, tag:T, all [default: all]."),
    ] = None,
    for_: Annotated[
        str | None, typer.Option("--for", help="How long: 2h, 90m, 1d12h, 30s (at most 30d).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why: a ticket, a call.")] = None,
    workspace: WorkspaceOpt = None,
    as_person: AsOpt = None,
) -> None:
    """Give PERSON a ROLE for a time (needs rules.grant there); it ends by itself, and
    never allows what you may not do. `tendr grant revoke ID` takes one back."""
    from tendr.ops import grants

    with _reporting():
        loaded = _load(workspace)
        person = _person(as_person)
        if person_or_revoke == "revoke":
            taken = grants.revoke(loaded, person, role_or_id)
            out.print(
                f"revoked grant {escape(taken.id)} ({escape(taken.person)} as {escape(taken.role)})"
            )
            return
        if for_ is None or reason is None:
            raise UserError("a grant needs --for DURATION and --reason TEXT")
        made = grants.grant(
            loaded,
            person,
            gateway.check_person(person_or_revoke),
            role_or_id,
            hosts or ["all"],
            grants.parse_duration(for_),
            reason,
            datetime.now(UTC),
        )
        out.print(
            f"granted {escape(made.person)} the role {escape(made.role)} on "
            f"{escape(', '.join(made.hosts))} until {escape(made.until)} (grant {escape(made.id)})"
        )


audit_app = typer.Typer(
    cls=_Commands, help="The hash-chained record of every change.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit-log")


@audit_app.command("verify")
def audit_verify(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    head: Annotated[
        str | None, typer.Option(help="A head kept earlier: it must still be in the log.")
    ] = None,
    as_person: AsOpt = None,
) -> None:
    """Check the audit log's hash chain. Exit 0 when intact, 1 when broken.

    The whole chain, whoever asks (it shows no record), but not to a person who may read
    nothing here."""
    with _reporting(fmt):
        loaded = _load(workspace)
        _reader(loaded, as_person)
        path = loaded.path(loaded.settings.audit_log)
        verdict = audit.verify(audit.read_lines(path), head)
        if fmt is Format.json:
            _print_json(_verdict_json(verdict))
        elif verdict.ok:
            out.print(
                f"{escape(loaded.settings.audit_log)}: intact, {verdict.records} records, "
                f"head {verdict.head}"
            )
        else:
            _broken(loaded.settings.audit_log, verdict)
        raise typer.Exit(EXIT_OK if verdict.ok else EXIT_ERROR)


def _verdict_json(verdict: audit.Verdict) -> dict[str, Any]:
    return {
        "ok": verdict.ok,
        "records": verdict.records,
        "head": verdict.head,
        "line": verdict.line,
        "reason": verdict.reason or None,
    }


def _broken(log: str, verdict: audit.Verdict) -> None:
    """A broken chain as verify, show and head report it: where, why, how much holds."""
    where = f" at line {verdict.line}" if verdict.line else ""
    err.print(
        f"[red]{escape(log)}: broken{where}[/]: "
        f"{escape(verdict.reason)} ({verdict.records} records intact before it)"
    )


@audit_app.command("head")
def audit_head(workspace: WorkspaceOpt = None, as_person: AsOpt = None) -> None:
    """The hash of the last record: keep it elsewhere to detect records cut off later.

    Exit 1, printing no head, when the log is broken.
    """
    with _reporting():
        loaded = _load(workspace)
        _reader(loaded, as_person)
        verdict = audit.verify(audit.read_lines(loaded.path(loaded.settings.audit_log)))
        if not verdict.ok:
            _broken(loaded.settings.audit_log, verdict)
            raise typer.Exit(EXIT_ERROR)
        out.print(verdict.head)


_TIME_HELP = (
    "ISO 8601, such as 2024-05-01 (its midnight) or 2024-05-01T14:30+02:00; "
    "without an offset, local time."
)


@audit_app.command("show")
def audit_show(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    last: Annotated[int, typer.Option(min=1, help="How many of the latest matching records.")] = 20,
    host: Annotated[str | None, typer.Option(help="Only this host's records.")] = None,
    person: Annotated[
        str | None, typer.Option(help="Only the records of this person (whom tendr acted for).")
    ] = None,
    op: Annotated[
        str | None,
        typer.Option(
            help="Only these operations: service.restart, service.*, *.remove (as in rules)."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help=f"Records at or after this time: {_TIME_HELP}")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help=f"Records at or before this time: {_TIME_HELP}")
    ] = None,
    as_person: AsOpt = None,
) -> None:
    """The latest records you may read: when, who, which host, what, and how it went.
    Records of a host need a reading operation on it; those of the workspace as a whole
    (pushes, grants, requests to the gateway) need rules.edit on every host.

    Exit 1 when the log is broken (reported as verify reports it, after the records).
    """
    with _reporting(fmt):
        loaded = _load(workspace)
        reader = _reader(loaded, as_person)
        if host is not None and not reader.host(host):
            # Refused, not an empty answer: the person would take it for "nothing happened".
            raise PermissionDenied(
                message=f"permission denied: {reader.person} may not read the records of "
                f"{host} (no reading operation on it)"
            )
        if op is not None and (reason := check_op_pattern(op)):
            raise UserError(f"--op: {reason}")
        query = audit.Query(
            host=host,
            person=person,
            op=op,
            since=_time_option("--since", since),
            until=_time_option("--until", until),
        )
        lines = list(audit.read_lines(loaded.path(loaded.settings.audit_log)))
        verdict = audit.verify(lines)
        records = [
            r for r in audit.records(lines) if reader.host(str(r.get("host") or "")) and query(r)
        ][-last:]
        if fmt is Format.json:
            _print_json({"records": records, "chain": _verdict_json(verdict)})
        else:
            if records:
                out.print("\n".join(_record_line(r) for r in records))
            else:
                err.print("no records to show")
            if not verdict.ok:
                _broken(loaded.settings.audit_log, verdict)
        raise typer.Exit(EXIT_OK if verdict.ok else EXIT_ERROR)


@audit_app.command("replay")
def audit_replay(
    record: Annotated[int, typer.Argument(help="The record's number (audit-log show).")],
    workspace: WorkspaceOpt = None,
    speed: Annotated[
        float, typer.Option(min=0, help="Playback speed; 0 prints it all at once.")
    ] = 1.0,
) -> None:
    """Play back the shell session a record links to, with its timing. It takes the
    `shell` operation on the session's host (a recording shows what root saw there), an
    audit log whose chain holds, and the recording the record names (its SHA-256).

    On a terminal the host's output is played as it was, less the sequences that would
    make this terminal answer or change its title; otherwise control characters are
    shown as escapes.
    """
    with _reporting():
        from tendr.ops import shell as sessions

        loaded = _load(workspace)
        person = _person(None)
        lines = list(audit.read_lines(loaded.path(loaded.settings.audit_log)))
        if not (verdict := audit.verify(lines)).ok:
            _broken(loaded.settings.audit_log, verdict)
            raise UserError("the audit log's chain is broken: no recording is played from it")
        found = [r for r in audit.records(lines) if r.get("seq") == record]
        after = found[0].get("after") if found else None
        if not isinstance(after, dict) or "recording" not in after:
            raise UserError(f"record {record} is not a finished shell session")
        host = next((h for h in loaded.hosts if h.name == found[0].get("host")), None)
        decision = may(loaded, person, "shell", host) if host is not None else None
        if decision is None or not decision.allowed:
            why = decision.reason if decision is not None else "its host is gone"
            raise PermissionDenied(message=f"permission denied: {why}")
        path = loaded.root / str(after["recording"])
        if not path.resolve().is_relative_to((loaded.root / sessions.SESSIONS_DIR).resolve()):
            raise UserError(f"record {record} names a recording outside the sessions folder")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read the recording {path}: {exc.strerror}") from None
        if hashlib.sha256(data).hexdigest() != after.get("recording_sha256"):
            raise UserError(f"{path} is not the recording of record {record}: it changed since")
        raw = sys.stdout.isatty()

        def write(text: str) -> None:
            sys.stdout.write(sessions.inert(text) if raw else _harmless(text))
            sys.stdout.flush()

        sessions.replay(data, write, speed=speed)  # the bytes hashed, not a second read


def _harmless(text: str) -> str:
    """Recorded output for a file or a pipe: lines kept, other control characters shown."""
    return "\n".join(
        "".join(c if c.isprintable() or c == "\t" else ascii(c)[1:-1] for c in line)
        for line in text.replace("\r\n", "\n").split("\n")
    )


def _time_option(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return audit.parse_time(text)
    except ValueError:
        raise UserError(
            f"{option}: {text!r} is not an ISO 8601 time (such as 2024-05-01 "
            "or 2024-05-01T14:30+02:00)"
        ) from None


def _record_line(record: dict[str, Any]) -> str:
    """One record as text; any field may be missing or odd in a damaged log."""
    fields = " ".join(
        str(record.get(key)) for key in ("time", "person", "host", "outcome", "op", "resource")
    )
    reason = f" ({record['reason']})" if record.get("reason") else ""
    return escape(f"{str(record.get('seq')):>5} {fields}{reason}")


gateway_app = typer.Typer(
    cls=_Commands,
    help="The gateway: tendr run by an account that alone holds the client keys.",
    no_args_is_help=True,
)
app.add_typer(gateway_app, name="gateway")


@gateway_app.command("setup")
def gateway_setup(
    workspace: Annotated[
        Path, typer.Option(help="The gateway's workspace (absolute; taken over, or created).")
    ],
    account: Annotated[str, typer.Option(help="The gateway's account (created if missing).")] = (
        "tendr"
    ),
    admin: Annotated[
        str | None,
        typer.Option(help="First administrator of a new workspace [default: $SUDO_USER]."),
    ] = None,
) -> None:
    """Make this machine a gateway (as root): the account, its locked workspace and key,
    the push hooks, /etc/tendr/gateway.toml. Run again, it changes only what drifted."""
    from tendr.gateway import setup

    with _reporting():
        done = setup.setup(account, workspace, admin)
        for line in done:
            out.print(escape(line))
        out.print(
            f"the gateway is ready: let people in with tendr gateway allow PERSON --key FILE.pub; "
            f"they run ssh {escape(account)}@THIS-HOST plan"
        )


@gateway_app.command("allow")
def gateway_allow(
    person: Annotated[str, typer.Argument(help="The person's name, as the rules' members say.")],
    key: Annotated[Path, typer.Option(help="Their public key (an id_*.pub file).")],
) -> None:
    """Let PERSON reach the gateway with their own SSH key (as root): the key opens tendr
    as PERSON, never a shell."""
    from tendr.gateway import setup

    with _reporting():
        out.print(escape(setup.allow(person, key)))


@gateway_app.command("revoke")
def gateway_revoke(
    person: Annotated[str, typer.Argument(help="The person whose keys to remove.")],
) -> None:
    """Remove every key of PERSON from the gateway (as root)."""
    from tendr.gateway import setup

    with _reporting():
        out.print(escape(setup.revoke(person)))


@gateway_app.command("people")
def gateway_people(fmt: FormatOpt = Format.text) -> None:
    """The people let in, with their keys' fingerprints (as root)."""
    from tendr.gateway import setup

    with _reporting(fmt):
        found = setup.people()
        if fmt is Format.json:
            _print_json(
                [{"person": p, "type": k.type, "fingerprint": k.fingerprint} for p, k in found]
            )
            return
        for person, key in found:
            out.print(f"{escape(person)}\t{escape(key.type)} {escape(key.fingerprint)}")


@gateway_app.command("serve", hidden=True)
def gateway_serve(
    person: Annotated[str, typer.Option(help="Whom the key belongs to.")],
) -> None:
    """What a person's key runs (authorized_keys' forced command): their SSH command,
    read as tendr's arguments or a git transfer, never by a shell."""
    from tendr.gateway import push

    with _reporting():
        at_gateway = _gateway_itself("serve")
        gateway.check_person(person)
        remote = gateway.parse_remote(os.environ.get("SSH_ORIGINAL_COMMAND"), at_gateway.account)
        if isinstance(remote, gateway.GitCommand):
            push.serve_git(at_gateway, person, remote.program)  # becomes git: no return
        assert isinstance(remote, gateway.TendrCommand)
        gateway.serve_as(person, remote.args)
    app(args=remote.args, prog_name=f"ssh {at_gateway.account}@gateway")


@gateway_app.command("hook", hidden=True)
def gateway_hook(
    name: Annotated[str, typer.Argument(help="pre-receive or post-receive.")],
) -> None:
    """git's hooks in the gateway's workspace: accept a push or refuse it, and record it."""
    from tendr.gateway import push

    with _reporting():
        at_gateway = _gateway_itself("hook")
        stdin = sys.stdin.read()
        if name == "pre-receive":
            for line in push.pre_receive(at_gateway, stdin):
                err.print(escape(line))
        elif name == "post-receive":
            push.post_receive(at_gateway, stdin)
        else:
            raise UserError(f"no hook {name!r} (pre-receive or post-receive)")


def _gateway_itself(what: str) -> gateway.Session:
    """The gateway session of a process sshd or git started, never one through sudo."""
    found = gateway.session()
    if found is None or found.person is not None:
        raise PermissionDenied(
            message=f"tendr gateway {what} runs as the gateway account, started by sshd "
            "for a key (gateway allow) or by git for a push; not by hand"
        )
    return found
