"""Command patterns on a real host (issue 25, point 6): `systemctl status *` allows a
unit's status and never `systemctl status --no-pager -H root@127.0.0.1`, which makes root
on the client start ssh to another machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

HELPDESK = """
[roles.helpdesk]
members = ["dave"]
allow = [{ ops = ["command.run"], hosts = ["all"], commands = ["systemctl status *"] }]
"""

# systemd's -H runs `ssh` from PATH (sd-bus execvp's it); this one, first on root's PATH,
# only leaves a mark, so the test sees whether systemctl went for ssh at all.
FAKE_SSH = '#!/bin/sh\necho "$@" >> /tmp/ssh-ran\nexit 1\n'
ATTACKS = [
    ["systemctl", "status", "--no-pager", "-H", "root@127.0.0.1"],
    ["systemctl", "status", "cups.service", "-H", "root@127.0.0.1"],
]


def audit(ws: str) -> list[dict[str, Any]]:
    code, text = tendr("audit-log", "show", "-w", ws, "--last", "100", "--format", "json")
    assert code == 0, text
    return [r for r in json.loads(text)["records"] if r["op"] == "command.run"]


def test_systemctl_status_star_never_reaches_another_machine(
    fresh_host: Host, tmp_path: Path
) -> None:
    """As dave (allow `systemctl status *`): a unit's status runs; with an option, before
    or after the unit, the command is refused, recorded so, and systemctl never ran (no
    ssh was started). The same command as an administrator does start ssh: the refusal
    is what keeps it from the host."""
    fresh_host.run(
        f"printf '%s' '{FAKE_SSH}' > /usr/local/bin/ssh && chmod 755 /usr/local/bin/ssh",
        check=True,
    )
    write_hosts_file(tmp_path, [fresh_host])
    ws = str(build_tree(tmp_path, {"rules/roles.toml": ADMIN_RULES + HELPDESK}))
    run = ["run", "-w", ws, "-l", fresh_host.name]

    code, text = tendr(*run, "--as", "dave", "--", "systemctl", "status", "cups.service")
    assert code == 0, text
    assert "cups.service" in text and "permission denied" not in text

    for attack in ATTACKS:
        code, text = tendr(*run, "--as", "dave", "--", *attack)
        assert code == 1, text
        assert "permission denied" in text
    assert fresh_host.run("test -e /tmp/ssh-ran").returncode == 1
    assert [(r["person"], r["outcome"]) for r in audit(ws)] == [
        ("dave", "done"),
        ("dave", "refused"),
        ("dave", "refused"),
    ]

    # What the refusal kept from the host: the administrator's run does start ssh.
    code, text = tendr(*run, "--", *ATTACKS[0])
    assert code == 1, text  # systemctl fails: the stand-in ssh connects nowhere
    assert "root@127.0.0.1" in fresh_host.run("cat /tmp/ssh-ran", check=True).stdout
