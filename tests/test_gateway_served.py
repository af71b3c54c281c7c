"""A workspace a gateway serves: other copies only plan and read; at the gateway, hosts
are reached with the gateway's own key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tendr.gateway import session
from tendr.gateway.served import ssh_prefix
from tests.helpers import ADMIN_RULES, build_tree, run_tendr
from tests.test_gateway import act_at_gateway

SERVED = 'gateway = "tendr@ctl.example.net:2222"\n'


@pytest.fixture
def copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A technician's clone of a workspace the gateway at ctl.example.net serves."""
    monkeypatch.setattr(session, "current", lambda: None)  # not the gateway account
    monkeypatch.delenv("TENDR_WORKSPACE", raising=False)
    root = build_tree(
        tmp_path / "ws",
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "states/motd.toml": 'hosts = ["all"]\n[[file]]\npath = "/nonexistent/tendr-x"\n'
            'content = "x"\n',
            "rules/roles.toml": ADMIN_RULES,
            "tendr.toml": SERVED,
        },
    )
    return str(root)


@pytest.mark.parametrize(
    "args",
    [
        ["apply", "--yes"],
        ["run", "-l", "here", "--", "true"],
        ["do", "service.restart", "cron.service", "-l", "here"],
        ["shell", "here"],
    ],
)
def test_a_copy_of_a_served_workspace_changes_nothing(copy: str, args: list[str]) -> None:
    """apply, run, do and shell on a copy are refused with the ssh command to use: an old
    clone would otherwise undo what was pushed to the gateway since."""
    code, text = run_tendr(args[0], "-w", copy, *args[1:])
    assert code == 1, text
    assert "this workspace is served by the gateway tendr@ctl.example.net:2222" in text
    assert f"ssh -t -p 2222 tendr@ctl.example.net {args[0]} ..." in text
    assert not Path("/nonexistent/tendr-x").exists()
    assert (
        not (Path(copy) / ".tendr" / "audit.log").exists()
        or "started" not in (Path(copy) / ".tendr" / "audit.log").read_text()
    )


def test_a_copy_still_plans_and_validates(copy: str) -> None:
    code, text = run_tendr("validate", "-w", copy)
    assert code == 0, text
    code, text = run_tendr("plan", "-w", copy)
    assert code == 2, text
    assert "file.write" in text


def test_the_gateway_address_is_checked(copy: str) -> None:
    (Path(copy) / "tendr.toml").write_text('gateway = "tendr@ctl; rm -rf /"\n')
    code, text = run_tendr("validate", "-w", copy)
    assert code == 1
    assert "tendr.toml" in text and "gateway" in text


def test_the_ssh_command_leaves_out_port_22() -> None:
    assert ssh_prefix("tendr@ctl") == "ssh -t tendr@ctl"
    assert ssh_prefix("tendr@ctl:22") == "ssh -t tendr@ctl"
    assert ssh_prefix("tendr@10.0.0.1:2222") == "ssh -t -p 2222 tendr@10.0.0.1"


def test_at_the_gateway_a_host_naming_its_own_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway reaches hosts with its own key: an entry naming a technician's key file
    would fail at every host ("No such private key file"), so it is an error naming the
    line and the fix."""
    root = build_tree(
        tmp_path / "ws",
        {
            "hosts/acme.toml": '[hosts.desk01]\naddress = "192.0.2.1"\n\n[hosts.desk02]\n'
            'address = "192.0.2.2"\nssh_key = "~/.ssh/dave_ed25519"\n\n[hosts.desk03]\n'
            'address = "192.0.2.3"\nssh_key = "~/.ssh/id_ed25519"\n',
            "known_hosts": "192.0.2.1 ssh-ed25519 AAAA\n",
            "rules/roles.toml": (
                '[roles.admin]\nmembers = ["erin"]\nallow = [{ ops = ["*"], hosts = ["all"] }]\n'
            ),
        },
    )
    act_at_gateway(monkeypatch, root)
    code, text = run_tendr("hosts")
    assert code == 1, text
    assert "hosts/acme.toml:6: host desk02 names ssh_key '~/.ssh/dave_ed25519'" in text
    assert "the gateway's own key" in text and "remove the line" in text
    assert "desk03" not in text  # the gateway's own key (this account's) is fine
    assert (root / ".tendr" / "audit.log").exists()  # what was asked is recorded
