"""Hosts that call home (issue 32): the controller's key line for a tunnel key, the port
each host keeps in its hosts file, the tunnel as the host's desired state, and how tendr
reaches such a host (127.0.0.1 at its port, its key pinned by its name)."""

from __future__ import annotations

import json
import pwd
import shutil
import socket
import sqlite3
import stat
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from tendr.base.errors import WorkspaceError
from tendr.base.keys import parse_key
from tendr.base.settings import Settings
from tendr.core.history import SCHEMA as HISTORY_SCHEMA
from tendr.gateway.setup import GatewayError
from tendr.gateway.tunnel import parse_tunnel_line, tunnel_line
from tendr.kinds.file import FileSpec
from tendr.kinds.service import ServiceSpec
from tendr.ops import engine
from tendr.ops.shell import ssh_argv
from tendr.remote.connect import host_data, open_session
from tendr.workspace import baseline
from tendr.workspace.hosts import key_name, route
from tendr.workspace.loader import load
from tests.helpers import ADMIN_RULES, build_tree, needs_root, run_tendr

KEY = parse_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ")
CONTROLLER_KEY = KEY.line
TUNNEL = f'[tunnel]\ncontroller = "tendr-tunnel@ctl.example.net:2222"\nhost_key = "{KEY.line}"\n'
HOSTS = """\
[defaults]
via = "acme-gw01"

[hosts.acme-gw01]
tunnel = true
tunnel_port = 20001

[hosts.acme-fs01]
address = "192.168.1.10"
"""


def _workspace(tmp_path: Path, hosts: str = HOSTS, settings: str = TUNNEL) -> Path:
    return build_tree(
        tmp_path / "ws",
        {
            "hosts/acme.toml": hosts,
            "tendr.toml": settings,
            "known_hosts": "",
            "rules/roles.toml": ADMIN_RULES,
        },
    )


def _problems(root: Path) -> str:
    with pytest.raises(WorkspaceError) as caught:
        load(root)
    return "\n".join(str(p) for p in caught.value.problems)


def test_a_tunnel_key_may_listen_on_its_own_loopback_port_and_nothing_else() -> None:
    line = tunnel_line("acme-gw01", 20001, KEY)
    options, kind, blob, comment = line.split(" ")
    assert options == (
        'restrict,port-forwarding,permitlisten="127.0.0.1:20001",'
        'permitopen="127.0.0.1:20001",command="/bin/false"'
    )
    assert (kind, blob, comment) == (KEY.type, KEY.blob, "tendr-tunnel:acme-gw01")
    assert parse_tunnel_line(line) == ("acme-gw01", 20001, KEY)
    # Any other line is none of tendr's: the account refuses it.
    assert parse_tunnel_line(line.replace("restrict,", "")) is None
    assert (
        parse_tunnel_line(line.replace('permitopen="127.0.0.1:20001"', 'permitopen="*:*"')) is None
    )
    assert parse_tunnel_line(line.replace("20001", "20002", 1)) is None  # two ports
    for host, port in (("a b", 20001), ('x"', 20001), ("acme-gw01", 22), ("acme-gw01", 70000)):
        with pytest.raises(GatewayError):
            tunnel_line(host, port, KEY)


def test_a_host_that_calls_home_is_reached_at_its_port_pinned_by_its_name(tmp_path: Path) -> None:
    workspace = load(_workspace(tmp_path))
    hosts = {h.name: h for h in workspace.hosts}
    gw, fs = hosts["acme-gw01"], hosts["acme-fs01"]
    assert gw.tunnel_port == 20001 and gw.address is None and gw.via is None
    assert key_name(gw) == "tunnel/acme-gw01"
    assert route(gw) == "127.0.0.1 port 20001 (acme-gw01's tunnel)"
    assert fs.gateway == gw and key_name(fs) == "acme-gw01/192.168.1.10:22"

    settings = workspace.settings
    data = host_data(gw, tmp_path / "known_hosts", settings)
    assert (data["ssh_hostname"], data["ssh_port"]) == ("127.0.0.1", 20001)
    argv = ssh_argv(gw, tmp_path / "known_hosts", settings)
    assert argv[-2:] == ["--", "127.0.0.1"]
    assert "HostKeyAlias=tunnel/acme-gw01" in argv and argv[argv.index("-p") + 1] == "20001"
    # Behind it: ssh through the gateway's tunnel, the LAN host pinned as before.
    proxy = next(a for a in ssh_argv(fs, tmp_path / "kh", settings) if a.startswith("Proxy"))
    assert "-p 20001" in proxy and "HostKeyAlias=tunnel/acme-gw01" in proxy
    assert proxy.endswith("-- 127.0.0.1")


def test_the_tunnel_is_the_hosts_desired_state(tmp_path: Path) -> None:
    workspace = load(_workspace(tmp_path))
    gw = next(h for h in workspace.hosts if h.name == "acme-gw01")
    desired = {(d.spec.kind, d.spec.key): d.spec for d in workspace.desired(gw)}
    pinned = desired[("file", baseline.TUNNEL_KNOWN_HOSTS)]
    service = desired[("service", baseline.TUNNEL_UNIT)]
    assert isinstance(pinned, FileSpec) and isinstance(service, ServiceSpec)
    assert pinned.content == f"tendr-controller {CONTROLLER_KEY}\n"
    unit = service.content or ""
    assert "-R 127.0.0.1:20001:localhost:22" in unit
    assert "-p 2222 -l tendr-tunnel -- ctl.example.net" in unit
    for option in ("StrictHostKeyChecking=yes", "ExitOnForwardFailure=yes", "ServerAlive"):
        assert option in unit
    assert "Restart=always" in unit and "StartLimitIntervalSec=0" in unit
    # The key is made on the host, by the service, once: it never leaves the host.
    assert f"test -e {baseline.TUNNEL_KEY} || exec /usr/bin/ssh-keygen" in unit
    # A host behind it, or with its health check off, keeps no tunnel of its own.
    fs = next(h for h in workspace.hosts if h.name == "acme-fs01")
    assert ("service", baseline.TUNNEL_UNIT) not in {
        (d.spec.kind, d.spec.key) for d in workspace.desired(fs)
    }
    off = load(
        _workspace(
            tmp_path / "off", HOSTS.replace("tunnel = true", "tunnel = true\nhealth = false")
        )
    )
    gw = next(h for h in off.hosts if h.name == "acme-gw01")
    assert [d.spec.key for d in off.desired(gw)] == [
        baseline.TUNNEL_KNOWN_HOSTS,
        baseline.TUNNEL_UNIT,
    ]


def test_a_tunnel_needs_its_port_the_controller_and_no_via(tmp_path: Path) -> None:
    unported = HOSTS.replace("tunnel_port = 20001\n", "")
    assert "add tunnel_port = 20000 (the first free one)" in _problems(
        _workspace(tmp_path / "a", unported)
    )
    taken = unported + '\n[hosts.old]\naddress = "192.0.2.9"\ntunnel_port = 20000\n'
    assert "add tunnel_port = 20001" in _problems(_workspace(tmp_path / "b", taken))
    twice = HOSTS + '\n[hosts.acme-gw02]\ntunnel = true\ntunnel_port = 20001\nvia = "acme-gw01"\n'
    found = _problems(_workspace(tmp_path / "c", twice))
    assert "port 20001 is acme-gw01's tunnel port: one port per host" in found
    assert "reached through its own tunnel, not via acme-gw01" in found
    assert "tendr.toml has no [tunnel]" in _problems(_workspace(tmp_path / "d", settings=""))
    # An address is not needed (nothing connects to it); still one without a tunnel.
    assert "an ssh host needs an address" in _problems(
        _workspace(tmp_path / "e", HOSTS.replace("tunnel = true\n", ""))
    )
    with pytest.raises(ValueError):
        Settings.model_validate({"tunnel": {"controller": "t@c:99999", "host_key": KEY.line}})


def test_a_tunnel_not_connected_is_said_so(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = _workspace(tmp_path, HOSTS.replace("20001", str(port)))
    workspace = load(root)
    session = open_session(workspace.hosts, root / "known_hosts", Settings(connect_timeout=2))
    why = session.errors["acme-gw01"]
    assert why.startswith(
        f"acme-gw01's tunnel is not connected: nothing listens on 127.0.0.1 port {port}"
    )
    assert session.codes["acme-gw01"] == "host.unreachable"
    assert "acme-fs01" in session.errors  # behind it: unreachable too


OTHER = parse_key(
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHmA0JI4nhJysx4ZyP9x+y/+OKIepJNnR0zr61ohdhxa"
)


@needs_root  # writes root's files
def test_tunnel_allow_writes_one_line_per_host_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tendr.gateway import tunnel

    home = tmp_path / "home"
    account = pwd.struct_passwd(("tendr-tunnel", "*", 990, 990, "", str(home), "/usr/sbin/nologin"))
    monkeypatch.setattr(tunnel, "_account", lambda _: account)
    two = HOSTS.replace('[defaults]\nvia = "acme-gw01"\n', "").replace(
        '"192.168.1.10"\n', '"192.168.1.10"\nvia = "acme-gw01"\n'
    )
    root = _workspace(tmp_path, two + "\n[hosts.acme-gw02]\ntunnel = true\ntunnel_port = 20002\n")
    (tmp_path / "k.pub").write_text(f"{KEY.line} made-on-the-host\n")
    (tmp_path / "o.pub").write_text(f"{OTHER.line}\n")
    keys = home / ".ssh" / "authorized_keys"

    said = tunnel.allow_tunnel(root, "acme-gw01", tmp_path / "k.pub")
    assert "listen on 127.0.0.1:20001 and do nothing else" in said
    assert keys.read_text() == tunnel_line("acme-gw01", 20001, KEY) + "\n"
    for path, mode in ((home, 0o755), (home / ".ssh", 0o755), (keys, 0o644)):
        info = path.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, mode)  # root's: fixed
    # One key, one host; a host's new key replaces its old line.
    with pytest.raises(GatewayError, match="is acme-gw01's tunnel key"):
        tunnel.allow_tunnel(root, "acme-gw02", tmp_path / "k.pub")
    tunnel.allow_tunnel(root, "acme-gw02", tmp_path / "o.pub")
    assert [line.rsplit(":", 1)[1] for line in keys.read_text().splitlines()] == [
        "acme-gw01",
        "acme-gw02",
    ]
    # Not a host with tunnel = true; a line tendr did not write; a link for .ssh.
    with pytest.raises(GatewayError, match="no host of"):
        tunnel.allow_tunnel(root, "acme-fs01", tmp_path / "k.pub")
    keys.write_text(keys.read_text() + f"{KEY.line} someone\n")
    with pytest.raises(GatewayError, match="line 3 is no tunnel line"):
        tunnel.allow_tunnel(root, "acme-gw01", tmp_path / "k.pub")
    (home / ".ssh").rename(home / "elsewhere")
    (home / ".ssh").symlink_to(home / "elsewhere")
    with pytest.raises(GatewayError, match="symbolic link"):
        tunnel.allow_tunnel(root, "acme-gw01", tmp_path / "k.pub")


def test_first_contact_is_a_script_that_installs_the_tunnel_as_the_baseline_has_it(
    tmp_path: Path,
) -> None:
    root = _workspace(tmp_path)
    code, text = run_tendr("hosts", "first-contact", "acme-gw01", "-w", str(root))
    assert code == 0, text
    assert text.startswith("#!/bin/sh\n") and "set -eu" in text
    workspace = load(root)
    gw = next(h for h in workspace.hosts if h.name == "acme-gw01")
    for spec in baseline.tunnel_resources(gw, workspace.settings.tunnel):
        content = spec.content if isinstance(spec, FileSpec | ServiceSpec) else None
        assert f"<<'TENDR_END'\n{content}TENDR_END\n" in text  # quoted: nothing expanded
    assert "tendr gateway tunnel-allow acme-gw01" in text and "ssh-keygen -l -f" in text
    assert subprocess.run(["sh", "-n"], input=text, text=True).returncode == 0
    if shutil.which("shellcheck"):
        checked = subprocess.run(
            ["shellcheck", "-s", "sh", "-"], input=text, capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout
    code, text = run_tendr("hosts", "first-contact", "acme-fs01", "-w", str(root))
    assert code == 1 and "no host with tunnel = true" in text


def test_a_tunnel_down_says_since_when_tendr_last_reached_the_host(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = _workspace(tmp_path, HOSTS.replace("20001", str(port)))
    workspace = load(root)
    session = engine.connect(workspace, workspace.hosts)
    assert session.errors["acme-gw01"].startswith(
        "acme-gw01's tunnel is not connected (tendr never reached the host through it)"
    )
    history = workspace.path(workspace.settings.history)
    history.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(history)) as db, db:
        db.executescript(HISTORY_SCHEMA)
        for when, status in (
            ("2026-12-04T08:15:00+00:00", "in_sync"),
            ("2026-12-04T09:00:00+00:00", "error"),  # not reached then
            ("2026-12-03T10:00:00+00:00", "drift"),
        ):
            db.execute(
                "INSERT INTO runs (time, person, host, status) VALUES (?, 'me', 'acme-gw01', ?)",
                (when, status),
            )
    session = engine.connect(workspace, workspace.hosts)
    since = "acme-gw01's tunnel has not been connected since 2026-12-04 08:15 UTC: nothing"
    assert session.errors["acme-gw01"].startswith(since)
    assert session.errors["acme-fs01"].startswith(f"its gateway acme-gw01: {since}")


def test_watch_opens_a_tunnel_down_as_the_hosts_critical_problem(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = _workspace(tmp_path, HOSTS.replace("20001", str(port)))
    code, text = run_tendr("watch", "-w", str(root))
    assert "opened   acme-gw01 host: acme-gw01 cannot be reached" in text, text
    code, text = run_tendr("status", "-w", str(root), "--format", "json")
    hosts = {h["name"]: h for c in json.loads(text)["clients"] for h in c["hosts"]}
    (problem,) = hosts["acme-gw01"]["problems"]
    assert problem["severity"] == "critical"
    assert problem["cause"].startswith("acme-gw01's tunnel is not connected")
