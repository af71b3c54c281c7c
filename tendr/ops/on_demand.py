"""On demand: one command on many hosts (`tendr run`), one operation on a resource
(`tendr do`), a backup's restore test (`tendr backup check`), decided by the rules and
recorded like apply. The I/O edge around
`tendr.rules`, `tendr.execute` and `tendr.audit`.

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
from tendr.base.errors import CommandTimeout, ConnectionLost, HostError, UserError
from tendr.core import audit, history
from tendr.core.authorize import may, may_change
from tendr.core.plan import HostPlan, Plan, probe_script, split_sections
from tendr.kinds import backup
from tendr.kinds.backup import BackupSpec
from tendr.kinds.base import ResourceSpec
from tendr.kinds.kind import Context
from tendr.kinds.module import ModuleSpec
from tendr.kinds.printer import PrinterSpec
from tendr.kinds.registry import KINDS
from tendr.kinds.service import ServiceSpec
from tendr.ops import engine, execute
from tendr.ops.apply import workspace_lock
from tendr.ops.backup_check import check_command, verdict
from tendr.remote.connect import Session, close_session, in_parallel, run, run_long
from tendr.rules.actor import real_account
from tendr.rules.resources import command_words
from tendr.workspace.hosts import Host
from tendr.workspace.loader import Workspace

RUN_SCRIPT = 'exec "$@"'
CHECK_TIMEOUT = 600  # seconds: a repository check reads back part of the data


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
    log = workspace.path(workspace.settings.audit_log)
    if problem := audit.ready(log):
        raise UserError(f"{problem}; nothing was run")
    words = command_words(list(argv))
    recorded = command_words(masked(argv, secrets))
    results = {host.name: _decided(workspace, person, host, words) for host in hosts}
    allowed = [host for host in hosts if not results[host.name].refused]
    journal = audit.Journal(log, person=person, account=real_account(), command="run")

    def failed(name: str, why: str) -> None:
        results[name].error = why

    try:
        if allowed:
            with engine.connected(workspace, allowed, failed) as (session, reachable):

                def one(host: Host) -> None:
                    _run_one(session, host.name, argv, results[host.name], workspace)
                    if progress:
                        progress(host.name)

                in_parallel(session.state, one, reachable)
    finally:
        for result in results.values():
            _record(journal, result, recorded)
    if journal.broken:
        raise UserError(f"the audit log could not take the record: {journal.broken}")
    return [results[h.name] for h in hosts]


def _check_command(argv: Sequence[str]) -> None:
    if not argv:
        raise UserError("no command given: tendr run [--limit HOSTS] -- COMMAND [ARGS...]")
    for word in argv:
        try:
            word.encode()
        except UnicodeEncodeError:  # bytes that are not UTF-8: it could not be recorded
            raise UserError(f"{word!r} is not UTF-8 text: tendr runs what it can record") from None


def _decided(workspace: Workspace, person: str, host: Host, words: str) -> HostRun:
    decision = may(workspace, person, "command.run", host, words)
    refused = "" if decision.allowed else f"permission denied: {decision.reason}"
    return HostRun(host.name, refused=refused, rule=decision.rule or decision.reason)


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


def _record(journal: audit.Journal, result: HostRun, command: str) -> None:
    """One record per host: the command (secrets masked), its exit status and a digest
    of its output; or why it did not run."""
    if result.refused:
        outcome, reason = "refused", result.refused
    elif result.error:
        outcome, reason = "failed", result.error
    elif result.status is None:  # stopped before its end came (Ctrl-C)
        outcome, reason = "interrupted", "run was interrupted: it may or may not have run"
    else:
        outcome = "done" if result.ok else "failed"
        reason = "" if result.ok else f"exit status {result.status}"
    fields: tuple[FieldChange, ...] = ()
    if result.status is not None:
        fields = (
            FieldChange("status", None, result.status),
            FieldChange("output_sha256", None, result.digest()),
        )
    change = Change(
        kind="command",
        resource=command,
        op="command.run",
        action="change",
        fields=fields,
        rule=result.rule,
    )
    journal.write(result.host, [(change, outcome, reason)])


# -- one operation on demand (tendr do) ------------------------------------------

OnDemand = Callable[[str], tuple[ResourceSpec, tuple[FieldChange, ...]]]
_STATE = {"start": "active (running)", "stop": "inactive (dead)", "restart": "restarted"}


def _service(verb: str) -> OnDemand:
    def build(resource: str) -> tuple[ResourceSpec, tuple[FieldChange, ...]]:
        spec = ServiceSpec(unit=resource)
        if verb in _STATE:
            return spec, (FieldChange("state", None, _STATE[verb]),)
        return spec, (FieldChange("enabled", None, f"{verb}d"),)

    return build


def _printer(enable: bool) -> OnDemand:
    def build(resource: str) -> tuple[ResourceSpec, tuple[FieldChange, ...]]:
        fields = (FieldChange("enabled", None, enable), FieldChange("accepting", None, enable))
        return PrinterSpec(name=resource), fields

    return build


def _module(load: bool) -> OnDemand:
    def build(resource: str) -> tuple[ResourceSpec, tuple[FieldChange, ...]]:
        return ModuleSpec(name=resource), (FieldChange("loaded", None, load),)

    return build


def _backup_init(resource: str) -> tuple[ResourceSpec, tuple[FieldChange, ...]]:
    # A stand-in with the job's kind and name: the job itself is the one a state declares
    # for each host (AS_DECLARED), with its repository and password.
    try:
        name = backup.job_name(resource)
    except ValueError as exc:
        raise UserError(f"backup.init {resource!r}: {exc}") from None
    spec = BackupSpec.model_construct(name=name)  # type: ignore[call-arg]
    return spec, (FieldChange("repository", None, backup.NEW),)


ON_DEMAND: dict[str, OnDemand] = {
    **{
        f"service.{verb}": _service(verb)
        for verb in ("start", "stop", "restart", "enable", "disable")
    },
    "printer.enable": _printer(True),
    "printer.disable": _printer(False),
    "module.load": _module(True),
    "module.unload": _module(False),
    "backup.init": _backup_init,
}
"""The operations `tendr do` makes: those a resource's name alone says how to do, and
starting a backup job's repository over."""

# Operations made on the resource as a state declares it for each host (a backup job's
# repository and password), and confirmed first (`tendr do` asks, or takes --yes): a
# new repository in place of one seen before is a decision, never a side effect.
AS_DECLARED = frozenset({"backup.init"})
Confirm = Callable[[list[str]], None]  # shows what will be done; raises when not confirmed


def on_demand(op: str, resource: str) -> tuple[ResourceSpec, Change]:
    """The resource and the change `tendr do OP RESOURCE` makes; a user error for an
    operation that cannot be done on demand or a name its kind refuses."""
    build = ON_DEMAND.get(op)
    if build is None:
        raise UserError(
            f"{op!r} cannot be done on demand; these can: {', '.join(ON_DEMAND)} "
            "(everything else through a state and tendr apply)"
        )
    try:
        spec, fields = build(resource)
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
    AS_DECLARED is made on each host's declared resource, once `confirm` passed."""
    spec, change = on_demand(op, resource)
    log = workspace.path(workspace.settings.audit_log)
    if problem := audit.ready(log):
        raise UserError(f"{problem}; nothing was done")
    journal = audit.Journal(log, person=person, account=real_account(), command="do")
    decided: dict[str, Change] = {}
    targets: dict[str, ResourceSpec] = {}
    refusals: list[HostResult] = []
    for host in hosts:
        decision = may(workspace, person, op, host, change.resource)
        marked = replace(change, allowed=decision.allowed, rule=decision.rule or decision.reason)
        declared = {
            (d.spec.kind, d.spec.key): d.spec
            for d in workspace.desired(host)
            if getattr(d.spec, "present", True)  # not a job the states remove
        }
        if decision.allowed and (spec.kind, spec.key) in declared:
            decided[host.name] = marked
            targets[host.name] = declared[(spec.kind, spec.key)] if op in AS_DECLARED else spec
            continue
        # Only what a state declares for the host: a rule for service.start was written
        # for the units the states name, not for reboot.target or debug-shell.service.
        why = (
            f"permission denied: {decision.reason}"
            if not decision.allowed
            else f"no state declares {spec.kind} {spec.key} for {host.name}: tendr do acts "
            "on declared resources only"
        )
        journal.write(host.name, [(marked, "refused", why)])
        refusals.append(HostResult(host.name, [ChangeResult(marked, "refused", why)]))
    results = {r.host: r for r in refusals}
    if decided and op in AS_DECLARED:
        decided = _started_over(workspace, decided, targets)
        if confirm is None:
            raise UserError(f"{op} is made only once confirmed")
        confirm([_starting_over(host, targets[host], c) for host, c in decided.items()])
    if decided:
        with workspace_lock(workspace, person):
            allowed = [h for h in hosts if h.name in decided]
            session = engine.connect(workspace, allowed)
            try:
                # Decided again on the names the host knows the resource by: a deny of
                # ssh.service also refuses `do service.stop sshd.service`.
                for host in [h for h in allowed if h.name not in session.errors]:
                    named = _as_the_host_names_it(
                        workspace, session, host, targets[host.name], decided[host.name]
                    )
                    decision = may_change(workspace, person, host, named)
                    if not decision.allowed:
                        why = f"permission denied: {decision.reason}"
                        marked = replace(named, allowed=False, rule=decision.rule or why)
                        journal.write(host.name, [(marked, "refused", why)])
                        results[host.name] = HostResult(
                            host.name, [ChangeResult(marked, "refused", why)]
                        )
                        allowed.remove(host)
                    else:
                        decided[host.name] = replace(named, allowed=True, rule=decision.rule or "")
                plan = Plan(
                    tuple(
                        HostPlan(h.name, (decided[h.name],), error=session.errors.get(h.name))
                        for h in allowed
                    )
                )
                specs = {h.name: {(spec.kind, spec.key): targets[h.name]} for h in allowed}
                for result in execute.apply(
                    plan,
                    specs,
                    {},
                    session,
                    journal,
                    timeout=workspace.settings.command_timeout,
                    progress=progress,
                ):
                    results[result.host] = result
            finally:
                close_session(session)
    return [results[h.name] for h in hosts if h.name in results]


def _started_over(
    workspace: Workspace, decided: dict[str, Change], targets: dict[str, ResourceSpec]
) -> dict[str, Change]:
    """Each host's backup.init with what plans saw there before as its `before`, for the
    question and the audit record."""
    seen = history.seen(workspace.path(workspace.settings.history), list(decided))
    found = {}
    for host, change in decided.items():
        spec = targets[host]
        assert isinstance(spec, BackupSpec)
        before = backup.seen(spec, Context(seen=seen.get(host, {})))
        said = "never seen by tendr"
        if before is not None:
            said = f"seen before, restic id {str(before.get('id'))[:10]}: {backup.held(before)}"
        fields = (FieldChange("repository", said, backup.NEW),)
        found[host] = replace(change, fields=fields)
    return found


def _starting_over(host: str, spec: ResourceSpec, change: Change) -> str:
    assert isinstance(spec, BackupSpec)
    return (
        f"{host}: backup {spec.name}: a new, empty repository at "
        f"{backup.mask_credentials(spec.repository)} (the one there was "
        f"{change.fields[0].before}); restic init refuses where a repository is found"
    )


# -- a backup's restore test (tendr backup check) ------------------------------------


@dataclass(frozen=True)
class Checked:
    """One job's check: passed or not, and why, in one line."""

    job: str
    passed: bool
    reason: str


def check_backups(workspace: Workspace, host: Host, person: str, job: str | None) -> list[Checked]:
    """Check the repository of each backup job of `host` (or of `job`) and restore a
    sample of its newest snapshot, as the rules allow `backup.check`; each recorded."""
    jobs = [
        spec
        for _, spec in engine.desired_for(workspace, host)
        if isinstance(spec, BackupSpec) and spec.present and job in (None, spec.name)
    ]
    if not jobs:
        what = f"no backup job {job!r}" if job else "no backup job"
        raise UserError(f"{host.name} has {what} in the workspace's states")
    log = workspace.path(workspace.settings.audit_log)
    if problem := audit.ready(log):
        raise UserError(f"{problem}; nothing was checked")
    journal = audit.Journal(log, person=person, account=real_account(), command="backup check")
    allowed = []
    found: list[Checked] = []
    for spec in jobs:
        decision = may(workspace, person, "backup.check", host, spec.name)
        change = Change(
            kind="backup",
            resource=spec.name,
            op="backup.check",
            action="change",
            rule=decision.rule or decision.reason,
        )
        if decision.allowed:
            allowed.append((spec, change))
        else:
            why = f"permission denied: {decision.reason}"
            journal.write(host.name, [(change, "refused", why)])
            found.append(Checked(spec.name, False, why))
    if allowed:
        session = engine.connect(workspace, [host])
        try:
            for spec, change in allowed:
                passed, reason = _check_one(workspace, session, host, spec)
                outcome = "done" if passed else "failed"
                fields = (FieldChange("passed", None, passed),)
                journal.write(host.name, [(replace(change, fields=fields), outcome, reason)])
                found.append(Checked(spec.name, passed, reason))
        finally:
            close_session(session)
    order = [spec.name for spec in jobs]
    return sorted(found, key=lambda checked: order.index(checked.job))


def _check_one(
    workspace: Workspace, session: Session, host: Host, spec: BackupSpec
) -> tuple[bool, str]:
    if host.name in session.errors:
        return False, session.errors[host.name]
    try:
        output = run(
            session,
            host.name,
            RUN_SCRIPT,
            check_command(spec),
            timeout=max(workspace.settings.command_timeout, CHECK_TIMEOUT),
        )
    except (CommandTimeout, ConnectionLost, HostError) as exc:
        return False, exc.reason
    return verdict(output.stdout + output.stderr)
