"""On demand: one command on many hosts (`tendr run`), one operation on a resource
(`tendr do`, the operations each kind declares: Kind.on_demand), decided by the rules and
recorded like apply: each through the runner (tendr/ops/runner.py), which does what
they share; here is what each does on a host.

A command is an argument vector from end to end: the rules match it word for whole
argument, and it reaches the host quoted for the remote shell (`exec "$@"`), so no
shell syntax in it (`;`, `&&`, `$(...)`, redirections) is ever interpreted, here or
there. A refused command is never sent.
"""

from __future__ import annotations

import hashlib
import secrets as tokens
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from pydantic import ValidationError

from tendr.base.changes import Change, ChangeResult, FieldChange, HostResult
from tendr.base.errors import CommandTimeout, ConnectionLost, HostError, NotConfirmed, UserError
from tendr.base.scripts import script
from tendr.core import history
from tendr.core.authorize import may_change
from tendr.core.plan import HostPlan, Plan, probe_script, split_sections
from tendr.kinds.base import ResourceSpec
from tendr.kinds.kind import Context, OnDemand
from tendr.kinds.registry import KINDS
from tendr.ops import engine, execute
from tendr.ops.runner import Runner
from tendr.remote.connect import Session, run, run_long
from tendr.rules.resources import command_words
from tendr.workspace.hosts import Host
from tendr.workspace.loader import Workspace

RUN_SCRIPT = script("tendr.ops", "run")  # $1 a nonce, then the command
STOP_SCRIPT = script("tendr.ops", "stop-run")  # $1 the nonce


@dataclass
class HostRun:
    """What one command did on one host: its status and output, or why it did not run
    (`refused`: the rules; `error`: the host could not be reached or did not answer)."""

    host: str
    status: int | None = None
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    refused: str = ""
    error: str = ""
    rule: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 0

    def digest(self) -> str:
        """The SHA-256 of what the command printed, for the audit log (which keeps no
        output: it may hold anything the host has)."""
        data = "\n".join(self.stdout) + "\0" + "\n".join(self.stderr)
        return hashlib.sha256(data.encode()).hexdigest()


def masked(argv: Sequence[str], secrets: Sequence[str]) -> list[str]:
    """The command as recorded: every known secret's value in it replaced by ***."""
    found = []
    for word in argv:
        for secret in secrets:
            if secret:
                word = word.replace(secret, "***")
        found.append(word)
    return found


def run_command(
    workspace: Workspace,
    hosts: Sequence[Host],
    person: str,
    argv: Sequence[str],
    *,
    secrets: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> list[HostRun]:
    """Run `argv` as root on every host the rules let `person` run it on, in parallel;
    each host's run is recorded in the audit log, refusals included."""
    _check_command(argv)
    runner = Runner(workspace, person, "run", nothing="nothing was run")
    command = Change(
        kind="command",
        resource=command_words(masked(argv, secrets)),
        op="command.run",
        action="change",
    )
    decided = runner.decide(hosts, "command.run", command_words(list(argv)), change=command)
    results = {
        h.name: HostRun(
            h.name, refused=decided.refused.get(h.name, ""), rule=decided.changes[h.name].rule
        )
        for h in hosts
    }

    def failed(name: str, why: str) -> None:
        results[name].error = why
        _record(runner, results[name], decided.changes[name])

    nonce = tokens.token_hex(8)  # names the command on each host, to stop it if need be

    def one(session: Session, host: Host) -> None:
        _run_one(session, host.name, [nonce, *argv], results[host.name], workspace)
        _record(runner, results[host.name], decided.changes[host.name])

    def stop(session: Session, name: str) -> None:
        """An interrupted run leaves nothing running: the command's process group is
        stopped (TERM, then KILL)."""
        try:
            run(session, name, STOP_SCRIPT, [nonce], timeout=15)
        except HostError:
            return  # the connection is gone: the record says it may have run on

    runner.over(
        decided.allowed,
        one,
        failed=failed,
        unfinished=lambda name: [decided.changes[name]],
        progress=progress,
        stop=stop,
    )
    runner.finish()
    return [results[h.name] for h in hosts]


def _check_command(argv: Sequence[str]) -> None:
    if not argv:
        raise UserError("no command given: tendr run [--limit HOSTS] -- COMMAND [ARGS...]")
    for word in argv:
        try:
            word.encode()
        except UnicodeEncodeError:  # bytes that are not UTF-8: it could not be recorded
            raise UserError(f"{word!r} is not UTF-8 text: tendr runs what it can record") from None


def _run_one(
    session: Session, name: str, argv: Sequence[str], result: HostRun, workspace: Workspace
) -> None:
    try:
        output = run(session, name, RUN_SCRIPT, argv, timeout=workspace.settings.command_timeout)
    except (CommandTimeout, ConnectionLost) as exc:
        result.error = f"{exc.reason}: the command may or may not have run to its end"
        return
    except HostError as exc:
        result.error = exc.reason
        return
    result.status, result.stdout, result.stderr = output.status, output.stdout, output.stderr


def _record(runner: Runner, result: HostRun, change: Change) -> None:
    """One record per host that ran it or could not: the command (secrets masked), its
    exit status and a digest of its output; or why it did not run. A refusal is recorded
    when decided, an interruption by the runner."""
    if result.error:
        outcome, reason = "failed", result.error
    else:
        outcome = "done" if result.ok else "failed"
        reason = "" if result.ok else f"exit status {result.status}"
    fields: tuple[FieldChange, ...] = ()
    if result.status is not None:
        fields = (
            FieldChange("status", None, result.status),
            FieldChange("output_sha256", None, result.digest()),
        )
    runner.record(result.host, replace(change, fields=fields), outcome, reason)


# -- one operation on demand (tendr do) ------------------------------------------

ON_DEMAND: dict[str, OnDemand] = {
    op: how for kind in KINDS.values() for op, how in kind.on_demand.items()
}
"""The operations `tendr do` makes, each kind's (Kind.on_demand): those a resource's name
alone says how to do, and those made on the resource as a state declares it for each
host, confirmed first (`tendr do` asks, or takes --yes: a backup's repository started
over is a decision, never a side effect)."""
Confirm = Callable[[list[str]], None]  # shows what will be done; raises when not confirmed


def on_demand(op: str, resource: str) -> tuple[ResourceSpec, Change]:
    """The resource and the change `tendr do OP RESOURCE` makes; a user error for an
    operation that cannot be done on demand or a name its kind refuses."""
    how = ON_DEMAND.get(op)
    if how is None:
        raise UserError(
            f"{op!r} cannot be done on demand; these can: {', '.join(ON_DEMAND)} "
            "(everything else through a state and tendr apply)"
        )
    try:
        spec, fields = how.build(resource)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise UserError(f"{op} {resource!r}: {problem}") from None
    change = Change(kind=spec.kind, resource=spec.key, op=op, action="change", fields=fields)
    return spec, change


def _as_the_host_names_it(
    workspace: Workspace, session: Session, host: Host, spec: ResourceSpec, change: Change
) -> Change:
    """The change with the names the host knows its resource by (read with the plan's
    probe of that one resource); where they cannot be read, the state's name alone."""
    nonce = tokens.token_hex(8)
    script = probe_script([("do", spec)], nonce)
    output = run_long(session, host.name, script, timeout=workspace.settings.command_timeout)
    if not output.ok:
        return change
    sections = split_sections(output.stdout, nonce)
    kind = KINDS[spec.kind]
    actual = kind.parse([spec], sections.get(spec.kind, []))[spec.key]
    identity, *aliases = kind.names(spec, actual)
    return replace(
        change, resolved=identity if identity != spec.key else "", aliases=tuple(aliases)
    )


def do_operation(
    workspace: Workspace,
    hosts: Sequence[Host],
    person: str,
    op: str,
    resource: str,
    *,
    progress: execute.Progress | None = None,
    confirm: Confirm | None = None,
) -> list[HostResult]:
    """Make one operation on one resource of every selected host the rules allow, like
    apply does a change: locked, recorded before and after, in parallel. An operation
    that is confirmed is made on each host's declared resource, once `confirm` passed."""
    spec, change = on_demand(op, resource)
    runner = Runner(workspace, person, "do", nothing="nothing was done")
    decided: dict[str, Change] = {}
    targets: dict[str, ResourceSpec] = {}
    results: dict[str, HostResult] = {}
    for host in hosts:
        decision = runner.may(op, host, change.resource)
        marked = replace(change, allowed=decision.allowed, rule=decision.rule or decision.reason)
        target = _declared(workspace, host, spec, op)
        if decision.allowed and target is not None:
            decided[host.name], targets[host.name] = marked, target
            continue
        # Only what a state declares for the host: a rule for service.start was written
        # for the units the states name, not for reboot.target or debug-shell.service.
        why = (
            f"permission denied: {decision.reason}"
            if not decision.allowed
            else f"no state declares {spec.kind} {spec.key} for {host.name}: tendr do acts "
            "on declared resources only"
        )
        results[host.name] = _refused(runner, host.name, marked, why)
    if decided and (asked := ON_DEMAND[op].confirm) is not None:
        seen = history.seen(workspace.path(workspace.settings.history), list(decided))
        lines = []
        for name, marked in decided.items():
            decided[name], line = asked(targets[name], marked, Context(seen=seen.get(name, {})))
            lines.append(f"{name}: {line}")
        if confirm is None:
            raise NotConfirmed(f"{op} is made only once confirmed")
        confirm(lines)
    if not decided:
        return [results[h.name] for h in hosts if h.name in results]
    allowed = [h for h in hosts if h.name in decided]
    # A host that does not connect carries its error in the plan below.
    with runner.connected(allowed, lambda _name, _why: None, locked=True) as (session, reachable):
        # Decided again on the names the host knows the resource by: a deny of
        # ssh.service also refuses `do service.stop sshd.service`.
        for host in reachable:
            named = _as_the_host_names_it(
                workspace, session, host, targets[host.name], decided[host.name]
            )
            decision = may_change(workspace, person, host, named)
            if decision.allowed:
                decided[host.name] = replace(named, allowed=True, rule=decision.rule or "")
                continue
            why = f"permission denied: {decision.reason}"
            marked = replace(named, allowed=False, rule=decision.rule or why)
            results[host.name] = _refused(runner, host.name, marked, why)
            allowed.remove(host)
        plan = Plan(
            tuple(
                HostPlan(
                    h.name,
                    (decided[h.name],),
                    error=session.errors.get(h.name),
                    code=session.codes.get(h.name),
                )
                for h in allowed
            )
        )
        specs = {h.name: {(spec.kind, spec.key): targets[h.name]} for h in allowed}
        for result in execute.apply(
            plan,
            specs,
            {},
            session,
            runner.recording,
            timeout=workspace.settings.command_timeout,
            progress=progress,
        ):
            results[result.host] = result
    return [results[h.name] for h in hosts if h.name in results]


def _declared(workspace: Workspace, host: Host, spec: ResourceSpec, op: str) -> ResourceSpec | None:
    """What `tendr do` acts on for the host: the resource some state declares there (and
    does not remove), as the state declares it for an operation confirmed first, or one a
    declared resource makes (a backup job's units); None when no state declares it."""
    declared = {
        (d.spec.kind, d.spec.key): d.spec
        for d in workspace.desired(host)
        if getattr(d.spec, "present", True)  # not a job the states remove
    }
    if (spec.kind, spec.key) in declared:
        return declared[(spec.kind, spec.key)] if ON_DEMAND[op].confirm is not None else spec
    # What a declared resource makes (a backup job's units) is acted on as named.
    made = engine.made_for(workspace, host)
    return spec if (spec.kind, spec.key) in made and ON_DEMAND[op].confirm is None else None


def _refused(runner: Runner, host: str, change: Change, why: str) -> HostResult:
    runner.refuse(host, change, why)
    return HostResult(host, [ChangeResult(change, "refused", why)])
