"""Pure data shared by every kind: what differs (Change) and how to fix it (Step).

Kinds produce Changes from desired state and facts, and Steps from Changes;
only tendr/apply.py turns Steps into pyinfra operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["add", "change", "remove", "unknown"]
Outcome = Literal["done", "failed", "refused", "skipped", "interrupted"]
SIGNS: dict[Action, str] = {"add": "+", "change": "~", "remove": "-", "unknown": "?"}
WAITS = "waits on "  # how the reason of a change not run for one it needs begins


@dataclass(frozen=True)
class FieldChange:
    """One field of a resource, before and after (secrets already masked). `name` is its
    key in JSON and the audit log (snake_case, no spaces); `label` the words a plan's
    text shows, when they differ from the name."""

    name: str
    before: Any
    after: Any
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.name

    def text(self) -> str:
        """`title: before → after` as plans and diagnose show it (not escaped); a content
        hidden on both sides only differs, nothing more."""
        if self.before == HIDDEN and self.after == HIDDEN:
            return f"{self.title}: differs (not world-readable: no hash or size shown)"
        return f"{self.title}: {shown_value(self.before)} → {shown_value(self.after)}"


# A file's content, where the plan may not show its hash and size (see `content_value`).
HIDDEN: dict[str, Any] = {"hidden": "not world-readable"}


def shown_value(value: Any) -> str:
    """A field's value as a person reads it: yes/no, (none), a content by size and hash."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value == HIDDEN:
        return "not shown (not world-readable)"
    if isinstance(value, dict) and "sha256" in value:  # JSON has the full hash
        return f"{value['size']} bytes, sha256 {str(value['sha256'])[:12]}"
    return str(value)


def content_value(size: int | None, sha256: str | None, shown: bool) -> dict[str, Any]:
    """A file's content as plans show it: its size and SHA-256 only where the file is (or
    will be) world-readable on the host, else only that it is hidden. Anyone on the host
    may hash a world-readable file anyway; a root-only one's hash would give a short
    secret (a PIN) away to whoever may only plan."""
    return {"size": size, "sha256": sha256} if shown else dict(HIDDEN)


@dataclass(frozen=True)
class Change:
    """One thing to do on one host, named by its operation `KIND.VERB`.

    `needs`: the earlier changes of the same host plan it waits on (each by its `id`):
    the package that brings the unit, the unit file not yet written, CUPS for a queue,
    and what its state's `after` names. Apply makes it only once they all succeeded; a
    dry run cannot know the outcome of what hangs on them, and says so. An `unknown`
    change could not be read at all. `pulled`: the selected change that needs this one,
    where a plan of part of the resources (`--only`) pulled it in.
    """

    kind: str
    resource: str
    op: str
    action: Action
    fields: tuple[FieldChange, ...] = ()
    note: str = ""
    needs: tuple[str, ...] = ()
    source: str = ""
    allowed: bool | None = None  # set by the permission rules; None until decided
    rule: str = ""  # the rule that decided, or why none did
    # The resource as the host resolves the name the state gives (a unit alias's unit,
    # a path with the links of its folders resolved), where that differs; the rules
    # decide on it, and on `aliases`, the other names the host knows it by.
    resolved: str = ""
    aliases: tuple[str, ...] = ()
    pulled: str = ""

    @property
    def id(self) -> str:
        """The change as a host plan names it, once: `OP RESOURCE` (each resource has at
        most one change per operation)."""
        return f"{self.op} {self.resource}"

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the host knows the resource by, the state's own first."""
        found = [self.resource, self.resolved, *self.aliases]
        return tuple(dict.fromkeys(n for n in found if n))

    @property
    def sign(self) -> str:
        return SIGNS[self.action]

    @property
    def waiting(self) -> bool:
        """A change read but not to be made now (an update reported only, or waiting for
        its approval or its window): `unknown` under its own operation, where a resource
        that could not be read is `KIND.read`."""
        return self.action == "unknown" and not self.op.endswith(".read")

    def before(self) -> dict[str, Any]:
        return {f.name: f.before for f in self.fields}

    def after(self) -> dict[str, Any]:
        return {f.name: f.after for f in self.fields}


@dataclass(frozen=True)
class Unreadable:
    """The actual state of a resource could not be read; `reason` says why."""

    reason: str


@dataclass(frozen=True)
class Run:
    """Run a command given as an argument vector (quoted when it reaches a shell)."""

    argv: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Put:
    """Write bytes to a path, then set mode and ownership when given."""

    path: str
    content: bytes
    mode: str | None = None
    owner: str | None = None
    group: str | None = None


Step = Run | Put


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[FieldChange, ...]:
    """Only the fields whose desired value is set and differs from the actual one."""
    return tuple(
        FieldChange(name, before.get(name), value)
        for name, value in after.items()
        if value is not None and before.get(name) != value
    )


@dataclass(frozen=True)
class ChangeResult:
    """What became of one change when applied."""

    change: Change
    outcome: Outcome
    reason: str = ""
    recorded: bool = True  # False when the audit log could not take its record


@dataclass
class HostResult:
    """What became of one host's changes; `error` when the host could not be worked on."""

    host: str
    results: list[ChangeResult] = field(default_factory=list)
    error: str | None = None
    code: str | None = None  # the error's code (tendr.base.errors), when it has one

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome == outcome for r in self.results)
