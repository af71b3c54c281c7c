"""The plan: desired state + facts -> changes, per host. Pure; no I/O here.

The probe script gathers the facts of every resource of a host in one command:
one section per kind, each opened by a marker line with a per-run nonce, so no
output of the host can forge a section.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tendr.base.changes import Change
from tendr.kinds.base import ResourceSpec
from tendr.kinds.kind import Context
from tendr.kinds.registry import KINDS


@dataclass(frozen=True)
class HostPlan:
    """Every change one host needs, or why it could not be planned."""

    host: str
    changes: tuple[Change, ...] = ()
    error: str | None = None
    code: str | None = None  # the error's code (tendr.base.errors), when it has one
    # What this plan remembers of the host's resources for later plans (Kind.remember),
    # by "KIND:KEY"; the drift history keeps it.
    seen: dict[str, Any] = field(default_factory=dict)

    @property
    def in_sync(self) -> bool:
        return self.error is None and not self.changes


@dataclass(frozen=True)
class Plan:
    hosts: tuple[HostPlan, ...] = field(default_factory=tuple)

    def summary(self) -> dict[str, int]:
        counts: Counter[str] = Counter(c.action for h in self.hosts for c in h.changes)
        return {
            "hosts": len(self.hosts),
            "in_sync": sum(h.in_sync for h in self.hosts),
            "with_changes": sum(bool(h.changes) for h in self.hosts if h.error is None),
            "errors": sum(h.error is not None for h in self.hosts),
            "add": counts["add"],
            "change": counts["change"],
            "remove": counts["remove"],
            "unknown": counts["unknown"],
            # of those, read but not to be made now (pending updates not approved)
            "waiting": sum(c.waiting for h in self.hosts for c in h.changes),
        }

    @property
    def in_sync(self) -> bool:
        return all(h.in_sync for h in self.hosts)

    @property
    def has_errors(self) -> bool:
        return any(h.error for h in self.hosts)


Desired = Sequence[tuple[str, ResourceSpec]]  # (state file, spec)


def by_kind(desired: Desired) -> dict[str, list[tuple[str, ResourceSpec]]]:
    grouped: dict[str, list[tuple[str, ResourceSpec]]] = {name: [] for name in KINDS}
    for source, spec in desired:
        grouped[spec.kind].append((source, spec))
    return {name: items for name, items in grouped.items() if items}


def probe_script(desired: Desired, nonce: str) -> str:
    """One shell script printing the facts of every desired resource of a host, in the
    C locale: the tools' words (lpstat's, apt-cache's) are read in English."""
    parts = ["LC_ALL=C; export LC_ALL"]
    for name, items in by_kind(desired).items():
        parts.append(f"echo '@@{nonce} {name}'")
        parts.append(KINDS[name].probe([spec for _, spec in items]))
    parts.append("true")
    return "\n".join(parts)


def split_sections(lines: Sequence[str], nonce: str) -> dict[str, list[str]]:
    """Probe output -> {kind: its lines}."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    marker = f"@@{nonce} "
    for line in lines:
        if line.startswith(marker):
            current = sections.setdefault(line[len(marker) :].strip(), [])
        elif current is not None:
            current.append(line)
    return sections


@dataclass(frozen=True)
class Twice:
    """Two declarations that are one resource on the host (an alias and its unit, a
    path and the same file through a linked folder), `identity` as the host has it."""

    first: tuple[str, ResourceSpec]
    second: tuple[str, ResourceSpec]
    identity: str


def declared_twice(desired: Desired, sections: dict[str, list[str]]) -> list[Twice]:
    """Resources of one host that differ in the text but are one on the host: where
    only the host knows (aliases, links), the loader could not tell."""
    found: list[Twice] = []
    for name, items in by_kind(desired).items():
        kind = KINDS[name]
        actual: dict[str, Any] = kind.parse([s for _, s in items], sections.get(name, []))
        seen: dict[str, tuple[str, ResourceSpec]] = {}
        for source, spec in items:
            identity = kind.names(spec, actual[spec.key])[0]
            if identity in seen:
                found.append(Twice(seen[identity], (source, spec), identity))
            else:
                seen[identity] = (source, spec)
    return found


def plan_host(
    host: str,
    desired: Desired,
    sections: dict[str, list[str]],
    sources: dict[str, bytes],
    secrets: dict[str, bytes] | None = None,
    seen: dict[str, Any] | None = None,
) -> HostPlan:
    """Compare every desired resource with its facts; changes in the order they will run.
    Each change of a resource carries the names the host knows it by (`resolved`,
    `aliases`), on which the rules decide. `seen`: what earlier plans remembered of the
    host's resources; the plan carries what it remembers now."""
    changes: list[Change] = []
    remembered: dict[str, Any] = {}
    grouped = by_kind(desired)
    # Where each resource stands in the plan: what its `after` names must stand before.
    order = {(s.kind, s.key): i for i, (_, s) in enumerate(x for v in grouped.values() for x in v)}
    for name, items in grouped.items():
        kind = KINDS[name]
        specs = [spec for _, spec in items]
        actual: dict[str, Any] = kind.parse(specs, sections.get(name, []))
        for source, spec in items:
            if later := [r for r in spec.waits_on if order.get(r, -1) >= order[(name, spec.key)]]:
                return HostPlan(host=host, error=_forward(spec, source, later), code=FORWARD)
            context = Context(
                earlier=tuple(changes), sources=sources, secrets=secrets or {}, seen=seen or {}
            )
            after = tuple(
                c.id
                for c in changes
                if (c.kind, c.resource) in spec.waits_on and c.action != "unknown"
            )
            identity, *aliases = kind.names(spec, actual[spec.key])
            for change in kind.diff(spec, actual[spec.key], context):
                if (change.kind, change.resource) == (spec.kind, spec.key):
                    change = replace(
                        change,
                        resolved=change.resolved or (identity if identity != spec.key else ""),
                        aliases=change.aliases or tuple(aliases),
                    )
                if change.action != "unknown" and after:
                    change = replace(change, needs=tuple(dict.fromkeys(change.needs + after)))
                changes.append(replace(change, source=source))
            if (facts := kind.remember(spec, actual[spec.key], context)) is not None:
                remembered[f"{name}:{spec.key}"] = facts
    return HostPlan(host=host, changes=tuple(changes), seen=remembered)


FORWARD = "workspace.invalid"  # the code of a host plan whose `after` names a later resource


def _forward(spec: ResourceSpec, source: str, later: list[tuple[str, str]]) -> str:
    named = ", ".join(f"{kind}:{name}" for kind, name in later)
    return (
        f"{spec.kind} {spec.key!r} in {source} waits on {named} (its `after`), "
        "which comes later in the plan (or is itself): a resource waits only on one of an "
        "earlier kind, or of its kind declared before it"
    )


def needed(changes: Sequence[Change]) -> list[tuple[int, ...]]:
    """For each change, the positions of the earlier changes it needs directly: for each
    id it needs, the first change with that id (one id is one change, but for CUPS's start,
    named after the first queue, whose own enable may follow it). Pure."""
    first: dict[str, int] = {}
    found: list[tuple[int, ...]] = []
    for i, change in enumerate(changes):
        found.append(tuple(sorted({first[n] for n in change.needs if n in first})))
        first.setdefault(change.id, i)
    return found


def closure(direct: Sequence[Sequence[int]], start: Iterable[int]) -> set[int]:
    """`start` and every position they need, directly or not. Pure."""
    reached: set[int] = set()
    todo = list(start)
    while todo:
        if (i := todo.pop()) not in reached:
            reached.add(i)
            todo.extend(direct[i])
    return reached
