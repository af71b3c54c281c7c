"""Every command that touches a host consults the rules first, so a new command cannot
forget to: each command must be classified here, and the host-touching ones are run by
a person in no role while any attempt to connect is recorded."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from pyinfra.api.host import Host as PyinfraHost
from typer.testing import CliRunner

from tendr.cli.app import app
from tests.helpers import ADMIN_RULES, ME, build_tree

# Commands that connect to hosts, with the arguments they need.
TOUCHES_HOSTS: dict[str, list[str]] = {
    "plan": [],
    "apply": ["--yes"],
    "run": ["-l", "all", "--", "true"],
    "do": ["-l", "all", "service.restart", "cron.service"],
    "shell": ["acme-01"],
    "logs": [],
    "diagnose": [],
    "watch": [],
    "hosts pin": ["acme-01", "--yes"],
    "onboard": [
        *("new-01", "--address", "127.0.0.1", "--port", "1", "--client", "acme"),
        *("--bootstrap-user", "tech", "--bootstrap-key", "/nonexistent"),
        *("--ssh-key", "/nonexistent"),
    ],
}
# Commands that connect too, but only for what a state declares (a backup job): each is
# tested refusing on the fleet (tests/test_backup_fleet.py).
NEEDS_A_DECLARATION = {"backup check"}
# Commands that only read the workspace.
WORKSPACE_ONLY = {
    "validate",
    "init",
    "schema",
    "rules explain",
    "rules list",
    "audit-log verify",
    "audit-log head",
    "audit-log show",
    "audit-log replay",
    "grant",
    "history",
    "report",
    "approve",
    "status",  # what watch kept
    "hosts first-contact",  # a script for the host, from the hosts file and tendr.toml
}
# The gateway's own: setting it up and letting people in (root), and what sshd and git
# start in it (serve, hook), which hand on to the commands above or to the push rules.
GATEWAY = {
    "gateway setup",
    "gateway allow",
    "gateway revoke",
    "gateway people",
    "gateway tunnel-allow",
    "gateway serve",
    "gateway hook",
}


def command_names(group: Any, prefix: str = "") -> set[str]:
    """Every command of a (Typer's own) click group, sub-commands as 'group name'."""
    names: set[str] = set()
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            names |= command_names(command, f"{prefix}{name} ")
        else:
            names.add(f"{prefix}{name}")
    return names


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every attempt to connect to a host, recorded instead of made."""
    found: list[Any] = []

    def record(self: PyinfraHost, *args: Any, **kwargs: Any) -> None:
        found.append(self)

    monkeypatch.setattr(PyinfraHost, "connect", record)
    return found


def test_every_command_is_classified() -> None:
    """A new command fails this test until it is listed as host-touching or not."""
    assert (
        command_names(typer.main.get_command(app))
        == set(TOUCHES_HOSTS) | WORKSPACE_ONLY | GATEWAY | NEEDS_A_DECLARATION
    )


@pytest.mark.parametrize("command", sorted(TOUCHES_HOSTS))
def test_host_commands_refuse_a_person_in_no_role(
    command: str, tmp_path: Path, attempts: list[Any]
) -> None:
    """Run as someone in no role, the command refuses and never connects to a host."""
    root = build_tree(
        tmp_path,
        {
            "hosts/acme.toml": '[hosts.acme-01]\naddress = "127.0.0.1"\nport = 1\n',
            "known_hosts": "",
            "states/s.toml": 'hosts = ["all"]\n[[package]]\nname = "hello"\n',
            "rules/roles.toml": ADMIN_RULES.replace(f'"{ME}"', '"someone-else"'),
        },
    )
    result = CliRunner().invoke(app, [*command.split(), "-w", str(root), *TOUCHES_HOSTS[command]])
    assert result.exit_code == 1
    assert f"permission denied: {ME} is in no role" in result.output
    assert attempts == []


def test_init_makes_its_creator_the_only_administrator(tmp_path: Path) -> None:
    """The creator of a new workspace may do everything there; nobody else may do anything,
    and no wildcard member stands in for 'everyone'."""
    target = tmp_path / "new"
    assert CliRunner().invoke(app, ["init", str(target)]).exit_code == 0
    roles = tomllib.loads((target / "rules" / "roles.toml").read_text())["roles"]
    assert [role["members"] for role in roles.values()] == [[ME]]
    example = target / "hosts" / "acme.toml.example"  # the new workspace has no host yet
    example.rename(target / "hosts" / "acme.toml")
    explain = ["rules", "explain", "-w", str(target)]
    assert CliRunner().invoke(app, [*explain, ME, "package.install", "acme-fs01"]).exit_code == 0
    denied = CliRunner().invoke(app, [*explain, "mallory", "plan", "acme-fs01"])
    assert denied.exit_code == 1 and "mallory is in no role" in denied.output


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        (
            "service.restat",
            "'service.restat' is not an operation (did you mean 'service.restart'?)",
        ),
        ("plna", "'plna' is not an operation (did you mean 'plan'?)"),
        ("service.*", "'service.*' is a pattern; name one operation"),
    ],
)
def test_explain_says_an_operation_does_not_exist(
    tmp_path: Path, operation: str, message: str
) -> None:
    """`rules explain` with an operation that does not exist says so, instead of answering
    'denied' for something that can never be asked."""
    root = build_tree(
        tmp_path,
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "rules/roles.toml": ADMIN_RULES,
        },
    )
    result = CliRunner().invoke(app, ["rules", "explain", "-w", str(root), ME, operation, "here"])
    assert result.exit_code == 1
    assert f"error: {message}" in result.output
    assert "denied" not in result.output


def test_unparsable_rules_deny_everything_and_say_why(tmp_path: Path, attempts: list[Any]) -> None:
    """A rules file that does not parse fails closed: nothing connects, the file is named."""
    root = build_tree(
        tmp_path,
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "states/s.toml": 'hosts = ["all"]\n[[package]]\nname = "hello"\n',
            "rules/roles.toml": '[roles.admin]\nmembers = ["root"\n',
        },
    )
    for command in (["plan"], ["apply", "--yes"]):
        result = CliRunner().invoke(app, [*command, "-w", str(root)])
        assert result.exit_code == 1
        assert "rules/roles.toml:" in result.output and "TOML syntax error" in result.output
    assert attempts == []
