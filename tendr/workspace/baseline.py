"""tendr's baseline for a managed client machine, kept through its own kinds like any
state: a persistent journal with a size cap, and a health check (a systemd timer and
service) that records failed units, full disks, memory pressure, failed backups and
stopped print queues in the journal under one identifier, so that what happened between
two visits is there to read (`tendr diagnose`). A host opts out with `health = false`;
the machine tendr runs on (the local connector) is no client and gets none.
"""

from __future__ import annotations

from tendr.base.scripts import script
from tendr.kinds.base import ResourceSpec
from tendr.kinds.file import FileSpec
from tendr.kinds.service import ServiceSpec
from tendr.workspace.hosts import Host

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


def resources(host: Host) -> list[ResourceSpec]:
    """The baseline resources of `host`; none where it opted out or is no client."""
    if not host.health or host.connector != "ssh":
        return []
    return [
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
