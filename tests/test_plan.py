"""The plan's verdicts and counts, the probe as a shell runs it, and how plans and apply's
results read (text and JSON)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from rich.text import Text

from tendr.base.changes import Change, ChangeResult, HostResult
from tendr.cli.render import change_json, change_lines, host_lines, result_lines
from tendr.core.plan import HostPlan, Plan, plan_host, probe_script, split_sections
from tendr.kinds.file import FileSpec
from tendr.kinds.package import PackageSpec
from tendr.kinds.service import ServiceSpec
from tests.helpers import ADMIN_RULES, build_tree, requires, run_tendr


def change(action: str, op: str = "file.write") -> Change:
    return Change(kind="file", resource="/x", op=op, action=action)  # type: ignore[arg-type]


PLAN = Plan(
    (
        HostPlan("in-sync"),
        HostPlan("drifted", (change("add"), change("change"), change("remove", "file.remove"))),
        HostPlan("unreadable", (change("unknown", "file.read"),)),
        HostPlan("down", error="cannot connect"),
    )
)


def test_a_host_is_in_sync_only_without_changes_and_without_error() -> None:
    assert [h.in_sync for h in PLAN.hosts] == [True, False, False, False]
    assert not PLAN.in_sync and PLAN.has_errors
    assert Plan((HostPlan("a"), HostPlan("b"))).in_sync


def test_summary_counts_each_kind_of_change_and_host() -> None:
    assert PLAN.summary() == {
        "hosts": 4,
        "in_sync": 1,
        "with_changes": 2,
        "errors": 1,
        "add": 1,
        "change": 1,
        "remove": 1,
        "unknown": 1,
        "waiting": 0,
    }


def test_drift_exits_2_and_sync_exits_0(tmp_path: Path) -> None:
    """What a script relies on: plan exits 2 on a drifted host, 0 once it is in sync."""
    target = tmp_path / "motd"
    ws = str(
        build_tree(
            tmp_path / "ws",
            {
                "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
                "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{target}"\ncontent = "x"\n',
                "rules/roles.toml": ADMIN_RULES,
            },
        )
    )
    code, text = run_tendr("plan", "-w", ws)
    assert code == 2 and "here: 1 change(s)" in text
    target.write_text("x")
    code, text = run_tendr("plan", "-w", ws)
    assert code == 0 and "here: in sync" in text


def test_the_probe_succeeds_whatever_its_last_snippet_does(tmp_path: Path) -> None:
    """Each kind's snippet may fail (no systemctl, no dpkg here: PATH is empty); the probe
    still exits 0, and every resource is accounted for in its section."""
    desired = [
        ("s", FileSpec(path=str(tmp_path / "f"))),
        ("s", PackageSpec(name="hello")),
        ("s", ServiceSpec(unit="x.service", running=True)),
    ]
    script = probe_script(desired, "n0nce")
    done = subprocess.run(
        ["/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": "/nonexistent"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    sections = split_sections(done.stdout.splitlines(), "n0nce")
    assert set(sections) == {"file", "package", "service"}
    plan = plan_host("h", desired, sections, {})
    assert {c.resource for c in plan.changes} == {str(tmp_path / "f"), "hello", "x.service"}


def test_sections_cannot_be_forged_by_the_host() -> None:
    """A line a host prints that looks like a marker without the run's nonce is data."""
    lines = ["@@n0nce file", "absent\t/", "@@other package", "@@n0nce package", "@nodpkg"]
    assert split_sections(lines, "n0nce") == {
        "file": ["absent\t/", "@@other package"],
        "package": ["@nodpkg"],
    }


@pytest.mark.parametrize(
    ("spec", "data", "message"),
    [
        (
            FileSpec,
            {"path": "/x", "content": "a", "source": "files/a"},
            "give either 'content' or 'source', not both",
        ),
        (
            FileSpec,
            {"path": "/x", "present": False, "content": "a"},
            "a file with present = false takes no content",
        ),
        (
            FileSpec,
            {"path": "/x", "present": False, "mode": "0644"},
            "a file with present = false takes no content",
        ),
        (
            ServiceSpec,
            {"unit": "a.service", "masked": True, "enabled": True},
            "a masked unit cannot also be enabled, running or have content",
        ),
        (
            ServiceSpec,
            {"unit": "a.service", "masked": True, "running": True},
            "a masked unit cannot also be enabled, running or have content",
        ),
        (
            ServiceSpec,
            {"unit": "a.service", "masked": True, "content": ""},
            "a masked unit cannot also be enabled, running or have content",
        ),
    ],
)
def test_contradictory_fields_are_refused(
    spec: type[BaseModel], data: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        spec.model_validate(data)


@pytest.mark.parametrize(
    ("spec", "data"),
    [
        (FileSpec, {"path": "/x", "present": False}),
        (FileSpec, {"path": "/x", "source": "files/a", "mode": "0600"}),
        (ServiceSpec, {"unit": "a.service", "masked": True, "enabled": False, "running": False}),
        (ServiceSpec, {"unit": "a.service", "masked": False, "enabled": True, "content": "x"}),
    ],
)
def test_consistent_fields_are_accepted(spec: type[BaseModel], data: dict[str, object]) -> None:
    spec.model_validate(data)


@requires(shutil.which("dpkg-query") is not None, "dpkg is not installed")
def test_the_probe_succeeds_when_apt_knows_nothing_of_a_wanted_package() -> None:
    """The package snippet ends in a grep that finds nothing for a package apt does not
    know: the probe still exits 0 and the package is planned (with its warning)."""
    desired = [("s", PackageSpec(name="tendr-no-such-package"))]
    done = subprocess.run(
        ["/bin/sh", "-c", probe_script(desired, "n0nce")],
        capture_output=True,
        text=True,
        check=False,
    )
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


def test_the_service_probe_reads_every_unit_file_and_drop_in(tmp_path: Path) -> None:
    """One file line for each unit's file and each of its drop-ins, in order."""
    from tendr.kinds.service import KIND as SERVICE

    specs = [
        ServiceSpec(unit="a.service", dropins={"1.conf": "x", "2.conf": "y"}),
        ServiceSpec(unit="b.service", dropins={"3.conf": "z"}),
    ]
    done = subprocess.run(
        ["/bin/sh", "-c", SERVICE.probe(specs)],
        capture_output=True,
        text=True,
        env={"PATH": "/nonexistent"},
        check=False,
    )
    lines = done.stdout.splitlines()
    files = lines[lines.index("@files") + 1 :]
    assert len(files) == 5 and all(line.startswith("absent\t/") for line in files)


# -- how plans and results read -----------------------------------------------------------


def plain(lines: list[str]) -> str:
    """Rendered lines as the person reads them (markup gone)."""
    return "\n".join(Text.from_markup(line).plain for line in lines)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_root_only_file_shows_neither_hash_nor_size(tmp_path: Path) -> None:
    """A root-only file whose content differs: text and JSON say only that it differs (a
    hash of a 4-digit PIN gave the PIN away to a person who may only plan); so does a
    0644 file inside a 0700 folder, which no other account can read either. A file every
    account can read shows size and hash: a short prefix in text, the whole in JSON."""
    shared = tmp_path / "shared"  # pytest's own folders above are 0700: make a way through
    shared.mkdir()
    for folder in (shared, *shared.parents):
        if folder.stat().st_mode & 0o005 != 0o005:  # others' folders (/tmp) already are
            folder.chmod(folder.stat().st_mode | 0o005)
    secret, public, walled = shared / "pin", shared / "motd", tmp_path / "walled" / "pin"
    secret.write_text("old secret 1234\n")
    secret.chmod(0o600)
    public.write_text("old\n")
    public.chmod(0o644)
    walled.parent.mkdir(mode=0o700)
    walled.write_text("4321\n")
    walled.chmod(0o644)
    ws = str(
        build_tree(
            tmp_path / "ws",
            {
                "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
                "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{secret}"\n'
                f'content = "1234\\n"\n[[file]]\npath = "{public}"\ncontent = "new\\n"\n'
                f'[[file]]\npath = "{walled}"\ncontent = "1234\\n"\n',
                "rules/roles.toml": ADMIN_RULES,
            },
        )
    )
    hidden = [sha(b"1234\n"), sha(b"old secret 1234\n"), sha(b"4321\n")]
    old, new = sha(b"old\n"), sha(b"new\n")

    code, text = run_tendr("plan", "-w", ws)
    assert code == 2, text
    assert f"{secret}  allowed by" in text
    assert "content: differs (not world-readable: no hash or size shown)" in text
    assert "16 bytes" not in text and "5 bytes" not in text
    assert not any(digest[:12] in text for digest in hidden)
    assert f"content: 4 bytes, sha256 {old[:12]} → 4 bytes, sha256 {new[:12]}" in text
    assert new not in text  # the text keeps it short

    code, raw = run_tendr("plan", "-w", ws, "--format", "json")
    assert code == 2, raw
    changes = {c["resource"]: c for c in json.loads(raw)["hosts"][0]["changes"]}
    private = {"content": {"hidden": "not world-readable"}}
    assert changes[str(secret)]["before"] == changes[str(secret)]["after"] == private
    assert changes[str(walled)]["before"] == changes[str(walled)]["after"] == private
    assert not any(digest[:12] in raw for digest in hidden)
    assert changes[str(public)]["before"] == {"content": {"size": 4, "sha256": old}}
    assert changes[str(public)]["after"] == {"content": {"size": 4, "sha256": new}}


def service_lines(unit: str, load: str, active: str = "inactive") -> list[str]:
    sub = "running" if active == "active" else "dead"
    return [
        f"Id={unit}",
        f"LoadState={load}",
        f"ActiveState={active}",
        f"SubState={sub}",
        "UnitFileState=" + ("disabled" if load == "loaded" else ""),
        "",
    ]


def test_unit_files_have_json_keys_without_spaces_and_words_in_text() -> None:
    """A unit's own file and its drop-ins: JSON keys are snake_case (no spaces, which
    scripts cannot use as names), the text says them in words."""
    unit = "[Service]\n"
    spec = ServiceSpec(unit="demo.service", content=unit, dropins={"10-x.conf": "x"})
    sections = {
        "service": [
            *service_lines("demo.service", "loaded"),
            "@files",
            f"file\t644\troot\troot\t3\t{sha(b'old')}",
            f"file\t600\troot\troot\t1\t{sha(b'y')}",
        ]
    }
    [change] = plan_host("h", [("s", spec)], sections, {}).changes
    data = change_json(change)
    assert data["before"] == {
        "unit_file_content": {"size": 3, "sha256": sha(b"old")},
        "dropin_10-x.conf_content": {"hidden": "not world-readable"},
        "dropin_10-x.conf_mode": "0600",
    }
    assert data["after"]["dropin_10-x.conf_content"] == {"size": 1, "sha256": sha(b"x")}
    text = plain(change_lines(change))
    assert (
        f"unit file content: 3 bytes, sha256 {sha(b'old')[:12]} → 10 bytes, sha256 "
        f"{sha(unit.encode())[:12]}"
    ) in text
    assert (
        f"drop-in 10-x.conf content: not shown (not world-readable) → 1 bytes, sha256 "
        f"{sha(b'x')[:12]}"
    ) in text
    assert "drop-in 10-x.conf mode: 0600 → 0644" in text


def test_a_unit_not_installed_yet_reads_so() -> None:
    """A unit the host has not got, while the plan installs packages: its state reads 'not
    installed', not 'none' or 'inactive (dead)' (states a unit has), and it needs the
    planned installs as a whole: which of them brings it is known only at apply."""
    desired = [
        ("s", PackageSpec(name="hello")),
        ("s", ServiceSpec(unit="cups.service", enabled=True, running=True)),
    ]
    sections = {
        "package": ["@policy", "hello:", "  Candidate: 2.10"],
        "service": [
            *service_lines("cups.service", "not-found"),
            "@files",
            "absent\t/etc/systemd/system",
        ],
    }
    host = plan_host("h", desired, sections, {})
    text = plain(host_lines(host))
    assert "enabled: not installed → enabled" in text
    assert "state: not installed → active (running)" in text
    assert text.count("needs package.install hello") == 2
    assert text.count("the unit may come with one of the planned packages") == 2
    assert "none" not in text and "inactive (dead)" not in text
    assert text.count("hello") == 3  # its own line, and what needs it
    assert [change_json(c)["before"] for c in host.changes[1:]] == [
        {"enabled": "not installed"},
        {"state": "not installed"},
    ]


def test_the_deciding_rule_is_shown_for_allowed_and_blocked_changes() -> None:
    """Each change says whether the rules allow it and which rule decided; one not decided
    yet says neither."""
    base = Change(kind="service", resource="cups.service", op="service.start", action="change")
    allowed = Change(
        **{
            **base.__dict__,
            "allowed": True,
            "rule": "rules/roles.toml: roles.admin.allow[0] (* on all)",
        }
    )
    blocked = Change(
        **{
            **base.__dict__,
            "allowed": False,
            "rule": "rules/roles.toml: roles.desk.deny[0] (service.* on all)",
        }
    )
    assert plain(change_lines(allowed)).endswith(
        "cups.service  allowed by rules/roles.toml: roles.admin.allow[0] (* on all)"
    )
    assert plain(change_lines(blocked)).endswith(
        "cups.service  blocked (rules/roles.toml: roles.desk.deny[0] (service.* on all))"
    )
    assert plain(change_lines(base)).endswith("cups.service")


def test_why_changes_were_not_run_is_said_once() -> None:
    """The changes a failure (or a host that could not be started) stopped are each named
    as not run; the reason is said once, not again on every line."""
    a, b, c = (
        Change(kind="file", resource=f"/etc/{n}", op="file.write", action="add") for n in "abc"
    )
    why = "file.write /etc/a before it did not succeed"
    locked = "another apply is working on this host"
    failed = HostResult(
        "one",
        [
            ChangeResult(a, "failed", "disk full"),
            ChangeResult(b, "skipped", why),
            ChangeResult(c, "skipped", why),
        ],
    )
    stopped = HostResult(
        "two",
        [ChangeResult(x, "skipped", locked) for x in (a, b, c)],
        error=f"not started: {locked}",
    )
    text = plain(result_lines([failed, stopped], None))
    assert text.count(why) == 1 and f"not run file.write /etc/b: {why}" in text
    assert text.count(locked) == 1 and f"two: error: not started: {locked}" in text
    assert text.count("not run file.write") == 5
    assert "2 not run" not in text and "5 not run" in text


def _systemd(*blocks: dict[str, str]) -> list[str]:
    """What the service probe prints: systemctl show's blocks, then (no) unit files."""
    lines: list[str] = []
    for block in blocks:
        lines += [f"{key}={value}" for key, value in block.items()] + [""]
    return [*lines, "@files"]


SSH = {
    "Id": "ssh.service",
    "Names": "ssh.service sshd.service",
    "LoadState": "loaded",
    "ActiveState": "active",
    "SubState": "running",
    "UnitFileState": "disabled",
}


def test_an_alias_and_its_unit_are_one_resource_declared_twice() -> None:
    from tendr.core.plan import declared_twice
    from tendr.kinds.service import ServiceSpec

    unit, alias = ServiceSpec(unit="ssh.service"), ServiceSpec(unit="sshd.service")
    desired = [("states/a.toml", unit), ("states/b.toml", alias)]
    [twice] = declared_twice(desired, {"service": _systemd(SSH, SSH)})
    assert (twice.first, twice.second, twice.identity) == (
        ("states/a.toml", unit),
        ("states/b.toml", alias),
        "ssh.service",
    )
    assert declared_twice(desired[:1], {"service": _systemd(SSH)}) == []


def test_a_change_carries_the_names_the_host_knows_its_resource_by() -> None:
    from tendr.kinds.service import ServiceSpec

    spec = ServiceSpec(unit="sshd.service", enabled=True)
    [change] = plan_host("h", [("states/a.toml", spec)], {"service": _systemd(SSH)}, {}).changes
    assert (change.op, change.resource, change.resolved, change.aliases) == (
        "service.enable",
        "sshd.service",
        "ssh.service",
        ("sshd.service",),
    )
