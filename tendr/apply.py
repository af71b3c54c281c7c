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
from tendr.plan import Plan
from tendr.states.base import ResourceSpec
from tendr.states.kind import Context
from tendr.states.kinds import KINDS

logging.getLogger("pyinfra").addHandler(logging.NullHandler())
logging.getLogger("pyinfra").propagate = False


def _op(state: Any, pyhost: Any, step: Step, sudo: bool, name: str) -> Any:
    """Add one pyinfra operation for one step; returns its OperationMeta."""
    if isinstance(step, Run):
        metas = add_op(state, server.shell, commands=[shlex.join(step.argv)], name=name,
                       host=pyhost, _sudo=sudo)
    else:
        metas = add_op(state, files.put, src=io.BytesIO(step.content), dest=step.path,
                       user=step.owner, group=step.group, mode=step.mode,
                       create_remote_dir=True, name=name, host=pyhost, _sudo=sudo)
    return metas[pyhost]


def apply(plan: Plan, specs: dict[str, dict[tuple[str, str], ResourceSpec]],
          sources: dict[str, bytes], session: Session,
          progress: Callable[[str], None] | None = None) -> list[HostResult]:
    """Run the allowed changes of every host; refused ones are reported, never run."""
    results: dict[str, HostResult] = {}
    pending: dict[str, list[tuple[Change, list[Any]]]] = {}
    for host_plan in plan.hosts:
        result = results[host_plan.host] = HostResult(host_plan.host, error=host_plan.error)
        if host_plan.error or host_plan.host not in session.hosts:
            continue
        pyhost = session.hosts[host_plan.host]
        sudo = session.sudo.get(host_plan.host, False)
        queued: list[tuple[Change, list[Any]]] = []
        try:
            for change in host_plan.changes:
                if change.action == "unknown":
                    continue
                if change.allowed is False:
                    result.results.append(ChangeResult(change, "refused", change.rule))
                    continue
                spec = specs[host_plan.host][(change.kind, change.resource)]
                context = Context(earlier=host_plan.changes, sources=sources)
                steps = KINDS[change.kind].steps(spec, change, context)
                name = f"{change.op} {change.resource}"
                queued.append((change, [_op(session.state, pyhost, s, sudo, name)
                                        for s in steps]))
        except Exception as exc:
            result.error = f"could not prepare its changes: {exc}"
            continue
        pending[host_plan.host] = queued
    def run_one(host: str) -> None:
        _run_host(session.state, session.hosts[host])
        if progress:
            progress(host)

    greenlets = [session.state.pool.spawn(run_one, host) for host in pending]
    gevent.joinall(greenlets, raise_error=True)
    for host, queued in pending.items():
        results[host].results.extend(_outcomes(queued))
    return [results[h.host] for h in plan.hosts]


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
