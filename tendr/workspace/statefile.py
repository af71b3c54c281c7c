"""The states/ file format: which hosts, and the resources they should have."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from tendr.base.model import Strict
from tendr.base.names import Documented
from tendr.base.selection import SELECTOR_HELP, SELECTOR_REGEX, check_selector
from tendr.kinds import SPECS
from tendr.kinds.backup import BackupSpec
from tendr.kinds.base import ResourceSpec
from tendr.kinds.file import FileSpec
from tendr.kinds.module import ModuleSpec
from tendr.kinds.package import PackageSpec
from tendr.kinds.printer import PrinterSpec
from tendr.kinds.registry import with_drivers
from tendr.kinds.service import ServiceSpec


def _selector(value: str) -> str:
    if reason := check_selector(value):
        raise ValueError(reason)
    return value


# Checked one by one, so each malformed selector is reported at hosts[INDEX].
Selector = Annotated[
    str, AfterValidator(_selector), Documented(f"Hosts: {SELECTOR_HELP}", pattern=SELECTOR_REGEX)
]


class StateFile(Strict):
    """states/NAME.toml: a description, the hosts it targets, and resources by kind.

    ```toml
    description = "Front desk printing"
    hosts = ["group:frontdesk"]      # host names, group:NAME, client:NAME, tag:NAME, all

    [[service]]
    unit = "cups.service"
    running = true
    ```
    """

    description: str = ""
    """What this state is for, in a few words."""
    hosts: list[Selector] = Field(min_length=1)
    """The hosts this file targets: host names, 'group:NAME', 'client:NAME', 'tag:NAME' or
    'all'. Each must select at least one host."""
    service: list[ServiceSpec] = []
    """systemd units: [[service]]."""
    module: list[ModuleSpec] = []
    """Kernel modules: [[module]]."""
    printer: list[PrinterSpec] = []
    """CUPS print queues: [[printer]]."""
    backup: list[BackupSpec] = []
    """restic backup jobs: [[backup]]."""
    package: list[PackageSpec] = []
    """apt packages: [[package]]."""
    file: list[FileSpec] = []
    """Files: [[file]]."""

    def resources(self) -> list[tuple[str, ResourceSpec]]:
        """Every resource with its key path in the file, e.g. ('service[0]', spec), and
        the driver packages they need ('printer[0].packages[0]')."""
        found: list[tuple[str, ResourceSpec]] = []
        for kind in SPECS:
            specs: list[ResourceSpec] = getattr(self, kind)
            found.extend((f"{kind}[{i}]", spec) for i, spec in enumerate(specs))
        return with_drivers(found)
