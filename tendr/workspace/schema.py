"""JSON Schema of the workspace files, for editors (Taplo / Even Better TOML)."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from tendr.base.model import Strict
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
    _describe(schema, model)
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


def _attribute_docstrings(cls: type) -> dict[str, str]:
    """The docstring written under each annotated attribute of `cls`'s own body."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    found = {}
    for statement, after in zip(body, body[1:], strict=False):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            found[statement.target.id] = inspect.cleandoc(after.value.value)
    return found


def _describe(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Each field's docstring as its description, for editors to show on hover; read
    here, for the schema alone (pydantic's use_attribute_docstrings would read every
    model's source whenever tendr starts). `$defs` are named after their classes."""
    classes: dict[str, list[type]] = {}
    pending: list[type] = [Strict]
    while pending:
        cls = pending.pop()
        classes.setdefault(cls.__name__, []).append(cls)
        pending.extend(cls.__subclasses__())
    places = [(schema, model)] + [
        (definition, found[0])
        for name, definition in schema.get("$defs", {}).items()
        if len(found := classes.get(name, [])) == 1
    ]
    for place, cls in places:
        docs: dict[str, str] = {}
        for ancestor in reversed(cls.__mro__):
            docs.update(_attribute_docstrings(ancestor))
        fields = getattr(cls, "model_fields", {})
        for name, doc in docs.items():
            key = fields[name].alias or name if name in fields else name
            prop = place.get("properties", {}).get(key)
            if isinstance(prop, dict):
                prop.setdefault("description", doc)
