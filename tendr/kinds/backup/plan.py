"""The pure diff: a job's changes from its facts (configure, init, run, check, remove)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from tendr.base.changes import HIDDEN, Change, FieldChange, Unreadable
from tendr.kinds.backup.facts import BackupActual, octal
from tendr.kinds.backup.files import (
    JobFile,
    job_files,
    probed_paths,
)
from tendr.kinds.backup.memory import held, seen, when
from tendr.kinds.backup.restic import classify
from tendr.kinds.backup.secret import scrub, secret_content
from tendr.kinds.backup.spec import (
    CHECK_SUBSET,
    FOLDERS,
    BackupSpec,
    mask_credentials,
    seconds,
    sftp_parts,
    unit_name,
)
from tendr.kinds.base import SecretRef
from tendr.kinds.file import FileActual, diff_file
from tendr.kinds.kind import Context, unknown

# -- the plan -----------------------------------------------------------------------

_OWN_FOLDER = "0700 root root"


def _age(age: int) -> str:
    if age < 0:
        return "in the future by the host's clock"
    days, rest = divmod(age, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h ago"
    return f"{hours}h {rest // 60}m ago" if hours else f"{rest // 60}m ago"


def _moment(epoch: int, now: int) -> str:
    return f"{when(epoch)} ({_age(now - epoch)})"


def _change(
    spec: BackupSpec,
    verb: str,
    action: Literal["add", "change", "remove", "unknown"],
    fields: Sequence[FieldChange] = (),
    *,
    note: str = "",
    needs: tuple[str, ...] = (),
) -> Change:
    return Change(
        kind="backup",
        resource=spec.name,
        op=f"backup.{verb}",
        action=action,
        fields=tuple(fields),
        note=note,
        needs=needs,
    )


def diff(spec: BackupSpec, actual: BackupActual | Unreadable, context: Context) -> list[Change]:
    if isinstance(actual, Unreadable):
        return unknown(spec, actual)
    if not spec.present:
        return _remove(spec, actual)
    if spec.mount is not None and actual.mount != "0":
        return [_unmounted(spec, actual.mount)]
    changes: list[Change] = []
    configure = _configure(spec, actual, context)
    if configure is not None:
        changes.append(configure)
    repository, usable = _repository(spec, actual, configure, seen(spec, context))
    changes += repository
    if usable:
        earlier = changes[-1] if changes else None
        changes += _run(spec, actual, earlier)
        changes += _check(spec, actual, earlier)
    # The host's words (restic's, the journal's) never carry a secret into a plan.
    return [replace(c, note=scrub(c.note, spec, context)) for c in changes]


def _unmounted(spec: BackupSpec, status: str | None) -> Change:
    assert spec.mount is not None
    if status == "127":
        why = f"whether {spec.mount} is mounted cannot be told: mountpoint (util-linux) is missing"
    else:
        why = f"{spec.mount} is not mounted"
    note = (
        f"{why}: the repository at {spec.repository} cannot be seen, and nothing is written "
        "for the job (no restic init on the disk underneath, no run) until it is"
    )
    return _change(spec, "read", "unknown", note=note)


# -- configure: restic, folders, files, timer


def _configure(spec: BackupSpec, actual: BackupActual, context: Context) -> Change | None:
    fields: list[FieldChange] = []
    notes: list[str] = []
    if actual.restic is None:
        fields.append(FieldChange("restic", "not installed", "installed"))
    for name, folder in zip(("config_folder", "state_folder"), FOLDERS, strict=True):
        state = actual.folders.get(folder, "unreadable")
        if state != _OWN_FOLDER:
            fields.append(FieldChange(name, state, _OWN_FOLDER, label=f"folder {folder}"))
    for job_file in job_files(spec):
        have = actual.files[job_file.id]
        if job_file.secret is not None:
            found, note = _secret_fields(job_file, job_file.secret, have, context)
            fields += found
            notes += [note] if note else []
            continue
        for change in diff_file(
            job_file.path,
            job_file.content,
            job_file.mode,
            "root",
            "root",
            have,
            op="backup.configure",
            kind="backup",
        ):
            fields += [
                FieldChange(
                    f"{job_file.id}_{f.name}", f.before, f.after, label=f"{job_file.label} {f.name}"
                )
                for f in change.fields
            ]
    stale = _stale(spec, actual)
    if stale:
        fields.append(FieldChange("stale_files", stale, None, label="files of an sftp repository"))
    timer = _timer_state(actual)
    if timer != "enabled, active":
        fields.append(FieldChange("timer", timer, "enabled, active"))
    if not fields:
        return None
    new = all(actual.files[i].type == "absent" for i in ("script", "service_unit", "timer_unit"))
    return _change(spec, "configure", "add" if new else "change", fields, note="; ".join(notes))


def _secret_fields(
    job_file: JobFile, ref: SecretRef, have: FileActual, context: Context
) -> tuple[list[FieldChange], str]:
    """A secret file's fields: its content only as "differs" (compared by hash, never
    shown), then its mode and owner; "unknown" when the secret was not provided."""
    name, label = job_file.id, job_file.label
    data = secret_content(ref, context, key=job_file.id == "ssh_key")
    before: Any = None if have.type == "absent" else HIDDEN
    if have.type in ("link", "other", "unreadable"):
        before = f"a {have.type}" if have.type != "unreadable" else "unreadable"
    fields: list[FieldChange] = []
    note = ""
    if data is None:
        fields.append(FieldChange(name, before, "unknown", label=label))
        note = (
            f"the {label} ({ref.describe()}) was not available to tendr: it can be neither "
            "compared nor written"
        )
    elif have.type != "file" or have.sha256 != hashlib.sha256(data).hexdigest():
        fields.append(FieldChange(name, before, dict(HIDDEN), label=label))
    if have.type == "file":
        if have.mode is None or int(have.mode, 8) != int(job_file.mode, 8):
            fields.append(
                FieldChange(f"{name}_mode", octal(have.mode), job_file.mode, label=f"{label} mode")
            )
        for what, value in (("owner", have.owner), ("group", have.group)):
            if value != "root":
                fields.append(FieldChange(f"{name}_{what}", value, "root", label=f"{label} {what}"))
    return fields, note


def _stale(spec: BackupSpec, actual: BackupActual) -> list[str]:
    """The sftp files left from an earlier sftp repository of a job now local."""
    if sftp_parts(spec.repository) is not None:
        return []
    paths = dict(probed_paths(spec))
    return [paths[i] for i in ("ssh_key", "known_hosts") if actual.files[i].type != "absent"]


def _timer_state(actual: BackupActual) -> str:
    if actual.timer.get("LoadState", "not-found") in ("not-found", ""):
        return "not installed"
    enabled = actual.timer.get("UnitFileState") or "unknown"
    return f"{enabled}, {actual.timer.get('ActiveState') or 'unknown'}"


# -- init: the repository, never over one that exists


def touched(change: Change | None, *ids: str) -> list[str]:
    """Which of the files `ids` a configure change writes."""
    if change is None:
        return []
    names = {f.name for f in change.fields}
    return [i for i in ids if any(n == i or n.startswith(f"{i}_") for n in names)]


def _repository(
    spec: BackupSpec,
    actual: BackupActual,
    configure: Change | None,
    seen_before: dict[str, Any] | None,
) -> tuple[list[Change], bool]:
    """The repository's change, and whether runs and checks can be planned after it."""
    repo = actual.repository
    name = spec.name
    where = mask_credentials(spec.repository)
    if repo.status == "missing" and seen_before is not None:
        # Seen here before: a disk not mounted or a folder moved, not a job to start
        # afresh. Only `tendr do backup.init` starts a new repository over it.
        note = (
            f"{where}: repository missing: it held {held(seen_before)}; is its disk mounted? "
            f"(to start a new, empty one instead: tendr do backup.init {name})"
        )
        return [_change(spec, "read", "unknown", note=note)], False
    if repo.status == "skipped" and seen_before is not None:
        return [], True  # read again once configure wrote its files; never made anew here
    if repo.status in ("skipped", "missing"):
        note = (
            f"restic init at {where}; where a repository exists already and opens with the "
            "password it is kept, and any other found there fails the step"
        )
        before = "not initialised"
        if repo.status == "skipped":
            before = "not known yet"
            note = f"not read yet: {_unread(spec, actual)}; {note}"
        field_ = FieldChange("repository", before, "initialised")
        needs = (configure.id,) if configure else ()
        return [_change(spec, "init", "add", [field_], note=note, needs=needs)], True
    if repo.status == "error":
        assert repo.problem is not None
        note = f"{where}: {repo.problem.message}"
        known = (
            replace(configure, fields=tuple(f for f in configure.fields if f.after != "unknown"))
            if configure
            else None
        )
        rewritten = touched(known, "password", "ssh_key", "known_hosts")
        if rewritten:
            files = " and ".join(f.replace("_", " ") for f in rewritten)
            verb = "differs" if len(rewritten) == 1 else "differ"
            note += (
                f"; the host's {files} {verb} from the workspace's: plan again once "
                "backup.configure has written them"
            )
        if failure := _last_failure(actual):
            note += f"; {failure}"
        return [_change(spec, "read", "unknown", note=note)], False
    exclusive = [lock for lock in repo.locks if lock.exclusive]
    if exclusive:
        note = (
            f"{where}: the repository is locked exclusively by {exclusive[0].describe()} "
            "(another restic is running, a prune or a check, or a stale lock: restic "
            "unlock); backups and checks fail until it is gone"
        )
        return [_change(spec, "read", "unknown", note=note)], False
    return [], True


def _unread(spec: BackupSpec, actual: BackupActual) -> str:
    """Why the probe did not read the repository: what configure brings first."""
    missing = []
    sftp = sftp_parts(spec.repository) is not None
    if actual.restic is None:
        missing.append("restic is installed")
    if actual.files["password"].type != "file":
        missing.append("the password file is written")
    elif sftp and any(actual.files[i].type != "file" for i in ("ssh_key", "known_hosts")):
        missing.append("the ssh key and host key files are written")
    return " and ".join(missing or ["its files are written"]) + " first"


# -- run: a snapshot fresh enough, a last run that did not fail


def _last_failure(actual: BackupActual) -> str:
    """Why the service's last run failed, with when; "" when it did not fail."""
    result = actual.service.get("Result", "success") or "success"
    if result == "success" and actual.service.get("ActiveState") != "failed":
        return ""
    status = actual.service.get("ExecMainStatus", "")
    at = actual.service.get("ExecMainExitTimestamp", "")
    how = f"exit status {status}" if status not in ("", "0") else result
    if status == "3":
        reason = "restic made the snapshot, but some source files could not be read"
    elif actual.errors:
        reason = classify(actual.errors).message
    else:
        reason = "the journal keeps no error line of it"
    return f"the last run failed{' at ' + at if at else ''} ({how}): {reason}"


def _run(spec: BackupSpec, actual: BackupActual, earlier: Change | None) -> list[Change]:
    repo = actual.repository
    fields: list[FieldChange] = []
    label = "newest snapshot"
    if repo.status == "skipped":
        fields.append(FieldChange("newest_snapshot", "not known yet", "now", label=label))
    elif repo.status == "missing" or repo.newest is None:
        fields.append(FieldChange("newest_snapshot", "none", "now", label=label))
    elif spec.max_age is not None and actual.now - repo.newest > seconds(spec.max_age):
        before = f"{_moment(repo.newest, actual.now)}, over {spec.max_age}"
        fields.append(FieldChange("newest_snapshot", before, "now", label=label))
    failure = _last_failure(actual)
    if failure:
        fields.append(FieldChange("last_run", "failed", "succeeded", label="last run"))
    if not fields:
        return []
    notes = [failure] if failure else []
    if actual.service.get("ActiveState") in ("activating", "reloading"):
        notes.append("a run is underway now: apply waits for it")
    notes.append("apply runs the job now and waits for it to end")
    return [
        _change(
            spec,
            "run",
            "change",
            fields,
            note="; ".join(notes),
            needs=_after(spec, earlier),
        )
    ]


def _after(spec: BackupSpec, earlier: Change | None) -> tuple[str, ...]:
    """What a run or a check waits for: the repository made, or the job's files."""
    if earlier is None or earlier.resource != spec.name:
        return ()
    if earlier.op in ("backup.init", "backup.configure"):
        return (earlier.id,)
    return ()


# -- check: restic check passed recently enough


def _check(spec: BackupSpec, actual: BackupActual, earlier: Change | None) -> list[Change]:
    if spec.check_every is None:
        return []
    last = actual.checked
    if last is not None and actual.now - last <= seconds(spec.check_every):
        return []
    if actual.checked_unreadable:
        before = "unreadable"
    elif last is None:
        before = "never"
    else:
        before = f"{_moment(last, actual.now)}, over {spec.check_every}"
    return [
        _change(
            spec,
            "check",
            "change",
            [FieldChange("last_check", before, "now", label="last check")],
            note=f"restic check --read-data-subset={CHECK_SUBSET}",
            needs=_after(spec, earlier),
        )
    ]


# -- remove: the timer, the service and tendr's files; never the repository


def _remove(spec: BackupSpec, actual: BackupActual) -> list[Change]:
    there = [path for name, path in probed_paths(spec) if actual.files[name].type != "absent"]
    if not there and _timer_state(actual) == "not installed":
        return []
    note = (
        f"stops and removes {unit_name(spec)}.timer and .service"
        + (f", and {', '.join(there)}" if there else "")
        + f"; the repository at {mask_credentials(spec.repository)} and its snapshots are "
        "left alone"
    )
    return [_change(spec, "remove", "remove", [FieldChange("exists", True, False)], note=note)]
