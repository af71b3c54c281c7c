"""The backup kind: a restic job with its schedule, retention and freshness.

What tendr writes on a host for a job NAME, all root's (/etc/tendr/backup and
/var/lib/tendr-backup are made 0700):

- /etc/tendr/backup/NAME.password (0600): the repository password. It is written by a
  Put whose content is the secret, which plan and apply put in `Context.secrets` (keyed
  by `secret_key`); a plan compares it by SHA-256 only and shows at most "differs".
- /etc/tendr/backup/NAME.key (0600) and NAME.known_hosts (0644), for an sftp repository:
  the ssh key (a secret too) root reaches the repository host with, and that host's key,
  which ssh checks strictly (no other known_hosts file counts).
- /etc/tendr/backup/NAME.sh (0755): the job, one shell script whose every value tendr
  quotes (shlex), so nothing depends on systemd's own quoting. It exports
  RESTIC_REPOSITORY and RESTIC_PASSWORD_FILE, passes the sftp command (`-o
  sftp.command=ssh ...`), runs `restic backup`, then `restic forget --prune` when any
  retention is set, logging restic's error lines at priority err. Given arguments, it
  is restic on the job's repository: `/etc/tendr/backup/NAME.sh snapshots`.
- /etc/systemd/system/tendr-backup-NAME.service (oneshot, runs the script) and
  tendr-backup-NAME.timer (OnCalendar = schedule, Persistent), enabled and started.
- /var/lib/tendr-backup/NAME.checked: the UNIX time of the last `restic check` that
  passed, written by that check (apply's backup.check, `tendr backup check`).

Reading a host never writes to a repository: restic runs with --no-lock there (restic
0.14 does not take a dead process's lock for stale, so a probe cut off by its timeout
would leave a lock that fails every later prune and check), and the repository's locks
are listed instead, an exclusive one being what blocks backu

The package, by concern: `spec` (the model, where a job lives), `files` (what tendr
writes), `secret`, `restic` (what its errors mean), `facts` (probe and parse), `memory`
(what plans remember of a repository), `plan` (the pure diff), `act` (the steps),
`on_demand` (`tendr do backup.init`), `check` (the restore check, `tendr backup check`).
"""

from __future__ import annotations

from tendr.kinds.backup.act import (
    CHECK_SCRIPT,
    FOLDERS_SCRIPT,
    INIT,
    MAKE_FOLDERS,
    NEW,
    REMOVE,
    RESTIC_FUNCTION,
    RUN,
    steps,
)
from tendr.kinds.backup.check import restore_check
from tendr.kinds.backup.facts import BackupActual, Lock, RepoState, instant, parse, probe
from tendr.kinds.backup.files import job_files, probed_paths, script, service_unit, timer_unit
from tendr.kinds.backup.memory import held, remember, seen
from tendr.kinds.backup.on_demand import ON_DEMAND
from tendr.kinds.backup.plan import diff
from tendr.kinds.backup.restic import classify, clean, shell_classify
from tendr.kinds.backup.secret import references, secret_content, secret_key, secrets
from tendr.kinds.backup.spec import (
    CHECK_SUBSET,
    ETC_DIR,
    FOLDERS,
    STATE_DIR,
    BackupSpec,
    Retention,
    checked_path,
    job_name,
    made_units,
    mask_credentials,
    restic_args,
    seconds,
    tag,
    unit_name,
    valid_host_key,
)
from tendr.kinds.kind import Kind

__all__ = [
    "CHECK_SCRIPT",
    "CHECK_SUBSET",
    "ETC_DIR",
    "FOLDERS",
    "FOLDERS_SCRIPT",
    "INIT",
    "KIND",
    "MAKE_FOLDERS",
    "NEW",
    "REMOVE",
    "RESTIC_FUNCTION",
    "RUN",
    "STATE_DIR",
    "BackupActual",
    "BackupSpec",
    "Lock",
    "RepoState",
    "Retention",
    "checked_path",
    "classify",
    "clean",
    "diff",
    "held",
    "instant",
    "job_files",
    "job_name",
    "mask_credentials",
    "parse",
    "probe",
    "probed_paths",
    "references",
    "restore_check",
    "remember",
    "restic_args",
    "script",
    "seconds",
    "secret_content",
    "secret_key",
    "secrets",
    "seen",
    "service_unit",
    "shell_classify",
    "steps",
    "tag",
    "timer_unit",
    "unit_name",
    "valid_host_key",
]

KIND: Kind[BackupSpec] = Kind(
    "backup",
    BackupSpec,
    probe,
    parse,
    diff,
    steps,
    references,
    title="restic backup jobs",
    verbs=("configure", "init", "run", "check", "remove"),
    secrets=secrets,
    remember=remember,
    on_demand=ON_DEMAND,
    restore_check=restore_check,
    made=made_units,
    area="backup",
)
