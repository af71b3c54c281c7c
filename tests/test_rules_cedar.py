"""Differential test: tendr's decisions against Cedar's on the same rules, translated.

Users are members of Role entities; each operation is an Action; hosts are Host
entities with client, groups and tags. An allow rule becomes a `permit`, a deny
a `forbid`, each annotated with the rule's reference. Operation patterns are
expanded over a finite universe of operations by a regular expression written
here, independently of tendr's matcher. Cedar is default-deny and forbid wins,
the semantics tendr promises.
"""

from __future__ import annotations

import json
import re
from typing import Any

import cedarpy
from hypothesis import given, settings
from hypothesis import strategies as st

from tendr.rules.decide import decide
from tendr.rules.model import OWNER, RulesFile
from tests.rules_strategies import FakeHost, Rules
from tests.rules_strategies import rule_sets as rule_sets_of

PERSONS = ("alice", "bob", "carol", "dave")
KINDS = ("service", "printer", "file", "package")
VERBS = ("start", "remove", "write", "install")
READING = ("plan", "logs", "report")
# Operations tendr's patterns must not confuse with the real ones (anchoring).
TRAPS = ("service.a.b", "services.start", "printer", "file.remove.x")
UNIVERSE = (*READING, *(f"{k}.{v}" for k in KINDS for v in VERBS), *TRAPS)
PATTERNS = (
    "*",
    "*.*",
    *READING,
    *(f"{k}.*" for k in KINDS),
    *(f"*.{v}" for v in VERBS),
    "service.start",
    "printer.remove",
    "file.write",
    "package.install",
)
HOST_NAMES = ("h1", "h2", "h3")
CLIENTS = ("acme", "beta")
GROUPS = ("g1", "g2")
TAGS = ("t1", "t2")
SELECTORS = (
    "all",
    *HOST_NAMES,
    *(f"client:{c}" for c in CLIENTS),
    *(f"group:{g}" for g in GROUPS),
    *(f"tag:{t}" for t in TAGS),
)
ROLE_NAMES = ("r1", "r2", "r3")
PATHS = ("rules/a.toml", "rules/b.toml")


rule_sets = rule_sets_of(PATTERNS, SELECTORS, PERSONS[:3], ROLE_NAMES, PATHS)
host_st = st.builds(
    FakeHost,
    name=st.sampled_from(HOST_NAMES),
    client=st.sampled_from(CLIENTS),
    groups=st.lists(st.sampled_from(GROUPS), unique=True).map(tuple),
    tags=st.lists(st.sampled_from(TAGS), unique=True).map(tuple),
)
hosts_st = st.lists(host_st, min_size=1, max_size=3, unique_by=lambda h: h.name)
owners = st.sampled_from((None, "alice", "dave"))


def expand(pattern: str) -> list[str]:
    """The operations of the universe a pattern names: '*' alone is everything, and
    otherwise each '*' stands for one run of characters without a dot."""
    if pattern == "*":
        return list(UNIVERSE)
    regex = re.compile("[^.]+".join(re.escape(part) for part in pattern.split("*")))
    return [op for op in UNIVERSE if regex.fullmatch(op)]


def cedar_str(value: str) -> str:
    return json.dumps(value)


def condition(selector: str) -> str:
    """The Cedar condition on `resource` for one host selector."""
    if selector == "all":
        return "true"
    prefix, _, value = selector.partition(":")
    if not value:
        return f"resource == Host::{cedar_str(selector)}"
    attribute = {"group": "groups", "tag": "tags"}.get(prefix)
    if attribute:
        return f"resource.{attribute}.contains({cedar_str(value)})"
    assert prefix == "client"
    return f"resource.client == {cedar_str(value)}"


def policies(rules: Rules) -> str:
    """One permit per allow rule and one forbid per deny rule, with the rule's reference."""
    out = []
    for path, rules_file in rules:
        for name, role in rules_file.roles.items():
            for effect, keyword, listed in (
                ("allow", "permit", role.allow),
                ("deny", "forbid", role.deny),
            ):
                for index, rule in enumerate(listed):
                    actions = sorted({op for p in rule.ops for op in expand(p)})
                    action_list = ", ".join(f"Action::{cedar_str(a)}" for a in actions)
                    when = " || ".join(f"({condition(s)})" for s in rule.hosts)
                    ref = f"{path}: roles.{name}.{effect}[{index}]"
                    out.append(
                        f"@id({cedar_str(ref)})\n{keyword}(principal in Role::{cedar_str(name)}, "
                        f"action in [{action_list}], resource) when {{ {when} }};"
                    )
    return "\n".join(out)


def entities(rules: Rules, hosts: list[FakeHost], owner: str | None) -> list[dict[str, Any]]:
    """Users in their Role groups ('@owner' resolved), every Action, and the hosts."""
    roles = sorted({name for _, f in rules for name in f.roles})
    out: list[dict[str, Any]] = []
    for person in PERSONS:
        held = sorted(
            {
                name
                for _, f in rules
                for name, role in f.roles.items()
                if person in role.members or (OWNER in role.members and person == owner)
            }
        )
        out.append(
            {
                "uid": {"type": "User", "id": person},
                "attrs": {},
                "parents": [{"type": "Role", "id": r} for r in held],
            }
        )
    out += [{"uid": {"type": "Role", "id": r}, "attrs": {}, "parents": []} for r in roles]
    out += [{"uid": {"type": "Action", "id": a}, "attrs": {}, "parents": []} for a in UNIVERSE]
    out += [
        {
            "uid": {"type": "Host", "id": h.name},
            "attrs": {"client": h.client, "groups": list(h.groups), "tags": list(h.tags)},
            "parents": [],
        }
        for h in hosts
    ]
    return out


def compare(rules: Rules, hosts: list[FakeHost], owner: str | None) -> None:
    """Every (person, operation, host) gets the same answer, and the rule tendr names is
    one of the policies Cedar says decided."""
    grid = [(p, op, h) for p in PERSONS for op in UNIVERSE for h in hosts]
    requests = [
        {
            "principal": {"type": "User", "id": p},
            "action": {"type": "Action", "id": op},
            "resource": {"type": "Host", "id": h.name},
            "context": {},
        }
        for p, op, h in grid
    ]
    results = cedarpy.is_authorized_batch(requests, policies(rules), entities(rules, hosts, owner))
    for (person, op, host), result in zip(grid, results, strict=True):
        # Cedar reports a malformed policy set or an evaluation error as a plain
        # Deny/NoDecision, which would silently agree with tendr's default deny.
        assert result.diagnostics.errors == [], result.diagnostics.errors
        assert result.decision in (cedarpy.Decision.Allow, cedarpy.Decision.Deny)
        ours = decide(person, op, host, rules, owner)
        assert ours.allowed == result.allowed, (person, op, host, ours, policies(rules))
        deciding = set(result.diagnostics.id_annotations_by_reason.values())
        if ours.rule is None:
            assert deciding == set()
        else:
            assert ours.rule.rsplit(" (", 1)[0] in deciding


@settings(max_examples=120, deadline=None)
@given(rule_sets, hosts_st, owners)
def test_tendr_agrees_with_cedar(rules: Rules, hosts: list[FakeHost], owner: str | None) -> None:
    """On generated rule sets and requests, tendr and Cedar allow exactly the same things."""
    compare(rules, hosts, owner)


def test_tendr_agrees_with_cedar_on_the_design_example() -> None:
    """The README example, helpdesk and auditor, decided alike by both engines."""
    example = RulesFile.model_validate(
        {
            "roles": {
                "helpdesk": {
                    "members": ["alice", "bob"],
                    "allow": [
                        {"ops": ["plan", "logs"], "hosts": ["all"]},
                        {"ops": ["service.start", "printer.*"], "hosts": ["client:acme"]},
                    ],
                    "deny": [{"ops": ["*.remove"], "hosts": ["all"]}],
                },
                "auditor": {
                    "members": ["dave"],
                    "allow": [{"ops": ["plan", "report"], "hosts": ["all"]}],
                },
            }
        }
    )
    hosts = [FakeHost("h1", "acme", ("g1",), ()), FakeHost("h2", "beta", (), ("t1",))]
    compare([("rules/roles.toml", example)], hosts, None)


def test_expansion_is_anchored() -> None:
    """The test's own pattern expansion respects segments, so the comparison means something."""
    assert expand("service.*") == [
        "service.start",
        "service.remove",
        "service.write",
        "service.install",
    ]
    assert "printer" not in expand("*.*") and "service.a.b" not in expand("*.*")
    assert "file.remove.x" not in expand("*.remove")
