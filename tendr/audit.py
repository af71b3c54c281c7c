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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tendr.changes import ChangeResult, HostResult
from tendr.plan import Plan

GENESIS = "0" * 64


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
    """Check every record's hash and link; with `head`, that record must still be there."""
    prev, count = GENESIS, 0
    seen_head = head is None
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return Verdict(False, count, prev, number, "not a JSON record")
        if not isinstance(record, dict) or record.get("prev") != prev:
            return Verdict(False, count, prev, number, "does not follow the record before it "
                           "(a record was changed, removed or inserted)")
        if record.get("seq") != count + 1 or record.get("hash") != record_hash(record):
            return Verdict(False, count, prev, number, "its content does not match its hash "
                           "(the record was changed)")
        prev, count = record["hash"], count + 1
        seen_head = seen_head or prev == head
    if not seen_head:
        return Verdict(False, count, prev, None,
                       "the given head is not in the log: records were cut off or replaced")
    return Verdict(True, count, prev)


def refusals(plan: Plan) -> list[HostResult]:
    """The blocked changes of a plan as results, for the record of a refused apply."""
    return [
        HostResult(h.host, [ChangeResult(c, "refused", c.rule) for c in h.changes
                            if c.allowed is False and c.action != "unknown"])
        for h in plan.hosts
    ]


def entries_for(results: Sequence[HostResult], person: str, account: str, command: str,
                when: datetime | None = None) -> list[dict[str, Any]]:
    """One entry per change that was made, failed, refused or not run. `person` is who
    tendr acted for (--as), `account` the operating-system account that ran it."""
    stamp = (when or datetime.now(UTC)).isoformat(timespec="seconds")
    found = []
    for result in results:
        for item in result.results:
            change = item.change
            found.append({
                "time": stamp, "person": person, "account": account, "command": command,
                "host": result.host,
                "op": change.op, "kind": change.kind, "resource": change.resource,
                "outcome": item.outcome, "reason": item.reason or None,
                "before": change.before(), "after": change.after(),
                "source": change.source, "rule": change.rule or None,
            })
    return found


def append(path: Path, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append entries under an exclusive lock, so concurrent runs keep one chain."""
    if not entries:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        last = _last_record(handle)
        records = chain(entries, last.get("hash", GENESIS), int(last.get("seq", 0)))
        handle.seek(0, 2)
        handle.writelines(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n"
                          for r in records)
        handle.flush()
    return records


def _last_record(lines: Iterable[str]) -> dict[str, Any]:
    last: dict[str, Any] = {}
    for line in lines:
        if line.strip():
            last = json.loads(line)
    return last


def ready(path: Path) -> str | None:
    """Why records could not be appended to the log at `path`, or None: checked before
    any host is touched, so no change is ever made that cannot be recorded."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+", encoding="utf-8") as handle:
            handle.seek(0)
            last = _last_record(handle)
    except OSError as exc:
        return f"the audit log {path} cannot be written: {exc.strerror or exc}"
    except ValueError:
        return (f"the audit log {path} ends in a damaged record; "
                "see 'tendr audit-log verify' and repair it")
    if last and not isinstance(last.get("hash"), str):
        return f"the audit log {path} does not end in a tendr record"
    return None


def read_lines(path: Path) -> Iterator[str]:
    """The log's lines; none when it does not exist yet."""
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            yield from (line for line in handle if line.strip())
