"""Control characters from a workspace, a host or the audit log reach no terminal raw:
every value is printed with them made visible (ESC as \\x1b, a bidi override as \\u202e)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from tendr.base.changes import Change, ChangeResult, HostResult
from tendr.cli.render import escape, host_lines, result_lines
from tendr.core.plan import HostPlan
from tests.helpers import ADMIN_RULES, build_tree, needs_root, run_program, run_tendr

# Moves the cursor up five lines and erases the screen below: raw, it hides a plan's
# first lines above apply's question. Then a right-to-left override.
EVIL = "\x1b[5A\x1b[J\u202e"
SHOWN = "\\x1b[5A\\x1b[J\\u202e"


def printed(markup: str) -> str:
    """What a terminal receives for rich markup, as tendr prints it."""
    buffer = io.StringIO()
    Console(file=buffer, highlight=False, soft_wrap=True).print(markup)
    return buffer.getvalue()


def assert_harmless(text: str) -> None:
    """Nothing a terminal would act on: only printable characters and line breaks."""
    raw = sorted({c for c in text if not c.isprintable() and c != "\n"})
    assert not raw, f"raw control characters reach the terminal: {raw!r}"


@pytest.mark.parametrize(
    ("char", "shown"),
    [
        ("\x1b", "\\x1b"),
        ("\x00", "\\x00"),
        ("\x07", "\\x07"),
        ("\b", "\\x08"),
        ("\r", "\\r"),
        ("\n", "\\n"),
        ("\t", "\\t"),
        ("\x7f", "\\x7f"),
        ("\x9b", "\\x9b"),  # C1 CSI: an escape sequence's start in one byte
        ("\u061c", "\\u061c"),
        ("\u200e", "\\u200e"),
        ("\u200f", "\\u200f"),
        *((chr(c), f"\\u{c:04x}") for c in range(0x202A, 0x202F)),
        *((chr(c), f"\\u{c:04x}") for c in range(0x2066, 0x206A)),
    ],
)
def test_each_dangerous_character_is_shown_as_its_escape(char: str, shown: str) -> None:
    assert printed(escape(f"a{char}b")) == f"a{shown}b\n"


def test_ordinary_text_and_markup_print_as_they_are() -> None:
    """Letters of any script print unchanged; what looks like markup prints literally."""
    for value in ("/srv/Zürich/café", "Réception 東京", "[red]x[/]", "a\\b", "50%"):
        assert printed(escape(value)) == f"{value}\n"


def test_host_values_in_plans_and_results_are_shown_escaped() -> None:
    """An error, a note or a reason a host returns is printed escaped."""
    change = Change(
        kind="file", resource="/etc/motd", op="file.write", action="change", note=f"note{EVIL}"
    )
    lines = [
        *host_lines(HostPlan("down", error=f"refused{EVIL}")),
        *host_lines(HostPlan("up", (change,))),
        *result_lines([HostResult("up", [ChangeResult(change, "failed", f"no{EVIL}")])], None),
    ]
    text = printed("\n".join(lines))
    assert_harmless(text)
    assert f"refused{SHOWN}" in text and f"note{SHOWN}" in text and f"no{SHOWN}" in text


def evil_workspace(tmp_path: Path) -> tuple[Path, Path]:
    """A valid workspace with ESC and a bidi override in a file path, a state file's
    name, a role's description; and where the file goes."""
    target = tmp_path / f"out{EVIL}motd"
    toml_target = str(target).replace("\x1b", "\\u001b").replace("\u202e", "\\u202e")
    root = build_tree(
        tmp_path / "ws",
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            f"states/front{EVIL}.toml": f'description = "desk \\u001b[2J"\nhosts = ["all"]\n'
            f'[[file]]\npath = "{toml_target}"\ncontent = "x"\n',
            "rules/roles.toml": ADMIN_RULES + 'description = "admins \\u001b[2J\\u202e"\n',
        },
    )
    return root, target


INVALID = {
    "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
    f"states/s{EVIL}.toml": 'hosts = ["all"]\n[[service]]\nunit = "cups\\u001b[5A.service"\n'
    '"k\\u001b[J" = 1\n',
}


@needs_root  # it applies to this machine
def test_every_text_command_shows_workspace_values_escaped(tmp_path: Path) -> None:
    """plan, apply, hosts, rules, validate and audit-log show, in-process: the values are
    there, escaped, and nothing raw reaches the terminal."""
    ws, target = evil_workspace(tmp_path)
    invalid = build_tree(tmp_path / "invalid", INVALID)
    w = ("-w", str(ws))
    runs = {
        "plan": (run_tendr("plan", *w), 2, f"out{SHOWN}motd"),
        "apply": (run_tendr("apply", "--yes", *w), 0, f"done file.write {tmp_path}/out{SHOWN}"),
        "hosts": (run_tendr("hosts", *w), 0, f"states/front{SHOWN}.toml"),
        "rules list": (run_tendr("rules", "list", *w), 0, "admins \\x1b[2J\\u202e"),
        "rules explain": (
            run_tendr("rules", "explain", f"eve{EVIL}", "plan", "here", *w),
            1,
            f"eve{SHOWN}'s roles: none",
        ),
        "validate": (
            run_tendr("validate", "-w", str(invalid)),
            1,
            f"states/s{SHOWN}.toml:3: service[0].unit: 'cups\\x1b[5A.service'",
        ),
        "audit-log show": (
            run_tendr("audit-log", "show", *w),
            0,
            f"started file.write {tmp_path}/out{SHOWN}",
        ),
    }
    assert target.read_text() == "x"
    for command, ((code, text), expected_code, shown) in runs.items():
        assert code == expected_code, (command, text)
        assert_harmless(text)
        assert shown in text, (command, text)


@needs_root  # it applies to this machine
def test_the_installed_program_prints_nothing_raw(tmp_path: Path) -> None:
    """The real console script, stdout and stderr apart: nothing raw in either."""
    ws, _ = evil_workspace(tmp_path)
    invalid = build_tree(tmp_path / "invalid", INVALID)
    for args, code, shown in [
        (("plan", "-w", str(ws)), 2, f"out{SHOWN}motd"),
        (("apply", "--yes", "-w", str(ws)), 0, f"done file.write {tmp_path}/out{SHOWN}"),
        (("hosts", "-w", str(ws)), 0, f"states/front{SHOWN}.toml"),
        (("validate", "-w", str(invalid)), 1, f"states/s{SHOWN}.toml:3: service[0].unit"),
        (("audit-log", "show", "-w", str(ws)), 0, f"done file.write {tmp_path}/out{SHOWN}"),
    ]:
        done = run_program(*args, timeout=120)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert_harmless(done.stdout)
        assert_harmless(done.stderr)
        assert shown in done.stdout + done.stderr, (args, done.stdout, done.stderr)


@needs_root  # it applies to this machine
def test_json_escapes_controls_and_keeps_the_values(tmp_path: Path) -> None:
    """--format json stays JSON with every control character escaped, and a script
    reads back the exact values."""
    ws, target = evil_workspace(tmp_path)
    outputs = [run_program("plan", "-w", str(ws), "--format", "json", timeout=60).stdout]
    assert run_tendr("apply", "--yes", "-w", str(ws))[0] == 0
    outputs += [
        run_program(*args, "-w", str(ws), "--format", "json", timeout=60).stdout
        for args in (("hosts",), ("audit-log", "show"))
    ]
    for output in outputs:
        assert_harmless(output)
    plan, hosts, log = map(json.loads, outputs)
    assert plan["hosts"][0]["changes"][0]["resource"] == str(target)
    assert hosts["hosts"][0]["states"] == [f"states/front{EVIL}.toml"]
    assert log["records"][0]["resource"] == str(target)
