"""The benchmark's desired state as a plain pyinfra deploy (`pyinfra INVENTORY deploy.py --dry`).

Keep it equivalent to tendr-state.toml and playbook.yml beside it.
"""

from io import StringIO

from pyinfra.operations import apt, files, systemd

UNIT = """\
[Unit]
Description=tendr benchmark demo

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
"""

FILES = (
    ("/etc/motd", "Managed by Example IT. Call 555-0100 for help.\n", "644"),
    ("/etc/bench/a.conf", "# bench a\nlisten = 127.0.0.1\nworkers = 4\n", "640"),
    ("/etc/bench/b.conf", "# bench b\nsecret_file = /etc/bench/b.key\n", "600"),
)

apt.packages(name="Packages present", packages=["hello", "tree"], present=True)
apt.packages(name="Packages absent", packages=["telnet"], present=False)

for unit in ("cron.service", "ssh.service"):
    systemd.service(name=f"Service {unit}", service=unit, running=True, enabled=True)

files.put(
    name="Unit file bench-demo.service",
    src=StringIO(UNIT),
    dest="/etc/systemd/system/bench-demo.service",
    user="root",
    group="root",
    mode="644",
)
systemd.service(
    name="Service bench-demo.service",
    service="bench-demo.service",
    running=True,
    enabled=True,
    daemon_reload=True,
)

for path, content, mode in FILES:
    files.put(
        name=f"File {path}", src=StringIO(content), dest=path, user="root", group="root", mode=mode
    )
