"""The command line: parse, call the core, render. The one place that prints and exits."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tendr import __version__, audit
from tendr.authorize import blocked, mark, may, readable
from tendr.changes import HostResult
from tendr.errors import PermissionDenied, TendrError, UserError, WorkspaceError
from tendr.hosts.inventory import host_rows, limit
from tendr.hosts.model import Host
from tendr.init import create_workspace
from tendr.plan import HostPlan, Plan
from tendr.report import host_lines, plan_json, result_lines, results_json, summary_line
from tendr.rules.actor import acting_person
from tendr.rules.decide import matching_rules, roles_of
from tendr.rules.model import check_op_pattern
from tendr.schema import FAMILIES, FILE_NAMES, schema_for
from tendr.workspace import Workspace, find_root, load

if TYPE_CHECKING:
    from tendr.hosts.connect import Session

# pyinfra (engine, apply) is imported inside the commands that touch hosts, so that
# validate, hosts, schema and rules answer without loading it.

# Exit codes, documented in README.md.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DRIFT = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130

app = typer.Typer(
    help="Keep client machines in the state you promised: plan, apply, audit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("tendr")


class Format(StrEnum):
    text = "text"
    json = "json"


WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder [default: $TENDR_WORKSPACE, or .]",
                 show_default=False),
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
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """tendr: desired state for managed-service providers' client machines."""


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
                err.print(f"[red]error[/]: {escape(str(problem))}")
            err.print(f"{exc}; nothing was done.")
        raise typer.Exit(EXIT_ERROR) from None
    except TendrError as exc:
        if fmt is Format.json:
            _print_json({"ok": False, "error": str(exc)})
        else:
            err.print(f"[red]error[/]: {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception:
        # In the user's own folder: a fixed name in /tmp could be a planted link.
        debug_log = Path.home() / ".cache" / "tendr" / "debug.log"
        debug_log.parent.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(filename=debug_log, level=logging.DEBUG)
        log.exception("internal error")
        err.print(
            f"internal error in tendr (a bug, not your mistake); details in {debug_log}",
            markup=False,
        )
        raise typer.Exit(EXIT_BUG) from None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _problem_json(problem: Any) -> dict[str, Any]:
    return {"file": problem.file, "key": problem.key, "line": problem.line,
            "column": problem.column, "message": problem.message}


def _load(workspace: Path | None) -> Workspace:
    return load(find_root(workspace))


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
                f"workspace {loaded.root} is valid: {counts['hosts']} hosts, "
                f"{counts['states']} state files, {counts['rules']} rules files"
            )


@app.command()
def hosts(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.text,
          limit_: LimitOpt = None) -> None:
    """The inventory: each host, its client, address, connector, groups and state files."""
    with _reporting(fmt):
        loaded = _load(workspace)
        rows = host_rows(loaded, limit(loaded, limit_ or []))
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
            table.add_row(row["name"], row["client"], address, row["connector"],
                          ", ".join(row["groups"]) or "-", ", ".join(row["states"]) or "-")
        # On a terminal long cells fold; into a pipe nothing is cut.
        (out if out.is_terminal else Console(width=1000, highlight=False)).print(table)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create (must be new or empty).")],
) -> None:
    """Create a new workspace with commented examples; you become its administrator."""
    with _reporting():
        creator = acting_person(None)
        written = create_workspace(directory, creator)
        for path in written:
            out.print(f"created {path}")
        out.print(f"{creator} is the administrator (rules/roles.toml). "
                  f"Next: tendr validate -w {directory}")


@app.command()
def schema(
    family: Annotated[str | None, typer.Argument(help="hosts, states, rules or settings.")] = None,
    output: Annotated[Path | None, typer.Option(help="Write one .schema.json per family here.")]
    = None,
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
        output.mkdir(parents=True, exist_ok=True)
        for name in families:
            target = output / FILE_NAMES[name]
            target.write_text(json.dumps(schema_for(name), indent=2) + "\n", encoding="utf-8")
            out.print(f"wrote {target}")


def main() -> None:
    """Console-script entry point."""
    app()


AsOpt = Annotated[
    str | None,
    typer.Option("--as", help="Act as this person (root only; how roles are tested).",
                 show_default=False),
]


@contextmanager
def _progress(fmt: Format, total: int, what: str) -> Iterator[Callable[[str], None]]:
    """A progress bar on a terminal for multi-host work; nothing in JSON mode or in pipes."""
    if fmt is Format.json or not err.is_terminal or total < 2:
        yield lambda _name: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda name: bar.update(task, advance=1, description=f"{what} ({name})")


def _render_plan(plan: Plan, fmt: Format) -> None:
    if fmt is Format.json:
        _print_json(plan_json(plan))
        return
    lines = [line for host in plan.hosts for line in host_lines(host)]
    out.print("\n".join([*lines, summary_line(plan)]))  # one print: rich is slow per call


@app.command()
def plan(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.text, limit_: LimitOpt = None,
         as_person: AsOpt = None) -> None:
    """Dry-run audit: per host, how the machine differs from its desired state.

    Exit 0 when every host is in sync, 2 when there is drift, 1 on any error.
    """
    with _reporting(fmt):
        loaded = _load(workspace)
        person = acting_person(as_person)
        result = _plan(loaded, limit(loaded, limit_ or []), person, fmt)
        _render_plan(result, fmt)
        if result.has_errors:
            raise typer.Exit(EXIT_ERROR)
        raise typer.Exit(EXIT_OK if result.in_sync else EXIT_DRIFT)


def _plan(loaded: Workspace, selected: list[Host], person: str, fmt: Format,
          session: Session | None = None) -> Plan:
    """Plan the hosts `person` may read (others carry the refusal), changes marked
    allowed or blocked. With a session, its connections are used and kept open."""
    from tendr import engine

    readable_hosts, refused = readable(loaded, person, "plan", selected)
    with _progress(fmt, len(readable_hosts), "reading hosts") as tick:
        if not readable_hosts:
            found = Plan()
        elif session is None:
            found = engine.plan(loaded, readable_hosts, tick)
        else:
            found = engine.gather(loaded, readable_hosts, session, tick)
    by_host = {h.host: h for h in found.hosts}
    by_host.update({name: HostPlan(host=name, error=why) for name, why in refused.items()})
    return mark(loaded, person, Plan(tuple(by_host[h.name] for h in selected)))


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

    Exit 0 when every change was made and no drift remains, 1 otherwise.
    """
    with _reporting(fmt):
        loaded = _load(workspace)
        person = acting_person(as_person)
        selected = limit(loaded, limit_ or [])
        from tendr import engine
        from tendr.hosts.connect import close_session

        if problem := audit.ready(loaded.path(loaded.settings.audit_log)):
            raise UserError(f"{problem}; nothing was applied")
        # One connection per host serves the plan, the changes and the re-read.
        session = engine.connect(loaded, readable(loaded, person, "plan", selected)[0])
        try:
            results, after, recorded = _apply(loaded, selected, person, fmt, session, yes,
                                              only_allowed)
        except KeyboardInterrupt:
            # Changes may have run on some hosts: never leave the person guessing.
            err.print("interrupted: some changes may already have been made; "
                      "run 'tendr plan' to see where each host stands now")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            close_session(session)
        _render_results(results, after, fmt)
        ok = all(r.error is None and r.count("failed") == r.count("refused") == 0
                 for r in results)
        converged = all(not h.error and all(c.action == "unknown" for c in h.changes)
                        for h in after.hosts)
        raise typer.Exit(EXIT_OK if ok and converged and recorded else EXIT_ERROR)


def _apply(loaded: Workspace, selected: list[Host], person: str, fmt: Format, session: Session,
           yes: bool, only_allowed: bool) -> tuple[list[HostResult], Plan, bool]:
    """Plan, refuse or confirm, apply what is allowed, read the hosts again."""
    from tendr import engine
    from tendr.apply import apply as run_apply

    planned = _plan(loaded, selected, person, fmt, session)
    if fmt is Format.text:
        _render_plan(planned, fmt)
    refusals = blocked(planned)
    if refusals and not only_allowed:
        _record(loaded, audit.refusals(planned), person)
        raise PermissionDenied(message=_refusal_message(person, refusals))
    if not any(c.action != "unknown" and c.allowed for h in planned.hosts for c in h.changes):
        _record(loaded, audit.refusals(planned), person)
        _finish_without_changes(planned, fmt, person, refusals)
    _confirm(yes, fmt)
    connected = [h for h in selected if h.name in session.hosts]
    with _progress(fmt, len(connected), "applying") as tick:
        results = run_apply(planned, engine.desired_specs(loaded, connected),
                            engine.workspace_sources(loaded, connected), session, tick)
    recorded = _record(loaded, results, person)
    return results, mark(loaded, person, engine.gather(loaded, connected, session)), recorded


def _record(loaded: Workspace, results: list[HostResult], person: str) -> bool:
    """Every change made, failed, refused or not run goes into the audit log."""
    path = loaded.path(loaded.settings.audit_log)
    try:
        audit.append(path, audit.entries_for(results, person, acting_person(None), "apply"))
    except (OSError, ValueError) as exc:  # checked before; the disk may still fill up
        err.print(f"[red]error[/]: the audit log {escape(str(path))} could not record these "
                  f"changes ({escape(str(exc))}); note them by hand")
        return False
    return True


def _refusal_message(person: str, refusals: list[tuple[HostPlan, list[str]]]) -> str:
    lines = [f"{person} may not apply every planned change; nothing was applied:"]
    for host, names in refusals:
        lines.extend(f"  {host.host}: {name}" for name in names)
    lines.append("Apply the allowed changes alone with --only-allowed, or ask an administrator.")
    return "\n".join(lines)


def _finish_without_changes(plan: Plan, fmt: Format, person: str,
                            refusals: list[tuple[HostPlan, list[str]]]) -> None:
    """Nothing may run: either nothing differs, or every change is refused."""
    if fmt is Format.json:
        _print_json({"plan": plan_json(plan), "results": [], "after": plan_json(plan)})
    elif refusals:
        out.print(f"Nothing applied: {person} may make none of the planned changes:")
        for host, names in refusals:
            for name in names:
                out.print(f"  [red]refused[/] {host.host}: {escape(name)}")
    else:
        out.print("Nothing to apply.")
    raise typer.Exit(EXIT_ERROR if plan.has_errors or refusals else EXIT_OK)


def _confirm(yes: bool, fmt: Format) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError("no terminal to confirm on: pass --yes to apply without asking")
    if fmt is Format.json or not typer.confirm("Apply these changes?", default=False):
        raise UserError("not confirmed; nothing was applied")


def _render_results(results: list[HostResult], after: Plan, fmt: Format) -> None:
    if fmt is Format.json:
        _print_json({"results": results_json(results), "after": plan_json(after)})
        return
    out.print("\n" + "\n".join(result_lines(results, after)))


rules_app = typer.Typer(help="Permission rules: who may do what, where.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("explain")
def rules_explain(
    person: Annotated[str, typer.Argument(help="An operating-system account name.")],
    operation: Annotated[str, typer.Argument(help="e.g. service.restart, package.install, plan")],
    host: Annotated[str, typer.Argument(help="A host name from hosts/.")],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Why PERSON may or may not apply OPERATION on HOST, and the rule that decides.

    Exit 0 when allowed, 1 when not.
    """
    with _reporting(fmt):
        loaded = _load(workspace)
        target = next((h for h in loaded.hosts if h.name == host), None)
        if target is None:
            raise UserError(f"no host named {host!r} in hosts/")
        if reason := check_op_pattern(operation):
            raise UserError(reason)
        decision = may(loaded, person, operation, target)
        found = matching_rules(person, operation, target, loaded.rules, loaded.owner)
        roles = roles_of(person, loaded.rules, loaded.owner)
        if fmt is Format.json:
            _print_json({"person": person, "operation": operation, "host": host,
                         "allowed": decision.allowed, "rule": decision.rule,
                         "reason": decision.reason, "roles": roles,
                         "matching": [str(m) for m in found]})
        else:
            verdict = "[green]allowed[/]" if decision.allowed else "[red]denied[/]"
            out.print(f"{verdict}: {escape(decision.reason)}")
            out.print(f"deciding rule: {escape(decision.rule or 'none (default deny)')}")
            out.print(f"{person}'s roles: {', '.join(roles) or 'none'}")
            for match in found:
                out.print(f"  matches {escape(str(match))}")
        raise typer.Exit(EXIT_OK if decision.allowed else EXIT_ERROR)


@rules_app.command("list")
def rules_list(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.text) -> None:
    """Every role: its file, members and rules."""
    with _reporting(fmt):
        loaded = _load(workspace)
        rows: list[dict[str, Any]] = [
            {"file": file, "role": name, "description": role.description,
             "members": [loaded.owner + " (@owner)" if m == "@owner" else m
                         for m in role.members],
             "allow": [{"ops": list(r.ops), "hosts": list(r.hosts)} for r in role.allow],
             "deny": [{"ops": list(r.ops), "hosts": list(r.hosts)} for r in role.deny]}
            for file, rules_file in loaded.rules for name, role in rules_file.roles.items()
        ]
        if fmt is Format.json:
            _print_json({"roles": rows})
            return
        for row in rows:
            out.print(f"[bold]{row['role']}[/] ({row['file']}): {escape(row['description'])}")
            out.print(f"  members: {', '.join(row['members']) or 'none'}")
            for effect in ("allow", "deny"):
                for rule in row[effect]:
                    out.print(f"  {effect} {', '.join(rule['ops'])} on {', '.join(rule['hosts'])}")


audit_app = typer.Typer(help="The hash-chained record of every change.", no_args_is_help=True)
app.add_typer(audit_app, name="audit-log")


@audit_app.command("verify")
def audit_verify(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    head: Annotated[str | None, typer.Option(help="A head kept earlier: it must still be "
                                                  "in the log.")] = None,
) -> None:
    """Check the audit log's hash chain. Exit 0 when intact, 1 when broken."""
    with _reporting(fmt):
        loaded = _load(workspace)
        path = loaded.path(loaded.settings.audit_log)
        verdict = audit.verify(audit.read_lines(path), head)
        if fmt is Format.json:
            _print_json({"ok": verdict.ok, "records": verdict.records, "head": verdict.head,
                         "line": verdict.line, "reason": verdict.reason or None})
        elif verdict.ok:
            out.print(f"{loaded.settings.audit_log}: intact, {verdict.records} records, "
                      f"head {verdict.head}")
        else:
            where = f" at line {verdict.line}" if verdict.line else ""
            err.print(f"[red]{escape(loaded.settings.audit_log)}: broken{where}[/]: "
                      f"{escape(verdict.reason)} ({verdict.records} records intact before it)")
        raise typer.Exit(EXIT_OK if verdict.ok else EXIT_ERROR)


@audit_app.command("head")
def audit_head(workspace: WorkspaceOpt = None) -> None:
    """The hash of the last record: keep it elsewhere to detect records cut off later."""
    with _reporting():
        loaded = _load(workspace)
        verdict = audit.verify(audit.read_lines(loaded.path(loaded.settings.audit_log)))
        out.print(verdict.head)


@audit_app.command("show")
def audit_show(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    last: Annotated[int, typer.Option(help="How many of the latest records.")] = 20,
) -> None:
    """The latest records: when, who, which host, what, and how it went."""
    with _reporting(fmt):
        loaded = _load(workspace)
        records = [json.loads(line) for line in
                   audit.read_lines(loaded.path(loaded.settings.audit_log))][-last:]
        if fmt is Format.json:
            _print_json({"records": records})
            return
        for r in records:
            reason = f" ({r['reason']})" if r.get("reason") else ""
            out.print(escape(f"{r['seq']:>5} {r['time']} {r['person']} {r['host']} "
                             f"{r['outcome']} {r['op']} {r['resource']}{reason}"))
