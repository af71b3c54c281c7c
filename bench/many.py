"""Benchmark: tendr plan beyond the fleet's 99 hosts, by simulation.

Each test host of the running fleet is listed COPIES times in a generated workspace
(hosts NAME-c0, NAME-c1, ...: one more connection, login and probe each), so 99
containers stand for 297 hosts. Every copy is a real SSH connection with its own key
exchange, login, sudo-free root probe and plan; what is shared is the container that
answers it (its CPU comes from the same 2 cores either way). Run as root, with the
fleet up (`python3 -m tests.fleet up 99`) and no pytest using it:

    python3 bench/many.py [--copies 1,3] [--repeat 3] [--parallel 100]

Prints, per host count, wall time (median of --repeat), the time per host beyond the
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
from tests.fleet.host import write_hosts_file  # noqa: E402

STARTUP_S = 0.5  # tendr plan's fixed cost before any host (bench/startup.py)


def workspace(folder: Path, fleet: Fleet, copies: int, parallel: int) -> Path:
    hosts = [
        dataclasses.replace(host, name=f"{host.name}-c{copy}")
        for host in fleet.hosts
        for copy in range(copies)
    ]
    write_hosts_file(folder, hosts)
    (folder / "tendr.toml").write_text(f'known_hosts = "known_hosts"\nparallel = {parallel}\n')
    for sub, name, source in (
        ("states", "bench.toml", "tendr-state.toml"),
        ("rules", "roles.toml", "tendr-roles.toml"),
    ):
        (folder / sub).mkdir(mode=0o755, exist_ok=True)
        (folder / sub / name).write_text((DESIRED / source).read_text())
        (folder / sub / name).chmod(0o644)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", default="1,3", help="copies of each host (default 1,3)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=100, help="tendr.toml's parallel")
    args = parser.parse_args()
    fleet = Fleet()
    if not fleet.hosts:
        raise SystemExit("bench/many.py: the fleet is not up (python3 -m tests.fleet up 99)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="tendr-many-") as scratch:
        for copies in sorted({int(c) for c in args.copies.split(",")}):
            folder = workspace(Path(scratch) / f"c{copies}", fleet, copies, args.parallel)
            hosts = len(fleet.hosts) * copies
            walls, peaks = [], []
            for repeat in range(1, args.repeat + 1):
                output = Path(scratch) / f"plan-{hosts}-{repeat}.log"
                argv = [executable("tendr"), "plan", "-w", str(folder)]
                measured = measure(argv, folder, _env(), output)
                if measured.exit_code != 2:
                    raise SystemExit(f"tendr plan exited {measured.exit_code}: {output}")
                walls.append(measured.wall_s)
                peaks.append(measured.tree_peak_rss_mib)
                log(f"{hosts} hosts run {repeat}: {measured.wall_s:.2f} s")
            wall = statistics.median(walls)
            rows.append(
                {
                    "hosts": hosts,
                    "copies": copies,
                    "parallel": args.parallel,
                    "wall_median_s": round(wall, 3),
                    "wall_all_s": [round(w, 3) for w in walls],
                    "ms_per_host": round((wall - STARTUP_S) / hosts * 1000, 1),
                    "tree_peak_rss_mib": round(max(peaks), 1),
                }
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "many.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"{'hosts':>6} {'wall med s':>10} {'ms/host':>8} {'peak MiB':>9}")
    for row in rows:
        print(
            f"{row['hosts']:>6} {row['wall_median_s']:>10.2f} {row['ms_per_host']:>8.1f} "
            f"{row['tree_peak_rss_mib']:>9.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
