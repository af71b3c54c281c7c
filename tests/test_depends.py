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
from tendr.cli.app import app
from tendr.cli.render import change_json, change_lines
from tendr.core.plan import HostPlan, closure, needed, plan_host
from tendr.kinds.file import FileSpec
from tendr.kinds.package import PackageSpec
from tendr.kinds.service import ServiceSpec
from tendr.ops.execute import queue, refused
from tests.helpers import LOCAL_HOSTS, build_tree


def _workspace(tmp_path: Path, state: str) -> Path:
    tree = {"hosts/local.toml": LOCAL_HOSTS, "states/a.toml": 'hosts = ["all"]\n' + state}
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
