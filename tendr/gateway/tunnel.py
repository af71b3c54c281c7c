"""The controller's side of the tunnels clients' gateway hosts keep to it (`tunnel = true`).

Each such host calls the controller's tunnel account ([tunnel] of tendr.toml) with a key
made on the host for this alone. That key's line in the account's authorized_keys lets
it do one thing: listen on its own loopback port (the host's `tunnel_port`), which
tendr then connects to. No command, no shell, no terminal, no agent or X11 forwarding,
no connection anywhere but back to that same port, and no port of another host.

The account's home, .ssh and authorized_keys are root's (written as root, never through
a link): nothing the account runs could add a line.
"""

from __future__ import annotations

import os
import pwd
import re
from pathlib import Path

from tendr.base.errors import UserError, WorkspaceError
from tendr.base.keys import PublicKey
from tendr.base.names import is_host_name
from tendr.gateway.setup import (
    GatewayError,
    _lines,
    _need_root,
    _open,
    _run,
    _write_atomic,
    parse_public_key,
)
from tendr.workspace.hosts import TUNNEL_ADDRESS
from tendr.workspace.loader import load

TAG = "tendr-tunnel:"  # the comment that marks a tunnel key's line, with its host


def tunnel_line(host: str, port: int, key: PublicKey) -> str:
    """The authorized_keys line of `host`'s tunnel key: as restrictive as OpenSSH allows,
    then port forwarding alone, to listen on 127.0.0.1:`port` (ssh -R) and to open
    connections to that same port only (OpenSSH takes no `permitopen` that refuses all)."""
    if not is_host_name(host) or not 1024 <= port <= 65535:
        raise GatewayError(f"no tunnel line for host {host!r} on port {port}")
    where = f"{TUNNEL_ADDRESS}:{port}"
    options = f'restrict,port-forwarding,permitlisten="{where}",permitopen="{where}"'
    return f'{options},command="/bin/false" {key.type} {key.blob} {TAG}{host}'


_LINE = re.compile(
    r'restrict,port-forwarding,permitlisten="127\.0\.0\.1:(?P<port>[0-9]{4,5})",'
    r'permitopen="127\.0\.0\.1:(?P=port)",command="/bin/false" '
    r"(?P<type>\S+) (?P<blob>[A-Za-z0-9+/=]+) " + re.escape(TAG) + r"(?P<host>\S+)"
)


def parse_tunnel_line(line: str) -> tuple[str, int, PublicKey] | None:
    """(host, port, key) of a line exactly as tunnel_line writes it, else None."""
    found = _LINE.fullmatch(line.rstrip("\n"))
    if found is None or not is_host_name(found["host"]):
        return None
    try:
        key = parse_public_key(f"{found['type']} {found['blob']}", "the line")
        return found["host"], int(found["port"]), key
    except (GatewayError, ValueError):
        return None


def allow_tunnel(workspace: Path, host: str, key_file: Path) -> str:
    """Let `host`'s tunnel key (its public half in `key_file`, as the host made it) into
    the controller's tunnel account for its own port; say what was done."""
    _need_root("tendr gateway tunnel-allow")
    try:
        loaded = load(workspace)
    except WorkspaceError as exc:
        listed = "\n".join(str(problem) for problem in exc.problems)
        raise GatewayError(f"{workspace} does not validate:\n{listed}") from None
    settings = loaded.settings.tunnel
    if settings is None:
        raise GatewayError(f"{workspace}/tendr.toml has no [tunnel]: where do tunnels call?")
    target = next((h for h in loaded.hosts if h.name == host), None)
    if target is None or target.tunnel_port is None:
        raise GatewayError(f"{host} is no host of {workspace} with tunnel = true")
    try:
        key = parse_public_key(key_file.read_text(encoding="utf-8"), str(key_file))
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewayError(f"{key_file} cannot be read: {exc}") from None
    entry = _account(settings.account)
    path = _ssh_folder(entry) / "authorized_keys"
    kept: list[str] = []
    for number, line in enumerate(_lines(path), 1):
        if not line.strip() or line.startswith("#"):
            continue
        found = parse_tunnel_line(line)
        if found is None:
            raise GatewayError(
                f"{path} line {number} is no tunnel line tendr wrote: {line[:100]!r}; "
                "remove it (the tunnel account takes tunnel keys alone)"
            )
        if found[2].blob == key.blob and found[0] != host:
            raise GatewayError(f"this key is {found[0]}'s tunnel key: one key, one host")
        if found[0] != host:
            kept.append(line)
    _write_atomic(
        path, "".join(f"{line}\n" for line in [*kept, tunnel_line(host, target.tunnel_port, key)]),
        0o644, 0, 0,
    )  # fmt: skip
    return (
        f"let {host}'s tunnel key ({key.type} {key.fingerprint}) into {settings.account}: "
        f"it may listen on {TUNNEL_ADDRESS}:{target.tunnel_port} and do nothing else"
    )


def _account(name: str) -> pwd.struct_passwd:
    """The tunnel account, made if missing: a system account no password opens, whose
    shell logs nobody in (its key's line runs /bin/false anyway)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        _run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
              f"/var/lib/{name}", "--shell", "/usr/sbin/nologin", name])  # fmt: skip
        _run(["usermod", "--password", "*", name])  # keys only (and sshd takes '*' as open)
        entry = pwd.getpwnam(name)
    if entry.pw_uid == 0:
        raise UserError(f"{name} is root: the tunnel account must be an account of its own")
    return entry


def _ssh_folder(entry: pwd.struct_passwd) -> Path:
    """The account's home and its .ssh, root's, mode 0755: sshd's StrictModes takes
    them, and the account cannot change its keys."""
    home = Path(entry.pw_dir)
    if entry.pw_dir in ("", "/") or not home.is_absolute():
        raise GatewayError(f"{entry.pw_name} has no home of its own ({entry.pw_dir!r})")
    for folder in (home, home / ".ssh"):
        if folder.is_symlink():
            raise GatewayError(f"{folder} is a symbolic link: root writes no key through one")
        folder.mkdir(mode=0o755, exist_ok=True)
        fd = _open(folder, os.O_DIRECTORY)  # never through a link (one swapped in since)
        try:
            os.fchown(fd, 0, 0)
            os.fchmod(fd, 0o755)
        finally:
            os.close(fd)
    return home / ".ssh"
