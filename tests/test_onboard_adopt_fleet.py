"""Onboarding onto a host where the service account is there already (issue 27): made
by someone else with a foreign key in it, onboarding refuses and changes nothing; with
--adopt-account the keys are shown and tendr's alone remain; a key added later to the
account tendr made is refused too."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fleet.host import Host
from tests.helpers import ADMIN_RULES, build_tree
from tests.test_onboard_fleet import HOSTS, onboard

pytestmark = pytest.mark.fleet

AUTH = "/home/tendr/.ssh/authorized_keys"


def foreign_key(tmp_path: Path) -> tuple[Path, str, str]:
    """A key pair not tendr's: the private key, its public line and its fingerprint as
    ssh-keygen -l shows it (SHA256:…)."""
    key = tmp_path / "intruder"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "intruder@x", "-f", str(key)],
        check=True,
    )
    shown = subprocess.run(["ssh-keygen", "-lf", str(key)], capture_output=True, text=True)
    return key, Path(f"{key}.pub").read_text(), shown.stdout.split()[1]


def new_workspace(tmp_path: Path) -> Path:
    return build_tree(
        tmp_path / "ws",
        {"hosts/acme.toml": HOSTS, "known_hosts": "", "rules/roles.toml": ADMIN_RULES},
    )


def logs_in(host: Host, key: Path) -> bool:
    """Whether `key` logs in as tendr (ssh itself, the host key checked)."""
    done = subprocess.run(
        [
            *("ssh", "-p", str(host.port), "-i", str(key), "-o", "IdentitiesOnly=yes"),
            *("-o", f"UserKnownHostsFile={host.known_hosts_path}", "-o", "BatchMode=yes"),
            f"tendr@{host.address}",
            "true",
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    return done.returncode == 0


def test_an_account_someone_else_made_is_refused_then_adopted(
    fresh_host: Host, tmp_path: Path
) -> None:
    intruder, line, fingerprint = foreign_key(tmp_path)
    fresh_host.run(
        "useradd --system --create-home --shell /bin/sh tendr && "
        "install -d -m 0700 -o tendr /home/tendr/.ssh && "
        f"cat > {AUTH} && chown tendr {AUTH} && chmod 0600 {AUTH}",
        stdin=line,
        check=True,
    )
    assert logs_in(fresh_host, intruder)
    ws = new_workspace(tmp_path)

    code, text = onboard(ws, fresh_host, "--yes")
    assert code == 1, text
    assert "the account tendr exists already and tendr did not make it" in text
    assert f"{AUTH}: 256 {fingerprint} intruder@x (ED25519)" in text
    assert "refused, nothing was changed" in text and "--adopt-account" in text
    assert fresh_host.run(["cat", AUTH]).stdout == line
    assert fresh_host.run("test -e /etc/sudoers.d/tendr-tendr").returncode == 1
    assert (ws / "known_hosts").read_text() == "" and (ws / "hosts/acme.toml").read_text() == HOSTS

    code, text = onboard(ws, fresh_host, "--yes", "--adopt-account")
    assert code == 0, text
    assert f"{AUTH}: 256 {fingerprint} intruder@x (ED25519)" in text  # shown first
    assert "onboarded: account adopted, keys replaced, sudoers, pin, hosts file" in text
    tendrs = Path(f"{fresh_host.key_path}.pub").read_text().split()[:2]
    assert fresh_host.run(["cat", AUTH]).stdout == " ".join(tendrs) + "\n"
    assert not logs_in(fresh_host, intruder)
    code, text = onboard(ws, fresh_host)
    assert code == 0 and "already onboarded: nothing changed" in text, text


def test_a_key_added_to_tendrs_account_is_refused(fresh_host: Host, tmp_path: Path) -> None:
    """The account tendr made, with a key in authorized_keys2 (sshd reads it too)."""
    ws = new_workspace(tmp_path)
    code, text = onboard(ws, fresh_host, "--yes")
    assert code == 0, text
    _, line, fingerprint = foreign_key(tmp_path)
    fresh_host.run(f"cat > {AUTH}2", stdin=line, check=True)
    code, text = onboard(ws, fresh_host)
    assert code == 1, text
    assert "the account tendr exists already and it has keys that are not tendr's" in text
    assert f"{AUTH}2: 256 {fingerprint} intruder@x (ED25519)" in text
    assert fresh_host.run(["cat", f"{AUTH}2"]).stdout == line
