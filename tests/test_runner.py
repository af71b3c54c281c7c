"""The runner every operation that touches hosts goes through (tendr/ops/runner.py): the
audit log checked first, the rules decided per host with refusals recorded, the hosts
connected and worked on at once, an interruption recorded as `interrupted`. On this
machine (the local connector) and an address nothing listens on."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import gevent
import pytest

from tendr.base.changes import Change
from tendr.base.errors import UserError
from tendr.core import audit
from tendr.ops import logs, on_demand
from tendr.ops.runner import Runner
from tendr.remote.connect import Session
from tendr.workspace.hosts import Host
from tendr.workspace.loader import Workspace, load
from tests.helpers import ME, build_tree, needs_root

# `here` is this machine; `gone` and `away` are an address nothing listens on.
HOSTS = (
    '[hosts.here]\nconnector = "local"\n'
    '[hosts.gone]\naddress = "127.0.0.1"\nport = 1\n'
    '[hosts.away]\naddress = "127.0.0.1"\nport = 1\n'
)
# The person may run commands and read journals on here and away, never on gone.
RULES = f"""\
[roles.admin]
members = ["{ME}"]
allow = [{{ ops = ["command.run", "logs"], hosts = ["here", "away"] }}]
"""


def workspace(tmp_path: Path) -> Workspace:
    root = build_tree(
        tmp_path / "ws",
        {"hosts/h.toml": HOSTS, "rules/roles.toml": RULES, "known_hosts": ""},
    )
    return load(root)


def records(ws: Workspace) -> list[dict[str, Any]]:
    return audit.records(audit.read_lines(ws.path(ws.settings.audit_log)))


def outcomes(ws: Workspace) -> dict[str, tuple[str, str]]:
    return {str(r["host"]): (str(r["outcome"]), str(r["reason"] or "")) for r in records(ws)}


def test_nothing_starts_on_an_audit_log_that_cannot_take_the_record(tmp_path: Path) -> None:
    """An audit log ending in a damaged record: the operation says what did not happen,
    and nothing is decided, recorded or run."""
    ws = workspace(tmp_path)
    log = ws.path(ws.settings.audit_log)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text('{"half a record')
    with pytest.raises(UserError, match="; nothing was run"):
        on_demand.run_command(ws, list(ws.hosts), ME, ["true"])
    with pytest.raises(UserError, match="; nothing was checked"):
        Runner(ws, ME, "backup check", nothing="nothing was checked")
    assert log.read_text() == '{"half a record'
    Runner(ws, ME, "logs", nothing="nothing was read", recorded=False)  # a reading: no log


def test_refused_hosts_are_recorded_with_the_reason_and_never_reached(tmp_path: Path) -> None:
    """decide: the allowed hosts in order; each refused one recorded as `refused`, with
    the reason and the rules' word, before anything is connected."""
    ws = workspace(tmp_path)
    runner = Runner(ws, ME, "run", nothing="nothing was run")
    change = Change(kind="command", resource="true", op="command.run", action="change")
    decided = runner.decide(list(ws.hosts), "command.run", "true", change=change)
    assert [h.name for h in decided.allowed] == ["here", "away"]
    assert list(decided.refused) == ["gone"]
    assert decided.refused["gone"].startswith("permission denied: ")
    [record] = records(ws)
    assert (record["host"], record["outcome"], record["op"]) == ("gone", "refused", "command.run")
    assert record["reason"] == decided.refused["gone"]
    assert decided.changes["here"].rule.startswith("rules/roles.toml")


@needs_root
def test_a_run_records_each_host_done_failed_or_refused(tmp_path: Path) -> None:
    """One record per host: done where it ran, failed where it could not connect,
    refused where the rules say no."""
    ws = workspace(tmp_path)
    ended: list[str] = []
    ran = on_demand.run_command(ws, list(ws.hosts), ME, ["echo", "hi"], progress=ended.append)
    assert [r.host for r in ran] == ["here", "gone", "away"]
    assert ran[0].ok and ran[0].stdout == ["hi"]
    assert ran[1].refused.startswith("permission denied")
    assert ran[2].error.startswith("cannot connect")
    found = outcomes(ws)
    assert found["here"] == ("done", "")
    assert found["gone"] == ("refused", ran[1].refused)
    assert found["away"] == ("failed", ran[2].error)
    assert ended == ["here"]


@needs_root
def test_an_interrupted_run_records_what_had_not_ended_as_interrupted(tmp_path: Path) -> None:
    """SIGTERM while the command runs: the host is recorded as `interrupted` (it may or
    may not have run), and the interrupt goes on to the caller."""
    ws = workspace(tmp_path)
    here = [h for h in ws.hosts if h.name == "here"]
    gevent.spawn_later(0.5, os.kill, os.getpid(), signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        on_demand.run_command(ws, here, ME, ["sleep", "7.25"])
    assert outcomes(ws) == {
        "here": ("interrupted", "run was interrupted: it may or may not have run")
    }
    # Nothing is left running on the host: the command's process group was stopped.
    left = subprocess.run(["pgrep", "-f", "^sleep 7.25$"], capture_output=True, text=True)
    assert left.returncode == 1, left.stdout


@needs_root  # this machine reached as root (the local connector)
def test_the_runner_records_each_unfinished_change_on_an_interrupt(tmp_path: Path) -> None:
    """over: the hosts that connected worked on at once; Ctrl-C stops them, and what
    each had not finished is recorded as interrupted; a host that failed is not."""
    ws = workspace(tmp_path)
    runner = Runner(ws, ME, "backup check", nothing="nothing was checked")
    jobs = [
        Change(kind="backup", resource=name, op="backup.check", action="change")
        for name in ("documents", "mail")
    ]
    failed: dict[str, str] = {}

    def one(_session: Session, _host: Host) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        gevent.sleep(5)

    here, _, away = ws.hosts
    with pytest.raises(KeyboardInterrupt):
        runner.over(
            [here, away],
            one,
            failed=failed.__setitem__,
            unfinished=lambda _name: jobs,
        )
    assert list(failed) == ["away"]
    found = [(r["host"], r["resource"], r["outcome"]) for r in records(ws)]
    assert found == [
        ("here", "documents", "interrupted"),
        ("here", "mail", "interrupted"),
    ]
    assert {r["reason"] for r in records(ws)} == {
        "backup check was interrupted: it may or may not have run"
    }
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_reading_records_nothing_and_says_each_refusal(tmp_path: Path) -> None:
    """logs (and diagnose) are readings: refused and unreachable hosts are said in the
    result, and the audit log is not written."""
    ws = workspace(tmp_path)
    gone, away = (h for h in ws.hosts if h.name != "here")
    found = logs.read(ws, [gone, away], ME, logs.query(None, False, None, None, 10))
    assert found[0].error.startswith("permission denied")
    assert found[1].error.startswith("cannot connect")
    assert records(ws) == []


def test_tendrs_own_visits_are_left_out_of_the_journal_and_nothing_else() -> None:
    """sudo's lines for the service account's commands (the COMMAND line and the PAM
    lines of the same sudo) and its SSH logins go; another person's sudo and logins,
    and the host's own lines, stay."""

    def entry(who: str, pid: str, message: str) -> dict[str, str]:
        return {"SYSLOG_IDENTIFIER": who, "_PID": pid, "MESSAGE": message}

    journal = [
        entry("sshd-session", "700", "Accepted publickey for tendr from 10.0.0.5 port 4 ssh2"),
        entry(
            "sshd-session",
            "700",
            "pam_unix(sshd:session): session opened for user tendr(uid=998) by tendr(uid=0)",
        ),
        entry("systemd-logind", "90", "New session 7 of user tendr."),
        entry("systemd", "1", "Started session-7.scope - Session 7 of User tendr."),
        entry(
            "sudo",
            "801",
            "   tendr : PWD=/home/tendr ; USER=root ; COMMAND=/usr/bin/journalctl -o json",
        ),
        entry(
            "sudo",
            "801",
            "pam_unix(sudo:session): session opened for user root(uid=0) by tendr(uid=998)",
        ),
        entry("sudo", "801", "pam_unix(sudo:session): session closed for user root"),
        entry("sshd-session", "700", "Disconnected from user tendr 10.0.0.5 port 4"),
        entry("systemd-logind", "90", "Session 7 logged out. Waiting for processes to exit."),
        entry("systemd-logind", "90", "Removed session 7."),
        # What the technician came for:
        entry("sudo", "900", "   alice : PWD=/ ; USER=root ; COMMAND=/usr/bin/apt upgrade"),
        entry(
            "sudo",
            "900",
            "pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)",
        ),
        entry("sshd-session", "910", "Accepted password for alice from 10.0.0.9 port 5 ssh2"),
        entry("systemd-logind", "90", "New session 8 of user alice."),
        entry("systemd", "1", "Started session-8.scope - Session 8 of User alice."),
        entry("cupsd", "55", "printer frontdesk stopped"),
    ]
    kept = logs.without_own(journal, "tendr")
    assert [e["MESSAGE"] for e in kept] == [e["MESSAGE"] for e in journal[10:]]
