"""`tendr diagnose`: one screen for a technician who just got a call. Per host, one SSH
command: the plan's probe (drift against the desired state) with this one ahead of it
(failed units and their last errors, the journal's errors, disk space, memory pressure,
printer queues, the health check's records since the last visit: the last time tendr
changed the host, by the audit log, or the last week). Each problem comes
with its probable cause and, where there is one, the tendr operation that fixes it.

`probe`, `parse` and `problems` are pure; `examine` is the I/O edge (diagnose's and
`tendr watch`'s reading).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tendr.base.changes import Change
from tendr.base.errors import CommandTimeout, ConnectionLost, HostError, PermissionDenied
from tendr.core import audit, history
from tendr.core.only import Part, only
from tendr.core.plan import HostPlan, split_sections
from tendr.kinds.kind import Problem
from tendr.kinds.registry import KINDS
from tendr.ops import engine
from tendr.ops.logs import entries
from tendr.ops.runner import Runner
from tendr.remote.connect import Session, read
from tendr.workspace.baseline import HEALTH_UNIT
from tendr.workspace.hosts import Host
from tendr.workspace.loader import Workspace

HEALTH_TAG = "tendr-health"  # the journal identifier the health check records under
# The health check's records are its unit's output, run as root: these fields journald
# sets itself, where any account can log under the identifier (logger -t tendr-health).
HEALTH_FIELDS = {"_SYSTEMD_UNIT": HEALTH_UNIT, "_UID": "0"}
_HEALTH_MATCH = " ".join(f"{field}={value}" for field, value in HEALTH_FIELDS.items())
FULL = 90  # percent of a file system in use that is a problem
LINE = 300  # characters of a host's line kept
_MARK = "@@diagnose "  # a section marker as plan.split_sections reads them


def probe(since_epoch: int) -> str:
    """The facts, each section opened by a marker line; the health check's records from
    `since_epoch` (the last visit) on."""
    return rf"""LC_ALL=C; export LC_ALL
echo '{_MARK}failed'
systemctl list-units --state=failed --no-legend --plain --no-pager 2>/dev/null |
while read -r u _; do
    printf 'U\t%s\t%s\n' "$u" "$(systemctl show -p Result --value -- "$u" 2>/dev/null)"
    journalctl -q --no-pager -o json --output-fields=MESSAGE -p warning -n 12 -u "$u" \
        2>/dev/null | sed 's/^/L\t/'
done
echo '{_MARK}errors'
journalctl -q --no-pager -p err --since=-24h -n 500 -o json \
    --output-fields=SYSLOG_IDENTIFIER,MESSAGE 2>/dev/null
echo '{_MARK}disk'
df -P -k 2>/dev/null | tail -n +2
echo '{_MARK}memory'
cat /proc/pressure/memory 2>/dev/null
grep -E '^(MemTotal|MemAvailable):' /proc/meminfo 2>/dev/null
echo '{_MARK}printers'
command -v lpstat >/dev/null 2>&1 && lpstat -p 2>/dev/null | grep -E '^printer '
echo '{_MARK}jobs'
command -v lpstat >/dev/null 2>&1 && lpstat -o 2>/dev/null | cut -d' ' -f1
echo '{_MARK}health'
journalctl -q --no-pager {_HEALTH_MATCH} --since=@{since_epoch} -n 200 -o json \
    --output-fields=MESSAGE,PRIORITY,_SYSTEMD_UNIT,_UID 2>/dev/null
echo '{_MARK}end'
true
"""


@dataclass(frozen=True)
class Unit:
    name: str
    result: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    failed: tuple[Unit, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()  # (identifier, message)
    disks: tuple[tuple[str, int, str], ...] = ()  # (file system, percent used, mount point)
    pressure: float | None = None  # memory PSI "some avg60", percent
    available: float | None = None  # MemAvailable / MemTotal, percent
    stopped: tuple[str, ...] = ()  # printer queues stopped
    waiting: dict[str, int] = field(default_factory=dict)  # queue -> jobs not printed yet
    health: tuple[tuple[str, str], ...] = ()  # (time, message) recorded by the health check


def _journal(lines: Sequence[str], *keys: str) -> list[dict[str, str]]:
    return [{k: v[:LINE] for k, v in e.items()} for e in entries(lines, *keys)]


def parse(lines: Sequence[str]) -> Facts:
    """The probe's output as facts; what is missing or malformed is left out."""
    sections = split_sections(lines, "diagnose")
    # The health check's own errors are its records below; any other account's under its
    # name are not to be shown as either.
    errors = tuple(
        (e["SYSLOG_IDENTIFIER"] or "?", e["MESSAGE"])
        for e in _journal(sections.get("errors", []), "SYSLOG_IDENTIFIER", "MESSAGE")
        if e["SYSLOG_IDENTIFIER"] != HEALTH_TAG
    )
    pressure, available = _memory(sections.get("memory", []))
    stopped = tuple(
        line.split()[1]
        for line in sections.get("printers", [])
        if len(line.split()) > 2 and " disabled " in line
    )
    health = tuple(
        ("", e["MESSAGE"])
        for e in _journal(sections.get("health", []), "MESSAGE", *HEALTH_FIELDS)
        if all(e[k] == v for k, v in HEALTH_FIELDS.items())  # journalctl matched them too
    )
    # lpstat -o names each job QUEUE-ID, and a queue name may hold '-' itself.
    waiting = Counter(job.rpartition("-")[0] for job in sections.get("jobs", []) if "-" in job)
    return Facts(
        failed=_failed(sections.get("failed", [])),
        errors=errors,
        disks=_disks(sections.get("disk", [])),
        pressure=pressure,
        available=available,
        stopped=stopped,
        waiting=dict(waiting),
        health=health,
    )


def _failed(lines: Sequence[str]) -> tuple[Unit, ...]:
    failed: list[Unit] = []
    for line in lines:
        tag, _, rest = line.partition("\t")
        if tag == "U":
            name, _, result = rest.partition("\t")
            failed.append(Unit(name, result))
        elif tag == "L" and failed:
            last = failed[-1]
            said = tuple(e["MESSAGE"][:LINE] for e in entries([rest], "MESSAGE"))
            failed[-1] = Unit(last.name, last.result, (*last.lines, *said))
    return tuple(failed)


def _disks(lines: Sequence[str]) -> tuple[tuple[str, int, str], ...]:
    """df -P lines; a file system of no size (proc, sysfs) is never full."""
    disks = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and parts[4].endswith("%") and parts[4][:-1].isdigit():
            if parts[1] != "0":
                disks.append((parts[0], int(parts[4][:-1]), " ".join(parts[5:])))
    return tuple(disks)


def _memory(lines: Sequence[str]) -> tuple[float | None, float | None]:
    """Memory pressure (PSI some avg60) and the share of memory available, in percent."""
    pressure = None
    memory: dict[str, int] = {}
    for line in lines:
        if line.startswith("some "):
            found = re.search(r"avg60=([0-9.]+)", line)
            pressure = float(found.group(1)) if found else None
        elif ":" in line:
            key, _, value = line.partition(":")
            number = value.split()[0] if value.split() else ""
            if number.isdigit():
                memory[key] = int(number)
    available = None
    if memory.get("MemTotal"):
        available = 100 * memory.get("MemAvailable", 0) / memory["MemTotal"]
    return pressure, available


# What a unit's last lines most often mean, first match wins.
_UNIT_CAUSES = (
    ("No such file or directory", "a program or file it needs is missing"),
    ("Permission denied", "it may not read or run something it needs"),
    ("Address already in use", "another program holds the port it listens on"),
    ("Out of memory", "the kernel ran out of memory for it"),
    ("No space left on device", "a file system it writes to is full"),
)
_RESULTS = {
    "exit-code": "its program ended with an error",
    "signal": "it was killed by a signal",
    "core-dump": "it crashed (core dumped)",
    "timeout": "it did not start or stop in time",
    "start-limit-hit": "it failed again and again, and systemd stopped restarting it",
    "oom-kill": "the kernel killed it for lack of memory",
    "resources": "systemd could not set up what it needs (a folder, an account, a file)",
    "watchdog": "it stopped answering its watchdog",
}


def _unit_problem(unit: Unit) -> Problem:
    """The cause from the unit's last dozen lines (the line that says it is not always
    among the newest: systemd's own follow the program's), shown with the last three."""
    telling = next(
        ((line, why) for words, why in _UNIT_CAUSES for line in unit.lines if words in line),
        None,
    )
    cause = telling[1] if telling else ""
    cause = cause or _RESULTS.get(unit.result, f"systemd says: {unit.result or 'failed'}")
    shown = unit.lines[-3:]
    if telling and telling[0] not in shown:
        shown = (telling[0], *shown[1:])
    return Problem(
        "unit",
        f"{unit.name} failed",
        cause,
        f"tendr do service.restart {unit.name} (once the cause is dealt with)",
        shown,
    )


_NUMBER = re.compile(r"\b(0x)?[0-9a-f]*[0-9][0-9a-f]*\b")


def _grouped(errors: Sequence[tuple[str, str]], most: int = 5) -> list[Problem]:
    """The journal's errors of the last day, alike ones counted together (numbers and
    hexadecimal ids do not make a message another)."""
    shape: Counter[tuple[str, str]] = Counter()
    example: dict[tuple[str, str], str] = {}
    for who, message in errors:
        key = (who, _NUMBER.sub("#", message))
        shape[key] += 1
        example.setdefault(key, message)
    return [
        Problem(
            "journal",
            f"{key[0]}: {example[key]}",
            f"logged {count} time(s) in the last day",
            key=f"{key[0]}: {key[1]}",
        )
        for key, count in shape.most_common(most)
    ]


def _fix(change: Change) -> str:
    if change.action == "unknown":
        return ""
    return f"tendr apply (operation {change.op} {change.resource})"


def problems(
    facts: Facts,
    drift: Sequence[Change],
    made: Mapping[str, tuple[str, str]] | None = None,
    stories: Mapping[tuple[str, str], str] | None = None,
) -> list[Problem]:
    """Every problem of a host, most urgent first: what failed, what is full or short,
    what differs from what was agreed, what the health check saw, what the journal says.
    `made`: the units a declared resource makes, by name, with that resource (kind,
    name): a made unit that failed is said once, under its drifting resource. `stories`:
    what is known of a drifting resource's past (since when, who changed it last)."""
    made, stories = made or {}, stories or {}
    drifting = {(c.kind, c.resource): c for c in drift}
    folded = {made[unit.name]: unit for unit in facts.failed if made.get(unit.name) in drifting}
    found = [_unit_problem(unit) for unit in facts.failed if made.get(unit.name) not in folded]
    for device, used, mount in facts.disks:
        if used >= FULL:
            found.append(
                Problem(
                    "disk",
                    f"{mount} is {used}% full ({device})",
                    "little room is left: writes fail (logs, backups, print spool, updates)",
                    key=mount,
                )
            )
    if facts.pressure is not None and facts.pressure >= 10:
        found.append(
            Problem(
                "memory",
                f"memory pressure {facts.pressure:.0f}%",
                "programs wait for memory",
                key="pressure",
            )
        )
    if facts.available is not None and facts.available < 10:
        found.append(
            Problem(
                "memory",
                f"{facts.available:.0f}% of memory free",
                "the machine is short of memory",
                key="available",
            )
        )
    declared = {c.resource for c in drift if c.kind == "printer"}
    for queue in facts.stopped:
        if queue not in declared:  # a declared one is said with its drift below
            jobs = facts.waiting.get(queue, 0)
            found.append(
                Problem(
                    "printer",
                    f"print queue {queue} is stopped"
                    + (f", {jobs} job(s) waiting" if jobs else ""),
                    "CUPS stops a queue after a job fails on its printer",
                    f"tendr do printer.enable {queue}",
                    key=queue,
                )
            )
    for change in drift:
        area = KINDS[change.kind].area if change.kind in KINDS else "drift"
        cause = change.note or (
            "could not be read" if change.action == "unknown" else _differs(change)
        )
        if story := stories.get((change.kind, change.resource)):
            cause += f"; {story}"
        detail = tuple(f.text() for f in change.fields)
        if (unit := folded.get((change.kind, change.resource))) is not None:
            cause = f"{_unit_problem(unit).cause} ({unit.name} failed); {cause}"
            detail += unit.lines
        found.append(Problem(area, f"{change.op} {change.resource}", cause, _fix(change), detail))
    found += [
        Problem(
            "health",
            message,
            "recorded by the health check since the last visit",
            key=_NUMBER.sub("#", message),
        )
        for _, message in facts.health
    ]
    # What a failed unit said is shown with it, not again as the journal's.
    said = {line for unit in facts.failed for line in unit.lines}
    return found + _grouped([(who, text) for who, text in facts.errors if text not in said])


def _differs(change: Change) -> str:
    """What differs, in words: the fields by name, or what the change makes."""
    if change.fields:
        verb = "differs" if len(change.fields) == 1 else "differ"
        return f"its {', '.join(f.title for f in change.fields)} {verb} from the state"
    verbs = {"add": "missing", "remove": "present, and the state removes it"}
    return f"{verbs.get(change.action, 'differs from the state')}"


# -- the I/O edge ---------------------------------------------------------------------


@dataclass
class HostDiagnosis:
    host: str
    problems: list[Problem] = field(default_factory=list)
    error: str = ""
    code: str | None = None  # the error's code (host.unreachable, host.key-changed...)
    read: bool = False  # the host was read whole: its problems are all of them
    drift: tuple[Change, ...] = ()  # the plan's changes
    seen: dict[str, Any] = field(default_factory=dict)  # what the plan remembers (backups)


def diagnose(
    workspace: Workspace,
    hosts: Sequence[Host],
    person: str,
    progress: Callable[[str], None] | None = None,
    parts: Sequence[Part] = (),
) -> list[HostDiagnosis]:
    """Diagnose every selected host the rules let `person` diagnose, in parallel (a
    reading: not recorded in the audit log); what was found is kept for the report. The
    drift and health of the resources `parts` select alone, where given."""
    found, kept = examine(workspace, hosts, person, "diagnose", progress=progress, parts=parts)
    if kept and (why := history.record_findings(workspace.path(workspace.settings.history), kept)):
        for host in found:
            if host.read:
                host.problems.append(Problem("history", why, "the report will miss them"))
    return found


def examine(
    workspace: Workspace,
    hosts: Sequence[Host],
    person: str,
    op: str,
    since: Mapping[str, int] | None = None,
    progress: Callable[[str], None] | None = None,
    parts: Sequence[Part] = (),
) -> tuple[list[HostDiagnosis], list[history.Finding]]:
    """Read every selected host the rules let `person` read with `op` (diagnose, watch),
    in parallel, with one command per host: the plan's probe with this module's riding
    ahead of it (one more where the states declare network printers). The health
    check's records are read from `since` (UNIX time, per host), else from the last
    visit. Also the findings to keep for the client's report (drift aside: the plan's
    history has it)."""
    runner = Runner(workspace, person, op, nothing="nothing was read", recorded=False)
    decided = runner.decide(hosts, op)
    found = {h.name: HostDiagnosis(h.name, error=decided.refused.get(h.name, "")) for h in hosts}
    for name in decided.refused:
        found[name].code = PermissionDenied.code
    visits, changed = _from_audit(workspace, decided.allowed)
    visits.update({name: at for name, at in (since or {}).items() if name in visits})
    rider = engine.Rider({h.name: probe(visits[h.name]) for h in decided.allowed})
    drift: dict[str, HostPlan] = {}
    codes: dict[str, str] = {}

    def failed(name: str, why: str) -> None:
        found[name].error = why
        found[name].code = found[name].code or codes.get(name)

    def planned(session: Session, reachable: list[Host]) -> None:
        codes.update(session.codes)
        for name, code in session.codes.items():
            if name in found:
                found[name].code = code
        gathered = only(engine.gather(workspace, reachable, session, rider=rider), parts)
        drift.update({h.host: h for h in gathered.hosts})

    def one(session: Session, host: Host) -> None:
        plan = drift.get(host.name) or HostPlan(host=host.name, error="it was not read")
        if plan.error:
            found[host.name].code = plan.code
            failed(host.name, plan.error)
        if host.name not in rider.output:
            return
        facts = parse(rider.output[host.name])
        makers = {
            name: (spec.kind, spec.key)
            for (kind, name), spec in engine.made_for(workspace, host).items()
            if kind == "service"
        }
        stories = _stories(workspace, host.name, plan.changes, changed.get(host.name, {}))
        said = problems(facts, plan.changes, makers, stories)
        said += health(workspace, session, host, parts)
        found[host.name].problems = [_checked(runner, workspace, host, p) for p in said]
        found[host.name].read = not plan.error
        found[host.name].drift, found[host.name].seen = plan.changes, dict(plan.seen)
        drifting = {f"{c.op} {c.resource}" for c in plan.changes}  # the plan's history has them
        kept.extend(
            history.Finding(now, host.name, p.area, p.what, p.cause)
            for p in said
            if p.what not in drifting
        )

    now = datetime.now(UTC).isoformat(timespec="seconds")
    kept: list[history.Finding] = []  # for the client's report
    runner.over(decided.allowed, one, failed=failed, progress=progress, before=planned)
    return [found[h.name] for h in hosts], kept


def health(
    workspace: Workspace, session: Session, host: Host, parts: Sequence[Part] = ()
) -> list[Problem]:
    """What each kind reads of the host's declared resources besides their drift (Kind.
    health: whether a network printer answers; the plan counts a queue as declared in
    sync whatever its printer's power)."""
    declared = [
        spec
        for file, spec in engine.desired_for(workspace, host)
        if not parts or any(p.covers(file, spec.kind, [spec.key]) for p in parts)
    ]
    found: list[Problem] = []
    for name, kind in KINDS.items():
        fact = kind.health([spec for spec in declared if spec.kind == name])
        if fact is None:
            continue
        try:
            said = read(session, host.name, fact, timeout=workspace.settings.command_timeout)
            found += said
        except (CommandTimeout, ConnectionLost, HostError):
            continue  # the host's own failure is said by the probe before this
    return found


Changed = dict[tuple[str, str], dict[str, Any]]  # (kind, resource) -> tendr's last record


def _from_audit(
    workspace: Workspace, hosts: Sequence[Host]
) -> tuple[dict[str, int], dict[str, Changed]]:
    """From one reading of the audit log: when tendr last changed each host (a visit;
    UNIX time; a host never changed is looked at over the last week), and per host the
    last record of each resource tendr changed (who, when, by which command)."""
    week_ago = int(time.time()) - 7 * 86400
    visits = {h.name: week_ago for h in hosts}
    changed: dict[str, Changed] = {h.name: {} for h in hosts}
    if not hosts:
        return visits, changed
    for record in audit.records(audit.read_lines(workspace.path(workspace.settings.audit_log))):
        host = str(record.get("host"))
        if host not in visits or record.get("outcome") == "refused":
            continue
        try:
            visits[host] = int(audit.parse_time(str(record["time"])).timestamp())
        except (KeyError, ValueError):
            continue
        if record.get("outcome") == "done":
            changed[host][(str(record.get("kind")), str(record.get("resource")))] = record
    return visits, changed


def _stories(
    workspace: Workspace, host: str, drift: Sequence[Change], changed: Changed
) -> dict[tuple[str, str], str]:
    """Since when each drifting resource drifts (the drift history) and who changed it
    last (the audit log), in words."""
    if not drift:
        return {}
    runs = history.runs(workspace.path(workspace.settings.history), [host])
    drifts = {(d.kind, d.resource): d for d in history.summarize(runs)}
    stories = {}
    for change in drift:
        key = (change.kind, change.resource)
        known = drifts.get(key)
        parts = [
            f"drifting since {_when(known.since)} (in {known.drifted} of {known.runs} plans)"
            if known is not None and known.since
            else "not seen drifting by an earlier plan"
        ]
        record = changed.get(key)
        parts.append(
            f"last changed by tendr on {_when(str(record['time']))} for {record.get('person')} "
            f"({record.get('command')})"
            if record is not None
            else "tendr has not changed it"
        )
        stories[key] = "; ".join(parts)
    return stories


def _when(iso: str) -> str:
    try:
        return audit.parse_time(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def _checked(runner: Runner, workspace: Workspace, host: Host, problem: Problem) -> Problem:
    """The problem with a fix the person can run: a `tendr do` they may not make, or on
    what no state declares, is said as such instead."""
    words = problem.fix.split()
    if words[:2] == ["tendr", "do"] and len(words) >= 4:
        op, resource = words[2], words[3]
        decision = runner.may(op, host, resource)
        if not decision.allowed:
            fix = f"{' '.join(words[:4])} needs someone the rules allow it ({decision.reason})"
            return replace(problem, fix=fix)
        declared = {(d.spec.kind, d.spec.key) for d in workspace.desired(host)}
        kind = op.partition(".")[0]
        if (kind, resource) not in declared | set(engine.made_for(workspace, host)):
            fix = (
                f"no state declares {kind} {resource} for {host.name}, so tendr does not act "
                f"on it; declare it in a state, or `tendr run -l {host.name} -- ...` if allowed"
            )
            return replace(problem, fix=fix)
    if words[:3] == ["tendr", "apply", "(operation"] and len(words) >= 5:
        op, resource = words[3], " ".join(words[4:]).removesuffix(")")
        decision = runner.may(op, host, resource)
        if not decision.allowed:
            fix = f"tendr apply would make it, but not for you ({decision.reason})"
            return replace(problem, fix=fix)
    return problem


def as_json(diagnoses: Sequence[HostDiagnosis]) -> dict[str, Any]:
    return {
        "hosts": [
            {
                "name": d.host,
                "error": d.error or None,
                "problems": [
                    {
                        "area": p.area,
                        "what": p.what,
                        "cause": p.cause,
                        "fix": p.fix or None,
                        "detail": list(p.detail),
                    }
                    for p in d.problems
                ],
            }
            for d in diagnoses
        ]
    }
