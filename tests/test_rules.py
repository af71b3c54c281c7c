"""Permission rules: the file format, decisions, and who is acting."""

from __future__ import annotations

import grp
import os
import pwd
import tomllib
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from tendr.base.errors import PermissionDenied
from tendr.base.names import AccountName
from tendr.rules.actor import (
    acting_person,
    check_trust,
    group_holds_only,
    holding_folders,
    real_account,
    workspace_owner,
)
from tendr.rules.decide import decide, matching_rules, roles_of
from tendr.rules.model import (
    OPERATIONS,
    VERBS,
    RulesFile,
    check_op_pattern,
    check_operation,
    op_matches,
)
from tendr.workspace.hosts import Host
from tests.helpers import needs_root

EXAMPLE = """
[roles.helpdesk]
description = "First-line support"
members = ["alice", "bob"]
allow = [
  { ops = ["plan", "logs", "diagnose"], hosts = ["all"] },
  { ops = ["service.restart", "service.start", "printer.*"], hosts = ["client:acme"] },
]
deny = [{ ops = ["*.remove"], hosts = ["all"] }]

[roles.auditor]
members = ["dave"]
allow = [{ ops = ["plan", "report"], hosts = ["all"] }]
"""

NOBODY = pwd.getpwnam("nobody").pw_uid
UNKNOWN_UID = 54321  # no passwd entry on the test machine


def load(text: str) -> RulesFile:
    return RulesFile.model_validate(tomllib.loads(text))


def host(
    name: str = "acme-fs01",
    client: str = "acme",
    groups: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
) -> Host:
    return Host(
        name=name,
        client=client,
        connector="ssh",
        address=None,
        port=22,
        user=None,
        ssh_key=None,
        groups=groups,
        tags=tags,
        file=f"hosts/{client}.toml",
    )


def rules_error(text: str) -> str:
    with pytest.raises(ValidationError) as caught:
        load(text)
    return str(caught.value)


EXAMPLE_RULES = [("rules/roles.toml", load(EXAMPLE))]


# --- decisions on the README example ---------------------------------------------------


def test_allow_names_the_rule() -> None:
    """An allowed operation names the allow rule and the pattern and selector that matched."""
    decision = decide("alice", "service.restart", host(), EXAMPLE_RULES)
    assert decision.allowed
    assert decision.rule == (
        "rules/roles.toml: roles.helpdesk.allow[1] (service.restart on client:acme)"
    )
    assert "helpdesk" in decision.reason


def test_deny_beats_allow_of_same_role() -> None:
    """printer.* is allowed but *.remove is denied: the deny decides."""
    decision = decide("alice", "printer.remove", host(), EXAMPLE_RULES)
    assert not decision.allowed
    assert decision.rule == "rules/roles.toml: roles.helpdesk.deny[0] (*.remove on all)"
    assert "deny" in decision.reason


def test_default_deny_names_no_rule() -> None:
    """An operation no rule mentions is denied, with no rule and 'no rule allows' as reason."""
    decision = decide("alice", "service.stop", host(), EXAMPLE_RULES)
    assert not decision.allowed
    assert decision.rule is None
    assert decision.reason.startswith("no rule allows service.stop on acme-fs01 for alice")


def test_selector_limits_allow_to_client() -> None:
    """An allow for client:acme does not reach another client's host."""
    assert not decide("alice", "service.restart", host("beta-fs01", "beta"), EXAMPLE_RULES).allowed


def test_reading_can_be_limited() -> None:
    """Reading is an operation too: the auditor may plan and report but not read logs."""
    assert decide("dave", "plan", host(), EXAMPLE_RULES).allowed
    assert decide("dave", "report", host(), EXAMPLE_RULES).allowed
    assert not decide("dave", "logs", host(), EXAMPLE_RULES).allowed


def test_person_in_no_role_may_do_nothing() -> None:
    """Someone no role lists is denied everything, even reading, with a reason saying so."""
    for op in ("plan", "service.restart", "printer.remove"):
        decision = decide("eve", op, host(), EXAMPLE_RULES)
        assert not decision.allowed
        assert decision.rule is None
        assert decision.reason == "eve is in no role"


def test_no_rules_files_denies() -> None:
    """With no rules files at all, nobody may do anything."""
    assert not decide("root", "plan", host(), []).allowed


# --- rule shapes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "target", "expected"),
    [
        ("all", host(), True),
        ("acme-fs01", host(), True),
        ("acme-fs02", host(), False),
        ("client:acme", host(), True),
        ("client:beta", host(), False),
        ("group:desktops", host(groups=("frontdesk", "desktops")), True),
        ("group:desktops", host(groups=("frontdesk",)), False),
        ("tag:vip", host(tags=("vip",)), True),
        ("tag:vip", host(groups=("vip",)), False),
    ],
)
def test_host_selectors_in_rules(selector: str, target: Host, expected: bool) -> None:
    """Each selector shape in a rule selects exactly the hosts it names."""
    text = f'[roles.r]\nmembers = ["a"]\nallow = [{{ ops = ["plan"], hosts = ["{selector}"] }}]'
    rules = [("r.toml", load(text))]
    assert decide("a", "plan", target, rules).allowed is expected


def test_rule_applies_when_any_pattern_and_any_selector_match() -> None:
    """A rule's ops and hosts are each alternatives: one of each must match."""
    rules = [
        (
            "r.toml",
            load("""
        [roles.r]
        members = ["a"]
        allow = [{ ops = ["logs", "file.write"], hosts = ["tag:x", "client:acme"] }]
    """),
        )
    ]
    assert decide("a", "file.write", host(), rules).allowed
    assert decide("a", "logs", host("b1", "beta", tags=("x",)), rules).allowed
    assert not decide("a", "file.remove", host(), rules).allowed


def test_deny_in_one_role_beats_allow_in_another() -> None:
    """A person in two roles is denied what either role denies, whatever the other allows."""
    rules = [
        (
            "r.toml",
            load("""
        [roles.ops]
        members = ["a"]
        allow = [{ ops = ["*"], hosts = ["all"] }]
        [roles.careful]
        members = ["a"]
        deny = [{ ops = ["package.remove"], hosts = ["group:prod"] }]
    """),
        )
    ]
    denied = decide("a", "package.remove", host(groups=("prod",)), rules)
    assert not denied.allowed
    assert denied.rule == "r.toml: roles.careful.deny[0] (package.remove on group:prod)"
    assert decide("a", "package.remove", host(), rules).allowed


def test_deny_of_a_role_not_held_does_not_apply() -> None:
    """A role's deny binds its members only."""
    rules = [
        (
            "r.toml",
            load("""
        [roles.ops]
        members = ["a"]
        allow = [{ ops = ["*"], hosts = ["all"] }]
        [roles.trainee]
        members = ["b"]
        deny = [{ ops = ["*"], hosts = ["all"] }]
    """),
        )
    ]
    assert decide("a", "service.stop", host(), rules).allowed


def test_role_split_across_files_is_one_role() -> None:
    """Members listed in one file get the rules of the same role in another file."""
    members = ("rules/people.toml", load('[roles.helpdesk]\nmembers = ["carol"]'))
    decision = decide("carol", "printer.add", host(), [members, *EXAMPLE_RULES])
    assert decision.allowed
    assert decision.rule is not None and decision.rule.startswith("rules/roles.toml: ")


def test_reported_rule_does_not_depend_on_file_order() -> None:
    """When several denies match, the first by file, role and index is named, in any order."""
    text = '[roles.helpdesk]\ndeny = [{ ops = ["printer.*"], hosts = ["all"] }]'
    other = ("rules/a.toml", load(text))
    forward = decide("alice", "printer.remove", host(), [other, *EXAMPLE_RULES])
    backward = decide("alice", "printer.remove", host(), [*EXAMPLE_RULES, other])
    assert forward == backward
    assert forward.rule == "rules/a.toml: roles.helpdesk.deny[0] (printer.* on all)"


def test_roles_of_lists_held_roles() -> None:
    """roles_of lists every role naming the person, sorted, once each."""
    rules = [
        ("r.toml", load('[roles.b]\nmembers=["x"]\n[roles.a]\nmembers=["x","x"]\n[roles.c]')),
        ("s.toml", load('[roles.a]\nmembers=["x"]')),
    ]
    assert roles_of("x", rules) == ["a", "b"]
    assert roles_of("y", rules) == []


def test_matching_rules_lists_allows_and_denies() -> None:
    """matching_rules shows every applicable rule, for `tendr rules explain`."""
    found = matching_rules("alice", "printer.remove", host(), EXAMPLE_RULES)
    assert [str(m) for m in found] == [
        "rules/roles.toml: roles.helpdesk.allow[1] (printer.* on client:acme)",
        "rules/roles.toml: roles.helpdesk.deny[0] (*.remove on all)",
    ]


# --- @owner -----------------------------------------------------------------------------

OWNER_RULES = [
    (
        "rules/owner.toml",
        load('[roles.admin]\nmembers = ["@owner"]\nallow = [{ ops = ["*"], hosts = ["all"] }]'),
    )
]


def test_owner_member_is_the_workspace_owner() -> None:
    """'@owner' stands for the account that owns the workspace."""
    assert decide("carol", "service.stop", host(), OWNER_RULES, owner="carol").allowed
    assert roles_of("carol", OWNER_RULES, owner="carol") == ["admin"]


def test_owner_member_is_nobody_else() -> None:
    """'@owner' grants nothing to other accounts, nor to someone called '@owner'."""
    assert not decide("dave", "plan", host(), OWNER_RULES, owner="carol").allowed
    assert not decide("@owner", "plan", host(), OWNER_RULES, owner="carol").allowed


def test_owner_member_without_owner_is_nobody() -> None:
    """When the owner is unknown, '@owner' matches no one."""
    assert not decide("carol", "plan", host(), OWNER_RULES).allowed
    assert not decide("@owner", "plan", host(), OWNER_RULES).allowed


# --- operation patterns -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "op", "expected"),
    [
        ("service.*", "service.restart", True),
        ("service.*", "services.restart", False),
        ("service.*", "service.a.b", False),
        ("service.*", "service", False),
        ("service.*", "myservice.restart", False),
        ("*.remove", "printer.remove", True),
        ("*.remove", "printer.removeall", False),
        ("*.remove", "remove", False),
        ("*", "plan", True),
        ("*", "service.restart", True),
        ("*.*", "plan", False),
        ("*.*", "file.write", True),
        ("plan", "plan", True),
        ("plan", "planx", False),
        ("plan", "plan.x", False),
        ("service.restart", "service.restart", True),
        ("service.restart", "service.restar", False),
    ],
)
def test_op_patterns_are_anchored(pattern: str, op: str, expected: bool) -> None:
    """A '*' segment matches one whole segment; '*' alone matches every operation."""
    assert op_matches(pattern, op) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        "*",
        "*.*",
        "plan",
        "report",
        "service.*",
        "*.remove",
        "backup.init",
        "driver.install",
        "file.write",
        "package.install",
        "*.restart",
    ],
)
def test_valid_op_patterns_load(pattern: str) -> None:
    """Reading operations, KIND.VERB and '*' in whole segments are accepted."""
    load(f'[roles.r]\nallow = [{{ ops = ["{pattern}"], hosts = ["all"] }}]')


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("Service.*", "not an operation pattern"),
        ("service.re*", "not an operation pattern"),
        ("service..restart", "not an operation pattern"),
        ("", "not an operation pattern"),
        ("**", "not an operation pattern"),
        ("service.a.b", "can match no operation"),
        ("service", "did you mean 'service.*'"),
        ("servce.restart", "'servce' is not a kind (did you mean 'service'?)"),
        ("plna", "'plna' is not an operation (did you mean 'plan'?)"),
        (
            "service.restat",
            "'service.restat' is not an operation (did you mean "
            "'service.restart'?): service's verbs are start, stop, restart",
        ),
        (
            "package.uninstall",
            "(did you mean 'package.remove'?): package's verbs are install, remove",
        ),
        ("file.delete", "(did you mean 'file.remove'?)"),
        ("package.frobnicate", "'package.frobnicate' is not an operation: package's verbs"),
        ("*.frobnicate", "can match no operation: no kind has the verb 'frobnicate'"),
    ],
)
def test_invalid_op_patterns_are_refused(pattern: str, message: str) -> None:
    """A malformed pattern is an error at load, with a message saying what was expected."""
    assert message in rules_error(f'[roles.r]\ndeny = [{{ ops = ["{pattern}"], hosts = ["all"] }}]')


@pytest.mark.parametrize(
    ("op", "reason"),
    [
        ("plan", None),
        ("service.restart", None),
        ("driver.install", None),
        ("service.*", "'service.*' is a pattern; name one operation, such as 'plan'"),
        ("*", "'*' is a pattern; name one operation, such as 'plan'"),
        ("service.restat", "'service.restat' is not an operation (did you mean "),
        ("service.a.b", "'service.a.b' can match no operation"),
        ("Service.*", "'Service.*' is not an operation pattern"),
    ],
)
def test_one_operation_is_told_from_a_pattern_and_a_typo(op: str, reason: str | None) -> None:
    """`rules explain` takes one operation: an existing one passes; a pattern, a misspelt
    or malformed operation is refused with why."""
    found = check_operation(op)
    if reason is None:
        assert found is None
    else:
        assert found is not None and found.startswith(reason), found


def test_every_operation_a_kind_plans_is_one_rules_can_name() -> None:
    """The verbs rules accept are the operations the engines give their changes: a diff
    case's operation is always a declared verb of its kind (or the unplanned `.read`)."""
    for op in OPERATIONS:
        assert check_op_pattern(op) is None, op
    seen = {op for op in _planned_operations() if not op.endswith(".read")}
    assert seen, "no diff case produced an operation"
    assert seen <= set(OPERATIONS), seen - set(OPERATIONS)
    # Each implemented kind's verbs are all reachable by some case, so none is made up.
    for kind in ("package", "file", "service"):
        assert {op for op in seen if op.startswith(f"{kind}.")} == {
            f"{kind}.{verb}" for verb in VERBS[kind]
        }


def _planned_operations() -> set[str]:
    cases = Path(__file__).parent / "cases" / "diff"
    found: set[str] = set()
    for case in cases.glob("*.toml"):
        data = tomllib.loads(case.read_text(encoding="utf-8"))
        found.update(change["op"] for change in data.get("expected", []) if "op" in change)
    return found


def test_invalid_host_selector_is_refused() -> None:
    """A malformed host selector is an error at load."""
    assert "is not a host selector" in rules_error(
        '[roles.r]\nallow = [{ ops = ["plan"], hosts = ["grp:x"] }]'
    )


def test_empty_rule_is_refused() -> None:
    """A rule with no operations or no hosts is a mistake, not a rule that matches nothing."""
    rules_error('[roles.r]\ndeny = [{ ops = [], hosts = ["all"] }]')
    rules_error('[roles.r]\ndeny = [{ ops = ["plan"], hosts = [] }]')


def test_unknown_keys_are_refused() -> None:
    """A typo in a key is an error (unknown keys rejected)."""
    assert "membres" in rules_error('[roles.r]\nmembres = ["a"]')
    assert "extra" in rules_error('[roles.r]\nallow = [{ ops = ["plan"], hosts = ["all"], x = 1 }]')


def test_bad_role_name_is_refused() -> None:
    """Role names are plain words: they appear in rule references."""
    assert "not a role name" in rules_error('[roles."a.b"]\nmembers = ["x"]')


# --- members ----------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["*", "all", "everyone", "@all", "a*", "?"])
def test_wildcard_member_is_refused(member: str) -> None:
    """Members are listed one by one; a wildcard member is refused with a clear message."""
    message = rules_error(f'[roles.r]\nmembers = ["{member}"]')
    assert "wildcard" in message and "@owner" in message


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("@admins", "the only '@' name is '@owner'"),
        ("Alice", "not an account name"),
        ("1abc", "not an account name"),
    ],
)
def test_bad_member_is_refused(member: str, message: str) -> None:
    """Members must be account names or '@owner'."""
    assert message in rules_error(f'[roles.r]\nmembers = ["{member}"]')


@pytest.mark.parametrize(
    "name",
    [
        "alice",
        "_svc",
        "a-b_c",
        "machine$",
        "x" * 32,
        "x" * 33,
        "Bob",
        "9lives",
        "a.b",
        "a b",
        "al@ice",
    ],
)
def test_members_validate_like_account_names(name: str) -> None:
    """A member is accepted exactly when tendr.names.AccountName accepts it."""
    try:
        TypeAdapter(AccountName).validate_python(name)
        expected = True
    except ValidationError:
        expected = False
    try:
        load(f'[roles.r]\nmembers = ["{name}"]')
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted is expected


# --- who is acting ----------------------------------------------------------------------


def test_acting_person_is_effective_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without sudo, the person is the account of the effective uid."""
    monkeypatch.setattr(os, "geteuid", lambda: NOBODY)
    monkeypatch.delenv("SUDO_USER", raising=False)
    assert acting_person(None) == "nobody"


def test_sudo_user_is_the_person_under_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run through sudo (euid 0), the person is SUDO_USER."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("SUDO_USER", "alice")
    assert acting_person(None) == "alice"


def test_sudo_user_is_ignored_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """SUDO_USER set in an unprivileged environment does not change who acts."""
    monkeypatch.setattr(os, "geteuid", lambda: NOBODY)
    monkeypatch.setenv("SUDO_USER", "alice")
    assert acting_person(None) == "nobody"


def test_root_without_sudo_is_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root running tendr directly acts as root."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.delenv("SUDO_USER", raising=False)
    assert acting_person(None) == "root"


def test_uid_without_passwd_entry_is_its_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """An account with no passwd entry is named by its uid (and so is in no role)."""
    monkeypatch.setattr(os, "geteuid", lambda: UNKNOWN_UID)
    monkeypatch.delenv("SUDO_USER", raising=False)
    assert acting_person(None) == str(UNKNOWN_UID)


def test_real_account_is_the_effective_account_never_sudo_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The account the audit log records is the one running tendr, through sudo or not."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("SUDO_USER", "alice")
    assert real_account() == "root"
    monkeypatch.setattr(os, "geteuid", lambda: UNKNOWN_UID)
    assert real_account() == str(UNKNOWN_UID)


def test_root_may_act_as_someone_else(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root may pass --as, which wins over SUDO_USER."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("SUDO_USER", "alice")
    assert acting_person("bob") == "bob"


def test_only_root_may_act_as_someone_else(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anyone else passing --as is refused with a message saying only root may."""
    monkeypatch.setattr(os, "geteuid", lambda: NOBODY)
    with pytest.raises(PermissionDenied, match="only root may act as someone else"):
        acting_person("bob")


def test_as_person_must_be_an_account_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """--as takes an account name, not a wildcard or '@owner'."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    for bad in ("*", "@owner", "Bob"):
        with pytest.raises(PermissionDenied, match="not an account name"):
            acting_person(bad)


# --- trusting rules files ---------------------------------------------------------------

root_only = needs_root  # changing a file's owner


def rules_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "roles.toml"
    path.write_text(EXAMPLE)
    path.chmod(mode)
    return path


def test_owner_only_writable_file_is_trusted(tmp_path: Path) -> None:
    """A rules file only its owner (the workspace owner) can write is accepted."""
    path = rules_file(tmp_path, 0o644)
    assert check_trust(path, os.geteuid()) is None
    assert check_trust(rules_file(tmp_path, 0o600), os.geteuid()) is None


@root_only  # a group shared with others
@pytest.mark.parametrize(
    ("mode", "who"), [(0o664, "group"), (0o646, "others"), (0o666, "group and others")]
)
def test_writable_file_is_refused(tmp_path: Path, mode: int, who: str) -> None:
    """A rules file writable by group or others is refused, naming file, mode and the fix."""
    path = rules_file(tmp_path, mode)
    os.chown(path, -1, grp.getgrnam("daemon").gr_gid)
    reason = check_trust(path, os.geteuid())
    assert reason is not None
    assert f"writable by {who} (mode {mode:04o})" in reason
    assert f"chmod go-w {path}" in reason


@root_only  # a group shared with others
def test_writable_rules_directory_is_refused(tmp_path: Path) -> None:
    """The rules/ directory is checked like a file: a world-writable one is refused."""
    directory = tmp_path / "rules"
    directory.mkdir()
    directory.chmod(0o1777)
    os.chown(directory, -1, grp.getgrnam("daemon").gr_gid)
    reason = check_trust(directory, os.geteuid())
    assert reason is not None and "directory is writable by group and others" in reason


@root_only
def test_group_writable_in_owners_private_group_is_trusted(tmp_path: Path) -> None:
    """Group write is fine when the group is the owner's own (umask 002), as in Debian's sshd."""
    path = rules_file(tmp_path, 0o664)
    os.chown(path, 0, 0)
    assert check_trust(path, 0) is None


def test_a_sticky_folder_may_be_writable_by_anyone_only_where_allowed(tmp_path: Path) -> None:
    """A sticky world-writable folder (as /tmp) passes with sticky_ok, for the folders
    above a workspace; without it, and without the sticky bit, it is refused."""
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o1777)
    assert check_trust(directory, os.geteuid(), sticky_ok=True) is None
    assert check_trust(directory, os.geteuid()) is not None
    directory.chmod(0o777)
    reason = check_trust(directory, os.geteuid(), sticky_ok=True)
    assert reason is not None and "(mode 0777); fix: chmod go-w" in reason


@pytest.mark.parametrize(
    ("path", "folders"),
    [
        ("/ws/files/sub/x", ["/ws/files", "/ws/files/sub"]),
        ("/ws/tendr.toml", []),
        ("/ws", ["/"]),  # the workspace itself: every folder above it
        ("/elsewhere/keys/k", ["/", "/elsewhere", "/elsewhere/keys"]),
    ],
)
def test_holding_folders_are_those_below_the_top_else_all_from_root(
    path: str, folders: list[str]
) -> None:
    """The folders between the workspace and a file in it, or every folder up to / for
    the workspace itself and for a file outside it; outermost first."""
    assert holding_folders(Path(path), Path("/ws")) == [Path(f) for f in folders]


def test_missing_file_is_refused(tmp_path: Path) -> None:
    """A file whose permissions cannot be read is refused, not trusted."""
    assert check_trust(tmp_path / "nope.toml", os.geteuid()) is not None


@root_only
def test_file_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    """A rules file owned by neither root nor the workspace owner is refused."""
    path = rules_file(tmp_path, 0o644)
    os.chown(path, NOBODY, -1)
    reason = check_trust(path, UNKNOWN_UID)
    assert reason is not None
    assert f"owned by nobody (uid {NOBODY})" in reason and "neither root nor" in reason


@root_only
def test_file_owned_by_workspace_owner_or_root_is_trusted(tmp_path: Path) -> None:
    """Root and the workspace owner are the two trusted owners."""
    path = rules_file(tmp_path, 0o644)
    os.chown(path, 0, -1)
    assert check_trust(path, NOBODY) is None
    os.chown(path, NOBODY, -1)
    assert check_trust(path, NOBODY) is None


def test_workspace_owner_names_the_directory_owner(tmp_path: Path) -> None:
    """workspace_owner returns the uid and account name owning the workspace root."""
    uid = os.geteuid()
    assert workspace_owner(tmp_path) == (uid, pwd.getpwuid(uid).pw_name)


@root_only
def test_workspace_owner_without_passwd_entry_is_a_number(tmp_path: Path) -> None:
    """An owner uid with no passwd entry is named by the number."""
    os.chown(tmp_path, UNKNOWN_UID, -1)
    assert workspace_owner(tmp_path) == (UNKNOWN_UID, str(UNKNOWN_UID))


@pytest.mark.parametrize(
    ("primary", "members", "safe"),
    [
        ([1000], [], True),  # alice's own group, nobody listed
        ([1000], ["alice"], True),  # ... listing alice herself
        ([], ["alice"], True),  # a group whose one listed member is the owner
        ([1000], ["alice", "bob"], False),  # bob could write too
        ([1000], ["bob"], False),
        ([1000, 1001], [], False),  # another account's primary group as well
        ([0], [], False),  # root's group in alice's workspace
        ([], [], False),  # an empty group: a setgid program's, not a person's
    ],
)
def test_group_writable_is_safe_only_in_a_group_of_the_owner_alone(
    primary: list[int], members: list[str], safe: bool
) -> None:
    """sshd's StrictModes with Debian's user-private-group exception, on plain data: the
    group must hold the workspace owner (uid 1000, alice) and nobody else."""
    assert group_holds_only(1000, "alice", primary, members) is safe


@root_only
def test_group_writable_in_roots_group_is_refused_in_someone_elses_workspace(
    tmp_path: Path,
) -> None:
    """A 0664 root:root rules file in a workspace another account owns is refused: root's
    group is not that account's own, even when it lists no members."""
    path = rules_file(tmp_path, 0o664)
    os.chown(path, 0, 0)
    reason = check_trust(path, NOBODY)
    assert reason is not None and "writable by group (mode 0664)" in reason


@root_only
def test_a_group_that_does_not_exist_is_nobody_s_own(tmp_path: Path) -> None:
    """A group-writable rules file whose group has no entry (a deleted group, a number) is
    refused: nothing says who may write it."""
    path = rules_file(tmp_path, 0o664)
    missing = max(g.gr_gid for g in grp.getgrall()) + 4242
    os.chown(path, 0, missing)
    reason = check_trust(path, 0)
    assert reason is not None and "writable by group" in reason
