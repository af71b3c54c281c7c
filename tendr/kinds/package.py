"""The package kind: apt packages present or absent."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import model_validator

from tendr.base.changes import Action, Change, FieldChange, Run, Step, Unreadable
from tendr.base.names import PackageName
from tendr.kinds.base import ResourceSpec
from tendr.kinds.kind import Context, Kind, unknown


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
    """The Debian package name, optionally with an architecture ("libc6:amd64")."""
    present: bool = True
    """true: installed; false: removed."""

    @model_validator(mode="after")
    def _not_an_install_in_disguise(self) -> PackageSpec:
        """apt reads 'nano+' in a removal as "install nano": refused where it would be."""
        if not self.present and self.name.split(":")[0].endswith("+"):
            raise ValueError(
                f"{self.name!r} ends in '+', which apt reads as 'install' in a removal"
            )
        return self

    @property
    def same_key(self) -> str:
        """The package whatever architecture is asked: tendr reads (and the rules match)
        `hello:amd64` and `hello` as one package."""
        return self.name.split(":", 1)[0]


class DriverSpec(PackageSpec):
    """A package a printer or a module needs (its `packages`, and CUPS for a printer):
    installed like any package, under the operation `driver.install`. Never read from a
    state file's [[package]]: only the resource that needs it declares it."""


def agree(first: ResourceSpec, other: ResourceSpec) -> bool:
    """Whether two declarations of one resource ask for the same: equal, or the same
    package wanted installed, once as a driver (then the plain package prevails)."""
    if first == other:
        return True
    return (
        isinstance(first, PackageSpec)
        and isinstance(other, PackageSpec)
        and first.same_key == other.same_key
        and first.present
        and other.present
    )


# -- facts, diff and steps -------------------------------------------------------

# dpkg-query prints one line per known package; unknown ones go to stderr.
_FORMAT = "${Package}\\t${db:Status-Abbrev}\\t${Version}\\n"


@dataclass(frozen=True)
class PackageActual:
    """What dpkg knows of a package (installed or not, its version) and whether the
    host's package lists offer it (None: not asked, because it is not wanted)."""

    installed: bool
    version: str = ""
    available: bool | None = None


def probe(specs: Sequence[PackageSpec]) -> str:
    names = " ".join(shlex.quote(spec.name) for spec in specs)
    wanted = " ".join(shlex.quote(spec.name) for spec in specs if spec.present)
    return (
        "if command -v dpkg-query >/dev/null 2>&1; then "
        f"dpkg=$(dpkg-query -W -f={shlex.quote(_FORMAT)} {names} 2>/dev/null); "
        "printf '%s\\n' \"$dpkg\"; echo '@policy'; "
        + _POLICY.format(wanted=wanted)
        + "else echo '@nodpkg'; fi"
    )


# Only for wanted packages dpkg does not list as installed ("?i" status), ask apt
# whether its lists offer them: `apt-cache policy` prints "NAME:" and "  Candidate: V"
# for those it knows, nothing for the others. It costs ~30 ms, so an in-sync host
# never pays it. Names are validated package names, quoted all the same.
_POLICY = (
    'missing=; for p in {wanted}; do case "$(printf \'\\n%s\' "$dpkg")" in '
    '*"$(printf \'\\n%s\\t\' "$p")"?i*) ;; *) missing="$missing $p" ;; esac; done; '
    '[ -z "$missing" ] || apt-cache policy -- $missing 2>/dev/null '
    "| grep -E '^[^ ].*:$|^  Candidate:'; "
)


def parse(specs: Sequence[PackageSpec], lines: list[str]) -> dict[str, Any]:
    if lines[:1] == ["@nodpkg"]:
        reason = Unreadable("no dpkg on this host: apt packages cannot be read")
        return {spec.key: reason for spec in specs}
    split = lines.index("@policy") if "@policy" in lines else len(lines)
    known: dict[str, tuple[bool, str]] = {}
    for line in lines[:split]:
        name, _, rest = line.partition("\t")
        status, _, version = rest.partition("\t")
        if not known.get(name, (False, ""))[0]:  # one installed architecture is enough
            known[name] = (status[1:2] == "i", version)
    candidates = _candidates(lines[split + 1 :])
    found = {}
    for spec in specs:
        name = spec.name.split(":")[0]
        installed, version = known.get(name, (False, ""))
        available = (candidates.get(name, "(none)") != "(none)") if spec.present else None
        found[spec.key] = PackageActual(installed, version, available)
    return found


def _candidates(lines: list[str]) -> dict[str, str]:
    """`apt-cache policy` lines -> {package: candidate version or '(none)'}."""
    result: dict[str, str] = {}
    current = ""
    for line in lines:
        if not line.startswith(" "):
            current = line.rstrip(":").split(":")[0]
        elif line.strip().startswith("Candidate:") and current:
            result[current] = line.split(":", 1)[1].strip()
    return result


def diff(spec: PackageSpec, actual: PackageActual | Unreadable, context: Context) -> list[Change]:
    if isinstance(actual, Unreadable):
        return unknown(spec, actual)
    if spec.present == actual.installed:
        return []
    op = "package.remove"
    if spec.present:
        op = "driver.install" if isinstance(spec, DriverSpec) else "package.install"
    action: Action = "add" if spec.present else "remove"
    if not spec.present:
        note = f"version {actual.version} is installed"
    elif actual.available is False:
        note = (
            "not in the host's package lists now: apply refreshes them (apt-get update) "
            "and fails if the package is still not found"
        )
    else:
        note = ""
    installed = FieldChange("installed", actual.installed, spec.present)
    return [
        Change(
            kind="package",
            resource=spec.name,
            op=op,
            action=action,
            fields=(installed,),
            note=note,
        )
    ]


# apt-get as tendr runs it: no question asked, a changed configuration file kept.
APT = (
    "env",
    "DEBIAN_FRONTEND=noninteractive",
    "apt-get",
    "-q",
    "-y",
    "-o",
    "Dpkg::Options::=--force-confdef",
    "-o",
    "Dpkg::Options::=--force-confold",
)


def steps(spec: PackageSpec, change: Change, context: Context) -> list[Step]:
    return _apt(change.op, [spec.name])


def batch(items: Sequence[tuple[PackageSpec, Change]], context: Context) -> list[Step]:
    """Several installs (or removals) as one apt run: apt resolves them together, and
    dpkg's fixed cost is paid once, not per package."""
    return _apt(items[0][1].op, [spec.name for spec, _ in items])


# apt removes whatever depends on a package it removes, and the plan named only the
# package: a removal that would take anything else is refused, naming what it would take.
_REMOVE = (
    "extra=$(LC_ALL=C apt-get -s remove \"$@\" | awk '/^Remv /{print $2}' | "
    "while read -r p; do p=${p%%:*}; keep=1; "
    'for n in "$@"; do [ "$p" = "${n%%:*}" ] && keep=0; done; '
    'if [ "$keep" = 1 ]; then echo "$p"; fi; done) || exit 1; '
    'if [ -n "$extra" ]; then echo "tendr: removing $* would also remove" $extra '
    '"(apt takes what depends on it); declare those removals too, or keep it" >&2; exit 1; fi; '
    "exec " + shlex.join((*APT, "remove")) + ' "$@"'
)


def _apt(op: str, names: list[str]) -> list[Step]:
    if op == "package.remove":
        argv = ("sh", "-c", _REMOVE, "tendr", *names)
        return [Run(argv, f"remove {' '.join(names)}")]
    # --no-remove: an install that would take other packages away fails instead.
    install = shlex.join((*APT, "install", "--no-install-recommends", "--no-remove", *names))
    update = shlex.join((*APT, "update"))
    # Install from the lists the host has; refresh them once only if that fails.
    script = f"{install} || {{ {update} && {install}; }}"
    return [Run(("sh", "-c", script), f"install {' '.join(names)}")]


KIND: Kind[PackageSpec] = Kind(
    "package",
    PackageSpec,
    probe,
    parse,
    diff,
    steps,
    batch=batch,
    title="apt packages",
    verbs=("install", "remove"),
)
