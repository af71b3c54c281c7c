"""`tendr audit-log replay` on a terminal lets through only sequences that draw: a recorded
host cannot make the reviewer's terminal answer (as if typed) or report itself. Anything
else is shown escaped, as text."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tendr.base.changes import Change, FieldChange
from tendr.core import audit
from tendr.ops.shell import inert, replay
from tests.helpers import ADMIN_RULES, ME, TENDR_PROGRAM, build_tree

# The sequences the issue found passing: each makes a terminal answer or report itself.
ANSWERING = {
    "report window position": "\x1b[13t",
    "report window size in pixels": "\x1b[14t",
    "report text area size": "\x1b[18t",
    "report screen size": "\x1b[19t",
    "report icon label": "\x1b[20t",
    "report window title": "\x1b[21t",
    "DECID": "\x1bZ",
    "ENQ (answerback)": "\x05",
    "DECRQM alternate screen": "\x1b[?1049$p",
    "DECRQM synchronized output": "\x1b[?2026$p",
    "XTVERSION": "\x1b[>q",
    "kitty keyboard query": "\x1b[?u",
    "DECREQTPARM": "\x1b[x",
}

DRAWING = [
    "\x1b[1;31m",
    "\x1b[38:2::10:20:30m",
    "\x1b[0m",
    "\x1b[m",
    "\x1b[2J",
    "\x1b[K",
    "\x1b[H",
    "\x1b[12;40H",
    "\x1b[3A",
    "\x1b[B",
    "\x1b[5C",
    "\x1b[D",
    "\x1b[2;20r",
    "\x1b[S",
    "\x1b[?1049h",
    "\x1b[?1049l",
    "\x1b[?25l",
    "\x1b[?25h",
    "\x1b[?2004h",
    "\x1b7",
    "\x1b8",
    "\x1bM",
    "\x1b(0",
    "\x1b(B",
]

# -- what the output may hold, read by an ECMA-48 parser of its own ---------------------

_CSI = re.compile(r"\x1b\[([0-?]*)([ -/]*)([@-~])")
_ESC = re.compile(r"\x1b([ -/]*)([0-~])")
_MODES = {"1", "7", "12", "25", "47", "1047", "1048", "1049", "2004"}


def _allowed_csi(params: str, intermediates: str, final: str) -> bool:
    if intermediates:
        return False
    if final == "m":
        return re.fullmatch(r"[0-9;:]*", params) is not None
    if final in "@ABCDEFGIJKLMPSTXZ`ade":
        return params.isdigit() or params == ""
    if final in "Hfr":
        return re.fullmatch(r"[0-9]*(;[0-9]*)?", params) is not None
    if final in "su":
        return params == ""
    if final in "hl" and params.startswith("?"):
        return set(params[1:].split(";")) <= _MODES
    return False


def forbidden(output: str) -> list[str]:
    """Every control character or escape sequence in `output` that only draws not: what a
    terminal would act on other than by drawing."""
    found = []
    at = 0
    while at < len(output):
        char = output[at]
        if char == "\x1b":
            csi, esc = _CSI.match(output, at), _ESC.match(output, at)
            if csi and _allowed_csi(*csi.groups()):
                at = csi.end()
                continue
            if esc and not csi and (esc.groups() in {("(", "0"), ("(", "B"), (")", "0")}):
                at = esc.end()
                continue
            if esc and not csi and not esc.group(1) and esc.group(2) in "78DEM=>":
                at = esc.end()
                continue
            found.append(output[at : at + 12])
        elif (ord(char) < 0x20 and char not in "\n\r\b\t") or 0x7F <= ord(char) <= 0x9F:
            found.append(char)
        at += 1
    return found


def recording(*events: str) -> bytes:
    header = {"version": 2, "width": 80, "height": 24, "title": "t", "env": {"TERM": "xterm"}}
    lines = [json.dumps(header)] + [json.dumps([n / 10, "o", e]) for n, e in enumerate(events)]
    return ("\n".join(lines) + "\n").encode()


def played(data: bytes) -> str:
    shown: list[str] = []
    replay(data, lambda text: shown.append(inert(text)), speed=0)
    return "".join(shown)


# -- properties -------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [b"\x1b", b"[", b"?", b">", b"=", b"$", b"p", b";", b"1049", b"2026", b"18", b"6", b"0"]
    + [b"t", b"n", b"c", b"q", b"u", b"x", b"Z", b"m", b"h", b"l", b"r", b"H", b"]", b"P"]
    + [b"\x05", b"\x07", b"\x9b", b"\xc2\x9b", b"\xc2\x90", b"\x7f", b"\x00", b"(", b"\\"]
)
_BYTES = st.lists(_PIECES | st.binary(max_size=3), max_size=40).map(b"".join)


@given(_BYTES, st.lists(st.integers(min_value=0, max_value=200), max_size=5))
def test_replay_lets_no_other_sequence_through(raw: bytes, cuts: list[int]) -> None:
    """Whatever the host sent, however the recording cut it into events, what replay
    writes to a terminal holds no control character or sequence outside the allow-list."""
    text = raw.decode("utf-8", "replace")
    points = sorted({min(c, len(text)) for c in cuts})
    events = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    output = played(recording(*events))
    assert forbidden(output) == []


@given(st.lists(st.sampled_from(DRAWING) | st.text("ab \n\r\tÄ→", max_size=5), max_size=20))
def test_drawing_is_played_as_it_was(parts: list[str]) -> None:
    """Colours, movement, erasing, scrolling and the alternate screen reach the terminal
    unchanged, even cut between two events."""
    text = "".join(parts)
    assert inert(text) == text
    half = len(text) // 2
    assert played(recording(text[:half], text[half:])) == text


def test_a_sequence_cut_between_events_is_judged_whole() -> None:
    """Cut in two, an answering sequence is shown escaped whole; a drawing one still draws."""
    assert played(recording("a\x1b[1", "8tb")) == "a\\x1b[18tb"
    assert played(recording("\x1b[?10", "49hx")) == "\x1b[?1049hx"
    assert played(recording("end\x1b[")) == "end\\x1b["


# -- each sequence the issue names, through the real program on a terminal ---------------


def _workspace(root: Path, shown: bytes) -> tuple[str, int]:
    """A workspace whose audit log links a finished session recording `shown`: (its
    path, the record's number)."""
    build_tree(
        root,
        {
            "hosts/acme.toml": '[hosts.acme-fs01]\naddress = "192.0.2.10"\n',
            "known_hosts": "",
            "rules/roles.toml": ADMIN_RULES,
        },
    )
    sessions = root / ".tendr/sessions"
    sessions.mkdir(parents=True, mode=0o700)
    (sessions / "s.cast").write_bytes(shown)
    fields = (
        FieldChange("recording", None, ".tendr/sessions/s.cast"),
        FieldChange("recording_sha256", None, hashlib.sha256(shown).hexdigest()),
        FieldChange("status", None, 0),
    )
    change = Change(kind="shell", resource="s", op="shell", action="change", fields=fields)
    journal = audit.Journal(root / ".tendr/audit.log", person=ME, account=ME, command="shell")
    assert journal.write("acme-fs01", [(change, "done", "")])
    [record] = audit.records(audit.read_lines(root / ".tendr/audit.log"))
    return str(root), int(record["seq"])


def on_a_terminal(*args: str) -> str:
    """What `tendr ARGS` writes to a terminal (a pseudo-terminal it sees as one)."""
    master, slave = os.openpty()
    try:
        done = subprocess.run(
            [str(TENDR_PROGRAM), *args],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: everything written has been read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert done.returncode == 0, done.stderr
    return b"".join(chunks).decode()


@pytest.mark.parametrize("sequence", list(ANSWERING.values()), ids=list(ANSWERING))
def test_each_answering_sequence_is_shown_escaped_on_a_terminal(
    tmp_path: Path, sequence: str
) -> None:
    ws, seq = _workspace(tmp_path, recording("\x1b[1;31mroot@acme\x1b[0m:~# ", sequence, "done\n"))
    shown = on_a_terminal("audit-log", "replay", "-w", ws, str(seq), "--speed", "0")
    escaped = sequence.replace("\x1b", "\\x1b").replace("\x05", "\\x05")
    assert shown == f"\x1b[1;31mroot@acme\x1b[0m:~# {escaped}done\r\n"
    assert forbidden(shown) == []


def test_into_a_pipe_every_control_character_is_shown(tmp_path: Path) -> None:
    """Not on a terminal, even the drawing sequences are shown as text."""
    ws, seq = _workspace(tmp_path, recording("\x1b[1;31mred\x1b[0m", "\x1b[18t", "\x05"))
    done = subprocess.run(
        [str(TENDR_PROGRAM), "audit-log", "replay", "-w", ws, str(seq), "--speed", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "\\x1b[1;31mred\\x1b[0m\\x1b[18t\\x05"
