"""The command line: parse, call the core, render. The one place that prints and exits."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tendr import __version__
from tendr.errors import TendrError, UserError, WorkspaceError
from tendr.hosts.inventory import host_rows, limit
from tendr.init import create_workspace
from tendr.rules.actor import acting_person
from tendr.schema import FAMILIES, FILE_NAMES, schema_for
from tendr.workspace import Workspace, find_root, load

# Exit codes, documented in README.md.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DRIFT = 2
EXIT_BUG = 3

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
                err.print(f"[red]error[/]: {problem}", markup=True, highlight=False)
            err.print(f"{exc}; nothing was done.")
        raise typer.Exit(EXIT_ERROR) from None
    except TendrError as exc:
        if fmt is Format.json:
            _print_json({"ok": False, "error": str(exc)})
        else:
            err.print(f"[red]error[/]: {exc}", markup=True)
        raise typer.Exit(EXIT_ERROR) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception:
        debug_log = Path(tempfile.gettempdir()) / "tendr-debug.log"
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
            table.add_column(column)
        for row in rows:
            address = row["address"] or "-"
            if row["port"] and row["port"] != 22:
                address += f":{row['port']}"
            table.add_row(row["name"], row["client"], address, row["connector"],
                          ", ".join(row["groups"]) or "-", ", ".join(row["states"]) or "-")
        out.print(table)


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
