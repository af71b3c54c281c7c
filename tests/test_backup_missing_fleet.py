"""A backup repository that was there and cannot be seen now, on real test hosts with
real restic: moved away, or on a disk that is not mounted. tendr says so and writes
nothing for it; a new repository is started only by `tendr do backup.init`, confirmed
and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

REPO = "/var/backups/restic/documents"


def job(repository: str = REPO, mount: str | None = None) -> str:
    return f"""\
hosts = ["all"]

[[backup]]
name = "documents"
sources = ["/srv/share"]
repository = "{repository}"
password = {{ file = "secrets/acme.pass" }}
""" + (f'mount = "{mount}"\n' if mount else "")


def workspace(host: Host, root: Path, state: str) -> str:
    host.run("mkdir -p /srv/share && echo quarterly figures > /srv/share/report.txt", check=True)
    write_hosts_file(root, [host])
    build_tree(
        root,
        {
            "states/backups.toml": state,
            "rules/roles.toml": ADMIN_RULES,
            "secrets/acme.pass": "Tendr-Missing-Repo-Secret\n",
        },
    )
    (root / "secrets/acme.pass").chmod(0o600)
    return str(root)


def inits(ws: str) -> list[dict[str, object]]:
    """The audit log's records of backup.init, oldest first."""
    code, text = tendr("audit-log", "show", "-w", ws, "--op", "backup.init", "--format", "json")
    assert code == 0, text
    return list(json.loads(text)["records"])


def restic_id(host: Host, repository: str) -> str:
    found = host.run(
        "RESTIC_PASSWORD_FILE=/etc/tendr/backup/documents.password "
        f"restic --no-cache --no-lock -r {repository} cat config",
        check=True,
    )
    return str(json.loads(found.stdout)["id"])


def test_a_repository_moved_away_is_missing_not_made_anew(fresh_host: Host, tmp_path: Path) -> None:
    """Applied (a repository and its first snapshot), then the repository's folder moved
    away: the plan says it is missing with what it held, and apply initialises
    nothing; moved back, the job is in sync again."""
    host = fresh_host
    ws = workspace(host, tmp_path / "ws", job())
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    made = inits(ws)
    assert [r["outcome"] for r in made] == ["started", "done"], made

    host.run(f"mv {REPO} {REPO}.away", check=True)
    code, text = tendr("plan", "-w", ws)
    assert code == 2, text
    assert "? backup.read" in text, text
    assert f"{REPO}: repository missing: it held 1 snapshot, newest 20" in text, text
    assert "is its disk mounted?" in text, text
    assert "+ backup.init" not in text, text

    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1, text  # the job cannot be read: not converged
    assert host.run(f"test -e {REPO}").returncode == 1
    assert inits(ws) == made

    host.run(f"mv {REPO}.away {REPO}", check=True)
    code, text = tendr("plan", "-w", ws)
    assert code == 0, text


def test_a_job_on_a_disk_not_mounted_writes_nothing(fresh_host: Host, tmp_path: Path) -> None:
    """A job naming its mount: applied while a tmpfs is mounted there; unmounted, the plan
    says so and neither apply nor the job's own timer writes under the mount point; an
    empty disk mounted there instead is a repository missing, not one to make."""
    host = fresh_host
    host.run("mkdir -p /mnt/backup && mount -t tmpfs tmpfs /mnt/backup", check=True)
    ws = workspace(host, tmp_path / "ws", job("/mnt/backup/restic", mount="/mnt/backup"))
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    assert host.run("test -f /mnt/backup/restic/config").returncode == 0

    host.run("umount /mnt/backup", check=True)
    code, text = tendr("plan", "-w", ws)
    assert code == 2, text
    assert "? backup.read" in text and "/mnt/backup is not mounted" in text, text
    assert "+ backup.init" not in text and "~ backup.run" not in text, text
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1, text
    # The timer's run, by hand: it refuses too, saying why.
    ran = host.run("systemctl start tendr-backup-documents.service")
    assert ran.returncode != 0
    said = host.run("journalctl -q -o cat -p err -u tendr-backup-documents.service").stdout
    assert "tendr: /mnt/backup is not mounted: no backup was made" in said, said
    assert host.run("ls -A /mnt/backup").stdout == ""

    # Another, empty disk mounted there: the repository seen before is missing.
    host.run("mount -t tmpfs tmpfs /mnt/backup", check=True)
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1, text
    assert "repository missing: it held 1 snapshot" in text, text
    assert host.run("ls -A /mnt/backup").stdout == ""
    assert [r["command"] for r in inits(ws)] == ["apply", "apply"]


def test_starting_over_is_asked_made_and_recorded(fresh_host: Host, tmp_path: Path) -> None:
    """The repository gone for good: `tendr do backup.init` needs --yes without a
    terminal, then makes a new, empty one, recorded with what was there before; it
    never makes one where one is."""
    host = fresh_host
    ws = workspace(host, tmp_path / "ws", job())
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    old = restic_id(host, REPO)
    host.run(f"rm -rf {REPO}", check=True)

    code, text = tendr("do", "backup.init", "documents", "-w", ws, "-l", host.name)
    assert code == 1 and "pass --yes" in text, text
    assert host.run(f"test -e {REPO}").returncode == 1

    code, text = tendr("do", "backup.init", "documents", "-w", ws, "-l", host.name, "--yes")
    assert code == 0, text
    assert f"{host.name}: backup documents: a new, empty repository at {REPO}" in text, text
    assert f"seen before, restic id {old[:10]}: 1 snapshot, newest 20" in text, text
    new = restic_id(host, REPO)
    assert new != old
    done = inits(ws)[-1]
    assert (done["command"], done["outcome"], done["host"]) == ("do", "done", host.name), done
    said = f'{{"repository": "seen before, restic id {old[:10]}: 1 snapshot, newest 20'
    assert json.dumps(done["before"]).startswith(said), done

    # Once more: a repository is there now, and it is kept.
    code, text = tendr("do", "backup.init", "documents", "-w", ws, "-l", host.name, "--yes")
    assert code == 1, text
    assert "a repository is there and opens (kept as it is)" in text, text
    assert restic_id(host, REPO) == new

    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text  # its first snapshot
