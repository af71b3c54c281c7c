"""tendr.toml: optional workspace settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tendr.base.keys import KEY_REGEX
from tendr.base.model import Strict
from tendr.base.names import AccountName, Duration, WorkspacePath

# ACCOUNT@HOST[:PORT]: an account name, a DNS name or IPv4 address, an optional port.
GATEWAY_ADDRESS = (
    r"^[a-z_][a-z0-9_-]{0,31}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?(?::[0-9]{1,5})?$"
)


QUIET_HOURS = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$"


class SecretFile(Strict):
    """A secret kept in a file of the workspace (readable by its owner alone)."""

    file: WorkspacePath
    """The file holding the secret, such as "secrets/alert-mail.url" (keep secrets/ out
    of git)."""


class Alert(Strict):
    """Where `tendr watch` tells of problems that open and clear, through Apprise.

    ```toml
    [[alert]]
    url = { file = "secrets/ops-mail.url" }  # mailto://..., slack://..., json://...
    clients = ["acme"]                        # all clients unless given
    min_severity = "critical"                 # warning (the default) or critical
    quiet_hours = "22:00-07:00"               # nothing sent then; sent after
    remind_after = "24h"                      # told again while still open
    ```
    """

    url: SecretFile
    """The Apprise URL, credentials included, in a secret file: mailto://, slack://,
    msteams://, matrix://, ntfy://, json:// (a ticket system's webhook)..."""
    clients: list[str] = Field(default_factory=list)
    """The clients (hosts' `client`) it is for; every client when empty."""
    min_severity: Literal["warning", "critical"] = "warning"
    """The least severe problem it is told of."""
    quiet_hours: str | None = Field(default=None, pattern=QUIET_HOURS)
    """HH:MM-HH:MM, local time: nothing is sent then; what came in is sent at the first
    cycle after."""
    remind_after: Duration | None = None
    """Tell again of a problem still open this long after it was last told ('24h')."""


class Tunnel(Strict):
    """Where the gateway hosts of clients behind NAT call home (`tunnel = true` hosts).

    ```toml
    [tunnel]
    controller = "tendr-tunnel@controller.example.net"   # ACCOUNT@HOST[:PORT]
    host_key = "ssh-ed25519 AAAA..."   # the controller's sshd host key, pinned on them
    first_port = 20000                 # tunnel ports are assigned from here up
    ```
    """

    controller: str = Field(pattern=GATEWAY_ADDRESS)
    """The controller's tunnel account, as the client hosts' ssh reaches it:
    ACCOUNT@HOST or ACCOUNT@HOST:PORT (`tendr gateway tunnel-allow` keeps its keys)."""
    host_key: str = Field(pattern=f"^{KEY_REGEX}$")
    """The controller's SSH host key ('TYPE BASE64', /etc/ssh/ssh_host_*_key.pub without
    its comment): the client hosts accept no other."""
    first_port: int = Field(default=20000, ge=1024, le=65000)
    """The first loopback port tunnels are given on the controller, one per host."""

    @model_validator(mode="after")
    def _port_in_range(self) -> Tunnel:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"controller: port {self.port} is no TCP port (1-65535)")
        return self

    @property
    def account(self) -> str:
        return self.controller.split("@", 1)[0]

    @property
    def address(self) -> str:
        return self.controller.split("@", 1)[1].rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        rest = self.controller.split("@", 1)[1]
        return int(rest.rsplit(":", 1)[1]) if ":" in rest else 22


class Settings(Strict):
    """Workspace-wide settings; every key is optional.

    ```toml
    known_hosts = "known_hosts"      # pinned SSH host keys, relative to the workspace
    audit_log = ".tendr/audit.log"   # the hash-chained record of every change
    history = ".tendr/history.sqlite" # every plan's verdict per host and resource
    parallel = 10                    # hosts handled at once
    connect_timeout = 10             # seconds
    command_timeout = 600            # seconds one command on a host may take
    service_account = "tendr"        # the account tendr logs in as where a host sets no user
    gateway = "tendr@controller.example.net:2222"   # the gateway serving this workspace
    ```
    """

    known_hosts: str = "known_hosts"
    """The file of pinned SSH host keys, relative to the workspace. A host whose key is not
    in it, or differs, is refused."""
    audit_log: str = ".tendr/audit.log"
    """The hash-chained record of every change apply makes, relative to the workspace."""
    history: str = ".tendr/history.sqlite"
    """The drift history (SQLite): every plan's verdict per host and resource, relative
    to the workspace (`tendr history`, `tendr report`)."""
    parallel: int = Field(default=10, ge=1, le=200)
    """How many hosts are handled at once."""
    connect_timeout: int = Field(default=10, ge=1, le=300)
    """Seconds to wait for a host to answer SSH."""
    command_timeout: int = Field(default=600, ge=1, le=86400)
    """Seconds one command on a host may take before it is given up as interrupted."""
    service_account: AccountName = "tendr"
    """The account tendr logs in as on an SSH host whose hosts file sets no `user`."""
    gateway: str | None = Field(default=None, pattern=GATEWAY_ADDRESS)
    """The gateway that serves this workspace, as ssh reaches it: ACCOUNT@HOST or
    ACCOUNT@HOST:PORT. Any other copy of the workspace then only plans and reads: apply,
    do, run and shell are made at the gateway, so a stale copy cannot undo a push."""
    watch_every: Duration | None = None
    """How often `tendr watch` runs on a schedule ('5m'), where a timer runs it (README,
    Watching between visits); off unless set."""
    watch_clear_after: int = Field(default=2, ge=1, le=100)
    """Cycles in a row a problem must stay away before its clearing is told: one found
    again sooner is flapping, the same problem, told nothing more."""
    status_page: str = ".tendr/status.html"
    """The status page (HTML) each watch cycle writes, relative to the workspace."""
    alert: list[Alert] = Field(default_factory=list)
    """Where watch tells of problems ([[alert]] entries)."""
    tunnel: Tunnel | None = None
    """Where the gateway hosts of clients behind NAT (`tunnel = true`) call home:
    [tunnel]. Needed once a host sets `tunnel = true`."""

    @model_validator(mode="after")
    def _alerts_apart(self) -> Settings:
        files = [a.url.file for a in self.alert]
        if len(files) != len(set(files)):
            raise ValueError("two [[alert]] entries name the same url file: give each its own")
        return self
