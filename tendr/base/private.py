"""tendr's own records (the audit log, the drift history): readable by the workspace's
owner alone, whatever the umask, and never written through a link a local user put in
their place."""

from __future__ import annotations

import os
from pathlib import Path


def open_private(path: Path) -> int:
    """A file descriptor for appending to and reading `path`, made 0600 (in a 0700 folder
    made if missing) when it does not exist; a symbolic link there is refused (OSError,
    ELOOP), as a record must land in the workspace and nowhere else."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(path, flags, 0o600)


def make_private(path: Path) -> None:
    """`path` made 0600 if it does not exist yet (for a library that opens it by name)."""
    os.close(open_private(path))
