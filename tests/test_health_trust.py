"""diagnose takes as the health check's only records journald marks as its unit's output
as root: any account can log under the identifier `tendr-health`."""

from __future__ import annotations

import json
import subprocess

from tendr.ops.diagnose import parse, problems
from tendr.workspace.baseline import SCRIPT, SERVICE

REAL = {"_SYSTEMD_UNIT": "tendr-health.service", "_UID": "0", "PRIORITY": "3"}


def health(*records: dict[str, str]) -> list[str]:
    return ["@@diagnose health", *(json.dumps(r) for r in records)]


def shown(lines: list[str]) -> list[tuple[str, str]]:
    return [(p.area, p.what) for p in problems(parse(lines), ())]


def test_only_the_health_units_records_as_root_are_the_health_checks() -> None:
    lines = health(
        {**REAL, "MESSAGE": "unit cups.service has failed"},
        {**REAL, "_UID": "1000", "MESSAGE": "unit forged-uid.service has failed"},
        {**REAL, "_SYSTEMD_UNIT": "session-3.scope", "MESSAGE": "unit forged-unit.service"},
        {"PRIORITY": "3", "MESSAGE": "unit no-fields.service has failed"},
        {**REAL, "_SYSTEMD_UNIT": "user@1000.service", "_UID": "0", "MESSAGE": "forged user"},
    )
    assert shown(lines) == [("health", "unit cups.service has failed")]


def test_errors_under_the_health_checks_name_are_not_the_journals() -> None:
    """A record any account wrote with `logger -t tendr-health -p user.err` is not shown
    among the journal's errors either, where its name would pass it off as the check's."""
    lines = [
        "@@diagnose errors",
        json.dumps({"SYSLOG_IDENTIFIER": "tendr-health", "MESSAGE": "unit x.service has failed"}),
        json.dumps({"SYSLOG_IDENTIFIER": "cupsd", "MESSAGE": "printer on fire"}),
    ]
    assert shown(lines) == [("journal", "cupsd: printer on fire")]


def test_the_health_check_writes_its_records_on_its_own_output() -> None:
    """Its lines carry their priority and go to the journal through the service, whose
    unit and uid journald records; nothing of it goes through logger."""
    assert "StandardOutput=journal" in SERVICE and "SyslogIdentifier=tendr-health" in SERVICE
    assert "logger" not in SCRIPT
    say = SCRIPT[SCRIPT.index("say()") :].split("\n", 1)[0]
    calls = "say err 'unit a.service has failed'; say warning 'disk / is 95% full'"
    done = subprocess.run(
        ["sh", "-c", f"{say}\n{calls}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "<3>unit a.service has failed\n<4>disk / is 95% full\n"
