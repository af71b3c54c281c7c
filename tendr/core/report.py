"""The client's report (`tendr report`): their machines over a period, from what tendr
kept (the drift history, the audit log), for the hosts the rules let a person report on.
Touches no host: `gather` reads the history and the log, `build` is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tendr.base.errors import PermissionDenied
from tendr.core import audit, history
from tendr.core.authorize import readable
from tendr.core.history import Run, summarize
from tendr.workspace.hosts import Host
from tendr.workspace.loader import Workspace


def gather(
    loaded: Workspace, person: str, selected: Sequence[Host], start: datetime, end: datetime
) -> tuple[Report, dict[str, str]]:
    """The report on the selected hosts `person` may report on (operation `report`)
    from `start` to `end`, and the hosts left out with the reason, by name; refused
    when none is left."""
    allowed, refused = readable(loaded, person, "report", selected)
    if not allowed:
        raise PermissionDenied(message=f"permission denied: {person} may report on no host")
    runs = [
        r
        for r in history.runs(
            loaded.path(loaded.settings.history),
            [h.name for h in allowed],
            start.isoformat(timespec="seconds"),
        )
        if audit.parse_time(r.time) <= end
    ]
    query = audit.Query(since=start, until=end)
    lines = audit.read_lines(loaded.path(loaded.settings.audit_log))
    records = [r for r in audit.records(lines) if query(r)]
    jobs = {
        h.name: [d.spec.key for d in loaded.desired(h) if d.spec.kind == "backup"] for h in allowed
    }
    built = build(
        [(h.name, h.client, jobs[h.name]) for h in allowed],
        runs,
        records,
        start.isoformat(timespec="seconds"),
        end.isoformat(timespec="seconds"),
    )
    return built, refused


_APPLIED = {"done", "failed", "interrupted"}  # outcomes of a change that was attempted


@dataclass(frozen=True)
class Machine:
    """One host at the end of the period: its last plan's verdict and what differed."""

    name: str
    client: str
    status: str  # in_sync, drift, error, unknown (no plan in the period)
    last_plan: str = ""
    error: str = ""
    problems: tuple[tuple[str, str, str], ...] = ()  # (op, resource, cause) at the last plan
    backups: tuple[tuple[str, str], ...] = ()  # (job, state) at the last plan


@dataclass(frozen=True)
class Applied:
    time: str
    person: str
    host: str
    op: str
    resource: str
    outcome: str
    reason: str
    rule: str


@dataclass(frozen=True)
class Report:
    clients: tuple[str, ...]
    since: str
    until: str
    machines: tuple[Machine, ...]
    applied: tuple[Applied, ...]
    # Per day (YYYY-MM-DD): the resources drifting at each host's last plan that day, summed.
    drift_by_day: tuple[tuple[str, int], ...]
    # Per host: resources that drifted in the period, as (op, resource, drifted, plans, now).
    drifted: dict[str, tuple[tuple[str, str, int, int, bool], ...]] = field(default_factory=dict)


def build(
    hosts: Sequence[tuple[str, str, Sequence[str]]],
    runs: Sequence[Run],
    records: Sequence[dict[str, Any]],
    since: str,
    until: str,
) -> Report:
    """`hosts`: (name, client, backup jobs declared); `runs`: their plans in the period,
    oldest first; `records`: the audit log's records in the period."""
    by_host: dict[str, list[Run]] = {name: [] for name, _, _ in hosts}
    for run in runs:
        by_host.setdefault(run.host, []).append(run)
    machines = tuple(_machine(name, client, jobs, by_host[name]) for name, client, jobs in hosts)
    names = set(by_host)
    applied = tuple(
        Applied(
            str(r.get("time", "")),
            str(r.get("person", "")),
            str(r.get("host", "")),
            str(r.get("op", "")),
            str(r.get("resource", "")),
            str(r.get("outcome", "")),
            str(r.get("reason") or ""),
            str(r.get("rule") or ""),
        )
        for r in records
        if r.get("host") in names and r.get("outcome") in _APPLIED
    )
    drifted = {
        name: tuple((d.op, d.resource, d.drifted, d.runs, d.now) for d in summarize(by_host[name]))
        for name in by_host
    }
    return Report(
        clients=tuple(sorted({client for _, client, _ in hosts})),
        since=since,
        until=until,
        machines=machines,
        applied=applied,
        drift_by_day=_by_day(runs),
        drifted=drifted,
    )


def _machine(name: str, client: str, jobs: Sequence[str], runs: Sequence[Run]) -> Machine:
    if not runs:
        return Machine(name, client, "unknown", backups=tuple((job, "not read") for job in jobs))
    last = runs[-1]
    problems = tuple(
        (c.op, c.resource, c.note or ("could not be read" if c.action == "unknown" else "drift"))
        for c in last.changes
    )
    backups = []
    for job in jobs:
        found = [c for c in last.changes if c.kind == "backup" and c.resource == job]
        if last.status == "error":
            state = "not read"
        elif not found:
            state = "ok"
        else:
            state = "; ".join(f"{c.op}: {c.note or c.action}" for c in found)
        backups.append((job, state))
    return Machine(name, client, last.status, last.time, last.error or "", problems, tuple(backups))


def _by_day(runs: Sequence[Run]) -> tuple[tuple[str, int], ...]:
    last: dict[tuple[str, str], Run] = {}
    for run in runs:
        if run.status != "error":
            last[(run.time[:10], run.host)] = run
    days: dict[str, int] = {}
    for (day, _), run in sorted(last.items()):
        days[day] = days.get(day, 0) + len(run.changes)
    return tuple(sorted(days.items()))
