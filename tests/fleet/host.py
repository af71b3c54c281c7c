"""A fleet host as tests see it, and the tendr workspace files describing hosts."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class Host:
    """One booted test machine, reachable over SSH on address:port (127.0.0.1 unless
    it has a network of its own), directly or through the host `jump`."""

    name: str
    port: int
    key_path: Path  # private key, authorized for root and tech
    known_hosts_path: Path  # the fleet's known_hosts (all hosts)
    host_key: str  # "ssh-ed25519 AAAA..."
    address: str = ADDRESS
    user: str = "root"
    jump: Host | None = None  # ssh reaches this host only through that one's sshd (ssh -W)

    @property
    def known_hosts_entry(self) -> str:
        # ssh names a host on port 22 without brackets and port
        name = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{name} {self.host_key}"

    def ssh_argv(self, user: str | None = None, known_hosts: Path | None = None) -> list[str]:
        """ssh command line (without the remote command) with strict host key checking;
        `known_hosts` (if given) serves the jump host's connection too."""
        argv = [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(self.key_path),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts or self.known_hosts_path}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "LogLevel=ERROR",
        ]
        if self.jump is not None:
            argv += ["-o", f"ProxyCommand={self._proxy_command(self.jump, known_hosts)}"]
        return [*argv, "-p", str(self.port), "-l", user or self.user, self.address]

    def _proxy_command(self, jump: Host, known_hosts: Path | None) -> str:
        """`ssh -W`: the jump host's sshd connects to this host and relays the connection."""
        *options, destination = jump.ssh_argv(known_hosts=known_hosts)
        argv = [*options, "-W", f"{self.address}:{self.port}", destination]
        # ssh expands %-tokens in ProxyCommand, then runs it with the shell
        return shlex.join(argv).replace("%", "%%")

    def run(
        self,
        cmd: str | Sequence[str],
        *,
        user: str | None = None,
        check: bool = False,
        timeout: float = 120,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `cmd` on the host over ssh.

        A string is a remote shell command line; a sequence is quoted with
        shlex.join, so its items reach the remote command unchanged.  `stdin`
        is sent to the command's standard input.
        """
        remote = cmd if isinstance(cmd, str) else shlex.join(cmd)
        return subprocess.run(
            [*self.ssh_argv(user), "--", remote],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )

    def pyinfra_host(
        self, user: str | None = None, known_hosts: Path | None = None
    ) -> tuple[str, dict[str, object]]:
        """(name, host data) for a pyinfra Inventory, host keys verified strictly."""
        return (
            self.name,
            {
                "ssh_hostname": self.address,
                "ssh_port": self.port,
                "ssh_user": user or self.user,
                "ssh_key": str(self.key_path),
                "ssh_known_hosts_file": str(known_hosts or self.known_hosts_path),
                "ssh_strict_host_key_checking": "yes",
            },
        )


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def _toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else _toml_str(key)


def write_known_hosts(path: Path, hosts: Sequence[Host]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{h.known_hosts_entry}\n" for h in hosts))
    return path


def write_hosts_file(
    directory: str | Path,
    hosts: Sequence[Host],
    client: str = "fleet",
    user: str = "root",
    health: bool = False,
) -> Path:
    """Write a tendr workspace for `hosts` into `directory`.

    Produces directory/hosts/<client>.toml, directory/known_hosts and
    directory/tendr.toml; returns the hosts file's path. tendr's baseline (`health`) is
    off unless asked for: a test sees only the work it declares.
    """
    root = Path(directory)
    if not hosts:
        raise ValueError("write_hosts_file needs at least one host")
    keys = {h.key_path for h in hosts}
    if len(keys) != 1:
        raise ValueError(f"hosts use different keys: {sorted(map(str, keys))}")
    lines = [
        "# written by tests/fleet: the test fleet's hosts",
        "[defaults]",
        'connector = "ssh"',
        f"user = {_toml_str(user)}",
        f"ssh_key = {_toml_str(str(hosts[0].key_path.resolve()))}",
        f"health = {'true' if health else 'false'}",
    ]
    for h in hosts:
        lines += [
            "",
            f"[hosts.{_toml_key(h.name)}]",
            f"address = {_toml_str(h.address)}",
            f"port = {h.port}",
            f"groups = [{_toml_str(client)}]",
        ]
    hosts_file = root / "hosts" / f"{client}.toml"
    hosts_file.parent.mkdir(parents=True, exist_ok=True)
    hosts_file.write_text("\n".join(lines) + "\n")
    write_known_hosts(root / "known_hosts", hosts)
    (root / "tendr.toml").write_text(
        'known_hosts = "known_hosts"   # relative to the workspace root\n'
    )
    return hosts_file
