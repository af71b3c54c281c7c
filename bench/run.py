"""Benchmark: audit (or apply) one desired state on 1, 5 and 20 test hosts with three tools.

    tendr plan                         (a generated workspace; exit code 2, drift, is expected)
    ansible-playbook --check --diff    (bench/desired/playbook.yml)
    pyinfra INVENTORY deploy.py --dry  (bench/desired/deploy.py; no -y, which skips detection)

With --mode apply each tool makes the changes instead (tendr apply --yes, ansible-playbook
without --check, pyinfra -y), every run on hosts reset to the base image first. With
--mode reapply each tool's apply runs once untimed on reset hosts, then the timed run is
its second apply, which has nothing to do.

Per tool and host count: wall time (median and best of --repeat runs), peak memory (the
sampled sum of RSS over the tool's process tree, and the largest single process's max RSS
from wait4), and per host the SSH sessions each run started, read from each host's sshd
journal (sshd logs at LogLevel VERBOSE). Run as root from the repository root:

    python3 bench/run.py [--hosts 1,5,20] [--repeat 3] [--tools tendr,pyinfra,ansible] [--keep]

Boots the test fleet (tests/fleet) for the largest count, tears it down at the end (unless
--keep), prints a table to stdout and writes bench/results/latest.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fleet.fleet import Fleet  # noqa: E402
from tests.fleet.host import Host  # noqa: E402

DESIRED = BENCH / "desired"
RESULTS = BENCH / "results"
TOOLS = ("tendr", "pyinfra", "ansible")
EXPECTED_EXIT = {
    "plan": {"tendr": 2, "pyinfra": 0, "ansible": 0},
    "apply": {"tendr": 0, "pyinfra": 0, "ansible": 0},
    "reapply": {"tendr": 0, "pyinfra": 0, "ansible": 0},
}
SAMPLE_INTERVAL = 0.1  # seconds between samples of the process tree's memory
RUN_TIMEOUT = 1800.0
MIB = 2**20


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def executable(name: str) -> str:
    """The tool's real entry point beside this Python (not a pyenv shim, whose bash
    wrapper would add to every run), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"bench: {name} not found (see bench/README.md for how to install it)")
    return found


# -- the SSH sessions each run starts, from the hosts' sshd journals --------------------

SESSION = re.compile(r"Starting session: (.+?) for \S+ from \S+ port (\d+)")
ACCEPTED = re.compile(r"Accepted \S+ for \S+ from \S+ port (\d+)")
CURSOR_PREFIX = "-- cursor: "
SELF_PREFIX = "@self "


@dataclass
class Sessions:
    """SSH activity on one host between two journal marks."""

    commands: int = 0  # exec requests, with or without a pty
    pty_commands: int = 0  # of these, the ones with a pty ("command on pts/N")
    other: dict[str, int] = field(default_factory=dict)  # "subsystem 'sftp'", "shell" ...
    connections: int = 0


class FleetLost(RuntimeError):
    """The fleet went away or changed under the benchmark (e.g. a pytest run booted its own)."""


class Journals:
    """Reads each host's sshd journal over ssh; the reading sessions are left out by port."""

    def __init__(self, hosts: Sequence[Host]) -> None:
        self.hosts = list(hosts)
        self.cursor: dict[str, str | None] = {h.name: None for h in hosts}
        self.own_ports: dict[str, set[str]] = {h.name: set() for h in hosts}

    def _read(self, host: Host) -> list[str]:
        after = self.cursor[host.name]
        script = "journalctl -u ssh.service --no-pager -o short-unix --show-cursor -q"
        script += f" --after-cursor='{after}'" if after else " -n 1"
        script += '; echo "@self $SSH_CLIENT"'
        result = host.run(script, timeout=60)
        if result.returncode != 0:
            raise FleetLost(
                f"{host.name}: reading the sshd journal failed: {result.stderr.strip()}"
            )
        lines = result.stdout.splitlines()
        for line in lines:
            if line.startswith(CURSOR_PREFIX):
                self.cursor[host.name] = line.removeprefix(CURSOR_PREFIX).strip()
            elif line.startswith(SELF_PREFIX):
                self.own_ports[host.name].add(line.split()[2])
        return lines

    def _count(self, host: Host) -> Sessions:
        found = Sessions()
        own = self.own_ports[host.name]
        for line in self._read(host):
            if (m := ACCEPTED.search(line)) and m.group(1) not in own:
                found.connections += 1
            elif (m := SESSION.search(line)) and m.group(2) not in own:
                kind = m.group(1)
                if kind == "command" or kind.startswith("command on "):
                    found.commands += 1
                    found.pty_commands += kind != "command"
                else:
                    found.other[kind] = found.other.get(kind, 0) + 1
        return found

    def forget(self) -> None:
        """The hosts were reset: their journals start anew."""
        self.cursor = {h.name: None for h in self.hosts}
        self.own_ports = {h.name: set() for h in self.hosts}

    def mark(self) -> None:
        """Remember where each journal ends now."""
        with ThreadPoolExecutor(max_workers=len(self.hosts)) as pool:
            list(pool.map(self._read, self.hosts))

    def since_mark(self) -> dict[str, Sessions]:
        """Sessions on each host since the last mark (and move the mark)."""
        time.sleep(0.5)  # let journald take in the last lines sshd sent
        with ThreadPoolExecutor(max_workers=len(self.hosts)) as pool:
            counts = list(pool.map(self._count, self.hosts))
        return {h.name: c for h, c in zip(self.hosts, counts, strict=True)}


# -- running one tool, timing it and sampling its memory --------------------------------


@dataclass
class Measured:
    wall_s: float
    exit_code: int
    tree_peak_rss_mib: float  # sampled sum of RSS over the process tree
    max_rss_mib: float  # largest single process of the tree (wait4 ru_maxrss)


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(argv: Sequence[str], cwd: Path, env: dict[str, str], output: Path) -> Measured:
    """Run argv to completion: wall time from start to reaping, memory sampled in a thread."""
    peak = 0
    done = threading.Event()
    with output.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        root = psutil.Process(proc.pid)

        def sample() -> None:
            nonlocal peak
            while not done.wait(SAMPLE_INTERVAL if peak else 0.01):
                peak = max(peak, _tree_rss(root))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timer = threading.Timer(RUN_TIMEOUT, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Measured(wall, proc.returncode, peak / MIB, usage.ru_maxrss * 1024 / MIB)


# -- the three tools --------------------------------------------------------------------


@dataclass
class Prepared:
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    after: Callable[[], None] = lambda: None  # cleanup after each run
    before: Callable[[], None] = lambda: None  # setup before each run (untimed)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PYINFRA_"))}
    env.update({"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "120"}, **extra)
    return env


def prepare_tendr(work: Path, fleet: Fleet, hosts: Sequence[Host], mode: str) -> Prepared:
    fleet.write_workspace(work, hosts)
    (work / "tendr.toml").write_text(
        f'known_hosts = "known_hosts"\nparallel = {len(hosts)}   # all hosts at once\n'
    )
    for folder, name, source in (
        ("states", "bench.toml", "tendr-state.toml"),
        ("rules", "roles.toml", "tendr-roles.toml"),
    ):
        (work / folder).mkdir(mode=0o755, exist_ok=True)
        target = work / folder / name
        shutil.copyfile(DESIRED / source, target)
        target.chmod(0o644)  # tendr refuses rules others may write to
    argv = (
        [executable("tendr"), "plan", "-w", str(work)]
        if mode == "plan"
        else [executable("tendr"), "apply", "--yes", "-w", str(work)]
    )
    return Prepared(argv, work, _env())


def prepare_pyinfra(work: Path, _fleet: Fleet, hosts: Sequence[Host], mode: str) -> Prepared:
    inventory = [h.pyinfra_host() for h in hosts]
    (work / "inventory.py").write_text(
        "# written by bench/run.py: the test fleet's hosts, host keys checked strictly\n"
        f"fleet = {inventory!r}\n"
    )
    shutil.copyfile(DESIRED / "deploy.py", work / "deploy.py")
    argv = [
        executable("pyinfra"),
        "inventory.py",
        "deploy.py",
        "--dry" if mode == "plan" else "-y",
        "--parallel",
        str(len(hosts)),
    ]
    return Prepared(argv, work, _env())


def prepare_ansible(work: Path, fleet: Fleet, hosts: Sequence[Host], mode: str) -> Prepared:
    key, known = fleet.key_path, fleet.known_hosts_path
    lines = ["[fleet]"]
    lines += [f"{h.name} ansible_host={h.address} ansible_port={h.port}" for h in hosts]
    lines += [
        "",
        "[fleet:vars]",
        "ansible_user=root",
        f"ansible_ssh_private_key_file={key}",
        f"ansible_ssh_common_args='-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes'",
        "ansible_python_interpreter=/usr/bin/python3",
    ]
    (work / "inventory.ini").write_text("\n".join(lines) + "\n")
    (work / "ansible.cfg").write_text(
        f"[defaults]\nforks = {len(hosts)}\nhost_key_checking = True\nretry_files_enabled = False\n"
    )
    shutil.copyfile(DESIRED / "playbook.yml", work / "playbook.yml")
    control = work / "cp"  # ssh ControlPersist masters: fresh per run, closed after it

    def before() -> None:
        shutil.rmtree(control, ignore_errors=True)
        control.mkdir()

    def after() -> None:
        for socket in control.iterdir():
            subprocess.run(
                ["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "bench"],
                capture_output=True,
                check=False,
                timeout=30,
            )
        shutil.rmtree(control, ignore_errors=True)

    env = _env(
        ANSIBLE_CONFIG=str(work / "ansible.cfg"),
        ANSIBLE_HOST_KEY_CHECKING="True",
        ANSIBLE_SSH_CONTROL_PATH_DIR=str(control),
        ANSIBLE_NOCOLOR="1",
    )
    argv = [
        executable("ansible-playbook"),
        "-i",
        "inventory.ini",
        "playbook.yml",
        *(["--check", "--diff"] if mode == "plan" else []),
        "--forks",
        str(len(hosts)),
    ]
    return Prepared(argv, work, env, after=after, before=before)


PREPARE = {"tendr": prepare_tendr, "pyinfra": prepare_pyinfra, "ansible": prepare_ansible}


def changes_reported(tool: str, output: str) -> int | None:
    """The number of changes the tool reported over all hosts (a check that every run saw
    the same drift), or None where its output does not say."""
    if tool == "tendr" and (m := re.search(r"Applied: (\d+) done", output)):
        return int(m.group(1))
    if tool == "tendr":
        m = re.search(r"Plan: (\d+) to add, (\d+) to change, (\d+) to remove", output)
        return sum(int(g) for g in m.groups()) if m else None
    if tool == "ansible":
        found = re.findall(r"\schanged=(\d+)", output)
        return sum(int(n) for n in found) if found else None
    section = output.partition("Detected changes:")[2].partition("Detected changes may")[0]
    return sum(int(n) for n in re.findall(r"\s(\d+) \(", section)) if section else None


# -- the benchmark ----------------------------------------------------------------------


@dataclass
class RunResult:
    tool: str
    hosts: int
    repeat: int
    wall_s: float
    exit_code: int
    ok: bool
    tree_peak_rss_mib: float
    max_rss_mib: float
    commands_per_host: float
    pty_commands_per_host: float
    other_sessions_per_host: dict[str, float]
    connections_per_host: float
    commands_by_host: dict[str, int]
    changes_reported: int | None
    log: str


def per_host(sessions: dict[str, Sessions]) -> dict[str, float]:
    """Each kind of SSH activity, averaged over the hosts."""
    n = len(sessions)
    found: dict[str, float] = {}
    for s in sessions.values():
        for kind, count in (
            ("commands", s.commands),
            ("pty_commands", s.pty_commands),
            ("connections", s.connections),
            *s.other.items(),
        ):
            found[kind] = found.get(kind, 0) + count
    return {kind: round(total / n, 2) for kind, total in found.items()}


def run_once(
    tool: str,
    prepared: Prepared,
    journals: Journals,
    n: int,
    repeat: int,
    logs: Path,
    mode: str = "plan",
    reset: Callable[[], None] | None = None,
) -> RunResult:
    output = logs / f"{tool}-{n:02d}-{repeat}.log"
    if reset is not None:  # apply changes the hosts: every run starts from the base image
        reset()
        journals.forget()
    prepared.before()
    journals.mark()
    m = measure(prepared.argv, prepared.cwd, prepared.env, output)
    prepared.after()
    if running := fleet_pytests():
        raise FleetLost(
            f"pytest started during the run and may have replaced the fleet ({running[0]})"
        )
    sessions = journals.since_mark()
    avg = per_host(sessions)
    commands = avg.pop("commands")
    ok = m.exit_code == EXPECTED_EXIT[mode][tool]
    text = output.read_text(errors="replace")
    result = RunResult(
        tool,
        n,
        repeat,
        round(m.wall_s, 3),
        m.exit_code,
        ok,
        round(m.tree_peak_rss_mib, 1),
        round(m.max_rss_mib, 1),
        commands,
        avg.pop("pty_commands"),
        avg,
        avg.pop("connections"),
        {name: s.commands for name, s in sessions.items()},
        changes_reported(tool, text),
        str(output.relative_to(BENCH)),
    )
    log(
        f"{tool:8} {n:2} host(s) run {repeat}: {m.wall_s:7.2f} s, exit {m.exit_code}"
        f"{'' if ok else ' (UNEXPECTED, see ' + str(output) + ')'}, "
        f"{commands:.1f} commands/host, tree peak {m.tree_peak_rss_mib:.0f} MiB"
    )
    return result


@dataclass
class Summary:
    tool: str
    hosts: int
    runs: int
    failed_runs: int
    wall_median_s: float
    wall_best_s: float
    wall_all_s: list[float]
    tree_peak_rss_mib: float  # the highest over the runs
    max_rss_mib: float  # the highest over the runs
    commands_per_host: float  # this and the rest: median over the runs
    pty_commands_per_host: float
    other_sessions_per_host: dict[str, float]
    connections_per_host: float
    changes_reported: list[int | None]  # per run, in the tool's own unit


def summarize(tool: str, n: int, runs: Sequence[RunResult]) -> Summary:
    walls = [r.wall_s for r in runs]
    kinds = {k for r in runs for k in r.other_sessions_per_host}
    other = {
        k: statistics.median(r.other_sessions_per_host.get(k, 0) for r in runs)
        for k in sorted(kinds)
    }
    return Summary(
        tool,
        n,
        len(runs),
        sum(not r.ok for r in runs),
        round(statistics.median(walls), 3),
        min(walls),
        walls,
        max(r.tree_peak_rss_mib for r in runs),
        max(r.max_rss_mib for r in runs),
        statistics.median(r.commands_per_host for r in runs),
        statistics.median(r.pty_commands_per_host for r in runs),
        other,
        statistics.median(r.connections_per_host for r in runs),
        [r.changes_reported for r in runs],
    )


def ratios(summaries: Sequence[Summary]) -> dict[str, dict[str, float]]:
    """other tool's wall time / tendr's, per host count, from medians and from bests."""
    by = {(s.tool, s.hosts): s for s in summaries}
    found: dict[str, dict[str, float]] = {}
    for (tool, n), s in sorted(by.items()):
        base = by.get(("tendr", n))
        if tool == "tendr" or base is None:
            continue
        found[f"{tool}/tendr@{n}"] = {
            "median": round(s.wall_median_s / base.wall_median_s, 2),
            "best": round(s.wall_best_s / base.wall_best_s, 2),
        }
    return found


def table(summaries: Sequence[Summary], found_ratios: dict[str, dict[str, float]]) -> str:
    head = (
        f"{'tool':8} {'hosts':>5} {'wall med s':>10} {'wall best s':>11} "
        f"{'tree MiB':>8} {'maxRSS MiB':>10} {'cmds/host':>9} {'conn/host':>9} "
        f"{'failed':>6}  other sessions/host"
    )
    rows = [head, "-" * (len(head) + 12)]
    for s in sorted(summaries, key=lambda s: (s.hosts, TOOLS.index(s.tool))):
        other = ", ".join(f"{k}: {v:.1f}" for k, v in s.other_sessions_per_host.items()) or "-"
        rows.append(
            f"{s.tool:8} {s.hosts:5} {s.wall_median_s:10.2f} {s.wall_best_s:11.2f} "
            f"{s.tree_peak_rss_mib:8.0f} {s.max_rss_mib:10.0f} {s.commands_per_host:9.1f} "
            f"{s.connections_per_host:9.1f} {s.failed_runs:6}  {other}"
        )
    rows.append("")
    rows.append("wall time ratios (other tool / tendr), median [best]:")
    rows += [f"  {k:18} {v['median']:6.2f}x  [{v['best']:.2f}x]" for k, v in found_ratios.items()]
    return "\n".join(rows)


# -- setup: the fleet, Ansible's prerequisite, other users of the fleet -----------------


def _may_use_fleet(argv: Sequence[str]) -> bool:
    """Whether a pytest command line may boot or tear down the fleet: not with
    --noconftest or -m 'not fleet', nor when it names only test files whose names do not
    say fleet (the fleet's tests are tests/test_*fleet*.py)."""
    words = " ".join(argv)
    if "--noconftest" in words or "not fleet" in words:
        return False
    files = [a for a in argv if a.endswith(".py") or ".py::" in a]
    named = [a for a in argv if "test" in a and not a.startswith("-") and "pytest" not in a]
    return not files or len(files) < len(named) or any("fleet" in f for f in files)


def fleet_pytests() -> list[str]:
    """pytest runs that may boot or tear down the fleet."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        argv = proc.info["cmdline"] or []
        if proc.info["pid"] == os.getpid() or not any("pytest" in a for a in argv):
            continue
        if _may_use_fleet(argv):
            found.append(f"{proc.info['pid']}: {' '.join(argv)}")
    return found


def wait_for_pytest(limit: float) -> None:
    deadline = time.monotonic() + limit
    while running := fleet_pytests():
        if time.monotonic() > deadline:
            raise SystemExit(
                "bench: pytest still running (it may use the fleet): " + "; ".join(running)
            )
        log(f"waiting: pytest may be using the test fleet ({running[0]})")
        time.sleep(15)


APT_PYTHON = (
    "export DEBIAN_FRONTEND=noninteractive; dpkg-query -W -f='${Status}' python3-apt 2>/dev/null"
    " | grep -q 'ok installed' && exit 0; "
    "apt-get install -y -qq --no-install-recommends python3-apt >/dev/null 2>&1 || "
    "{ apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-apt; }"
)


def ansible_prerequisite(hosts: Sequence[Host]) -> None:
    """Ansible's apt module refuses check mode without python3-apt on the host (tendr and
    pyinfra need nothing): install it before measuring. It is not part of the desired
    state, so every tool still sees the same drift."""
    log(f"installing python3-apt on {len(hosts)} host(s) for Ansible's apt module (untimed)")
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        results = list(pool.map(lambda h: h.run(APT_PYTHON, timeout=600), hosts))
    for h, r in zip(hosts, results, strict=True):
        if r.returncode != 0:
            raise SystemExit(f"bench: {h.name}: installing python3-apt failed: {r.stderr}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--hosts", default="1,5,20", help="host counts (default 1,5,20)")
    p.add_argument("--repeat", type=int, default=3, help="runs per tool and count (default 3)")
    p.add_argument("--tools", default=",".join(TOOLS), help="default tendr,pyinfra,ansible")
    p.add_argument("--keep", action="store_true", help="leave the fleet up at the end")
    p.add_argument(
        "--mode",
        choices=("plan", "apply", "reapply"),
        default="plan",
        help="audit the drift (default), make the changes from fresh hosts, or apply again "
        "where they are made",
    )
    p.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    p.add_argument(
        "--wait-pytest",
        type=float,
        default=1800,
        help="seconds to wait for a running pytest that may use the fleet",
    )
    args = p.parse_args(argv)
    args.host_counts = sorted({int(n) for n in args.hosts.split(",")})
    args.tool_list = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(args.tool_list) - set(TOOLS)
    if unknown or not args.tool_list:
        p.error(f"--tools: choose from {', '.join(TOOLS)}")
    if args.repeat < 1 or not args.host_counts or min(args.host_counts) < 1:
        p.error("--repeat and --hosts must be positive")
    return args


def versions(tools: Sequence[str]) -> dict[str, str]:
    commands = {
        "tendr": ["tendr", "--version"],
        "pyinfra": ["pyinfra", "--version"],
        "ansible": ["ansible-playbook", "--version"],
    }
    found = {"python": platform.python_version()}
    for tool in tools:
        argv = [executable(commands[tool][0]), *commands[tool][1:]]
        r = subprocess.run(argv, capture_output=True, text=True, check=False)
        found[tool] = (
            (r.stdout or r.stderr).strip().splitlines()[0]
            if (r.stdout or r.stderr)
            else f"exit {r.returncode}"
        )
    return found


def boot(fleet: Fleet, size: int, tools: Sequence[str], wait: float) -> None:
    wait_for_pytest(wait)
    log(f"booting {size} test host(s)")
    started = time.monotonic()
    fleet.up(size)
    log(f"{size} host(s) answer SSH after {time.monotonic() - started:.1f} s")
    if "ansible" in tools:
        ansible_prerequisite(fleet.hosts)


def runs_for(args: argparse.Namespace, fleet: Fleet, n: int, work: Path) -> list[RunResult]:
    """Every tool --repeat times on the first n hosts, interleaved so that a change in the
    machine's load hits all tools alike."""
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    hosts = fleet.hosts[:n]
    journals = Journals(hosts)
    prepared = {}
    for tool in args.tool_list:
        folder = work / f"{tool}-{n:02d}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        prepared[tool] = PREPARE[tool](folder, fleet, hosts, args.mode)

    def reset_for(tool: str) -> Callable[[], None] | None:
        """Apply changes the hosts: every run starts from the base image (plus python3-apt
        for Ansible, as in plan mode), untimed; for reapply, then applied once, untimed."""
        if args.mode == "plan":
            return None

        def reset() -> None:
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(fleet.reset, hosts))
            if tool == "ansible":
                ansible_prerequisite(hosts)
            if args.mode == "reapply":
                first = prepared[tool]
                first.before()
                done = subprocess.run(
                    first.argv,
                    cwd=first.cwd,
                    env=first.env,
                    capture_output=True,
                    text=True,
                    timeout=RUN_TIMEOUT,
                    check=False,
                )
                first.after()
                if done.returncode != 0:
                    raise SystemExit(f"bench: {tool}'s first apply failed: {done.stdout[-2000:]}")

        return reset

    return [
        run_once(tool, prepared[tool], journals, n, repeat, logs, args.mode, reset_for(tool))
        for repeat in range(1, args.repeat + 1)
        for tool in args.tool_list
    ]


def benchmark(args: argparse.Namespace, fleet: Fleet, work: Path) -> list[RunResult]:
    """All host counts; a count whose fleet was lost midway is redone on a rebooted fleet."""
    shutil.rmtree(RESULTS / "logs", ignore_errors=True)
    size = max(args.host_counts)
    results: list[RunResult] = []
    for n in args.host_counts:
        for attempt in range(1, 4):
            try:
                results += runs_for(args, fleet, n, work)
                break
            except FleetLost as e:
                log(f"the fleet was lost during the {n}-host runs: {e}")
                if attempt == 3:
                    raise
                boot(fleet, size, args.tool_list, args.wait_pytest)
                log(f"redoing the {n}-host runs")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (the test fleet needs it)")
    fleet = Fleet()
    try:
        boot(fleet, max(args.host_counts), args.tool_list, args.wait_pytest)
        with tempfile.TemporaryDirectory(prefix="tendr-bench-") as tmp:
            results = benchmark(args, fleet, Path(tmp))
    finally:
        if args.keep:
            log("leaving the fleet up (--keep): python3 -m tests.fleet down stops it")
        elif running := fleet_pytests():
            log(f"not tearing the fleet down: pytest may be using it now ({running[0]})")
        else:
            log("tearing the fleet down")
            fleet.down()
    summaries = [
        summarize(t, n, [r for r in results if (r.tool, r.hosts) == (t, n)])
        for n in args.host_counts
        for t in args.tool_list
    ]
    found_ratios = ratios(summaries)
    print(table(summaries, found_ratios))
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "mode": args.mode,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(args.tool_list),
        "method": {
            "wall": f"median and best of {args.repeat} runs, from start to reaping the process",
            "tree_peak_rss_mib": f"sum of RSS over the process tree, sampled every "
            f"{SAMPLE_INTERVAL} s (psutil); peak over the runs",
            "max_rss_mib": "ru_maxrss from wait4: the largest single process of the tree",
            "commands_per_host": "'Starting session: command' lines in each host's sshd "
            "journal during a run, averaged over the hosts",
        },
        "summary": [asdict(s) for s in summaries],
        "ratios": found_ratios,
        "runs": [asdict(r) for r in results],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    log(f"results written to {args.output}")
    return 1 if any(not r.ok for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
