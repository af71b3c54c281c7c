"""Part of a plan (`--only`): the resources a selector names, with the changes they need
pulled in. Pure.

A selector is a kind (`backup`), a kind and a resource's name (`printer:frontdesk`), or a
state file (`states/backups.toml`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from tendr.base.changes import Change
from tendr.base.errors import InvalidValue, NoResourceSelected
from tendr.core.plan import HostPlan, Plan, closure, needed
from tendr.kinds.registry import KINDS

EXPECTED = "KIND, KIND:NAME (printer:frontdesk) or a state file (states/backups.toml)"


@dataclass(frozen=True)
class Part:
    """One `--only` selector, as given (`text`) and read."""

    text: str
    kind: str = ""
    name: str = ""
    file: str = ""

    def covers(self, file: str, kind: str, names: Iterable[str]) -> bool:
        """Whether it selects the resource declared in `file` as `kind` by one of `names`."""
        if self.file:
            return file == self.file
        return kind == self.kind and (not self.name or self.name in names)


def part(text: str) -> Part:
    """A selector read; InvalidValue (param "only") when it is none."""
    if text.endswith(".toml") or "/" in text.partition(":")[0]:
        return Part(text, file=text.removeprefix("./"))
    kind, _, name = text.partition(":")
    if kind not in KINDS:
        raise InvalidValue(
            param="only",
            text=text,
            problem=f"{text!r}: no kind {kind!r} (expected {EXPECTED}; kinds: {', '.join(KINDS)})",
        )
    if ":" in text and not name:
        raise InvalidValue(param="only", text=text, problem=f"{text!r} names no resource")
    return Part(text, kind=kind, name=name)


def check(parts: Sequence[Part], declared: Iterable[tuple[str, str, str]]) -> None:
    """Every selector must select a declared resource (file, kind, name) of the hosts."""
    declared = list(declared)
    for one in parts:
        if not any(one.covers(file, kind, [name]) for file, kind, name in declared):
            raise NoResourceSelected(param="only", text=one.text, expected=EXPECTED)


def only(plan: Plan, parts: Sequence[Part]) -> Plan:
    """Each host's changes of the resources `parts` select, and the changes they need,
    directly or not, each marked with the selected change that pulled it in. No parts:
    the plan as it is."""
    if not parts:
        return plan
    return Plan(tuple(_host(h, parts) for h in plan.hosts))


def _host(host: HostPlan, parts: Sequence[Part]) -> HostPlan:
    changes = host.changes
    if host.error is not None or not changes:
        return host
    chosen = [
        i for i, c in enumerate(changes) if any(p.covers(c.source, c.kind, c.names) for p in parts)
    ]
    direct = needed(changes)
    pulled: dict[int, str] = {}
    for i in chosen:
        for j in closure(direct, [i]) - set(chosen):
            pulled.setdefault(j, changes[i].id)
    kept = sorted({*chosen, *pulled})
    return replace(host, changes=tuple(_pulled(changes[i], pulled.get(i, "")) for i in kept))


def _pulled(change: Change, by: str) -> Change:
    return replace(change, pulled=by) if by else change
