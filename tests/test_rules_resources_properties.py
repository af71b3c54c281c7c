"""Properties of rules down to the resource and of grants for a time (hypothesis).

Resource patterns are checked against matchers written here from tendr.rules.resources'
documentation (names whole, '*' any run; paths anchored at '/', '*' within one segment,
'**' a whole segment for any number of whole segments, none included; paths compared
normalised), and decisions against the documented semantics of rules naming resources
and of grants: a grant's role's denies count as the person's own do, its allows only
where the granting person may do the same by their own roles, and only while and where
the grant holds. The generated rule sets of test_rules_properties name resources too, so
the algebra there (deny wins, order, monotonicity) is checked down to the resource.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from tendr.rules.decide import Decision, decide
from tendr.rules.model import Grant, Role, Rule, RulesFile
from tendr.rules.resources import check_pattern, covers
from tests.rules_strategies import (
    OFFSETS,
    FakeHost,
    Rules,
    at,
    fits,
    rules,
    rules_with_grants,
    written,
)
from tests.rules_strategies import rule_sets as rule_sets_of

PERSONS = ("alice", "bob", "carol", "dave")  # dave is in no generated role unless @owner
OPS = (
    "plan",
    "rules.edit",
    "service.restart",
    "file.write",
    "file.remove",
    "package.install",
    "driver.install",
    "printer.add",
)
PATTERNS = (
    "*",
    "*.*",
    "plan",
    "rules.edit",
    "service.*",
    "file.*",
    "*.remove",
    "*.install",
    "file.write",
    "package.install",
    "driver.*",
    "printer.*",
)
SELECTORS = ("all", "h1", "h2", "client:acme", "client:beta", "group:g1", "tag:t1")
ROLE_NAMES = ("r1", "r2", "r3")
FILES = ("rules/a.toml", "rules/b.toml")
HOSTS = (
    FakeHost("h1", "acme", ("g1",), ()),
    FakeHost("h2", "acme", (), ("t1",)),
    FakeHost("h3", "beta", ("g1",), ("t1",)),
)
# The field of a rule that names the resources of each kind of operation (the module
# doc's table, written out here); operations of other kinds have none.
FIELD_OF_KIND = {
    "service": "units",
    "file": "paths",
    "package": "packages",
    "driver": "packages",
    "printer": "printers",
    "backup": "backups",
    "module": "modules",
}
RESOURCE_PATTERNS = {
    "units": ("cups*", "*.service"),
    "paths": ("/etc/**", "/etc/cups/*", "/etc/motd", "/**"),
    "packages": ("cups", "printer-*", "*"),
    "printers": ("office", "c*"),
}
# What requests are about, by the kind of their operation, besides no resource at all;
# the same names under several kinds, and a path to be normalised.
RESOURCES = {
    "service": ("cups.service", "sshd.service"),
    "file": ("/etc/cups/cupsd.conf", "/etc/motd", "/etc/cups/../motd"),
    "package": ("cups", "printer-driver-hp"),
    "driver": ("printer-driver-hp",),
    "printer": ("office", "cups"),
}
STRAY = ("cups",)  # what operations without resources are asked about all the same

Request = tuple[str, str, FakeHost, str | None]  # person, operation, host, resource


def field_of(op: str) -> str | None:
    kind, dot, _ = op.partition(".")
    return FIELD_OF_KIND.get(kind) if dot else None


def resources_of(op: str) -> tuple[str | None, ...]:
    return (None, *RESOURCES.get(op.partition(".")[0], STRAY))


GRID: list[Request] = [
    (p, op, h, r) for p in PERSONS for op in OPS for r in resources_of(op) for h in HOSTS
]
ON_RESOURCES = [(op, r) for op in OPS if field_of(op) for r in resources_of(op) if r is not None]

one_rule = rules(PATTERNS, SELECTORS, RESOURCE_PATTERNS)
rule_sets = rule_sets_of(PATTERNS, SELECTORS, PERSONS[:3], ROLE_NAMES, FILES, RESOURCE_PATTERNS)
plain_rule_sets = rule_sets_of(PATTERNS, SELECTORS, PERSONS[:3], ROLE_NAMES, FILES)
owners = st.sampled_from((None, "alice", "dave"))
rules_and_grants = rules_with_grants(rule_sets, one_rule, PERSONS, SELECTORS)

EVERYTHING = Rule(ops=("*",), hosts=("all",))
PROBE = "probe"  # an account in no generated role, to ask what one role says


def ask(
    request: Request,
    rules: Rules,
    owner: str | None,
    grants: Sequence[Grant] = (),
    now: datetime | None = None,
) -> Decision:
    person, op, host, resource = request
    return decide(person, op, host, rules, owner, resource, grants, now)


def allowed_set(rules: Rules, owner: str | None) -> set[Request]:
    return {r for r in GRID if ask(r, rules, owner).allowed}


Edit = Callable[[Rule], list[Rule]]


def edit_rules(rules: Rules, edit: dict[str, Edit]) -> Rules:
    """`rules` with each role's allow and deny rules replaced: edit['allow'] and
    edit['deny'] map one rule to the rules it becomes (none: dropped)."""

    def side(listed: tuple[Rule, ...], effect: str) -> tuple[Rule, ...]:
        change = edit.get(effect)
        if change is None:
            return listed
        return tuple(new for rule in listed for new in change(rule))

    return [
        (
            path,
            RulesFile(
                roles={
                    name: role.model_copy(
                        update={"allow": side(role.allow, "allow"), "deny": side(role.deny, "deny")}
                    )
                    for name, role in rules_file.roles.items()
                }
            ),
        )
        for path, rules_file in rules
    ]


# -- the documented matching, written here ---------------------------------------------------


@cache
def wildcard(pattern: str, text: str) -> bool:
    """Whether `text` is `pattern`, each '*' standing for any run of characters."""
    if not pattern:
        return not text
    if pattern[0] == "*":
        return any(wildcard(pattern[1:], text[i:]) for i in range(len(text) + 1))
    return bool(text) and text[0] == pattern[0] and wildcard(pattern[1:], text[1:])


def segments(path: str) -> tuple[str, ...]:
    """The segments of the path once normalised: no empty or '.' segment, each '..'
    taking away the one before it (none above the root)."""
    out: list[str] = []
    for part in path.split("/"):
        if part == "..":
            del out[-1:]
        elif part not in ("", "."):
            out.append(part)
    return tuple(out)


def normal(path: str) -> str:
    return "/" + "/".join(segments(path))


@cache
def segments_match(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    """'**' is any number of whole segments, none included; any other segment of the
    pattern matches exactly one segment, its '*' standing for any run within it."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(segments_match(rest, path[i:]) for i in range(len(path) + 1))
    return bool(path) and wildcard(head, path[0]) and segments_match(rest, path[1:])


def documented(field: str, pattern: str, resource: str) -> bool:
    if field == "paths":
        return segments_match(segments(pattern), segments(resource))
    return wildcard(pattern, resource)


# -- resource patterns -----------------------------------------------------------------------

NAME_CHARS = "abA.-@+_"  # no ":": a package is matched without its architecture
names = st.text(NAME_CHARS, max_size=6)
name_patterns = st.text(NAME_CHARS + "*", min_size=1, max_size=6)
segment_names = st.text("ab.x", min_size=1, max_size=3).filter(lambda s: s not in (".", ".."))
normal_paths = st.lists(segment_names, min_size=1, max_size=4).map(lambda s: "/" + "/".join(s))
pattern_segments = st.one_of(
    segment_names,
    st.just("**"),
    st.text("ab.*", min_size=1, max_size=3).filter(lambda s: "**" not in s and s.strip(".")),
)
path_patterns = st.lists(pattern_segments, min_size=1, max_size=4).map(lambda s: "/" + "/".join(s))
name_fields = st.sampled_from(("units", "packages", "printers", "backups", "modules"))


def as_read(field: str, name: str) -> str:
    """A name as the host reads it: a CUPS queue in any ASCII case, a kernel module with
    '-' and '_' one character (a package's architecture: see test_rules_identity)."""
    if field == "printers":
        return "".join(c.lower() if c.isascii() else c for c in name)
    if field == "modules":
        return name.replace("-", "_")
    return name


@settings(max_examples=300)
@given(name_fields, name_patterns, names)
def test_name_patterns_match_whole_names(field: str, pattern: str, name: str) -> None:
    """A name pattern names exactly the names it spells, each '*' any run of characters,
    both as the host reads them (whether the pattern can name any real resource at all
    is test_rules_patterns')."""
    assert covers(field, pattern, name) == wildcard(as_read(field, pattern), as_read(field, name))


@settings(max_examples=100)
@given(name_fields, names.filter(bool), names, names)
def test_a_name_without_star_names_itself_alone(
    field: str, name: str, before: str, after: str
) -> None:
    """Anchored: no prefix or suffix of a name, nor a name around it, matches."""
    assert covers(field, name, name)
    if before or after:
        assert not covers(field, name, before + name + after)
        assert not covers(field, before + name + after, name)


@settings(max_examples=300)
@given(path_patterns, normal_paths)
def test_path_patterns_follow_their_documentation(pattern: str, path: str) -> None:
    """On a normal path (below the root: see the root's own tests), a path pattern matches as
    documented: '*' within one segment, '**' whole segments, none included."""
    assert check_pattern("paths", pattern) is None
    assert covers("paths", pattern, path) == documented("paths", pattern, path)


@settings(max_examples=100)
@given(normal_paths, normal_paths, normal_paths)
def test_a_path_without_wildcards_names_itself_alone(path: str, before: str, after: str) -> None:
    """Anchored at '/': the path itself, never one above, below or around it."""
    assert covers("paths", path, path)
    assert not covers("paths", path, before + path)
    assert not covers("paths", path, path + after)
    assert not covers("paths", path + after, path)


@settings(max_examples=100)
@given(st.lists(segment_names, max_size=2), segment_names, segment_names, segment_names)
def test_a_star_stays_within_its_segment(folder: list[str], a: str, b: str, piece: str) -> None:
    """'*' and 'x*' name one segment under the folder, never two; '**' names both."""
    base = "".join(f"/{s}" for s in folder)
    assert covers("paths", f"{base}/*", f"{base}/{a}")
    assert not covers("paths", f"{base}/*", f"{base}/{a}/{b}")
    assert not covers("paths", f"{base}/{piece}*", f"{base}/{piece}{a}/{b}")
    assert covers("paths", f"{base}/**", f"{base}/{a}/{b}")
    if folder:  # '**' for no segment at all (for the root, see the root's own tests)
        assert covers("paths", f"{base}/**", base)


@settings(max_examples=100)
@given(st.text("ab*", min_size=1, max_size=4), st.text("ab*", max_size=2))
def test_a_double_star_stands_only_as_a_whole_segment(head: str, tail: str) -> None:
    """A segment holding '**' and anything else is refused."""
    for segment in (f"{head}**{tail}", f"**{head}", f"{head}**"):
        if segment != "**":
            assert check_pattern("paths", f"/etc/{segment}/x") is not None


@st.composite
def untidy(draw: st.DrawFn, path: str) -> str:
    """`path` written another way: '//', '.' segments, 'x/..' detours, a trailing '/'."""
    out = []
    for segment in path[1:].split("/"):
        out += draw(st.lists(st.sampled_from((".", "", "zz/..", "a/b/../..")), max_size=2))
        out.append(segment)
    if draw(st.booleans()):
        out.append("")
    lead = draw(st.sampled_from(("/", "//", "/./", "/../")))
    return lead + "/".join(out)


@settings(max_examples=200)
@given(path_patterns, normal_paths, st.data())
def test_paths_are_compared_normalised(pattern: str, path: str, data: st.DataObject) -> None:
    """A path written with '//', '.', '..' or a trailing '/' is named as its normal form."""
    other = data.draw(untidy(path))
    assert normal(other) == path  # the test's own normalisation agrees
    assert covers("paths", pattern, other) == covers("paths", pattern, path)


@settings(max_examples=100)
@given(normal_paths, segment_names, st.lists(segment_names, max_size=2))
def test_dot_dot_leaves_the_pattern_s_folder(folder: str, elsewhere: str, below: list[str]) -> None:
    """'/etc/cups/../sudoers' is not under '/etc/cups/**': '..' is resolved first."""
    if elsewhere == folder.rsplit("/", 1)[1]:
        return  # '/a/b/../b/...' is back in the folder
    escaped = f"{folder}/../{elsewhere}" + "".join(f"/{s}" for s in below)
    assert not covers("paths", f"{folder}/**", escaped)
    assert not covers("paths", f"{folder}/*", escaped)


def test_double_star_alone_covers_the_root() -> None:
    """'**' is any number of whole segments, none included: '/**' covers '/' as
    '/etc/cups/**' covers '/etc/cups'."""
    assert covers("paths", "/**", "/")
    assert covers("paths", "/**", "/..")


def test_star_alone_does_not_cover_the_root() -> None:
    """The root has no segment for '*' to stand within."""
    assert not covers("paths", "/*", "/")
    assert not covers("paths", "/*", "//")


# -- decisions down to the resource ----------------------------------------------------------


def covering(field: str, resource: str) -> st.SearchStrategy[str]:
    """A pattern of `field` that names `resource`, by construction (not by `covers`)."""
    if field == "paths":
        parts = segments(resource)
        folder = "/" + "/".join(parts[:-1]) if len(parts) > 1 else ""
        return st.sampled_from(
            (normal(resource), "/**", f"{folder}/**", f"{folder}/*", f"{folder}/{parts[-1][:2]}*")
        )
    return st.sampled_from((resource, "*", f"{resource[:2]}*", f"*{resource[-2:]}"))


def matching_op(op: str) -> st.SearchStrategy[str]:
    kind, _, verb = op.partition(".")
    return st.sampled_from(("*", "*.*", f"{kind}.*", f"*.{verb}", op))


def selecting(host: FakeHost) -> st.SearchStrategy[str]:
    return st.sampled_from(
        ("all", host.name, f"client:{host.client}", *(f"group:{g}" for g in host.groups))
    )


@settings(max_examples=100, deadline=None)
@given(rule_sets, owners, st.sampled_from(PERSONS), st.sampled_from(ON_RESOURCES), st.data())
def test_a_deny_naming_the_resource_beats_any_allow(
    rules: Rules,
    owner: str | None,
    person: str,
    on: tuple[str, str],
    data: st.DataObject,
) -> None:
    """A deny and an allow that both apply, either naming the resource (by a pattern
    built to name it) or not: the allow alone allows, both together deny."""
    op, resource = on
    field = field_of(op)
    assert field is not None
    host = data.draw(st.sampled_from(HOSTS))

    def applying() -> Rule:
        named = {field: (data.draw(covering(field, resource)),)} if data.draw(st.booleans()) else {}
        return Rule(ops=(data.draw(matching_op(op)),), hosts=(data.draw(selecting(host)),), **named)

    allow, deny = applying(), applying()
    request: Request = (person, op, host, resource)
    alone = [("rules/z.toml", RulesFile(roles={"z": Role(members=(person,), allow=(allow,))}))]
    assert ask(request, alone, owner).allowed
    blocked = [*rules, *alone]
    blocked.append(("rules/y.toml", RulesFile(roles={"y": Role(members=(person,), deny=(deny,))})))
    assert not ask(request, data.draw(st.permutations(blocked)), owner).allowed


@settings(max_examples=40, deadline=None)
@given(plain_rule_sets, owners)
def test_rules_naming_no_resources_decide_alike_for_every_resource(
    rules: Rules, owner: str | None
) -> None:
    """A rule naming no resources covers every resource: with such rules alone, a request
    is decided the same, by the same rule, whatever resource it names, or none."""
    for person, op, host, resource in GRID:
        with_it = ask((person, op, host, resource), rules, owner)
        without = ask((person, op, host, None), rules, owner)
        assert (with_it.allowed, with_it.rule) == (without.allowed, without.rule)


def for_field(field: str | None) -> Edit:
    """What of a rule can apply to an operation whose resources `field` names (None: an
    operation without resources): all of a rule naming none; of a rule naming some, its
    patterns of that field alone, with the operation patterns that have such resources."""

    def keep(rule: Rule) -> list[Rule]:
        named = rule.resource_fields()
        if not named:
            return [rule]
        if field is None or field not in named:
            return []
        ops = tuple(p for p in rule.ops if fits(p, field))
        return [Rule(ops=ops, hosts=rule.hosts, **{field: getattr(rule, field)})] if ops else []

    return keep


@settings(max_examples=40, deadline=None)
@given(rule_sets, owners)
def test_a_rule_naming_resources_applies_to_its_kinds_alone(
    rules: Rules, owner: str | None
) -> None:
    """A request is decided as if each rule naming resources named only those of the
    request's operation's kind (and dropped if it names none of them): rules naming
    resources never apply to a request about no resource nor to another kind's."""
    by_field = {
        field: edit_rules(rules, {"allow": for_field(field), "deny": for_field(field)})
        for field in {field_of(op) for op in OPS}
    }
    for request in GRID:
        _, op, _, resource = request
        field = field_of(op) if resource is not None else None
        expected = ask(request, by_field[field], owner).allowed
        assert ask(request, rules, owner).allowed == expected, (request, by_field[field])


def split(rule: Rule) -> list[Rule]:
    """The rule as rules of one operation pattern, one selector and at most one resource
    pattern each (leaving out operation patterns without resources of a field)."""
    named = rule.resource_fields()
    out = []
    for op in rule.ops:
        for host in rule.hosts:
            if not named:
                out.append(Rule(ops=(op,), hosts=(host,)))
            for field in named:
                if fits(op, field):
                    out += [
                        Rule(ops=(op,), hosts=(host,), **{field: (pattern,)})
                        for pattern in getattr(rule, field)
                    ]
    return out


@settings(max_examples=40, deadline=None)
@given(rule_sets, owners)
def test_a_rule_is_the_union_of_its_parts(rules: Rules, owner: str | None) -> None:
    """A rule applies when any pattern, any selector and (where it names resources) any
    resource pattern of the operation's kind match: split into one rule per combination,
    every decision stays the same."""
    assert allowed_set(edit_rules(rules, {"allow": split, "deny": split}), owner) == (
        allowed_set(rules, owner)
    )


def narrowing(field: str, pattern: str) -> Edit:
    """A rule naming no resources narrowed to `pattern` of `field` (with the operation
    patterns that have such resources; none: the rule is dropped)."""

    def narrow(rule: Rule) -> list[Rule]:
        if rule.resource_fields():
            return [rule]
        ops = tuple(p for p in rule.ops if fits(p, field))
        return [Rule(ops=ops, hosts=rule.hosts, **{field: (pattern,)})] if ops else []

    return narrow


field_patterns = st.sampled_from([(f, p) for f, ps in RESOURCE_PATTERNS.items() for p in ps])


@settings(max_examples=40, deadline=None)
@given(rule_sets, owners, field_patterns)
def test_naming_resources_in_an_allow_never_allows_more(
    rules: Rules, owner: str | None, narrowed_to: tuple[str, str]
) -> None:
    """Restricting allow rules to some resources allows nothing new."""
    narrowed = edit_rules(rules, {"allow": narrowing(*narrowed_to)})
    assert allowed_set(narrowed, owner) <= allowed_set(rules, owner)


@settings(max_examples=40, deadline=None)
@given(rule_sets, owners, field_patterns)
def test_naming_resources_in_a_deny_never_denies_more(
    rules: Rules, owner: str | None, narrowed_to: tuple[str, str]
) -> None:
    """Restricting deny rules to some resources denies nothing that was allowed."""
    narrowed = edit_rules(rules, {"deny": narrowing(*narrowed_to)})
    assert allowed_set(narrowed, owner) >= allowed_set(rules, owner)


# -- grants ----------------------------------------------------------------------------------


def selects(selector: str, host: FakeHost) -> bool:
    prefix, _, value = selector.partition(":")
    if not value:
        return selector in ("all", host.name)
    if prefix == "group":
        return value in host.groups
    if prefix == "tag":
        return value in host.tags
    return prefix == "client" and host.client == value


def held(grant: Grant, request: Request, now: datetime) -> bool:
    """The grant is the person's, and holds now on the host, for an operation that is not
    `rules.*` (as documented: a grant never changes the rules nor grants)."""
    person, op, host, _ = request
    return (
        not op.startswith("rules.")
        and grant.person == person
        and datetime.fromisoformat(grant.start) <= now < datetime.fromisoformat(grant.until)
        and any(selects(s, host) for s in grant.hosts)
    )


def role_says(rules: Rules, role: str, request: Request, effect: str) -> bool:
    """Whether one of `role`'s allow (or deny) rules, in any file, applies to the request."""
    listed = tuple(
        rule
        for _, rules_file in rules
        if role in rules_file.roles
        for rule in getattr(rules_file.roles[role], effect)
    )
    if effect == "allow":
        probe = Role(members=(PROBE,), allow=listed)
    else:
        probe = Role(members=(PROBE,), allow=(EVERYTHING,), deny=listed)
    _, op, host, resource = request
    alone = [("rules/probe.toml", RulesFile(roles={"probe": probe}))]
    decision = ask((PROBE, op, host, resource), alone, None)
    return decision.allowed == (effect == "allow")


def granter_may(rules: Rules, owner: str | None, grant: Grant, request: Request) -> bool:
    """The granting person's own roles allow the same request (their grants aside)."""
    _, op, host, resource = request
    return ask((grant.granted_by, op, host, resource), rules, owner).allowed


Drawn = tuple[Rules, list[Grant], int]


@settings(max_examples=40, deadline=None)
@given(rules_and_grants, owners)
def test_a_grant_never_allows_what_its_granter_may_not_do(drawn: Drawn, owner: str | None) -> None:
    """Whatever a grant allows beyond the person's own roles, its role allows and the
    granting person may do by their own roles: for every request."""
    rules, grants, tick = drawn
    now = at(tick)
    for request in GRID:
        if (
            ask(request, rules, owner, grants, now).allowed
            and not ask(request, rules, owner).allowed
        ):
            assert any(
                held(g, request, now)
                and role_says(rules, g.role, request, "allow")
                and granter_may(rules, owner, g, request)
                for g in grants
            ), request


@settings(max_examples=40, deadline=None)
@given(rules_and_grants, owners)
def test_a_grant_takes_away_only_through_its_role_s_denies(drawn: Drawn, owner: str | None) -> None:
    """What the person's own roles allow, a grant denies only by a deny rule of its role
    (reported as the grant's)."""
    rules, grants, tick = drawn
    now = at(tick)
    for request in GRID:
        decision = ask(request, rules, owner, grants, now)
        if ask(request, rules, owner).allowed and not decision.allowed:
            assert any(
                held(g, request, now) and role_says(rules, g.role, request, "deny") for g in grants
            ), request
            assert (decision.rule or "").startswith("grant ")


@settings(max_examples=40, deadline=None)
@given(rules_and_grants, owners)
def test_a_held_grant_allows_what_its_role_and_its_granter_allow(
    drawn: Drawn, owner: str | None
) -> None:
    """The grant works: unless a deny of the person's own roles or of a held grant's role
    applies, a held grant whose role allows the request, granted by someone whose own
    roles allow it, allows it."""
    rules, grants, tick = drawn
    now = at(tick)
    for request in GRID:
        mine = [g for g in grants if held(g, request, now)]
        own = ask(request, rules, owner)
        if (own.rule is not None and not own.allowed) or any(
            role_says(rules, g.role, request, "deny") for g in mine
        ):
            continue
        if any(
            role_says(rules, g.role, request, "allow") and granter_may(rules, owner, g, request)
            for g in mine
        ):
            assert ask(request, rules, owner, grants, now).allowed, request


@settings(max_examples=40, deadline=None)
@given(rules_and_grants, owners)
def test_a_held_grant_s_role_denies_bind_the_person(drawn: Drawn, owner: str | None) -> None:
    """A deny of a held grant's role counts as the person's own would: whatever their own
    roles or other grants allow, the request is refused."""
    rules, grants, tick = drawn
    now = at(tick)
    for request in GRID:
        if any(held(g, request, now) and role_says(rules, g.role, request, "deny") for g in grants):
            decision = ask(request, rules, owner, grants, now)
            assert not decision.allowed and decision.rule is not None, request


def test_the_granter_s_own_grants_do_not_count() -> None:
    """A grant is as wide as its granter's own roles: what the granter may do only through
    a grant of their own, their grantee may not."""
    rules: Rules = [
        (
            "rules/a.toml",
            RulesFile(
                roles={
                    "admin": Role(members=("carol",), allow=(EVERYTHING,)),
                    "printing": Role(allow=(Rule(ops=("printer.*",), hosts=("all",)),)),
                }
            ),
        )
    ]

    def grant(person: str, role: str, granter: str) -> Grant:
        return Grant(
            id=f"g-{person}",
            person=person,
            role=role,
            hosts=("all",),
            granted_by=granter,
            reason="ticket",
            start=written(0, OFFSETS[0]),
            until=written(3600, OFFSETS[1]),
        )

    grants = [grant("bob", "admin", "carol"), grant("alice", "printing", "bob")]
    request: Request = ("bob", "printer.add", HOSTS[0], "office")
    assert ask(request, rules, None, grants, at(0)).allowed  # bob, through carol's grant
    refused = ask(("alice", *request[1:]), rules, None, grants, at(0))
    assert not refused.allowed
    assert "but bob may not do this" in refused.reason


@settings(max_examples=40, deadline=None)
@given(rules_and_grants, owners)
def test_own_denies_stand_whatever_the_grants(drawn: Drawn, owner: str | None) -> None:
    """A request a deny of the person's own roles refuses is refused the same way, grants
    or not."""
    rules, grants, tick = drawn
    for request in GRID:
        own = ask(request, rules, owner)
        if own.rule is not None and not own.allowed:
            assert ask(request, rules, owner, grants, at(tick)) == own


@settings(max_examples=40, deadline=None)
@given(rules_and_grants, owners)
def test_only_the_person_s_grants_that_hold_now_on_the_host_count(
    drawn: Drawn, owner: str | None
) -> None:
    """Grants of other people (the granter's own included), grants not yet started or
    ended, and grants on other hosts change no decision, nor its reasons."""
    rules, grants, tick = drawn
    now = at(tick)
    for request in GRID:
        mine = [g for g in grants if held(g, request, now)]
        assert ask(request, rules, owner, grants, now) == ask(request, rules, owner, mine, now)


@settings(max_examples=40, deadline=None)
@given(rules_and_grants, owners)
def test_grants_that_do_not_hold_change_nothing(drawn: Drawn, owner: str | None) -> None:
    """Expired and not-yet-started grants (of anyone, anywhere) change no decision."""
    rules, grants, tick = drawn
    now = at(tick)
    idle = [g for g in grants if not g.holds_at(now)]
    for request in GRID:
        assert ask(request, rules, owner, idle, now) == ask(request, rules, owner)


@settings(max_examples=40, deadline=None)
@given(rules_and_grants, owners, st.randoms(use_true_random=False))
def test_the_order_of_grants_does_not_matter(
    drawn: Drawn, owner: str | None, rnd: random.Random
) -> None:
    """Shuffled grants give the same decisions, by the same rule, for the same reason."""
    rules, grants, tick = drawn
    shuffled = list(grants)
    rnd.shuffle(shuffled)
    for request in GRID[::2]:
        assert ask(request, rules, owner, shuffled, at(tick)) == ask(
            request, rules, owner, grants, at(tick)
        )


@settings(max_examples=100)
@given(
    st.integers(-10, 10),
    st.integers(1, 10),  # a grant ends after it starts (the model refuses others)
    st.sampled_from(OFFSETS),
    st.sampled_from(OFFSETS),
    st.integers(-12, 22),
)
def test_a_grant_holds_from_its_start_until_its_end(
    start: int, length: int, start_offset: timedelta, until_offset: timedelta, when: int
) -> None:
    """From its start (included) to its end (excluded), whatever UTC offsets they are
    written with."""
    grant = Grant(
        id="g1",
        person="dave",
        role="r1",
        hosts=("all",),
        granted_by="carol",
        reason="ticket",
        start=written(start, start_offset),
        until=written(start + length, until_offset),
    )
    assert grant.holds_at(at(when)) == (start <= when < start + length)
