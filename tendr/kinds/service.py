"""The service kind: a systemd unit, its state and its files."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

from pydantic import model_validator

from tendr.base.changes import Change, FieldChange, Put, Run, Step, Unreadable
from tendr.base.names import DropinName, UnitName
from tendr.kinds.base import ResourceSpec
from tendr.kinds.file import FileActual, diff_file, parse_line, probe_paths
from tendr.kinds.kind import Context, Kind, OnDemand, unknown


class ServiceSpec(ResourceSpec):
    """A systemd unit: enabled, running, masked; optionally its unit file and drop-ins.

    ```toml
    [[service]]
    unit = "cups.service"
    enabled = true
    running = true

    [[service]]
    unit = "tendr-hello.service"
    content = "[Service]\\nExecStart=/bin/sleep infinity\\n"   # /etc/systemd/system/UNIT
    dropins = { "10-limits.conf" = "[Service]\\nMemoryMax=200M\\n" }
    restart_on_change = true
    ```
    Leave a field out to leave that aspect of the unit alone.
    """

    kind: ClassVar[str] = "service"
    identity: ClassVar[str] = "unit"

    unit: UnitName
    """The unit's name with its type, such as "cups.service" or "backup.timer"."""
    enabled: bool | None = None
    """true: started at boot (systemctl enable); false: not (disable). Unset: left alone."""
    running: bool | None = None
    """true: started now; false: stopped. Unset: left alone."""
    masked: bool | None = None
    """true: masked, so nothing can start it (then no enabled, running or content);
    false: unmasked. Unset: left alone."""
    content: str | None = None
    """The unit file tendr writes, /etc/systemd/system/UNIT. Unset: the unit's own files
    are left alone."""
    dropins: dict[DropinName, str] = {}
    """Drop-in files by name, written to /etc/systemd/system/UNIT.d/NAME, such as
    { "10-limits.conf" = "[Service]\\nMemoryMax=200M\\n" }."""
    restart_on_change: bool = True
    """Restart a running unit when tendr changes its unit file or drop-ins."""

    @model_validator(mode="after")
    def _consistent(self) -> ServiceSpec:
        if self.masked and (self.enabled or self.running or self.content is not None):
            raise ValueError("a masked unit cannot also be enabled, running or have content")
        return self


# -- facts, diff and steps -------------------------------------------------------

UNIT_DIR = "/etc/systemd/system"
_PROPERTIES = "Id,Names,LoadState,ActiveState,SubState,UnitFileState"
_RUNNING = {"active", "reloading", "activating"}
_ENABLED = {"enabled", "enabled-runtime"}
# What a plan shows as the state of a unit systemd does not know (yet).
NOT_INSTALLED = "not installed"
# Unit-file states where `systemctl enable` has nothing to do.
_CANNOT_ENABLE = {"static", "generated", "transient", "alias", "indirect"}


@dataclass(frozen=True)
class ServiceActual:
    """What systemd reports of a unit, and tendr's files for it."""

    load: str
    active: str
    sub: str
    unit_file_state: str
    unit_file: FileActual
    dropins: dict[str, FileActual]
    # The unit systemd resolves the name to, and all its names (an alias such as
    # sshd.service is ssh.service on Debian); empty where systemd did not say.
    id: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def masked(self) -> bool:
        return self.load == "masked" or self.unit_file_state == "masked"

    @property
    def state(self) -> str:
        return f"{self.active} ({self.sub})"


def unit_path(spec: ServiceSpec) -> str:
    return f"{UNIT_DIR}/{spec.unit}"


def dropin_path(spec: ServiceSpec, name: str) -> str:
    return f"{UNIT_DIR}/{spec.unit}.d/{name}"


def _paths(specs: Sequence[ServiceSpec]) -> list[str]:
    paths = []
    for spec in specs:
        paths.append(unit_path(spec))
        paths.extend(dropin_path(spec, name) for name in spec.dropins)
    return paths


def probe(specs: Sequence[ServiceSpec]) -> str:
    units = " ".join(shlex.quote(spec.unit) for spec in specs)
    # /run/systemd/system exists exactly when systemd is PID 1 (sd_booted(3)).
    return (
        "if [ -d /run/systemd/system ]; then "
        f"systemctl show --no-pager -p {_PROPERTIES} -- {units}; "
        "else echo '@nosystemd'; fi; echo '@files'; " + probe_paths(_paths(specs))
    )


def parse(specs: Sequence[ServiceSpec], lines: list[str]) -> dict[str, Any]:
    split = lines.index("@files") if "@files" in lines else len(lines)
    shown, files = lines[:split], [parse_line(line) for line in lines[split + 1 :]]
    if shown[:1] == ["@nosystemd"]:
        reason = Unreadable("systemd is not running on this host: units cannot be read")
        return {spec.key: reason for spec in specs}
    blocks = _blocks(shown)
    result: dict[str, Any] = {}
    position = 0
    for index, spec in enumerate(specs):
        props = blocks[index] if index < len(blocks) else {}
        if not props.get("LoadState"):
            result[spec.key] = Unreadable(f"systemd did not report on {spec.unit}")
            position += 1 + len(spec.dropins)
            continue
        unit_file = files[position] if position < len(files) else FileActual("unreadable")
        dropins = {
            name: files[position + 1 + offset]
            if position + 1 + offset < len(files)
            else FileActual("unreadable")
            for offset, name in enumerate(spec.dropins)
        }
        position += 1 + len(spec.dropins)
        result[spec.key] = ServiceActual(
            load=props.get("LoadState", "unknown"),
            active=props.get("ActiveState", "unknown"),
            sub=props.get("SubState", "unknown"),
            unit_file_state=props.get("UnitFileState", "") or "none",
            unit_file=unit_file,
            dropins=dropins,
            id=props.get("Id", ""),
            aliases=tuple(sorted(props.get("Names", "").split())),
        )
    return result


def names(spec: ServiceSpec, actual: ServiceActual | Unreadable) -> tuple[str, ...]:
    """The unit as systemd resolves the name, then every name it has: a rule naming an
    alias covers the unit, and two declarations of one unit are one declared twice."""
    if isinstance(actual, Unreadable) or not actual.id:
        return (spec.unit,)
    return (actual.id, *(n for n in actual.aliases if n != actual.id))


def _blocks(lines: list[str]) -> list[dict[str, str]]:
    """`systemctl show` prints one block of KEY=VALUE lines per unit, blank-line separated."""
    blocks: list[dict[str, str]] = [{}]
    for line in lines:
        if not line.strip():
            if blocks[-1]:
                blocks.append({})
            continue
        key, _, value = line.partition("=")
        blocks[-1][key] = value
    return [block for block in blocks if block]


def diff(spec: ServiceSpec, actual: ServiceActual | Unreadable, context: Context) -> list[Change]:
    if isinstance(actual, Unreadable):
        return unknown(spec, actual)
    changes = _mask(spec, actual)
    if spec.masked:
        return changes
    configure = _configure(spec, actual)
    changes += configure
    # Enabling and starting wait on the unit unmasked and its files written, and, for a
    # unit the host does not have, on the planned packages: which one brings a unit
    # shows only once it is installed (a dry run cannot look inside packages not yet
    # downloaded), so naming one would be a guess.
    packages = context.ids("package.install") if actual.load == "not-found" else ()
    needs = tuple(c.id for c in changes) + packages
    changes += _enable(spec, actual, needs)
    changes += _run(spec, actual, needs, bool(configure))
    # Drop-ins alone do not make a unit: only its own file (or a package) does.
    provided = packages or (configure and spec.content is not None) or actual.masked
    if actual.load == "not-found" and not provided and changes:
        note = "the unit does not exist on the host, and nothing in this plan provides it"
        changes = [replace(c, note=note) for c in changes]
    elif packages and not configure:
        note = "the unit may come with one of the planned packages: known only at apply"
        changes = [replace(c, note=c.note or note) for c in changes]
    return changes


def _configure(spec: ServiceSpec, actual: ServiceActual) -> list[Change]:
    fields: list[FieldChange] = []
    action: Literal["add", "change"] = "change"
    if spec.content is not None:
        for change in diff_file(
            unit_path(spec),
            spec.content.encode(),
            "0644",
            "root",
            "root",
            actual.unit_file,
            op="service.configure",
            kind="service",
        ):
            fields += [
                replace(f, name=f"unit_file_{f.name}", label=f"unit file {f.name}")
                for f in change.fields
            ]
            action = "add" if change.action == "add" and actual.load == "not-found" else action
    for name, text in spec.dropins.items():
        for change in diff_file(
            dropin_path(spec, name),
            text.encode(),
            "0644",
            "root",
            "root",
            actual.dropins[name],
            op="service.configure",
            kind="service",
        ):
            fields += [
                replace(f, name=f"dropin_{name}_{f.name}", label=f"drop-in {name} {f.name}")
                for f in change.fields
            ]
    if not fields:
        return []
    return [
        Change(
            kind="service",
            resource=spec.unit,
            op="service.configure",
            action=action,
            fields=tuple(fields),
        )
    ]


def _mask(spec: ServiceSpec, actual: ServiceActual) -> list[Change]:
    # A masked unit wanted enabled, running or with its own file is unmasked first:
    # systemd refuses all three on a masked unit.
    wanted = spec.masked
    if (
        wanted is None
        and actual.masked
        and (spec.enabled or spec.running or spec.content is not None)
    ):
        wanted = False
    if wanted is None or wanted == actual.masked:
        return []
    op = "service.mask" if wanted else "service.unmask"
    note = "" if spec.masked is not None else "it is masked, and systemd refuses a masked unit"
    return [_change(spec, op, FieldChange("masked", actual.masked, wanted), note=note)]


def _change(
    spec: ServiceSpec, op: str, field: FieldChange, *, note: str = "", needs: tuple[str, ...] = ()
) -> Change:
    """A change of one field of the unit's state (masked, enabled, running)."""
    return Change(
        kind="service",
        resource=spec.unit,
        op=op,
        action="change",
        fields=(field,),
        note=note,
        needs=needs,
    )


def _now(actual: ServiceActual, value: str) -> str:
    """A field's value before the change: systemd's own word, except for a unit it does
    not know (its 'inactive (dead)' and 'none' would be states the unit has not got)."""
    return NOT_INSTALLED if actual.load == "not-found" else value


def _enable(spec: ServiceSpec, actual: ServiceActual, needs: tuple[str, ...]) -> list[Change]:
    state = actual.unit_file_state
    if spec.enabled is None or (spec.enabled and (state in _ENABLED or state in _CANNOT_ENABLE)):
        return []
    if not spec.enabled and state not in _ENABLED:
        return []
    op = "service.enable" if spec.enabled else "service.disable"
    enabled = FieldChange("enabled", _now(actual, state), op[8:] + "d")
    return [_change(spec, op, enabled, needs=needs)]


def _run(
    spec: ServiceSpec, actual: ServiceActual, needs: tuple[str, ...], configured: bool
) -> list[Change]:
    running = actual.active in _RUNNING
    if spec.running is not None and spec.running != running:
        op = "service.start" if spec.running else "service.stop"
        after = "active (running)" if spec.running else "inactive (dead)"
        state = FieldChange("state", _now(actual, actual.state), after)
        return [_change(spec, op, state, needs=needs)]
    if configured and running and spec.restart_on_change and spec.running is not False:
        restarted = FieldChange("state", actual.state, "restarted")
        return [
            _change(
                spec,
                "service.restart",
                restarted,
                needs=needs,
                note="its files change, so it restarts to use them",
            )
        ]
    return []


def steps(spec: ServiceSpec, change: Change, context: Context) -> list[Step]:
    if change.op == "service.configure":
        found: list[Step] = []
        if spec.content is not None:
            found.append(Put(unit_path(spec), spec.content.encode(), "0644", "root", "root"))
        for name, text in spec.dropins.items():
            found.append(Put(dropin_path(spec, name), text.encode(), "0644", "root", "root"))
        found.append(Run(("systemctl", "daemon-reload")))
        return found
    verb = change.op.partition(".")[2]
    if verb in ("start", "stop", "restart"):
        return [Run(("systemctl", verb, "--", spec.unit))]
    # A unit enabled for this boot only is disabled the same way.
    runtime = ("--runtime",) if change.before().get("enabled") == "enabled-runtime" else ()
    return [Run(("systemctl", verb, "--quiet", *runtime, "--", spec.unit))]


_STATE = {"start": "active (running)", "stop": "inactive (dead)", "restart": "restarted"}


def _on_demand(verb: str) -> OnDemand:
    """`tendr do service.VERB UNIT`: its state now, or whether it starts at boot."""

    def build(resource: str) -> tuple[ResourceSpec, tuple[FieldChange, ...]]:
        spec = ServiceSpec(unit=resource)
        if verb in _STATE:
            return spec, (FieldChange("state", None, _STATE[verb]),)
        return spec, (FieldChange("enabled", None, f"{verb}d"),)

    return OnDemand(build)


KIND: Kind[ServiceSpec] = Kind(
    "service",
    ServiceSpec,
    probe,
    parse,
    diff,
    steps,
    title="systemd units",
    verbs=("start", "stop", "restart", "enable", "disable", "mask", "unmask", "configure"),
    names=names,
    on_demand={
        f"service.{verb}": _on_demand(verb)
        for verb in ("start", "stop", "restart", "enable", "disable")
    },
)
