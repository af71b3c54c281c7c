"""The registry of resource kinds: every list of kinds in tendr derives from KINDS.

Its order is the order changes run on a host: packages first (they bring units and
drivers), then files, drivers, services, printers and backups. Kinds whose engine is
not written yet say so honestly per resource instead of pretending the host is in sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tendr.changes import Change, Step, Unreadable
from tendr.states import file, module, package, printer, service
from tendr.states.backup import BackupSpec
from tendr.states.base import ResourceSpec
from tendr.states.kind import Context, Kind, Reference, unknown


def _not_yet(
    name: str, spec: type[ResourceSpec], verbs: tuple[str, ...], references: Any = None
) -> Kind[Any]:
    reason = Unreadable(f"planning {name} resources is not implemented yet; not checked")

    def probe(specs: Sequence[ResourceSpec]) -> str:
        return ":"

    def parse(specs: Sequence[ResourceSpec], lines: list[str]) -> dict[str, Any]:
        return {spec.key: reason for spec in specs}

    def diff(spec: ResourceSpec, actual: Any, context: Context) -> list[Change]:
        return unknown(spec, reason)

    def steps(spec: ResourceSpec, change: Change, context: Context) -> list[Step]:
        return []

    if references is None:
        return Kind(name, spec, probe, parse, diff, steps, verbs=verbs)
    return Kind(name, spec, probe, parse, diff, steps, references, verbs=verbs)


def _backup_references(spec: BackupSpec) -> list[Reference]:
    if spec.password.file is None:
        return []
    return [Reference("password.file", spec.password.file, secret=True)]


KINDS: dict[str, Kind[Any]] = {
    "package": package.KIND,
    "file": file.KIND,
    # The verbs of the kinds not written yet are the operations their engines will have.
    "module": module.KIND,
    "service": service.KIND,
    "printer": printer.KIND,
    "backup": _not_yet(
        "backup", BackupSpec, ("configure", "init", "run", "remove"), _backup_references
    ),
}


def with_drivers(resources: list[tuple[str, ResourceSpec]]) -> list[tuple[str, ResourceSpec]]:
    """Resources with the driver packages they need, each at the key path that names it
    (`printer[0].packages[1]`), after them."""
    drivers: list[tuple[str, ResourceSpec]] = [
        (f"{key_path}{where}", package.DriverSpec(name=name))
        for key_path, spec in resources
        for where, name in KINDS[spec.kind].drivers(spec)
    ]
    return resources + drivers
