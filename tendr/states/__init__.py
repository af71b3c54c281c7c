"""Resource kinds: one module per kind; the registry is tendr/states/kinds.py."""

from __future__ import annotations

from tendr.states.base import ResourceSpec
from tendr.states.kinds import KINDS

SPECS: dict[str, type[ResourceSpec]] = {name: kind.spec for name, kind in KINDS.items()}
"""Each kind's spec model, in the order changes run on a host."""
