"""The test fleet: N Debian hosts booted with systemd-nspawn on this machine.

State (keys, known_hosts, overlays, fleet.json) lives in TENDR_FLEET_DIR
(default /var/lib/tendr-fleet), the base image in TENDR_FLEET_CACHE (default
/var/cache/tendr-fleet).  Host i is fleet-<ii> with sshd on 127.0.0.1:BASE+i
(TENDR_FLEET_BASE_PORT, default 22000).  There is one fleet per machine: `up`
first removes whatever an earlier run left (processes by cgroup, overlays, the
network of a lan: tests/fleet/lan.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.fleet import cgroups, image, machine
from tests.fleet.host import Host, write_hosts_file, write_known_hosts
from tests.fleet.machine import HostDir

TOOLS = ("systemd-nspawn", "ssh", "ssh-keygen", "mount", "umount")
BUILD_TOOLS = ("debootstrap", "chroot")  # only while the base image is not cached


class FleetError(RuntimeError):
    """The fleet cannot be started or used here; the message says why."""


def preflight(build: bool = True) -> None:
    """Raise FleetError naming what this machine lacks to run a fleet (and build its image)."""
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append("not running as root")
    missing = [t for t in TOOLS + (BUILD_TOOLS if build else ()) if shutil.which(t) is None]
    if missing:
        problems.append(f"missing commands: {', '.join(missing)}")
    if "overlay" not in Path("/proc/filesystems").read_text():
        problems.append("the kernel has no overlay filesystem")
    if not cgroups.hierarchies():
        problems.append("no name=systemd or unified cgroup hierarchy is mounted")
    if problems:
        raise FleetError(
            "the test fleet cannot start: "
            + "; ".join(problems)
            + " (run tests/fleet/setup-machine.sh as root)"
        )


def fleet_size_from_env(default: int = 6) -> int:
    """TENDR_FLEET_SIZE, or `default`."""
    raw = os.environ.get("TENDR_FLEET_SIZE") or str(default)
    if not raw.isdigit():
        raise FleetError(f"TENDR_FLEET_SIZE must be a number, not {raw!r}")
    return int(raw)


@dataclass
class _Slot:
    host: Host
    proc: subprocess.Popen[bytes] | None = None
    clean: bool = True
    in_use: bool = False
    pending: Future[None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name) or default)


class Fleet:
    def __init__(
        self,
        state_dir: Path | None = None,
        cache_dir: Path | None = None,
        base_port: int | None = None,
    ) -> None:
        self.state_dir = state_dir or _env_path("TENDR_FLEET_DIR", "/var/lib/tendr-fleet")
        self.cache_dir = cache_dir or _env_path("TENDR_FLEET_CACHE", "/var/cache/tendr-fleet")
        self.base_port = base_port or int(os.environ.get("TENDR_FLEET_BASE_PORT", "22000"))
        self.key_path = self.state_dir / "id_ed25519"
        self.known_hosts_path = self.state_dir / "known_hosts"
        self.workspace = self.state_dir / "workspace"
        self.base: Path | None = None
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._resets: ThreadPoolExecutor | None = None
        self._load()

    # -- state ---------------------------------------------------------------

    @property
    def hosts(self) -> list[Host]:
        return [s.host for s in self._slots.values()]

    def host(self, name: str) -> Host:
        if name.isdigit():
            name = f"fleet-{int(name):02d}"
        try:
            return self._slots[name].host
        except KeyError:
            raise FleetError(f"no host {name!r} in the fleet ({', '.join(self._slots)})") from None

    def _dir(self, name: str) -> HostDir:
        return HostDir(self.state_dir / "hosts" / name)

    def _load(self) -> None:
        state = self.state_dir / "fleet.json"
        if not state.exists():
            return
        data = json.loads(state.read_text())
        self.base = Path(data["base"])
        for h in data["hosts"]:
            host = Host(h["name"], h["port"], self.key_path, self.known_hosts_path, h["host_key"])
            self._slots[host.name] = _Slot(host)

    def _save(self) -> None:
        data = {
            "base": str(self.base),
            "hosts": [{"name": h.name, "port": h.port, "host_key": h.host_key} for h in self.hosts],
        }
        (self.state_dir / "fleet.json").write_text(json.dumps(data, indent=2) + "\n")

    @contextmanager
    def _machine_lock(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / "lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _client_pub(self) -> str:
        if not self.key_path.exists():
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "tendr-fleet",
                    "-f",
                    str(self.key_path),
                ],
                check=True,
                stdin=subprocess.DEVNULL,
            )
        return Path(f"{self.key_path}.pub").read_text()

    # -- up / down -----------------------------------------------------------

    def up(self, n: int) -> list[Host]:
        """Clean up any earlier fleet, boot n fresh hosts, wait until all answer SSH."""
        if not 1 <= n <= 99:
            raise FleetError(f"fleet size must be 1..99, not {n}")
        self.settle()
        preflight(build=not image.cached(self.cache_dir))
        try:
            base = image.ensure_base(self.cache_dir)
        except image.ImageError as e:
            raise FleetError(f"the base image could not be built: {e}") from e
        with self._machine_lock():
            self._down()
            self.base = base
            pub = self._client_pub()
            for i in range(1, n + 1):
                name = f"fleet-{i:02d}"
                host_key = machine.ensure_identity(self._dir(name), name)
                host = Host(
                    name, self.base_port + i, self.key_path, self.known_hosts_path, host_key
                )
                self._slots[name] = _Slot(host)
            write_known_hosts(self.known_hosts_path, self.hosts)
            shutil.rmtree(self.workspace, ignore_errors=True)
            write_hosts_file(self.workspace, self.hosts)
            self._save()
            try:
                for slot in self._slots.values():
                    d = self._dir(slot.host.name)
                    machine.prepare(d, slot.host, base, pub)
                    slot.proc = machine.start(d, slot.host)
                self._wait(list(self._slots.values()))
            except (OSError, subprocess.SubprocessError, machine.HostError) as e:
                self._down()
                raise FleetError(f"the fleet did not come up: {e}") from e
        return self.hosts

    def _wait(self, slots: Sequence[_Slot]) -> None:
        with ThreadPoolExecutor(max_workers=max(1, min(len(slots), 32))) as pool:
            futures = [
                pool.submit(machine.wait_ssh, self._dir(s.host.name), s.host, s.proc) for s in slots
            ]
            for f in futures:
                f.result()

    def settle(self) -> None:
        """Wait for the background resets release() started."""
        if self._resets is not None:
            self._resets.shutdown(wait=True, cancel_futures=True)
            self._resets = None
        for slot in self._slots.values():
            slot.pending = None

    def down(self) -> None:
        """Stop every fleet host (also ones an earlier, crashed run left)."""
        self.settle()
        with self._machine_lock():
            self._down()

    def _down(self) -> None:
        names = set(self._slots) | cgroups.stale_hosts()
        for name in sorted(names):
            slot = self._slots.get(name)
            machine.stop(self._dir(name), name, slot.proc if slot else None)
        for point in machine.overlay_mounts():
            machine.unmount(point)
        hosts_dir = self.state_dir / "hosts"
        if hosts_dir.is_dir():
            for d in (HostDir(p) for p in hosts_dir.iterdir()):
                for p in (d.upper, d.work, d.merged):
                    shutil.rmtree(p, ignore_errors=True)
        base_group = [h.mountpoint / cgroups.GROUP for h in cgroups.hierarchies()]
        for group in base_group:
            if group.is_dir() and not any(p.is_dir() for p in group.iterdir()):
                group.rmdir()
        from tests.fleet import lan  # here, not at the top: lan imports this module

        lan.remove_network()  # a lan's hosts, if any, were stopped above with the others
        (self.state_dir / "fleet.json").unlink(missing_ok=True)
        self._slots.clear()

    # -- fresh hosts for tests -----------------------------------------------

    def reset(self, host: Host, binds: Sequence[Path] = ()) -> None:
        """Bring `host` back to the base image: stop, wipe its overlay, boot, wait for SSH.
        `binds`: folders of this machine it sees read-only at the same paths (until the
        next reset)."""
        slot = self._slots[host.name]
        if self.base is None:
            raise FleetError("the fleet is not up")
        with slot.lock:
            d = self._dir(host.name)
            machine.stop(d, host.name, slot.proc)
            machine.prepare(d, host, self.base, self._client_pub())
            slot.proc = machine.start(d, host, binds)
            machine.wait_ssh(d, host, slot.proc)
            slot.clean = not binds

    def fresh(self, n: int = 1) -> list[Host]:
        """Hand out n hosts in the base image's state (reset if a test used them).

        Give them back with release(); they are then reset in the background.
        """
        with self._lock:
            free = [s for s in self._slots.values() if not s.in_use]
            if len(free) < n:
                raise FleetError(
                    f"{n} fresh host(s) wanted, {len(free)} free of "
                    f"{len(self._slots)} (set TENDR_FLEET_SIZE higher)"
                )
            free.sort(key=lambda s: (not s.clean, s.pending is None))
            chosen = free[:n]
            for s in chosen:
                s.in_use = True
        try:
            for s in chosen:
                if s.pending is not None:
                    try:
                        s.pending.result()
                    except (OSError, subprocess.SubprocessError, machine.HostError):
                        s.clean = False
                    s.pending = None
                if not s.clean:
                    self.reset(s.host)
        except BaseException:
            self.release([s.host for s in chosen])
            raise
        return [s.host for s in chosen]

    def release(self, hosts: Sequence[Host]) -> None:
        """Take back hosts from fresh(): they count as changed and get reset in the background."""
        if self._resets is None:
            self._resets = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fleet-reset")
        with self._lock:
            for h in hosts:
                s = self._slots[h.name]
                s.clean = False
                s.pending = self._resets.submit(self.reset, h)
                s.in_use = False

    # -- status ----------------------------------------------------------------

    def status(self) -> list[dict[str, object]]:
        """One entry per known or stale host: running processes, SSH, memory."""
        rows: list[dict[str, object]] = []
        for name in sorted(set(self._slots) | cgroups.stale_hosts()):
            slot = self._slots.get(name)
            pids: set[int] = set()
            for group in cgroups.host_groups(name):
                pids |= cgroups.pids_in(group)
            ssh = slot is not None and bool(pids) and machine.answers_ssh(slot.host)
            rows.append(
                {
                    "name": name,
                    "port": slot.host.port if slot else None,
                    "processes": len(pids),
                    "ssh": ssh,
                    "memory_mib": round(cgroups.memory_bytes(name) / 2**20, 1),
                    "stale": slot is None,
                }
            )
        return rows

    def write_workspace(
        self,
        directory: Path,
        hosts: Sequence[Host] | None = None,
        client: str = "fleet",
        user: str = "root",
    ) -> Path:
        return write_hosts_file(directory, list(hosts or self.hosts), client, user)
