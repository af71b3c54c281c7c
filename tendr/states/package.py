"""The package kind: apt packages present or absent."""

from __future__ import annotations

from typing import ClassVar

from tendr.names import PackageName
from tendr.states.base import ResourceSpec


class PackageSpec(ResourceSpec):
    """An apt package.

    ```toml
    [[package]]
    name = "printer-driver-hpcups"
    present = true          # false removes it
    ```
    """

    kind: ClassVar[str] = "package"
    identity: ClassVar[str] = "name"

    name: PackageName
    present: bool = True
