"""Test fleet: real Debian bookworm hosts (systemd, sshd, apt, CUPS, restic)
booted on this machine with systemd-nspawn.  See tests/fleet/__main__.py for
the command line and tests/fleet/plugin.py for the pytest fixtures."""

from tests.fleet.fleet import Fleet, FleetError, preflight
from tests.fleet.host import Host, write_hosts_file, write_known_hosts

__all__ = ["Fleet", "FleetError", "Host", "preflight", "write_hosts_file", "write_known_hosts"]
