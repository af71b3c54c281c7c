"""Commands on demand without hosts: how a command rule matches an argument vector,
what `tendr do` accepts, and what of a command reaches the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tendr.base.errors import UserError
from tendr.ops.on_demand import ON_DEMAND, masked, on_demand
from tendr.rules.resources import check_pattern, command_words, covers
from tests.helpers import ADMIN_RULES, build_tree, run_tendr

RULE = "lpstat"
STATUS = "systemctl status *"


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [
        (["lpstat"], True),
        (["lpstat", "frontdesk"], True),
        (["lpstat", "x; rm -rf /"], True),  # an argument, never run as shell
        (["lpstat", "-p"], False),  # an option the pattern does not write out
        (["lpstat", "frontdesk", "-h", "elsewhere"], False),
        (["lpstat -p; rm -rf /tmp/x"], False),  # one word: not the program lpstat
        (["/tmp/lpstat"], False),
        (["/usr/bin/lpstat"], False),
        (["FOO=1", "lpstat"], False),
        (["env", "lpstat"], False),
        (["sh", "-c", "lpstat"], False),
        (["lpstatx"], False),
        (["$(lpstat)"], False),
        ([], False),
    ],
)
def test_a_command_rule_is_an_anchored_prefix_of_whole_words(
    argv: list[str], allowed: bool
) -> None:
    assert covers("commands", RULE, command_words(argv)) is allowed


def test_a_star_stands_for_one_argument() -> None:
    assert covers("commands", STATUS, command_words(["systemctl", "status", "cups.service"]))
    assert not covers("commands", STATUS, command_words(["systemctl", "status"]))
    assert not covers("commands", STATUS, command_words(["systemctl", "restart", "cups"]))


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "would match every command"),
        ("* status", "name the command itself"),
        ("lpstat 'unclosed", "is not a command pattern"),
        ("lpstat\n-p", "control character"),
    ],
)
def test_a_command_pattern_that_cannot_work_is_refused(pattern: str, problem: str) -> None:
    found = check_pattern("commands", pattern)
    assert found is not None and problem in found


words = st.lists(st.text(min_size=0, max_size=8), min_size=1, max_size=5)


@given(words, words)
def test_a_command_is_covered_only_by_its_own_program(pattern: list[str], argv: list[str]) -> None:
    """Whatever the words, a pattern without '*' covers exactly the vectors it begins
    whose further arguments are no options (none starts with '-')."""
    pattern = [w.replace("*", "") for w in pattern]
    if check_pattern("commands", command_words(pattern)) is not None:
        return
    further = argv[len(pattern) :]
    expected = argv[: len(pattern)] == pattern and not any(w.startswith("-") for w in further)
    assert covers("commands", command_words(pattern), command_words(argv)) is expected


def test_secrets_are_masked_in_the_recorded_command() -> None:
    assert masked(["restic", "-p", "hunter2hunter2", "x=hunter2hunter2y"], ["hunter2hunter2"]) == [
        "restic",
        "-p",
        "***",
        "x=***y",
    ]


def test_do_takes_the_operations_a_name_is_enough_for() -> None:
    spec, change = on_demand("printer.enable", "frontdesk")
    assert (spec.key, change.op, change.after()) == (
        "frontdesk",
        "printer.enable",
        {"enabled": True, "accepting": True},
    )
    assert "service.restart" in ON_DEMAND and "package.install" not in ON_DEMAND
    with pytest.raises(UserError, match="cannot be done on demand"):
        on_demand("file.write", "/etc/motd")
    with pytest.raises(UserError, match="is not a systemd unit name"):
        on_demand("service.restart", "cups.service; reboot")


def test_rules_name_commands_and_explain_answers_for_one(tmp_path: Path) -> None:
    """A rule's commands are checked when the rules load, and `rules explain` answers
    for one command as `run` would decide it."""
    root = build_tree(
        tmp_path,
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "rules/roles.toml": (
                "[roles.helpdesk]\nmembers = ['dave']\n"
                "allow = [{ ops = ['command.run'], hosts = ['all'], commands = ['lpstat -p'] }]\n"
                + ADMIN_RULES  # asking about someone else takes rules.edit
            ),
        },
    )
    explain = ["rules", "explain", "-w", str(root), "dave", "command.run", "here"]
    code, text = run_tendr(*explain, command_words(["lpstat", "-p"]))
    assert code == 0, text
    code, text = run_tendr(*explain, command_words(["sh", "-c", "lpstat"]))
    assert code == 1, text
    (root / "rules/roles.toml").write_text(
        "[roles.helpdesk]\nmembers = ['dave']\n"
        "allow = [{ ops = ['plan'], hosts = ['all'], commands = ['lpstat'] }]\n"
    )
    code, text = run_tendr("validate", "-w", str(root), "--format", "json")
    assert code == 1
    assert "has no resources of the kind this rule names (commands)" in json.dumps(json.loads(text))


def test_root_operations_are_allowed_only_by_name() -> None:
    """command.run and shell give a root shell's power: an allow's '*' or '*.run' does
    not cover them (a rule for backups' *.run hands out nothing new); a deny's does."""
    from tendr.rules.model import op_matches

    for pattern in ("*", "*.run", "*.*"):
        assert not op_matches(pattern, "command.run", allowing=True)
        assert op_matches(pattern, "command.run")  # as a deny reads it
    assert not op_matches("*", "shell", allowing=True) and op_matches("*", "shell")
    assert op_matches("command.*", "command.run", allowing=True)
    assert op_matches("shell", "shell", allowing=True)
    assert op_matches("*", "backup.run", allowing=True)


def test_a_deny_cannot_name_commands(tmp_path: Path) -> None:
    root = build_tree(
        tmp_path,
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "rules/roles.toml": (
                "[roles.helpdesk]\nmembers = ['dave']\n"
                "allow = [{ ops = ['*', 'command.run'], hosts = ['all'] }]\n"
                "deny = [{ ops = ['command.run'], hosts = ['all'], commands = ['rm'] }]\n"
            ),
        },
    )
    code, text = run_tendr("validate", "-w", str(root))
    assert code == 1 and "a deny cannot name commands" in text, text


def test_journal_entries_are_read_whole_and_as_text() -> None:
    from tendr.ops.logs import entries, journal_line

    lines = [
        json.dumps(
            {
                "__REALTIME_TIMESTAMP": "1795924546000000",
                "_HOSTNAME": "h",
                "SYSLOG_IDENTIFIER": "cupsd",
                "_PID": "12",
                "MESSAGE": [0xFF, 0x1B, 0x5B, 0x32, 0x4A, 0x6F, 0x6B],  # not UTF-8
            }
        ),
        "not json",
    ]
    keys = ("__REALTIME_TIMESTAMP", "_HOSTNAME", "SYSLOG_IDENTIFIER", "_PID", "MESSAGE")
    [entry] = entries(lines, *keys)
    assert journal_line(entry) == "2026-11-29T03:55:46+0000 h cupsd[12]: \ufffd\x1b[2Jok"
