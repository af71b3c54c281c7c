"""Test helpers: build workspace trees from plain text, run tendr in-process."""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from typer.testing import CliRunner

from tendr.cli.app import app

# A minimal valid workspace: one local host, one state file, no rules.
LOCAL_HOSTS = """\
[hosts.desk01]
connector = "local"
groups = ["frontdesk"]
tags = ["lab"]
"""


def build_tree(root: Path, files: Mapping[str, str]) -> Path:
    """Write `files` ({relative path: text}) under `root`; return `root`.

    Files get mode 0644 and folders 0755 whatever the umask is, because the
    loader refuses rules files that group or others can write.
    """
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for relative, text in files.items():
        target = root / relative
        for parent in reversed(target.relative_to(root).parents[:-1]):
            folder = root / parent
            folder.mkdir(exist_ok=True)
            folder.chmod(0o755)
        target.write_text(text, encoding="utf-8")
        target.chmod(0o644)
    return root


ME = pwd.getpwuid(os.geteuid()).pw_name
"""The account running the tests: the acting person of every command they run."""

ADMIN_RULES = f"""\
[roles.admin]
members = ["{ME}"]
allow = [{{ ops = ["*", "command.run", "shell"], hosts = ["all"] }}]
"""


def run_tendr(*args: str) -> tuple[int, str]:
    """Run a tendr command in-process: (exit code, what the person reads)."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


F = TypeVar("F", bound=Callable[..., Any])


def requires(ok: bool, why: str) -> Callable[[F], F]:
    """A precondition `.ci/run` provides (root, dpkg, the installed script). Unmet, the
    test fails saying so: it never skips, since a test CI skips tests nothing."""

    def decorate(test: F) -> F:
        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> Any:
            if not ok:
                pytest.fail(f"{why} (bash .ci/run installs what the tests need)", pytrace=False)
            return test(*args, **kwargs)

        return cast(F, run)

    return decorate


def needs_root(test: F) -> F:
    """For a test that acts as root on this machine (owners, applying to it, root's
    folder checks): marked `root`, so an account that is not root deselects it with
    -m 'not fleet and not root', and failing clearly when run without root anyway."""
    checked = requires(os.geteuid() == 0, "this test acts as root on this machine")(test)
    return cast(F, pytest.mark.root(checked))


# The console script of the environment running the tests (not whichever `tendr` comes
# first on PATH): the installed program as users run it, gevent patched in.
TENDR_PROGRAM = Path(sys.executable).with_name("tendr")
REPO = Path(__file__).resolve().parent.parent


def run_program(*args: str, timeout: float = 300, **popen: Any) -> subprocess.CompletedProcess[str]:
    """Run the installed `tendr` program with no terminal: (exit code, stdout, stderr)."""
    if not TENDR_PROGRAM.exists():
        pytest.fail(f"{TENDR_PROGRAM} is not installed (pip install -e .)", pytrace=False)
    # This checkout's tendr, wherever the editable install points (a git worktree's
    # tests test the worktree): PYTHONPATH comes before the installed package.
    env = dict(popen.pop("env", None) or os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [str(TENDR_PROGRAM), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
        **popen,
    )


BROWSER = shutil.which("chromium")
"""Debian's chromium, which renders the HTML pages tendr writes (headless)."""


def rendered(page: Path) -> str:
    """The page's DOM as headless Chromium renders it."""
    browser = [str(BROWSER), "--headless", "--no-sandbox", "--disable-gpu"]
    return subprocess.run(
        [*browser, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
