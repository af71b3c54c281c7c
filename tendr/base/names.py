"""Validated names: what the real tools accept, so nothing hostile reaches a shell.

Each type is an `Annotated[str, ...]` usable in any pydantic model. The
patterns are deliberately no looser than the tool that consumes the name;
values are still quoted wherever they reach a command line.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema


def anchored(regex: str) -> str:
    """`regex` as a JSON Schema pattern: JSON Schema searches, tendr matches whole values."""
    return f"^(?:{regex})$"


@dataclass(frozen=True)
class Documented:
    """What a validator checks, said in the JSON Schema for editors (it checks nothing here):
    a description, the regex a value must match whole, and one it must not."""

    description: str
    pattern: str | None = None
    refused: str | None = None

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["description"] = self.description
        if self.pattern is not None:
            json_schema["pattern"] = anchored(self.pattern)
        if self.refused is not None:
            json_schema["not"] = {"pattern": anchored(self.refused)}
        return json_schema


@dataclass(frozen=True)
class Matches:
    """A name that must match `regex` whole; any other value is refused as not `what`.

    The regex is also the name's pattern in the JSON Schema, so an editor refuses what
    `tendr validate` refuses; the regexes here are ones Python, ECMAScript and Rust read alike.
    """

    regex: str
    what: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["description"] = self.what[0].upper() + self.what[1:]
        json_schema["pattern"] = anchored(self.regex)
        return json_schema

    def _check(self, value: str) -> str:
        if not re.fullmatch(self.regex, value):
            raise ValueError(f"{value!r} is not {self.what}")
        return value


def _not_a_template(value: str) -> str:
    if "@." in value:
        raise ValueError(
            f"{value!r} is a unit template; name an instance, such as "
            f"{value.replace('@.', '@NAME.')!r}"
        )
    return value


UNIT_SUFFIXES = "service socket timer target mount automount path slice scope swap device".split()

# systemd: unit names are at most 255 bytes of [A-Za-z0-9:_.\-@] plus a type suffix
# (systemd's unit_name_is_valid); the part before an '@' may not be empty, and a
# leading '-' would read as an option.
UnitName = Annotated[
    str,
    StringConstraints(max_length=255),
    Matches(
        r"[A-Za-z0-9:_.\\][A-Za-z0-9:_.\\@-]*\.(" + "|".join(UNIT_SUFFIXES) + ")",
        "a systemd unit name (letters, digits, ':_.\\@-', ending in a unit type "
        "such as .service or .timer)",
    ),
    AfterValidator(_not_a_template),
    Documented(
        "A systemd unit name such as 'cups.service' (letters, digits, ':_.\\@-', ending in a "
        "unit type such as .service or .timer); not a template such as 'getty@.service': "
        "name an instance, 'getty@tty1.service'",
        refused=r".*@\..*",
    ),
]

# Linux: MODULE_NAME_LEN is 56 bytes with the NUL; modprobe treats '-' and '_' alike.
ModuleName = Annotated[
    str,
    Matches(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,54}", "a kernel module name (letters, digits, _ and -)"),
]

# CUPS refuses spaces, '/', '#', quotes and control characters in queue names;
# we also keep out shell metacharacters.
PrinterName = Annotated[
    str,
    Matches(
        r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,126}",
        "a CUPS queue name (up to 127 letters, digits and _ . @ + -)",
    ),
]

# Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters;
# starts with an alphanumeric. An optional ':arch' qualifier is allowed.
PackageName = Annotated[
    str,
    Matches(
        # Never ending in '-': apt reads 'less-' in an install as "remove less".
        r"[a-z0-9][a-z0-9+.-]*[a-z0-9+.](:[a-z0-9-]+)?",
        "a Debian package name (lower case letters, digits, + - ., at least two characters, "
        "not ending in '-', which apt reads as 'remove')",
    ),
]

# useradd's default NAME_REGEX, plus digits-first names refused.
AccountName = Annotated[
    str,
    Matches(r"[a-z_][a-z0-9_-]{0,31}\$?", "a user or group name (lower case, digits, _ -)"),
]

# A host name, and the name of a group, tag or client: the one definition of the format
# (selectors, hosts files, onboarding's --client all use it).
HOST_NAME_REGEX = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
HOST_NAME_HELP = "letters, digits, '.', '_' and '-', starting with a letter or digit"


def is_host_name(value: str) -> bool:
    """Whether `value` is a host (group, tag, client) name as HostName takes it."""
    return re.fullmatch(HOST_NAME_REGEX, value) is not None


HostName = Annotated[str, Matches(HOST_NAME_REGEX, f"a host name ({HOST_NAME_HELP})")]

# An address is a DNS name or an IPv4/IPv6 literal: nothing else may reach ssh.
Address = Annotated[
    str,
    Matches(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}|[0-9A-Fa-f:.]+", "a DNS name or an IP address"),
]

# ini-style identifiers used in modprobe options and systemd drop-in file names.
OptionName = Annotated[str, Matches(r"[A-Za-z0-9_]{1,64}", "an option name (letters, digits, _)")]


def _file_name(value: str) -> str:
    # Said before the pattern's message, which would only complain about the ending.
    if "/" in value:
        raise ValueError(
            f"{value!r} is not a file name: a drop-in is a file in the unit's "
            "drop-in folder, named without '/', such as '10-limits.conf'"
        )
    return value


DropinName = Annotated[
    str,
    AfterValidator(_file_name),
    Matches(
        r"[A-Za-z0-9_.@-]{1,128}\.conf",
        "a drop-in file name (letters, digits and _ . @ -, ending in .conf)",
    ),
]

# One path segment other than '.' and '..': not empty, no '/', NUL or newline.
_SEGMENT = r"(?:[^/\x00\n.][^/\x00\n]*|\.[^/\x00\n.][^/\x00\n]*|\.\.[^/\x00\n]+)"


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path (it must start with '/')")
    if "\x00" in value or "\n" in value:
        raise ValueError("a path may not contain NUL or newline characters")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r} contains '..'; write the path it means")
    normal = "/" + posixpath.normpath(value).lstrip("/")
    if value != normal:
        raise ValueError(f"{value!r} is not a normal path (write {normal!r})")
    return value


# The checks above, as one regex for editors: '/' or '/SEGMENT' repeated, so no '//',
# no '.' or '..' segment and no trailing '/'.
AbsolutePath = Annotated[
    str,
    AfterValidator(_absolute_path),
    Documented(
        "An absolute, normal path such as '/etc/motd': no '..', '.', '//' or trailing '/'",
        pattern=rf"/|(?:/{_SEGMENT})+",
    ),
]


def _workspace_path(value: str) -> str:
    if not value or "\x00" in value or "\n" in value:
        raise ValueError("expected a file in the workspace, such as 'files/motd'")
    if value.startswith("/") or ".." in value.split("/"):
        raise ValueError(f"{value!r} must be a path inside the workspace, relative to its root")
    return value


# A file inside the workspace, relative to its root (a file's source, a secret file).
# As a regex: a first segment (not empty, not '..'), then segments that are not '..'.
WorkspacePath = Annotated[
    str,
    AfterValidator(_workspace_path),
    Documented(
        "A file inside the workspace, relative to its root, such as 'files/motd' "
        "(no leading '/', no '..')",
        pattern=rf"(?:{_SEGMENT}|\.)(?:/(?:{_SEGMENT}|\.)?)*",
    ),
]

# '0644', '644', '2755': octal permission bits, as chmod accepts them.
FileMode = Annotated[
    str, Matches(r"0?[0-7]{3}|[0-7]{4}", "an octal file mode such as '0644' (as a string)")
]

# Durations, the one definition of the format: numbers with units, largest first, each
# unit at most once, as systemd.time(7) writes them without spaces: '26h', '90m', '7d',
# '1d12h', '2w3d', '30s'.
DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def _duration_regex() -> str:
    """Alternatives by the largest unit written (no lookahead: the regex is also a JSON
    Schema pattern, which ECMAScript and Rust read alike)."""
    units = list(DURATION_UNITS)
    return "|".join(
        f"[0-9]+{first}" + "".join(f"(?:[0-9]+{unit})?" for unit in units[at + 1 :])
        for at, first in enumerate(units)
    )


DURATION_REGEX = _duration_regex()
_DURATION_PART = re.compile(r"([0-9]+)([wdhms])")


def duration_seconds(text: str) -> int:
    """'26h', '90m', '1d12h', '2w', '30s' in seconds; ValueError for anything else."""
    if not re.fullmatch(DURATION_REGEX, text, flags=re.ASCII):
        raise ValueError(f"{text!r} is not a duration such as '26h', '90m', '7d' or '1d12h'")
    return sum(int(number) * DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text))


Duration = Annotated[
    str,
    Matches(DURATION_REGEX, "a duration such as '26h', '90m', '7d' or '1d12h'"),
]
