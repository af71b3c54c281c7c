"""Turning pydantic's errors into one readable Problem each."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from tendr.errors import Problem
from tendr.tomlfile import Loc, locate

# Values under these keys are never echoed back, even when they are wrong.
_SECRET_KEYS = {"password", "secret", "token", "passphrase"}

_EXPECTED = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list, e.g. [\"a\", \"b\"]",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "missing": "is required but missing",
}


def key_path(loc: Loc) -> str:
    """('service', 0, 'unit') -> 'service[0].unit'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def problems_from(error: ValidationError, model: type[BaseModel], file: str,
                  text: str) -> list[Problem]:
    """One Problem per pydantic error, with the key path, line and what was expected."""
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
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
    message = _EXPECTED.get(kind) or str(item["msg"]).removeprefix("Value error, ")
    secret = any(str(part) in _SECRET_KEYS for part in loc)
    if kind in _EXPECTED and kind != "missing" and not secret:
        message += f", got {item['input']!r}"
    return message


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
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X, so the walk can go on."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation
