"""Command line for the test fleet (run from the repository root, as root):

python3 -m tests.fleet up [N]        boot N hosts (default 6), wait for SSH
python3 -m tests.fleet down          stop all hosts, remove processes and mounts
python3 -m tests.fleet status        hosts, processes, SSH, memory
python3 -m tests.fleet ssh HOST [CMD...]   ssh to fleet-01 (or 1), as root
python3 -m tests.fleet reset HOST    bring one host back to the base image
python3 -m tests.fleet build         build (or find) the cached base image
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from tests.fleet import image
from tests.fleet.fleet import Fleet, FleetError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python3 -m tests.fleet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="boot N hosts")
    up.add_argument("n", type=int, nargs="?", default=6)
    sub.add_parser("down", help="stop all hosts")
    sub.add_parser("status", help="show the hosts")
    sub.add_parser("build", help="build the base image")
    reset = sub.add_parser("reset", help="reset one host")
    reset.add_argument("host")
    ssh = sub.add_parser("ssh", help="ssh to a host")
    ssh.add_argument("--user", "-l", default="root")
    ssh.add_argument("host")
    ssh.add_argument("cmd", nargs=argparse.REMAINDER)
    return p


def _up(fleet: Fleet, args: argparse.Namespace) -> None:
    start = time.monotonic()
    hosts = fleet.up(args.n)
    print(f"{len(hosts)} hosts answer SSH after {time.monotonic() - start:.1f} s")
    for h in hosts:
        print(f"  {h.name}  {h.address}:{h.port}")
    print(
        f"key {fleet.key_path}\nknown_hosts {fleet.known_hosts_path}\nworkspace {fleet.workspace}"
    )


def _status(fleet: Fleet, _args: argparse.Namespace) -> None:
    rows = fleet.status()
    if not rows:
        print("no fleet hosts")
    for r in rows:
        print(
            f"{r['name']:10} port={r['port']} processes={r['processes']} "
            f"ssh={'yes' if r['ssh'] else 'no'} memory={r['memory_mib']} MiB"
            + (" STALE" if r["stale"] else "")
        )


def _reset(fleet: Fleet, args: argparse.Namespace) -> None:
    start = time.monotonic()
    fleet.reset(fleet.host(args.host))
    print(f"reset in {time.monotonic() - start:.1f} s")


def _ssh(fleet: Fleet, args: argparse.Namespace) -> None:
    host = fleet.host(args.host)
    argv = host.ssh_argv(args.user)
    if sys.stdin.isatty() and not args.cmd:
        argv.insert(1, "-t")
    # like ssh itself: the remote words, joined with spaces, are one shell command line
    os.execvp("ssh", [*argv, *(["--", " ".join(args.cmd)] if args.cmd else [])])


def _down(fleet: Fleet, _args: argparse.Namespace) -> None:
    fleet.down()
    print("fleet is down")


def _build(fleet: Fleet, _args: argparse.Namespace) -> None:
    print(image.ensure_base(fleet.cache_dir))


COMMANDS = {
    "up": _up,
    "down": _down,
    "status": _status,
    "reset": _reset,
    "ssh": _ssh,
    "build": _build,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](Fleet(), args)
    except FleetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
