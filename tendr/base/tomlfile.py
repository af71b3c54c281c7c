"""Reading TOML files, and finding the line of a key path for error messages.

tomllib keeps no positions, so `locate` re-reads the text: it tracks table
headers (counting `[[array]]` entries) and `key = value` lines, skips the inside
of multi-line strings, and returns the line of the longest prefix of the key
path it can find.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tendr.base.errors import Problem

_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_AT_END = "(at end of document)"
_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
# One part of a dotted key: bare, "basic" (with escapes) or 'literal'.
_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_KEY = re.compile(rf"\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")
_PARTS = re.compile(rf"\s*({_PART})\s*(?:\.|$)")
_MULTILINE = re.compile(r'"""|\'\'\'')

Loc = Sequence[str | int]

# No tendr file nests more than a few levels; far deeper data can only be a mistake or
# an attack, and would exhaust the recursion of the code that walks it.
MAX_DEPTH = 32
_TOO_DEEP = f"tables and arrays nest more than {MAX_DEPTH} levels deep; no tendr file needs that"


def read_toml(path: Path, display: str) -> tuple[dict[str, Any] | None, str, Problem | None]:
    """Parse one file: (data, text, None) or (None, text, the syntax problem)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, "", Problem(file=display, message=f"not UTF-8 text ({exc.reason})")
    except OSError as exc:
        return None, "", Problem(file=display, message=f"cannot be read: {exc.strerror}")
    try:
        data = tomllib.loads(text)
    except RecursionError:  # tomllib recurses once per level of nesting
        return None, text, Problem(file=display, message=_TOO_DEEP)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _POSITION.search(message)
        line = int(found.group(1)) if found else None
        column = int(found.group(2)) if found else None
        if _AT_END in message:  # e.g. an array left open: point at the last line
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
        message = _POSITION.sub("", message).replace(_AT_END, "at the end of the file").strip()
        return (
            None,
            text,
            Problem(
                file=display, message=f"TOML syntax error: {message}", line=line, column=column
            ),
        )
    if _depth(data) > MAX_DEPTH:
        return None, text, Problem(file=display, message=_TOO_DEEP)
    return data, text, None


def _depth(value: Any) -> int:
    """How deeply tables and arrays nest in `value`, counted without recursion."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        current, depth = todo.pop()
        deepest = max(deepest, depth)
        if isinstance(current, dict):
            todo.extend((item, depth + 1) for item in current.values())
        elif isinstance(current, list):
            todo.extend((item, depth + 1) for item in current)
    return deepest


def _split_key(key: str) -> list[str]:
    """'a."b.c".d' -> ['a', 'b.c', 'd']: dots inside quotes do not split."""
    parts = []
    for found in _PARTS.finditer(key):
        part = found.group(1)
        if part[:1] in "\"'":
            part = part[1:-1]
        parts.append(part)
    return parts


def _multiline_delimiter(line: str, open_with: str | None) -> str | None:
    """The multi-line string delimiter still open after `line`, or None."""
    for found in _MULTILINE.finditer(line):
        if open_with is None:
            open_with = found.group()
        elif found.group() == open_with:
            open_with = None
    return open_with


def locate(text: str, loc: Loc) -> int | None:
    """The 1-based line that best matches the key path `loc`, or None: the first line of
    the longest prefix of `loc` that the file names."""
    lines = _key_lines(text)
    want = tuple(str(part) for part in loc)
    for length in range(len(want), 0, -1):
        if (line := lines.get(want[:length])) is not None:
            return line
    return None


@functools.lru_cache(maxsize=64)
def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Every key path the text names, with the first line naming it: read once per file,
    so locating many problems costs one pass, not one pass each."""
    found: dict[tuple[str, ...], int] = {}
    table: list[str] = []
    counts: dict[tuple[str, ...], int] = {}
    in_string: str | None = None  # the delimiter of an open multi-line string
    for number, line in enumerate(text.splitlines(), start=1):
        inside, in_string = in_string is not None, _multiline_delimiter(line, in_string)
        if inside:
            continue
        paths: list[list[str]] = []
        header = _HEADER.match(line)
        if header:
            base = _split_key(header.group(2))
            if header.group(1) == "[[":
                # Counted per parent entry: `[[a.b]]` restarts under each `[[a]]`.
                array = [*_resolve_arrays(base[:-1], counts), base[-1]]
                index = counts.get(tuple(array), -1) + 1
                counts[tuple(array)] = index
                table = [*array, str(index)]
                paths = [base, array, table]  # `[[servce]]` is where the array `servce` is
            else:
                table = _resolve_arrays(base, counts)
                paths = [table]
        elif key := _KEY.match(line):
            paths = [[*table, *_split_key(key.group(1))]]
        for path in paths:
            found.setdefault(tuple(path), number)
    return found


def _resolve_arrays(base: list[str], counts: dict[tuple[str, ...], int]) -> list[str]:
    """`[service.dropins]` after `[[service]]` belongs to the last service entry."""
    resolved: list[str] = []
    for part in base:
        resolved.append(part)
        index = counts.get(tuple(resolved))
        if index is not None:
            resolved.append(str(index))
    return resolved
