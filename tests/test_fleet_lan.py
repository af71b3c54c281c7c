"""The test fleet's client LAN: a gateway this machine reaches, and hosts behind it that
only the gateway reaches."""

from __future__ import annotations

import errno
import socket

import pytest

from tests.fleet.lan import Lan

pytestmark = pytest.mark.fleet


def test_gateway_answers_over_ssh(fleet_lan: Lan) -> None:
    result = fleet_lan.gateway.run("hostname", check=True)
    assert result.stdout.strip() == "lan-gw"


def test_lan_hosts_answer_through_the_gateway(fleet_lan: Lan) -> None:
    assert [h.name for h in fleet_lan.hosts] == ["lan-01", "lan-02"]
    for host in fleet_lan.hosts:
        assert host.jump == fleet_lan.gateway
        assert host.run("hostname", check=True).stdout.strip() == host.name
        assert host.run("id -un", user="tech", check=True).stdout.strip() == "tech"


def test_lan_hosts_are_not_reachable_directly(fleet_lan: Lan) -> None:
    host = fleet_lan.hosts[0]
    with pytest.raises(OSError) as caught:
        socket.create_connection((host.address, host.port), timeout=5).close()
    # refused at once by the `unreachable` route ("No route to host"), not a timeout
    assert caught.value.errno == errno.EHOSTUNREACH
