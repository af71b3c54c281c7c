"""Onboarding's pieces without a host: what is supported, what is pinned, and the hosts
file written with its comments kept."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tendr.base.errors import UserError
from tendr.ops.onboard import (
    ACCOUNT,
    KEY_FILES,
    MARK,
    SETUP,
    Account,
    _entry,
    _shown,
    _write_host,
    account_facts,
    pinned_keys,
    public_key_line,
    supported,
)
from tendr.workspace.hosts import Host, HostDefaults, HostEntry, known_hosts_name
from tendr.workspace.loader import load
from tests.helpers import ADMIN_RULES, ME, build_tree, run_tendr

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


def test_at_the_gateway_the_entry_names_no_key_and_logs_in_as_the_service_account(
    tmp_path: Path,
) -> None:
    """The gateway reaches every host with its own key (an entry naming one is refused
    there); a file whose hosts log in as another user gets the service account named."""
    text = '[defaults]\nuser = "root"\n\n[hosts.a]\naddress = "192.0.2.1"\n'
    root = build_tree(
        tmp_path, {"hosts/acme.toml": text, "known_hosts": "", "rules/roles.toml": ADMIN_RULES}
    )
    new = Host(
        name="b",
        client="acme",
        connector="ssh",
        address="192.0.2.2",
        port=22,
        user=None,
        ssh_key=None,
        groups=(),
        tags=(),
        file="hosts/acme.toml",
    )
    assert _write_host(load(root), new, None)
    written = (root / "hosts/acme.toml").read_text()
    assert "ssh_key" not in written
    assert '[hosts.b]\naddress = "192.0.2.2"\nuser = "tendr"\n' in written
    (b,) = [h for h in load(root).hosts if h.name == "b"]
    assert (b.user, b.ssh_key) == ("tendr", None)
    fresh = new.model_copy(update={"client": "beta", "file": "hosts/beta.toml"})
    assert _write_host(load(root), fresh, None)
    assert "ssh_key" not in (root / "hosts/beta.toml").read_text()


def test_an_audit_only_host_may_be_read_not_changed(tmp_path: Path) -> None:
    from tendr.core.authorize import may

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
        assert may(workspace, ME, op, host).allowed, op
    for op in ("file.write", "service.restart", "command.run", "shell"):
        decision = may(workspace, ME, op, host)
        assert not decision.allowed and "not approved yet" in decision.reason, op


# -- the service account: made by tendr, or someone else's ---------------------------------

OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2xYyX4mJ0a3Y6hZgq1xRkq9f2wXcVbNmLpQrStUvWx"


def facts(comment: str, *keys: str, links: tuple[str, ...] = ()) -> list[str]:
    """The account as onboarding's probe prints it: one authorized_keys file."""
    lines = [f"account\tpresent\t{comment}", "file\t/home/tendr/.ssh/authorized_keys"]
    lines += [f"key\t{key}" for key in keys]
    lines += [f"fp\t256 {_shown(key).split()[1]} no comment (ED25519)" for key in keys]
    return lines + [f"link\t{link}" for link in links]


def test_an_account_is_tendrs_only_as_tendr_made_it() -> None:
    assert account_facts(["account\tabsent"]).tendrs(KEY)
    assert account_facts(facts(MARK)).tendrs(KEY)  # a run cut short after useradd
    assert account_facts(facts(MARK, KEY)).tendrs(KEY)
    assert not account_facts(facts("", KEY)).tendrs(KEY)  # someone else made it
    assert not account_facts(facts(MARK, KEY, OTHER)).tendrs(KEY)
    assert not account_facts(facts(MARK, f'command="/bin/sh" {KEY}')).tendrs(KEY)
    linked = facts(MARK, KEY, links=("/home/tendr/.ssh/authorized_keys2",))
    assert not account_facts(linked).tendrs(KEY)


def test_the_keys_of_an_account_are_shown_as_ssh_keygen_does_tendrs_marked() -> None:
    found = account_facts(facts("", KEY, OTHER, links=("/home/tendr/.ssh/authorized_keys2",)))
    assert found.listing(KEY).splitlines() == [
        f"  /home/tendr/.ssh/authorized_keys: 256 {_shown(KEY).split()[1]} no comment "
        "(ED25519) (tendr's)",
        f"  /home/tendr/.ssh/authorized_keys: 256 {_shown(OTHER).split()[1]} no comment (ED25519)",
        "  /home/tendr/.ssh/authorized_keys2: a symbolic link",
    ]
    assert Account(exists=True).listing(KEY) == "  (no keys)"


@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
def test_the_key_files_are_those_sshd_reads_for_the_account(tmp_path: Path, shell: str) -> None:
    """Relative to the home, or naming the home or the account; a file every account
    shares is not the account's to empty."""
    sshd = tmp_path / "sshd"
    sshd.write_text(
        "#!/bin/sh\necho 'authorizedkeysfile .ssh/authorized_keys /etc/ssh/keys/%u "
        "/etc/ssh/shared %h/.keys 100%%'\n"
    )
    sshd.chmod(0o755)
    for script in (ACCOUNT, SETUP):
        assert subprocess.run([shell, "-n", "-c", script], check=False).returncode == 0
    done = subprocess.run(
        [shell, "-c", KEY_FILES + 'key_files tendr "/home/tendr"'],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
        check=True,
    )
    assert done.stdout.splitlines() == [
        "/home/tendr/.ssh/authorized_keys",
        "/etc/ssh/keys/tendr",
        "/home/tendr/.keys",
        "/home/tendr/100%",
    ]


def test_approving_is_recorded_under_the_host(tmp_path: Path) -> None:
    """`tendr approve` is filed under the host it approved: `audit-log show --host`
    finds it, and so does a person who may read that host."""
    root = build_tree(
        tmp_path,
        {
            "hosts/acme.toml": '[hosts.a]\naddress = "192.0.2.1"\napproved = false\n',
            "known_hosts": "",
            "rules/roles.toml": ADMIN_RULES,
        },
    )
    code, text = run_tendr("approve", "-w", str(root), "a")
    assert code == 0, text
    code, raw = run_tendr("audit-log", "show", "-w", str(root), "--host", "a", "--format", "json")
    assert code == 0, raw
    [record] = [r for r in json.loads(raw)["records"] if r["op"] == "host.approve"]
    assert (record["host"], record["resource"], record["outcome"]) == ("a", "a", "done")


@given(
    connector=st.sampled_from(["ssh", "local"]),
    user=st.sampled_from([None, "tendr", "tech"]),
    port=st.sampled_from([22, 2200]),
    key=st.sampled_from([None, "/keys/a", "/keys/b"]),
    via=st.sampled_from([None, "acme-gw"]),
    host_port=st.sampled_from([22, 2200, 2222]),
    host_via=st.sampled_from([None, "acme-gw", "other-gw"]),
    named_key=st.sampled_from([None, "/keys/a"]),
)
def test_the_entry_written_resolves_to_the_host_onboarding_logged_in_to(
    connector: str,
    user: str | None,
    port: int,
    key: str | None,
    via: str | None,
    host_port: int,
    host_via: str | None,
    named_key: str | None,
) -> None:
    """Whatever the file's [defaults] say, the entry read back through them is reached
    as onboarding reached the host: over SSH, as the account it made, on its port,
    through its gateway, with the controller's key (or the gateway's own, none named)."""
    defaults = HostDefaults.model_validate(
        {"connector": connector, "user": user, "port": port, "ssh_key": key, "via": via}
    )
    host = Host(
        name="new-01",
        client="acme",
        connector="ssh",
        address="192.0.2.9",
        port=host_port,
        user="tendr",
        ssh_key=named_key,
        groups=(),
        tags=(),
        file="hosts/acme.toml",
        via=host_via or via,
    )
    controller_key = Path(named_key) if named_key else None
    entry = HostEntry.model_validate(_entry(host, defaults, controller_key, "tendr", True).unwrap())
    read = Host.resolve("new-01", "acme", entry, defaults, "hosts/acme.toml")
    assert read.connector == "ssh" and (read.user or "tendr") == "tendr"
    assert (read.address, read.port, read.via) == (host.address, host.port, host.via)
    if named_key is not None:
        assert read.ssh_key == named_key
