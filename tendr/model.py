"""Shared pydantic base for every model read from a workspace file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Frozen, unknown keys rejected: a typo is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)
