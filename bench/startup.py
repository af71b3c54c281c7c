"""Start-up per command: what a technician waits for before tendr does anything.

    python3 bench/startup.py [--repeat 9]

Runs each command of this repository's `tendr` (its working tree, through the
console script's entry point `tendr.__main__:main`, whatever tendr is installed)
against its example workspace (the local machine; nothing is changed) `--repeat`
times, and prints the
median wall time and peak memory, next to a bare `python3 -c pass` and to the import
of tendr's command line alone, so that what tendr adds shows apart from Python's own
start. Also prints the modules whose import costs most (python -X importtime).
No test hosts are needed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the installed console script runs, from the repository root: `-c` puts the
# current folder first on sys.path, so the working tree's tendr is the one measured.
ENTRY = "import sys; from tendr.__main__ import main; sys.argv[0] = 'tendr'; sys.exit(main())"
TENDR = [sys.executable, "-c", ENTRY]
COMMANDS: dict[str, list[str]] = {
    "python3 -c pass": [sys.executable, "-c", "pass"],
    "import tendr.cli.app": [sys.executable, "-c", "import tendr.cli.app"],
    "tendr --version": [*TENDR, "--version"],
    "tendr validate": [*TENDR, "validate", "-w", str(ROOT)],
    "tendr hosts": [*TENDR, "hosts", "-w", str(ROOT)],
    "tendr rules explain": [
        *TENDR,
        "rules",
        "explain",
        "root",
        "plan",
        "localhost",  # the example workspace's one host
        "-w",
        str(ROOT),
    ],
    "tendr plan (local host)": [*TENDR, "plan", "-w", str(ROOT)],
}


# As a technician's shell runs it: Python writes and then reads its bytecode caches
# (PYTHONDONTWRITEBYTECODE, set in some test environments, would make every run compile
# tendr's modules again, about 0.1 s); one untimed run of each command writes them.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak resident KiB of one run (GNU time's %M, from wait4)."""
    start = time.monotonic()
    with subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=ENV
    ) as proc:
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
    return time.monotonic() - start, usage.ru_maxrss


def heaviest_imports(count: int = 8) -> list[tuple[int, str]]:
    """The top-level imports of `tendr validate` that cost most, cumulative microseconds."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *COMMANDS["tendr validate"][1:]],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=ENV,
    )
    found = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( +)(\S+)", line)
        if match and len(match[2]) <= 3:  # the modules tendr's start imports itself
            found.append((int(match[1]), match[3]))
    return sorted(found, reverse=True)[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    print(f"{'command':<28} {'median s':>9} {'min s':>7} {'peak MiB':>9}")
    for name, argv in COMMANDS.items():
        measure(argv)  # untimed: writes the bytecode caches
        runs = [measure(argv) for _ in range(args.repeat)]
        times = [t for t, _ in runs]
        peak = max(m for _, m in runs) / 1024
        print(f"{name:<28} {statistics.median(times):>9.3f} {min(times):>7.3f} {peak:>9.1f}")
    print("\nheaviest imports of tendr validate (cumulative ms):")
    for micros, module in heaviest_imports():
        print(f"  {micros / 1000:>7.1f}  {module}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
