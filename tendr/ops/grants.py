"""Access granted for a time: `tendr grant` writes grants.toml, `tendr grant revoke`
takes a grant back, and both are recorded in the audit log. Deciding with grants is
the rules' business (tendr.rules.decide); this module only keeps the file.

The file lives in the workspace, so it travels with it; at the gateway the grant is
also committed, so that clones see it and a later push does not undo it.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import tomlkit
from pydantic import ValidationError

from tendr.base.errors import (
    AuditLogUnwritable,
    FileUnusable,
    InvalidDuration,
    InvalidValue,
    NoHostSelected,
    PermissionDenied,
    SelectionError,
    UnknownName,
    UserError,
)
from tendr.base.names import duration_seconds
from tendr.base.selection import HostLike, check_selector, no_match, select
from tendr.core import audit
from tendr.gateway.commit import commit_at_gateway
from tendr.rules.actor import real_account
from tendr.rules.decide import EVERYWHERE, decide
from tendr.rules.model import GRANTS_FILE, MAX_GRANT, Grant, GrantsFile
from tendr.workspace.loader import Workspace


def parse_duration(text: str) -> timedelta:
    """'2h', '90m', '1d12h', '30s' (tendr's one duration format) -> at most 30 days."""
    try:
        seconds = duration_seconds(text)
    except ValueError:
        raise InvalidDuration(
            param="duration", text=text, expected="a duration such as 2h, 90m, 1d12h or 30s"
        ) from None
    if not 1 <= seconds <= MAX_GRANT.total_seconds():
        raise InvalidDuration(
            param="duration", text=text, expected="a grant lasts from 1s to 30d", in_range=True
        )
    return timedelta(seconds=seconds)


def _needs_grant_right(workspace: Workspace, person: str, selectors: Sequence[str]) -> None:
    """`person` may grant on every host the selectors cover (on `all`: on every host)."""
    hosts: list[HostLike] = list(select(list(selectors), list(workspace.hosts)))
    if "all" in selectors:
        hosts.append(EVERYWHERE)
    for host in hosts:
        decision = decide(person, "rules.grant", host, workspace.rules, workspace.owner)
        if not decision.allowed:
            raise PermissionDenied(message=f"permission denied: {decision.reason}")


def grant(
    workspace: Workspace,
    granter: str,
    person: str,
    role: str,
    selectors: Sequence[str],
    duration: timedelta,
    reason: str,
    now: datetime,
) -> Grant:
    """Give `person` `role` on `selectors` for `duration`, as `granter`; write and record it."""
    if role not in {name for _, rules in workspace.rules for name in rules.roles}:
        raise UnknownName(kind="role", name=role, where="in rules/", hint="rules list shows them")
    for selector in selectors:
        if problem := check_selector(selector):
            raise SelectionError(param="hosts", selector=selector, reason=problem)
        if selector != "all" and not select([selector], list(workspace.hosts)):
            raise NoHostSelected(
                param="hosts", selector=selector, reason=no_match(selector, list(workspace.hosts))
            )
    reason = reason.strip()
    if not reason or len(reason) > 500 or not reason.isprintable():
        raise InvalidValue(
            param="reason",
            text=reason,
            problem="must say why in one line of at most 500 characters",
        )
    _needs_grant_right(workspace, granter, selectors)
    start = now.astimezone(UTC)
    try:
        made = Grant(
            id=f"g{start:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}",
            person=person,
            role=role,
            hosts=tuple(selectors),
            granted_by=granter,
            reason=reason,
            start=start.isoformat(timespec="seconds"),
            until=(start + duration).isoformat(timespec="seconds"),
        )
    except ValidationError as exc:
        raise UserError(f"the grant cannot be made: {exc.errors()[0]['msg']}") from None
    with _locked(workspace.root) as current:
        kept = [g for g in current if datetime.fromisoformat(g.until) > now]
        _record(workspace, granter, "done", made, f"granted: {made.reason}")
        _write(workspace, [*kept, made], f"grant {role} to {person} by {granter}: {reason}")
    return made


def revoke(workspace: Workspace, person: str, grant_id: str) -> Grant:
    """Take back a grant: by its holder, its granter, or whoever may grant its hosts."""
    with _locked(workspace.root) as current:
        found = next((g for g in current if g.id == grant_id), None)
        if found is None:
            raise UnknownName(kind="grant", name=grant_id, hint="rules list shows them")
        if person not in (found.person, found.granted_by):
            _needs_grant_right(workspace, person, found.hosts)
        _record(workspace, person, "revoked", found, f"revoked by {person}")
        kept = [g for g in current if g.id != grant_id]
        _write(workspace, kept, f"revoke grant {grant_id} by {person}")
    return found


@contextmanager
def _locked(root: Path) -> Iterator[list[Grant]]:
    """grants.toml as it is now, read under a lock held until it is written back: two
    grants (or a grant and a revocation) at once never lose one another."""
    lock = root / ".tendr" / "grants.lock"
    lock.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = root / GRANTS_FILE
        if not path.exists():
            yield []
            return
        try:
            parsed = GrantsFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError) as exc:
            raise FileUnusable(
                f"{GRANTS_FILE} cannot be read ({exc}); run tendr validate", file=GRANTS_FILE
            ) from None
        yield list(parsed.grant)
    finally:
        os.close(fd)


def _record(workspace: Workspace, person: str, outcome: str, made: Grant, reason: str) -> None:
    """Grants and revocations are in the audit log before the file changes."""
    log = workspace.root / workspace.settings.audit_log
    record = audit.event(
        "rules.grant",
        f"{made.id}: {made.person} as {made.role} on {', '.join(made.hosts)} until {made.until}",
        outcome,
        reason,
        person=person,
        account=real_account(),
        command="grant",
        after=made.model_dump(),
    )
    try:
        audit.append(log, [record])
    except OSError as exc:
        raise AuditLogUnwritable(
            f"the audit log {log} cannot be written ({exc.strerror}); nothing was granted"
        ) from None


HEADER = "Written by tendr grant: access granted for a time. Not edited by hand."


def _toml(grants: Sequence[Grant]) -> str:
    """grants.toml as TOML's own library writes it: any text a reason holds (🚀, quotes,
    control characters) comes back as it was."""
    document = tomlkit.document()
    document.add(tomlkit.comment(HEADER))
    if grants:
        document.add(tomlkit.nl())
        tables = tomlkit.aot()
        for made in grants:
            tables.append(tomlkit.item(made.model_dump(mode="json")))
        document.add("grant", tables)
    return tomlkit.dumps(document)


def _write(workspace: Workspace, grants: Sequence[Grant], message: str) -> None:
    """Replace grants.toml whole: a new file of unpredictable name beside it, as readable
    as rules/, renamed over it."""
    target = workspace.root / GRANTS_FILE
    fd, temporary = tempfile.mkstemp(dir=workspace.root, prefix=f".{GRANTS_FILE}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(_toml(grants))
            os.fchmod(handle.fileno(), 0o644)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    commit_at_gateway(workspace.root, [GRANTS_FILE], message)
