"""Whether a person may apply an operation on a host, and which rule says so.

Pure: the caller passes the person, the workspace owner and the loaded rules.
Default deny; a deny beats any allow; a person in no role may do nothing. The
answer does not depend on the order or duplication of rules or files: among
several deciding rules the reported one is the first by (file, role, index).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from tendr.hosts.selection import HostLike, matches
from tendr.rules.model import OWNER, Rule, RulesFile

Effect = Literal["allow", "deny"]


@dataclass(frozen=True)
class Decision:
    """The answer: allowed or not, the deciding rule (None by default), and why."""

    allowed: bool
    rule: str | None
    reason: str


@dataclass(frozen=True, order=True)
class RuleMatch:
    """A rule that applies to a request; `op` and `host` are what matched in it."""

    file: str
    role: str
    effect: Effect
    index: int
    op: str
    host: str

    def __str__(self) -> str:
        where = f"roles.{self.role}.{self.effect}[{self.index}]"
        return f"{self.file}: {where} ({self.op} on {self.host})"


def op_matches(pattern: str, op: str) -> bool:
    """True when `pattern` matches `op`: '*' alone matches every operation;
    otherwise segment by segment, a '*' segment matching exactly one whole segment."""
    if pattern == "*":
        return True
    wanted, actual = pattern.split("."), op.split(".")
    return len(wanted) == len(actual) and all(
        w == "*" or w == a for w, a in zip(wanted, actual, strict=True)
    )


def _rule_match(rule: Rule, op: str, host: HostLike) -> tuple[str, str] | None:
    """The (first by name) pattern and selector through which `rule` applies, if it does.

    This and `op_matches` are the only places where a rule is matched to a request.
    """
    patterns = sorted(p for p in rule.ops if op_matches(p, op))
    selectors = sorted(s for s in rule.hosts if matches(s, host))
    if patterns and selectors:
        return patterns[0], selectors[0]
    return None


def _is_member(person: str, members: Sequence[str], owner: str | None) -> bool:
    """True when a member names `person`, "@owner" standing for `owner` (None: nobody)."""
    return any((owner if member == OWNER else member) == person for member in members)


def roles_of(
    person: str, rules: Sequence[tuple[str, RulesFile]], owner: str | None = None
) -> list[str]:
    """The names of the roles `person` holds in any rules file, sorted."""
    return sorted(
        {
            name
            for _, rules_file in rules
            for name, role in rules_file.roles.items()
            if _is_member(person, role.members, owner)
        }
    )


def matching_rules(
    person: str,
    op: str,
    host: HostLike,
    rules: Sequence[tuple[str, RulesFile]],
    owner: str | None = None,
) -> list[RuleMatch]:
    """Every allow and deny rule of the person's roles that applies to `op` on `host`,
    sorted and without duplicates (what `tendr rules explain` shows)."""
    held = set(roles_of(person, rules, owner))
    return sorted(set(_matches_in(op, host, rules, held)))


def _matches_in(
    op: str, host: HostLike, rules: Sequence[tuple[str, RulesFile]], held: set[str]
) -> Iterator[RuleMatch]:
    for path, rules_file in rules:
        for name, role in rules_file.roles.items():
            if name not in held:
                continue
            sides: tuple[tuple[Effect, tuple[Rule, ...]], ...] = (
                ("allow", role.allow),
                ("deny", role.deny),
            )
            for effect, listed in sides:
                for index, rule in enumerate(listed):
                    found = _rule_match(rule, op, host)
                    if found:
                        yield RuleMatch(path, name, effect, index, *found)


def decide(
    person: str,
    op: str,
    host: HostLike,
    rules: Sequence[tuple[str, RulesFile]],
    owner: str | None = None,
) -> Decision:
    """May `person` apply `op` on `host`? `rules` pairs each file's display path with
    its content; `owner` is the account that "@owner" stands for (None: nobody)."""
    roles = roles_of(person, rules, owner)
    if not roles:
        return Decision(False, None, f"{person} is in no role")
    found = matching_rules(person, op, host, rules, owner)
    denies = [m for m in found if m.effect == "deny"]
    if denies:
        deny = denies[0]
        return Decision(
            False,
            str(deny),
            f"role {deny.role} denies {op} on {host.name} to {person}; a deny beats any allow",
        )
    if found:
        allow = found[0]
        return Decision(True, str(allow), f"role {allow.role} allows {person} {op} on {host.name}")
    return Decision(
        False,
        None,
        f"no rule allows {op} on {host.name} for {person} (roles: {', '.join(roles)})",
    )
