"""tendr's baseline on a real test host: a persistent journal and a health check whose
records of a problem outlive the problem, for diagnose to show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet


def test_a_full_disk_recorded_by_the_health_check_shows_after_it_cleared(
    fresh_host: Host, tmp_path: Path
) -> None:
    write_hosts_file(tmp_path, [fresh_host], health=True)
    ws = str(build_tree(tmp_path, {"rules/roles.toml": ADMIN_RULES}))

    code, text = tendr("plan", "-w", ws, "--format", "json")
    assert code == 2, text
    [host] = json.loads(text)["hosts"]
    planned = {(c["op"], c["resource"], c["source"]) for c in host["changes"]}
    for expected in (
        ("file.write", "/etc/systemd/journald.conf.d/tendr.conf", "(baseline)"),
        ("file.write", "/usr/local/lib/tendr/health", "(baseline)"),
        ("service.configure", "tendr-health.timer", "(baseline)"),
        ("service.enable", "tendr-health.timer", "(baseline)"),
    ):
        assert expected in planned, expected
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0 and "converged" in text, text
    assert fresh_host.run("systemctl is-active tendr-health.timer").stdout.strip() == "active"

    # A small file system filled up, the health check runs, the file system goes away.
    fresh_host.run(
        "mkdir -p /mnt/full && mount -t tmpfs -o size=1m tmpfs /mnt/full && "
        "head -c 2000000 /dev/zero > /mnt/full/fill; systemctl start tendr-health.service && "
        "umount /mnt/full",
        check=True,
    )
    assert fresh_host.run("test -d /var/log/journal").returncode == 0  # kept on disk now

    code, text = tendr("diagnose", "-w", ws)
    assert code == 2, text
    assert "disk /mnt/full is 100% full" in text
    assert "recorded by the health check since the last visit" in text
    assert "  disk     /mnt/full" not in text  # as a problem of now: it is gone

    (tmp_path / "hosts/fleet.toml").write_text(
        (tmp_path / "hosts/fleet.toml").read_text().replace("health = true", "health = false")
    )
    code, text = tendr("plan", "-w", ws)
    assert code == 0 and "in sync" in text, text  # opted out: the baseline is not kept
