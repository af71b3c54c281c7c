"""The backup kind: a restic job with its schedule, retention and freshness.

What tendr writes on a host for a job NAME, all root's (/etc/tendr/backup and
/var/lib/tendr-backup are made 0700):

- /etc/tendr/backup/NAME.password (0600): the repository password. It is written by a
  Put whose content is the secret, which plan and apply put in `Context.secrets` (keyed
  by `secret_key`); a plan compares it by SHA-256 only and shows at most "differs".
- /etc/tendr/backup/NAME.key (0600) and NAME.known_hosts (0644), for an sftp repository:
  the ssh key (a secret too) root reaches the repository host with, and that host's key,
  which ssh checks strictly (no other known_hosts file counts).
- /etc/tendr/backup/NAME.sh (0755): the job, one shell script whose every value tendr
  quotes (shlex), so nothing depends on systemd's own quoting. It exports
  RESTIC_REPOSITORY and RESTIC_PASSWORD_FILE, passes the sftp command (`-o
  sftp.command=ssh ...`), runs `restic backup`, then `restic forget --prune` when any
  retention is set, logging restic's error lines at priority err. Given arguments, it
  is restic on the job's repository: `/etc/tendr/backup/NAME.sh snapshots`.
- /etc/systemd/system/tendr-backup-NAME.service (oneshot, runs the script) and
  tendr-backup-NAME.timer (OnCalendar = schedule, Persistent), enabled and started.
- /var/lib/tendr-backup/NAME.checked: the UNIX time of the last `restic check` that
  passed, written by that check (apply's backup.check, `tendr backup check`).

Reading a host never writes to a repository: restic runs with --no-lock there (restic
0.14 does not take a dead process's lock for stale, so a probe cut off by its timeout
would leave a lock that fails every later prune and check), and the repository's locks
are listed instead, an exclusive one being what blocks backups.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from tendr.base.changes import HIDDEN, Change, FieldChange, Put, Run, Step, Unreadable
from tendr.base.keys import KEY_REGEX, is_key_line
from tendr.base.model import Strict
from tendr.base.names import AbsolutePath, Duration, anchored, duration_seconds
from tendr.base.scripts import script as shell_script
from tendr.kinds.base import ResourceSpec, SecretRef
from tendr.kinds.file import SAFE_FOLDERS, FileActual, diff_file, parse_line, probe_paths
from tendr.kinds.kind import Context, Kind, Reference, unknown
from tendr.kinds.package import PackageSpec
from tendr.kinds.package import steps as package_steps

_JOB = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# A local absolute path, or sftp:USER@HOST:/PATH, as restic takes them.
_REPOSITORY = re.compile(r"/[^\x00\n]*|sftp:[a-z_][a-z0-9_-]*@[A-Za-z0-9.-]+:/[A-Za-z0-9._/-]*")
# systemd OnCalendar shorthands, or a calendar expression of safe characters.
_SCHEDULE = re.compile(r"hourly|daily|weekly|monthly|[A-Za-z0-9*:/,. -]{1,64}")


def mask_credentials(repository: str) -> str:
    """The repository with the password of a `user:password@` in it as ***, for messages:
    'rest:https://user:***@host/repo', 'sftp:user:***@host:/srv'. Everything from the
    first ':' of the user part to the last '@' is masked, since a password (or an S3
    secret key) may itself hold '/', ':' or '@'."""
    head, at, tail = repository.rpartition("@")
    if not at:
        return repository
    # The user part starts after the URL's '//' (rest:https://...), else after the scheme.
    start = head.index("//") + 2 if "//" in head else head.find(":") + 1
    user, colon, _ = head[start:].partition(":")
    if not colon:
        return repository
    return f"{head[:start]}{user}:***@{tail}"


class Retention(Strict):
    """How many snapshots `restic forget --prune` keeps, per period."""

    last: int | None = Field(default=None, ge=1)
    """Keep the last N snapshots."""
    hourly: int | None = Field(default=None, ge=1)
    """Keep the last snapshot of each of the last N hours."""
    daily: int | None = Field(default=None, ge=1)
    """Keep the last snapshot of each of the last N days."""
    weekly: int | None = Field(default=None, ge=1)
    """Keep the last snapshot of each of the last N weeks."""
    monthly: int | None = Field(default=None, ge=1)
    """Keep the last snapshot of each of the last N months."""
    yearly: int | None = Field(default=None, ge=1)
    """Keep the last snapshot of each of the last N years."""


class BackupSpec(ResourceSpec):
    """A restic backup job, run by a systemd timer.

    ```toml
    [[backup]]
    name = "documents"
    sources = ["/srv/share"]
    excludes = ["*.tmp"]
    repository = "sftp:backup@192.0.2.60:/srv/restic/acme"
    password = { file = "secrets/acme-restic.pass" }   # or { env = "ACME_RESTIC_PASSWORD" }
    schedule = "daily"
    keep = { daily = 7, weekly = 4, monthly = 6 }
    max_age = "26h"
    check_every = "7d"
    ssh_key = { file = "secrets/acme-backup.key" }          # sftp only
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."    # sftp only
    ```
    """

    kind: ClassVar[str] = "backup"
    identity: ClassVar[str] = "name"

    name: str = Field(json_schema_extra={"pattern": anchored(_JOB.pattern)})
    """The job's name (lower case letters, digits, _ -), such as "documents"."""
    sources: list[AbsolutePath] = Field(min_length=1)
    """The folders and files to back up: absolute paths."""
    excludes: list[str] = []
    """Patterns restic leaves out (--exclude), such as "*.tmp"."""
    repository: str = Field(json_schema_extra={"pattern": anchored(_REPOSITORY.pattern)})
    """Where the snapshots go: an absolute local path or "sftp:USER@HOST:/PATH"."""
    password: SecretRef
    """The repository password, by reference: { file = "secrets/NAME" } or
    { env = "VARIABLE" }, never written in clear."""
    schedule: str = Field(
        default="daily", json_schema_extra={"pattern": anchored(_SCHEDULE.pattern)}
    )
    """When it runs: hourly, daily, weekly, monthly or a systemd OnCalendar expression."""
    keep: Retention = Retention()
    """How many snapshots to keep per period (restic forget --prune)."""
    max_age: Duration | None = None
    """The newest snapshot may not be older than this, such as "26h"."""
    check_every: Duration | None = None
    """How often the repository's integrity must be checked (restic check), such as "7d":
    a last check that passed longer ago than this is drift (op backup.check)."""
    ssh_key: SecretRef | None = None
    """For an sftp repository (and only then): the private key root reaches the repository
    host with, by reference: { file = "secrets/NAME" } or { env = "VARIABLE" }."""
    host_key: str | None = Field(default=None, json_schema_extra={"pattern": anchored(KEY_REGEX)})
    """For an sftp repository (and only then): the repository host's public key, as
    "ssh-ed25519 AAAA..." (key type and key, no comment); ssh accepts no other."""
    port: int = Field(default=22, ge=1, le=65535)
    """For an sftp repository: the repository host's SSH port."""
    mount: AbsolutePath | None = None
    """For a local repository: the mount point of the disk it lives on, such as
    "/mnt/backup". While nothing is mounted there, nothing is written for the job (no
    restic init on the disk underneath, no run) and the plan says so."""
    present: bool = True
    """true: the job exists; false: it is removed."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return job_name(value)

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not _REPOSITORY.fullmatch(value):
            raise ValueError(
                f"{mask_credentials(value)!r} is not a repository tendr takes: "
                "an absolute path or 'sftp:USER@HOST:/PATH'"
            )
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not _SCHEDULE.fullmatch(value):
            raise ValueError(f"{value!r} is not a schedule: 'daily', 'hourly' or an OnCalendar")
        return value

    @field_validator("excludes")
    @classmethod
    def _excludes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern or any(c in pattern for c in "\n\x00"):
                raise ValueError(f"{pattern!r} is not an exclude pattern")
        return value

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str | None) -> str | None:
        if value is not None and not valid_host_key(value):
            raise ValueError(
                "host_key is not an SSH public key line: give the key type and the key, "
                "such as 'ssh-ed25519 AAAA...', nothing else"
            )
        return value

    @model_validator(mode="after")
    def _sftp(self) -> BackupSpec:
        sftp = sftp_parts(self.repository)
        if self.mount is not None:
            if sftp is not None:
                raise ValueError("mount: only a local repository takes it")
            if not _under(self.repository, self.mount):
                raise ValueError(
                    f"the repository {self.repository} is not under mount {self.mount}"
                )
        if sftp is None:
            # A port of 22 is the default a dump writes back: only another one is refused.
            given = [name for name in ("ssh_key", "host_key") if getattr(self, name) is not None]
            given += ["port"] if self.port != 22 else []
            if given:
                them = "them" if len(given) > 1 else "it"
                raise ValueError(f"{' and '.join(given)}: only an sftp repository takes {them}")
            return self
        needs = {
            "ssh_key": "ssh_key (the key root reaches the repository host with)",
            "host_key": "host_key (that host's public key, which ssh checks strictly)",
        }
        missing = [needs[name] for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"an sftp repository needs {' and '.join(missing)}")
        if not sftp[1][0].isalnum():
            raise ValueError("the repository host must start with a letter or a digit")
        return self


def job_name(value: str) -> str:
    """`value` when it is a job's name; else ValueError saying what one is."""
    if not _JOB.fullmatch(value):
        raise ValueError(f"{value!r} is not a job name (lower case letters, digits, _ -)")
    return value


def _under(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or inside it, as text (both absolute, without `..`)."""
    return path.rstrip("/") == folder.rstrip("/") or path.startswith(folder.rstrip("/") + "/")


def valid_host_key(value: str) -> bool:
    """Whether `value` is exactly "TYPE BASE64" of an OpenSSH public key (tendr.base.keys)."""
    return is_key_line(value)


def sftp_parts(repository: str) -> tuple[str, str, str] | None:
    """'sftp:USER@HOST:/PATH' -> (USER, HOST, /PATH); None for a local repository."""
    if not repository.startswith("sftp:"):
        return None
    account, _, path = repository[len("sftp:") :].partition(":")
    user, _, host = account.partition("@")
    return user, host, path


# -- where the job lives on a host ----------------------------------------------

ETC_DIR = "/etc/tendr/backup"
STATE_DIR = "/var/lib/tendr-backup"
UNIT_DIR = "/etc/systemd/system"
FOLDERS = (ETC_DIR, STATE_DIR)
CACHE_DIR = "/var/cache/tendr-backup"  # systemd's CacheDirectory=tendr-backup
PROBE_TIMEOUT = 20  # seconds restic may take to answer a probe
CHECK_SUBSET = "5%"  # of the data packs `restic check` reads back


def unit_name(spec: BackupSpec) -> str:
    """The job's units without their suffix: tendr-backup-NAME(.service, .timer)."""
    return f"tendr-backup-{spec.name}"


def tag(spec: BackupSpec) -> str:
    """The tag of the job's snapshots: tendr-NAME."""
    return f"tendr-{spec.name}"


def password_path(spec: BackupSpec) -> str:
    return f"{ETC_DIR}/{spec.name}.password"


def key_path(spec: BackupSpec) -> str:
    return f"{ETC_DIR}/{spec.name}.key"


def known_hosts_path(spec: BackupSpec) -> str:
    return f"{ETC_DIR}/{spec.name}.known_hosts"


def script_path(spec: BackupSpec) -> str:
    return f"{ETC_DIR}/{spec.name}.sh"


def checked_path(spec: BackupSpec) -> str:
    return f"{STATE_DIR}/{spec.name}.checked"


def sftp_command(spec: BackupSpec) -> str | None:
    """The ssh command restic reaches an sftp repository with: tendr's key only, the
    declared host key only (no other known_hosts file), never a question asked."""
    parts = sftp_parts(spec.repository)
    if parts is None:
        return None
    user, host, _ = parts
    return (
        f"ssh -i {key_path(spec)} -o IdentitiesOnly=yes -o BatchMode=yes "
        f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known_hosts_path(spec)} "
        "-o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10 -o ServerAliveInterval=60 "
        f"-p {spec.port} {user}@{host} -s sftp"
    )


def restic_options(spec: BackupSpec) -> tuple[str, ...]:
    """restic's extended options for the job's repository (the sftp command)."""
    command = sftp_command(spec)
    return () if command is None else ("-o", f"sftp.command={command}")


def restic_args(spec: BackupSpec) -> tuple[str, str, str]:
    """What the scripts of this module take first: repository, password file, sftp
    command ("" for a local repository)."""
    return spec.repository, password_path(spec), sftp_command(spec) or ""


def seconds(duration: str) -> int:
    """A Duration ("26h", "90m", "7d") in seconds."""
    return duration_seconds(duration)


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


# -- secrets ----------------------------------------------------------------------


def secret_key(ref: SecretRef) -> str:
    """A secret's key in `Context.secrets`. Its value is the file's bytes, or the
    variable's value encoded in UTF-8, as they are: restic ignores white space around a
    password."""
    return ref.key


def secrets(spec: BackupSpec) -> list[SecretRef]:
    """The secrets a job needs in `Context.secrets`, for plan (to compare) and apply (to
    write)."""
    return [spec.password] + ([spec.ssh_key] if spec.ssh_key is not None else [])


def secret_content(ref: SecretRef, context: Context, *, key: bool = False) -> bytes | None:
    """A secret's bytes as tendr writes them on the host (an ssh key ends in a newline,
    or ssh cannot read it); None when plan or apply did not provide it."""
    data = context.secrets.get(secret_key(ref))
    if data is not None and key and not data.endswith(b"\n"):
        data += b"\n"
    return data


def _scrub(text: str, spec: BackupSpec, context: Context) -> str:
    """A message from the host with any of the job's secrets in it taken out."""
    for ref in secrets(spec):
        data = context.secrets.get(secret_key(ref))
        value = data.decode("utf-8", "replace").strip() if data else ""
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


def references(spec: BackupSpec) -> list[Reference]:
    found = []
    if spec.password.file is not None:
        found.append(Reference("password.file", spec.password.file, secret=True))
    if spec.ssh_key is not None and spec.ssh_key.file is not None:
        found.append(Reference("ssh_key.file", spec.ssh_key.file, secret=True))
    return found


# -- what restic's errors mean ----------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What went wrong with a repository: a kind a program may test, and a message."""

    kind: str
    message: str


@dataclass(frozen=True)
class _Rule:
    """A kind of restic failure: a line holding one of `needles` (and one of `also`),
    compared in lower case; `detail`: the message ends with that line."""

    kind: str
    needles: tuple[str, ...]
    message: str
    detail: bool = False
    also: tuple[str, ...] = ()


# Checked in this order against restic 0.14's output (and ssh's, which restic passes on
# as "subprocess ssh: ..."); the first rule a line matches decides.
RULES = (
    _Rule(
        "locked",
        ("repository is already locked",),
        "the repository is locked (another restic is running, or a stale lock: restic unlock)",
        detail=True,
    ),
    _Rule(
        "wrong-password",
        ("wrong password or no key found",),
        "the repository refuses the password: wrong password or no key found",
    ),
    _Rule("no-space", ("no space left on device",), "no space left on device", detail=True),
    _Rule(
        "host-key",
        ("host key verification failed", "remote host identification has changed"),
        "the repository host's key is not the declared host_key: ssh refused to connect "
        "(Host key verification failed)",
    ),
    _Rule(
        "ssh-key",
        ("permission denied (publickey",),
        "the repository host refuses the ssh key (Permission denied (publickey))",
    ),
    _Rule(
        "corrupt",
        ("repository contains errors",),
        "restic check found errors in the repository",
    ),
    _Rule(
        "missing",
        ("unable to open config file",),
        "there is no repository there: it is not initialised",
        also=("no such file or directory", "file does not exist"),
    ),
    _Rule(
        "exists",
        ("config file already exists",),
        "a repository already exists there, and restic init does not overwrite one",
    ),
    _Rule(
        "unreachable",
        (
            "connection refused",
            "connection timed out",
            "no route to host",
            "could not resolve hostname",
            "network is unreachable",
            "connection closed",
            "connection reset",
        ),
        "the repository is unreachable",
        detail=True,
    ),
    # restic may exit before it passed ssh's own words on: then only this is left.
    _Rule(
        "unreachable",
        ("unable to start the sftp session", "ssh command exited"),
        "the repository is unreachable: ssh could not open an sftp session (its address, "
        "port, the ssh key or the host key; ssh's own message did not reach restic)",
    ),
    _Rule("not-installed", ("restic: not found",), "restic is not installed"),
)
_PREFIXES = ("Fatal: ", "subprocess ssh: ", "ssh: ")


def clean(line: str, limit: int = 300) -> str:
    """A line from the host as one printable line of at most `limit` characters."""
    text = "".join(c if c.isprintable() else " " for c in line).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bare(line: str) -> str:
    for prefix in _PREFIXES:
        line = line.removeprefix(prefix)
    return line


def _detailed(rule: _Rule, line: str) -> str:
    """The rule's message, then the line that matched it when it says more (without the
    rule's own words at its end: "no space left on device: write /srv/x")."""
    if not rule.detail:
        return rule.message
    detail = _bare(line)
    suffix = f": {rule.message}"
    if detail.lower().endswith(suffix):
        detail = detail[: -len(suffix)]
    return f"{rule.message}: {detail}"


def classify(lines: Sequence[str], status: int | None = None) -> Problem:
    """restic's output (stdout and stderr, any order) and exit status -> what went wrong,
    in one line: wrong password, locked, unreachable, no space... or restic's own
    fatal line. Shared by the plan, and by `tendr backup check`."""
    cleaned = [clean(line) for line in lines]
    if status == 124:
        return Problem("timeout", f"the repository did not answer within {PROBE_TIMEOUT} s")
    for rule in RULES:
        for line in cleaned:
            low = line.lower()
            if any(n in low for n in rule.needles) and (
                not rule.also or any(a in low for a in rule.also)
            ):
                return Problem(rule.kind, _detailed(rule, line))
    fatal = [line for line in cleaned if line.startswith("Fatal: ")]
    last = fatal[:1] or [line for line in cleaned if line][-1:]
    if last:
        return Problem("other", _bare(last[0]))
    code = "" if status is None else f" (exit status {status})"
    return Problem("other", f"restic failed{code} with no error output")


def shell_classify() -> str:
    """`classify` as a shell function for the steps' scripts: `tendr_classify OUTPUT`
    prints "KIND<TAB>MESSAGE"; made from RULES, so both say the same."""
    q = shlex.quote
    lines = ["tendr_classify() {"]
    for rule in RULES:
        needles = " ".join(f"-e {q(n)}" for n in rule.needles)
        test = f"printf '%s\\n' \"$1\" | grep -i -F {needles}"
        if rule.also:
            test += " | grep -i -F " + " ".join(f"-e {q(a)}" for a in rule.also)
        test += " | head -n 1 | grep ."
        detail = ": %s" if rule.detail else ""
        lines.append(
            f"    if l=$({test}); then l=${{l#Fatal: }}; "
            "l=${l#subprocess ssh: }; l=${l#ssh: }; "
            f"l=${{l%: {q(rule.message)}}}; "
            f"printf '%s\\t%s{detail}\\n' {q(rule.kind)} {q(rule.message)}"
            + (' "$l"' if rule.detail else "")
            + "; return; fi"
        )
    lines += [
        "    l=$(printf '%s\\n' \"$1\" | grep -m1 '^Fatal: ') ||"
        " l=$(printf '%s\\n' \"$1\" | grep -v '^[[:space:]]*$' | tail -n 1)",
        "    printf 'other\\t%s\\n' \"${l#Fatal: }\"",
        "}",
    ]
    return "\n".join(lines) + "\n"


# -- facts ------------------------------------------------------------------------

# _tb_host TIMEOUT FOLDER...: once per host, whether systemd runs, restic's version, the
# host's clock, the folders; _tb_job NAME...: a job's units, failed run, mount, repository
# and last check (its arguments: tendr/kinds/sh/backup-probe.sh).
_PROBE = shell_script("tendr.kinds", "backup-probe")


def probe(specs: Sequence[BackupSpec]) -> str:
    parts = [_PROBE + f"_tb_host {PROBE_TIMEOUT} {shlex.join(FOLDERS)}"]
    for spec in specs:
        paths = [path for _, path in probed_paths(spec)]
        sftp = sftp_parts(spec.repository) is not None
        args = [
            spec.name,
            password_path(spec) if spec.present else "",
            key_path(spec) if sftp else "",
            known_hosts_path(spec) if sftp else "",
            spec.repository,
            sftp_command(spec) or "",
            checked_path(spec),
            spec.mount or "",
        ]
        parts.append(
            f"printf '@job\\t%s\\n' {shlex.quote(spec.name)}; echo '@files'; "
            + probe_paths(paths)
            + "\n_tb_job "
            + " ".join(shlex.quote(arg) for arg in args)
        )
    return "\n".join(parts)


@dataclass(frozen=True)
class Lock:
    """A lock in the repository, as `restic cat lock` tells it."""

    exclusive: bool
    hostname: str
    pid: int | None
    time: str

    def describe(self) -> str:
        pid = f"PID {self.pid}" if self.pid is not None else "a process"
        return f"{pid} on {self.hostname or '?'} since {self.time or '?'}"


RepoStatus = Literal["ok", "missing", "skipped", "error"]


@dataclass(frozen=True)
class RepoState:
    """The repository as the probe found it: opened (ok), not there (missing), not read
    (skipped: restic, the password or the ssh files are not on the host yet) or not
    opened for another reason (error: `problem` says which)."""

    status: RepoStatus
    problem: Problem | None = None
    newest: int | None = None  # UNIX time of the job's newest snapshot from this host
    locks: tuple[Lock, ...] = ()
    snapshots: int = 0  # how many the job has from this host
    id: str | None = None  # restic's repository id (None: not told)


@dataclass(frozen=True)
class BackupActual:
    """A job on a host: the host's clock (UNIX time), restic's version (None: not
    installed), tendr's folders ("700 root root", "absent"...) and files, the units'
    properties, a failed run's error lines, the repository, and the last check."""

    now: int
    restic: str | None
    folders: dict[str, str]
    files: dict[str, FileActual]
    timer: dict[str, str]
    service: dict[str, str]
    errors: tuple[str, ...]
    repository: RepoState
    checked: int | None = None
    checked_unreadable: bool = False
    # `mountpoint`'s exit status for the job's `mount` ("0": mounted); None: none named.
    mount: str | None = None


_EPOCH = re.compile(r"[0-9]{1,11}")


def _epoch(text: str) -> int | None:
    """A UNIX time written by the host, or None for anything else."""
    return int(text) if _EPOCH.fullmatch(text) else None


def instant(text: Any) -> int | None:
    """restic's RFC 3339 time (nanoseconds, any offset) as a UNIX time."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp())
    except (ValueError, OverflowError, OSError):
        return None


def parse(specs: Sequence[BackupSpec], lines: list[str]) -> dict[str, Any]:
    head: list[str] = []
    blocks: dict[str, list[str]] = {}
    current = head
    for line in lines:
        if line.startswith("@job\t"):
            current = blocks.setdefault(line[len("@job\t") :], [])
        else:
            current.append(line)
    tagged = _tagged(head)
    now = _epoch(_first(tagged, "@now"))
    problem = ""
    if "@nosystemd" in head:
        problem = "systemd is not running on this host: a backup job's timer cannot run here"
    elif "@systemd" not in head or "@restic" not in tagged or now is None:
        problem = "the host's report on its backup jobs is incomplete"
    if problem or now is None:
        return {spec.key: Unreadable(problem) for spec in specs}
    restic = clean(_first(tagged, "@restic")) or None
    folders = {}
    for entry in tagged.get("@dir", []):
        path, _, state = entry.partition("\t")
        words = state.split("\t")
        folders[path] = " ".join([_octal(words[0]), *words[1:]]) if len(words) == 3 else state
    found: dict[str, Any] = {}
    for spec in specs:
        block = blocks.get(spec.name)
        if block is None:
            found[spec.key] = Unreadable(f"the host did not report on backup {spec.name}")
            continue
        found[spec.key] = _job(spec, block, now, restic, folders)
    return found


def _tagged(lines: Sequence[str]) -> dict[str, list[str]]:
    """'@TAG<TAB>VALUE' lines by tag; a bare '@TAG' counts with an empty value."""
    found: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("@"):
            tag_, _, value = line.partition("\t")
            found.setdefault(tag_, []).append(value)
    return found


def _first(tagged: dict[str, list[str]], name: str) -> str:
    return (tagged.get(name) or [""])[0]


def _file_line(line: str) -> FileActual:
    try:
        return parse_line(line)
    except ValueError:  # a size of digits int() does not take: nothing to trust
        return FileActual("unreadable")


def _job(
    spec: BackupSpec, block: list[str], now: int, restic: str | None, folders: dict[str, str]
) -> BackupActual:
    file_lines = []
    rest = []
    in_files = False
    for line in block:
        if line == "@files":
            in_files = True
        elif line.startswith("@"):
            in_files = False
            rest.append(line)
        elif in_files:
            file_lines.append(line)
    tagged = _tagged(rest)
    ids = [name for name, _ in probed_paths(spec)]
    files = {
        name: _file_line(file_lines[i]) if i < len(file_lines) else FileActual("unreadable")
        for i, name in enumerate(ids)
    }
    checked_text = tagged.get("@checked")
    checked = _epoch(checked_text[0].strip()) if checked_text else None
    return BackupActual(
        now=now,
        restic=restic,
        folders=folders,
        files=files,
        timer=_properties(tagged.get("@timer", [])),
        service=_properties(tagged.get("@service", [])),
        errors=tuple(clean(line) for line in tagged.get("@error", [])[-3:] if line.strip()),
        repository=_repository_state(tagged),
        checked=checked,
        checked_unreadable=bool(checked_text) and checked is None,
        mount=_first(tagged, "@mount") if "@mount" in tagged else None,
    )


def _properties(lines: Sequence[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            found[key] = clean(value)
    return found


def _repository_state(tagged: dict[str, list[str]]) -> RepoState:
    status = _first(tagged, "@repo")
    if status == "skipped":
        return RepoState("skipped")
    if not re.fullmatch(r"[0-9]{1,3}", status):
        return RepoState("error", Problem("other", "the host did not report on the repository"))
    output = tagged.get("@out", [])
    if int(status) != 0:
        problem = classify(output, int(status))
        return RepoState("missing" if problem.kind == "missing" else "error", problem)
    times = _snapshot_times(output)
    if times is None:
        unreadable = Problem("other", "restic's list of snapshots could not be read")
        return RepoState("error", unreadable)
    locks = tuple(lock for lock in map(_lock, tagged.get("@lock", [])) if lock is not None)
    found = _first(tagged, "@id")
    return RepoState(
        "ok",
        newest=max(times, default=None),
        locks=locks,
        snapshots=len(times),
        id=found if re.fullmatch("[0-9a-f]{64}", found) else None,
    )


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _snapshot_times(output: Sequence[str]) -> list[int] | None:
    """The times of the snapshots `restic snapshots --json` listed; None when its list
    is not there or not one restic writes."""
    listed = next((_json(line) for line in output if line.startswith("[")), None)
    if not isinstance(listed, list):
        return None
    times = [instant(item.get("time")) for item in listed if isinstance(item, dict)]
    if len(times) != len(listed) or None in times:
        return None
    return [t for t in times if t is not None]


def _lock(text: str) -> Lock | None:
    found = _json(text)
    if not isinstance(found, dict):
        return None  # gone between listing and reading it: a backup that ended
    pid = found.get("pid")
    return Lock(
        exclusive=found.get("exclusive") is True,
        hostname=clean(str(found.get("hostname", "")), 100),
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        time=clean(str(found.get("time", "")), 40),
    )


# -- the plan -----------------------------------------------------------------------

_OWN_FOLDER = "0700 root root"


def _octal(mode: str | None) -> str:
    """A mode as the plan shows modes: four octal digits."""
    return f"{int(mode, 8):04o}" if mode and re.fullmatch("[0-7]{1,4}", mode) else str(mode)


def _when(epoch: int) -> str:
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (ValueError, OverflowError, OSError):
        return f"@{epoch}"


def _age(age: int) -> str:
    if age < 0:
        return "in the future by the host's clock"
    days, rest = divmod(age, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h ago"
    return f"{hours}h {rest // 60}m ago" if hours else f"{rest // 60}m ago"


def _moment(epoch: int, now: int) -> str:
    return f"{_when(epoch)} ({_age(now - epoch)})"


def _change(
    spec: BackupSpec,
    verb: str,
    action: Literal["add", "change", "remove", "unknown"],
    fields: Sequence[FieldChange] = (),
    *,
    note: str = "",
    depends_on: str = "",
) -> Change:
    return Change(
        kind="backup",
        resource=spec.name,
        op=f"backup.{verb}",
        action=action,
        fields=tuple(fields),
        note=note,
        depends_on=depends_on,
    )


def diff(spec: BackupSpec, actual: BackupActual | Unreadable, context: Context) -> list[Change]:
    if isinstance(actual, Unreadable):
        return unknown(spec, actual)
    if not spec.present:
        return _remove(spec, actual)
    if spec.mount is not None and actual.mount != "0":
        return [_unmounted(spec, actual.mount)]
    changes: list[Change] = []
    configure = _configure(spec, actual, context)
    if configure is not None:
        changes.append(configure)
    repository, usable = _repository(spec, actual, configure, seen(spec, context))
    changes += repository
    if usable:
        earlier = changes[-1] if changes else None
        changes += _run(spec, actual, earlier)
        changes += _check(spec, actual, earlier)
    # The host's words (restic's, the journal's) never carry a secret into a plan.
    return [replace(c, note=_scrub(c.note, spec, context)) for c in changes]


# -- what tendr remembers of a repository, and a job's disk not mounted


def remember(spec: BackupSpec, actual: BackupActual | Unreadable) -> dict[str, Any] | None:
    """What a plan keeps of the job's repository when it opened (the drift history holds
    it per host and job): where, restic's id, how many snapshots, the newest."""
    if isinstance(actual, Unreadable) or actual.repository.status != "ok":
        return None
    repo = actual.repository
    return {
        "repository": spec.repository,
        "id": repo.id,
        "snapshots": repo.snapshots,
        "newest": repo.newest,
    }


def seen(spec: BackupSpec, context: Context) -> dict[str, Any] | None:
    """What an earlier plan found of the job's repository, where it is declared now; None:
    never seen there (a new job, or one whose repository moved in the state)."""
    found = context.seen.get(f"backup:{spec.key}")
    if isinstance(found, dict) and found.get("repository") == spec.repository:
        return found
    return None


def held(before: dict[str, Any]) -> str:
    """What a repository held when last seen: "14 snapshots, newest 2026-12-01 03:00 UTC"."""
    count = before.get("snapshots")
    newest = before.get("newest")
    if not isinstance(count, int) or isinstance(count, bool):
        return "snapshots not counted"
    if count == 0:
        return "no snapshot yet"
    text = f"{count} snapshot{'s' if count != 1 else ''}"
    return text + (f", newest {_when(newest)}" if isinstance(newest, int) else "")


def _unmounted(spec: BackupSpec, status: str | None) -> Change:
    assert spec.mount is not None
    if status == "127":
        why = f"whether {spec.mount} is mounted cannot be told: mountpoint (util-linux) is missing"
    else:
        why = f"{spec.mount} is not mounted"
    note = (
        f"{why}: the repository at {spec.repository} cannot be seen, and nothing is written "
        "for the job (no restic init on the disk underneath, no run) until it is"
    )
    return _change(spec, "read", "unknown", note=note)


# -- configure: restic, folders, files, timer


def _configure(spec: BackupSpec, actual: BackupActual, context: Context) -> Change | None:
    fields: list[FieldChange] = []
    notes: list[str] = []
    if actual.restic is None:
        fields.append(FieldChange("restic", "not installed", "installed"))
    for name, folder in zip(("config_folder", "state_folder"), FOLDERS, strict=True):
        state = actual.folders.get(folder, "unreadable")
        if state != _OWN_FOLDER:
            fields.append(FieldChange(name, state, _OWN_FOLDER, label=f"folder {folder}"))
    for job_file in job_files(spec):
        have = actual.files[job_file.id]
        if job_file.secret is not None:
            found, note = _secret_fields(job_file, job_file.secret, have, context)
            fields += found
            notes += [note] if note else []
            continue
        for change in diff_file(
            job_file.path,
            job_file.content,
            job_file.mode,
            "root",
            "root",
            have,
            op="backup.configure",
            kind="backup",
        ):
            fields += [
                FieldChange(
                    f"{job_file.id}_{f.name}", f.before, f.after, label=f"{job_file.label} {f.name}"
                )
                for f in change.fields
            ]
    stale = _stale(spec, actual)
    if stale:
        fields.append(FieldChange("stale_files", stale, None, label="files of an sftp repository"))
    timer = _timer_state(actual)
    if timer != "enabled, active":
        fields.append(FieldChange("timer", timer, "enabled, active"))
    if not fields:
        return None
    new = all(actual.files[i].type == "absent" for i in ("script", "service_unit", "timer_unit"))
    return _change(spec, "configure", "add" if new else "change", fields, note="; ".join(notes))


def _secret_fields(
    job_file: JobFile, ref: SecretRef, have: FileActual, context: Context
) -> tuple[list[FieldChange], str]:
    """A secret file's fields: its content only as "differs" (compared by hash, never
    shown), then its mode and owner; "unknown" when the secret was not provided."""
    name, label = job_file.id, job_file.label
    data = secret_content(ref, context, key=job_file.id == "ssh_key")
    before: Any = None if have.type == "absent" else HIDDEN
    if have.type in ("link", "other", "unreadable"):
        before = f"a {have.type}" if have.type != "unreadable" else "unreadable"
    fields: list[FieldChange] = []
    note = ""
    if data is None:
        fields.append(FieldChange(name, before, "unknown", label=label))
        note = (
            f"the {label} ({ref.describe()}) was not available to tendr: it can be neither "
            "compared nor written"
        )
    elif have.type != "file" or have.sha256 != hashlib.sha256(data).hexdigest():
        fields.append(FieldChange(name, before, dict(HIDDEN), label=label))
    if have.type == "file":
        if have.mode is None or int(have.mode, 8) != int(job_file.mode, 8):
            fields.append(
                FieldChange(f"{name}_mode", _octal(have.mode), job_file.mode, label=f"{label} mode")
            )
        for what, value in (("owner", have.owner), ("group", have.group)):
            if value != "root":
                fields.append(FieldChange(f"{name}_{what}", value, "root", label=f"{label} {what}"))
    return fields, note


def _stale(spec: BackupSpec, actual: BackupActual) -> list[str]:
    """The sftp files left from an earlier sftp repository of a job now local."""
    if sftp_parts(spec.repository) is not None:
        return []
    paths = dict(probed_paths(spec))
    return [paths[i] for i in ("ssh_key", "known_hosts") if actual.files[i].type != "absent"]


def _timer_state(actual: BackupActual) -> str:
    if actual.timer.get("LoadState", "not-found") in ("not-found", ""):
        return "not installed"
    enabled = actual.timer.get("UnitFileState") or "unknown"
    return f"{enabled}, {actual.timer.get('ActiveState') or 'unknown'}"


# -- init: the repository, never over one that exists


def _touched(change: Change | None, *ids: str) -> list[str]:
    """Which of the files `ids` a configure change writes."""
    if change is None:
        return []
    names = {f.name for f in change.fields}
    return [i for i in ids if any(n == i or n.startswith(f"{i}_") for n in names)]


def _repository(
    spec: BackupSpec,
    actual: BackupActual,
    configure: Change | None,
    seen_before: dict[str, Any] | None,
) -> tuple[list[Change], bool]:
    """The repository's change, and whether runs and checks can be planned after it."""
    repo = actual.repository
    name = spec.name
    where = mask_credentials(spec.repository)
    if repo.status == "missing" and seen_before is not None:
        # Seen here before: a disk not mounted or a folder moved, not a job to start
        # afresh. Only `tendr do backup.init` starts a new repository over it.
        note = (
            f"{where}: repository missing: it held {held(seen_before)}; is its disk mounted? "
            f"(to start a new, empty one instead: tendr do backup.init {name})"
        )
        return [_change(spec, "read", "unknown", note=note)], False
    if repo.status == "skipped" and seen_before is not None:
        return [], True  # read again once configure wrote its files; never made anew here
    if repo.status in ("skipped", "missing"):
        if repo.status == "skipped":
            before = "not known yet"
            depends = f"backup.configure {name} ({_unread(spec, actual)})"
        else:
            before = "not initialised"
            depends = f"backup.configure {name} (its files are written first)" if configure else ""
        note = (
            f"restic init at {where}; where a repository exists already and opens with the "
            "password it is kept, and any other found there fails the step"
        )
        field_ = FieldChange("repository", before, "initialised")
        return [_change(spec, "init", "add", [field_], note=note, depends_on=depends)], True
    if repo.status == "error":
        assert repo.problem is not None
        note = f"{where}: {repo.problem.message}"
        known = (
            replace(configure, fields=tuple(f for f in configure.fields if f.after != "unknown"))
            if configure
            else None
        )
        rewritten = _touched(known, "password", "ssh_key", "known_hosts")
        if rewritten:
            files = " and ".join(f.replace("_", " ") for f in rewritten)
            verb = "differs" if len(rewritten) == 1 else "differ"
            note += (
                f"; the host's {files} {verb} from the workspace's: plan again once "
                "backup.configure has written them"
            )
        if failure := _last_failure(actual):
            note += f"; {failure}"
        return [_change(spec, "read", "unknown", note=note)], False
    exclusive = [lock for lock in repo.locks if lock.exclusive]
    if exclusive:
        note = (
            f"{where}: the repository is locked exclusively by {exclusive[0].describe()} "
            "(another restic is running, a prune or a check, or a stale lock: restic "
            "unlock); backups and checks fail until it is gone"
        )
        return [_change(spec, "read", "unknown", note=note)], False
    return [], True


def _unread(spec: BackupSpec, actual: BackupActual) -> str:
    """Why the probe did not read the repository: what configure brings first."""
    missing = []
    sftp = sftp_parts(spec.repository) is not None
    if actual.restic is None:
        missing.append("restic is installed")
    if actual.files["password"].type != "file":
        missing.append("the password file is written")
    elif sftp and any(actual.files[i].type != "file" for i in ("ssh_key", "known_hosts")):
        missing.append("the ssh key and host key files are written")
    return " and ".join(missing or ["its files are written"]) + " first"


# -- run: a snapshot fresh enough, a last run that did not fail


def _last_failure(actual: BackupActual) -> str:
    """Why the service's last run failed, with when; "" when it did not fail."""
    result = actual.service.get("Result", "success") or "success"
    if result == "success" and actual.service.get("ActiveState") != "failed":
        return ""
    status = actual.service.get("ExecMainStatus", "")
    at = actual.service.get("ExecMainExitTimestamp", "")
    how = f"exit status {status}" if status not in ("", "0") else result
    if status == "3":
        reason = "restic made the snapshot, but some source files could not be read"
    elif actual.errors:
        reason = classify(actual.errors).message
    else:
        reason = "the journal keeps no error line of it"
    return f"the last run failed{' at ' + at if at else ''} ({how}): {reason}"


def _run(spec: BackupSpec, actual: BackupActual, earlier: Change | None) -> list[Change]:
    repo = actual.repository
    fields: list[FieldChange] = []
    label = "newest snapshot"
    if repo.status == "skipped":
        fields.append(FieldChange("newest_snapshot", "not known yet", "now", label=label))
    elif repo.status == "missing" or repo.newest is None:
        fields.append(FieldChange("newest_snapshot", "none", "now", label=label))
    elif spec.max_age is not None and actual.now - repo.newest > seconds(spec.max_age):
        before = f"{_moment(repo.newest, actual.now)}, over {spec.max_age}"
        fields.append(FieldChange("newest_snapshot", before, "now", label=label))
    failure = _last_failure(actual)
    if failure:
        fields.append(FieldChange("last_run", "failed", "succeeded", label="last run"))
    if not fields:
        return []
    notes = [failure] if failure else []
    if actual.service.get("ActiveState") in ("activating", "reloading"):
        notes.append("a run is underway now: apply waits for it")
    notes.append("apply runs the job now and waits for it to end")
    return [
        _change(
            spec,
            "run",
            "change",
            fields,
            note="; ".join(notes),
            depends_on=_after(spec, earlier),
        )
    ]


def _after(spec: BackupSpec, earlier: Change | None) -> str:
    """What a run or a check waits for: the repository made, or the job's files."""
    if earlier is None or earlier.resource != spec.name:
        return ""
    if earlier.op == "backup.init":
        return f"backup.init {spec.name} (the repository is made first)"
    if earlier.op == "backup.configure":
        return f"backup.configure {spec.name} (the job's files are written first)"
    return ""


# -- check: restic check passed recently enough


def _check(spec: BackupSpec, actual: BackupActual, earlier: Change | None) -> list[Change]:
    if spec.check_every is None:
        return []
    last = actual.checked
    if last is not None and actual.now - last <= seconds(spec.check_every):
        return []
    if actual.checked_unreadable:
        before = "unreadable"
    elif last is None:
        before = "never"
    else:
        before = f"{_moment(last, actual.now)}, over {spec.check_every}"
    return [
        _change(
            spec,
            "check",
            "change",
            [FieldChange("last_check", before, "now", label="last check")],
            note=f"restic check --read-data-subset={CHECK_SUBSET}",
            depends_on=_after(spec, earlier),
        )
    ]


# -- remove: the timer, the service and tendr's files; never the repository


def _remove(spec: BackupSpec, actual: BackupActual) -> list[Change]:
    there = [path for name, path in probed_paths(spec) if actual.files[name].type != "absent"]
    if not there and _timer_state(actual) == "not installed":
        return []
    note = (
        f"stops and removes {unit_name(spec)}.timer and .service"
        + (f", and {', '.join(there)}" if there else "")
        + f"; the repository at {mask_credentials(spec.repository)} and its snapshots are "
        "left alone"
    )
    return [_change(spec, "remove", "remove", [FieldChange("exists", True, False)], note=note)]


# -- steps --------------------------------------------------------------------------

# `r ARGS`: restic on the repository $repo with the password file $pw, over the sftp
# command $sftp when there is one; the script it goes in sets the three.
RESTIC_FUNCTION = shell_script("tendr.kinds", "backup-restic")

# $1 repository, $2 password file, $3 sftp command ("" for a local repository), then the
# step's own: `r` runs restic on it; `fail WHAT OUTPUT STATUS` says what failed and why.
_RESTIC = shell_classify() + shell_script("tendr.kinds", "backup-restic-step") + RESTIC_FUNCTION

# Make the repository, never over one there ($4 the mount it lives on, $5 "new" for
# `tendr do backup.init`): tendr/kinds/sh/backup-init.sh.
INIT = _RESTIC + shell_script("tendr.kinds", "backup-init")

# make_folders FOLDER...: each made root's and 0700 where missing (the folders above
# it: 0755), in folders only root can change.
MAKE_FOLDERS = shell_script("tendr.kinds", "backup-folders")
FOLDERS_SCRIPT = SAFE_FOLDERS + MAKE_FOLDERS + 'make_folders "$@"'

# restic check reading $5 (--read-data-subset=...), then its time in $4 (the check's
# file), by rename: written only when the check passed.
CHECK_SCRIPT = SAFE_FOLDERS + MAKE_FOLDERS + _RESTIC + shell_script("tendr.kinds", "backup-check")

# $1 the units' name: start the service and wait for its end; when it fails, its error
# lines from the journal and what they mean.
RUN = shell_classify() + shell_script("tendr.kinds", "backup-run")

# $1 the units' name, then the job's files: the timer and the service stopped and
# gone, the files removed; the repository is not touched.
REMOVE = shell_script("tendr.kinds", "backup-remove")

_FAIL = 'echo "tendr: $1" >&2; exit 1'
# The after of `tendr do backup.init`'s repository field: a new repository, started over
# deliberately where none opens, never kept in place of one that does.
NEW = "a new, empty one"


def steps(spec: BackupSpec, change: Change, context: Context) -> list[Step]:
    verb = change.op.partition(".")[2]
    unit = unit_name(spec)
    if verb == "configure":
        return _configure_steps(spec, change, context)
    if verb == "init":
        mode = "new" if change.after().get("repository") == NEW else ""
        init = ("sh", "-c", INIT, "sh", *restic_args(spec), spec.mount or "", mode)
        return [Run(init, f"initialise the repository of backup {spec.name}")]
    if verb == "run":
        return [Run(("sh", "-c", RUN, "sh", unit), f"run backup {spec.name}")]
    if verb == "check":
        subset = f"--read-data-subset={CHECK_SUBSET}"
        check = ("sh", "-c", CHECK_SCRIPT, "sh", *restic_args(spec), checked_path(spec), subset)
        return [Run(check, f"check the repository of backup {spec.name}")]
    if verb == "remove":
        paths = [path for _, path in probed_paths(spec)]
        return [Run(("sh", "-c", REMOVE, "sh", unit, *paths), f"remove backup {spec.name}")]
    return []


def _configure_steps(spec: BackupSpec, change: Change, context: Context) -> list[Step]:
    files = job_files(spec)
    written = _touched(change, *(f.id for f in files))
    found: list[Step] = []
    puts: list[Step] = []
    for job_file in files:
        if job_file.id not in written:
            continue
        content = job_file.content
        if job_file.secret is not None:
            content = secret_content(job_file.secret, context, key=job_file.id == "ssh_key")
        if content is None:  # refused before anything is changed
            assert job_file.secret is not None
            why = (
                f"the {job_file.label} ({job_file.secret.describe()}) was not available to "
                f"tendr, so backup {spec.name} was not configured"
            )
            return [Run(("sh", "-c", _FAIL, "sh", why), why)]
        puts.append(Put(job_file.path, content, job_file.mode, "root", "root"))
    if "restic" in {f.name for f in change.fields}:
        install = Change("package", "restic", "package.install", "add")
        found += package_steps(PackageSpec(name="restic"), install, context)
    found.append(Run(("sh", "-c", FOLDERS_SCRIPT, "sh", *FOLDERS), "tendr's backup folders"))
    found += puts
    stale = change.before().get("stale_files")
    if isinstance(stale, list) and stale:
        found.append(Run(("rm", "-f", "--", *(str(path) for path in stale))))
    timer = f"{unit_name(spec)}.timer"
    if _touched(change, "service_unit", "timer_unit"):
        found.append(Run(("systemctl", "daemon-reload")))
    found.append(Run(("systemctl", "enable", "--now", "--quiet", "--", timer)))
    if change.before().get("timer_unit_content") is not None:
        found.append(Run(("systemctl", "restart", "--", timer)))  # its new schedule
    return found


KIND: Kind[BackupSpec] = Kind(
    "backup",
    BackupSpec,
    probe,
    parse,
    diff,
    steps,
    references,
    verbs=("configure", "init", "run", "check", "remove"),
    secrets=secrets,
    remember=remember,
)
