"""The registry of kinds the engine plans and applies, in the order changes run on a host.

Packages come first (they bring units and drivers), then files, then drivers, services,
printers and backups. Kinds whose engine is not written yet say so honestly per
resource instead of pretending the host is in sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tendr.changes import Change, Step, Unreadable
from tendr.states import SPECS, file, package, service
from tendr.states.base import ResourceSpec
from tendr.states.kind import Context, Kind, unknown


def _not_yet(name: str) -> Kind[Any]:
    reason = Unreadable(f"planning {name} resources is not implemented yet; not checked")

    def probe(specs: Sequence[ResourceSpec]) -> str:
        return ":"

    def parse(specs: Sequence[ResourceSpec], lines: list[str]) -> dict[str, Any]:
        return {spec.key: reason for spec in specs}

    def diff(spec: ResourceSpec, actual: Any, context: Context) -> list[Change]:
        return unknown(spec, reason)

    def steps(spec: ResourceSpec, change: Change, context: Context) -> list[Step]:
        return []

    return Kind(name, SPECS[name], probe, parse, diff, steps)


KINDS: dict[str, Kind[Any]] = {
    "package": package.KIND,
    "file": file.KIND,
    "module": _not_yet("module"),
    "service": service.KIND,
    "printer": _not_yet("printer"),
    "backup": _not_yet("backup"),
}
