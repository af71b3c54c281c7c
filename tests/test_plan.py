"""The plan's verdicts and counts, and the probe as a shell runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from tendr.changes import Change
from tendr.plan import HostPlan, Plan, plan_host, probe_script, split_sections
from tendr.states.file import FileSpec
from tendr.states.package import PackageSpec
from tendr.states.service import ServiceSpec
from tests.helpers import ADMIN_RULES, build_tree, run_tendr


def change(action: str, op: str = "file.write") -> Change:
    return Change(kind="file", resource="/x", op=op, action=action)  # type: ignore[arg-type]


PLAN = Plan((
    HostPlan("in-sync"),
    HostPlan("drifted", (change("add"), change("change"), change("remove", "file.remove"))),
    HostPlan("unreadable", (change("unknown", "file.read"),)),
    HostPlan("down", error="cannot connect"),
))


def test_a_host_is_in_sync_only_without_changes_and_without_error() -> None:
    assert [h.in_sync for h in PLAN.hosts] == [True, False, False, False]
    assert not PLAN.in_sync and PLAN.has_errors
    assert Plan((HostPlan("a"), HostPlan("b"))).in_sync


def test_summary_counts_each_kind_of_change_and_host() -> None:
    assert PLAN.summary() == {"hosts": 4, "in_sync": 1, "with_changes": 2, "errors": 1,
                              "add": 1, "change": 1, "remove": 1, "unknown": 1}


def test_drift_exits_2_and_sync_exits_0(tmp_path: Path) -> None:
    """What a script relies on: plan exits 2 on a drifted host, 0 once it is in sync."""
    target = tmp_path / "motd"
    ws = str(build_tree(tmp_path / "ws", {
        "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
        "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{target}"\ncontent = "x"\n',
        "rules/roles.toml": ADMIN_RULES}))
    code, text = run_tendr("plan", "-w", ws)
    assert code == 2 and "here: 1 change(s)" in text
    target.write_text("x")
    code, text = run_tendr("plan", "-w", ws)
    assert code == 0 and "here: in sync" in text


def test_the_probe_succeeds_whatever_its_last_snippet_does(tmp_path: Path) -> None:
    """Each kind's snippet may fail (no systemctl, no dpkg here: PATH is empty); the probe
    still exits 0, and every resource is accounted for in its section."""
    desired = [("s", FileSpec(path=str(tmp_path / "f"))), ("s", PackageSpec(name="hello")),
               ("s", ServiceSpec(unit="x.service", running=True))]
    script = probe_script(desired, "n0nce")
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                          env={"PATH": "/nonexistent"}, check=False)
    assert done.returncode == 0, done.stderr
    sections = split_sections(done.stdout.splitlines(), "n0nce")
    assert set(sections) == {"file", "package", "service"}
    plan = plan_host("h", desired, sections, {})
    assert {c.resource for c in plan.changes} == {str(tmp_path / "f"), "hello", "x.service"}


def test_sections_cannot_be_forged_by_the_host() -> None:
    """A line a host prints that looks like a marker without the run's nonce is data."""
    lines = ["@@n0nce file", "absent\t/", "@@other package", "@@n0nce package", "@nodpkg"]
    assert split_sections(lines, "n0nce") == {"file": ["absent\t/", "@@other package"],
                                              "package": ["@nodpkg"]}


@pytest.mark.parametrize(("spec", "data", "message"), [
    (FileSpec, {"path": "/x", "content": "a", "source": "files/a"},
     "give either 'content' or 'source', not both"),
    (FileSpec, {"path": "/x", "present": False, "content": "a"},
     "a file with present = false takes no content"),
    (FileSpec, {"path": "/x", "present": False, "mode": "0644"},
     "a file with present = false takes no content"),
    (ServiceSpec, {"unit": "a.service", "masked": True, "enabled": True},
     "a masked unit cannot also be enabled, running or have content"),
    (ServiceSpec, {"unit": "a.service", "masked": True, "running": True},
     "a masked unit cannot also be enabled, running or have content"),
    (ServiceSpec, {"unit": "a.service", "masked": True, "content": ""},
     "a masked unit cannot also be enabled, running or have content"),
])
def test_contradictory_fields_are_refused(spec: type[BaseModel], data: dict[str, object],
                                          message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec.model_validate(data)


@pytest.mark.parametrize(("spec", "data"), [
    (FileSpec, {"path": "/x", "present": False}),
    (FileSpec, {"path": "/x", "source": "files/a", "mode": "0600"}),
    (ServiceSpec, {"unit": "a.service", "masked": True, "enabled": False, "running": False}),
    (ServiceSpec, {"unit": "a.service", "masked": False, "enabled": True, "content": "x"}),
])
def test_consistent_fields_are_accepted(spec: type[BaseModel], data: dict[str, object]) -> None:
    spec.model_validate(data)
