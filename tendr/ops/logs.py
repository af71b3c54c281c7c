"""`tendr logs`: a host's journal, read over SSH, as the rules allow (operation `logs`).

journalctl's options are built here from validated values and passed as one argument
vector (`--since=VALUE`: a value can never be read as another option); nothing
reaches a shell.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tendr.base.errors import CommandTimeout, ConnectionLost, HostError, InvalidValue
from tendr.ops.runner import Runner
from tendr.remote.connect import Session, run
from tendr.workspace.hosts import Host, login_user
from tendr.workspace.loader import Workspace

RUN_SCRIPT = 'exec "$@"'
_UNIT = re.compile(
    r"[A-Za-z0-9:_.\\@-]{1,255}\.(service|socket|timer|target|mount|automount|path|slice|scope|swap|device)"
)


_FIELDS = "SYSLOG_IDENTIFIER,_PID,_HOSTNAME,MESSAGE,_COMM"
OWN_LINES = 100  # read beyond --lines, for tendr's own lines left out
_LOGIN_DAEMONS = {"sshd", "sshd-session", "systemd-logind", "systemd"}
_PER_CONNECTION = {"sshd", "sshd-session"}  # a process per login: all its lines are the login's


def without_own(found: Sequence[dict[str, str]], account: str) -> list[dict[str, str]]:
    """The entries but those tendr's own visits wrote: sudo's lines for a command of
    `account` (its "ACCOUNT : ... COMMAND=" line and the PAM session lines of the same
    sudo), and the SSH logins and sessions of `account`. The host's other sudo and
    logins stay."""
    names = re.compile(rf"\b(for|of user|user|User) {re.escape(account)}\b")
    sudo = {
        e["_PID"]
        for e in found
        if e.get("SYSLOG_IDENTIFIER") == "sudo"
        and e.get("MESSAGE", "").lstrip().startswith(f"{account} :")
    }
    logins = {
        e["_PID"]
        for e in found
        if e.get("SYSLOG_IDENTIFIER") in _PER_CONNECTION and names.search(e.get("MESSAGE", ""))
    }
    sessions = {
        m[1]
        for e in found
        if (m := re.search(rf"New session (\S+) of user {re.escape(account)}\.", e["MESSAGE"]))
    }
    said = re.compile(rf"\b[Ss]ession[ -]({'|'.join(map(re.escape, sessions))})\b")

    def own(entry: dict[str, str]) -> bool:
        who, pid, message = entry.get("SYSLOG_IDENTIFIER"), entry.get("_PID"), entry["MESSAGE"]
        if who == "sudo":
            return pid in sudo
        if who not in _LOGIN_DAEMONS:
            return False
        if who in _PER_CONNECTION and pid in logins:
            return True
        return bool(names.search(message) or (sessions and said.search(message)))

    return [entry for entry in found if not own(entry)]


def _text(value: object) -> str:
    """A journal field as text: journald gives a message that is not UTF-8, or holds
    control characters, as a list of its bytes."""
    if isinstance(value, list) and all(isinstance(b, int) for b in value):
        return bytes(b % 256 for b in value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def entries(lines: Sequence[str], *keys: str) -> list[dict[str, str]]:
    """`journalctl -o json` lines as {field: text}; a line that is no entry is left out."""
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            found.append({key: _text(entry.get(key)) for key in keys})
    return found


def journal_line(entry: dict[str, str]) -> str:
    """One entry as journalctl's short-iso shows it: TIME HOST IDENT[PID]: MESSAGE."""
    micros = entry.get("__REALTIME_TIMESTAMP", "")
    when = (
        datetime.fromtimestamp(int(micros) / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S%z")
        if micros.isdigit()
        else "?"
    )
    who = entry.get("SYSLOG_IDENTIFIER") or entry.get("_COMM") or "?"
    pid = f"[{entry['_PID']}]" if entry.get("_PID") else ""
    return f"{when} {entry.get('_HOSTNAME', '?')} {who}{pid}: {entry.get('MESSAGE', '')}"


@dataclass(frozen=True)
class Query:
    """What of the journal to read."""

    since: datetime | None = None
    errors: bool = False
    unit: str | None = None
    grep: str | None = None
    lines: int = 200
    own: bool = False  # tendr's own logins and sudo (each read adds some) shown too

    def argv(self) -> list[str]:
        # JSON: every message arrives whole and as valid text (one that is not UTF-8 as
        # its bytes), to be shown here, escaped, rather than as journalctl's "[blob data]".
        argv = ["journalctl", "--no-pager", "--quiet", "-o", "json", f"--output-fields={_FIELDS}"]
        # The newest lines first, then put in time order here: journalctl's --lines
        # with --since would give the oldest. More than asked, as tendr's own are left out.
        argv += ["--reverse", f"--lines={self.lines + OWN_LINES}"]
        if self.since:
            argv.append(f"--since=@{int(self.since.timestamp())}")
        if self.errors:
            argv.append("--priority=err")
        if self.unit:
            argv.append(f"--unit={self.unit}")
        if self.grep:
            argv.append(f"--grep={self.grep}")
        return argv


def query(
    since: datetime | None,
    errors: bool,
    unit: str | None,
    grep: str | None,
    lines: int,
    own: bool = False,
) -> Query:
    """A Query from the command line's values, each checked: a value refused carries the
    parameter it was given for and what it takes (the CLI names the option)."""
    if unit is not None and not _UNIT.fullmatch(unit):
        raise InvalidValue(
            param="unit",
            text=unit,
            problem=f"{unit!r} is not a systemd unit name such as 'cups.service'",
        )
    if grep is not None and (not grep or any(ord(c) < 32 for c in grep)):
        raise InvalidValue(param="grep", text=grep, problem="a pattern on one line is needed")
    return Query(since, errors, unit, grep, lines, own)


@dataclass
class HostLogs:
    host: str
    lines: list[str] = field(default_factory=list)
    error: str = ""


def read(
    workspace: Workspace,
    hosts: Sequence[Host],
    person: str,
    wanted: Query,
    progress: Callable[[str], None] | None = None,
) -> list[HostLogs]:
    """The journal of every selected host the rules let `person` read, in parallel (a
    reading: not recorded in the audit log)."""
    runner = Runner(workspace, person, "logs", nothing="nothing was read", recorded=False)
    decided = runner.decide(hosts, "logs")
    found = {h.name: HostLogs(h.name, error=decided.refused.get(h.name, "")) for h in hosts}

    def failed(name: str, why: str) -> None:
        found[name].error = why

    def one(session: Session, host: Host) -> None:
        try:
            output = run(
                session,
                host.name,
                RUN_SCRIPT,
                wanted.argv(),
                timeout=workspace.settings.command_timeout,
            )
        except (CommandTimeout, ConnectionLost, HostError) as exc:
            failed(host.name, exc.reason)
            return
        # journalctl exits 1 when --grep matches nothing: no lines, no error.
        if output.status not in (0, 1) or (output.status == 1 and output.stderr):
            failed(host.name, f"journalctl failed: {output.reason()}")
        keys = ("__REALTIME_TIMESTAMP", *_FIELDS.split(","))
        newest = entries(output.stdout, *keys)
        if not wanted.own:
            newest = without_own(newest, login_user(host, workspace.settings))
        found[host.name].lines = [journal_line(e) for e in reversed(newest[: wanted.lines])]

    runner.over(decided.allowed, one, failed=failed, progress=progress)
    return [found[h.name] for h in hosts]
