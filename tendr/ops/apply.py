"""The apply workflow: through the runner (tendr/ops/runner.py: the audit log checked,
the workspace locked, the hosts connected), plan, refuse or confirm, make the allowed
changes (tendr/ops/execute.py), read the hosts again.

The CLI supplies how to confirm and show progress, and renders what this returns;
nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tendr.base.changes import HostResult
from tendr.core import audit, history
from tendr.core.authorize import blocked, readable
from tendr.core.only import Part, only
from tendr.core.plan import HostPlan, Plan
from tendr.ops import engine, execute
from tendr.ops.runner import LOCK_FILE as LOCK_FILE  # where it was: tests and callers
from tendr.ops.runner import Runner
from tendr.ops.runner import workspace_lock as workspace_lock
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
    parts: Sequence[Part] = (),
    reading: engine.Progress | None = None,
    applying: execute.Progress | None = None,
) -> Applied:
    """Make the planned changes `person` may make on the selected hosts (of the resources
    `parts` select, and what they need, where given)."""
    runner = Runner(workspace, person, "apply", nothing="nothing was applied")
    journal = runner.recording
    readable_hosts = readable(workspace, person, "plan", selected)[0]
    # A host that does not connect carries its error in the plan.
    with runner.connected(readable_hosts, _said_by_the_plan, locked=True) as (session, _):
        whole = engine.plan_for(workspace, selected, person, reading, session)
        unrecorded = history.record(workspace.path(workspace.settings.history), whole, person)
        planned = only(whole, parts)
        refusals = blocked(planned)
        if refusals and not only_allowed:
            applied = _refused(journal, planned, refusal_message(person, refusals))
            applied.unrecorded = unrecorded
            return applied
        if not any(c.action != "unknown" and c.allowed for h in planned.hosts for c in h.changes):
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
        progress = applying or execute.NoProgress()
        progress.reading(len(connected))
        whole = engine.plan_for(workspace, connected, person, progress.read, session)
        unrecorded = unrecorded or history.record(
            workspace.path(workspace.settings.history), whole, person
        )
        after = only(whole, parts)
        return Applied(planned, results, after, journal.broken, unrecorded=unrecorded)


def _said_by_the_plan(_host: str, _why: str) -> None:
    """A host that did not connect: its plan carries the error."""


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
