"""`tendr shell`: an interactive SSH session on one host, decided by the rules and
recorded whole, with timing, in the asciicast v2 format (asciinema plays it too).

The session runs the system's ssh with the workspace's pinned host key and the host's
key, nothing from ~/.ssh/config; tendr sits between the terminal and ssh on a
pseudo-terminal and keeps what the host shows. What is typed is not kept (a password
typed for sudo would be): the host echoes commands, so they are in the recording.
The recording is linked from the audit log with its SHA-256, so replay can tell a
recording changed since.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import hashlib
import json
import os
import pty
import re
import secrets
import select
import shlex
import shutil
import signal
import struct
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from tendr.base.changes import Change, FieldChange
from tendr.base.errors import AuditLogUnwritable, FileUnusable, PermissionDenied, UserError
from tendr.base.settings import Settings
from tendr.ops.runner import Runner
from tendr.workspace.hosts import Host, endpoint, key_name, login_user
from tendr.workspace.loader import Workspace

SESSIONS_DIR = ".tendr/sessions"


def session(workspace: Workspace, host: Host, person: str) -> Recorded:
    """Open a recorded shell on `host` for `person`, if the rules allow `shell` there;
    recorded in the audit log as started before it opens and with its recording after."""
    runner = Runner(workspace, person, "shell", nothing="no session was opened")
    if host.connector != "ssh" or host.address is None:
        raise UserError(
            f"{host.name} is reached through the {host.connector} connector: "
            "tendr shell opens SSH sessions only"
        )
    change = Change(kind="shell", resource="", op="shell", action="change")
    decided = runner.decide([host], "shell", change=change)  # a refusal is recorded
    if host.name in decided.refused:
        raise PermissionDenied(message=f"no shell on {host.name}: {decided.refused[host.name]}")
    change = decided.changes[host.name]
    argv = ssh_argv(host, workspace.path(workspace.settings.known_hosts), workspace.settings)
    if shutil.which("ssh") is None:
        raise UserError("tendr shell runs the system's ssh, and there is none (openssh-client)")
    try:
        path = new_recording(workspace.root)
    except OSError as exc:
        raise FileUnusable(
            f"cannot keep a recording in {SESSIONS_DIR}: {exc.strerror}", file=SESSIONS_DIR
        ) from None
    change = replace(change, resource=path.name.removesuffix(".cast"))
    if not runner.record(host.name, change, "started"):
        raise AuditLogUnwritable(
            f"the audit log could not take the record: {runner.recording.broken}; "
            "no session was opened"
        )
    shown = str(path.relative_to(workspace.root))
    try:
        recorded = record_session(argv, path, f"tendr shell {host.name} ({person})")
    except Disconnected as exc:  # the terminal went away: what was shown is kept, linked
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        kept = (
            FieldChange("recording", None, shown),
            FieldChange("recording_sha256", None, digest),
        )
        runner.record(host.name, replace(change, fields=kept), "interrupted", str(exc))
        raise UserError(f"the session ended: {exc}; its recording is kept, {shown}") from None
    fields = (
        FieldChange("recording", None, shown),
        FieldChange("recording_sha256", None, recorded.sha256),
        FieldChange("status", None, recorded.status),
    )
    outcome = "done" if recorded.status == 0 else "failed"
    reason = "" if recorded.status == 0 else f"ssh exit status {recorded.status}"
    runner.record(host.name, replace(change, fields=fields), outcome, reason)
    return recorded


class Disconnected(Exception):
    """The session's terminal went away (SIGHUP) or tendr was told to stop (SIGTERM)."""


def ssh_argv(host: Host, known_hosts: Path, settings: Settings) -> list[str]:
    """ssh to `host` as tendr connects: its pinned key only, no prompt for anything,
    no configuration from the person's ~/.ssh; through its gateway if it has one."""
    _usable_path(known_hosts, "known_hosts path")
    argv = [
        "ssh",
        "-tt",
        "-e",
        "none",  # no escape character: no ~C command line to add forwardings
        *_checked_options(known_hosts, settings),
        "-o",
        "ClearAllForwardings=yes",
        "-o",
        "ForwardAgent=no",
        "-o",
        "ForwardX11=no",
        "-o",
        "PermitLocalCommand=no",
        *_login(host, settings),
    ]
    if host.gateway is not None:
        # The gateway makes the TCP connection (-W, as ProxyJump does), logged into with
        # its own pinned key; the host's key is checked under the name it is pinned by.
        # ssh expands % in ProxyCommand, then runs it with $SHELL (/bin/sh, see _interact).
        jump = [
            "ssh",
            *_checked_options(known_hosts, settings),
            *_login(host.gateway, settings),
            "-W",
            f"[{host.address}]:{host.port}"
            if ":" in str(host.address)
            else f"{host.address}:{host.port}",
            "--",
            endpoint(host.gateway)[0],
        ]
        argv += ["-o", f"ProxyCommand={shlex.join(jump)}", "-o", f"HostKeyAlias={key_name(host)}"]
    return [*argv, "--", endpoint(host)[0]]


def _checked_options(known_hosts: Path, settings: Settings) -> list[str]:
    """ssh options of every connection: the pinned keys only, no prompt, no ~/.ssh."""
    return [
        "-F",
        "none",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "UpdateHostKeys=no",
        "-o",
        f"ConnectTimeout={settings.connect_timeout}",
    ]


def _login(host: Host, settings: Settings) -> list[str]:
    """The port, account and key to log in to `host` with."""
    argv = ["-p", str(endpoint(host)[1]), "-l", login_user(host, settings)]
    if host.tunnel_port is not None:  # its own tunnel: its key pinned by its name
        argv += ["-o", f"HostKeyAlias={key_name(host)}"]
    if host.ssh_key:
        key = Path(host.ssh_key).expanduser()
        _usable_path(key, f"ssh_key of {host.name}")
        argv += ["-i", str(key), "-o", "IdentitiesOnly=yes"]
    return argv


def _usable_path(path: Path, what: str) -> None:
    """ssh splits option values at spaces and quotes and expands % in them."""
    if any(c.isspace() or c in "%\"'" for c in str(path)):
        raise UserError(
            f"{path}: tendr shell needs a {what} without spaces, quotes or %, which ssh "
            "would read otherwise"
        )


@dataclass(frozen=True)
class Recorded:
    """A finished session: ssh's exit status, the recording and its SHA-256."""

    status: int
    path: Path
    sha256: str


def new_recording(root: Path) -> Path:
    """A fresh, unpredictable recording path in the workspace's sessions folder (0700)."""
    folder = root / SESSIONS_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}.cast"


def record_session(argv: list[str], path: Path, title: str) -> Recorded:
    """Run `argv` on a pseudo-terminal between this terminal and it, recording what it
    shows to `path` (created new, 0600, never through a link)."""
    width, height = _size(sys.stdout)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    # Line-buffered: each event is in the file as it happens, whatever ends the session.
    with os.fdopen(fd, "w", encoding="utf-8", buffering=1) as cast:
        header = {
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": int(time.time()),
            "title": title,
            "env": {"TERM": os.environ.get("TERM", "xterm")},
        }
        cast.write(json.dumps(header) + "\n")
        status = _interact(argv, (width, height), _writer(cast))
    return Recorded(status, path, hashlib.sha256(path.read_bytes()).hexdigest())


def _writer(cast: IO[str]) -> Callable[[bytes], None]:
    start = time.monotonic()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def output(data: bytes) -> None:
        text = decoder.decode(data)
        if text:
            cast.write(json.dumps([round(time.monotonic() - start, 6), "o", text]) + "\n")

    return output


def _size(stream: IO[str]) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):
        return 80, 24
    return size.columns, size.lines


def _interact(argv: list[str], size: tuple[int, int], output: Callable[[bytes], None]) -> int:
    pid, master = pty.fork()
    if pid == 0:  # the child: ssh on the pseudo-terminal
        try:
            # ssh runs a ProxyCommand with $SHELL: the POSIX shell it is quoted for.
            os.execvpe(argv[0], argv, {**os.environ, "SHELL": "/bin/sh"})
        finally:
            os._exit(127)
    _resize(master, size)
    stdin = sys.stdin.fileno()

    def resized(_signum: int, _frame: Any) -> None:
        _resize(master, _size(sys.stdout))

    def hung_up(signum: int, _frame: Any) -> None:
        raise Disconnected(signal.Signals(signum).name)

    handled = (signal.SIGWINCH, signal.SIGHUP, signal.SIGTERM)
    previous = {number: signal.getsignal(number) for number in handled}
    signal.signal(signal.SIGWINCH, resized)
    signal.signal(signal.SIGHUP, hung_up)
    signal.signal(signal.SIGTERM, hung_up)
    ended = False
    try:
        with _raw(stdin):
            _copy(master, stdin, output)
        ended = True
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        os.close(master)
        if not ended:  # cut short: ssh ends with us, never left behind on the host
            os.kill(pid, signal.SIGHUP)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _resize(master: int, size: tuple[int, int]) -> None:
    columns, lines = size
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    """The terminal in raw mode while the session runs (keys go to the host as typed),
    restored after, whatever happens."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)  # what was typed ahead goes to the host, not away
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)


def _copy(master: int, stdin: int, output: Callable[[bytes], None]) -> None:
    readers = [master, stdin]
    while True:
        try:
            ready, _, _ = select.select(readers, [], [])
        except InterruptedError:  # a window resize
            continue
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: ssh has ended and the pseudo-terminal closed
                return
            if not data:
                return
            output(data)
            os.write(sys.stdout.fileno(), data)
        if stdin in ready:
            data = os.read(stdin, 65536)
            if data:
                os.write(master, data)
            else:  # no more input: the terminal's end of file (^D) tells the host
                os.write(master, b"\x04")
                readers.remove(stdin)


# What replay lets reach a reviewer's terminal: sequences that only draw (colours,
# cursor movement and visibility, erase, insert and delete, scrolling and its region, the
# alternate screen, character sets) and the key and paste modes shells and editors set
# (keypad, cursor keys, bracketed paste). Anything else could make the terminal answer
# as if typed (device status, attributes, window size, DECRQM, XTVERSION...), take a
# title, a clipboard or a colour table, or report the mouse: it is shown escaped.
_PRIVATE_MODES = {"1", "7", "12", "25", "47", "1047", "1048", "1049", "2004"}
_DRAWING = re.compile(
    r"""\x1b\[[0-9;:]*m                          # SGR: colours and attributes
    |\x1b\[[0-9]*[@ABCDEFGIJKLMPSTXZ`ade]       # move, erase, insert, delete, scroll: one number
    |\x1b\[[0-9]*(?:;[0-9]*)?[Hfr]              # cursor position, scroll region
    |\x1b\[[su]                                 # save, restore the cursor
    |\x1b\[\?(?P<modes>[0-9]+(?:;[0-9]+)*)[hl]  # private modes, checked below
    |\x1b[78DEM=>]                              # save/restore cursor, index, keypad
    |\x1b[()][0AB]                              # character sets (line drawing, ASCII)
    """,
    re.X,
)
_KEPT = "\n\r\b\t"  # line feed, carriage return, backspace, tab


def _drawing_at(text: str, at: int) -> int:
    """The end of the drawing sequence starting at `at`, or `at` when there is none."""
    found = _DRAWING.match(text, at)
    if found is None:
        return at
    modes = found.group("modes")
    if modes is not None and not set(modes.split(";")) <= _PRIVATE_MODES:
        return at
    return found.end()


def inert(text: str) -> str:
    """Recorded output as a terminal may play it: the drawing sequences kept, every
    other control character shown as an escape (ESC as \\x1b, so ESC[18t reads as text)."""
    shown: list[str] = []
    at = 0
    while at < len(text):
        char = text[at]
        if char == "\x1b" and (end := _drawing_at(text, at)) > at:
            shown.append(text[at:end])
            at = end
            continue
        shown.append(char if char.isprintable() or char in _KEPT else ascii(char)[1:-1])
        at += 1
    return "".join(shown)


# The longest escape sequence a recording may have cut between two events and replay
# holds back to join; a longer run is no drawing sequence anyway.
_SPLIT = re.compile(r"\x1b(?:\[[0-9;:?]*|[()])?\Z")


def _held(text: str) -> int:
    """Where an escape sequence cut off at the end of `text` starts (len(text): none)."""
    found = _SPLIT.search(text, max(0, len(text) - 64))
    return found.start() if found else len(text)


def replay(
    data: bytes, write: Callable[[str], None], *, speed: float = 1.0, max_wait: float = 1.0
) -> None:
    """Play a recording back: its output with its timing (pauses longer than
    `max_wait` seconds shortened to it; speed 0: no waiting at all). An escape sequence
    the recording cut between two events is written whole, with the later one, so that
    `write` judges every sequence entire."""
    lines = data.decode("utf-8", "replace").splitlines()
    last = 0.0
    pending = ""
    for line in lines[1:]:  # after the header
        try:
            at, kind, text = json.loads(line)
        except (ValueError, TypeError):
            continue
        if kind != "o" or not isinstance(text, str) or not isinstance(at, int | float):
            continue
        if speed > 0:
            time.sleep(min(max(at - last, 0.0), max_wait) / speed)
        last = at
        text = pending + text
        cut = _held(text)
        text, pending = text[:cut], text[cut:]
        if text:
            write(text)
    if pending:
        write(pending)
