"""Who is acting, and whether a rules file can be trusted: the I/O edge of rules.

The acting person is the account running tendr, or SUDO_USER when run through
sudo; only root may act as someone else. Rules files that others can write, or that
lie in a folder others can write, are refused, as sshd refuses a writable
authorized_keys.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
from pathlib import Path

from tendr.base.errors import PermissionDenied

_ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}\$?")  # as tendr.names.AccountName


def _account_name(uid: int) -> str:
    """The account name of `uid`, or the number itself when it has no passwd entry."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def real_account() -> str:
    """The name of the account tendr runs as (the effective user), never SUDO_USER: what
    the audit log records beside the acting person."""
    return _account_name(os.geteuid())


def acting_person(as_person: str | None) -> str:
    """The account on whose behalf tendr acts: `as_person` (root only), else SUDO_USER
    when running as root through sudo, else the effective user."""
    euid = os.geteuid()
    if as_person is not None:
        if euid != 0:
            raise PermissionDenied(
                message=f"only root may act as someone else (--as {as_person}); "
                f"you are {_account_name(euid)}"
            )
        if not _ACCOUNT.fullmatch(as_person):
            raise PermissionDenied(
                message=f"--as {as_person!r} is not an account name (lower case, digits, _ -)"
            )
        return as_person
    sudo_user = os.environ.get("SUDO_USER", "")
    if euid == 0 and sudo_user:
        return sudo_user
    return _account_name(euid)


def workspace_owner(root: Path) -> tuple[int, str]:
    """The uid and account name of the owner of the workspace root directory."""
    uid = root.stat().st_uid
    return uid, _account_name(uid)


GRANT = "grant themselves anything"

GATEWAY_ITSELF = "(gateway)"
"""Who acts when the gateway runs tendr for itself, named by no key and no sudo (its
watch timer): no account or person can be named so (parentheses), and the rules let it
do one thing, its read-only `watch`."""
"""What whoever can change a rules file could do: the stake of check_trust for rules."""


def check_trust(
    path: Path, workspace_owner_uid: int, stake: str = GRANT, *, sticky_ok: bool = False
) -> str | None:
    """Why tendr refuses the workspace file (or folder) at `path`, or None: it must be
    writable by its owner only, and owned by root or the workspace owner. `stake` says
    what anyone else who could change it could do. With `sticky_ok` (the folders above a
    workspace), a sticky folder such as /tmp may be writable by anyone: nobody but its
    owner and root can rename or replace an entry of another owner in it."""
    try:
        info = path.stat()
    except OSError as error:
        return f"{path}: cannot check who may change it ({error.strerror})"
    is_dir = stat.S_ISDIR(info.st_mode)
    what = "directory" if is_dir else "file"
    problems = []
    mode = stat.S_IMODE(info.st_mode)
    writable = mode & (stat.S_IWGRP | stat.S_IWOTH)
    if sticky_ok and is_dir and mode & stat.S_ISVTX:
        writable = 0
    if writable & stat.S_IWGRP and _group_holds_only(workspace_owner_uid, info):
        writable &= ~stat.S_IWGRP  # the owner's own group (umask 002), as Debian's sshd allows
    if writable:
        who = " and ".join(
            w for w, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH)) if writable & bit
        )
        problems.append(
            f"the {what} is writable by {who} (mode {mode:04o}); fix: chmod go-w {path}"
        )
    if info.st_uid not in (0, workspace_owner_uid):
        owner = _account_name(info.st_uid)
        problems.append(
            f"the {what} is owned by {owner} (uid {info.st_uid}), neither root nor the "
            f"workspace owner ({_account_name(workspace_owner_uid)}); fix: chown "
            f"{_account_name(workspace_owner_uid)} {path}"
        )
    if not problems:
        return None
    return f"refused, anyone who can change it could {stake}: " + "; ".join(problems)


def holding_folders(path: Path, top: Path) -> list[Path]:
    """The folders that hold `path`, outermost first: those between `top` and `path` (both
    left out) when `path` lies below `top`, else every one from / down. Both paths are
    taken as they are: resolve them first."""
    if path != top and path.is_relative_to(top):
        inner = reversed(path.relative_to(top).parents[:-1])  # a/b/c -> a, a/b
        return [top / folder for folder in inner]
    return list(reversed(path.parents))


def _group_holds_only(uid: int, info: os.stat_result) -> bool:
    """True when the group of a file holds account `uid` and nobody else (see group_holds_only)."""
    try:
        group, file_owner = grp.getgrgid(info.st_gid), pwd.getpwuid(info.st_uid)
    except KeyError:  # an account or group that does not exist is nobody's own
        return False
    primary = [entry.pw_uid for entry in pwd.getpwall() if entry.pw_gid == info.st_gid]
    return group_holds_only(uid, file_owner.pw_name, primary, group.gr_mem)


def group_holds_only(uid: int, file_owner: str, primary: list[int], members: list[str]) -> bool:
    """Debian's sshd StrictModes exception ("user-group-modes"), exactly: a group-writable
    file is safe when every account whose primary group it is has uid `uid` (the account
    the file must belong to), its member list is empty or names the file's owner alone, and
    the group is not empty (empty groups belong to setgid programs, not to a person)."""
    if any(other != uid for other in primary):
        return False
    if members not in ([], [file_owner]):
        return False
    return bool(primary or members)
