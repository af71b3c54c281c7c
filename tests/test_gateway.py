"""The gateway's pure parts, without a controller: what a person may ask it over SSH,
which operation a pushed file needs, keys in authorized_keys, and the refusals of the
CLI when a process runs as the gateway account (the fleet tests run the real thing)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tendr.base.errors import UserError
from tendr.gateway import session
from tendr.gateway.edits import RULES_EDIT, STATE_EDIT, refusals, required, strongest
from tendr.gateway.session import GitCommand, Session, TendrCommand, parse_remote
from tendr.gateway.setup import GatewayError, gateway_line, parse_line, parse_public_key, program
from tendr.rules.decide import EVERYWHERE
from tendr.workspace.loader import Workspace, load
from tests.helpers import build_tree, needs_root, run_tendr

# -- what a person may send over SSH --------------------------------------------------


def test_a_command_is_split_into_words_never_run_by_a_shell() -> None:
    assert parse_remote("plan -l 'client:acme'", "tendr") == TendrCommand(
        ["plan", "-l", "client:acme"]
    )
    # Shell syntax stays literal: `plan;` is a word, which no command is called.
    assert parse_remote("plan; cat key", "tendr") == TendrCommand(["plan;", "cat", "key"])
    assert parse_remote("$(id) `id` >x", "tendr") == TendrCommand(["$(id)", "`id`", ">x"])


@pytest.mark.parametrize("original", [None, "", "   "])
def test_no_command_is_no_shell(original: str | None) -> None:
    with pytest.raises(UserError, match="not a shell"):
        parse_remote(original, "tendr")


def test_an_unbalanced_quote_is_an_error_not_a_guess() -> None:
    with pytest.raises(UserError, match="cannot read the command"):
        parse_remote("plan -l 'client:acme", "tendr")


@pytest.mark.parametrize("path", ["'workspace'", "workspace", "'/workspace'", "'workspace.git'"])
def test_git_reaches_the_one_repository(path: str) -> None:
    assert parse_remote(f"git-receive-pack {path}", "tendr") == GitCommand("git-receive-pack")
    assert parse_remote(f"git-upload-pack {path}", "tendr") == GitCommand("git-upload-pack")


@pytest.mark.parametrize(
    "path", ["'/var/lib/tendr/.ssh'", "'../workspace'", "'workspace/../.ssh'", "", "a b"]
)
def test_git_reaches_nothing_else(path: str) -> None:
    with pytest.raises(UserError, match="serves one repository"):
        parse_remote(f"git-upload-pack {path}", "tendr")


# -- the CLI as the gateway account -----------------------------------------------------


@pytest.fixture
def at_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process taken for the gateway account, its workspace a valid one; the person
    comes through sudo as 'erin' (an admin of it)."""
    root = build_tree(
        tmp_path / "ws",
        {
            "hosts/acme.toml": '[hosts.desk01]\naddress = "192.0.2.1"\n',
            "known_hosts": "192.0.2.1 ssh-ed25519 AAAA\n",
            "rules/roles.toml": (
                '[roles.admin]\nmembers = ["erin"]\nallow = [{ ops = ["*"], hosts = ["all"] }]\n'
            ),
        },
    )
    act_at_gateway(monkeypatch, root)
    return root


def act_at_gateway(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """This process taken for the gateway account serving `root`, the person 'erin'
    coming through sudo."""
    found = Session("tendr", root, None, "")
    monkeypatch.setattr(session, "current", lambda: found)
    monkeypatch.setattr(session, "_served", [])
    monkeypatch.setattr(session, "_asked", [])
    monkeypatch.setenv("SUDO_USER", "erin")
    monkeypatch.delenv("TENDR_WORKSPACE", raising=False)


def test_the_gateway_serves_its_own_workspace_and_records_what_is_asked(
    at_gateway: Path, tmp_path: Path
) -> None:
    code, output = run_tendr("hosts")
    assert code == 0, output
    assert "desk01" in output
    log = (at_gateway / ".tendr" / "audit.log").read_text()
    assert '"person": "erin"' in log and '"outcome": "asked"' in log
    assert '"reason": "through sudo"' in log


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["hosts", "-w", "."], "--workspace/-w is refused"),
        (["hosts", "--workspace=/"], "--workspace/-w is refused"),
        (["plan", "--as", "carol"], "--as is refused"),
        (["init", "mine"], "does not serve 'init'"),
        (["gateway", "serve", "--person", "carol"], "does not serve 'gateway'"),
        (["schema", "--output", "out"], "--output is refused"),
    ],
)
def test_the_gateway_refuses_what_it_does_not_serve(
    at_gateway: Path, args: list[str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["tendr", *args])  # what sudo would have run
    code, output = run_tendr(*args)
    assert code == 1
    assert expected in output
    assert not Path("mine").exists() and not Path("out").exists()
    # What was asked is on record, refused or not.
    log = (at_gateway / ".tendr" / "audit.log").read_text()
    assert json.dumps(shlex.join(args)) in log


def test_the_gateway_refuses_a_local_host_and_a_log_outside(at_gateway: Path) -> None:
    """A local host at the gateway is the gateway account, holder of every key; an audit
    log outside the workspace is one others may read or nobody keeps."""
    (at_gateway / "hosts" / "me.toml").write_text('[hosts.me]\nconnector = "local"\n')
    (at_gateway / "tendr.toml").write_text('audit_log = "/dev/null"\n')
    code, output = run_tendr("hosts")
    assert code == 1
    assert "audit_log '/dev/null' leaves the workspace" in output
    (at_gateway / "tendr.toml").write_text('audit_log = "../log"\n')
    assert "leaves the workspace" in run_tendr("hosts")[1]
    # The drift history likewise: pointed at ~/.ssh/rc, sshd would run it at each login.
    (at_gateway / "tendr.toml").write_text('history = "/var/lib/tendr/.ssh/rc"\n')
    assert "history '/var/lib/tendr/.ssh/rc' leaves the workspace" in run_tendr("hosts")[1]
    (at_gateway / "tendr.toml").unlink()
    code, output = run_tendr("hosts")
    assert code == 1
    assert "host me uses the local connector" in output


def test_the_gateway_refuses_tendr_workspace(
    at_gateway: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TENDR_WORKSPACE", str(tmp_path))
    code, output = run_tendr("validate")
    assert code == 1
    assert "TENDR_WORKSPACE is refused" in output


def test_without_a_person_the_gateway_account_serves_nothing(
    at_gateway: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SUDO_USER")
    code, output = run_tendr("validate")
    assert code == 1
    assert "reach it with your own key over SSH" in output


def test_serve_and_hook_are_not_for_sudo(at_gateway: Path) -> None:
    for args in (["gateway", "serve", "--person", "carol"], ["gateway", "hook", "pre-receive"]):
        code, output = run_tendr(*args)
        assert code == 1
        assert "does not serve 'gateway'" in output


ONBOARD = ["onboard", "desk02", "--address", "192.0.2.2", "--client", "acme"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--ssh-key", "/var/lib/tendr/.ssh/id_ed25519"], "--ssh-key is refused"),
        (["--bootstrap-key", "/var/lib/tendr/.ssh/id_ed25519"], "--bootstrap-key is refused"),
        # No terminal (ssh without -t): what the person typed would show on their screen.
        ([], "password is asked on a terminal: connect with ssh -t"),
    ],
)
def test_onboarding_at_the_gateway_uses_its_key_and_a_password_asked_on_a_terminal(
    at_gateway: Path, extra: list[str], expected: str
) -> None:
    before = {
        p: p.read_bytes() for p in (at_gateway / "hosts/acme.toml", at_gateway / "known_hosts")
    }
    code, output = run_tendr(*ONBOARD, "--bootstrap-user", "admin", *extra)
    assert code == 1
    assert expected in output
    assert "password:" not in output  # refused before anything is asked
    assert {p: p.read_bytes() for p in before} == before
    assert '"op": "host.onboard"' not in (at_gateway / ".tendr" / "audit.log").read_text()


def test_onboarding_is_decided_by_the_rules_before_a_password_is_asked(
    at_gateway: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (at_gateway / "rules/roles.toml").open("a") as rules:
        rules.write(
            '[roles.helpdesk]\nmembers = ["dave"]\nallow = [{ ops = ["plan"], hosts = ["all"] }]\n'
        )
    monkeypatch.setenv("SUDO_USER", "dave")
    code, output = run_tendr(*ONBOARD, "--bootstrap-user", "admin")
    assert code == 1
    assert "permission denied" in output and "host.onboard" in output
    assert "password" not in output


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout


def _repository(root: Path) -> None:
    """The workspace as `gateway setup` leaves it: a repository, all committed."""
    _git(root, "init", "--quiet")
    _git(root, "config", "user.name", "tendr gateway")
    _git(root, "config", "user.email", "tendr@controller")
    (root / ".gitignore").write_text(".tendr/\n")
    _git(root, "add", ".")
    _git(root, "commit", "--quiet", "-m", "start")


def test_approving_at_the_gateway_is_committed_naming_the_person(at_gateway: Path) -> None:
    hosts = at_gateway / "hosts/acme.toml"
    hosts.write_text('[hosts.desk01]\naddress = "192.0.2.1"\napproved = false\n')
    _repository(at_gateway)
    (at_gateway / "notes.txt").write_text("someone's work, not approve's\n")
    _git(at_gateway, "add", "notes.txt")  # staged: must not ride along
    code, output = run_tendr("approve", "desk01")
    assert code == 0, output
    assert "desk01 approved" in output
    assert _git(at_gateway, "log", "-1", "--format=%s") == "approve desk01 by erin\n"
    assert _git(at_gateway, "show", "--name-only", "--format=", "HEAD") == "hosts/acme.toml\n"
    assert "approved" not in _git(at_gateway, "show", "HEAD:hosts/acme.toml")
    assert _git(at_gateway, "status", "--porcelain") == "A  notes.txt\n"


def test_re_pinning_at_the_gateway_commits_known_hosts_alone(
    at_gateway: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import paramiko

    from tendr.ops import onboard
    from tendr.remote.connect import fingerprint

    _repository(at_gateway)
    offered = paramiko.ECDSAKey.generate()  # the machine was reinstalled
    monkeypatch.setattr(onboard, "offered_key", lambda *_: offered)  # no machine here
    code, output = run_tendr("hosts", "pin", "desk01", "--yes")
    assert code == 0, output
    assert "desk01: pinned the offered key" in output
    subject = _git(at_gateway, "log", "-1", "--format=%s")
    assert subject == f"pin desk01's key {fingerprint(offered)} by erin\n"
    assert _git(at_gateway, "show", "--name-only", "--format=", "HEAD") == "known_hosts\n"
    assert offered.get_base64() in _git(at_gateway, "show", "HEAD:known_hosts")
    assert _git(at_gateway, "status", "--porcelain") == ""


def test_a_change_the_gateway_cannot_commit_is_said_to_be_in_force(at_gateway: Path) -> None:
    hosts = at_gateway / "hosts/acme.toml"
    hosts.write_text('[hosts.desk01]\naddress = "192.0.2.1"\napproved = false\n')
    (at_gateway / ".git").mkdir()  # no repository git can use
    code, output = run_tendr("approve", "desk01")
    assert code == 1
    assert "desk01 approved" in output
    assert "hosts/acme.toml is written and in force, but could not be committed" in output
    assert "approved" not in hosts.read_text()


def test_elsewhere_serve_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "current", lambda: None)
    code, output = run_tendr("gateway", "serve", "--person", "carol")
    assert code == 1
    assert "runs as the gateway account" in output


def test_setup_and_allow_need_root_or_a_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "current", lambda: None)
    monkeypatch.setattr(session, "CONFIG", Path("/nonexistent/gateway.toml"))
    code, output = run_tendr("gateway", "people")
    assert code == 1
    assert "needs root" in output or "no gateway yet" in output


# -- the configuration ------------------------------------------------------------------


def test_a_configuration_others_can_change_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('account = "tendr"\nworkspace = "/srv/tendr"\n')
    config.chmod(0o666)
    with pytest.raises(UserError, match="owned by root and writable by root alone"):
        session.read_config(config)


@needs_root
def test_the_configuration_names_an_account_and_an_absolute_workspace(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('account = "tendr"\nworkspace = "/srv/tendr"\n')
    config.chmod(0o644)
    found = session.read_config(config)
    assert found is not None and (found.account, found.workspace) == ("tendr", "/srv/tendr")
    config.write_text('account = "tendr"\nworkspace = "srv"\n')
    with pytest.raises(UserError, match="absolute path"):
        session.read_config(config)
    config.write_text('account = "tendr"\nworkspace = "/srv"\nshell = "/bin/sh"\n')
    with pytest.raises(UserError, match="gateway.toml"):
        session.read_config(config)
    assert session.read_config(tmp_path / "absent.toml") is None


# -- keys -------------------------------------------------------------------------------


def _keypair(tmp_path: Path) -> tuple[Path, str]:
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key, Path(f"{key}.pub").read_text()


def test_a_public_key_is_read_with_the_fingerprint_ssh_keygen_shows(tmp_path: Path) -> None:
    key, text = _keypair(tmp_path)
    parsed = parse_public_key(text, "id.pub")
    shown = subprocess.run(
        ["ssh-keygen", "-l", "-f", f"{key}.pub"], capture_output=True, text=True, check=True
    ).stdout
    assert parsed.fingerprint == shown.split()[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n", "private key"),
        ('command="sh" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA x\n', "not a public key"),
        ("ssh-ed25519 AAAA!!!!\n", "not valid base64"),
        ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQAB\n", "does not match its type"),
        ("", "one public key line, not 0"),
    ],
)
def test_anything_but_one_public_key_is_refused(text: str, expected: str) -> None:
    with pytest.raises(GatewayError, match=expected):
        parse_public_key(text, "key.pub")


@given(st.from_regex(r"[a-z_][a-z0-9_-]{0,31}", fullmatch=True))
def test_an_allowed_line_names_its_person_and_key(person: str) -> None:
    key = parse_public_key(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKH5Q1dHy3hUbW9qD4Ib8o3Y9H2BfOQm4u0o2Z1H4Xq2 x",
        "k",
    )
    line = gateway_line(person, key)
    assert line.startswith('restrict,pty,command="')
    assert parse_line(line) == (person, key)


def test_other_lines_are_not_taken_for_the_gateway_s() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKH5Q1dHy3hUbW9qD4Ib8o3Y9H2BfOQm4u0o2Z1H4Xq2"
    assert parse_line(f"{key} admin@laptop") is None
    assert parse_line(f'command="/bin/sh" {key} tendr-gateway:dave') is None
    written = gateway_line("dave", parse_public_key(key, "k"))
    # Only exactly what allow writes: not another command ending the same way, not
    # another option, not a key that is not one.
    for line in [
        written.replace(program(), "/bin/sh -c id"),
        written.replace("restrict,pty,", "restrict,pty,agent-forwarding,"),
        written.replace("restrict,pty,", "restrict,"),
        written.replace(" gateway serve", "; sh; echo gateway serve"),
        written.replace("ssh-ed25519 ", "ssh-rsa "),
        " " + written,
    ]:
        assert parse_line(line) is None, line


# -- which operation a pushed file needs --------------------------------------------------


def _workspace(root: Path, files: dict[str, str]) -> Workspace:
    base = {
        "hosts/acme.toml": '[hosts.a1]\naddress = "192.0.2.1"\n',
        "hosts/beta.toml": '[hosts.b1]\naddress = "192.0.2.2"\n',
        "known_hosts": "192.0.2.1 ssh-ed25519 AAAA\n192.0.2.2 ssh-ed25519 AAAA\n",
        "rules/roles.toml": (
            '[roles.helpdesk]\nmembers = ["dave"]\nallow = [{ ops = ["state.edit"], '
            'hosts = ["client:acme"] }]\n'
            '[roles.admin]\nmembers = ["carol"]\nallow = [{ ops = ["*"], hosts = ["all"] }]\n'
        ),
        "files/motd": "hello\n",
        "files/spare": "unused\n",
    }
    return load(build_tree(root, {**base, **files}))


ACME = 'hosts = ["client:acme"]\n[[file]]\npath = "/etc/motd"\nsource = "files/motd"\n'
BETA = 'hosts = ["client:beta"]\n[[file]]\npath = "/etc/x"\ncontent = "x"\n'


def test_each_changed_file_needs_its_operation_on_its_hosts(tmp_path: Path) -> None:
    before = _workspace(tmp_path / "a", {"states/acme.toml": ACME, "states/beta.toml": BETA})
    after = _workspace(
        tmp_path / "b", {"states/acme.toml": ACME, "states/beta.toml": BETA.replace("x", "y")}
    )
    edits = {
        e.path: (e.op, [h.name for h in e.hosts])
        for e in required(
            [
                "states/acme.toml",
                "states/beta.toml",
                "files/motd",
                "files/spare",
                "rules/roles.toml",
                "known_hosts",
            ],
            before,
            after,
        )
    }
    assert edits == {
        "states/acme.toml": (STATE_EDIT, ["a1"]),
        "states/beta.toml": (STATE_EDIT, ["b1"]),
        "files/motd": (STATE_EDIT, ["a1"]),  # the source of acme's state
        "files/spare": (STATE_EDIT, [EVERYWHERE.name]),
        "rules/roles.toml": (RULES_EDIT, [EVERYWHERE.name, "a1", "b1"]),
        "known_hosts": (RULES_EDIT, [EVERYWHERE.name, "a1", "b1"]),
    }


def test_a_state_moved_to_another_client_needs_both(tmp_path: Path) -> None:
    before = _workspace(tmp_path / "a", {"states/s.toml": ACME})
    after = _workspace(tmp_path / "b", {"states/s.toml": ACME.replace("acme", "beta")})
    (edit,) = required(["states/s.toml"], before, after)
    assert sorted(h.name for h in edit.hosts) == ["a1", "b1"]
    assert refusals([edit], "dave", before) == [
        "states/s.toml: no rule allows state.edit on b1 for dave (roles: helpdesk)"
    ]
    assert refusals([edit], "carol", before) == []


def test_rules_edit_needs_a_rule_for_all_hosts(tmp_path: Path) -> None:
    live = _workspace(tmp_path / "a", {"states/acme.toml": ACME})
    edits = required(["rules/roles.toml"], live, live)
    assert strongest(edits) == RULES_EDIT
    assert refusals(edits, "dave", live) == [
        "rules/roles.toml: no rule allows rules.edit on every host for dave (roles: helpdesk)"
    ]
    assert refusals(edits, "carol", live) == []
    assert refusals(edits, "mallory", live) == ["rules/roles.toml: mallory is in no role"]
    assert strongest(required(["states/acme.toml"], live, live)) == STATE_EDIT


def test_naming_a_file_is_not_a_way_around_rules_edit(tmp_path: Path) -> None:
    """A state that names rules/roles.toml as a source does not make a push of the
    rules a state edit."""
    live = _workspace(tmp_path / "a", {"states/acme.toml": ACME})
    sneaky = ACME + '[[file]]\npath = "/tmp/r"\nsource = "./rules/roles.toml"\n'
    after = _workspace(tmp_path / "b", {"states/acme.toml": sneaky})
    edits = required(["states/acme.toml", "rules/roles.toml"], live, after)
    assert [(e.path, e.op) for e in edits] == [
        ("rules/roles.toml", RULES_EDIT),
        ("rules/roles.toml", STATE_EDIT),  # and its content now reaches a1
        ("states/acme.toml", STATE_EDIT),
    ]
    assert refusals(edits, "dave", live) == [
        "rules/roles.toml: no rule allows rules.edit on every host for dave (roles: helpdesk)"
    ]


def test_naming_another_state_s_file_needs_that_state_s_hosts(tmp_path: Path) -> None:
    beta_motd = BETA + '[[file]]\npath = "/etc/motd"\nsource = "files/beta-motd"\n'
    files = {"states/beta.toml": beta_motd, "files/beta-motd": "beta\n"}
    live = _workspace(tmp_path / "a", {"states/acme.toml": ACME, **files})
    borrowing = ACME + '[[file]]\npath = "/etc/issue"\nsource = "files/beta-motd"\n'
    after = _workspace(tmp_path / "b", {"states/acme.toml": borrowing, **files})
    (edit,) = required(["states/acme.toml"], live, after)
    assert sorted(h.name for h in edit.hosts) == ["a1", "b1"]
    assert refusals([edit], "dave", live) == [
        "states/acme.toml: no rule allows state.edit on b1 for dave (roles: helpdesk)"
    ]


def test_a_controller_only_file_no_state_named_needs_every_host(tmp_path: Path) -> None:
    live = _workspace(tmp_path / "a", {"states/acme.toml": ACME})
    using = ACME + '[[file]]\npath = "/etc/issue"\nsource = "files/spare"\n'
    after = _workspace(tmp_path / "b", {"states/acme.toml": using})
    (kept,) = required(["states/acme.toml"], live, after)
    assert [h.name for h in kept.hosts] == ["a1"]  # files/spare travels in the push
    (secret,) = required(["states/acme.toml"], live, after, controller_only={"files/spare"})
    assert EVERYWHERE in secret.hosts
    assert refusals([secret], "dave", live) == [
        "states/acme.toml: no rule allows state.edit on every host for dave (roles: helpdesk)"
    ]


def test_a_file_whose_state_moves_needs_both_clients(tmp_path: Path) -> None:
    """files/motd, named by a state that leaves acme for beta in the same push: changing
    it needs state.edit where the state was and where it goes."""
    moving = 'hosts = ["client:acme"]\n[[file]]\npath = "/etc/motd"\nsource = "files/motd"\n'
    before = _workspace(tmp_path / "a", {"states/s.toml": moving})
    after = _workspace(tmp_path / "b", {"states/s.toml": moving.replace("acme", "beta")})
    edits = {
        e.path: sorted(h.name for h in e.hosts) for e in required(["files/motd"], before, after)
    }
    assert edits == {"files/motd": ["a1", "b1"]}


def test_a_state_file_another_state_names_needs_that_state_s_hosts_too(tmp_path: Path) -> None:
    """states/acme.toml named as a source by beta's state: its content reaches b1, so
    changing it needs state.edit there as well as on its own hosts."""
    borrowing = BETA + '[[file]]\npath = "/etc/acme.toml"\nsource = "states/acme.toml"\n'
    files = {"states/acme.toml": ACME, "states/beta.toml": borrowing}
    live = _workspace(tmp_path / "a", files)
    after = _workspace(tmp_path / "b", {**files, "states/acme.toml": ACME + "# changed\n"})
    (edit,) = required(["states/acme.toml"], live, after)
    assert sorted(h.name for h in edit.hosts) == ["a1", "b1"]
    assert refusals([edit], "dave", live) == [
        "states/acme.toml: no rule allows state.edit on b1 for dave (roles: helpdesk)"
    ]
    assert refusals([edit], "carol", live) == []


def test_a_rules_file_a_state_names_needs_rules_edit_and_that_state_s_hosts(
    tmp_path: Path,
) -> None:
    naming = BETA + '[[file]]\npath = "/etc/r"\nsource = "rules/roles.toml"\n'
    live = _workspace(tmp_path / "a", {"states/beta.toml": naming})
    edits = required(["rules/roles.toml"], live, live)
    assert [(e.op, sorted(h.name for h in e.hosts)) for e in edits] == [
        (RULES_EDIT, sorted([EVERYWHERE.name, "a1", "b1"])),
        (STATE_EDIT, ["b1"]),
    ]
