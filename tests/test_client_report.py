"""The client's report: what it says about a period, in JSON, Markdown and HTML, and
the HTML page as a browser shows it."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tendr.cli.client_report import markdown, render_html
from tendr.core.history import Change, Finding, Run
from tendr.core.report import build
from tests.helpers import ADMIN_RULES, build_tree, needs_root, requires, run_tendr

HOSTILE = "<script>alert(1)</script>|`x`"


def record(time: str, host: str, op: str, resource: str, outcome: str = "done") -> dict[str, Any]:
    return {
        "time": time,
        "person": "ann",
        "host": host,
        "op": op,
        "resource": resource,
        "outcome": outcome,
        "reason": "unit cups.service not found" if outcome == "failed" else None,
        "rule": "rules/roles.toml: roles.admin.allow[0] (* on all)",
        "command": "do" if op == "service.restart" else "apply",
        "source": "" if op == "service.restart" else "states/baseline.toml",
    }


RUNS = [
    # Before the period: each host's first plan, fs01 set up (its motd written) since.
    Run(
        "2026-10-30T08:00:00+00:00",
        "ann",
        "fs01",
        "drift",
        None,
        (Change("file", "/etc/motd", "file.write", "add"),),
    ),
    Run("2026-10-30T09:00:00+00:00", "ann", "fs01", "in_sync"),
    Run("2026-10-30T09:00:00+00:00", "ann", "desk01", "in_sync"),
    Run(
        "2026-11-01T08:00:00+00:00",
        "ann",
        "fs01",
        "drift",
        None,
        (Change("file", "/etc/motd", "file.write", "change"),),
    ),
    Run("2026-11-02T08:00:00+00:00", "ann", "fs01", "in_sync"),
    Run(
        "2026-11-02T09:00:00+00:00",
        "ann",
        "desk01",
        "drift",
        None,
        (
            Change("backup", "documents", "backup.run", "change", "newest snapshot 3 days old"),
            Change("printer", HOSTILE, "printer.read", "unknown", "the printer does not answer"),
        ),
    ),
]
RECORDS = [
    record("2026-11-01T08:01:00+00:00", "fs01", "file.write", "/etc/motd", "started"),
    record("2026-11-01T08:01:01+00:00", "fs01", "file.write", "/etc/motd"),
    record("2026-11-01T08:02:00+00:00", "other-client-host", "file.write", "/etc/x"),
    record("2026-11-01T08:03:00+00:00", "(workspace)", "state.edit", "states/a.toml"),
    record("2026-11-02T09:05:00+00:00", "desk01", "service.restart", "cups.service", "failed"),
]


def report() -> Any:
    hosts = [("fs01", "acme", []), ("desk01", "acme", ["documents"]), ("gw01", "acme", [])]
    return build(
        hosts,
        RUNS,
        RECORDS,
        "2026-11-01T00:00:00+00:00",
        "2026-11-03T00:00:00+00:00",
        descriptions={"states/baseline.toml": "Message of the day, tools for the technicians"},
        found=[
            Finding("2026-11-02T09:01:00+00:00", "desk01", "unit", "cups.service failed", "x"),
            Finding("2026-11-02T09:02:00+00:00", "desk01", "unit", "cups.service failed", "y"),
        ],
    )


def test_the_report_says_what_each_machine_was_and_what_was_done() -> None:
    built = report()
    states = {m.name: (m.status, m.backups) for m in built.machines}
    assert states == {
        "fs01": ("in_sync", ()),
        "desk01": ("drift", (("documents", "backup.run: newest snapshot 3 days old"),)),
        "gw01": ("unknown", ()),
    }
    # Exactly the changes attempted on these hosts: no "started", no other client's.
    assert [(a.host, a.op, a.outcome) for a in built.applied] == [
        ("fs01", "file.write", "done"),
        ("desk01", "service.restart", "failed"),
    ]
    assert built.drift_by_day == (("2026-11-01", 1), ("2026-11-02", 2))
    assert built.drifted["fs01"] == (("file.write", "/etc/motd", 1, 2, False),)
    # The chart and the list count the same resources.
    listed = sum(1 for items in built.drifted.values() for item in items)
    assert max(count for _, count in built.drift_by_day) <= listed == 3
    # Why, in the client's words: the agreement kept, or who asked and what went wrong.
    assert [a.why for a in built.applied] == [
        "Message of the day, tools for the technicians",
        "asked for by the technician; it failed: unit cups.service not found",
    ]
    text = markdown(built)
    assert "rules/roles.toml" not in text and "roles.admin" not in text
    # What diagnose found is in the report, once.
    assert text.count("cups.service failed: y (found 2026-11-02 09:02 UTC)") == 1
    assert "cups.service failed: x" not in text
    assert "<td class='when'>2026-11-02 09:05 UTC</td>" in render_html(built)


def test_a_hosts_first_setup_is_not_drift() -> None:
    """A new host's first plans find its whole state missing: until tendr has made each
    resource, it is being set up, not drifting; the same resource differing later is."""
    missing = tuple(Change("file", f"/etc/f{n}", "file.write", "add") for n in range(27))
    runs = [
        Run("2026-11-01T08:00:00+00:00", "ann", "new", "drift", None, missing),
        Run("2026-11-01T09:00:00+00:00", "ann", "new", "drift", None, missing[:1]),
        Run("2026-11-02T08:00:00+00:00", "ann", "new", "in_sync"),
        Run("2026-11-03T08:00:00+00:00", "ann", "new", "drift", None, missing[3:4]),
    ]
    built = build([("new", "acme", [])], runs, [], runs[0].time, "2026-11-04T00:00:00+00:00")
    assert built.drift_by_day == (("2026-11-01", 0), ("2026-11-02", 0), ("2026-11-03", 1))
    assert built.drifted["new"] == (("file.write", "/etc/f3", 1, 4, True),)
    early = build([("new", "acme", [])], runs[:2], [], runs[0].time, runs[1].time)
    [machine] = early.machines
    assert machine.problems == (("file.write", "/etc/f0", "not set up yet"),)


def test_values_from_hosts_are_inert_in_markdown_and_html() -> None:
    text = markdown(report())
    assert "<script>" not in text and "\\<script\\>" in text
    assert "| desk01 | drifting |" in text
    page = render_html(report())
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http" not in page.replace("http-equiv", "")  # no external asset
    assert "<svg" in page and "<style>" in page


@needs_root
def test_the_report_lists_exactly_the_changes_of_the_period(tmp_path: Path) -> None:
    """Two applies, the report from between them: only the second's change, in every
    format; hosts of another client are not in it."""
    first, second = tmp_path / "out" / "one", tmp_path / "out" / "two"
    files = {
        "hosts/acme.toml": '[hosts.here]\nconnector = "local"\n',
        "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{first}"\ncontent = "1\\n"\n',
        "rules/roles.toml": ADMIN_RULES,
    }
    ws = build_tree(tmp_path / "ws", files)
    assert run_tendr("apply", "-w", str(ws), "--yes")[0] == 0
    code, text = run_tendr("audit-log", "show", "-w", str(ws), "--format", "json")
    last = datetime.fromisoformat(json.loads(text)["records"][-1]["time"])
    between = (last + timedelta(milliseconds=1)).isoformat()  # --since is inclusive
    (ws / "states/t.toml").write_text(
        f'hosts = ["all"]\n[[file]]\npath = "{second}"\ncontent = "2\\n"\n'
    )
    assert run_tendr("apply", "-w", str(ws), "--yes")[0] == 0
    code, text = run_tendr(
        "report", "-w", str(ws), "-l", "client:acme", "--since", between, "--format", "json"
    )
    assert code == 0, text
    done = json.loads(text)["applied"]
    assert [(a["op"], a["resource"], a["outcome"]) for a in done] == [
        ("file.write", str(second), "done")
    ]
    code, text = run_tendr("report", "-w", str(ws), "--since", between)
    assert code == 0 and str(second) in text and str(first) not in text.split("## Drift")[0]
    code, text = run_tendr("report", "-w", str(ws), "--as", "mallory")
    assert code == 1 and "permission denied" in text


def png_is_blank(path: Path) -> bool:
    """Whether every pixel of an (8-bit RGB or RGBA, non-interlaced) PNG is the same."""
    data = path.read_bytes()
    chunks, at = [], 8
    width = height = 0
    kind = 2
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        name = data[at + 4 : at + 8]
        body = data[at + 8 : at + 8 + length]
        if name == b"IHDR":
            width, height, _, kind = struct.unpack(">IIBB", body[:10])
        elif name == b"IDAT":
            chunks.append(body)
        at += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    size = 4 if kind == 6 else 3
    stride = width * size + 1
    first = raw[1 : 1 + size]
    return all(
        raw[row * stride + 1 + col * size : row * stride + 1 + (col + 1) * size] == first
        for row in range(0, height, 7)
        for col in range(0, width, 7)
    )


BROWSER = shutil.which("chromium")


@requires(BROWSER is not None, "Debian's chromium renders the HTML report")
def test_the_html_report_renders_in_a_browser(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(report()), encoding="utf-8")
    shot = tmp_path / "report.png"
    browser = [str(BROWSER), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    subprocess.run(
        [*browser, f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.exists() and not png_is_blank(shot)
    dom = subprocess.run(
        [*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert "Maintenance report: acme" in dom and "desk01" in dom and "service.restart" in dom
