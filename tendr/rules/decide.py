"""Whether a person may apply an operation on a host, and which rule says so.

Pure: the caller passes the person, the workspace owner and the loaded rules.
Default deny; a deny beats any allow; a person in no role may do nothing. The
answer does not depend on the order or duplication of rules or files: among
several deciding rules the reported one is the first by (file, role, index).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tendr.base.selection import HostLike, matches
from tendr.rules.model import OWNER, Grant, Rule, RulesFile, op_matches
from tendr.rules.resources import covers, field_of

Effect = Literal["allow", "deny"]


@dataclass(frozen=True)
class Everywhere:
    """The host of a request about every host (editing the rules, granting a role on
    `all`): only rules for `all` hosts match it, since a real host's name, client,
    groups and tags are never empty."""

    name: str = "every host"
    client: str = ""
    groups: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


EVERYWHERE = Everywhere()


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
    resource: str = ""  # the resource pattern that matched, "" for a rule naming none

    def __str__(self) -> str:
        where = f"roles.{self.role}.{self.effect}[{self.index}]"
        on = f", {self.resource}" if self.resource else ""
        return f"{self.file}: {where} ({self.op} on {self.host}{on})"


def _rule_match(
    rule: Rule, op: str, host: HostLike, resource: str | None, effect: Effect
) -> tuple[str, str, str] | None:
    """The (first by name) pattern, selector and resource pattern through which `rule`
    applies, if it does. A rule naming resources applies only to an operation on one
    of them (`resource` None: no particular resource, so never).

    This, `op_matches` and `covers` are the only places where a rule is matched."""
    patterns = sorted(p for p in rule.ops if op_matches(p, op, allowing=effect == "allow"))
    selectors = sorted(s for s in rule.hosts if matches(s, host))
    if not (patterns and selectors):
        return None
    if not rule.resource_fields():
        return patterns[0], selectors[0], ""
    field = field_of(op)
    if field is None or resource is None:
        return None
    named = sorted(p for p in getattr(rule, field) if covers(field, p, resource))
    return (patterns[0], selectors[0], named[0]) if named else None


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
    resource: str | None = None,
) -> list[RuleMatch]:
    """Every allow and deny rule of the person's roles that applies to `op` on `host`
    (and `resource`), sorted and without duplicates (what `tendr rules explain` shows)."""
    held = set(roles_of(person, rules, owner))
    return sorted(set(_matches_in(op, host, resource, rules, held)))


def _matches_in(
    op: str,
    host: HostLike,
    resource: str | None,
    rules: Sequence[tuple[str, RulesFile]],
    held: set[str],
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
                    found = _rule_match(rule, op, host, resource, effect)
                    if found:
                        yield RuleMatch(path, name, effect, index, *found)


def decide(
    person: str,
    op: str,
    host: HostLike,
    rules: Sequence[tuple[str, RulesFile]],
    owner: str | None = None,
    resource: str | None = None,
    grants: Sequence[Grant] = (),
    now: datetime | None = None,
) -> Decision:
    """May `person` apply `op` on `host` (to `resource`)? `rules` pairs each file's
    display path with its content; `owner` is the account that "@owner" stands for
    (None: nobody). `grants` that hold `now` on `host` give `person` their role there:
    its denies count as their own roles' do, and its allows only where the granting
    person may do the same by their own roles (a grant never widens beyond them), and
    never for `rules.*` (editing the rules or granting)."""
    own = _by_roles(person, op, host, rules, owner, resource)
    if op.startswith("rules."):
        return own  # a grant never changes the rules nor grants: it could outlive itself
    held = sorted(
        (
            g
            for g in grants
            if g.person == person
            and now is not None
            and g.holds_at(now)
            and any(matches(s, host) for s in g.hosts)
        ),
        key=lambda g: g.id,
    )
    if not held or (own.rule is not None and not own.allowed):  # a deny of their own wins
        return own
    what = f"{op} {resource}" if resource else op
    granted = [(g, sorted(set(_matches_in(op, host, resource, rules, {g.role})))) for g in held]
    for grant, found in granted:
        if denies := [m for m in found if m.effect == "deny"]:
            return Decision(
                False,
                f"grant {grant.id}: {denies[0]}",
                f"role {grant.role}, granted to {person} by {grant.granted_by}, denies "
                f"{what} on {host.name}; a deny beats any allow",
            )
    if own.allowed:
        return own
    notes = []
    for grant, found in granted:
        if not found:
            continue
        granter = _by_roles(grant.granted_by, op, host, rules, owner, resource)
        if granter.allowed:
            return Decision(
                True,
                f"grant {grant.id} by {grant.granted_by} until {grant.until}: {found[0]}",
                f"role {grant.role}, granted to {person} by {grant.granted_by} until "
                f"{grant.until}, allows {what} on {host.name}",
            )
        notes.append(
            f"grant {grant.id} gives role {grant.role}, but {grant.granted_by} may not do "
            f"this ({granter.reason})"
        )
    if notes:
        return Decision(False, own.rule, "; ".join([own.reason, *notes]))
    return own


def _by_roles(
    person: str,
    op: str,
    host: HostLike,
    rules: Sequence[tuple[str, RulesFile]],
    owner: str | None,
    resource: str | None,
) -> Decision:
    """The decision of the person's own roles alone."""
    roles = roles_of(person, rules, owner)
    if not roles:
        return Decision(False, None, f"{person} is in no role")
    found = matching_rules(person, op, host, rules, owner, resource)
    what = f"{op} {resource}" if resource else op
    denies = [m for m in found if m.effect == "deny"]
    if denies:
        deny = denies[0]
        return Decision(
            False,
            str(deny),
            f"role {deny.role} denies {what} on {host.name} to {person}; a deny beats any allow",
        )
    if found:
        allow = found[0]
        return Decision(
            True, str(allow), f"role {allow.role} allows {person} {what} on {host.name}"
        )
    return Decision(
        False,
        None,
        f"no rule allows {what} on {host.name} for {person} (roles: {', '.join(roles)})",
    )
