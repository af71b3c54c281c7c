"""The command line: the one Typer app, each command registered here in the order `tendr
--help` lists them. A command parses, calls one operation and renders; each family is a
module (files, hosts, plan_apply, reading, onboard, on_demand, rules, audit, gateway),
and what they share (options, errors, the workspace they start from) is in common.py."""

from __future__ import annotations

from typing import Annotated

import typer

from tendr import __version__
from tendr.base.errors import UserError
from tendr.cli import audit, files, gateway, hosts, on_demand, onboard, plan_apply, reading, rules
from tendr.cli.common import Commands, out, reporting
from tendr.core import audit as audit_log
from tendr.gateway import session as at_gateway

# pyinfra (engine, apply) is imported inside the commands that touch hosts, so that
# validate, hosts, schema and rules answer without loading it.

app = typer.Typer(
    cls=Commands,
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
        raise UserError(
            f"the gateway records what it is asked, and its audit log {log} cannot be "
            f"written ({exc.strerror}); nothing was done"
        ) from None


app.command()(files.validate)
app.command()(files.init)
app.command()(files.schema)
app.command()(plan_apply.plan)
app.command()(plan_apply.apply)
app.command()(reading.logs)
app.command()(reading.diagnose)
app.command("history")(reading.history_command)
app.command()(onboard.onboard)
app.command("approve")(onboard.approve_command)
app.command()(reading.report)
app.command(context_settings={"allow_interspersed_args": False})(on_demand.run)
app.command("do")(on_demand.do)
app.command()(on_demand.shell)
app.command()(rules.grant)
app.add_typer(hosts.hosts_app, name="hosts")
app.add_typer(on_demand.backup_app, name="backup")
app.add_typer(rules.rules_app, name="rules")
app.add_typer(audit.audit_app, name="audit-log")
app.add_typer(gateway.gateway_app, name="gateway")


def main() -> None:
    """Console-script entry point."""
    app()
