"""The hosts/ file format: one client per file, its machines and their defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tendr.model import Strict
from tendr.names import AccountName, Address, HostName

Connector = Literal["ssh", "local"]


class HostDefaults(Strict):
    """Values every host of the file inherits unless it sets its own."""

    connector: Connector = "ssh"
    user: AccountName | None = None
    port: int = Field(default=22, ge=1, le=65535)
    ssh_key: str | None = None
    groups: list[HostName] = []
    tags: list[HostName] = []


class HostEntry(Strict):
    """One machine as written under [hosts.NAME]; unset values come from [defaults].

    ```toml
    [hosts.acme-fs01]
    address = "203.0.113.10"
    groups = ["fileservers"]
    ```
    """

    address: Address | None = None
    connector: Connector | None = None
    user: AccountName | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    ssh_key: str | None = None
    groups: list[HostName] = []
    tags: list[HostName] = []


class HostsFile(Strict):
    """hosts/CLIENT.toml: the client's machines."""

    defaults: HostDefaults = HostDefaults()
    hosts: dict[HostName, HostEntry] = {}

    @field_validator("hosts")
    @classmethod
    def _not_reserved(cls, value: dict[str, HostEntry]) -> dict[str, HostEntry]:
        if "all" in value:
            raise ValueError("'all' is the selector for every host; name the host otherwise")
        return value


class Host(Strict):
    """A machine with its defaults resolved: what selection and connection use."""

    name: str
    client: str
    connector: Connector
    address: str | None
    port: int
    user: str | None
    ssh_key: str | None
    groups: tuple[str, ...]
    tags: tuple[str, ...]
    file: str

    @classmethod
    def resolve(cls, name: str, client: str, entry: HostEntry, defaults: HostDefaults,
                file: str) -> Host:
        """Merge one entry with its file's defaults; groups and tags add up."""
        return cls(
            name=name,
            client=client,
            connector=entry.connector or defaults.connector,
            address=entry.address,
            port=entry.port or defaults.port,
            user=entry.user or defaults.user,
            ssh_key=entry.ssh_key or defaults.ssh_key,
            groups=tuple(dict.fromkeys([*defaults.groups, *entry.groups])),
            tags=tuple(dict.fromkeys([*defaults.tags, *entry.tags])),
            file=file,
        )
