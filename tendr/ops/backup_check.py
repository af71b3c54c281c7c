"""`tendr backup check HOST [JOB]`: each job's restore check (its kind's `restore_check`,
tendr/kinds/backup/check.py) run on the host as the rules allow KIND.check, each
recorded, through the runner (tendr/ops/runner.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tendr.base.changes import Change, FieldChange
from tendr.base.errors import CommandTimeout, ConnectionLost, HostError, UserError
from tendr.kinds.base import ResourceSpec
from tendr.kinds.registry import KINDS
from tendr.ops import engine
from tendr.ops.runner import Runner
from tendr.remote.connect import Session, read
from tendr.workspace.hosts import Host
from tendr.workspace.loader import Workspace


@dataclass(frozen=True)
class Checked:
    """One job's check: passed or not, and why, in one line."""

    job: str
    passed: bool
    reason: str


def check_backups(workspace: Workspace, host: Host, person: str, job: str | None) -> list[Checked]:
    """Check the repository of each backup job of `host` (or of `job`) and restore a
    sample of its newest snapshot, as the rules allow `backup.check`; each recorded."""
    jobs = [
        spec
        for _, spec in engine.desired_for(workspace, host)
        if KINDS[spec.kind].restore_check is not None
        and getattr(spec, "present", True)
        and job in (None, spec.key)
    ]
    if not jobs:
        what = f"no backup job {job!r}" if job else "no backup job"
        raise UserError(f"{host.name} has {what} in the workspace's states")
    runner = Runner(workspace, person, "backup check", nothing="nothing was checked")
    found: dict[str, Checked] = {}
    pending: list[tuple[ResourceSpec, Change]] = []  # the checks allowed, not made yet
    for spec in jobs:
        op = f"{spec.kind}.check"
        change = Change(kind=spec.kind, resource=spec.key, op=op, action="change")
        decided = runner.decide([host], op, spec.key, change=change)
        if host.name in decided.refused:
            found[spec.key] = Checked(spec.key, False, decided.refused[host.name])
        else:
            pending.append((spec, decided.changes[host.name]))

    def checked(spec: ResourceSpec, change: Change, passed: bool, reason: str) -> None:
        fields = (FieldChange("passed", None, passed),)
        outcome = "done" if passed else "failed"
        runner.record(host.name, replace(change, fields=fields), outcome, reason)
        found[spec.key] = Checked(spec.key, passed, reason)

    def failed(_name: str, why: str) -> None:
        while pending:
            checked(*pending.pop(0), False, why)

    def one(session: Session, reached: Host) -> None:
        while pending:
            spec, change = pending[0]
            passed, reason = _check_one(workspace, session, reached, spec)
            checked(spec, change, passed, reason)
            pending.pop(0)

    runner.over(
        [host] if pending else [],
        one,
        failed=failed,
        unfinished=lambda _name: [change for _, change in pending],
    )
    runner.finish()
    return [found[spec.key] for spec in jobs]


def _check_one(
    workspace: Workspace, session: Session, host: Host, spec: ResourceSpec
) -> tuple[bool, str]:
    check = KINDS[spec.kind].restore_check
    assert check is not None  # only jobs whose kind has one are checked
    try:
        return read(session, host.name, check(spec), timeout=workspace.settings.command_timeout)
    except (CommandTimeout, ConnectionLost, HostError) as exc:
        return False, exc.reason
