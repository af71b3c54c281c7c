"""Apply's commands, progress, JSON and exit codes, fast: the file-writing script runs in
a real shell on this machine; the workflow through pyinfra's local connector."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tendr.base.changes import Change, FieldChange, Put, Run
from tendr.base.errors import TendrError
from tendr.kinds.file import FileSpec
from tendr.kinds.file import steps as file_steps
from tendr.kinds.kind import Context
from tendr.kinds.package import PackageSpec
from tendr.kinds.registry import KINDS
from tendr.kinds.service import ServiceSpec
from tendr.ops import apply as workflow
from tendr.ops.execute import (
    LOCK_DIR,
    LOCK_DIR_VARIABLE,
    PUT_SCRIPT,
    RUN_SCRIPT,
    Watch,
    Work,
    batch_script,
    command_for,
    lock_dir,
    lock_script,
    outcomes,
    ran_to_end,
    reached,
    step_errors,
    step_statuses,
    unlock_script,
)
from tendr.remote.connect import ended, remote_command
from tendr.workspace.loader import load
from tests.helpers import ADMIN_RULES, ME, build_tree, needs_root, run_program, run_tendr


def put(
    path: Path, content: bytes, mode: str = "", owner: str = "", group: str = "", umask: int = 0o077
) -> subprocess.CompletedProcess[bytes]:
    """Run the Put script as apply sends it (script, arguments, base64 on stdin)."""
    script, args, stdin = command_for(
        Put(str(path), content, mode or None, owner or None, group or None)
    )
    return subprocess.run(
        ["sh", "-c", f"umask {umask:03o}; {script}", "tendr", *args],
        input=(stdin or "").encode(),
        capture_output=True,
        check=False,
    )


@needs_root
@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=3000))
def test_content_arrives_byte_for_byte(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    """Any bytes, no trailing newline or many, arrive exactly (base64 on stdin)."""
    target = tmp_path_factory.mktemp("put") / "f"
    assert put(target, content).returncode == 0
    assert target.read_bytes() == content


def planted_link(folder: Path, name: str) -> Path:
    """A link `name` in `folder` to a private file "victim" holding "keep": what a hostile
    account plants where the plan saw a regular file."""
    victim = folder / "victim"
    victim.write_text("keep")
    victim.chmod(0o600)
    (folder / name).symlink_to(victim)
    return victim


@needs_root
def test_a_link_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = planted_link(tmp_path, "target")
    assert put(tmp_path / "target", b"new", mode="0666").returncode == 0
    assert victim.read_text() == "keep" and oct(victim.stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "target").is_symlink()
    assert (tmp_path / "target").read_text() == "new"


@needs_root
def test_new_folders_are_0755_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f"
    assert put(target, b"x", mode="0600", umask=0o077).returncode == 0
    assert [oct(p.stat().st_mode & 0o777) for p in (tmp_path / "a", target.parent, target)] == [
        "0o755",
        "0o755",
        "0o600",
    ]


@needs_root
def test_what_the_state_leaves_unsaid_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    target.chmod(0o640)
    assert put(target, b"new").returncode == 0
    assert target.read_text() == "new" and oct(target.stat().st_mode & 0o777) == "0o640"
    fresh = tmp_path / "g"
    assert put(fresh, b"new", umask=0o077).returncode == 0
    assert oct(fresh.stat().st_mode & 0o777) == "0o644"  # a new file's default


@needs_root
def test_no_temporary_file_is_left_and_none_has_a_predictable_name(tmp_path: Path) -> None:
    (tmp_path / ".f.tendr-new").symlink_to(tmp_path / "elsewhere")
    assert put(tmp_path / "f", b"x").returncode == 0
    assert put(tmp_path / "sub" / "g", b"").returncode == 0
    bad = put(tmp_path / "f" / "under-a-file", b"x")  # the folder is a file: it fails
    assert bad.returncode != 0 and bad.stderr
    names = sorted(p.name for p in tmp_path.rglob("*"))
    assert names == [".f.tendr-new", "f", "g", "sub"]


def test_commands_are_argument_vectors() -> None:
    """A Run travels as arguments to `exec "$@"`; a Put as four arguments and stdin."""
    assert command_for(Run(("systemctl", "start", "--", "a b.service"))) == (
        RUN_SCRIPT,
        ("systemctl", "start", "--", "a b.service"),
        None,
    )
    script, args, stdin = command_for(Put("/etc/x", b"\x00y", "0600", None, "lp"))
    assert (script, args) == (PUT_SCRIPT, ("/etc/x", "0600", "", "lp"))
    assert stdin is not None and base64.b64decode(stdin) == b"\x00y"
    assert command_for(Put("/etc/x", b""))[2] is None


def change(action: Any, *fields: FieldChange) -> Change:
    return Change(kind="file", resource="/etc/x", op="file.write", action=action, fields=fields)


def test_file_steps() -> None:
    """A new file is written whole (empty without content), a content change rewrites it,
    a mode or owner change alone touches only those, in one command that refuses a link."""
    spec = FileSpec(path="/etc/x", mode="0600", owner="lp")
    assert file_steps(spec, change("add"), Context()) == [Put("/etc/x", b"", "0600", "lp")]
    with_content = FileSpec(path="/etc/x", content="c", mode="0600")
    assert file_steps(
        with_content, change("change", FieldChange("content", "a", "b")), Context()
    ) == [Put("/etc/x", b"c", "0600")]
    [only] = file_steps(
        with_content, change("change", FieldChange("mode", "0644", "0600")), Context()
    )
    assert isinstance(only, Run) and only.argv[-3:] == ("/etc/x", "", "0600")
    [owners] = file_steps(spec, change("change", FieldChange("owner", "root", "lp")), Context())
    assert isinstance(owners, Run) and owners.argv[-3:] == ("/etc/x", "lp", "0600")


@needs_root
def test_attribute_change_refuses_a_link(tmp_path: Path) -> None:
    """A link put where the plan saw a regular file is not chmod-ed through."""
    victim = planted_link(tmp_path, "x")
    spec = FileSpec(path=str(tmp_path / "x"), mode="0666")
    [step] = file_steps(spec, change("change", FieldChange("mode", "0600", "0666")), Context())
    assert isinstance(step, Run)
    done = subprocess.run(list(step.argv), capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "no longer a regular file" in done.stderr
    assert oct(victim.stat().st_mode & 0o777) == "0o600"


# -- the workflow, through the local connector ------------------------------------------


def local_workspace(tmp_path: Path, state: str, rules: str = ADMIN_RULES) -> Path:
    return build_tree(
        tmp_path / "ws",
        {
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "states/s.toml": state,
            "rules/roles.toml": rules,
        },
    )


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def start(self, total: int) -> None:
        self.events.append(("start", str(total)))

    def working(self, host: str, what: str) -> None:
        self.events.append(("working", host, what))

    def advance(self, host: str) -> None:
        self.events.append(("advance", host))

    def finished(self, host: str) -> None:
        self.events.append(("finished", host))

    def reading(self, total: int) -> None:
        self.events.append(("reading", str(total)))

    def read(self, host: str) -> None:
        self.events.append(("read", host))


@needs_root
def test_progress_moves_per_change_and_names_it(tmp_path: Path) -> None:
    """Progress knows the total, names each change as the host's one command comes to it
    (read from its marks as they arrive), advances per change, says nothing of a host
    after it finished, then counts the hosts read back."""
    out = tmp_path / "out"
    ws = load(
        local_workspace(
            tmp_path,
            f'hosts = ["all"]\n[[file]]\npath = "{out}/a"\n'
            f'content = "a"\n[[file]]\npath = "{out}/b"\n',
        )
    )
    recorder = Recorder()
    applied = workflow.apply(
        ws, ws.hosts, ME, only_allowed=False, confirm=lambda _plan: None, applying=recorder
    )
    assert applied.ok
    assert recorder.events == [
        ("start", "2"),
        ("working", "here", f"file.write {out}/a"),
        ("advance", "here"),
        ("working", "here", f"file.write {out}/b"),
        ("advance", "here"),
        ("finished", "here"),
        ("reading", "1"),
        ("read", "here"),
    ]


@needs_root
def test_apply_json_has_one_shape(tmp_path: Path) -> None:
    """Applied, nothing to do, or refused: the same keys, so a script reads one shape."""
    out = tmp_path / "out"
    state = f'hosts = ["all"]\n[[file]]\npath = "{out}/a"\ncontent = "a"\n'
    ws = str(local_workspace(tmp_path, state))
    shapes = []
    for _ in range(2):
        code, raw = run_tendr("apply", "-w", ws, "--yes", "--format", "json")
        assert code == 0, raw
        shapes.append(json.loads(raw))
    assert shapes[0]["results"][0]["changes"][0]["outcome"] == "done"
    assert shapes[1]["results"] == [] and shapes[1]["after"]["summary"]["in_sync"] == 1
    helpdesk = f'[roles.h]\nmembers = ["{ME}"]\nallow = [{{ ops = ["plan"], hosts = ["all"] }}]\n'
    refused = str(local_workspace(tmp_path / "r", state.replace("/a", "/r"), helpdesk))
    code, raw = run_tendr("apply", "-w", refused, "--yes", "--format", "json")
    assert code == 1
    data = json.loads(raw)
    assert data["error"].startswith(f"{ME} may not apply every planned change")
    assert data["results"][0]["changes"][0]["outcome"] == "refused"
    for shape in (*shapes, data):
        assert set(shape) == {"plan", "results", "after", "error"}


def test_usage_errors_do_not_exit_with_the_drift_code() -> None:
    """An unknown option or command exits 64, never 2 (plan's code for drift)."""
    for args in (["plan", "--bogus"], ["bogus"], ["rules", "explain"], ["audit-log", "nope"]):
        code, text = run_tendr(*args)
        assert code == 64, (args, text)


def test_a_bug_while_reading_a_host_is_a_bug_not_a_host_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tendr bug during a host's plan exits 3 with its traceback in the debug log (once it
    became that host's error, exit 1); with no writable home, the traceback is on stderr."""

    def broken(*_args: Any) -> Any:
        raise RuntimeError("a bug in parse")

    monkeypatch.setitem(KINDS, "file", replace(KINDS["file"], parse=broken))
    ws = str(local_workspace(tmp_path, f'hosts = ["all"]\n[[file]]\npath = "{tmp_path}/a"\n'))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    code, text = run_tendr("plan", "-w", ws)
    assert code == 3 and "internal error in tendr" in text and "Traceback" not in text
    assert "RuntimeError: a bug in parse" in (tmp_path / "home/.cache/tendr/debug.log").read_text()
    (tmp_path / "nohome").write_text("a file, not a folder")
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    code, text = run_tendr("plan", "-w", ws)
    assert code == 3
    assert "Traceback" in text and "RuntimeError: a bug in parse" in text
    assert "could not be written" in text


def test_a_workspace_lock_held_elsewhere_is_named(tmp_path: Path) -> None:
    """While another process holds the workspace's apply lock, apply is refused and says
    who holds it; nothing is done."""
    out = tmp_path / "out"
    ws_path = local_workspace(tmp_path, f'hosts = ["all"]\n[[file]]\npath = "{out}/a"\n')
    ws = load(ws_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib\nfrom tendr.ops import apply\n"
            "from tendr.workspace import loader as workspace\n"
            f"ws = workspace.load(pathlib.Path({str(ws_path)!r}))\n"
            "with apply.workspace_lock(ws, 'alice'):\n"
            "    print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(
            Exception,
            match="another apply is running in this workspace "
            r"\(alice from .*, pid \d+, since",
        ):
            workflow.apply(ws, ws.hosts, ME, only_allowed=False, confirm=lambda _p: None)
    finally:
        holder.communicate("")
    assert not out.exists()


def test_a_host_speaking_no_ssh_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    """A port that answers with something else than SSH: the installed program says so in
    one line of its own; paramiko's banner traceback never reaches the terminal."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def answer() -> None:
        for _ in range(3):
            try:
                connection, _ = server.accept()
            except OSError:
                return
            connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 50)
            connection.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    ws = build_tree(
        tmp_path / "ws",
        {
            "hosts/c.toml": f'[hosts.web]\naddress = "127.0.0.1"\nport = {port}\nuser = "root"\n',
            "states/s.toml": 'hosts = ["all"]\n[[file]]\npath = "/etc/motd"\n',
            "rules/roles.toml": ADMIN_RULES,
            "known_hosts": "",
        },
    )
    try:
        done = run_program("plan", "-w", str(ws), timeout=60)
    finally:
        server.close()
    assert done.returncode == 1
    assert "web: error: cannot connect" in done.stdout
    assert "Traceback" not in done.stderr and done.stderr.strip() == "", done.stderr


def service_change(op: str, **before: str) -> Change:
    return Change(
        kind="service",
        resource="a.service",
        op=op,
        action="change",
        fields=tuple(FieldChange(k, v, "x") for k, v in before.items()),
    )


def test_service_steps() -> None:
    """Configure writes the unit and drop-ins root's 0644 then reloads systemd; the other
    verbs are one systemctl each; a unit enabled for this boot only is disabled so."""
    from tendr.kinds.service import steps

    spec = ServiceSpec(unit="a.service", content="[Service]\n", dropins={"10-x.conf": "y"})
    assert steps(spec, service_change("service.configure"), Context()) == [
        Put("/etc/systemd/system/a.service", b"[Service]\n", "0644", "root", "root"),
        Put("/etc/systemd/system/a.service.d/10-x.conf", b"y", "0644", "root", "root"),
        Run(("systemctl", "daemon-reload")),
    ]
    for verb in ("start", "stop", "restart"):
        assert steps(spec, service_change(f"service.{verb}"), Context()) == [
            Run(("systemctl", verb, "--", "a.service"))
        ]
    for verb in ("enable", "mask", "unmask"):
        assert steps(spec, service_change(f"service.{verb}"), Context()) == [
            Run(("systemctl", verb, "--quiet", "--", "a.service"))
        ]
    assert steps(spec, service_change("service.disable", enabled="enabled-runtime"), Context()) == [
        Run(("systemctl", "disable", "--quiet", "--runtime", "--", "a.service"))
    ]


def test_package_steps() -> None:
    """Install from the host's lists, refreshing them once only if that fails; remove
    without questions; the name is one argument."""
    from tendr.kinds.package import steps

    spec = PackageSpec(name="hello")
    [install] = steps(
        spec,
        Change(kind="package", resource="hello", op="package.install", action="add"),
        Context(),
    )
    assert isinstance(install, Run) and install.argv[:2] == ("sh", "-c")
    first, _, fallback = install.argv[2].partition(" || ")
    assert first.endswith("install --no-install-recommends --no-remove hello")
    assert "update &&" in fallback and fallback.rstrip("; }").endswith("hello")
    [remove] = steps(
        spec,
        Change(kind="package", resource="hello", op="package.remove", action="remove"),
        Context(),
    )
    # The name travels as an argument: first a simulated removal, then the real one.
    assert isinstance(remove, Run) and remove.argv[:2] == ("sh", "-c")
    assert remove.argv[3:] == ("tendr", "hello")
    assert "apt-get -s remove" in remove.argv[2]
    assert remove.argv[2].endswith('remove "$@"')
    assert "DEBIAN_FRONTEND=noninteractive" in remove.argv[2]


def test_file_removal_step() -> None:
    spec = FileSpec(path="/etc/x", present=False)
    assert file_steps(
        spec, Change(kind="file", resource="/etc/x", op="file.remove", action="remove"), Context()
    ) == [Run(("rm", "-f", "--", "/etc/x"), "remove /etc/x")]


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="ab \n\t$'\"@", max_size=40), st.integers(min_value=0, max_value=3))
def test_a_command_ends_with_its_status_and_exactly_its_output(text: str, status: int) -> None:
    """The end marker gives the exit status and leaves the command's output as it was;
    without the marker (a connection that dropped) there is no end."""
    command = remote_command(
        'printf %s "$1"; exit "$2"', (text, str(status)), sudo=False, nonce="n0nce"
    )
    done = subprocess.run(
        ["sh", "-c", command.get_raw_value()], capture_output=True, text=True, check=False
    )
    lines = [line.rstrip("\n") for line in done.stdout.splitlines(keepends=True)]
    assert ended(lines, "n0nce") == (status, text.splitlines())
    assert ended(lines[:-1], "n0nce") is None
    assert ended(lines, "other") is None


def test_consecutive_package_changes_run_as_one_apt_command() -> None:
    """Installs next to each other in the plan go together (apt resolves them at once);
    a removal, or another kind in between, starts a new command."""
    from tendr.core.plan import HostPlan
    from tendr.ops.execute import queue

    def pkg(name: str, op: str = "package.install") -> Change:
        return Change(kind="package", resource=name, op=op, action="add", allowed=True)

    changes = (
        pkg("hello"),
        pkg("tree"),
        pkg("telnet", "package.remove"),
        Change(kind="file", resource="/etc/x", op="file.write", action="add", allowed=True),
        pkg("cups"),
    )
    specs: dict[tuple[str, str], Any] = {
        ("package", n): PackageSpec(name=n) for n in ("hello", "tree", "telnet", "cups")
    }
    specs[("file", "/etc/x")] = FileSpec(path="/etc/x", content="x")
    work = queue(HostPlan("h", changes), specs, {})
    assert [[c.resource for c in w.changes] for w in work] == [
        ["hello", "tree"],
        ["telnet"],
        ["/etc/x"],
        ["cups"],
    ]
    [install] = work[0].steps
    assert (
        isinstance(install, Run)
        and "install --no-install-recommends --no-remove hello tree" in install.argv[2]
    )


@needs_root
@pytest.mark.parametrize(
    ("owner", "mode", "allowed"),
    [
        (0, 0o755, True),
        (0, 0o1777, True),
        (0, 0o777, False),
        (0, 0o775, False),
        (65534, 0o755, False),
    ],
)
def test_root_writes_only_where_no_other_account_can_swap_names(
    tmp_path: Path, owner: int, mode: int, allowed: bool
) -> None:
    """A folder another account owns or may write (unless sticky) could have a link put
    in mid-write: the write is refused there with the reason, and nothing is written."""
    folder = tmp_path / "f"
    folder.mkdir()
    os.chown(folder, owner, 0)
    folder.chmod(mode)
    done = put(folder / "sub" / "x", b"data")
    assert (done.returncode == 0) is allowed, done.stderr
    if not allowed:
        assert f"{folder} can be changed by an account other than root" in done.stderr.decode()
        assert not (folder / "sub").exists()


@needs_root
def test_a_folder_that_is_a_link_is_not_written_through(tmp_path: Path) -> None:
    """A rule on paths is decided on the path as declared: a folder on it that is a link
    (/bin -> usr/bin on Debian) would land the file elsewhere, so the write is refused."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    done = put(tmp_path / "alias" / "x", b"data")
    assert done.returncode != 0
    assert f"{tmp_path / 'alias'} is a symbolic link" in done.stderr.decode()
    assert not (real / "x").exists()


@needs_root
def test_a_change_in_place_is_refused_in_a_sticky_folder(tmp_path: Path) -> None:
    """In a sticky folder (/tmp) a file's owner may swap it for a link between tendr's check
    and its chmod: a mode change there is refused; a whole new file is not."""
    folder = tmp_path / "drop"
    folder.mkdir()
    folder.chmod(0o1777)
    (folder / "x").write_text("x")
    spec = FileSpec(path=str(folder / "x"), mode="0600")
    [step] = file_steps(spec, change("change", FieldChange("mode", "0644", "0600")), Context())
    assert isinstance(step, Run)
    done = subprocess.run(list(step.argv), capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "can be changed by an account other than root" in done.stderr
    assert put(folder / "y", b"y").returncode == 0


def test_an_owner_change_alone_is_made() -> None:
    """Only the owner differs (no mode in the state): one command changes just that."""
    spec = FileSpec(path="/etc/x", owner="lp")
    [step] = file_steps(spec, change("change", FieldChange("owner", "root", "lp")), Context())
    assert isinstance(step, Run) and step.argv[-3:] == ("/etc/x", "lp", "")


# -- one command per host: what became of each change ----------------------------------


def _change(index: int) -> Change:
    return Change(kind="file", resource=f"/etc/t{index}", op="file.write", action="add")


def _work(index: int, size: int, needs: tuple[int, ...] = ()) -> Work:
    return Work((_change(index),), tuple(Run(("true",)) for _ in range(size)), needs)


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Work], list[int | None]]:
    """Groups of 1-3 steps, each needing some earlier groups, and how each would go if
    run: None succeeds, K fails at its step K (status 1, or 124 for its time)."""
    count = draw(st.integers(min_value=1, max_value=7))
    groups: list[Work] = []
    fates: list[int | None] = []
    for i in range(count):
        size = draw(st.integers(min_value=1, max_value=3))
        needs = draw(st.sets(st.integers(min_value=0, max_value=i - 1), max_size=i)) if i else set()
        groups.append(_work(i, size, tuple(sorted(needs))))
        fates.append(draw(st.one_of(st.none(), st.integers(min_value=0, max_value=size - 1))))
    return groups, fates


def run_batch(groups: list[Work], fates: list[int | None], failing: int) -> dict[int, int]:
    """The statuses the batch script marks (as tendr/ops/execute.py writes it): a group
    runs when every group it needs ran whole, up to its first failing step."""
    statuses: dict[int, int] = {}
    whole: list[bool] = []
    first = 0
    for group, fate in zip(groups, fates, strict=True):
        runs = all(whole[n] for n in group.needs)
        for k in range(len(group.steps) if runs else 0):
            statuses[first + k] = failing if k == fate else 0
            if k == fate:
                break
        whole.append(runs and fate is None)
        first += len(group.steps)
    return statuses


def _needs_all(groups: list[Work], index: int) -> set[int]:
    found: set[int] = set()
    todo = list(groups[index].needs)
    while todo:
        if (n := todo.pop()) not in found:
            found.add(n)
            todo.extend(groups[n].needs)
    return found


@settings(max_examples=300, deadline=None)
@given(batches(), st.sampled_from([1, 124]))
def test_a_change_is_not_run_exactly_when_one_it_needs_did_not_succeed(
    batch: tuple[list[Work], list[int | None]], failing: int
) -> None:
    """With the script run to its end: a group is not run iff a group it needs, directly
    or not, did not succeed, and its reason names a change that failed on the way;
    otherwise it is done when it ran whole, failed (or interrupted, by its time) where
    a step failed. Nothing else stops it."""
    groups, fates = batch
    found = outcomes(groups, run_batch(groups, fates, failing), {}, unknown="lost", timeout=5)
    kinds = [outcome for _, outcome, _ in found]
    for i, (_, outcome, reason) in enumerate(found):
        upstream = _needs_all(groups, i)
        if any(kinds[n] != "done" for n in upstream):
            assert outcome == "skipped"
            assert reason.startswith("waits on file.write /etc/t") and "which" in reason
            named = int(reason.split("/etc/t")[1].split(",")[0])
            assert named in upstream and kinds[named] in ("failed", "interrupted")
        elif fates[i] is None:
            assert outcome == "done"
        else:
            assert outcome == ("failed" if failing == 1 else "interrupted")


@settings(max_examples=300, deadline=None)
@given(batches(), st.integers(min_value=0, max_value=25), st.booleans())
def test_an_interruption_stops_what_came_after(
    batch: tuple[list[Work], list[int | None]], cut: int, asked: bool
) -> None:
    """The script stopped after `cut` marks (a signal, a lost connection): what finished
    resolves as before; the first group it had not finished, that was not waiting on a
    failure, is interrupted, and every group after it not run for that reason. The host
    not asked at all: everything is interrupted."""
    groups, fates = batch
    whole = run_batch(groups, fates, 1)  # in the order the script marks them
    known = dict(list(whole.items())[:cut]) if asked else None
    found = outcomes(groups, known, {}, unknown="lost", timeout=5)
    assert [changes for changes, _, _ in found] == [g.changes for g in groups]
    if known is None:
        assert {outcome for _, outcome, _ in found} == {"interrupted"}
        return
    complete = outcomes(groups, whole, {}, unknown="lost", timeout=5)
    assert "interrupted" not in [outcome for _, outcome, _ in complete]
    stopped = next((i for i, (_, o, _) in enumerate(found) if o == "interrupted"), len(groups))
    assert found[:stopped] == complete[:stopped]
    if stopped < len(groups):
        assert cut < len(whole)
        assert found[stopped][2] == "lost: the change may or may not have been made"
        assert all(rest[1:] == ("skipped", "lost") for rest in found[stopped + 1 :])


def test_progress_follows_the_marks_as_they_arrive() -> None:
    """Each mark settles what it finished, the groups not run for a failure they wait on
    with it, and names the next group the batch comes to; a forged or repeated mark, or
    another batch's, moves nothing."""
    groups = [
        _work(0, 2),
        _work(1, 1),
        _work(2, 1, needs=(1,)),
        _work(3, 1, needs=(2,)),
        Work((_change(4), _change(5)), (Run(("true",)),)),
    ]
    assert reached(groups, {}) == (0, 0)
    assert reached(groups, {0: 0}) == (0, 0)
    assert reached(groups, {0: 0, 1: 0}) == (1, 1)
    assert reached(groups, {0: 0, 1: 0, 2: 1}) == (4, 4)
    assert reached(groups, {0: 0, 1: 0, 2: 1, 5: 0}) == (5, None)
    recorder = Recorder()
    watch = Watch("h", groups, "n0nce", recorder)
    watch.follow()
    for line in [
        "[h] @tendr-step n0nce 0 0",
        "[h] @tendr-step forged 1 0",
        "[h] @tendr-step n0nce 1 0",
        "[h] @tendr-step n0nce 1 0",
        "[h] apt says @tendr-step n0nce 2 0 in the middle",
        "[h] @tendr-step n0nce 2 1",
        "[h] @tendr-step n0nce 5 0",
    ]:
        watch.line(line)
    assert recorder.events == [
        ("working", "h", "file.write /etc/t0"),
        ("advance", "h"),
        ("working", "h", "file.write /etc/t1"),
        *[("advance", "h")] * 3,
        ("working", "h", "file.write /etc/t4, /etc/t5"),
        *[("advance", "h")] * 2,
    ]
    assert watch.advanced == 6


def test_a_step_stopped_by_its_time_is_interrupted_and_its_error_is_its_own() -> None:
    groups = [
        _work(0, 1),
        Work((_change(1), _change(2)), (Run(("true",)), Run(("true",)))),
        _work(3, 1, needs=(1,)),
        _work(4, 1),
    ]
    nonce = "n0nce"
    stderr = [
        "apt says hello",
        f"@tendr-step {nonce} 0 0",
        "",
        "first line",
        "mv: cannot move",
        f"@tendr-step {nonce} 1 0",
        f"@tendr-step {nonce} 2 1",
        f"@tendr-step {nonce} 4 0",
        "@tendr-step forged 3 0",
    ]
    statuses = step_statuses([line for line in stderr if "tendr-step" in line], nonce)
    assert statuses == {0: 0, 1: 0, 2: 1, 4: 0}
    errors = step_errors(stderr, nonce)
    assert errors[0] == ["apt says hello"] and errors[1] == ["first line", "mv: cannot move"]
    found = outcomes(groups, statuses, errors, unknown="lost", timeout=5)
    assert [(o, r) for _, o, r in found] == [
        ("done", ""),
        ("failed", "the command failed (exit status 1) with no error output"),
        ("skipped", "waits on file.write /etc/t1, /etc/t2, which failed"),
        ("done", ""),
    ]
    timed = outcomes(groups, {0: 124}, {}, unknown="lost", timeout=5)
    assert timed[0][1] == "interrupted" and "timed out after 5 s" in timed[0][2]
    killed = outcomes(groups, {0: 137}, {}, unknown="lost", timeout=5)
    assert killed[0][1] == "interrupted" and "killed (exit status 137" in killed[0][2]
    assert step_statuses(["0 0", "1 124", "junk"]) == {0: 0, 1: 124}  # the kept file


@needs_root
def test_one_script_makes_every_step_and_skips_only_what_waits_on_a_failure(
    tmp_path: Path, host_lock_dir: str
) -> None:
    """The batch as a host runs it (here: this machine, as root, under a lock of its own
    making): every step's status marked, content written byte for byte; a failing step
    ends its group, the groups needing it (directly or not) do not run, the others do;
    it says it ran to its end and releases the lock it ran under."""
    out = tmp_path / "out"
    groups: list[list[Run | Put]] = [
        [Put(str(out / "a"), b"\x00one'\n", "0600", None, None)],
        [Run(("sh", "-c", "echo oops >&2; exit 3")), Run(("touch", str(out / "never0")))],
        [Put(str(out / "never1"), b"never", None, None, None)],
        [Put(str(out / "never2"), b"never", None, None, None)],
        [Put(str(out / "c"), b"independent", None, None, None)],
    ]
    holder = f"test {os.getpid()}"
    subprocess.run(["sh", "-c", lock_script(host_lock_dir), "tendr", holder], check=True)
    assert (Path(host_lock_dir) / "apply.lock/holder").read_text() == f"{holder}\n"
    script = batch_script(
        groups,
        needs=[(), (0,), (1,), (2,), (0,)],
        timeout=30,
        nonce="abc",
        holder=holder,
        folder=host_lock_dir,
    )
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert step_statuses(done.stdout.splitlines(), "abc") == {0: 0, 1: 3, 5: 0}
    assert ran_to_end(done.stdout.splitlines(), "abc")
    assert step_errors(done.stderr.splitlines(), "abc")[1] == ["oops"]
    assert (out / "a").read_bytes() == b"\x00one'\n" and (out / "a").stat().st_mode & 0o777 == 0o600
    assert (out / "c").read_bytes() == b"independent"
    assert sorted(p.name for p in out.iterdir()) == ["a", "c"]
    assert not (Path(host_lock_dir) / "apply.lock").exists()


def _running(word: str) -> bool:
    """Some process of this machine has `word` among its arguments."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with suppress(OSError):
            if word.encode() in cmdline.read_bytes().split(b"\0"):
                return True
    return False


@needs_root
def test_unlock_stops_the_batch_and_the_step_underway(tmp_path: Path, host_lock_dir: str) -> None:
    """Released while a batch runs (an interrupted or lost apply): the batch and the step
    it is making are stopped before the lock is freed, nothing after it runs, and what it
    finished is said (once the step ran on after the lock was gone)."""
    after = tmp_path / "after"
    word = f"299.{os.getpid()}"  # this run's sleep: another test run may be sleeping too
    steps: list[Run | Put] = [
        Run(("true",)),
        Run(("sleep", word)),
        Run(("touch", str(after))),
    ]
    holder = f"test {os.getpid()}"
    lock = Path(host_lock_dir) / "apply.lock"
    subprocess.run(["sh", "-c", lock_script(host_lock_dir), "tendr", holder], check=True)
    script = batch_script(
        [[step] for step in steps],
        needs=[(), (0,), (1,)],
        timeout=600,
        nonce="abc",
        holder=holder,
        folder=host_lock_dir,
    )
    batch = subprocess.Popen(["sh", "-c", script], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if _running(word):
                break
            time.sleep(0.1)
        assert _running(word)
        unlock = subprocess.run(
            ["sh", "-c", unlock_script(host_lock_dir), "tendr", holder],
            capture_output=True,
            text=True,
        )
        assert unlock.stdout.splitlines()[0] == "held"
        assert step_statuses(unlock.stdout.splitlines()) == {0: 0}
        assert batch.wait(timeout=10) != 0
        assert not _running(word)
        assert not after.exists() and not lock.exists()
        # Asked again, the lock is no longer this holder's: nothing is claimed.
        again = subprocess.run(
            ["sh", "-c", unlock_script(host_lock_dir), "tendr", holder],
            capture_output=True,
            text=True,
        )
        assert again.stdout == ""
    finally:
        batch.kill()
        subprocess.run(["rm", "-rf", str(lock)], check=False)


def test_only_this_machines_lock_may_be_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    """TENDR_LOCK_DIR moves the lock of the local connector alone: a client host's stays
    root's /run/tendr whatever the controller's environment says; a relative folder is
    refused, never resolved against wherever tendr was started."""
    monkeypatch.setenv(LOCK_DIR_VARIABLE, "/tmp/elsewhere/")
    assert lock_dir(local=True) == "/tmp/elsewhere"
    assert lock_dir(local=False) == LOCK_DIR == "/run/tendr"
    monkeypatch.setenv(LOCK_DIR_VARIABLE, "")
    assert lock_dir(local=True) == LOCK_DIR
    monkeypatch.delenv(LOCK_DIR_VARIABLE)
    assert lock_dir(local=True) == LOCK_DIR
    monkeypatch.setenv(LOCK_DIR_VARIABLE, "run/tendr")
    with pytest.raises(TendrError, match="TENDR_LOCK_DIR must be an absolute path"):
        lock_dir(local=True)
    monkeypatch.setenv(LOCK_DIR_VARIABLE, "/tmp/a b'c")  # quoted where the scripts name it
    assert "lockdir='/tmp/a b'\"'\"'c'" in lock_script(lock_dir(local=True))


@needs_root
def test_a_local_apply_takes_this_machines_lock_where_it_is_told(
    tmp_path: Path, host_lock_dir: str
) -> None:
    """The local connector's lock is in TENDR_LOCK_DIR (each test's own): held there by
    another apply, the apply is refused, naming that folder; freed, it runs."""
    out = tmp_path / "out"
    ws = load(local_workspace(tmp_path, f'hosts = ["all"]\n[[file]]\npath = "{out}/a"\n'))
    other = "alice from elsewhere/0, pid 1, since then"
    subprocess.run(["sh", "-c", lock_script(host_lock_dir), "tendr", other], check=True)
    [refused] = workflow.apply(ws, ws.hosts, ME, only_allowed=False, confirm=lambda _: None).results
    assert refused.error is not None and f"remove {host_lock_dir}/apply.lock" in refused.error
    assert not out.exists()
    subprocess.run(["sh", "-c", unlock_script(host_lock_dir), "tendr", other], check=True)
    [done] = workflow.apply(ws, ws.hosts, ME, only_allowed=False, confirm=lambda _: None).results
    assert done.error is None and (out / "a").exists()
    assert not (Path(host_lock_dir) / "apply.lock").exists()
