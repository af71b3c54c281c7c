"""Shared pydantic base for every model read from a workspace file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Frozen, unknown keys rejected: a typo is an error, never silently ignored.

    Each field's docstring is its description in the JSON Schema (`tendr schema` reads
    them: tendr/workspace/schema.py), which editors show on hover: every field of a
    workspace file has one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)
