"""Reaching hosts: the account tendr logs in as, and what it says when it cannot connect."""

from __future__ import annotations

import base64
import hashlib
import shlex
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from paramiko import BadHostKeyException, PKey, SSHException
from paramiko.ssh_exception import NoValidConnectionsError
from pyinfra.api.exceptions import ConnectError

from tendr.base.settings import Settings
from tendr.remote.connect import connect_reason, host_data, needs_sudo, open_session
from tendr.workspace.hosts import Host
from tests.helpers import requires

PINNED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDp/zq2PtRFv7sR/KBUHYUZDKexpIWdratu066JnqzpS"
OFFERED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBSkby5gW7fPqWM8aiQ5t1M8+E2kREA5bxu4VWMjzeuc"


def _host(**fields: Any) -> Host:
    values: dict[str, Any] = {
        "name": "acme-desk01",
        "client": "acme",
        "connector": "ssh",
        "address": "203.0.113.21",
        "port": 2222,
        "user": None,
        "ssh_key": None,
        "groups": (),
        "tags": (),
        "file": "hosts/acme.toml",
    }
    return Host(**{**values, **fields})


def ssh_fingerprint(line: str) -> str:
    """A key's fingerprint as `ssh-keygen -l` shows it, computed without paramiko."""
    digest = hashlib.sha256(base64.b64decode(line.split()[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _key(line: str) -> PKey:
    kind, blob = line.split()
    return PKey.from_type_string(kind, base64.b64decode(blob))


def _changed_key(host: Host) -> ConnectError:
    """What pyinfra raises for a changed host key: its own ConnectError, raised while
    handling paramiko's BadHostKeyException (which holds both keys)."""
    try:
        try:
            raise BadHostKeyException(host.name, _key(OFFERED), _key(PINNED))
        except BadHostKeyException:
            raise ConnectError("SSH host key error (Host key does not match.)")  # noqa: B904
    except ConnectError as exc:
        return exc


def test_a_changed_key_names_both_keys_the_port_and_the_workspace_file(tmp_path: Path) -> None:
    """The message gives the key offered and the key pinned (as ssh shows them), and the
    command that removes the pinned one from the workspace's known_hosts, not ~/.ssh's."""
    known = tmp_path / "known_hosts"
    reason = connect_reason(_changed_key(_host()), _host(), known)
    assert reason.startswith("host key not verified: ")
    assert f"203.0.113.21 port 2222 offered ssh-ed25519 {ssh_fingerprint(OFFERED)}" in reason
    assert f"{known} pins ssh-ed25519 {ssh_fingerprint(PINNED)} for it" in reason
    assert f"`ssh-keygen -R '[203.0.113.21]:2222' -f {known}`" in reason


def test_a_changed_key_on_port_22_is_named_by_its_address(tmp_path: Path) -> None:
    """known_hosts names a host on port 22 by its bare address; so does the command."""
    host = _host(port=22)
    reason = connect_reason(_changed_key(host), host, tmp_path / "known_hosts")
    assert f"`ssh-keygen -R 203.0.113.21 -f {tmp_path / 'known_hosts'}`" in reason


@requires(shutil.which("ssh-keygen") is not None, "ssh-keygen is not installed")
def test_the_command_given_for_a_changed_key_removes_exactly_that_pin(tmp_path: Path) -> None:
    """Run as the message gives it, the command removes the host's old key from the
    workspace's known_hosts and keeps every other host's."""
    known = tmp_path / "known_hosts"
    other = f"[203.0.113.21]:2200 {OFFERED}"
    known.write_text(f"[203.0.113.21]:2222 {PINNED}\n{other}\n")
    reason = connect_reason(_changed_key(_host()), _host(), known)
    command = reason.split("`")[1]
    subprocess.run(shlex.split(command), check=True, capture_output=True)
    assert known.read_text().splitlines() == [other]


def test_a_host_with_no_pinned_key_names_the_file_to_add_it_to(tmp_path: Path) -> None:
    """An unknown key is refused, naming the host as known_hosts names it and the file."""
    known = tmp_path / "known_hosts"
    try:
        try:
            raise SSHException(
                "StrictPolicy: No host key for [203.0.113.21]:2222 found in known_hosts"
            )
        except SSHException as exc:
            raise ConnectError(f"SSH error ({exc})")  # noqa: B904
    except ConnectError as exc:
        reason = connect_reason(exc, _host(), known)
    assert reason == (
        f"host key not verified: {known} pins no key for [203.0.113.21]:2222, "
        "and tendr never trusts a key on first use: `tendr hosts pin acme-desk01` shows "
        "the key it offers; check it on the machine itself, then confirm"
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@requires(shutil.which("ssh-keygen") is not None, "ssh-keygen is not installed")
def test_an_encrypted_key_says_what_works_instead(tmp_path: Path) -> None:
    """tendr cannot type a key's passphrase: the host's error says to use an unencrypted key
    or ssh-agent, not pyinfra's ssh_key_password, which no tendr file takes."""
    key = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f", str(key)], check=True
    )
    host = _host(address="127.0.0.1", port=_closed_port(), ssh_key=str(key))
    session = open_session([host], tmp_path / "known_hosts", Settings())
    reason = session.errors[host.name]
    assert reason.startswith(f"the key {key} (ssh_key) is encrypted")
    assert "ssh-agent" in reason and "unencrypted key" in reason
    assert "ssh_key_password" not in reason


def test_a_host_without_user_logs_in_as_the_service_account(tmp_path: Path) -> None:
    """With no `user` in the hosts file, tendr logs in as tendr.toml's service_account and
    acts as root through sudo; it never falls back to the account running tendr."""
    known = tmp_path / "known_hosts"
    settings = Settings(service_account="acmeadmin")
    assert host_data(_host(), known, settings)["ssh_user"] == "acmeadmin"
    assert needs_sudo(_host(), settings)
    assert host_data(_host(), known, Settings())["ssh_user"] == "tendr"
    assert host_data(_host(user="root"), known, settings)["ssh_user"] == "root"
    assert not needs_sudo(_host(user="root"), settings)
    assert not needs_sudo(_host(connector="local", address=None), settings)


def _unreached(host: Host, tmp_path: Path) -> str:
    session = open_session([host], tmp_path / "known_hosts", Settings(connect_timeout=1))
    return session.errors[host.name]


def test_a_closed_port_says_it_is_closed(tmp_path: Path) -> None:
    port = _closed_port()
    reason = _unreached(_host(address="127.0.0.1", port=port), tmp_path)
    assert reason == (
        f"cannot connect: 127.0.0.1 port {port}: the port is closed (connection refused): "
        "is SSH running there, on that port?"
    )
    assert "Errno" not in reason


def test_a_port_that_accepts_but_never_speaks_ssh_says_so(tmp_path: Path) -> None:
    """A tarpit (or a service that is not SSH and says nothing): TCP is accepted, no SSH
    banner comes; tendr waits connect_timeout, not paramiko's 15 s, and says which."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        reason = _unreached(_host(address="127.0.0.1", port=port), tmp_path)
    assert reason.startswith(f"cannot connect: 127.0.0.1 port {port}: the port accepted")
    assert "no SSH session began within 1s (no SSH banner" in reason


def test_an_address_that_does_not_answer_says_so() -> None:
    """No packet leaves the machine in tests: the exceptions are those paramiko raises for
    a connection attempt that times out, and for a host with no route, under pyinfra's."""

    def raised(cause: BaseException) -> ConnectError:
        try:
            try:
                raise cause
            except OSError as exc:
                raise ConnectError(f"Could not connect ({exc})")  # noqa: B904
        except ConnectError as exc:
            return exc

    host, known = _host(), Path("known_hosts")
    settings = Settings(connect_timeout=7)
    silent = connect_reason(raised(TimeoutError("timed out")), host, known, settings)
    assert silent == (
        "cannot connect: 203.0.113.21 port 2222: no answer within 7s: the machine is off, "
        "the address is wrong, or a firewall drops the connection"
    )
    unroutable = NoValidConnectionsError({("203.0.113.21", 2222): OSError(113, "No route")})
    assert "no route to the address" in connect_reason(raised(unroutable), host, known, settings)
    unknown = socket.gaierror(-2, "Name or service not known")
    assert "the name does not resolve" in connect_reason(raised(unknown), host, known, settings)
