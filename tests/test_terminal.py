"""Commands on demand without hosts: how a command rule matches an argument vector,
what `tendr do` accepts, and what of a command reaches the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tendr.errors import UserError
from tendr.rules.resources import check_pattern, command_words, covers
from tendr.terminal import ON_DEMAND, masked, on_demand
from tests.helpers import build_tree, run_tendr

RULE = "lpstat"
STATUS = "systemctl status *"


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [
        (["lpstat"], True),
        (["lpstat", "-p"], True),
        (["lpstat", "-p", "x; rm -rf /"], True),  # an argument, never run as shell
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
    """Whatever the words, a pattern without '*' covers exactly the vectors it begins."""
    pattern = [w.replace("*", "") for w in pattern]
    if check_pattern("commands", command_words(pattern)) is not None:
        return
    expected = argv[: len(pattern)] == pattern
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
                "allow = [{ ops = ['command.run'], hosts = ['all'], commands = ['lpstat'] }]\n"
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
