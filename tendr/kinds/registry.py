"""The registry of resource kinds: every list of kinds in tendr derives from KINDS.

Its order is the order changes run on a host: packages first (they bring units and
drivers), then the pending updates (upgraded before files are written and services
restarted), files, drivers, services, printers and backups.
"""

from __future__ import annotations

from typing import Any

from tendr.kinds import backup, file, module, package, printer, service, updates
from tendr.kinds.base import ResourceSpec
from tendr.kinds.kind import Kind

KINDS: dict[str, Kind[Any]] = {
    "package": package.KIND,
    "updates": updates.KIND,
    "file": file.KIND,
    "module": module.KIND,
    "service": service.KIND,
    "printer": printer.KIND,
    "backup": backup.KIND,
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
