"""Onboarding a machine and approving it: onboard, approve."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from tendr.base.errors import NoTerminal, PermissionDenied, UserError
from tendr.cli.common import (
    EXIT_OK,
    AsOpt,
    Format,
    WorkspaceOpt,
    confirmed,
    host_named,
    load_workspace,
    options,
    out,
    person_acting,
    reporting,
)
from tendr.cli.plan_apply import applying, render_plan
from tendr.cli.render import escape
from tendr.core.new_host import new_host
from tendr.gateway import session as gateway
from tendr.gateway.commit import commit_at_gateway
from tendr.workspace.hosts import route


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
    bootstrap_password_file: Annotated[
        Path | None,
        typer.Option(
            help="A file (readable by you alone, 0600) holding that account's password; "
            "without it and a key, the password is asked on the terminal."
        ),
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
    with reporting():
        from tendr.ops import engine
        from tendr.ops import onboard as onboarding

        loaded = load_workspace(workspace)
        person = person_acting(as_person)
        at_gateway = gateway.session()
        if at_gateway is not None:
            ssh_key = _gateway_onboarding(ssh_key, bootstrap_key, bootstrap_password_file)
        with options(ssh_key="--ssh-key", client="--client", via="--via"):
            host = new_host(loaded, name, address, port, client, group or [], ssh_key, via)
        controller_key = Path(host.ssh_key or "")

        onboarding.check_allowed(loaded, person, host, approve=apply_now)
        done = onboarding.onboard(
            loaded,
            person,
            host,
            bootstrap_user=bootstrap_user,
            bootstrap_key=bootstrap_key.expanduser() if bootstrap_key else None,
            bootstrap_password=None
            if bootstrap_key
            else _password(bootstrap_user, bootstrap_password_file),
            controller_key=controller_key,
            confirm=_pinning(name, route(host), yes, expect_fingerprint),
            approve=apply_now,
            name_key=at_gateway is None,
            adopt=_adopting(yes) if adopt_account else None,
        )
        _render_onboarded(name, done)
        commit_at_gateway(loaded.root, done.files, f"onboard {name} (client {client}) by {person}")
        if done.login_failed is not None:
            raise done.login_failed
        applied = EXIT_OK
        if apply_now:  # approved above: apply its plan, then show where it stands
            applied = applying(workspace, Format.text, [name], as_person, yes, False)
        reloaded = load_workspace(workspace)
        plan = engine.plan_for(reloaded, [host_named(reloaded, name)], person)
        render_plan(plan, Format.text)
        if not host_named(reloaded, name).approved:
            out.print(f"{escape(name)} is audit-only until approved: tendr approve {escape(name)}")
        if applied != EXIT_OK:
            raise typer.Exit(applied)


def approve_command(
    host: Annotated[str, typer.Argument(help="The host, by name.", show_default=False)],
    workspace: WorkspaceOpt = None,
    as_person: AsOpt = None,
) -> None:
    """Let tendr change an onboarded host (it was audit-only): operation `host.approve`."""
    with reporting():
        from tendr.ops import onboard as onboarding

        loaded = load_workspace(workspace)
        person, target = person_acting(as_person), host_named(loaded, host)
        if onboarding.approve(loaded, person, target):
            out.print(f"{escape(host)} approved: apply, do, run and shell may act on it now")
            commit_at_gateway(loaded.root, [target.file], f"approve {host} by {person}")
        else:
            out.print(f"{escape(host)} was approved already: nothing changed")


def _pinning(
    name: str, route_: str, yes: bool, expect_fingerprint: str | None
) -> Callable[[str], bool]:
    """Onboarding's question before it pins the key the host offers: shown, then
    --expect-fingerprint, --yes, or asked on a terminal."""

    def confirm(shown: str) -> bool:
        out.print(f"{escape(name)} ({escape(route_)}) offers {escape(shown)}")
        if expect_fingerprint is not None:
            return shown.split()[-1] == expect_fingerprint
        return confirmed(
            "Pin this host key?",
            yes,
            "no terminal to confirm the key on: pass --yes or --expect-fingerprint",
        )

    return confirm


def _password(bootstrap_user: str, from_file: Path | None) -> str:
    """The bootstrap user's password, never an argument (ps would show it): from a file
    its owner alone may read, or typed on a terminal; never from a pipe, whose other end
    may be anyone's."""
    from tendr.workspace.loader import secret_problem

    if from_file is not None:
        path = from_file.expanduser()
        if problem := secret_problem(path, {os.getuid()}, "password file", "you"):
            raise UserError(f"--bootstrap-password-file: {problem}; nothing was changed")
        try:
            return path.read_text(encoding="utf-8").rstrip("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--bootstrap-password-file {path}: cannot be read ({exc})") from None
    at_gateway = gateway.session()
    if not sys.stdin.isatty():
        # Over SSH without a terminal, what is typed shows on the person's screen.
        how = (
            f"connect with ssh -t (ssh -t {at_gateway.account}@HOST onboard ...)"
            if at_gateway is not None
            else "run onboard on a terminal, or pass --bootstrap-password-file (0600)"
        )
        raise UserError(
            f"{bootstrap_user}'s password is asked on a terminal: {how}; nothing was changed"
        )
    password: str = typer.prompt(f"{bootstrap_user}'s password", hide_input=True)
    return password


def _gateway_onboarding(
    ssh_key: Path | None, bootstrap_key: Path | None, password_file: Path | None
) -> Path:
    """At the gateway the client machines get the gateway's own key, and the bootstrap
    user logs in with a password: a key path would be read as the gateway account, which
    alone may read its files (the technician's key is on their machine)."""
    from tendr.gateway.served import gateway_key

    if ssh_key is not None:
        raise PermissionDenied(
            message="at the gateway, --ssh-key is refused: client machines get the gateway's "
            f"own key ({gateway_key()}.pub)"
        )
    for option, given in (
        ("--bootstrap-key", bootstrap_key),
        ("--bootstrap-password-file", password_file),
    ):
        if given is None:
            continue
        raise PermissionDenied(
            message=f"at the gateway, {option} is refused: it would name a file the "
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
            raise NoTerminal("no terminal to confirm on: pass --yes to adopt the account")
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
    if done.login_failed is not None:
        return  # not onboarded: the error says what was made
    if done.changed:
        out.print(f"onboarded: {escape(', '.join(done.made))}")
    else:
        out.print("already onboarded: nothing changed")
