"""Onboarding a fresh test host: its key pinned, the service account made, the host
written into the workspace; then plan and apply as that account."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tendr.cli.app import app
from tests.fleet.host import Host
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

HOSTS = """\
# hosts/acme.toml: Acme's machines (kept as written: this comment too)
[defaults]
health = false

[hosts.acme-old]
address = "192.0.2.7"   # the old file server
groups = ["office"]
"""


def onboard(ws: Path, host: Host, *extra: str) -> tuple[int, str]:
    return tendr(
        "onboard",
        "new-01",
        "-w",
        str(ws),
        "--address",
        host.address,
        "--port",
        str(host.port),
        "--client",
        "acme",
        "--group",
        "office",
        "--bootstrap-user",
        "tech",
        "--bootstrap-key",
        str(host.key_path),
        "--ssh-key",
        str(host.key_path),
        *extra,
    )


def test_a_fresh_host_is_onboarded_then_planned_and_applied(
    fresh_host: Host, tmp_path: Path
) -> None:
    ws = build_tree(
        tmp_path / "ws",
        {
            "hosts/acme.toml": HOSTS,
            "known_hosts": "",
            "rules/roles.toml": ADMIN_RULES,
            "states/motd.toml": (
                'hosts = ["group:office"]\n[[file]]\npath = "/etc/motd"\ncontent = "Acme\\n"\n'
            ),
        },
    )
    # Without a confirmation the key is only shown, and nothing is written.
    code, text = onboard(ws, fresh_host)
    assert code == 1 and "offers ssh-ed25519 SHA256:" in text, text
    assert "pass --yes or --expect-fingerprint" in text
    assert (ws / "known_hosts").read_text() == ""
    assert fresh_host.run("id tendr").returncode == 1

    shown = subprocess.run(
        ["ssh-keygen", "-lf", "-"], input=fresh_host.host_key, capture_output=True, text=True
    ).stdout.split()[1]
    code, text = onboard(ws, fresh_host, "--expect-fingerprint", shown)
    assert code == 0, text
    assert "onboarded: account, key, sudoers, pin, hosts file" in text
    assert "debian 12" in text and "~ file.write         /etc/motd" in text  # its plan follows
    hosts = (ws / "hosts/acme.toml").read_text()
    assert hosts.startswith(HOSTS)  # comments and layout kept
    assert "[hosts.new-01]" in hosts and 'groups = ["office"]' in hosts
    assert fresh_host.run("cat /etc/sudoers.d/tendr-tendr").stdout == (
        "tendr ALL=(ALL:ALL) NOPASSWD: ALL\n"
    )

    assert "new-01 is audit-only until approved" in text
    # Audit-only until approved: plans, but no change.
    code, text = tendr("apply", "-w", str(ws), "--yes", "-l", "new-01")
    assert code == 1 and "new-01 is not approved yet" in text, text
    code, text = tendr("approve", "-w", str(ws), "new-01")
    assert code == 0 and "new-01 approved" in text, text
    assert "approved" not in (ws / "hosts/acme.toml").read_text()
    code, text = tendr("apply", "-w", str(ws), "--yes", "-l", "new-01")
    assert code == 0, text  # as the service account, through its sudo
    assert fresh_host.run("cat /etc/motd").stdout == "Acme\n"

    code, text = onboard(ws, fresh_host)  # pinned now: nothing to confirm
    assert code == 0 and "already onboarded: nothing changed" in text, text

    # The machine's key changes: refused, nothing written.
    before = (ws / "known_hosts").read_text()
    (ws / "known_hosts").write_text(
        before.replace(
            fresh_host.host_key.split()[1],
            "AAAAC3NzaC1lZDI1NTE5AAAAIKH5Q1dHy3hUbW9qD4Ib8o3Y9H2BfOQm4u0o2Z1H4Xq2",
        )
    )
    code, text = onboard(ws, fresh_host, "--yes")
    assert code == 1 and "not the key pinned for it" in text, text
    # Re-pinned deliberately, both keys shown: then onboarding finds nothing to do.
    code, text = tendr("hosts", "pin", "-w", str(ws), "new-01")
    assert code == 1 and "pass --yes or --expect-fingerprint" in text, text
    assert f"offered ssh-ed25519 {shown}" in text and "pinned  ssh-ed25519 SHA256:" in text
    code, text = tendr("hosts", "pin", "-w", str(ws), "new-01", "--expect-fingerprint", shown)
    assert code == 0 and "pinned the offered key" in text, text
    assert (ws / "known_hosts").read_text() == before
    code, text = onboard(ws, fresh_host)
    assert code == 0 and "already onboarded: nothing changed" in text, text


def test_a_wrong_bootstrap_key_writes_nothing(fresh_host: Host, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    ws = build_tree(
        tmp_path / "ws",
        {"hosts/acme.toml": HOSTS, "known_hosts": "", "rules/roles.toml": ADMIN_RULES},
    )
    code, text = tendr(
        "onboard",
        "new-01",
        "-w",
        str(ws),
        *("--address", fresh_host.address, "--port", str(fresh_host.port), "--client", "acme"),
        *("--bootstrap-user", "tech", "--bootstrap-key", str(other), "--ssh-key", str(other)),
        "--yes",
    )
    assert code == 1 and "nothing was changed" in text, text
    assert (ws / "known_hosts").read_text() == "" and (ws / "hosts/acme.toml").read_text() == HOSTS
    assert fresh_host.run("id tendr").returncode == 1


def test_an_onboarding_cut_short_completes_when_run_again(fresh_host: Host, tmp_path: Path) -> None:
    """Cut short after the account was made (the account is there, nothing else): run
    again, onboarding makes the rest and nothing twice."""
    # As onboarding makes it (tendr's mark on it): the run was cut short right after.
    fresh_host.run(
        "useradd --system --create-home --shell /bin/sh --comment 'tendr service account' tendr",
        check=True,
    )
    ws = build_tree(
        tmp_path / "ws",
        {"hosts/acme.toml": HOSTS, "known_hosts": "", "rules/roles.toml": ADMIN_RULES},
    )
    code, text = onboard(ws, fresh_host, "--yes")
    assert code == 0, text
    assert "onboarded: key, sudoers, pin, hosts file" in text
    assert fresh_host.run("grep -c . /home/tendr/.ssh/authorized_keys").stdout.strip() == "1"


def test_a_bootstrap_password_is_read_from_a_private_file_and_kept_nowhere(
    fresh_host: Host, tmp_path: Path
) -> None:
    """No bootstrap key: its password comes from a terminal or a file its owner alone
    reads (never an argument, never a pipe); it logs in and sudo with it; it is in no
    output and no record."""
    password = "Bootstrap-Pw-5d1e"
    # This host takes passwords (the fleet's sshd does not; an earlier file wins) and
    # tech's sudo asks for one.
    fresh_host.run(
        "printf 'PasswordAuthentication yes\\nKbdInteractiveAuthentication yes\\n' "
        "> /etc/ssh/sshd_config.d/0-test-passwords.conf && systemctl reload ssh && "
        f"echo 'tech:{password}' | chpasswd && "
        "echo 'tech ALL=(ALL:ALL) ALL' > /etc/sudoers.d/tech",
        check=True,
    )
    ws = build_tree(
        tmp_path / "ws",
        {"hosts/acme.toml": HOSTS, "known_hosts": "", "rules/roles.toml": ADMIN_RULES},
    )
    argv = [
        "onboard",
        "new-01",
        "-w",
        str(ws),
        *("--address", fresh_host.address, "--port", str(fresh_host.port)),
        *("--client", "acme", "--bootstrap-user", "tech"),
        *("--ssh-key", str(fresh_host.key_path), "--yes"),
    ]
    # From a pipe, whose other end may be anyone's: refused, the host untouched.
    result = CliRunner().invoke(app, argv, input=f"{password}\n")
    assert result.exit_code == 1, result.output
    assert "password is asked on a terminal" in result.output
    assert "--bootstrap-password-file" in result.output
    assert fresh_host.run("id tendr").returncode == 1
    # From a file that others may read: refused too.
    secret = tmp_path / "password"
    secret.write_text(f"{password}\n")
    secret.chmod(0o640)
    result = CliRunner().invoke(app, [*argv, "--bootstrap-password-file", str(secret)])
    assert result.exit_code == 1 and "chmod 600" in result.output, result.output
    secret.chmod(0o600)
    result = CliRunner().invoke(app, [*argv, "--bootstrap-password-file", str(secret)])
    assert result.exit_code == 0, result.output
    assert "onboarded: account, key, sudoers, pin, hosts file" in result.output
    assert password not in result.output
    assert password not in (ws / ".tendr/audit.log").read_text()
    code, text = tendr("approve", "-w", str(ws), "new-01")
    assert code == 0, text
    code, text = tendr("plan", "-w", str(ws), "-l", "new-01")
    assert code == 0, text  # as the service account: sudo without a password


def test_the_entry_logs_in_whatever_the_files_defaults_say(
    fresh_host: Host, tmp_path: Path
) -> None:
    """The client's other hosts log in as `tech` on port 2200: the entry onboarding writes
    names the account it made and the host's port, and onboarding ends by logging in
    through it. Edited by hand so that it cannot, a second run says so and fails."""
    ws = build_tree(
        tmp_path / "ws",
        {
            "hosts/acme.toml": HOSTS.replace(
                "health = false\n", 'health = false\nuser = "tech"\nport = 2200\n'
            ),
            "known_hosts": "",
            "rules/roles.toml": ADMIN_RULES,
        },
    )
    code, text = onboard(ws, fresh_host, "--yes")
    assert code == 0 and "onboarded: account, key, sudoers, pin, hosts file" in text, text
    written = (ws / "hosts/acme.toml").read_text()
    assert 'user = "tendr"' in written and f"port = {fresh_host.port}" in written, written
    code, text = tendr("plan", "-w", str(ws), "-l", "new-01")
    assert code == 0 and "new-01" in text, text

    # Its pin lost: the error names the command that pins it, which an audit-only host
    # takes (it changes the workspace alone).
    pinned = (ws / "known_hosts").read_text()
    (ws / "known_hosts").write_text("")
    code, text = tendr("plan", "-w", str(ws), "-l", "new-01")
    assert code == 1 and "`tendr hosts pin new-01` shows the key it offers" in text, text
    code, text = tendr("hosts", "pin", "-w", str(ws), "new-01", "--yes")
    assert code == 0 and "pinned the offered key" in text, text
    assert (ws / "known_hosts").read_text() == pinned

    (ws / "hosts/acme.toml").write_text(written.replace('user = "tendr"', 'user = "tech2"'))
    code, text = onboard(ws, fresh_host, "--yes")
    assert code == 1, text
    assert "already onboarded" not in text
    assert "tendr cannot log in through its entry in hosts/acme.toml" in text, text
    assert "as tech2" in text and "Onboarding is not complete (nothing was changed)" in text
    assert "tech2 did not accept tendr's key" in text
    code, text = tendr("audit-log", "show", "-w", str(ws), "--host", "new-01")
    assert code == 0 and "login through its entry failed" in text, text
