"""The backup kind (restic): its validation, parse on restic 0.14's and systemd's real
output, the plan's verdicts (never an init over a repository that did not open, never a
secret in a change), the steps, and the scripts run for real against local
repositories (restic init, backup, check, the probe) where restic is installed."""

from __future__ import annotations

import base64
import grp
import hashlib
import json
import os
import pwd
import shutil
import struct
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tendr.base.changes import HIDDEN, Change, FieldChange, Put, Run, Step, Unreadable
from tendr.cli.render import change_json, change_lines
from tendr.kinds import backup as b
from tendr.kinds.backup import BackupActual, BackupSpec, Lock, RepoState
from tendr.kinds.backup import check as bc
from tendr.kinds.file import FileActual
from tendr.kinds.kind import Context
from tests.helpers import needs_root, requires

HAS_RESTIC = shutil.which("restic") is not None
needs_restic = requires(HAS_RESTIC, "restic is not installed")

PASSWORD = b"Tr0ub4dor&3-correct-horse-UNIQUE-7731"
KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-UNIQUE-KEY\n"
NOW = 1_732_852_800  # 2024-11-29 04:00 UTC


def key_line(kind: str = "ssh-ed25519", body: bytes = b"\x01" * 32) -> str:
    """An OpenSSH public key line: the type, then base64 of (type, key material)."""
    blob = struct.pack(">I", len(kind)) + kind.encode() + struct.pack(">I", len(body)) + body
    return f"{kind} {base64.b64encode(blob).decode()}"


HOST_KEY = key_line()
LOCAL = BackupSpec(
    name="documents",
    sources=["/srv/share", "/srv/a b"],
    excludes=["*.tmp"],
    repository="/mnt/backup/restic",
    password={"file": "secrets/acme-restic.pass"},
    keep={"daily": 7, "weekly": 4},
    max_age="26h",
    check_every="7d",
)
SFTP = BackupSpec(
    name="offsite",
    sources=["/srv/share"],
    repository="sftp:backup@Backup.example.net:/srv/restic/acme",
    password={"env": "ACME_RESTIC_PASSWORD"},
    ssh_key={"file": "secrets/acme-backup.key"},
    host_key=HOST_KEY,
    port=2222,
)
SECRETS = {
    "file:secrets/acme-restic.pass": PASSWORD,
    "env:ACME_RESTIC_PASSWORD": PASSWORD,
    "file:secrets/acme-backup.key": KEY,
}
CONTEXT = Context(secrets=SECRETS)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def written(data: bytes, mode: str) -> FileActual:
    return FileActual("file", mode.lstrip("0"), "root", "root", len(data), sha(data))


def in_sync(spec: BackupSpec, **changes: Any) -> BackupActual:
    """A host where the job is exactly as declared; `changes` replace fields."""
    files = {name: FileActual("absent", existing="/") for name, _ in b.probed_paths(spec)}
    for job_file in b.job_files(spec):
        content = job_file.content
        if job_file.secret is not None:
            content = b.secret_content(job_file.secret, CONTEXT, key=job_file.id == "ssh_key")
        assert content is not None
        files[job_file.id] = written(content, job_file.mode)
    files["checked"] = written(b"1732849200", "0600")
    actual = BackupActual(
        now=NOW,
        restic="restic 0.14.0 compiled with go1.19.8 on linux/amd64",
        folders=dict.fromkeys(b.FOLDERS, "0700 root root"),
        files=files,
        timer={"LoadState": "loaded", "UnitFileState": "enabled", "ActiveState": "active"},
        service={
            "LoadState": "loaded",
            "ActiveState": "inactive",
            "Result": "success",
            "ExecMainStatus": "0",
        },
        errors=(),
        repository=RepoState("ok", newest=NOW - 3600),
        checked=NOW - 3600,
    )
    return replace(actual, **changes)


def fresh_host(spec: BackupSpec) -> BackupActual:
    """A host where nothing of the job exists, restic included."""
    absent = {name: FileActual("absent", existing="/etc") for name, _ in b.probed_paths(spec)}
    return in_sync(
        spec,
        restic=None,
        folders=dict.fromkeys(b.FOLDERS, "absent"),
        files=absent,
        timer={"LoadState": "not-found", "UnitFileState": "", "ActiveState": "inactive"},
        service={"LoadState": "not-found", "ActiveState": "inactive", "Result": "success"},
        repository=RepoState("skipped"),
        checked=None,
    )


def ops(changes: list[Change]) -> list[str]:
    return [c.op for c in changes]


def field(change: Change, name: str) -> Any:
    return {f.name: f for f in change.fields}[name]


def assert_no_secret(changes: list[Change]) -> None:
    """Neither a secret nor its hash anywhere a change is shown or recorded."""
    shown = repr(changes) + json.dumps([change_json(c) for c in changes], default=str)
    shown += "".join("".join(change_lines(c)) for c in changes)
    for secret in (PASSWORD, KEY):
        for text in (secret.decode(), sha(secret), sha(secret + b"\n")):
            assert text not in shown
    assert "UNIQUE" not in shown


# -- validation ---------------------------------------------------------------------


def spec_with(base: BackupSpec, **changes: Any) -> BackupSpec:
    data = base.model_dump(exclude_unset=True)
    data.update(changes)
    for name in [k for k, v in changes.items() if v is None]:
        del data[name]
    return BackupSpec(**data)


@pytest.mark.parametrize("missing", ["ssh_key", "host_key"])
def test_an_sftp_repository_needs_its_ssh_key_and_host_key(missing: str) -> None:
    with pytest.raises(ValidationError, match=f"an sftp repository needs {missing}"):
        spec_with(SFTP, **{missing: None})


@pytest.mark.parametrize(
    "extra",
    [
        {"ssh_key": {"env": "KEY"}},
        {"host_key": HOST_KEY},
        {"port": 2222},
    ],
)
def test_a_local_repository_takes_no_ssh_settings(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="only an sftp repository takes"):
        spec_with(LOCAL, **extra)


@pytest.mark.parametrize(
    "host_key",
    [
        HOST_KEY + " root@backup",  # a comment
        HOST_KEY + "\n",
        HOST_KEY.replace(" ", "  "),
        " " + HOST_KEY,
        'command="reboot" ' + HOST_KEY,  # authorized_keys options
        "@cert-authority * " + HOST_KEY,
        "ssh-ed25519 AAAA$(reboot)",
        "ssh-ed25519 AAAA`id`",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI;rm -rf /",
        "ssh-ed25519",
        "ssh-dss " + HOST_KEY.split()[1],
        "ssh-rsa " + HOST_KEY.split()[1],  # the blob says ssh-ed25519
        "ssh-ed25519 AAAAB3NzaC1yc2E",  # not base64 of a whole key
        "ssh-ed25519 " + key_line(body=b"").split()[1][:-4],
    ],
)
def test_a_hostile_or_malformed_host_key_is_refused(host_key: str) -> None:
    with pytest.raises(ValidationError, match="host_key is not an SSH public key line"):
        spec_with(SFTP, host_key=host_key)


@pytest.mark.parametrize(
    "kind",
    ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp521", "ssh-rsa"],
)
def test_host_keys_of_every_usual_type_are_taken(kind: str) -> None:
    assert spec_with(SFTP, host_key=key_line(kind, b"\x02" * 65)).host_key is not None


def test_a_real_host_key_line_is_taken(tmp_path: Path) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.fail("ssh-keygen is not installed")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True
    )
    line = " ".join((tmp_path / "k.pub").read_text().split()[:2])
    assert spec_with(SFTP, host_key=line).host_key == line


def test_a_repository_host_starting_like_an_option_is_refused() -> None:
    with pytest.raises(ValidationError, match="must start with a letter or a digit"):
        spec_with(SFTP, repository="sftp:backup@-oProxyCommand:/srv")


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_the_port_is_a_tcp_port(port: int) -> None:
    with pytest.raises(ValidationError):
        spec_with(SFTP, port=port)


def test_durations_read_as_seconds() -> None:
    assert [b.seconds(d) for d in ("90s", "15m", "26h", "7d", "2w")] == [
        90,
        900,
        93600,
        604800,
        1209600,
    ]


def test_the_kind_names_its_secret_files_as_secret_references() -> None:
    assert [(r.key, r.path, r.secret) for r in b.references(SFTP)] == [
        ("ssh_key.file", "secrets/acme-backup.key", True)
    ]
    assert [(r.key, r.secret) for r in b.references(LOCAL)] == [("password.file", True)]
    assert [b.secret_key(r) for r in b.secrets(SFTP)] == [
        "env:ACME_RESTIC_PASSWORD",
        "file:secrets/acme-backup.key",
    ]
    assert b.KIND.verbs == ("configure", "init", "run", "check", "remove")


# -- classify: restic 0.14's messages, as captured ---------------------------------

NOT_INITIALISED_LOCAL = [
    "Fatal: unable to open config file: stat /mnt/backup/restic/config: no such file or directory",
    "Is there a repository at the following location?",
    "/mnt/backup/restic",
]
NOT_INITIALISED_SFTP = [
    "Fatal: unable to open config file: Lstat: file does not exist",
    "Is there a repository at the following location?",
    "sftp:backup@backup.example.net:/srv/restic/acme",
]
WRONG_PASSWORD = ["Fatal: wrong password or no key found"]
LOCKED = [
    "unable to create lock in backend: repository is already locked exclusively by PID "
    "25710 on vm by root (UID 0, GID 0)",
    "lock was created at 2024-11-29 03:57:22 (541.493665ms ago)",
    "storage ID e3ae42f2",
    "the `unlock` command can be used to remove stale locks",
]
REFUSED = [
    "subprocess ssh: ssh: connect to host 127.0.0.1 port 2: Connection refused",
    "Fatal: unable to open repository at sftp:backup@127.0.0.1:/srv/x: unable to start "
    "the sftp session, error: EOF",
]
NO_DNS = [
    "subprocess ssh: ssh: Could not resolve hostname nonexistent.invalid: Name or service "
    "not known",
    "Fatal: unable to open repository at sftp:u@nonexistent.invalid:/srv/x: unable to "
    "start the sftp session, error: EOF",
]
HOST_KEY_CHANGED = [
    "subprocess ssh: @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
    "subprocess ssh: @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
    "subprocess ssh: Host key for [127.0.0.1]:2222 has changed and you have requested "
    "strict checking.",
    "subprocess ssh: Host key verification failed.",
    "Fatal: unable to open repository at sftp:rbk@127.0.0.1:/home/rbk/repo: unable to "
    "start the sftp session, error: EOF",
]
HOST_KEY_UNKNOWN = [
    "subprocess ssh: No ED25519 host key is known for [127.0.0.1]:2222 and you have "
    "requested strict checking.",
    "subprocess ssh: Host key verification failed.",
    "Fatal: unable to open repository at sftp:rbk@127.0.0.1:/home/rbk/repo: unable to "
    "start the sftp session, error: EOF",
]
KEY_REFUSED = [
    "subprocess ssh: rbk@127.0.0.1: Permission denied (publickey,keyboard-interactive).",
    "Fatal: unable to open repository at sftp:rbk@127.0.0.1:/home/rbk/repo: unable to "
    "start the sftp session, error: EOF",
]
# ssh's own line may be lost (restic exits before passing it on): still unreachable.
SFTP_EOF = [
    "Fatal: unable to open repository at sftp:rbk@127.0.0.1:/home/rbk/repo: unable to "
    "start the sftp session, error: EOF"
]
NO_SPACE = [
    "no parent snapshot found, will read all files",
    "Fatal: unable to save snapshot: write small/repo/data/5d/5d3bb269cd26-tmp-2103529820: "
    "no space left on device",
]
EXISTS = ["Fatal: create repository at /tmp/bk/repo failed: config file already exists"]
NOT_A_FOLDER = [
    "Fatal: unable to open repository at /tmp/bk/afile/x: ReadDir: open "
    "/tmp/bk/afile/x/keys: not a directory"
]
CORRUPT = [
    "  decrypting blob 791ca229 failed: ciphertext verification failed",
    "Pack ID does not match, want 839d18f5, got 5c0710e8",
    "Fatal: repository contains errors",
]


@pytest.mark.parametrize(
    ("lines", "status", "kind", "words"),
    [
        (NOT_INITIALISED_LOCAL, 1, "missing", "not initialised"),
        (NOT_INITIALISED_SFTP, 1, "missing", "not initialised"),
        (WRONG_PASSWORD, 1, "wrong-password", "wrong password or no key found"),
        (LOCKED, 1, "locked", "locked exclusively by PID 25710"),
        (REFUSED, 1, "unreachable", "port 2: Connection refused"),
        (NO_DNS, 1, "unreachable", "Could not resolve hostname"),
        (HOST_KEY_CHANGED, 1, "host-key", "Host key verification failed"),
        (HOST_KEY_UNKNOWN, 1, "host-key", "Host key verification failed"),
        (KEY_REFUSED, 1, "ssh-key", "refuses the ssh key"),
        (SFTP_EOF, 1, "unreachable", "ssh could not open an sftp session"),
        (NO_SPACE, 1, "no-space", "no space left on device: unable to save snapshot: write"),
        (EXISTS, 1, "exists", "does not overwrite"),
        (NOT_A_FOLDER, 1, "other", "keys: not a directory"),
        (CORRUPT, 1, "corrupt", "found errors"),
        (["sh: 1: restic: not found"], 127, "not-installed", "not installed"),
        ([], 124, "timeout", "did not answer within 20 s"),
        (["Fatal: something new", "and more"], 1, "other", "something new"),
        ([], 1, "other", "restic failed (exit status 1) with no error output"),
    ],
)
def test_restic_failures_are_told_apart(
    lines: list[str], status: int, kind: str, words: str
) -> None:
    problem = b.classify(lines, status)
    assert problem.kind == kind
    assert words in problem.message


def test_a_missing_config_that_is_not_a_missing_file_is_no_missing_repository() -> None:
    """Permission denied on the config: a repository may be there; never 'missing'."""
    lines = [
        "Fatal: unable to open config file: stat /srv/r/config: permission denied",
        "Is there a repository at the following location?",
    ]
    assert b.classify(lines, 1).kind == "other"


def test_the_shell_classification_says_what_the_python_one_says() -> None:
    samples = [
        NOT_INITIALISED_LOCAL,
        NOT_INITIALISED_SFTP,
        WRONG_PASSWORD,
        LOCKED,
        REFUSED,
        HOST_KEY_CHANGED,
        KEY_REFUSED,
        SFTP_EOF,
        NO_SPACE,
        EXISTS,
        CORRUPT,
        ["Fatal: something new"],
    ]
    for lines in samples:
        result = subprocess.run(
            ["sh", "-c", b.shell_classify() + 'tendr_classify "$1"', "sh", "\n".join(lines)],
            capture_output=True,
            text=True,
            check=True,
        )
        kind, _, message = result.stdout.rstrip("\n").partition("\t")
        expected = b.classify(lines, 1)
        assert (kind, message) == (expected.kind, expected.message)


# -- parse --------------------------------------------------------------------------

HEAD = [
    "@systemd",
    "@restic\trestic 0.14.0 compiled with go1.19.8 on linux/amd64",
    f"@now\t{NOW}",
    "@dir\t/etc/tendr/backup\t700\troot\troot",
    "@dir\t/var/lib/tendr-backup\t755\troot\troot",
]
SNAPSHOTS = (
    '[{"time":"2024-11-29T03:00:04.420886125+01:00","tree":"2cf55bcad5a7",'
    '"paths":["/srv/share"],"hostname":"fs01","username":"root","tags":["tendr-documents"],'
    '"id":"ab6aa2323d5c","short_id":"ab6aa232"},'
    '{"time":"2024-11-28T03:00:00Z","tree":"820979f409d7","paths":["/srv/a b"],'
    '"hostname":"fs01","username":"root","tags":["tendr-documents"],'
    '"id":"a7fdc718","short_id":"a7fdc718"}]'
)
REPO_ID = "5157b33fe5a530e37c66898d8aeb7fd615e73a0577c868e46019f36ca989f011"
FILES = [
    "file\t600\troot\troot\t38\t" + sha(PASSWORD),
    "absent\t/etc/tendr/backup",
    "absent\t/etc/tendr/backup",
    "file\t755\troot\troot\t1300\t" + "ab" * 32,
    "file\t644\troot\troot\t479\t" + "cd" * 32,
    "file\t644\troot\troot\t203\t" + "ef" * 32,
    "file\t600\troot\troot\t11\t" + "01" * 32,
]
FAILED_SERVICE = [
    "@service\tLoadState=loaded",
    "@service\tActiveState=failed",
    "@service\tResult=exit-code",
    "@service\tExecMainStatus=1",
    "@service\tExecMainExitTimestamp=Fri 2024-11-29 03:00:05 CET",
    "@service\tInvocationID=0123456789abcdef0123456789abcdef",
    "@error\tFatal: unable to save snapshot: write /mnt/backup/restic/data/5d/x: "
    "no space left on device",
]


def job(*lines: str, name: str = "documents", files: list[str] = FILES) -> list[str]:
    return [
        f"@job\t{name}",
        "@files",
        *files,
        "@timer\tLoadState=loaded",
        "@timer\tUnitFileState=enabled",
        "@timer\tActiveState=active",
        *lines,
    ]


def test_parse_reads_the_units_the_repository_and_the_last_check() -> None:
    lines = HEAD + job(
        *FAILED_SERVICE, "@repo\t0", f"@out\t{SNAPSHOTS}", f"@id\t{REPO_ID}", "@checked\t1732000000"
    )
    found = b.parse([LOCAL], lines)["documents"]
    assert isinstance(found, BackupActual)
    assert found.now == NOW and found.restic is not None and "0.14.0" in found.restic
    assert found.folders == {
        "/etc/tendr/backup": "0700 root root",
        "/var/lib/tendr-backup": "0755 root root",
    }
    assert found.files["password"].sha256 == sha(PASSWORD)
    assert found.files["ssh_key"].type == "absent"
    assert found.files["checked"].type == "file"
    assert found.timer["UnitFileState"] == "enabled"
    assert found.service["Result"] == "exit-code"
    assert found.errors == (
        "Fatal: unable to save snapshot: write /mnt/backup/restic/data/5d/x: "
        "no space left on device",
    )
    # The newest of the job's snapshots, whatever its offset; how many; restic's id.
    assert found.repository == RepoState("ok", newest=1732845604, snapshots=2, id=REPO_ID)
    assert found.checked == 1732000000 and not found.checked_unreadable


@pytest.mark.parametrize(
    ("repo", "status", "kind"),
    [
        (["@repo\tskipped"], "skipped", None),
        (["@repo\t0", "@out\t[]"], "ok", None),
        (["@repo\t1", *(f"@out\t{line}" for line in NOT_INITIALISED_SFTP)], "missing", "missing"),
        (["@repo\t1", *(f"@out\t{line}" for line in WRONG_PASSWORD)], "error", "wrong-password"),
        (["@repo\t1", *(f"@out\t{line}" for line in HOST_KEY_CHANGED)], "error", "host-key"),
        (["@repo\t124"], "error", "timeout"),
        (["@repo\t0", "@out\tnot json"], "error", "other"),
        (["@repo\t0", '@out\t[{"time": "yesterday"}]'], "error", "other"),
        (["@repo\t0", "@out\t" + "[" * 5000], "error", "other"),
        ([], "error", "other"),
    ],
)
def test_parse_classifies_the_repository(repo: list[str], status: str, kind: str | None) -> None:
    found = b.parse([LOCAL], HEAD + job(*repo))["documents"]
    assert isinstance(found, BackupActual)
    assert found.repository.status == status
    assert (found.repository.problem.kind if found.repository.problem else None) == kind


def test_parse_reads_the_repositorys_locks() -> None:
    locks = [
        '@lock\t{  "time": "2024-11-29T04:06:59.447231605Z",  "exclusive": true,  '
        '"hostname": "fs02",  "username": "root",  "pid": 12435}',
        '@lock\t{"time": "2024-11-29T04:07:00Z", "exclusive": false, "hostname": "fs01", "pid": 7}',
        "@lock\t",  # gone between the listing and its reading
    ]
    found = b.parse([LOCAL], HEAD + job("@repo\t0", "@out\t[]", *locks))["documents"]
    assert isinstance(found, BackupActual)
    assert found.repository.locks == (
        Lock(True, "fs02", 12435, "2024-11-29T04:06:59.447231605Z"),
        Lock(False, "fs01", 7, "2024-11-29T04:07:00Z"),
    )


def test_parse_without_systemd_or_without_a_report_is_unreadable() -> None:
    no_systemd = ["@nosystemd", *HEAD[1:], *job("@repo\tskipped")]
    assert "systemd is not running" in str(b.parse([LOCAL], no_systemd)["documents"])
    assert "did not report on backup documents" in str(b.parse([LOCAL], HEAD)["documents"])
    assert "incomplete" in str(b.parse([LOCAL], HEAD[:2] + job())["documents"])


def test_parse_takes_a_malformed_file_line_or_check_time_as_unreadable() -> None:
    files = ["file\t600\troot\troot\t²\tab", "garbage"]
    found = b.parse([LOCAL], HEAD + job("@repo\tskipped", "@checked\tyesterday", files=files))
    actual = found["documents"]
    assert isinstance(actual, BackupActual)
    assert actual.files["password"].type == "unreadable"
    assert actual.files["ssh_key"].type == "unreadable"
    assert actual.files["timer_unit"].type == "unreadable"  # missing lines
    assert actual.checked is None and actual.checked_unreadable


def test_parse_keeps_each_job_apart() -> None:
    other = spec_with(LOCAL, name="mail")
    lines = HEAD + job("@repo\t0", "@out\t[]", name="mail") + job("@repo\tskipped")
    found = b.parse([LOCAL, other], lines)
    assert isinstance(found["mail"], BackupActual) and isinstance(found["documents"], BackupActual)
    assert found["mail"].repository.status == "ok"
    assert found["documents"].repository.status == "skipped"


tags = st.sampled_from(
    ["@job\tdocuments", "@files", "@repo\t", "@out\t", "@lock\t", "@checked\t", "@now\t", "@"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.tuples(tags, st.text(max_size=30)))))
def test_parse_and_diff_never_raise_on_any_output(raw: list[Any]) -> None:
    lines = HEAD + [x if isinstance(x, str) else x[0] + x[1] for x in raw]
    for line in ("\n".join(lines)).splitlines() or [""]:
        assert isinstance(line, str)
    found = b.parse([LOCAL, SFTP], lines)
    for spec in (LOCAL, SFTP):
        changes = b.diff(spec, found[spec.key], CONTEXT)
        assert_no_secret(changes)


# -- diff ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [LOCAL, SFTP])
def test_a_job_as_declared_is_in_sync(spec: BackupSpec) -> None:
    assert b.diff(spec, in_sync(spec), CONTEXT) == []


def test_a_fresh_host_gets_restic_the_files_the_repository_a_run_and_a_check() -> None:
    changes = b.diff(LOCAL, fresh_host(LOCAL), CONTEXT)
    assert ops(changes) == ["backup.configure", "backup.init", "backup.run", "backup.check"]
    configure, init, run, check = changes
    assert configure.action == "add"
    assert field(configure, "restic").after == "installed"
    assert field(configure, "password").before is None
    assert field(configure, "password").after == HIDDEN
    assert field(configure, "timer").after == "enabled, active"
    assert init.action == "add" and init.needs == ("backup.configure documents",)
    assert init.note.startswith(
        "not read yet: restic is installed and the password file is written first; restic init"
    )
    assert field(run, "newest_snapshot").before == "not known yet"
    assert run.needs == ("backup.init documents",)
    assert field(check, "last_check").before == "never"
    assert_no_secret(changes)


def test_a_repository_not_read_says_what_configure_brings_first() -> None:
    no_restic = in_sync(LOCAL, restic=None, repository=RepoState("skipped"))
    init = b.diff(LOCAL, no_restic, CONTEXT)[1]
    assert init.needs == ("backup.configure documents",)
    assert init.note.startswith("not read yet: restic is installed first;")
    files = {**in_sync(SFTP).files, "ssh_key": FileActual("absent", existing="/etc")}
    no_key = in_sync(SFTP, files=files, repository=RepoState("skipped"))
    init = b.diff(SFTP, no_key, CONTEXT)[1]
    assert init.needs == ("backup.configure offsite",)
    assert init.note.startswith("not read yet: the ssh key and host key files are written first")


def test_a_password_that_differs_only_differs() -> None:
    stale = written(b"old password", "0600")
    changes = b.diff(
        LOCAL, in_sync(LOCAL, files={**in_sync(LOCAL).files, "password": stale}), CONTEXT
    )
    assert ops(changes) == ["backup.configure"]
    password = field(changes[0], "password")
    assert password.before == HIDDEN and password.after == HIDDEN
    assert "password: differs" in "".join(change_lines(changes[0]))
    assert_no_secret(changes)


def test_a_password_file_readable_by_others_is_made_root_only() -> None:
    files = {**in_sync(LOCAL).files, "password": written(PASSWORD, "0644")}
    changes = b.diff(LOCAL, in_sync(LOCAL, files=files), CONTEXT)
    assert [(f.name, f.before, f.after) for f in changes[0].fields] == [
        ("password_mode", "0644", "0600")
    ]


def test_a_secret_not_provided_is_unknown_not_a_crash() -> None:
    changes = b.diff(SFTP, in_sync(SFTP), Context())
    assert ops(changes) == ["backup.configure"]
    assert field(changes[0], "password").after == "unknown"
    assert field(changes[0], "ssh_key").after == "unknown"
    assert "$ACME_RESTIC_PASSWORD" in changes[0].note
    assert "file secrets/acme-backup.key" in changes[0].note


def test_a_disabled_or_stopped_timer_is_configured() -> None:
    timer = {"LoadState": "loaded", "UnitFileState": "disabled", "ActiveState": "inactive"}
    changes = b.diff(LOCAL, in_sync(LOCAL, timer=timer), CONTEXT)
    assert [(f.name, f.before, f.after) for f in changes[0].fields] == [
        ("timer", "disabled, inactive", "enabled, active")
    ]


def test_a_changed_unit_and_script_show_their_hashes_and_a_folder_its_mode() -> None:
    files = {**in_sync(LOCAL).files, "timer_unit": written(b"[Timer]\n", "0644")}
    folders = {**in_sync(LOCAL).folders, "/var/lib/tendr-backup": "0755 root root"}
    changes = b.diff(LOCAL, in_sync(LOCAL, files=files, folders=folders), CONTEXT)
    names = [f.name for f in changes[0].fields]
    assert names == ["state_folder", "timer_unit_content"]
    assert field(changes[0], "timer_unit_content").before["size"] == 8


def test_ssh_files_left_from_an_sftp_repository_are_removed() -> None:
    files = {**in_sync(LOCAL).files, "ssh_key": written(KEY, "0600")}
    changes = b.diff(LOCAL, in_sync(LOCAL, files=files), CONTEXT)
    assert field(changes[0], "stale_files").before == ["/etc/tendr/backup/documents.key"]


def test_a_missing_repository_is_initialised() -> None:
    missing = RepoState("missing", b.classify(NOT_INITIALISED_LOCAL, 1))
    changes = b.diff(LOCAL, in_sync(LOCAL, repository=missing), CONTEXT)
    assert ops(changes) == ["backup.init", "backup.run"]
    assert changes[0].action == "add" and changes[0].needs == ()
    assert field(changes[0], "repository").before == "not initialised"
    assert field(changes[1], "newest_snapshot").before == "none"


# -- a repository seen before and missing now; a disk not mounted

SEEN = {
    "backup:documents": {
        "repository": "/mnt/backup/restic",
        "id": REPO_ID,
        "snapshots": 14,
        "newest": 1796097600,  # 2026-12-01 04:00 UTC
    }
}
MISSING = RepoState("missing", b.classify(NOT_INITIALISED_LOCAL, 1))


def test_a_repository_seen_before_and_missing_now_is_unknown_and_never_initialised() -> None:
    context = replace(CONTEXT, seen=SEEN)
    changes = b.diff(LOCAL, in_sync(LOCAL, repository=MISSING), context)
    assert [(c.op, c.action) for c in changes] == [("backup.read", "unknown")]
    assert changes[0].note == (
        "/mnt/backup/restic: repository missing: it held 14 snapshots, newest 2026-12-01 "
        "04:00 UTC; is its disk mounted? (to start a new, empty one instead: tendr do "
        "backup.init documents)"
    )


def test_a_repository_never_seen_or_seen_elsewhere_is_initialised_when_missing() -> None:
    moved = {"backup:documents": {**SEEN["backup:documents"], "repository": "/srv/old"}}
    other_job = {"backup:mail": SEEN["backup:documents"]}
    for seen in ({}, moved, other_job):
        changes = b.diff(LOCAL, in_sync(LOCAL, repository=MISSING), replace(CONTEXT, seen=seen))
        assert ops(changes) == ["backup.init", "backup.run"], seen


def test_a_repository_seen_before_and_not_read_yet_is_not_initialised() -> None:
    """Its password file gone: configure writes it, and nothing makes a repository on a
    guess; the run that follows reads it (and fails there when it is gone)."""
    files = {**in_sync(LOCAL).files, "password": FileActual("absent", existing="/etc")}
    actual = in_sync(LOCAL, repository=RepoState("skipped"), files=files)
    changes = b.diff(LOCAL, actual, replace(CONTEXT, seen=SEEN))
    assert ops(changes) == ["backup.configure", "backup.run"]
    assert ops(b.diff(LOCAL, actual, CONTEXT)) == [
        "backup.configure",
        "backup.init",
        "backup.run",
    ]


def test_what_a_plan_remembers_is_what_it_read_of_an_opened_repository() -> None:
    opened = RepoState("ok", newest=NOW - 60, snapshots=3, id=REPO_ID)
    assert b.remember(LOCAL, in_sync(LOCAL, repository=opened)) == {
        "repository": "/mnt/backup/restic",
        "id": REPO_ID,
        "snapshots": 3,
        "newest": NOW - 60,
    }
    for repo in (MISSING, RepoState("skipped"), RepoState("error", b.classify(WRONG_PASSWORD))):
        assert b.remember(LOCAL, in_sync(LOCAL, repository=repo)) is None
    assert b.remember(LOCAL, Unreadable("no report")) is None


def test_held_says_what_the_repository_held() -> None:
    assert b.held({"snapshots": 1, "newest": NOW}) == "1 snapshot, newest 2024-11-29 04:00 UTC"
    assert b.held({"snapshots": 0, "newest": None}) == "no snapshot yet"
    assert b.held({}) == "snapshots not counted"


MOUNTED = spec_with(LOCAL, mount="/mnt/backup")


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("32", "/mnt/backup is not mounted: the repository at /mnt/backup/restic cannot be"),
        ("1", "/mnt/backup is not mounted"),
        ("127", "whether /mnt/backup is mounted cannot be told: mountpoint (util-linux)"),
    ],
)
def test_a_job_whose_mount_is_not_mounted_writes_nothing(status: str, words: str) -> None:
    for actual in (in_sync(MOUNTED, mount=status), fresh_host(MOUNTED)):
        actual = replace(actual, mount=status)
        changes = b.diff(MOUNTED, actual, CONTEXT)
        assert [(c.op, c.action) for c in changes] == [("backup.read", "unknown")]
        assert words in changes[0].note
        assert "nothing is written for the job" in changes[0].note


def test_a_job_whose_mount_is_mounted_is_planned_as_any() -> None:
    assert b.diff(MOUNTED, in_sync(MOUNTED, mount="0"), CONTEXT) == []
    assert ops(b.diff(MOUNTED, replace(fresh_host(MOUNTED), mount="0"), CONTEXT)) == [
        "backup.configure",
        "backup.init",
        "backup.run",
        "backup.check",
    ]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"mount": "mnt"}, "absolute"),
        ({"mount": "/mnt/other"}, "is not under mount /mnt/other"),
        ({"mount": "/mnt/back"}, "is not under mount /mnt/back"),
    ],
)
def test_a_mount_must_hold_the_local_repository(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        spec_with(LOCAL, **changes)
    with pytest.raises(ValidationError, match="mount: only a local repository takes it"):
        spec_with(SFTP, mount="/mnt/backup")
    assert spec_with(LOCAL, mount="/").mount == "/"


def test_the_job_script_of_a_job_with_a_mount_runs_only_on_it() -> None:
    text = b.script(MOUNTED)
    assert "mountpoint -q -- /mnt/backup || { echo '<3>tendr: /mnt/backup is not mounted" in text
    assert "mountpoint" not in b.script(LOCAL)


def test_an_uninitialised_repository_behind_files_still_to_write_waits_for_them() -> None:
    missing = RepoState("missing", b.classify(NOT_INITIALISED_SFTP, 1))
    files = {**in_sync(SFTP).files, "known_hosts": FileActual("absent", existing="/etc")}
    changes = b.diff(SFTP, in_sync(SFTP, repository=missing, files=files), CONTEXT)
    assert ops(changes)[:2] == ["backup.configure", "backup.init"]
    assert changes[1].needs == ("backup.configure offsite",)


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (WRONG_PASSWORD, "the repository refuses the password: wrong password or no key found"),
        (LOCKED, "the repository is locked"),
        (REFUSED, "unreachable: connect to host 127.0.0.1 port 2: Connection refused"),
        (HOST_KEY_CHANGED, "is not the declared host_key"),
        (KEY_REFUSED, "refuses the ssh key"),
        (NOT_A_FOLDER, "keys: not a directory"),
        ([], "did not answer within 20 s"),
    ],
)
def test_a_repository_that_does_not_open_is_never_initialised(lines: list[str], words: str) -> None:
    problem = b.classify(lines, 124 if not lines else 1)
    actual = in_sync(LOCAL, repository=RepoState("error", problem), checked=None)
    changes = b.diff(LOCAL, actual, CONTEXT)
    assert ops(changes) == ["backup.read"]
    assert changes[0].action == "unknown"
    assert words in changes[0].note
    assert "/mnt/backup/restic" in changes[0].note


def test_an_unopened_repository_with_a_password_to_rewrite_says_to_plan_again() -> None:
    files = {**in_sync(LOCAL).files, "password": written(b"old", "0600")}
    problem = b.classify(WRONG_PASSWORD, 1)
    actual = in_sync(LOCAL, repository=RepoState("error", problem), files=files)
    changes = b.diff(LOCAL, actual, CONTEXT)
    assert ops(changes) == ["backup.configure", "backup.read"]
    assert "password differs from the workspace's: plan again once" in changes[1].note


def test_an_exclusive_lock_is_unknown_and_a_shared_one_is_nothing() -> None:
    exclusive = Lock(True, "fs02", 4242, "2024-11-29T01:00:00Z")
    shared = Lock(False, "fs01", 7, "2024-11-29T04:00:00Z")
    locked = in_sync(LOCAL, repository=RepoState("ok", newest=NOW, locks=(shared, exclusive)))
    changes = b.diff(LOCAL, locked, CONTEXT)
    assert ops(changes) == ["backup.read"]
    assert "locked exclusively by PID 4242 on fs02" in changes[0].note
    assert "restic unlock" in changes[0].note
    busy = in_sync(LOCAL, repository=RepoState("ok", newest=NOW, locks=(shared,)))
    assert b.diff(LOCAL, busy, CONTEXT) == []


def test_a_snapshot_older_than_max_age_or_none_is_a_run() -> None:
    old = in_sync(LOCAL, repository=RepoState("ok", newest=NOW - 27 * 3600))
    (run,) = b.diff(LOCAL, old, CONTEXT)
    assert run.op == "backup.run" and run.action == "change"
    assert field(run, "newest_snapshot").before == "2024-11-28 01:00 UTC (1d 3h ago), over 26h"
    assert field(run, "newest_snapshot").after == "now"
    none = in_sync(LOCAL, repository=RepoState("ok", newest=None))
    assert field(b.diff(LOCAL, none, CONTEXT)[0], "newest_snapshot").before == "none"
    recent = in_sync(LOCAL, repository=RepoState("ok", newest=NOW - 25 * 3600))
    assert b.diff(LOCAL, recent, CONTEXT) == []
    # Without max_age, only a job with no snapshot at all is run.
    assert b.diff(spec_with(LOCAL, max_age=None), old, CONTEXT) == []


def test_a_failed_last_run_is_run_again_with_its_reason() -> None:
    failed = {
        "LoadState": "loaded",
        "ActiveState": "failed",
        "Result": "exit-code",
        "ExecMainStatus": "1",
        "ExecMainExitTimestamp": "Fri 2024-11-29 03:00:05 CET",
    }
    errors = ("Fatal: unable to save snapshot: write /mnt/backup/x: no space left on device",)
    (run,) = b.diff(LOCAL, in_sync(LOCAL, service=failed, errors=errors), CONTEXT)
    assert run.op == "backup.run"
    assert field(run, "last_run").before == "failed"
    assert run.note.startswith(
        "the last run failed at Fri 2024-11-29 03:00:05 CET (exit status 1): no space left "
        "on device: unable to save snapshot: write /mnt/backup/x"
    )
    unreadable = {**failed, "ExecMainStatus": "3"}
    (run,) = b.diff(LOCAL, in_sync(LOCAL, service=unreadable), CONTEXT)
    assert "some source files could not be read" in run.note


def test_a_secret_in_a_journal_line_is_taken_out_of_the_plan() -> None:
    failed = {"LoadState": "loaded", "ActiveState": "failed", "Result": "exit-code"}
    errors = (f"Fatal: odd: {PASSWORD.decode()}",)
    changes = b.diff(LOCAL, in_sync(LOCAL, service=failed, errors=errors), CONTEXT)
    assert "odd: ***" in changes[0].note
    assert_no_secret(changes)
    problem = b.classify([f"Fatal: odd {PASSWORD.decode()}"], 1)
    changes = b.diff(LOCAL, in_sync(LOCAL, repository=RepoState("error", problem)), CONTEXT)
    assert "odd ***" in changes[0].note
    assert_no_secret(changes)


def test_a_check_never_made_or_too_old_is_planned() -> None:
    (never,) = b.diff(LOCAL, in_sync(LOCAL, checked=None), CONTEXT)
    assert never.op == "backup.check" and field(never, "last_check").before == "never"
    (old,) = b.diff(LOCAL, in_sync(LOCAL, checked=NOW - 8 * 86400), CONTEXT)
    assert field(old, "last_check").before == "2024-11-21 04:00 UTC (8d 0h ago), over 7d"
    bad = in_sync(LOCAL, checked=None, checked_unreadable=True)
    assert field(b.diff(LOCAL, bad, CONTEXT)[0], "last_check").before == "unreadable"
    assert b.diff(spec_with(LOCAL, check_every=None), in_sync(LOCAL, checked=None), CONTEXT) == []


def test_a_job_not_wanted_is_removed_and_its_repository_left_alone() -> None:
    gone = spec_with(LOCAL, present=False)
    (remove,) = b.diff(gone, in_sync(LOCAL), CONTEXT)
    assert remove.op == "backup.remove" and remove.action == "remove"
    assert "the repository at /mnt/backup/restic and its snapshots are left alone" in remove.note
    assert b.diff(gone, fresh_host(LOCAL), CONTEXT) == []


def test_an_unreadable_host_is_one_unknown_change() -> None:
    found = b.parse([LOCAL], ["@nosystemd"])["documents"]
    (change,) = b.diff(LOCAL, found, CONTEXT)
    assert change.op == "backup.read" and change.action == "unknown"


repo_states = st.sampled_from(
    [
        RepoState("ok", newest=NOW),
        RepoState("ok", newest=None, locks=(Lock(True, "h", 1, "t"),)),
        RepoState("ok", newest=NOW - 90 * 86400),
        RepoState("skipped"),
        RepoState("missing", b.classify(NOT_INITIALISED_LOCAL, 1)),
        *(
            RepoState("error", b.classify(lines, 1))
            for lines in (WRONG_PASSWORD, LOCKED, REFUSED, HOST_KEY_CHANGED, NOT_A_FOLDER, [])
        ),
    ]
)
file_states = st.sampled_from(
    [
        FileActual("absent", existing="/"),
        FileActual("unreadable"),
        FileActual("link"),
        written(PASSWORD, "0600"),
        written(b"other", "0644"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    spec=st.sampled_from([LOCAL, SFTP, spec_with(LOCAL, present=False)]),
    repository=repo_states,
    files=st.dictionaries(st.sampled_from([n for n, _ in b.probed_paths(LOCAL)]), file_states),
    restic=st.sampled_from([None, "restic 0.14.0"]),
    checked=st.sampled_from([None, NOW, 0]),
    secrets=st.sampled_from([SECRETS, {}]),
)
def test_the_plan_never_initialises_over_a_repository_that_did_not_open(
    spec: BackupSpec,
    repository: RepoState,
    files: dict[str, FileActual],
    restic: str | None,
    checked: int | None,
    secrets: dict[str, bytes],
) -> None:
    base = in_sync(spec if spec.present else LOCAL)
    actual = replace(
        base, repository=repository, files={**base.files, **files}, restic=restic, checked=checked
    )
    changes = b.diff(spec, actual, Context(secrets=secrets))
    assert_no_secret(changes)
    assert all(c.op in {f"backup.{v}" for v in (*b.KIND.verbs, "read")} for c in changes)
    if "backup.init" in ops(changes):
        assert repository.status in ("missing", "skipped")
    if repository.status == "error":
        assert not {"backup.init", "backup.run", "backup.check"} & set(ops(changes))
    for change in changes:
        assert "UNIQUE" not in repr(b.steps(spec, change, Context()))


# -- steps --------------------------------------------------------------------------


def runs(found: list[Step]) -> list[tuple[str, ...]]:
    return [s.argv for s in found if isinstance(s, Run)]


def test_configure_installs_restic_writes_the_files_and_starts_the_timer() -> None:
    (configure, *_) = b.diff(SFTP, fresh_host(SFTP), CONTEXT)
    found = b.steps(SFTP, configure, CONTEXT)
    argv = runs(found)
    assert "install" in argv[0][2] and "restic" in argv[0][2]  # apt, as package does
    assert argv[1][:2] == ("sh", "-c") and argv[1][-2:] == b.FOLDERS
    puts = [s for s in found if isinstance(s, Put)]
    assert [(p.path, p.mode, p.owner, p.group) for p in puts] == [
        ("/etc/tendr/backup/offsite.password", "0600", "root", "root"),
        ("/etc/tendr/backup/offsite.key", "0600", "root", "root"),
        ("/etc/tendr/backup/offsite.known_hosts", "0644", "root", "root"),
        ("/etc/tendr/backup/offsite.sh", "0755", "root", "root"),
        ("/etc/systemd/system/tendr-backup-offsite.service", "0644", "root", "root"),
        ("/etc/systemd/system/tendr-backup-offsite.timer", "0644", "root", "root"),
    ]
    assert puts[0].content == PASSWORD and puts[1].content == KEY
    assert puts[2].content == f"[backup.example.net]:2222 {HOST_KEY}\n".encode()
    assert argv[-2:] == [
        ("systemctl", "daemon-reload"),
        ("systemctl", "enable", "--now", "--quiet", "--", "tendr-backup-offsite.timer"),
    ]
    # The secrets are only ever a Put's content.
    assert PASSWORD.decode() not in repr(argv) and b"UNIQUE" not in repr(argv).encode()
    assert not any(PASSWORD in s.content for s in puts[2:])


def test_configure_writes_only_what_differs_and_restarts_a_changed_timer() -> None:
    files = {**in_sync(LOCAL).files, "timer_unit": written(b"[Timer]\n", "0644")}
    (configure,) = b.diff(LOCAL, in_sync(LOCAL, files=files), CONTEXT)
    found = b.steps(LOCAL, configure, Context())  # no secret needed: none is written
    assert [s.path for s in found if isinstance(s, Put)] == [
        "/etc/systemd/system/tendr-backup-documents.timer"
    ]
    assert runs(found)[-1] == ("systemctl", "restart", "--", "tendr-backup-documents.timer")


def test_configure_without_its_secret_fails_first_and_says_why() -> None:
    (configure, *_) = b.diff(LOCAL, fresh_host(LOCAL), Context())
    (step,) = b.steps(LOCAL, configure, Context())
    assert isinstance(step, Run)
    result = subprocess.run(step.argv, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == (
        "tendr: the password (file secrets/acme-restic.pass) was not available to tendr, "
        "so backup documents was not configured\n"
    )


def test_the_job_script_quotes_every_value() -> None:
    spec = spec_with(
        LOCAL,
        repository="/mnt/it's $(here) `x`",
        sources=["/srv/a b", "/srv/$(reboot)", "/srv/'q'"],
        excludes=["-rf", "*.tmp; reboot"],
    )
    text = b.script(spec)
    assert "export RESTIC_REPOSITORY='/mnt/it'\"'\"'s $(here) `x`'" in text
    assert "'/srv/$(reboot)'" in text and "'--exclude=*.tmp; reboot'" in text
    assert "--exclude=-rf" in text and "--keep-daily=7 --keep-weekly=4" in text
    result = subprocess.run(["sh", "-n", "-c", text], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("verb", "script"), [("init", b.INIT), ("check", b.CHECK_SCRIPT)])
def test_init_and_check_take_the_repository_as_arguments(verb: str, script: str) -> None:
    change = Change("backup", "offsite", f"backup.{verb}", "change")
    (step,) = b.steps(SFTP, change, CONTEXT)
    assert isinstance(step, Run)
    assert step.argv[:4] == ("sh", "-c", script, "sh")
    assert step.argv[4:7] == (
        "sftp:backup@Backup.example.net:/srv/restic/acme",
        "/etc/tendr/backup/offsite.password",
        "ssh -i /etc/tendr/backup/offsite.key -o IdentitiesOnly=yes -o BatchMode=yes "
        "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/tendr/backup/offsite."
        "known_hosts -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10 "
        "-o ServerAliveInterval=60 -p 2222 backup@Backup.example.net -s sftp",
    )
    assert PASSWORD.decode() not in repr(step)


def test_run_and_remove_name_the_units_and_never_the_repository() -> None:
    run = b.steps(LOCAL, Change("backup", "documents", "backup.run", "change"), CONTEXT)
    assert runs(run) == [("sh", "-c", b.RUN, "sh", "tendr-backup-documents")]
    remove = b.steps(LOCAL, Change("backup", "documents", "backup.remove", "remove"), CONTEXT)
    (argv,) = runs(remove)
    assert argv[4] == "tendr-backup-documents"
    assert "/etc/tendr/backup/documents.password" in argv
    assert "/var/lib/tendr-backup/documents.checked" in argv
    assert not any("/mnt/backup" in arg for arg in argv)


@pytest.mark.parametrize("script", [b.INIT, b.CHECK_SCRIPT, b.RUN, b.REMOVE, b.FOLDERS_SCRIPT])
def test_the_step_scripts_are_valid_shell(script: str) -> None:
    result = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@needs_root  # the script refuses folders an account other than root can change
def test_the_folders_script_changes_only_the_folders_it_is_given(tmp_path: Path) -> None:
    """chmod and chown stand in as logging functions: the script may touch nothing but
    its folders (safe_folders' own variables must not leak into its loop)."""
    log = tmp_path / "log"
    fake = f'chmod() {{ echo "chmod $*" >> {log}; }}; chown() {{ echo "chown $*" >> {log}; }}\n'
    targets = [str(tmp_path / "etc" / "backup"), str(tmp_path / "state")]
    result = subprocess.run(
        ["sh", "-c", fake + b.FOLDERS_SCRIPT, "sh", *targets], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        f"chown root:root -- {targets[0]}",
        f"chmod 0700 -- {targets[0]}",
        f"chown root:root -- {targets[1]}",
        f"chmod 0700 -- {targets[1]}",
    ]
    assert all(Path(t).is_dir() for t in targets)


@requires(shutil.which("systemd-analyze") is not None, "systemd-analyze is not installed")
def test_the_units_are_what_systemd_takes(tmp_path: Path) -> None:
    for spec in (LOCAL, spec_with(SFTP, schedule="Mon..Fri 02:30")):
        service = tmp_path / f"{b.unit_name(spec)}.service"
        timer = tmp_path / f"{b.unit_name(spec)}.timer"
        service.write_text(b.service_unit(spec))
        timer.write_text(b.timer_unit(spec))
        result = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", str(service), str(timer)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr


# -- for real, against local repositories --------------------------------------------


def relocated(text: str, root: Path) -> str:
    """A script with tendr's folders (and systemd's marker) moved under `root`."""
    return (
        text.replace(b.ETC_DIR, str(root / "etc"))
        .replace(b.STATE_DIR, str(root / "state"))
        .replace("/run/systemd/system", str(root / "run"))
    )


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A host's folders under tmp_path, a source tree, the password in place."""
    for name in ("etc", "state", "run", "bin", "src/sub"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "etc").chmod(0o700)
    (tmp_path / "state").chmod(0o700)
    (tmp_path / "src/a.txt").write_text("one\n")
    (tmp_path / "src/b.tmp").write_text("left out\n")
    (tmp_path / "src/sub/c.txt").write_text("two\n")
    (tmp_path / "etc/documents.password").write_bytes(PASSWORD)
    # systemd stand-ins: a failed last run, and its error line in the journal.
    (tmp_path / "bin/systemctl").write_text(
        '#!/bin/sh\ncase "$*" in\n*.timer*) printf \'LoadState=loaded\\nUnitFileState='
        "enabled\\nActiveState=active\\n' ;;\n*) printf 'LoadState=loaded\\nActiveState=failed"
        "\\nResult=exit-code\\nExecMainStatus=1\\nInvocationID=0123456789abcdef0123456789abcdef"
        "\\n' ;;\nesac\n"
    )
    (tmp_path / "bin/journalctl").write_text(
        '#!/bin/sh\n[ "$9" = "_SYSTEMD_INVOCATION_ID=0123456789abcdef0123456789abcdef" ] || '
        "exit 1\necho 'Fatal: unable to save snapshot: write /x: no space left on device'\n"
    )
    for name in ("systemctl", "journalctl"):
        (tmp_path / "bin" / name).chmod(0o755)
    return tmp_path


def local_spec(root: Path, **changes: Any) -> BackupSpec:
    return spec_with(
        LOCAL,
        repository=str(root / "the repo's place"),
        sources=[str(root / "src")],
        **changes,
    )


def shell(root: Path, argv: tuple[str, ...] | list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{root / 'bin'}:{os.environ['PATH']}"}
    env["RESTIC_CACHE_DIR"] = str(root / "cache")
    return subprocess.run(
        [relocated(a, root) for a in argv], capture_output=True, text=True, env=env, timeout=120
    )


def step(root: Path, spec: BackupSpec, verb: str) -> subprocess.CompletedProcess[str]:
    (found,) = b.steps(spec, Change("backup", spec.name, f"backup.{verb}", "change"), CONTEXT)
    assert isinstance(found, Run)
    return shell(root, found.argv)


def probe(root: Path, *specs: BackupSpec) -> dict[str, Any]:
    result = shell(root, ["sh", "-c", b.probe(specs)])
    assert result.returncode == 0, result.stderr
    return b.parse(specs, result.stdout.splitlines())


@needs_restic
def test_init_makes_a_repository_once_and_refuses_one_it_cannot_open(host: Path) -> None:
    spec = local_spec(host)
    made = step(host, spec, "init")
    assert made.returncode == 0, made.stderr
    assert "created restic repository" in made.stdout
    again = step(host, spec, "init")
    assert again.returncode == 0
    assert "exists and opens with the password: kept as it is" in again.stdout
    (host / "etc/documents.password").write_bytes(b"another password")
    refused = step(host, spec, "init")
    assert refused.returncode == 1
    assert refused.stderr == (
        "tendr: restic init was not run: the repository refuses the password: wrong "
        "password or no key found\n"
    )


@pytest.mark.slow
@needs_restic
def test_starting_over_makes_a_repository_only_where_none_is(host: Path) -> None:
    """`tendr do backup.init`'s step: a new repository where there is none, a failure
    where one opens (kept as it is), and never one under a mount that is not mounted."""
    spec = local_spec(host)
    new = Change(
        "backup", spec.name, "backup.init", "change", (FieldChange("repository", None, b.NEW),)
    )
    (found,) = b.steps(spec, new, CONTEXT)
    assert isinstance(found, Run)
    made = shell(host, found.argv)
    assert made.returncode == 0, made.stderr
    assert "created restic repository" in made.stdout
    again = shell(host, found.argv)
    assert again.returncode == 1
    assert again.stderr == (
        "tendr: restic init was not run: a repository is there and opens (kept as it is)\n"
    )
    unmounted = spec_with(spec, repository=str(host / "disk/repo"), mount=str(host / "disk"))
    (host / "disk").mkdir()
    for change in (new, Change("backup", spec.name, "backup.init", "add")):
        (found,) = b.steps(unmounted, change, CONTEXT)
        assert isinstance(found, Run)
        refused = shell(host, found.argv)
        assert refused.returncode == 1
        assert refused.stderr == f"tendr: restic init was not run: {host}/disk is not mounted\n"
        assert list((host / "disk").iterdir()) == []
    probed = probe(host, unmounted)["documents"]
    assert isinstance(probed, BackupActual) and probed.mount not in (None, "0")
    assert probed.repository.status == "skipped"


@pytest.mark.slow
@needs_restic
def test_the_probe_reads_a_real_repository(host: Path) -> None:
    spec = local_spec(host)
    found = probe(host, spec)["documents"]
    assert isinstance(found, BackupActual)
    assert found.repository.status == "missing"
    assert found.service["Result"] == "exit-code"
    assert found.errors == ("Fatal: unable to save snapshot: write /x: no space left on device",)
    assert found.files["password"].sha256 == sha(PASSWORD)
    # Owned by whoever runs the tests (root in CI; the account's own folders otherwise).
    owner = f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}"
    assert found.folders[str(host / "etc")] == f"0700 {owner}"
    assert found.restic is not None and found.restic.startswith("restic ")
    made = step(host, spec, "init")
    assert made.returncode == 0
    found = probe(host, spec)["documents"]
    assert isinstance(found, BackupActual)
    repo = found.repository
    assert (repo.status, repo.newest, repo.snapshots) == ("ok", None, 0)
    # restic's repository id, as init said its first ten digits.
    assert repo.id is not None and f"created restic repository {repo.id[:10]} " in made.stdout
    (host / "etc/documents.password").write_bytes(b"another password")
    found = probe(host, spec)["documents"]
    assert isinstance(found, BackupActual)
    assert found.repository.status == "error"
    assert found.repository.problem is not None
    assert found.repository.problem.kind == "wrong-password"
    changes = b.diff(spec, found, CONTEXT)
    assert "backup.init" not in ops(changes) and "backup.read" in ops(changes)


@pytest.mark.slow
@needs_restic
def test_the_probe_finds_a_stale_exclusive_lock_and_leaves_none(host: Path) -> None:
    """A restic check killed while it holds its exclusive lock leaves it behind (restic
    0.14 takes a dead process's lock for stale only in `restic unlock`): the plan says
    so, and reading the repository adds no lock of its own."""
    spec = local_spec(host)
    assert step(host, spec, "init").returncode == 0
    repo = host / "the repo's place"
    kill = (
        'restic --no-cache -r "$1" check >/dev/null 2>&1 & p=$!; n=0; '
        # A lock is written to a temporary name first, then renamed: wait for the name.
        'while ! ls -- "$1/locks" | grep -qv -- -tmp- && [ "$n" -lt 3000 ]; do n=$((n+1)); done; '
        'kill -9 "$p"; wait "$p"; ls -A -- "$1/locks"'
    )
    env = {**os.environ, "RESTIC_PASSWORD_FILE": str(host / "etc/documents.password")}
    left = subprocess.run(
        ["sh", "-c", kill, "sh", str(repo)], capture_output=True, text=True, env=env
    )
    assert left.stdout.strip(), "the check ended before its lock could be seen"
    result = shell(host, ["sh", "-c", b.probe([spec])])
    found = b.parse([spec], result.stdout.splitlines())["documents"]
    assert isinstance(found, BackupActual)
    assert len(found.repository.locks) == 1, result.stdout
    (lock,) = found.repository.locks
    assert lock.exclusive and lock.pid is not None
    changes = b.diff(spec, found, CONTEXT)
    assert ops(changes) == ["backup.configure", "backup.read"]  # no run, check or init
    assert f"locked exclusively by PID {lock.pid}" in changes[1].note
    assert sorted(p.name for p in (repo / "locks").iterdir()) == left.stdout.split()


@pytest.mark.slow
@needs_restic
def test_the_job_script_backs_up_forgets_and_the_probe_sees_the_snapshot(host: Path) -> None:
    spec = local_spec(host, keep={"last": 1})
    assert step(host, spec, "init").returncode == 0
    job_script = host / "etc/documents.sh"
    job_script.write_text(relocated(b.script(spec), host))
    for _ in range(2):
        result = shell(host, ["sh", str(job_script)])
        assert result.returncode == 0, result.stderr
    listed = shell(host, ["sh", str(job_script), "snapshots", "--json"])
    snapshots = json.loads(listed.stdout)
    assert len(snapshots) == 1 and snapshots[0]["tags"] == ["tendr-documents"]
    files = shell(host, ["sh", str(job_script), "ls", "latest"]).stdout
    assert "c.txt" in files and "b.tmp" not in files
    found = probe(host, spec)["documents"]
    assert isinstance(found, BackupActual)
    assert found.repository.newest is not None
    assert abs(found.repository.newest - found.now) < 300
    # restic's errors reach the journal at priority err: "<3>" leads each line.
    (host / "etc/documents.password").write_bytes(b"another password")
    failed = shell(host, ["sh", str(job_script)])
    assert failed.returncode == 1
    assert "<3>Fatal: wrong password or no key found" in failed.stderr.splitlines()


@pytest.mark.slow
@needs_root
@needs_restic
def test_check_writes_its_time_only_when_the_repository_is_sound(host: Path) -> None:
    spec = local_spec(host)
    assert step(host, spec, "init").returncode == 0
    job_script = host / "etc/documents.sh"
    job_script.write_text(relocated(b.script(spec), host))
    assert shell(host, ["sh", str(job_script)]).returncode == 0
    checked = host / "state/documents.checked"
    result = step(host, spec, "check")
    assert result.returncode == 0, result.stderr
    assert checked.read_text().strip().isdigit()
    assert oct(checked.stat().st_mode & 0o777) == "0o600"
    checked.unlink()
    pack = next(p for p in (host / "the repo's place/data").rglob("*") if p.is_file())
    pack.chmod(0o600)
    with pack.open("r+b") as opened:
        opened.seek(100)
        opened.write(b"garbage")
    spec_all = local_spec(host)
    argv = b.steps(spec_all, Change("backup", "documents", "backup.check", "change"), CONTEXT)
    assert isinstance(argv[0], Run)
    full = tuple(a.replace("--read-data-subset=5%", "--read-data") for a in argv[0].argv)
    broken = shell(host, full)
    assert broken.returncode == 1
    assert broken.stderr == (
        "tendr: restic check failed: restic check found errors in the repository\n"
    )
    assert not checked.exists()


# -- tendr backup check: the script and its verdict -----------------------------------

NODE = (
    '{"name":"a.txt","type":"file","path":"/srv/share/a.txt","uid":0,"gid":0,"size":4,'
    '"mode":8389101,"permissions":"urwxr-xr-x","mtime":"2024-11-29T04:10:56.387643022+01:00",'
    '"atime":"2024-11-29T04:10:56.387643022Z","ctime":"2024-11-29T04:10:56.390565128Z",'
    '"struct_type":"node"}'
)
SNAPSHOT = (
    '{"time":"2024-11-29T04:10:59.369036322Z","tree":"4034f9bc","paths":["/srv/share"],'
    '"hostname":"fs01","username":"root","tags":["tendr-documents"],"id":"404a887d","short_id":'
    '"404a887d","struct_type":"snapshot"}'
)
CHECKED = [
    "@check\tpassed\trestic check --read-data-subset=5% found no errors",
    "@check\trecorded\t/var/lib/tendr-backup/documents.checked",
    f"@check\tsnapshot\t{SNAPSHOT}",
    f"@check\tnode\t{NODE}",
    "@check\trestored\t4\t4755\t1732849856",
    "@check\tdone\t1",
]


def test_a_check_that_restored_its_files_as_recorded_passes() -> None:
    passed, reason = bc.verdict(CHECKED)
    assert passed
    assert reason == (
        "restic check --read-data-subset=5% found no errors; 1 file(s) of snapshot 404a887d "
        "(2024-11-29T04:10:59.369036322Z) restored with their size, mode and modification time"
    )


@pytest.mark.parametrize(
    ("restored", "words"),
    [
        ("5\t4755\t1732849856", "/srv/share/a.txt was restored with 5 bytes, the snapshot has 4"),
        ("4\t644\t1732849856", "/srv/share/a.txt was restored with mode 0644"),
        ("4\t4755\t1732849857", "another modification time"),
        ("missing", "/srv/share/a.txt was not restored"),
        ("4\t47x55\t1", "its restored metadata could not be read"),
    ],
)
def test_a_restored_file_unlike_the_snapshot_fails_the_check(restored: str, words: str) -> None:
    lines = [
        line if "restored\t4" not in line else f"@check\trestored\t{restored}" for line in CHECKED
    ]
    passed, reason = bc.verdict(lines)
    assert not passed and words in reason


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (
            ["@check\tfail\trestic check failed: restic check found errors in the repository"],
            "restic check failed: restic check found errors in the repository",
        ),
        (CHECKED[:-1], "did not finish"),
        ([], "the host said nothing"),
        (["sudo: a password is required"], "sudo: a password is required"),
        (
            [*CHECKED[:3], "@check\tnode\tnot json", "@check\trestored\tmissing", CHECKED[-1]],
            "could not be read",
        ),
    ],
)
def test_a_check_that_failed_or_said_too_little_fails(lines: list[str], words: str) -> None:
    passed, reason = bc.verdict(lines)
    assert not passed and words in reason


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=30), st.sampled_from(CHECKED))))
def test_the_verdict_never_raises(lines: list[str]) -> None:
    passed, reason = bc.verdict(lines)
    assert isinstance(passed, bool) and reason


def test_the_check_command_passes_every_value_as_an_argument() -> None:
    argv = bc.check_command(SFTP)
    assert argv[:4] == ("sh", "-c", bc.SCRIPT, "sh")
    assert argv[4:] == (
        *b.restic_args(SFTP),
        "/var/lib/tendr-backup/offsite.checked",
        "tendr-offsite",
        "20",
        "5%",
        str(4 * 1024 * 1024),  # no file over 4 MiB is restored: /tmp must not fill up
    )
    assert subprocess.run(["sh", "-n", "-c", bc.SCRIPT]).returncode == 0


@pytest.mark.slow
@needs_root
@needs_restic
def test_the_check_script_passes_then_fails_on_a_damaged_pack(host: Path) -> None:
    (host / "src/st*r").write_text("a glob character: never picked\n")
    (host / "src/x<&>").write_text("escaped in restic's JSON: never picked\n")
    (host / "src/a.txt").chmod(0o4755)
    spec = local_spec(host)
    assert step(host, spec, "init").returncode == 0
    job_script = host / "etc/documents.sh"
    job_script.write_text(relocated(b.script(spec), host))
    assert shell(host, ["sh", str(job_script)]).returncode == 0
    argv = ("bash", *bc.check_command(spec)[1:])
    result = shell(host, argv)
    assert result.returncode == 0, result.stderr
    passed, reason = bc.verdict(result.stdout.splitlines())
    assert passed, reason
    assert "2 file(s) of snapshot" in reason  # a.txt and sub/c.txt (b.tmp is excluded)
    assert (host / "state/documents.checked").read_text().strip().isdigit()
    for pack in (host / "the repo's place/data").rglob("*"):
        if pack.is_file():
            pack.chmod(0o600)
            with pack.open("r+b") as opened:
                opened.seek(60)
                opened.write(b"garbage")
    damaged = shell(host, argv)
    assert damaged.returncode == 1
    assert bc.verdict(damaged.stdout.splitlines()) == (
        False,
        "restic check failed: restic check found errors in the repository",
    )
