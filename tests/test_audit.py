"""The audit log: every applied change recorded, and any tampering detected."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tendr.audit import GENESIS, chain, verify
from tests.helpers import ADMIN_RULES, build_tree, run_tendr

ENTRIES = [{"host": f"h{i}", "op": "file.write", "resource": f"/etc/f{i}"} for i in range(5)]


def lines_of(records: list[dict[str, object]]) -> list[str]:
    return [json.dumps(r, sort_keys=True) for r in records]


def test_an_untouched_chain_verifies() -> None:
    """A chain as written verifies, and its head is the last record's hash."""
    records = chain(ENTRIES, GENESIS, 0)
    verdict = verify(lines_of(records))
    assert verdict.ok and verdict.records == 5 and verdict.head == records[-1]["hash"]
    assert verify(lines_of(records), head=records[2]["hash"]).ok


@given(st.integers(0, 4), st.sampled_from(["host", "op", "resource", "seq", "prev"]),
       st.text(min_size=1, max_size=5))
def test_any_changed_record_is_detected(index: int, key: str, value: str) -> None:
    """Changing any field of any record breaks the chain at that record's line."""
    records = chain(ENTRIES, GENESIS, 0)
    if records[index][key] == value:
        return
    records[index] = {**records[index], key: value}
    verdict = verify(lines_of(records))
    assert not verdict.ok and verdict.line == index + 1


@given(st.integers(0, 3))
def test_a_removed_record_is_detected(index: int) -> None:
    """Removing a record anywhere but the end breaks the chain where it was."""
    records = chain(ENTRIES, GENESIS, 0)
    del records[index]
    verdict = verify(lines_of(records))
    assert not verdict.ok and verdict.line == index + 1


def test_records_cut_off_the_end_are_detected_with_a_kept_head() -> None:
    """Truncation keeps the chain valid, so a head kept elsewhere is what reveals it."""
    records = chain(ENTRIES, GENESIS, 0)
    kept = records[-1]["hash"]
    assert verify(lines_of(records[:-2])).ok
    verdict = verify(lines_of(records[:-2]), head=kept)
    assert not verdict.ok and "cut off" in verdict.reason


def test_apply_records_every_change_and_verify_catches_tampering(tmp_path: Path) -> None:
    """apply records each change as started before it runs and with its outcome after;
    editing the log makes `audit-log verify` fail."""
    out = tmp_path / "out"
    ws = build_tree(tmp_path / "ws", {
        "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
        "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{out}/a"\ncontent = "a"\n'
                         f'[[file]]\npath = "{out}/b"\ncontent = "b"\n',
        "rules/roles.toml": ADMIN_RULES,
    })
    code, text = run_tendr("apply", "-w", str(ws), "--yes")
    assert code == 0, text
    code, raw = run_tendr("audit-log", "show", "-w", str(ws), "--format", "json")
    records = json.loads(raw)["records"]
    assert [(r["op"], r["resource"], r["outcome"], r["person"]) for r in records] == [
        ("file.write", f"{out}/a", "started", "root"), ("file.write", f"{out}/a", "done", "root"),
        ("file.write", f"{out}/b", "started", "root"), ("file.write", f"{out}/b", "done", "root")]
    code, text = run_tendr("audit-log", "verify", "-w", str(ws))
    assert code == 0 and "intact, 4 records" in text

    log = ws / ".tendr" / "audit.log"
    log.write_text(log.read_text().replace(f"{out}/a", f"{out}/x"))
    code, text = run_tendr("audit-log", "verify", "-w", str(ws))
    assert code == 1 and "broken at line 1" in text


def test_apply_refuses_to_start_when_changes_could_not_be_recorded(tmp_path: Path) -> None:
    """A damaged audit log stops apply before any host is touched: no unrecorded change."""
    out = tmp_path / "out"
    ws = build_tree(tmp_path / "ws", {
        "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
        "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{out}/a"\ncontent = "a"\n',
        "rules/roles.toml": ADMIN_RULES,
        ".tendr/audit.log": '{"seq": 1, "hash": "ab',
    })
    code, text = run_tendr("apply", "-w", str(ws), "--yes")
    assert code == 1
    assert "ends in a damaged record" in text and "nothing was applied" in text
    assert not out.exists()
