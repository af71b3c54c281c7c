"""The audit log: an append-only, hash-chained record of every change tendr made or refused.

Each line is one JSON record. A record's `hash` is the SHA-256 of its canonical JSON
(sorted keys, without `hash`), and it names the previous record's hash in `prev`, so
changing, inserting or deleting any record breaks the chain from there on. Cutting
records off the end keeps the chain intact: `tendr audit-log head` prints the last
hash to keep elsewhere (a ticket, a mail), and `verify --head HASH` checks it is
still there. Secrets never reach a record: changes carry none.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from tendr.base.changes import Change, ChangeResult, HostResult
from tendr.base.errors import UnknownOperation
from tendr.base.private import open_private
from tendr.core.plan import Plan
from tendr.rules.model import check_op_pattern, op_matches

GENESIS = "0" * 64
# Why a last line without its newline is not a record: appends write both at once.
TORN = "the record is cut off (the log does not end with a newline): a write was interrupted"


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def chain(entries: Iterable[dict[str, Any]], prev: str, seq: int) -> list[dict[str, Any]]:
    """Link new entries after the record whose hash is `prev` and number is `seq`."""
    linked = []
    for entry in entries:
        seq += 1
        record = {**entry, "seq": seq, "prev": prev}
        record["hash"] = prev = record_hash(record)
        linked.append(record)
    return linked


@dataclass(frozen=True)
class Verdict:
    """Whether the chain holds, and where it first breaks (1-based line) and why."""

    ok: bool
    records: int
    head: str
    line: int | None = None
    reason: str = ""


def verify(lines: Iterable[str], head: str | None = None) -> Verdict:
    """Check every record's hash and link; with `head`, that record must still be there.
    `lines` are the log's lines as read, each with its newline: a record is written with
    its newline at once, so a last line without one is a write cut short."""
    prev, count = GENESIS, 0
    seen_head = head is None
    for number, line in enumerate(lines, start=1):
        if not line.endswith("\n"):
            return Verdict(False, count, prev, number, TORN)
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return Verdict(False, count, prev, number, "not a JSON record")
        if not isinstance(record, dict) or record.get("prev") != prev:
            return Verdict(
                False,
                count,
                prev,
                number,
                "does not follow the record before it (a record was changed, removed or inserted)",
            )
        if record.get("seq") != count + 1 or record.get("hash") != record_hash(record):
            return Verdict(
                False,
                count,
                prev,
                number,
                "its content does not match its hash (the record was changed)",
            )
        prev, count = record["hash"], count + 1
        seen_head = seen_head or prev == head
    if not seen_head:
        return Verdict(
            False,
            count,
            prev,
            None,
            "the given head is not in the log: records were cut off or replaced",
        )
    return Verdict(True, count, prev)


def entry(
    host: str, change: Change, outcome: str, reason: str, *, person: str, account: str, command: str
) -> dict[str, Any]:
    """One record's content, timed now. `person` is who tendr acted for (--as), `account`
    the operating-system account that ran it. `outcome` is a ChangeResult's, or `started`
    (written before the change runs, so a crash still leaves a trace). Microseconds: the
    records of one apply follow each other within a second, and each has its own time."""
    return {
        "time": datetime.now(UTC).isoformat(timespec="microseconds"),
        "person": person,
        "account": account,
        "command": command,
        "host": host,
        "op": change.op,
        "kind": change.kind,
        "resource": change.resource,
        "outcome": outcome,
        "reason": reason or None,
        "before": change.before(),
        "after": change.after(),
        "source": change.source,
        "rule": change.rule or None,
    }


WORKSPACE_HOST = "(workspace)"
"""The host of a record about the workspace rather than a host (a command asked of the
gateway, a push, a grant): no host name can be it, since host names have no
parentheses."""


def event(
    op: str,
    resource: str,
    outcome: str,
    reason: str = "",
    *,
    person: str,
    account: str,
    command: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    rule: str | None = None,
) -> dict[str, Any]:
    """A record of something done to the workspace rather than to a host's resource: a
    command asked of the gateway, a push, a grant. The same keys as `entry`."""
    change = Change(kind="workspace", resource=resource, op=op, action="change", rule=rule or "")
    record = entry(
        WORKSPACE_HOST, change, outcome, reason, person=person, account=account, command=command
    )
    return {**record, "before": before or {}, "after": after or {}, "source": None}


def refusals(plan: Plan) -> list[HostResult]:
    """The blocked changes of a plan as results, for the record of a refused apply."""
    return [
        HostResult(
            h.host,
            [
                ChangeResult(c, "refused", c.rule)
                for c in h.changes
                if c.allowed is False and c.action != "unknown"
            ],
        )
        for h in plan.hosts
    ]


def append(path: Path, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append entries under an exclusive lock, so concurrent runs keep one chain, and
    flush them to the disk (fsync) before returning: a record returned is kept."""
    if not entries:
        return []
    with os.fdopen(open_private(path), "ab+", buffering=0) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        last = _last_record(handle)
        records = chain(entries, last.get("hash", GENESIS), int(last.get("seq", 0)))
        data = memoryview(
            b"".join(
                json.dumps(r, sort_keys=True, ensure_ascii=False).encode() + b"\n" for r in records
            )
        )
        size = handle.seek(0, os.SEEK_END)
        try:
            while data:
                data = data[handle.write(data) or 0 :]
            os.fsync(handle.fileno())
        except OSError:
            handle.truncate(size)  # records are whole or absent, never half a line
            raise
    return records


def _last_record(handle: BinaryIO) -> dict[str, Any]:
    """The log's last record, read from the end: appending stays cheap as the log grows.
    ValueError when the log ends in a torn record (appending would join it)."""
    position = handle.seek(0, os.SEEK_END)
    if position:
        handle.seek(position - 1)
        if handle.read(1) != b"\n":
            raise ValueError(TORN)
    tail = b""
    while position > 0:
        step = min(_BLOCK, position)
        position -= step
        handle.seek(position)
        tail = handle.read(step) + tail
        lines = tail.rstrip().split(b"\n")
        if len(lines) > 1 or position == 0:
            last = lines[-1].strip()
            return json.loads(last) if last else {}
    return {}


_BLOCK = 8192
RECORD_ROOM = 8192  # bytes set aside per record when checking for room (records are ~1 KiB)


def room(path: Path, records: int) -> str | None:
    """Why `records` more records might not fit on the log's disk, or None."""
    needed = records * RECORD_ROOM
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError as exc:
        return f"the audit log's folder {path.parent} cannot be checked: {exc.strerror or exc}"
    if free < needed:
        return (
            f"only {free // 1024} KiB free on the audit log's disk ({path.parent}), "
            f"{needed // 1024} KiB needed to record this host's changes"
        )
    return None


def ready(path: Path) -> str | None:
    """Why records could not be appended to the log at `path`, or None: checked before
    any host is touched, so no change is ever made that cannot be recorded."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        with path.open("ab+") as handle:
            last = _last_record(handle)
        if created:  # the new file's name must survive a power cut too
            folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
    except OSError as exc:
        return f"the audit log {path} cannot be written: {exc.strerror or exc}"
    except ValueError:
        return (
            f"the audit log {path} ends in a damaged record; "
            "see 'tendr audit-log verify' and repair it"
        )
    if last and not isinstance(last.get("hash"), str):
        return f"the audit log {path} does not end in a tendr record"
    return None


class Journal:
    """The audit log as an apply writes it: each record on the disk before tendr goes on.
    Once a record could not be written, `broken` says why and nothing more is written."""

    def __init__(self, path: Path, *, person: str, account: str, command: str) -> None:
        self.path = path
        self.person, self.account, self.command = person, account, command
        self.broken: str | None = None

    def write(self, host: str, items: Sequence[tuple[Change, str, str]]) -> bool:
        """Record (change, outcome, reason) items of one host; False when they could not
        be (and every later write is refused too)."""
        if self.broken:
            return False
        try:
            append(
                self.path,
                [
                    entry(
                        host,
                        change,
                        outcome,
                        reason,
                        person=self.person,
                        account=self.account,
                        command=self.command,
                    )
                    for change, outcome, reason in items
                ],
            )
        except (OSError, ValueError) as exc:
            self.broken = (
                f"the audit log {self.path} could not be written "
                f"({getattr(exc, 'strerror', None) or exc})"
            )
            return False
        return True


def read_lines(path: Path) -> Iterator[str]:
    """The log's lines; none when it does not exist yet. Bytes that are not UTF-8 (a write
    cut inside a character, damage) become U+FFFD, so `verify` reports their record."""
    if path.exists():
        with path.open(encoding="utf-8", errors="replace") as handle:
            yield from (line for line in handle if line.strip())


def records(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The records among the log's lines: every line that is a JSON object. A torn or
    garbled line is left out; `verify` says where it is."""
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def parse_time(text: str) -> datetime:
    """An ISO 8601 time or date ('2024-05-01', '2024-05-01T14:30+02:00'); without an
    offset, local time. ValueError when it is none."""
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.astimezone()


def query(
    host: str | None,
    person: str | None,
    op: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Query:
    """The Query `audit-log show` asks, its operation pattern checked as rules' are."""
    if op is not None and (reason := check_op_pattern(op)):
        raise UnknownOperation(param="op", text=op, problem=reason)
    return Query(host=host, person=person, op=op, since=since, until=until)


@dataclass(frozen=True)
class Query:
    """Which records `audit-log show` shows; None matches any. `op` is a pattern as in
    the rules ('service.*'); `since` and `until` are inclusive."""

    host: str | None = None
    person: str | None = None
    op: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __call__(self, record: dict[str, Any]) -> bool:
        return (
            (self.host is None or record.get("host") == self.host)
            and (self.person is None or record.get("person") == self.person)
            and (self.op is None or op_matches(self.op, str(record.get("op"))))
            and self._in_time(record.get("time"))
        )

    def _in_time(self, time: Any) -> bool:
        if self.since is None and self.until is None:
            return True
        try:
            when = parse_time(str(time))
        except ValueError:  # a record without a readable time is in no period
            return False
        return (self.since is None or when >= self.since) and (
            self.until is None or when <= self.until
        )
