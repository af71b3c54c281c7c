"""Start-up: the commands a technician runs all day import only what they use.

Each command runs in a fresh Python (as the `tendr` console script would, on this
repository's example workspace), which then lists the modules it imported. pyinfra,
paramiko and gevent (about 0.3 s) belong to the commands that reach hosts; the other
command families' modules are not imported either (bench/startup.py measures the time).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Runs tendr's entry point with the given arguments, then writes the modules imported.
PROBE = """\
import json, sys
out, sys.argv = sys.argv[1], ["tendr", *sys.argv[2:]]
from tendr.__main__ import main
try:
    main()
except SystemExit:
    pass
with open(out, "w", encoding="utf-8") as handle:
    json.dump(sorted(sys.modules), handle)
"""

REACHING_HOSTS = ("pyinfra", "paramiko", "gevent")
OTHER_FAMILIES = (
    "tendr.ops",
    "tendr.remote",
    "tendr.cli.plan_apply",
    "tendr.cli.on_demand",
    "tendr.cli.onboard",
    "tendr.cli.audit",
    "tendr.cli.gateway",
    "tendr.cli.reading",
    "tendr.cli.progress",
)


def imported(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    listing = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(listing), *args],
        cwd=ROOT,  # `-c` puts it first on sys.path: this working tree's tendr
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, set(json.loads(listing.read_text(encoding="utf-8")))


def top(modules: set[str], names: tuple[str, ...]) -> set[str]:
    """Those of `modules` that are one of `names` or inside one of them."""
    return {m for m in modules if any(m == n or m.startswith(n + ".") for n in names)}


@pytest.mark.parametrize(
    "args",
    [
        ("validate",),
        ("hosts",),
        ("rules", "explain", "root", "plan", "localhost"),
    ],
    ids=lambda args: " ".join(args),
)
def test_workspace_commands_load_neither_pyinfra_nor_other_commands(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    done, modules = imported(tmp_path, *args, "-w", str(ROOT))
    # hosts and rules explain may refuse an account in no role (exit 1); no bug either way
    assert done.returncode in (0, 1), done.stderr
    assert "internal error" not in done.stderr
    assert "tendr.workspace.loader" in modules  # the command did run
    assert top(modules, REACHING_HOSTS) == set()
    assert top(modules, OTHER_FAMILIES) == set()


def test_validate_says_the_example_workspace_is_valid(tmp_path: Path) -> None:
    done, _ = imported(tmp_path, "validate", "-w", str(ROOT))
    assert done.returncode == 0, done.stderr
    assert "is valid" in done.stdout


def test_version_imports_no_command(tmp_path: Path) -> None:
    done, modules = imported(tmp_path, "--version")
    assert done.returncode == 0
    assert done.stdout.startswith("tendr ")
    assert top(modules, ("tendr.cli", "pydantic", "typer")) == set()


def test_a_host_command_still_loads_what_it_needs(tmp_path: Path) -> None:
    """The laziness is per command: plan's --help builds plan, which imports its module."""
    done, modules = imported(tmp_path, "plan", "--help")
    assert done.returncode == 0, done.stderr
    assert "tendr.cli.plan_apply" in modules
    assert "tendr.cli.audit" not in modules
