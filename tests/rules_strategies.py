"""Hypothesis strategies for rule sets and grants, shared by the property and Cedar tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache

from hypothesis import strategies as st
from pydantic import ValidationError

from tendr.rules.model import OWNER, Grant, Role, Rule, RulesFile

Rules = list[tuple[str, RulesFile]]
ResourcePatterns = Mapping[str, Sequence[str]]
"""Resource patterns a generated rule may name, by field ('paths' -> ['/etc/**', ...])."""


@dataclass(frozen=True)
class FakeHost:
    """What a selector looks at, without an inventory."""

    name: str
    client: str
    groups: tuple[str, ...]
    tags: tuple[str, ...]


@cache
def fits(pattern: str, field: str) -> bool:
    """Whether a rule with the operation pattern `pattern` may name resources of `field`
    (tendr refuses a rule whose resources fit none of an operation pattern's kinds)."""
    # A pattern every field accepts: '*' names anything but is no path nor command.
    placeholder = {"paths": "/x", "commands": "x"}.get(field, "*")
    try:
        Rule(ops=(pattern,), hosts=("all",), **{field: (placeholder,)})
    except ValidationError:
        return False
    return True


def rules(
    patterns: Sequence[str],
    selectors: Sequence[str],
    resources: ResourcePatterns | None = None,
) -> st.SearchStrategy[Rule]:
    """Rules of up to three operation patterns and two selectors; with `resources`, some
    rules also name resources of one or two fields (keeping only the operation patterns
    that fit one of those fields, as a loadable rule must)."""
    plain = st.builds(
        Rule,
        ops=st.lists(st.sampled_from(patterns), min_size=1, max_size=3).map(tuple),
        hosts=st.lists(st.sampled_from(selectors), min_size=1, max_size=2).map(tuple),
    )
    if not resources:
        return plain
    return st.one_of(plain, _resource_rules(plain, resources))


def _resource_rules(
    plain: st.SearchStrategy[Rule], resources: ResourcePatterns
) -> st.SearchStrategy[Rule]:
    named = st.lists(
        st.sampled_from(sorted(resources)), min_size=1, max_size=2, unique=True
    ).flatmap(
        lambda fields: st.fixed_dictionaries(
            {
                field: st.lists(st.sampled_from(resources[field]), min_size=1, max_size=2).map(
                    tuple
                )
                for field in fields
            }
        )
    )

    def restrict(rule: Rule, by: dict[str, tuple[str, ...]]) -> Rule:
        ops = tuple(p for p in rule.ops if any(fits(p, field) for field in by))
        if not ops:
            return rule  # no operation has resources of those kinds: a plain rule
        return Rule(ops=ops, hosts=rule.hosts, **by)

    return st.builds(restrict, plain, named)


def rule_sets(
    patterns: Sequence[str],
    selectors: Sequence[str],
    members: Sequence[str],
    role_names: Sequence[str],
    paths: Sequence[str],
    resources: ResourcePatterns | None = None,
) -> st.SearchStrategy[Rules]:
    """Up to three rules files of up to three roles, members drawn from `members` and @owner."""
    one_rule = rules(patterns, selectors, resources)
    roles = st.builds(
        Role,
        members=st.lists(st.sampled_from((*members, OWNER)), max_size=3).map(tuple),
        allow=st.lists(one_rule, max_size=3).map(tuple),
        deny=st.lists(one_rule, max_size=2).map(tuple),
    )
    files = st.builds(
        RulesFile, roles=st.dictionaries(st.sampled_from(role_names), roles, max_size=3)
    )
    return st.lists(st.tuples(st.sampled_from(paths), files), max_size=3)


# -- grants ----------------------------------------------------------------------------------

EPOCH = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
TICKS = tuple(range(0, 5 * 3600, 3600))
"""The moments grants start, end and are asked about, in seconds after EPOCH: few, so that
a request often falls exactly on a grant's start or end."""
OFFSETS = (timedelta(0), timedelta(hours=2), timedelta(hours=-5, minutes=-30))
"""UTC offsets a grant's times are written with: the same moment, written differently."""


def at(tick: int) -> datetime:
    """The moment `tick` seconds after EPOCH (in UTC)."""
    return EPOCH + timedelta(seconds=tick)


def written(tick: int, offset: timedelta) -> str:
    """The moment `tick` as a grant writes it, in ISO 8601 with the given UTC offset."""
    return at(tick).astimezone(timezone(offset)).isoformat()


Drawn = tuple[str, str, tuple[str, ...], str, int, int, timedelta, timedelta]

LENGTHS = (1, 3600, 2 * 3600, 4 * 3600, 6 * 3600)
"""How long a generated grant lasts, in seconds: mostly hours, one a single second (a
grant ends after it starts, within 30 days: the model refuses any other)."""


def grants(
    persons: Sequence[str],
    role_names: Sequence[str],
    selectors: Sequence[str],
    granters: Sequence[str] | None = None,
    min_size: int = 0,
    max_size: int = 3,
) -> st.SearchStrategy[list[Grant]]:
    """Up to `max_size` grants of a role to one of `persons` by one of `granters` (default:
    `persons`; perhaps the grantee, perhaps someone in no role) on some hosts, starting
    an hour before EPOCH or at one of TICKS and lasting one of LENGTHS; ids unique, in no
    particular order."""
    one: st.SearchStrategy[Drawn] = st.tuples(
        st.sampled_from(persons),
        st.sampled_from(role_names),
        st.lists(st.sampled_from(selectors), min_size=1, max_size=2).map(tuple),
        st.sampled_from(persons if granters is None else granters),
        st.sampled_from((-3600, *TICKS)),
        st.sampled_from(LENGTHS),
        st.sampled_from(OFFSETS),
        st.sampled_from(OFFSETS),
    )

    def made(drawn: list[Drawn]) -> list[Grant]:
        return [
            Grant(
                id=f"g{index}-{person}",
                person=person,
                role=role,
                hosts=hosts,
                granted_by=granter,
                reason="ticket",
                start=written(start, start_offset),
                until=written(start + length, until_offset),
            )
            for index, (
                person,
                role,
                hosts,
                granter,
                start,
                length,
                start_offset,
                until_offset,
            ) in enumerate(drawn)
        ]

    return st.lists(one, min_size=min_size, max_size=max_size).map(made).flatmap(st.permutations)


def since_epoch(moment: str) -> int:
    """A grant's time as a tick: whole seconds after EPOCH."""
    return int((datetime.fromisoformat(moment) - EPOCH).total_seconds())


def rules_with_grants(
    rule_sets: st.SearchStrategy[Rules],
    one_rule: st.SearchStrategy[Rule],
    persons: Sequence[str],
    selectors: Sequence[str],
) -> st.SearchStrategy[tuple[Rules, list[Grant], int]]:
    """A rule set, perhaps with a 'boss' role allowing everything but what it denies; one
    to three grants of its roles to any of `persons` (often members of roles that deny
    something), mostly on every host and mostly by members of roles that allow something;
    and the tick to decide at, often a grant's start or end. Grants that often matter, by
    granters who often may, and often may not, do what they grant."""

    @st.composite
    def drawn(draw: st.DrawFn) -> tuple[Rules, list[Grant], int]:
        rules = draw(rule_sets)
        if draw(st.booleans()):
            boss = Role(
                members=(draw(st.sampled_from(persons)),),
                allow=(Rule(ops=("*",), hosts=("all",)),),
                deny=tuple(draw(st.lists(one_rule, max_size=1))),
            )
            rules = [*rules, ("rules/boss.toml", RulesFile(roles={"boss": boss}))]
        defined = sorted({name for _, f in rules for name in f.roles}) or ["nobody"]
        allowing = sorted(
            {m for _, f in rules for r in f.roles.values() if r.allow for m in r.members} - {OWNER}
        )
        denied = sorted(
            {m for _, f in rules for r in f.roles.values() if r.deny for m in r.members} - {OWNER}
        )
        granters = (*allowing, *allowing, *persons)
        grantees = (*denied, *persons)  # own denies against grants, as often as not
        everywhere = ("all",) * len(selectors) + tuple(selectors)
        made = draw(grants(grantees, defined, everywhere, granters, min_size=1))
        starts = sorted({since_epoch(g.start) for g in made})
        edges = sorted({*TICKS, *starts, *(since_epoch(g.until) for g in made)})
        return rules, made, draw(st.sampled_from(starts) | st.sampled_from(edges))

    return drawn()
