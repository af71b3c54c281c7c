"""The `tendr` program: cooperative I/O first where hosts are reached, then the command
line.

gevent's monkey patching must come before paramiko and pyinfra are imported:
unpatched, paramiko's handshake waits block gevent's loop, so hosts connect
one after another (measured: 1.5 s for 20 hosts instead of 0.3 s). pyinfra's
own CLI patches the same way. It costs about 0.1 s, so only the commands that reach
hosts pay it (`gateway` included: what a key asks may be a plan). Library use
(tests, `import tendr.cli`) is left unpatched.
"""

from __future__ import annotations

import sys

REACH_HOSTS = frozenset(
    {"plan", "apply", "run", "do", "logs", "diagnose", "backup", "onboard", "gateway"}
)


def main() -> None:
    args = sys.argv[1:]
    if args == ["--version"]:  # answered before anything heavy is imported
        from tendr import __version__

        print(f"tendr {__version__}")
        return
    # Root options take no value, so the first word that is not one is the command.
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if command in REACH_HOSTS:
        from gevent import get_hub, monkey

        monkey.patch_all()
        # Ctrl-C reaches tendr as KeyboardInterrupt; gevent need not print it as well.
        hub = get_hub()
        hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)
    from tendr.cli.app import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
