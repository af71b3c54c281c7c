"""The step that sets a file's owner and mode in place fails when either fails: a chown
refused is not hidden by a chmod that went through."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tendr.base.changes import Run
from tendr.kinds.file import attribute_steps
from tests.helpers import needs_root


def run_step(path: Path, owner: str | None, mode: str | None) -> subprocess.CompletedProcess[str]:
    (step,) = attribute_steps(str(path), mode, owner, None)
    assert isinstance(step, Run)
    return subprocess.run(step.argv, capture_output=True, text=True, check=False)


@needs_root
def test_an_owner_that_cannot_be_set_fails_the_step() -> None:
    with tempfile.TemporaryDirectory() as folder:  # root's, 0700, under the sticky /tmp
        target = Path(folder) / "motd"
        target.write_text("x")
        target.chmod(0o644)
        done = run_step(target, "tendr-no-such-account", "0600")
        assert done.returncode != 0, done.stderr
        assert "tendr-no-such-account" in done.stderr
        done = run_step(target, "root", "0600")
        assert done.returncode == 0, done.stderr
        assert target.stat().st_mode & 0o777 == 0o600
