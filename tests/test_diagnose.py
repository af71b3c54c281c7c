"""diagnose's reading of a host, without hosts: causes, fixes and grouping."""

from __future__ import annotations

import json

from tendr.base.changes import Change, FieldChange
from tendr.ops.diagnose import parse, problems

OUTPUT = [
    "@@diagnose failed",
    "U\ttendr-broken.service\texit-code",
    "L\t"
    + json.dumps(
        {
            "MESSAGE": "tendr-broken.service: Failed to locate executable /usr/bin/nope: "
            "No such file or directory"
        }
    ),
    "U\tcups.service\tstart-limit-hit",
    "@@diagnose errors",
    json.dumps({"SYSLOG_IDENTIFIER": "kernel", "MESSAGE": "I/O error, dev sda, sector 1234"}),
    json.dumps({"SYSLOG_IDENTIFIER": "kernel", "MESSAGE": "I/O error, dev sda, sector 98765"}),
    json.dumps({"SYSLOG_IDENTIFIER": "x", "MESSAGE": [27, 91, 50, 74, 104, 105]}),
    "not json",
    "@@diagnose disk",
    "/dev/vda 1000 950 50 95% /",
    "tmpfs 0 0 0 0% /dev",
    "@@diagnose memory",
    "some avg10=1.00 avg60=22.50 avg300=3.00 total=1",
    "MemTotal: 1000 kB",
    "MemAvailable: 50 kB",
    "@@diagnose printers",
    "printer frontdesk disabled since Sun Nov 29 03:58:53 2026 -",
    "printer back is idle.  enabled since Sun Nov 29 03:58:53 2026",
    "@@diagnose jobs",
    "frontdesk-3",
    "frontdesk-4",
    "back-office-7",
    "@@diagnose health",
    json.dumps(
        {
            "MESSAGE": "disk /srv is 100% full",
            "PRIORITY": "4",
            "_SYSTEMD_UNIT": "tendr-health.service",
            "_UID": "0",
        }
    ),
]


def test_each_problem_has_its_cause_and_fix() -> None:
    found = problems(parse(OUTPUT), ())
    shown = [(p.area, p.what, p.cause, p.fix) for p in found]
    assert shown[0] == (
        "unit",
        "tendr-broken.service failed",
        "a program or file it needs is missing",
        "tendr do service.restart tendr-broken.service (once the cause is dealt with)",
    )
    assert shown[1][2] == "it failed again and again, and systemd stopped restarting it"
    assert ("disk", "/ is 95% full (/dev/vda)") == shown[2][:2]
    assert [s[1] for s in shown if s[0] == "memory"] == [
        "memory pressure 22%",
        "5% of memory free",
    ]
    assert ("printer", "print queue frontdesk is stopped, 2 job(s) waiting") == shown[5][:2]
    assert shown[5][3] == "tendr do printer.enable frontdesk"
    assert ("health", "disk /srv is 100% full") == shown[6][:2]
    journal = [s for s in shown if s[0] == "journal"]
    # Alike messages counted once; a message journald kept as bytes is read, not lost.
    assert journal[0][1] == "kernel: I/O error, dev sda, sector 1234"
    assert journal[0][2] == "logged 2 time(s) in the last day"
    assert journal[1][1] == "x: \x1b[2Jhi"


def test_drift_is_a_problem_with_its_operation() -> None:
    drift = (
        Change(
            "backup",
            "documents",
            "backup.run",
            "change",
            (FieldChange("newest", "3d", "now"),),
            note="the last run failed: wrong password",
        ),
        Change("printer", "frontdesk", "printer.enable", "change"),
        Change("file", "/etc/x", "file.read", "unknown", note="cannot be read"),
    )
    found = problems(parse(["@@diagnose printers", "printer frontdesk disabled since x -"]), drift)
    assert [(p.area, p.what, p.cause, p.fix) for p in found] == [
        (
            "backup",
            "backup.run documents",
            "the last run failed: wrong password",
            "tendr apply (operation backup.run documents)",
        ),
        (
            "printer",
            "printer.enable frontdesk",
            "differs from the state",
            "tendr apply (operation printer.enable frontdesk)",
        ),
        ("drift", "file.read /etc/x", "cannot be read", ""),
    ]


def test_nothing_read_is_no_problem() -> None:
    assert problems(parse([]), ()) == []
    assert problems(parse(["garbage", "@@diagnose disk", "x y"]), ()) == []


def test_a_failed_unit_a_backup_makes_is_one_problem_with_its_backup() -> None:
    """restic's failure shows once: under the backup that drifts, with the unit's cause
    and lines, not again as a failed unit or as the journal's errors; values read as a
    plan shows them; the cause says since when and who changed it last."""
    line = "Fatal: wrong password or no key found"
    facts = parse(
        [
            "@@diagnose failed",
            "U\ttendr-backup-documents.service\texit-code",
            "L\t" + json.dumps({"MESSAGE": line}),
            "@@diagnose errors",
            json.dumps({"SYSLOG_IDENTIFIER": "restic", "MESSAGE": line}),
        ]
    )
    drift = (
        Change(
            "backup",
            "documents",
            "backup.enable",
            "change",
            (
                FieldChange("enabled", False, True),
                FieldChange("content", None, {"size": 64, "sha256": "ab" * 32}),
            ),
        ),
    )
    made = {"tendr-backup-documents.service": ("backup", "documents")}
    story = {("backup", "documents"): "drifting since 2026-12-01 09:00 (in 3 of 4 plans)"}
    [found] = problems(facts, drift, made, story)
    assert found.what == "backup.enable documents"
    assert found.cause == (
        "its program ended with an error (tendr-backup-documents.service failed); its "
        "enabled, content differ from the state; drifting since 2026-12-01 09:00 (in 3 "
        "of 4 plans)"
    )
    assert found.detail == (
        "enabled: no → yes",
        f"content: (none) → 64 bytes, sha256 {'ab' * 6}",
        line,
    )


def test_the_line_that_tells_the_cause_is_found_behind_systemds_own() -> None:
    """systemd's lines about a failed start may follow the program's own: the cause is
    read from the unit's last dozen lines, and its line is shown with the newest."""
    said = [
        "acme-sync.service: Failed at step EXEC spawning /usr/local/bin/acme-sync: "
        "No such file or directory",
        "acme-sync.service: Main process exited, code=exited, status=203/EXEC",
        "acme-sync.service: Failed with result 'exit-code'.",
        "acme-sync.service: Scheduled restart job, restart counter is at 1.",
        "acme-sync.service: Failed with result 'exit-code'.",
    ]
    lines = ["@@diagnose failed", "U\tacme-sync.service\texit-code"]
    lines += ["L\t" + json.dumps({"MESSAGE": message}) for message in said]
    [found] = problems(parse(lines), ())
    assert found.cause == "a program or file it needs is missing"
    assert found.detail == (said[0], said[3], said[4])
