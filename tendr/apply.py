"""Applying a plan: each permitted Change's Steps become pyinfra operations.

Hosts run in parallel, each its own changes in plan order; a failing change stops
the rest of its host (they may depend on it) and never the other hosts.
"""

from __future__ import annotations

import io
import logging
import shlex
from collections.abc import Callable, Sequence
from typing import Any

import gevent
from pyinfra.api.operation import add_op
from pyinfra.api.operations import run_host_op
from pyinfra.context import ctx_host, ctx_state
from pyinfra.operations import files, server

from tendr.changes import Change, ChangeResult, HostResult, Run, Step
from tendr.hosts.connect import Session
from tendr.plan import HostPlan, Plan
from tendr.states.base import ResourceSpec
from tendr.states.kind import Context
from tendr.states.kinds import KINDS

logging.getLogger("pyinfra").addHandler(logging.NullHandler())
logging.getLogger("pyinfra").propagate = False


def _ops(state: Any, pyhost: Any, step: Step, sudo: bool, name: str) -> list[Any]:
    """Add the pyinfra operations of one step; returns their OperationMetas."""
    def shell(*argv: str) -> Any:
        return add_op(state, server.shell, commands=[shlex.join(argv)], name=name,
                      host=pyhost, _sudo=sudo)[pyhost]

    if isinstance(step, Run):
        return [shell(*step.argv)]
    # Upload beside the target, then rename over it: the file is replaced whole, and a
    # symbolic link at the path is replaced too, never written through.
    directory, _, base = step.path.rpartition("/")
    temporary = f"{directory}/.{base}.tendr-new"
    clear = shell("rm", "-f", "--", temporary)  # operations run in the order they are added
    put = add_op(state, files.put, src=io.BytesIO(step.content), dest=temporary,
                 user=step.owner, group=step.group, mode=step.mode, create_remote_dir=True,
                 name=name, host=pyhost, _sudo=sudo)[pyhost]
    # What the state leaves unsaid stays as it was on the replaced file.
    keep = [command for command, unsaid in (
        ('chmod --reference="$1" -- "$2"', step.mode is None),
        ('chown "$(stat -c %u -- "$1")" -- "$2"', step.owner is None),
        ('chgrp "$(stat -c %g -- "$1")" -- "$2"', step.group is None)) if unsaid]
    carry = [shell("sh", "-c", f'if [ -f "$1" ] && [ ! -L "$1" ]; then {"; ".join(keep)}; fi',
                   "sh", step.path, temporary)] if keep else []
    return [clear, put, *carry, shell("mv", "-f", "-T", "--", temporary, step.path)]


Queued = list[tuple[Change, list[Any]]]  # each change with its pyinfra operations


def apply(plan: Plan, specs: dict[str, dict[tuple[str, str], ResourceSpec]],
          sources: dict[str, bytes], session: Session,
          progress: Callable[[str], None] | None = None) -> list[HostResult]:
    """Run the allowed changes of every host; refused ones are reported, never run."""
    results = {h.host: HostResult(h.host, error=h.error) for h in plan.hosts}
    pending: dict[str, Queued] = {}
    for host_plan in plan.hosts:
        if host_plan.error is None and host_plan.host in session.hosts:
            try:
                pending[host_plan.host] = _queue(host_plan, results[host_plan.host],
                                                 specs[host_plan.host], sources, session)
            except Exception as exc:  # preparing one host must not stop the others
                results[host_plan.host].error = f"could not prepare its changes: {exc}"

    def run_one(host: str) -> None:
        try:
            _run_host(session.state, session.hosts[host])
        except Exception as exc:  # one host's failure never stops the others
            results[host].error = f"applying stopped: {exc}"
        if progress:
            progress(host)

    gevent.joinall([session.state.pool.spawn(run_one, host) for host in pending],
                   raise_error=True)
    for host, queued in pending.items():
        results[host].results.extend(_outcomes(queued))
    return list(results.values())


def _queue(host_plan: HostPlan, result: HostResult,
           specs: dict[tuple[str, str], ResourceSpec], sources: dict[str, bytes],
           session: Session) -> Queued:
    """Add one host's allowed changes as pyinfra operations; note the refused ones."""
    pyhost = session.hosts[host_plan.host]
    sudo = session.sudo.get(host_plan.host, False)
    context = Context(earlier=host_plan.changes, sources=sources)
    queued: Queued = []
    for change in host_plan.changes:
        if change.action == "unknown":
            continue
        if change.allowed is False:
            result.results.append(ChangeResult(change, "refused", change.rule))
            continue
        steps = KINDS[change.kind].steps(specs[(change.kind, change.resource)], change, context)
        name = f"{change.op} {change.resource}"
        queued.append((change, [meta for step in steps
                                for meta in _ops(session.state, pyhost, step, sudo, name)]))
    return queued


def _run_host(state: Any, pyhost: Any) -> None:
    """Run one host's operations in order, stopping at the first that fails."""
    with ctx_state.use(state), ctx_host.use(pyhost):
        for op_hash in list(pyhost.op_hash_order):
            if run_host_op(state, pyhost, op_hash) is False:
                return


def _outcomes(queued: Sequence[tuple[Change, list[Any]]]) -> list[ChangeResult]:
    found = []
    failed_before = False
    for change, metas in queued:
        if failed_before or not all(m.is_complete() for m in metas):
            found.append(ChangeResult(change, "skipped",
                                      "not run: an earlier change on this host failed"))
            continue
        errors = [m for m in metas if m.did_error()]
        if errors:
            failed_before = True
            detail = "; ".join(line for m in errors for line in m.stderr_lines[-3:])
            found.append(ChangeResult(change, "failed", detail or "the command failed"))
        else:
            found.append(ChangeResult(change, "done"))
    return found
