"""Where "missing" may mean "cannot be seen now", tendr says so and changes nothing: a
file on a disk /etc/fstab names that is not mounted (a backup disk, a share) is neither
written onto the disk below nor taken for removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fleet.host import Host, write_hosts_file, write_known_hosts
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

STATE = """\
hosts = ["all"]
[[file]]
path = "/mnt/backup/tendr.conf"
content = "target = nightly\\n"
[[file]]
path = "/mnt/backup/old.conf"
present = false
"""


def test_a_file_on_a_disk_not_mounted_is_not_written(fresh_host: Host, tmp_path: Path) -> None:
    """While /mnt/backup is not mounted, the plan says so for both files, apply writes
    nothing under it (nothing lands on the root disk); once it is mounted, the file is
    written there and the other removed."""
    fresh_host.run(
        "mkdir -p /mnt/backup && echo 'tmpfs /mnt/backup tmpfs noauto 0 0' >> /etc/fstab",
        check=True,
    )
    write_hosts_file(tmp_path, [fresh_host], client="acme")
    write_known_hosts(tmp_path / "known_hosts", [fresh_host])
    ws = str(build_tree(tmp_path, {"states/b.toml": STATE, "rules/roles.toml": ADMIN_RULES}))

    code, text = tendr("plan", "-w", ws)
    assert code == 2, text
    assert text.count("? file.read") == 2, text
    assert "is on /mnt/backup, which /etc/fstab names and which is not mounted" in text
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1, text  # not converged: what cannot be seen stays unknown
    assert fresh_host.run("ls -A /mnt/backup").stdout == ""

    fresh_host.run("mount /mnt/backup && echo old > /mnt/backup/old.conf", check=True)
    code, raw = tendr("plan", "-w", ws, "--format", "json")
    ops = sorted(c["op"] for h in json.loads(raw)["hosts"] for c in h["changes"])
    assert ops == ["file.remove", "file.write"], raw
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    listing = fresh_host.run("ls -A /mnt/backup").stdout.split()
    assert listing == ["tendr.conf"]
    fresh_host.run("umount /mnt/backup", check=True)
