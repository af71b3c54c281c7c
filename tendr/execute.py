"""Making a plan's permitted changes on hosts, through pyinfra's connector.

Each Step becomes one command (`Host.run_shell_command`): a Run its argument vector,
a Put one root shell script that receives the content on standard input, so the
content never rests in a file another account could read or replace. Hosts run in
parallel, each its changes in plan order; a change that does not succeed stops the
rest of its host (they may depend on it), never the other hosts.

Every change is recorded in the audit log as started before it runs and with its
outcome right after; an interrupt, a lost connection or a log that cannot be written
stops the work, and what was underway is recorded as interrupted.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Protocol

import gevent

from tendr.audit import Journal, room
from tendr.changes import Change, ChangeResult, HostResult, Outcome, Run, Step
from tendr.errors import CommandTimeout, ConnectionLost, HostError, TendrError
from tendr.hosts.connect import Session, in_parallel, run
from tendr.plan import HostPlan, Plan
from tendr.states.base import ResourceSpec
from tendr.states.file import SAFE_FOLDERS
from tendr.states.kind import Context
from tendr.states.kinds import KINDS

# Writes CONTENT (base64 on standard input) to PATH as one root command: missing
# folders are made root's (0755), never the file owner's; the content goes into a new
# file of unpredictable name beside the target (mktemp: created exclusively, 0600,
# root's), gets its owner and mode, then is renamed over the target. A symbolic link
# at PATH is replaced, never written through. What the state leaves unsaid is kept
# from the file it replaces. Only in folders no other account can change (SAFE_FOLDERS).
# On any failure standard input is drained, so the error reaches tendr, not a broken pipe.
PUT_SCRIPT = (
    SAFE_FOLDERS
    + r"""set -eu
path=$1 mode=$2 owner=$3 group=$4
dir=${path%/*}
dir=${dir:-/}
tmp=
trap 'rm -f -- ${tmp:+"$tmp"}; cat > /dev/null' EXIT
safe_folders "$dir" ""
[ -d "$dir" ] || (umask 022 && mkdir -p -- "$dir")
tmp=$(mktemp -- "$dir/.tendr.XXXXXXXXXX")
base64 -d > "$tmp"
if [ -f "$path" ] && [ ! -L "$path" ]; then
    [ -n "$owner" ] || chown --reference="$path" -- "$tmp"
    [ -n "$group" ] || chgrp --reference="$path" -- "$tmp"
    [ -n "$mode" ] || chmod --reference="$path" -- "$tmp"
elif [ -z "$mode" ]; then
    chmod 0644 -- "$tmp"
fi
[ -z "$owner" ] || chown -- "$owner" "$tmp"
[ -z "$group" ] || chgrp -- "$group" "$tmp"
[ -z "$mode" ] || chmod -- "$mode" "$tmp"
mv -f -T -- "$tmp" "$path"
trap - EXIT
"""
)

RUN_SCRIPT = 'exec "$@"'

# One apply at a time per host, whichever controller or workspace it comes from. In
# /run: root's, so no local account can plant or hold the lock, and gone at reboot.
LOCK_PATH = "/run/tendr/apply.lock"
NOT_ROOT = 3  # the lock script's status when it runs as an account that is not root
# $1: who takes it; $2, when given: a holder whose lock is stale, to be taken over.
LOCK_SCRIPT = f"""umask 077
if ! mkdir -p /run/tendr 2>/dev/null || ! [ -w /run/tendr ]; then
    echo "cannot take the lock: $(id -un) may not write /run/tendr (tendr acts as root)" >&2
    exit {NOT_ROOT}
fi
if [ -n "${{2:-}}" ] && [ "$(cat {LOCK_PATH}/holder 2>/dev/null)" = "$2" ]; then
    rm -rf -- {LOCK_PATH}
fi
if mkdir {LOCK_PATH} 2>/dev/null; then printf '%s\\n' "$1" > {LOCK_PATH}/holder; exit 0; fi
printf 'locked by %s\\n' "$(cat {LOCK_PATH}/holder 2>/dev/null || echo '?')" >&2
exit 1
"""
_HOLDER = re.compile(r"^locked by (?P<holder>.* from (?P<host>\S+), pid (?P<pid>\d+), .*)$")
# $1: the holder that took it: another apply's lock (taken over meanwhile) is left alone.
UNLOCK_SCRIPT = f"""if [ "$(cat {LOCK_PATH}/holder 2>/dev/null)" = "$1" ]; then
    rm -rf -- {LOCK_PATH}
fi"""


def command_for(step: Step) -> tuple[str, tuple[str, ...], str | None]:
    """A step as (script, its arguments, standard input)."""
    if isinstance(step, Run):
        return RUN_SCRIPT, step.argv, None
    args = (step.path, step.mode or "", step.owner or "", step.group or "")
    return PUT_SCRIPT, args, base64.b64encode(step.content).decode() or None


class Progress(Protocol):
    """What the person watching sees: which change each host is working on."""

    def start(self, total: int) -> None: ...
    def working(self, host: str, what: str) -> None: ...
    def advance(self, host: str) -> None: ...
    def finished(self, host: str) -> None: ...


class NoProgress:
    def start(self, total: int) -> None:
        pass

    def working(self, host: str, what: str) -> None:
        pass

    def advance(self, host: str) -> None:
        pass

    def finished(self, host: str) -> None:
        pass


class Interrupted(TendrError):
    """The apply was interrupted (Ctrl-C, SIGTERM, SIGHUP); `results` holds what became of
    every change, the ones underway recorded as interrupted."""

    def __init__(self, *, results: list[HostResult]) -> None:
        self.results = results
        super().__init__("interrupted")


Work = tuple[tuple[Change, ...], list[Step]]  # changes made together, and their steps
Queued = list[Work]


def queue(
    host_plan: HostPlan,
    specs: dict[tuple[str, str], ResourceSpec],
    sources: dict[str, bytes],
    secrets: dict[str, bytes] | None = None,
) -> Queued:
    """The steps of the allowed changes of a host, in plan order; consecutive changes
    with one operation go together where their kind batches them (apt). Pure."""
    context = Context(earlier=host_plan.changes, sources=sources, secrets=secrets or {})
    groups: list[list[Change]] = []
    for change in host_plan.changes:
        if change.action == "unknown" or change.allowed is False:
            continue
        if groups and groups[-1][-1].op == change.op and KINDS[change.kind].batch:
            groups[-1].append(change)
        else:
            groups.append([change])
    found: Queued = []
    for group in groups:
        kind = KINDS[group[0].kind]
        items = [(specs[(c.kind, c.resource)], c) for c in group]
        steps = (
            kind.batch(items, context)
            if kind.batch and len(group) > 1
            else kind.steps(items[0][0], items[0][1], context)
        )
        found.append((tuple(group), steps))
    return found


def refused(host_plan: HostPlan) -> list[ChangeResult]:
    return [
        ChangeResult(c, "refused", c.rule)
        for c in host_plan.changes
        if c.action != "unknown" and c.allowed is False
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
    underway: dict[str, tuple[Change, ...]] = field(default_factory=dict)
    locked: set[str] = field(default_factory=set)

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
        changes = sum(len(group) for group, _ in self.pending[name])
        problem = self.journal.broken or room(self.journal.path, 2 * changes)
        if problem is None:
            problem = self._lock(name)
        if problem is not None:
            return self._stop(name, "not started", problem)
        self._changes(name)

    def _changes(self, name: str) -> None:
        result = self.results[name]
        while self.pending[name]:
            group, steps = self.pending[name][0]
            if not self.journal.write(name, [(change, "started", "") for change in group]):
                return self._stop(name, "stopped", str(self.journal.broken))
            self.pending[name].pop(0)
            self.underway[name] = group
            self.progress.working(name, f"{group[0].op} {', '.join(c.resource for c in group)}")
            outcome, reason = self._run(name, steps)
            del self.underway[name]
            recorded = self.journal.write(name, [(c, outcome, reason) for c in group])
            result.results.extend(ChangeResult(c, outcome, reason, recorded) for c in group)
            for _ in group:
                self.progress.advance(name)
            if outcome != "done":
                what = f"{group[0].op} {', '.join(c.resource for c in group)}"
                return self._skip_rest(name, f"{what} before it did not succeed")

    def _run(self, name: str, steps: Sequence[Step]) -> tuple[Outcome, str]:
        for step in steps:
            script, args, stdin = command_for(step)
            try:
                output = run(self.session, name, script, args, timeout=self.timeout, stdin=stdin)
            except (ConnectionLost, CommandTimeout) as exc:  # its outcome is not known
                return "interrupted", f"{exc.reason}: the change may or may not have been made"
            except HostError as exc:
                return "failed", exc.reason
            if not output.ok:
                return "failed", output.reason()
        return "done", ""

    def _stop(self, name: str, what: str, why: str) -> None:
        self.results[name].error = f"{what}: {why}"
        self._skip_rest(name, why)

    def _skip_rest(self, name: str, why: str) -> None:
        rest = [change for group, _ in self.pending[name] for change in group]
        self.pending[name] = []
        if not rest:
            return
        recorded = self.journal.write(name, [(change, "skipped", why) for change in rest])
        self.results[name].results.extend(
            ChangeResult(change, "skipped", why, recorded) for change in rest
        )

    def _lock(self, name: str, stale: str = "") -> str | None:
        try:
            output = run(
                self.session, name, LOCK_SCRIPT, (self.holder, stale), timeout=self.timeout
            )
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
                f"is, remove {LOCK_PATH} on the host"
            )
        self.locked.add(name)
        return None

    def _unlock(self, name: str) -> None:
        if name in self.locked:
            self.locked.discard(name)
            with suppress(HostError):  # the lock is in /run: a reboot clears it too
                run(
                    self.session, name, UNLOCK_SCRIPT, (self.holder,), timeout=min(self.timeout, 10)
                )

    def interrupted(self, why: str, work: dict[str, tuple[HostPlan, Queued]]) -> None:
        """Record the work of an interrupted apply: what was underway as interrupted, what
        had not started as not run (hosts not begun yet included)."""
        for name, (host_plan, queued) in work.items():
            if name not in self.results:
                self.results[name] = HostResult(name, refused(host_plan))
                self.pending[name] = list(queued)
                self.journal.write(
                    name, [(r.change, r.outcome, r.reason) for r in self.results[name].results]
                )
        for name, group in list(self.underway.items()):
            reason = f"{why}: the change may or may not have been made"
            recorded = self.journal.write(name, [(c, "interrupted", reason) for c in group])
            self.results[name].results.extend(
                ChangeResult(c, "interrupted", reason, recorded) for c in group
            )
        self.underway.clear()
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
    for host_plan in plan.hosts:
        if host_plan.host not in work:
            execution.results[host_plan.host] = HostResult(host_plan.host, error=host_plan.error)
    execution.progress.start(sum(len(group) for queued in work.values() for group, _ in queued))
    by_name = {h.host: h for h in plan.hosts}
    try:
        with _signals_interrupt():
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
        gevent.joinall(
            [gevent.spawn(execution._unlock, n) for n in list(execution.locked)], timeout=10
        )
        if interrupt:
            raise Interrupted(results=_ordered(plan, execution)) from None
        raise
    return _ordered(plan, execution)


def _ordered(plan: Plan, execution: Execution) -> list[HostResult]:
    return [execution.results.get(h.host, HostResult(h.host)) for h in plan.hosts]


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """While hosts are being changed, Ctrl-C, SIGTERM and SIGHUP interrupt the waiting
    main greenlet, at a point where no record is half written (the default SIGINT
    handler raises wherever Python happens to be, a record's write included)."""
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
