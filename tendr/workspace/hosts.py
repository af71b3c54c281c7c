"""The hosts/ file format: one client per file, its machines and their defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tendr.base.model import Strict
from tendr.base.names import AccountName, Address, HostName
from tendr.base.settings import Settings

Connector = Literal["ssh", "local"]


class HostDefaults(Strict):
    """Values every host of the file inherits unless it sets its own."""

    connector: Connector = "ssh"
    """How tendr reaches the hosts: "ssh", or "local" for the machine tendr runs on."""
    user: AccountName | None = None
    """The account tendr logs in as over SSH; it acts as root through `sudo -n`, so it
    needs passwordless sudo. Unset: `service_account` of tendr.toml ("tendr")."""
    port: int = Field(default=22, ge=1, le=65535)
    """The SSH port."""
    ssh_key: str | None = None
    """The private key file to log in with (`~` is your home), unencrypted: tendr cannot
    ask for a passphrase. Unset: your ssh-agent and your default keys (~/.ssh/id_*)."""
    groups: list[HostName] = []
    """Groups of every host of the file, for selectors such as 'group:NAME'."""
    tags: list[HostName] = []
    """Tags of every host of the file, for selectors such as 'tag:NAME'."""
    health: bool = True
    """Whether tendr's baseline is kept on the hosts: a persistent journal with a size
    cap, and a health check every 15 minutes that records problems in it."""
    via: HostName | None = None
    """The host of the workspace every host of the file is reached through (the client's
    gateway, ProxyJump-style); that host itself is reached directly. Unset: directly."""


class HostEntry(Strict):
    """One machine as written under [hosts.NAME]; unset values come from [defaults].

    ```toml
    [hosts.acme-fs01]
    address = "203.0.113.10"
    groups = ["fileservers"]
    ```
    """

    address: Address | None = None
    """The host's DNS name or IP address (an SSH host needs one)."""
    connector: Connector | None = None
    """How tendr reaches the host: "ssh", or "local" for the machine tendr runs on.
    Unset: [defaults]."""
    user: AccountName | None = None
    """The account tendr logs in as over SSH (passwordless sudo needed). Unset: [defaults],
    then `service_account` of tendr.toml ("tendr")."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """The SSH port. Unset: [defaults], then 22."""
    ssh_key: str | None = None
    """The private key file to log in with, unencrypted. Unset: [defaults], then your
    ssh-agent and default keys."""
    groups: list[HostName] = []
    """Groups of this host, added to those of [defaults]."""
    tags: list[HostName] = []
    """Tags of this host, added to those of [defaults]."""
    health: bool | None = None
    """Whether tendr's baseline (persistent journal, health check) is kept on this host.
    Unset: [defaults], then true."""
    via: HostName | None = None
    """The host of the workspace this one is reached through, its `address` being one
    that host reaches (a client LAN behind its gateway): SSH runs through one connection
    to the gateway, both host keys pinned. Unset: [defaults], then directly."""
    approved: bool = True
    """false: audit only, as `tendr onboard` leaves a new host: plans, but no change,
    command or shell, until someone allowed `host.approve` runs `tendr approve HOST`."""
    tunnel: bool = False
    """true: the host calls home (a client's gateway behind NAT, no port open to it): it
    keeps an SSH tunnel to the controller ([tunnel] of tendr.toml), through which tendr
    reaches it at 127.0.0.1:`tunnel_port`; its key is pinned as `tunnel/NAME`. Its `port`
    is then its sshd's port on the host itself, where the tunnel leads; no `address` is
    needed."""
    tunnel_port: int | None = Field(default=None, ge=1024, le=65535)
    """The controller's loopback port this host's tunnel listens on, one per host
    kept in the hosts file so it never moves (validation names the first free one)."""


class HostsFile(Strict):
    """hosts/CLIENT.toml: the client's machines."""

    defaults: HostDefaults = HostDefaults()
    """Values every host of the file takes unless it sets its own: [defaults]."""
    hosts: dict[HostName, HostEntry] = {}
    """The client's machines by name: [hosts.NAME]. Host names are unique across all
    hosts files."""

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
    health: bool = True
    approved: bool = True
    via: str | None = None
    tunnel_port: int | None = None  # set: the host is reached through its own tunnel
    gateway: Host | None = None  # the host `via` names, once the workspace resolved it

    @classmethod
    def resolve(
        cls, name: str, client: str, entry: HostEntry, defaults: HostDefaults, file: str
    ) -> Host:
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
            health=defaults.health if entry.health is None else entry.health,
            approved=entry.approved,
            tunnel_port=entry.tunnel_port if entry.tunnel else None,
            # The gateway named in [defaults] is itself reached directly; an entry naming
            # itself is kept, for the workspace to refuse.
            via=entry.via or (defaults.via if defaults.via != name else None),
        )


def login_user(host: Host, settings: Settings) -> str:
    """The account tendr logs in as over SSH: the host's `user`, else the workspace's
    service account (never the account that happens to run tendr)."""
    return host.user or settings.service_account


def known_hosts_name(address: str, port: int) -> str:
    """How known_hosts (and ssh-keygen -R) names a host: [address]:port unless port 22."""
    return address if port == 22 else f"[{address}]:{port}"


TUNNEL_ADDRESS = "127.0.0.1"  # where a tunnel host's forward listens on the controller


def endpoint(host: Host) -> tuple[str, int]:
    """Where tendr's SSH connection to `host` goes: its address and port, or for a host
    that calls home, the controller's loopback port its tunnel listens on."""
    if host.tunnel_port is not None:
        return TUNNEL_ADDRESS, host.tunnel_port
    return host.address or host.name, host.port


def key_name(host: Host) -> str:
    """The name `host`'s key is pinned under in known_hosts. Behind a gateway, the
    gateway's name comes first (`acme-gw01/192.168.1.10:22`): two clients' LANs often use
    the same private addresses, and one must not vouch for the other's machine. A host
    reached through its own tunnel is pinned by its name (`tunnel/acme-gw01`), never by
    the loopback port, which another host's tunnel may hold tomorrow."""
    if host.tunnel_port is not None:
        return f"tunnel/{host.name}"
    address = host.address or host.name
    if host.gateway is not None:
        return f"{host.gateway.name}/{address}:{host.port}"
    return known_hosts_name(address, host.port)


def route(host: Host) -> str:
    """Where the host is, for messages: `192.168.1.10 port 22 (through acme-gw01)`."""
    if host.tunnel_port is not None:
        return f"{TUNNEL_ADDRESS} port {host.tunnel_port} ({host.name}'s tunnel)"
    where = f"{host.address or host.name} port {host.port}"
    return f"{where} (through {host.gateway.name})" if host.gateway is not None else where
