"""A workspace served by a gateway: the gateway alone changes its hosts.

A technician's old clone would otherwise apply what it holds and silently undo what
was pushed to the gateway since; and a host entry naming a technician's own key fails
there, where hosts are reached with the gateway's key.
"""

from __future__ import annotations

import os
import pwd
import shlex
from pathlib import Path

from tendr.base.tomlfile import locate
from tendr.gateway.session import read_config, session
from tendr.workspace.loader import Workspace

CHANGING = ("apply", "do", "run", "shell")
"""The commands only the gateway makes for a workspace it serves."""


def ssh_prefix(address: str) -> str:
    """The ssh command line that reaches the gateway at ACCOUNT@HOST[:PORT]; tendr's
    arguments follow it."""
    destination, _, port = address.partition(":")
    port_words = ["-p", port] if port and port != "22" else []
    return shlex.join(["ssh", "-t", *port_words, destination])


def served_elsewhere(workspace: Workspace, command: str) -> str | None:
    """Why this copy of a workspace a gateway serves may not run `command`, or None: at
    the gateway itself (through a person's key or sudo), or its own workspace run as root
    on the controller, it may."""
    address = workspace.settings.gateway
    if address is None or command not in CHANGING or session() is not None:
        return None
    config = read_config()
    if config is not None and Path(config.workspace).resolve() == workspace.root.resolve():
        return None
    return (
        f"this workspace is served by the gateway {address} (tendr.toml: gateway): "
        f"{command} is made there, so that this copy cannot undo what was pushed since; "
        f"run `{ssh_prefix(address)} {command} ...` (or alias tendr="
        f"{shlex.quote(ssh_prefix(address))})"
    )


def gateway_key() -> Path:
    """The gateway's own key for client machines, which `gateway setup` made: in the home
    of the account this process runs as (from the password database: sudo may keep the
    caller's $HOME)."""
    return Path(pwd.getpwuid(os.geteuid()).pw_dir) / ".ssh" / "id_ed25519"


def own_keys(workspace: Workspace) -> list[str]:
    """Host entries naming an `ssh_key` other than the gateway's, which it refuses: it
    reaches every host with its own key (the one `gateway setup` printed)."""
    problems = []
    home = gateway_key().parent.parent
    for host in workspace.hosts:
        if host.ssh_key is None:
            continue
        named = host.ssh_key
        if named == "~" or named.startswith("~/"):
            named = str(home) + named[1:]
        if Path(named) == gateway_key():
            continue
        text = workspace.texts.get(host.file, "")
        line = locate(text, ["hosts", host.name, "ssh_key"]) or locate(
            text, ["defaults", "ssh_key"]
        )
        where = f"{host.file}:{line}" if line else host.file
        problems.append(
            f"{where}: host {host.name} names ssh_key {host.ssh_key!r}: at the gateway every "
            "host is reached with the gateway's own key (authorize the public key `tendr "
            "gateway setup` printed for the clients' service account); remove the line, or "
            f"name {gateway_key()}"
        )
    return problems
