"""The rules/ file format: roles, their members, and what they may or may not do.

Operation patterns and host selectors are checked when the file is loaded, so a
typo is an error rather than a rule that silently matches nothing (a deny that
matches nothing would allow what it meant to forbid).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from tendr.base.model import Strict
from tendr.base.names import Documented
from tendr.base.selection import SELECTOR_HELP, SELECTOR_REGEX, check_selector
from tendr.kinds.registry import KINDS as RESOURCE_KINDS
from tendr.rules.resources import FIELDS, check_pattern, field_of

OWNER = "@owner"
"""The member that stands for the account owning the workspace root directory."""

READING_OPS = ("plan", "logs", "diagnose", "history", "report", "watch")
"""Operations that only read; with `shell`, the operations of one word. Every other
operation is KIND.VERB."""
WORD_OPS = (*READING_OPS, "shell")  # shell: an interactive session on a host (tendr shell)

VERBS: dict[str, tuple[str, ...]] = {
    **{name: kind.verbs for name, kind in RESOURCE_KINDS.items()},
    "driver": ("install",),  # installing a driver package for a printer or a module
    "state": ("edit",),  # pushing states/ and the files they name to the gateway
    "rules": ("edit", "grant"),  # pushing rules/, hosts/, tendr.toml...; granting roles
    "command": ("run",),  # a command on hosts (tendr run)
    "host": ("onboard", "approve", "pin"),  # a new machine under management; its key
}
"""The verbs of each KIND of changing operation (KIND.VERB): what the engines do."""

KINDS = tuple(VERBS)
OPERATIONS = (*WORD_OPS, *(f"{kind}.{verb}" for kind, verbs in VERBS.items() for verb in verbs))
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
        if pattern in WORD_OPS:
            return None
        hint = _did_you_mean(pattern, [*WORD_OPS, *(f"{kind}.*" for kind in KINDS)])
        return (
            f"{pattern!r} is not an operation{hint}: reading operations are "
            f"{', '.join(READING_OPS)}, a session is shell; changes are KIND.VERB"
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


ROOT_OPS = frozenset({"command.run", "shell"})
"""Operations that give a root shell's power on a host: an allow names them itself
('command.run', 'command.*', 'shell'), never through '*' or '*.run', so a rule written
before them, or for backups' `*.run`, does not hand them out. A deny's wildcards do
cover them."""


def op_matches(pattern: str, op: str, *, allowing: bool = False) -> bool:
    """True when `pattern` matches `op`: '*' alone matches every operation;
    otherwise segment by segment, a '*' segment matching exactly one whole segment.
    `allowing`: for an allow, where ROOT_OPS must be named."""
    if allowing and op in ROOT_OPS:
        return pattern == op or (op == "command.run" and pattern == "command.*")
    if pattern == "*":
        return True
    wanted, actual = pattern.split("."), op.split(".")
    return len(wanted) == len(actual) and all(
        w == "*" or w == a for w, a in zip(wanted, actual, strict=True)
    )


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
        *WORD_OPS,
        *(kind + r"\.(?:" + "|".join((r"\*", *verbs)) + ")" for kind, verbs in VERBS.items()),
        r"\*\.(?:" + "|".join((r"\*", *_ALL_VERBS)) + ")",
    ]
)

OpPattern = Annotated[
    str,
    AfterValidator(_op_pattern),
    Documented(
        "An operation or a pattern of them: a reading operation (plan, logs, diagnose, history, "
        "report), "
        "shell, KIND.VERB such as 'service.restart', or '*' for one whole segment ('service.*', "
        "'*.remove'; '*' alone is every operation)",
        pattern=_OP_REGEX,
    ),
]


def _resource_pattern(field: str) -> AfterValidator:
    def check(value: str) -> str:
        if problem := check_pattern(field, value):
            raise ValueError(problem)
        return value

    return AfterValidator(check)


UnitPattern = Annotated[
    str,
    _resource_pattern("units"),
    Documented(
        "A systemd unit name ending in its type, '*' for any run of characters "
        "('cups.service', 'cups-*.service', 'cups*')"
    ),
]
PathPattern = Annotated[
    str,
    _resource_pattern("paths"),
    Documented(
        "An absolute path: '*' for any run within one segment, '**' as a whole segment for "
        "any depth ('/etc/cups/**'); no '.' or '..' segments"
    ),
]
PackagePattern = Annotated[
    str,
    _resource_pattern("packages"),
    Documented(
        "A Debian package name without its architecture (lower case), '*' for any run of "
        "characters ('printer-driver-*')"
    ),
]
PrinterPattern = Annotated[
    str,
    _resource_pattern("printers"),
    Documented(
        "A CUPS queue name, '*' for any run of characters, in any case as CUPS reads it "
        "('frontdesk' covers 'FrontDesk')"
    ),
]
BackupPattern = Annotated[
    str,
    _resource_pattern("backups"),
    Documented("A backup job name, '*' for any run of characters ('documents', 'doc*')"),
]
ModulePattern = Annotated[
    str,
    _resource_pattern("modules"),
    Documented(
        "A kernel module name, '*' for any run of characters, '-' and '_' alike as modprobe "
        "reads them ('usb_storage', 'snd-*')"
    ),
]
CommandPattern = Annotated[
    str,
    _resource_pattern("commands"),
    Documented(
        "A command as words ('lpstat -p', 'systemctl status *'): the start of the command's "
        "argument vector, each word one whole argument, '*' for any run of characters in it; "
        "an option (an argument starting with '-') only as written out in the pattern"
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
    """Operations on hosts, and on which resources: the rule applies when any pattern,
    any selector and (where it names resources) any resource pattern match.

    ```toml
    { ops = ["service.restart", "printer.*"], hosts = ["client:acme"] }
    { ops = ["file.write"], hosts = ["client:acme"], paths = ["/etc/cups/**"] }
    ```
    """

    ops: tuple[OpPattern, ...] = Field(min_length=1)
    """Operations the rule is about: 'plan', 'service.restart', 'printer.*', '*.remove',
    '*'. Patterns are anchored; '*' stands for one whole segment."""
    hosts: tuple[Selector, ...] = Field(min_length=1)
    """Hosts the rule is about: 'all', a host name, 'group:NAME', 'client:NAME' or
    'tag:NAME'."""
    units: tuple[UnitPattern, ...] = ()
    """Only these systemd units ('cups.service', 'cups-*.service'), for service operations:
    a pattern ends in the unit's type or in a '*' ('ssh' names no unit)."""
    paths: tuple[PathPattern, ...] = ()
    """Only these paths, for file operations: absolute, anchored; '*' within one segment,
    '**' as a whole segment for any depth ('/etc/cups/**')."""
    packages: tuple[PackagePattern, ...] = ()
    """Only these packages ('printer-driver-*'), for package and driver operations."""
    printers: tuple[PrinterPattern, ...] = ()
    """Only these printer queues, for printer operations; in any case, as CUPS reads
    queue names ('frontdesk' covers 'FRONTDESK')."""
    backups: tuple[BackupPattern, ...] = ()
    """Only these backup jobs, for backup operations."""
    modules: tuple[ModulePattern, ...] = ()
    """Only these kernel modules, for module operations; '-' and '_' alike, as modprobe
    reads them."""
    commands: tuple[CommandPattern, ...] = ()
    """Only these commands, for command.run ('lpstat -p', 'systemctl status *'): each the
    start of the argument vector, word for whole argument; more arguments may follow it,
    but an option (an argument starting with '-') only where the pattern writes it out,
    never through a '*' or after the pattern. Name commands whose other arguments cannot
    run programs or read what they should not."""

    def resource_fields(self) -> list[str]:
        """The resource fields this rule names; none: it covers every resource."""
        return [name for name in FIELDS if getattr(self, name)]

    @model_validator(mode="after")
    def _resources_fit_ops(self) -> Rule:
        """A rule naming resources whose operations have none of those kinds would match
        nothing: a deny that matches nothing allows what it meant to forbid."""
        named = self.resource_fields()
        if not named:
            return self
        for pattern in self.ops:
            kinds = {field_of(op) for op in OPERATIONS if op_matches(pattern, op)}
            if not kinds & set(named):
                raise ValueError(
                    f"{pattern!r} has no resources of the kind this rule names "
                    f"({', '.join(named)}): "
                    + ", ".join(f"{name} are for {'/'.join(FIELDS[name])}.*" for name in named)
                )
        return self


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

    @field_validator("deny")
    @classmethod
    def _no_command_denylist(cls, value: tuple[Rule, ...]) -> tuple[Rule, ...]:
        """A command has many spellings (`/bin/rm`, `busybox rm`, `systemctl -q stop`): a
        deny naming commands would be stepped around, so allow the commands wanted."""
        for rule in value:
            if rule.commands:
                raise ValueError(
                    "a deny cannot name commands (another spelling would step around it): "
                    "deny command.run, and allow the commands wanted by name"
                )
        return value


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


MAX_GRANT = timedelta(days=30)
"""The longest a grant may last."""

GRANTS_FILE = "grants.toml"
"""Where `tendr grant` keeps access granted for a time, at the workspace root."""


def _moment(value: str) -> str:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO 8601 time ('2026-11-29T02:15:00+00:00')"
        ) from None
    if when.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset ('+00:00')")
    return value


Moment = Annotated[
    str,
    AfterValidator(_moment),
    Documented("An ISO 8601 time with its UTC offset ('2026-11-29T02:15:00+00:00')"),
]


class Grant(Strict):
    """A role given to a person for a time, by someone allowed `rules.grant`; written by
    `tendr grant`. It widens nothing beyond what the granting person may do.

    ```toml
    [[grant]]
    id = "g20261129-021500-dave"
    person = "dave"
    role = "admin"
    hosts = ["client:acme"]
    granted_by = "carol"
    reason = "tonight's call at acme"
    start = "2026-11-29T02:15:00+00:00"
    until = "2026-11-29T04:15:00+00:00"
    ```
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")
    """The grant's name, for `tendr grant revoke ID`."""
    person: Member
    """Who holds the role for the time."""
    role: RoleName
    """The role they hold, as rules/ defines it."""
    hosts: tuple[Selector, ...] = Field(min_length=1)
    """Where the role holds for them."""
    granted_by: Member
    """Who granted it; the grant never allows what they may not do."""
    reason: str = Field(min_length=1, max_length=500)
    """Why, in a few words (a ticket number)."""
    start: Moment
    """From when the grant holds."""
    until: Moment
    """When it ends by itself, by the clock of the machine running tendr."""

    @model_validator(mode="after")
    def _bounded(self) -> Grant:
        """A grant is for a time: it ends after it starts, within 30 days (one written
        by hand for 2099 is refused, not honoured)."""
        start, until = datetime.fromisoformat(self.start), datetime.fromisoformat(self.until)
        if not start < until <= start + MAX_GRANT:
            raise ValueError("a grant ends after it starts, and within 30 days of it")
        return self

    def holds_at(self, now: datetime) -> bool:
        return datetime.fromisoformat(self.start) <= now < datetime.fromisoformat(self.until)


class GrantsFile(Strict):
    """grants.toml: access granted for a time (`tendr grant`); not edited by hand."""

    grant: tuple[Grant, ...] = ()
    """The grants, expired ones included until the next grant prunes them."""
