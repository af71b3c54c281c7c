"""Shared test setup: the test fleet's fixtures, and a workspace builder."""

from __future__ import annotations

pytest_plugins = ["tests.fleet.plugin"]
