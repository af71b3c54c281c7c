"""The resources a rule may name, by kind, and how a pattern matches one. Pure.

A rule that names resources covers those alone: `paths = ["/etc/cups/**"]` lets
`file.write` through for files under /etc/cups and nowhere else, and covers no
operation of another kind. Names (units, packages, printers, backups, modules) match
whole, `*` standing for any run of characters. Paths are anchored at `/`: `*` stands
for any run within one segment, `**` (a whole segment only) for any number of whole
segments, none included; a path is compared once normalised, and `..` is refused in
patterns as the states refuse it in paths. Commands (`tendr run`) are argument vectors:
a pattern is a prefix of the vector, word by word, each word matching one whole
argument, `*` standing for any run of characters within it.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from functools import cache

FIELDS: dict[str, tuple[str, ...]] = {
    "units": ("service",),
    "paths": ("file",),
    "packages": ("package", "driver"),
    "printers": ("printer",),
    "backups": ("backup",),
    "modules": ("module",),
    "commands": ("command",),
}
"""Each resource field of a rule -> the kinds of operation whose resources it names."""

FIELD_OF_KIND = {kind: field for field, kinds in FIELDS.items() for kind in kinds}

_NAME = re.compile(r"[A-Za-z0-9:_.@+\\*-]+")  # what unit, package, queue... names hold, and *


def field_of(op: str) -> str | None:
    """The resource field that names the resources of `op` (None: a reading operation,
    or one on the workspace)."""
    kind, dot, _ = op.partition(".")
    return FIELD_OF_KIND.get(kind) if dot else None


def check_pattern(field: str, pattern: str) -> str | None:
    """Why `pattern` cannot stand in a rule's `field`, or None."""
    if field == "paths":
        return _check_path_pattern(pattern)
    if field == "commands":
        return _check_command_pattern(pattern)
    if field == "packages" and ":" in pattern:
        return f"{pattern!r}: a package is named without its architecture (':amd64')"
    if not _NAME.fullmatch(pattern):
        return (
            f"{pattern!r} is not a name pattern (letters, digits, : _ . @ + - and '*' for "
            "any run of characters)"
        )
    return None


def _check_command_pattern(pattern: str) -> str | None:
    if any(ord(c) < 32 or ord(c) == 127 for c in pattern):
        return f"{pattern!r} holds a control character"
    try:
        words = shlex.split(pattern)
    except ValueError as exc:
        return f"{pattern!r} is not a command pattern: {exc}"
    if not words:
        return "an empty command pattern would match every command; name the command"
    if "*" in words[0]:
        return f"{pattern!r}: name the command itself, without '*' ('systemctl status *')"
    return None


def command_words(argv: list[str] | tuple[str, ...]) -> str:
    """A command's argument vector as the resource a rule names: shell-quoted words,
    which `covers` splits back exactly."""
    return shlex.join(argv)


def _check_path_pattern(pattern: str) -> str | None:
    if not pattern.startswith("/"):
        return f"{pattern!r} is not an absolute path pattern (it must start with '/')"
    if pattern == "/":
        return None
    segments = pattern[1:].split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            return (
                f"{pattern!r}: empty, '.' and '..' segments are refused (a pattern names "
                "paths as they are, normalised)"
            )
        if "**" in segment and segment != "**":
            return f"{pattern!r}: '**' stands only as a whole segment ('/etc/cups/**')"
        if any(ord(c) < 32 or ord(c) == 127 for c in segment):
            return f"{pattern!r} holds a control character"
    return None


@cache
def _path_regex(pattern: str) -> re.Pattern[str]:
    """A path as its segments, each '/NAME': the root is no segment at all (""), so
    '/**' covers it and '/*' does not."""
    if pattern == "/":
        return re.compile("")
    parts = []
    for segment in pattern[1:].split("/"):
        if segment == "**":
            parts.append("(?:/[^/]+)*")
        else:
            parts.append("/" + "[^/]*".join(re.escape(piece) for piece in segment.split("*")))
    return re.compile("".join(parts))


@cache
def _name_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(piece) for piece in pattern.split("*")))


def covers(field: str, pattern: str, resource: str) -> bool:
    """True when the (well-formed) `pattern` of `field` names `resource`."""
    if field == "paths":
        if not resource.startswith("/"):
            return False  # states name absolute paths alone; nothing else is a path here
        # normpath keeps two leading slashes (POSIX leaves '//' to the system); not here.
        normal = "/" + posixpath.normpath(resource).lstrip("/")
        return bool(_path_regex(pattern).fullmatch("" if normal == "/" else normal))
    if field == "commands":
        return _command_covers(pattern, resource)
    if field == "packages":
        # A package is the same whatever architecture is asked ('telnetd:amd64').
        resource = resource.split(":", 1)[0]
    if field == "modules":
        # modprobe treats '-' and '_' alike; the states name a module with '_'.
        resource, pattern = resource.replace("-", "_"), pattern.replace("-", "_")
    return bool(_name_regex(pattern).fullmatch(resource))


def _command_covers(pattern: str, resource: str) -> bool:
    """A prefix of the argument vector, word for whole argument: 'lpstat' covers
    `lpstat -p`, never `/tmp/lpstat`, `sh -c lpstat` or `FOO=1 lpstat`."""
    try:
        argv = shlex.split(resource)
    except ValueError:
        return False
    words = shlex.split(pattern)
    if len(argv) < len(words):
        return False
    return all(_name_regex(w).fullmatch(a) for w, a in zip(words, argv, strict=False))
