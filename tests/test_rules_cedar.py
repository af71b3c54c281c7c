"""Differential test: tendr's decisions against Cedar's on the same rules, translated.

Users are members of Role entities; each operation is an Action; the thing acted on
is a Resource entity named by the operation's kind and the resource's name
(`Resource::"file:/etc/motd"`, or `Resource::"none"` for an operation on no particular
resource). A name spelled otherwise than the host reads it (`printer:FrontDesk`,
`module:snd-dummy`, `package:hello:i386`) is a member of the entity of its identity
(`printer:frontdesk`, `module:snd_dummy`, `package:hello`) and rules name identities, so
Cedar's `resource in [...]` decides every spelling as the resource it is. The host is an
entity in the request's context, with client, groups and tags, and so is the time
(`context.now`, seconds since the epoch). An allow rule becomes
a `permit`, a deny a `forbid`, each annotated with the rule's reference. Operation and
resource patterns are expanded over finite universes by regular expressions written
here, independently of tendr's matchers.

A grant becomes time- and host-bounded policies for its person: its role's denies as
forbids, its role's allows as permits that also need one of the granting person's own
allow rules to match, unless one of their own deny rules does. Cedar is default-deny
and any forbid wins. tendr decides the person's own roles first, then the grants; the
two agree because tendr's decision works out to: allowed exactly when no own deny and
no held grant's role deny matches, and an own allow matches or a held grant's role
allow matches for a granter whose own roles allow the request. (Only a deny by a rule
short-circuits tendr's own-role decision: a person in no role is refused by no rule, so
their grants are still considered, as in Cedar, where they simply have no policies of
their own; the granter's own roles are asked without their grants, as `in Role` does.)
Everything in that is
expressible in Cedar (`User::"carol" in Role::"r1"` asks the granter's own roles, the
`@owner` member resolved in the entities), so the generated inputs are restricted only
where needed for speed (a small universe of names, paths and hosts).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import cedarpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tendr.rules.decide import decide
from tendr.rules.model import OWNER, Grant, Rule, RulesFile
from tests.rules_strategies import TICKS, FakeHost, Rules, at, rules_with_grants
from tests.rules_strategies import rule_sets as rule_sets_of
from tests.rules_strategies import rules as rules_of

PERSONS = ("alice", "bob", "carol", "dave")
KINDS = ("service", "printer", "file", "package", "driver", "module")
VERBS = ("start", "remove", "write", "install", "load")
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
    "driver.install",
    "module.load",
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

# The kinds of operation each resource field of a rule names: README's table, written
# out here rather than imported from tendr.rules.resources.FIELDS, so that a wrong
# mapping there shows as a disagreement instead of being copied into the reference.
FIELD_KINDS = {
    "units": ("service",),
    "paths": ("file",),
    "packages": ("package", "driver"),
    "printers": ("printer",),
    "backups": ("backup",),
    "modules": ("module",),
}
# The resources requests name, by the kind of their operation. The same names recur
# under several kinds ('cups' a package, a driver and a printer) so that a pattern of
# one field matching a name of another kind would show. Paths include ones to be
# normalised ('..', '.', '//', a trailing '/'), and names of one resource spelled as the
# host reads them alike: a queue in any case, a module with '-' or '_', a package with
# an architecture.
NAMES: dict[str, tuple[str, ...]] = {
    "service": ("cups.service", "cups-browsed.service", "sshd.service"),
    "printer": ("office", "office-2", "cups", "frontdesk", "FRONTDESK", "FrontDesk", "OFFICE-2"),
    "file": (
        "/etc/cups",
        "/etc/cups/cupsd.conf",
        "/etc/cups/ppd/a.ppd",
        "/etc/cupsx",
        "/etc/cups/../sudoers",
        "//etc/./cups/ppd/",
        "/a.ppd",
        "/etc/cups/../../etc/cups/x.conf",
        "/",
        "/..",
        "/etc/..",
    ),
    "package": ("cups", "cups-filters", "printer-driver-hp", "hello", "hello:amd64", "hello:i386"),
    "driver": ("printer-driver-hp", "cups", "printer-driver-hp:arm64"),
    "module": ("snd_dummy", "snd-dummy", "usb-storage", "usb_storage", "cups"),
}
# What an operation without a resource kind ('plan', 'printer', 'services.start') is
# asked about besides no resource: no rule naming resources may apply to it.
STRAY = ("cups",)
# Paths that normalise to the root: '/**' covers them and '/*' does not (the root has
# no segment for '*' to stand within).
ROOT_PATHS = ("/", "/..", "/etc/..")
RESOURCE_PATTERNS = {
    "units": ("cups.service", "cups*", "*.service", "*"),
    "paths": (
        "/etc/cups/**",
        "/etc/cups/*",
        "/etc/cups",
        "/**",
        "/*",
        "/etc/**/a.ppd",
        "/*/cups/*.conf",
        "/etc/cups*",
    ),
    "packages": ("cups", "cups*", "printer-driver-*", "*", "hello"),
    "printers": ("office", "office-*", "cups", "*", "FrontDesk", "front*", "OFFICE-*"),
    "modules": ("snd_dummy", "snd-*", "usb-storage", "*"),
}


rule_sets = rule_sets_of(PATTERNS, SELECTORS, PERSONS[:3], ROLE_NAMES, PATHS, RESOURCE_PATTERNS)
one_rule = rules_of(PATTERNS, SELECTORS, RESOURCE_PATTERNS)
host_st = st.builds(
    FakeHost,
    name=st.sampled_from(HOST_NAMES),
    client=st.sampled_from(CLIENTS),
    groups=st.lists(st.sampled_from(GROUPS), unique=True).map(tuple),
    tags=st.lists(st.sampled_from(TAGS), unique=True).map(tuple),
)
hosts_st = st.lists(host_st, min_size=1, max_size=2, unique_by=lambda h: h.name)
owners = st.sampled_from((None, "alice", "dave"))


rules_and_grants = rules_with_grants(rule_sets, one_rule, PERSONS, SELECTORS)


def expand(pattern: str) -> list[str]:
    """The operations of the universe a pattern names: '*' alone is everything, and
    otherwise each '*' stands for one run of characters without a dot."""
    if pattern == "*":
        return list(UNIVERSE)
    regex = re.compile("[^.]+".join(re.escape(part) for part in pattern.split("*")))
    return [op for op in UNIVERSE if regex.fullmatch(op)]


def kind_of(op: str) -> str | None:
    """The kind of a KIND.VERB operation (the first segment); None for a one-word one."""
    return op.split(".", 1)[0] if "." in op else None


def normal(path: str) -> str:
    """The path with '.', '..' (never above the root) and empty segments resolved."""
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            kept = kept[:-1]
        elif segment not in ("", "."):
            kept.append(segment)
    return "/" + "/".join(kept)


def path_regex(pattern: str) -> re.Pattern[str]:
    """A regex over a normalised path written as its segments, each after a '/' (the
    root being no segment at all, ''): '**' is any number of whole segments, '*' any run
    of characters within one."""
    segments = [] if pattern == "/" else pattern[1:].split("/")
    out = ""
    for segment in segments:
        if segment == "**":
            out += "(?:/[^/]+)*"
        else:
            out += "/" + "".join("[^/]*" if c == "*" else re.escape(c) for c in segment)
    return re.compile(out)


FIELD_OF_KIND = {kind: field for field, kinds in FIELD_KINDS.items() for kind in kinds}


def same(kind: str, name: str) -> str:
    """A name of `kind` as the host reads it (README): CUPS folds ASCII case alone,
    modprobe reads '-' as '_', and a package is itself whatever architecture is asked."""
    field = FIELD_OF_KIND.get(kind)
    if field == "printers":
        return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in name)
    if field == "modules":
        return name.replace("-", "_")
    if field == "packages":
        return name.partition(":")[0]
    return name


def named_by(field: str, pattern: str, name: str) -> bool:
    """Whether a resource pattern of `field` names `name`: names whole, '*' for any run
    of characters, both as the host reads them; paths as path_regex says, compared
    normalised."""
    if field == "paths":
        as_segments = "" if normal(name) == "/" else normal(name)
        return bool(path_regex(pattern).fullmatch(as_segments))
    kind = FIELD_KINDS[field][0]
    pattern, name = same(kind, pattern), same(kind, name)
    regex = "".join(".*" if c == "*" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.DOTALL) is not None


def resources_of(op: str) -> tuple[str | None, ...]:
    """What requests for `op` are about: no particular resource, or one of its kind's."""
    kind = kind_of(op)
    return (None, *(NAMES[kind] if kind in NAMES else STRAY))


def resource_id(op: str, name: str | None) -> str:
    return "none" if name is None else f"{kind_of(op) or '-'}:{name}"


RESOURCE_IDS = sorted({resource_id(op, r) for op in UNIVERSE for r in resources_of(op)})
IDENTITY_OF = {
    rid: f"{kind}:{same(kind, name)}"
    for rid in RESOURCE_IDS
    if rid != "none"
    for kind, _, name in [rid.partition(":")]
}
"""Each resource's entity -> the entity of what the host reads its name as (itself, or
the one it is a member of)."""


def cedar_str(value: str) -> str:
    return json.dumps(value)


def uid_list(kind: str, ids: list[str]) -> str:
    return "[" + ", ".join(f"{kind}::{cedar_str(i)}" for i in ids) + "]"


def condition(selector: str) -> str:
    """The Cedar condition on the request's host for one host selector."""
    if selector == "all":
        return "true"
    prefix, _, value = selector.partition(":")
    if not value:
        return f"context.host == Host::{cedar_str(selector)}"
    attribute = {"group": "groups", "tag": "tags"}.get(prefix)
    if attribute:
        return f"context.host.{attribute}.contains({cedar_str(value)})"
    assert prefix == "client"
    return f"context.host.client == {cedar_str(value)}"


def any_of(conditions: list[str]) -> str:
    return "(" + " || ".join(f"({c})" for c in conditions) + ")" if conditions else "false"


def resource_condition(rule: Rule) -> str | None:
    """`resource in [...]`, the resources of the universe the rule's resource patterns
    name (each under the kinds of its field); None for a rule naming no resources."""
    named: dict[str, tuple[str, ...]] = {
        field: getattr(rule, field) for field in FIELD_KINDS if getattr(rule, field)
    }
    if not named:
        return None
    ids = sorted(
        {
            f"{kind}:{same(kind, name)}"
            for field, patterns in named.items()
            for kind in FIELD_KINDS[field]
            for name in NAMES.get(kind, ())
            if any(named_by(field, p, name) for p in patterns)
        }
    )
    return f"resource in {uid_list('Resource', ids)}"


def rule_condition(rule: Rule) -> str:
    """The rule as one Cedar condition on the action, the host and the resource."""
    actions = sorted({op for p in rule.ops for op in expand(p)})
    parts = [
        f"action in {uid_list('Action', actions)}",
        any_of([condition(s) for s in rule.hosts]),
    ]
    if (on := resource_condition(rule)) is not None:
        parts.append(on)
    return " && ".join(parts)


def own_rules_of(person: str, rules: Rules, effect: str) -> str:
    """`person`'s own allow (or deny) rules as one condition: `User in Role && rule`."""
    return any_of(
        [
            f"User::{cedar_str(person)} in Role::{cedar_str(name)} && {rule_condition(rule)}"
            for _, rules_file in rules
            for name, role in rules_file.roles.items()
            for rule in (role.allow if effect == "allow" else role.deny)
        ]
    )


def epoch(moment: str) -> int:
    return int(datetime.fromisoformat(moment).timestamp())


def grant_policies(grant: Grant, rules: Rules) -> list[str]:
    """The grant's role's denies as forbids and allows as permits for the grant's person,
    while it holds and on its hosts; a permit also needs the granter's own allow and no
    own deny of theirs."""
    holds = (
        f"context.now >= {epoch(grant.start)} && context.now < {epoch(grant.until)} && "
        + any_of([condition(s) for s in grant.hosts])
    )
    who = f"principal == User::{cedar_str(grant.person)}"
    granter_allows = own_rules_of(grant.granted_by, rules, "allow")
    granter_denies = own_rules_of(grant.granted_by, rules, "deny")
    out = []
    for path, rules_file in rules:
        role = rules_file.roles.get(grant.role)
        if role is None:
            continue
        for index, rule in enumerate(role.deny):
            ref = f"grant {grant.id}: {path}: roles.{grant.role}.deny[{index}]"
            out.append(
                f"@id({cedar_str(ref)})\nforbid({who}, action, resource) "
                f"when {{ {holds} && {rule_condition(rule)} }};"
            )
        for index, rule in enumerate(role.allow):
            ref = (
                f"grant {grant.id} by {grant.granted_by} until {grant.until}: "
                f"{path}: roles.{grant.role}.allow[{index}]"
            )
            out.append(
                f"@id({cedar_str(ref)})\npermit({who}, action, resource) "
                f"when {{ {holds} && {rule_condition(rule)} && {granter_allows} }} "
                f"unless {{ {granter_denies} }};"
            )
    return out


def policies(rules: Rules, grants: list[Grant] | tuple[Grant, ...] = ()) -> str:
    """One permit per allow rule and one forbid per deny rule, with the rule's reference;
    then each grant's."""
    out = []
    for path, rules_file in rules:
        for name, role in rules_file.roles.items():
            for effect, keyword, listed in (
                ("allow", "permit", role.allow),
                ("deny", "forbid", role.deny),
            ):
                for index, rule in enumerate(listed):
                    ref = f"{path}: roles.{name}.{effect}[{index}]"
                    out.append(
                        f"@id({cedar_str(ref)})\n{keyword}(principal in Role::{cedar_str(name)}, "
                        f"action, resource) when {{ {rule_condition(rule)} }};"
                    )
    for grant in grants:
        out += grant_policies(grant, rules)
    return "\n".join(out)


def entities(rules: Rules, hosts: list[FakeHost], owner: str | None) -> list[dict[str, Any]]:
    """Users in their Role groups ('@owner' resolved), every Action, Resource and host."""
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
            "uid": {"type": "Resource", "id": r},
            "attrs": {},
            "parents": [{"type": "Resource", "id": IDENTITY_OF[r]}]
            if IDENTITY_OF.get(r, r) != r
            else [],
        }
        for r in sorted({*RESOURCE_IDS, *IDENTITY_OF.values()})
    ]
    out += [
        {
            "uid": {"type": "Host", "id": h.name},
            "attrs": {"client": h.client, "groups": list(h.groups), "tags": list(h.tags)},
            "parents": [],
        }
        for h in hosts
    ]
    return out


def compare(
    rules: Rules,
    hosts: list[FakeHost],
    owner: str | None,
    grants: list[Grant] | tuple[Grant, ...] = (),
    tick: int = 0,
) -> None:
    """Every (person, operation, resource, host) at `tick` gets the same answer, and the
    rule tendr names is one of the policies Cedar says decided."""
    now = at(tick)
    grid = [
        (p, op, r, h) for p in PERSONS for op in UNIVERSE for r in resources_of(op) for h in hosts
    ]
    requests = [
        {
            "principal": {"type": "User", "id": p},
            "action": {"type": "Action", "id": op},
            "resource": {"type": "Resource", "id": resource_id(op, r)},
            "context": {
                "host": {"__entity": {"type": "Host", "id": h.name}},
                "now": int(now.timestamp()),
            },
        }
        for p, op, r, h in grid
    ]
    text = policies(rules, grants)
    results = cedarpy.is_authorized_batch(requests, text, entities(rules, hosts, owner))
    for (person, op, resource, host), result in zip(grid, results, strict=True):
        # Cedar reports a malformed policy set or an evaluation error as a plain
        # Deny/NoDecision, which would silently agree with tendr's default deny.
        assert result.diagnostics.errors == [], result.diagnostics.errors
        assert result.decision in (cedarpy.Decision.Allow, cedarpy.Decision.Deny)
        ours = decide(person, op, host, rules, owner, resource, grants, now)
        assert ours.allowed == result.allowed, (person, op, resource, host, ours, text)
        deciding = set(result.diagnostics.id_annotations_by_reason.values())
        if ours.rule is None:
            assert deciding == set()
        else:
            assert ours.rule.rsplit(" (", 1)[0] in deciding


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(rule_sets, hosts_st, owners)
def test_tendr_agrees_with_cedar(rules: Rules, hosts: list[FakeHost], owner: str | None) -> None:
    """On generated rule sets (some naming resources) and requests (some on a resource),
    tendr and Cedar allow exactly the same things."""
    compare(rules, hosts, owner)


@pytest.mark.slow
@settings(max_examples=120, deadline=None)
@given(rules_and_grants, hosts_st, owners)
def test_tendr_agrees_with_cedar_with_grants(
    drawn: tuple[Rules, list[Grant], int], hosts: list[FakeHost], owner: str | None
) -> None:
    """With grants too, held or not at the time asked, tendr and Cedar agree."""
    rules, grants, tick = drawn
    compare(rules, hosts, owner, grants, tick)


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


def test_tendr_agrees_with_cedar_on_resources_and_grants() -> None:
    """Rules down to the resource, and grants: with an allow the granter has and one they
    do not, a deny that takes away the person's own allow, an own deny that stands, and a
    granter whose rights come from a grant (which does not count); decided alike at, before
    and after the grants, and as the semantics say."""
    example = RulesFile.model_validate(
        {
            "roles": {
                "helpdesk": {
                    "members": ["dave"],
                    "allow": [
                        {
                            "ops": ["file.write", "service.start"],
                            "hosts": ["client:acme"],
                            "paths": ["/etc/cups/**"],
                            "units": ["cups*"],
                        },
                        {"ops": ["plan"], "hosts": ["all"]},
                    ],
                    "deny": [{"ops": ["file.*"], "hosts": ["all"], "paths": ["/etc/cups/ppd/**"]}],
                },
                "admin": {
                    "members": ["carol"],
                    "allow": [{"ops": ["*"], "hosts": ["all"]}],
                    "deny": [{"ops": ["package.remove"], "hosts": ["all"], "packages": ["cups"]}],
                },
                "printing": {
                    "allow": [
                        {"ops": ["printer.*", "package.*", "driver.*"], "hosts": ["all"]},
                        {"ops": ["file.write"], "hosts": ["all"], "paths": ["/etc/cups/*"]},
                    ],
                    "deny": [
                        {"ops": ["printer.remove"], "hosts": ["all"], "printers": ["office"]},
                        {
                            "ops": ["file.write"],
                            "hosts": ["all"],
                            "paths": ["/etc/cups/cupsd.conf"],
                        },
                    ],
                },
            }
        }
    )

    def grant(person: str, role: str, selector: str, granter: str, start: int, until: int) -> Grant:
        return Grant(
            id=f"g-{person}",
            person=person,
            role=role,
            hosts=(selector,),
            granted_by=granter,
            reason="ticket",
            start=at(TICKS[start]).isoformat(),
            until=at(TICKS[until]).isoformat(),
        )

    grants = [
        grant("dave", "printing", "client:acme", "carol", 1, 3),
        grant("bob", "admin", "all", "carol", 0, 4),
        grant("alice", "printing", "all", "bob", 0, 4),  # bob's own roles allow nothing
    ]
    acme, beta = FakeHost("h1", "acme", ("g1",), ()), FakeHost("h2", "beta", (), ("t1",))
    rules = [("rules/roles.toml", example)]
    for tick in TICKS:
        compare(rules, [acme, beta], None, grants, tick)

    def allowed(person: str, op: str, resource: str, host: FakeHost = acme, tick: int = 1) -> bool:
        return decide(person, op, host, rules, None, resource, grants, at(TICKS[tick])).allowed

    assert allowed("dave", "package.install", "cups")
    assert not allowed("dave", "package.install", "cups", beta)  # not on the grant's hosts
    assert not allowed("dave", "package.install", "cups", tick=0)  # not yet
    assert not allowed("dave", "package.install", "cups", tick=3)  # no longer
    assert not allowed("dave", "package.remove", "cups")  # carol's own deny
    assert allowed("dave", "file.write", "/etc/cups/cupsd.conf", tick=0)  # his own allow...
    assert not allowed("dave", "file.write", "/etc/cups/cupsd.conf")  # ...the grant's deny
    assert not allowed("dave", "file.write", "/etc/cups/ppd")  # his own deny stands
    assert allowed("bob", "printer.add", "office")
    assert not allowed("alice", "printer.add", "office")  # bob's grant does not count


def test_expansion_is_anchored() -> None:
    """The test's own pattern expansion respects segments, so the comparison means something."""
    assert expand("service.*") == [
        "service.start",
        "service.remove",
        "service.write",
        "service.install",
        "service.load",
    ]
    assert "printer" not in expand("*.*") and "service.a.b" not in expand("*.*")
    assert "file.remove.x" not in expand("*.remove")


def test_resource_expansion_follows_the_documented_semantics() -> None:
    """The test's own resource matching: names whole, paths anchored and normalised, '*'
    within one segment, '**' for whole segments (none included), the root no segment."""
    assert named_by("units", "cups*", "cups-browsed.service")
    assert not named_by("packages", "cups", "cups-filters")
    assert not named_by("packages", "*-hp", "printer-driver-hpx")
    expected = {
        "/etc/cups/**": {
            "/etc/cups",
            "/etc/cups/cupsd.conf",
            "/etc/cups/ppd/a.ppd",
            "//etc/./cups/ppd/",
            "/etc/cups/../../etc/cups/x.conf",
        },
        "/etc/cups/*": {
            "/etc/cups/cupsd.conf",
            "//etc/./cups/ppd/",
            "/etc/cups/../../etc/cups/x.conf",
        },
        "/etc/**/a.ppd": {"/etc/cups/ppd/a.ppd"},
        "/*": {"/a.ppd"},
        "/etc/cups*": {"/etc/cups", "/etc/cupsx"},
    }
    for pattern, paths in expected.items():
        assert {p for p in NAMES["file"] if named_by("paths", pattern, p)} == paths, pattern
    assert named_by("paths", "/**", "/") and not named_by("paths", "/*", "/")
    # Names as the host reads them.
    assert named_by("printers", "FrontDesk", "FRONTDESK") and named_by("printers", "f*", "Fx")
    assert not named_by("printers", "frontdesk", "FRONTDES\u212a")  # CUPS folds ASCII alone
    assert named_by("modules", "snd-*", "snd_dummy") and named_by(
        "modules", "snd_dummy", "snd-dummy"
    )
    assert named_by("packages", "hello", "hello:i386") and not named_by(
        "units", "A.service", "a.service"
    )
    assert set(ROOT_PATHS) <= set(NAMES["file"])


def test_tendr_agrees_with_cedar_on_every_spelling_of_a_resource() -> None:
    """A deny naming a resource one way holds for every spelling the host reads as it (a
    queue in any case, a module with '-' or '_', a package of any architecture), and an
    allow naming it one way allows every spelling; decided alike by both engines."""
    example = RulesFile.model_validate(
        {
            "roles": {
                "helpdesk": {
                    "members": ["alice"],
                    "allow": [{"ops": ["*"], "hosts": ["all"]}],
                    "deny": [
                        {"ops": ["printer.*"], "hosts": ["all"], "printers": ["FrontDesk"]},
                        {"ops": ["module.*"], "hosts": ["all"], "modules": ["snd-dummy"]},
                        {"ops": ["package.*"], "hosts": ["all"], "packages": ["hello"]},
                    ],
                },
                "printing": {
                    "members": ["bob"],
                    "allow": [
                        {"ops": ["printer.remove"], "hosts": ["all"], "printers": ["office-*"]},
                        {"ops": ["module.load"], "hosts": ["all"], "modules": ["usb_storage"]},
                        {"ops": ["driver.*"], "hosts": ["all"], "packages": ["printer-driver-*"]},
                    ],
                },
            }
        }
    )
    rules = [("rules/roles.toml", example)]
    hosts = [FakeHost("h1", "acme", (), ())]
    compare(rules, hosts, None)

    def allowed(person: str, op: str, resource: str) -> bool:
        return decide(person, op, hosts[0], rules, None, resource).allowed

    for name in ("frontdesk", "FRONTDESK", "FrontDesk"):
        assert not allowed("alice", "printer.remove", name)
    assert not allowed("alice", "module.load", "snd_dummy")
    assert not allowed("alice", "package.install", "hello:i386")
    assert allowed("alice", "package.install", "cups")
    assert allowed("bob", "printer.remove", "OFFICE-2")
    assert allowed("bob", "module.load", "usb-storage")
    assert allowed("bob", "driver.install", "printer-driver-hp:arm64")
