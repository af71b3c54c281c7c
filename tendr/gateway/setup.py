"""Making a controller a gateway, and letting people in: root's side of the gateway.

`setup` creates the gateway account, locks its home (the client key) and the workspace
(a git repository, the audit log inside) to it alone, installs the push hooks and
writes /etc/tendr/gateway.toml; run again, it changes only what drifted. `allow` gives
a person's public key a `restrict,command=...` line in the account's authorized_keys:
the key then opens `tendr gateway serve --person NAME` and nothing else.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomlkit

from tendr.base.errors import UserError, WorkspaceError
from tendr.base.keys import NotAKey, PublicKey, parse_key
from tendr.base.names import duration_seconds
from tendr.core import audit
from tendr.gateway import session
from tendr.gateway.session import check_person
from tendr.kinds.registry import KINDS
from tendr.rules.actor import acting_person
from tendr.workspace.init import create_workspace
from tendr.workspace.loader import load

HOOKS = ("pre-receive", "post-receive")
TAG = "tendr-gateway:"  # the comment that marks the lines `allow` wrote, with the person
_SAFE_PATH = re.compile(r"[A-Za-z0-9/._+-]+")  # what may stand unquoted in a forced command


class GatewayError(UserError):
    """The gateway cannot be set up, or a person let in, as asked; the message says why."""

    code = "gateway.setup"


def program() -> str:
    """How sshd and git start this tendr: this Python, isolated (-I: no current folder
    or user site on sys.path, no PYTHON* variables), so nobody's files get imported."""
    if not _SAFE_PATH.fullmatch(sys.executable):
        raise GatewayError(
            f"Python's path {sys.executable!r} cannot stand in a forced command; "
            "install tendr for a Python whose path has no spaces or quotes"
        )
    return f"{sys.executable} -I -m tendr"


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        raise GatewayError(f"{what} needs root (it changes accounts and their files)")


# -- setup ---------------------------------------------------------------------------


def setup(account: str, workspace: Path, admin: str | None) -> list[str]:
    """Make this machine a gateway; return what was done, a line each. Everything that
    could refuse the workspace is checked before anything in it is changed."""
    _need_root("tendr gateway setup")
    if shutil.which("git") is None:
        raise GatewayError(
            "git is not installed: the workspace is a git repository (apt install git)"
        )
    if not workspace.is_absolute():
        raise GatewayError(f"--workspace must be an absolute path, not {str(workspace)!r}")
    done: list[str] = []
    entry = _account(account, done)
    home = Path(entry.pw_dir)
    _own_folder(home, entry, done)
    _check_above(workspace, entry)
    if workspace.exists():
        _check_tree(workspace, entry)
    else:
        _create(workspace, admin, done)
    secrets = _validate(workspace)
    try:
        log = session.audit_log(workspace)
    except UserError as exc:
        raise GatewayError(str(exc)) from None
    _adopt(workspace, entry, done)
    for folder in reversed(log.parents):
        if folder.is_relative_to(workspace) and folder != workspace:
            _own_folder(folder, entry, done)
    _repository(workspace, [str(log.relative_to(workspace)), *secrets], entry, done)
    key = _client_key(home, entry, done)
    _check_authorized_keys(home / ".ssh" / "authorized_keys", entry)
    _write_config(account, workspace, done)
    _watch_timer(account, load(workspace).settings.watch_every, done)
    _record(workspace, entry, "setup", str(workspace), {"changes": list(done)})
    done.append(
        f"the gateway's key for client machines (authorize it for their service account): {key}"
    )
    return done


def _record(
    workspace: Path, entry: pwd.struct_passwd, what: str, resource: str, after: dict[str, Any]
) -> None:
    """Record a change root made to the gateway (`gateway setup/allow/revoke`) in its
    audit log, with the account that ran it and, through sudo, the person. Written as the
    gateway account: the log is its alone, and root appending to a path the account
    controls could be led by a link to any file."""
    record = audit.event(
        f"gateway.{what}",
        resource,
        "done",
        person=acting_person(None),
        account=pwd.getpwuid(os.geteuid()).pw_name,
        command=f"gateway {what}",
        after=after,
    )
    log = session.audit_log(workspace)
    code = (
        "import json, sys, pathlib; from tendr.core import audit; "
        "audit.append(pathlib.Path(sys.argv[1]), json.load(sys.stdin))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, str(log)],
        input=json.dumps([record]),
        **_as_account(entry, workspace),
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise GatewayError(
            f"gateway {what} was done but not recorded in the audit log {log}: {last}"
        )


def _account(name: str, done: list[str]) -> pwd.struct_passwd:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        home = f"/var/lib/{name}"
        _run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--create-home",
                "--home-dir",
                home,
                "--shell",
                "/bin/sh",
                name,
            ]
        )
        # '*' rather than useradd's '!': no password opens it, yet sshd (without PAM)
        # does not take it for a locked account and still accepts its keys.
        _run(["usermod", "--password", "*", name])
        done.append(f"created the account {name} (home {home})")
        return pwd.getpwnam(name)
    if entry.pw_uid == 0:
        raise GatewayError(f"{name} is root: the gateway needs an account of its own")
    if Path(entry.pw_shell).name in ("nologin", "false") or not Path(entry.pw_shell).is_file():
        raise GatewayError(
            f"{name}'s shell is {entry.pw_shell}: sshd runs the forced command through it; "
            f"fix: usermod --shell /bin/sh {name}"
        )
    if entry.pw_dir in ("", "/") or entry.pw_dir.startswith("/nonexistent"):
        raise GatewayError(f"{name} has no home of its own ({entry.pw_dir!r}) for its keys")
    return entry


def _own_folder(folder: Path, entry: pwd.struct_passwd, done: list[str]) -> None:
    """`folder` exists, is the account's, mode 0700."""
    try:
        folder.mkdir(mode=0o700)
        done.append(f"created {folder}")
    except FileExistsError:
        pass
    if _own(folder, entry, 0o700, directory=True):
        done.append(f"{folder}: made {entry.pw_name}'s, mode 0700")


_NO_FOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _open(path: Path, flags: int = 0) -> int:
    """A descriptor of `path` itself, never of what a link there points to: root
    changes owners and modes through it, so a link swapped in cannot redirect them."""
    try:
        return os.open(path, _NO_FOLLOW | flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise GatewayError(
                f"{path} is a symbolic link: the gateway's files hold none (a link could "
                "make tendr, as root, change or read a file elsewhere)"
            ) from None
        raise GatewayError(f"{path}: {exc.strerror}") from None


def _own(path: Path, entry: pwd.struct_passwd, mode: int, directory: bool = False) -> bool:
    """Make `path` the account's with `mode`, through a descriptor; True if it changed."""
    fd = _open(path, os.O_DIRECTORY if directory else 0)
    try:
        info = os.fstat(fd)
        changed = False
        if (info.st_uid, info.st_gid) != (entry.pw_uid, entry.pw_gid):
            os.fchown(fd, entry.pw_uid, entry.pw_gid)
            changed = True
        if stat.S_IMODE(info.st_mode) != mode:
            os.fchmod(fd, mode)
            changed = True
        return changed
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    """A regular file's text, read without following a link."""
    fd = _open(path)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise GatewayError(f"{path} is not a regular file")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    finally:
        os.close(fd)


def _check_above(workspace: Path, entry: pwd.struct_passwd) -> None:
    """Every folder above the workspace must be root's (or the account's) and writable
    by nobody else: whoever could rename one could put another workspace in its place.
    No symbolic links on the way, and no sticky exception: the gateway's path is fixed."""
    for folder in reversed(workspace.parents):
        try:
            info = folder.lstat()
        except FileNotFoundError:
            raise GatewayError(f"{folder} does not exist; create it (root's, mode 0755)") from None
        if stat.S_ISLNK(info.st_mode):
            raise GatewayError(f"{folder} is a symbolic link; name the real folder")
        if info.st_uid not in (0, entry.pw_uid) or info.st_mode & 0o022:
            raise GatewayError(
                f"{folder} can be changed by others (owner uid {info.st_uid}, mode "
                f"{stat.S_IMODE(info.st_mode):04o}): whoever can could swap the workspace; "
                "put the workspace under a folder only root can change, such as /srv or /var/lib"
            )


def _create(workspace: Path, admin: str | None, done: list[str]) -> None:
    admin = admin or os.environ.get("SUDO_USER")
    if not admin:
        raise GatewayError(
            f"{workspace} does not exist: name its first administrator with --admin NAME "
            "(the name their key will carry), or give a workspace to take over"
        )
    create_workspace(workspace, check_person(admin))
    done.append(f"created the workspace {workspace}; {admin} is its administrator")


def _check_tree(workspace: Path, entry: pwd.struct_passwd) -> None:
    """Refuse, before changing anything, a workspace someone else keeps a way into:
    an entry owned by another account, a folder others can write, a link, a device."""
    for path in [workspace, *_tree(workspace)]:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            raise GatewayError(
                f"{path} is a symbolic link: the gateway's workspace holds no links "
                "(a link could make a state read a file outside it)"
            )
        if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
            raise GatewayError(f"{path} is neither a file nor a folder")
        if info.st_uid not in (0, entry.pw_uid):
            raise GatewayError(
                f"{path} belongs to uid {info.st_uid}: the gateway takes over only what "
                f"root or {entry.pw_name} owns; copy the workspace (git clone as root)"
            )
        if stat.S_ISDIR(info.st_mode) and info.st_mode & 0o022:
            raise GatewayError(
                f"{path} can be written by others (mode {stat.S_IMODE(info.st_mode):04o}): "
                f"fix: chmod go-w {path}, or copy the workspace (git clone as root)"
            )


def _validate(workspace: Path) -> list[str]:
    """The workspace must validate, and hold nothing the gateway refuses; its secret
    files (relative paths), which must never be committed."""
    try:
        loaded = load(workspace)
    except WorkspaceError as exc:
        listed = "\n".join(str(p) for p in exc.problems)
        raise GatewayError(f"{workspace} does not validate:\n{listed}") from None
    if problems := session.gateway_problems(loaded):
        raise GatewayError("\n".join(problems))
    return sorted(
        {
            os.path.normpath(reference.path)
            for _, state in loaded.states
            for _, spec in state.resources()
            for reference in KINDS[spec.kind].references(spec)
            if reference.secret
        }
    )


def _adopt(workspace: Path, entry: pwd.struct_passwd, done: list[str]) -> None:
    """Give the workspace to the account alone (checked by _check_tree first)."""
    changed = sum(_lock(path, entry) for path in [workspace, *_tree(workspace)])
    if changed:
        done.append(f"{workspace}: {changed} file(s) and folder(s) made {entry.pw_name}'s alone")


def _tree(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        found.extend(Path(folder, name) for name in (*dirs, *files))
    return found


def _lock(path: Path, entry: pwd.struct_passwd) -> int:
    """Make one entry of the workspace the account's, readable by it alone; 1 if changed.
    A hard link is copied apart first: chown would hand the account every other name
    of the file (say /etc/shadow linked in by someone preparing the folder)."""
    fd = _open(path)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return int(_own(path, entry, 0o700, directory=True))
        if not stat.S_ISREG(info.st_mode):
            raise GatewayError(f"{path} is neither a file nor a folder")
        mode = stat.S_IMODE(info.st_mode) & 0o700
        if info.st_nlink > 1:
            with os.fdopen(os.dup(fd), "rb") as handle:
                _write_atomic(path, handle.read(), mode, entry.pw_uid, entry.pw_gid)
            return 1
    finally:
        os.close(fd)
    return int(_own(path, entry, mode))


def _as_account(entry: pwd.struct_passwd, cwd: Path) -> dict[str, Any]:
    """subprocess.run's arguments for a command run as the gateway account, with no git
    configuration but the repository's (none of the account's own can add commands)."""
    return {
        "cwd": cwd,
        "user": entry.pw_uid,
        "group": entry.pw_gid,
        "extra_groups": [],
        "env": {
            "HOME": entry.pw_dir,
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
        },
        "capture_output": True,
        "text": True,
        "check": False,
    }


def _as(entry: pwd.struct_passwd, argv: Sequence[str], cwd: Path) -> str:
    """Run a command as the gateway account (git refuses a repository another account
    owns, and files it makes must be the account's)."""
    done = subprocess.run(list(argv), **_as_account(entry, cwd))
    if done.returncode != 0:
        raise GatewayError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return str(done.stdout)


def _run(argv: Sequence[str]) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise GatewayError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def _repository(
    workspace: Path, private: list[str], entry: pwd.struct_passwd, done: list[str]
) -> None:
    """The workspace as a git repository that takes pushes to its checked-out branch
    (the files follow), never deletions or rewritten history, through tendr's hooks."""
    git_dir = workspace / ".git"
    identity = [
        "-c",
        "user.name=tendr gateway",
        "-c",
        f"user.email={entry.pw_name}@{socket.gethostname()}",
    ]
    if not git_dir.exists():
        _as(entry, ["git", "init", "--quiet", "--initial-branch=main"], workspace)
        done.append(f"{workspace}: made a git repository (branch main)")
    _ignores(workspace, private, entry)
    if not _has_commit(workspace, entry):
        _as(entry, ["git", "add", "--all"], workspace)
        _as(
            entry,
            [
                "git",
                *identity,
                "commit",
                "--quiet",
                "--allow-empty",
                "-m",
                "The workspace as the gateway took it over",
            ],
            workspace,
        )
        done.append(f"{workspace}: committed as the gateway took it over")
    if not _as(entry, ["git", "symbolic-ref", "-q", "HEAD"], workspace).strip():
        raise GatewayError(f"{workspace}: check out a branch (git switch main); HEAD is detached")
    dirty = _as(entry, ["git", "status", "--porcelain", "--untracked-files=no"], workspace)
    if dirty.strip():
        raise GatewayError(
            f"{workspace} has changes not committed; commit or drop them first "
            "(pushes update the files, so they must match the branch):\n" + dirty.rstrip()
        )
    config = {
        "receive.denyCurrentBranch": "updateInstead",
        "receive.denyDeletes": "true",
        "receive.denyNonFastForwards": "true",
        "core.hooksPath": str(git_dir / "hooks"),
        "user.name": "tendr gateway",
        "user.email": f"{entry.pw_name}@{socket.gethostname()}",
    }
    for key, value in config.items():
        _as(entry, ["git", "config", key, value], workspace)
    hooks = git_dir / "hooks"
    _own_folder(hooks, entry, [])
    for hook in HOOKS:
        text = f"#!/bin/sh\n# tendr's gateway\nexec {program()} gateway hook {hook}\n"
        target = hooks / hook
        if not target.exists() or target.is_symlink() or _read(target) != text:
            _write_atomic(target, text, 0o700, entry.pw_uid, entry.pw_gid)
            done.append(f"installed the {hook} hook")


def _has_commit(workspace: Path, entry: pwd.struct_passwd) -> bool:
    try:
        _as(entry, ["git", "rev-parse", "--quiet", "--verify", "HEAD"], workspace)
    except GatewayError:
        return False
    return True


def _ignores(workspace: Path, private: list[str], entry: pwd.struct_passwd) -> None:
    """The audit log and the secret files are never committed: git would hand them to
    whoever clones."""
    for path in private:
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "--", path],
            **_as_account(entry, workspace),
        )
        ignored = subprocess.run(
            ["git", "check-ignore", "--quiet", "--no-index", "--", path],
            **_as_account(entry, workspace),
        )
        if tracked.returncode == 0 or ignored.returncode != 0:
            raise GatewayError(
                f"{workspace}: {path} must be ignored by git and not committed (add "
                f"{Path(path).parts[0]}/ to .gitignore; git rm --cached it), or every clone "
                f"would carry it. The workspace is now {entry.pw_name}'s: fix it as root, "
                "then run tendr gateway setup again"
            )


def _client_key(home: Path, entry: pwd.struct_passwd, done: list[str]) -> str:
    """The gateway's own key for client machines, made once; its public half."""
    ssh = home / ".ssh"
    _own_folder(ssh, entry, done)
    key = ssh / "id_ed25519"
    if not key.exists():
        _as(
            entry,
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"{entry.pw_name}@{socket.gethostname()}",
                "-f",
                str(key),
            ],
            home,
        )
        done.append(f"made the gateway's key for client machines, {key}")
    return _read(Path(f"{key}.pub")).strip()


def _check_authorized_keys(path: Path, entry: pwd.struct_passwd) -> None:
    """Only lines `allow` wrote: any other key would open a shell as the gateway."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        os.fchown(fd, entry.pw_uid, entry.pw_gid)
        os.close(fd)
        return
    _refuse_foreign(path)


def _refuse_foreign(path: Path) -> None:
    """Refuse an authorized_keys holding a line not exactly as `allow` writes it: its
    options or command could open a shell as the gateway account, around every rule."""
    others = [
        f"line {n}: {line[:100]!r}"
        for n, line in enumerate(_lines(path), 1)
        if line.strip() and not line.startswith("#") and parse_line(line) is None
    ]
    if others:
        raise GatewayError(
            f"{path} has keys tendr did not write, each of which could open a shell as the "
            "gateway account, around every rule:\n"
            + "\n".join(others)
            + "\nremove them, then let their people in with tendr gateway allow"
        )


def config_text(account: str, workspace: Path) -> str:
    """gateway.toml as TOML's own library writes it: a workspace path with quotes,
    backslashes or any other text in it is read back as it was."""
    document = tomlkit.document()
    document.add(tomlkit.comment("Written by tendr gateway setup."))
    document.add("account", account)
    document.add("workspace", str(workspace))
    return tomlkit.dumps(document)


def _write_config(account: str, workspace: Path, done: list[str]) -> None:
    text = config_text(account, workspace)
    config = session.CONFIG
    if config.exists() and _read(config) == text:
        return
    config.parent.mkdir(mode=0o755, exist_ok=True)
    _write_atomic(config, text, 0o644, 0, 0)
    done.append(f"wrote {config}")


WATCH_UNITS = Path("/etc/systemd/system")
WATCH = "tendr-watch"


def watch_units(account: str, every_seconds: int) -> dict[str, str]:
    """The gateway's watch: a service running one cycle as the gateway account (no key
    and no sudo names a person: the gateway watches for itself, read-only), and the timer
    that starts it every `every_seconds`. Exit 2 (problems open) is a cycle done."""
    service = f"""[Unit]
Description=tendr watch: one read-only cycle over the gateway's hosts
After=network-online.target

[Service]
Type=oneshot
User={account}
ExecStart={sys.executable} -I -m tendr watch
SuccessExitStatus=2
"""
    timer = f"""[Unit]
Description=tendr watch every {every_seconds} s (watch_every in tendr.toml)

[Timer]
OnBootSec=2min
OnUnitActiveSec={every_seconds}s
AccuracySec=15s

[Install]
WantedBy=timers.target
"""
    return {f"{WATCH}.service": service, f"{WATCH}.timer": timer}


def _watch_timer(account: str, every: str | None, done: list[str]) -> None:
    """The watch on a schedule where tendr.toml sets watch_every; none where it does not
    (a timer from an earlier setup is stopped and removed)."""
    paths = [WATCH_UNITS / f"{WATCH}.{suffix}" for suffix in ("service", "timer")]
    if every is None:
        if any(path.exists() for path in paths):
            _run(["systemctl", "disable", "--now", f"{WATCH}.timer"])
            for path in paths:
                path.unlink(missing_ok=True)
            _run(["systemctl", "daemon-reload"])
            done.append(f"removed the watch timer ({WATCH}.timer): watch_every is not set")
        return
    units = watch_units(account, duration_seconds(every))
    changed = [name for name, text in units.items() if _read_or_none(WATCH_UNITS / name) != text]
    for name in changed:
        _write_atomic(WATCH_UNITS / name, units[name], 0o644, 0, 0)
    if changed:
        _run(["systemctl", "daemon-reload"])
        _run(["systemctl", "enable", "--now", f"{WATCH}.timer"])
        done.append(f"installed the watch timer ({WATCH}.timer): a cycle every {every}")


def _read_or_none(path: Path) -> str | None:
    return _read(path) if path.exists() else None


def _write_atomic(path: Path, data: str | bytes, mode: int, uid: int, gid: int) -> None:
    """Replace `path` whole: a new file beside it (never an existing one, nor a link's
    target), then a rename, which replaces a link rather than writing through it."""
    temporary = path.with_name(f".{path.name}.tendr-new")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.fchown(handle.fileno(), uid, gid)
        os.fchmod(handle.fileno(), mode)
    temporary.replace(path)


def _lines(path: Path) -> list[str]:
    return _read(path).splitlines() if path.exists() or path.is_symlink() else []


# -- people's keys ---------------------------------------------------------------------


def parse_public_key(text: str, source: str) -> PublicKey:
    """The one public key in `text` (an id_*.pub file), or a GatewayError saying why not."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if any("PRIVATE KEY" in line for line in lines):
        raise GatewayError(f"{source} is a private key; give its public half (the .pub file)")
    if len(lines) != 1:
        raise GatewayError(f"{source} must hold one public key line, not {len(lines)}")
    try:
        return parse_key(lines[0])
    except NotAKey as exc:
        raise GatewayError(f"{source}: {exc}") from None


def gateway_line(person: str, key: PublicKey) -> str:
    """The authorized_keys line that lets `person` in through `key`, to tendr alone; a
    terminal only when asked for (`ssh -t`, for `tendr shell`), no forwarding of any kind."""
    command = f"{program()} gateway serve --person {person}"
    return f'restrict,pty,command="{command}" {key.type} {key.blob} {TAG}{person}'


def parse_line(line: str) -> tuple[str, PublicKey] | None:
    """(person, key) of a line exactly as `allow` writes it (this tendr's command, no
    other option), else None."""
    found = re.fullmatch(
        r'restrict,pty,command="'
        + re.escape(program())
        + r' gateway serve --person (?P<person>[a-z_][a-z0-9_-]{0,31})" '
        r"(?P<type>\S+) (?P<blob>[A-Za-z0-9+/=]+) " + re.escape(TAG) + r"(?P=person)",
        line.rstrip("\n"),
    )
    if found is None:
        return None
    try:
        key = parse_public_key(f"{found['type']} {found['blob']}", "the line")
    except GatewayError:
        return None
    return found["person"], key


def _authorized_keys() -> tuple[Path, pwd.struct_passwd, Path]:
    """The account's authorized_keys, the account, and the gateway's workspace."""
    config = session.read_config()
    if config is None:
        raise GatewayError(
            f"this machine is no gateway yet ({session.CONFIG} is missing): run tendr gateway setup"
        )
    entry = pwd.getpwnam(config.account)
    return Path(entry.pw_dir) / ".ssh" / "authorized_keys", entry, Path(config.workspace)


def allow(person: str, key_file: Path) -> str:
    """Let `person` in with the public key in `key_file`; say what was done."""
    _need_root("tendr gateway allow")
    check_person(person)
    try:
        key = parse_public_key(key_file.read_text(encoding="utf-8"), str(key_file))
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewayError(
            f"{key_file} cannot be read: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    path, entry, workspace = _authorized_keys()
    _refuse_foreign(path)
    lines = _lines(path)
    for line in lines:
        found = parse_line(line)
        if found and found[1].blob == key.blob:
            if found[0] == person:
                return f"{person} is already let in with this key ({key.fingerprint})"
            raise GatewayError(f"this key already lets {found[0]} in: one key, one person")
    _write_atomic(
        path,
        "\n".join([*lines, gateway_line(person, key)]) + "\n",
        0o600,
        entry.pw_uid,
        entry.pw_gid,
    )
    _record(workspace, entry, "allow", person, {"key": f"{key.type} {key.fingerprint}"})
    where = f"{entry.pw_name}@{socket.gethostname()}"
    return f"let {person} in with {key.type} {key.fingerprint}: ssh {where} plan"


def revoke(person: str) -> str:
    """Remove every key of `person`; say how many."""
    _need_root("tendr gateway revoke")
    check_person(person)
    path, entry, workspace = _authorized_keys()
    lines = _lines(path)
    kept = [line for line in lines if (parse_line(line) or ("",))[0] != person]
    if len(kept) == len(lines):
        raise GatewayError(f"{person} has no key at this gateway")
    _write_atomic(path, "".join(f"{line}\n" for line in kept), 0o600, entry.pw_uid, entry.pw_gid)
    _record(workspace, entry, "revoke", person, {"keys removed": len(lines) - len(kept)})
    return f"removed {len(lines) - len(kept)} key(s) of {person}"


def people() -> list[tuple[str, PublicKey]]:
    """Each person let in, with their key."""
    _need_root("tendr gateway people")
    path, _, _ = _authorized_keys()
    _refuse_foreign(path)
    return [found for line in _lines(path) if (found := parse_line(line)) is not None]
