"""Least privilege down to the resource, and access granted for a time, on real hosts:
a helpdesk person may write CUPS's files and nothing else, until an administrator
grants them more for a few seconds; after that the same apply is refused again."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fleet.host import Host, write_hosts_file, write_known_hosts
from tests.helpers import build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

RULES = """\
[roles.admin]
members = ["carol"]
allow = [{ ops = ["*"], hosts = ["all"] }]

[roles.helpdesk]
members = ["dave"]
allow = [
  { ops = ["plan"], hosts = ["all"] },
  { ops = ["file.write"], hosts = ["client:acme"], paths = ["/etc/cups/**"] },
]

[roles.printing]
members = []
allow = [{ ops = ["file.write"], hosts = ["client:acme"] }]
"""

STATE = """\
hosts = ["client:acme"]

[[file]]
path = "/etc/cups/client.conf"
content = "ServerName /run/cups/cups.sock\\n"

[[file]]
path = "/etc/motd"
content = "Printing fixed by Example IT.\\n"
"""

MOTD = "cat /etc/motd | sha256sum; stat -c '%s %Y %a %U' /etc/motd"


@pytest.fixture
def acme(fresh_hosts: Callable[[int], list[Host]], tmp_path: Path) -> tuple[Host, str]:
    (host,) = fresh_hosts(1)
    write_hosts_file(tmp_path, [host], client="acme")
    write_known_hosts(tmp_path / "known_hosts", [host])
    ws = build_tree(tmp_path, {"states/printing.toml": STATE, "rules/roles.toml": RULES})
    return host, str(ws)


def test_a_path_rule_applies_exactly_the_allowed_resources(acme: tuple[Host, str]) -> None:
    host, ws = acme
    motd_before = host.run(MOTD, check=True).stdout

    code, raw = tendr("plan", "-w", ws, "--as", "dave", "--format", "json")
    assert code == 2
    changes = {c["resource"]: c for c in json.loads(raw)["hosts"][0]["changes"]}
    assert changes["/etc/cups/client.conf"]["allowed"] is True
    assert "(file.write on client:acme, /etc/cups/**)" in changes["/etc/cups/client.conf"]["rule"]
    assert changes["/etc/motd"]["allowed"] is False

    code, text = tendr("apply", "-w", ws, "--as", "dave", "--yes", "--only-allowed")
    assert code == 1
    assert "done file.write /etc/cups/client.conf" in text
    assert "refused file.write /etc/motd" in text
    conf = host.run("cat /etc/cups/client.conf", check=True).stdout
    assert conf == "ServerName /run/cups/cups.sock\n"
    assert host.run(MOTD, check=True).stdout == motd_before


def test_a_grant_allows_until_it_expires(acme: tuple[Host, str]) -> None:
    host, ws = acme
    motd_before = host.run(MOTD, check=True).stdout
    # Helpdesk may not grant: refused, and nothing is written.
    code, text = tendr(
        "grant", "dave", "printing", "--for", "1h", "--reason", "self", "-w", ws, "--as", "dave"
    )
    assert code == 1 and "no rule allows rules.grant" in text
    assert not (Path(ws) / "grants.toml").exists()

    code, text = tendr(
        "grant",
        "dave",
        "printing",
        "--hosts",
        "client:acme",
        "--for",
        "20s",
        "--reason",
        "ticket 4711: printing down",
        "-w",
        ws,
        "--as",
        "carol",
    )
    assert code == 0, text
    listed = json.loads(tendr("rules", "list", "-w", ws, "--as", "dave", "--format", "json")[1])
    (made,) = listed["grants"]
    assert (made["person"], made["role"], made["holds"]) == ("dave", "printing", True)

    code, text = tendr("apply", "-w", ws, "--as", "dave", "--yes")
    assert code == 0, text
    assert host.run("cat /etc/motd", check=True).stdout == "Printing fixed by Example IT.\n"

    # Until it ends by itself: then the same apply (the motd drifted back) is refused.
    host.run("cat > /etc/motd", stdin="changed on the host\n", check=True)
    drifted = host.run(MOTD, check=True).stdout
    until = datetime.fromisoformat(made["until"])
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1)
    code, text = tendr("apply", "-w", ws, "--as", "dave", "--yes")
    assert code == 1
    assert "file.write /etc/motd" in text
    assert host.run(MOTD, check=True).stdout == drifted
    assert motd_before != drifted

    shown = tendr("audit-log", "show", "-w", ws, "--as", "carol", "--format", "json")[1]
    records = json.loads(shown)["records"]  # grants are the workspace's: carol edits rules
    grants = [(r["person"], r["op"], r["outcome"]) for r in records if r["op"] == "rules.grant"]
    assert grants == [("carol", "rules.grant", "done")]
    used = [r for r in records if r["op"] == "file.write" and r["resource"] == "/etc/motd"]
    assert [r["outcome"] for r in used] == ["started", "done", "refused"]
    assert used[1]["rule"].startswith(f"grant {made['id']} by carol")
