"""What tendr remembers of a repository (the drift history), and what it held."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tendr.base.changes import Unreadable
from tendr.kinds.backup.facts import BackupActual
from tendr.kinds.backup.spec import BackupSpec
from tendr.kinds.kind import Context

# -- what tendr remembers of a repository, and a job's disk not mounted


def remember(
    spec: BackupSpec, actual: BackupActual | Unreadable, context: Context | None = None
) -> dict[str, Any] | None:
    """What a plan keeps of the job's repository when it opened (the drift history holds
    it per host and job): where, restic's id, how many snapshots, the newest."""
    if isinstance(actual, Unreadable) or actual.repository.status != "ok":
        return None
    repo = actual.repository
    return {
        "repository": spec.repository,
        "id": repo.id,
        "snapshots": repo.snapshots,
        "newest": repo.newest,
    }


def seen(spec: BackupSpec, context: Context) -> dict[str, Any] | None:
    """What an earlier plan found of the job's repository, where it is declared now; None:
    never seen there (a new job, or one whose repository moved in the state)."""
    found = context.seen.get(f"backup:{spec.key}")
    if isinstance(found, dict) and found.get("repository") == spec.repository:
        return found
    return None


def held(before: dict[str, Any]) -> str:
    """What a repository held when last seen: "14 snapshots, newest 2026-12-01 03:00 UTC"."""
    count = before.get("snapshots")
    newest = before.get("newest")
    if not isinstance(count, int) or isinstance(count, bool):
        return "snapshots not counted"
    if count == 0:
        return "no snapshot yet"
    text = f"{count} snapshot{'s' if count != 1 else ''}"
    return text + (f", newest {when(newest)}" if isinstance(newest, int) else "")


def when(epoch: int) -> str:
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (ValueError, OverflowError, OSError):
        return f"@{epoch}"
