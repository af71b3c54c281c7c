"""The steps that make a job's changes on its host: root-run scripts, values as arguments."""

from __future__ import annotations

from tendr.base.changes import Change, Put, Run, Step
from tendr.base.scripts import script as shell_script
from tendr.kinds.backup.files import job_files, probed_paths
from tendr.kinds.backup.plan import touched
from tendr.kinds.backup.restic import shell_classify
from tendr.kinds.backup.secret import secret_content
from tendr.kinds.backup.spec import (
    CHECK_SUBSET,
    FOLDERS,
    BackupSpec,
    checked_path,
    restic_args,
    unit_name,
)
from tendr.kinds.file import SAFE_FOLDERS
from tendr.kinds.kind import Context
from tendr.kinds.package import PackageSpec
from tendr.kinds.package import steps as package_steps

# -- steps --------------------------------------------------------------------------

# `r ARGS`: restic on the repository $repo with the password file $pw, over the sftp
# command $sftp when there is one; the script it goes in sets the three.
RESTIC_FUNCTION = shell_script("tendr.kinds", "backup-restic")

# $1 repository, $2 password file, $3 sftp command ("" for a local repository), then the
# step's own: `r` runs restic on it; `fail WHAT OUTPUT STATUS` says what failed and why.
_RESTIC = shell_classify() + shell_script("tendr.kinds", "backup-restic-step") + RESTIC_FUNCTION

# Make the repository, never over one there ($4 the mount it lives on, $5 "new" for
# `tendr do backup.init`): tendr/kinds/sh/backup-init.sh.
INIT = _RESTIC + shell_script("tendr.kinds", "backup-init")

# make_folders FOLDER...: each made root's and 0700 where missing (the folders above
# it: 0755), in folders only root can change.
MAKE_FOLDERS = shell_script("tendr.kinds", "backup-folders")
FOLDERS_SCRIPT = SAFE_FOLDERS + MAKE_FOLDERS + 'make_folders "$@"'

# restic check reading $5 (--read-data-subset=...), then its time in $4 (the check's
# file), by rename: written only when the check passed.
CHECK_SCRIPT = SAFE_FOLDERS + MAKE_FOLDERS + _RESTIC + shell_script("tendr.kinds", "backup-check")

# $1 the units' name: start the service and wait for its end; when it fails, its error
# lines from the journal and what they mean.
RUN = shell_classify() + shell_script("tendr.kinds", "backup-run")

# $1 the units' name, then the job's files: the timer and the service stopped and
# gone, the files removed; the repository is not touched.
REMOVE = shell_script("tendr.kinds", "backup-remove")

_FAIL = 'echo "tendr: $1" >&2; exit 1'
# The after of `tendr do backup.init`'s repository field: a new repository, started over
# deliberately where none opens, never kept in place of one that does.
NEW = "a new, empty one"


def steps(spec: BackupSpec, change: Change, context: Context) -> list[Step]:
    verb = change.op.partition(".")[2]
    unit = unit_name(spec)
    if verb == "configure":
        return _configure_steps(spec, change, context)
    if verb == "init":
        mode = "new" if change.after().get("repository") == NEW else ""
        init = ("sh", "-c", INIT, "sh", *restic_args(spec), spec.mount or "", mode)
        return [Run(init, f"initialise the repository of backup {spec.name}")]
    if verb == "run":
        return [Run(("sh", "-c", RUN, "sh", unit), f"run backup {spec.name}")]
    if verb == "check":
        subset = f"--read-data-subset={CHECK_SUBSET}"
        check = ("sh", "-c", CHECK_SCRIPT, "sh", *restic_args(spec), checked_path(spec), subset)
        return [Run(check, f"check the repository of backup {spec.name}")]
    if verb == "remove":
        paths = [path for _, path in probed_paths(spec)]
        return [Run(("sh", "-c", REMOVE, "sh", unit, *paths), f"remove backup {spec.name}")]
    return []


def _configure_steps(spec: BackupSpec, change: Change, context: Context) -> list[Step]:
    files = job_files(spec)
    written = touched(change, *(f.id for f in files))
    found: list[Step] = []
    puts: list[Step] = []
    for job_file in files:
        if job_file.id not in written:
            continue
        content = job_file.content
        if job_file.secret is not None:
            content = secret_content(job_file.secret, context, key=job_file.id == "ssh_key")
        if content is None:  # refused before anything is changed
            assert job_file.secret is not None
            why = (
                f"the {job_file.label} ({job_file.secret.describe()}) was not available to "
                f"tendr, so backup {spec.name} was not configured"
            )
            return [Run(("sh", "-c", _FAIL, "sh", why), why)]
        puts.append(Put(job_file.path, content, job_file.mode, "root", "root"))
    if "restic" in {f.name for f in change.fields}:
        install = Change("package", "restic", "package.install", "add")
        found += package_steps(PackageSpec(name="restic"), install, context)
    found.append(Run(("sh", "-c", FOLDERS_SCRIPT, "sh", *FOLDERS), "tendr's backup folders"))
    found += puts
    stale = change.before().get("stale_files")
    if isinstance(stale, list) and stale:
        found.append(Run(("rm", "-f", "--", *(str(path) for path in stale))))
    timer = f"{unit_name(spec)}.timer"
    if touched(change, "service_unit", "timer_unit"):
        found.append(Run(("systemctl", "daemon-reload")))
    found.append(Run(("systemctl", "enable", "--now", "--quiet", "--", timer)))
    if change.before().get("timer_unit_content") is not None:
        found.append(Run(("systemctl", "restart", "--", timer)))  # its new schedule
    return found
