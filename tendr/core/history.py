"""Drift history: every plan's verdict per host and resource, kept in SQLite in the
workspace (`history` in tendr.toml), so a technician sees since when a resource has
drifted and how often.

It also keeps what the latest plans saw of each host's resources where a kind
remembers something (a backup job's repository: its id, how many snapshots, the
newest), so that a later plan tells "missing now" from "never there" (`seen`).

`record` is the I/O edge (best effort: a history that cannot be written never stops a
plan, and the caller says so); `runs` and `seen` read it back; `summarize` is pure.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, astuple, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tendr.base.errors import FileUnusable, UserError
from tendr.base.private import make_private
from tendr.core import watch
from tendr.core.plan import Plan

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,          -- ISO 8601, UTC
    person TEXT NOT NULL,
    host TEXT NOT NULL,
    status TEXT NOT NULL,        -- in_sync, drift, error
    error TEXT
);
CREATE TABLE IF NOT EXISTS changes (
    run INTEGER NOT NULL REFERENCES runs(id),
    kind TEXT NOT NULL,
    resource TEXT NOT NULL,
    op TEXT NOT NULL,
    action TEXT NOT NULL,        -- add, change, remove, unknown
    note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS seen (
    host TEXT NOT NULL,
    resource TEXT NOT NULL,      -- KIND:KEY
    time TEXT NOT NULL,          -- of the plan that saw it last
    facts TEXT NOT NULL,         -- JSON, as the kind remembers it
    PRIMARY KEY (host, resource)
);
CREATE TABLE IF NOT EXISTS findings (
    time TEXT NOT NULL,          -- ISO 8601, UTC: when diagnose (or a watch) found it
    host TEXT NOT NULL,
    area TEXT NOT NULL,          -- unit, disk, memory, printer, backup, health, journal...
    what TEXT NOT NULL,
    cause TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_host ON runs(host, time);
CREATE INDEX IF NOT EXISTS findings_by_host ON findings(host, time);
CREATE INDEX IF NOT EXISTS changes_by_run ON changes(run);
"""


@contextmanager
def _database(path: Path) -> Iterator[sqlite3.Connection]:
    make_private(path)
    with closing(sqlite3.connect(path, timeout=30)) as db:
        db.executescript(SCHEMA)
        yield db


def record(path: Path, plan: Plan, person: str, when: datetime | None = None) -> str | None:
    """Keep every host's verdict of `plan`; None when kept, else why not."""
    at = (when or datetime.now(UTC)).isoformat(timespec="seconds")
    try:
        with _database(path) as db, db:
            for host in plan.hosts:
                status = "error" if host.error else ("in_sync" if host.in_sync else "drift")
                cursor = db.execute(
                    "INSERT INTO runs (time, person, host, status, error) VALUES (?, ?, ?, ?, ?)",
                    (at, person, host.host, status, host.error),
                )
                db.executemany(
                    "INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (cursor.lastrowid, c.kind, c.resource, c.op, c.action, c.note)
                        for c in host.changes
                    ],
                )
                # What was not seen this time (a repository missing) stays as it was.
                db.executemany(
                    "INSERT OR REPLACE INTO seen VALUES (?, ?, ?, ?)",
                    [
                        (host.host, resource, at, json.dumps(facts, sort_keys=True))
                        for resource, facts in host.seen.items()
                    ],
                )
    except (OSError, sqlite3.Error) as exc:
        return f"the drift history {path} could not be written: {exc}"
    return None


@dataclass(frozen=True)
class Finding:
    """A problem diagnose found on a host, kept for the client's report."""

    time: str
    host: str
    area: str
    what: str
    cause: str


def record_findings(path: Path, found: Sequence[Finding]) -> str | None:
    """Keep what diagnose found; None when kept, else why not."""
    try:
        with _database(path) as db, db:
            db.executemany(
                "INSERT INTO findings VALUES (?, ?, ?, ?, ?)",
                [(f.time, f.host, f.area, f.what, f.cause) for f in found],
            )
    except (OSError, sqlite3.Error) as exc:
        return f"the drift history {path} could not be written: {exc}"
    return None


def findings(path: Path, hosts: Sequence[str], since: str, until: str) -> list[Finding]:
    """What diagnose found on these hosts from `since` to `until` (ISO 8601, UTC), oldest
    first (none when there is no history, or one from before findings were kept)."""
    if not path.exists() or not hosts:
        return []
    marks = ", ".join("?" for _ in hosts)
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'findings'").fetchone():
                return []
            rows = db.execute(
                "SELECT time, host, area, what, cause FROM findings "
                f"WHERE host IN ({marks}) AND time >= ? AND time <= ? ORDER BY time",
                [*hosts, since, until],
            ).fetchall()
    except sqlite3.Error as exc:
        raise FileUnusable(f"the drift history {path} cannot be read: {exc}", file=path) from None
    return [Finding(*row) for row in rows]


def seen(path: Path, hosts: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per host, what the latest plans remembered of its resources, by "KIND:KEY" (none
    when there is no history)."""
    if not path.exists() or not hosts:
        return {}
    found: dict[str, dict[str, Any]] = {}
    marks = ", ".join("?" for _ in hosts)
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'seen'").fetchone():
                return {}  # a history from before tendr remembered anything
            rows = db.execute(
                f"SELECT host, resource, facts FROM seen WHERE host IN ({marks})", list(hosts)
            ).fetchall()
    except sqlite3.Error as exc:
        raise FileUnusable(f"the drift history {path} cannot be read: {exc}", file=path) from None
    for host, resource, facts in rows:
        try:
            found.setdefault(host, {})[resource] = json.loads(facts)
        except ValueError:
            continue
    return found


def last_reached(path: Path, hosts: Sequence[str]) -> dict[str, str]:
    """Per host, when a plan last reached it (its latest verdict that was no error), ISO
    8601 UTC; hosts never reached are left out."""
    if not path.exists() or not hosts:
        return {}
    marks = ", ".join("?" for _ in hosts)
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            rows = db.execute(
                f"SELECT host, MAX(time) FROM runs WHERE status != 'error' AND host IN ({marks}) "
                "GROUP BY host",
                list(hosts),
            ).fetchall()
    except sqlite3.Error as exc:
        raise FileUnusable(f"the drift history {path} cannot be read: {exc}", file=path) from None
    return {host: time for host, time in rows if time}


@dataclass(frozen=True)
class Change:
    kind: str
    resource: str
    op: str
    action: str
    note: str = ""


@dataclass(frozen=True)
class Run:
    """One plan of one host: when, by whom, its verdict and what differed."""

    time: str
    person: str
    host: str
    status: str
    error: str | None = None
    changes: tuple[Change, ...] = ()


def runs(path: Path, hosts: Sequence[str], since: str | None = None) -> list[Run]:
    """The recorded runs of these hosts, oldest first (none when there is no history)."""
    if not path.exists() or not hosts or not path.stat().st_size:
        return []  # none yet, or made but left empty (its disk was full)
    marks = ", ".join("?" for _ in hosts)
    query = f"SELECT id, time, person, host, status, error FROM runs WHERE host IN ({marks})"
    arguments: list[str] = list(hosts)
    if since is not None:
        query += " AND time >= ?"
        arguments.append(since)
    try:
        return _read(path, query + " ORDER BY time, id", arguments)
    except sqlite3.Error as exc:
        raise FileUnusable(f"the drift history {path} cannot be read: {exc}", file=path) from None


def _read(path: Path, query: str, arguments: list[str]) -> list[Run]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        rows = db.execute(query, arguments).fetchall()
        changes: dict[int, list[Change]] = {}
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for run, *rest in db.execute(
                "SELECT run, kind, resource, op, action, note FROM changes WHERE run IN "
                f"({', '.join('?' for _ in chunk)})",
                chunk,
            ):
                changes.setdefault(run, []).append(Change(*rest))
    return [
        Run(time, person, host, status, error, tuple(changes.get(run, ())))
        for run, time, person, host, status, error in rows
    ]


@dataclass
class Drift:
    """A resource's drift over the runs of its host: in how many it differed, since when
    it has differed without a break (None: in sync at the last run), and its last op."""

    kind: str
    resource: str
    drifted: int = 0
    runs: int = 0
    since: str | None = None
    first: str = ""
    last: str = ""
    op: str = ""
    times: list[str] = field(default_factory=list)

    @property
    def now(self) -> bool:
        return self.since is not None


def summarize(history: Sequence[Run], resource: str | None = None) -> list[Drift]:
    """Per resource that ever drifted in `history` (one host's runs, oldest first): how
    often and since when, drifting ones first. A run that ended in an error says nothing
    about resources, so it neither counts nor breaks a streak."""
    read = [run for run in history if run.status != "error"]
    found: dict[tuple[str, str], Drift] = {}
    for run in read:
        for change in run.changes:
            if resource in (None, change.resource):
                found.setdefault(
                    (change.kind, change.resource), Drift(change.kind, change.resource)
                )
    for (kind, name), drift in found.items():
        streak: str | None = None
        for run in read:
            drift.runs += 1
            ops = [c.op for c in run.changes if (c.kind, c.resource) == (kind, name)]
            if not ops:
                streak = None
                continue
            drift.drifted += 1
            drift.times.append(run.time)
            drift.first = drift.first or run.time
            drift.last, drift.op = run.time, ops[0]
            streak = streak or run.time
        drift.since = streak
    return sorted(found.values(), key=lambda d: (not d.now, d.kind, d.resource))


def known_resource(name: str, declared: Sequence[str], history: Sequence[Run]) -> None:
    """`name` is a resource of the host: declared for it now, or drifting in a plan of
    its history; else refused (never "in sync" for a name that is no resource)."""
    recorded = {change.resource for run in history for change in run.changes}
    if name in declared or name in recorded:
        return
    some = ", ".join(sorted(set(declared))[:8])
    raise UserError(
        f"{name!r} is no resource of this host: no state declares it for the host and no "
        f"plan kept found it drifting (its resources include: {some or 'none'})"
    )


# -- what `tendr watch` keeps: its problems, its cycles, what alerts are still to be told

WATCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS problems (
    host TEXT NOT NULL,
    area TEXT NOT NULL,
    key TEXT NOT NULL,           -- what it is about: with host and area, its identity
    client TEXT NOT NULL,
    what TEXT NOT NULL,
    cause TEXT NOT NULL,
    fix TEXT NOT NULL,
    severity TEXT NOT NULL,      -- warning, critical
    first_seen TEXT NOT NULL,    -- ISO 8601, UTC
    last_seen TEXT NOT NULL,
    cleared TEXT,                -- when first missed, while it stays away
    absent INTEGER NOT NULL,     -- cycles in a row without it
    told TEXT NOT NULL,          -- opened, cleared
    PRIMARY KEY (host, area, key)
);
CREATE TABLE IF NOT EXISTS watched (
    host TEXT PRIMARY KEY,
    client TEXT NOT NULL,
    time TEXT NOT NULL,          -- the last cycle that looked at it
    read TEXT,                   -- the last cycle that read it whole
    error TEXT NOT NULL,         -- why the last cycle could not read it, or ''
    drifting TEXT NOT NULL,      -- JSON: ["op resource", ...] at the last reading
    backups TEXT NOT NULL        -- JSON: {job: newest snapshot, UNIX time}
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    alert TEXT NOT NULL,         -- the alert's url file (never the URL)
    client TEXT NOT NULL,
    time TEXT NOT NULL,
    event TEXT NOT NULL,         -- opened, cleared, reminder
    problem TEXT NOT NULL        -- JSON: the problem as it was then
);
CREATE TABLE IF NOT EXISTS alerted (
    alert TEXT NOT NULL,
    host TEXT NOT NULL,
    area TEXT NOT NULL,
    key TEXT NOT NULL,
    time TEXT NOT NULL,          -- when it was last queued for this alert
    PRIMARY KEY (alert, host, area, key)
);
"""


@dataclass(frozen=True)
class Watched:
    """A host as the last watch cycle left it."""

    host: str
    client: str
    time: str
    read: str | None
    error: str
    drifting: tuple[str, ...]
    backups: dict[str, int]


@dataclass(frozen=True)
class Queued:
    """A notification's part not delivered yet: one event of one problem for one alert."""

    id: int
    alert: str
    client: str
    time: str
    event: str
    problem: watch.Tracked


@dataclass
class WatchStore:
    """All that watch keeps, as read at the start of a cycle."""

    problems: list[watch.Tracked] = field(default_factory=list)
    hosts: dict[str, Watched] = field(default_factory=dict)
    outbox: list[Queued] = field(default_factory=list)
    alerted: dict[str, dict[tuple[str, str, str], str]] = field(default_factory=dict)


def _has_watch(db: sqlite3.Connection) -> bool:
    return bool(db.execute("SELECT 1 FROM sqlite_master WHERE name = 'problems'").fetchone())


def watch_store(path: Path) -> WatchStore:
    """What watch keeps (nothing when there is no history, or no cycle yet)."""
    found = WatchStore()
    if not path.exists() or not path.stat().st_size:
        return found
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            if not _has_watch(db):
                return found
            found.problems = [
                watch.Tracked(*row)
                for row in db.execute(
                    "SELECT host, area, key, client, what, cause, fix, severity, first_seen, "
                    "last_seen, cleared, absent, told FROM problems ORDER BY first_seen, host"
                )
            ]
            for host, client, time, read, error, drifting, backups in db.execute(
                "SELECT host, client, time, read, error, drifting, backups FROM watched"
            ):
                found.hosts[host] = Watched(
                    host,
                    client,
                    time,
                    read,
                    error,
                    tuple(json.loads(drifting)),
                    json.loads(backups),
                )
            for id_, alert, client, time, event, problem in db.execute(
                "SELECT id, alert, client, time, event, problem FROM outbox ORDER BY id"
            ):
                found.outbox.append(
                    Queued(id_, alert, client, time, event, watch.Tracked(**json.loads(problem)))
                )
            for alert, host, area, key, time in db.execute("SELECT * FROM alerted"):
                found.alerted.setdefault(alert, {})[(host, area, key)] = time
    except (sqlite3.Error, ValueError, TypeError) as exc:
        raise FileUnusable(f"the drift history {path} cannot be read: {exc}", file=path) from None
    return found


@dataclass
class CycleRecord:
    """What one watch cycle keeps."""

    time: str
    problems: Sequence[watch.Tracked]
    hosts: Sequence[Watched]
    queued: Sequence[tuple[str, watch.Event]]  # (alert, event)


def record_cycle(path: Path, cycle: CycleRecord) -> str | None:
    """Keep a cycle's problems, hosts and what is to be told; None when kept, else why
    not (the cycle's alerts are then not sent: the next cycle finds them again)."""
    try:
        with _database(path) as db, db:
            db.executescript(WATCH_SCHEMA)
            db.executemany(
                "INSERT OR REPLACE INTO problems VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [astuple(p) for p in cycle.problems],
            )
            db.executemany(
                "INSERT OR REPLACE INTO watched VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        h.host,
                        h.client,
                        h.time,
                        h.read,
                        h.error,
                        json.dumps(h.drifting),
                        json.dumps(h.backups),
                    )
                    for h in cycle.hosts
                ],
            )
            for alert, event in cycle.queued:
                db.execute(
                    "INSERT INTO outbox (alert, client, time, event, problem) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        alert,
                        event.problem.client,
                        cycle.time,
                        event.kind,
                        json.dumps(asdict(event.problem)),
                    ),
                )
                db.execute(
                    "INSERT OR REPLACE INTO alerted VALUES (?, ?, ?, ?, ?)",
                    (alert, *event.problem.identity, cycle.time),
                )
    except (OSError, sqlite3.Error) as exc:
        return f"the drift history {path} could not be written: {exc}"
    return None


def delivered(path: Path, ids: Sequence[int]) -> str | None:
    """Take what was delivered (or is for no alert any more) out of the outbox."""
    if not ids:
        return None
    try:
        with _database(path) as db, db:
            db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
    except (OSError, sqlite3.Error) as exc:
        return f"the drift history {path} could not be written: {exc}"
    return None
