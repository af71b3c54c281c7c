"""tendr's baseline for a managed client machine, kept through its own kinds like any
state: a persistent journal with a size cap, and a health check (a systemd timer and
service) that records failed units, full disks, memory pressure, failed backups and
stopped print queues in the journal under one identifier, so that what happened between
two visits is there to read (`tendr diagnose`). A host opts out with `health = false`;
the machine tendr runs on (the local connector) is no client and gets none.

A host that calls home (`tunnel = true`) also gets its tunnel: a systemd service keeping
one SSH connection to the controller with one remote forward, its own key made on the
host by the service itself (it never leaves the host), the controller's key pinned.
"""

from __future__ import annotations

from tendr.base.scripts import script
from tendr.base.settings import Tunnel
from tendr.kinds.base import ResourceSpec
from tendr.kinds.file import FileSpec
from tendr.kinds.service import ServiceSpec
from tendr.workspace.hosts import TUNNEL_ADDRESS, Host

SOURCE = "(baseline)"  # what the plan names as the state of these resources
HEALTH_TAG = "tendr-health"
HEALTH_UNIT = "tendr-health.service"  # the unit whose output diagnose takes as the check's
SCRIPT_PATH = "/usr/local/lib/tendr/health"
JOURNALD_PATH = "/etc/systemd/journald.conf.d/tendr.conf"

JOURNALD = """\
# Written by tendr: the journal kept on disk, within a cap, for tendr diagnose.
[Journal]
Storage=persistent
SystemMaxUse=200M
"""

# Each problem is one line of the service's standard output, a journal record with a
# priority prefix: warning, or err for what failed. Not `logger`: any account can log
# under any identifier, while journald itself marks the lines of the service's output
# with its unit and uid (_SYSTEMD_UNIT, _UID), which is what diagnose trusts. (A record
# sent by a process that has already exited may even lack its unit.)
# The script is written to the host as tendr/workspace/sh/health.sh holds it, byte for
# byte: it writes out the values of HEALTH_TAG and JOURNALD_PATH (change them there too).
SCRIPT = script("tendr.workspace", "health")

SERVICE = f"""\
[Unit]
Description=tendr health check (records problems in the journal as {HEALTH_TAG})

[Service]
Type=oneshot
ExecStart={SCRIPT_PATH}
StandardOutput=journal
SyslogIdentifier={HEALTH_TAG}
"""

TIMER = """\
[Unit]
Description=tendr health check, every 15 minutes

[Timer]
OnBootSec=5min
OnUnitActiveSec=15min
AccuracySec=1min

[Install]
WantedBy=timers.target
"""


TUNNEL_UNIT = "tendr-tunnel.service"
TUNNEL_KNOWN_HOSTS = "/etc/tendr/tunnel_known_hosts"
TUNNEL_KEY = "/var/lib/tendr-tunnel/id_ed25519"  # StateDirectory: root's, 0700
CONTROLLER_ALIAS = "tendr-controller"  # the name the controller's key is pinned under


def tunnel_unit(port: int, tunnel: Tunnel, sshd_port: int = 22) -> str:
    """tendr-tunnel.service: ssh -N -R from the controller's 127.0.0.1:`port` to this
    host's sshd (on `sshd_port`, the host's `port`), restarted forever. Every value is
    validated (an account and host name, ports): none needs quoting. The key is made on
    first start, on the host."""
    ssh = " ".join(
        [
            "/usr/bin/ssh -N -T -F none",
            f"-i {TUNNEL_KEY} -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes",
            f"-o UserKnownHostsFile={TUNNEL_KNOWN_HOSTS} -o GlobalKnownHostsFile=/dev/null",
            f"-o StrictHostKeyChecking=yes -o HostKeyAlias={CONTROLLER_ALIAS}",
            "-o UpdateHostKeys=no -o ExitOnForwardFailure=yes -o ConnectTimeout=20",
            "-o ServerAliveInterval=15 -o ServerAliveCountMax=3",
            f"-R {TUNNEL_ADDRESS}:{port}:localhost:{sshd_port}",
            f"-p {tunnel.port} -l {tunnel.account} -- {tunnel.address}",
        ]
    )
    keygen = (
        f"test -e {TUNNEL_KEY} || "
        f"exec /usr/bin/ssh-keygen -q -t ed25519 -N '' -C tendr-tunnel -f {TUNNEL_KEY}"
    )
    return f"""\
[Unit]
Description=tendr tunnel: this host reachable from the controller {tunnel.address}
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
StateDirectory=tendr-tunnel
StateDirectoryMode=0700
ExecStartPre=/bin/sh -c "{keygen}"
ExecStart={ssh}
Restart=always
RestartSec=15
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""


def tunnel_resources(host: Host, tunnel: Tunnel | None) -> list[ResourceSpec]:
    """A host that calls home: the controller's key pinned, then the tunnel's service."""
    if host.tunnel_port is None or tunnel is None or host.connector != "ssh":
        return []
    pinned = f"{CONTROLLER_ALIAS} {tunnel.host_key}\n"
    return [
        FileSpec(path=TUNNEL_KNOWN_HOSTS, content=pinned, mode="0644", owner="root", group="root"),
        ServiceSpec(
            unit=TUNNEL_UNIT,
            content=tunnel_unit(host.tunnel_port, tunnel, host.port),
            enabled=True,
            running=True,
            # A change restarts the tunnel that tendr may be connected through: the
            # apply's connection goes with it, and the next one comes back through it.
            restart_on_change=False,
            after=(f"file:{TUNNEL_KNOWN_HOSTS}",),
        ),
    ]


def resources(host: Host, tunnel: Tunnel | None = None) -> list[ResourceSpec]:
    """The baseline resources of `host`: its tunnel where it calls home, then the health
    check; none where it opted out (of the health check) or is no client."""
    found = tunnel_resources(host, tunnel)
    if not host.health or host.connector != "ssh":
        return found
    return found + [
        FileSpec(path=JOURNALD_PATH, content=JOURNALD, mode="0644", owner="root", group="root"),
        FileSpec(path=SCRIPT_PATH, content=SCRIPT, mode="0755", owner="root", group="root"),
        ServiceSpec(unit=HEALTH_UNIT, content=SERVICE, restart_on_change=False),
        # The timer starts the check: only once its service and script are in place.
        ServiceSpec(
            unit="tendr-health.timer",
            content=TIMER,
            enabled=True,
            running=True,
            after=(f"service:{HEALTH_UNIT}", f"file:{SCRIPT_PATH}"),
        ),
    ]


def first_contact(host: Host, tunnel: Tunnel) -> str:
    """A POSIX sh script that, run once as root on `host` (by a technician on site, or
    the client's administrator), installs its tunnel as the baseline keeps it and starts
    it, then prints the tunnel key's public half (for `tendr gateway tunnel-allow`) and
    the host's key fingerprints (for the technician to compare with what tendr sees).
    The files travel in quoted here-documents: nothing in them is expanded."""
    assert host.tunnel_port is not None
    files = {
        TUNNEL_KNOWN_HOSTS: f"{CONTROLLER_ALIAS} {tunnel.host_key}\n",
        f"/etc/systemd/system/{TUNNEL_UNIT}": tunnel_unit(host.tunnel_port, tunnel, host.port),
    }
    written = "".join(
        f"cat > {path} <<'TENDR_END'\n{text}TENDR_END\nchmod 0644 {path}\n"
        for path, text in files.items()
    )
    return f"""\
#!/bin/sh
# tendr: first contact for {host.name}, a host that calls home to {tunnel.address}.
# Run once, as root, on {host.name}; from then on tendr keeps the tunnel itself.
set -eu
umask 022
[ "$(id -u)" = 0 ] || {{ echo "run this as root" >&2; exit 1; }}
mkdir -p /etc/tendr
{written}systemctl daemon-reload
systemctl enable --now {TUNNEL_UNIT}
i=0
while [ ! -s {TUNNEL_KEY}.pub ] && [ "$i" -lt 30 ]; do sleep 1; i=$((i + 1)); done
echo "The tunnel's key, for the provider (tendr gateway tunnel-allow {host.name} --key FILE):"
cat {TUNNEL_KEY}.pub
echo "This host's keys, for the technician to compare with what tendr shows:"
for key in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -l -f "$key"; done
"""
