"""Shared test setup: the test fleet's fixtures, and a workspace builder."""

from __future__ import annotations

pytest_plugins = ["tests.fleet.plugin"]

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from tendr.ops.execute import LOCK_DIR_VARIABLE  # noqa: E402

# `--hypothesis-profile=mutation` (tests/mutation.py): fewer examples per property, no
# deadline, so each of hundreds of mutants is judged in seconds.
settings.register_profile("mutation", max_examples=40, deadline=None)


@pytest.fixture(autouse=True)
def host_lock_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """This machine's host lock for each test apart: /run/tendr is machine-wide, so two
    test runs on one machine would refuse each other's applies. TENDR_LOCK_DIR is read
    for the local connector alone (tendr/ops/execute.py, lock_dir); test hosts keep
    theirs, and the installed program run by a test inherits the variable."""
    folder = str(tmp_path_factory.mktemp("host-lock"))
    monkeypatch.setenv(LOCK_DIR_VARIABLE, folder)
    return folder
