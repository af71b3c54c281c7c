"""Hosts behind a gateway (`via`), without hosts: the hosts file, the names keys are
pinned under, what ssh is given, and what a technician reads when the way is shut."""

from __future__ import annotations

import shlex
import socket
from pathlib import Path

import pytest
from paramiko import HostKeys

from tendr.base.errors import UserError, WorkspaceError
from tendr.base.settings import Settings
from tendr.core.new_host import new_host
from tendr.ops.onboard import pinned_keys, pins_name
from tendr.ops.shell import ssh_argv
from tendr.remote.connect import open_session
from tendr.workspace.hosts import key_name, route
from tendr.workspace.loader import Workspace, load
from tests.helpers import build_tree

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKH5Q1dHy3hUbW9qD4Ib8o3Y9H2BfOQm4u0o2Z1H4Xq2"

ACME = """\
[defaults]
via = "acme-gw01"
ssh_key = "/keys/acme"

[hosts.acme-gw01]
address = "203.0.113.10"
port = 2222

[hosts.acme-pc01]
address = "192.168.1.10"

[hosts.acme-pc02]
address = "192.168.1.11"
port = 2200
"""

# Another client's LAN with the same private addresses, behind its own gateway.
BETA = """\
[hosts.beta-gw01]
address = "198.51.100.7"

[hosts.beta-pc01]
address = "192.168.1.10"
via = "beta-gw01"
"""


def _workspace(tmp_path: Path, **hosts_files: str) -> Workspace:
    files = {f"hosts/{client}.toml": text for client, text in hosts_files.items()}
    files |= {"states/base.toml": 'hosts = ["all"]\n', "known_hosts": ""}
    return load(build_tree(tmp_path / "ws", files))


def _problems(tmp_path: Path, **hosts_files: str) -> list[str]:
    with pytest.raises(WorkspaceError) as raised:
        _workspace(tmp_path, **hosts_files)
    return [str(p) for p in raised.value.problems]


def test_the_hosts_of_a_file_are_reached_through_the_gateway_its_defaults_name(
    tmp_path: Path,
) -> None:
    hosts = {h.name: h for h in _workspace(tmp_path, acme=ACME).hosts}
    assert hosts["acme-gw01"].gateway is None  # the gateway itself is reached directly
    assert hosts["acme-pc01"].gateway == hosts["acme-gw01"]
    assert hosts["acme-pc02"].gateway == hosts["acme-gw01"]
    assert route(hosts["acme-pc02"]) == "192.168.1.11 port 2200 (through acme-gw01)"


def test_two_clients_same_private_address_are_pinned_apart(tmp_path: Path) -> None:
    """Each LAN host's key is pinned under its gateway's name and its address: one
    client's machine cannot vouch for another's at the same address."""
    hosts = {h.name: h for h in _workspace(tmp_path, acme=ACME, beta=BETA).hosts}
    assert key_name(hosts["acme-pc01"]) == "acme-gw01/192.168.1.10:22"
    assert key_name(hosts["beta-pc01"]) == "beta-gw01/192.168.1.10:22"
    assert key_name(hosts["acme-gw01"]) == "[203.0.113.10]:2222"
    known = tmp_path / "known_hosts"
    known.write_text(f"acme-gw01/192.168.1.10:22 {KEY}\n")
    assert pinned_keys(known, key_name(hosts["acme-pc01"])) == [KEY]
    assert pinned_keys(known, key_name(hosts["beta-pc01"])) == []


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (
            '[hosts.pc]\naddress = "10.0.0.2"\nvia = "nowhere"\n',
            "hosts.pc.via",
            "no host 'nowhere' in hosts/",
        ),
        (
            '[hosts.gw]\naddress = "10.0.0.1"\nvia = "gw0"\n'
            '[hosts.gw0]\naddress = "10.0.0.9"\n'
            '[hosts.pc]\naddress = "10.0.0.2"\nvia = "gw"\n',
            "hosts.pc.via",
            "gw is itself reached through gw0",
        ),
        (
            '[hosts.here]\nconnector = "local"\n[hosts.pc]\naddress = "10.0.0.2"\nvia = "here"\n',
            "hosts.pc.via",
            "here is not an SSH host",
        ),
        (
            '[defaults]\nvia = "gw"\n[hosts.gw]\naddress = "10.0.0.1"\n'
            '[hosts.here]\nconnector = "local"\n',
            "defaults.via",
            "only an SSH host is reached through a gateway",
        ),
    ],
)
def test_a_via_that_cannot_be_used_names_file_key_and_why(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    problems = [p for p in _problems(tmp_path, acme=text) if key in p]
    assert problems, _problems(tmp_path, acme=text)
    assert "hosts/acme.toml" in problems[0] and expected in problems[0]


def test_tendr_shell_goes_through_the_gateway_with_both_keys_checked(tmp_path: Path) -> None:
    """ssh is given a ProxyCommand that logs into the gateway strictly (its own key and
    account) and has it connect onwards (-W), and checks the host's key by its pin."""
    hosts = {h.name: h for h in _workspace(tmp_path, acme=ACME).hosts}
    known = tmp_path / "known_hosts"
    argv = ssh_argv(hosts["acme-pc02"], known, Settings())
    assert argv[-2:] == ["--", "192.168.1.11"]
    assert "HostKeyAlias=acme-gw01/192.168.1.11:2200" in argv
    proxy = next(a for a in argv if a.startswith("ProxyCommand="))
    jump = shlex.split(proxy.removeprefix("ProxyCommand="))
    assert jump[-3:] == ["192.168.1.11:2200", "--", "203.0.113.10"]
    assert jump[jump.index("-W") + 1] == "192.168.1.11:2200"
    assert jump[jump.index("-p") + 1] == "2222" and jump[jump.index("-l") + 1] == "tendr"
    assert f"UserKnownHostsFile={known}" in jump and "StrictHostKeyChecking=yes" in jump
    assert "BatchMode=yes" in jump and "-F" in jump


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_hosts_behind_an_unreachable_gateway_say_so_and_the_others_connect(
    tmp_path: Path,
) -> None:
    """The gateway's own error, for each host behind it; a host reached directly is not
    held up by it."""
    port = _closed_port()
    text = (
        f'[hosts.gw]\naddress = "127.0.0.1"\nport = {port}\n'
        '[hosts.pc1]\naddress = "10.0.0.2"\nvia = "gw"\n'
        '[hosts.pc2]\naddress = "10.0.0.3"\nvia = "gw"\n'
    )
    workspace = _workspace(tmp_path, acme=text)
    session = open_session(workspace.hosts, tmp_path / "known_hosts", Settings())
    assert set(session.errors) == {"gw", "pc1", "pc2"}
    assert session.errors["gw"].startswith("cannot connect")
    assert session.errors["pc1"] == f"its gateway gw: {session.errors['gw']}"
    assert session.errors["pc2"] == f"its gateway gw: {session.errors['gw']}"


def test_a_host_naming_itself_as_its_gateway_is_refused(tmp_path: Path) -> None:
    """A typo that would reach the host directly is an error, not a silent direct route."""
    text = '[hosts.pc]\naddress = "192.168.1.10"\nvia = "pc"\n'
    problems = [p for p in _problems(tmp_path, acme=text) if "hosts.pc.via" in p]
    assert problems and "not reached through itself" in problems[0]


def test_onboarding_again_keeps_the_way_in(tmp_path: Path) -> None:
    """Run again without --via, a host behind a gateway is still reached through it (never
    straight to its private address); another gateway is refused."""
    text = (
        '[hosts.acme-gw01]\naddress = "203.0.113.10"\n'
        '[hosts.acme-pc01]\naddress = "192.168.1.10"\nvia = "acme-gw01"\nssh_key = "/k"\n'
    )
    workspace = _workspace(tmp_path, acme=text)
    key = tmp_path / "key"
    again = new_host(workspace, "acme-pc01", "192.168.1.10", 22, "acme", [], key, None)
    assert again.gateway is not None and again.gateway.name == "acme-gw01"
    with pytest.raises(UserError, match="onboarding does not move a host"):
        new_host(workspace, "acme-pc01", "192.168.1.10", 22, "acme", [], key, "acme-pc02")


def test_a_hashed_pin_is_found_under_its_name() -> None:
    name = "acme-gw01/192.168.1.10:22"
    hashed = HostKeys.hash_host(name)
    assert pins_name(f"{hashed} {KEY}", name)
    assert not pins_name(f"{hashed} {KEY}", "beta-gw01/192.168.1.10:22")
    assert pins_name(f"other,{name} {KEY}", name)
    assert not pins_name(f"|1|not base64!|x= {KEY}", name)
