"""The technician's terminal on real test hosts: tendr run, tendr do and a recorded
tendr shell, each decided by the rules and recorded in the audit log."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.fleet import Fleet
from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, TENDR_PROGRAM, build_tree, requires
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

HELPDESK = """
[roles.helpdesk]
members = ["dave"]

[[roles.helpdesk.allow]]
ops = ["plan"]
hosts = ["all"]

[[roles.helpdesk.allow]]
ops = ["command.run"]
hosts = ["all"]
commands = ["lpstat -p", "lpstat -r", "systemctl status *"]
"""


def workspace(root: Path, hosts: list[Host], rules: str = "") -> str:
    write_hosts_file(root, hosts)
    return str(build_tree(root, {"rules/roles.toml": ADMIN_RULES + rules}))


def records(ws: str) -> list[dict[str, Any]]:
    code, text = tendr("audit-log", "show", "-w", ws, "--last", "1000", "--format", "json")
    assert code == 0, text
    found: list[dict[str, Any]] = json.loads(text)["records"]
    return found


def test_run_returns_each_hosts_output_and_status(fleet: Fleet, tmp_path: Path) -> None:
    """One command on three hosts, with a different outcome on each: every host's own
    output and exit status, in text and JSON, and one audit record per host."""
    hosts = fleet.hosts[:3]
    ws = workspace(tmp_path, hosts)
    # Each host exits with the number in its name: 1, 2, 3.
    command = ["sh", "-c", 'n=$(hostname); hostname; echo "err $n" >&2; exit "${n##*-0}"']
    code, text = tendr("run", "-w", ws, "-l", "all", "--format", "json", "--", *command)
    assert code == 1, text  # not 0 everywhere
    ran = json.loads(text)
    assert ran["command"] == command
    assert [(h["name"], h["status"], h["stdout"], h["stderr"]) for h in ran["hosts"]] == [
        (h.name, int(h.name[-1]), [h.name], [f"err {h.name}"]) for h in hosts
    ]
    code, text = tendr("run", "-w", ws, "-l", hosts[0].name, "--", "printf", "\\033[2J%s\\n", "x")
    assert code == 0, text
    assert "\x1b" not in text and "\\x1b[2Jx" in text  # the host's escape is shown, not run
    done = [r for r in records(ws) if r["op"] == "command.run"]
    assert [(r["host"], r["outcome"], r["after"]["status"]) for r in done] == [
        (hosts[0].name, "failed", 1),
        (hosts[1].name, "failed", 2),
        (hosts[2].name, "failed", 3),
        (hosts[0].name, "done", 0),
    ]
    assert all(len(r["after"]["output_sha256"]) == 64 for r in done)
    assert "err fleet" not in json.dumps(done)  # output stays out of the log


@pytest.mark.parametrize(
    "command",
    [
        ["rm", "-f", "/tmp/keep"],
        ["lpstat -p; touch /tmp/marker"],
        ["sh", "-c", "touch /tmp/marker"],
        ["FOO=1", "lpstat"],
        ["/tmp/lpstat"],
        ["env", "lpstat"],
        ["systemctl", "start", "marker.service"],
    ],
)
def test_a_refused_command_never_reaches_the_host(
    fresh_host: Host, tmp_path: Path, command: list[str]
) -> None:
    """helpdesk may run lpstat -p, lpstat -r and systemctl status, nothing else: shell
    syntax, another program or a path is refused, recorded, and never sent (what it
    would have done is not done)."""
    fresh_host.run("touch /tmp/keep; printf '#!/bin/sh\\ntouch /tmp/marker\\n' > /tmp/lpstat")
    fresh_host.run("chmod +x /tmp/lpstat")
    ws = workspace(tmp_path, [fresh_host], HELPDESK)
    code, text = tendr("run", "-w", ws, "-l", "all", "--as", "dave", "--", *command)
    assert code == 1, text
    assert "permission denied" in text
    assert fresh_host.run("test -e /tmp/marker").returncode == 1
    assert fresh_host.run("test -e /tmp/keep").returncode == 0
    [record] = [r for r in records(ws) if r["op"] == "command.run"]
    assert (record["person"], record["outcome"]) == ("dave", "refused")


def test_an_allowed_command_runs_with_its_arguments_as_data(
    fresh_host: Host, tmp_path: Path
) -> None:
    """`lpstat -p` covers any further argument that is no option; shell syntax in an
    argument reaches lpstat as text and is never run."""
    ws = workspace(tmp_path, [fresh_host], HELPDESK)
    code, text = tendr(
        "run", "-w", ws, "-l", "all", "--as", "dave", "--format", "json", "--", "lpstat", "-r"
    )
    assert code == 0, text
    assert json.loads(text)["hosts"][0]["stdout"] == ["scheduler is running"]
    code, text = tendr(
        "run", "-w", ws, "-l", "all", "--as", "dave", "--", "lpstat", "-p", "x; touch /tmp/marker"
    )
    assert "permission denied" not in text
    code, text = tendr(
        "run", "-w", ws, "-l", "all", "--as", "dave", "--", "systemctl", "status", "cron.service"
    )
    assert code == 0 and "cron.service" in text, text
    assert fresh_host.run("test -e /tmp/marker").returncode == 1


def started_at(host: Host, unit: str) -> str:
    shown = host.run(["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", unit])
    return shown.stdout.strip()


def test_do_restarts_a_unit_and_refuses_a_person_without_the_operation(
    fresh_host: Host, tmp_path: Path
) -> None:
    """`tendr do service.restart` restarts the unit (its start time changes) and records
    it; helpdesk, without service.restart, is refused and the unit is left running."""
    ws = workspace(tmp_path, [fresh_host], HELPDESK)
    before = started_at(fresh_host, "cron.service")
    host = ["-l", fresh_host.name]
    # Only what a state declares: none declares cron.service yet, nor ever reboot.target.
    code, text = tendr("do", "-w", ws, *host, "service.restart", "cron.service")
    assert code == 1 and "no state declares service cron.service" in text, text
    code, text = tendr("do", "-w", ws, *host, "service.start", "reboot.target")
    assert code == 1 and "no state declares service reboot.target" in text, text
    (Path(ws) / "states").mkdir()
    (Path(ws) / "states/s.toml").write_text(
        f'hosts = ["{fresh_host.name}"]\n[[service]]\nunit = "cron.service"\nrunning = true\n'
    )
    code, text = tendr("do", "-w", ws, *host, "--as", "dave", "service.restart", "cron.service")
    assert code == 1 and "refused service.restart cron.service" in text, text
    assert started_at(fresh_host, "cron.service") == before
    code, text = tendr("do", "-w", ws, "service.restart", "cron.service")
    assert code == 1 and "name the hosts with --limit" in text, text
    code, text = tendr("do", "-w", ws, *host, "service.restart", "cron.service")
    assert code == 0 and "done service.restart cron.service" in text, text
    assert started_at(fresh_host, "cron.service") != before
    assert fresh_host.run("systemctl is-active cron.service").stdout.strip() == "active"
    outcomes = [(r["person"], r["outcome"]) for r in records(ws) if r["op"] == "service.restart"]
    assert outcomes == [
        ("root", "refused"),
        ("dave", "refused"),
        ("root", "started"),
        ("root", "done"),
    ]


@requires(shutil.which("tmux") is not None, "tmux drives the shell session")
def test_a_shell_session_is_recorded_and_replays(fresh_host: Host, tmp_path: Path) -> None:
    """A session driven through tmux runs a command on the host; the audit log links its
    recording, which replays the command and its output."""
    ws = workspace(tmp_path, [fresh_host])
    session = f"tendr-test-{fresh_host.name}"
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "100",
            "-y",
            "30",
            f"{TENDR_PROGRAM} shell -w {ws} {fresh_host.name}; sleep 60",
        ],
        check=True,
    )
    try:

        def screen() -> str:
            shown = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            )
            return shown.stdout

        wait_for(lambda: "root@" in screen(), "the host's prompt", screen)
        subprocess.run(["tmux", "send-keys", "-t", session, "echo tendr-$((6*7))", "Enter"])
        wait_for(lambda: "tendr-42" in screen(), "the command's output", screen)
        subprocess.run(["tmux", "send-keys", "-t", session, "exit", "Enter"])
        wait_for(lambda: "session recorded" in screen(), "the end of the session", screen)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    [record] = [r for r in records(ws) if r["op"] == "shell" and r["outcome"] == "done"]
    assert record["host"] == fresh_host.name and record["after"]["status"] == 0
    code, text = tendr("audit-log", "replay", "-w", ws, str(record["seq"]), "--speed", "0")
    assert code == 0, text
    assert "echo tendr-$((6*7))" in text and "tendr-42" in text
    recording = Path(ws) / record["after"]["recording"]
    assert oct(recording.stat().st_mode & 0o777) == "0o600"
    recording.write_text(recording.read_text().replace("tendr-42", "tendr-43"))
    code, text = tendr("audit-log", "replay", "-w", ws, str(record["seq"]))
    assert code == 1 and "changed since" in text, text


def wait_for(
    condition: Callable[[], bool], what: str, shown: Callable[[], str], limit: float = 30
) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit} s; the screen:\n{shown()}")
        time.sleep(0.2)


def test_logs_show_a_hosts_errors_harmlessly(fresh_host: Host, tmp_path: Path) -> None:
    """The journal's error lines, with what a host wrote rendered harmless (an escape
    sequence shown, not run); --grep and --unit narrow it; helpdesk without `logs` is
    refused."""
    fresh_host.run(["logger", "-p", "user.err", "-t", "tendr-test", "disk \x1b[2J full"])
    fresh_host.run(["logger", "-p", "user.info", "-t", "tendr-test", "all is well"])
    ws = workspace(tmp_path, [fresh_host], HELPDESK)
    code, text = tendr("logs", "-w", ws, "--errors", "--since", "-10min")
    assert code == 0, text
    assert "tendr-test" in text and "disk \\x1b[2J full" in text and "\x1b" not in text
    assert "all is well" not in text
    code, text = tendr("logs", "-w", ws, "--grep", "well", "--format", "json")
    assert code == 0, text
    [lines] = [h["lines"] for h in json.loads(text)["hosts"]]
    assert any(line.endswith("all is well") and "tendr-test[" in line for line in lines)
    code, text = tendr("logs", "-w", ws, "--unit", "cron.service", "--grep", "disk")
    assert code == 0 and "disk" not in text, text
    code, text = tendr("logs", "-w", ws, "--as", "dave")
    assert code == 1 and "permission denied" in text, text


def test_logs_give_the_newest_lines_in_time_order_without_tendrs_own(
    fresh_host: Host, tmp_path: Path
) -> None:
    """`--lines 3` gives the newest three, oldest first, with `--since` too; tendr's own
    login and sudo (as a service account that is not root) are left out unless `--all`;
    every time option takes '-5min', '1 hour ago' and ISO 8601."""
    for n in range(1, 6):
        fresh_host.run(["logger", "-t", "tendr-test", f"line-{n}"], check=True)
    root = tmp_path / "ws"
    write_hosts_file(root, [fresh_host], user="tech")
    ws = str(build_tree(root, {"rules/roles.toml": ADMIN_RULES}))
    for since in ("-5min", "1 hour ago", "today"):
        code, text = tendr("logs", "-w", ws, "--since", since, "--lines", "3", "--grep", "line-")
        assert code == 0, text
        shown = [line.rsplit(": ", 1)[-1] for line in text.splitlines()[1:]]
        assert shown == ["line-3", "line-4", "line-5"], text
    code, text = tendr("logs", "-w", ws, "--since", "-5min", "--format", "json")
    assert code == 0, text
    [lines] = [h["lines"] for h in json.loads(text)["hosts"]]
    assert any(line.endswith("line-5") for line in lines), lines
    own = [line for line in lines if "COMMAND=" in line or " tech" in line]
    assert not own, own
    code, text = tendr("logs", "-w", ws, "--since", "-5min", "--all", "--format", "json")
    [lines] = [h["lines"] for h in json.loads(text)["hosts"]]
    assert any("tech : " in line and "COMMAND=" in line for line in lines), lines
    code, text = tendr("logs", "-w", ws, "--since", "soon")
    assert code == 1 and "'-2h' or '1 hour ago'" in text, text
