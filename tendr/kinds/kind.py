"""The contract every resource kind implements, and the per-host planning context."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from tendr.base.changes import Change, FieldChange, Step, Unreadable
from tendr.kinds.base import ResourceSpec, SecretRef

S = TypeVar("S", bound=ResourceSpec)
T = TypeVar("T")


@dataclass(frozen=True)
class Fact(Generic[T]):
    """One reading of a host, the one way to say "run this, parse that": a shell script
    run as root, its values as arguments ("$1"...), and the parser of the lines it
    printed (its output, then its error output where `errors`). Pure: tendr/ops runs it
    (remote.connect.read). A kind's `probe` and `parse` are the plan's Fact for all the
    kind's resources of a host, composed with the other kinds' into one script."""

    script: str
    parse: Callable[[list[str]], T]
    args: tuple[str, ...] = ()
    errors: bool = False
    timeout: int = 0  # seconds it may take at the least (beyond the settings' timeout)


@dataclass(frozen=True)
class Problem:
    """One thing wrong on a host as `tendr diagnose` says it: its probable cause, and the
    tendr operation that fixes it."""

    area: str  # unit, journal, disk, memory, printer, backup, drift, health
    what: str
    cause: str
    fix: str = ""
    detail: tuple[str, ...] = ()
    # What the problem is about, where `what` carries a count or a share that changes
    # from one reading to the next (a mount point, a queue): `tendr watch` knows a
    # problem again by (host, area, key or what).
    key: str = ""


@dataclass(frozen=True)
class OnDemand:
    """An operation `tendr do` makes on one resource: `build` makes, from the resource's
    name alone, the resource (a stand-in with its kind and name where the state's is
    used) and the fields its change shows. `confirm`, where set, makes it an operation
    made on the resource as a state declares it for each host, and asked first: the
    change with what earlier plans saw there (Context.seen), and the question's line."""

    build: Callable[[str], tuple[ResourceSpec, tuple[FieldChange, ...]]]
    confirm: Callable[[Any, Change, Context], tuple[Change, str]] | None = None


@dataclass(frozen=True)
class Context:
    """What a diff may know besides one resource: earlier changes of the same host plan,
    workspace files already read (a file's `source`), and the secrets resources name
    (a backup's password), keyed as `backup.secret_key` says. A secret is compared by
    its hash and written by a Put, never shown: plan and apply fill `secrets`; a secret
    missing from it is reported as not known, never guessed. `seen`: what earlier plans
    of the host remembered of its resources (`Kind.remember`), by "KIND:KEY", so that
    "not there now" is told from "never there"."""

    earlier: tuple[Change, ...] = ()
    sources: dict[str, bytes] = field(default_factory=dict)
    secrets: dict[str, bytes] = field(default_factory=dict, repr=False)
    seen: dict[str, Any] = field(default_factory=dict)

    def planned(self, op: str) -> list[Change]:
        return [c for c in self.earlier if c.op == op]

    def ids(self, *ops: str, of: Collection[str] | None = None) -> tuple[str, ...]:
        """The earlier changes with one of `ops` (of the resources `of`, where given) that
        apply makes (not `unknown`), by id: what a change may need."""
        return tuple(
            c.id
            for c in self.earlier
            if c.op in ops and c.action != "unknown" and (of is None or c.resource in of)
        )


@dataclass(frozen=True)
class Reference:
    """A workspace file a resource names: where (`source`, `password.file`) and which.
    A secret one is never read into a plan, and never shown."""

    key: str
    path: str
    secret: bool = False


def no_references(spec: Any) -> list[Reference]:
    return []


def no_drivers(spec: Any) -> list[tuple[str, str]]:
    return []


def nothing_to_remember(
    spec: Any, actual: Any, context: Context | None = None
) -> dict[str, Any] | None:
    return None


def no_secrets(spec: Any) -> list[SecretRef]:
    return []


def no_health(specs: Sequence[Any]) -> Fact[list[Problem]] | None:
    return None


def makes_nothing(spec: Any) -> list[tuple[str, str]]:
    return []


def as_declared(spec: Any, actual: Any) -> tuple[str, ...]:
    """The names the host knows a resource by where only the text tells: its own."""
    return (spec.same_key,)


@dataclass(frozen=True)
class Kind(Generic[S]):
    """A resource kind: how to read it (one shell snippet for all resources of the
    kind on a host), parse it, compare it (pure), and change it (pure Steps); and the
    workspace files its resources name."""

    name: str
    spec: type[S]
    probe: Callable[[Sequence[S]], str]
    parse: Callable[[Sequence[S], list[str]], dict[str, Any]]
    diff: Callable[[S, Any, Context], list[Change]]
    steps: Callable[[S, Change, Context], list[Step]]
    references: Callable[[S], list[Reference]] = no_references
    # The steps of several changes with the same operation made together, where the tool
    # does that better (one apt run for many packages); None: one change at a time.
    batch: Callable[[Sequence[tuple[S, Change]], Context], list[Step]] | None = None
    # What a plan keeps of a resource's facts (JSON values) for later plans' Context.seen,
    # given what earlier plans kept (the context's `seen`: when an update was first seen);
    # None: nothing (what was kept before stays).
    remember: Callable[[S, Any, Context], dict[str, Any] | None] = field(
        default=nothing_to_remember, kw_only=True
    )
    # What its resources are, in a few words (the state file's [[KIND]] tables).
    title: str = field(kw_only=True)
    # The operations (KIND.VERB) its changes carry, which rules may name; nothing else.
    verbs: tuple[str, ...] = field(kw_only=True)
    # The packages a resource needs installed first (`driver.install`), each with where
    # the resource names it, relative to the resource's key path ("", ".packages[0]").
    drivers: Callable[[S], list[tuple[str, str]]] = field(default=no_drivers, kw_only=True)
    # The secrets a resource's steps write (and its diff compares by hash), which plan and
    # apply put in Context.secrets by SecretRef.key.
    secrets: Callable[[S], list[SecretRef]] = field(default=no_secrets, kw_only=True)
    # The names the host knows a resource by, from its facts: its identity there first
    # (the unit an alias names, a path with its folders' links resolved), then the
    # other names a rule naming any of them covers (a unit's aliases). Two resources
    # of one host with one identity are one resource declared twice.
    names: Callable[[S, Any], tuple[str, ...]] = field(default=as_declared, kw_only=True)
    # The operations `tendr do` makes on one of its resources, by name (KIND.VERB).
    on_demand: Mapping[str, OnDemand] = field(default_factory=dict, kw_only=True)
    # What `tendr diagnose` reads of the host's declared resources besides their drift
    # (whether a printer answers): a Fact whose parser says the problems; None: nothing.
    health: Callable[[Sequence[S]], Fact[list[Problem]] | None] = field(
        default=no_health, kw_only=True
    )
    # The area `tendr diagnose` shows its resources' drift under.
    area: str = field(default="drift", kw_only=True)
    # `tendr backup check`: the Fact that tests a resource can be restored, parsed into
    # (passed, why in one line); None: the kind has none.
    restore_check: Callable[[S], Fact[tuple[bool, str]]] | None = field(default=None, kw_only=True)
    # The resources of other kinds a resource makes, as (kind, name): a backup job's
    # service and timer. They count as declared where the resource is (`tendr do
    # service.restart` on them), and diagnose says their failure under the resource.
    made: Callable[[S], list[tuple[str, str]]] = field(default=makes_nothing, kw_only=True)


def unknown(spec: ResourceSpec, actual: Unreadable) -> list[Change]:
    """The one change a resource gets when its state could not be read."""
    return [
        Change(
            kind=spec.kind,
            resource=spec.key,
            op=f"{spec.kind}.read",
            action="unknown",
            note=actual.reason,
        )
    ]


def workspace_bytes(root: Path, relative: str) -> bytes:
    """A workspace file's bytes (the loader already checked it exists inside the root)."""
    return (root / relative).read_bytes()
