"""Rules down to the resource, and grants for a time: pure matching and decisions, the
checks a rules or grants file gets, and the grant command on a workspace."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tendr.base.errors import InvalidDuration
from tendr.ops.grants import parse_duration
from tendr.rules.decide import decide
from tendr.rules.model import Grant, RulesFile
from tendr.rules.resources import check_pattern, covers
from tests.helpers import ME, build_tree, needs_root, run_tendr
from tests.rules_strategies import FakeHost

ACME = FakeHost("a1", "acme", (), ())
BETA = FakeHost("b1", "beta", (), ())
NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/etc/cups/**", "/etc/cups/cupsd.conf", True),
        ("/etc/cups/**", "/etc/cups/ppd/front.ppd", True),
        ("/etc/cups/**", "/etc/cups", True),  # '**' is zero or more segments
        ("/etc/cups/**", "/etc/cupsx/a", False),  # anchored at segment boundaries
        ("/etc/cups/**", "/etc/sudoers.d/x", False),
        ("/etc/cups/**", "/x/etc/cups/a", False),  # anchored at /
        ("/etc/cups/*.conf", "/etc/cups/cupsd.conf", True),
        ("/etc/cups/*.conf", "/etc/cups/ppd/a.conf", False),  # '*' stays in its segment
        ("/etc/motd", "/etc/motd", True),
        ("/etc/motd", "/etc/motd.d", False),
        ("/etc/cups/**", "//etc/cups/a", True),  # compared normalised
        ("/etc/cups/**", "/etc/cups/../sudoers", False),
        ("/**", "/etc/shadow", True),
    ],
)
def test_path_patterns(pattern: str, path: str, expected: bool) -> None:
    assert check_pattern("paths", pattern) is None
    assert covers("paths", pattern, path) is expected


def test_the_root_pattern_names_the_root_alone() -> None:
    assert check_pattern("paths", "/") is None
    assert covers("paths", "/", "/")
    assert not covers("paths", "/", "/etc")
    # A relative path is no path here (states name absolute ones): nothing covers it.
    assert not covers("paths", "/etc/passwd", "etc/passwd")
    assert covers("paths", "/**", "etc/passwd") is False
    # What a path may hold besides: spaces and any printable character.
    assert check_pattern("paths", "/srv/My Files/~x \x80") is None


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("cups.service", "cups.service", True),
        ("cups-*.service", "cups-browsed.service", True),
        ("cups-*.service", "cups.service", False),
        ("cups*", "cups.service", True),
        ("cups", "cups.service", False),  # whole names only
        ("printer-driver-*", "printer-driver-hpcups", True),
    ],
)
def test_name_patterns(pattern: str, name: str, expected: bool) -> None:
    assert covers("units", pattern, name) is expected


@pytest.mark.parametrize(
    ("field", "pattern", "expected"),
    [
        ("paths", "etc/cups/**", "not an absolute path pattern"),
        ("paths", "/etc/../shadow", "'..' segments are refused"),
        ("paths", "/etc//cups", "empty"),
        ("paths", "/etc/cups**", "'**' stands only as a whole segment"),
        ("paths", "/**x", "'**' stands only as a whole segment"),
        ("paths", "/etc/\x1f", "control character"),
        ("paths", "/etc/\x7f", "control character"),
        ("units", "cups service", "can name no systemd unit: names hold only"),
        ("packages", "", "an empty pattern names nothing"),
    ],
)
def test_bad_resource_patterns(field: str, pattern: str, expected: str) -> None:
    assert expected in (check_pattern(field, pattern) or "")


def rules(text: str) -> list[tuple[str, RulesFile]]:
    import tomllib

    return [("rules/r.toml", RulesFile.model_validate(tomllib.loads(text)))]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            '{ ops = ["service.restart"], hosts = ["all"], paths = ["/etc/**"] }',
            "'service.restart' has no resources of the kind this rule names (paths)",
        ),
        (
            '{ ops = ["plan"], hosts = ["all"], units = ["cups.service"] }',
            "'plan' has no resources of the kind this rule names (units)",
        ),
    ],
)
def test_a_rule_whose_resources_fit_none_of_its_operations_is_refused(
    rule: str, expected: str
) -> None:
    with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        rules(f'[roles.r]\nmembers = ["a"]\nallow = [{rule}]\n')


CUPS = 'paths = ["/etc/cups/**"], units = ["cups*.service"]'
HELPDESK = rules(
    f"""\
[roles.helpdesk]
members = ["dave"]
allow = [
  {{ ops = ["file.write", "service.restart"], hosts = ["client:acme"], {CUPS} }},
  {{ ops = ["plan"], hosts = ["all"] }},
]
deny = [{{ ops = ["file.*"], hosts = ["all"], paths = ["/etc/cups/secret/**"] }}]

[roles.admin]
members = ["carol"]
allow = [{{ ops = ["*"], hosts = ["all"] }}]

[roles.printing]
allow = [{{ ops = ["file.write"], hosts = ["all"] }}]
deny = [{{ ops = ["file.write"], hosts = ["all"], paths = ["/etc/shadow"] }}]
"""
)


@pytest.mark.parametrize(
    ("op", "host", "resource", "allowed"),
    [
        ("file.write", ACME, "/etc/cups/cupsd.conf", True),
        ("file.write", ACME, "/etc/motd", False),
        ("file.write", ACME, "/etc/cups/secret/key", False),  # the deny beats the allow
        ("file.write", BETA, "/etc/cups/cupsd.conf", False),
        ("service.restart", ACME, "cups.service", True),
        ("service.restart", ACME, "ssh.service", False),
        ("service.restart", ACME, "/etc/cups/cupsd.conf", False),  # not a unit
        ("file.write", ACME, None, False),  # no particular resource: rules naming some do not apply
        ("plan", BETA, None, True),
    ],
)
def test_decisions_per_resource(
    op: str, host: FakeHost, resource: str | None, allowed: bool
) -> None:
    assert decide("dave", op, host, HELPDESK, None, resource).allowed is allowed


def test_the_deciding_rule_names_the_resource_pattern() -> None:
    decision = decide("dave", "file.write", ACME, HELPDESK, None, "/etc/cups/a")
    assert decision.rule == (
        "rules/r.toml: roles.helpdesk.allow[0] (file.write on client:acme, /etc/cups/**)"
    )
    assert decision.reason == "role helpdesk allows dave file.write /etc/cups/a on a1"


def grant(**changes: object) -> Grant:
    fields: dict[str, object] = {
        "id": "g1",
        "person": "dave",
        "role": "printing",
        "hosts": ("client:acme",),
        "granted_by": "carol",
        "reason": "ticket",
        "start": (NOW - timedelta(minutes=5)).isoformat(),
        "until": (NOW + timedelta(hours=1)).isoformat(),
    }
    fields.update(changes)
    return Grant.model_validate(fields)


def test_a_grant_allows_its_role_where_and_while_it_holds() -> None:
    given = (grant(),)
    allowed = decide("dave", "file.write", ACME, HELPDESK, None, "/etc/motd", given, NOW)
    assert allowed.allowed
    assert allowed.rule is not None and allowed.rule.startswith("grant g1 by carol until")
    # Elsewhere, before, after: nothing more than the person's own roles.
    for host, now in (
        (BETA, NOW),
        (ACME, NOW - timedelta(hours=1)),
        (ACME, NOW + timedelta(hours=2)),
    ):
        assert not decide(
            "dave", "file.write", host, HELPDESK, None, "/etc/motd", given, now
        ).allowed


def test_a_grant_brings_its_role_s_denies_too() -> None:
    decision = decide("dave", "file.write", ACME, HELPDESK, None, "/etc/shadow", (grant(),), NOW)
    assert not decision.allowed
    assert decision.rule is not None and decision.rule.startswith("grant g1: ")


def test_a_grant_never_widens_beyond_the_granter() -> None:
    """Granted by dave himself (or anyone without the right), it allows nothing."""
    for granter in ("dave", "mallory"):
        decision = decide(
            "dave",
            "file.write",
            ACME,
            HELPDESK,
            None,
            "/etc/motd",
            (grant(granted_by=granter),),
            NOW,
        )
        assert not decision.allowed
        assert f"but {granter} may not do this" in decision.reason


def test_own_denies_still_win_over_a_grant() -> None:
    given = (grant(role="admin"),)
    decision = decide("dave", "file.write", ACME, HELPDESK, None, "/etc/cups/secret/k", given, NOW)
    assert not decision.allowed and "roles.helpdesk.deny[0]" in (decision.rule or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", timedelta(hours=2)),
        ("90m", timedelta(minutes=90)),
        ("1d12h", timedelta(hours=36)),
        ("30s", timedelta(seconds=30)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "2x", "31d", "0s", "-1h", "1h 2m"])
def test_bad_durations(text: str) -> None:
    """A duration refused carries the text; the layer below the CLI names no option."""
    with pytest.raises(InvalidDuration) as refused:
        parse_duration(text)
    assert refused.value.text == text and refused.value.param == "duration"
    assert "--for" not in str(refused.value)


# -- the grant command and grants.toml ------------------------------------------------------

ADMIN_AND_HELPDESK = f"""\
[roles.admin]
members = ["{ME}"]
allow = [{{ ops = ["*"], hosts = ["all"] }}]

[roles.helpdesk]
members = ["dave"]
allow = [{{ ops = ["plan"], hosts = ["all"] }}]
"""


def workspace(tmp_path: Path, extra: dict[str, str] | None = None) -> str:
    files = {
        "hosts/acme.toml": '[hosts.a1]\naddress = "192.0.2.1"\n',
        "known_hosts": "192.0.2.1 ssh-ed25519 AAAA\n",
        "rules/roles.toml": ADMIN_AND_HELPDESK,
        **(extra or {}),
    }
    return str(build_tree(tmp_path / "ws", files))


def test_grant_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    for args, expected in [
        (["dave", "nobody", "--for", "1h", "--reason", "x"], "no role 'nobody'"),
        (["dave", "admin", "--reason", "x"], "needs --for DURATION and --reason TEXT"),
        (["dave", "admin", "--for", "1y", "--reason", "x"], "is not a duration"),
        (["dave", "admin", "--for", "1h", "--reason", " "], "--reason: must say why"),
        (
            ["dave", "admin", "--for", "1h", "--reason", "x", "--hosts", "client:acne"],
            "did you mean",
        ),
        (["Dave", "admin", "--for", "1h", "--reason", "x"], "not a person's name"),
        (["revoke", "g1"], "no grant 'g1'"),
    ]:
        code, output = run_tendr("grant", *args, "-w", ws)
        assert code == 1, output
        assert expected in output, (args, output)
    assert not (Path(ws) / "grants.toml").exists()


@needs_root  # the holder gives it back: --as dave
def test_grants_are_listed_revoked_and_recorded(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    code, output = run_tendr("grant", "dave", "admin", "--for", "2h", "--reason", "call", "-w", ws)
    assert code == 0, output
    (made,) = json.loads(run_tendr("rules", "list", "-w", ws, "--format", "json")[1])["grants"]
    assert (made["person"], made["role"], made["granted_by"], made["holds"]) == (
        "dave",
        "admin",
        ME,
        True,
    )
    assert run_tendr("rules", "explain", "dave", "file.write", "a1", "/etc/motd", "-w", ws)[0] == 0
    # The holder may give it back.
    code, output = run_tendr("grant", "revoke", made["id"], "-w", ws, "--as", "dave")
    assert code == 0, output
    assert run_tendr("rules", "explain", "dave", "file.write", "a1", "/etc/motd", "-w", ws)[0] == 1
    log = json.loads(run_tendr("audit-log", "show", "-w", ws, "--format", "json")[1])
    assert [(r["person"], r["op"], r["outcome"]) for r in log["records"]] == [
        (ME, "rules.grant", "done"),
        ("dave", "rules.grant", "revoked"),
    ]


GONE = (
    '[[grant]]\nid = "g1"\nperson = "dave"\nrole = "gone"\nhosts = ["client:acme"]\n'
    'granted_by = "carol"\nreason = "x"\nstart = "2026-11-29T02:00:00+00:00"\n'
    'until = "2026-11-29T03:00:00+00:00"\n'
)


def test_a_grant_whose_role_is_gone_grants_nothing_and_can_be_revoked(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"grants.toml": GONE})
    assert run_tendr("validate", "-w", ws)[0] == 0
    assert run_tendr("rules", "explain", "dave", "file.write", "a1", "/x", "-w", ws)[0] == 1
    code, output = run_tendr("grant", "revoke", "g1", "-w", ws)
    assert code == 0, output
    assert "[[grant]]" not in (Path(ws) / "grants.toml").read_text()


@pytest.mark.parametrize(
    ("until", "expected"),
    [
        ("2026-11-29T03:00:00", "has no UTC offset"),
        ("2099-01-01T00:00:00+00:00", "within 30 days"),
        ("2026-11-29T01:00:00+00:00", "ends after it starts"),
    ],
)
def test_a_grant_written_by_hand_is_held_to_the_same_bounds(
    tmp_path: Path, until: str, expected: str
) -> None:
    ws = workspace(tmp_path, {"grants.toml": GONE.replace("2026-11-29T03:00:00+00:00", until)})
    code, output = run_tendr("validate", "-w", ws)
    assert code == 1
    assert "grants.toml" in output and expected in output


def test_a_grant_never_gives_rules_operations() -> None:
    """Granted admin, a person still may not edit the rules nor grant: a grant that could
    would write itself a longer one."""
    given = (grant(role="admin"),)
    for op in ("rules.edit", "rules.grant"):
        assert not decide("dave", op, ACME, HELPDESK, None, None, given, NOW).allowed
    assert decide("dave", "service.stop", ACME, HELPDESK, None, "ssh.service", given, NOW).allowed


def test_a_package_rule_holds_whatever_architecture_is_asked() -> None:
    deny = rules(
        '[roles.r]\nmembers = ["a"]\nallow = [{ ops = ["*"], hosts = ["all"] }]\n'
        'deny = [{ ops = ["package.*"], hosts = ["all"], packages = ["telnetd"] }]\n'
    )
    for name in ("telnetd", "telnetd:amd64", "telnetd:i386"):
        assert not decide("a", "package.install", ACME, deny, None, name).allowed
    assert decide("a", "package.install", ACME, deny, None, "telnet").allowed


def test_grant_input_that_is_no_grant_is_a_plain_error(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    for args, expected in [
        (["dave", "admin", "--for", "999999999999d", "--reason", "x"], "lasts from 1s to 30d"),
        (["dave", "admin", "--for", "\u0662h", "--reason", "x"], "is not a duration"),
        (["dave", "admin", "--for", "1h", "--reason", "x" * 501], "at most 500 characters"),
        (["dave", "admin", "--for", "1h", "--reason", "a\x1bb"], "one line"),
    ]:
        code, output = run_tendr("grant", *args, "-w", ws)
        assert code == 1, output
        assert expected in output and "internal error" not in output
    code, output = run_tendr("grant", "jean_luc", "admin", "--for", "1h", "--reason", "x", "-w", ws)
    assert code == 0, output
