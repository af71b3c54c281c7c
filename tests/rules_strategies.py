"""Hypothesis strategies for rule sets, shared by the property and Cedar tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

from tendr.rules.model import OWNER, Role, Rule, RulesFile

Rules = list[tuple[str, RulesFile]]


@dataclass(frozen=True)
class FakeHost:
    """What a selector looks at, without an inventory."""

    name: str
    client: str
    groups: tuple[str, ...]
    tags: tuple[str, ...]


def rules(patterns: Sequence[str], selectors: Sequence[str]) -> st.SearchStrategy[Rule]:
    return st.builds(
        Rule,
        ops=st.lists(st.sampled_from(patterns), min_size=1, max_size=3).map(tuple),
        hosts=st.lists(st.sampled_from(selectors), min_size=1, max_size=2).map(tuple),
    )


def rule_sets(
    patterns: Sequence[str],
    selectors: Sequence[str],
    members: Sequence[str],
    role_names: Sequence[str],
    paths: Sequence[str],
) -> st.SearchStrategy[Rules]:
    """Up to three rules files of up to three roles, members drawn from `members` and @owner."""
    one_rule = rules(patterns, selectors)
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
