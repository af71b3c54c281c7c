"""The backup kind: a restic job with its schedule, retention and freshness."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator

from tendr.model import Strict
from tendr.names import AbsolutePath, Duration
from tendr.states.base import ResourceSpec, SecretRef

_JOB = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# A local absolute path, or sftp:USER@HOST:/PATH, as restic takes them.
_REPOSITORY = re.compile(
    r"/[^\x00\n]*|sftp:[a-z_][a-z0-9_-]*@[A-Za-z0-9.-]+:/[A-Za-z0-9._/-]*"
)
# systemd OnCalendar shorthands, or a calendar expression of safe characters.
_SCHEDULE = re.compile(r"hourly|daily|weekly|monthly|[A-Za-z0-9*:/,. -]{1,64}")


class Retention(Strict):
    """How many snapshots `restic forget --prune` keeps, per period."""

    last: int | None = Field(default=None, ge=1)
    hourly: int | None = Field(default=None, ge=1)
    daily: int | None = Field(default=None, ge=1)
    weekly: int | None = Field(default=None, ge=1)
    monthly: int | None = Field(default=None, ge=1)
    yearly: int | None = Field(default=None, ge=1)


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

    name: str
    sources: list[AbsolutePath] = Field(min_length=1)
    excludes: list[str] = []
    repository: str
    password: SecretRef
    schedule: str = "daily"
    keep: Retention = Retention()
    max_age: Duration | None = None
    present: bool = True

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
                f"{value!r} is not a repository: an absolute path or 'sftp:USER@HOST:/PATH'"
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
