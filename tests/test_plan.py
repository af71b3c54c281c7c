"""The plan's verdicts and counts, and the probe as a shell runs it."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from tendr.changes import Change
from tendr.plan import HostPlan, Plan, plan_host, probe_script, split_sections
from tendr.states.file import FileSpec
from tendr.states.package import PackageSpec
from tendr.states.service import ServiceSpec
from tests.helpers import ADMIN_RULES, build_tree, requires, run_tendr


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


@requires(shutil.which("dpkg-query") is not None, "dpkg is not installed")
def test_the_probe_succeeds_when_apt_knows_nothing_of_a_wanted_package() -> None:
    """The package snippet ends in a grep that finds nothing for a package apt does not
    know: the probe still exits 0 and the package is planned (with its warning)."""
    desired = [("s", PackageSpec(name="tendr-no-such-package"))]
    done = subprocess.run(["/bin/sh", "-c", probe_script(desired, "n0nce")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    plan = plan_host("h", desired, split_sections(done.stdout.splitlines(), "n0nce"), {})
    [change] = plan.changes
    assert change.op == "package.install" and "not in the host's package lists" in change.note


def test_plans_are_values_nobody_changes_in_place() -> None:
    """Rules and apply derive new plans (dataclasses.replace); a plan itself cannot be
    changed after it was made."""
    with pytest.raises(FrozenInstanceError):
        PLAN.hosts[0].error = "x"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        PLAN.hosts = ()  # type: ignore[misc]


def unit_lines(unit: str, load: str) -> list[str]:
    return [f"Id={unit}", f"LoadState={load}", "ActiveState=inactive", "SubState=dead",
            "UnitFileState=disabled", ""]


def test_a_missing_unit_depends_on_the_packages_the_plan_installs() -> None:
    """A unit not on the host while the plan installs packages: starting it depends on
    them (it may come with one); a unit already there depends on nothing."""
    desired = [("s", PackageSpec(name="cups")),
               ("s", ServiceSpec(unit="cups.service", running=True)),
               ("s", ServiceSpec(unit="cron.service", running=True))]
    sections = {"package": ["@policy", "cups:", "  Candidate: 2.4"],
                "service": [*unit_lines("cups.service", "not-found"),
                            *unit_lines("cron.service", "loaded"), "@files",
                            "absent\t/etc/systemd/system", "absent\t/etc/systemd/system"]}
    plan = plan_host("h", desired, sections, {})
    starts = {c.resource: c.depends_on for c in plan.changes if c.op == "service.start"}
    assert starts == {"cups.service": "package.install cups (the unit may come with it)",
                      "cron.service": ""}


def test_the_service_probe_reads_every_unit_file_and_drop_in(tmp_path: Path) -> None:
    """One file line for each unit's file and each of its drop-ins, in order."""
    from tendr.states.service import KIND as SERVICE

    specs = [ServiceSpec(unit="a.service", dropins={"1.conf": "x", "2.conf": "y"}),
             ServiceSpec(unit="b.service", dropins={"3.conf": "z"})]
    done = subprocess.run(["/bin/sh", "-c", SERVICE.probe(specs)], capture_output=True,
                          text=True, env={"PATH": "/nonexistent"}, check=False)
    lines = done.stdout.splitlines()
    files = lines[lines.index("@files") + 1:]
    assert len(files) == 5 and all(line.startswith("absent\t/") for line in files)
