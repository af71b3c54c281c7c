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
   run cut short completes when run again. An account that is there already must be
   tendr's (marked so as it was made) with no key but tendr's: any other is refused,
   before anything changes, unless the person adopts it (its keys shown, then replaced
   by tendr's alone);
5. tendr logs in as the service account with the controller's key and checks sudo;
6. only then the workspace: the host key pinned, the host written into
   hosts/CLIENT.toml (comments and layout of an existing file kept), a record in the
   audit log;
7. last, tendr logs in through the entry as the workspace now reads it (its file's
   [defaults] applied, the pinned keys alone), as every later command will: a failure
   is an error naming the entry, never "onboarded".
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import tomlkit
from tomlkit.items import Table

from tendr.base.changes import Change
from tendr.base.errors import HostError, NotConfirmed, PermissionDenied, UserError
from tendr.base.keys import NotAKey, parse_key
from tendr.core import audit
from tendr.core.authorize import may
from tendr.remote.connect import close_session, fingerprint, open_session, run, tunnel
from tendr.rules.actor import real_account
from tendr.workspace.hosts import Host, HostDefaults, endpoint, key_name, login_user, route
from tendr.workspace.loader import Workspace, load

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

# The service account tendr makes carries this comment, set as it is made (useradd), so a
# run cut short is known as tendr's when run again. An account without it was made by
# someone else: whoever holds its keys or password would get root through tendr's sudo.
MARK = "tendr service account"

# The files sshd reads an account's keys from ($1 the account, $2 its home), one a line:
# the per-account ones (relative to the home, or naming it or the account).
KEY_FILES = r"""key_files() {
    files=$(sshd -T -C "user=$1,host=localhost,addr=127.0.0.1" 2>/dev/null |
        sed -n 's/^authorizedkeysfile //p')
    for f in ${files:-.ssh/authorized_keys .ssh/authorized_keys2}; do
        case $f in none) continue ;; /*%[hu]*|[!/]*) ;; *) continue ;; esac
        f=$(printf '%s\n' "$f" | awk -v h="$2" -v u="$1" \
            '{ gsub(/%%/, "\001"); gsub(/%h/, h); gsub(/%u/, u); gsub(/\001/, "%"); print }')
        case $f in /*) printf '%s\n' "$f" ;; *) printf '%s\n' "$2/$f" ;; esac
    done
}
"""

# $1 the service account: whether it exists, its comment, and the keys sshd takes for
# it, each file's lines (comments and blank lines left out) and their fingerprints as
# ssh-keygen -l shows them. A link is named, never followed.
ACCOUNT = (
    KEY_FILES
    + r"""ent=$(getent passwd -- "$1") || { printf 'account\tabsent\n'; exit 0; }
printf 'account\tpresent\t%s\n' "$(printf '%s' "$ent" | cut -d: -f5)"
key_files "$1" "$(printf '%s' "$ent" | cut -d: -f6)" | while IFS= read -r f; do
    if [ -L "$f" ]; then printf 'link\t%s\n' "$f"; continue; fi
    [ -f "$f" ] || continue
    printf 'file\t%s\n' "$f"
    grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' -- "$f" | sed 's/^/key\t/'
    ssh-keygen -lf "$f" 2>/dev/null | sed 's/^/fp\t/'
done
true
"""
)

# $1 the service account, $2 the controller's public key line, $3 "adopt" to take over
# an account tendr did not make (its other keys removed, its password locked, marked as
# tendr's). Each part only if missing, and said ("made WHAT"). An existing account that
# is not tendr's, or holds other keys, is refused here too, before anything changes; the
# sudoers rule passes visudo -c before it is put in place.
SETUP = (
    KEY_FILES
    + f"""set -eu
account=$1 key=$2 mode=${{3:-}}
if ! id -u -- "$account" >/dev/null 2>&1; then
    useradd --system --create-home --shell /bin/sh --comment '{MARK}' -- "$account"
    echo "made account"
elif [ "$mode" = adopt ]; then
    usermod --comment '{MARK}' --password '!' -- "$account"
    echo "made account adopted"
elif [ "$(getent passwd -- "$account" | cut -d: -f5)" != '{MARK}' ]; then
    echo "tendr: the account $account exists and tendr did not make it" >&2; exit 1
fi
"""
    + r"""home=$(getent passwd -- "$account" | cut -d: -f6)
[ -n "$home" ] && [ "$home" != / ] || { echo "tendr: $account has no home folder" >&2; exit 1; }
[ ! -L "$home/.ssh" ] || { echo "tendr: $home/.ssh is a symbolic link" >&2; exit 1; }
install -d -m 0700 -o "$account" -g "$(id -gn -- "$account")" -- "$home/.ssh"
auth=$home/.ssh/authorized_keys
if [ "$mode" = adopt ]; then
    key_files "$account" "$home" | while IFS= read -r f; do
        [ "$f" = "$auth" ] || rm -f -- "$f"
    done
    tmp=$(mktemp "$home/.ssh/.tendr.XXXXXXXX")
    printf '%s\n' "$key" > "$tmp"
    chown -- "$account" "$tmp" && chmod 0600 -- "$tmp" && mv -f -T -- "$tmp" "$auth"
    echo "made keys replaced"
fi
other=$(key_files "$account" "$home" | while IFS= read -r f; do
    if [ -L "$f" ] || { [ -f "$f" ] && grep -v -x -F -e "$key" -- "$f" |
        grep -q -v -e '^[[:space:]]*#' -e '^[[:space:]]*$'; }; then echo "$f"; fi
done)
[ -z "$other" ] || { echo "tendr: keys that are not tendr's in $other" >&2; exit 1; }
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
)


@dataclass
class Onboarded:
    """What onboarding found and did."""

    host: str
    key: str  # the host key, as ssh shows it
    facts: dict[str, list[str]] = field(default_factory=dict)
    made: list[str] = field(default_factory=list)  # account, key, sudoers, pin, hosts file
    files: list[str] = field(default_factory=list)  # workspace files written, relative
    login_failed: OnboardingLoginFailed | None = None  # the entry written cannot log in

    @property
    def changed(self) -> bool:
        return bool(self.made)


class OnboardingLoginFailed(UserError):
    """Onboarding made the account, but tendr cannot log in through the entry it wrote."""

    code = "onboard.login-failed"

    def __init__(self, *, host: Host, account: str, reason: str, made: list[str]) -> None:
        self.host, self.account, self.reason, self.made = host.name, account, reason, made
        done = f"made: {', '.join(made)}" if made else "nothing was changed"
        super().__init__(
            f"{host.name}: tendr cannot log in through its entry in {host.file} "
            f"({route(host)}, as {account}): {reason}. Onboarding is not complete ({done}); "
            "correct the entry, then run onboard again: it makes only what is missing and "
            "checks the login again"
        )

    def details(self) -> dict[str, object]:
        return {"host": self.host, "account": self.account, "made": self.made}


@dataclass
class Account:
    """The service account as the host has it, before onboarding changes anything."""

    exists: bool = False
    comment: str = ""
    keys: list[str] = field(default_factory=list)  # authorized_keys lines, every file's
    shown: list[str] = field(default_factory=list)  # "FILE: 256 SHA256:… comment (ED25519)"
    links: list[str] = field(default_factory=list)  # key files that are symbolic links

    def tendrs(self, public: str) -> bool:
        """Made by tendr, and no key but tendr's (or none yet: a run cut short)."""
        return (
            not self.exists
            or self.comment == MARK
            and not self.links
            and all(line == public for line in self.keys)
        )

    def listing(self, public: str) -> str:
        """Its keys as ssh-keygen -l shows them, tendr's marked."""
        own = _shown(public).split()[-1]
        lines = [f"{line} (tendr's)" if own in line.split() else line for line in self.shown]
        lines += [f"{link}: a symbolic link" for link in self.links]
        return "\n".join(f"  {line}" for line in lines or ["(no keys)"])


def account_facts(lines: list[str]) -> Account:
    found = Account()
    current = ""
    for line in lines:
        tag, _, value = line.partition("\t")
        if tag == "account":
            state, _, comment = value.partition("\t")
            found.exists, found.comment = state == "present", comment
        elif tag == "file":
            current = value
        elif tag == "key":
            found.keys.append(value.strip())
        elif tag == "fp":
            found.shown.append(f"{current}: {value}")
        elif tag == "link":
            found.links.append(value)
    return found


def offered_key(workspace: Workspace, host: Host) -> paramiko.PKey:
    """The host key the machine offers (nothing is authenticated or sent to it), through
    its gateway if it has one."""
    timeout = workspace.settings.connect_timeout
    with contextlib.ExitStack() as stack:
        if host.gateway is None:
            try:  # its address, or the port its own tunnel comes in at
                sock: socket.socket | paramiko.Channel = socket.create_connection(
                    endpoint(host), timeout=timeout
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
    first = text.strip().partition("\n")[0]
    try:
        return parse_key(first).line
    except NotAKey as exc:
        raise UserError(f"{public} is not an SSH public key line: {exc}") from None


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


def check_allowed(workspace: Workspace, person: str, host: Host, *, approve: bool) -> None:
    """Refused unless the rules let `person` onboard `host` (and approve it): decided
    before a password is asked or the host is reached."""
    _allowed(workspace, person, "host.onboard", host)
    if approve:
        _allowed(workspace, person, "host.approve", host)


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
    name_key: bool = True,
    bootstrap_password: str | None = None,
    adopt: Callable[[str], bool] | None = None,
) -> Onboarded:
    """Bring `host` (as it will stand in the workspace) under management; a new host is
    written audit-only (`approved = false`) unless `approve`. A service account tendr did
    not make is refused, or with `adopt` (shown its keys, says whether to go on) taken
    over: its keys replaced by tendr's alone. Without `name_key` (at the gateway, whose
    own key reaches every host) the entry names no ssh_key."""
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
        raise NotConfirmed(f"the host key {shown} was not confirmed; nothing was changed")
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
        found = account_facts(_run(workspace, bootstrap, trusted, ACCOUNT, (account,), passwords))
        mode = "" if found.tendrs(public) else _adopting(host, account, found, public, adopt)
        made = _run(workspace, bootstrap, trusted, SETUP, (account, public, mode), passwords)
        done.made += [line.partition(" ")[2] for line in made if line.startswith("made ")]
        managed = host.model_copy(update={"user": account, "ssh_key": str(controller_key)})
        _run(workspace, managed, trusted, "true", ())  # logs in, and sudo -n works
    if not pinned:
        _append(known_hosts, f"{key_name(host)} {line}\n")
        done.made.append("pin")
        done.files.append(workspace.settings.known_hosts)
    if _write_host(workspace, host, controller_key if name_key else None, approved=approve):
        done.made.append("hosts file")
        done.files.append(host.file)
    entry = next(h for h in load(workspace.root).hosts if h.name == host.name)
    failed = _login_fails(workspace, entry, known_hosts)
    reason = ", ".join(done.made) or "already onboarded: nothing changed"
    _record(
        workspace,
        person,
        "host.onboard",
        entry,
        rule,
        reason=f"{reason}; the login through its entry failed: {failed}" if failed else reason,
        after={"key": done.key, "made": done.made, "login": "failed" if failed else "ok"},
    )
    if failed:
        # Said once the caller has kept what was written (committed at the gateway).
        done.login_failed = OnboardingLoginFailed(
            host=entry, account=login_user(entry, workspace.settings), reason=failed, made=done.made
        )
    return done


def _login_fails(workspace: Workspace, entry: Host, known_hosts: Path) -> str | None:
    """Why tendr cannot log in (and sudo) through `entry` as the workspace now has it,
    with the pinned keys alone: what every later plan does; None when it can."""
    session = open_session([entry], known_hosts, workspace.settings)
    try:
        if entry.name in session.errors:
            return session.errors[entry.name]
        try:
            output = run(
                session, entry.name, "true", (), timeout=workspace.settings.command_timeout
            )
        except HostError as exc:
            return exc.reason
        return None if output.ok else output.reason()
    finally:
        close_session(session)


def _adopting(
    host: Host, account: str, found: Account, public: str, adopt: Callable[[str], bool] | None
) -> str:
    """ "adopt" when the person confirms taking the account over; else refused, with its
    keys: passwordless sudo for it would give whoever holds them root."""
    why = "tendr did not make it" if found.comment != MARK else "it has keys that are not tendr's"
    keys = f"its authorized keys:\n{found.listing(public)}"
    if adopt is None:
        raise UserError(
            f"{host.name}: the account {account} exists already and {why}; {keys}\n"
            "tendr would give these keys root (passwordless sudo): refused, nothing was "
            "changed. To make it tendr's service account, run again with --adopt-account: "
            "its keys are replaced by tendr's alone"
        )
    question = (
        f"{host.name}: the account {account} exists already and {why}; {keys}\n"
        "Adopting it replaces these keys with tendr's alone and locks its password; then "
        "it gets passwordless sudo"
    )
    if not adopt(question):
        raise NotConfirmed(f"the account {account} was not adopted; nothing was changed")
    return "adopt"


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
    workspace: Workspace, host: Host, controller_key: Path | None, *, approved: bool = False
) -> bool:
    """Add [hosts.NAME] to hosts/CLIENT.toml (made if needed), keeping what the file
    holds, audit-only unless `approved`; False when it is there already. With no
    `controller_key` no ssh_key is written (the gateway reaches hosts with its own)."""
    path = workspace.root / "hosts" / f"{host.client}.toml"
    document = (
        tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    )
    if not path.exists():
        document.add(tomlkit.comment(f"hosts/{host.client}.toml: {host.client}'s machines"))
        if controller_key is not None:
            document.add("defaults", tomlkit.table().add("ssh_key", str(controller_key)))
    hosts = document.setdefault("hosts", tomlkit.table(is_super_table=True))
    if host.name in hosts:
        return False
    defaults = HostDefaults.model_validate(document.get("defaults", tomlkit.table()).unwrap())
    account = workspace.settings.service_account
    hosts.add(host.name, _entry(host, defaults, controller_key, account, approved))
    path.parent.mkdir(exist_ok=True)
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    return True


def _entry(
    host: Host, defaults: HostDefaults, controller_key: Path | None, account: str, approved: bool
) -> Table:
    """[hosts.NAME] as onboarding writes it: what the file's [defaults] (validated by the
    loader) would get wrong for this host set here: the account onboarding made, the
    port, SSH."""
    entry = tomlkit.table()
    entry.add("address", host.address)
    if defaults.connector != "ssh":
        entry.add("connector", "ssh")
    if host.port != defaults.port:
        entry.add("port", host.port)
    if host.via is not None and host.via != defaults.via:
        entry.add("via", host.via)
    if host.groups:
        entry.add("groups", list(host.groups))
    if controller_key is not None and defaults.ssh_key != str(controller_key):
        entry.add("ssh_key", str(controller_key))
    if (defaults.user or account) != account:
        entry.add("user", account)
    if not approved:
        entry.add("approved", tomlkit.item(False).comment("plans only, until `tendr approve`"))
    return entry


def _allowed(workspace: Workspace, person: str, op: str, host: Host) -> str:
    """The deciding rule when the rules let `person` do `op` on `host`; else refused."""
    decision = may(workspace, person, op, host)
    if not decision.allowed:
        raise PermissionDenied(message=f"permission denied: {decision.reason}")
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
    """`op` done on `host`, in the audit log under that host (the command is the
    operation's verb): `audit-log show --host` finds it, and whoever may read the host."""
    change = Change(kind="host", resource=host.name, op=op, action="change", rule=rule)
    record = audit.entry(
        host.name,
        change,
        "done",
        reason,
        person=person,
        account=real_account(),
        command={"host.pin": "hosts pin"}.get(op, op.partition(".")[2]),
    )
    record["after"] = after or {}
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
    if (host.address is None and host.tunnel_port is None) or host.connector != "ssh":
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
    if host.address is None and host.tunnel_port is None:
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
