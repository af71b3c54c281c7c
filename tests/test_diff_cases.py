"""Kind diffs as data: each tests/cases/diff/*.toml holds desired state, the probe's raw
output for that kind, and the expected changes (parse + pure diff together)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tendr.plan import plan_host

CASES = sorted((Path(__file__).parent / "cases" / "diff").glob("*.toml"))


def run_case(case: dict[str, Any]) -> list[dict[str, Any]]:
    from tendr.states import SPECS

    spec = SPECS[case["kind"]].model_validate(case["desired"])
    plan = plan_host("h", [("states/case.toml", spec)], {case["kind"]: case["lines"]}, {})
    return [
        {"op": c.op, "action": c.action, "fields": {f.name: [f.before, f.after] for f in c.fields},
         "depends_on": c.depends_on, "note": c.note}
        for c in plan.changes
    ]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_diff_case(path: Path) -> None:
    """The kind's parse and diff give exactly the expected operations and fields."""
    case = tomllib.loads(path.read_text())
    got = run_case(case)
    expected = case["expected"]
    assert [(c["op"], c["action"]) for c in got] == [(e["op"], e["action"]) for e in expected]
    for change, want in zip(got, expected, strict=True):
        for name, pair in want.get("fields", {}).items():
            assert change["fields"][name] == pair, name
        if "depends_on" in want:
            assert bool(change["depends_on"]) == want["depends_on"]
        if "note" in want:
            assert change["note"] == want["note"]


def test_cases_exist() -> None:
    """The data directory is found (an empty parametrize would test nothing)."""
    assert len(CASES) >= 10
