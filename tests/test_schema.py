"""JSON Schema for editors: it accepts what tendr accepts, and refuses typos."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tendr.init import create_workspace
from tendr.schema import FAMILIES, schema_for

REPO_ROOT = Path(__file__).resolve().parent.parent


def _example_files() -> list[tuple[str, Path]]:
    found = [(family, path) for family in ("hosts", "states", "rules")
             for path in sorted((REPO_ROOT / family).glob("*.toml"))]
    return [*found, ("settings", REPO_ROOT / "tendr.toml")]


def check(family: str, data: dict[str, Any]) -> None:
    schema = schema_for(family)
    jsonschema.validators.validator_for(schema).check_schema(schema)
    jsonschema.validate(data, schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize(("family", "path"), _example_files(),
                         ids=[str(p.relative_to(REPO_ROOT)) for _, p in _example_files()])
def test_schema_accepts_example_file(family: str, path: Path) -> None:
    """Each example workspace file is valid against its family's JSON Schema."""
    check(family, tomllib.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("relative", ["hosts/local.toml", "states/baseline.toml",
                                      "rules/roles.toml", "tendr.toml"])
def test_schema_accepts_init_output(tmp_path: Path, relative: str) -> None:
    """Each file `tendr init` writes is valid against its family's JSON Schema."""
    create_workspace(tmp_path / "ws", "alice")
    family = relative.split("/")[0] if "/" in relative else "settings"
    check(family, tomllib.loads((tmp_path / "ws" / relative).read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("family", "data"),
    [
        ("states", {"hosts": ["all"], "service": [{"unit": "cups.service", "enabeld": True}]}),
        ("states", {"hosts": ["all"], "servce": [{"unit": "cups.service"}]}),
        ("states", {"hosts": ["all"], "service": [{"unit": "cups.service", "enabled": "yes"}]}),
        ("hosts", {"hosts": {"fs01": {"port": 70000}}}),
        ("settings", {"paralel": 3}),
    ],
)
def test_schema_refuses_typos_and_wrong_types(family: str, data: dict[str, Any]) -> None:
    """Editors flag unknown keys, unknown kinds and wrong types, as `tendr validate` does."""
    with pytest.raises(jsonschema.ValidationError):
        check(family, data)


def test_every_family_has_a_titled_schema() -> None:
    """Each family's schema names draft 2020-12 and has a title for editors to show."""
    for family in FAMILIES:
        schema = schema_for(family)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["title"]


def test_state_files_have_a_field_for_every_kind_in_the_registry() -> None:
    """The registry (tendr/states/kinds.py) is the one list of kinds: state files accept
    exactly its kinds, and the rules know every kind's operations."""
    from tendr.rules.model import KINDS as OPERATION_KINDS
    from tendr.states.kinds import KINDS
    from tendr.states.model import StateFile

    assert set(StateFile.model_fields) - {"description", "hosts"} == set(KINDS)
    assert set(KINDS) <= set(OPERATION_KINDS)
