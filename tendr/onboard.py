"""`tendr onboard`: a new client machine under management in one command, safely.

In order, and nothing written anywhere before the step that needs it:
1. the rules decide `host.onboard` for the new host (by its name, client and groups);
2. its host key is fetched and shown; it must be the one pinned already, or be
   confirmed (`--yes`, `--expect-fingerprint SHA256:…`, or on a terminal);
3. over SSH as the bootstrap user (that key checked), facts are read: distribution,
   init system, architecture, host name, disk, printers, existing backups; a system
   tendr does not support is refused before anything changes;
4. as root (sudo -n): the service account, the controller's key for it, and a sudoers
   rule checked with `visudo -c` before it is put in place; each only if missing, so a
   run cut short completes when run again;
5. tendr logs in as the service account with the controller's key and checks sudo;
6. only then the workspace: the host key pinned, the host written into
   hosts/CLIENT.toml (comments and layout of an existing file kept), a record in the
   audit log.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import tomlkit

from tendr import audit
from tendr.authorize import may
from tendr.errors import HostError, UserError
from tendr.hosts.connect import close_session, fingerprint, open_session, run, tunnel
from tendr.hosts.model import Host, key_name, route
from tendr.rules.actor import real_account
from tendr.workspace import Workspace

SUPPORTED = {"debian", "ubuntu"}  # with systemd as its init

FACTS = r""". /etc/os-release 2>/dev/null
printf 'os\t%s\t%s\n' "${ID:-unknown}" "${VERSION_ID:-}"
printf 'init\t%s\n' "$(cat /proc/1/comm 2>/dev/null)"
printf 'arch\t%s\n' "$(uname -m)"
printf 'hostname\t%s\n' "$(uname -n)"
df -P -k / 2>/dev/null | tail -n 1 | awk '{ printf "disk\t%s\t%d MiB\n", $6, $2 / 1024 }'
command -v lpstat >/dev/null 2>&1 && LC_ALL=C lpstat -v 2>/dev/null | sed 's/^/printer\t/'
for f in /etc/tendr/backup/*.sh; do [ -f "$f" ] && printf 'backup\t%s\n' "$f"; done
true
"""

# $1 the service account, $2 the controller's public key line. Each part only if missing,
# and said ("made WHAT"); the sudoers rule passes visudo -c before it is put in place.
SETUP = r"""set -eu
account=$1 key=$2
if ! id -u -- "$account" >/dev/null 2>&1; then
    useradd --system --create-home --shell /bin/sh -- "$account"
    echo "made account"
fi
home=$(getent passwd -- "$account" | cut -d: -f6)
[ -n "$home" ] && [ "$home" != / ] || { echo "tendr: $account has no home folder" >&2; exit 1; }
[ ! -L "$home/.ssh" ] || { echo "tendr: $home/.ssh is a symbolic link" >&2; exit 1; }
install -d -m 0700 -o "$account" -g "$(id -gn -- "$account")" -- "$home/.ssh"
auth=$home/.ssh/authorized_keys
[ ! -L "$auth" ] || { echo "tendr: $auth is a symbolic link" >&2; exit 1; }
if ! grep -qxF -- "$key" "$auth" 2>/dev/null; then
    printf '%s\n' "$key" >> "$auth"
    chown -- "$account" "$auth" && chmod 0600 -- "$auth"
    echo "made key"
fi
rule="$account ALL=(ALL:ALL) NOPASSWD: ALL"
target=/etc/sudoers.d/tendr-$account
if [ "$(cat -- "$target" 2>/dev/null)" != "$rule" ]; then
    tmp=$(mktemp /etc/sudoers.d/.tendr.XXXXXXXX)  # sudo reads no file with a dot
    trap 'rm -f -- "$tmp"' EXIT
    printf '%s\n' "$rule" > "$tmp"
    chmod 0440 -- "$tmp"
    visudo -cqf "$tmp" || { echo "tendr: the sudoers rule failed visudo -c" >&2; exit 1; }
    mv -f -T -- "$tmp" "$target"
    trap - EXIT
    echo "made sudoers"
fi
"""

_KEY_LINE = re.compile(r"(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa) ([A-Za-z0-9+/]+=*)")


@dataclass
class Onboarded:
    """What onboarding found and did."""

    host: str
    key: str  # the host key, as ssh shows it
    facts: dict[str, list[str]] = field(default_factory=dict)
    made: list[str] = field(default_factory=list)  # account, key, sudoers, pin, hosts file

    @property
    def changed(self) -> bool:
        return bool(self.made)


def offered_key(workspace: Workspace, host: Host) -> paramiko.PKey:
    """The host key the machine offers (nothing is authenticated or sent to it), through
    its gateway if it has one."""
    timeout = workspace.settings.connect_timeout
    with contextlib.ExitStack() as stack:
        if host.gateway is None:
            assert host.address is not None
            try:
                sock: socket.socket | paramiko.Channel = socket.create_connection(
                    (host.address, host.port), timeout=timeout
                )
            except OSError as exc:
                raise UserError(f"cannot reach {route(host)}: {exc.strerror or exc}") from None
        else:
            # pyinfra reads a known_hosts file once per process (by its name): the
            # gateway's pin is read from a copy, so that the workspace's file is read
            # afresh, the new key in it, when onboarding plans the host.
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tendr-")))
            pins = scratch / "known_hosts"
            known_hosts = workspace.path(workspace.settings.known_hosts)
            pins.write_bytes(known_hosts.read_bytes() if known_hosts.exists() else b"")
            jumps = open_session([host.gateway], pins, workspace.settings)
            stack.callback(close_session, jumps)
            try:
                sock = tunnel(jumps, host, timeout)
            except HostError as exc:
                raise UserError(f"{host.name}: {exc.reason}; nothing was changed") from None
        transport = paramiko.Transport(sock)
        stack.callback(transport.close)
        try:
            transport.start_client(timeout=timeout)
            return transport.get_remote_server_key()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise UserError(f"{route(host)} does not speak SSH: {exc}") from None


def pins_name(line: str, name: str) -> bool:
    """Whether a known_hosts line pins a key for `name`: among its names, or as one of
    them hashed (`|1|SALT|HASH`, as ssh-keygen -H writes them)."""
    names = line.split()[0] if line.split() else ""
    for entry in names.split(","):
        if entry == name:
            return True
        if entry.startswith("|1|") and entry.count("|") == 3:
            salt = entry.split("|")[2]
            try:
                size = len(base64.b64decode(salt, validate=True))
            except ValueError:  # not base64: no hash paramiko would match either
                continue
            if size == 20 and paramiko.HostKeys.hash_host(name, salt) == entry:
                return True
    return False


def pinned_keys(known_hosts: Path, name: str) -> list[str]:
    """The keys pinned under `name` (see key_name), as "TYPE BASE64"."""
    found = []
    if known_hosts.exists():
        for line in known_hosts.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 3 and pins_name(line, name):
                found.append(f"{parts[1]} {parts[2]}")
    return found


def public_key_line(private_key: Path) -> str:
    """The controller's public key ("TYPE BASE64"), from PRIVATE.pub."""
    public = Path(f"{private_key}.pub")
    try:
        text = public.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(
            f"{public}: {exc.strerror}: the controller's public key is needed"
        ) from None
    found = _KEY_LINE.match(text.strip())
    if found is None:
        raise UserError(f"{public} is not an SSH public key line")
    try:
        base64.b64decode(found.group(2), validate=True)
    except ValueError:
        raise UserError(f"{public}: the key is not base64") from None
    return found.group(0)


def _facts(lines: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in lines:
        name, _, value = line.partition("\t")
        found.setdefault(name, []).append(value.replace("\t", " "))
    return found


def supported(facts: dict[str, list[str]]) -> str | None:
    """Why tendr cannot manage this system, or None."""
    system = (facts.get("os") or ["unknown"])[0].split()[0]
    init = (facts.get("init") or ["unknown"])[0]
    if system not in SUPPORTED or init != "systemd":
        return (
            f"the host runs {system} with {init or 'an unknown init'} as its init: tendr "
            f"manages {' and '.join(sorted(SUPPORTED))} with systemd; nothing was changed"
        )
    return None


def onboard(
    workspace: Workspace,
    person: str,
    host: Host,
    *,
    bootstrap_user: str,
    bootstrap_key: Path | None,
    controller_key: Path,
    confirm: Callable[[str], bool],
    approve: bool = False,
    bootstrap_password: str | None = None,
) -> Onboarded:
    """Bring `host` (as it will stand in the workspace) under management; a new host is
    written audit-only (`approved = false`) unless `approve`."""
    rule = _allowed(workspace, person, "host.onboard", host)
    if approve:
        _allowed(workspace, person, "host.approve", host)
    known_hosts = workspace.path(workspace.settings.known_hosts)
    key = offered_key(workspace, host)
    shown = fingerprint(key)
    line = f"{key.get_name()} {key.get_base64()}"
    pinned = pinned_keys(known_hosts, key_name(host))
    if pinned and line not in pinned:
        raise UserError(
            f"{route(host)} offers {shown}, not the key pinned for it in "
            f"{workspace.settings.known_hosts}: refused; if the machine was reinstalled, "
            f"`tendr hosts pin {host.name}` shows both and re-pins it"
        )
    if not pinned and not confirm(shown):
        raise UserError(f"the host key {shown} was not confirmed; nothing was changed")
    done = Onboarded(host.name, shown)
    public = public_key_line(controller_key)
    with tempfile.TemporaryDirectory(prefix="tendr-onboard-") as scratch:
        # The key just confirmed, and the pinned ones (a gateway's, to go through it).
        trusted = Path(scratch) / "known_hosts"
        earlier = known_hosts.read_text(encoding="utf-8") if known_hosts.exists() else ""
        trusted.write_text(f"{earlier.rstrip()}\n{key_name(host)} {line}\n".lstrip())
        login = str(bootstrap_key) if bootstrap_key is not None else None
        bootstrap = host.model_copy(update={"user": bootstrap_user, "ssh_key": login})
        passwords = {host.name: bootstrap_password} if bootstrap_password is not None else {}
        output = _run(workspace, bootstrap, trusted, FACTS, (), passwords)
        done.facts = _facts(output)
        if problem := supported(done.facts):
            raise UserError(f"{host.name}: {problem}")
        account = workspace.settings.service_account
        made = _run(workspace, bootstrap, trusted, SETUP, (account, public), passwords)
        done.made += [line.split()[1] for line in made if line.startswith("made ")]
        managed = host.model_copy(update={"user": account, "ssh_key": str(controller_key)})
        _run(workspace, managed, trusted, "true", ())  # logs in, and sudo -n works
    if not pinned:
        _append(known_hosts, f"{key_name(host)} {line}\n")
        done.made.append("pin")
    if _write_host(workspace, host, controller_key, approved=approve):
        done.made.append("hosts file")
    _record(
        workspace,
        person,
        "host.onboard",
        host,
        rule,
        reason=", ".join(done.made) or "already onboarded: nothing changed",
        after={"key": done.key, "made": done.made},
    )
    return done


def _run(
    workspace: Workspace,
    host: Host,
    known_hosts: Path,
    script: str,
    args: tuple[str, ...],
    passwords: dict[str, str] | None = None,
) -> list[str]:
    session = open_session([host], known_hosts, workspace.settings, passwords=passwords)
    try:
        if host.name in session.errors:
            raise UserError(
                f"{host.name} as {host.user}: {session.errors[host.name]}; nothing was changed"
            )
        try:
            output = run(
                session, host.name, script, args, timeout=workspace.settings.command_timeout
            )
        except HostError as exc:
            raise UserError(f"{host.name} as {host.user}: {exc.reason}") from None
        if not output.ok:
            raise UserError(f"{host.name} as {host.user}: {output.reason()}")
        return output.stdout
    finally:
        close_session(session)


def _append(path: Path, text: str) -> None:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
    fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(text)


def _write_host(
    workspace: Workspace, host: Host, controller_key: Path, *, approved: bool = False
) -> bool:
    """Add [hosts.NAME] to hosts/CLIENT.toml (made if needed), keeping what the file
    holds, audit-only unless `approved`; False when it is there already."""
    path = workspace.root / "hosts" / f"{host.client}.toml"
    document = (
        tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    )
    if not path.exists():
        document.add(tomlkit.comment(f"hosts/{host.client}.toml: {host.client}'s machines"))
        defaults = tomlkit.table()
        defaults.add("ssh_key", str(controller_key))
        document.add("defaults", defaults)
    hosts = document.setdefault("hosts", tomlkit.table(is_super_table=True))
    if host.name in hosts:
        return False
    entry = tomlkit.table()
    entry.add("address", host.address)
    if host.port != 22:
        entry.add("port", host.port)
    if host.via is not None and host.via != document.get("defaults", {}).get("via"):
        entry.add("via", host.via)
    if host.groups:
        entry.add("groups", list(host.groups))
    defaults_key = document.get("defaults", {}).get("ssh_key")
    if defaults_key != str(controller_key):
        entry.add("ssh_key", str(controller_key))
    if not approved:
        entry.add("approved", tomlkit.item(False).comment("plans only, until `tendr approve`"))
    hosts.add(host.name, entry)
    path.parent.mkdir(exist_ok=True)
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    return True


def _allowed(workspace: Workspace, person: str, op: str, host: Host) -> str:
    """The deciding rule when the rules let `person` do `op` on `host`; else refused."""
    decision = may(workspace, person, op, host)
    if not decision.allowed:
        raise UserError(f"permission denied: {decision.reason}")
    return decision.rule or decision.reason


def _record(
    workspace: Workspace,
    person: str,
    op: str,
    host: Host,
    rule: str,
    *,
    reason: str = "",
    after: dict[str, object] | None = None,
) -> None:
    """`op` done on `host`, in the audit log (the command is the operation's verb)."""
    record = audit.event(
        op,
        host.name,
        "done",
        reason,
        person=person,
        account=real_account(),
        command={"host.pin": "hosts pin"}.get(op, op.partition(".")[2]),
        after=after,
        rule=rule,
    )
    audit.append(workspace.path(workspace.settings.audit_log), [record])


def approve(workspace: Workspace, person: str, host: Host) -> bool:
    """Take `approved = false` out of the host's entry: tendr may change it from now on.
    False when it was approved already."""
    rule = _allowed(workspace, person, "host.approve", host)
    if host.approved:
        return False
    path = workspace.root / host.file
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    entry = document["hosts"][host.name]
    del entry["approved"]
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    _record(workspace, person, "host.approve", host, rule)
    return True


def repin_keys(workspace: Workspace, person: str, host: Host) -> tuple[str, str]:
    """The key pinned for `host` and the key it offers, as ssh shows them, if the rules
    allow `host.pin`."""
    _allowed(workspace, person, "host.pin", host)
    if host.address is None or host.connector != "ssh":
        raise UserError(f"{host.name} is not reached over SSH: it has no key to pin")
    known_hosts = workspace.path(workspace.settings.known_hosts)
    pinned = pinned_keys(known_hosts, key_name(host))
    offered = offered_key(workspace, host)
    old = ", ".join(_shown(line) for line in pinned)
    return old, fingerprint(offered)


def _shown(line: str) -> str:
    kind, _, blob = line.partition(" ")
    try:
        data = base64.b64decode(blob)
    except ValueError:
        return f"{kind} (not base64)"
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    return f"{kind} SHA256:{digest}"


def repin(workspace: Workspace, person: str, host: Host) -> None:
    """Replace the host's pinned key(s) with the one it offers now; recorded."""
    rule = _allowed(workspace, person, "host.pin", host)
    if host.address is None:
        raise UserError(f"{host.name} is not reached over SSH: it has no key to pin")
    key = offered_key(workspace, host)
    name = key_name(host)
    known_hosts = workspace.path(workspace.settings.known_hosts)
    kept = [
        line
        for line in (
            known_hosts.read_text(encoding="utf-8").splitlines() if known_hosts.exists() else []
        )
        if not pins_name(line, name)
    ]
    text = "".join(f"{line}\n" for line in kept) + f"{name} {key.get_name()} {key.get_base64()}\n"
    fd, temporary = tempfile.mkstemp(dir=known_hosts.parent, prefix=".known_hosts.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        os.fchmod(handle.fileno(), 0o644)
    Path(temporary).replace(known_hosts)
    _record(workspace, person, "host.pin", host, rule, after={"key": fingerprint(key)})
