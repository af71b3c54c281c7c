"""Onboarding through the gateway: a technician onboards a fresh client machine over
`ssh -t`, typing the bootstrap user's password on the connection's terminal, then
approves it; the gateway commits the hosts file and known_hosts naming them, and the
password is nowhere. The gateway and its clients are test_gateway_fleet's."""

from __future__ import annotations

import json
import os
import select
import subprocess
from collections.abc import Callable

import pytest

from tests.fleet.host import Host
from tests.test_gateway_fleet import WORKSPACE, Gateway, gateway  # noqa: F401

pytestmark = pytest.mark.fleet

PASSWORD = "Bootstrap-Pw-7c3a"

ONBOARDERS = """
[roles.onboarders]
members = ["dave"]
allow = [{ ops = ["host.onboard", "host.approve"], hosts = ["client:acme"] }]
"""


def over_a_terminal(argv: list[str], prompt: str, answer: str) -> tuple[int, str]:
    """Run `argv` (ssh -t …) on a pseudo-terminal, as a person at a terminal would, and
    type `answer` once `prompt` shows; what the terminal showed and the exit code."""
    main, side = os.openpty()
    ssh = subprocess.Popen(argv, stdin=side, stdout=side, stderr=side, start_new_session=True)
    os.close(side)
    shown = b""
    answered = False
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 300)
            assert ready, f"the terminal stayed silent; so far: {shown!r}"
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: ssh closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            if not answered and prompt.encode() in shown:
                os.write(main, f"{answer}\r".encode())
                answered = True
    finally:
        os.close(main)
    return ssh.wait(timeout=60), shown.decode(errors="replace")


def takes_a_password(host: Host) -> None:
    """The host takes passwords (the fleet's sshd does not; an earlier file wins) and
    tech's sudo asks for one, as a client machine fresh from its installer."""
    host.run(
        "printf 'PasswordAuthentication yes\\nKbdInteractiveAuthentication yes\\n' "
        "> /etc/ssh/sshd_config.d/0-test-passwords.conf && systemctl reload ssh && "
        f"echo 'tech:{PASSWORD}' | chpasswd && "
        "echo 'tech ALL=(ALL:ALL) ALL' > /etc/sudoers.d/tech",
        check=True,
    )


def test_a_technician_onboards_and_approves_through_the_gateway(
    gateway: Gateway,  # noqa: F811 - the fixture, imported
    fresh_hosts: Callable[[int], list[Host]],
) -> None:
    (new,) = fresh_hosts(1)
    takes_a_password(new)
    git = f"runuser -u tendr -- git -C {WORKSPACE}"
    tracked = f"cat {WORKSPACE}/hosts/acme.toml {WORKSPACE}/known_hosts | sha256sum; {git} log"
    command = (
        f"onboard new-01 --address {new.address} --port {new.port} --client acme "
        "--bootstrap-user tech --yes"
    )
    before = gateway.on_controller(tracked).stdout

    # dave holds no host.onboard yet: refused before a password is asked, nothing changed.
    refused = gateway.ssh("dave", command)
    assert refused.returncode == 1
    assert "no rule allows host.onboard" in refused.stderr
    assert "password" not in refused.stdout + refused.stderr
    assert gateway.on_controller(tracked).stdout == before
    assert new.run("getent passwd tendr").returncode == 2  # no service account made

    # The administrator gives dave onboarding on acme's machines.
    rules = f"runuser -u tendr -- tee -a {WORKSPACE}/rules/roles.toml"
    gateway.controller.run(rules, stdin=ONBOARDERS, check=True)
    ruled = gateway.on_controller(f"{git} commit --quiet -am 'rules: dave onboards acme'")
    assert ruled.returncode == 0, ruled.stderr
    before = gateway.on_controller(tracked).stdout

    # Without a terminal (ssh without -t) the password is not asked: it would show.
    blind = gateway.ssh("dave", command)
    assert blind.returncode == 1
    assert "password is asked on a terminal: connect with ssh -t" in blind.stderr
    assert gateway.on_controller(tracked).stdout == before
    # A key path names a file the gateway account reads: refused.
    keyed = gateway.ssh("dave", f"{command} --bootstrap-key /var/lib/tendr/.ssh/id_ed25519")
    assert keyed.returncode == 1 and "--bootstrap-key is refused" in keyed.stderr

    argv = gateway.ssh_argv("dave")
    argv[argv.index("-T")] = "-t"  # stdin is a terminal: ssh asks for one
    code, shown = over_a_terminal([*argv, "--", command], "tech's password:", PASSWORD)
    assert code == 0, shown
    assert "onboarded: account, key, sudoers, pin, hosts file" in shown
    assert "new-01 is audit-only until approved" in shown
    assert PASSWORD not in shown

    subject = gateway.on_controller(f"{git} log -1 --format=%s").stdout
    assert subject == "onboard new-01 (client acme) by dave\n"
    files = gateway.on_controller(f"{git} show --name-only --format= HEAD").stdout
    assert files.split() == ["hosts/acme.toml", "known_hosts"]
    entry = gateway.on_controller(f"{git} show HEAD:hosts/acme.toml").stdout
    assert f'[hosts.new-01]\naddress = "{new.address}"\nport = {new.port}\n' in entry
    assert "ssh_key" not in entry  # the gateway's own key, installed for the account
    assert 'user = "tendr"' in entry  # the service account made, not acme's root
    assert gateway.on_controller(f"{git} status --porcelain").stdout == ""

    approved = gateway.ssh("dave", "approve new-01")
    assert approved.returncode == 0, approved.stderr
    assert "new-01 approved" in approved.stdout
    subject = gateway.on_controller(f"{git} log -1 --format=%s").stdout
    assert subject == "approve new-01 by dave\n"
    assert gateway.on_controller(f"{git} status --porcelain").stdout == ""
    # The gateway reaches the new machine with its own key, as the service account.
    applied = gateway.ssh("dave", "apply --yes -l new-01")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert new.run("cat /etc/motd", check=True).stdout == "Managed by Example IT (acme).\n"

    # The password is in no output, record, commit or file of the gateway's.
    history = gateway.on_controller(f"{git} log -p --all").stdout
    assert "onboard new-01" in history and PASSWORD not in history
    records = gateway.audit()
    made = [(r["person"], r["op"], r["resource"]) for r in records if r["outcome"] == "done"]
    assert ("dave", "host.onboard", "new-01") in made
    assert ("dave", "host.approve", "new-01") in made
    assert PASSWORD not in json.dumps(records)
    found = gateway.on_controller(
        f"grep -rlF -e {PASSWORD} {WORKSPACE} /var/lib/tendr /tmp --exclude-dir=objects"
    )
    assert found.returncode == 1, found.stdout  # grep: nothing found
    journal = gateway.on_controller(f"journalctl --no-pager | grep -cF -e {PASSWORD}")
    assert journal.stdout.strip() == "0"
    for answer in (refused, blind, keyed, approved, applied):
        assert PASSWORD not in answer.stdout + answer.stderr
