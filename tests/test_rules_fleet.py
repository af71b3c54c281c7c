"""Permission rules in front of real hosts: refused work never reaches a host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fleet.host import Host, write_hosts_file, write_known_hosts
from tests.helpers import build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

RULES = """\
[roles.admin]
members = ["root"]
allow = [{ ops = ["*"], hosts = ["all"] }]

[roles.helpdesk]
members = ["alice"]
allow = [
  { ops = ["plan"], hosts = ["all"] },
  { ops = ["service.restart", "service.start"], hosts = ["client:acme"] },
]

[roles.auditor]
members = ["dave"]
allow = [{ ops = ["plan", "report"], hosts = ["all"] }]
"""

STATE = """\
hosts = ["all"]

[[package]]
name = "hello"

[[file]]
path = "/etc/motd"
content = "Managed by Example IT.\\n"

[[service]]
unit = "cron.service"
running = true
"""

# Everything a change could touch, with sizes, times and modes: any write shows.
SNAPSHOT = (
    "find /etc /usr /var/lib/dpkg /srv -xdev -printf '%p %s %T@ %m\\n' 2>/dev/null "
    "| sort | sha256sum; systemctl is-active cron.service"
)


def two_clients(root: Path, acme: Host, beta: Host) -> str:
    """A workspace with one host at client acme and one at client beta."""
    write_hosts_file(root, [beta], client="beta")
    write_hosts_file(root, [acme], client="acme")
    write_known_hosts(root / "known_hosts", [acme, beta])
    return str(build_tree(root, {"states/main.toml": STATE, "rules/roles.toml": RULES}))


@pytest.fixture
def hosts(fresh_hosts: object) -> tuple[Host, Host]:
    acme, beta = fresh_hosts(2)  # type: ignore[operator]
    for host in (acme, beta):
        host.run("systemctl stop cron.service", check=True)
    return acme, beta


def test_helpdesk_is_refused_packages_and_other_clients(
    hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    """Helpdesk may start services on acme only: the plan marks the rest blocked, apply
    refuses to start, and both hosts stay byte-for-byte as they were."""
    acme, beta = hosts
    ws = two_clients(tmp_path, acme, beta)
    before = [h.run(SNAPSHOT).stdout for h in hosts]

    code, raw = tendr("plan", "-w", ws, "--as", "alice", "--format", "json")
    assert code == 2
    decisions = {
        (h["name"], c["op"]): c["allowed"] for h in json.loads(raw)["hosts"] for c in h["changes"]
    }
    assert decisions[(acme.name, "service.start")] is True
    assert decisions[(acme.name, "package.install")] is False
    assert decisions[(beta.name, "service.start")] is False
    assert decisions[(beta.name, "file.write")] is False

    code, text = tendr("plan", "-w", ws, "--as", "alice")
    assert "blocked (no rule allows package.install" in text

    code, text = tendr("apply", "-w", ws, "--as", "alice", "--yes")
    assert code == 1
    assert "alice may not apply every planned change; nothing was applied" in text
    assert f"{beta.name}: service.start cron.service" in text
    assert [h.run(SNAPSHOT).stdout for h in hosts] == before

    code, raw = tendr("audit-log", "show", "-w", ws, "--format", "json")
    refused = {
        (r["host"], r["op"])
        for r in json.loads(raw)["records"]
        if r["outcome"] == "refused" and r["person"] == "alice" and r["account"] == "root"
    }
    assert (beta.name, "service.start") in refused and (acme.name, "package.install") in refused
    assert tendr("audit-log", "verify", "-w", ws)[0] == 0


def test_only_allowed_applies_the_allowed_and_reports_the_rest(
    hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    """--only-allowed makes the permitted change alone; the refused ones never run."""
    acme, beta = hosts
    ws = two_clients(tmp_path, acme, beta)
    beta_before = beta.run(SNAPSHOT).stdout
    code, text = tendr("apply", "-w", ws, "--as", "alice", "--yes", "--only-allowed")
    assert code == 1
    assert "done service.start cron.service" in text
    assert "refused package.install hello" in text
    assert acme.run("systemctl is-active cron.service").stdout.strip() == "active"
    assert acme.run(["dpkg-query", "-W", "hello"]).returncode != 0
    assert beta.run(SNAPSHOT).stdout == beta_before


def test_auditor_may_plan_but_not_apply(hosts: tuple[Host, Host], tmp_path: Path) -> None:
    """An auditor reads every host and changes none."""
    acme, beta = hosts
    ws = two_clients(tmp_path, acme, beta)
    before = [h.run(SNAPSHOT).stdout for h in hosts]
    assert tendr("plan", "-w", ws, "--as", "dave")[0] == 2
    code, text = tendr("apply", "-w", ws, "--as", "dave", "--yes", "--only-allowed")
    assert code == 1
    assert "Nothing applied: dave may make none of the planned changes" in text
    assert [h.run(SNAPSHOT).stdout for h in hosts] == before


def test_person_outside_every_role_is_refused_everything(
    hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    """Someone in no role may not even read a host."""
    acme, beta = hosts
    ws = two_clients(tmp_path, acme, beta)
    code, text = tendr("plan", "-w", ws, "--as", "eve")
    assert code == 1
    assert f"{acme.name}: error: permission denied: eve is in no role" in text
    assert f"{beta.name}: error: permission denied: eve is in no role" in text
    code, text = tendr("apply", "-w", ws, "--as", "eve", "--yes")
    assert code == 1
