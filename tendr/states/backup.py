"""The backup kind: a restic job with its schedule, retention and freshness."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator

from tendr.model import Strict
from tendr.names import AbsolutePath, Duration, anchored
from tendr.states.base import ResourceSpec, SecretRef

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
    present: bool = True
    """true: the job exists; false: it is removed."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _JOB.fullmatch(value):
            raise ValueError(f"{value!r} is not a job name (lower case letters, digits, _ -)")
        return value

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
