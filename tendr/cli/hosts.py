"""The inventory (tendr hosts) and re-pinning a host's key (tendr hosts pin)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tendr.base.errors import NotConfirmed, NoTerminal
from tendr.cli.common import (
    AsOpt,
    Commands,
    Format,
    FormatOpt,
    LimitOpt,
    WorkspaceOpt,
    host_named,
    load_workspace,
    may_read,
    options,
    out,
    person_acting,
    print_json,
    reporting,
)
from tendr.cli.render import escape
from tendr.workspace.inventory import among, host_rows

hosts_app = typer.Typer(
    rich_markup_mode=None,
    cls=Commands,
    help="The inventory (tendr hosts), and re-pinning a host's key (tendr hosts pin).",
)


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
    with reporting(fmt):
        loaded = load_workspace(workspace)
        shown = list(may_read(loaded, as_person).hosts)
        with options(selectors="--limit"):  # as --limit, among the hosts they may read
            selected = among(shown, limit_ or [])
        rows = host_rows(loaded, selected)
        if fmt is Format.json:
            print_json({"hosts": rows})
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
            if row["tunnel_port"]:
                address += f" tunnel :{row['tunnel_port']}"
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
        (out if out.is_terminal else Console(width=1000, highlight=False, emoji=False)).print(table)


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
    with reporting():
        from tendr.gateway.commit import commit_at_gateway
        from tendr.ops import onboard as onboarding

        loaded = load_workspace(workspace)
        target = host_named(loaded, host)
        old, new = onboarding.repin_keys(loaded, person_acting(as_person), target)
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
            raise NoTerminal("no terminal to confirm on: pass --yes or --expect-fingerprint")
        if not confirmed:
            raise NotConfirmed("the offered key was not confirmed; nothing was changed")
        person = person_acting(as_person)
        onboarding.repin(loaded, person, target)
        out.print(f"{escape(host)}: pinned the offered key")
        commit_at_gateway(
            loaded.root, [loaded.settings.known_hosts], f"pin {host}'s key {new} by {person}"
        )


@hosts_app.command("first-contact")
def hosts_first_contact(
    host: Annotated[str, typer.Argument(help="The host with tunnel = true.", show_default=False)],
    workspace: WorkspaceOpt = None,
    as_person: AsOpt = None,
) -> None:
    """The script that brings a host that calls home (tunnel = true) under tendr the
    first time: run once as root on it, it installs and starts its tunnel and prints the
    tunnel key (for tendr gateway tunnel-allow) and the host's key fingerprints."""
    with reporting():
        from tendr.base.errors import UserError
        from tendr.workspace.baseline import first_contact

        loaded = load_workspace(workspace)
        with options(selectors="HOST"):
            target = next(iter(among(list(may_read(loaded, as_person).hosts), [host])))
        if target.tunnel_port is None or loaded.settings.tunnel is None:
            raise UserError(f"{host} is no host with tunnel = true (and a tunnel_port)")
        sys.stdout.write(first_contact(target, loaded.settings.tunnel))
