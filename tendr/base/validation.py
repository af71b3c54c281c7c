"""Turning pydantic's errors into one readable Problem each."""

from __future__ import annotations

import re
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from tendr.base.errors import Problem
from tendr.base.tomlfile import Loc, locate

# Values under these keys are never echoed back, even when they are wrong.
_SECRET_KEYS = {"password", "secret", "token", "passphrase"}

_EXPECTED = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": 'expected a list, e.g. ["a", "b"]',
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "tuple_type": 'expected a list, e.g. ["a", "b"]',
    "set_type": 'expected a list, e.g. ["a", "b"]',
    "float_type": "expected a number",
    "literal_error": "expected {expected}",
    "greater_than_equal": "expected a number of at least {ge}",
    "greater_than": "expected a number greater than {gt}",
    "less_than_equal": "expected a number of at most {le}",
    "less_than": "expected a number less than {lt}",
    "too_short": "expected at least {min_length} item(s)",
    "too_long": "expected at most {max_length} item(s)",
    "string_too_short": "expected at least {min_length} character(s)",
    "string_too_long": "expected at most {max_length} character(s)",
    "missing": "is required but missing",
}
# Kinds whose message is complete without the offending value.
_NO_INPUT = {"missing", "too_short", "too_long"}
# pydantic marks an error in a dict key with this extra location part.
_KEY_MARKER = "[key]"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key_path(loc: Loc) -> str:
    """('service', 0, 'unit') -> 'service[0].unit'; keys TOML must quote are quoted."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        if part == _KEY_MARKER:
            continue
        name = part if _BARE_KEY.fullmatch(part) else _quote(part)
        text += f".{name}" if text else name
    return text


def _quote(key: str) -> str:
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def problems_from(
    error: ValidationError, model: type[BaseModel], file: str, text: str
) -> list[Problem]:
    """One Problem per pydantic error, with the key path, line and what was expected."""
    problems = []
    items = error.errors()
    wrong_inside = {tuple(item["loc"][:-1]) for item in items if len(item["loc"]) > 1}
    for item in items:
        # A list that is too short only because its one entry was wrong says nothing more.
        if item["type"] == "too_short" and tuple(item["loc"]) in wrong_inside:
            continue
        loc = tuple(part for part in item["loc"] if part != _KEY_MARKER)
        problems.append(
            Problem(
                file=file,
                key=key_path(loc),
                line=locate(text, loc),
                message=_message(item, model, loc),
            )
        )
    return problems


def _message(item: Any, model: type[BaseModel], loc: Loc) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
        return f"unknown key {loc[-1]!r}{hint}"
    secret = any(str(part) in _SECRET_KEYS for part in loc)
    template = _EXPECTED.get(kind)
    if template is None:
        message = str(item["msg"]).removeprefix("Value error, ")
        return _redact(message, item["input"]) if secret else message
    message = template.format(**item.get("ctx", {}))
    if kind not in _NO_INPUT and not secret:
        message += f", got {item['input']!r}"
    return message


def _redact(message: str, value: Any) -> str:
    """A validator's message with a (possibly secret) string value taken out."""
    if not isinstance(value, str) or not value:
        return message
    message = message.replace(repr(value), "the value given")
    # A bare copy too, unless it is so short that replacing it would garble the words.
    return message.replace(value, "***") if len(value) > 3 else message


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the model accepts at `loc`, for 'unknown key' hints."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) in (list, dict):
            current = get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        # Its own keys first, then those it shares with its kin (a resource's `after`).
        shared = {
            name
            for base in current.__mro__[1:]
            if isinstance(base, type) and issubclass(base, BaseModel)
            for name in base.model_fields
        }
        return sorted(current.model_fields, key=lambda name: name in shared)
    return []


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X, so the walk can go on."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation
