"""The resources a rule may name, by kind, and how a pattern matches one. Pure.

A rule that names resources covers those alone: `paths = ["/etc/cups/**"]` lets
`file.write` through for files under /etc/cups and nowhere else, and covers no
operation of another kind. Names (units, packages, printers, backups, modules) match
whole, `*` standing for any run of characters, each compared as the host reads it
(`identity`: a queue name in any case, a module with '-' or '_', a package of any
architecture), and a pattern that can spell no name of its kind is refused ('ssh' is no
unit: 'ssh.service'). Paths are anchored at `/`: `*` stands for any run within one
segment, `**` (a whole segment only) for any number of whole segments, none included; a
path is compared once normalised, and `..` is refused in patterns as the states refuse
it in paths. Commands (`tendr run`) are argument vectors: a pattern is a prefix of the
vector, word by word, each word matching one whole argument, `*` standing for any run of
characters within it; an option (an argument starting with '-') is allowed only where the
pattern writes it out, so neither a `*` nor what follows the pattern is ever an option.
"""

from __future__ import annotations

import difflib
import posixpath
import re
import shlex
import string
from dataclasses import dataclass
from functools import cache

from tendr.base.names import UNIT_SUFFIXES

FIELDS: dict[str, tuple[str, ...]] = {
    "units": ("service",),
    "paths": ("file",),
    "packages": ("package", "driver", "updates"),
    "printers": ("printer",),
    "backups": ("backup",),
    "modules": ("module",),
    "commands": ("command",),
}
"""Each resource field of a rule -> the kinds of operation whose resources it names."""

FIELD_OF_KIND = {kind: field for field, kinds in FIELDS.items() for kind in kinds}


def field_of(op: str) -> str | None:
    """The resource field that names the resources of `op` (None: a reading operation,
    or one on the workspace)."""
    kind, dot, _ = op.partition(".")
    return FIELD_OF_KIND.get(kind) if dot else None


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def identity(field: str, name: str) -> str:
    """A name (or name pattern) of `field` as the host reads it, so that every spelling
    of one resource is one resource to the rules: CUPS compares queue names ignoring
    ASCII case (strcasecmp: no other letter folds), modprobe reads '-' as '_', and a
    package is the same whatever architecture is asked ('telnetd:i386' is 'telnetd')."""
    if field == "printers":
        return name.translate(_ASCII_LOWER)
    if field == "modules":
        return name.replace("-", "_")
    if field == "packages":
        return name.split(":", 1)[0]
    return name


@dataclass(frozen=True)
class _Names:
    """What the names of a kind are made of, as tendr.names and the states accept them,
    so that a pattern that can spell none of them is found."""

    what: str  # "systemd unit"
    chars: str  # the characters a name holds, as the inside of a regex class
    said: str  # the same, for a person
    first: str  # the characters a name may start with
    last: str = ""  # the characters it may end with ("": any of `chars`)
    shortest: int = 1
    longest: int = 0  # 0: no limit


_NAMES = {
    "units": _Names(
        "systemd unit",
        r"A-Za-z0-9:_.\\@-",
        r"letters, digits and : _ . \ @ -",
        r"A-Za-z0-9:_.\\",
        longest=255,
    ),
    "packages": _Names(
        "Debian package",
        "a-z0-9+.-",
        "lower case letters, digits and + - .",
        "a-z0-9",
        last="a-z0-9+.",
        shortest=2,
    ),
    "printers": _Names(
        "CUPS queue", "A-Za-z0-9_.@+-", "letters, digits and _ . @ + -", "A-Za-z0-9_", longest=127
    ),
    "backups": _Names(
        "backup job", "a-z0-9_-", "lower case letters, digits, _ and -", "a-z0-9", longest=64
    ),
    # modprobe reads '-' as '_': a module's name may start with either.
    "modules": _Names(
        "kernel module", "A-Za-z0-9_-", "letters, digits, _ and -", "A-Za-z0-9_-", longest=55
    ),
}
_TYPES = tuple(f".{suffix}" for suffix in UNIT_SUFFIXES)


def check_pattern(field: str, pattern: str) -> str | None:
    """Why `pattern` cannot stand in a rule's `field`, or None. A pattern that can name
    no resource of its kind is refused with what it may have meant: a deny that matches
    nothing would allow what it meant to forbid."""
    if field == "paths":
        return _check_path_pattern(pattern)
    if field == "commands":
        return _check_command_pattern(pattern)
    problem = _name_problem(field, pattern)
    if problem is None:
        return None
    fixed = _fixed(field, pattern)
    hint = (
        f" (did you mean {fixed!r}?)"
        if fixed != pattern and _name_problem(field, fixed) is None
        else ""
    )
    return f"{pattern!r} can name no {_NAMES[field].what}{hint}: {problem}"


def _name_problem(field: str, pattern: str) -> str | None:
    """What keeps `pattern` from spelling any name of `field`'s kind, or None. Each '*'
    can be filled with any run of the name's characters, so only what the pattern
    writes out (its characters, how it starts and ends, its length) can stand in the way."""
    names = _NAMES[field]
    if not pattern:
        return "an empty pattern names nothing ('*' names every one)"
    if field == "packages" and ":" in pattern:
        return "a package is named without its architecture (':amd64'): a rule covers them all"
    if not re.fullmatch(f"[*{names.chars}]+", pattern):
        return f"names hold only {names.said} ('*' standing for any run of them)"
    if pattern[0] != "*" and not re.fullmatch(f"[{names.first}]", pattern[0]):
        return f"no name starts with {pattern[0]!r}"
    if names.last and pattern[-1] != "*" and not re.fullmatch(f"[{names.last}]", pattern[-1]):
        return f"no name ends in {pattern[-1]!r}"
    written = len(pattern.replace("*", ""))
    if "*" not in pattern and written < names.shortest:
        return f"a name has at least {names.shortest} characters"
    if names.longest and written > names.longest:
        return f"a name has at most {names.longest} characters"
    if field == "units":
        return _unit_problem(pattern)
    return None


def _unit_problem(pattern: str) -> str | None:
    if "@." in pattern:
        return (
            "a unit named with '@' before its type is a template; the units acted on are "
            "its instances ('getty@tty1.service')"
        )
    # The name ends in its type: written out, or the last '*' can stand for it (or for
    # what the pattern's end does not spell of it: 'cups*vice').
    _, star, tail = pattern.rpartition("*")
    if any(tail.endswith(t) or (star and t.endswith(tail)) for t in _TYPES):
        if star or any(pattern.endswith(t) and pattern != t for t in _TYPES):
            return None
        return "a unit's name has a name before its type"
    return (
        f"a unit's name ends in its type ({', '.join(_TYPES)}), so a pattern ends in one, "
        "or in a '*' that can stand for it"
    )


def _fixed(field: str, pattern: str) -> str:
    """What `pattern` most likely meant, for the error's suggestion."""
    names = _NAMES[field]
    if field == "packages":
        pattern = pattern.split(":", 1)[0].lower().replace("_", "-").rstrip("-")
    elif field == "backups":
        pattern = pattern.lower()
    elif field == "modules":
        pattern = re.sub(r"\.ko(\.[a-z]+)?$", "", pattern)  # the file, not the module
    elif field == "units":
        pattern = pattern.replace("@.", "@*.")
        head, dot, ext = pattern.rpartition(".")
        near = difflib.get_close_matches(ext, UNIT_SUFFIXES, n=1, cutoff=0.6) if dot else []
        if near:
            pattern = f"{head}.{near[0]}"
        elif _unit_problem(pattern):
            pattern += ".service"
    while pattern[:1] not in ("", "*") and not re.fullmatch(f"[{names.first}]", pattern[0]):
        pattern = pattern[1:]
    return pattern


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
    for word in words:
        if word.startswith("-") and "*" in word:
            return (
                f"{pattern!r}: {word!r} would stand for options; write each option out "
                "whole (a '*' never matches an argument starting with '-')"
            )
    return None


def command_words(argv: list[str] | tuple[str, ...]) -> str:
    """A command's argument vector as the resource a rule names: shell-quoted words,
    which `covers` splits back exactly."""
    return shlex.join(argv)


def _check_path_pattern(pattern: str) -> str | None:
    if not pattern.startswith("/"):
        return f"{pattern!r} is not an absolute path pattern (it must start with '/')" + _path_hint(
            pattern, "/" + pattern
        )
    if pattern == "/":
        return None
    segments = pattern[1:].split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            return (
                f"{pattern!r}: empty, '.' and '..' segments are refused (a pattern names "
                "paths as they are, normalised)"
                + _path_hint(pattern, "/" + posixpath.normpath(pattern).lstrip("/"))
            )
        if "**" in segment and segment != "**":
            return f"{pattern!r}: '**' stands only as a whole segment ('/etc/cups/**')"
        if any(ord(c) < 32 or ord(c) == 127 for c in segment):
            return f"{pattern!r} holds a control character"
    return None


def _path_hint(pattern: str, meant: str) -> str:
    if meant == pattern or _check_path_pattern(meant) is not None:
        return ""
    return f"; did you mean {meant!r}?"


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
    # DOTALL: '*' is any run of characters, a newline included.
    return re.compile(".*".join(re.escape(piece) for piece in pattern.split("*")), re.DOTALL)


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
    pattern, resource = identity(field, pattern), identity(field, resource)
    return bool(_name_regex(pattern).fullmatch(resource))


def _command_covers(pattern: str, resource: str) -> bool:
    """A prefix of the argument vector, word for whole argument: 'lpstat -p' covers
    `lpstat -p` and `lpstat -p office`, never `/tmp/lpstat -p`, `sh -c lpstat`,
    `FOO=1 lpstat` or `lpstat -p -h elsewhere`."""
    try:
        argv = shlex.split(resource)
    except ValueError:
        return False
    words = shlex.split(pattern)
    if len(argv) < len(words):
        return False
    if not all(_word_covers(w, a) for w, a in zip(words, argv, strict=False)):
        return False
    # Options only as written: `systemctl status cups.service -H root@elsewhere` makes
    # root ssh to another machine; GNU getopt takes an option after the operands too.
    return not any(arg.startswith("-") for arg in argv[len(words) :])


def _word_covers(word: str, arg: str) -> bool:
    if "*" not in word:
        return word == arg
    # '*' crosses '/' and '..': the arguments after a pattern are any words anyway, so
    # a '*' held within a path segment would promise a confinement no pattern gives.
    return not arg.startswith("-") and bool(_name_regex(word).fullmatch(arg))
