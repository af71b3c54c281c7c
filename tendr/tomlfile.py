"""Reading TOML files, and finding the line of a key path for error messages.

tomllib keeps no positions, so `locate` re-reads the text: it tracks table
headers (counting `[[array]]` entries) and `key = value` lines, and returns the
line of the longest prefix of the key path it can find.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tendr.errors import Problem

_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"\s*([A-Za-z0-9_\-\"'. ]+?)\s*=")

Loc = Sequence[str | int]


def read_toml(path: Path, display: str) -> tuple[dict[str, Any] | None, str, Problem | None]:
    """Parse one file: (data, text, None) or (None, text, the syntax problem)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, "", Problem(file=display, message=f"not UTF-8 text ({exc.reason})")
    except OSError as exc:
        return None, "", Problem(file=display, message=f"cannot be read: {exc.strerror}")
    try:
        return tomllib.loads(text), text, None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _POSITION.search(message)
        line = int(found.group(1)) if found else None
        column = int(found.group(2)) if found else None
        message = _POSITION.sub("", message).strip()
        return None, text, Problem(
            file=display, message=f"TOML syntax error: {message}", line=line, column=column
        )


def _split_key(key: str) -> list[str]:
    return [part.strip().strip("\"'") for part in key.split(".")]


def locate(text: str, loc: Loc) -> int | None:
    """The 1-based line that best matches the key path `loc`, or None."""
    want = [str(part) for part in loc]
    best: tuple[int, int] | None = None  # (matched length, line)
    table: list[str] = []
    counts: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        path: list[str] | None = None
        header = _HEADER.match(line)
        if header:
            base = _split_key(header.group(2))
            if header.group(1) == "[[":
                index = counts.get(tuple(base), -1) + 1
                counts[tuple(base)] = index
                table = [*base, str(index)]
            else:
                table = _resolve_arrays(base, counts)
            path = table
        elif (key := _KEY.match(line)) and not line.lstrip().startswith("#"):
            path = [*table, *_split_key(key.group(1))]
        if path is None:
            continue
        matched = _common_prefix(path, want)
        if matched == len(path) and (best is None or matched > best[0]):
            best = (matched, number)
    return best[1] if best else None


def _resolve_arrays(base: list[str], counts: dict[tuple[str, ...], int]) -> list[str]:
    """`[service.dropins]` after `[[service]]` belongs to the last service entry."""
    resolved: list[str] = []
    for part in base:
        resolved.append(part)
        index = counts.get(tuple(p for p in resolved if not p.isdigit()))
        if index is not None:
            resolved.append(str(index))
    return resolved


def _common_prefix(a: list[str], b: list[str]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count
