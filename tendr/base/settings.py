"""tendr.toml: optional workspace settings."""

from __future__ import annotations

from pydantic import Field

from tendr.base.model import Strict
from tendr.base.names import AccountName

# ACCOUNT@HOST[:PORT]: an account name, a DNS name or IPv4 address, an optional port.
GATEWAY_ADDRESS = (
    r"^[a-z_][a-z0-9_-]{0,31}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?(?::[0-9]{1,5})?$"
)


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
