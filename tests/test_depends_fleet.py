"""One failure stops only what needs it (issue 28 point 2), and part of a plan (point 3),
on real test hosts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tendr.ops import apply as workflow
from tendr.workspace.loader import load
from tests.fleet.host import Host
from tests.helpers import ME
from tests.helpers import run_tendr as tendr
from tests.test_apply_fleet import outcomes, workspace
from tests.test_execute import Recorder

pytestmark = pytest.mark.fleet

UNIT = '"[Service]\\nExecStart=/bin/sleep infinity\\n"'


def missing_unit_state(host: str) -> str:
    """A unit the host has not got, one that waits on it, and one that does not."""
    return (
        f'hosts = ["{host}"]\n'
        '[[service]]\nunit = "tendr-nothere.service"\nrunning = true\n'
        f'[[service]]\nunit = "tendr-dep.service"\ncontent = {UNIT}\nrunning = true\n'
        'after = ["service:tendr-nothere.service"]\n'
        f'[[service]]\nunit = "tendr-ok.service"\ncontent = {UNIT}\nrunning = true\n'
    )


def unwritable_state(host: str) -> str:
    """A file that cannot be written, two changes that wait on it (one through the other),
    and a file that does not."""
    return (
        f'hosts = ["{host}"]\n'
        '[[file]]\npath = "/proc/tendr-b"\ncontent = "x"\n'
        '[[file]]\npath = "/etc/tendr-b2"\ncontent = "y"\nafter = ["file:/proc/tendr-b"]\n'
        '[[file]]\npath = "/etc/tendr-b3"\ncontent = "z"\n'
        f'[[service]]\nunit = "tendr-b.service"\ncontent = {UNIT}\nrunning = true\n'
        'after = ["file:/etc/tendr-b2"]\n'
    )


def test_a_failed_change_skips_only_what_needs_it_on_each_host(
    fresh_hosts: Callable[[int], list[Host]], tmp_path: Path
) -> None:
    """Two hosts, different work: on each, the change that fails skips what needs it,
    directly or not, naming the failed change it waited on; the rest is made. The plan
    showed the dependencies."""
    one, two = fresh_hosts(2)
    states = {"one": missing_unit_state(one.name), "two": unwritable_state(two.name)}
    ws = str(workspace(tmp_path, [one, two], states))

    code, text = tendr("plan", "-w", ws)
    assert code == 2, text
    assert "needs service.start tendr-nothere.service" in text
    assert "needs file.write /proc/tendr-b" in text
    code, raw = tendr("plan", "-w", ws, "--format", "json")
    needs = {
        (h["name"], c["op"], c["resource"]): c["needs"]
        for h in json.loads(raw)["hosts"]
        for c in h["changes"]
    }
    assert needs[(two.name, "service.start", "tendr-b.service")] == [
        "service.configure tendr-b.service",
        "file.write /etc/tendr-b2",
    ]
    assert needs[(two.name, "file.write", "/etc/tendr-b3")] == []

    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1, text
    waits = "waits on service.start tendr-nothere.service, which failed"
    assert f"not run service.configure tendr-dep.service: {waits}" in text
    assert f"not run service.start tendr-dep.service: {waits}" in text
    assert "failed service.start tendr-nothere.service: " in text
    assert outcomes(ws_path := Path(ws), one.name)[-5:] == [
        ("service.start", "tendr-nothere.service", "failed"),
        ("service.configure", "tendr-dep.service", "skipped"),
        ("service.start", "tendr-dep.service", "skipped"),
        ("service.configure", "tendr-ok.service", "done"),
        ("service.start", "tendr-ok.service", "done"),
    ]
    assert one.run("systemctl is-active tendr-ok.service").stdout.strip() == "active"
    assert one.run("test -e /etc/systemd/system/tendr-dep.service").returncode == 1

    failed = "waits on file.write /proc/tendr-b, which failed"
    assert f"not run file.write /etc/tendr-b2: {failed}" in text
    assert f"not run service.configure tendr-b.service: {failed}" in text
    assert f"not run service.start tendr-b.service: {failed}" in text
    assert {(op, r): o for op, r, o in outcomes(ws_path, two.name) if o != "started"} == {
        ("file.write", "/proc/tendr-b"): "failed",
        ("file.write", "/etc/tendr-b2"): "skipped",
        ("file.write", "/etc/tendr-b3"): "done",
        ("service.configure", "tendr-b.service"): "skipped",
        ("service.start", "tendr-b.service"): "skipped",
    }
    assert two.run("cat /etc/tendr-b3").stdout == "z"
    assert two.run("test -e /etc/tendr-b2").returncode == 1
    assert "3 done, 2 failed, 0 refused, 5 not run" in text


def test_apply_only_one_resource_makes_it_and_what_it_needs(
    fresh_host: Host, tmp_path: Path
) -> None:
    """`--only service:NAME` plans and applies that unit and the file it waits on (pulled
    in, and shown so), nothing else; the verdict is about them alone."""
    state = (
        'hosts = ["all"]\n'
        '[[file]]\npath = "/etc/tendr-o1"\ncontent = "1"\n'
        '[[file]]\npath = "/etc/tendr-o2"\ncontent = "2"\n'
        f'[[service]]\nunit = "tendr-o.service"\ncontent = {UNIT}\nrunning = true\n'
        'after = ["file:/etc/tendr-o1"]\n'
        f'[[service]]\nunit = "tendr-other.service"\ncontent = {UNIT}\nrunning = true\n'
    )
    ws = str(workspace(tmp_path, [fresh_host], {"s": state}))
    only = ("--only", "service:tendr-o.service")
    code, text = tendr("plan", "-w", ws, *only)
    assert code == 2, text
    assert "pulled in: service.configure tendr-o.service needs it" in text
    assert "tendr-o2" not in text and "tendr-other" not in text

    code, raw = tendr("apply", "-w", ws, *only, "--yes", "--format", "json")
    assert code == 0, raw
    data = json.loads(raw)
    [result] = data["results"]
    assert [(c["op"], c["resource"], c["outcome"]) for c in result["changes"]] == [
        ("file.write", "/etc/tendr-o1", "done"),
        ("service.configure", "tendr-o.service", "done"),
        ("service.start", "tendr-o.service", "done"),
    ]
    assert data["plan"]["hosts"][0]["changes"][0]["pulled_in_by"] == (
        "service.configure tendr-o.service"
    )
    assert data["after"]["hosts"][0]["in_sync"]
    assert fresh_host.run("systemctl is-active tendr-o.service").stdout.strip() == "active"
    assert fresh_host.run("test -e /etc/tendr-o2").returncode == 1
    assert fresh_host.run("test -e /etc/systemd/system/tendr-other.service").returncode == 1
    assert tendr("plan", "-w", ws)[0] == 2  # the rest is still to do
    assert tendr("plan", "-w", ws, "--only", "states/s.toml")[0] == 2


class Timed(list[tuple[str, ...]]):
    """Progress events (tests.test_execute.Recorder's) with when each came."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    def append(self, event: tuple[str, ...]) -> None:
        self.at.append(time.monotonic())
        super().append(event)


def test_progress_moves_per_change_over_ssh(fresh_host: Host, tmp_path: Path) -> None:
    """Over SSH the marks arrive as the script makes them: the change after a slow one is
    named while the slow one's host is still working, seconds before the script ends."""
    slow = '"[Service]\\nType=oneshot\\nRemainAfterExit=yes\\nExecStart=/bin/sleep 3\\n"'
    state = (
        'hosts = ["all"]\n[[file]]\npath = "/etc/tendr-p1"\ncontent = "1"\n'
        f'[[service]]\nunit = "tendr-p.service"\ncontent = {slow}\nrunning = true\n'
    )
    ws = load(workspace(tmp_path, [fresh_host], {"s": state}))
    recorder = Recorder()
    recorder.events = timed = Timed()
    applied = workflow.apply(
        ws, ws.hosts, ME, only_allowed=False, confirm=lambda _plan: None, applying=recorder
    )
    assert applied.ok
    name = fresh_host.name
    assert list(timed) == [
        ("start", "3"),
        ("working", name, "file.write /etc/tendr-p1"),
        ("advance", name),
        ("working", name, "service.configure tendr-p.service"),
        ("advance", name),
        ("working", name, "service.start tendr-p.service"),
        ("advance", name),
        ("finished", name),
        ("reading", "1"),
        ("read", name),
    ]
    assert timed.at[7] - timed.at[5] > 2.5  # named while it ran, not at the end
