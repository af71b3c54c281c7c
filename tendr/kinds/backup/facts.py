"""Reading a host's jobs: the probe (tendr/kinds/sh/backup-probe.sh) and its parser."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tendr.base.changes import Unreadable
from tendr.base.scripts import script as shell_script
from tendr.kinds.backup.files import probed_paths
from tendr.kinds.backup.restic import Problem, classify, clean
from tendr.kinds.backup.spec import (
    FOLDERS,
    PROBE_TIMEOUT,
    BackupSpec,
    checked_path,
    key_path,
    known_hosts_path,
    password_path,
    sftp_command,
    sftp_parts,
)
from tendr.kinds.file import FileActual, parse_line, probe_paths

# -- facts ------------------------------------------------------------------------

# _tb_host TIMEOUT FOLDER...: once per host, whether systemd runs, restic's version, the
# host's clock, the folders; _tb_job NAME...: a job's units, failed run, mount, repository
# and last check (its arguments: tendr/kinds/sh/backup-probe.sh).
_PROBE = shell_script("tendr.kinds", "backup-probe")


def probe(specs: Sequence[BackupSpec]) -> str:
    parts = [_PROBE + f"_tb_host {PROBE_TIMEOUT} {shlex.join(FOLDERS)}"]
    for spec in specs:
        paths = [path for _, path in probed_paths(spec)]
        sftp = sftp_parts(spec.repository) is not None
        args = [
            spec.name,
            password_path(spec) if spec.present else "",
            key_path(spec) if sftp else "",
            known_hosts_path(spec) if sftp else "",
            spec.repository,
            sftp_command(spec) or "",
            checked_path(spec),
            spec.mount or "",
        ]
        parts.append(
            f"printf '@job\\t%s\\n' {shlex.quote(spec.name)}; echo '@files'; "
            + probe_paths(paths)
            + "\n_tb_job "
            + " ".join(shlex.quote(arg) for arg in args)
        )
    return "\n".join(parts)


@dataclass(frozen=True)
class Lock:
    """A lock in the repository, as `restic cat lock` tells it."""

    exclusive: bool
    hostname: str
    pid: int | None
    time: str

    def describe(self) -> str:
        pid = f"PID {self.pid}" if self.pid is not None else "a process"
        return f"{pid} on {self.hostname or '?'} since {self.time or '?'}"


RepoStatus = Literal["ok", "missing", "skipped", "error"]


@dataclass(frozen=True)
class RepoState:
    """The repository as the probe found it: opened (ok), not there (missing), not read
    (skipped: restic, the password or the ssh files are not on the host yet) or not
    opened for another reason (error: `problem` says which)."""

    status: RepoStatus
    problem: Problem | None = None
    newest: int | None = None  # UNIX time of the job's newest snapshot from this host
    locks: tuple[Lock, ...] = ()
    snapshots: int = 0  # how many the job has from this host
    id: str | None = None  # restic's repository id (None: not told)


@dataclass(frozen=True)
class BackupActual:
    """A job on a host: the host's clock (UNIX time), restic's version (None: not
    installed), tendr's folders ("700 root root", "absent"...) and files, the units'
    properties, a failed run's error lines, the repository, and the last check."""

    now: int
    restic: str | None
    folders: dict[str, str]
    files: dict[str, FileActual]
    timer: dict[str, str]
    service: dict[str, str]
    errors: tuple[str, ...]
    repository: RepoState
    checked: int | None = None
    checked_unreadable: bool = False
    # `mountpoint`'s exit status for the job's `mount` ("0": mounted); None: none named.
    mount: str | None = None


_EPOCH = re.compile(r"[0-9]{1,11}")


def _epoch(text: str) -> int | None:
    """A UNIX time written by the host, or None for anything else."""
    return int(text) if _EPOCH.fullmatch(text) else None


def instant(text: Any) -> int | None:
    """restic's RFC 3339 time (nanoseconds, any offset) as a UNIX time."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp())
    except (ValueError, OverflowError, OSError):
        return None


def parse(specs: Sequence[BackupSpec], lines: list[str]) -> dict[str, Any]:
    head: list[str] = []
    blocks: dict[str, list[str]] = {}
    current = head
    for line in lines:
        if line.startswith("@job\t"):
            current = blocks.setdefault(line[len("@job\t") :], [])
        else:
            current.append(line)
    tagged = _tagged(head)
    now = _epoch(_first(tagged, "@now"))
    problem = ""
    if "@nosystemd" in head:
        problem = "systemd is not running on this host: a backup job's timer cannot run here"
    elif "@systemd" not in head or "@restic" not in tagged or now is None:
        problem = "the host's report on its backup jobs is incomplete"
    if problem or now is None:
        return {spec.key: Unreadable(problem) for spec in specs}
    restic = clean(_first(tagged, "@restic")) or None
    folders = {}
    for entry in tagged.get("@dir", []):
        path, _, state = entry.partition("\t")
        words = state.split("\t")
        folders[path] = " ".join([octal(words[0]), *words[1:]]) if len(words) == 3 else state
    found: dict[str, Any] = {}
    for spec in specs:
        block = blocks.get(spec.name)
        if block is None:
            found[spec.key] = Unreadable(f"the host did not report on backup {spec.name}")
            continue
        found[spec.key] = _job(spec, block, now, restic, folders)
    return found


def _tagged(lines: Sequence[str]) -> dict[str, list[str]]:
    """'@TAG<TAB>VALUE' lines by tag; a bare '@TAG' counts with an empty value."""
    found: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("@"):
            tag_, _, value = line.partition("\t")
            found.setdefault(tag_, []).append(value)
    return found


def _first(tagged: dict[str, list[str]], name: str) -> str:
    return (tagged.get(name) or [""])[0]


def _file_line(line: str) -> FileActual:
    try:
        return parse_line(line)
    except ValueError:  # a size of digits int() does not take: nothing to trust
        return FileActual("unreadable")


def _job(
    spec: BackupSpec, block: list[str], now: int, restic: str | None, folders: dict[str, str]
) -> BackupActual:
    file_lines = []
    rest = []
    in_files = False
    for line in block:
        if line == "@files":
            in_files = True
        elif line.startswith("@"):
            in_files = False
            rest.append(line)
        elif in_files:
            file_lines.append(line)
    tagged = _tagged(rest)
    ids = [name for name, _ in probed_paths(spec)]
    files = {
        name: _file_line(file_lines[i]) if i < len(file_lines) else FileActual("unreadable")
        for i, name in enumerate(ids)
    }
    checked_text = tagged.get("@checked")
    checked = _epoch(checked_text[0].strip()) if checked_text else None
    return BackupActual(
        now=now,
        restic=restic,
        folders=folders,
        files=files,
        timer=_properties(tagged.get("@timer", [])),
        service=_properties(tagged.get("@service", [])),
        errors=tuple(clean(line) for line in tagged.get("@error", [])[-3:] if line.strip()),
        repository=_repository_state(tagged),
        checked=checked,
        checked_unreadable=bool(checked_text) and checked is None,
        mount=_first(tagged, "@mount") if "@mount" in tagged else None,
    )


def _properties(lines: Sequence[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            found[key] = clean(value)
    return found


def _repository_state(tagged: dict[str, list[str]]) -> RepoState:
    status = _first(tagged, "@repo")
    if status == "skipped":
        return RepoState("skipped")
    if not re.fullmatch(r"[0-9]{1,3}", status):
        return RepoState("error", Problem("other", "the host did not report on the repository"))
    output = tagged.get("@out", [])
    if int(status) != 0:
        problem = classify(output, int(status))
        return RepoState("missing" if problem.kind == "missing" else "error", problem)
    times = _snapshot_times(output)
    if times is None:
        unreadable = Problem("other", "restic's list of snapshots could not be read")
        return RepoState("error", unreadable)
    locks = tuple(lock for lock in map(_lock, tagged.get("@lock", [])) if lock is not None)
    found = _first(tagged, "@id")
    return RepoState(
        "ok",
        newest=max(times, default=None),
        locks=locks,
        snapshots=len(times),
        id=found if re.fullmatch("[0-9a-f]{64}", found) else None,
    )


def loads(text: str) -> Any:
    """A JSON value the host printed (restic's), or None where it printed none."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _snapshot_times(output: Sequence[str]) -> list[int] | None:
    """The times of the snapshots `restic snapshots --json` listed; None when its list
    is not there or not one restic writes."""
    listed = next((loads(line) for line in output if line.startswith("[")), None)
    if not isinstance(listed, list):
        return None
    times = [instant(item.get("time")) for item in listed if isinstance(item, dict)]
    if len(times) != len(listed) or None in times:
        return None
    return [t for t in times if t is not None]


def _lock(text: str) -> Lock | None:
    found = loads(text)
    if not isinstance(found, dict):
        return None  # gone between listing and reading it: a backup that ended
    pid = found.get("pid")
    return Lock(
        exclusive=found.get("exclusive") is True,
        hostname=clean(str(found.get("hostname", "")), 100),
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        time=clean(str(found.get("time", "")), 40),
    )


def octal(mode: str | None) -> str:
    """A mode as the plan shows modes: four octal digits."""
    return f"{int(mode, 8):04o}" if mode and re.fullmatch("[0-7]{1,4}", mode) else str(mode)
