"""What every resource kind shares: the spec base and the secret reference."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, field_validator, model_validator

from tendr.base.model import Strict
from tendr.base.names import WorkspacePath


def _waited(item: str) -> str:
    kind, colon, name = item.partition(":")
    if not (colon and kind.isalpha() and kind.islower() and name):
        raise ValueError(f"{item!r} is not KIND:NAME (such as 'service:cups.service')")
    return item


# Checked one by one, so each malformed reference is reported at after[INDEX].
Waited = Annotated[str, AfterValidator(_waited)]


class ResourceSpec(Strict):
    """One resource as a state file declares it.

    `kind` is the TOML array name (`[[service]]`); `identity` names the field
    that identifies the resource on a host, so two files declaring the same
    resource can be compared.
    """

    kind: ClassVar[str]
    identity: ClassVar[str]

    after: tuple[Waited, ...] = Field(default=(), json_schema_extra={"uniqueItems": True})
    """Resources of the same host this one waits on, as "KIND:NAME" ("service:cups.service",
    "file:/etc/app.conf", "package:restic"): its changes are made only once theirs
    succeeded, and are not run when one failed. Each must come earlier in the plan: an
    earlier kind (packages, updates, files, modules, services, printers, backups), or the same
    kind declared before it."""

    @property
    def waits_on(self) -> list[tuple[str, str]]:
        """`after` as (kind, name) pairs."""
        return [(kind, name) for kind, _, name in (item.partition(":") for item in self.after)]

    @property
    def key(self) -> str:
        """The resource's name on the host, e.g. the unit or the path."""
        return str(getattr(self, self.identity))

    @property
    def same_key(self) -> str:
        """The resource's identity as the host sees it, from the text alone: two
        declarations with one `same_key` are one resource on the host however they spell
        it (CUPS queue names are case-insensitive, modprobe reads '-' as '_'). What only
        the host knows (a unit's aliases, a path through a link) is decided at plan."""
        return self.key


class SecretRef(Strict):
    """A reference to a secret: a file in the workspace or an environment variable.

    ```toml
    password = { file = "secrets/acme-restic.pass" }
    password = { env = "ACME_RESTIC_PASSWORD" }
    ```
    """

    file: WorkspacePath | None = None
    """A file in the workspace holding the secret, such as "secrets/acme-restic.pass"
    (keep secrets/ out of git)."""
    env: str | None = None
    """An environment variable holding the secret when tendr runs, such as
    "ACME_RESTIC_PASSWORD"."""

    @model_validator(mode="before")
    @classmethod
    def _not_in_clear(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(
                "a secret is written in clear; reference it instead: "
                '{ file = "secrets/NAME" } or { env = "VARIABLE" }'
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of 'file' or 'env'")
        return self

    @field_validator("env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not value.replace("_", "a").isalnum():
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    def describe(self) -> str:
        """Where the secret comes from, never what it is."""
        return f"file {self.file}" if self.file else f"${self.env}"

    @property
    def key(self) -> str:
        """The secret's key in a plan's or apply's secrets: "file:PATH" (a workspace file)
        or "env:NAME" (an environment variable of tendr's)."""
        return f"file:{self.file}" if self.file is not None else f"env:{self.env}"
