"""`tendr watch`: one read-only cycle over the selected hosts. Each host is read as
diagnose reads it (one command: the plan's probe with diagnose's ahead of it); what is
wrong becomes problems kept in the drift history (tendr/core/watch.py reckons which
open and clear); the alerts are told through Apprise, and the status page is written.

A notification that cannot be delivered stays in the outbox and is sent again the next
cycle; it never stops the watch. An alert's URL (its credentials) is read from its
secret file when it is sent, and never shown: an alert is named by that file.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tendr.base.errors import FileUnusable, PermissionDenied, WorkspaceLocked
from tendr.base.private import open_private
from tendr.base.settings import Alert
from tendr.core import audit, history, status
from tendr.core import watch as reckon
from tendr.core.authorize import reading
from tendr.kinds.kind import Problem
from tendr.ops.diagnose import HostDiagnosis, examine
from tendr.rules.actor import real_account
from tendr.workspace.hosts import Host
from tendr.workspace.loader import Workspace

# What a host that could not be read is, by its error's code (its key: the same words).
_UNREAD = {
    "host.key-changed": "offers a host key other than the one pinned",
    "host.key-unknown": "has no pinned host key",
    "host.unreachable": "cannot be reached",
    "host.connection-lost": "cannot be reached",
    "host.timeout": "did not answer in time",
}


@dataclass
class Cycle:
    """What one cycle found and did."""

    time: str
    hosts: list[HostDiagnosis]
    problems: list[reckon.Tracked]  # every problem of the store after the cycle
    events: list[reckon.Event]
    sent: list[str] = field(default_factory=list)  # "ALERT: client" delivered
    warnings: list[str] = field(default_factory=list)  # not delivered, not kept...

    def open(self, hosts: Sequence[str]) -> list[reckon.Tracked]:
        """The problems open now on these hosts (found by the last reading of each)."""
        return [p for p in self.problems if p.host in hosts and p.open and p.cleared is None]


def host_problem(diagnosis: HostDiagnosis) -> Problem | None:
    """The problem of a host the cycle could not read whole (refused ones aside)."""
    if diagnosis.read or diagnosis.code == PermissionDenied.code:
        return None
    what = _UNREAD.get(diagnosis.code or "", "cannot be read")
    return Problem("host", f"{diagnosis.host} {what}", diagnosis.error or "not read", key=what)


def cycle(
    workspace: Workspace,
    hosts: Sequence[Host],
    person: str,
    progress: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> Cycle:
    """One watch cycle over `hosts`: read, reckon, keep, tell, write the status page;
    one cycle at a time per workspace (a timer's and a person's would tell twice), and
    one audit record per cycle."""
    with _one_at_a_time(workspace):
        done = _cycle(workspace, hosts, person, progress, now)
    opened = sum(1 for e in done.events if e.kind == "opened")
    cleared = sum(1 for e in done.events if e.kind == "cleared")
    summary = (
        f"{sum(1 for d in done.hosts if d.read)} of {len(done.hosts)} host(s) read; "
        f"{len(done.open([h.name for h in hosts]))} problem(s) open, {opened} opened, "
        f"{cleared} cleared"
    )
    record = audit.event(
        "watch", "cycle", "done", summary, person=person, account=real_account(), command="watch"
    )
    try:
        audit.append(workspace.path(workspace.settings.audit_log), [record])
    except (OSError, ValueError) as exc:
        done.warnings.append(f"the cycle is not in the audit log: {exc}")
    return done


@contextmanager
def _one_at_a_time(workspace: Workspace) -> Iterator[None]:
    path = workspace.path(".tendr/watch.lock")
    try:
        fd = open_private(path)
    except OSError as exc:
        raise FileUnusable(file=path, message=f"cannot lock the watch ({path}: {exc})") from None
    with os.fdopen(fd, "rb", buffering=0) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceLocked(
                "another watch cycle is running in this workspace: this one would tell "
                "the same problems twice; nothing was read"
            ) from None
        yield


def _cycle(
    workspace: Workspace,
    hosts: Sequence[Host],
    person: str,
    progress: Callable[[str], None] | None,
    now: datetime | None,
) -> Cycle:
    path = workspace.path(workspace.settings.history)
    at = now or datetime.now(UTC)
    stamp = at.isoformat(timespec="seconds")
    store = history.watch_store(path)
    since = {
        name: int(datetime.fromisoformat(h.read).timestamp())
        for name, h in store.hosts.items()
        if h.read
    }
    found, _ = examine(workspace, hosts, person, "watch", since=since, progress=progress)
    clients = {h.name: h.client for h in hosts}
    seen: list[reckon.Tracked] = []
    looked: list[history.Watched] = []
    for diagnosis in found:
        if diagnosis.code == PermissionDenied.code:
            continue  # not the person's to watch
        said = [p for p in diagnosis.problems if reckon.watched(p)]
        if (problem := host_problem(diagnosis)) is not None:
            said.insert(0, problem)
        client = clients[diagnosis.host]
        seen += [reckon.tracked(diagnosis.host, client, p, stamp) for p in said]
        looked.append(_watched(diagnosis, client, stamp, store.hosts.get(diagnosis.host)))
    read = {d.host for d in found if d.read}
    after, events = reckon.advance(
        store.problems, seen, read, stamp, workspace.settings.watch_clear_after
    )
    done = Cycle(stamp, found, after, events)
    queued = [
        (alert.url.file, event)
        for alert in workspace.settings.alert
        for event in _for_alert(alert, events, after, store, at)
    ]
    record = history.CycleRecord(stamp, after, looked, queued)
    if why := history.record_cycle(path, record):
        done.warnings.append(f"{why}; nothing was told this cycle")
        return done
    tell(workspace, done, at)
    if trouble := write_page(workspace, person, at):
        done.warnings.append(trouble)
    return done


def write_page(workspace: Workspace, person: str, now: datetime) -> str | None:
    """The status page of the hosts `person` may read, written whole (a new file renamed
    over the old); None when written, else why not."""
    page = workspace.path(workspace.settings.status_page)
    readable = reading(workspace, person).hosts
    text = status.render_html(
        status.gather(
            history.watch_store(workspace.path(workspace.settings.history)), readable, now
        )
    )
    fresh = page.with_name(f".{page.name}.new")
    try:
        page.parent.mkdir(parents=True, exist_ok=True)
        fresh.write_text(text, encoding="utf-8")
        fresh.replace(page)
    except OSError as exc:
        return f"the status page {page} could not be written: {exc.strerror or exc}"
    return None


def _for_alert(
    alert: Alert,
    events: Sequence[reckon.Event],
    problems: Sequence[reckon.Tracked],
    store: history.WatchStore,
    now: datetime,
) -> list[reckon.Event]:
    told = store.alerted.get(alert.url.file, {})
    return [e for e in events if reckon.wanted(alert, e.problem)] + reckon.reminders(
        problems, alert, told, now
    )


def _watched(
    diagnosis: HostDiagnosis, client: str, stamp: str, before: history.Watched | None
) -> history.Watched:
    """The host as this cycle leaves it: what it read, or what an earlier one did."""
    if not diagnosis.read and before is not None:
        return history.Watched(
            diagnosis.host,
            client,
            stamp,
            before.read,
            diagnosis.error,
            before.drifting,
            before.backups,
        )
    backups = {
        key.partition(":")[2]: facts["newest"]
        for key, facts in diagnosis.seen.items()
        if key.startswith("backup:") and isinstance(facts, dict)
        if isinstance(facts.get("newest"), int)
    }
    return history.Watched(
        diagnosis.host,
        client,
        stamp,
        stamp if diagnosis.read else None,
        diagnosis.error,
        tuple(f"{c.op} {c.resource}" for c in diagnosis.drift),
        backups,
    )


def tell(workspace: Workspace, done: Cycle, now: datetime) -> None:
    """Send what the outbox holds, one notification per alert and client; what is not
    delivered stays for the next cycle. Entries of alerts no longer configured go."""
    path = workspace.path(workspace.settings.history)
    alerts = {a.url.file: a for a in workspace.settings.alert}
    store = history.watch_store(path)
    gone = [q.id for q in store.outbox if q.alert not in alerts]
    groups: dict[tuple[str, str], list[history.Queued]] = {}
    for queued in store.outbox:
        if queued.alert in alerts:
            groups.setdefault((queued.alert, queued.client), []).append(queued)
    local = now.astimezone()
    for (name, client), parts in groups.items():
        if reckon.quiet(alerts[name].quiet_hours, local):
            continue
        events = [reckon.Event(q.event, q.problem) for q in parts]
        title, body = reckon.message(client, events)
        if why := send(workspace.path(name), title, body):
            done.warnings.append(f"alert {name} ({client}): {why}; sent again next cycle")
            continue
        done.sent.append(f"{name}: {client}")
        gone += [q.id for q in parts]
    if unkept := history.delivered(path, gone):
        done.warnings.append(unkept)


def send(url_file: Path, title: str, body: str) -> str:
    """Send one notification through the URL in `url_file`; "" when delivered, else why
    not, in words that never hold the URL."""
    import apprise

    # Apprise logs what it sends to (a host, an account) on failure: not here.
    logging.getLogger("apprise").disabled = True
    try:
        url = url_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        return f"its url file cannot be read ({exc.strerror})"
    notifier = apprise.Apprise()
    if not url or not notifier.add(url):
        return "its url file holds no URL Apprise knows"
    try:
        ok = notifier.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
    except Exception as exc:  # a plugin's failure is no watch's end
        return f"not delivered ({type(exc).__name__})"
    return "" if ok else "not delivered"
