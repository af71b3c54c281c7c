"""Changes carry what they need (issue 28 point 2): the kinds' own dependencies and a
state's `after`, checked at load and at plan, shown in the plan, and the changes that
wait on a refused one held back from apply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.text import Text
from typer.testing import CliRunner

from tendr.base.changes import Change
from tendr.base.errors import InvalidValue
from tendr.cli.app import app
from tendr.cli.render import change_json, change_lines
from tendr.core.only import only, part
from tendr.core.plan import HostPlan, Plan, closure, needed, plan_host
from tendr.kinds.file import FileSpec
from tendr.kinds.package import PackageSpec
from tendr.kinds.service import ServiceSpec
from tendr.ops.execute import queue, refused
from tests.helpers import ADMIN_RULES, LOCAL_HOSTS, build_tree


def _workspace(tmp_path: Path, state: str) -> Path:
    tree = {
        "hosts/local.toml": LOCAL_HOSTS,
        "states/a.toml": 'hosts = ["all"]\n' + state,
        "rules/roles.toml": ADMIN_RULES,
    }
    return build_tree(tmp_path / "ws", tree)


def _validate(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", "-w", str(root)])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("state", "where", "words"),
    [
        (
            '[[file]]\npath = "/etc/a"\ncontent = "a"\nafter = ["printer:x"]\n',
            "states/a.toml:5: file[0].after[0]:",
            "'printer:x': no state declares printer 'x'",
        ),
        (
            '[[file]]\npath = "/etc/a"\ncontent = "a"\nafter = ["folder:/etc"]\n',
            "states/a.toml:5: file[0].after[0]:",
            "no kind 'folder'",
        ),
        (
            '[[package]]\nname = "cups"\nafter = ["file:/etc/a"]\n'
            '[[file]]\npath = "/etc/a"\ncontent = "a"\n',
            "states/a.toml:4: package[0].after[0]:",
            "'file:/etc/a' comes later in the plan",
        ),
        (
            '[[file]]\npath = "/etc/a"\ncontent = "a"\nafter = ["file:/etc/b"]\n'
            '[[file]]\npath = "/etc/b"\ncontent = "b"\n',
            "states/a.toml:5: file[0].after[0]:",
            "'file:/etc/b' comes later in the plan",
        ),
        (
            '[[file]]\npath = "/etc/a"\ncontent = "a"\nafter = ["file:/etc/a"]\n',
            "states/a.toml:5: file[0].after[0]:",
            "(or is this resource)",
        ),
        (
            '[[file]]\npath = "/etc/a"\ncontent = "a"\nafter = ["cups.service"]\n',
            "states/a.toml:5: file[0].after[0]:",
            "'cups.service' is not KIND:NAME",
        ),
    ],
)
def test_a_bad_after_is_a_workspace_problem_where_it_is_written(
    tmp_path: Path, state: str, where: str, words: str
) -> None:
    code, text = _validate(_workspace(tmp_path, state))
    assert code == 1, text
    [line] = [line for line in text.splitlines() if line.startswith("error: ")]
    assert line.startswith(f"error: {where} ") and words in line, text


def test_an_earlier_resource_may_be_waited_on(tmp_path: Path) -> None:
    state = (
        '[[package]]\nname = "cups"\n'
        '[[file]]\npath = "/etc/a"\ncontent = "a"\n'
        '[[file]]\npath = "/etc/b"\ncontent = "b"\nafter = ["file:/etc/a", "package:cups"]\n'
    )
    code, text = _validate(_workspace(tmp_path, state))
    assert code == 0, text


def _files(*paths: str) -> list[str]:
    """File probe lines: every path absent, its folder there and open to all."""
    lines = [f"absent\t{path}" for path in paths]
    return [*lines, "@real", *sorted({p.rsplit("/", 1)[0] for p in paths}), "@folders"]


def test_after_makes_each_change_need_the_changes_of_what_it_names() -> None:
    desired: list[tuple[str, Any]] = [
        ("states/a.toml", PackageSpec(name="restic")),
        ("states/a.toml", FileSpec(path="/etc/a", content="a")),
        ("states/b.toml", FileSpec(path="/etc/b", content="b", after=("file:/etc/a",))),
        ("states/b.toml", FileSpec(path="/etc/c", content="c", after=("package:restic",))),
    ]
    sections = {
        "package": ["@policy", "restic:", "  Candidate: 0.16"],
        "file": _files("/etc/a", "/etc/b", "/etc/c"),
    }
    changes = plan_host("h", desired, sections, {}).changes
    assert [(c.id, c.needs) for c in changes] == [
        ("package.install restic", ()),
        ("file.write /etc/a", ()),
        ("file.write /etc/b", ("file.write /etc/a",)),
        ("file.write /etc/c", ("package.install restic",)),
    ]
    text = "\n".join(Text.from_markup(line).plain for line in change_lines(changes[2]))
    assert "needs file.write /etc/a" in text
    assert change_json(changes[3])["needs"] == ["package.install restic"]
    assert change_json(changes[0])["needs"] == []


def test_after_a_resource_declared_later_for_this_host_is_a_plan_error() -> None:
    """Across files the order is the host's: a resource waiting on one of its kind that
    comes later (another file) cannot be planned, and the host's plan says so."""
    desired: list[tuple[str, Any]] = [
        ("states/a.toml", FileSpec(path="/etc/a", content="a", after=("file:/etc/b",))),
        ("states/b.toml", FileSpec(path="/etc/b", content="b")),
    ]
    host = plan_host("h", desired, {"file": _files("/etc/a", "/etc/b")}, {})
    assert host.code == "workspace.invalid" and host.error is not None
    assert "file '/etc/a' in states/a.toml waits on file:/etc/b" in host.error
    assert "comes later in the plan" in host.error


def test_a_service_needs_its_files_and_the_packages_that_may_bring_it() -> None:
    desired: list[tuple[str, Any]] = [
        ("s", PackageSpec(name="cron")),
        ("s", ServiceSpec(unit="cron.service", running=True, dropins={"10-x.conf": "x"})),
    ]
    sections = {
        "package": ["@policy", "cron:", "  Candidate: 3.0"],
        "service": [
            "Id=cron.service",
            "LoadState=not-found",
            "ActiveState=inactive",
            "SubState=dead",
            "UnitFileState=",
            "",
            "@files",
            "absent\t/etc/systemd/system",
            "absent\t/etc/systemd/system",
        ],
    }
    changes = plan_host("h", desired, sections, {}).changes
    assert [(c.id, c.needs) for c in changes] == [
        ("package.install cron", ()),
        ("service.configure cron.service", ()),
        ("service.start cron.service", ("service.configure cron.service", "package.install cron")),
    ]


def _chain() -> tuple[Change, ...]:
    def change(op: str, resource: str, *needs: str, allowed: bool = True) -> Change:
        kind = op.split(".")[0]
        return Change(kind, resource, op, "add", needs=needs, allowed=allowed)

    return (
        change("package.install", "restic", allowed=False),
        change("file.write", "/etc/a"),
        change("file.write", "/etc/b", "package.install restic"),
        change("file.write", "/etc/c", "file.write /etc/b"),
        change("file.write", "/etc/d", "file.write /etc/a"),
    )


def test_what_waits_on_a_refused_change_is_not_run_and_says_so() -> None:
    changes = _chain()
    host = HostPlan("h", changes)
    specs: dict[tuple[str, str], Any] = {
        ("file", c.resource): FileSpec(path=c.resource, content="x") for c in changes[1:]
    }
    work = queue(host, specs, {})
    assert [(w.what, w.needs) for w in work] == [
        ("file.write /etc/a", ()),
        ("file.write /etc/d", (0,)),
    ]
    assert [(r.change.id, r.outcome, r.reason) for r in refused(host)] == [
        ("package.install restic", "refused", ""),
        ("file.write /etc/b", "skipped", "waits on package.install restic, which was refused"),
        ("file.write /etc/c", "skipped", "waits on package.install restic, which was refused"),
    ]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_the_closure_is_every_change_needed_directly_or_not(data: st.DataObject) -> None:
    count = data.draw(st.integers(min_value=1, max_value=8))
    direct = [
        tuple(sorted(data.draw(st.sets(st.integers(0, i - 1), max_size=i)))) if i else ()
        for i in range(count)
    ]
    start = data.draw(st.sets(st.integers(0, count - 1), max_size=count))
    found = closure(direct, start)
    assert start <= found
    assert all(set(direct[i]) <= found for i in found)  # closed
    # and least: every one reached is reached through needs from the start
    reached = set(start)
    for i in sorted(found, reverse=True):
        if i in reached:
            reached |= set(direct[i])
    assert reached == found


def test_needs_name_earlier_changes_only() -> None:
    changes = _chain()
    assert needed(changes) == [(), (), (0,), (2,), (1,)]
    assert json.dumps(change_json(changes[3])["needs"]) == '["file.write /etc/b"]'


# -- part of a plan: --only ---------------------------------------------------------------


def _plan() -> HostPlan:
    def change(op: str, resource: str, source: str, *needs: str) -> Change:
        return Change(op.split(".")[0], resource, op, "add", needs=needs, source=source)

    return HostPlan(
        "h",
        (
            change("package.install", "restic", "states/base.toml"),
            change("driver.install", "cups", "states/print.toml"),
            change("printer.add", "frontdesk", "states/print.toml", "driver.install cups"),
            change("printer.add", "back", "states/print.toml", "driver.install cups"),
            change("backup.configure", "docs", "states/backups.toml"),
            change("backup.init", "docs", "states/backups.toml", "backup.configure docs"),
            change("backup.run", "docs", "states/backups.toml", "backup.init docs"),
        ),
    )


@pytest.mark.parametrize(
    ("selectors", "kept"),
    [
        (
            ["printer:frontdesk"],
            ["driver.install cups <- printer.add frontdesk", "printer.add frontdesk"],
        ),
        (["backup"], ["backup.configure docs", "backup.init docs", "backup.run docs"]),
        (
            ["states/print.toml"],
            ["driver.install cups", "printer.add frontdesk", "printer.add back"],
        ),
        (
            ["package:restic", "printer:back"],
            [
                "package.install restic",
                "driver.install cups <- printer.add back",
                "printer.add back",
            ],
        ),
    ],
)
def test_only_keeps_the_selected_and_pulls_in_what_they_need(
    selectors: list[str], kept: list[str]
) -> None:
    plan = only(Plan((_plan(), HostPlan("bad", error="unreachable"))), [part(s) for s in selectors])
    shown = [c.id + (f" <- {c.pulled}" if c.pulled else "") for c in plan.hosts[0].changes]
    assert shown == kept
    assert plan.hosts[1].error == "unreachable"


def test_a_pulled_in_change_says_so() -> None:
    [pulled, _] = only(Plan((_plan(),)), [part("printer:frontdesk")]).hosts[0].changes
    text = "\n".join(Text.from_markup(line).plain for line in change_lines(pulled))
    assert "pulled in: printer.add frontdesk needs it" in text
    assert change_json(pulled)["pulled_in_by"] == "printer.add frontdesk"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("folder", "'folder': no kind 'folder'"),
        ("printer:", "'printer:' names no resource"),
    ],
)
def test_a_selector_that_is_none_is_refused(text: str, words: str) -> None:
    with pytest.raises(InvalidValue, match=words):
        part(text)


def test_a_selector_that_selects_nothing_is_an_error_naming_it(tmp_path: Path) -> None:
    state = '[[file]]\npath = "/etc/a"\ncontent = "a"\n'
    ws = str(_workspace(tmp_path, state))
    for selector in ("printer:frontdesk", "states/other.toml", "backup", "file:/etc/b"):
        result = CliRunner().invoke(app, ["plan", "-w", ws, "--only", selector])
        assert result.exit_code == 1, result.output
        assert f"--only: {selector!r} selects no resource of the selected hosts" in result.output
    result = CliRunner().invoke(
        app, ["apply", "-w", ws, "--only", "frob", "--yes", "--format", "json"]
    )
    data = json.loads(result.output)
    assert result.exit_code == 1 and data["code"] == "value.invalid"
    assert data["option"] == "--only" and data["value"] == "frob"
    result = CliRunner().invoke(
        app, ["diagnose", "-w", ws, "--only", "service", "--format", "json"]
    )
    assert json.loads(result.output)["code"] == "selection.no-resource"


def test_a_resource_waiting_on_itself_cannot_be_planned() -> None:
    desired: list[tuple[str, Any]] = [
        ("states/a.toml", FileSpec(path="/etc/a", content="a", after=("file:/etc/a",))),
    ]
    host = plan_host("h", desired, {"file": _files("/etc/a")}, {})
    assert host.error is not None and "waits on file:/etc/a" in host.error


def test_a_change_apply_cannot_make_needs_nothing() -> None:
    """What cannot be read (`?`) is not made: it waits on nothing, and nothing waits on
    it."""
    desired: list[tuple[str, Any]] = [
        ("s", FileSpec(path="/etc/a", content="a")),
        ("s", FileSpec(path="/etc/d", content="d", after=("file:/etc/a",))),
        ("s", FileSpec(path="/etc/e", content="e", after=("file:/etc/d",))),
    ]
    lines = ["absent\t/etc", "other", "absent\t/etc", "@real", "/etc", "@folders"]
    changes = plan_host("h", desired, {"file": lines}, {}).changes
    assert [(c.id, c.action, c.needs) for c in changes] == [
        ("file.write /etc/a", "add", ()),
        ("file.read /etc/d", "unknown", ()),
        ("file.write /etc/e", "add", ()),
    ]
