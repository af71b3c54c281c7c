"""The apply workflow: check the audit log, lock the workspace, connect, plan, refuse or
confirm, make the allowed changes (tendr/execute.py), read the hosts again.

The CLI supplies how to confirm and show progress, and renders what this returns;
nothing here prints.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from tendr.base.changes import HostResult
from tendr.base.errors import UserError
from tendr.core import audit, history
from tendr.core.authorize import blocked, readable
from tendr.core.plan import HostPlan, Plan
from tendr.ops import engine, execute
from tendr.remote.connect import close_session
from tendr.rules.actor import real_account
from tendr.workspace.hosts import Host
from tendr.workspace.loader import Workspace


@dataclass
class Applied:
    """What an apply did: the plan, each change's result, the hosts read again
    afterwards (None when nothing ran), and why it stopped short, if it did."""

    plan: Plan
    results: list[HostResult] = field(default_factory=list)
    after: Plan | None = None
    error: str | None = None
    ran: bool = True  # False: nothing was run (refused, or nothing to do)
    unrecorded: str | None = None  # why the plans could not be kept in the drift history

    @property
    def ok(self) -> bool:
        """Every change made and recorded, and no drift remains: exit 0."""
        return (
            self.error is None
            and self.after is not None
            and self.after.in_sync
            and all(r.error is None for r in self.results)
            and all(
                item.outcome == "done" and item.recorded for r in self.results for item in r.results
            )
        )


Confirm = Callable[[Plan], None]  # shows the plan; raises UserError when not confirmed


def apply(
    workspace: Workspace,
    selected: Sequence[Host],
    person: str,
    *,
    only_allowed: bool,
    confirm: Confirm,
    reading: engine.Progress | None = None,
    applying: execute.Progress | None = None,
) -> Applied:
    """Make the planned changes `person` may make on the selected hosts."""
    log = workspace.path(workspace.settings.audit_log)
    if problem := audit.ready(log):
        raise UserError(f"{problem}; nothing was applied")
    journal = audit.Journal(log, person=person, account=real_account(), command="apply")
    with workspace_lock(workspace, person):
        session = engine.connect(workspace, readable(workspace, person, "plan", selected)[0])
        try:
            planned = engine.plan_for(workspace, selected, person, reading, session)
            unrecorded = history.record(workspace.path(workspace.settings.history), planned, person)
            refusals = blocked(planned)
            if refusals and not only_allowed:
                applied = _refused(journal, planned, refusal_message(person, refusals))
                applied.unrecorded = unrecorded
                return applied
            if not any(
                c.action != "unknown" and c.allowed for h in planned.hosts for c in h.changes
            ):
                applied = _refused(journal, planned, None)
                applied.after, applied.unrecorded = planned, unrecorded
                return applied
            confirm(planned)
            connected = [h for h in selected if h.name in session.hosts]
            results = execute.apply(
                planned,
                engine.desired_specs(workspace, connected),
                engine.workspace_sources(workspace, connected),
                session,
                journal,
                timeout=workspace.settings.command_timeout,
                progress=applying,
                secrets=engine.workspace_secrets(workspace, connected),
            )
            after = engine.plan_for(workspace, connected, person, session=session)
            unrecorded = unrecorded or history.record(
                workspace.path(workspace.settings.history), after, person
            )
            return Applied(planned, results, after, journal.broken, unrecorded=unrecorded)
        finally:
            close_session(session)


def _refused(journal: audit.Journal, planned: Plan, error: str | None) -> Applied:
    """Nothing runs: the blocked changes are recorded as refused."""
    results = [r for r in audit.refusals(planned) if r.results]
    for result in results:
        journal.write(result.host, [(i.change, i.outcome, i.reason) for i in result.results])
    return Applied(planned, results, None, error or journal.broken, ran=False)


def refusal_message(person: str, refusals: list[tuple[HostPlan, list[str]]]) -> str:
    lines = [f"{person} may not apply every planned change; nothing was applied:"]
    for host, names in refusals:
        lines.extend(f"  {host.host}: {name}" for name in names)
    lines.append("Apply the allowed changes alone with --only-allowed, or ask an administrator.")
    return "\n".join(lines)


LOCK_FILE = ".tendr/apply.lock"


@contextmanager
def workspace_lock(workspace: Workspace, person: str) -> Iterator[None]:
    """One apply at a time per workspace; a second one is told who holds the lock. The
    lock is the kernel's (flock): it ends with the process that holds it, crash or not."""
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
        raise UserError(
            f"cannot lock the workspace ({path}: {exc.strerror or exc}); nothing was applied"
        ) from None
    with os.fdopen(fd, "r+" if writable else "r", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = handle.read().strip() or "another tendr process"
            raise UserError(
                f"another apply is running in this workspace ({holder}); "
                "wait until it ends. Nothing was applied"
            ) from None
        if writable:
            handle.truncate(0)
            handle.write(execute.holder(person) + "\n")
            handle.flush()
        try:
            yield
        finally:
            if writable:
                handle.seek(0)
                handle.truncate(0)
