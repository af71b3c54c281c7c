"""Connecting to hosts through pyinfra, with pinned host keys, and running probes.

pyinfra's own default accepts unknown host keys on first use; tendr never does:
every SSH host is checked strictly against the workspace's known_hosts.
"""

from __future__ import annotations

import errno
import itertools
import logging
import secrets
import shlex
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import gevent
from paramiko import (
    AuthenticationException,
    BadHostKeyException,
    Channel,
    PKey,
    SSHClient,
    SSHException,
)
from paramiko.ssh_exception import NoValidConnectionsError
from pyinfra.api.command import StringCommand
from pyinfra.api.config import Config
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host as PyinfraHost
from pyinfra.api.inventory import Inventory
from pyinfra.api.output import set_echo
from pyinfra.api.state import State
from pyinfra.connectors.ssh import SSHConnector
from pyinfra.connectors.sshuserclient.client import get_host_keys

from tendr.base.errors import (
    CommandTimeout,
    ConnectionLost,
    HostAuthFailed,
    HostError,
    HostKeyChanged,
    HostKeyUnknown,
    HostUnreachable,
    SudoRefused,
)
from tendr.base.settings import Settings
from tendr.kinds.kind import Fact
from tendr.workspace.hosts import Host, endpoint, key_name, login_user, route

# pyinfra and paramiko log what tendr reports itself (an unknown host key, a bad
# banner with its traceback); on a terminal those lines would only confuse.
for _library in ("pyinfra", "paramiko"):
    logging.getLogger(_library).addHandler(logging.NullHandler())
    logging.getLogger(_library).propagate = False

LOCAL = "@local"


def host_data(
    host: Host,
    known_hosts: Path,
    settings: Settings,
    password: str | None = None,
    tunnel: Channel | socket.socket | None = None,
) -> dict[str, Any]:
    """pyinfra host data for one tendr host: strict keys, the key file (or, to onboard a
    machine, a password), sudo if not root. `tunnel`: the connection to the host through
    its gateway, or to the port its own tunnel comes in at, which SSH then runs over."""
    if host.connector == "local":
        return {"tendr_name": host.name}
    data: dict[str, Any] = {
        "tendr_name": host.name,
        "ssh_hostname": endpoint(host)[0],
        "ssh_port": endpoint(host)[1],
        "ssh_known_hosts_file": str(known_hosts),
        "ssh_strict_host_key_checking": "yes",
        "ssh_connect_timeout": settings.connect_timeout,
        # A port that accepts but never speaks SSH (a tarpit) waits as long as one
        # that does not answer, not paramiko's own 15 s.
        "ssh_paramiko_connect_kwargs": {
            "banner_timeout": settings.connect_timeout,
            "auth_timeout": settings.connect_timeout,
        },
    }
    if tunnel is not None:
        # paramiko connects over the channel and looks the key up by this name alone
        # (port 22 adds no brackets): the name the key is pinned under.
        data["ssh_hostname"] = key_name(host)
        del data["ssh_port"]
        data["ssh_paramiko_connect_kwargs"]["sock"] = tunnel
    data["ssh_user"] = login_user(host, settings)
    if host.ssh_key:
        data["ssh_key"] = str(Path(host.ssh_key).expanduser())
    if host.ssh_key or password is not None:
        data["ssh_allow_agent"] = False
        data["ssh_look_for_keys"] = False
    if password is not None:
        data["ssh_password"] = password
    return data


def needs_sudo(host: Host, settings: Settings) -> bool:
    """Remote users other than root act through sudo; the local connector never does."""
    return host.connector == "ssh" and login_user(host, settings) != "root"


@dataclass
class Session:
    """A pyinfra State over the selected hosts: which connected, and why others did not."""

    state: State
    hosts: dict[str, PyinfraHost] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # each error's code (base.errors)
    sudo: dict[str, bool] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # the login account, for messages
    # A bootstrap account's password, for sudo -S (onboarding only): never logged.
    passwords: dict[str, str] = field(default_factory=dict, repr=False)
    # The connections to the gateways the hosts are reached through: one per gateway.
    jumps: Session | None = None


def open_session(
    hosts: Iterable[Host],
    known_hosts: Path,
    settings: Settings,
    on_connected: Callable[[str], None] | None = None,
    passwords: dict[str, str] | None = None,
) -> Session:
    """Connect to every host in parallel; a host that fails does not stop the others.
    Hosts behind a gateway are reached through one connection to it, made first.
    `passwords`: by host name, to log in and sudo with (onboarding's bootstrap account)."""
    selected = list(hosts)
    passwords = passwords or {}
    # pyinfra reads a known_hosts file once per process (memoised by its name); a pin
    # removed or replaced since (hosts pin, onboarding, an edit) must count in a process
    # that lives on (the gateway's, a watch) as in a new one.
    get_host_keys.cache.clear()
    jumps, tunnels, unreachable = _tunnels(selected, known_hosts, settings)
    for host in selected:
        if host.tunnel_port is not None and host.connector == "ssh":
            try:
                tunnels[host.name] = called_home(host, settings.connect_timeout)
            except HostError as exc:
                unreachable[host.name] = (exc.reason, exc.code)
    names = [
        (
            LOCAL if h.connector == "local" else h.name,
            host_data(h, known_hosts, settings, passwords.get(h.name), tunnels.get(h.name)),
        )
        for h in selected
        if h.name not in unreachable
    ]
    # pyinfra's constructors carry no annotations
    inventory = Inventory((names, {}))  # type: ignore[no-untyped-call]
    config = Config(  # type: ignore[no-untyped-call]
        PARALLEL=settings.parallel, CONNECT_TIMEOUT=settings.connect_timeout
    )
    state = State(inventory, config)
    session = Session(state, passwords=dict(passwords), jumps=jumps)
    by_name = {h.name: h for h in selected}
    for name, (why, code) in unreachable.items():
        session.errors[name], session.codes[name] = why, code
        if on_connected:
            on_connected(name)

    def connect(pyhost: PyinfraHost) -> None:
        name = pyhost.data.get("tendr_name")
        host = by_name[name]
        try:
            pyhost.connect(show_errors=False, raise_exceptions=True)
        except (PyinfraError, SSHException, OSError, EOFError) as exc:  # e.g. an unknown key
            failed = connect_error(exc, host, known_hosts, settings)
            session.errors[name], session.codes[name] = failed.reason, failed.code
        else:
            state.activate_host(pyhost)
            session.hosts[name] = pyhost
            session.sudo[name] = needs_sudo(host, settings)
            session.users[name] = login_user(host, settings)
        if on_connected:
            on_connected(name)

    in_parallel(state, connect, list(inventory))
    return session


def _tunnels(
    hosts: list[Host], known_hosts: Path, settings: Settings
) -> tuple[Session | None, dict[str, Channel | socket.socket], dict[str, tuple[str, str]]]:
    """For the hosts behind a gateway: the gateways' session (one connection each), a
    channel through it to each host, and why the hosts without one cannot be reached."""
    behind = [h for h in hosts if h.gateway is not None]
    if not behind:
        return None, {}, {}
    gateways = {h.gateway.name: h.gateway for h in behind if h.gateway is not None}
    jumps = open_session(gateways.values(), known_hosts, settings)
    tunnels: dict[str, Channel | socket.socket] = {}
    unreachable: dict[str, tuple[str, str]] = {}

    def through(host: Host) -> None:
        try:
            tunnels[host.name] = tunnel(jumps, host, settings.connect_timeout)
        except HostError as exc:
            unreachable[host.name] = (exc.reason, exc.code)

    if jumps.hosts:
        in_parallel(jumps.state, through, behind)
    else:  # no gateway connected (its tunnel down, say): pyinfra made no pool to run in
        for host in behind:
            through(host)
    return jumps, tunnels, unreachable


TUNNEL_DOWN = "tunnel is not connected"  # how a host that calls home is said unreachable


def called_home(host: Host, timeout: int) -> socket.socket:
    """A TCP connection to the controller's loopback port where `host`'s own tunnel comes
    in (tendr runs on the controller); HostUnreachable saying so when nothing listens."""
    address, port = endpoint(host)
    try:
        return socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise HostUnreachable(
            host=host.name,
            reason=f"{host.name}'s {TUNNEL_DOWN}: nothing listens on {address} "
            f"port {port}, where it comes in ({exc.strerror or exc}). Is tendr-tunnel.service "
            f"running on {host.name} (journalctl -u tendr-tunnel there), can it reach the "
            "controller, and is its key let in (tendr gateway tunnel-allow)? tendr reaches "
            "such a host only on the controller its tunnel calls",
        ) from None


def tunnel(jumps: Session, host: Host, timeout: int) -> Channel:
    """A TCP connection to `host`'s SSH port, made by its gateway (SSH's direct-tcpip,
    what ProxyJump uses) over the gateway's connection in `jumps`."""
    assert host.gateway is not None and host.address is not None
    gateway = host.gateway.name
    if gateway not in jumps.hosts:
        why = jumps.errors.get(gateway, "not connected")
        raise HostUnreachable(host=host.name, reason=f"its gateway {gateway}: {why}")
    client = _ssh_client(jumps.hosts[gateway])
    transport = client.get_transport() if client is not None else None
    if transport is None or not transport.is_active():
        raise HostUnreachable(
            host=host.name, reason=f"its gateway {gateway}: the connection closed"
        )
    try:
        return transport.open_channel(
            "direct-tcpip", (host.address, host.port), ("127.0.0.1", 0), timeout=timeout
        )
    except (SSHException, OSError, EOFError) as exc:
        detail = " ".join(str(arg) for arg in exc.args) or type(exc).__name__
        raise HostUnreachable(
            host=host.name,
            reason=f"cannot connect: {gateway} cannot reach {host.address} port {host.port} "
            f"({detail})",
        ) from None


T = TypeVar("T")


def in_parallel(state: State, work: Callable[[T], None], items: Iterable[T]) -> None:
    """work(item) for every item at once, at most `parallel` at a time. A bug in one is
    raised here once all are done (gevent would also print it raw); an interrupt here
    stops every one at its next wait, then goes on."""
    failures: list[Exception] = []

    def guarded(item: T) -> None:
        try:
            work(item)
        except Exception as exc:  # a bug: re-raised below, in the caller's greenlet
            failures.append(exc)

    greenlets: list[gevent.Greenlet] = []
    try:
        for item in items:  # spawn waits while the pool is full: an interrupt may come here
            greenlets.append(state.pool.spawn(guarded, item))
        gevent.joinall(greenlets)
    except BaseException:
        gevent.killall(greenlets)
        raise
    if failures:
        raise failures[0]


def connect_error(
    exc: BaseException, host: Host, known_hosts: Path, settings: Settings | None = None
) -> HostError:
    """Why a host could not be reached, said so a technician knows what to do, as the
    HostError whose code a script tells apart."""
    changed = _cause(exc, BadHostKeyException)
    if changed is not None:
        return HostKeyChanged(
            host=host.name,
            reason=changed_key_reason(
                route(host),
                key_name(host),
                known_hosts,
                pinned=fingerprint(changed.expected_key),
                offered=fingerprint(changed.key),
            )
            + f"; or `tendr hosts pin {host.name}` shows both and pins the new one",
        )
    text = " ".join(str(arg) for arg in exc.args) or type(exc).__name__
    # pyinfra's words for a key file that needs a passphrase (it would have us set its
    # ssh_key_password, which tendr does not take).
    if host.ssh_key and "is encrypted" in text:
        return HostAuthFailed(host=host.name, reason=encrypted_key_reason(host.ssh_key))
    if "no host key" in text.lower():  # paramiko's words for a host not in known_hosts
        return HostKeyUnknown(
            host=host.name,
            reason=f"host key not verified: {known_hosts} pins no key for {key_name(host)}, "
            f"and tendr never trusts a key on first use: `tendr hosts pin {host.name}` shows "
            "the key it offers; check it on the machine itself, then confirm",
        )
    if "host key" in text.lower() or "known_hosts" in text:
        return HostKeyUnknown(
            host=host.name,
            reason=f"host key not verified ({text}); tendr accepts only keys pinned in "
            f"{known_hosts}",
        )
    if login := _login_reason(exc, host, settings):
        return HostAuthFailed(host=host.name, reason=f"cannot connect: {route(host)}: {login}")
    timeout = settings.connect_timeout if settings is not None else None
    why = _network_reason(exc, timeout) or text
    return HostUnreachable(host=host.name, reason=f"cannot connect: {route(host)}: {why}")


def connect_reason(
    exc: BaseException, host: Host, known_hosts: Path, settings: Settings | None = None
) -> str:
    """Why a host could not be reached (connect_error's reason)."""
    return connect_error(exc, host, known_hosts, settings).reason


def _network_reason(exc: BaseException, timeout: int | None) -> str | None:
    """Which of the ways to the SSH server failed, in words (paramiko's are
    "[Errno None] Unable to connect to port 22" for a closed port, among others)."""
    within = f" within {timeout}s" if timeout is not None else ""
    failed = _cause(exc, NoValidConnectionsError)  # every address tried, each failed
    errnos = {getattr(e, "errno", None) for e in failed.errors.values()} if failed else set()
    if errnos & {errno.ECONNREFUSED} or _cause(exc, ConnectionRefusedError) is not None:
        return "the port is closed (connection refused): is SSH running there, on that port?"
    if errnos & {errno.EHOSTUNREACH, errno.ENETUNREACH} or _errno(
        exc, errno.EHOSTUNREACH, errno.ENETUNREACH
    ):
        return "no route to the address: the machine or its network is unreachable"
    if _cause(exc, socket.gaierror) is not None:
        return "the name does not resolve (DNS): is the address right?"
    # paramiko's words when the transport died before SSH began: no banner came in
    # time (it may also say so in full), or the server closed the connection.
    unspoken = str(_cause(exc, SSHException) or "")
    if "banner" in unspoken or "No existing session" in unspoken:
        return (
            f"the port accepted the connection, but no SSH session began{within} (no SSH "
            "banner, or the server closed it): is it the SSH port, or is something holding "
            "connections open?"
        )
    if _cause(exc, TimeoutError) is not None:
        return (
            f"no answer{within}: the machine is off, the address is wrong, or a firewall "
            "drops the connection"
        )
    if _cause(exc, EOFError) is not None:
        return "the host closed the connection before SSH began (refused at the server?)"
    return None


def _login_reason(exc: BaseException, host: Host, settings: Settings | None) -> str | None:
    """The SSH server answered but did not let tendr in."""
    refused = _cause(exc, AuthenticationException)
    if refused is None and "No authentication methods" not in str(_cause(exc, SSHException)):
        return None
    user = login_user(host, settings) if settings is not None else host.user or "the account"
    key = host.ssh_key or "your ssh-agent's and default keys"
    return (
        f"{user} did not accept tendr's key ({key}): is its public key in {user}'s "
        "authorized_keys, and is the key file the one meant?"
    )


def _errno(exc: BaseException, *numbers: int) -> bool:
    found = _cause(exc, OSError)
    return found is not None and found.errno in numbers


E = TypeVar("E", bound=BaseException)


def _cause(exc: BaseException | None, kind: type[E]) -> E | None:
    """`exc`, or the exception it was raised from or while handling, if one is a `kind`:
    pyinfra raises its own ConnectError while handling paramiko's."""
    while exc is not None and not isinstance(exc, kind):
        exc = exc.__cause__ or exc.__context__
    return exc


def fingerprint(key: PKey) -> str:
    """A host key as ssh shows it: its type and SHA256 fingerprint."""
    return f"{key.get_name()} {key.fingerprint}"


def changed_key_reason(
    where: str, name: str, known_hosts: Path, *, pinned: str, offered: str
) -> str:
    """The host (at `where`, pinned under `name`) offered a key other than the one pinned
    for it: both keys, and how to replace the pinned one in the workspace's file
    (`ssh-keygen -R` alone would edit ~/.ssh/known_hosts instead)."""
    remove = shlex.join(["ssh-keygen", "-R", name, "-f", str(known_hosts)])
    return (
        f"host key not verified: {where} offered {offered}, but "
        f"{known_hosts} pins {pinned} for it. Someone may be between tendr and the "
        "host; if the machine was reinstalled instead, check its new key on the machine "
        f"itself, remove the old one with `{remove}`, then add the new key's line to "
        f"{known_hosts}"
    )


def encrypted_key_reason(ssh_key: str) -> str:
    """tendr cannot ask for a key's passphrase: say what works instead."""
    return (
        f"the key {ssh_key} (ssh_key) is encrypted, and tendr cannot ask for its "
        "passphrase: give the service account an unencrypted key of its own "
        "(readable only by you), or leave ssh_key out and add the key to your ssh-agent "
        "(ssh-add), which tendr then uses"
    )


# tendr calls sudo itself rather than through pyinfra's `_sudo`: when sudo wants a
# password, pyinfra would prompt for one on the terminal (or wait forever). `sudo -n`
# never prompts; the check before it turns "a password is required" into one line
# tendr recognises (not sudo's own, which pyinfra answers with a prompt).
SUDO_REFUSED = "tendr: sudo asks this account for a password"
_SUDO_CHECK = "sudo -n true 2>/dev/null"

# Every command ends by printing this marker with its exit status (and a per-run nonce,
# so no output can forge it): a command whose end never arrives lost its connection,
# whatever exit status the SSH library makes up for it.
END_MARKER = "@tendr-end"


def remote_command(
    script: str, args: Sequence[str] = (), *, sudo: bool, nonce: str, password: bool = False
) -> StringCommand:
    """`sh -c SCRIPT` with positional arguments, as root through sudo when asked: values
    travel as arguments, quoted once here, never spliced into the script. `password`:
    sudo reads it on standard input, its first line (onboarding's bootstrap account)."""
    inner = shlex.join(["sh", "-c", script, "tendr", *args])
    if sudo and password:
        inner = f"sudo -S -p '' -H -- {inner}"
    elif sudo:
        inner = (
            f"if {_SUDO_CHECK}; then sudo -n -H -- {inner}; "
            f"else echo '{SUDO_REFUSED}' >&2; false; fi"
        )
    return StringCommand(f"{inner}; printf '\\n{END_MARKER} {nonce} %s\\n' \"$?\"")


@dataclass(frozen=True)
class Output:
    """A finished command: its exit status and its output lines."""

    status: int
    stdout: list[str]
    stderr: list[str]

    @property
    def ok(self) -> bool:
        return self.status == 0

    def reason(self, lines: int = 3) -> str:
        """Why it failed, in the command's own last words."""
        return (
            "; ".join(line.strip() for line in self.stderr[-lines:] if line.strip())
            or f"the command failed (exit status {self.status}) with no error output"
        )


def ended(stdout: list[str], nonce: str) -> tuple[int, list[str]] | None:
    """The command's exit status and its own output, or None when its end marker never
    came. The marker's leading newline adds one empty line when the output ended in one."""
    prefix = f"{END_MARKER} {nonce} "
    if not stdout or not stdout[-1].startswith(prefix):
        return None
    status = stdout[-1][len(prefix) :]
    if not status.isdigit():
        return None
    lines = stdout[:-1]
    if lines and lines[-1] == "":
        lines = lines[:-1]
    return int(status), lines


# A script read from standard input, whole, before it runs: a probe of thousands of
# resources is far over the kernel's limit for one command line (128 KiB), and nothing
# the script runs may read the rest of it.
_SCRIPT_ON_STDIN = 'script=$(cat) && eval "$script" </dev/null'


def run_long(
    session: Session,
    name: str,
    script: str,
    *,
    timeout: int,
    lines: Callable[[str], None] | None = None,
) -> Output:
    """run(), with the script on standard input rather than on the command line: for a
    script of any length that needs no input of its own. Still one command."""
    return run(session, name, _SCRIPT_ON_STDIN, timeout=timeout, stdin=script, lines=lines)


# pyinfra gives a command's output only once it ended, except to its `echo` (pyinfra.api.
# output, pluggable), which with print_output sees each line as it arrives, after the
# host's prefix. tendr's echo passes them to whoever listens (a batch's progress, which
# knows its own nonce's marks); it prints nothing, as pyinfra's default does.
_LISTENERS: dict[int, Callable[[str], None]] = {}
_NEXT = itertools.count()


def _echo(message: Any = None, **_: Any) -> None:
    for listener in list(_LISTENERS.values()):
        listener(str(message))


@contextmanager
def _listening(listener: Callable[[str], None] | None) -> Iterator[bool]:
    """While it runs, `listener` is given every output line of the commands that print
    their output (prefixed with their host's name); True when one listens."""
    if listener is None:
        yield False
        return
    set_echo(_echo)
    key = next(_NEXT)
    _LISTENERS[key] = listener
    try:
        yield True
    finally:
        del _LISTENERS[key]


def run(
    session: Session,
    name: str,
    script: str,
    args: Sequence[str] = (),
    *,
    timeout: int,
    stdin: str | None = None,
    lines: Callable[[str], None] | None = None,
) -> Output:
    """Run one shell script on a connected host; `lines`, where given, sees each line of
    its output as it arrives (after the host's prefix; the error output's too).

    Raises the failures a host can have: CommandTimeout, ConnectionLost, and HostError
    when its account lacks passwordless sudo; a command that merely fails is an Output.
    """
    pyhost = session.hosts[name]
    nonce = secrets.token_hex(6)
    password = session.passwords.get(name)
    sudo = session.sudo.get(name, False)
    command = remote_command(script, args, sudo=sudo, nonce=nonce, password=password is not None)
    if sudo and password is not None:
        stdin = f"{password}\n{stdin or ''}"
    try:
        with _listening(lines) as listened:
            _, output = pyhost.run_shell_command(
                command, _timeout=timeout, _stdin=stdin, print_output=listened
            )
    except TimeoutError:  # before OSError: it is one
        raise CommandTimeout(host=name, seconds=timeout) from None
    except (OSError, EOFError, SSHException) as exc:
        raise ConnectionLost(host=name, detail=str(exc) or type(exc).__name__) from None
    found = ended(list(output.stdout_lines), nonce)
    if found is None:
        raise ConnectionLost(host=name, detail="the command's end never arrived")
    result = Output(found[0], found[1], list(output.stderr_lines))
    if not result.ok and SUDO_REFUSED in result.stderr:
        raise SudoRefused(
            host=name,
            reason=(
                f"the account {session.users.get(name, '?')!r} needs passwordless sudo for tendr "
                "(sudo asked for a password); see README, 'Client machines'"
            ),
        )
    return result


def read(session: Session, name: str, fact: Fact[T], *, timeout: int) -> T:
    """A Fact of a connected host: its script run (on standard input when it takes no
    arguments, as run_long; at least the Fact's own timeout), what it printed parsed.
    Raises as run() does."""
    timeout = max(timeout, fact.timeout)
    if fact.args:
        output = run(session, name, fact.script, fact.args, timeout=timeout)
    else:
        output = run_long(session, name, fact.script, timeout=timeout)
    return fact.parse(output.stdout + (output.stderr if fact.errors else []))


def reconnect(session: Session, name: str) -> bool:
    """Connect to a host again after its connection was lost, to ask what became of the
    work underway; False when it cannot be reached (a host behind a gateway cannot: its
    tunnel went with the connection)."""
    pyhost = session.hosts[name]
    pyhost.connected = False  # pyinfra connects only a host it holds unconnected
    try:
        pyhost.connect(show_errors=False, raise_exceptions=True)
    except (PyinfraError, SSHException, OSError, EOFError):
        return False
    return True


def close_session(session: Session) -> None:
    """Close every connection, the gateways' last (the tunnels run through them)."""
    for pyhost in session.hosts.values():
        try:
            pyhost.disconnect()
            # pyinfra's disconnect leaves the SSH client open: a gateway's would keep
            # its connection, and the tunnels through it, until the process ends.
            if (client := _ssh_client(pyhost)) is not None:
                client.close()
        except (OSError, EOFError, SSHException):  # already gone: nothing to close
            pass
    if session.jumps is not None:
        close_session(session.jumps)


def _ssh_client(pyhost: PyinfraHost) -> SSHClient | None:
    """The paramiko client of a host pyinfra reaches over SSH (its connector's `client`)."""
    connector = pyhost.connector
    return connector.client if isinstance(connector, SSHConnector) else None
