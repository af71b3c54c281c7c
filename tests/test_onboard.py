"""Onboarding's pieces without a host: what is supported, what is pinned, and the hosts
file written with its comments kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from tendr.errors import UserError
from tendr.hosts.model import Host, known_hosts_name
from tendr.onboard import _write_host, pinned_keys, public_key_line, supported
from tendr.workspace import load
from tests.helpers import ADMIN_RULES, build_tree

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKH5Q1dHy3hUbW9qD4Ib8o3Y9H2BfOQm4u0o2Z1H4Xq2"


def test_debian_and_ubuntu_with_systemd_are_supported() -> None:
    assert supported({"os": ["debian 12"], "init": ["systemd"]}) is None
    assert supported({"os": ["ubuntu 24.04"], "init": ["systemd"]}) is None
    refused = supported({"os": ["alpine 3.20"], "init": ["init"]})
    assert (
        refused is not None and "alpine with init" in refused and "nothing was changed" in refused
    )
    assert supported({}) is not None


def test_pinned_keys_are_found_by_address_and_port(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:2222 {KEY}\n203.0.113.5,other {KEY} comment\n")
    assert pinned_keys(known, known_hosts_name("127.0.0.1", 2222)) == [KEY]
    assert pinned_keys(known, known_hosts_name("127.0.0.1", 22)) == []
    assert pinned_keys(known, known_hosts_name("203.0.113.5", 22)) == [KEY]
    assert pinned_keys(tmp_path / "none", known_hosts_name("203.0.113.5", 22)) == []


def test_the_controller_key_must_be_a_public_key_line(tmp_path: Path) -> None:
    (tmp_path / "k.pub").write_text(f"{KEY} tendr@controller\n")
    assert public_key_line(tmp_path / "k") == KEY
    (tmp_path / "bad.pub").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(UserError, match="is not an SSH public key line"):
        public_key_line(tmp_path / "bad")
    with pytest.raises(UserError, match="public key is needed"):
        public_key_line(tmp_path / "missing")


def test_the_host_is_added_with_the_file_kept(tmp_path: Path) -> None:
    text = '# Acme\n[defaults]\nssh_key = "/k"\n\n[hosts.a]\naddress = "192.0.2.1"  # old\n'
    root = build_tree(
        tmp_path, {"hosts/acme.toml": text, "known_hosts": "", "rules/roles.toml": ADMIN_RULES}
    )
    workspace = load(root)
    new = Host(
        name="b",
        client="acme",
        connector="ssh",
        address="192.0.2.2",
        port=2222,
        user=None,
        ssh_key="/k",
        groups=("office",),
        tags=(),
        file="hosts/acme.toml",
    )
    assert _write_host(workspace, new, Path("/k"))
    written = (root / "hosts/acme.toml").read_text()
    assert written.startswith(text)
    assert (
        '[hosts.b]\naddress = "192.0.2.2"\nport = 2222\ngroups = ["office"]\n'
        "approved = false # plans only, until `tendr approve`\n"
    ) in written
    assert not _write_host(load(root), new, Path("/k"))  # there already
    fresh = new.model_copy(update={"client": "beta", "file": "hosts/beta.toml"})
    assert _write_host(workspace, fresh, Path("/k2"))
    assert 'ssh_key = "/k2"' in (root / "hosts/beta.toml").read_text()


def test_an_audit_only_host_may_be_read_not_changed(tmp_path: Path) -> None:
    from tendr.authorize import may

    root = build_tree(
        tmp_path,
        {
            "hosts/acme.toml": '[hosts.a]\naddress = "192.0.2.1"\napproved = false\n',
            "known_hosts": "",
            "rules/roles.toml": ADMIN_RULES,
        },
    )
    workspace = load(root)
    [host] = workspace.hosts
    for op in ("plan", "diagnose", "host.approve"):
        assert may(workspace, "root", op, host).allowed, op
    for op in ("file.write", "service.restart", "command.run", "shell"):
        decision = may(workspace, "root", op, host)
        assert not decision.allowed and "not approved yet" in decision.reason, op
