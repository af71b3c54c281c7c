"""A host's ssh_key others can read is refused before tendr connects to a real test host;
the same key, made its owner's alone, works."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet


def logins(host: Host) -> int:
    """How many logins the host's sshd has accepted since it booted (this one included)."""
    done = host.run("journalctl -q --no-pager -b _COMM=sshd | grep -c 'Accepted publickey'")
    return int(done.stdout.strip() or 0)


def test_a_readable_key_is_refused_and_nothing_connects(fresh_host: Host, tmp_path: Path) -> None:
    key = tmp_path / "keys" / "tendr"
    key.parent.mkdir()
    shutil.copyfile(fresh_host.key_path, key)
    key.chmod(0o644)
    hosts = write_hosts_file(tmp_path / "ws", [fresh_host])
    hosts.write_text(hosts.read_text().replace(str(fresh_host.key_path.resolve()), str(key)))
    ws = str(build_tree(tmp_path / "ws", {"rules/roles.toml": ADMIN_RULES}))
    fix = f"fix: chmod 600 {key}"

    before = logins(fresh_host)
    code, text = tendr("validate", "-w", ws)
    assert code == 1 and "defaults.ssh_key: the private key" in text and fix in text, text
    code, text = tendr("plan", "-w", ws)
    assert code == 1, text
    assert f"the private key {key} is readable by its group and others (mode 0644)" in text
    assert fix in text and "nothing was done" in text
    assert logins(fresh_host) == before + 1  # the count's own login alone

    key.chmod(0o600)
    code, text = tendr("plan", "-w", ws)
    assert code == 0 and "in sync" in text, text
    assert logins(fresh_host) == before + 3  # plan's login, and two counts
