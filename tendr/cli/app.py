"""The command line: the one Typer app, each command registered here in the order `tendr
--help` lists them. A command parses, calls one operation and renders; each family is a
module (files, hosts, plan_apply, reading, onboard, on_demand, rules, audit, gateway),
and what they share (options, errors, the workspace they start from) is in common.py."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any, NamedTuple

import typer
import typer.main
from typer.core import TyperArgument

from tendr import __version__
from tendr.base.errors import AuditLogUnwritable
from tendr.cli.common import Commands, out, reporting
from tendr.gateway import session as at_gateway

# Start-up: a command imports only its own family's module (LAZY below), and pyinfra
# (engine, apply) only inside the commands that touch hosts, so that validate, hosts,
# schema and rules answer without loading what the other commands need.


class Lazy(NamedTuple):
    """One command (or group of commands) of the app, by where it is defined."""

    module: str  # in tendr.cli
    attr: str  # the function, or the Typer of a group
    group: bool = False
    settings: dict[str, Any] | None = None  # the command's context_settings


# In the order `tendr --help` lists them (commands, then the groups).
LAZY: dict[str, Lazy] = {
    "validate": Lazy("files", "validate"),
    "init": Lazy("files", "init"),
    "schema": Lazy("files", "schema"),
    "plan": Lazy("plan_apply", "plan"),
    "apply": Lazy("plan_apply", "apply"),
    "logs": Lazy("reading", "logs"),
    "diagnose": Lazy("reading", "diagnose"),
    "history": Lazy("reading", "history_command"),
    "watch": Lazy("watching", "watch"),
    "status": Lazy("watching", "status_command"),
    "onboard": Lazy("onboard", "onboard"),
    "approve": Lazy("onboard", "approve_command"),
    "report": Lazy("reading", "report"),
    "run": Lazy("on_demand", "run", settings={"allow_interspersed_args": False}),
    "do": Lazy("on_demand", "do"),
    "shell": Lazy("on_demand", "shell"),
    "grant": Lazy("rules", "grant"),
    "hosts": Lazy("hosts", "hosts_app", group=True),
    "backup": Lazy("on_demand", "backup_app", group=True),
    "rules": Lazy("rules", "rules_app", group=True),
    "audit-log": Lazy("audit", "audit_app", group=True),
    "gateway": Lazy("gateway", "gateway_app", group=True),
}


def _build(name: str) -> Any:
    """The click command `name`, built by Typer as if registered on the app itself."""
    entry = LAZY[name]
    target = getattr(importlib.import_module(f"tendr.cli.{entry.module}"), entry.attr)
    holder = typer.Typer(
        cls=Commands,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    if entry.group:
        holder.add_typer(target, name=name)
    elif entry.settings:
        holder.command(name, context_settings=entry.settings)(target)
    else:
        holder.command(name)(target)
    return _plain_types(typer.main.get_group(holder).commands[name])


class _NamedArgument(TyperArgument):
    """An argument shown by its name alone (HOST), as an option is by its metavar."""

    def display_type_rich(self, ctx: Any) -> str | None:  # noqa: ARG002 - as Typer calls it
        return None


def _plain_types(command: Any) -> Any:
    """What to type in help, not Python's types (Typer shows `<list[str]>`, `<bool>`):
    a value its option's name in capitals (--since SINCE), unless the option names its
    own (`text|json`); an argument its name alone. The help itself is click's plain
    layout (rich_markup_mode=None), which shows a flag as a flag."""
    for param in command.params:
        if param.metavar is None and not getattr(param, "is_flag", False):
            longest = max(param.opts, key=len).lstrip("-")
            param.metavar = longest.replace("-", "_").upper()
        if isinstance(param, TyperArgument):
            param.__class__ = _NamedArgument
    for sub in getattr(command, "commands", {}).values():
        _plain_types(sub)
    return command


class _CommandTable(MutableMapping[str, Any]):
    """The app's commands, each built the first time it is asked for: running one
    command builds (and imports) only that one; --help and `.items()` build them all."""

    def __init__(self, built: MutableMapping[str, Any]) -> None:
        self._built = dict(built)

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in LAZY:
                raise KeyError(name)
            self._built[name] = _build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from LAZY
        yield from (name for name in self._built if name not in LAZY)

    def __len__(self) -> int:
        return len(set(LAZY) | set(self._built))


class LazyCommands(Commands):
    """The root group: its commands are built on demand (see _CommandTable)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _CommandTable(self.commands)

    def list_commands(self, ctx: Any) -> list[str]:  # noqa: ARG002 - names only, none built
        return list(self.commands)


app = typer.Typer(
    rich_markup_mode=None,
    # click lays help out in 80 columns at most; a wider terminal shows more of each line
    context_settings={"max_content_width": 120},
    cls=LazyCommands,
    help="Keep client machines in the state you promised: plan, apply, audit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
    with reporting():
        session = at_gateway.session()
        if session is not None and session.person:
            _record_request(session)  # before any check: refusals are on record too
        at_gateway.check_command(ctx.invoked_subcommand)


def _record_request(session: at_gateway.Session) -> None:
    """What a person asks the gateway, in its audit log before it is done or refused."""
    from tendr.core import audit as audit_log

    command, line = at_gateway.request()
    record = audit_log.event(
        command,
        line,
        "asked",
        f"through {session.via}",
        person=session.person or "",
        account=session.account,
        command=command,
    )
    log = at_gateway.audit_log(session.workspace)
    try:
        audit_log.append(log, [record])
    except OSError as exc:
        raise AuditLogUnwritable(
            f"the gateway records what it is asked, and its audit log {log} cannot be "
            f"written ({exc.strerror}); nothing was done"
        ) from None


def main() -> None:
    """Console-script entry point."""
    app()
