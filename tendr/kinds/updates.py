"""The updates kind: a host's pending apt updates as drift, applied once approved.

At most one per host (its key is the kind's name, so two states declaring it
differently are one resource declared twice). The probe refreshes apt's lists when
tendr's last refresh is older than `refresh`, then reads apt's simulated full upgrade
in the C locale: each upgrade with its installed and candidate versions and the
releases offering the candidate (`Label:Version/Archive`, as apt prints them), security
when one of them is labelled so or its archive ends in `-security` (as unattended-
upgrades tells them). Each pending update is one change named by its package, so the
rules' `packages` decide which may be upgraded: `updates.apply` where it is approved
now (its policy `apply`, available for `approve_after`, inside the `window`), else
`? updates.apply` saying why not (apply makes none of those). When an update was
first seen is what plans remember (the drift history), by PACKAGE=VERSION. `hold` is
apt-mark hold as desired state (`updates.hold`; a package tendr held and no state holds
any more is unheld, `updates.unhold`); `unattended` is unattended-upgrades
installed (a driver package) and tendr's apt configuration file for it
(`updates.configure`).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from tendr.base.changes import Change, FieldChange, Put, Run, Step, Unreadable
from tendr.base.names import Duration, Matches, PackageName, duration_seconds
from tendr.base.scripts import script
from tendr.kinds.base import ResourceSpec
from tendr.kinds.kind import Context, Kind, unknown
from tendr.kinds.package import APT

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
_DAY = "(?:" + "|".join(DAYS) + ")"
WINDOW_REGEX = f"(?:{_DAY}(?:,{_DAY})* )?{_TIME}-{_TIME}"

Window = Annotated[
    str,
    Matches(
        WINDOW_REGEX,
        "a window such as 'Sat 02:00-05:00', 'Mon,Wed 22:00-02:00' or '01:00-04:00' "
        "(every day), in the host's local time",
    ),
]

# A Debian version as apt prints it (policy 5.6.12, epoch and revision included).
VERSION_REGEX = r"[0-9][A-Za-z0-9.+~:-]*"
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]*[a-z0-9+.](:[a-z0-9-]+)?")
_INST = re.compile(r"Inst (\S+) \[([^\]]+)\] \((\S+)(?: (.*?))? \[[^\]]*\]\)")


class UpdatesSpec(ResourceSpec):
    """The host's apt updates: which are applied, when, and which packages are held.

    ```toml
    [[updates]]
    security = "apply"          # or "report"
    others = "report"           # "apply", "report" or "ignore"
    approve_after = "7d"        # applied once available that long
    window = "Sat 02:00-05:00"  # the host's local time
    hold = ["postgresql-15"]    # apt-mark hold
    refresh = "6h"              # apt's lists refreshed when older
    unattended = true           # unattended-upgrades for security updates between visits
    ```
    """

    kind: ClassVar[str] = "updates"
    identity: ClassVar[str] = "kind"

    security: Literal["apply", "report"] = "apply"
    """Updates from a security origin: "apply" (once approved) or "report" (shown only)."""
    others: Literal["apply", "report", "ignore"] = "report"
    """Every other update: "apply", "report" (shown only) or "ignore" (not shown)."""
    approve_after: Duration | None = None
    """Apply an update only once it has been available this long ("7d"), counted from
    the first plan that saw it; none: at once."""
    window: Window | None = None
    """When updates may be applied, in the host's local time ("Sat 02:00-05:00"; a window
    ending before it starts runs past midnight); none: at any time."""
    hold: tuple[PackageName, ...] = ()
    """Packages held (apt-mark hold): never upgraded by tendr nor by apt."""
    refresh: Duration = "6h"
    """The plan refreshes apt's package lists (apt-get update) when tendr's last refresh
    of them is older than this."""
    unattended: bool | None = None
    """true: unattended-upgrades installed and applying security updates between visits
    (tendr's /etc/apt/apt.conf.d/52tendr-unattended); false: that file turning it off;
    none: left alone."""


# -- facts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """One upgrade apt would make: the package, its installed and candidate versions,
    the releases offering the candidate, and whether one of them is a security one."""

    name: str
    installed: str
    candidate: str
    origin: str = ""
    security: bool = False

    @property
    def id(self) -> str:
        return f"{self.name}={self.candidate}"


@dataclass(frozen=True)
class UpdatesActual:
    """The host's clock (UNIX time, its local day and HH:MM), its pending upgrades, what
    a full upgrade would remove, the held packages, whether it needs a reboot (and for
    which packages), and what became of the lists' refresh ("" where none was due)."""

    now: int
    day: str
    time: str
    pending: tuple[Pending, ...] = ()
    removes: tuple[str, ...] = ()
    held: frozenset[str] = frozenset()
    reboot: bool = False
    reboot_for: tuple[str, ...] = ()
    refresh: str = ""
    unattended: str = ""  # the SHA-256 of tendr's unattended-upgrades file ("": none)


_PROBE = script("tendr.kinds", "updates-probe")


def probe(specs: Sequence[UpdatesSpec]) -> str:
    return _PROBE + f"\ntendr_updates {duration_seconds(specs[0].refresh)}"


def security(origin: str) -> bool:
    """Whether one of the releases apt names (`Debian:12.5/stable, Debian-Security:12/
    stable-security`) is a security one: its label says so or its archive ends in
    `-security`."""
    for release in origin.split(", "):
        label, _, rest = release.rpartition(":") if "/" in release else ("", "", release)
        archive = rest.rpartition("/")[2]
        if "security" in label.lower() or archive == "security" or archive.endswith("-security"):
            return True
    return False


def parse_lines(lines: list[str]) -> UpdatesActual | Unreadable:
    """The probe's lines, pure. Names and versions apt prints are checked: a line with
    anything else is no update tendr will act on."""
    if lines[:1] == ["@noapt"]:
        return Unreadable("no apt on this host: updates cannot be read")
    now = next((line.split() for line in lines if line.startswith("@now ")), None)
    if now is None or len(now) != 4 or not now[1].isdigit():
        return Unreadable("the host did not report its updates")
    failed = next((line for line in lines if line.startswith("@failed")), None)
    if failed is not None:
        why = failed.partition("\t")[2] or "no reason given"
        return Unreadable(f"apt cannot simulate the upgrade: {why}")
    pending, removes = _upgrades(lines)
    refresh = ""
    for line in lines:
        if line == "@refreshed":
            refresh = "refreshed"
        elif line.startswith("@refreshfailed"):
            refresh = "failed: " + (line.partition("\t")[2] or "no reason given")
    return UpdatesActual(
        now=int(now[1]),
        day=now[2],
        time=now[3],
        pending=tuple(pending),
        removes=tuple(removes),
        held=frozenset(line[2:].split(":")[0] for line in lines if line.startswith("H\t")),
        reboot="@reboot" in lines,
        reboot_for=tuple(dict.fromkeys(line[2:] for line in lines if line.startswith("P\t"))),
        refresh=refresh,
        unattended=next((line[2:] for line in lines if line.startswith("U\t")), ""),
    )


def _upgrades(lines: list[str]) -> tuple[list[Pending], list[str]]:
    """apt's simulated "Inst" lines of upgrades (with an installed version), and the
    packages its "Remv" lines name."""
    pending: list[Pending] = []
    removes: list[str] = []
    for line in lines:
        if (m := _INST.match(line)) and _PACKAGE.fullmatch(m[1]):
            if re.fullmatch(VERSION_REGEX, m[3]) and re.fullmatch(VERSION_REGEX, m[2]):
                origin = m[4] or ""
                pending.append(Pending(m[1], m[2], m[3], origin, security(origin)))
        elif line.startswith("Remv "):
            removes.append(line.split()[1])
    return pending, removes


def parse(specs: Sequence[UpdatesSpec], lines: list[str]) -> dict[str, Any]:
    return {spec.key: parse_lines(lines) for spec in specs}


# -- unattended-upgrades between visits ----------------------------------------------

UNATTENDED_PATH = "/etc/apt/apt.conf.d/52tendr-unattended"
UNATTENDED_PACKAGE = "unattended-upgrades"


def unattended_content(on: bool) -> bytes:
    """tendr's apt configuration for unattended-upgrades: after Debian's 20auto-upgrades
    and 50unattended-upgrades, so it decides; on, security updates alone (the origins
    tendr tells as security), without rebooting; off, no unattended run."""
    head = "// Written by tendr ([[updates]] unattended): edits are drift.\n"
    if not on:
        return (head + 'APT::Periodic::Unattended-Upgrade "0";\n').encode()
    return (
        head
        + 'APT::Periodic::Update-Package-Lists "1";\n'
        + 'APT::Periodic::Unattended-Upgrade "1";\n'
        + "#clear Unattended-Upgrade::Origins-Pattern;\n"
        + "Unattended-Upgrade::Origins-Pattern {\n"
        + '    "label=Debian-Security";\n'
        + '    "archive=${distro_codename}-security";\n'
        + "};\n"
        + 'Unattended-Upgrade::Automatic-Reboot "false";\n'
        + 'Unattended-Upgrade::Remove-Unused-Dependencies "false";\n'
    ).encode()


def drivers(spec: UpdatesSpec) -> list[tuple[str, str]]:
    """unattended-upgrades, where the state wants it (`driver.install`, first)."""
    return [(".unattended", UNATTENDED_PACKAGE)] if spec.unattended else []


def _unattended(spec: UpdatesSpec, actual: UpdatesActual, context: Context) -> list[Change]:
    if spec.unattended is None:
        return []
    wanted = hashlib.sha256(unattended_content(spec.unattended)).hexdigest()
    if actual.unattended == wanted:
        return []
    before = "differs" if actual.unattended else None
    return [
        Change(
            kind="updates",
            resource=UNATTENDED_PACKAGE,
            op="updates.configure",
            action="change",
            fields=(FieldChange("unattended", before, spec.unattended),),
            note=f"{UNATTENDED_PATH}: security updates between visits"
            if spec.unattended
            else f"{UNATTENDED_PATH}: no unattended upgrades",
            needs=context.ids("driver.install", "package.install", of=[UNATTENDED_PACKAGE]),
        )
    ]


# -- the window, approval, diff ----------------------------------------------------


def _minutes(hhmm: str) -> int:
    hours, _, minutes = hhmm.partition(":")
    return int(hours) * 60 + int(minutes)


def in_window(window: str, day: str, time: str) -> bool:
    """Whether the host's local `day` ("Sat") and `time` ("02:30") fall inside `window`
    ("Sat 02:00-05:00"; "22:00-02:00" every night, past midnight into the next day)."""
    days_text, _, span = window.rpartition(" ")
    days = days_text.split(",") if days_text else list(DAYS)
    start, _, end = span.partition("-")
    now, first, last = _minutes(time), _minutes(start), _minutes(end)
    if day not in DAYS:
        return False
    if first < last:
        return day in days and first <= now < last
    yesterday = DAYS[(DAYS.index(day) - 1) % 7]
    return (day in days and now >= first) or (yesterday in days and now < last)


def first_seen(context: Context) -> dict[str, int]:
    """When earlier plans first saw each update (PACKAGE=VERSION -> UNIX time)."""
    found = context.seen.get("updates:updates")
    available = found.get("available") if isinstance(found, dict) else None
    if not isinstance(available, dict):
        return {}
    return {k: v for k, v in available.items() if isinstance(v, int) and not isinstance(v, bool)}


def remember(
    spec: UpdatesSpec, actual: UpdatesActual | Unreadable, context: Context | None = None
) -> dict[str, Any] | None:
    """When each pending update was first seen: kept from earlier plans, now for a new one
    (updates no longer pending are forgotten); and the packages held because a state
    said so, that tendr unholds once no state does."""
    if isinstance(actual, Unreadable):
        return None
    earlier = first_seen(context or Context())
    ours = (held_by_tendr(context or Context()) | _names(spec.hold)) & actual.held
    return {
        "available": {p.id: earlier.get(p.id, actual.now) for p in actual.pending},
        "held": sorted(ours),
    }


def held_by_tendr(context: Context) -> set[str]:
    """The packages earlier plans saw held because a state held them."""
    found = context.seen.get("updates:updates")
    held = found.get("held") if isinstance(found, dict) else None
    if not isinstance(held, list):
        return set()
    return {name for name in held if isinstance(name, str) and _PACKAGE.fullmatch(name)}


def _names(packages: Sequence[str]) -> set[str]:
    return {name.split(":")[0] for name in packages}


def when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def waiting(spec: UpdatesSpec, policy: str, since: int, actual: UpdatesActual) -> str:
    """Why an update is not applied now ("" where it is approved): its policy, its age,
    the window."""
    if policy != "apply":
        return "reported only"
    if spec.approve_after and actual.now - since < duration_seconds(spec.approve_after):
        due = since + duration_seconds(spec.approve_after)
        return f"approved from {when(due)} (approve_after {spec.approve_after})"
    if spec.window and not in_window(spec.window, actual.day, actual.time):
        return f"waiting for the window {spec.window} (host time now {actual.day} {actual.time})"
    return ""


def diff(spec: UpdatesSpec, actual: UpdatesActual | Unreadable, context: Context) -> list[Change]:
    if isinstance(actual, Unreadable):
        return unknown(spec, actual)
    hold = _names(spec.hold)
    changes = [
        Change(
            kind="updates",
            resource=name,
            op="updates.hold",
            action="change",
            fields=(FieldChange("held", False, True),),
        )
        for name in sorted(hold - actual.held)
    ]
    changes += [
        Change(
            kind="updates",
            resource=name,
            op="updates.unhold",
            action="change",
            fields=(FieldChange("held", True, False),),
            note="held by tendr before; no state holds it now",
        )
        for name in sorted((held_by_tendr(context) & actual.held) - hold)
    ]
    changes += _unattended(spec, actual, context)
    seen = first_seen(context)
    removing = (
        f"; apt's full upgrade would remove {' '.join(actual.removes)}: an upgrade that "
        "removes a package is refused"
        if actual.removes
        else ""
    )
    for update in actual.pending:
        if update.name.split(":")[0] in hold | actual.held:
            continue
        policy = spec.security if update.security else spec.others
        if policy == "ignore":
            continue
        since = seen.get(update.id, actual.now)
        why = waiting(spec, policy, since, actual)
        origin = "security update" if update.security else "update"
        note = (
            f"{origin} from {update.origin or 'an unnamed release'}, available since {when(since)}"
        )
        changes.append(
            Change(
                kind="updates",
                resource=update.name,
                op="updates.apply",
                action="unknown" if why else "change",
                fields=(FieldChange("version", update.installed, update.candidate),),
                note=f"{note}: {why}" if why else note + removing,
            )
        )
    if actual.reboot:
        by = f" (for {', '.join(actual.reboot_for)})" if actual.reboot_for else ""
        changes.append(
            Change(
                kind="updates",
                resource="reboot",
                op="updates.read",
                action="unknown",
                note=f"reboot required{by}: tendr does not reboot hosts yet; reboot it by hand",
            )
        )
    if actual.refresh.startswith("failed"):
        changes.append(
            Change(
                kind="updates",
                resource="updates",
                op="updates.read",
                action="unknown",
                note=f"apt's package lists could not be refreshed ({actual.refresh[8:]}): "
                "the updates shown are those of the lists the host has",
            )
        )
    return changes


# -- steps --------------------------------------------------------------------------

# Exactly PACKAGE=VERSION for each, upgrades only, changed configuration files kept; apt
# would remove what conflicts with a new version, and the plan named only the upgrade:
# one that would remove anything is refused, naming what it would take.
_UPGRADE = (
    "sim=$(LC_ALL=C apt-get -s -o Debug::NoLocking=1 install --only-upgrade "
    '--no-install-recommends "$@" 2>&1) || { printf \'%s\\n\' "$sim" >&2; exit 1; }; '
    "gone=$(printf '%s\\n' \"$sim\" | awk '/^Remv /{print $2}'); "
    'if [ -n "$gone" ]; then echo "tendr: upgrading $* would remove" $gone '
    '"(apt removes what conflicts with the new version): refused; upgrade by hand" >&2; '
    "exit 1; fi; exec "
    + shlex.join((*APT, "install", "--only-upgrade", "--no-install-recommends", "--no-remove"))
    + ' "$@"'
)


def _target(change: Change) -> str:
    version = str(change.after().get("version", ""))
    if not _PACKAGE.fullmatch(change.resource) or not re.fullmatch(VERSION_REGEX, version):
        raise ValueError(f"not an update tendr can name: {change.resource}={version}")
    return f"{change.resource}={version}"


def _steps(op: str, changes: Sequence[Change]) -> list[Step]:
    if op == "updates.configure":
        on = bool(changes[0].after().get("unattended"))
        return [Put(UNATTENDED_PATH, unattended_content(on), "0644", "root", "root")]
    if op in ("updates.hold", "updates.unhold"):
        verb = op.partition(".")[2]
        names = [c.resource for c in changes]
        return [Run(("apt-mark", verb, "--", *names), f"{verb} {' '.join(names)}")]
    targets = [_target(c) for c in changes]
    return [Run(("sh", "-c", _UPGRADE, "tendr", *targets), f"upgrade {' '.join(targets)}")]


def steps(spec: UpdatesSpec, change: Change, context: Context) -> list[Step]:
    return _steps(change.op, [change])


def batch(items: Sequence[tuple[UpdatesSpec, Change]], context: Context) -> list[Step]:
    """The approved upgrades as one apt run (apt resolves them together), the holds as one
    apt-mark."""
    return _steps(items[0][1].op, [change for _, change in items])


KIND: Kind[UpdatesSpec] = Kind(
    "updates",
    UpdatesSpec,
    probe,
    parse,
    diff,
    steps,
    batch=batch,
    remember=remember,
    title="the host's pending apt updates (at most one per host)",
    verbs=("apply", "hold", "unhold", "configure"),
    drivers=drivers,
)
