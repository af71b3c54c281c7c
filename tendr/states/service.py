"""The service kind: a systemd unit, its state and its files."""

from __future__ import annotations

from typing import ClassVar

from tendr.names import DropinName, UnitName
from tendr.states.base import ResourceSpec


class ServiceSpec(ResourceSpec):
    """A systemd unit: enabled, running, masked; optionally its unit file and drop-ins.

    ```toml
    [[service]]
    unit = "cups.service"
    enabled = true
    running = true

    [[service]]
    unit = "tendr-hello.service"
    content = "[Service]\\nExecStart=/bin/sleep infinity\\n"   # /etc/systemd/system/UNIT
    dropins = { "10-limits.conf" = "[Service]\\nMemoryMax=200M\\n" }
    restart_on_change = true
    ```
    Leave a field out to leave that aspect of the unit alone.
    """

    kind: ClassVar[str] = "service"
    identity: ClassVar[str] = "unit"

    unit: UnitName
    enabled: bool | None = None
    running: bool | None = None
    masked: bool | None = None
    content: str | None = None
    dropins: dict[DropinName, str] = {}
    restart_on_change: bool = True
