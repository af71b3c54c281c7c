"""The drift history: what a plan keeps, and since when and how often a resource drifts."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tendr.core.history import Change, Run, summarize
from tests.helpers import ADMIN_RULES, build_tree, needs_root, run_tendr


def run(time: str, *resources: str, status: str = "drift") -> Run:
    changes = tuple(Change("file", r, "file.write", "change") for r in resources)
    return Run(time, "ann", "h", status if resources else "in_sync", None, changes)


def test_since_is_the_start_of_the_current_streak() -> None:
    history = [
        run("t1", "/a"),
        run("t2"),
        run("t3", "/a", "/b"),
        run("t4", "/a"),
        Run("t5", "ann", "h", "error", "cannot connect"),  # says nothing either way
        run("t6", "/a"),
    ]
    a, b = summarize(history)
    assert (a.resource, a.now, a.since, a.drifted, a.runs, a.first, a.last) == (
        "/a",
        True,
        "t3",
        4,
        5,
        "t1",
        "t6",
    )
    assert (b.resource, b.now, b.since, b.drifted, b.last) == ("/b", False, None, 1, "t3")
    assert [d.resource for d in summarize(history, "/b")] == ["/b"]


@given(st.lists(st.sets(st.sampled_from(["/a", "/b", "/c"])), max_size=12))
def test_counts_add_up(plans: list[set[str]]) -> None:
    history = [run(f"t{i:02}", *sorted(p)) for i, p in enumerate(plans)]
    for drift in summarize(history):
        seen = [i for i, p in enumerate(plans) if drift.resource in p]
        assert drift.drifted == len(seen) and drift.runs == len(plans)
        assert drift.now == (drift.resource in plans[-1])


@needs_root
def test_every_plan_is_kept_and_history_says_since_when(tmp_path: Path) -> None:
    """Two plans with a file missing, then one after it was made: history shows it
    drifting since the first, then in sync, drifted in 2 of 3; JSON too."""
    target = tmp_path / "out" / "motd"
    ws = build_tree(
        tmp_path / "ws",
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{target}"\ncontent = "x\\n"\n',
            "rules/roles.toml": ADMIN_RULES,
        },
    )
    for _ in range(2):
        assert run_tendr("plan", "-w", str(ws))[0] == 2
    code, text = run_tendr("history", "-w", str(ws), "here")
    assert code == 2, text
    assert "here: 2 plan(s)" in text and f"drifting file.write {target}: since" in text
    assert "in 2 of 2 plan(s)" in text
    target.parent.mkdir()
    target.write_text("x\n")
    assert run_tendr("plan", "-w", str(ws))[0] == 0
    code, text = run_tendr("history", "-w", str(ws), "here", str(target), "--format", "json")
    assert code == 0, text
    [drift] = json.loads(text)["resources"]
    assert (drift["drifting"], drift["drifted"], drift["plans"]) == (False, 2, 3)
    code, text = run_tendr("history", "-w", str(ws), "here", "--as", "mallory")
    assert code == 1 and "permission denied" in text
    # A name that is no resource of the host is an error, not "in sync".
    code, text = run_tendr("history", "-w", str(ws), "here", "/etc/no-such-file")
    assert code == 1, text
    assert "'/etc/no-such-file' is no resource of this host" in text
    assert str(target) in text  # what it has instead
