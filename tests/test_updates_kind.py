"""The updates kind, pure: apt's simulated upgrade read, security told, the window, when
an update was first seen (remembered by plans), approval, holds, and the steps."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tendr.base.changes import Change, Put, Run, Unreadable
from tendr.core.plan import plan_host, probe_script, split_sections
from tendr.kinds import updates
from tendr.kinds.kind import Context
from tendr.kinds.updates import DAYS, UpdatesActual, UpdatesSpec, in_window, parse_lines
from tendr.rules.decide import decide
from tendr.rules.model import RulesFile
from tendr.workspace.loader import load
from tests.helpers import LOCAL_HOSTS, build_tree, run_tendr
from tests.rules_strategies import FakeHost

NOW = 1764900000  # 2025-12-05 02:00 UTC
SECURITY = "Inst hello [1.0] (1.1 Local-Security:1/stable-security [all])"
OTHER = "Inst tree [1.0] (1.1 Local:1/stable [all])"


def actual(*lines: str, clock: str = f"@now {NOW} Fri 10:00") -> UpdatesActual:
    found = parse_lines([clock, *lines])
    assert isinstance(found, UpdatesActual)
    return found


def changes(
    spec: UpdatesSpec, found: UpdatesActual, seen: dict[str, int] | None = None
) -> list[tuple[str, str, str]]:
    context = Context(seen={"updates:updates": {"available": seen or {}}})
    return [(c.op, c.action, c.resource) for c in updates.diff(spec, found, context)]


def test_apt_lines_are_read_with_versions_origins_and_security() -> None:
    found = actual(
        "Inst libgcrypt20-dev [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, "
        "Debian-Security:12/oldstable-security [amd64]) []",
        "Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])",
        "Inst newdep (1.0 Local:1/stable [all])",  # a new package, no upgrade
        "Inst bad;name [1.0] (1.1 Local:1/stable [all])",  # not a package name
        "Inst evil [1.0] (1.1$(reboot) Local:1/stable [all])",  # not a version
        "Remv other [1.0]",
        "H\tkept",
        "@reboot",
        "P\tlibc6",
        "@refreshed",
    )
    assert [(p.name, p.installed, p.candidate, p.security) for p in found.pending] == [
        ("libgcrypt20-dev", "1.10.1-3", "1.10.1-3+deb12u1", True),
        ("bash", "5.2.15-2+b8", "5.2.15-2+b13", False),
    ]
    assert found.removes == ("other",) and found.held == {"kept"}
    assert found.reboot and found.reboot_for == ("libc6",) and found.refresh == "refreshed"
    assert (found.now, found.day, found.time) == (NOW, "Fri", "10:00")


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("Debian-Security:12/stable-security", True),
        ("Local-Security:1/stable", True),
        ("Local:1/bookworm-security", True),
        ("Debian:12.5/stable", False),
        ("Ubuntu:22.04/jammy-updates", False),
        ("", False),
    ],
)
def test_security_is_told_by_label_or_archive(origin: str, expected: bool) -> None:
    assert updates.security(origin) is expected


def test_a_host_without_apt_or_whose_apt_fails_is_unreadable() -> None:
    assert isinstance(parse_lines(["@noapt"]), Unreadable)
    assert isinstance(parse_lines([]), Unreadable)
    failed = parse_lines([f"@now {NOW} Fri 10:00", "@failed\tE: broken packages"])
    assert isinstance(failed, Unreadable) and "E: broken packages" in failed.reason


@pytest.mark.parametrize(
    ("window", "day", "time", "inside"),
    [
        ("Sat 02:00-05:00", "Sat", "02:00", True),
        ("Sat 02:00-05:00", "Sat", "04:59", True),
        ("Sat 02:00-05:00", "Sat", "05:00", False),
        ("Sat 02:00-05:00", "Sun", "03:00", False),
        ("01:00-04:00", "Tue", "03:00", True),
        ("Mon,Wed 22:00-02:00", "Wed", "23:00", True),
        ("Mon,Wed 22:00-02:00", "Thu", "01:00", True),
        ("Mon,Wed 22:00-02:00", "Tue", "01:00", True),
        ("Mon,Wed 22:00-02:00", "Tue", "23:00", False),
    ],
)
def test_the_window(window: str, day: str, time: str, inside: bool) -> None:
    assert in_window(window, day, time) is inside


times = st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda t: f"{t[0]:02}:{t[1]:02}")


@given(st.sampled_from(DAYS), times, times, st.sampled_from(DAYS), times)
def test_a_window_every_day_or_on_its_days_alone(
    day: str, start: str, end: str, now_day: str, now: str
) -> None:
    """A window of every day holds whatever the day; one of a day holds on other days
    only past midnight of that day's, and a window never holds outside its span."""
    every = in_window(f"{start}-{end}", now_day, now)
    spans = start <= now < end if start < end else now >= start or now < end
    assert every is spans
    if in_window(f"{day} {start}-{end}", now_day, now):
        assert every
        assert now_day == day or (start >= end and now < end)


def test_windows_are_validated() -> None:
    for good in ("Sat 02:00-05:00", "Mon,Fri 22:00-02:00", "00:00-23:59"):
        UpdatesSpec.model_validate({"window": good})
    for bad in ("Saturday 02:00", "Sat 2:00-5:00", "Sat 02:00-25:00", "sat 02:00-03:00", ""):
        with pytest.raises(ValidationError):
            UpdatesSpec.model_validate({"window": bad})
    with pytest.raises(ValidationError):
        UpdatesSpec.model_validate({"others": "always"})
    with pytest.raises(ValidationError):
        UpdatesSpec.model_validate({"hold": ["Bad"]})


def test_policies_report_and_ignore() -> None:
    found = actual(SECURITY, OTHER)
    assert changes(UpdatesSpec(), found) == [
        ("updates.apply", "change", "hello"),
        ("updates.apply", "unknown", "tree"),
    ]
    assert changes(UpdatesSpec(security="report", others="ignore"), found) == [
        ("updates.apply", "unknown", "hello")
    ]
    assert changes(UpdatesSpec(others="apply"), found)[1] == ("updates.apply", "change", "tree")


def test_approve_after_counts_from_the_first_plan_that_saw_it() -> None:
    spec = UpdatesSpec(approve_after="7d")
    found = actual(SECURITY)
    assert changes(spec, found) == [("updates.apply", "unknown", "hello")]
    week = 7 * 86400
    assert changes(spec, found, {"hello=1.1": NOW - week + 1})[0][0] == "updates.apply"
    assert changes(spec, found, {"hello=1.1": NOW - week})[0][0] == "updates.apply"
    # Seen at another version: this one is new.
    assert changes(spec, found, {"hello=1.0.9": NOW - week})[0][0] == "updates.apply"
    note = updates.diff(spec, found, Context())[0].note
    assert note.endswith("approved from 2025-12-12 02:00 UTC (approve_after 7d)"), note


def test_a_plan_remembers_when_it_first_saw_each_update() -> None:
    spec = UpdatesSpec()
    first = updates.remember(spec, actual(SECURITY), Context())
    assert first == {"available": {"hello=1.1": NOW}, "held": []}
    later = actual(SECURITY, OTHER, clock=f"@now {NOW + 3600} Fri 11:00")
    kept = updates.remember(spec, later, Context(seen={"updates:updates": first}))
    assert kept == {"available": {"hello=1.1": NOW, "tree=1.1": NOW + 3600}, "held": []}
    gone = actual(OTHER, clock=f"@now {NOW + 7200} Fri 12:00")
    assert updates.remember(spec, gone, Context(seen={"updates:updates": kept})) == {
        "available": {"tree=1.1": NOW + 3600},
        "held": [],
    }
    assert updates.remember(spec, Unreadable("no"), Context()) is None
    # What the history holds that is not a time is not taken for one.
    odd = Context(seen={"updates:updates": {"available": {"hello=1.1": "x", "tree=1.1": True}}})
    assert updates.first_seen(odd) == {}


def test_plan_host_passes_what_was_seen_and_carries_what_it_remembers() -> None:
    desired = [("states/u.toml", UpdatesSpec(approve_after="1d"))]
    lines = [f"@now {NOW} Fri 10:00", SECURITY]
    plan = plan_host("h", desired, {"updates": lines}, {})
    assert plan.seen == {"updates:updates": {"available": {"hello=1.1": NOW}, "held": []}}
    assert [c.op for c in plan.changes] == ["updates.apply"]
    earlier = {"updates:updates": {"available": {"hello=1.1": NOW - 86400}, "held": []}}
    again = plan_host("h", desired, {"updates": lines}, {}, seen=earlier)
    assert [c.op for c in again.changes] == ["updates.apply"]
    assert again.seen == earlier


def test_held_packages_are_left_alone_and_holds_are_made() -> None:
    found = actual(SECURITY, OTHER, "H\ttree")
    assert changes(UpdatesSpec(others="apply", hold=("hello", "tree")), found) == [
        ("updates.hold", "change", "hello")
    ]


def test_a_package_tendr_held_is_unheld_once_no_state_holds_it() -> None:
    """Held because the state said so, it is remembered; out of the state, unheld. A
    package someone else held is left alone."""
    spec = UpdatesSpec(hold=("tree",))
    found = actual("H\ttree", "H\tlocal-pin")
    kept = updates.remember(spec, found, Context())
    assert kept is not None and kept["held"] == ["tree"]
    context = Context(seen={"updates:updates": kept})
    assert changes(spec, found) == []
    unhold = updates.diff(UpdatesSpec(), found, context)
    assert [(c.op, c.resource) for c in unhold] == [("updates.unhold", "tree")]
    assert updates.steps(UpdatesSpec(), unhold[0], Context()) == [
        Run(("apt-mark", "unhold", "--", "tree"), "unhold tree")
    ]
    # Unheld, it is forgotten; what the history holds that is no package name is ignored.
    after = updates.remember(UpdatesSpec(), actual("H\tlocal-pin"), context)
    assert after is not None and after["held"] == []
    odd = Context(seen={"updates:updates": {"held": ["tree; reboot", 3, "tree"]}})
    assert updates.held_by_tendr(odd) == {"tree"}


def test_what_a_full_upgrade_would_remove_is_said() -> None:
    found = actual(SECURITY, "Remv other [1.0]")
    note = updates.diff(UpdatesSpec(), found, Context())[0].note
    assert "apt's full upgrade would remove other" in note


def test_a_failed_refresh_and_a_reboot_are_said() -> None:
    found = actual("@refreshfailed\tE: Could not get lock", "@reboot")
    said = {c.id: c.note for c in updates.diff(UpdatesSpec(), found, Context())}
    assert "E: Could not get lock" in said["updates.read updates"]
    assert said["updates.read reboot"].startswith("reboot required")


def test_steps_upgrade_exactly_the_shown_versions_and_hold() -> None:
    found = actual(SECURITY, OTHER)
    planned = updates.diff(UpdatesSpec(others="apply"), found, Context())
    (step,) = updates.batch([(UpdatesSpec(), c) for c in planned], Context())
    assert isinstance(step, Run)
    assert step.argv[:2] == ("sh", "-c") and step.argv[3:] == ("tendr", "hello=1.1", "tree=1.1")
    assert "--only-upgrade" in step.argv[2] and "--force-confold" in step.argv[2]
    hold = updates.diff(UpdatesSpec(hold=("tree",)), actual(), Context())
    assert updates.steps(UpdatesSpec(), hold[0], Context()) == [
        Run(("apt-mark", "hold", "--", "tree"), "hold tree")
    ]


def fake_apt(tmp_path: Path, simulation: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {
        "apt-get": f'[ "$1" = -s ] || exit 3\ncat <<"X"\n{simulation}\nX\n',
        "apt-mark": "echo held-one\n",
        "date": '[ "$1" = +%s ] && echo 1764900000 || echo "@now 1764900000 Sat 03:00"\n',
    }.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_probe_reads_apt(tmp_path: Path, shell: str) -> None:
    """The probe script as the plan sends it, with apt stood in for: no refresh when the
    last is recent enough (here: far in the future), its lines parsed into the changes."""
    spec = UpdatesSpec(refresh="3000w", window="Sat 02:00-04:00")
    simulation = f"Reading package lists...\n{SECURITY}\nRemv gone [1.0]\nConf hello (1.1)"
    script = probe_script([("states/u.toml", spec)], "n0nce")
    ran = subprocess.run(
        [shell, "-c", script], capture_output=True, text=True, env=fake_apt(tmp_path, simulation)
    )
    assert ran.returncode == 0, ran.stderr
    sections = split_sections(ran.stdout.splitlines(), "n0nce")
    found = updates.parse([spec], sections["updates"])["updates"]
    assert isinstance(found, UpdatesActual)
    assert [p.id for p in found.pending] == ["hello=1.1"] and found.removes == ("gone",)
    assert found.held == {"held-one"} and found.refresh == ""
    assert changes(spec, found) == [("updates.apply", "change", "hello")]


def test_at_most_one_per_host(tmp_path: Path) -> None:
    files = {
        "hosts/h.toml": LOCAL_HOSTS,
        "states/a.toml": 'hosts = ["all"]\n[[updates]]\nothers = "apply"\n',
        "states/b.toml": 'hosts = ["all"]\n[[updates]]\nothers = "report"\n',
    }
    code, text = run_tendr("validate", "-w", str(build_tree(tmp_path / "ws", files)))
    assert code == 1 and "declared differently" in text, text
    same = {**files, "states/b.toml": files["states/a.toml"]}
    ws = load(build_tree(tmp_path / "same", same))
    assert [d.spec.kind for d in ws.desired(ws.hosts[0])].count("updates") == 1


def test_packages_rules_decide_which_updates_may_be_applied() -> None:
    """A `packages` rule covers updates.apply and updates.hold per package; it fits them,
    and a `units` rule does not."""
    text = """\
[roles.patching]
members = ["dave"]
allow = [{ ops = ["updates.apply"], hosts = ["all"], packages = ["tendr-*", "libc6"] }]
deny = [{ ops = ["updates.*"], hosts = ["all"], packages = ["tendr-kernel*"] }]
"""
    files = [("rules/r.toml", RulesFile.model_validate(tomllib.loads(text)))]
    host = FakeHost("a1", "acme", (), ())
    for package, allowed in [
        ("tendr-demo", True),
        ("libc6:amd64", True),  # any architecture
        ("tendr-kernel-image", False),  # the deny wins
        ("bash", False),
    ]:
        assert decide("dave", "updates.apply", host, files, None, package).allowed is allowed
    assert not decide("dave", "updates.hold", host, files, None, "tendr-demo").allowed
    with pytest.raises(ValueError, match="has no resources of the kind this rule names"):
        RulesFile.model_validate(
            tomllib.loads(
                '[roles.r]\nmembers = ["a"]\n'
                'allow = [{ ops = ["updates.apply"], hosts = ["all"], units = ["x.service"] }]\n'
            )
        )


def test_unattended_upgrades_as_desired_state() -> None:
    """unattended = true: the package installed first (a driver), then tendr's file; its
    hash on the host in sync is no change; false writes the file turning it off; none
    leaves it alone."""
    on = UpdatesSpec(unattended=True)
    assert updates.drivers(on) == [(".unattended", "unattended-upgrades")]
    assert updates.drivers(UpdatesSpec(unattended=False)) == []
    install = Change("package", "unattended-upgrades", "driver.install", "add")
    (change,) = updates.diff(on, actual(), Context(earlier=(install,)))
    assert (change.op, change.resource, change.needs) == (
        "updates.configure",
        "unattended-upgrades",
        ("driver.install unattended-upgrades",),
    )
    assert change.fields[0].text() == "unattended: (none) → yes"
    content = updates.unattended_content(True)
    assert b'APT::Periodic::Unattended-Upgrade "1";' in content
    assert b"-security" in content and b'Automatic-Reboot "false"' in content
    assert updates.steps(on, change, Context()) == [
        Put(updates.UNATTENDED_PATH, content, "0644", "root", "root")
    ]
    digest = hashlib.sha256(content).hexdigest()
    assert updates.diff(on, actual(f"U\t{digest}"), Context()) == []
    (off,) = updates.diff(UpdatesSpec(unattended=False), actual(f"U\t{digest}"), Context())
    assert off.fields[0].text() == "unattended: differs → no"
    (step,) = updates.steps(UpdatesSpec(), off, Context())
    assert isinstance(step, Put) and b'Unattended-Upgrade "0"' in step.content
    assert updates.diff(UpdatesSpec(), actual(f"U\t{digest}"), Context()) == []


def test_the_unattended_driver_is_declared_where_updates_are(tmp_path: Path) -> None:
    files = {
        "hosts/h.toml": LOCAL_HOSTS,
        "states/a.toml": 'hosts = ["all"]\n[[updates]]\nunattended = true\n',
    }
    ws = load(build_tree(tmp_path / "ws", files))
    desired = [(d.key_path, d.spec.kind, d.spec.key) for d in ws.desired(ws.hosts[0])]
    assert ("updates[0].unattended", "package", "unattended-upgrades") in desired


apt_words = st.text(max_size=30) | st.sampled_from(
    ["hello", "1.0", "1.1+deb12u1", "Local:1/stable"]
)


@given(
    st.lists(
        st.one_of(
            apt_words,
            st.builds(
                lambda a, b, c, d: f"Inst {a} [{b}] ({c} {d} [all])",
                apt_words,
                apt_words,
                apt_words,
                apt_words,
            ),
            st.builds(lambda a: f"H\t{a}", apt_words),
            st.builds(lambda a: f"U\t{a}", apt_words),
        ),
        max_size=12,
    )
)
def test_any_output_is_read_without_error_and_only_names_reach_a_step(lines: list[str]) -> None:
    """Whatever the host prints, the parser returns facts or Unreadable, and an update it
    keeps has a package name and versions apt could have printed: a step's PACKAGE=VERSION
    is never anything else."""
    found = parse_lines([f"@now {NOW} Fri 10:00", *lines])
    assert isinstance(found, UpdatesActual | Unreadable)
    if isinstance(found, UpdatesActual):
        for update in found.pending:
            assert updates._PACKAGE.fullmatch(update.name)
            assert re.fullmatch(updates.VERSION_REGEX, update.candidate)
        planned = updates.diff(UpdatesSpec(others="apply"), found, Context())
        for change in planned:
            if change.op == "updates.apply" and change.action == "change":
                (step,) = updates.steps(UpdatesSpec(), change, Context())
                assert (
                    isinstance(step, Run)
                    and step.argv[4] == f"{change.resource}={change.after()['version']}"
                )
