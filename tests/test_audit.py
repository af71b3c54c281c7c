"""The audit log: every applied change recorded, and any tampering detected."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tendr.base.times import TIME_FORMS
from tendr.core.audit import GENESIS, chain, verify
from tests.helpers import ADMIN_RULES, LOCAL_HOSTS, build_tree, needs_root, run_tendr

ENTRIES = [{"host": f"h{i}", "op": "file.write", "resource": f"/etc/f{i}"} for i in range(5)]


def lines_of(records: list[dict[str, object]]) -> list[str]:
    return [json.dumps(r, sort_keys=True) + "\n" for r in records]


def test_an_untouched_chain_verifies() -> None:
    """A chain as written verifies, and its head is the last record's hash."""
    records = chain(ENTRIES, GENESIS, 0)
    verdict = verify(lines_of(records))
    assert verdict.ok and verdict.records == 5 and verdict.head == records[-1]["hash"]
    assert verify(lines_of(records), head=records[2]["hash"]).ok


@given(
    st.integers(0, 4),
    st.sampled_from(["host", "op", "resource", "seq", "prev"]),
    st.text(min_size=1, max_size=5),
)
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


@needs_root
def test_apply_records_every_change_and_verify_catches_tampering(tmp_path: Path) -> None:
    """apply records each change as started before the host's changes are sent and with
    its outcome after; editing the log makes `audit-log verify` fail."""
    out = tmp_path / "out"
    ws = build_tree(
        tmp_path / "ws",
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{out}/a"\ncontent = "a"\n'
            f'[[file]]\npath = "{out}/b"\ncontent = "b"\n',
            "rules/roles.toml": ADMIN_RULES,
        },
    )
    code, text = run_tendr("apply", "-w", str(ws), "--yes")
    assert code == 0, text
    code, raw = run_tendr("audit-log", "show", "-w", str(ws), "--format", "json")
    records = json.loads(raw)["records"]
    assert [(r["op"], r["resource"], r["outcome"], r["person"]) for r in records] == [
        ("file.write", f"{out}/a", "started", "root"),
        ("file.write", f"{out}/b", "started", "root"),
        ("file.write", f"{out}/a", "done", "root"),
        ("file.write", f"{out}/b", "done", "root"),
    ]
    times = [datetime.fromisoformat(r["time"]) for r in records]
    assert times == sorted(set(times)), "each record has its own time, in order"
    code, text = run_tendr("audit-log", "verify", "-w", str(ws))
    assert code == 0 and "intact, 4 records" in text

    log = ws / ".tendr" / "audit.log"
    log.write_text(log.read_text().replace(f"{out}/a", f"{out}/x"))
    code, text = run_tendr("audit-log", "verify", "-w", str(ws))
    assert code == 1 and "broken at line 1" in text


@needs_root
def test_apply_through_sudo_records_the_person_and_the_real_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run by root through sudo, apply acts for SUDO_USER, and its records say so as the
    person while the account is the one that really ran it: root, not SUDO_USER again."""
    monkeypatch.setenv("SUDO_USER", "someone")
    ws = build_tree(
        tmp_path / "ws",
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{tmp_path}/out/a"\n'
            'content = "a"\n',
            "rules/roles.toml": '[roles.admin]\nmembers = ["someone"]\n'
            'allow = [{ ops = ["*"], hosts = ["all"] }]\n',
        },
    )
    code, text = run_tendr("apply", "-w", str(ws), "--yes")
    assert code == 0, text
    code, raw = run_tendr("audit-log", "show", "-w", str(ws), "--format", "json")
    records = json.loads(raw)["records"]
    assert [(r["outcome"], r["person"], r["account"]) for r in records] == [
        ("started", "someone", "root"),
        ("done", "someone", "root"),
    ]


def test_apply_refuses_to_start_when_changes_could_not_be_recorded(tmp_path: Path) -> None:
    """A damaged audit log stops apply before any host is touched: no unrecorded change."""
    out = tmp_path / "out"
    ws = build_tree(
        tmp_path / "ws",
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{out}/a"\ncontent = "a"\n',
            "rules/roles.toml": ADMIN_RULES,
            ".tendr/audit.log": '{"seq": 1, "hash": "ab',
        },
    )
    code, text = run_tendr("apply", "-w", str(ws), "--yes")
    assert code == 1
    assert "ends in a damaged record" in text and "nothing was applied" in text
    assert not out.exists()


def test_apply_refuses_a_log_whose_last_record_lacks_its_newline(tmp_path: Path) -> None:
    """A whole record without its newline is a write cut short too: appending after it
    would join two records on one line."""
    out = tmp_path / "out"
    [record] = chain([ENTRIES[0]], GENESIS, 0)
    ws = build_tree(
        tmp_path / "ws",
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{out}/a"\ncontent = "a"\n',
            "rules/roles.toml": ADMIN_RULES,
            ".tendr/audit.log": json.dumps(record),
        },
    )
    code, text = run_tendr("apply", "-w", str(ws), "--yes")
    assert code == 1 and "ends in a damaged record" in text
    assert not out.exists()


# -- audit-log show, head ------------------------------------------------------------

LOGGED = [
    {
        "host": "a",
        "person": "alice",
        "op": "service.restart",
        "resource": "cups.service",
        "outcome": "done",
        "time": "2024-05-01T09:00:00+00:00",
    },
    {
        "host": "b",
        "person": "bob",
        "op": "package.install",
        "resource": "curl",
        "outcome": "done",
        "time": "2024-05-01T12:00:00+00:00",
    },
    {
        "host": "a",
        "person": "bob",
        "op": "service.stop",
        "resource": "cups.service",
        "outcome": "failed",
        "reason": "unit busy",
        "time": "2024-05-02T09:00:00.250000+00:00",
    },
    {
        "host": "b",
        "person": "alice",
        "op": "file.write",
        "resource": "/etc/motd",
        "outcome": "done",
        "time": "2024-05-03T00:00:00+00:00",
    },
]


def logged_workspace(tmp_path: Path, log: str | None = None) -> Path:
    """A workspace whose audit log holds LOGGED (or the text `log`)."""
    return build_tree(
        tmp_path / "ws",
        {
            "hosts/local.toml": LOCAL_HOSTS,
            "states/s.toml": 'hosts = ["all"]\n',
            "rules/roles.toml": ADMIN_RULES,  # records of hosts gone from hosts/: rules.edit
            ".tendr/audit.log": "".join(lines_of(chain(LOGGED, GENESIS, 0)))
            if log is None
            else log,
        },
    )


def shown(ws: Path, *args: str) -> list[int]:
    code, raw = run_tendr("audit-log", "show", "-w", str(ws), "--format", "json", *args)
    assert code == 0, raw
    return [r["seq"] for r in json.loads(raw)["records"]]


@pytest.mark.parametrize(
    ("args", "seqs"),
    [
        ((), [1, 2, 3, 4]),
        (("--host", "a"), [1, 3]),
        (("--person", "alice"), [1, 4]),
        (("--op", "service.*"), [1, 3]),
        (("--op", "service.stop"), [3]),
        (("--op", "*.install"), [2]),
        (("--op", "*"), [1, 2, 3, 4]),
        (("--since", "2024-05-01T12:00:00Z"), [2, 3, 4]),  # at or after
        (("--until", "2024-05-01T12:00:00+00:00"), [1, 2]),  # at or before
        (("--since", "2024-05-01T13:00+02:00", "--until", "2024-05-02T09:00:00.25Z"), [2, 3]),
        (("--since", "2024-04-30", "--until", "2024-05-04"), [1, 2, 3, 4]),  # local midnights
        (("--until", "2024-04-30"), []),
        (("--host", "b", "--person", "alice"), [4]),
        (("--person", "bob", "--last", "1"), [3]),  # the latest matching record
        (("--host", "nobody"), []),
    ],
)
def test_show_filters(tmp_path: Path, args: tuple[str, ...], seqs: list[int]) -> None:
    """Each filter alone and together; --last counts the matching records."""
    assert shown(logged_workspace(tmp_path), *args) == seqs


def test_show_prints_each_record_on_a_line(tmp_path: Path) -> None:
    code, text = run_tendr(
        "audit-log", "show", "-w", str(logged_workspace(tmp_path)), "--host", "a"
    )
    assert code == 0
    assert text.splitlines() == [
        "    1 2024-05-01T09:00:00+00:00 alice a done service.restart cups.service",
        "    3 2024-05-02T09:00:00.250000+00:00 bob a failed service.stop cups.service (unit busy)",
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--since", "soon"), 1, "error: --since: 'soon' is not '-2h' or '1 hour ago'"),
        (("--until", "2024-13-01"), 1, "error: --until: '2024-13-01' is not '-2h' or '1 hour"),
        (("--op", "servce.*"), 1, "error: --op: 'servce.*': 'servce' is not a kind"),
        (("--op", "service.*.x"), 1, "error: --op: 'service.*.x' can match no operation"),
        (("--last", "0"), 64, "--last"),
        (("--last", "-3"), 64, "--last"),
    ],
)
def test_show_refuses_bad_options(
    tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    """A bad time or pattern is an error naming the option; --last below 1 a usage error."""
    result = run_tendr("audit-log", "show", "-w", str(logged_workspace(tmp_path)), *args)
    assert result[0] == code and message in result[1], result
    assert "Traceback" not in result[1]


def test_a_bad_time_in_json_mode_is_a_json_error(tmp_path: Path) -> None:
    code, raw = run_tendr(
        "audit-log",
        "show",
        "-w",
        str(logged_workspace(tmp_path)),
        "--format",
        "json",
        "--since",
        "soon",
    )
    assert code == 1
    expected = TIME_FORMS
    assert json.loads(raw) == {
        "ok": False,
        "code": "time.invalid",
        "error": f"--since: 'soon' is not {expected}",
        "option": "--since",
        "value": "soon",
        "expected": expected,
    }


WHOLE = "".join(lines_of(chain(LOGGED[:2], GENESIS, 0)))
TORN_MESSAGE = (
    "broken at line 3: the record is cut off (the log does not end with a "
    "newline): a write was interrupted (2 records intact before it)"
)


@pytest.mark.parametrize(
    "tail",
    [
        '{"seq": 3, "host": "a", "pre',  # half a record
        lines_of(chain(LOGGED[2:3], json.loads(WHOLE.splitlines()[-1])["hash"], 2))[0].rstrip(),
    ],
    ids=["half-written", "no-newline"],
)
def test_a_torn_last_record_is_reported_by_verify_show_and_head(tmp_path: Path, tail: str) -> None:
    """A write cut short: verify, show and head all say where and exit 1; show still
    prints the records before it, head prints no head."""
    ws = logged_workspace(tmp_path, WHOLE + tail)
    code, text = run_tendr("audit-log", "verify", "-w", str(ws))
    assert code == 1 and f".tendr/audit.log: {TORN_MESSAGE}" in text
    code, text = run_tendr("audit-log", "show", "-w", str(ws))
    assert code == 1
    assert [line.split()[0] for line in text.splitlines()[:2]] == ["1", "2"]
    assert f".tendr/audit.log: {TORN_MESSAGE}" in text
    code, raw = run_tendr("audit-log", "show", "-w", str(ws), "--format", "json")
    data = json.loads(raw)
    assert code == 1 and data["chain"]["ok"] is False and data["chain"]["line"] == 3
    code, text = run_tendr("audit-log", "head", "-w", str(ws))
    assert code == 1 and TORN_MESSAGE in text
    assert json.loads(WHOLE.splitlines()[-1])["hash"] not in text


def test_head_of_a_changed_log_is_refused(tmp_path: Path) -> None:
    """head vouches only for an intact chain."""
    ws = logged_workspace(tmp_path, WHOLE.replace('"bob"', '"eve"'))
    code, text = run_tendr("audit-log", "head", "-w", str(ws))
    assert code == 1 and "broken at line 2" in text
    code, text = run_tendr("audit-log", "show", "-w", str(ws))
    assert code == 1 and "eve" in text and "broken at line 2" in text


def test_head_of_an_intact_log_is_its_last_hash(tmp_path: Path) -> None:
    code, text = run_tendr("audit-log", "head", "-w", str(logged_workspace(tmp_path)))
    assert code == 0
    assert text.strip() == chain(LOGGED, GENESIS, 0)[-1]["hash"]


def test_the_records_are_the_owners_alone_and_never_written_through_a_link(
    tmp_path: Path,
) -> None:
    """With a lax umask the audit log and the drift history are made 0600 in a 0700
    .tendr/; a link put where the log belongs is refused, its target left alone."""
    import os

    from tendr.core import audit, history
    from tendr.core.plan import Plan

    ws = build_tree(tmp_path / "ws", {"hosts/local.toml": LOCAL_HOSTS})
    before = os.umask(0o002)
    try:
        audit.append(
            ws / ".tendr/audit.log",
            [audit.event("x", "x", "done", "", person="p", account="p", command="x")],
        )
        history.record(ws / ".tendr/history.sqlite", Plan(hosts=()), "p")
    finally:
        os.umask(before)
    assert (ws / ".tendr").stat().st_mode & 0o777 == 0o700
    assert (ws / ".tendr/audit.log").stat().st_mode & 0o777 == 0o600
    assert (ws / ".tendr/history.sqlite").stat().st_mode & 0o777 == 0o600
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("theirs\n")
    (ws / ".tendr/audit.log").unlink()
    (ws / ".tendr/audit.log").symlink_to(elsewhere)
    with pytest.raises(OSError):
        audit.append(
            ws / ".tendr/audit.log",
            [audit.event("x", "x", "done", "", person="p", account="p", command="x")],
        )
    assert elsewhere.read_text() == "theirs\n"
