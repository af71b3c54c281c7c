"""JSON Schema of the workspace files, for editors (Taplo / Even Better TOML)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tendr.hosts.model import HostsFile
from tendr.rules.model import RulesFile
from tendr.settings import Settings
from tendr.states.model import StateFile

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


def schema_for(family: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one file family."""
    model = FAMILIES[family]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", f"tendr {family} file")
    return schema
