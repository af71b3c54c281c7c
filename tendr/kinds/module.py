"""The kernel module kind (a driver): loaded, loaded at boot, options, blacklisted.

tendr keeps a module's persistent configuration in two files of its own, whose whole
content is what the state declares: /etc/modules-load.d/tendr-NAME.conf (loaded at
boot) and /etc/modprobe.d/tendr-NAME.conf (its blacklist and options). Whether it is
loaded now comes from /proc/modules, or /sys/module for one built into the kernel.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from pydantic import field_validator, model_validator

from tendr.base.changes import Change, FieldChange, Put, Run, Step, Unreadable
from tendr.base.names import ModuleName, OptionName, PackageName
from tendr.base.scripts import script
from tendr.kinds.base import ResourceSpec
from tendr.kinds.file import FileActual, parse_line, probe_paths
from tendr.kinds.kind import Context, Kind, OnDemand, unknown


class ModuleSpec(ResourceSpec):
    """A kernel module.

    ```toml
    [[module]]
    name = "usb_storage"
    blacklisted = true            # /etc/modprobe.d/tendr-usb_storage.conf

    [[module]]
    name = "snd_hda_intel"
    at_boot = true                # /etc/modules-load.d/tendr-snd_hda_intel.conf
    options = { power_save = 1 }  # options in modprobe.d
    ```
    """

    kind: ClassVar[str] = "module"
    identity: ClassVar[str] = "name"

    name: ModuleName
    """The kernel module's name, such as "usb_storage"."""
    loaded: bool | None = None
    """true: loaded now (modprobe); false: unloaded. Unset: left alone."""
    at_boot: bool | None = None
    """true: loaded at every boot (/etc/modules-load.d); false: tendr's file there is
    removed. Unset: left alone."""
    options: dict[OptionName, str | int | bool] = {}
    """Module parameters, written as `options` in /etc/modprobe.d, such as
    { power_save = 1 }; they take effect when the module is next loaded."""
    blacklisted: bool | None = None
    """true: never loaded automatically (`blacklist` in /etc/modprobe.d). Unset, and no
    options: tendr's modprobe.d file is left alone."""
    packages: list[PackageName] = []
    """Packages that provide the module (op `driver.install`), installed first."""

    @field_validator("name")
    @classmethod
    def _kernel_name(cls, value: str) -> str:
        """modprobe treats '-' and '_' alike and the kernel writes '_': one module has one
        name here, so `snd-dummy` and `snd_dummy` are the same resource."""
        return value.replace("-", "_")

    @model_validator(mode="after")
    def _consistent(self) -> ModuleSpec:
        if self.blacklisted and (self.loaded or self.at_boot):
            raise ValueError("a blacklisted module cannot also be loaded or loaded at boot")
        for key, value in self.options.items():
            if (
                isinstance(value, str)
                and not value.replace("_", "")
                .replace("-", "")
                .replace(",", "")
                .replace(".", "")
                .isalnum()
            ):
                raise ValueError(f"option {key} = {value!r}: use letters, digits and _ - , . only")
        return self


# -- facts, diff and steps -------------------------------------------------------

LOAD_DIR = "/etc/modules-load.d"
MODPROBE_DIR = "/etc/modprobe.d"
CONTAINER = (
    "this host is a container: it shares its host's kernel, so whether the module is "
    "loaded cannot be verified or changed here (its configuration files are still managed)"
)
NO_MODULES = (
    "this host's kernel cannot load modules (no /proc/modules), so whether the module is "
    "loaded cannot be verified or changed here (its configuration files are still managed)"
)


def kernel_name(name: str) -> str:
    """The name the kernel lists a module by: modprobe treats '-' and '_' alike, the
    kernel writes '_'."""
    return name.replace("-", "_")


def boot_path(spec: ModuleSpec) -> str:
    return f"{LOAD_DIR}/tendr-{kernel_name(spec.name)}.conf"


def modprobe_path(spec: ModuleSpec) -> str:
    return f"{MODPROBE_DIR}/tendr-{kernel_name(spec.name)}.conf"


def boot_content(spec: ModuleSpec) -> bytes:
    return f"{kernel_name(spec.name)}\n".encode()


def _parameter(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"  # the kernel's bool parameters take 1 and 0
    return str(value)


def options_text(options: dict[str, str | int | bool]) -> str:
    return " ".join(f"{key}={_parameter(value)}" for key, value in sorted(options.items()))


def modprobe_lines(spec: ModuleSpec) -> list[str]:
    """The lines of tendr's modprobe.d file the state asks for (none: no file)."""
    name = kernel_name(spec.name)
    lines = [f"blacklist {name}"] if spec.blacklisted else []
    if spec.options:
        lines.append(f"options {name} {options_text(spec.options)}")
    return lines


@dataclass(frozen=True)
class ModuleActual:
    """A module on the host: why its loaded state cannot be known here ("" when it
    can), that state ("loaded", "builtin", "absent"), tendr's two files (the modprobe.d
    one's lines too), and the other files that load it at boot or blacklist it."""

    unloadable: str
    state: str
    boot_file: FileActual
    modprobe_file: FileActual
    modprobe_lines: tuple[str, ...] = ()
    at_boot_in: tuple[str, ...] = ()
    blacklisted_in: tuple[str, ...] = ()


# Whether the kernel loads modules, then per module tendr_module_state NAME and
# tendr_module_files REGEX BOOT CONF (tendr/kinds/sh/module-probe.sh) around the probe
# lines of tendr's two files for it.
_PROBE = script("tendr.kinds", "module-probe")


def probe(specs: Sequence[ModuleSpec]) -> str:
    parts = [_PROBE]
    for spec in specs:
        # A regex of the kernel's name that takes '-' for '_' anywhere, as modprobe does.
        pattern = kernel_name(spec.name).replace("_", "[-_]")
        parts.append(
            f"tendr_module_state {shlex.quote(kernel_name(spec.name))}; "
            + probe_paths([boot_path(spec), modprobe_path(spec)])
            + "; "
            + shlex.join(["tendr_module_files", pattern, boot_path(spec), modprobe_path(spec)])
        )
    return "\n".join(parts)


def parse(specs: Sequence[ModuleSpec], lines: list[str]) -> dict[str, Any]:
    unloadable = {"@container": CONTAINER, "@nomodules": NO_MODULES}.get(
        lines[0] if lines else "", ""
    )
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines[1:]:
        if line.startswith("M\t"):
            current = blocks.setdefault(line[2:], [])
        elif current is not None:
            current.append(line)
    found: dict[str, Any] = {}
    for spec in specs:
        block = blocks.get(kernel_name(spec.name))
        if not lines or block is None or len(block) < 3 or not block[0].startswith("S\t"):
            found[spec.key] = Unreadable(f"the host did not report on module {spec.name}")
            continue
        tagged = block[3:]
        found[spec.key] = ModuleActual(
            unloadable=unloadable,
            state=block[0][2:],
            boot_file=parse_line(block[1]),
            modprobe_file=parse_line(block[2]),
            modprobe_lines=tuple(line[2:] for line in tagged if line.startswith("C\t")),
            at_boot_in=tuple(line[2:] for line in tagged if line.startswith("B\t")),
            blacklisted_in=tuple(line[2:] for line in tagged if line.startswith("X\t")),
        )
    return found


def diff(spec: ModuleSpec, actual: ModuleActual | Unreadable, context: Context) -> list[Change]:
    if isinstance(actual, Unreadable):
        return unknown(spec, actual)
    configure = _configure(spec, actual)
    # Its changes wait on the packages the module comes in; loading, on its files too.
    installs = context.ids("driver.install", "package.install", of=spec.packages)
    loaded = [
        c if c.action == "unknown" else replace(c, needs=installs + tuple(e.id for e in configure))
        for c in _loaded(spec, actual)
    ]
    return [replace(c, needs=installs) for c in configure] + _elsewhere(spec, actual) + loaded


def _own_file(actual: FileActual) -> bool:
    """Whether a file is as tendr writes it: a regular file, root's, 0644."""
    return actual.type == "file" and (actual.mode, actual.owner, actual.group) == (
        "644",
        "root",
        "root",
    )


def _configure(spec: ModuleSpec, actual: ModuleActual) -> list[Change]:
    fields: list[FieldChange] = []
    if spec.at_boot is not None:
        has = actual.boot_file.type != "absent"
        right = not spec.at_boot or (
            _own_file(actual.boot_file)
            and actual.boot_file.sha256 == hashlib.sha256(boot_content(spec)).hexdigest()
        )
        if has != spec.at_boot or actual.boot_file.type not in ("file", "absent"):
            fields.append(
                FieldChange("at_boot", _boot_state(actual), spec.at_boot, label="at boot")
            )
        elif not right:  # edited by hand, or another mode or owner
            fields.append(
                FieldChange("boot_file", "differs", "as declared", label="modules-load.d file")
            )
    if spec.blacklisted is not None or spec.options:
        fields += _modprobe_fields(spec, actual)
    if not fields:
        return []
    note = ""
    if spec.options and actual.state == "loaded" and any(f.name == "options" for f in fields):
        note = "the options take effect when the module is next loaded (it is loaded now)"
    return [
        Change(
            kind="module",
            resource=spec.name,
            op="module.configure",
            action="change",
            fields=tuple(fields),
            note=note,
        )
    ]


def _boot_state(actual: ModuleActual) -> bool | str:
    if actual.boot_file.type == "absent":
        return False
    if actual.boot_file.type == "file":
        return True
    return f"{actual.boot_file.type} at the file's place"


def _modprobe_fields(spec: ModuleSpec, actual: ModuleActual) -> list[FieldChange]:
    wanted = modprobe_lines(spec)
    have = list(actual.modprobe_lines)
    name = kernel_name(spec.name)
    fields: list[FieldChange] = []
    if spec.blacklisted is not None and (f"blacklist {name}" in have) != spec.blacklisted:
        fields.append(FieldChange("blacklisted", f"blacklist {name}" in have, spec.blacklisted))
    prefix = f"options {name} "
    had = next((line[len(prefix) :] for line in have if line.startswith(prefix)), "")
    if spec.options and had != options_text(spec.options):
        fields.append(FieldChange("options", had or None, options_text(spec.options)))
    file = actual.modprobe_file
    if not fields and (have != wanted or (wanted and not _own_file(file))):
        # Edited by hand, or another mode or owner: tendr's file holds what the state says.
        fields.append(
            FieldChange("modprobe_file", "differs", "as declared", label="modprobe.d file")
        )
    return fields


def _elsewhere(spec: ModuleSpec, actual: ModuleActual) -> list[Change]:
    """What other files do that tendr's cannot undo: said, never edited."""
    found = []
    if spec.at_boot is False and actual.at_boot_in:
        found.append(f"it is loaded at boot by {', '.join(actual.at_boot_in)}")
    if spec.blacklisted is False and actual.blacklisted_in:
        found.append(f"it is blacklisted by {', '.join(actual.blacklisted_in)}")
    if not found:
        return []
    reason = "; ".join(found) + ", which tendr does not edit: change that file by hand"
    return unknown(spec, Unreadable(reason))


def _loaded(spec: ModuleSpec, actual: ModuleActual) -> list[Change]:
    if spec.loaded is None:
        return []
    if actual.state == "builtin":
        if spec.loaded:
            return []
        return unknown(spec, Unreadable("it is built into the kernel: it cannot be unloaded"))
    if actual.unloadable:
        return unknown(spec, Unreadable(actual.unloadable))
    loaded = actual.state == "loaded"
    if loaded == spec.loaded:
        return []
    op = "module.load" if spec.loaded else "module.unload"
    return [
        Change(
            kind="module",
            resource=spec.name,
            op=op,
            action="change",
            fields=(FieldChange("loaded", loaded, spec.loaded),),
        )
    ]


def steps(spec: ModuleSpec, change: Change, context: Context) -> list[Step]:
    if change.op == "module.load":
        return [Run(("modprobe", "--", spec.name))]
    if change.op == "module.unload":
        return [Run(("modprobe", "-r", "--", spec.name))]
    found: list[Step] = []
    if spec.at_boot is not None:
        if spec.at_boot:
            found.append(Put(boot_path(spec), boot_content(spec), "0644", "root", "root"))
        else:
            found.append(Run(("rm", "-f", "--", boot_path(spec))))
    if spec.blacklisted is not None or spec.options:
        if lines := modprobe_lines(spec):
            text = "".join(f"{line}\n" for line in lines).encode()
            found.append(Put(modprobe_path(spec), text, "0644", "root", "root"))
        else:
            found.append(Run(("rm", "-f", "--", modprobe_path(spec))))
    return found


def drivers(spec: ModuleSpec) -> list[tuple[str, str]]:
    """The packages the module comes in."""
    return [(f".packages[{i}]", name) for i, name in enumerate(spec.packages)]


def _on_demand(load: bool) -> OnDemand:
    """`tendr do module.load NAME` (or unload)."""

    def build(resource: str) -> tuple[ResourceSpec, tuple[FieldChange, ...]]:
        return ModuleSpec(name=resource), (FieldChange("loaded", None, load),)

    return OnDemand(build)


KIND: Kind[ModuleSpec] = Kind(
    "module",
    ModuleSpec,
    probe,
    parse,
    diff,
    steps,
    title="Kernel modules",
    verbs=("load", "unload", "configure"),
    drivers=drivers,
    on_demand={"module.load": _on_demand(True), "module.unload": _on_demand(False)},
)
