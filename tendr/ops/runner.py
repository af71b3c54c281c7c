"""One run of an operation over hosts: what apply, run, do, shell, logs, diagnose and
backup check share, in one place; each of them is only what it does on a host.

A run checks the audit log is ready before anything (an operation that is recorded
never starts on a log that cannot take its records: `nothing` says what did not
happen), decides the rules per host (a refused host is recorded as `refused` with the
reason, and never touched), connects (under the workspace's lock for an operation that
changes hosts; each host that does not connect is said), works on every host at once,
and, when Ctrl-C, SIGTERM or SIGHUP interrupts it, stops every host at its next wait,
records what each had not finished as `interrupted` and raises KeyboardInterrupt on.

```python
runner = Runner(workspace, person, "run", nothing="nothing was run")
decided = runner.decide(hosts, "command.run", words, change=change)  # refusals recorded
runner.over(decided.allowed, one, failed=failed, unfinished=unfinished, progress=progress)
runner.finish()  # a UserError when the audit log could not take every record
```

Reading operations (logs, diagnose) are not recorded: `Runner(..., recorded=False)`.
apply and do hand their hosts to apply's engine (tendr/ops/execute.py), which records
and interrupts change by change; they take the rest from here.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tendr.base.changes import Change
from tendr.base.errors import AuditLogUnwritable, FileUnusable, WorkspaceLocked
from tendr.core import audit
from tendr.core.authorize import may
from tendr.rules.actor import real_account
from tendr.rules.decide import Decision
from tendr.workspace.hosts import Host
from tendr.workspace.loader import Workspace

if TYPE_CHECKING:  # connections (pyinfra, gevent) are imported where one is made: `shell`
    # and `audit-log replay` make none and start without them
    from tendr.remote.connect import Session

Failed = Callable[[str, str], None]  # (host, why): a host that could not be reached or read
Unfinished = Callable[[str], Sequence[Change]]  # a host's changes underway when interrupted


@dataclass
class Decided:
    """The rules' answer for each host: the hosts allowed (in their order), why each other
    is refused, and each host's change with its deciding rule (where one was given)."""

    allowed: list[Host] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    changes: dict[str, Change] = field(default_factory=dict)


class Runner:
    """One operation by one person over hosts, from its audit log's check to its last
    record. `command` names it in the audit log (apply, run, do, shell, backup check)."""

    def __init__(
        self,
        workspace: Workspace,
        person: str,
        command: str,
        *,
        nothing: str,
        recorded: bool = True,
    ) -> None:
        self.workspace, self.person, self.command = workspace, person, command
        self.journal: audit.Journal | None = None
        if recorded:
            log = workspace.path(workspace.settings.audit_log)
            if problem := audit.ready(log):
                raise AuditLogUnwritable(f"{problem}; {nothing}")
            self.journal = audit.Journal(
                log, person=person, account=real_account(), command=command
            )

    @property
    def recording(self) -> audit.Journal:
        """The audit log this run writes (a recorded run's only)."""
        assert self.journal is not None, f"{self.command} is not recorded"
        return self.journal

    # -- the rules -------------------------------------------------------------------

    def may(self, op: str, host: Host, resource: str | None = None) -> Decision:
        return may(self.workspace, self.person, op, host, resource)

    def decide(
        self,
        hosts: Sequence[Host],
        op: str,
        resource: str | None = None,
        *,
        change: Change | None = None,
    ) -> Decided:
        """What the rules say to the person doing `op` on each host (to `resource`): a
        refused host is recorded with `change` (its deciding rule filled in), where one is
        given and the run is recorded."""
        found = Decided()
        for host in hosts:
            decision = self.may(op, host, resource)
            if change is not None:
                found.changes[host.name] = decided(change, decision)
            if decision.allowed:
                found.allowed.append(host)
                continue
            found.refused[host.name] = f"permission denied: {decision.reason}"
            if change is not None:
                self.refuse(host.name, found.changes[host.name], found.refused[host.name])
        return found

    def record(self, host: str, change: Change, outcome: str, reason: str = "") -> bool:
        """One record of a recorded run; False when the audit log could not take it."""
        return self.journal is None or self.journal.write(host, [(change, outcome, reason)])

    def refuse(self, host: str, change: Change, why: str) -> None:
        """`change` refused on `host`: recorded as `refused` with why; never sent."""
        self.record(host, change, "refused", why)

    # -- the hosts -------------------------------------------------------------------

    @contextmanager
    def connected(
        self, hosts: Sequence[Host], failed: Failed, *, locked: bool = False
    ) -> Iterator[tuple[Session, list[Host]]]:
        """Connected to `hosts` (under the workspace's lock when `locked`): the session
        and the hosts that connected; each that did not is said through failed(name, why).
        Disconnected, and unlocked, at the end."""
        from tendr.ops import engine

        lock = workspace_lock(self.workspace, self.person) if locked else nullcontext()
        with lock, engine.connected(self.workspace, hosts, failed) as found:
            yield found

    def over(
        self,
        hosts: Sequence[Host],
        one: Callable[[Session, Host], None],
        *,
        failed: Failed,
        unfinished: Unfinished | None = None,
        progress: Callable[[str], None] | None = None,
        before: Callable[[Session, list[Host]], None] | None = None,
        stop: Callable[[Session, str], None] | None = None,
    ) -> None:
        """Connect to `hosts` and do one(session, host) on every host that connected, at
        once (before(session, reachable) first, where given); progress(name) as each ends.
        No host, no connection.

        Ctrl-C, SIGTERM or SIGHUP stop every host at its next wait (never in the middle
        of a record): then what each host had not finished is stopped there
        (stop(session, name), while connected) and its changes (unfinished(name)) are
        recorded as `interrupted`, and KeyboardInterrupt is raised on."""
        if not hosts:
            return
        from tendr.ops.execute import interruptible  # as apply's engine is interrupted
        from tendr.remote.connect import in_parallel

        ended: set[str] = set()

        def said(name: str, why: str) -> None:
            ended.add(name)
            failed(name, why)

        def guarded(session: Session, host: Host) -> None:
            one(session, host)
            ended.add(host.name)
            if progress:
                progress(host.name)

        try:
            with interruptible(), self.connected(hosts, said) as (session, reachable):
                if before is not None:
                    before(session, reachable)
                try:
                    in_parallel(session.state, lambda host: guarded(session, host), reachable)
                except KeyboardInterrupt:
                    for name in [h.name for h in reachable if h.name not in ended]:
                        (stop or _nothing_to_stop)(session, name)
                    raise
        except KeyboardInterrupt:
            if unfinished is not None:
                self.interrupted([h.name for h in hosts if h.name not in ended], unfinished)
            raise

    def interrupted(self, hosts: Sequence[str], unfinished: Unfinished) -> None:
        """What each of `hosts` had not finished, recorded as `interrupted`."""
        why = f"{self.command} was interrupted: it may or may not have run"
        for name in hosts:
            for change in unfinished(name):
                self.record(name, change, "interrupted", why)

    def finish(self) -> None:
        """A UserError when the audit log could not take every record of the run."""
        if self.journal is not None and self.journal.broken:
            raise AuditLogUnwritable(
                f"the audit log could not take the record: {self.journal.broken}"
            )


def _nothing_to_stop(session: Session, name: str) -> None:
    """What most work leaves on an interrupted host: nothing running."""


def decided(change: Change, decision: Decision) -> Change:
    """`change` with what the rules decided on it: allowed or not, and the deciding rule
    (or, where none decided, why)."""
    return replace(change, allowed=decision.allowed, rule=decision.rule or decision.reason)


LOCK_FILE = ".tendr/apply.lock"


@contextmanager
def workspace_lock(workspace: Workspace, person: str) -> Iterator[None]:
    """One apply (or do) at a time per workspace; a second one is told who holds the
    lock. The lock is the kernel's (flock): it ends with the process that holds it, crash
    or not."""
    from tendr.ops.execute import holder as who

    path = workspace.root / LOCK_FILE
    # O_NOFOLLOW: a link planted at the lock's name is refused, not followed.
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    writable = True
    try:
        path.parent.mkdir(exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o644)
        except PermissionError:  # another account's lock file: it locks read-only too
            fd, writable = os.open(path, os.O_RDONLY | flags), False
    except OSError as exc:
        raise FileUnusable(
            file=path,
            message=f"cannot lock the workspace ({path}: {exc.strerror or exc}); "
            "nothing was applied",
        ) from None
    # Unbuffered, so that a full disk fails the write below, never the close.
    with os.fdopen(fd, "r+b" if writable else "rb", buffering=0) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = handle.read().decode("utf-8", "replace").strip() or "another tendr process"
            raise WorkspaceLocked(
                f"another apply is running in this workspace ({holder}); "
                "wait until it ends. Nothing was applied"
            ) from None
        if writable:
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, (who(person) + "\n").encode(), 0)
            except OSError as exc:  # a full disk: nothing could be recorded either
                raise FileUnusable(
                    file=path,
                    message=f"cannot write the workspace's lock ({path}: "
                    f"{exc.strerror or exc}); nothing was applied",
                ) from None
        try:
            yield
        finally:
            if writable:
                os.ftruncate(fd, 0)
