"""What tendr itself changes in the gateway's workspace (a grant, a host onboarded,
approved or re-pinned) is committed there by the gateway: clones see it, and a later
push builds on it instead of undoing it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from subprocess import run

from tendr.base.errors import UserError
from tendr.gateway.session import session


def commit_at_gateway(root: Path, files: Sequence[str], message: str) -> None:
    """Commit `files` (relative to the workspace `root`) with `message` when this process
    is the gateway; elsewhere the person commits, as with any edit. Only these files are
    committed (`git commit -- FILES`): nothing else staged rides along."""
    if not files or session() is None or not (root / ".git").is_dir():
        return
    for argv in (
        ["git", "add", "--", *files],
        ["git", "commit", "--quiet", "-m", message, "--", *files],
    ):
        done = run(argv, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            named = ", ".join(files)
            raise UserError(
                f"{named} {'is' if len(files) == 1 else 'are'} written and in force, but "
                f"could not be committed ({done.stderr.strip() or done.stdout.strip()}); "
                "commit on the controller"
            )
