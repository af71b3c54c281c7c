"""Shared test setup: the test fleet's fixtures, and a workspace builder."""

from __future__ import annotations

pytest_plugins = ["tests.fleet.plugin"]

from hypothesis import settings  # noqa: E402

# `--hypothesis-profile=mutation` (tests/mutation.py): fewer examples per property, no
# deadline, so each of hundreds of mutants is judged in seconds.
settings.register_profile("mutation", max_examples=40, deadline=None)
