"""What every command shares: exit codes, the consoles, the common options, the one place
errors are rendered, and the workspace and person a command starts from."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from tendr import __version__
from tendr.base.errors import (
    InvalidTime,
    InvalidValue,
    NoTerminal,
    PermissionDenied,
    TendrError,
    UnknownHost,
    UserError,
    WorkspaceError,
)
from tendr.base.times import TIME_FORMS
from tendr.cli.render import escape
from tendr.gateway import session as gateway
from tendr.rules.actor import acting_person

# Start-up: what only some commands need (the workspace's models, rules, the audit log)
# is imported inside the functions that use it, so each command loads only its own.
if TYPE_CHECKING:
    from tendr.core.authorize import Reading
    from tendr.core.only import Part
    from tendr.workspace.hosts import Host
    from tendr.workspace.loader import Workspace

try:  # typer 0.29 and later carry their own copy of click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import UsageError  # type: ignore[assignment]

# Exit codes, documented in README.md.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DRIFT = 2
EXIT_BUG = 3
EXIT_USAGE = 64  # sysexits.h EX_USAGE
EXIT_INTERRUPTED = 130


class Commands(TyperGroup):
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


# emoji=False: a value with ":x:" in it (an error, a path) is text, not a picture.
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class Format(StrEnum):
    text = "text"
    json = "json"


WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        metavar="DIR",
        help="The workspace folder [default: $TENDR_WORKSPACE, or the current folder]",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    Format,
    typer.Option("--format", metavar="text|json", help="Output for people or for scripts."),
]
LimitOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--limit",
        "-l",
        metavar="HOSTS",
        help="Only these hosts: NAME, group:G, client:C, tag:T, all (repeatable).",
    ),
]
OnlyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        metavar="WHAT",
        help="Only these resources, with the changes they need: KIND (backup), KIND:NAME "
        "(printer:frontdesk) or a state file (states/backups.toml) (repeatable).",
    ),
]
AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        metavar="PERSON",
        help="Act as this person (root only; how roles are tested).",
        show_default=False,
    ),
]
HostArg = Annotated[str, typer.Argument(help="The host, by name.", show_default=False)]

TIME_HELP = f"{TIME_FORMS}."


@contextmanager
def reporting(fmt: Format = Format.text) -> Iterator[None]:
    """Render every error in one place: user mistakes plainly, bugs as bugs."""
    try:
        yield
    except WorkspaceError as exc:
        if fmt is Format.json:
            print_json(
                {
                    "ok": False,
                    "code": exc.code,
                    "error": str(exc),
                    "problems": [_problem_json(p) for p in exc.problems],
                }
            )
        else:
            for problem in exc.problems:
                error(str(problem))
            err.print(f"{exc}; nothing was done.")
        raise typer.Exit(EXIT_ERROR) from None
    except TendrError as exc:
        if fmt is Format.json:
            print_json(error_json(exc))
        else:
            error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception:
        _report_bug()
        raise typer.Exit(EXIT_BUG) from None


def error_json(exc: TendrError) -> dict[str, Any]:
    """An error for scripts: its stable code, its message, and its fields (README, "Exit
    codes"); a field never hides `ok`, `code` or `error`."""
    fields = {k: v for k, v in exc.details().items() if k not in ("ok", "code", "error")}
    return {"ok": False, "code": exc.code, "error": str(exc), **fields}


@contextmanager
def options(**names: str) -> Iterator[None]:
    """Word the values an operation refuses with the options that passed them:
    `with options(duration="--for"): ...` makes `duration: '99x' is not ...` read
    `--for: '99x' is not ...`. The layers below the CLI name no option."""
    try:
        yield
    except InvalidValue as exc:
        if exc.option is None and exc.param in names:
            exc.option = names[exc.param]
        raise


def error(message: str) -> None:
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


def no_out_at_gateway(out_file: Path | None) -> None:
    """At the gateway, what a person asks for goes to standard output: --out is refused."""
    if out_file is not None and gateway.session() is not None:
        raise PermissionDenied(message="the gateway writes no file you name: --out is refused")


def write_out(text: str, out_file: Path | None, what: str) -> None:
    """`text` to standard output, or to the file --out names (`what` said written)."""
    from tendr.base.errors import FileUnusable

    if out_file is None:
        sys.stdout.write(text)
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise FileUnusable(f"cannot write {out_file}: {exc.strerror}", file=out_file) from None
    err.print(f"{what} written to {escape(out_file)}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _problem_json(problem: Any) -> dict[str, Any]:
    return {
        "file": problem.file,
        "key": problem.key,
        "line": problem.line,
        "column": problem.column,
        "message": problem.message,
    }


def load_workspace(workspace: Path | None) -> Workspace:
    """The workspace: --workspace, $TENDR_WORKSPACE or the current folder; at the gateway
    its own, with what a workspace may not hold there refused."""
    from tendr.workspace.loader import find_root, load

    gateway.refuse_overrides(workspace_given=workspace is not None, as_given=False)
    at_gateway = gateway.session()
    if at_gateway is None:
        return load(find_root(workspace))
    loaded = load(at_gateway.workspace)
    from tendr.gateway.served import own_keys

    if problems := gateway.gateway_problems(loaded) + own_keys(loaded):
        raise UserError("\n".join(problems))
    return loaded


def select_hosts(
    workspace: Path | None, limit_: list[str] | None, as_person: str | None
) -> tuple[Workspace, str, list[Host]]:
    """The workspace, who acts, and the hosts `--limit` selects: what every command that
    reaches hosts starts from."""
    from tendr.workspace.inventory import limit

    loaded = load_workspace(workspace)
    with options(selectors="--limit"):
        return loaded, person_acting(as_person), limit(loaded, limit_ or [])


def select_parts(loaded: Workspace, hosts: list[Host], only_: list[str] | None) -> list[Part]:
    """The resources `--only` selects; each selector must select one the hosts are given."""
    from tendr.core.only import check, part

    with options(only="--only"):
        parts = [part(text) for text in only_ or []]
        declared = [(d.file, d.spec.kind, d.spec.key) for h in hosts for d in loaded.desired(h)]
        check(parts, declared)
    return parts


def changes_here(loaded: Workspace, command: str) -> None:
    """A copy of a workspace a gateway serves changes no host: the gateway does."""
    from tendr.gateway.served import served_elsewhere

    if why := served_elsewhere(loaded, command):
        raise UserError(why)


def may_read(loaded: Workspace, as_person: str | None) -> Reading:
    """What the acting person may read (see authorize.reading); one who may read nothing
    is refused, rather than shown an empty answer."""
    from tendr.core.authorize import reading
    from tendr.rules.model import READING_OPS

    found = reading(loaded, person_acting(as_person))
    if found.nothing:
        why = "is in no role" if not found.role else "holds no reading operation"
        raise PermissionDenied(
            message=f"permission denied: {found.person} {why}, and may read nothing here "
            f"(reading a host takes one of {', '.join(READING_OPS)} on it)"
        )
    return found


def named_hosts(limit_: list[str] | None) -> None:
    """run and do act at once, without a plan to confirm: the hosts must be named."""
    if not limit_:
        raise UserError("name the hosts with --limit/-l (HOST, group:G, client:C, or all)")


def host_named(loaded: Workspace, name: str) -> Host:
    """One host of the workspace, by its name."""
    found = next((h for h in loaded.hosts if h.name == name), None)
    if found is None:
        raise UnknownHost(host=name)
    return found


def person_acting(as_person: str | None) -> str:
    """Who acts: at the gateway, whom its key or sudo names; elsewhere the account
    running tendr (SUDO_USER through sudo), or --as for root."""
    gateway.refuse_overrides(workspace_given=False, as_given=as_person is not None)
    at_gateway = gateway.session()
    if at_gateway is not None and at_gateway.person:
        return at_gateway.person
    return acting_person(as_person)


def time_option(option: str, text: str | None) -> datetime | None:
    """The time an option gives, in any of the forms every command takes (TIME_FORMS)."""
    from tendr.base.times import given_time

    if text is None:
        return None
    try:
        return given_time(text, datetime.now(UTC))
    except ValueError:
        refused = InvalidTime(param=option.lstrip("-"), text=text, expected=TIME_FORMS)
        refused.option = option
        raise refused from None


def confirmed(question: str, yes: bool, no_terminal: str) -> bool:
    """--yes, or the question asked on a terminal; without one, `no_terminal` is the error."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise NoTerminal(no_terminal)
    return typer.confirm(question, default=False)
