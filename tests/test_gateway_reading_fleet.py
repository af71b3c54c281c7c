"""Reading at the gateway is decided like acting, on the test fleet (the controller with
a real sshd, as in test_gateway_fleet.py, whose fixture and helpers these tests share):
a person let in with a key but in no role reads no audit record, host or rule; one in a
role reads the hosts they may read, and the workspace's own records are the rules
editors'."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests import test_gateway_fleet
from tests.test_gateway_fleet import TENDR, Gateway, put

pytestmark = pytest.mark.fleet
gateway = test_gateway_fleet.gateway  # the fixture: a controller set up as the gateway


def _let_in(gateway: Gateway, person: str) -> None:
    """Let `person` reach the gateway with a key of their own, naming no role for them."""
    key = gateway.keys / person
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    put(gateway.controller, f"/root/{person}.pub", (gateway.keys / f"{person}.pub").read_text())
    allowed = gateway.on_controller(f"{TENDR} gateway allow {person} --key /root/{person}.pub")
    assert allowed.returncode == 0, allowed.stderr


def test_a_person_with_a_key_but_no_role_reads_nothing(gateway: Gateway) -> None:
    _let_in(gateway, "mallory")
    secrets = (gateway.acme.name, gateway.beta.name, gateway.acme.address, "carol", "helpdesk")
    for command in (
        "hosts",
        "hosts --format json",
        "audit-log show --format json",
        f"audit-log show --host {gateway.beta.name}",
        "audit-log verify",
        "rules list",
        f"rules explain carol plan {gateway.acme.name}",
        f"rules explain mallory plan {gateway.acme.name}",
    ):
        done = gateway.ssh("mallory", command)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "permission denied: mallory is in no role" in done.stderr + done.stdout, command
        assert not any(s in done.stdout + done.stderr for s in secrets), (command, done)
    # What mallory asked is on record, for the rules editors to read.
    asked = [r for r in gateway.audit() if r["person"] == "mallory"]
    assert [r["outcome"] for r in asked] == ["asked"] * 8


def test_a_person_in_a_role_reads_hosts_but_not_the_workspace_records(gateway: Gateway) -> None:
    """dave may plan every host: he reads them all, and none of the records of what the
    gateway was asked (the workspace's); carol, who edits the rules, reads those."""
    listed = gateway.ssh("dave", "hosts --format json")
    assert listed.returncode == 0, listed.stderr
    names = {h["name"] for h in json.loads(listed.stdout)["hosts"]}
    assert names == {gateway.acme.name, gateway.beta.name}
    shown = gateway.ssh("dave", "audit-log show --format json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["records"] == []
    refused = gateway.ssh("dave", "audit-log show --host (workspace)")
    assert refused.returncode == 1
    assert "dave may not read the records of (workspace)" in refused.stderr
    assert any(r["person"] == "dave" and r["outcome"] == "asked" for r in gateway.audit())
