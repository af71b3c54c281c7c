"""Resource kinds, registered explicitly: the vocabulary of state files."""

from __future__ import annotations

from tendr.states.backup import BackupSpec
from tendr.states.base import ResourceSpec
from tendr.states.file import FileSpec
from tendr.states.module import ModuleSpec
from tendr.states.package import PackageSpec
from tendr.states.printer import PrinterSpec
from tendr.states.service import ServiceSpec

SPECS: dict[str, type[ResourceSpec]] = {
    spec.kind: spec
    for spec in (ServiceSpec, ModuleSpec, PrinterSpec, BackupSpec, PackageSpec, FileSpec)
}
