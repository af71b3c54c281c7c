"""Boot, stop and wipe one fleet host: an overlay on the base image, booted
with systemd-nspawn in cgroups of its own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.fleet import cgroups
from tests.fleet.host import Host
from tests.fleet.image import TECH_UID

MOUNT_SOURCE = "tendr-fleet"  # the overlay's source name, how stale mounts are found

# Moves itself into the host's cgroups ("$@" up to "--"), then becomes systemd-nspawn.
WRAPPER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 1; shift; done; shift; exec "$@"'


class HostError(RuntimeError):
    """A host could not be booted or reached."""


@dataclass(frozen=True)
class HostDir:
    """A host's files in the state directory."""

    root: Path

    @property
    def upper(self) -> Path:
        return self.root / "upper"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def merged(self) -> Path:
        return self.root / "merged"

    @property
    def console(self) -> Path:
        return self.root / "console.log"

    @property
    def host_key(self) -> Path:
        return self.root / "keys" / "ssh_host_ed25519_key"

    @property
    def machine_id(self) -> Path:
        return self.root / "keys" / "machine-id"


def ensure_identity(d: HostDir, name: str) -> str:
    """Create the host's SSH host key and machine-id once; return the public key."""
    if not d.host_key.exists():
        d.host_key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(d.host_key)],
            check=True,
            stdin=subprocess.DEVNULL,
        )
    if not d.machine_id.exists():
        d.machine_id.write_text(
            Path("/proc/sys/kernel/random/uuid").read_text().strip().replace("-", "") + "\n"
        )
    kind, key, *_ = Path(f"{d.host_key}.pub").read_text().split()
    return f"{kind} {key}"


def overlay_mounts() -> list[Path]:
    """Mount points of every fleet overlay (any state directory), deepest first."""
    points: list[Path] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = right.split()
        if len(fields) >= 2 and fields[0] == "overlay" and fields[1] == MOUNT_SOURCE:
            raw = left.split()[4]
            points.append(Path(raw.encode().decode("unicode_escape")))
    return sorted(points, key=lambda p: len(p.parts), reverse=True)


def unmount(point: Path) -> None:
    if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=True)


def _write(path: Path, text: str, mode: int = 0o644, uid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    os.chown(path, uid, uid)


def prepare(d: HostDir, host: Host, base: Path, client_pub: str) -> None:
    """Wipe the host's overlay and mount a fresh one with its identity written in."""
    for p in (base, d.upper, d.work, d.merged):
        if "," in str(p) or ":" in str(p):
            raise HostError(f"path not usable in overlay options: {p}")
    if d.merged in overlay_mounts():
        unmount(d.merged)
    for p in (d.upper, d.work, d.merged):
        shutil.rmtree(p, ignore_errors=True)
        p.mkdir(parents=True)
    subprocess.run(
        [
            "mount",
            "-t",
            "overlay",
            MOUNT_SOURCE,
            "-o",
            f"lowerdir={base},upperdir={d.upper},workdir={d.work}",
            str(d.merged),
        ],
        check=True,
        capture_output=True,
    )
    root = d.merged
    etc = root / "etc"
    _write(etc / "hostname", f"{host.name}\n")
    _write(
        etc / "hosts",
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.name}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n",
    )
    _write(etc / "machine-id", d.machine_id.read_text(), 0o444)
    _write(etc / "ssh/ssh_host_ed25519_key", d.host_key.read_text(), 0o600)
    _write(etc / "ssh/ssh_host_ed25519_key.pub", Path(f"{d.host_key}.pub").read_text())
    _write(
        etc / "ssh/sshd_config.d/01-tendr-fleet-port.conf",
        f"Port {host.port}\nListenAddress {host.address}\n",
    )
    for home, uid in ((root / "root", 0), (root / "home/tech", TECH_UID)):
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        os.chown(ssh_dir, uid, uid)
        _write(ssh_dir / "authorized_keys", client_pub, 0o600, uid)


def start(
    d: HostDir, host: Host, binds: Sequence[Path] = (), netns: Path | None = None
) -> subprocess.Popen[bytes]:
    """Boot the prepared host in the background; return the systemd-nspawn process.
    Each of `binds` is a folder of this machine the host sees read-only, at the same path
    (how a controller host runs this checkout of tendr with this machine's Python).
    `netns`: a network namespace file (/run/netns/NAME) the host runs in instead of this
    machine's network."""
    if netns is None:  # in a namespace of its own, host.address is no address of this machine
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host.address, host.port))
            except OSError as e:
                raise HostError(
                    f"{host.name}: port {host.address}:{host.port} is taken by "
                    f"another program ({e}); see `ss -ltnp`"
                ) from e
    procs = [str(p) for p in cgroups.create(host.name)]
    argv = [
        "sh",
        "-c",
        WRAPPER,
        "sh",
        *procs,
        "--",
        "systemd-nspawn",
        "--quiet",
        "--register=no",
        "--keep-unit",
        f"--directory={d.merged}",
        f"--machine={host.name}",
        "--resolv-conf=copy-host",
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",
        *(f"--bind-ro={folder}" for folder in binds),
        *([f"--network-namespace-path={netns}"] if netns is not None else []),
        "--boot",
    ]
    with d.console.open("wb") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _banner(host: Host) -> bool:
    try:
        with socket.create_connection((host.address, host.port), timeout=1) as s:
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _greets(host: Host) -> bool:
    """sshd answers on the host's port; a host behind a jump host cannot be looked at from
    here, so only ssh through the jump host tells."""
    return host.jump is not None or _banner(host)


def answers_ssh(host: Host) -> bool:
    """The host runs a command over SSH right now."""
    return _greets(host) and host.run("true", timeout=30).returncode == 0


def wait_ssh(
    d: HostDir, host: Host, proc: subprocess.Popen[bytes] | None, timeout: float = 120
) -> None:
    """Wait until the host runs a command over SSH (strict host key checking)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise HostError(
                f"{host.name}: systemd-nspawn exited ({proc.returncode})\n{console_tail(d)}"
            )
        if _greets(host):
            result = host.run("true", timeout=30)
            if result.returncode == 0:
                return
            last = result.stderr.strip()
        else:
            last = "sshd not answering"
        if time.monotonic() > deadline:
            raise HostError(
                f"{host.name}: no SSH after {timeout:.0f} s ({last})\n{console_tail(d)}"
            )
        time.sleep(0.1)


def console_tail(d: HostDir, lines: int = 20) -> str:
    try:
        text = d.console.read_text(errors="replace")
    except OSError:
        return "(no console log)"
    return "console:\n" + "\n".join(text.splitlines()[-lines:])


def stop(d: HostDir, name: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Kill everything the host runs, unmount its overlay, remove its cgroups."""
    groups = cgroups.host_groups(name)
    cgroups.kill(groups)
    if proc is not None:
        proc.wait(timeout=10)
    if d.merged in overlay_mounts():
        unmount(d.merged)
    for group in groups:
        cgroups.remove_tree(group)
