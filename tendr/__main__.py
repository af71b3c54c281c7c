"""The `tendr` program: cooperative I/O first, then the command line.

gevent's monkey patching must come before paramiko and pyinfra are imported:
unpatched, paramiko's handshake waits block gevent's loop, so hosts connect
one after another (measured: 1.5 s for 20 hosts instead of 0.3 s). pyinfra's
own CLI patches the same way. Library use (tests, `import tendr.cli`) is left
unpatched.
"""

from __future__ import annotations


def main() -> None:
    from gevent import get_hub, monkey

    monkey.patch_all()
    # Ctrl-C reaches tendr as KeyboardInterrupt; gevent need not print it as well.
    hub = get_hub()
    hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)
    from tendr.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
