"""A private key or secret file others can read is refused at validation, as ssh refuses
such a key: a host's `ssh_key`, a backup's password file and its sftp key. Nothing connects
anywhere while one is refused."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.helpers import ADMIN_RULES, build_tree, needs_root, run_program
from tests.helpers import run_tendr as tendr

STATE = """\
hosts = ["all"]

[[backup]]
name = "documents"
sources = ["/srv/share"]
repository = "sftp:vault@192.0.2.60:/srv/restic/acme"
ssh_key = { file = "secrets/offsite.key" }
host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
password = { file = "secrets/acme.pass" }
"""
PASSWORD = "correct-horse-battery-staple"


def ssh_key(path: Path, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    path.chmod(mode)
    return path


def workspace(root: Path, key: str, port: int = 22, state: str = "") -> Path:
    hosts = (
        f'[defaults]\nssh_key = "{key}"\n\n'
        f'[hosts.acme-fs01]\naddress = "127.0.0.1"\nport = {port}\nuser = "tendr"\n'
    )
    files = {"hosts/acme.toml": hosts, "known_hosts": "", "rules/roles.toml": ADMIN_RULES}
    if state:
        files |= {"states/backup.toml": state, "secrets/acme.pass": PASSWORD + "\n"}
        files |= {"secrets/offsite.key": "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n"}
    build_tree(root, files)
    for secret in (root / "secrets").glob("*"):
        secret.chmod(0o600)
    return root


def errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error: ")]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660], ids=oct)
def test_a_host_key_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    key = ssh_key(tmp_path / "keys" / "tendr", mode)
    ws = workspace(tmp_path / "ws", str(key))
    code, text = tendr("validate", "-w", str(ws))
    assert code == 1, text
    who = {0o644: "its group and others", 0o640: "its group", 0o604: "others"}
    assert errors(text) == [
        f"error: hosts/acme.toml:2: defaults.ssh_key: the private key {key} is readable by "
        f"{who.get(mode, 'its group')} (mode {mode:04o}); it must be readable by its owner "
        f"alone, as ssh requires of a private key; fix: chmod 600 {key}"
    ]
    key.chmod(0o600)
    code, text = tendr("validate", "-w", str(ws))
    assert code == 0, text


def test_a_tilde_key_is_the_running_accounts_and_a_hosts_own_key_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    key = ssh_key(tmp_path / "home/.ssh/id_ed25519", 0o644)
    ws = workspace(tmp_path / "ws", "~/.ssh/id_ed25519")
    own = ssh_key(tmp_path / "keys/own", 0o604)
    hosts = ws / "hosts/acme.toml"
    hosts.write_text(
        hosts.read_text() + f'\n[hosts.acme-fs02]\naddress = "h2"\nssh_key = "{own}"\n'
    )
    code, text = tendr("validate", "-w", str(ws))
    assert code == 1, text
    [first, second] = errors(text)
    assert first.startswith(f"error: hosts/acme.toml:2: defaults.ssh_key: the private key {key} ")
    assert first.endswith(f"fix: chmod 600 {key}")
    assert second.startswith(
        f"error: hosts/acme.toml:11: hosts.acme-fs02.ssh_key: the private key {own} is readable "
        "by others (mode 0604)"
    )


def test_a_link_is_judged_by_the_key_it_leads_to(tmp_path: Path) -> None:
    """As ssh does: a link to a key only its owner reads is fine, a link to one others
    read is refused."""
    key = ssh_key(tmp_path / "keys/real", 0o600)
    link = tmp_path / "keys/link"
    link.symlink_to(key)
    ws = workspace(tmp_path / "ws", str(link))
    code, text = tendr("validate", "-w", str(ws))
    assert code == 0, text
    key.chmod(0o644)
    code, text = tendr("validate", "-w", str(ws))
    assert code == 1 and f"the private key {link} is readable by its group and others" in text


def test_a_key_that_is_not_there_is_said_by_validate_alone(tmp_path: Path) -> None:
    """validate names it; the other commands load the workspace (another host's key
    missing must not stop work), and the connection says it for the host that needs it."""
    ws = workspace(tmp_path / "ws", str(tmp_path / "no-such-key"))
    code, text = tendr("validate", "-w", str(ws))
    assert code == 1 and f"the private key {tmp_path / 'no-such-key'} does not exist" in text
    code, text = tendr("hosts", "-w", str(ws))
    assert code == 0, text


@needs_root
def test_a_key_of_another_account_is_refused(tmp_path: Path) -> None:
    """Whoever owns a key can read it: a key of `nobody` is no key of this account's."""
    key = ssh_key(tmp_path / "keys/theirs", 0o600)
    os.chown(key, 65534, 65534)
    tmp_path.chmod(0o755)
    ws = workspace(tmp_path / "ws", str(key))
    code, text = tendr("validate", "-w", str(ws))
    assert code == 1, text
    [line] = errors(text)
    assert f"the private key {key} belongs to uid 65534, who can read it" in line
    assert f"fix: chown root {key} (as root)" in line


class Listener:
    """A TCP port on 127.0.0.1 that counts the connections made to it and closes them."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:  # closed
                return
            self.accepted += 1
            connection.close()

    def close(self) -> int:
        self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        self.thread.join()
        return self.accepted


def test_plan_refuses_a_readable_key_before_connecting(tmp_path: Path) -> None:
    """plan says what validate says and connects nowhere; with the key fixed it does
    connect (the same port counts it), so the count would see a connection."""
    key = ssh_key(tmp_path / "keys/tendr", 0o644)
    listener = Listener()
    try:
        ws = workspace(tmp_path / "ws", str(key), port=listener.port)
        refused = run_program("plan", "-w", str(ws))
        assert refused.returncode == 1, refused
        assert f"defaults.ssh_key: the private key {key} is readable by" in refused.stderr
        assert f"fix: chmod 600 {key}" in refused.stderr
        assert listener.accepted == 0
        key.chmod(0o600)
        tried = run_program("plan", "-w", str(ws))
        assert "defaults.ssh_key" not in tried.stderr + tried.stdout
    finally:
        accepted = listener.close()
    assert accepted >= 1, tried


@pytest.mark.parametrize(
    ("secret", "key_path"),
    [("acme.pass", "backup[0].password.file"), ("offsite.key", "backup[0].ssh_key.file")],
)
@pytest.mark.parametrize("mode", [0o644, 0o640], ids=oct)
def test_a_backup_secret_others_can_read_is_refused(
    tmp_path: Path, secret: str, key_path: str, mode: int
) -> None:
    """Only 0666 was refused before: a password file any account can read is a password
    any account knows. The error names the file and the fix, never the secret."""
    key = ssh_key(tmp_path / "keys/tendr", 0o600)
    ws = workspace(tmp_path / "ws", str(key), state=STATE)
    target = ws / "secrets" / secret
    target.chmod(mode)
    code, text = tendr("validate", "-w", str(ws))
    assert code == 1, text
    line = {"acme.pass": 9, "offsite.key": 7}[secret]
    who = "its group and others" if mode == 0o644 else "its group"
    assert errors(text) == [
        f"error: states/backup.toml:{line}: {key_path}: the secret file {target} is readable "
        f"by {who} (mode {mode:04o}); it must be readable by its owner alone, as ssh "
        f"requires of a private key; fix: chmod 600 {target}"
    ]
    assert PASSWORD not in text
    target.chmod(0o400)
    code, text = tendr("validate", "-w", str(ws))
    assert code == 0, text


@needs_root
def test_a_backup_secret_of_another_account_is_refused(tmp_path: Path) -> None:
    key = ssh_key(tmp_path / "keys/tendr", 0o600)
    ws = workspace(tmp_path / "ws", str(key), state=STATE)
    target = ws / "secrets/acme.pass"
    os.chown(target, 65534, 65534)
    code, text = tendr("validate", "-w", str(ws))
    assert code == 1, text
    [line] = errors(text)
    assert line.startswith("error: states/backup.toml:9: backup[0].password.file: ")
    assert f"the secret file {target} belongs to uid 65534, who can read it" in line
