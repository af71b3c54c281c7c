"""On a real test host, records any account writes under the health check's name are not
shown by diagnose as the check's; what the check itself found is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

FORGED = {
    "runuser": "runuser -u nobody -- logger -t tendr-health -p user.err "
    "'unit forged-logger.service has failed'",
    "systemd-run": "systemd-run -q --wait --uid=nobody -- logger -t tendr-health -p user.err "
    "'unit forged-run.service has failed'",
    "systemd-cat": "runuser -u nobody -- systemd-cat -t tendr-health -p err "
    "echo 'unit forged-cat.service has failed'",
}


def test_diagnose_shows_the_health_checks_records_and_no_forged_one(
    fresh_host: Host, tmp_path: Path
) -> None:
    write_hosts_file(tmp_path, [fresh_host], health=True)
    ws = str(build_tree(tmp_path, {"rules/roles.toml": ADMIN_RULES}))
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0 and "converged" in text, text

    # A unit fails and the health check runs (its first run restarts journald too)...
    fresh_host.run(
        "printf '[Service]\\nExecStart=/bin/false\\n' > /etc/systemd/system/tendr-broken.service"
        " && systemctl daemon-reload; systemctl start tendr-broken.service; "
        "systemctl start tendr-health.service",
        check=True,
    )
    # ... and an account that is not root writes records under its name, three ways.
    for how, command in FORGED.items():
        assert fresh_host.run(command).returncode == 0, how
    logged = fresh_host.run("journalctl -q --no-pager -t tendr-health -o cat | grep -c forged")
    assert logged.stdout.strip() == "3", logged  # they are in the journal

    code, text = tendr("diagnose", "-w", ws, "--format", "json")
    assert code == 2, text
    [host] = json.loads(text)["hosts"]
    assert [p["what"] for p in host["problems"] if p["area"] == "health"] == [
        "unit tendr-broken.service has failed"
    ]
    assert "forged" not in text
    code, text = tendr("diagnose", "-w", ws)
    assert "unit tendr-broken.service has failed" in text
    assert "recorded by the health check since the last visit" in text
    assert "forged" not in text
