"""Kind diffs as data: each tests/cases/diff/*.toml holds desired state (one resource, or
a list of them), the probe's raw output for that kind, workspace files a `source` names,
and the expected changes (parse + pure diff together)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tendr.plan import plan_host

CASES = sorted((Path(__file__).parent / "cases" / "diff").glob("*.toml"))


def run_case(case: dict[str, Any]) -> list[dict[str, Any]]:
    from tendr.states import SPECS

    desired = case["desired"] if isinstance(case["desired"], list) else [case["desired"]]
    specs = [SPECS[case["kind"]].model_validate(d) for d in desired]
    sources = {k: v.encode() for k, v in case.get("sources", {}).items()}
    plan = plan_host("h", [("states/case.toml", spec) for spec in specs],
                     {case["kind"]: case["lines"]}, sources)
    return [
        {"op": c.op, "action": c.action, "fields": {f.name: [f.before, f.after] for f in c.fields},
         "depends_on": c.depends_on, "note": c.note, "resource": c.resource}
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
        if "fields" in want:  # every field that changes, and nothing else
            assert change["fields"] == want["fields"]
        if "resource" in want:
            assert change["resource"] == want["resource"]
        if "depends_on" in want:
            assert bool(change["depends_on"]) == want["depends_on"]
        if "note" in want:
            assert change["note"] == want["note"]


def test_cases_exist() -> None:
    """The data directory is found (an empty parametrize would test nothing)."""
    assert len(CASES) >= 10
