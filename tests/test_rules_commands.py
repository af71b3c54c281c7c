"""Command patterns allow options only as written out (issue 25, point 6): README's own
example `systemctl status *` allowed `systemctl status --no-pager -H root@127.0.0.1`, root
on the client starting ssh to another machine. Neither a '*' nor an argument after the
pattern is ever an option (an argument starting with '-'). (The fleet test is
test_rules_commands_fleet.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tendr.rules.resources import check_pattern, command_words, covers
from tests.helpers import ADMIN_RULES, build_tree, run_tendr

STATUS = "systemctl status *"
SSH_ELSEWHERE = ["systemctl", "status", "--no-pager", "-H", "root@127.0.0.1"]


@pytest.mark.parametrize(
    ("pattern", "argv", "allowed"),
    [
        (STATUS, ["systemctl", "status", "cups.service"], True),
        (STATUS, ["systemctl", "status", "cups.service", "cron.service"], True),
        (STATUS, SSH_ELSEWHERE, False),
        (STATUS, ["systemctl", "status", "cups.service", "-H", "root@127.0.0.1"], False),
        (STATUS, ["systemctl", "status", "-Hroot@127.0.0.1"], False),
        (STATUS, ["systemctl", "status", "cups.service", "--host=root@127.0.0.1"], False),
        (STATUS, ["systemctl", "status", "--", "-H"], False),
        (STATUS, ["systemctl", "status", "-"], False),
        (STATUS, ["systemctl", "status"], False),
        ("systemctl status --no-pager *", ["systemctl", "status", "--no-pager", "cups"], True),
        ("lpstat -p", ["lpstat", "-p"], True),
        ("lpstat -p", ["lpstat", "-p", "frontdesk"], True),
        ("lpstat -p", ["lpstat", "-p", "-h", "elsewhere"], False),
        ("lpstat -p", ["lpstat"], False),
        ("lpstat", ["lpstat", "-r"], False),
        ("lpstat", ["lpstat"], True),
        # A '*' is no path pattern: it crosses '/' and '..' (what follows a pattern is any
        # word anyway), so README says to name commands whose operands read nothing secret.
        ("cat /var/log/cups/*", ["cat", "/var/log/cups/../../../etc/shadow"], True),
    ],
)
def test_options_are_allowed_only_as_written(pattern: str, argv: list[str], allowed: bool) -> None:
    assert check_pattern("commands", pattern) is None
    assert covers("commands", pattern, command_words(argv)) is allowed


@pytest.mark.parametrize("pattern", ["systemctl status -*", "lpstat --*", "lpstat -p*"])
def test_a_star_in_an_option_is_refused(pattern: str) -> None:
    problem = check_pattern("commands", pattern) or ""
    assert "write each option out whole" in problem


WORDS = st.text("ab-*/", max_size=4)


@settings(max_examples=500)
@given(
    st.lists(WORDS, min_size=1, max_size=4),
    st.lists(st.text("ab-/", max_size=4), min_size=1, max_size=6),
)
def test_every_option_of_a_covered_command_is_written_in_the_pattern(
    words: list[str], argv: list[str]
) -> None:
    """Whatever the pattern and the command: when the pattern covers the command, each of
    its arguments starting with '-' stands where the pattern writes that very word."""
    pattern = command_words(["prog", *words])
    if check_pattern("commands", pattern) is not None:
        return
    if covers("commands", pattern, command_words(["prog", *argv])):
        for at, arg in enumerate(argv):
            if arg.startswith("-"):
                assert at < len(words) and words[at] == arg, (words, argv)


def test_rules_explain_refuses_ssh_to_another_machine(tmp_path: Path) -> None:
    """As `tendr run` decides: `systemctl status *` allows a unit's status, and not the
    status of another machine's through ssh."""
    root = build_tree(
        tmp_path,
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "rules/roles.toml": ADMIN_RULES
            + "[roles.helpdesk]\nmembers = ['dave']\n"
            + f"allow = [{{ ops = ['command.run'], hosts = ['all'], commands = ['{STATUS}'] }}]\n",
        },
    )
    explain = ["rules", "explain", "-w", str(root), "dave", "command.run", "here"]
    code, text = run_tendr(*explain, command_words(SSH_ELSEWHERE))
    assert code == 1 and text.startswith("denied"), text
    code, text = run_tendr(*explain, command_words(["systemctl", "status", "cups.service"]))
    assert code == 0 and text.startswith("allowed"), text
