"""The cached Debian bookworm base image every fleet host boots from.

Built once with debootstrap into CACHE_DIR/base-<hash>, where the hash covers
the package lists and IMAGE_REVISION (bump it when `_configure` changes), and
reused read-only as the lower layer of every host's overlay.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

SUITE = "bookworm"
PACKAGES: tuple[str, ...] = (
    "systemd",
    "systemd-sysv",
    "openssh-server",
    "dbus",
    "python3",
    "sudo",
    "cups",
    "cups-ipp-utils",
    "restic",
    "cron",
    "kmod",
    "git",
)
# Downloaded into the image's apt cache so tests can install them offline-fast.
PREFETCH: tuple[str, ...] = ("hello", "tree")
IMAGE_REVISION = 1
TECH_UID = 1000

# Timers that would run apt or dpkg behind a test's back.
MASKED_UNITS: tuple[str, ...] = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
)

SSHD_CONFIG = """\
# tendr test fleet: key-only logins, verbose log (a benchmark counts commands)
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
HostKey /etc/ssh/ssh_host_ed25519_key
LogLevel VERBOSE
UseDNS no
MaxStartups 100:30:200
MaxSessions 100
"""

APT_CONFIG = """\
APT::Install-Recommends "false";
APT::Install-Suggests "false";
"""

JOURNALD_CONFIG = """\
[Journal]
RuntimeMaxUse=16M
SystemMaxUse=32M
"""


class ImageError(RuntimeError):
    """The base image could not be built."""


def digest() -> str:
    spec = {
        "suite": SUITE,
        "packages": sorted(PACKAGES),
        "prefetch": sorted(PREFETCH),
        "revision": IMAGE_REVISION,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def mirror() -> str:
    return os.environ.get("TENDR_FLEET_MIRROR", "http://deb.debian.org/debian")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd: Sequence[str], log: Path) -> None:
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise ImageError(f"{cmd[0]} failed (exit {proc.returncode}); end of {log}:\n{tail}")


def _chroot(root: Path, log: Path, *cmd: str) -> None:
    env = [
        "env",
        "-i",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "LC_ALL=C",
        "DEBIAN_FRONTEND=noninteractive",
    ]
    _run(["chroot", str(root), *env, *cmd], log)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _configure(root: Path, log: Path) -> None:
    etc = root / "etc"
    _write(etc / "apt/apt.conf.d/90tendr-fleet", APT_CONFIG)
    shutil.copyfile("/etc/resolv.conf", etc / "resolv.conf")  # for apt in the chroot
    # debootstrap's .debs are not needed; the lists are kept on purpose.
    _chroot(root, log, "apt-get", "clean")
    _chroot(root, log, "apt-get", "update")
    _chroot(root, log, "apt-get", "install", "-y", "--download-only", *PREFETCH)
    (etc / "resolv.conf").unlink()  # systemd-nspawn --resolv-conf=copy-host writes one per host

    _chroot(
        root,
        log,
        "useradd",
        "--create-home",
        "--uid",
        str(TECH_UID),
        "--shell",
        "/bin/bash",
        "--password",
        "*",
        "tech",
    )
    _write(etc / "sudoers.d/tech", "tech ALL=(ALL:ALL) NOPASSWD: ALL\n", 0o440)

    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()  # every host gets its own
    _write(etc / "ssh/sshd_config.d/00-tendr-fleet.conf", SSHD_CONFIG)

    # cupsd on its Unix socket only: hosts share the machine's network, so a
    # TCP port (631) would collide between them.
    cupsd = etc / "cups/cupsd.conf"
    lines = cupsd.read_text().splitlines()
    keep = [
        ln
        for ln in lines
        if not ln.strip().startswith(("Listen ", "Port "))
        or ln.strip() == "Listen /run/cups/cups.sock"
    ]
    if "Listen /run/cups/cups.sock" not in keep:
        keep.insert(0, "Listen /run/cups/cups.sock")
    keep = ["Browsing No" if ln.strip().startswith("Browsing ") else ln for ln in keep]
    cupsd.write_text("\n".join(keep) + "\n")

    for unit in MASKED_UNITS:
        link = etc / "systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
        for wants in (etc / "systemd/system").glob(f"*.wants/{unit}"):
            wants.unlink()
    _write(etc / "systemd/journald.conf.d/tendr-fleet.conf", JOURNALD_CONFIG)

    _write(etc / "machine-id", "")  # every host gets its own
    dbus_id = root / "var/lib/dbus/machine-id"
    dbus_id.unlink(missing_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    _write(etc / "hostname", "fleet-base\n")
    _write(etc / "tendr-fleet-base", digest() + "\n")


def _prune(cache_dir: Path, keep: Path) -> None:
    """Remove other base images no mounted overlay uses."""
    mounts = Path("/proc/self/mountinfo").read_text()
    for old in cache_dir.glob("base-*"):
        if old != keep and old.is_dir() and str(old) not in mounts:
            shutil.rmtree(old, ignore_errors=True)


def cached(cache_dir: Path) -> bool:
    return (cache_dir / f"base-{digest()}").is_dir()


def ensure_base(cache_dir: Path) -> Path:
    """Return the base image for the current package list, building it if needed."""
    final = cache_dir / f"base-{digest()}"
    if final.is_dir():
        return final
    if shutil.which("debootstrap") is None:
        raise ImageError("debootstrap is not installed: run tests/fleet/setup-machine.sh")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / ".lock"):
        if final.is_dir():
            return final
        tmp = cache_dir / f"{final.name}.tmp"
        log = cache_dir / f"{final.name}.log"
        shutil.rmtree(tmp, ignore_errors=True)
        log.write_text("")
        start = time.monotonic()
        print(
            f"tendr-fleet: building base image {final} (a few minutes; log {log})",
            file=sys.stderr,
            flush=True,
        )
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(tmp),
                mirror(),
            ],
            log,
        )
        _configure(tmp, log)
        tmp.rename(final)
        print(
            f"tendr-fleet: base image built in {time.monotonic() - start:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        _prune(cache_dir, final)
    return final
