"""The gateway on the test fleet: a controller host set up with `tendr gateway setup`
and two client hosts; a helpdesk person (dave) and an administrator (carol) reach it
over SSH with their own keys, and erin through sudo on the controller.

The controller runs this checkout of tendr with this machine's Python, both seen
read-only at the same paths. The clients are checked byte for byte after each refusal.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import tendr
from tests.fleet.fleet import Fleet
from tests.fleet.host import Host

pytestmark = pytest.mark.fleet

TENDR = f"{sys.executable} -I -m tendr"
REPO = Path(tendr.__file__).resolve().parents[1]
WORKSPACE = "/srv/tendr"

RULES = """\
[roles.admin]
members = ["carol"]
allow = [{ ops = ["*", "command.run", "shell"], hosts = ["all"] }]

[roles.helpdesk]
members = ["dave", "erin"]
allow = [
  { ops = ["plan"], hosts = ["all"] },
  { ops = ["file.write", "state.edit"], hosts = ["client:acme"] },
]
"""

ACME_STATE = """\
hosts = ["client:acme"]

[[file]]
path = "/etc/motd"
content = "Managed by Example IT (acme).\\n"
"""

BETA_STATE = """\
hosts = ["client:beta"]

[[file]]
path = "/etc/issue.net"
content = "Beta GmbH: authorised use only.\\n"
"""

# Everything a change could touch, with sizes, times and modes: any write shows.
SNAPSHOT = (
    "find /etc /usr /var/lib/dpkg /srv -xdev -printf '%p %s %T@ %m\\n' 2>/dev/null "
    "| sort | sha256sum; cat /etc/motd /etc/issue.net | sha256sum"
)


def hosts_file(client: str, host: Host) -> str:
    return (
        # No ssh_key: at the gateway every host is reached with the gateway's own key.
        '[defaults]\nconnector = "ssh"\nuser = "root"\n'
        "health = false\n\n"
        f'[hosts.{host.name}]\naddress = "{host.address}"\nport = {host.port}\n'
    )


def put(host: Host, path: str, text: str, mode: str = "0644") -> None:
    """Write a file on `host` as root."""
    host.run(["install", "-D", "-m", mode, "/dev/stdin", path], stdin=text, check=True)


@dataclass
class Gateway:
    controller: Host
    acme: Host
    beta: Host
    keys: Path  # the technicians' private keys, one per person

    def ssh_argv(self, person: str) -> list[str]:
        """ssh to the gateway account with `person`'s key, host key pinned."""
        argv = self.controller.ssh_argv(user="tendr")
        argv[argv.index("-i") + 1] = str(self.keys / person)
        return [*argv[:1], "-T", *argv[1:]]

    def ssh(self, person: str, command: str | None) -> subprocess.CompletedProcess[str]:
        """`ssh tendr@controller COMMAND` as `person` (the command is one string, as ssh
        sends it)."""
        argv = self.ssh_argv(person) + (["--", command] if command is not None else [])
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
        )

    def git(self, person: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "GIT_SSH_COMMAND": shlex.join(self.ssh_argv(person)[:-3]),  # no -l USER HOST
            "GIT_AUTHOR_NAME": person,
            "GIT_AUTHOR_EMAIL": f"{person}@example.net",
            "GIT_COMMITTER_NAME": person,
            "GIT_COMMITTER_EMAIL": f"{person}@example.net",
        }
        return subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
        )

    def on_controller(self, command: str) -> subprocess.CompletedProcess[str]:
        return self.controller.run(command)

    def clients(self) -> tuple[str, str]:
        """Fingerprints of both clients' files (every write changes them)."""
        return (
            self.acme.run(SNAPSHOT, check=True).stdout,
            self.beta.run(SNAPSHOT, check=True).stdout,
        )

    def audit(self) -> list[dict[str, object]]:
        done = self.ssh("carol", "audit-log show --last 200 --format json")
        assert done.returncode == 0, done.stderr
        records: list[dict[str, object]] = json.loads(done.stdout)["records"]
        return records


@pytest.fixture
def gateway(
    fleet: Fleet, fresh_hosts: Callable[[int], list[Host]], tmp_path: Path
) -> Iterator[Gateway]:
    controller, acme, beta = fresh_hosts(3)
    fleet.reset(controller, binds=[Path(sys.prefix), REPO])
    # tendr is installed for every account: its Python lives under /root on this machine.
    controller.run("chmod 0711 /root", check=True)
    files = {
        "hosts/acme.toml": hosts_file("acme", acme),
        "hosts/beta.toml": hosts_file("beta", beta),
        "known_hosts": f"{acme.known_hosts_entry}\n{beta.known_hosts_entry}\n",
        "rules/roles.toml": RULES,
        "states/acme.toml": ACME_STATE,
        "states/beta.toml": BETA_STATE,
        ".gitignore": ".tendr/\nsecrets/\n",
    }
    for relative, text in files.items():
        put(controller, f"{WORKSPACE}/{relative}", text)
    done = controller.run(f"{TENDR} gateway setup --account tendr --workspace {WORKSPACE}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the gateway is ready" in done.stdout
    gateway_key = controller.run("cat /var/lib/tendr/.ssh/id_ed25519.pub", check=True).stdout
    for client in (acme, beta):
        client.run("cat >> /root/.ssh/authorized_keys", stdin=gateway_key, check=True)
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    for person in ("carol", "dave"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / person)],
            check=True,
        )
        put(controller, f"/root/{person}.pub", (keys / f"{person}.pub").read_text())
        allowed = controller.run(f"{TENDR} gateway allow {person} --key /root/{person}.pub")
        assert allowed.returncode == 0, allowed.stderr
    yield Gateway(controller, acme, beta, keys)


def test_setup_locks_the_gateway_down_and_is_idempotent(gateway: Gateway) -> None:
    listing = gateway.on_controller(
        "stat -c '%U %a %n' /var/lib/tendr /var/lib/tendr/.ssh "
        "/var/lib/tendr/.ssh/id_ed25519 /var/lib/tendr/.ssh/authorized_keys "
        f"{WORKSPACE} {WORKSPACE}/.tendr {WORKSPACE}/rules/roles.toml /etc/tendr/gateway.toml"
    ).stdout.splitlines()
    assert listing == [
        "tendr 700 /var/lib/tendr",
        "tendr 700 /var/lib/tendr/.ssh",
        "tendr 600 /var/lib/tendr/.ssh/id_ed25519",
        "tendr 600 /var/lib/tendr/.ssh/authorized_keys",
        f"tendr 700 {WORKSPACE}",
        f"tendr 700 {WORKSPACE}/.tendr",
        f"tendr 600 {WORKSPACE}/rules/roles.toml",
        "root 644 /etc/tendr/gateway.toml",
    ]
    again = gateway.on_controller(f"{TENDR} gateway setup --account tendr --workspace {WORKSPACE}")
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout and "installed" not in again.stdout
    people = gateway.on_controller(f"{TENDR} gateway people").stdout
    assert [line.split()[0] for line in people.splitlines()] == ["carol", "dave"]
    # A workspace under a folder others can change cannot be made safe: refused.
    gateway.on_controller("mkdir -m 1777 /srv/shared")
    unsafe = gateway.on_controller(
        f"{TENDR} gateway setup --account tendr --workspace /srv/shared/ws --admin carol"
    )
    assert unsafe.returncode == 1
    assert "/srv/shared can be changed by others" in unsafe.stderr


@pytest.mark.parametrize(
    ("prepare", "expected", "changes_nothing"),
    [
        ("ln -s /etc/shadow /srv/other/files/x", "/srv/other/files/x is a symbolic link", True),
        (
            "install -o 1000 /dev/null /srv/other/files/x",
            "/srv/other/files/x belongs to uid 1000",
            True,
        ),
        ("chmod 0777 /srv/other/files", "/srv/other/files can be written by others", True),
        ("echo colour = 1 >> /srv/other/states/s.toml", "does not validate", True),
        # Known only once the folder is a repository: said, and safe to run again.
        ("echo > /srv/other/.gitignore", ".tendr/audit.log must be ignored by git", False),
        ("echo .tendr/ > /srv/other/.gitignore", "secrets/pass must be ignored by git", False),
    ],
)
def test_setup_refuses_a_workspace_it_cannot_make_safe(
    gateway: Gateway, prepare: str, expected: str, changes_nothing: bool
) -> None:
    state = (
        'hosts = ["client:acme"]\n[[backup]]\nname = "docs"\nsources = ["/srv"]\n'
        'repository = "/var/backups/r"\npassword = { file = "secrets/pass" }\n'
    )
    for relative, text in {
        "hosts/acme.toml": hosts_file("acme", gateway.acme),
        "known_hosts": f"{gateway.acme.known_hosts_entry}\n",
        "states/s.toml": state,
        "secrets/pass": "hunter2\n",
        "files/y": "y\n",
        ".gitignore": ".tendr/\nsecrets/\n",
    }.items():
        # A secret is its owner's alone (validation refuses it otherwise).
        put(
            gateway.controller,
            f"/srv/other/{relative}",
            text,
            "0600" if "secrets/" in relative else "0644",
        )
    gateway.on_controller(prepare)
    listing = "find /srv/other /etc/shadow -printf '%p %u %m\\n' | sort"
    before = gateway.on_controller(listing).stdout
    refused = gateway.on_controller(f"{TENDR} gateway setup --account tendr --workspace /srv/other")
    assert refused.returncode == 1
    assert expected in refused.stderr
    assert "hunter2" not in refused.stdout + refused.stderr
    if changes_nothing:
        assert gateway.on_controller(listing).stdout == before
    else:
        assert "The workspace is now tendr's" in refused.stderr


def test_helpdesk_plans_and_applies_what_the_rules_allow(gateway: Gateway) -> None:
    before = gateway.clients()
    plan = gateway.ssh("dave", "plan")
    assert plan.returncode == 2, plan.stderr
    assert "/etc/motd" in plan.stdout and "/etc/issue.net" in plan.stdout

    refused = gateway.ssh("dave", "apply --yes")
    assert refused.returncode == 1
    assert "file.write /etc/issue.net" in refused.stderr
    assert gateway.clients() == before

    applied = gateway.ssh("dave", "apply --yes -l client:acme")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    motd = gateway.acme.run("cat /etc/motd", check=True).stdout
    assert motd == "Managed by Example IT (acme).\n"
    assert gateway.clients()[1] == before[1]  # beta untouched

    records = gateway.audit()
    done = [r for r in records if r["outcome"] == "done" and r["op"] == "file.write"]
    assert [(r["person"], r["account"], r["host"]) for r in done] == [
        ("dave", "tendr", gateway.acme.name)
    ]
    asked = [(r["person"], r["resource"]) for r in records if r["outcome"] == "asked"]
    assert ("dave", "plan") in asked
    assert ("dave", "apply --yes -l client:acme") in asked


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (None, "not a shell"),
        ("-w /tmp plan", "No such option: -w"),
        ("plan -w /tmp", "--workspace/-w is refused"),
        ("plan --workspace=/srv", "--workspace/-w is refused"),
        ("plan --as carol", "--as is refused"),
        ("cat /var/lib/tendr/.ssh/id_ed25519", "No such command"),
        ("plan; cat /var/lib/tendr/.ssh/id_ed25519", "No such command"),
        ("gateway allow dave --key /var/lib/tendr/.ssh/id_ed25519.pub", "does not serve 'gateway'"),
        ("init /tmp/mine", "does not serve 'init'"),
        ("schema --output /var/lib/tendr/.ssh", "--output is refused"),
        ("git-upload-pack '/var/lib/tendr/.ssh'", "serves one repository"),
    ],
)
def test_helpdesk_cannot_step_around_the_gateway(
    gateway: Gateway, command: str | None, expected: str
) -> None:
    before = gateway.clients()
    done = gateway.ssh("dave", command)
    assert done.returncode != 0
    assert expected in done.stderr
    assert "PRIVATE KEY" not in done.stdout + done.stderr
    assert gateway.clients() == before


def test_pushes_are_validated_and_allowed_by_the_rules_in_force(
    gateway: Gateway, tmp_path: Path
) -> None:
    before = gateway.clients()
    clone = tmp_path / "clone"
    cloned = gateway.git("dave", "clone", "tendr@127.0.0.1:workspace", str(clone), cwd=tmp_path)
    assert cloned.returncode == 0, cloned.stderr
    head = gateway.on_controller(f"runuser -u tendr -- git -C {WORKSPACE} rev-parse HEAD").stdout
    assert len(head.strip()) == 40, head

    def push(person: str, path: str, text: str) -> subprocess.CompletedProcess[str]:
        gateway.git(person, "fetch", "--quiet", cwd=clone)
        gateway.git(person, "reset", "--quiet", "--hard", "origin/main", cwd=clone)
        (clone / path).write_text(text)
        gateway.git(person, "add", path, cwd=clone)
        gateway.git(person, "commit", "--quiet", "-m", f"{person} edits {path}", cwd=clone)
        return gateway.git(person, "push", "--quiet", "origin", "HEAD:main", cwd=clone)

    grab = RULES.replace('{ ops = ["plan"], hosts = ["all"] }', '{ ops = ["*"], hosts = ["all"] }')
    refused = push("dave", "rules/roles.toml", grab)
    assert refused.returncode != 0
    assert "rules/roles.toml: no rule allows rules.edit on every host for dave" in refused.stderr

    broken = push("dave", "states/acme.toml", ACME_STATE + "colour = 'blue'\n")
    assert broken.returncode != 0
    assert "does not validate" in broken.stderr and "states/acme.toml" in broken.stderr

    elsewhere = push("dave", "states/beta.toml", BETA_STATE.replace("Beta", "Beta AG"))
    assert elsewhere.returncode != 0
    assert "no rule allows state.edit on " + gateway.beta.name in elsewhere.stderr

    assert (
        gateway.on_controller(f"runuser -u tendr -- git -C {WORKSPACE} rev-parse HEAD").stdout
        == head
    )
    assert gateway.clients() == before

    new_motd = ACME_STATE.replace("(acme)", "(acme, ask for Dave)")
    accepted = push("dave", "states/acme.toml", new_motd)
    assert accepted.returncode == 0, accepted.stderr
    live = gateway.on_controller(f"cat {WORKSPACE}/states/acme.toml").stdout
    assert live == new_motd  # the files follow the branch

    away = push("carol", "tendr.toml", 'audit_log = "/tmp/audit.log"\n')
    assert away.returncode != 0
    assert "audit_log '/tmp/audit.log' leaves the workspace" in away.stderr

    admin = push("carol", "rules/roles.toml", RULES.replace('"dave", "erin"', '"dave"'))
    assert admin.returncode == 0, admin.stderr

    pushes = [
        (r["person"], r["op"], r["outcome"], r["after"]["files"])  # type: ignore[index]
        for r in gateway.audit()
        if r["command"] == "push"
    ]
    assert pushes == [
        ("dave", "rules.edit", "refused", ["rules/roles.toml"]),
        ("dave", "state.edit", "refused", ["states/acme.toml"]),
        ("dave", "state.edit", "refused", ["states/beta.toml"]),
        ("dave", "state.edit", "done", ["states/acme.toml"]),
        ("carol", "rules.edit", "refused", ["tendr.toml"]),
        ("carol", "rules.edit", "done", ["rules/roles.toml"]),
    ]
    assert gateway.clients() == before  # a push changes the desired state, not a host


def test_through_sudo_the_person_is_sudo_user_with_the_same_limits(gateway: Gateway) -> None:
    # As README advises: the tendr program alone, no SETENV.
    gateway.on_controller(
        f"useradd --create-home erin && echo 'erin ALL=(tendr) NOPASSWD: {TENDR} *' "
        "> /etc/sudoers.d/erin && chmod 0440 /etc/sudoers.d/erin"
    )
    as_erin = f"runuser -u erin -- sudo -n -u tendr {TENDR}"
    before = gateway.clients()
    plan = gateway.on_controller(f"{as_erin} plan -l client:acme")
    assert plan.returncode == 2, plan.stderr
    for attempt, expected in [
        (f"{as_erin} plan -w /tmp", "--workspace/-w is refused"),
        (f"{as_erin} plan --as carol", "--as is refused"),
        (f"{as_erin} gateway serve --person carol", "does not serve 'gateway'"),
        (f"{as_erin} gateway hook pre-receive", "does not serve 'gateway'"),
        (f"{as_erin} apply --yes -l client:beta", "file.write /etc/issue.net"),
        ("runuser -u erin -- cat /var/lib/tendr/.ssh/id_ed25519", "Permission denied"),
        ("runuser -u erin -- cat /srv/tendr/.tendr/audit.log", "Permission denied"),
    ]:
        done = gateway.on_controller(attempt)
        assert done.returncode != 0, attempt
        assert expected in done.stderr, (attempt, done.stderr)
    assert gateway.clients() == before
    asked = [(r["person"], r["reason"]) for r in gateway.audit() if r["outcome"] == "asked"]
    assert ("erin", "through sudo") in asked


def test_a_grant_at_the_gateway_is_enforced_there_and_committed(gateway: Gateway) -> None:
    refused = gateway.ssh("dave", "apply --yes -l client:beta")
    assert refused.returncode == 1
    self_grant = gateway.ssh("dave", "grant dave admin --for 1h --reason mine")
    assert self_grant.returncode == 1 and "no rule allows rules.grant" in self_grant.stderr

    granted = gateway.ssh(
        "carol", "grant dave admin --hosts client:beta --for 1h --reason 'ticket 4711'"
    )
    assert granted.returncode == 0, granted.stderr
    applied = gateway.ssh("dave", "apply --yes -l client:beta")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    issue = gateway.beta.run("cat /etc/issue.net", check=True).stdout
    assert issue == "Beta GmbH: authorised use only.\n"
    log = gateway.on_controller(
        f"runuser -u tendr -- git -C {WORKSPACE} log -1 --format=%s -- grants.toml"
    ).stdout
    assert log.startswith("grant admin to dave by carol")
    clean = gateway.on_controller(f"runuser -u tendr -- git -C {WORKSPACE} status --porcelain")
    assert clean.stdout == ""

    (made,) = json.loads(gateway.ssh("dave", "rules list --format json").stdout)["grants"]
    revoked = gateway.ssh("dave", f"grant revoke {made['id']}")
    assert revoked.returncode == 0, revoked.stderr
    again = gateway.ssh("dave", "apply --yes -l client:beta --only-allowed")
    assert again.returncode == 0  # in sync: nothing to refuse
    records = [(r["person"], r["outcome"]) for r in gateway.audit() if r["op"] == "rules.grant"]
    assert records == [("carol", "done"), ("dave", "revoked")]


def test_run_and_shell_work_through_the_gateway(gateway: Gateway) -> None:
    """A command and a recorded session go through the technician's SSH entry like plan:
    the helpdesk may not run commands, the administrator may; a session opened with
    `ssh -t` runs on the client, and its recording replays at the gateway."""
    before = gateway.clients()
    refused = gateway.ssh("dave", "run -l all -- touch /tmp/marker")
    assert refused.returncode == 1 and "permission denied" in refused.stdout + refused.stderr
    assert gateway.clients() == before

    ran = gateway.ssh("carol", f"run --format json -l {gateway.acme.name} -- hostname")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["hosts"][0]["stdout"] == [gateway.acme.name]

    argv = gateway.ssh_argv("carol")
    argv[argv.index("-T")] = "-tt"  # a terminal, as a person's ssh -t asks for one
    session = subprocess.run(
        [*argv, "--", f"shell {gateway.beta.name}"],
        input="echo tendr-$((6*7))\nexit\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert session.returncode == 0, session.stdout + session.stderr
    assert "tendr-42" in session.stdout
    [record] = [r for r in gateway.audit() if r["op"] == "shell" and r["outcome"] == "done"]
    assert (record["person"], record["host"]) == ("carol", gateway.beta.name)
    replayed = gateway.ssh("carol", f"audit-log replay {record['seq']} --speed 0")
    assert replayed.returncode == 0, replayed.stderr
    assert "tendr-42" in replayed.stdout


def test_the_gateway_watches_its_hosts_on_a_timer(gateway: Gateway) -> None:
    """watch_every in tendr.toml: setup installs a timer that runs the gateway's own
    read-only watch as its account; a cycle is one audit record, by the gateway itself,
    and the status page is written. Without watch_every the timer goes."""
    put(gateway.controller, f"{WORKSPACE}/tendr.toml", 'watch_every = "5m"\n')
    gateway.on_controller(
        f"chown tendr: {WORKSPACE}/tendr.toml && chmod 0600 {WORKSPACE}/tendr.toml"
    )
    git = f"runuser -u tendr -- git -C {WORKSPACE}"
    added = gateway.on_controller(f"{git} add tendr.toml && {git} commit -qm 'watch every 5m'")
    assert added.returncode == 0, added.stderr
    setup = gateway.on_controller(f"{TENDR} gateway setup --account tendr --workspace {WORKSPACE}")
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "installed the watch timer (tendr-watch.timer): a cycle every 5m" in setup.stdout
    assert gateway.on_controller("systemctl is-enabled tendr-watch.timer").stdout == "enabled\n"
    ran = gateway.on_controller("systemctl start tendr-watch.service")  # one cycle, now
    assert ran.returncode == 0, ran.stderr
    result = gateway.on_controller("systemctl show -p Result --value tendr-watch.service")
    assert result.stdout == "success\n"
    cycles = [r for r in gateway.audit() if r["op"] == "watch"]
    assert [(r["person"], r["account"], r["outcome"]) for r in cycles] == [
        ("(gateway)", "tendr", "done")
    ]
    assert "2 of 2 host(s) read" in str(cycles[0]["reason"])
    page = gateway.on_controller(f"cat {WORKSPACE}/.tendr/status.html").stdout
    assert "Fleet status" in page
    # The watch is the gateway's own: not served to a person (dave reads its status),
    # and no one acts as the gateway.
    refused = gateway.ssh("dave", "watch")
    assert refused.returncode != 0 and "does not serve 'watch'" in refused.stderr
    refused = gateway.ssh("dave", "status --as '(gateway)'")
    assert refused.returncode != 0 and "--as is refused" in refused.stderr
    shown = gateway.ssh("dave", "status")
    assert shown.returncode in (0, 2) and gateway.acme.name in shown.stdout, shown.stderr

    gateway.on_controller(f"runuser -u tendr -- sh -c ': > {WORKSPACE}/tendr.toml'")
    gateway.on_controller(f"{git} commit -qam 'no watch'")
    again = gateway.on_controller(f"{TENDR} gateway setup --account tendr --workspace {WORKSPACE}")
    assert "removed the watch timer" in again.stdout, again.stdout + again.stderr
    assert gateway.on_controller("test -e /etc/systemd/system/tendr-watch.timer").returncode == 1
