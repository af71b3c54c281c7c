"""Backups on real test hosts: a restic job to a local repository and one to an sftp
repository on a second host, planned, applied, checked and broken on purpose."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

PASSWORD = "Tendr-Backup-Secret-7f3a9c"  # distinctive: searched for everywhere afterwards
LOCAL_REPO = "/var/backups/restic/documents"
REMOTE_REPO = "/srv/restic/acme"


def state(client: Host, store: Host, max_age: str = "26h") -> str:
    host_key = store.host_key
    return f"""\
hosts = ["{client.name}"]

[[backup]]
name = "documents"
sources = ["/srv/share"]
excludes = ["*.tmp"]
repository = "{LOCAL_REPO}"
password = {{ file = "secrets/acme.pass" }}
schedule = "daily"
keep = {{ daily = 7, weekly = 4 }}
max_age = "{max_age}"
check_every = "7d"

[[backup]]
name = "offsite"
sources = ["/srv/share"]
repository = "sftp:vault@{store.address}:{REMOTE_REPO}"
port = {store.port}
password = {{ file = "secrets/acme.pass" }}
ssh_key = {{ file = "secrets/offsite.key" }}
host_key = "{host_key}"
schedule = "hourly"
max_age = "{max_age}"
"""


def setup(client: Host, store: Host, root: Path) -> str:
    """Files to back up on the client, an account for the repository on the store, and
    a workspace holding the password and the client's key for the store."""
    client.run(
        "mkdir -p /srv/share/sub && echo quarterly figures > /srv/share/report.txt && "
        "head -c 300000 /dev/urandom > /srv/share/sub/scan.pdf && echo x > /srv/share/a.tmp",
        check=True,
    )
    keys = root.parent / "keys"
    keys.mkdir(mode=0o700)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "offsite")], check=True
    )
    store.run(
        "useradd -m -s /bin/sh vault && install -d -o vault -m 0700 /home/vault/.ssh "
        f"{REMOTE_REPO.rsplit('/', 1)[0]} && chown vault /srv/restic && "
        "cat > /home/vault/.ssh/authorized_keys && chown vault /home/vault/.ssh/authorized_keys",
        stdin=(keys / "offsite.pub").read_text(),
        check=True,
    )
    write_hosts_file(root, [client, store])
    build_tree(
        root,
        {
            "states/backups.toml": state(client, store),
            "rules/roles.toml": ADMIN_RULES,
            "secrets/acme.pass": PASSWORD + "\n",
            "secrets/offsite.key": (keys / "offsite").read_text(),
        },
    )
    for secret in ("acme.pass", "offsite.key"):  # its owner's alone, as validation requires
        (root / "secrets" / secret).chmod(0o600)
    return str(root)


def plan_json(ws: str, *limit: str) -> dict[str, list[dict[str, object]]]:
    code, text = tendr("plan", "-w", ws, "--format", "json", *limit)
    assert code in (0, 2), text
    return {h["name"]: h["changes"] for h in json.loads(text)["hosts"]}


def test_backups_are_made_kept_and_restorable(
    fresh_hosts: Callable[[int], list[Host]], tmp_path: Path
) -> None:
    """Plan shows the missing jobs; apply writes them, initialises both repositories and
    takes a first snapshot; a second apply changes nothing. A newest snapshot older
    than max_age is drift; the restore check passes, and fails with the reason once a
    pack file is damaged. The password is in no output, log or file but its own."""
    client, store = fresh_hosts(2)
    ws = setup(client, store, tmp_path / "ws")
    said: list[str] = []

    code, text = tendr("plan", "-w", ws)
    said.append(text)
    assert code == 2, text
    for expected in (
        "+ backup.configure   documents",
        "+ backup.init        documents",
        "~ backup.run         documents",
        "~ backup.check       documents",
        "+ backup.configure   offsite",
        "+ backup.init        offsite",
        "password: (none) → not shown",
    ):
        assert expected in text, expected

    code, text = tendr("apply", "-w", ws, "--yes")
    said.append(text)
    assert code == 0, text
    assert "converged" in text
    listed = client.run(
        f"RESTIC_PASSWORD_FILE=/etc/tendr/backup/documents.password restic -r {LOCAL_REPO} "
        "snapshots --json --no-lock"
    )
    [snapshot] = json.loads(listed.stdout)
    assert snapshot["paths"] == ["/srv/share"] and "tendr-documents" in snapshot["tags"]
    assert store.run(f"test -f {REMOTE_REPO}/config").returncode == 0
    assert client.run("systemctl is-enabled tendr-backup-documents.timer").stdout.strip() == (
        "enabled"
    )
    mode = client.run("stat -c '%a %U' /etc/tendr/backup/documents.password").stdout.strip()
    assert mode == "600 root"

    code, text = tendr("apply", "-w", ws, "--yes")
    said.append(text)
    assert code == 0 and "Nothing to apply" in text, text

    # Staleness without waiting hours: a maximum age of one second against the snapshot.
    (tmp_path / "ws/states/backups.toml").write_text(state(client, store, max_age="1s"))
    time.sleep(1.5)
    changes = plan_json(ws)[client.name]
    said.append(json.dumps(changes))
    runs = [c for c in changes if c["op"] == "backup.run"]
    assert {c["resource"] for c in runs} == {"documents", "offsite"}, changes
    (tmp_path / "ws/states/backups.toml").write_text(state(client, store))

    code, text = tendr("backup", "check", "-w", ws, client.name, "--format", "json")
    said.append(text)
    assert code == 0, text
    jobs = {j["name"]: j for j in json.loads(text)["jobs"]}
    assert jobs["documents"]["passed"] and jobs["offsite"]["passed"], jobs
    assert "restored" in jobs["documents"]["reason"]
    code, text = tendr("backup", "check", "-w", ws, client.name, "--as", "dave")
    assert code == 1 and "permission denied: dave is in no role" in text, text

    # Damage a pack file of the local repository: the check fails and says why.
    client.run(
        f'f=$(find {LOCAL_REPO}/data -type f | head -n 1); chmod u+w "$f"; '
        'printf "garbage" | dd of="$f" bs=1 seek=40 conv=notrunc 2>/dev/null',
        check=True,
    )
    code, text = tendr("backup", "check", "-w", ws, client.name, "documents")
    said.append(text)
    assert code == 1, text
    assert "documents: FAILED" in text and "offsite" not in text
    assert "restic check" in text or "errors" in text, text

    # The password: only in its own 0600 file on the host, nowhere else tendr writes.
    everything = "\n".join(said) + (Path(ws) / ".tendr/audit.log").read_text()
    assert PASSWORD not in everything
    found = client.run(
        f"grep -rl --exclude=documents.password --exclude=offsite.password -- {PASSWORD} "
        "/etc /var/lib /var/cache/tendr-backup /run /tmp /root 2>/dev/null; "
        f"journalctl -q --no-pager | grep -c -- {PASSWORD}"
    )
    assert found.stdout.split() == ["0"], found.stdout


SMALL = """
[[backup]]
name = "small"
sources = ["/srv/big"]
repository = "/mnt/small/repo"
password = { file = "secrets/acme.pass" }
"""


def test_restic_failures_are_clear_and_distinct(
    fresh_hosts: Callable[[int], list[Host]], tmp_path: Path
) -> None:
    """A wrong password, a repository that cannot be reached, one locked by another
    host, and no space left: each is said as such, never passed over, and no
    repository is initialised again over an existing one."""
    client, store = fresh_hosts(2)
    ws = setup(client, store, tmp_path / "ws")
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text

    # A wrong password on the host: the plan says so, and only rewrites the file.
    client.run("echo wrong-password > /etc/tendr/backup/documents.password", check=True)
    changes = plan_json(ws)[client.name]
    reads = [c for c in changes if c["op"] == "backup.read" and c["resource"] == "documents"]
    assert reads and "wrong password" in str(reads[0]["note"]), changes
    assert not [c for c in changes if c["op"] == "backup.init"], changes
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text  # the password file written again, the repository reads

    # The repository's host does not answer (its sshd is stopped for a while).
    store.run(
        "systemd-run --quiet --on-active=20 --timer-property=AccuracySec=1s "
        "--unit=tendr-test-ssh-back systemctl start ssh "
        "&& systemctl stop ssh",
        check=True,
    )
    changes = plan_json(ws, "-l", client.name)[client.name]  # the store itself is out of reach
    reads = [c for c in changes if c["op"] == "backup.read" and c["resource"] == "offsite"]
    assert reads and "unreachable" in str(reads[0]["note"]), changes
    assert not [c for c in changes if c["op"] == "backup.init"], changes
    deadline = time.monotonic() + 60
    while (back := store.run("true", timeout=10)).returncode != 0:
        assert time.monotonic() < deadline, f"the store's sshd did not come back: {back.stderr}"
        time.sleep(1)

    # Locked by another host: a prune (which locks exclusively) killed on the store as
    # soon as its lock is there leaves the lock behind, as a crashed machine would. It
    # runs as the repository's account, as another client's would over sftp: a lock
    # file the account cannot read is no lock to restic.
    prune = (
        f"cd /tmp && RESTIC_PASSWORD={PASSWORD} restic --no-cache -r {REMOTE_REPO} prune "
        ">/dev/null 2>&1 & "
        # A lock is written as NAME-tmp-N, then renamed: only the renamed one counts.
        f"until ls {REMOTE_REPO}/locks | grep -qv -e -tmp-; do :; done; kill -9 $!"
    )
    store.run(["runuser", "-u", "vault", "--", "sh", "-c", prune], check=True)
    (tmp_path / "ws/states/backups.toml").write_text(state(client, store, max_age="1s"))
    time.sleep(1.5)
    code, text = tendr("apply", "-w", ws, "--yes", "-l", client.name)
    assert code == 1, text
    assert "failed backup.run offsite" in text and "locked" in text, text
    unlock = f"RESTIC_PASSWORD={PASSWORD} restic --no-cache -r {REMOTE_REPO} unlock"
    store.run(["runuser", "-u", "vault", "--", "sh", "-c", unlock], check=True)

    # No space left: a job whose repository is on a 1 MiB file system.
    client.run(
        "mkdir -p /mnt/small /srv/big && mount -t tmpfs -o size=1m tmpfs /mnt/small && "
        "head -c 3000000 /dev/urandom > /srv/big/scan.pdf",
        check=True,
    )
    (tmp_path / "ws/states/backups.toml").write_text(state(client, store) + SMALL)
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1, text
    assert "failed backup.run small" in text and "no space left" in text, text
