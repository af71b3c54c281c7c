"""Resource kinds: one module per kind; the registry is tendr/kinds/registry.py."""

from __future__ import annotations

from tendr.kinds.base import ResourceSpec
from tendr.kinds.registry import KINDS

SPECS: dict[str, type[ResourceSpec]] = {name: kind.spec for name, kind in KINDS.items()}
"""Each kind's spec model, in the order changes run on a host."""
