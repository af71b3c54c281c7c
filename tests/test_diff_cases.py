"""Kind diffs as data: each tests/cases/diff/*.toml holds desired state (one resource, or
a list of them), the probe's raw output for that kind, workspace files a `source` names,
and the expected changes (parse + pure diff together). A file case without the probe's
`@real` section is a host without links whose folders any account may pass (`plain`
adds it). A case of several kinds planned
together (a unit and the packages the plan installs) gives a `[kinds.NAME]` table with
`desired` and `lines` for each. Fields are compared as JSON shows them, with "(none)"
for null (TOML has no null)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tendr.core.plan import plan_host

CASES = sorted((Path(__file__).parent / "cases" / "diff").glob("*.toml"))


def run_case(case: dict[str, Any]) -> list[dict[str, Any]]:
    from tendr.kinds import SPECS

    desired: list[tuple[str, Any]] = []
    sections: dict[str, list[str]] = {}
    for kind, part in case.get("kinds", {case.get("kind"): case}).items():
        items = part["desired"] if isinstance(part["desired"], list) else [part["desired"]]
        desired += [("states/case.toml", SPECS[kind].model_validate(d)) for d in items]
        sections[kind] = plain(items, part["lines"]) if kind == "file" else part["lines"]
    sources = {k: v.encode() for k, v in case.get("sources", {}).items()}
    plan = plan_host("h", desired, sections, sources)
    return [
        {
            "op": c.op,
            "action": c.action,
            "fields": {f.name: [_toml(f.before), _toml(f.after)] for f in c.fields},
            "needs": list(c.needs),
            "note": c.note,
            "resource": c.resource,
            "resolved": c.resolved,
        }
        for c in plan.changes
    ]


def plain(items: list[dict[str, Any]], lines: list[str]) -> list[str]:
    """File probe lines for a host whose folders are what they say and open to all."""
    if "@real" in lines:
        return lines
    folders = sorted({d["path"].rsplit("/", 1)[0] or "/" for d in items})
    return [*lines, "@real", *folders, "@folders"]


def _toml(value: Any) -> Any:
    return "(none)" if value is None else value


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
        if isinstance(want.get("needs"), list):  # the very changes
            assert change["needs"] == want["needs"]
        elif "needs" in want:
            assert bool(change["needs"]) == want["needs"]
        if "note" in want:
            assert change["note"] == want["note"]
        if "resolved" in want:  # the resource as the host resolves it ("" where the same)
            assert change["resolved"] == want["resolved"]


def test_cases_exist() -> None:
    """The data directory is found (an empty parametrize would test nothing)."""
    assert len(CASES) >= 10
