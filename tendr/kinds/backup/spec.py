"""A backup job as a state declares it, and where it lives on a host."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from tendr.base.keys import KEY_REGEX, is_key_line
from tendr.base.model import Strict
from tendr.base.names import AbsolutePath, Duration, anchored, duration_seconds
from tendr.kinds.base import ResourceSpec, SecretRef

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


def made_units(spec: BackupSpec) -> list[tuple[str, str]]:
    """The units tendr makes for the job, as resources of the service kind."""
    return [("service", f"{unit_name(spec)}.{suffix}") for suffix in ("service", "timer")]


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
