"""apply you can trust, on real test hosts: uneven work, private content, interrupts and
full disks recorded, true outcomes, locks, sudo and timeouts."""

from __future__ import annotations

import json
import os
import pty
import resource
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, TENDR_PROGRAM, build_tree, run_program
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

GO = "/run/tendr-go"
# A unit whose start waits until the test creates GO: a change that is underway for as
# long as the test needs.
SLOW_UNIT = (
    "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
    f"ExecStart=/bin/sh -c 'while [ ! -e {GO} ]; do sleep 0.2; done'\n"
)


def toml_str(text: str) -> str:
    return json.dumps(text)  # a JSON string is a TOML basic string


def slow_state(after: str = "") -> str:
    """The slow unit's start, then a file written after it."""
    return (
        f'hosts = ["all"]\n[[service]]\nunit = "tendr-slow.service"\n'
        f"content = {toml_str(SLOW_UNIT)}\nrunning = true\n"
        '[[service]]\nunit = "tendr-after.service"\n'
        'content = "[Service]\\nExecStart=/bin/sleep infinity\\n"\nrunning = true\n' + after
    )


def workspace(
    root: Path, hosts: list[Host], states: dict[str, str], user: str = "root", settings: str = ""
) -> Path:
    write_hosts_file(root, hosts, user=user)
    if settings:
        (root / "tendr.toml").write_text((root / "tendr.toml").read_text() + settings)
    files = {f"states/{name}.toml": text for name, text in states.items()}
    return build_tree(root, {**files, "rules/roles.toml": ADMIN_RULES})


def records(ws: Path) -> list[dict[str, Any]]:
    log = ws / ".tendr" / "audit.log"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def wait_for(condition: Callable[[], bool], what: str, limit: float = 90) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {limit} s for {what}")
        time.sleep(0.1)


def started(ws: Path, op: str, host: str | None = None) -> Callable[[], bool]:
    return lambda: any(
        r["op"] == op and r["outcome"] == "started" and (host is None or r["host"] == host)
        for r in records(ws)
    )


def activating(host: Host) -> Callable[[], bool]:
    """The slow unit's start is underway on the host (apply sends every change at once:
    the records say what was sent, the host what it is doing)."""
    return lambda: (
        host.run("systemctl is-active tendr-slow.service").stdout.strip() == ("activating")
    )


@contextmanager
def program(*args: str) -> Iterator[subprocess.Popen[str]]:
    """The installed tendr running in the background; killed if the test leaves early."""
    process = subprocess.Popen(
        [str(TENDR_PROGRAM), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def outcomes(ws: Path, host: str) -> list[tuple[str, str, str]]:
    return [(r["op"], r["resource"], r["outcome"]) for r in records(ws) if r["host"] == host]


# -- uneven work on many hosts --------------------------------------------------------


def content(index: int, round_: int) -> str:
    return f"host {index} round {round_}." * (index + 1)


def host_state(index: int, round_: int, name: str) -> str:
    """Different work on every host and in every round: files everywhere, a package on one
    host, a unit on some, a removal on others."""
    lines = [
        f'hosts = ["{name}"]',
        "[[file]]",
        'path = "/etc/tendr/round"',
        f"content = {toml_str(str(round_))}",
        "[[file]]",
        f'path = "/srv/h{index}/r{round_}.conf"',
        f"content = {toml_str(content(index, round_))}",
        'mode = "0640"',
        'group = "lp"',
    ]
    if index == 0 and round_ == 0:  # two installs: one apt run
        lines += ["[[package]]", 'name = "hello"', "[[package]]", 'name = "tree"']
    if index % 2 == 1:
        lines += [
            "[[service]]",
            'unit = "tendr-demo.service"',
            'content = "[Service]\\nExecStart=/bin/sleep infinity\\n"',
            f"running = {'true' if round_ % 2 == 0 else 'false'}",
        ]
    if index % 3 == 2 and round_ > 0:
        lines += ["[[file]]", f'path = "/srv/h{index}/r{round_ - 1}.conf"', "present = false"]
    return "\n".join(lines) + "\n"


def test_five_applies_on_six_hosts_with_uneven_work_converge(
    fresh_hosts: Callable[[int], list[Host]], tmp_path: Path
) -> None:
    """Six hosts with different work each, five applies in a row: every apply converges
    with every change done and recorded, and the hosts hold exactly their own state (one
    host finishing early once stopped the others with 'State has no attribute config')."""
    hosts = fresh_hosts(6)
    for round_ in range(5):
        ws = workspace(
            tmp_path / f"r{round_}",
            hosts,
            {h.name: host_state(i, round_, h.name) for i, h in enumerate(hosts)},
        )
        code, raw = tendr("apply", "-w", str(ws), "--yes", "--format", "json")
        assert code == 0, raw
        data = json.loads(raw)
        assert [r["error"] for r in data["results"]] == [None] * 6
        for result in data["results"]:
            assert {c["outcome"] for c in result["changes"]} == {"done"}, result
            assert all(c["recorded"] for c in result["changes"])
        assert data["after"]["summary"]["in_sync"] == 6
        done = [(r["host"], r["op"], r["resource"]) for r in records(ws) if r["outcome"] == "done"]
        planned = [
            (h["name"], c["op"], c["resource"]) for h in data["plan"]["hosts"] for c in h["changes"]
        ]
        assert sorted(done) == sorted(planned)
        for index, host in enumerate(hosts):
            conf = f"/srv/h{index}/r{round_}.conf"
            got = host.run(f"cat /etc/tendr/round; echo; stat -c '%a %G' {conf}; cat {conf}")
            assert got.stdout == f"{round_}\n640 lp\n{content(index, round_)}"
            if index % 3 == 2 and round_ > 0:
                assert host.run(f"test -e /srv/h{index}/r{round_ - 1}.conf").returncode == 1
    assert (
        hosts[0].run("dpkg-query -W -f='${Status} ' hello tree").stdout
        == "install ok installed install ok installed "
    )
    assert hosts[1].run("dpkg-query -W hello").returncode != 0


# -- content and folders ----------------------------------------------------------------


def test_content_never_rests_where_another_account_can_read_it(
    fresh_host: Host, tmp_path: Path
) -> None:
    """Through sudo, a 0600 file's content is never readable by a local user on the client
    (pyinfra's own upload left it 0644 in /tmp), and a link planted at the old predictable
    temporary name is neither followed nor touched."""
    secret = "tendr-secret-" + os.urandom(8).hex()
    fresh_host.run(
        "useradd -m mallory && install -d -m 1777 /srv/drop && "
        "ln -s /etc/shadow /srv/drop/.report.tendr-new && "
        "su mallory -s /bin/sh -c 'nohup sh -c \"while :; do cat /tmp/* /tmp/.* /srv/drop/.* "
        "2>/dev/null; done\" > /home/mallory/loot 2>&1 &'",
        check=True,
    )
    state = (
        f'hosts = ["all"]\n[[file]]\npath = "/srv/drop/report"\ncontent = "{secret}\\n"\n'
        'mode = "0600"\n'
    )
    files = "".join(
        f'[[file]]\npath = "/etc/tendr-s{i}"\ncontent = "{secret}\\n"\nmode = "0600"\n'
        for i in range(5)
    )
    ws = workspace(tmp_path, [fresh_host], {"s": state + files}, user="tech")
    code, text = tendr("apply", "-w", str(ws), "--yes")
    fresh_host.run("pkill -u mallory")
    assert code == 0, text
    assert secret not in fresh_host.run("cat /home/mallory/loot").stdout
    assert fresh_host.run("readlink /srv/drop/.report.tendr-new").stdout.strip() == "/etc/shadow"
    assert fresh_host.run("stat -c '%a %U' /srv/drop/report /etc/shadow").stdout.split("\n")[
        :2
    ] == ["600 root", "640 root"]
    assert fresh_host.run("ls -a /srv/drop /etc | grep -c tendr[.]").stdout.strip() == "0"


def test_new_folders_are_roots_whoever_owns_the_file(fresh_host: Host, tmp_path: Path) -> None:
    """A file owned by nobody in a new folder: the plan names the folders it creates, and
    they are root's, 0755 (once they were given to the file's owner)."""
    state = (
        'hosts = ["all"]\n[[file]]\npath = "/etc/law/deep/secret.conf"\ncontent = "x"\n'
        'owner = "nobody"\nmode = "0600"\n'
    )
    ws = str(workspace(tmp_path, [fresh_host], {"s": state}))
    code, text = tendr("plan", "-w", ws)
    assert code == 2 and "creates folder(s) /etc/law, /etc/law/deep (root, 0755)" in text
    assert tendr("apply", "-w", ws, "--yes")[0] == 0
    assert fresh_host.run(
        "stat -c '%n %U %a' /etc/law /etc/law/deep /etc/law/deep/secret.conf"
    ).stdout.splitlines() == [
        "/etc/law root 755",
        "/etc/law/deep root 755",
        "/etc/law/deep/secret.conf nobody 600",
    ]


# -- outcomes ---------------------------------------------------------------------------


def test_a_failed_change_is_reported_failed_with_its_error(
    fresh_host: Host, tmp_path: Path
) -> None:
    """A write that fails is 'failed' with the host's error, in text, JSON and the audit log;
    the change that waits on it (`after`) is 'not run', naming it; the one that does not
    is made."""
    state = (
        'hosts = ["all"]\n[[file]]\npath = "/proc/tendr-x"\ncontent = "x"\n'
        '[[file]]\npath = "/etc/tendr-after"\ncontent = "y"\nafter = ["file:/proc/tendr-x"]\n'
        '[[file]]\npath = "/etc/tendr-other"\ncontent = "z"\n'
    )
    ws = workspace(tmp_path, [fresh_host], {"s": state})
    code, text = tendr("apply", "-w", str(ws), "--yes")
    assert code == 1
    assert "failed file.write /proc/tendr-x: " in text
    assert (
        "not run file.write /etc/tendr-after: waits on file.write /proc/tendr-x, which failed"
        in text
    )
    assert "done file.write /etc/tendr-other" in text
    assert "1 done, 1 failed, 0 refused, 1 not run" in text
    assert outcomes(ws, fresh_host.name) == [
        ("file.write", "/proc/tendr-x", "started"),
        ("file.write", "/etc/tendr-after", "started"),
        ("file.write", "/etc/tendr-other", "started"),
        ("file.write", "/proc/tendr-x", "failed"),
        ("file.write", "/etc/tendr-after", "skipped"),
        ("file.write", "/etc/tendr-other", "done"),
    ]
    failed = next(r for r in records(ws) if r["outcome"] == "failed")
    assert failed["reason"] and "not run" not in failed["reason"]
    assert fresh_host.run("test -e /etc/tendr-after").returncode == 1
    assert fresh_host.run("cat /etc/tendr-other").stdout == "z"


def test_apply_and_plan_give_one_verdict(fresh_host: Host, tmp_path: Path) -> None:
    """A resource that cannot be read keeps the host from 'converged': apply exits 1 when
    the plan after it would exit 2 (once apply said converged and exited 0)."""
    state = (
        'hosts = ["all"]\n[[file]]\npath = "/etc/tendr-v"\ncontent = "v"\n'
        # A container cannot load modules: whether it is loaded cannot be read there.
        '[[module]]\nname = "dummy"\nloaded = true\n'
    )
    ws = str(workspace(tmp_path, [fresh_host], {"s": state}))
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1, text
    assert "not converged: 1 resource(s) could not be read" in text
    assert "converged" not in text.replace("not converged", "")
    assert tendr("plan", "-w", ws)[0] == 2


# -- interrupts and the audit log -------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_an_interrupted_apply_is_recorded(fresh_host: Host, tmp_path: Path, signum: int) -> None:
    """Ctrl-C, SIGTERM or SIGHUP while a change runs: exit 130, the change underway is
    recorded as interrupted, the ones after it as not run, the chain holds, and the host is
    free for the next apply (once: nothing was recorded at all)."""
    ws = workspace(tmp_path, [fresh_host], {"s": slow_state()})
    with program("apply", "-w", str(ws), "--yes") as running:
        wait_for(activating(fresh_host), "the slow unit to start")
        running.send_signal(signum)
        stdout, stderr = running.communicate(timeout=60)
    assert running.returncode == 130, stdout + stderr
    assert "interrupted service.start tendr-slow.service" in stdout
    assert "recorded as interrupted" in stderr and "Traceback" not in stderr
    assert outcomes(ws, fresh_host.name)[-4:] == [
        ("service.configure", "tendr-slow.service", "done"),
        ("service.start", "tendr-slow.service", "interrupted"),
        ("service.configure", "tendr-after.service", "skipped"),
        ("service.start", "tendr-after.service", "skipped"),
    ]
    # Stopped on the host too: nothing after the change underway is made later.
    fresh_host.run(f"touch {GO}")
    time.sleep(1)
    assert tendr("audit-log", "verify", "-w", str(ws))[0] == 0
    assert fresh_host.run("test -e /etc/systemd/system/tendr-after.service").returncode == 1
    code, text = tendr("apply", "-w", str(ws), "--yes")
    assert code == 0, text


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tendr-test", str(path)],
        check=True,
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_record_that_cannot_be_written_is_said(fresh_host: Host, tmp_path: Path) -> None:
    """The audit log stops taking records while the host's changes run (here: the file
    size limit, as a full disk would): every change was recorded as started before it was
    sent; their outcomes, which could not be, are said on the terminal, marked so, and the
    log keeps whole records only (once five changes were made and their records lost)."""
    ws = workspace(tmp_path / "ws", [fresh_host], {"s": slow_state()})
    log = ws / ".tendr" / "audit.log"
    with program("apply", "-w", str(ws), "--yes") as run:
        wait_for(activating(fresh_host), "the slow unit to start")
        size = log.stat().st_size
        resource.prlimit(run.pid, resource.RLIMIT_FSIZE, (size, size))
        fresh_host.run(f"touch {GO}")
        stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stdout + stderr
    assert f"{fresh_host.name}: error: outcomes not recorded: the audit log {log}" in stdout
    assert "done service.start tendr-slow.service (not in the audit log)" in stdout
    assert "done service.start tendr-after.service (not in the audit log)" in stdout
    assert log.stat().st_size == size
    assert tendr("audit-log", "verify", "-w", str(ws))[0] == 0
    assert outcomes(ws, fresh_host.name) == [
        ("service.configure", "tendr-slow.service", "started"),
        ("service.start", "tendr-slow.service", "started"),
        ("service.configure", "tendr-after.service", "started"),
        ("service.start", "tendr-after.service", "started"),
    ]


def test_no_room_for_the_records_means_no_change(fresh_host: Host, tmp_path: Path) -> None:
    """Before a host is touched, its records must fit on the audit log's disk."""
    ws = workspace(tmp_path / "ws", [fresh_host], {"s": slow_state()})
    with tmpfs(ws / ".tendr", "1m") as folder:
        (folder / "audit.log").touch()
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={folder}/filler", "bs=4k", "count=240"],
            capture_output=True,
            check=False,
        )
        code, text = tendr("apply", "-w", str(ws), "--yes")
        assert code == 1
        assert f"{fresh_host.name}: error: not started: only" in text and "KiB free" in text
    assert fresh_host.run("test -e /etc/systemd/system/tendr-slow.service").returncode == 1


# -- locks ------------------------------------------------------------------------------


def test_concurrent_applies_are_refused_with_who_holds_the_lock(
    fresh_host: Host, tmp_path: Path
) -> None:
    """A second apply on the same workspace, or on the same host from another workspace,
    waits for nobody and breaks nothing: it is refused, naming who holds the lock."""
    ws = workspace(tmp_path / "a", [fresh_host], {"s": slow_state()})
    other = workspace(
        tmp_path / "b",
        [fresh_host],
        {"s": 'hosts = ["all"]\n[[file]]\npath = "/etc/tendr-b"\ncontent = "b"\n'},
    )
    with program("apply", "-w", str(ws), "--yes") as first:
        wait_for(started(ws, "service.start"), "the slow unit to start")
        code, text = tendr("apply", "-w", str(ws), "--yes")
        assert code == 1
        assert "another apply is running in this workspace (root from" in text
        code, text = tendr("apply", "-w", str(other), "--yes")
        assert code == 1
        assert "another apply is working on this host (locked by root from" in text
        assert fresh_host.run("test -e /etc/tendr-b").returncode == 1
        fresh_host.run(f"touch {GO}")
        stdout, _ = first.communicate(timeout=120)
        assert first.returncode == 0, stdout
    code, text = tendr("apply", "-w", str(other), "--yes")
    assert code == 0, text


# -- sudo and timeouts ------------------------------------------------------------------


def test_sudo_that_wants_a_password_is_said_in_one_line(fresh_host: Host, tmp_path: Path) -> None:
    """An account whose sudo asks for a password: plan says what it needs at once, even on
    a terminal (where pyinfra's prompt once waited forever)."""
    fresh_host.run(
        "useradd -m -s /bin/sh pw && echo 'pw:secret' | chpasswd && "
        "echo 'pw ALL=(ALL) ALL' > /etc/sudoers.d/pw && "
        "install -d -o pw -m 700 /home/pw/.ssh && "
        "cp /root/.ssh/authorized_keys /home/pw/.ssh/ && chown pw /home/pw/.ssh/*",
        check=True,
    )
    ws = workspace(
        tmp_path,
        [fresh_host],
        {"s": 'hosts = ["all"]\n[[file]]\npath = "/etc/tendr-pw"\ncontent = "x"\n'},
        user="pw",
    )
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [str(TENDR_PROGRAM), "plan", "-w", str(ws)],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(controller)
        os.close(terminal)
    assert done.returncode == 1
    assert "the account 'pw' needs passwordless sudo for tendr" in done.stdout
    assert "password:" not in done.stdout + done.stderr


def test_every_remote_command_has_a_timeout(fresh_host: Host, tmp_path: Path) -> None:
    """A unit whose start blocks is given up after command_timeout with a clear message,
    recorded as interrupted: whether it will be made is not known."""
    ws = workspace(tmp_path, [fresh_host], {"s": slow_state()}, settings="command_timeout = 3\n")
    done = run_program("apply", "-w", str(ws), "--yes", timeout=120)
    code, text = done.returncode, done.stdout
    assert code == 1, text + done.stderr
    assert (
        "interrupted service.start tendr-slow.service: timed out after 3 s (command_timeout "
        "in tendr.toml) and was stopped: the change may or may not have been made" in text
    )
    # The unit after it needs nothing of it: it is made all the same.
    assert "done service.configure tendr-after.service" in text
    assert "done service.start tendr-after.service" in text
    fresh_host.run(f"touch {GO}")


# -- what reaches the terminal ----------------------------------------------------------


def test_the_program_prints_no_library_noise(fresh_host: Host, tmp_path: Path) -> None:
    """An unknown host key and a host speaking no SSH are each one line of tendr's, with
    no 'No host key' log line or paramiko traceback."""
    ws = workspace(tmp_path, [fresh_host], {"s": slow_state()})
    (ws / "known_hosts").write_text("")
    done = run_program("plan", "-w", str(ws))
    assert done.returncode == 1
    assert "host key not verified" in done.stdout
    assert "No host key" not in done.stderr and "Traceback" not in done.stderr


def test_a_lost_connection_is_recorded_and_its_lock_taken_over(
    fresh_host: Host, tmp_path: Path
) -> None:
    """The connection drops while a change runs: tendr connects again, stops what was
    underway and asks how far it came: the changes made are done, the one underway is
    interrupted (its outcome unknown), the rest not run, and the host is free again."""
    ws = workspace(tmp_path, [fresh_host], {"s": slow_state()})
    with program("apply", "-w", str(ws), "--yes") as running:
        wait_for(activating(fresh_host), "the slow unit to start")
        fresh_host.run("pkill -f 'sshd: root@notty'")
        stdout, stderr = running.communicate(timeout=120)
    assert running.returncode == 1, stdout + stderr
    assert "interrupted service.start tendr-slow.service: the connection was lost" in stdout
    assert outcomes(ws, fresh_host.name)[-4:] == [
        ("service.configure", "tendr-slow.service", "done"),
        ("service.start", "tendr-slow.service", "interrupted"),
        ("service.configure", "tendr-after.service", "skipped"),
        ("service.start", "tendr-after.service", "skipped"),
    ]
    assert fresh_host.run("test -e /run/tendr/apply.lock").returncode == 1
    fresh_host.run(f"touch {GO}")
    time.sleep(1)
    assert fresh_host.run("test -e /etc/systemd/system/tendr-after.service").returncode == 1
    code, text = tendr("apply", "-w", str(ws), "--yes")
    assert code == 0, text
    assert fresh_host.run("test -e /run/tendr/apply.lock").returncode == 1


def test_a_killed_apply_leaves_a_lock_the_next_takes_over(fresh_host: Host, tmp_path: Path) -> None:
    """tendr killed outright while a host's changes run: the lock stays, held for a process
    that is gone; the next apply from this controller takes it over, stopping the batch
    the killed one left running, and converges."""
    ws = workspace(tmp_path, [fresh_host], {"s": slow_state()})
    with program("apply", "-w", str(ws), "--yes") as running:
        wait_for(activating(fresh_host), "the slow unit to start")
        running.kill()
        running.wait(timeout=30)
    left = fresh_host.run("cat /run/tendr/apply.lock/holder /run/tendr/apply.lock/batch")
    holder, batch = left.stdout.splitlines()
    assert holder.startswith("root from") and f"pid {running.pid}," in holder
    pid = batch.split()[0]
    assert fresh_host.run(f"test -d /proc/{pid}").returncode == 0  # still waiting there
    # The next apply (whose plan counts the unit being started as running) takes the lock
    # over and finishes while the unit's start still waits: the old batch was stopped.
    code, text = tendr("apply", "-w", str(ws), "--yes")
    assert code == 0, text
    assert fresh_host.run(f"test -d /proc/{pid}").returncode == 1
    assert fresh_host.run("test -e /run/tendr/apply.lock").returncode == 1
    fresh_host.run(f"touch {GO}")
    # What the killed apply left `started` is recorded by the one that took over, from
    # the statuses its batch kept on the host: the unit file written, the start under
    # way interrupted, what came after it not run; then the second apply's own changes.
    killed = [
        (r["op"], r["resource"], r["outcome"])
        for r in records(ws)
        if "recorded by the next apply" in str(r.get("reason"))
    ]
    assert killed == [
        ("service.configure", "tendr-slow.service", "done"),
        ("service.start", "tendr-slow.service", "interrupted"),
        ("service.configure", "tendr-after.service", "skipped"),
        ("service.start", "tendr-after.service", "skipped"),
    ], killed
    assert not (ws / ".tendr" / "underway").exists() or not any(
        (ws / ".tendr" / "underway").iterdir()
    )
    assert tendr("audit-log", "verify", "-w", str(ws))[0] == 0


def test_a_folder_another_account_controls_is_not_written_as_root(
    fresh_host: Host, tmp_path: Path
) -> None:
    """A file in a folder its user owns (who could swap in a link mid-write) is refused with
    the reason, even with a large content still on its way; nothing is written."""
    fresh_host.run("useradd -m alice", check=True)
    big = "x" * 300_000
    state = (
        f'hosts = ["all"]\n[[file]]\npath = "/home/alice/.ssh/authorized_keys"\ncontent = "{big}"\n'
    )
    ws = workspace(tmp_path, [fresh_host], {"s": state})
    code, text = tendr("apply", "-w", str(ws), "--yes")
    assert code == 1
    assert (
        "failed file.write /home/alice/.ssh/authorized_keys: tendr: /home/alice can be "
        "changed by an account other than root" in text
    )
    assert fresh_host.run("test -e /home/alice/.ssh").returncode == 1
