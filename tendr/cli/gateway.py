"""The gateway: setup, allow, revoke, people, and what sshd and git run there."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from tendr.base.errors import PermissionDenied, UserError
from tendr.cli.common import Commands, Format, FormatOpt, err, out, print_json, reporting
from tendr.cli.render import escape
from tendr.gateway import session as gateway

gateway_app = typer.Typer(
    rich_markup_mode=None,
    cls=Commands,
    help="The gateway: tendr run by an account that alone holds the client keys.",
    no_args_is_help=True,
)


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

    with reporting():
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

    with reporting():
        out.print(escape(setup.allow(person, key)))


@gateway_app.command("revoke")
def gateway_revoke(
    person: Annotated[str, typer.Argument(help="The person whose keys to remove.")],
) -> None:
    """Remove every key of PERSON from the gateway (as root)."""
    from tendr.gateway import setup

    with reporting():
        out.print(escape(setup.revoke(person)))


@gateway_app.command("tunnel-allow")
def gateway_tunnel_allow(
    host: Annotated[str, typer.Argument(help="The host with tunnel = true, by name.")],
    key: Annotated[Path, typer.Option(help="Its tunnel key's public half, as the host made it.")],
    workspace: Annotated[
        Path | None,
        typer.Option(help="The workspace [default: the gateway's, /etc/tendr/gateway.toml]."),
    ] = None,
) -> None:
    """Let HOST's tunnel key into the controller's tunnel account (as root): it may
    listen on its own loopback port (tunnel_port) and do nothing else."""
    from tendr.gateway import tunnel

    with reporting():
        if workspace is None:
            config = gateway.read_config()
            if config is None:
                raise UserError("this machine is no gateway: name the workspace (--workspace)")
            workspace = Path(config.workspace)
        out.print(escape(tunnel.allow_tunnel(workspace, host, key)))


@gateway_app.command("people")
def gateway_people(fmt: FormatOpt = Format.text) -> None:
    """The people let in, with their keys' fingerprints (as root)."""
    from tendr.gateway import setup

    with reporting(fmt):
        found = setup.people()
        if fmt is Format.json:
            print_json(
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

    with reporting():
        at_gateway = _gateway_itself("serve")
        gateway.check_person(person)
        remote = gateway.parse_remote(os.environ.get("SSH_ORIGINAL_COMMAND"), at_gateway.account)
        if isinstance(remote, gateway.GitCommand):
            push.serve_git(at_gateway, person, remote.program)  # becomes git: no return
        assert isinstance(remote, gateway.TendrCommand)
        gateway.serve_as(person, remote.args)
    from tendr.cli.app import app  # the whole command line, as the person's own

    app(args=remote.args, prog_name=f"ssh {at_gateway.account}@gateway")


@gateway_app.command("hook", hidden=True)
def gateway_hook(
    name: Annotated[str, typer.Argument(help="pre-receive or post-receive.")],
) -> None:
    """git's hooks in the gateway's workspace: accept a push or refuse it, and record it."""
    from tendr.gateway import push

    with reporting():
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
