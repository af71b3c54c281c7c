"""Whether this process is the gateway, on whose behalf it acts, and what it may be asked.

The gateway is the account named in /etc/tendr/gateway.toml (written by `tendr gateway
setup`). A process running as that account is the gateway whatever it was asked: its
workspace is the configured one (never -w or TENDR_WORKSPACE), the person comes from
the SSH key that reached it (`gateway serve --person`, written in authorized_keys) or
from sudo (SUDO_USER), and only the commands in GATEWAY_COMMANDS are served.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import stat
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError

from tendr.base.errors import FileUnusable, GatewayRefused, PermissionDenied, UserError
from tendr.base.model import Strict
from tendr.base.names import AccountName
from tendr.base.settings import Settings
from tendr.base.tomlfile import read_toml

if TYPE_CHECKING:
    from tendr.workspace.loader import Workspace

M = TypeVar("M", bound=Strict)

CONFIG = Path("/etc/tendr/gateway.toml")
"""Root's file naming the gateway account and its workspace. A module attribute, not an
environment variable or option: whoever could move it would choose the workspace."""

GATEWAY_COMMANDS = frozenset(
    {
        *("plan", "apply", "run", "do", "shell", "logs", "validate", "hosts", "rules"),
        *("audit-log", "schema", "grant", "backup", "history", "report", "diagnose"),
        *("onboard", "approve", "status"),  # and `hosts pin`, under `hosts`
    }
)
"""What a person may ask the gateway: commands that act only through the workspace.
Never init, gateway (its setup, keys, hooks) or anything that writes a path they name."""

REPOSITORY = "workspace"
"""The one repository the gateway serves: `git clone tendr@controller:workspace`."""

PERSON_ENV = "TENDR_GATEWAY_PERSON"
"""How `serve` tells git's hooks who is pushing. Set by serve itself, after the key chose
the person: sshd passes no environment of the client's (no AcceptEnv for it)."""

_PERSON = re.compile(r"[a-z_][a-z0-9_-]{0,31}")  # as the members of rules/ (account names)


def check_person(name: str) -> str:
    """`name` if it can be a person of the rules, else a UserError saying what is expected."""
    if not _PERSON.fullmatch(name):
        raise UserError(f"{name!r} is not a person's name (lower case letters, digits, _ and -)")
    return name


class GatewayConfig(Strict):
    """/etc/tendr/gateway.toml, written by `tendr gateway setup`."""

    account: AccountName
    """The account the gateway runs as; it alone can read the workspace and the keys."""
    workspace: str
    """The gateway's workspace (absolute path), a git repository technicians push to."""


@dataclass(frozen=True)
class Session:
    """This process runs as the gateway account."""

    account: str
    workspace: Path
    person: str | None  # None: neither a key (serve) nor sudo named anyone yet
    via: str  # "ssh" or "sudo": how the person reached the gateway


_served: list[str] = []  # the person `serve` was started for, once it has checked the key
_asked: list[list[str]] = []  # and the arguments they sent


def read_config(path: Path | None = None) -> GatewayConfig | None:
    """The gateway's configuration (`path`, else CONFIG as it is when called), or None
    where this machine is no gateway. A file another account could change is refused: it
    chooses the workspace and the account."""
    if path is None:
        path = CONFIG
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise FileUnusable(
            file=path,
            message=f"{path} must be a file owned by root and writable by root alone "
            f"(mode {stat.S_IMODE(info.st_mode):04o}, uid {info.st_uid}); fix: "
            f"chown root: {path} && chmod 0644 {path}",
        )
    config = _read_model(path, str(path), GatewayConfig)
    if not Path(config.workspace).is_absolute():
        raise UserError(f"{path}: workspace must be an absolute path, not {config.workspace!r}")
    return config


def serve_as(person: str, args: list[str]) -> None:
    """Make the rest of this process act for `person` (whom the SSH key named), who
    asked `args`."""
    _served[:] = [person]
    _asked[:] = [args]


def request() -> tuple[str, str]:
    """What was asked of the gateway: the command's name and the whole line, for the
    audit log (over SSH what the person sent, through sudo tendr's arguments)."""
    args = _asked[0] if _asked else sys.argv[1:]
    command = next((a for a in args if not a.startswith("-")), "")
    if command == "run" and "--" in args:
        # The command itself may hold a secret: `run` records it per host, masked.
        return command, shlex.join(args[: args.index("--") + 1]) + " (the command: see its records)"
    return command, shlex.join(args)


@cache
def current() -> Session | None:
    """The gateway session this process is, or None when it does not run as the gateway
    account. Decided once per process: the account and SUDO_USER do not change."""
    config = read_config()
    if config is None:
        return None
    try:
        uid = pwd.getpwnam(config.account).pw_uid
    except KeyError:
        return None
    if os.geteuid() != uid:
        return None
    return Session(config.account, Path(config.workspace), None, "")


def session() -> Session | None:
    """current(), with the person: the one `serve` was started for, else SUDO_USER."""
    found = current()
    if found is None:
        return None
    if _served:
        return Session(found.account, found.workspace, _served[0], "ssh")
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user:
        return Session(found.account, found.workspace, sudo_user, "sudo")
    return found


def check_command(command: str | None) -> None:
    """Refuse what the gateway is not to be asked. Without a person (no key, no sudo),
    only `gateway` itself (serve, started by sshd; the push hooks, by git) and the
    gateway's own read-only `watch` (its timer) may run."""
    found = session()
    if found is None or command is None:
        return
    if found.person is None:
        if command not in ("gateway", "watch"):
            raise PermissionDenied(
                message=f"this is the tendr gateway's account ({found.account}): reach it "
                f"with your own key over SSH (ssh {found.account}@HOST plan) or through "
                f"sudo (sudo -u {found.account} tendr plan), so that tendr knows who acts"
            )
        return
    if command not in GATEWAY_COMMANDS:
        raise PermissionDenied(
            message=f"the gateway does not serve '{command}'; it serves: "
            + ", ".join(sorted(GATEWAY_COMMANDS))
        )


@dataclass(frozen=True)
class GitCommand:
    """A git transfer asked over SSH: `git-upload-pack` (fetch) or `git-receive-pack`."""

    program: str


@dataclass(frozen=True)
class TendrCommand:
    """tendr's own arguments, as the technician typed them after `ssh tendr@HOST`."""

    args: list[str]


GIT_PROGRAMS = ("git-upload-pack", "git-receive-pack")


def parse_remote(original: str | None, account: str) -> GitCommand | TendrCommand:
    """What the technician asked over SSH (SSH_ORIGINAL_COMMAND). Split like a shell's
    words but never run by one: `plan; cat key` is the two arguments `plan;` `cat`..."""
    if original is None or not original.strip():
        raise GatewayRefused(
            f"this key opens the tendr gateway, not a shell: give a tendr command, "
            f"e.g. ssh {account}@HOST plan -l client:acme (or ssh {account}@HOST --help)"
        )
    try:
        original.encode("utf-8")
    except UnicodeEncodeError:
        raise GatewayRefused("the command is not UTF-8 text") from None
    try:
        words = shlex.split(original)
    except ValueError as exc:
        raise GatewayRefused(f"cannot read the command {original!r}: {exc}") from None
    if words and words[0] in GIT_PROGRAMS:
        if len(words) != 2 or words[1].strip("/").removeprefix("~/") not in (
            REPOSITORY,
            f"{REPOSITORY}.git",
        ):
            raise GatewayRefused(
                f"the gateway serves one repository: {account}@HOST:{REPOSITORY} "
                f"(asked: {original!r})"
            )
        return GitCommand(words[0])
    return TendrCommand(words)


def refuse_overrides(workspace_given: bool, as_given: bool) -> None:
    """At the gateway the workspace and the person are the gateway's to say: -w,
    TENDR_WORKSPACE and --as are refused, not ignored, so nobody believes they worked."""
    found = session()
    if found is None:
        return
    if workspace_given:
        raise PermissionDenied(
            message="the gateway works on its own workspace only: --workspace/-w is refused"
        )
    if os.environ.get("TENDR_WORKSPACE"):
        raise PermissionDenied(
            message="the gateway works on its own workspace only: TENDR_WORKSPACE is refused"
        )
    if as_given:
        raise PermissionDenied(
            message="the gateway acts for the person its key or sudo names: --as is refused"
        )


def _inside(root: Path, value: str, key: str) -> Path:
    """`root / value`, which must stay inside the workspace and out of its .git."""
    target = Path(os.path.normpath(root / value))
    if not target.is_relative_to(root) or target == root or target.is_relative_to(root / ".git"):
        raise GatewayRefused(
            f"tendr.toml: {key} {value!r} leaves the workspace: at the gateway it stays "
            "inside, where only the gateway account can reach it"
        )
    return target


def audit_log(root: Path) -> Path:
    """The gateway's audit log (tendr.toml's audit_log, inside the workspace), read
    before anything else so that what is asked is recorded even when it is refused."""
    path = root / "tendr.toml"
    settings = _read_model(path, "tendr.toml", Settings) if path.exists() else Settings()
    return _inside(root, settings.audit_log, "audit_log")


def _read_model(path: Path, display: str, model: type[M]) -> M:
    """One TOML file as `model`, or a UserError naming the file and the first problem."""
    data, _, problem = read_toml(path, display)
    if problem is not None or data is None:
        raise UserError(f"{problem}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{display}: {exc.errors()[0]['msg']}") from None


def gateway_problems(workspace: Workspace) -> list[str]:
    """What a valid workspace may still not hold when the gateway runs it."""
    problems = []
    for host in workspace.hosts:
        if host.connector == "local":
            problems.append(
                f"{host.file}: host {host.name} uses the local connector: at the gateway "
                "that is the gateway account itself, holder of every key; reach the "
                "controller over SSH like any other machine"
            )
    for key in ("audit_log", "known_hosts", "history"):
        try:
            _inside(workspace.root, getattr(workspace.settings, key), key)
        except UserError as exc:
            problems.append(str(exc))
    return problems
