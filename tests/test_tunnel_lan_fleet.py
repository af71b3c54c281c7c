"""A client LAN whose gateway host calls home (issue 32 point 5): the gateway host reaches
the controller, the controller cannot reach it, and tendr plans, applies, reads and
enters the gateway and the host behind it through the gateway's tunnel.

The lan's gateway (tests/fleet/lan.py) reaches this machine at 10.231.0.1; a relay there
(a process of this test) leads to a fleet host playing the controller, whose sshd takes
the tunnel and listens on 127.0.0.1 here. The gateway's own sshd is then moved to its
loopback alone: from here nothing answers at its address.
"""

from __future__ import annotations

import errno
import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tendr.base.keys import parse_key
from tendr.base.settings import Settings
from tendr.gateway.tunnel import tunnel_line
from tendr.ops.shell import ssh_argv
from tendr.workspace.loader import load
from tests.fleet.host import Host
from tests.fleet.lan import GATEWAY_ADDRESS, MACHINE_ADDRESS, Lan
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr
from tests.test_tunnel_fleet import ACCOUNT, _controller, _free_ports, _listening, _wait

pytestmark = pytest.mark.fleet

# A TCP relay, its own process (tendr's gevent is no place for threads): listen on
# argv[1]:argv[2], connect each connection on to argv[3]:argv[4].
RELAY = """
import socket, sys, threading
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
def pipe(a, b):
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
print("ready", flush=True)
while True:
    client, _ = server.accept()
    try:
        upstream = socket.create_connection((sys.argv[3], int(sys.argv[4])))
    except OSError:
        client.close()
        continue
    for a, b in ((client, upstream), (upstream, client)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
"""


@contextmanager
def _relay(listen: tuple[str, int], to: tuple[str, int]) -> Iterator[None]:
    proc = subprocess.Popen(
        [sys.executable, "-c", RELAY, listen[0], str(listen[1]), to[0], str(to[1])],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_lan_behind_nat_is_reached_through_its_gateways_tunnel(
    fleet_lan: Lan, fresh_hosts: Callable[[int], list[Host]], tmp_path: Path
) -> None:
    (controller,) = fresh_hosts(1)
    gw, lan01 = fleet_lan.gateway, fleet_lan.hosts[0]
    relay_port, port = _free_ports(2)
    here = MACHINE_ADDRESS.split("/")[0]
    ws = build_tree(
        tmp_path / "ws",
        {
            "tendr.toml": (
                f'[tunnel]\ncontroller = "{ACCOUNT}@{here}:{relay_port}"\n'
                f'host_key = "{controller.host_key}"\n'
            ),
            "hosts/acme.toml": (
                f'[defaults]\nvia = "lan-gw"\nuser = "root"\nssh_key = "{fleet_lan.key_path}"\n'
                f"health = false\n\n[hosts.lan-gw]\ntunnel = true\ntunnel_port = {port}\n\n"
                f'[hosts.lan-01]\naddress = "{lan01.address}"\nport = {lan01.port}\n'
            ),
            "known_hosts": (
                f"tunnel/lan-gw {gw.host_key}\n"
                f"lan-gw/{lan01.address}:{lan01.port} {lan01.host_key}\n"
            ),
            "rules/roles.toml": ADMIN_RULES,
            "states/one.toml": (
                'hosts = ["lan-01"]\n[[file]]\npath = "/etc/tendr-behind-nat"\n'
                'content = "home\\n"\n'
            ),
        },
    )
    with _relay((here, relay_port), ("127.0.0.1", controller.port)):
        # On site, once: the first-contact script; the key let in at the controller.
        code, script = tendr("hosts", "first-contact", "lan-gw", "-w", str(ws))
        assert code == 0, script
        printed = gw.run("sh", stdin=script, check=True, timeout=120).stdout.splitlines()
        key = parse_key(printed[next(i for i, s in enumerate(printed) if "tunnel's key" in s) + 1])
        _controller(controller, [tunnel_line("lan-gw", port, key)])
        # The router forwards nothing: the gateway's sshd answers on its loopback alone,
        # where the tunnel leads.
        gw.run(
            "printf 'Port 22\\nListenAddress 127.0.0.1\\n' "
            "> /etc/ssh/sshd_config.d/01-tendr-fleet-port.conf && systemctl restart ssh",
            check=True,
        )
        with pytest.raises(OSError) as caught:
            socket.create_connection((GATEWAY_ADDRESS, 22), timeout=5).close()
        assert caught.value.errno == errno.ECONNREFUSED
        _wait(lambda: _listening(port), 60, "the tunnel")

        code, text = tendr("plan", "-w", str(ws))
        assert code == 2 and "/etc/tendr-behind-nat" in text, text
        code, text = tendr("apply", "-w", str(ws), "--yes")
        assert code == 0, text
        # (the fleet's own ssh reaches the LAN through the gateway's address: no more)
        code, text = tendr(
            "run", "-w", str(ws), "-l", "lan-01", "--", "cat", "/etc/tendr-behind-nat"
        )
        assert code == 0 and "home" in text, text
        code, text = tendr("logs", "-w", str(ws), "-l", "lan-01", "--since", "1 hour ago")
        assert code == 0 and "lan-01" in text, text
        code, text = tendr("run", "-w", str(ws), "-l", "all", "--", "hostname")
        assert code == 0 and "lan-gw" in text and "lan-01" in text, text
        target = next(h for h in load(ws).hosts if h.name == "lan-01")
        argv = ssh_argv(target, ws / "known_hosts", Settings())
        shown = subprocess.run([*argv, "hostname"], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and shown.stdout.strip() == "lan-01", shown.stderr

        code, text = tendr("diagnose", "-w", str(ws), "-l", "lan-01", "--format", "json")
        (read,) = json.loads(text)["hosts"]
        assert code in (0, 2) and read["name"] == "lan-01" and read["error"] is None, text
        # A new machine of the LAN is onboarded through the gateway's tunnel.
        lan02 = fleet_lan.hosts[1]
        code, text = tendr(
            "onboard", "lan-02", "-w", str(ws), "--address", lan02.address, "--port",
            str(lan02.port), "--client", "acme", "--via", "lan-gw", "--bootstrap-user", "tech",
            "--bootstrap-key", str(fleet_lan.key_path), "--ssh-key", str(fleet_lan.key_path),
            "--yes",
        )  # fmt: skip
        assert code == 0 and "onboarded: account, key, sudoers, pin, hosts file" in text, text
        assert (
            f"lan-gw/{lan02.address}:{lan02.port} {lan02.host_key}"
            in (ws / "known_hosts").read_text().splitlines()
        )

        # Cut at the controller: the gateway and the LAN behind it are said unreachable
        # for that reason; the tunnel comes back by itself.
        controller.run(f"pkill -KILL -u {ACCOUNT}")
        _wait(lambda: not _listening(port), 30, "the cut")
        code, text = tendr("plan", "-w", str(ws))
        assert code == 1 and "lan-gw's tunnel has not been connected since " in text, text
        assert "lan-01: error: its gateway lan-gw: lan-gw's tunnel has not been" in text, text
        _wait(lambda: _listening(port), 90, "the tunnel back")
        code, text = tendr("plan", "-w", str(ws))
        assert code == 0, text
