"""The rules/ file format: roles, their members, and what they may or may not do.

Operation patterns and host selectors are checked when the file is loaded, so a
typo is an error rather than a rule that silently matches nothing (a deny that
matches nothing would allow what it meant to forbid).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator, Field

from tendr.hosts.selection import SELECTOR_HELP, SELECTOR_REGEX, check_selector
from tendr.model import Strict
from tendr.names import Documented
from tendr.states.kinds import KINDS as RESOURCE_KINDS

OWNER = "@owner"
"""The member that stands for the account owning the workspace root directory."""

READING_OPS = ("plan", "logs", "diagnose", "report")
"""Operations that only read; every other operation is KIND.VERB."""

VERBS: dict[str, tuple[str, ...]] = {
    **{name: kind.verbs for name, kind in RESOURCE_KINDS.items()},
    "driver": ("install",),  # installing a driver package for a printer or a module
    "state": ("edit",),  # pushing states/ and the files they name to the gateway
    "rules": ("edit",),  # pushing rules/, hosts/, tendr.toml and the rest to the gateway
}
"""The verbs of each KIND of changing operation (KIND.VERB): what the engines do."""

KINDS = tuple(VERBS)
OPERATIONS = (*READING_OPS, *(f"{kind}.{verb}" for kind, verbs in VERBS.items() for verb in verbs))
"""Every operation there is: what a rule's pattern may match."""


_SEGMENT = re.compile(r"[a-z0-9_-]+")
_ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}\$?")  # as tendr.names.AccountName
_WILDCARD_MEMBERS = frozenset({"all", "any", "everyone", "everybody", "@all", "@everyone"})
_ROLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
_REMOVE_WORDS = frozenset({"delete", "uninstall", "purge", "erase", "rm", "del"})


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_op_pattern(pattern: str) -> str | None:
    """Why `pattern` is not an operation pattern that can match an operation, or None."""
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
        hint = _did_you_mean(pattern, [*READING_OPS, *(f"{kind}.*" for kind in KINDS)])
        return (
            f"{pattern!r} is not an operation{hint}: reading operations are "
            f"{', '.join(READING_OPS)}; changes are KIND.VERB"
        )
    if len(segments) > 2:
        return f"{pattern!r} can match no operation: operations are a word or KIND.VERB"
    kind, verb = segments
    if kind != "*" and kind not in VERBS:
        hint = _did_you_mean(kind, KINDS)
        return f"{pattern!r}: {kind!r} is not a kind{hint}; kinds are {', '.join(KINDS)}"
    verbs = (
        VERBS[kind]
        if kind != "*"
        else tuple(dict.fromkeys(v for listed in VERBS.values() for v in listed))
    )
    if verb == "*" or verb in verbs:
        return None
    near = _near_verb(verb, verbs)
    hint = f" (did you mean '{kind}.{near}'?)" if near else ""
    if kind == "*":
        return (
            f"{pattern!r} can match no operation{hint}: no kind has the verb {verb!r}; "
            f"the verbs are {', '.join(verbs)}"
        )
    return f"{pattern!r} is not an operation{hint}: {kind}'s verbs are {', '.join(verbs)}"


def _near_verb(verb: str, verbs: tuple[str, ...]) -> str | None:
    """The verb meant: `remove` for the words people use for it, else a near spelling."""
    if verb in _REMOVE_WORDS and "remove" in verbs:
        return "remove"
    close = difflib.get_close_matches(verb, verbs, n=1, cutoff=0.6)
    return close[0] if close else None


def check_operation(op: str) -> str | None:
    """Why `op` is not one operation (as `rules explain` takes), or None."""
    if op in OPERATIONS:
        return None
    if "*" in op and not check_op_pattern(op):
        return f"{op!r} is a pattern; name one operation, such as {OPERATIONS[0]!r}"
    return check_op_pattern(op) or f"{op!r} is not an operation"


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


# What check_op_pattern accepts, as one regex for editors: '*', a reading operation,
# KIND.VERB, KIND.* or *.VERB of the kinds and verbs there are.
_ALL_VERBS = tuple(dict.fromkeys(verb for verbs in VERBS.values() for verb in verbs))
_OP_REGEX = "|".join(
    [
        r"\*",
        *READING_OPS,
        *(kind + r"\.(?:" + "|".join((r"\*", *verbs)) + ")" for kind, verbs in VERBS.items()),
        r"\*\.(?:" + "|".join((r"\*", *_ALL_VERBS)) + ")",
    ]
)

OpPattern = Annotated[
    str,
    AfterValidator(_op_pattern),
    Documented(
        "An operation or a pattern of them: a reading operation (plan, logs, diagnose, report), "
        "KIND.VERB such as 'service.restart', or '*' for one whole segment ('service.*', "
        "'*.remove'; '*' alone is every operation)",
        pattern=_OP_REGEX,
    ),
]
Selector = Annotated[
    str,
    AfterValidator(_selector),
    Documented(
        f"Hosts: {SELECTOR_HELP}",
        pattern=SELECTOR_REGEX,
    ),
]
Member = Annotated[
    str,
    AfterValidator(_member),
    Documented(
        f"An operating-system account name, or {OWNER!r} for the account that owns the "
        "workspace; no wildcards: members are listed one by one",
        pattern=rf"{OWNER}|{_ACCOUNT.pattern}",
        refused="|".join(sorted(_WILDCARD_MEMBERS)),
    ),
]
RoleName = Annotated[
    str,
    AfterValidator(_role_name),
    Documented(
        "A role name (letters, digits, _ and -)",
        pattern=_ROLE.pattern,
    ),
]


class Rule(Strict):
    """Operations on hosts: the rule applies when any pattern and any selector match.

    ```toml
    { ops = ["service.restart", "printer.*"], hosts = ["client:acme"] }
    ```
    """

    ops: tuple[OpPattern, ...] = Field(min_length=1)
    """Operations the rule is about: 'plan', 'service.restart', 'printer.*', '*.remove',
    '*'. Patterns are anchored; '*' stands for one whole segment."""
    hosts: tuple[Selector, ...] = Field(min_length=1)
    """Hosts the rule is about: 'all', a host name, 'group:NAME', 'client:NAME' or
    'tag:NAME'."""


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
    """What the role is for, in a few words."""
    members: tuple[Member, ...] = ()
    """Who holds the role: operating-system account names, or "@owner" for the account
    that owns the workspace folder. No wildcards."""
    allow: tuple[Rule, ...] = ()
    """What the members may do, where. Anything not allowed is denied."""
    deny: tuple[Rule, ...] = ()
    """What the members may not do, where; a deny beats any allow, in any file."""


class RulesFile(Strict):
    """rules/NAME.toml: roles by name. A role named in several files is one role.

    ```toml
    [roles.auditor]
    members = ["dave"]
    allow = [{ ops = ["plan", "report"], hosts = ["all"] }]
    ```
    """

    roles: dict[RoleName, Role] = {}
    """Roles by name: [roles.NAME]."""
