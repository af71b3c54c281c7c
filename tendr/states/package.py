"""The package kind: apt packages present or absent."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from tendr.changes import Change, FieldChange, Run, Step, Unreadable
from tendr.names import PackageName
from tendr.states.base import ResourceSpec
from tendr.states.kind import Context, Kind, unknown


class PackageSpec(ResourceSpec):
    """An apt package.

    ```toml
    [[package]]
    name = "printer-driver-hpcups"
    present = true          # false removes it
    ```
    """

    kind: ClassVar[str] = "package"
    identity: ClassVar[str] = "name"

    name: PackageName
    present: bool = True


# -- facts, diff and steps -------------------------------------------------------

# dpkg-query prints one line per known package; unknown ones go to stderr.
_FORMAT = "${Package}\\t${db:Status-Abbrev}\\t${Version}\\n"


@dataclass(frozen=True)
class PackageActual:
    """What dpkg knows of a package: installed or not, and its version."""

    installed: bool
    version: str = ""


def probe(specs: Sequence[PackageSpec]) -> str:
    names = " ".join(shlex.quote(spec.name) for spec in specs)
    return (
        "if command -v dpkg-query >/dev/null 2>&1; then "
        f"dpkg-query -W -f={shlex.quote(_FORMAT)} {names} 2>/dev/null; "
        "else echo '@nodpkg'; fi"
    )


def parse(specs: Sequence[PackageSpec], lines: list[str]) -> dict[str, Any]:
    if lines[:1] == ["@nodpkg"]:
        reason = Unreadable("no dpkg on this host: apt packages cannot be read")
        return {spec.key: reason for spec in specs}
    known: dict[str, PackageActual] = {}
    for line in lines:
        name, _, rest = line.partition("\t")
        status, _, version = rest.partition("\t")
        known[name] = PackageActual(installed=status[1:2] == "i", version=version)
    return {
        spec.key: known.get(spec.name.split(":")[0], PackageActual(installed=False))
        for spec in specs
    }


def diff(spec: PackageSpec, actual: PackageActual | Unreadable, context: Context) -> list[Change]:
    if isinstance(actual, Unreadable):
        return unknown(spec, actual)
    if spec.present == actual.installed:
        return []
    if spec.present:
        return [Change(kind="package", resource=spec.name, op="package.install", action="add",
                       fields=(FieldChange("installed", False, True),))]
    return [Change(kind="package", resource=spec.name, op="package.remove", action="remove",
                   fields=(FieldChange("installed", True, False),),
                   note=f"version {actual.version} is installed")]


_APT = ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y",
        "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold")


def steps(spec: PackageSpec, change: Change, context: Context) -> list[Step]:
    if change.op == "package.remove":
        return [Run((*_APT, "remove", spec.name), f"remove {spec.name}")]
    install = shlex.join((*_APT, "install", "--no-install-recommends", spec.name))
    update = shlex.join((*_APT, "update"))
    # Install from the lists the host has; refresh them once only if that fails.
    script = f"{install} || {{ {update} && {install}; }}"
    return [Run(("sh", "-c", script), f"install {spec.name}")]


KIND: Kind[PackageSpec] = Kind("package", PackageSpec, probe, parse, diff, steps)
