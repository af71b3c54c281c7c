"""Hosts that call home (issue 32), on real sshd: what a tunnel key may do at the
controller (listen on its own loopback port, nothing else), and a host reached, planned,
applied, read and entered through its tunnel alone, which comes back by itself when cut.

The fleet shares this machine's network: a fleet host plays the controller (its sshd
takes the tunnel account's logins, its forward listens on 127.0.0.1 here), another the
client's gateway host, whose hosts file entry has no address at all.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tendr.base.keys import parse_key
from tendr.base.settings import Settings, Tunnel
from tendr.gateway.tunnel import tunnel_line
from tendr.ops.shell import ssh_argv
from tendr.workspace import baseline
from tendr.workspace.loader import load
from tests.fleet.host import Host
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

ACCOUNT = "tendr-tunnel"


def _free_ports(n: int) -> list[int]:
    """Loopback ports nothing here listens on, in the tunnels' range."""
    found: list[int] = []
    while len(found) < n:
        port = 20000 + secrets.randbelow(9000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in found:
            found.append(port)
    return found


def _controller(controller: Host, lines: list[str]) -> None:
    """The tunnel account on `controller` as `tendr gateway tunnel-allow` leaves it:
    home, .ssh and authorized_keys root's, a shell that logs nobody in."""
    script = (
        f"id {ACCOUNT} >/dev/null 2>&1 || useradd --system --user-group --no-create-home "
        f"--home-dir /var/lib/{ACCOUNT} --shell /usr/sbin/nologin {ACCOUNT} && "
        f"usermod --password '*' {ACCOUNT} && "
        f"install -d -o root -g root -m 0755 /var/lib/{ACCOUNT} /var/lib/{ACCOUNT}/.ssh && "
        f"cat > /var/lib/{ACCOUNT}/.ssh/authorized_keys && "
        f"chmod 0644 /var/lib/{ACCOUNT}/.ssh/authorized_keys"
    )
    controller.run(script, check=True, stdin="".join(f"{line}\n" for line in lines))


def _ssh_as_tunnel(controller: Host, key: str, *args: str, command: str = "") -> str:
    """ssh from the controller host to its own sshd as the tunnel account with `key`."""
    return " ".join(
        [
            "ssh -F none -o BatchMode=yes -o StrictHostKeyChecking=no",
            "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentitiesOnly=yes",
            f"-o ConnectTimeout=10 -i {key} -p {controller.port} -l {ACCOUNT}",
            *args,
            "127.0.0.1",
            command,
        ]
    )


def _banner(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        return conn.recv(64)


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s")
        time.sleep(1)


def _listening(port: int) -> bool:
    try:
        return _banner(port).startswith(b"SSH-2.0")
    except OSError:
        return False


def test_a_tunnel_key_listens_on_its_own_port_and_does_nothing_else(
    fresh_hosts: Callable[[int], list[Host]],
) -> None:
    (controller,) = fresh_hosts(1)
    mine, theirs = _free_ports(2)
    controller.run(
        "for k in mine theirs; do ssh-keygen -q -t ed25519 -N '' -f /root/$k; done", check=True
    )
    keys = {
        k: parse_key(controller.run(f"cat /root/{k}.pub", check=True).stdout)
        for k in ("mine", "theirs")
    }
    _controller(
        controller,
        [
            tunnel_line("acme-gw01", mine, keys["mine"]),
            tunnel_line("other-gw01", theirs, keys["theirs"]),
        ],
    )
    ssh = _ssh_as_tunnel  # from the controller host to its own sshd
    forward = "-o ExitOnForwardFailure=yes -N"

    # Its own port: the forward comes up (ssh -f goes to the background only then).
    up = controller.run(
        ssh(controller, "/root/mine", forward, "-f -o ControlMaster=yes -o ControlPath=/root/cm",
            f"-R 127.0.0.1:{mine}:127.0.0.1:{controller.port}")
        + " </dev/null >/dev/null 2>/root/up.err || { cat /root/up.err >&2; false; }",
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    try:
        assert _banner(mine).startswith(b"SSH-2.0")  # this machine reaches the sshd behind
    finally:
        controller.run("ssh -o ControlPath=/root/cm -O exit x")

    refused = {
        "another host's port": f"{forward} -R 127.0.0.1:{theirs}:127.0.0.1:22",
        "its port on every address": f"{forward} -R 0.0.0.0:{mine}:127.0.0.1:22",
        "a connection elsewhere": f"-W 127.0.0.1:{controller.port}",
    }
    for what, args in refused.items():
        result = controller.run(f"timeout 20 {ssh(controller, '/root/mine', args)}")
        assert result.returncode == 255, (what, result.returncode, result.stderr)
    assert not _listening(theirs)
    # A command, a shell: nothing runs (the line's /bin/false, under a shell that logs
    # nobody in).
    marker = secrets.token_hex(4)
    command = controller.run(
        f"timeout 20 {ssh(controller, '/root/mine', command=f'echo {marker}')}"
    )
    assert command.returncode != 0 and marker not in command.stdout
    shell = controller.run(
        f"timeout 20 {ssh(controller, '/root/mine', '-tt')}", stdin=f"echo {marker}\nexit\n"
    )
    assert shell.returncode != 0 and marker not in shell.stdout.replace(f"echo {marker}", "")
    # The other host's key has its own port, and only that one.
    into_mine = f"-R 127.0.0.1:{mine}:127.0.0.1:22"
    other = controller.run(f"timeout 20 {ssh(controller, '/root/theirs', forward, into_mine)}")
    assert other.returncode == 255, other.stderr


def test_a_host_is_reached_through_its_tunnel_alone(
    fresh_hosts: Callable[[int], list[Host]], tmp_path: Path
) -> None:
    controller, gw = fresh_hosts(2)
    (port,) = _free_ports(1)
    tunnel = Tunnel(
        controller=f"{ACCOUNT}@127.0.0.1:{controller.port}", host_key=controller.host_key
    )
    ws = build_tree(
        tmp_path / "ws",
        {
            "tendr.toml": (
                f'[tunnel]\ncontroller = "{tunnel.controller}"\nhost_key = "{tunnel.host_key}"\n'
            ),
            "hosts/acme.toml": (
                f'[hosts.{gw.name}]\nuser = "root"\nport = {gw.port}\nssh_key = "{gw.key_path}"\n'
                f"health = false\ntunnel = true\ntunnel_port = {port}\n"
            ),
            "known_hosts": f"tunnel/{gw.name} {gw.host_key}\n",
            "rules/roles.toml": ADMIN_RULES,
            "states/one.toml": (
                f'hosts = ["{gw.name}"]\n[[file]]\npath = "/etc/tendr-through"\n'
                'content = "through\\n"\n'
            ),
        },
    )
    # First contact (issue 32 point 4): the script tendr prints, run once as root on the
    # host, installs and starts the tunnel and prints its key and the host's fingerprints.
    code, script = tendr("hosts", "first-contact", gw.name, "-w", str(ws))
    assert code == 0, script
    printed = gw.run("sh", stdin=script, check=True, timeout=120).stdout.splitlines()
    key = parse_key(printed[printed.index(next(s for s in printed if "tunnel's key" in s)) + 1])
    assert any(parse_key(gw.host_key).fingerprint in line for line in printed), printed
    assert gw.run(f"stat -c %a {baseline.TUNNEL_KEY}", check=True).stdout.strip() == "600"
    # The key was made on the host; its public half is let in at the controller.
    _controller(controller, [tunnel_line(gw.name, port, key)])
    _wait(lambda: _listening(port), 60, "the tunnel")

    # The key offered through the tunnel is the one pinned by the host's name.
    code, text = tendr("hosts", "pin", gw.name, "-w", str(ws), "--yes")
    assert code == 0 and "the key offered is the one pinned" in text, text

    # The tunnel as tendr's baseline has it: no drift there; the state's file to write.
    code, text = tendr("plan", "-w", str(ws))
    assert code == 2, text
    assert baseline.TUNNEL_UNIT not in text and "/etc/tendr-through" in text, text
    code, text = tendr("apply", "-w", str(ws), "--yes")
    assert code == 0, text
    assert gw.run("cat /etc/tendr-through", check=True).stdout == "through\n"
    code, text = tendr("run", "-w", str(ws), "-l", gw.name, "--", "hostname")
    assert code == 0 and gw.name in text, text
    code, text = tendr("logs", "-w", str(ws), "-l", gw.name, "--since", "1 hour ago")
    assert code == 0, text
    argv = ssh_argv(load(ws).hosts[0], ws / "known_hosts", Settings())
    shown = subprocess.run([*argv, "hostname"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and shown.stdout.strip() == gw.name, shown.stderr

    # Cut at the controller: the host calls again by itself.
    controller.run(f"pkill -KILL -u {ACCOUNT}")
    _wait(lambda: not _listening(port), 30, "the cut")
    code, text = tendr("plan", "-w", str(ws))
    assert code == 1 and f"{gw.name}'s tunnel has not been connected since " in text, text
    _wait(lambda: _listening(port), 90, "the tunnel back")
    code, text = tendr("plan", "-w", str(ws))
    assert code == 0, text
