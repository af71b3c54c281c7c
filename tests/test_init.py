"""`tendr init`: a new workspace that touches nothing until told to, and its failures."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tendr.cli.app import app
from tendr.workspace.schema import schema_for
from tests.helpers import requires


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def new(tmp_path: Path) -> Path:
    target = tmp_path / "acme-ws"
    result = run("init", str(target))
    assert result.exit_code == 0, result.output
    return target


def test_a_new_workspace_targets_no_host(new: Path) -> None:
    """A first plan in a new workspace reaches no host (not even this machine) and has
    nothing to change, so an apply there cannot touch anything."""
    validated = run("validate", "-w", str(new))
    assert validated.exit_code == 0, validated.output
    assert "0 hosts, 0 state files" in validated.output
    planned = run("plan", "-w", str(new), "--format", "json")
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert plan["hosts"] == []
    assert plan["summary"]["add"] == plan["summary"]["change"] == plan["summary"]["remove"] == 0


def test_the_examples_make_a_valid_workspace_once_copied(new: Path) -> None:
    """The examples are not read as they are; copied to .toml names they are a valid
    workspace whose state targets the example client's hosts."""
    for example in new.rglob("*.toml.example"):
        shutil.copy(example, example.with_suffix(""))
    # The example's key is one the technician makes: validate says so until it exists.
    home = new.parent / "home"
    validated = CliRunner().invoke(app, ["validate", "-w", str(new)], env={"HOME": str(home)})
    assert validated.exit_code == 1, validated.output
    assert "defaults.ssh_key: the private key ~/.ssh/tendr_ed25519 does not exist" in (
        validated.output
    )
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh/tendr_ed25519").write_text("made by ssh-keygen\n")
    (home / ".ssh/tendr_ed25519").chmod(0o600)
    validated = CliRunner().invoke(app, ["validate", "-w", str(new)], env={"HOME": str(home)})
    assert validated.exit_code == 0, validated.output
    hosts = run("hosts", "-w", str(new), "--format", "json")
    assert [(h["name"], h["states"]) for h in json.loads(hosts.stdout)["hosts"]] == [
        ("acme-fs01", ["states/baseline.toml"]),
        ("acme-desk01", ["states/baseline.toml"]),
    ]


@requires(shutil.which("git") is not None, "git is not installed")
def test_git_keeps_secrets_and_tendr_state_out(new: Path) -> None:
    """In the workspace's git repository, secret files and .tendr/ (audit log, locks) are
    ignored; the workspace files are not."""
    subprocess.run(["git", "init", "-q", str(new)], check=True)
    paths = [
        "secrets/acme-restic.pass",
        ".tendr/audit.log",
        "rules/roles.toml",
        ".schemas/hosts.schema.json",
    ]
    done = subprocess.run(
        ["git", "-C", str(new), "check-ignore", *paths], capture_output=True, text=True, check=False
    )
    assert done.stdout.split() == ["secrets/acme-restic.pass", ".tendr/audit.log"]


def test_taplo_config_gives_each_family_its_schema(new: Path) -> None:
    """.taplo.toml checks hosts/, states/, rules/ and tendr.toml, each against the schema
    of its family that init wrote beside it."""
    config = tomllib.loads((new / ".taplo.toml").read_text(encoding="utf-8"))
    schemas = {
        rule["include"][0]: json.loads((new / rule["schema"]["path"]).read_text())
        for rule in config["rule"]
    }
    assert schemas == {
        "hosts/*.toml": schema_for("hosts"),
        "states/*.toml": schema_for("states"),
        "rules/*.toml": schema_for("rules"),
        "tendr.toml": schema_for("settings"),
    }


def test_init_under_a_file_is_one_clear_error(tmp_path: Path) -> None:
    """A folder that cannot be made because a parent is a file: exit 1, one line."""
    (tmp_path / "notes.txt").write_text("mine")
    target = tmp_path / "notes.txt" / "ws"
    result = run("init", str(target))
    assert result.exit_code == 1
    assert result.output == (
        f"error: cannot create a workspace in {target}: "
        f"{tmp_path / 'notes.txt'} is a file, not a folder\n"
    )


def test_init_where_nobody_may_make_folders_is_one_clear_error() -> None:
    """A parent in which the folder cannot be made (sysfs refuses even root): exit 1, one
    line naming the folder and the system's reason, no traceback."""
    result = run("init", "/sys/tendr-init-test")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: cannot create a workspace in /sys/tendr-init-test: ")
    assert lines[0].endswith(
        (
            "operation not permitted (/sys/tendr-init-test)",
            "permission denied (/sys/tendr-init-test)",
        )
    )
