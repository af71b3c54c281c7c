"""Rules decide on what the host means, not on how a state spells it: a unit's alias, a
path through a linked folder, one resource under two names. Each case on real hosts, as
a person whose role the spelling would have dodged and as the administrator, with the
host checked afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fleet.host import Host, write_hosts_file, write_known_hosts
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

RULES = (
    ADMIN_RULES
    + """
[roles.helpdesk]
members = ["alice"]
allow = [
  { ops = ["plan"], hosts = ["all"] },
  { ops = ["service.*"], hosts = ["all"] },
  { ops = ["file.write"], hosts = ["all"], paths = ["/etc/cups/**"] },
]
deny = [{ ops = ["service.stop"], hosts = ["all"], units = ["ssh.service"] }]
"""
)


def workspace(root: Path, host: Host, states: dict[str, str]) -> str:
    write_hosts_file(root, [host], client="acme", health=False)
    write_known_hosts(root / "known_hosts", [host])
    return str(build_tree(root, {"rules/roles.toml": RULES, **states}))


def changes(raw: str) -> list[dict[str, object]]:
    return [c for h in json.loads(raw)["hosts"] for c in h["changes"]]


def test_a_deny_on_a_unit_covers_its_alias(fresh_host: Host, tmp_path: Path) -> None:
    """A deny of service.stop on ssh.service is not dodged by declaring sshd.service (its
    alias on Debian): the plan shows the unit systemd resolves, refuses it to the
    helpdesk, and ssh keeps running; the administrator sees the same unit, allowed."""
    state = 'hosts = ["all"]\n[[service]]\nunit = "sshd.service"\nrunning = false\n'
    ws = workspace(tmp_path, fresh_host, {"states/ssh.toml": state})

    code, text = tendr("plan", "-w", ws, "--as", "alice")
    assert code == 2, text
    assert "service.stop" in text and "sshd.service = ssh.service" in text
    assert "blocked (rules/roles.toml: roles.helpdesk.deny[0]" in text

    code, text = tendr("apply", "-w", ws, "--as", "alice", "--yes")
    assert code == 1, text
    assert "nothing was applied" in text
    assert fresh_host.run("systemctl is-active ssh.service").stdout.strip() == "active"

    code, raw = tendr("plan", "-w", ws, "--format", "json")
    (change,) = changes(raw)
    assert (change["resource"], change["resolved"], change["allowed"]) == (
        "sshd.service",
        "ssh.service",
        True,
    )


def test_a_unit_and_its_alias_declared_twice_is_an_error(fresh_host: Host, tmp_path: Path) -> None:
    """ssh.service running in one state and sshd.service stopped in another would flap on
    every apply: the host's plan is an error naming both files and lines, and apply
    touches nothing."""
    ws = workspace(
        tmp_path,
        fresh_host,
        {
            "states/a.toml": 'hosts = ["all"]\n[[service]]\nunit = "ssh.service"\nrunning = true\n',
            "states/b.toml": 'hosts = ["all"]\n\n[[service]]\nunit = "sshd.service"\n'
            "running = false\n",
        },
    )
    code, text = tendr("plan", "-w", ws)
    assert code == 1, text
    assert "'ssh.service' at states/a.toml:2 (service[0])" in text
    assert "'sshd.service' at states/b.toml:3 (service[0])" in text
    assert "are one resource on this host (ssh.service): declare it once" in text

    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1, text
    assert fresh_host.run("systemctl is-active ssh.service").stdout.strip() == "active"


def test_a_path_rule_decides_on_where_the_path_leads(fresh_host: Host, tmp_path: Path) -> None:
    """With /etc/cups a link to /etc/sudoers.d, an allow on /etc/cups/** does not cover
    /etc/cups/tendr-x: the plan shows the file it leads to and refuses it to the
    helpdesk; the administrator's plan says apply cannot write through the link, and
    nothing reaches /etc/sudoers.d either way."""
    fresh_host.run("mv /etc/cups /etc/cups.real && ln -s /etc/sudoers.d /etc/cups", check=True)
    state = (
        'hosts = ["all"]\n[[file]]\npath = "/etc/cups/tendr-x"\n'
        'content = "alice ALL=(ALL) NOPASSWD: ALL\\n"\nmode = "0440"\n'
    )
    ws = workspace(tmp_path, fresh_host, {"states/cups.toml": state})

    code, text = tendr("plan", "-w", ws, "--as", "alice")
    assert code == 2, text
    assert "/etc/cups/tendr-x = /etc/sudoers.d/tendr-x" in text
    assert "blocked (no rule allows file.write /etc/sudoers.d/tendr-x" in text

    code, text = tendr("apply", "-w", ws, "--as", "alice", "--yes")
    assert code == 1, text

    code, text = tendr("plan", "-w", ws)
    assert "tendr writes through no link, so apply fails here" in text
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1, text
    assert fresh_host.run("test -e /etc/sudoers.d/tendr-x").returncode == 1


def test_one_file_through_a_link_and_directly_is_declared_twice(
    fresh_host: Host, tmp_path: Path
) -> None:
    """A file named directly and through a linked folder is one file on the host: an
    error naming both places, nothing written."""
    fresh_host.run("mkdir -p /srv/real && ln -s /srv/real /srv/alias", check=True)
    ws = workspace(
        tmp_path,
        fresh_host,
        {
            "states/a.toml": 'hosts = ["all"]\n[[file]]\npath = "/srv/real/x"\ncontent = "a"\n',
            "states/b.toml": 'hosts = ["all"]\n[[file]]\npath = "/srv/alias/x"\ncontent = "b"\n',
        },
    )
    code, text = tendr("plan", "-w", ws)
    assert code == 1, text
    assert "'/srv/real/x' at states/a.toml:2 (file[0])" in text
    assert "are one resource on this host (/srv/real/x)" in text
    tendr("apply", "-w", ws, "--yes")
    assert fresh_host.run("test -e /srv/real/x").returncode == 1


def test_a_file_in_a_private_folder_shows_no_hash(fresh_host: Host, tmp_path: Path) -> None:
    """A 0644 file inside the 0700 /root: a person who may only plan learns neither its
    hash nor its size, in text or JSON (a 4-digit PIN would fall to a lookup table)."""
    fresh_host.run("printf 1234 > /root/pin && chmod 0644 /root/pin", check=True)
    state = 'hosts = ["all"]\n[[file]]\npath = "/root/pin"\ncontent = "9999"\n'
    ws = workspace(tmp_path, fresh_host, {"states/pin.toml": state})
    digest = fresh_host.run("sha256sum /root/pin").stdout.split()[0]

    code, text = tendr("plan", "-w", ws, "--as", "alice")
    assert code == 2, text
    assert "content: differs (not world-readable: no hash or size shown)" in text
    code, raw = tendr("plan", "-w", ws, "--as", "alice", "--format", "json")
    (change,) = changes(raw)
    assert change["before"] == {"content": {"hidden": "not world-readable"}}
    assert digest not in raw and digest[:12] not in text and "4 bytes" not in text


def test_do_on_an_alias_is_decided_on_its_unit(fresh_host: Host, tmp_path: Path) -> None:
    """`tendr do service.stop sshd.service` is refused where ssh.service may not be
    stopped: the host is asked what the name means before anything runs."""
    state = 'hosts = ["all"]\n[[service]]\nunit = "sshd.service"\n'
    ws = workspace(tmp_path, fresh_host, {"states/ssh.toml": state})
    code, text = tendr(
        "do", "service.stop", "sshd.service", "-l", fresh_host.name, "-w", ws, "--as", "alice"
    )
    assert code == 1, text
    assert "role helpdesk denies service.stop ssh.service" in text
    assert fresh_host.run("systemctl is-active ssh.service").stdout.strip() == "active"
    code, raw = tendr("audit-log", "show", "-w", ws, "--format", "json")
    (record,) = [r for r in json.loads(raw)["records"] if r["op"] == "service.stop"]
    assert (record["outcome"], record["person"]) == ("refused", "alice")
