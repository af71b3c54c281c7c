"""The files tendr writes for a job: its script, units and known hosts, and every file a
probe reads."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from tendr.kinds.backup.spec import (
    CACHE_DIR,
    UNIT_DIR,
    BackupSpec,
    Retention,
    checked_path,
    key_path,
    known_hosts_path,
    password_path,
    restic_options,
    script_path,
    sftp_parts,
    tag,
    unit_name,
)
from tendr.kinds.base import SecretRef

# -- the files tendr writes -------------------------------------------------------


def known_hosts(spec: BackupSpec) -> str:
    """The repository host's key as ssh looks it up (ssh lower-cases host names)."""
    parts = sftp_parts(spec.repository)
    assert parts is not None and spec.host_key is not None
    host = parts[1].lower()
    where = host if spec.port == 22 else f"[{host}]:{spec.port}"
    return f"{where} {spec.host_key}\n"


# restic's error lines go to the journal at priority err (journald reads the "<3>"
# prefix), so `journalctl -p err` shows a failed run's reason; restic's status is kept.
_LOGGED = """logged() {
    s=$( { { restic "$@" 2>&1 1>&3 3>&- 4>&-; echo "$?" >&4; } |
        while IFS= read -r l || [ -n "$l" ]; do printf '<3>%s\\n' "$l"; done >&2 3>&- 4>&-
    } 4>&1 )
    return "$s"
}
exec 3>&1"""


def _retention(keep: Retention) -> list[str]:
    return [
        f"--keep-{name}={value}" for name, value in keep.model_dump().items() if value is not None
    ]


def script(spec: BackupSpec) -> str:
    """The job as the service runs it; every value quoted here."""
    q = shlex.quote
    options = "".join(f" {q(option)}" for option in restic_options(spec))
    excludes = "".join(f" {q('--exclude=' + pattern)}" for pattern in spec.excludes)
    sources = " ".join(q(source) for source in spec.sources)
    lines = [
        "#!/bin/sh",
        f"# Written by tendr: the restic backup job {spec.name}; a change made here is undone.",
        "# Without arguments: restic backup, then forget --prune when a retention is set.",
        f"# With arguments: restic on the job's repository, as in `{script_path(spec)} snapshots`.",
        "set -u",
        *_mount_guard(spec),
        f"export RESTIC_REPOSITORY={q(spec.repository)}",
        f"export RESTIC_PASSWORD_FILE={q(password_path(spec))}",
        f"export RESTIC_CACHE_DIR=${{RESTIC_CACHE_DIR:-{CACHE_DIR}}}",
        f'restic() {{ command restic{options} "$@"; }}',
        'if [ "$#" -gt 0 ]; then restic "$@"; exit; fi',
        _LOGGED,
        f"logged backup --tag {q(tag(spec))}{excludes} -- {sources} || exit",
    ]
    if keep := _retention(spec.keep):
        # Only this host's snapshots of the job, whatever their paths; several hosts may
        # share a repository, and the prune's exclusive lock waits for their backups.
        forget = " ".join(
            ["logged forget --prune", f"--tag {q(tag(spec))}", '--host "$(uname -n)"']
            + ["--group-by host,tags", *keep]
        )
        lines += [
            "for try in 1 2 3 4 5; do",
            f"    {forget} && exit 0",
            '    s=$?; [ "$try" = 5 ] || sleep 120',
            "done",
            'exit "$s"',
        ]
    return "\n".join(lines) + "\n"


def _mount_guard(spec: BackupSpec) -> list[str]:
    """The script's first act when the job names its disk's mount: no run while nothing is
    mounted there (the repository's folder on the disk underneath is not the repository)."""
    if spec.mount is None:
        return []
    said = shlex.quote(f"<3>tendr: {spec.mount} is not mounted: no backup was made")
    return [f"mountpoint -q -- {shlex.quote(spec.mount)} || {{ echo {said} >&2; exit 1; }}"]


def service_unit(spec: BackupSpec) -> str:
    return f"""# Written by tendr: the restic backup job {spec.name}; a change made here is undone.
[Unit]
Description=tendr backup {spec.name} (restic)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/bin/sh {script_path(spec)}
# restic removes its lock when interrupted, and leaves it behind on SIGTERM.
KillSignal=SIGINT
CacheDirectory=tendr-backup
CacheDirectoryMode=0700
Environment=RESTIC_CACHE_DIR={CACHE_DIR}
Nice=10
IOSchedulingClass=idle
"""


def timer_unit(spec: BackupSpec) -> str:
    return f"""# Written by tendr: the schedule of the restic backup job {spec.name}.
[Unit]
Description=tendr backup {spec.name} (restic), on its schedule

[Timer]
OnCalendar={spec.schedule}
Persistent=true

[Install]
WantedBy=timers.target
"""


@dataclass(frozen=True)
class JobFile:
    """One of the job's files: its field prefix in a plan (`password`, `script`...), the
    words a plan shows, where, its mode; and its content, or the secret holding it."""

    id: str
    label: str
    path: str
    mode: str
    content: bytes | None = None
    secret: SecretRef | None = None


def job_files(spec: BackupSpec) -> list[JobFile]:
    """The files configure writes, in the order it writes them (secrets first)."""
    files = [JobFile("password", "password", password_path(spec), "0600", secret=spec.password)]
    if sftp_parts(spec.repository) is not None:
        files += [
            JobFile("ssh_key", "ssh key", key_path(spec), "0600", secret=spec.ssh_key),
            JobFile(
                "known_hosts",
                "known hosts",
                known_hosts_path(spec),
                "0644",
                known_hosts(spec).encode(),
            ),
        ]
    unit = f"{UNIT_DIR}/{unit_name(spec)}"
    return files + [
        JobFile("script", "script", script_path(spec), "0755", script(spec).encode()),
        JobFile(
            "service_unit", "service unit", f"{unit}.service", "0644", service_unit(spec).encode()
        ),
        JobFile("timer_unit", "timer unit", f"{unit}.timer", "0644", timer_unit(spec).encode()),
    ]


def probed_paths(spec: BackupSpec) -> list[tuple[str, str]]:
    """Every file of the job a probe reads, by id: the sftp ones even for a local
    repository (left from an earlier sftp one, they are removed), and the check's."""
    unit = f"{UNIT_DIR}/{unit_name(spec)}"
    return [
        ("password", password_path(spec)),
        ("ssh_key", key_path(spec)),
        ("known_hosts", known_hosts_path(spec)),
        ("script", script_path(spec)),
        ("service_unit", f"{unit}.service"),
        ("timer_unit", f"{unit}.timer"),
        ("checked", checked_path(spec)),
    ]
