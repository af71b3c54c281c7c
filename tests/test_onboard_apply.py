"""onboard --apply without a host: onboarding, apply and the plan stand in, so what the
command does after applying is seen (it used to end with apply's exit)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tendr.core.plan import Plan
from tendr.ops import apply as workflow
from tendr.ops import engine
from tendr.ops import onboard as onboarding
from tests.helpers import ADMIN_RULES, build_tree, run_tendr

ACME = '[defaults]\nssh_key = "/keys/acme"\n'


@pytest.fixture
def onboarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """A workspace whose onboarding writes acme-pc01 and connects nowhere: the calls."""
    root = build_tree(
        tmp_path / "ws",
        {"hosts/acme.toml": ACME, "known_hosts": "", "rules/roles.toml": ADMIN_RULES},
    )
    monkeypatch.chdir(root)
    calls: dict[str, list[Any]] = {"apply": [], "plan": []}

    def onboard(workspace: Any, person: str, host: Any, **kwargs: Any) -> Any:
        approved = "" if kwargs["approve"] else "approved = false\n"
        with (root / "hosts/acme.toml").open("a", encoding="utf-8") as hosts_file:
            hosts_file.write(f'\n[hosts.{host.name}]\naddress = "{host.address}"\n{approved}')
        return onboarding.Onboarded(host.name, "ssh-ed25519 SHA256:x", {}, ["hosts file"])

    def apply(workspace: Any, hosts: list[Any], person: str, **kwargs: Any) -> Any:
        calls["apply"].append([h.name for h in hosts])
        return SimpleNamespace(
            plan=Plan(), results=[], after=None, error=None, ran=False, unrecorded=None, ok=True
        )

    def plan_for(workspace: Any, hosts: list[Any], person: str, *args: Any) -> Plan:
        calls["plan"].append([h.name for h in hosts])
        return Plan()

    monkeypatch.setattr(onboarding, "onboard", onboard)
    monkeypatch.setattr(workflow, "apply", apply)
    monkeypatch.setattr(engine, "plan_for", plan_for)
    return calls


ONBOARD = (
    "onboard",
    "acme-pc01",
    "--address",
    "192.0.2.10",
    "--client",
    "acme",
    "--bootstrap-user",
    "admin",
    "--bootstrap-key",
    "/keys/bootstrap",
    "--ssh-key",
    "/keys/acme",
    "--yes",
)


def test_onboard_apply_applies_then_shows_the_plan(onboarded: dict[str, list[Any]]) -> None:
    code, output = run_tendr(*ONBOARD, "--apply")
    assert code == 0, output
    assert onboarded["apply"] == [["acme-pc01"]]
    # After applying, the host's plan is shown: onboarding's last lines run.
    assert onboarded["plan"] == [["acme-pc01"]]
    assert "audit-only" not in output


def test_onboard_without_apply_shows_the_plan_and_leaves_it_audit_only(
    onboarded: dict[str, list[Any]],
) -> None:
    code, output = run_tendr(*ONBOARD)
    assert code == 0, output
    assert onboarded["apply"] == []
    assert onboarded["plan"] == [["acme-pc01"]]
    assert "acme-pc01 is audit-only until approved: tendr approve acme-pc01" in output
