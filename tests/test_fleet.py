"""Sanity tests of the test fleet, through pyinfra's API against real hosts."""

from __future__ import annotations

import re
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api.config import Config
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.facts import get_facts
from pyinfra.api.inventory import Inventory
from pyinfra.api.state import State
from pyinfra.facts.server import Command, LinuxDistribution
from pyinfra.facts.systemd import SystemdStatus

from tests.fleet import cgroups, machine
from tests.fleet.fleet import Fleet, fleet_size_from_env
from tests.fleet.host import Host, write_hosts_file

HostData = tuple[str, dict[str, object]]

pytestmark = pytest.mark.fleet


def connect(hosts: list[HostData]) -> State:
    inventory = Inventory((hosts, {}))  # type: ignore[no-untyped-call]
    state = State(inventory, Config())  # type: ignore[no-untyped-call]
    connect_all(state)  # before any operation or fact (pyinfra #1211)
    return state


def facts(state: State, fact: Any, **kwargs: object) -> dict[str, Any]:
    found = get_facts(state, fact, kwargs=kwargs)  # type: ignore[no-untyped-call]
    return {h.name: v for h, v in found.items()}


def test_facts_from_every_host(fleet: Fleet) -> None:
    state = connect([h.pyinfra_host() for h in fleet.hosts])
    try:
        assert {h.name for h in state.activated_hosts} == {h.name for h in fleet.hosts}
        for name, dist in facts(state, LinuxDistribution).items():
            assert dist["release_meta"]["ID"] == "debian", name
            assert dist["major"] == 12, name
        for name, units in facts(state, SystemdStatus).items():
            assert units.get("ssh.service") is True, name
        hostnames = facts(state, Command, command="hostname")
        assert hostnames == {h.name: h.name for h in fleet.hosts}
        ids = facts(state, Command, command="cat /etc/machine-id")
        assert len(set(ids.values())) == len(fleet.hosts)
    finally:
        disconnect_all(state)


def test_sudo_as_tech(fleet: Fleet) -> None:
    name, data = fleet.hosts[0].pyinfra_host(user="tech")
    state = connect([(name, {**data, "_sudo": True}), fleet.hosts[-1].pyinfra_host("tech")])
    try:
        ids = facts(state, Command, command="id -un")
        assert ids == {name: "root", fleet.hosts[-1].name: "tech"}
    finally:
        disconnect_all(state)


def _other_key(tmp_path: Path) -> str:
    key = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    kind, blob, *_ = Path(f"{key}.pub").read_text().split()
    return f"{kind} {blob}"


def test_changed_host_key_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    bad, good = fleet.hosts[0], fleet.hosts[-1]
    known = tmp_path / "known_hosts"
    known.write_text(
        f"[{bad.address}]:{bad.port} {_other_key(tmp_path)}\n{good.known_hosts_entry}\n"
    )
    state = connect([bad.pyinfra_host(known_hosts=known), good.pyinfra_host(known_hosts=known)])
    try:
        assert [h.name for h in state.failed_hosts] == [bad.name]
        assert [h.name for h in state.activated_hosts] == [good.name]
    finally:
        disconnect_all(state)
    # OpenSSH, as the harness uses it, refuses too
    result = subprocess.run(
        [*bad.ssh_argv(known_hosts=known), "true"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in result.stderr


def test_unknown_host_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    host = fleet.hosts[0]
    with pytest.raises(Exception, match="No hosts remaining"):
        connect([host.pyinfra_host(known_hosts=empty)])
    assert empty.read_text() == ""  # nothing was accepted and written


def test_sshd_config(fleet: Fleet) -> None:
    out = fleet.hosts[0].run(["sshd", "-T"], check=True).stdout
    settings = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert settings["loglevel"] == "VERBOSE"
    assert settings["passwordauthentication"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"
    assert settings["permitrootlogin"] == "without-password"


def test_only_sshd_listens_on_tcp(fleet: Fleet) -> None:
    for host in fleet.hosts:  # start cupsd (socket-activated) so a TCP port would show
        host.run("lpstat -r", check=True)
    pids: dict[int, Host] = {}
    for host in fleet.hosts:
        for group in cgroups.host_groups(host.name):
            pids.update(dict.fromkeys(cgroups.pids_in(group), host))
    listeners = subprocess.run(
        ["ss", "-Htulnp"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    seen = set()
    for line in listeners:
        for proc, pid in re.findall(r'\("([^"]+)",pid=(\d+)', line):
            owner = pids.get(int(pid))
            if owner is None:
                continue
            assert proc == "sshd" and f"127.0.0.1:{owner.port} " in line, line
            seen.add(owner.name)
    assert seen == {h.name for h in fleet.hosts}


def test_workspace_files(fleet: Fleet, tmp_path: Path) -> None:
    hosts_file = write_hosts_file(tmp_path, fleet.hosts[:2], client="acme", user="tech")
    assert hosts_file == tmp_path / "hosts" / "acme.toml"
    data = tomllib.loads(hosts_file.read_text())
    assert data["defaults"] == {
        "connector": "ssh",
        "user": "tech",
        "ssh_key": str(fleet.key_path.resolve()),
        "health": False,  # a test sees only the work it declares
    }
    first = fleet.hosts[0]
    assert data["hosts"][first.name] == {
        "address": "127.0.0.1",
        "port": first.port,
        "groups": ["acme"],
    }
    assert len(data["hosts"]) == 2
    assert tomllib.loads((tmp_path / "tendr.toml").read_text()) == {"known_hosts": "known_hosts"}
    lines = (tmp_path / "known_hosts").read_text().splitlines()
    assert lines[0] == f"[127.0.0.1]:{first.port} {first.host_key}"
    assert first.host_key.startswith("ssh-ed25519 AAAA")


def test_reset_restores_a_changed_host(
    fleet: Fleet, fresh_host: Host, record_property: Any
) -> None:
    assert fresh_host.run("test -e /root/marker").returncode == 1
    fresh_host.run(
        "echo changed > /root/marker && apt-get install -y -q hello && systemctl stop cron",
        check=True,
        timeout=60,
    )
    assert fresh_host.run("hello", check=True).stdout.strip() == "Hello, world!"
    start = time.monotonic()
    fleet.reset(fresh_host)
    record_property("reset_seconds", round(time.monotonic() - start, 2))
    check = fresh_host.run(
        "test -e /root/marker || command -v hello || systemctl is-active cron", check=False
    )
    assert check.stdout.strip() == "active"


def test_fresh_hosts_differ_and_are_clean(fresh_hosts: Any) -> None:
    a, b = fresh_hosts(2)
    assert a.name != b.name
    for host in (a, b):
        assert host.run("test -e /root/marker").returncode == 1
        assert host.run("systemctl is-system-running --wait", timeout=60).stdout.strip() in (
            "running",
            "degraded",
        )


def test_down_leaves_nothing_behind(fleet: Fleet) -> None:
    """Also after a crash: systemd-nspawn killed, its containers running on. Only what this
    fleet started is looked at: other containers on the machine are none of its business."""
    fleet.settle()  # no background reset racing with the "crash"
    victim = fleet.hosts[0]
    names = {h.name for h in fleet.hosts}
    started = {
        (pid, _start_time(pid))
        for name in names
        for group in cgroups.host_groups(name)
        for pid in cgroups.pids_in(group)
    }
    nspawn = [
        pid
        for pid in cgroups.pids_in(cgroups.host_groups(victim.name)[0])
        if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd-nspawn"
    ]
    assert nspawn
    subprocess.run(["kill", "-KILL", *map(str, nspawn)], check=True)
    time.sleep(0.2)
    assert machine.answers_ssh(victim)  # the container outlived its systemd-nspawn

    Fleet(state_dir=fleet.state_dir).down()  # a new run, knowing no PIDs
    for name in names:
        for group in cgroups.host_groups(name):
            assert not group.exists()
    assert not [p for p in machine.overlay_mounts() if p.is_relative_to(fleet.state_dir)]
    assert not cgroups.stale_hosts() & names
    # A PID reused since by someone else's process has another start time.
    assert not [pid for pid, since in started if _start_time(pid) == since]
    assert not machine.answers_ssh(victim)

    fleet.up(fleet_size_from_env())  # later tests get their fleet back


def _start_time(pid: int) -> str | None:
    """When process `pid` started (field 22 of /proc/PID/stat), or None once it is gone or
    only a zombie waiting for its parent to read its status."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # from field 3, the state, on
    return None if fields[0] == "Z" else fields[19]
