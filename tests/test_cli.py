"""The command line as a technician uses it: exit codes and what they read."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner, Result

from tendr import __version__
from tendr.cli.app import app
from tendr.workspace.loader import ENV_WORKSPACE
from tests.helpers import ADMIN_RULES, TENDR_PROGRAM, build_tree, requires

REPO_ROOT = Path(__file__).resolve().parent.parent

SAMPLE = {
    "hosts/acme.toml": """\
[defaults]
user = "tendr"
groups = ["office"]

[hosts.acme-fs01]
address = "203.0.113.10"
groups = ["fileservers"]

[hosts.acme-desk01]
address = "203.0.113.21"
port = 2222
groups = ["frontdesk"]
tags = ["printing"]
""",
    "hosts/beta.toml": '[hosts.beta-desk01]\nconnector = "local"\n',
    "states/front.toml": 'hosts = ["group:frontdesk"]\n[[package]]\nname = "cups"\n',
    "states/all.toml": 'hosts = ["all"]\n[[package]]\nname = "curl"\n',
    "known_hosts": "",
    "rules/roles.toml": ADMIN_RULES,  # hosts shows what the rules let you read
}


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return build_tree(tmp_path / "sample", SAMPLE)


def test_validate_example_workspace() -> None:
    """`tendr validate` on the example workspace says it is valid and exits 0."""
    result = run("validate", "-w", str(REPO_ROOT))
    assert result.exit_code == 0, result.output
    assert f"workspace {REPO_ROOT} is valid: 1 hosts, 4 state files, 1 rules files" in result.output


def test_validate_names_a_private_key_that_does_not_exist(tmp_path: Path) -> None:
    """A key file named but missing is said by validate, where it is written (the host's
    own, or [defaults]' once); other commands still work on the workspace."""
    key = tmp_path / "id_ok"
    key.write_text("key")
    key.chmod(0o600)
    hosts = (
        SAMPLE["hosts/acme.toml"].replace(
            'user = "tendr"\n', f'user = "tendr"\nssh_key = "{tmp_path}/gone-default"\n'
        )
        + f'\n[hosts.acme-own]\naddress = "203.0.113.30"\nssh_key = "{tmp_path}/gone-own"\n'
    )
    hosts += f'\n[hosts.acme-fine]\naddress = "203.0.113.31"\nssh_key = "{key}"\n'
    ws = build_tree(tmp_path / "ws", {**SAMPLE, "hosts/acme.toml": hosts})
    result = run("validate", "-w", str(ws))
    assert result.exit_code == 1, result.output
    assert f"hosts/acme.toml:3: defaults.ssh_key: the private key {tmp_path}/gone-default " in (
        result.output
    )
    assert "hosts.acme-own.ssh_key: the private key" in result.output
    assert "gone-own does not exist" in result.output and "id_ok" not in result.output
    assert result.output.count("gone-default") == 1
    assert run("hosts", "-w", str(ws)).exit_code == 0


def test_validate_json_for_scripts(sample: Path) -> None:
    """`validate --format json` gives ok and the counts."""
    result = run("validate", "-w", str(sample), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "ok": True,
        "problems": [],
        "hosts": 3,
        "states": 2,
        "rules": 1,
    }


def test_hosts_table(sample: Path) -> None:
    """`tendr hosts` lists each host with client, address:port, connector, groups, states."""
    result = run("hosts", "-w", str(sample))
    assert result.exit_code == 0, result.output
    assert result.output.split()[:6] == [
        "host",
        "client",
        "address",
        "connector",
        "groups",
        "states",
    ]
    names = [line.split()[0] for line in result.output.splitlines()[1:] if line[:1].strip()]
    assert names == ["acme-fs01", "acme-desk01", "beta-desk01"]


def test_hosts_table_shows_whole_addresses(sample: Path) -> None:
    """At 80 columns, the table still shows each address and state file whole."""
    result = run("hosts", "-w", str(sample))
    assert "203.0.113.21:2222" in result.output
    assert "…" not in result.output


def test_hosts_json(sample: Path) -> None:
    """`hosts --format json` gives every host with defaults merged and its state files."""
    result = run("hosts", "-w", str(sample), "--format", "json")
    assert result.exit_code == 0, result.output
    hosts = {h["name"]: h for h in json.loads(result.stdout)["hosts"]}
    assert hosts["acme-desk01"] == {
        "name": "acme-desk01",
        "client": "acme",
        "address": "203.0.113.21",
        "port": 2222,
        "via": None,
        "tunnel_port": None,
        "user": "tendr",
        "connector": "ssh",
        "groups": ["office", "frontdesk"],
        "tags": ["printing"],
        "states": ["states/all.toml", "states/front.toml"],
    }
    assert hosts["beta-desk01"]["address"] == "local"
    assert hosts["beta-desk01"]["states"] == ["states/all.toml"]


def test_hosts_shows_the_account_tendr_logs_in_as(tmp_path: Path) -> None:
    """A host without `user` shows the service account tendr will log in as, not nothing;
    the local connector logs in as no one."""
    root = build_tree(
        tmp_path,
        {
            "hosts/acme.toml": '[hosts.a]\naddress = "192.0.2.1"\n'
            '[hosts.b]\naddress = "192.0.2.2"\nuser = "admin"\n'
            '[hosts.c]\nconnector = "local"\n',
            "known_hosts": "",
            "tendr.toml": 'service_account = "msp"\n',
            "rules/roles.toml": ADMIN_RULES,
        },
    )
    result = run("hosts", "-w", str(root), "--format", "json")
    assert result.exit_code == 0, result.output
    users = {h["name"]: h["user"] for h in json.loads(result.stdout)["hosts"]}
    assert users == {"a": "msp", "b": "admin", "c": None}


@pytest.mark.parametrize(
    ("limits", "selected"),
    [
        (["client:acme"], ["acme-fs01", "acme-desk01"]),
        (["group:frontdesk"], ["acme-desk01"]),
        (["tag:printing", "beta-desk01"], ["acme-desk01", "beta-desk01"]),
        (["all"], ["acme-fs01", "acme-desk01", "beta-desk01"]),
    ],
)
def test_hosts_limit(sample: Path, limits: list[str], selected: list[str]) -> None:
    """`--limit` selects hosts by name, group, client, tag or all; repeated, they add up."""
    args = [arg for selector in limits for arg in ("--limit", selector)]
    result = run("hosts", "-w", str(sample), "--format", "json", *args)
    assert result.exit_code == 0, result.output
    assert [h["name"] for h in json.loads(result.stdout)["hosts"]] == selected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("group:nothing", "error: --limit: 'group:nothing' matches no host in hosts/"),
        (
            "group:frontdsk",
            "error: --limit: 'group:frontdsk' matches no host in hosts/ "
            "(did you mean 'group:frontdesk'?)",
        ),
        ("grp:x y", "error: --limit: 'grp:x y' is not a host selector"),
    ],
)
def test_hosts_limit_refuses_bad_selectors(sample: Path, selector: str, message: str) -> None:
    """A --limit that selects nothing or is malformed is an error, not an empty list."""
    result = run("hosts", "-w", str(sample), "--limit", selector)
    assert result.exit_code == 1
    assert message in result.output


def test_init_creates_a_valid_workspace(tmp_path: Path) -> None:
    """`tendr init DIR` writes a workspace that `tendr validate` accepts."""
    target = tmp_path / "client-ws"
    result = run("init", str(target))
    assert result.exit_code == 0, result.output
    for relative in (
        "hosts/acme.toml.example",
        "states/baseline.toml.example",
        "rules/roles.toml",
        "tendr.toml",
        "known_hosts",
    ):
        assert f"created {target / relative}" in result.output
    assert "is the administrator" in result.output
    validated = run("validate", "-w", str(target))
    assert validated.exit_code == 0, validated.output


def test_init_into_an_empty_folder(tmp_path: Path) -> None:
    """An existing empty folder is a fine place for a new workspace."""
    (tmp_path / "empty").mkdir()
    assert run("init", str(tmp_path / "empty")).exit_code == 0


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    """`tendr init` never writes into a folder that already has files, and says why."""
    target = build_tree(tmp_path / "busy", {"notes.txt": "mine"})
    result = run("init", str(target))
    assert result.exit_code == 1
    assert (
        f"error: cannot create a workspace in {target}: it exists and is not an empty folder"
        in result.output
    )
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


def test_schema_prints_every_family() -> None:
    """`tendr schema` prints one JSON Schema per file family."""
    result = run("schema")
    assert result.exit_code == 0
    assert set(json.loads(result.stdout)) == {"hosts", "states", "rules", "settings"}


def test_schema_of_one_family() -> None:
    """`tendr schema states` prints the state file schema alone."""
    result = run("schema", "states")
    assert result.exit_code == 0
    assert "service" in json.loads(result.stdout)["properties"]


def test_schema_refuses_an_unknown_family() -> None:
    """An unknown family is an error listing the families."""
    result = run("schema", "hostz")
    assert result.exit_code == 1
    assert (
        "unknown family 'hostz' (expected one of: hosts, states, rules, settings)" in result.output
    )


def test_schema_output_writes_files(tmp_path: Path) -> None:
    """`tendr schema --output DIR` writes one .schema.json per family and names each."""
    result = run("schema", "--output", str(tmp_path / "schemas"))
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == [
        "hosts.schema.json",
        "rules.schema.json",
        "states.schema.json",
        "tendr.schema.json",
    ]
    for name in written:
        assert f"wrote {tmp_path / 'schemas' / name}" in result.output
        assert json.loads((tmp_path / "schemas" / name).read_text())["$schema"].startswith(
            "https://json-schema.org/"
        )


def test_version() -> None:
    """`tendr --version` prints the version."""
    result = run("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"tendr {__version__}"


def test_workspace_option_beats_environment(sample: Path, tmp_path: Path) -> None:
    """-w names the workspace even when TENDR_WORKSPACE names another."""
    other = build_tree(tmp_path / "other", {"states/x.toml": 'hosts = ["nobody"]\n'})
    result = run("validate", "-w", str(sample), env={ENV_WORKSPACE: str(other)})
    assert result.exit_code == 0, result.output
    assert f"workspace {sample} is valid" in result.output


def test_environment_names_the_workspace(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without -w, TENDR_WORKSPACE names the workspace, whatever the current folder."""
    monkeypatch.chdir(tmp_path)
    result = run("validate", env={ENV_WORKSPACE: str(sample)})
    assert result.exit_code == 0, result.output
    assert f"workspace {sample} is valid" in result.output


def test_current_folder_is_the_default_workspace(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without -w or TENDR_WORKSPACE, the current folder is the workspace."""
    monkeypatch.delenv(ENV_WORKSPACE, raising=False)
    monkeypatch.chdir(sample)
    result = run("validate")
    assert result.exit_code == 0, result.output
    assert f"workspace {sample} is valid" in result.output


def test_outside_a_workspace_says_how_to_name_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run outside any workspace, validate explains -w, TENDR_WORKSPACE and init."""
    monkeypatch.delenv(ENV_WORKSPACE, raising=False)
    monkeypatch.chdir(tmp_path)
    result = run("validate")
    assert result.exit_code == 1
    assert (
        "--workspace DIR, set TENDR_WORKSPACE, or create one with 'tendr init DIR'" in result.output
    )


# -- the installed console script ---------------------------------------------------

TENDR = str(TENDR_PROGRAM) if TENDR_PROGRAM.exists() else None
needs_script = requires(TENDR is not None, "the tendr console script is not installed")


@needs_script
def test_console_script_validates_the_example_workspace() -> None:
    """The installed `tendr validate -w ROOT` exits 0 in a real process."""
    assert TENDR is not None
    env = {k: v for k, v in os.environ.items() if k != ENV_WORKSPACE}
    done = subprocess.run(
        [TENDR, "validate", "-w", str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "is valid" in done.stdout


@needs_script
def test_console_script_reports_errors_without_traceback(tmp_path: Path) -> None:
    """In a real process, a broken workspace exits 1 with the error on stderr, no traceback."""
    assert TENDR is not None
    root = build_tree(tmp_path / "ws", {"states/a.toml": 'hosts = ["all"\n'})
    done = subprocess.run(
        [TENDR, "validate", "-w", str(root)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "error: states/a.toml:1:15: TOML syntax error: Unclosed array" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@needs_script
def test_console_script_version() -> None:
    """The installed `tendr --version` prints the version."""
    assert TENDR is not None
    done = subprocess.run([TENDR, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"tendr {__version__}"


def _every_command() -> list[list[str]]:
    from tendr.cli.app import LAZY

    group = typer.main.get_group(app)
    found: list[list[str]] = []
    for name in LAZY:
        command = group.commands[name]
        found.append([name])
        found += [[name, sub] for sub in getattr(command, "commands", {})]
    return found


def test_help_shows_what_to_type_not_python_types() -> None:
    """Every command's help names values as the person types them (HOST, SINCE,
    text|json), never Python's types, and loses no words to markup."""
    for words in _every_command():
        result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0, (words, result.output)
        shown = result.output
        for python in ("<bool>", "<str>", "<int", "<list", "<path>", "<float", "<datetime"):
            assert python not in shown, (words, python, shown)
        assert " :" not in shown and " ," not in shown, (words, shown)  # markup eaten


def test_a_value_is_shown_as_written_never_as_an_emoji(tmp_path: Path) -> None:
    """Rich would draw ':x:' or ':smile:' as pictures; a path or an error is text."""
    ws = build_tree(tmp_path / "ws", {**SAMPLE, "states/odd.toml": 'hosts = ["nowhere:x:"]\n'})
    result = run("validate", "-w", str(ws))
    assert result.exit_code == 1
    assert "nowhere:x:" in result.output and "❌" not in result.output
