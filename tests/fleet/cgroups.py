"""Per-host control groups: create them, find and kill what runs in them.

The test machine may mix cgroup v1 hierarchies and the unified (v2) tree.
`systemd-nspawn --keep-unit` runs a container in the cgroup its own process is
in, so every host gets a group of its own in the name=systemd (v1) and the
unified trees, and the process that becomes systemd-nspawn moves itself there
before it execs.  Processes are found by cgroup, never by PID: they outlive a
killed systemd-nspawn.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

GROUP = "tendr-fleet"


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy and where this process sits in it."""

    mountpoint: Path
    controllers: frozenset[str]
    own_path: str  # this process's cgroup, relative to the mountpoint
    unified: bool

    @property
    def key(self) -> str:
        return "unified" if self.unified else ",".join(sorted(self.controllers))


def _cgroup_mounts() -> list[tuple[Path, str, frozenset[str]]]:
    mounts: list[tuple[Path, str, frozenset[str]]] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        fstype, _source, superopts = (right.split() + ["", "", ""])[:3]
        if fstype in ("cgroup", "cgroup2"):
            opts = frozenset(superopts.split(","))
            mounts.append((Path(fields[4]), fstype, opts))
    return mounts


def hierarchies() -> list[Hierarchy]:
    """The hierarchies systemd-nspawn places containers in: name=systemd (v1) and the unified tree.

    Other v1 controllers (memory, pids, ...) are left as inherited, so whatever
    accounts for the process that starts the fleet keeps accounting for it.
    """
    mounts = _cgroup_mounts()
    found: list[Hierarchy] = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, ctrls, path = line.split(":", 2)
        names = frozenset(ctrls.split(",")) if ctrls else frozenset()
        if hid != "0" and "name=systemd" not in names:
            continue
        for mountpoint, fstype, opts in mounts:
            if (hid == "0" and fstype == "cgroup2") or (
                hid != "0" and fstype == "cgroup" and names <= opts
            ):
                found.append(Hierarchy(mountpoint, names, path, hid == "0"))
                break
    return found


def _base(h: Hierarchy) -> Path:
    """Directory holding the per-host groups in hierarchy `h` (at its root, so
    that a later run, started from another cgroup, finds stale ones)."""
    return h.mountpoint / GROUP


def host_groups(name: str) -> list[Path]:
    """The group directories of host `name` (created or not)."""
    return [_base(h) / name for h in hierarchies()]


def create(name: str) -> list[Path]:
    """Create fresh, empty groups for host `name`; return their cgroup.procs."""
    procs: list[Path] = []
    for group in host_groups(name):
        remove_tree(group)
        group.mkdir(parents=True, exist_ok=True)
        procs.append(group / "cgroup.procs")
    return procs


def pids_in(group: Path) -> set[int]:
    """All process IDs in `group` and its subgroups."""
    pids: set[int] = set()
    if not group.is_dir():
        return pids
    for procs in group.rglob("cgroup.procs"):
        try:
            text = procs.read_text()
        except OSError:
            continue
        pids.update(int(p) for p in text.split())
    return pids


def kill(groups: list[Path], timeout: float = 10.0) -> None:
    """SIGKILL everything in `groups` until they are empty."""
    deadline = time.monotonic() + timeout
    while True:
        pids: set[int] = set()
        for group in groups:
            kill_file = group / "cgroup.kill"
            if kill_file.exists():
                try:
                    kill_file.write_text("1")
                except OSError:
                    pass
            pids |= pids_in(group)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes still alive in {groups}: {sorted(pids)}")
        time.sleep(0.02)


def remove_tree(group: Path) -> None:
    """Remove an (empty of processes) group with all its subgroups."""
    if not group.is_dir():
        return
    subdirs = sorted((p for p in group.rglob("*") if p.is_dir()), key=lambda p: len(p.parts))
    for sub in reversed(subdirs):
        try:
            sub.rmdir()
        except FileNotFoundError:
            pass
    group.rmdir()


def stale_hosts() -> set[str]:
    """Names of host groups left in the process-tracking hierarchies."""
    names: set[str] = set()
    for h in hierarchies():
        base = _base(h)
        if base.is_dir():
            names.update(p.name for p in base.iterdir() if p.is_dir())
    return names


def memory_bytes(name: str) -> int:
    """Proportional set size (PSS) of all processes of host `name`, in bytes."""
    total = 0
    pids: set[int] = set()
    for group in host_groups(name):
        pids |= pids_in(group)
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                break
    return total
