"""`tendr watch`'s reckoning, pure: from what one cycle found on the hosts it read and
the problems kept from earlier cycles, which problems open, stay open or clear, and what
each alert is to be told.

A problem is known from one cycle to the next by its identity, (host, area, key): the
key is what it is about (a unit, a mount point, a queue, a resource's operation), never
a count or a time. It opens when first found, and is told at once. Absent from a cycle
that read its host, it is cleared; but its "cleared" is told only once it has stayed
away `clear_after` cycles in a row: found again before that, it is the same problem
flapping, open again and told nothing more. A host the cycle could not read keeps its
problems as they were (its own problem, unreachable, is what opens).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tendr.base.names import duration_seconds
from tendr.base.settings import Alert
from tendr.kinds.kind import Problem

SEVERITIES = ("warning", "critical")
CRITICAL_AREAS = frozenset({"host", "backup", "unit"})
"""Areas whose every problem is critical: a host unreachable, unreadable or offering
another key than the one pinned; a backup failing or too old; a failed unit."""
DISK_CRITICAL = 95  # percent of a file system in use that is critical (90 is a warning)
UNWATCHED_AREAS = frozenset({"journal", "history"})
"""What watch opens no problem for: the journal's errors of the last day (diagnose's
`journal`) are too many and too old to alert on. Everything else is watched: host,
unit, disk, memory, printer, backup, health, and drift under its kind's area."""


def severity(problem: Problem) -> str:
    """critical or warning, by a fixed mapping per area (README, Watching)."""
    if problem.area in CRITICAL_AREAS:
        return "critical"
    if problem.area == "disk":
        used = problem.what.partition("% full")[0].rpartition(" ")[2]
        if used.isdigit() and int(used) >= DISK_CRITICAL:
            return "critical"
    return "warning"


def watched(problem: Problem) -> bool:
    return problem.area not in UNWATCHED_AREAS


@dataclass(frozen=True)
class Tracked:
    """A problem as the store keeps it, from its first cycle to its clearing told."""

    host: str
    area: str
    key: str
    client: str
    what: str
    cause: str
    fix: str
    severity: str
    first_seen: str  # ISO 8601, UTC
    last_seen: str
    cleared: str | None = None  # when it was first missed, while it stays away
    absent: int = 0  # cycles in a row that read its host without it
    told: str = "opened"  # opened, or cleared: the last thing alerts were given of it

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.host, self.area, self.key)

    @property
    def open(self) -> bool:
        """Open as alerts see it: until its clearing is told."""
        return self.told != "cleared"


def tracked(host: str, client: str, problem: Problem, now: str) -> Tracked:
    """A problem found this cycle, as it would be kept."""
    return Tracked(
        host=host,
        area=problem.area,
        key=problem.key or problem.what,
        client=client,
        what=problem.what,
        cause=problem.cause,
        fix=problem.fix,
        severity=severity(problem),
        first_seen=now,
        last_seen=now,
    )


@dataclass(frozen=True)
class Event:
    """Something to tell: a problem `opened`, `cleared`, or a `reminder` of it."""

    kind: str
    problem: Tracked


def advance(
    previous: Sequence[Tracked],
    found: Sequence[Tracked],
    read: Collection[str],
    now: str,
    clear_after: int = 2,
) -> tuple[list[Tracked], list[Event]]:
    """The problems after this cycle (every one of `previous` and `found`, each once) and
    what opened or cleared. `read`: the hosts this cycle read whole, whose problems not
    found are gone; `found` may hold problems of other hosts too (one unreachable)."""
    before = {p.identity: p for p in previous}
    after: dict[tuple[str, str, str], Tracked] = {}
    events: list[Event] = []
    for problem in found:
        if problem.identity in after:
            continue  # said twice in one reading: one problem
        earlier = before.get(problem.identity)
        if earlier is None or not earlier.open:
            after[problem.identity] = replace(problem, first_seen=now, last_seen=now)
            events.append(Event("opened", after[problem.identity]))
        else:  # still open, or back before its clearing was told: flapping
            after[problem.identity] = replace(
                problem, first_seen=earlier.first_seen, last_seen=now, told=earlier.told
            )
    for identity, earlier in before.items():
        if identity in after:
            continue
        if earlier.host not in read or not earlier.open:
            after[identity] = earlier
            continue
        gone = replace(earlier, cleared=earlier.cleared or now, absent=earlier.absent + 1)
        if gone.absent >= clear_after:
            gone = replace(gone, told="cleared")
            events.append(Event("cleared", gone))
        after[identity] = gone
    return list(after.values()), events


def wanted(alert: Alert, problem: Tracked) -> bool:
    """Whether `alert` is for this problem: one of its clients, and severe enough."""
    if alert.clients and problem.client not in alert.clients:
        return False
    return SEVERITIES.index(problem.severity) >= SEVERITIES.index(alert.min_severity)


def reminders(
    problems: Sequence[Tracked],
    alert: Alert,
    last_told: Mapping[tuple[str, str, str], str],
    now: datetime,
) -> list[Event]:
    """The open problems `alert` was told of longer than its `remind_after` ago."""
    if alert.remind_after is None:
        return []
    due = now - timedelta(seconds=duration_seconds(alert.remind_after))
    return [
        Event("reminder", p)
        for p in problems
        if p.open
        and p.cleared is None
        and wanted(alert, p)
        and p.identity in last_told
        and datetime.fromisoformat(last_told[p.identity]) <= due
    ]


def quiet(hours: str | None, now: datetime) -> bool:
    """Whether `now` (local time) is within quiet hours "HH:MM-HH:MM" (over midnight
    when the end is before the start)."""
    if not hours:
        return False
    start, end = (int(t[:2]) * 60 + int(t[3:]) for t in hours.split("-"))
    minute = now.hour * 60 + now.minute
    if start <= end:
        return start <= minute < end
    return minute >= start or minute < end


_TITLES = {"opened": "new", "cleared": "cleared", "reminder": "still open"}


def message(client: str, events: Sequence[Event]) -> tuple[str, str]:
    """One notification for one client's events of a cycle: its title and its body,
    each problem with its cause and the command that fixes it, as diagnose says them."""
    counts = [
        f"{sum(e.kind == kind for e in events)} {word}"
        for kind, word in _TITLES.items()
        if any(e.kind == kind for e in events)
    ]
    title = f"tendr: {client}: {', '.join(counts)}"
    lines: list[str] = []
    for event in events:
        p = event.problem
        head = f"[{_TITLES[event.kind]}] {p.severity} {p.host} {p.area}: {p.what}"
        lines.append(head)
        if event.kind == "cleared":
            lines.append(f"  open from {p.first_seen} to {p.cleared}")
            continue
        lines.append(f"  since {p.first_seen}")
        lines.append(f"  cause: {p.cause}")
        if p.fix:
            lines.append(f"  fix:   {p.fix}")
    return title, "\n".join(lines) + "\n"
