"""apply through pyinfra's local connector: confirmation, and the example workspace."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from tendr.cli.app import app
from tests.helpers import ADMIN_RULES, build_tree, needs_root

REPO = Path(__file__).resolve().parent.parent


def local_workspace(tmp_path: Path, target: Path) -> Path:
    return build_tree(
        tmp_path / "ws",
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{target}"\ncontent = "x\\n"\n',
            "rules/roles.toml": ADMIN_RULES,
        },
    )


def test_apply_without_terminal_needs_yes(tmp_path: Path) -> None:
    """Without a terminal and without --yes, apply stops with a clear message."""
    target = tmp_path / "out" / "motd"
    ws = local_workspace(tmp_path, target)
    result = CliRunner().invoke(app, ["apply", "-w", str(ws)])
    assert result.exit_code == 1
    assert "no terminal to confirm on: pass --yes" in result.output
    assert not target.exists()


@needs_root
def test_apply_local_then_in_sync(tmp_path: Path) -> None:
    """The local connector applies a file and the next plan is in sync."""
    target = tmp_path / "out" / "motd"
    ws = local_workspace(tmp_path, target)
    result = CliRunner().invoke(app, ["apply", "-w", str(ws), "--yes"])
    assert result.exit_code == 0, result.output
    assert target.read_text() == "x\n"
    result = CliRunner().invoke(app, ["plan", "-w", str(ws)])
    assert result.exit_code == 0 and "here: in sync" in result.output


def test_example_workspace_plans_on_this_machine() -> None:
    """The repository's example workspace plans the local machine: files and packages
    are compared, and what cannot be read here is said per resource."""
    result = CliRunner().invoke(app, ["plan", "-w", str(REPO), "--format", "json"])
    assert result.exit_code in (0, 2), result.output
    [host] = json.loads(result.output)["hosts"]
    assert host["name"] == "localhost" and host["error"] is None
    ops = {c["op"] for c in host["changes"]}
    # The example's printer points at no real printer: it is planned all the same.
    assert "printer.add" in ops or "printer.read" in ops
    assert not [c for c in host["changes"] if "not implemented" in (c["note"] or "")]
    unit_changes = [c for c in host["changes"] if c["kind"] == "service"]
    if not Path("/run/systemd/system").is_dir():
        assert all(
            c["action"] == "unknown" and "systemd is not running" in c["note"] for c in unit_changes
        )


@needs_root  # mounts a file system
def test_a_full_disk_under_the_workspace_is_said_plainly(tmp_path: Path) -> None:
    """.tendr/ on a full disk: apply says so (exit 1, no traceback, no internal error),
    nothing is made; plan and diagnose still read, saying what could not be kept."""
    target = tmp_path / "out" / "motd"
    ws = local_workspace(tmp_path, target)
    (ws / ".tendr").mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tendr-test", str(ws / ".tendr")], check=True
    )
    try:
        filler = ws / ".tendr" / "filler"
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={filler}", "bs=4k", "count=100"],
            capture_output=True,
            check=False,
        )
        result = CliRunner().invoke(app, ["apply", "-w", str(ws), "--yes"])
        assert result.exit_code == 1, result.output
        assert "No space left on device); nothing was applied" in result.output
        assert "internal error" not in result.output and not target.exists()
        result = CliRunner().invoke(app, ["plan", "-w", str(ws)])
        assert result.exit_code == 2, result.output
        assert "drift history" in result.output and "could not be written" in result.output
    finally:
        subprocess.run(["umount", "-l", str(ws / ".tendr")], check=False)
