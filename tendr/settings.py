"""tendr.toml: optional workspace settings."""

from __future__ import annotations

from pydantic import Field

from tendr.model import Strict
from tendr.names import AccountName


class Settings(Strict):
    """Workspace-wide settings; every key is optional.

    ```toml
    known_hosts = "known_hosts"      # pinned SSH host keys, relative to the workspace
    audit_log = ".tendr/audit.log"   # the hash-chained record of every change
    parallel = 10                    # hosts handled at once
    connect_timeout = 10             # seconds
    command_timeout = 600            # seconds one command on a host may take
    service_account = "tendr"        # the account onboarding creates on clients
    ```
    """

    known_hosts: str = "known_hosts"
    audit_log: str = ".tendr/audit.log"
    parallel: int = Field(default=10, ge=1, le=200)
    connect_timeout: int = Field(default=10, ge=1, le=300)
    command_timeout: int = Field(default=600, ge=1, le=86400)
    service_account: AccountName = "tendr"
