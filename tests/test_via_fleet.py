"""Hosts on a client's LAN that only the client's gateway reaches: onboarded, planned,
applied, read and entered through it, with both host keys checked, over one
connection to the gateway however many hosts are behind it."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tendr.base.settings import Settings
from tendr.ops.shell import ssh_argv
from tendr.workspace.hosts import key_name
from tendr.workspace.loader import load
from tests.fleet.host import Host
from tests.fleet.lan import Lan
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet


ONE = 'hosts = ["all"]\n[[file]]\npath = "/etc/tendr-via"\ncontent = "one\\n"\n'
# Different work on each host behind the gateway.
APART = {
    "states/lan-01.toml": ONE.replace('["all"]', '["lan-01"]'),
    "states/lan-02.toml": (
        'hosts = ["lan-02"]\n[[file]]\npath = "/etc/tendr-via"\ncontent = "two\\n"\n'
        '[[file]]\npath = "/etc/tendr-via-two"\ncontent = "2\\n"\n'
    ),
}


def _workspace(
    root: Path, lan: Lan, states: dict[str, str], hosts: str = "", known: str = ""
) -> Path:
    """The gateway (pinned, root), plus `hosts` entries, `known` pins and `states`."""
    gateway = lan.gateway
    return build_tree(
        root,
        {
            "hosts/acme.toml": (
                "[defaults]\nhealth = false\n"
                f'ssh_key = "{lan.key_path}"\n\n'
                f'[hosts.lan-gw]\naddress = "{gateway.address}"\nuser = "root"\n{hosts}'
            ),
            "known_hosts": f"{gateway.known_hosts_entry}\n{known}",
            "rules/roles.toml": ADMIN_RULES,
            **states,
        },
    )


def _logins(gateway: Host) -> int:
    """SSH logins the gateway's sshd accepted so far, this count's own included."""
    journal = gateway.run("journalctl -q -o cat _COMM=sshd-session _COMM=sshd", check=True)
    return journal.stdout.count("Accepted publickey")


def test_a_lan_host_is_onboarded_planned_and_applied_through_the_gateway(
    fleet_lan: Lan, tmp_path: Path
) -> None:
    lan01 = fleet_lan.hosts[0]
    ws = _workspace(tmp_path / "ws", fleet_lan, {"states/one.toml": ONE})
    with pytest.raises(OSError):  # this machine cannot reach the LAN
        socket.create_connection((lan01.address, lan01.port), timeout=5).close()

    code, text = tendr(
        "onboard", "lan-01", "-w", str(ws), "--address", lan01.address, "--port",
        str(lan01.port), "--client", "acme", "--via", "lan-gw", "--bootstrap-user", "tech",
        "--bootstrap-key", str(fleet_lan.key_path), "--ssh-key", str(fleet_lan.key_path),
        "--yes",
    )  # fmt: skip
    assert code == 0, text
    assert f"lan-01 ({lan01.address} port {lan01.port} (through lan-gw)) offers" in text
    assert "onboarded: account, key, sudoers, pin, hosts file" in text
    assert "+ file.write" in text and "/etc/tendr-via" in text  # its plan, through the gateway
    # Pinned under the gateway's name: another client's LAN may use the same address.
    pins = (ws / "known_hosts").read_text().splitlines()
    assert f"lan-gw/{lan01.address}:{lan01.port} {lan01.host_key}" in pins
    assert 'via = "lan-gw"' in (ws / "hosts/acme.toml").read_text()

    assert tendr("approve", "-w", str(ws), "lan-01")[0] == 0
    code, text = tendr("apply", "-w", str(ws), "--yes", "-l", "lan-01")
    assert code == 0, text  # as the service account, through the gateway
    assert lan01.run("cat /etc/tendr-via", check=True).stdout == "one\n"
    assert tendr("plan", "-w", str(ws), "-l", "lan-01")[0] == 0  # no drift left

    # A second onboard changes nothing.
    code, text = tendr(
        "onboard", "lan-01", "-w", str(ws), "--address", lan01.address, "--port",
        str(lan01.port), "--client", "acme", "--via", "lan-gw", "--bootstrap-user", "tech",
        "--bootstrap-key", str(fleet_lan.key_path), "--ssh-key", str(fleet_lan.key_path),
    )  # fmt: skip
    assert code == 0 and "already onboarded: nothing changed" in text, text

    # Without the gateway the host cannot be reached at all.
    hosts = ws / "hosts/acme.toml"
    hosts.write_text(hosts.read_text().replace('via = "lan-gw"\n', ""))
    code, text = tendr("plan", "-w", str(ws), "-l", "lan-01")
    assert code == 1 and "lan-01: error: cannot connect" in text, text


def test_the_hosts_behind_one_gateway_share_one_connection_to_it(
    fleet_lan: Lan, tmp_path: Path
) -> None:
    lan01, lan02 = fleet_lan.hosts
    entries = "".join(
        f'\n[hosts.{h.name}]\naddress = "{h.address}"\nport = {h.port}\nuser = "root"\n'
        'via = "lan-gw"\n'
        for h in (lan01, lan02)
    )
    entries += f'\n[hosts.lan-ghost]\naddress = "{lan01.address}"\nport = 2299\nvia = "lan-gw"\n'
    pins = "".join(f"lan-gw/{h.address}:{h.port} {h.host_key}\n" for h in (lan01, lan02))
    ws = _workspace(tmp_path / "ws", fleet_lan, APART, entries, pins)
    for host in (lan01, lan02):
        host.run("rm -f /etc/tendr-via /etc/tendr-via-two", check=True)

    before = _logins(fleet_lan.gateway)
    code, text = tendr("plan", "-w", str(ws), "-l", "lan-01", "-l", "lan-02", "-l", "lan-ghost")
    assert code == 1, text  # drift on two, one unreachable
    assert _logins(fleet_lan.gateway) == before + 2  # tendr's one, and the count's
    assert "lan-ghost: error: cannot connect: lan-gw cannot reach 10.231.1.2 port 2299" in text
    assert text.count("+ file.write") == 3  # lan-01's one file, lan-02's two

    code, text = tendr("apply", "-w", str(ws), "--yes", "-l", "lan-01", "-l", "lan-02")
    assert code == 0, text
    assert lan01.run("cat /etc/tendr-via", check=True).stdout == "one\n"
    assert lan02.run("cat /etc/tendr-via /etc/tendr-via-two", check=True).stdout == "two\n2\n"
    assert lan01.run("test -e /etc/tendr-via-two").returncode == 1

    # Reading a host's journal and running a command go through the gateway too.
    code, text = tendr("logs", "-w", str(ws), "-l", "lan-02", "--since", "1 hour ago")
    assert code == 0 and "lan-02" in text and "lan-01" not in text, text
    code, text = tendr("run", "-w", str(ws), "-l", "lan-02", "--", "hostname")
    assert code == 0 and "lan-02" in text, text

    # tendr shell's ssh: through the gateway by ProxyCommand, the host's key checked by
    # its pin under the gateway's name.
    workspace = load(ws)
    target = next(h for h in workspace.hosts if h.name == "lan-01")
    assert key_name(target) == f"lan-gw/{lan01.address}:{lan01.port}"
    argv = ssh_argv(target, ws / "known_hosts", Settings())
    shown = subprocess.run(
        [*argv, "hostname"], capture_output=True, text=True, timeout=60, check=False
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "lan-01"
    # A wrong pin for the LAN host: ssh refuses it.
    (ws / "known_hosts").write_text(
        (ws / "known_hosts").read_text().replace(lan01.host_key, lan02.host_key, 1)
    )
    refused = subprocess.run(
        [*argv, "hostname"], capture_output=True, text=True, timeout=60, check=False
    )
    assert refused.returncode != 0 and "lan-01" not in refused.stdout
