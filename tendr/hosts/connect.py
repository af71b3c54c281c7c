"""Connecting to hosts through pyinfra, with pinned host keys, and running probes.

pyinfra's own default accepts unknown host keys on first use; tendr never does:
every SSH host is checked strictly against the workspace's known_hosts.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from pyinfra.api.command import StringCommand
from pyinfra.api.config import Config
from pyinfra.api.exceptions import ConnectError
from pyinfra.api.host import Host as PyinfraHost
from pyinfra.api.inventory import Inventory
from pyinfra.api.state import State

from tendr.hosts.model import Host
from tendr.settings import Settings

LOCAL = "@local"
PROBE_TIMEOUT = 300


def host_data(host: Host, known_hosts: Path, settings: Settings) -> dict[str, Any]:
    """pyinfra host data for one tendr host: strict keys, the key file, sudo if not root."""
    if host.connector == "local":
        return {"tendr_name": host.name}
    data: dict[str, Any] = {
        "tendr_name": host.name,
        "ssh_hostname": host.address,
        "ssh_port": host.port,
        "ssh_known_hosts_file": str(known_hosts),
        "ssh_strict_host_key_checking": "yes",
        "ssh_connect_timeout": settings.connect_timeout,
    }
    if host.user:
        data["ssh_user"] = host.user
    if host.ssh_key:
        data["ssh_key"] = str(Path(host.ssh_key).expanduser())
        data["ssh_allow_agent"] = False
        data["ssh_look_for_keys"] = False
    if needs_sudo(host):
        data["_sudo"] = True
    return data


def needs_sudo(host: Host) -> bool:
    """Remote users other than root act through sudo; the local connector never does."""
    return host.connector == "ssh" and (host.user or "root") != "root"


@dataclass
class Session:
    """A pyinfra State over the selected hosts: which connected, and why others did not."""

    state: State
    hosts: dict[str, PyinfraHost] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    sudo: dict[str, bool] = field(default_factory=dict)


def open_session(hosts: Iterable[Host], known_hosts: Path, settings: Settings,
                 on_connected: Callable[[str], None] | None = None) -> Session:
    """Connect to every host in parallel; a host that fails does not stop the others."""
    selected = list(hosts)
    names = [(LOCAL if h.connector == "local" else h.name,
              host_data(h, known_hosts, settings)) for h in selected]
    # pyinfra's constructors carry no annotations
    inventory = Inventory((names, {}))  # type: ignore[no-untyped-call]
    config = Config(  # type: ignore[no-untyped-call]
        PARALLEL=settings.parallel, CONNECT_TIMEOUT=settings.connect_timeout
    )
    state = State(inventory, config)
    session = Session(state)
    by_name = {h.name: h for h in selected}

    def connect(pyhost: PyinfraHost) -> None:
        name = pyhost.data.get("tendr_name")
        try:
            pyhost.connect(show_errors=False, raise_exceptions=True)
        except ConnectError as exc:
            session.errors[name] = connect_reason(exc)
        except Exception as exc:
            session.errors[name] = f"cannot connect: {exc}"
        else:
            state.activate_host(pyhost)
            session.hosts[name] = pyhost
            session.sudo[name] = needs_sudo(by_name[name])
        if on_connected:
            on_connected(name)

    greenlets = [state.pool.spawn(connect, pyhost) for pyhost in inventory]
    gevent.joinall(greenlets)
    return session


def connect_reason(exc: ConnectError) -> str:
    """pyinfra's connect errors, said so a technician knows what to do."""
    text = " ".join(str(arg) for arg in exc.args)
    if "host key" in text.lower() or "known_hosts" in text:
        return (f"host key not verified ({text}); tendr accepts only keys pinned in the "
                "workspace's known_hosts: check the machine, then update known_hosts")
    return f"cannot connect: {text}"


def run(session: Session, name: str, script: str, timeout: int = PROBE_TIMEOUT) -> tuple[
        bool, list[str], list[str]]:
    """Run one shell script on a connected host: (ok, stdout lines, stderr lines)."""
    pyhost = session.hosts[name]
    command = StringCommand("sh", "-c", shlex.quote(script))
    ok, output = pyhost.run_shell_command(command, _sudo=session.sudo.get(name, False),
                                          _timeout=timeout)
    return ok, list(output.stdout_lines), list(output.stderr_lines)


def close_session(session: Session) -> None:
    for pyhost in session.hosts.values():
        try:
            pyhost.disconnect()
        except Exception:
            pass
