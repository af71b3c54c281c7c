"""Making a plan's permitted changes on hosts, through pyinfra's connector.

A host's changes run as one command after the one that takes its lock: one root
script making every Step in plan order (a Run its argument vector, a Put a script
that receives the content through a pipe, so it never rests in a file another
account could read or replace), each under command_timeout. After each step the
script prints its status, on both streams so each step's output can be told apart,
and keeps it in the lock's folder. A change runs only once every change it needs
(Change.needs) succeeded: one that fails skips what needs it, directly or not, and the
rest goes on. Hosts run in parallel; one host's failure never stops another.

Every change is recorded in the audit log as started before the script is sent and
with its outcome after. An interrupt, a lost connection or a command that outlives
its time stops the script (the lock's folder names it) and reads how far it came:
changes it finished are done, the one it was making is interrupted, the rest were
not run.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets as tokens
import shlex
import signal
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Protocol

import gevent

from tendr.base.changes import WAITS, Change, ChangeResult, HostResult, Outcome, Run, Step
from tendr.base.errors import ConnectionLost, HostError, TendrError, UserError
from tendr.base.private import open_private
from tendr.base.scripts import script
from tendr.core.audit import Journal, room
from tendr.core.plan import HostPlan, Plan, needed
from tendr.kinds.base import ResourceSpec
from tendr.kinds.file import SAFE_FOLDERS
from tendr.kinds.kind import Context
from tendr.kinds.registry import KINDS
from tendr.remote.connect import LOCAL, Session, in_parallel, reconnect, run, run_long

# Writes CONTENT (base64 on standard input) to PATH as one root command: missing
# folders are made root's (0755), never the file owner's; the content goes into a new
# file of unpredictable name beside the target (mktemp: created exclusively, 0600,
# root's), gets its owner and mode, then is renamed over the target. A symbolic link
# at PATH is replaced, never written through. What the state leaves unsaid is kept
# from the file it replaces. Only in folders no other account can change (SAFE_FOLDERS).
# On any failure standard input is drained, so the error reaches tendr, not a broken pipe.
PUT_SCRIPT = SAFE_FOLDERS + script("tendr.ops", "put")  # $1 path, $2 mode, $3 owner, $4 group

RUN_SCRIPT = 'exec "$@"'

# One apply at a time per host, whichever controller or workspace it comes from. In
# /run: root's, so no local account can plant or hold the lock, and gone at reboot.
LOCK_DIR = "/run/tendr"
# Only for this machine (the local connector) may the environment name another folder:
# test runs sharing a machine each take their own (tests/conftest.py). See lock_dir.
LOCK_DIR_VARIABLE = "TENDR_LOCK_DIR"
NOT_ROOT = 3  # the lock script's status when it runs as an account that is not root


def lock_dir(local: bool) -> str:
    """The folder of a host's apply lock: root's /run/tendr. For this machine alone
    (`local`: the local connector) TENDR_LOCK_DIR may name another, absolute, folder. The
    scripts then run here, as the account whose environment named it, so the variable
    moves nothing that account could not already write; a client host's lock never
    moves, whatever the controller's environment says, so no controller decides where
    root writes (or removes) on a client."""
    chosen = os.environ.get(LOCK_DIR_VARIABLE, "") if local else ""
    if not chosen:
        return LOCK_DIR
    if not Path(chosen).is_absolute():
        raise UserError(f"{LOCK_DIR_VARIABLE} must be an absolute path, not {chosen!r}")
    return str(Path(chosen))


def _where(folder: str) -> str:
    """The shell line naming the lock's folder ($lockdir) and the lock ($lock)."""
    return f'lockdir={shlex.quote(folder)}; lock="$lockdir/apply.lock"'


# Stops the batch running under the lock, if one is, and the step it is making: each only
# while it is still the process kept ("PID STARTTIME", the start time read after the
# command name, which may hold spaces), never another that got its pid. `timeout` passes
# TERM on to its step (and kills it 5 s later); the lock is freed only once it is gone.
STARTED = r"""started() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }"""
STOP_BATCH = f"""{STARTED}
    stop() {{
        read -r pid when < "$1" 2>/dev/null && [ "$(started "$pid")" = "$when" ] &&
            kill -"$2" "$pid" 2>/dev/null
    }}
    stop "$lock/batch" KILL
    if stop "$lock/step" TERM; then
        n=0
        while [ -d "/proc/$pid" ] && [ "$n" -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
    fi"""


def lock_script(folder: str = LOCK_DIR) -> str:
    """Takes the lock in `folder`. $1: who takes it; $2, when given: a holder whose lock
    is stale, to be taken over."""
    return f"""umask 077
{_where(folder)}
if ! mkdir -p "$lockdir" 2>/dev/null || ! [ -w "$lockdir" ]; then
    echo "cannot take the lock: $(id -un) may not write $lockdir (tendr acts as root)" >&2
    exit {NOT_ROOT}
fi
if [ -n "${{2:-}}" ] && [ "$(cat "$lock/holder" 2>/dev/null)" = "$2" ]; then
    {STOP_BATCH}
    cat "$lock/steps" 2>/dev/null  # how far it came: INDEX STATUS, for its records
    rm -rf -- "$lock"
fi
if mkdir "$lock" 2>/dev/null; then printf '%s\\n' "$1" > "$lock/holder"; exit 0; fi
printf 'locked by %s\\n' "$(cat "$lock/holder" 2>/dev/null || echo '?')" >&2
exit 1
"""


_HOLDER = re.compile(r"^locked by (?P<holder>.* from (?P<host>\S+), pid (?P<pid>\d+), .*)$")


def unlock_script(folder: str = LOCK_DIR) -> str:
    """$1: the holder that took it: another apply's lock (taken over meanwhile) is left
    alone. A batch still running under it is stopped first, so no step starts after
    this; then `held` and the statuses of the steps it finished, as it kept them:
    "INDEX STATUS"."""
    return f"""{_where(folder)}
if [ "$(cat "$lock/holder" 2>/dev/null)" = "$1" ]; then
    echo held
    {STOP_BATCH}
    cat "$lock/steps" 2>/dev/null
    rm -rf -- "$lock"
fi"""


def command_for(step: Step) -> tuple[str, tuple[str, ...], str | None]:
    """A step as (script, its arguments, standard input)."""
    if isinstance(step, Run):
        return RUN_SCRIPT, step.argv, None
    args = (step.path, step.mode or "", step.owner or "", step.group or "")
    return PUT_SCRIPT, args, base64.b64encode(step.content).decode() or None


STEP_MARK = "@tendr-step"
TIMED_OUT = 124  # coreutils timeout's status for a command it stopped
KILLED = 137  # a command killed: by timeout after TERM did not stop it, or by the system
ENDED = "ended"  # the batch's last mark: it ran to its end (and releases its lock)


def ran_to_end(stdout: Sequence[str], nonce: str) -> bool:
    return f"{STEP_MARK} {nonce} {ENDED}" in stdout


def batch_script(
    groups: Sequence[Sequence[Step]],
    *,
    timeout: int,
    nonce: str,
    holder: str,
    folder: str = LOCK_DIR,
    needs: Sequence[Sequence[int]] = (),
) -> str:
    """One root script making `groups` of steps in order, each step under `timeout`
    seconds; after each, `mark INDEX STATUS` keeps its status in the lock's folder (for
    unlock_script, which can stop the script, the folder naming it) and prints it on both
    streams (after a newline: a step's output may not end in one; with the nonce: no
    output forges it). A group stops at its first step that fails; it runs only if every
    earlier group it `needs` (by position) ran whole, else none of its steps run and it
    is not marked; the groups that need nothing that failed go on. At its end it says so
    (ENDED) and releases the lock it ran under (in `folder`). Values are quoted here; the
    script travels on standard input. Pure."""
    lines = [
        f"nonce={shlex.quote(nonce)} holder={shlex.quote(holder)}",
        _where(folder),
        STARTED,
        f"""echo "$$ $(started $$)" > "$lock/batch"
release() {{
    if [ "$(cat "$lock/holder" 2>/dev/null)" = "$holder" ]; then rm -rf -- "$lock"; fi
}}
trap release EXIT
mark() {{
    printf '%s %s\\n' "$1" "$2" >> "$lock/steps"
    printf '\\n{STEP_MARK} %s %s %s\\n' "$nonce" "$1" "$2"
    printf '\\n{STEP_MARK} %s %s %s\\n' "$nonce" "$1" "$2" >&2
}}""",
        f"put={shlex.quote(PUT_SCRIPT)}",
    ]
    limit = f"timeout -k 5 {int(timeout)}"
    index = 0
    for number, steps in enumerate(groups):
        ok = f"g{number}"
        waits = " && ".join(f'[ "$g{int(n)}" = 1 ]' for n in (needs[number] if needs else ()))
        lines.append(f"{ok}=1" + (f"\n{waits} || {ok}=0" if waits else ""))
        for step in steps:
            script, args, stdin = command_for(step)
            if isinstance(step, Run):
                command = f"{limit} {shlex.join(['sh', '-c', script, 'tendr', *args])}"
            else:  # base64 is letters, digits, + / and =: safe between single quotes
                command = f"printf '%s' '{stdin or ''}' | {limit} sh -c \"$put\" tendr "
                command += shlex.join(args)
            # In the background, so that the lock's folder can name it (unlock_script).
            lines.append(
                f'if [ "${ok}" = 1 ]; then\n{command} &\n'
                f'pid=$!; echo "$pid $(started $pid)" > "$lock/step"\n'
                f'wait "$pid"; s=$?; mark {index} "$s"; [ "$s" -eq 0 ] || {ok}=0\nfi'
            )
            index += 1
    lines.append(f"printf '\\n{STEP_MARK} %s {ENDED}\\n' \"$nonce\"")
    return "\n".join(lines) + "\n"


def step_statuses(lines: Sequence[str], nonce: str | None = None) -> dict[int, int]:
    """The steps' statuses from a batch's marks, or (no nonce) from the "INDEX STATUS"
    lines unlock_script prints."""
    prefix = "" if nonce is None else f"{STEP_MARK} {re.escape(nonce)} "
    pattern = re.compile(rf"{prefix}(\d+) (\d+)")
    return {
        int(match[1]): int(match[2])
        for line in lines
        if (match := pattern.fullmatch(line)) is not None
    }


def step_errors(stderr: Sequence[str], nonce: str) -> dict[int, list[str]]:
    """Each step's own error output, split at the marks."""
    pattern = re.compile(rf"{STEP_MARK} {re.escape(nonce)} (\d+) \d+")
    found: dict[int, list[str]] = {}
    chunk: list[str] = []
    for line in stderr:
        if (match := pattern.fullmatch(line)) is not None:
            found[int(match[1])] = [part for part in chunk if part.strip()]
            chunk = []
        else:
            chunk.append(line)
    return found


Resolved = list[tuple[tuple[Change, ...], Outcome, str]]


@dataclass(frozen=True)
class Work:
    """Changes made together (one apt run for several packages), their steps, and the
    earlier groups of the host's queue they need, by position."""

    changes: tuple[Change, ...]
    steps: tuple[Step, ...]
    needs: tuple[int, ...] = ()

    @property
    def what(self) -> str:
        """The group as said: `OP RESOURCE, RESOURCE`."""
        return f"{self.changes[0].op} {', '.join(c.resource for c in self.changes)}"


def outcomes(
    groups: Sequence[Work],
    statuses: dict[int, int] | None,
    errors: dict[int, list[str]],
    *,
    unknown: str,
    timeout: int,
) -> Resolved:
    """What became of each group of changes, from the statuses of the steps that
    finished: done when all its steps were; failed at the first that failed (stopped by
    its time: interrupted); not run when a group it needs, directly or not, did not
    succeed (the reason names the change that failed first on the way); the group of the
    first step with no status otherwise interrupted (`unknown` says why), every group
    after it not run. With no statuses at all (None: the host could not say how far it
    came), every group is interrupted. Pure."""
    maybe = f"{unknown}: the change may or may not have been made"
    if statuses is None:
        return [(g.changes, "interrupted", maybe) for g in groups]
    resolved: Resolved = []
    # Per group, "" when it succeeded, else the change its dependents wait on, in words.
    blame: list[str] = []
    first = 0
    stopped = ""  # why the groups after an interrupted one were not run
    for group in groups:
        indices = range(first, first + len(group.steps))
        first += len(group.steps)
        waited = next((blame[n] for n in group.needs if blame[n]), "")
        if stopped or waited:
            resolved.append((group.changes, "skipped", stopped or f"{WAITS}{waited}"))
            blame.append(waited or f"{group.what}, which was not run")
            continue
        failed = next((i for i in indices if statuses.get(i, 0) != 0), None)
        missing = next((i for i in indices if i not in statuses), None)
        if failed is not None and (missing is None or failed < missing):
            outcome, reason = _failure(statuses[failed], errors.get(failed, []), timeout)
            resolved.append((group.changes, outcome, reason))
            blame.append(
                f"{group.what}, which {'failed' if outcome == 'failed' else 'was interrupted'}"
            )
        elif missing is not None:
            resolved.append((group.changes, "interrupted", maybe))
            blame.append(f"{group.what}, which was interrupted")
            stopped = unknown
        else:
            resolved.append((group.changes, "done", ""))
            blame.append("")
    return resolved


def reached(groups: Sequence[Work], statuses: dict[int, int]) -> tuple[int, int | None]:
    """How far a running batch came, from the marks so far: how many groups are settled
    (made, failed, or not run for one they need that did not succeed) and the group it
    is making now (None once none is left). Pure."""
    whole: list[bool] = []  # per settled group: it ran whole
    first = 0
    for number, group in enumerate(groups):
        indices = range(first, first + len(group.steps))
        first += len(group.steps)
        if not all(whole[n] for n in group.needs):
            whole.append(False)
        elif any(statuses.get(i, 0) != 0 for i in indices):
            whole.append(False)
        elif all(i in statuses for i in indices):
            whole.append(True)
        else:
            return number, number
    return len(groups), None


def _failure(status: int, said: list[str], timeout: int) -> tuple[Outcome, str]:
    """A step's failure: failed, or interrupted where its time stopped it."""
    if status == TIMED_OUT:
        return "interrupted", timed_out(timeout)
    if status == KILLED:
        return "interrupted", (
            f"killed (exit status {KILLED}: by its time limit of {timeout} s, or by "
            "the system): the change may or may not have been made"
        )
    words = "; ".join(line.strip() for line in said[-3:])
    return "failed", words or f"the command failed (exit status {status}) with no error output"


def timed_out(seconds: int) -> str:
    return (
        f"timed out after {seconds} s (command_timeout in tendr.toml) and was stopped: the "
        "change may or may not have been made"
    )


class Progress(Protocol):
    """What the person watching sees: which change each host is working on, each change
    as it is settled, then the hosts read back (`reading`: how many; `read`: one done)."""

    def start(self, total: int) -> None: ...
    def working(self, host: str, what: str) -> None: ...
    def advance(self, host: str) -> None: ...
    def finished(self, host: str) -> None: ...
    def reading(self, total: int) -> None: ...
    def read(self, host: str) -> None: ...


class NoProgress:
    def start(self, total: int) -> None:
        pass

    def working(self, host: str, what: str) -> None:
        pass

    def advance(self, host: str) -> None:
        pass

    def finished(self, host: str) -> None:
        pass

    def reading(self, total: int) -> None:
        pass

    def read(self, host: str) -> None:
        pass


@dataclass
class Watch:
    """A host's batch followed as its marks arrive: each change said as it is settled,
    and the one being made; `advanced`, how many changes were said settled."""

    host: str
    groups: Sequence[Work]
    nonce: str
    progress: Progress
    statuses: dict[int, int] = field(default_factory=dict)
    advanced: int = 0
    current: int | None = -1

    def line(self, text: str) -> None:
        """One output line of the batch (after its host's prefix)."""
        found = re.search(rf"{STEP_MARK} {re.escape(self.nonce)} (\d+) (\d+)$", text)
        if found is None or int(found[1]) in self.statuses:
            return
        self.statuses[int(found[1])] = int(found[2])
        self.follow()

    def follow(self) -> None:
        settled, current = reached(self.groups, self.statuses)
        changes = sum(len(g.changes) for g in self.groups[:settled])
        for _ in range(changes - self.advanced):
            self.progress.advance(self.host)
        self.advanced = max(self.advanced, changes)
        if current is not None and current != self.current:
            self.progress.working(self.host, self.groups[current].what)
        self.current = current


class Interrupted(TendrError):
    """The apply was interrupted (Ctrl-C, SIGTERM, SIGHUP); `results` holds what became of
    every change, the ones underway recorded as interrupted."""

    code = "interrupted"

    def __init__(self, *, results: list[HostResult]) -> None:
        self.results = results
        super().__init__("interrupted")


Queued = list[Work]


def held_back(host_plan: HostPlan) -> dict[int, str]:
    """The changes (by position) not run because one they need, directly or not, was
    refused by the rules, each with the reason naming it. Pure."""
    changes = host_plan.changes
    found: dict[int, str] = {}
    for i, direct in enumerate(needed(changes)):
        for j in direct:
            if changes[j].allowed is False:
                found[i] = f"{WAITS}{changes[j].id}, which was refused"
            elif j in found:
                found[i] = found[j]
            if i in found:
                break
    return found


def queue(
    host_plan: HostPlan,
    specs: dict[tuple[str, str], ResourceSpec],
    sources: dict[str, bytes],
    secrets: dict[str, bytes] | None = None,
) -> Queued:
    """The steps of the allowed changes of a host, in plan order, each group with the
    earlier groups it needs; consecutive changes with one operation go together where
    their kind batches them (apt). Changes waiting on a refused one are left out. Pure."""
    context = Context(earlier=host_plan.changes, sources=sources, secrets=secrets or {})
    held = held_back(host_plan)
    direct = needed(host_plan.changes)
    groups: list[list[int]] = []
    for i, change in enumerate(host_plan.changes):
        if change.action == "unknown" or change.allowed is False or i in held:
            continue
        last = host_plan.changes[groups[-1][-1]] if groups else None
        if last is not None and last.op == change.op and KINDS[change.kind].batch:
            groups[-1].append(i)
        else:
            groups.append([i])
    group_of = {i: number for number, members in enumerate(groups) for i in members}
    found: Queued = []
    for number, members in enumerate(groups):
        group = tuple(host_plan.changes[i] for i in members)
        kind = KINDS[group[0].kind]
        # A kind declared once per host (updates) is keyed by its name; its changes name
        # the packages they act on.
        items = [(specs.get((c.kind, c.resource)) or specs[(c.kind, c.kind)], c) for c in group]
        steps = (
            kind.batch(items, context)
            if kind.batch and len(group) > 1
            else kind.steps(items[0][0], items[0][1], context)
        )
        needs = {group_of[j] for i in members for j in direct[i] if j in group_of}
        found.append(Work(group, tuple(steps), tuple(sorted(needs - {number}))))
    return found


def refused(host_plan: HostPlan) -> list[ChangeResult]:
    """The changes the rules refused, and those not run because they wait on one."""
    held = held_back(host_plan)
    return [
        ChangeResult(c, "refused", c.rule)
        if c.allowed is False
        else ChangeResult(c, "skipped", held[i])
        for i, c in enumerate(host_plan.changes)
        if c.action != "unknown" and (c.allowed is False or i in held)
    ]


@dataclass
class Execution:
    """One apply over many hosts: the shared journal, and what each host is doing."""

    session: Session
    journal: Journal
    holder: str  # who holds the hosts' locks, for another apply's message
    timeout: int
    progress: Progress = field(default_factory=NoProgress)
    results: dict[str, HostResult] = field(default_factory=dict)
    pending: dict[str, Queued] = field(default_factory=dict)  # not started yet
    underway: dict[str, Queued] = field(default_factory=dict)  # sent, outcome not known
    locked: set[str] = field(default_factory=set)
    # How far each stopped batch came, as its host said when its lock was released.
    reached: dict[str, dict[int, int]] = field(default_factory=dict)
    # The folder of each host's lock (lock_dir): LOCK_DIR but for this machine's.
    folders: dict[str, str] = field(default_factory=dict)
    watches: dict[str, Watch] = field(default_factory=dict)  # each batch followed

    def host(self, name: str, host_plan: HostPlan, queued: Queued) -> None:
        """Run one host's changes, each recorded before and after."""
        result = self.results[name] = HostResult(name, refused(host_plan))
        self.pending[name] = list(queued)
        if result.results and not self.journal.write(
            name, [(r.change, r.outcome, r.reason) for r in result.results]
        ):
            result.results = [
                ChangeResult(r.change, r.outcome, r.reason, recorded=False) for r in result.results
            ]
        try:
            if queued:
                self._start(name)
        finally:
            self._unlock(name)
            self.progress.finished(name)

    def _start(self, name: str) -> None:
        changes = sum(len(g.changes) for g in self.pending[name])
        problem = self.journal.broken or room(self.journal.path, 2 * changes)
        if problem is None:
            problem = self._lock(name)
        if problem is not None:
            return self._stop(name, "not started", problem)
        self._changes(name)

    def _changes(self, name: str) -> None:
        """All the host's changes in one command: recorded as started before it is
        sent, each with its outcome after."""
        queued = self.pending[name]
        changes = [change for g in queued for change in g.changes]
        if not self.journal.write(name, [(change, "started", "") for change in changes]):
            return self._stop(name, "stopped", str(self.journal.broken))
        self.pending[name] = []
        self.underway[name] = queued
        self._keep_underway(name, queued)
        steps = [step for g in queued for step in g.steps]
        nonce = tokens.token_hex(8)
        watch = self.watches[name] = Watch(name, queued, nonce, self.progress)
        watch.follow()
        script = batch_script(
            [g.steps for g in queued],
            needs=[g.needs for g in queued],
            timeout=self.timeout,
            nonce=nonce,
            holder=self.holder,
            folder=self._folder(name),
        )
        try:
            # Each step has its own time; this only bounds a host that stops answering.
            output = run_long(
                self.session,
                name,
                script,
                timeout=(self.timeout + 10) * len(steps) + 30,
                lines=watch.line,
            )
        except HostError as exc:  # lost, or out of time: how far it came is asked
            if isinstance(exc, ConnectionLost) and not reconnect(self.session, name):
                self.locked.discard(name)  # unreachable: the next apply takes it over
                return self._resolve(name, None, {}, exc.reason)
            self._resolve(name, self._unlock(name), {}, exc.reason)
        else:
            statuses = step_statuses(output.stdout, nonce)
            if ran_to_end(output.stdout, nonce):
                self.locked.discard(name)  # it ended as written: it released the lock
            else:  # it was stopped (a signal): its lock is freed here
                self._unlock(name)
            errors = step_errors(output.stderr, nonce)
            self._resolve(name, statuses, errors, "the script ended early")

    def _resolve(
        self,
        name: str,
        statuses: dict[int, int] | None,
        errors: dict[int, list[str]],
        unknown: str,
    ) -> None:
        """Record and report what became of the host's underway changes."""
        queued = self.underway.pop(name)
        self.underway_file(name).unlink(missing_ok=True)
        resolved = outcomes(queued, statuses, errors, unknown=unknown, timeout=self.timeout)
        rows = [(change, outcome, why) for group, outcome, why in resolved for change in group]
        recorded = self.journal.write(name, rows)
        self.results[name].results.extend(ChangeResult(c, o, r, recorded) for c, o, r in rows)
        if not recorded:  # each was recorded as started; what became of it is said here
            self.results[name].error = f"outcomes not recorded: {self.journal.broken}"
        watch = self.watches.pop(name, None)
        for _ in range(len(rows) - (watch.advanced if watch else 0)):
            self.progress.advance(name)

    def _stop(self, name: str, what: str, why: str) -> None:
        self.results[name].error = f"{what}: {why}"
        self._skip_rest(name, why)

    def _skip_rest(self, name: str, why: str) -> None:
        rest = [change for g in self.pending[name] for change in g.changes]
        self.pending[name] = []
        if not rest:
            return
        recorded = self.journal.write(name, [(change, "skipped", why) for change in rest])
        self.results[name].results.extend(
            ChangeResult(change, "skipped", why, recorded) for change in rest
        )

    def _folder(self, name: str) -> str:
        return self.folders.get(name, LOCK_DIR)

    def _lock(self, name: str, stale: str = "") -> str | None:
        script = lock_script(self._folder(name))
        try:
            output = run(self.session, name, script, (self.holder, stale), timeout=self.timeout)
        except HostError as exc:
            return exc.reason
        if output.status == NOT_ROOT:
            return output.reason()
        if not output.ok:
            held = _HOLDER.match(output.stderr[-1] if output.stderr else "")
            if not stale and held and _gone(held["host"], int(held["pid"])):
                return self._lock(name, held["holder"])
            return (
                f"another apply is working on this host ({output.reason()}); if none "
                f"is, remove {self._folder(name)}/apply.lock on the host"
            )
        self.locked.add(name)
        if stale:
            self._taken_over(name, stale, step_statuses(output.stdout))
        return None

    def _taken_over(self, name: str, stale: str, statuses: dict[int, int]) -> None:
        """The outcomes of the changes an apply killed outright left `started` on the host
        whose lock was just taken over, from the statuses its batch kept there and what it
        was making (kept in the workspace as it sent it): recorded now, once."""
        kept = self.underway_file(name)
        try:
            sent = json.loads(kept.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # another workspace's, or kept nowhere: its records stay `started`
        kept.unlink(missing_ok=True)
        if sent.get("holder") != stale:
            return
        groups = [
            Work(
                tuple(Change(c["kind"], c["resource"], c["op"], c["action"]) for c in g["changes"]),
                tuple(Run(("true",)) for _ in range(int(g["steps"]))),
                tuple(g["needs"]),
            )
            for g in sent["groups"]
        ]
        unknown = f"its apply ({stale}) was killed"
        resolved = outcomes(groups, statuses, {}, unknown=unknown, timeout=self.timeout)
        self.journal.write(
            name,
            [
                (
                    change,
                    outcome,
                    f"{why + '; ' if why else ''}recorded by the next apply: {unknown}",
                )
                for group, outcome, why in resolved
                for change in group
            ],
        )

    def underway_file(self, name: str) -> Path:
        """Where a host's batch is kept while it runs (what it makes, step by step), for
        the apply that takes its lock over should this one be killed outright."""
        return self.journal.path.parent / "underway" / f"{name}.json"

    def _keep_underway(self, name: str, queued: Queued) -> None:
        sent = {
            "holder": self.holder,
            "groups": [
                {
                    "changes": [
                        {"kind": c.kind, "resource": c.resource, "op": c.op, "action": c.action}
                        for c in g.changes
                    ],
                    "steps": len(g.steps),
                    "needs": list(g.needs),
                }
                for g in queued
            ],
        }
        path = self.underway_file(name)
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            with os.fdopen(open_private(path), "w", encoding="utf-8") as handle:
                handle.truncate(0)
                handle.write(json.dumps(sent))
        except OSError:
            return  # only a killed apply's records would miss it

    def _unlock(self, name: str) -> dict[int, int] | None:
        """Release the host's lock, stopping a batch still running under it. The
        statuses of the steps it finished (kept by the batch), or None when the host
        could not be asked."""
        if name not in self.locked:
            return self.reached.get(name)
        self.locked.discard(name)
        try:  # the lock is in /run: a reboot clears it too
            script = unlock_script(self._folder(name))
            output = run(self.session, name, script, (self.holder,), timeout=min(self.timeout, 10))
        except HostError:
            return None
        if "held" not in output.stdout:  # the batch had ended and freed it: not known here
            return None
        self.reached[name] = step_statuses(output.stdout)
        return self.reached[name]

    def interrupted(self, why: str, work: dict[str, tuple[HostPlan, Queued]]) -> None:
        """Record the work of an interrupted apply: what each stopped batch finished as
        done, what it was making as interrupted, the rest as not run (hosts not begun yet
        included). Every lock still held is released, its batch stopped, first."""
        gevent.joinall([gevent.spawn(self._unlock, n) for n in list(self.locked)], timeout=10)
        for name, (host_plan, queued) in work.items():
            if name not in self.results:
                self.results[name] = HostResult(name, refused(host_plan))
                self.pending[name] = list(queued)
                self.journal.write(
                    name, [(r.change, r.outcome, r.reason) for r in self.results[name].results]
                )
        for name in list(self.underway):
            self._resolve(name, self.reached.get(name), {}, why)
        for name in list(self.pending):
            self._skip_rest(name, why)


def _gone(controller: str, pid: int) -> bool:
    """Whether a lock's holder was an apply on this controller whose process has ended
    (killed, or its connection lost): its lock is stale and may be taken over."""
    if controller != _controller() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another account's process: alive
        return False
    return False


def _controller() -> str:
    """This machine, as a lock names it: its host name and machine id (two controllers
    may share a host name, never a machine id)."""
    try:
        machine = Path("/etc/machine-id").read_text(encoding="ascii").strip()[:12]
    except OSError:
        machine = "unknown"
    return f"{socket.gethostname()}/{machine}"


def holder(person: str) -> str:
    return (
        f"{person} from {_controller()}, pid {os.getpid()}, since "
        f"{datetime.now(UTC).isoformat(timespec='seconds')}"
    )


def apply(
    plan: Plan,
    specs: dict[str, dict[tuple[str, str], ResourceSpec]],
    sources: dict[str, bytes],
    session: Session,
    journal: Journal,
    *,
    timeout: int,
    progress: Progress | None = None,
    secrets: dict[str, bytes] | None = None,
) -> list[HostResult]:
    """Make every host's allowed changes; refused ones are recorded and reported, never
    run. Raises Interrupted on Ctrl-C, SIGTERM or SIGHUP, after recording."""
    execution = Execution(
        session, journal, holder(journal.person), timeout, progress or NoProgress()
    )
    work = {
        h.host: queue(h, specs[h.host], sources, secrets)
        for h in plan.hosts
        if h.error is None and h.host in session.hosts
    }
    execution.folders = {name: lock_dir(session.hosts[name].name == LOCAL) for name in work}
    for host_plan in plan.hosts:
        if host_plan.host not in work:
            execution.results[host_plan.host] = HostResult(
                host_plan.host, error=host_plan.error, code=host_plan.code
            )
    execution.progress.start(sum(len(g.changes) for queued in work.values() for g in queued))
    by_name = {h.host: h for h in plan.hosts}
    try:
        with interruptible():
            # An interrupt stops every host at its next wait, never in the middle of
            # writing a record; then what was underway is recorded, and the hosts freed.
            in_parallel(
                session.state,
                lambda name: execution.host(name, by_name[name], work[name]),
                list(work),
            )
    except BaseException as exc:  # recorded, then raised on: nothing is swallowed
        interrupt = isinstance(exc, KeyboardInterrupt)
        execution.interrupted(
            "apply was interrupted" if interrupt else "apply stopped on an internal error",
            {name: (by_name[name], queued) for name, queued in work.items()},
        )
        if interrupt:
            raise Interrupted(results=_ordered(plan, execution)) from None
        raise
    return _ordered(plan, execution)


def _ordered(plan: Plan, execution: Execution) -> list[HostResult]:
    return [execution.results.get(h.host, HostResult(h.host)) for h in plan.hosts]


@contextmanager
def interruptible() -> Iterator[None]:
    """While hosts are being changed (or read: the runner, tendr/ops/runner.py, uses it
    too), Ctrl-C, SIGTERM and SIGHUP interrupt the waiting main greenlet, at a point
    where no record is half written (the default SIGINT handler raises wherever Python
    happens to be, a record's write included)."""
    main = gevent.getcurrent()
    hub = gevent.get_hub()
    fired = False
    armed = True  # an interrupt scheduled just as the work ended must not land later

    def interrupt() -> None:
        if armed:
            main.throw(KeyboardInterrupt)

    def handler(_signum: int, _frame: FrameType | None) -> None:
        nonlocal fired
        if not fired:
            fired = True
            hub.loop.run_callback(interrupt)

    names = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {number: signal.signal(number, handler) for number in names}
    try:
        yield
    finally:
        armed = False
        for number, old in previous.items():
            signal.signal(number, old)
