"""The printer kind (a driver): a CUPS queue and the driver packages it needs."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator

from tendr.names import PackageName, PrinterName, anchored
from tendr.states.base import ResourceSpec

# Device URIs as lpadmin -v takes them: a scheme and printable, unquoted characters.
_URI = re.compile(r"[a-z][a-z0-9+.-]*:[A-Za-z0-9._~:/?#\[\]@!&'()*+,;=%-]*")
# 'everywhere' (IPP Everywhere), 'raw', or a model name from `lpinfo -m` (drv:///..., lsb/...).
_DRIVER = re.compile(r"everywhere|raw|[A-Za-z0-9][A-Za-z0-9._:/+-]*")


class PrinterSpec(ResourceSpec):
    """A CUPS print queue.

    ```toml
    [[printer]]
    name = "frontdesk"
    uri = "ipp://192.0.2.50/ipp/print"
    driver = "everywhere"          # or a model from `lpinfo -m`, e.g. "drv:///hpcups.drv/..."
    packages = ["printer-driver-hpcups"]
    default = true
    enabled = true
    accepting = true
    shared = false
    description = "Front desk laser"
    location = "Reception"
    ```
    """

    kind: ClassVar[str] = "printer"
    identity: ClassVar[str] = "name"

    name: PrinterName
    """The CUPS queue name, such as "frontdesk"."""
    uri: str | None = Field(default=None, json_schema_extra={"pattern": anchored(_URI.pattern)})
    """The device URI, such as "ipp://192.0.2.50/ipp/print" (see `lpinfo -v`)."""
    driver: str = Field(
        default="everywhere", json_schema_extra={"pattern": anchored(_DRIVER.pattern)}
    )
    """The driver: IPP Everywhere ("everywhere", driverless), "raw", or a model from
    `lpinfo -m`."""
    packages: list[PackageName] = []
    """Driver packages the queue needs, installed first."""
    default: bool | None = None
    """true: the host's default printer. Unset: left alone."""
    enabled: bool = True
    """Whether the queue prints (cupsenable / cupsdisable)."""
    accepting: bool = True
    """Whether the queue accepts jobs (cupsaccept / cupsreject)."""
    shared: bool = False
    """Whether the queue is shared on the network."""
    description: str | None = None
    """The queue's description, one line."""
    location: str | None = None
    """Where the printer is, one line, such as "Reception"."""
    present: bool = True
    """true: the queue exists; false: it is removed."""

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        if value is not None and not _URI.fullmatch(value):
            raise ValueError(f"{value!r} is not a device URI such as 'ipp://host/ipp/print'")
        return value

    @field_validator("driver")
    @classmethod
    def _driver(cls, value: str) -> str:
        if not _DRIVER.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a driver: 'everywhere', 'raw' or a model from `lpinfo -m`"
            )
        return value

    @field_validator("description", "location")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "\n\r\x00"):
            raise ValueError("must be a single line")
        return value
