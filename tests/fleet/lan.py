"""A client LAN behind a gateway host, as a provider reaches a client's machines through
the client's one SSH host.

    this machine 10.231.0.1/30 ==veth== 10.231.0.2/30  lan-gw  (sshd :22)
                                         10.231.1.1/30 ==veth== 10.231.1.2/30  lan-01 (sshd :2201)
                                                                               lan-02 (sshd :2202)

lan-gw runs in the network namespace tendr-lan-gw, lan-01 and lan-02 share tendr-lan.
This machine has an `unreachable` route for 10.231.1.0/24, so a direct connection to a
LAN host fails at once; ssh reaches them with `ssh -W` through the gateway (Host.jump),
whose sshd makes the connection itself: the gateway forwards no packets.

In all else they are fleet hosts (base image, overlays in the fleet's state directory,
cgroups, the fleet's client key), so Fleet.up and Fleet.down stop them too, and their
network with them.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.fleet import cgroups, image, machine
from tests.fleet.fleet import Fleet, FleetError, preflight
from tests.fleet.host import Host, write_known_hosts
from tests.fleet.machine import HostDir

GATEWAY = "lan-gw"
LAN_HOSTS = (("lan-01", 2201), ("lan-02", 2202))  # (name, sshd port)
GATEWAY_NETNS = "tendr-lan-gw"
LAN_NETNS = "tendr-lan"
UPLINK = "tendr-lan-up"  # this machine's end of the veth to the gateway
MACHINE_ADDRESS = "10.231.0.1/30"
GATEWAY_ADDRESS = "10.231.0.2"  # /30, on the gateway's "uplink"
GATEWAY_LAN_ADDRESS = "10.231.1.1/30"  # on the gateway's "downlink"
LAN_ADDRESS = "10.231.1.2"  # /30, on the LAN's "uplink"
LAN_NET = "10.231.1.0/24"


@dataclass
class Lan:
    """The booted lan: a gateway and the hosts behind it, all with the fleet's key."""

    gateway: Host
    hosts: list[Host]  # reached through the gateway (Host.jump)
    known_hosts: Path  # the entries of all three
    key_path: Path
    state_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def down(self) -> None:
        stop(self.state_dir, self.procs)


def _ip(command: str) -> None:
    """Run `ip` with the words of `command` (names and addresses, none with spaces)."""
    result = subprocess.run(["ip", *command.split()], capture_output=True, text=True)
    if result.returncode != 0:
        raise machine.HostError(f"ip {command}: {result.stderr.strip()}")


def _netns(name: str) -> Path:
    return Path("/run/netns") / name


def _make_network() -> None:
    gw, lan = GATEWAY_NETNS, LAN_NETNS
    _ip(f"netns add {gw}")
    _ip(f"netns add {lan}")
    _ip(f"link add {UPLINK} type veth peer name uplink netns {gw}")
    _ip(f"addr add {MACHINE_ADDRESS} dev {UPLINK}")
    _ip(f"link set {UPLINK} up")
    _ip(f"-n {gw} link add downlink type veth peer name uplink netns {lan}")
    _ip(f"-n {gw} addr add {GATEWAY_ADDRESS}/30 dev uplink")
    _ip(f"-n {gw} addr add {GATEWAY_LAN_ADDRESS} dev downlink")
    _ip(f"-n {lan} addr add {LAN_ADDRESS}/30 dev uplink")
    for ns, dev in ((gw, "uplink"), (gw, "downlink"), (gw, "lo"), (lan, "uplink"), (lan, "lo")):
        _ip(f"-n {ns} link set {dev} up")
    _ip(f"route add unreachable {LAN_NET}")


def remove_network() -> None:
    """Remove the lan's route, veths and namespaces where present (also a crashed run's)."""
    if shutil.which("ip") is None:
        return  # then no lan was ever made here
    routes = subprocess.run(
        ["ip", "route", "show", "type", "unreachable", LAN_NET],
        capture_output=True,
        text=True,
        check=True,
    )
    if routes.stdout.strip():
        _ip(f"route del unreachable {LAN_NET}")
    # Deleting one end of a veth deletes both.  Done here, not left to the namespace's
    # teardown, which is asynchronous: the next boot may want the name at once.
    if (Path("/sys/class/net") / UPLINK).exists():
        _ip(f"link del {UPLINK}")
    for ns in (GATEWAY_NETNS, LAN_NETNS):
        if _netns(ns).exists():
            _ip(f"netns del {ns}")


def stop(state_dir: Path, procs: Mapping[str, subprocess.Popen[bytes]] | None = None) -> None:
    """Stop the lan's hosts, wipe their overlays, remove the network."""
    for name in (GATEWAY, *(name for name, _ in LAN_HOSTS)):
        d = HostDir(state_dir / "hosts" / name)
        machine.stop(d, name, (procs or {}).get(name))
        for p in (d.upper, d.work, d.merged):
            shutil.rmtree(p, ignore_errors=True)
    for h in cgroups.hierarchies():  # the fleet's group, if the lan made it
        try:
            (h.mountpoint / cgroups.GROUP).rmdir()
        except OSError:
            pass  # in use by fleet hosts, or not there
    remove_network()


def up(fleet: Fleet, timeout: float = 120) -> Lan:
    """Boot the lan (first removing what an earlier one left); wait until all answer SSH."""
    preflight(build=not image.cached(fleet.cache_dir))
    if shutil.which("ip") is None:
        raise FleetError("the lan cannot start: missing command ip (iproute2)")
    try:
        base = image.ensure_base(fleet.cache_dir)
    except image.ImageError as e:
        raise FleetError(f"the base image could not be built: {e}") from e
    state = fleet.state_dir
    known_hosts = state / "lan" / "known_hosts"

    def host(name: str, address: str, port: int, jump: Host | None = None) -> Host:
        key = machine.ensure_identity(HostDir(state / "hosts" / name), name)
        return Host(name, port, fleet.key_path, known_hosts, key, address, jump=jump)

    with fleet._machine_lock():
        stop(state)
        gateway = host(GATEWAY, GATEWAY_ADDRESS, 22)
        hosts = [host(name, LAN_ADDRESS, port, gateway) for name, port in LAN_HOSTS]
        write_known_hosts(known_hosts, [gateway, *hosts])
        lan = Lan(gateway, hosts, known_hosts, fleet.key_path, state)
        try:
            _make_network()
            pub = fleet._client_pub()
            for h, ns in ((gateway, GATEWAY_NETNS), *((h, LAN_NETNS) for h in hosts)):
                d = HostDir(state / "hosts" / h.name)
                machine.prepare(d, h, base, pub)
                lan.procs[h.name] = machine.start(d, h, netns=_netns(ns))
            for h in (gateway, *hosts):  # the gateway first: the others are reached through it
                machine.wait_ssh(HostDir(state / "hosts" / h.name), h, lan.procs[h.name], timeout)
        except (OSError, subprocess.SubprocessError, machine.HostError) as e:
            lan.down()
            raise FleetError(f"the lan did not come up: {e}") from e
    return lan
