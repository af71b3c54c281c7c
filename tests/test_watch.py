"""tendr watch's reckoning (open, still open, cleared, flapping), severities, alerts'
choices and messages: pure, with properties over random sequences of cycles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tendr.base.settings import Alert, SecretFile
from tendr.core import watch
from tendr.core.watch import Event, Tracked, advance
from tendr.kinds.kind import Problem


def found(host: str, key: str, severity: str = "warning", client: str = "acme") -> Tracked:
    problem = Problem("unit" if severity == "critical" else "printer", key, "why", "fix", key=key)
    return watch.tracked(host, client, problem, "")


def cycle_time(n: int) -> str:
    return f"2026-01-01T00:{n:02d}:00+00:00"


def run(
    cycles: Sequence[tuple[set[str], bool]], clear_after: int = 2, host: str = "h1"
) -> tuple[list[Tracked], list[list[Event]]]:
    """Each cycle: the keys found on `host`, and whether the host was read."""
    kept: list[Tracked] = []
    said: list[list[Event]] = []
    for n, (keys, read) in enumerate(cycles):
        seen = [found(host, k) for k in sorted(keys)] if read else []
        kept, events = advance(kept, seen, {host} if read else set(), cycle_time(n), clear_after)
        said.append(events)
    return kept, said


def test_a_problem_opens_once_stays_open_and_clears_after_staying_away() -> None:
    kept, said = run([({"a"}, True), ({"a"}, True), (set(), True), (set(), True), (set(), True)])
    assert [[e.kind for e in events] for events in said] == [["opened"], [], [], ["cleared"], []]
    [problem] = kept
    assert problem.first_seen == cycle_time(0) and problem.last_seen == cycle_time(1)
    assert problem.cleared == cycle_time(2) and not problem.open


def test_clear_after_one_clears_at_once() -> None:
    _, said = run([({"a"}, True), (set(), True)], clear_after=1)
    assert [[e.kind for e in events] for events in said] == [["opened"], ["cleared"]]


def test_a_flapping_problem_is_one_alert() -> None:
    flaps = [({"a"}, True), (set(), True)] * 4
    kept, said = run(flaps)
    kinds = [e.kind for events in said for e in events]
    assert kinds == ["opened"]
    assert kept[0].first_seen == cycle_time(0)  # the same problem all along


def test_a_problem_back_after_its_clearing_was_told_opens_again() -> None:
    kept, said = run([({"a"}, True), (set(), True), (set(), True), ({"a"}, True)])
    assert [e.kind for events in said for e in events] == ["opened", "cleared", "opened"]
    assert kept[0].first_seen == cycle_time(3) and kept[0].cleared is None


def test_a_host_not_read_keeps_its_problems() -> None:
    kept, said = run([({"a"}, True), (set(), False), (set(), False), (set(), False)])
    assert [e.kind for events in said for e in events] == ["opened"]
    assert kept[0].open and kept[0].cleared is None


def test_other_hosts_problems_are_left_alone() -> None:
    first, _ = advance([], [found("h1", "a"), found("h2", "b")], {"h1", "h2"}, cycle_time(0))
    after, events = advance(first, [found("h1", "a")], {"h1"}, cycle_time(1), 1)
    assert events == [] and {p.identity: p.cleared for p in after} == {
        ("h1", "printer", "a"): None,
        ("h2", "printer", "b"): None,
    }


cycles = st.lists(
    st.tuples(st.sets(st.sampled_from("abc"), max_size=3), st.booleans()), max_size=25
)


@given(cycles, st.integers(min_value=1, max_value=4))
def test_events_alternate_and_match_what_is_open(
    sequence: list[tuple[set[str], bool]], clear_after: int
) -> None:
    kept, said = run(sequence, clear_after)
    for key in "abc":
        kinds = [e.kind for events in said for e in events if e.problem.key == key]
        # opened, cleared, opened...: never told twice the same thing in a row
        assert kinds == ["opened", "cleared"] * (len(kinds) // 2) + ["opened"] * (len(kinds) % 2)
        problem = [p for p in kept if p.key == key]
        assert bool(problem and problem[0].open) == (kinds[-1:] == ["opened"])
    assert len({p.identity for p in kept}) == len(kept)
    if sequence and sequence[-1][1]:  # what the last read found is open
        assert {p.key for p in kept if p.open and p.cleared is None} == sequence[-1][0]


@given(cycles, st.integers(min_value=1, max_value=4))
def test_a_clearing_is_told_only_after_clear_after_read_cycles_without_it(
    sequence: list[tuple[set[str], bool]], clear_after: int
) -> None:
    _, said = run(sequence, clear_after)
    for n, events in enumerate(said):
        for event in events:
            if event.kind != "cleared":
                continue
            reads = [keys for keys, read in sequence[: n + 1] if read]
            assert len(reads) >= clear_after + 1
            assert all(event.problem.key not in keys for keys in reads[-clear_after:])


def test_severity_per_area() -> None:
    def of(area: str, what: str = "x") -> str:
        return watch.severity(Problem(area, what, ""))

    assert of("host") == of("unit") == of("backup") == "critical"
    assert of("memory") == of("printer") == of("drift") == of("health") == "warning"
    assert of("disk", "/srv is 95% full (/dev/sdb1)") == "critical"
    assert of("disk", "/srv is 92% full (/dev/sdb1)") == "warning"


def test_journal_is_not_watched() -> None:
    assert not watch.watched(Problem("journal", "x", ""))
    assert watch.watched(Problem("drift", "file.write /etc/motd", ""))


def alert(**fields: object) -> Alert:
    return Alert.model_validate({"url": SecretFile(file="secrets/a.url"), **fields})


def test_an_alert_takes_its_clients_and_severities() -> None:
    assert watch.wanted(alert(), found("h", "a"))
    assert not watch.wanted(alert(clients=["beta"]), found("h", "a"))
    assert not watch.wanted(alert(min_severity="critical"), found("h", "a"))
    assert watch.wanted(alert(min_severity="critical"), found("h", "a", "critical"))


def test_quiet_hours_over_midnight() -> None:
    def at(hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 1, 1, hour, minute)

    assert watch.quiet("22:00-07:00", at(23)) and watch.quiet("22:00-07:00", at(6, 59))
    assert not watch.quiet("22:00-07:00", at(7)) and not watch.quiet("22:00-07:00", at(12))
    assert watch.quiet("12:00-13:00", at(12, 30)) and not watch.quiet(None, at(12))


def test_a_reminder_after_remind_after() -> None:
    problem = replace(found("h", "a"), first_seen=cycle_time(0))
    told = {problem.identity: "2026-01-01T00:00:00+00:00"}
    early, late = datetime(2026, 1, 1, 23, tzinfo=UTC), datetime(2026, 1, 2, 1, tzinfo=UTC)
    assert watch.reminders([problem], alert(remind_after="24h"), told, early) == []
    assert watch.reminders([problem], alert(remind_after="24h"), told, late) == [
        Event("reminder", problem)
    ]
    assert watch.reminders([problem], alert(), told, late) == []


def test_a_message_groups_a_clients_events_with_cause_and_fix() -> None:
    opened = found("acme-fs01", "backup.run documents", "critical")
    cleared = replace(found("acme-pc02", "print queue x"), cleared=cycle_time(3))
    title, body = watch.message("acme", [Event("opened", opened), Event("cleared", cleared)])
    assert title == "tendr: acme: 1 new, 1 cleared"
    assert "[new] critical acme-fs01 unit: backup.run documents" in body
    assert "cause: why" in body and "fix:   fix" in body
    assert "[cleared] warning acme-pc02 printer: print queue x" in body
