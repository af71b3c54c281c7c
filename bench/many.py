"""Benchmark: tendr plan at the scale of a provider: many hosts, and one host with
thousands of resources.

Host counts up to the running fleet's size use its first hosts; beyond it, each host is
listed several times in the generated workspace (NAME-c0, NAME-c1, ...), so 99
containers stand for 297 hosts. Every copy is a real SSH connection with its own key
exchange, login, probe and plan; what is shared is the container that answers it (its
CPU comes from the same 2 cores either way). Then one host with --files file
resources. Run as root, with the fleet up (`python3 -m tests.fleet up 99`) and no
pytest using it:

    python3 bench/many.py [--hosts 20,99,297] [--files 10000] [--repeat 3] [--parallel 100]

Prints, per run kind, wall time (median of --repeat), the time per host beyond the
fixed start-up, and the peak memory of the process tree; writes
bench/results/many.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import DESIRED, RESULTS, _env, executable, log, measure  # noqa: E402
from tests.fleet.fleet import Fleet  # noqa: E402
from tests.fleet.host import Host, write_hosts_file  # noqa: E402

STARTUP_S = 0.5  # tendr plan's fixed cost before any host (bench/startup.py)


def workspace(folder: Path, hosts: list[Host], parallel: int, state: str) -> Path:
    write_hosts_file(folder, hosts)
    (folder / "tendr.toml").write_text(f'known_hosts = "known_hosts"\nparallel = {parallel}\n')
    for sub, name, text in (
        ("states", "bench.toml", state),
        ("rules", "roles.toml", (DESIRED / "tendr-roles.toml").read_text()),
    ):
        (folder / sub).mkdir(mode=0o755, exist_ok=True)
        (folder / sub / name).write_text(text)
        (folder / sub / name).chmod(0o644)
    return folder


def listed(fleet: Fleet, count: int) -> list[Host]:
    """`count` hosts: the fleet's first, or each of its hosts listed as often as needed."""
    copies = -(-count // len(fleet.hosts))
    names = [
        host if copies == 1 else dataclasses.replace(host, name=f"{host.name}-c{copy}")
        for copy in range(copies)
        for host in fleet.hosts
    ]
    return names[:count]


def files_state(count: int) -> str:
    """`count` files to write on every host of the state, each with its own content."""
    return 'hosts = ["all"]\n' + "".join(
        f'[[file]]\npath = "/srv/tendr-bench/f{i:05d}"\ncontent = "{i}\\n"\n' for i in range(count)
    )


def timed(folder: Path, label: str, repeat: int, scratch: Path) -> tuple[list[float], float]:
    """tendr plan of the workspace `repeat` times: the wall times, the peak memory."""
    walls, peaks = [], []
    for run in range(1, repeat + 1):
        output = scratch / f"plan-{label}-{run}.log"
        measured = measure([executable("tendr"), "plan", "-w", str(folder)], folder, _env(), output)
        if measured.exit_code != 2:
            raise SystemExit(f"tendr plan exited {measured.exit_code}: {output}")
        walls.append(measured.wall_s)
        peaks.append(measured.tree_peak_rss_mib)
        log(f"{label} run {run}: {measured.wall_s:.2f} s")
    return walls, max(peaks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="20,99,297", help="host counts (default 20,99,297)")
    parser.add_argument("--files", type=int, default=10000, help="files on one host (0: none)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=100, help="tendr.toml's parallel")
    args = parser.parse_args()
    fleet = Fleet()
    if not fleet.hosts:
        raise SystemExit("bench/many.py: the fleet is not up (python3 -m tests.fleet up 99)")
    bench_state = (DESIRED / "tendr-state.toml").read_text()
    runs: list[tuple[str, list[Host], str]] = [
        (f"{n} hosts", listed(fleet, n), bench_state)
        for n in sorted({int(n) for n in args.hosts.split(",")})
    ]
    if args.files:
        runs.append((f"{args.files} files", fleet.hosts[:1], files_state(args.files)))
    rows = []
    with tempfile.TemporaryDirectory(prefix="tendr-many-") as scratch:
        for label, hosts, state in runs:
            folder = workspace(Path(scratch) / label.replace(" ", "-"), hosts, args.parallel, state)
            walls, peak = timed(folder, label, args.repeat, Path(scratch))
            wall = statistics.median(walls)
            rows.append(
                {
                    "run": label,
                    "hosts": len(hosts),
                    "parallel": args.parallel,
                    "wall_median_s": round(wall, 3),
                    "wall_all_s": [round(w, 3) for w in walls],
                    "ms_per_host": round((wall - STARTUP_S) / len(hosts) * 1000, 1),
                    "tree_peak_rss_mib": round(peak, 1),
                }
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "many.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"{'run':>12} {'parallel':>8} {'wall med s':>10} {'ms/host':>8} {'peak MiB':>9}")
    for row in rows:
        print(
            f"{row['run']:>12} {row['parallel']:>8} {row['wall_median_s']:>10.2f} "
            f"{row['ms_per_host']:>8.1f} {row['tree_peak_rss_mib']:>9.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
