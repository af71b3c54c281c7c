"""Validated names: what the real tools accept, so nothing hostile reaches a shell.

Each type is an `Annotated[str, ...]` usable in any pydantic model. The
patterns are deliberately no looser than the tool that consumes the name;
values are still quoted wherever they reach a command line.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints


def _pattern(regex: str, what: str) -> AfterValidator:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _not_a_template(value: str) -> str:
    if "@." in value:
        raise ValueError(f"{value!r} is a unit template; name an instance, such as "
                         f"{value.replace('@.', '@NAME.')!r}")
    return value


UNIT_SUFFIXES = (
    "service socket timer target mount automount path slice scope swap device".split()
)

# systemd: unit names are at most 255 bytes of [A-Za-z0-9:_.\-@] plus a type suffix
# (systemd's unit_name_is_valid); the part before an '@' may not be empty, and a
# leading '-' would read as an option.
UnitName = Annotated[
    str,
    StringConstraints(max_length=255),
    _pattern(
        r"[A-Za-z0-9:_.\\][A-Za-z0-9:_.\\@-]*\.(" + "|".join(UNIT_SUFFIXES) + ")",
        "a systemd unit name (letters, digits, ':_.\\@-', ending in a unit type "
        "such as .service or .timer)",
    ),
    AfterValidator(_not_a_template),
]

# Linux: MODULE_NAME_LEN is 56 bytes with the NUL; modprobe treats '-' and '_' alike.
ModuleName = Annotated[
    str,
    _pattern(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,54}", "a kernel module name (letters, digits, _ and -)"),
]

# CUPS refuses spaces, '/', '#', quotes and control characters in queue names;
# we also keep out shell metacharacters.
PrinterName = Annotated[
    str,
    _pattern(
        r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,126}",
        "a CUPS queue name (up to 127 letters, digits and _ . @ + -)",
    ),
]

# Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters;
# starts with an alphanumeric. An optional ':arch' qualifier is allowed.
PackageName = Annotated[
    str,
    _pattern(
        r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?",
        "a Debian package name (lower case letters, digits, + - ., at least two characters)",
    ),
]

# useradd's default NAME_REGEX, plus digits-first names refused.
AccountName = Annotated[
    str,
    _pattern(r"[a-z_][a-z0-9_-]{0,31}\$?", "a user or group name (lower case, digits, _ -)"),
]

HostName = Annotated[
    str,
    _pattern(
        r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}",
        "a host name (letters, digits, '.', '_' and '-', starting with a letter or digit)",
    ),
]

# An address is a DNS name or an IPv4/IPv6 literal: nothing else may reach ssh.
Address = Annotated[
    str,
    _pattern(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}|[0-9A-Fa-f:.]+", "a DNS name or an IP address"),
]

# ini-style identifiers used in modprobe options and systemd drop-in file names.
OptionName = Annotated[str, _pattern(r"[A-Za-z0-9_]{1,64}", "an option name (letters, digits, _)")]
DropinName = Annotated[
    str, _pattern(r"[A-Za-z0-9_.@-]{1,128}\.conf", "a drop-in file name ending in .conf")
]


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


AbsolutePath = Annotated[str, AfterValidator(_absolute_path)]


def _workspace_path(value: str) -> str:
    if not value or "\x00" in value or "\n" in value:
        raise ValueError("expected a file in the workspace, such as 'files/motd'")
    if value.startswith("/") or ".." in value.split("/"):
        raise ValueError(f"{value!r} must be a path inside the workspace, relative to its root")
    return value


# A file inside the workspace, relative to its root (a file's source, a secret file).
WorkspacePath = Annotated[str, AfterValidator(_workspace_path)]

# '0644', '644', '2755': octal permission bits, as chmod accepts them.
FileMode = Annotated[
    str, _pattern(r"0?[0-7]{3}|[0-7]{4}", "an octal file mode such as '0644' (as a string)")
]

# systemd.time(7) durations as tendr accepts them: a number and a unit.
Duration = Annotated[
    str,
    _pattern(r"[0-9]+(s|m|h|d|w)", "a duration such as '26h', '90m' or '7d'"),
]
