"""Properties of permission decisions, checked on generated rule sets (hypothesis).

Rule sets include rules naming resources, and requests are about a resource of their
operation's kind or none: the algebra below holds down to the resource. Properties
particular to resources and grants are in test_rules_resources_properties."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from tendr.rules.decide import Decision, decide, matching_rules
from tendr.rules.model import OWNER, Role, Rule, RulesFile
from tests.rules_strategies import FakeHost, Rules, rules
from tests.rules_strategies import rule_sets as rule_sets_of

PERSONS = ("alice", "bob", "carol", "dave")  # dave is in no generated role unless drawn
OPS = (
    "plan",
    "logs",
    "report",
    "service.start",
    "service.stop",
    "printer.add",
    "printer.remove",
    "file.write",
    "package.install",
)
PATTERNS = (
    "*",
    "*.*",
    "plan",
    "logs",
    "report",
    "service.*",
    "printer.*",
    "*.remove",
    "*.add",
    "service.start",
    "printer.remove",
    "file.write",
    "package.install",
)
SELECTORS = ("all", "h1", "h2", "client:acme", "client:beta", "group:g1", "group:g2", "tag:t1")
ROLE_NAMES = ("r1", "r2", "r3")
PATHS = ("rules/a.toml", "rules/b.toml", "rules/c.toml")
RESOURCE_PATTERNS = {
    "units": ("cups*", "*.service", "sshd.service"),
    "paths": ("/etc/**", "/etc/cups/*", "/etc/motd"),
    "packages": ("cups", "printer-*"),
    "printers": ("office", "*"),
}
# What requests are about, by the kind of their operation (besides no resource at all).
RESOURCES = {
    "service": ("cups.service", "sshd.service"),
    "printer": ("office",),
    "file": ("/etc/cups/cupsd.conf", "/etc/motd"),
    "package": ("cups", "printer-driver-hp"),
}


HOSTS = (
    FakeHost("h1", "acme", ("g1",), ()),
    FakeHost("h2", "acme", ("g2",), ("t1",)),
    FakeHost("h3", "beta", ("g1", "g2"), ("t1",)),
    FakeHost("h4", "beta", (), ()),
)

Request = tuple[str, str, FakeHost, str | None]  # person, operation, host, resource


def resources_of(op: str) -> tuple[str | None, ...]:
    return (None, *RESOURCES.get(op.partition(".")[0], ()))


rules_st = rules(PATTERNS, SELECTORS, RESOURCE_PATTERNS)
rule_sets = rule_sets_of(PATTERNS, SELECTORS, PERSONS[:3], ROLE_NAMES, PATHS, RESOURCE_PATTERNS)
owners = st.sampled_from((None, "alice", "carol", "dave"))
requests = st.tuples(
    st.sampled_from(PERSONS),
    st.sampled_from([(o, r) for o in OPS for r in resources_of(o)]),
    st.sampled_from(HOSTS),
).map(lambda x: (x[0], x[1][0], x[2], x[1][1]))
GRID: list[Request] = [
    (p, o, h, r) for p in PERSONS for o in OPS for r in resources_of(o) for h in HOSTS
]


def ask(request: Request, rules: Rules, owner: str | None) -> Decision:
    person, op, host, resource = request
    return decide(person, op, host, rules, owner, resource)


def allowed_set(rules: Rules, owner: str | None) -> set[Request]:
    """Every request of the grid the rules allow."""
    return {r for r in GRID if ask(r, rules, owner).allowed}


def matching(pattern_for: str) -> st.SearchStrategy[str]:
    """A pattern that matches the operation `pattern_for` (by construction, not by op_matches)."""
    kind, _, verb = pattern_for.partition(".")
    if not verb:
        return st.sampled_from(("*", kind))
    return st.sampled_from(("*", "*.*", f"{kind}.*", f"*.{verb}", pattern_for))


def selecting(host: FakeHost) -> st.SearchStrategy[str]:
    """A selector that selects `host`."""
    return st.sampled_from(
        (
            "all",
            host.name,
            f"client:{host.client}",
            *(f"group:{g}" for g in host.groups),
            *(f"tag:{t}" for t in host.tags),
        )
    )


T = TypeVar("T")


def reshaped(rules: Rules, rnd: random.Random) -> Rules:
    """The same rules shuffled at every level and with some parts written twice."""

    def mix(items: Sequence[T]) -> tuple[T, ...]:
        out = [*items, *(x for x in items if rnd.random() < 0.3)]
        rnd.shuffle(out)
        return tuple(out)

    def rule(r: Rule) -> Rule:
        named = {field: mix(getattr(r, field)) for field in r.resource_fields()}
        return Rule(ops=mix(r.ops), hosts=mix(r.hosts), **named)

    def role(r: Role) -> Role:
        return Role(
            members=mix(r.members),
            allow=tuple(rule(x) for x in mix(r.allow)),
            deny=tuple(rule(x) for x in mix(r.deny)),
        )

    def rules_file(f: RulesFile) -> RulesFile:
        names = list(f.roles)
        rnd.shuffle(names)
        return RulesFile(roles={n: role(f.roles[n]) for n in names})

    out = [(path, rules_file(f)) for path, f in rules]
    out += [x for x in out if rnd.random() < 0.3]
    rnd.shuffle(out)
    return out


def with_role(rules: Rules, path: str, name: str, edit: Callable[[Role], Role]) -> Rules:
    """`rules` with one more file at `path` holding `edit` of an empty role `name`."""
    return [*rules, (path, RulesFile(roles={name: edit(Role())}))]


@settings(max_examples=60)
@given(requests)
def test_no_rules_deny_everything(request: Request) -> None:
    """Default deny: with no rules, every request is denied and no rule is named."""
    decision = ask(request, [], None)
    assert not decision.allowed and decision.rule is None


@settings(max_examples=60)
@given(rule_sets, owners)
def test_without_allow_rules_nothing_is_allowed(rules: Rules, owner: str | None) -> None:
    """Default deny: rule sets whose roles allow nothing allow nothing, whatever they deny."""
    stripped = [
        (p, RulesFile(roles={n: Role(members=r.members, deny=r.deny) for n, r in f.roles.items()}))
        for p, f in rules
    ]
    assert allowed_set(stripped, owner) == set()


@settings(max_examples=80)
@given(rule_sets, owners, requests, st.data())
def test_a_deny_beats_an_allow(
    rules: Rules, owner: str | None, request: Request, data: st.DataObject
) -> None:
    """A matching deny in any role of the person beats a matching allow in any role
    (either naming no resources, as here; see also test_rules_resources_properties)."""
    person, op, host, _ = request
    deny = Rule(ops=(data.draw(matching(op)),), hosts=(data.draw(selecting(host)),))
    allow = Rule(ops=(data.draw(matching(op)),), hosts=(data.draw(selecting(host)),))
    same_role = data.draw(st.booleans())
    granted = with_role(
        rules,
        "rules/z.toml",
        "grant",
        lambda r: r.model_copy(update={"members": (person,), "allow": (allow,)}),
    )
    assert ask(request, granted[-1:], owner).allowed  # the allow alone allows
    blocked = with_role(
        granted,
        data.draw(st.sampled_from(PATHS)),
        "grant" if same_role else "block",
        lambda r: r.model_copy(update={"members": (person,), "deny": (deny,)}),
    )
    assert not ask(request, data.draw(st.permutations(blocked)), owner).allowed


@settings(max_examples=40, deadline=None)
@given(rule_sets, owners, st.randoms(use_true_random=False))
def test_order_and_duplication_do_not_matter(
    rules: Rules, owner: str | None, rnd: random.Random
) -> None:
    """Shuffling or repeating files, roles, members, rules, patterns and selectors
    changes no decision."""
    assert allowed_set(reshaped(rules, rnd), owner) == allowed_set(rules, owner)


@settings(max_examples=40, deadline=None)
@given(rule_sets, owners, st.randoms(use_true_random=False))
def test_file_order_does_not_change_the_reported_rule(
    rules: Rules, owner: str | None, rnd: random.Random
) -> None:
    """Shuffling or repeating whole files changes nothing, not even the rule reported."""
    files = [*rules, *(x for x in rules if rnd.random() < 0.5)]
    rnd.shuffle(files)
    for request in GRID[::3]:
        assert ask(request, files, owner) == ask(request, rules, owner)


@settings(max_examples=40, deadline=None)
@given(
    rule_sets,
    owners,
    rules_st,
    st.sampled_from(ROLE_NAMES + ("fresh",)),
    st.sampled_from(PATHS),
    st.lists(st.sampled_from(PERSONS), max_size=2),
)
def test_adding_a_deny_never_allows_more(
    rules: Rules, owner: str | None, rule: Rule, role: str, path: str, members: list[str]
) -> None:
    """A new deny rule, in an existing role or a new one with any members, allows nothing new."""
    if role != "fresh":
        members = []  # listing someone in an existing role also grants its allows
    more = with_role(
        rules,
        path,
        role,
        lambda r: r.model_copy(update={"members": tuple(members), "deny": (rule,)}),
    )
    assert allowed_set(more, owner) <= allowed_set(rules, owner)


@settings(max_examples=40, deadline=None)
@given(rule_sets, owners, rules_st, st.sampled_from(ROLE_NAMES), st.sampled_from(PATHS))
def test_adding_an_allow_never_denies_more(
    rules: Rules, owner: str | None, rule: Rule, role: str, path: str
) -> None:
    """A new allow rule in any role (membership unchanged) denies nothing that was allowed."""
    more = with_role(rules, path, role, lambda r: r.model_copy(update={"allow": (rule,)}))
    assert allowed_set(more, owner) >= allowed_set(rules, owner)


@settings(max_examples=40, deadline=None)
@given(rule_sets, owners, rules_st, st.lists(st.sampled_from(PERSONS), max_size=2))
def test_a_new_allow_only_role_never_denies_more(
    rules: Rules, owner: str | None, rule: Rule, members: list[str]
) -> None:
    """A new role that only allows, whoever its members, denies nothing that was allowed."""
    more = with_role(
        rules,
        "rules/new.toml",
        "fresh",
        lambda r: r.model_copy(update={"members": tuple(members), "allow": (rule,)}),
    )
    assert allowed_set(more, owner) >= allowed_set(rules, owner)


def without_member(rules: Rules, person: str, role: str, owner: str | None) -> Rules:
    """`rules` with `person` taken out of `role` in every file ('@owner' too if it is them)."""
    gone = {person, OWNER} if person == owner else {person}
    return [
        (
            path,
            RulesFile(
                roles={
                    name: r.model_copy(
                        update={"members": tuple(m for m in r.members if m not in gone)}
                    )
                    if name == role
                    else r
                    for name, r in f.roles.items()
                }
            ),
        )
        for path, f in rules
    ]


@settings(max_examples=60, deadline=None)
@given(rule_sets, owners, st.sampled_from(PERSONS), st.sampled_from(ROLE_NAMES))
def test_removing_a_member_allows_only_what_that_role_denied(
    rules: Rules, owner: str | None, person: str, role: str
) -> None:
    """Taking a person out of a role allows them nothing new, except what that very role
    denied (its deny no longer binds them); nobody else's decisions change."""
    fewer = without_member(rules, person, role, owner)
    for request in GRID:
        before, after = ask(request, rules, owner), ask(request, fewer, owner)
        if request[0] != person:
            assert before == after
        elif after.allowed and not before.allowed:
            person, op, host, resource = request
            found = matching_rules(person, op, host, rules, owner, resource)
            denied_by = {m.role for m in found if m.effect == "deny"}
            assert denied_by == {role}


@settings(max_examples=60, deadline=None)
@given(rule_sets, owners, st.sampled_from(PERSONS), st.sampled_from(ROLE_NAMES))
def test_removing_a_member_of_a_role_without_denies_never_allows_more(
    rules: Rules, owner: str | None, person: str, role: str
) -> None:
    """Taking a person out of a role that denies nothing never allows more."""
    rules = [
        (
            p,
            RulesFile(
                roles={
                    n: r.model_copy(update={"deny": ()}) if n == role else r
                    for n, r in f.roles.items()
                }
            ),
        )
        for p, f in rules
    ]
    fewer = without_member(rules, person, role, owner)
    assert allowed_set(fewer, owner) <= allowed_set(rules, owner)


def test_a_deny_only_role_restricts_its_members() -> None:
    """A deny binds the role's members across all their roles, so leaving a deny-only
    role can allow more: the documented exception to membership monotonicity."""
    everything = Rule(ops=("*",), hosts=("all",))
    stop = Rule(ops=("service.stop",), hosts=("all",))
    rules: Rules = [
        (
            "rules/a.toml",
            RulesFile(
                roles={
                    "ops": Role(members=("alice",), allow=(everything,)),
                    "noprod": Role(members=("alice",), deny=(stop,)),
                }
            ),
        )
    ]
    host = HOSTS[0]
    assert not decide("alice", "service.stop", host, rules).allowed
    assert decide(
        "alice", "service.stop", host, without_member(rules, "alice", "noprod", None)
    ).allowed
