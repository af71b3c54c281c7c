"""The client's report (`tendr report`): their machines over a period, from what tendr
kept (the drift history, the audit log), for the hosts the rules let a person report on.
Touches no host: `gather` reads the history and the log, `build` is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tendr.base.errors import PermissionDenied
from tendr.core import audit, history
from tendr.core.authorize import readable
from tendr.core.history import Run
from tendr.workspace import baseline
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
    path = loaded.path(loaded.settings.history)
    names = [h.name for h in allowed]
    # Every plan up to the end: whether a resource drifts or is being set up for the first
    # time depends on the plans before the period too.
    runs = [r for r in history.runs(path, names) if audit.parse_time(r.time) <= end]
    query = audit.Query(since=start, until=end)
    lines = audit.read_lines(loaded.path(loaded.settings.audit_log))
    records = [r for r in audit.records(lines) if query(r)]
    jobs = {
        h.name: [d.spec.key for d in loaded.desired(h) if d.spec.kind == "backup"] for h in allowed
    }
    descriptions = {name: state.description for name, state in loaded.states if state.description}
    descriptions[baseline.SOURCE] = "tendr's baseline: the journal kept, the health check"
    since, until = _utc(start), _utc(end)
    built = build(
        [(h.name, h.client, jobs[h.name]) for h in allowed],
        runs,
        records,
        since,
        until,
        descriptions=descriptions,
        found=history.findings(path, names, since, until),
    )
    return built, refused


def _utc(when: datetime) -> str:
    """As the history and the audit log write times (UTC), so that text compares."""
    return when.astimezone(UTC).isoformat(timespec="seconds")


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
    why: str  # in plain words: what the change was for, and what went wrong


@dataclass(frozen=True)
class Report:
    clients: tuple[str, ...]
    since: str
    until: str
    machines: tuple[Machine, ...]
    applied: tuple[Applied, ...]
    # Per day (YYYY-MM-DD): the resources found drifting by that day's plans, all hosts.
    # A resource tendr sets up for the first time is not drifting: it had not been as
    # agreed yet. The list below holds the same resources.
    drift_by_day: tuple[tuple[str, int], ...]
    # Per host: resources that drifted in the period, as (op, resource, drifted, plans, now).
    drifted: dict[str, tuple[tuple[str, str, int, int, bool], ...]] = field(default_factory=dict)
    # What diagnose found (a failed unit, a full disk, the health check's records).
    found: tuple[history.Finding, ...] = ()


def build(
    hosts: Sequence[tuple[str, str, Sequence[str]]],
    runs: Sequence[Run],
    records: Sequence[dict[str, Any]],
    since: str,
    until: str,
    *,
    descriptions: Mapping[str, str] | None = None,
    found: Sequence[history.Finding] = (),
) -> Report:
    """`hosts`: (name, client, backup jobs declared); `runs`: their plans up to `until`,
    oldest first (those before `since` tell drift from a first setup); `records`: the
    audit log's records in the period; `descriptions`: each state file's, by its name."""
    descriptions = descriptions or {}
    by_host: dict[str, list[Run]] = {name: [] for name, _, _ in hosts}
    for run in runs:
        by_host.setdefault(run.host, []).append(run)
    drifting = {name: _drifting(host_runs) for name, host_runs in by_host.items()}
    period = {
        name: [r for r in host_runs if audit.parse_time(r.time) >= audit.parse_time(since)]
        for name, host_runs in by_host.items()
    }
    machines = tuple(
        _machine(name, client, jobs, period[name], drifting[name]) for name, client, jobs in hosts
    )
    names = set(by_host)
    applied = tuple(
        Applied(
            str(r.get("time", "")),
            str(r.get("person", "")),
            str(r.get("host", "")),
            str(r.get("op", "")),
            str(r.get("resource", "")),
            str(r.get("outcome", "")),
            _why(r, descriptions),
        )
        for r in records
        if r.get("host") in names and r.get("outcome") in _APPLIED
    )
    return Report(
        clients=tuple(sorted({client for _, client, _ in hosts})),
        since=since,
        until=until,
        machines=machines,
        applied=applied,
        drift_by_day=_by_day(period, drifting),
        drifted={name: _drifted(period[name], drifting[name]) for name in by_host},
        found=tuple(found),
    )


_ON_DEMAND = {
    "do": "asked for by the technician",
    "run": "a command the technician ran",
    "onboard": "the machine brought under management",
    "approve": "the machine approved for changes",
    "backup check": "the backup's restore tested",
}


def _why(record: dict[str, Any], descriptions: Mapping[str, str]) -> str:
    """What a change was for, as the client reads it: the agreement it keeps (a state's
    description) or who asked; and what went wrong, if it did."""
    source = str(record.get("source") or "")
    command = str(record.get("command") or "")
    if source:
        purpose = descriptions.get(source) or f"as agreed ({source})"
    else:
        purpose = _ON_DEMAND.get(command, f"by tendr {command}".strip())
    reason = str(record.get("reason") or "")
    if record.get("outcome") != "done" and reason:
        return f"{purpose}; it {record.get('outcome')}: {reason}"
    return purpose


Drifting = dict[str, set[tuple[str, str]]]  # a run's time -> its resources that drift


def _drifting(runs: Sequence[Run]) -> Drifting:
    """Per plan of one host (oldest first), the resources that drift: those it found
    differing, but for the host's first setup: what its first plan found differing, for
    as long as it still differs (tendr had not made it as agreed yet)."""
    setting_up: set[tuple[str, str]] | None = None  # None: before the host's first plan
    found: Drifting = {}
    for run in runs:
        if run.status == "error":
            continue  # says nothing either way
        now = {(c.kind, c.resource) for c in run.changes}
        setting_up = now if setting_up is None else setting_up & now
        found[run.time] = now - setting_up
    return found


def _drifted(
    runs: Sequence[Run], drifting: Drifting
) -> tuple[tuple[str, str, int, int, bool], ...]:
    read = [r for r in runs if r.status != "error"]
    counts: dict[tuple[str, str], int] = {}
    ops: dict[tuple[str, str], str] = {}
    for run in read:
        for change in run.changes:
            key = (change.kind, change.resource)
            if key in drifting.get(run.time, set()):
                counts[key] = counts.get(key, 0) + 1
                ops[key] = change.op
    last = drifting.get(read[-1].time, set()) if read else set()
    return tuple(
        (ops[key], key[1], count, len(read), key in last)
        for key, count in sorted(counts.items(), key=lambda item: (item[0] not in last, item[0]))
    )


def _machine(
    name: str, client: str, jobs: Sequence[str], runs: Sequence[Run], drifting: Drifting
) -> Machine:
    if not runs:
        return Machine(name, client, "unknown", backups=tuple((job, "not read") for job in jobs))
    last = runs[-1]
    problems = tuple(
        (c.op, c.resource, _cause(c, (c.kind, c.resource) in drifting.get(last.time, set())))
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


def _cause(change: history.Change, drifts: bool) -> str:
    if change.note:
        return change.note
    if change.action == "unknown":
        return "could not be read"
    return "differs from what was agreed" if drifts else "not set up yet"


def _by_day(
    period: dict[str, list[Run]], drifting: dict[str, Drifting]
) -> tuple[tuple[str, int], ...]:
    days: dict[str, set[tuple[str, str, str]]] = {}
    for name, runs in period.items():
        for run in runs:
            found = days.setdefault(run.time[:10], set())
            found |= {(name, *key) for key in drifting[name].get(run.time, set())}
    return tuple(sorted((day, len(found)) for day, found in days.items()))
