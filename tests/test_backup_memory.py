"""What plans remember of a backup job's repository: kept in the drift history per host
and job, handed to the next plan, which tells "missing now" from "never there"."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tendr.base.errors import UserError
from tendr.core import history
from tendr.core.plan import HostPlan, Plan, plan_host
from tendr.ops.on_demand import on_demand
from tests.test_backup_kind import (
    HEAD,
    LOCAL,
    NOT_INITIALISED_LOCAL,
    REPO_ID,
    SECRETS,
    SNAPSHOTS,
    job,
)

FOUND = HEAD + job("@repo\t0", f"@out\t{SNAPSHOTS}", f"@id\t{REPO_ID}")
GONE = HEAD + job("@repo\t1", *(f"@out\t{line}" for line in NOT_INITIALISED_LOCAL))


def plan(lines: list[str], seen: dict[str, dict[str, object]] | None = None) -> HostPlan:
    return plan_host("fs01", [("states/b.toml", LOCAL)], {"backup": lines}, {}, SECRETS, seen)


def test_a_plan_remembers_an_opened_repository_and_the_next_one_is_told() -> None:
    first = plan(FOUND)
    assert first.seen == {
        "backup:documents": {
            "repository": "/mnt/backup/restic",
            "id": REPO_ID,
            "snapshots": 2,
            "newest": 1732845604,
        }
    }
    assert "backup.init" in [c.op for c in plan(GONE).changes]
    later = plan(GONE, first.seen)
    # (the job's files differ from these made-up ones: configure stays planned)
    assert [(c.op, c.action) for c in later.changes] == [
        ("backup.configure", "change"),
        ("backup.read", "unknown"),
    ]
    assert "repository missing: it held 2 snapshots, newest 2024-11-29 02:00 UTC" in (
        later.changes[1].note
    )
    assert later.seen == {}  # what is missing now is not remembered over what was seen


def test_the_history_keeps_the_latest_seen_per_host_and_job(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    assert history.seen(path, ["fs01"]) == {}
    first = plan(FOUND)
    assert history.record(path, Plan((first, HostPlan("fs02"))), "alice") is None
    assert history.seen(path, ["fs01", "fs02"]) == {"fs01": first.seen}
    # A plan that finds it missing keeps what was seen; one that sees it again replaces it.
    assert history.record(path, Plan((plan(GONE, first.seen),)), "alice") is None
    assert history.seen(path, ["fs01"]) == {"fs01": first.seen}
    newer = {"backup:documents": {**first.seen["backup:documents"], "snapshots": 3}}
    assert history.record(path, Plan((HostPlan("fs01", seen=newer),)), "bob") is None
    assert history.seen(path, ["fs01"]) == {"fs01": newer}
    assert history.seen(path, ["fs02"]) == {}


def test_a_history_from_before_tendr_remembered_anything_remembers_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, time TEXT)")
    assert history.seen(path, ["fs01"]) == {}


def test_starting_over_is_an_operation_on_a_job_name() -> None:
    spec, change = on_demand("backup.init", "documents")
    assert (spec.kind, spec.key, change.op) == ("backup", "documents", "backup.init")
    assert change.after() == {"repository": "a new, empty one"}
    with pytest.raises(UserError, match="'Docs; reboot' is not a job name"):
        on_demand("backup.init", "Docs; reboot")


def test_a_plan_given_no_secrets_says_the_password_is_not_known() -> None:
    """Without the secrets (a caller that has none to give), the plan is made: a secret
    missing is reported as not known, never guessed, and nothing fails."""
    without = plan_host("fs01", [("states/b.toml", LOCAL)], {"backup": FOUND}, {})
    [configure, _] = without.changes
    assert configure.note == (
        "the password (file secrets/acme-restic.pass) was not available to tendr: it can "
        "be neither compared nor written"
    )
    assert "password" in [f.name for f in configure.fields]
