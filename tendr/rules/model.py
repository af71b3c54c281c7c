"""The rules/ file format: roles, their members, and what they may or may not do.

Operation patterns and host selectors are checked when the file is loaded, so a
typo is an error rather than a rule that silently matches nothing (a deny that
matches nothing would allow what it meant to forbid).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from tendr.hosts.selection import check_selector
from tendr.model import Strict
from tendr.states.kinds import KINDS as RESOURCE_KINDS

OWNER = "@owner"
"""The member that stands for the account owning the workspace root directory."""

READING_OPS = ("plan", "logs", "diagnose", "report")
"""Operations that only read; every other operation is KIND.VERB."""

KINDS = (*RESOURCE_KINDS, "driver")
"""The KIND of every changing operation (KIND.VERB): the resource kinds, and `driver`
(installing a driver package for a printer or a module)."""

_SEGMENT = re.compile(r"[a-z0-9_-]+")
_ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}\$?")  # as tendr.names.AccountName
_WILDCARD_MEMBERS = frozenset({"all", "any", "everyone", "everybody", "@all", "@everyone"})
_ROLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")


def check_op_pattern(pattern: str) -> str | None:
    """Return why `pattern` is not an operation pattern, or None when it is one."""
    if pattern == "*":
        return None
    segments = pattern.split(".")
    for segment in segments:
        if segment != "*" and not _SEGMENT.fullmatch(segment):
            return (
                f"{pattern!r} is not an operation pattern (segments separated by '.', "
                "each lower case letters, digits, _ and -, or '*' for one whole segment)"
            )
    if len(segments) == 1:
        if pattern in READING_OPS:
            return None
        return (
            f"{pattern!r} is not an operation: reading operations are "
            f"{', '.join(READING_OPS)}; changes are KIND.VERB (did you mean '{pattern}.*'?)"
        )
    if len(segments) > 2:
        return f"{pattern!r} can match no operation: operations are a word or KIND.VERB"
    kind = segments[0]
    if kind != "*" and kind not in KINDS:
        expected = ", ".join(KINDS)
        return f"{pattern!r}: {kind!r} is not a kind of resource (expected one of {expected})"
    return None


def _op_pattern(value: str) -> str:
    problem = check_op_pattern(value)
    if problem:
        raise ValueError(problem)
    return value


def _selector(value: str) -> str:
    problem = check_selector(value)
    if problem:
        raise ValueError(problem)
    return value


def _member(value: str) -> str:
    if value == OWNER:
        return value
    if value in _WILDCARD_MEMBERS or any(c in value for c in "*?[]"):
        raise ValueError(
            f"{value!r} looks like a wildcard; members must be listed one by one "
            f"(account names, or {OWNER!r} for the account that owns the workspace)"
        )
    if value.startswith("@"):
        raise ValueError(f"{value!r} is not a member: the only '@' name is {OWNER!r}")
    if not _ACCOUNT.fullmatch(value):
        raise ValueError(f"{value!r} is not an account name (lower case, digits, _ -)")
    return value


def _role_name(value: str) -> str:
    if not _ROLE.fullmatch(value):
        raise ValueError(f"{value!r} is not a role name (letters, digits, _ and -)")
    return value


OpPattern = Annotated[str, AfterValidator(_op_pattern)]
Selector = Annotated[str, AfterValidator(_selector)]
Member = Annotated[str, AfterValidator(_member)]
RoleName = Annotated[str, AfterValidator(_role_name)]


class Rule(Strict):
    """Operations on hosts: the rule applies when any pattern and any selector match.

    ```toml
    { ops = ["service.restart", "printer.*"], hosts = ["client:acme"] }
    ```
    """

    ops: tuple[OpPattern, ...] = Field(min_length=1)
    hosts: tuple[Selector, ...] = Field(min_length=1)


class Role(Strict):
    """Who holds the role, what it allows and what it denies (a deny always wins).

    ```toml
    [roles.helpdesk]
    description = "First-line support"
    members = ["alice", "bob"]          # account names, or "@owner"
    allow = [{ ops = ["plan", "logs"], hosts = ["all"] }]
    deny = [{ ops = ["*.remove"], hosts = ["all"] }]
    ```
    """

    description: str = ""
    members: tuple[Member, ...] = ()
    allow: tuple[Rule, ...] = ()
    deny: tuple[Rule, ...] = ()


class RulesFile(Strict):
    """rules/NAME.toml: roles by name. A role named in several files is one role.

    ```toml
    [roles.auditor]
    members = ["dave"]
    allow = [{ ops = ["plan", "report"], hosts = ["all"] }]
    ```
    """

    roles: dict[RoleName, Role] = {}
