"""JSON Schema of the workspace files, for editors (Taplo / Even Better TOML)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from tendr.base.settings import Settings
from tendr.rules.model import RulesFile
from tendr.workspace.hosts import HostsFile
from tendr.workspace.statefile import StateFile

FAMILIES: dict[str, type[BaseModel]] = {
    "hosts": HostsFile,
    "states": StateFile,
    "rules": RulesFile,
    "settings": Settings,
}

FILE_NAMES = {
    "hosts": "hosts.schema.json",
    "states": "states.schema.json",
    "rules": "rules.schema.json",
    "settings": "tendr.schema.json",
}

# Which files each schema is for, as globs relative to the workspace root.
FILES = {
    "hosts": "hosts/*.toml",
    "states": "states/*.toml",
    "rules": "rules/*.toml",
    "settings": "tendr.toml",
}

TITLES = {
    "hosts": "tendr hosts file (hosts/CLIENT.toml)",
    "states": "tendr state file (states/NAME.toml)",
    "rules": "tendr rules file (rules/NAME.toml)",
    "settings": "tendr settings (tendr.toml)",
}


class _KeysChecked(GenerateJsonSchema):
    """pydantic writes the pattern of a table's keys as `patternProperties`, which leaves a
    key that does not match it unchecked (`hosts."bad name"` would pass); `propertyNames`
    checks every key."""

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        json_schema = super().dict_schema(schema)
        by_pattern = json_schema.pop("patternProperties", None)
        if by_pattern:
            [(pattern, values)] = by_pattern.items()
            json_schema["additionalProperties"] = values
            json_schema.setdefault("propertyNames", {})["pattern"] = pattern
        return json_schema


def schema_for(family: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one file family."""
    model = FAMILIES[family]
    schema = model.model_json_schema(schema_generator=_KeysChecked)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = TITLES[family]  # pydantic's would be the class name
    return schema


def taplo_config(schema_folder: str) -> str:
    """A .taplo.toml for the workspace root: each family's files checked against its schema
    in `schema_folder` (relative to the root, as `tendr schema --output` wrote it)."""
    lines = [
        "# Taplo (Even Better TOML) checks the workspace files against tendr's JSON Schema.",
        f"# After upgrading tendr: tendr schema --output {schema_folder}",
    ]
    for family, pattern in FILES.items():
        lines += [
            "",
            "[[rule]]",
            f'include = ["{pattern}"]',
            "[rule.schema]",
            f'path = "{schema_folder}/{FILE_NAMES[family]}"',
        ]
    return "\n".join(lines) + "\n"
