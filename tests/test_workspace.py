"""The workspace loader: every example loads, every mistake is reported where it is."""

from __future__ import annotations

import grp
import json
import os
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner, Result

from tendr.base.errors import WorkspaceError
from tendr.base.settings import Settings
from tendr.base.tomlfile import locate
from tendr.base.validation import key_path
from tendr.cli.app import app
from tendr.rules.model import RulesFile
from tendr.workspace.hosts import HostsFile
from tendr.workspace.init import create_workspace
from tendr.workspace.loader import load, validate_data
from tendr.workspace.statefile import StateFile
from tests.helpers import LOCAL_HOSTS, build_tree, needs_root

REPO_ROOT = Path(__file__).resolve().parent.parent
FAMILY_MODELS: dict[str, type[BaseModel]] = {
    "hosts": HostsFile,
    "states": StateFile,
    "rules": RulesFile,
}

BACKUP = """\
hosts = ["all"]

[[backup]]
name = "documents"
sources = ["/srv/share"]
repository = "/var/backups/restic"
password = {password}
"""


def workspace(tmp_path: Path, files: dict[str, str]) -> Path:
    """A valid one-host workspace (host desk01) with `files` added or replaced."""
    tree = {"hosts/local.toml": LOCAL_HOSTS, "states/base.toml": 'hosts = ["all"]\n', **files}
    return build_tree(tmp_path / "ws", tree)


def validate(root: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["validate", "-w", str(root), *args])


def assert_user_error(result: Result) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


# -- what loads -------------------------------------------------------------


def test_example_workspace_loads() -> None:
    """The repository root, the example workspace, validates with every family present."""
    loaded = load(REPO_ROOT)
    assert [h.name for h in loaded.hosts] == ["localhost"]
    assert len(loaded.states) == len(list((REPO_ROOT / "states").glob("*.toml")))
    assert loaded.rules


def test_init_output_loads(tmp_path: Path) -> None:
    """A workspace written by `tendr init` validates as a whole, and targets no host (not
    even this machine) until the technician adds one."""
    create_workspace(tmp_path / "new", "alice")
    loaded = load(tmp_path / "new")
    assert loaded.hosts == () and loaded.states == ()


@pytest.mark.parametrize(
    "relative",
    ["hosts/acme.toml.example", "states/baseline.toml.example", "rules/roles.toml", "tendr.toml"],
)
def test_each_init_file_validates(tmp_path: Path, relative: str) -> None:
    """Each TOML file `tendr init` writes validates against its own family's model."""
    import tomllib

    create_workspace(tmp_path / "new", "alice")
    model = FAMILY_MODELS.get(relative.split("/")[0], Settings)
    data = tomllib.loads((tmp_path / "new" / relative).read_text(encoding="utf-8"))
    validate_data(model, data)


def test_same_resource_declared_identically_in_two_files_is_fine(tmp_path: Path) -> None:
    """Two files may both declare a resource when they agree about it."""
    same = 'hosts = ["all"]\n\n[[package]]\nname = "curl"\n'
    root = workspace(tmp_path, {"states/a.toml": same, "states/b.toml": same})
    assert len(load(root).states) == 3


# -- what is refused, as the user reads it ------------------------------------

SERVICE = 'hosts = ["all"]\n\n[[service]]\nunit = "cups.service"\n'

BAD = {
    "toml-syntax": (
        {"states/a.toml": 'hosts = ["all"]\n[[service]\nunit = "cups.service"\n'},
        "states/a.toml:2:10:",
        "TOML syntax error",
    ),
    "unknown-key": (
        {"states/a.toml": SERVICE + "enabeld = true\n"},
        "states/a.toml:5: service[0].enabeld:",
        "unknown key 'enabeld' (expected one of: unit, ",
    ),
    "wrong-type-bool": (
        {"states/a.toml": SERVICE + 'enabled = "yes"\n'},
        "states/a.toml:5: service[0].enabled:",
        "expected true or false, got 'yes'",
    ),
    "wrong-type-int": (
        {"hosts/b.toml": '[hosts.fs01]\naddress = "192.0.2.1"\nport = "22"\n', "known_hosts": ""},
        "hosts/b.toml:3: hosts.fs01.port:",
        "expected an integer, got '22'",
    ),
    "out-of-range": (
        {"hosts/b.toml": '[hosts.fs01]\naddress = "192.0.2.1"\nport = 70000\n', "known_hosts": ""},
        "hosts/b.toml:3: hosts.fs01.port:",
        "expected a number of at most 65535, got 70000",
    ),
    "wrong-type-list": (
        {"states/a.toml": 'hosts = "all"\n'},
        "states/a.toml:1: hosts:",
        "expected a list",
    ),
    "missing-key": (
        {"states/a.toml": 'hosts = ["all"]\n\n[[package]]\npresent = false\n'},
        "states/a.toml:3: package[0].name:",
        "is required but missing",
    ),
    "unknown-kind": (
        {"states/a.toml": 'hosts = ["all"]\n\n[[servce]]\nunit = "cups.service"\n'},
        "states/a.toml:3: servce:",
        "unknown resource kind 'servce' (expected one of: package, updates, file, module, service,",
    ),
    "selector-matches-nothing": (
        {"states/a.toml": 'hosts = ["group:nothing"]\n'},
        "states/a.toml:1: hosts[0]:",
        "'group:nothing' matches no host in hosts/",
    ),
    "selector-malformed": (
        {"states/a.toml": 'hosts = ["desk01", "grp:x y"]\n'},
        "states/a.toml:1: hosts[1]:",
        "'grp:x y' is not a host selector (expected 'all',",
    ),
    "duplicate-host": (
        {"hosts/other.toml": '\n[hosts.desk01]\nconnector = "local"\n'},
        "hosts/other.toml:2: hosts.desk01:",
        "host 'desk01' is already defined in hosts/local.toml",
    ),
    "conflicting-declarations": (
        {
            "states/a.toml": SERVICE + "enabled = true\n",
            "states/b.toml": 'hosts = ["desk01"]\n\n\n[[service]]\nunit = "cups.service"\n'
            "enabled = false\n",
        },
        "states/b.toml:4: service[0]:",
        "service 'cups.service' is declared differently here and in states/a.toml (service[0]) "
        "for host desk01 (enabled differ)",
    ),
    "declared-twice-in-one-file": (
        {"states/a.toml": SERVICE + '\n[[service]]\nunit = "cups.service"\n'},
        "states/a.toml:6: service[1]:",
        "service 'cups.service' is declared again here and in states/a.toml (service[0])",
    ),
    "one-package-two-architectures": (
        {
            "states/a.toml": 'hosts = ["desk01"]\n[[package]]\nname = "hello:amd64"\n',
            "states/b.toml": 'hosts = ["desk01"]\n\n[[package]]\nname = "hello"\npresent = false\n',
        },
        "states/b.toml:3: package[0]:",
        "package 'hello' is declared differently here and in states/a.toml (package[0]) "
        "for host desk01 (name, present differ)",
    ),
    "one-module-two-spellings": (
        {
            "states/a.toml": 'hosts = ["desk01"]\n[[module]]\nname = "snd-dummy"\n'
            "blacklisted = true\n",
            "states/b.toml": 'hosts = ["desk01"]\n[[module]]\nname = "snd_dummy"\n'
            "blacklisted = false\n",
        },
        "states/b.toml:2: module[0]:",
        "module 'snd_dummy' is declared differently here and in states/a.toml (module[0])",
    ),
    "unit-name": (
        {"states/a.toml": 'hosts = ["all"]\n[[service]]\nunit = "cups.service; rm -rf /"\n'},
        "states/a.toml:3: service[0].unit:",
        "'cups.service; rm -rf /' is not a systemd unit name",
    ),
    "module-name": (
        {"states/a.toml": 'hosts = ["all"]\n[[module]]\nname = "$(reboot)"\n'},
        "states/a.toml:3: module[0].name:",
        "'$(reboot)' is not a kernel module name",
    ),
    "printer-name": (
        {"states/a.toml": 'hosts = ["all"]\n[[printer]]\nname = "front desk"\n'},
        "states/a.toml:3: printer[0].name:",
        "'front desk' is not a CUPS queue name",
    ),
    "relative-path": (
        {"states/a.toml": 'hosts = ["all"]\n[[file]]\npath = "../etc/passwd"\ncontent = ""\n'},
        "states/a.toml:3: file[0].path:",
        "'../etc/passwd' is not an absolute path",
    ),
    "package-name": (
        {"states/a.toml": 'hosts = ["all"]\n[[package]]\nname = "vim; reboot"\n'},
        "states/a.toml:3: package[0].name:",
        "'vim; reboot' is not a Debian package name",
    ),
    "dropin-name": (
        {"states/a.toml": SERVICE + '[service.dropins]\n"x y" = "[Service]"\n'},
        'states/a.toml:6: service[0].dropins."x y":',
        "is not a drop-in file name",
    ),
    "source-outside": (
        {
            "states/a.toml": 'hosts = ["all"]\n[[file]]\npath = "/etc/x"\n'
            'source = "../../etc/passwd"\n'
        },
        "states/a.toml:4: file[0].source:",
        "'../../etc/passwd' must be a path inside the",
    ),
    "source-absolute": (
        {"states/a.toml": 'hosts = ["all"]\n[[file]]\npath = "/etc/x"\nsource = "/etc/passwd"\n'},
        "states/a.toml:4: file[0].source:",
        "'/etc/passwd' must be a path inside the workspace",
    ),
    "source-missing": (
        {"states/a.toml": 'hosts = ["all"]\n[[file]]\npath = "/etc/x"\nsource = "files/nope"\n'},
        "states/a.toml:4: file[0].source:",
        "'files/nope' does not exist in the workspace",
    ),
    "secret-file-outside": (
        {"states/a.toml": BACKUP.format(password='{ file = "/etc/shadow" }')},
        "states/a.toml:7: backup[0].password.file:",
        "must be a path inside the workspace",
    ),
    "settings": (
        {"tendr.toml": "parallel = 0\n"},
        "tendr.toml:1: parallel:",
        "expected a number of at least 1, got 0",
    ),
    "rules-unknown-key": (
        {"rules/r.toml": '[roles.admin]\nmembers = ["alice"]\nalow = []\n'},
        "rules/r.toml:3: roles.admin.alow:",
        "unknown key 'alow'",
    ),
    "toml-date": (
        {"states/a.toml": 'hosts = ["all"]\n[[file]]\npath = "/etc/x"\ncontent = 1979-05-27\n'},
        "states/a.toml:4: file[0].content:",
        "expected a string, got a TOML date",
    ),
    "path-trailing-slash": (
        {"states/a.toml": 'hosts = ["all"]\n[[file]]\npath = "/etc/old-job/"\npresent = false\n'},
        "states/a.toml:3: file[0].path:",
        "is not a normal path (write '/etc/old-job')",
    ),
    "second-local-host": (
        {"hosts/more.toml": '[hosts.desk02]\nconnector = "local"\n'},
        "hosts/more.toml:1: hosts.desk02.connector:",
        "only one host can be this machine",
    ),
    "host-named-all": (
        {"hosts/more.toml": '[hosts.all]\naddress = "192.0.2.1"\n'},
        "hosts/more.toml: hosts:",
        "'all' is the selector for every host",
    ),
    "rule-host-matches-nothing": (
        {
            "rules/r.toml": '[roles.a]\nmembers = ["alice"]\n'
            'deny = [{ ops = ["*"], hosts = ["DESK01"] }]\n'
        },
        "rules/r.toml:3: roles.a.deny[0].hosts[0]:",
        "'DESK01' matches no host in hosts/ (did you mean 'desk01'?)",
    ),
    "rule-group-misspelt": (
        {
            "rules/r.toml": '[roles.a]\nmembers = ["alice"]\n'
            'allow = [{ ops = ["plan"], hosts = ["all"] },\n'
            '  { ops = ["plan"], hosts = ["desk01", "group:frontdeks"] }]\n'
        },
        "rules/r.toml:3: roles.a.allow[1].hosts[1]:",
        "'group:frontdeks' matches no host in hosts/ (did you mean 'group:frontdesk'?)",
    ),
    "rule-client-unknown": (
        {
            "rules/r.toml": '[roles.a]\nmembers = ["alice"]\n'
            'deny = [{ ops = ["*"], hosts = ["client:smile"] }]\n'
        },
        "rules/r.toml:3: roles.a.deny[0].hosts[0]:",
        "'client:smile' matches no host in hosts/",
    ),
    "rule-verb-unknown": (
        {
            "rules/r.toml": '[roles.a]\nmembers = ["alice"]\n'
            'deny = [{ ops = ["service.restat"], hosts = ["all"] }]\n'
        },
        "rules/r.toml:3: roles.a.deny[0].ops[0]:",
        "'service.restat' is not an operation (did you mean 'service.restart'?)",
    ),
    "state-host-misspelt": (
        {"states/a.toml": 'hosts = ["tag:lba"]\n'},
        "states/a.toml:1: hosts[0]:",
        "'tag:lba' matches no host in hosts/ (did you mean 'tag:lab'?)",
    ),
    "unit-template": (
        {"states/a.toml": 'hosts = ["all"]\n[[service]]\nunit = "getty@.service"\n'},
        "states/a.toml:3: service[0].unit:",
        "is a unit template; name an instance",
    ),
}


@pytest.mark.parametrize(("files", "where", "expected"), BAD.values(), ids=BAD.keys())
def test_mistake_is_reported_with_file_key_line_and_expectation(
    tmp_path: Path, files: dict[str, str], where: str, expected: str
) -> None:
    """A mistake is one line naming file, line, key path and what was expected; exit 1."""
    root = workspace(tmp_path, files)
    result = validate(root)
    assert_user_error(result)
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {where} "), result.output
    assert expected in lines[0]
    assert "1 problem in the workspace; nothing was done." in result.output


@pytest.mark.parametrize(
    "password",
    [
        '"hunter2"',
        '["hunter2"]',
        "12345",
        '{ value = "hunter2" }',
        '{ env = "hunter2 x" }',
        "{ env = 12345 }",
        '{ file = "hunter2" }',
        '{ file = "../hunter2" }',
        '{ file = "hunter2", env = "HUNTER2" }',
    ],
)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secret_in_clear_is_refused_without_echoing_it(
    tmp_path: Path, password: str, fmt: str
) -> None:
    """A secret written where a reference is required is an error that never shows the secret."""
    root = workspace(tmp_path, {"states/a.toml": BACKUP.format(password=password)})
    result = validate(root, "--format", fmt)
    assert_user_error(result)
    assert "states/a.toml" in result.output and "backup[0].password" in result.output
    assert "hunter2" not in result.output.lower() and "12345" not in result.output


def test_secret_in_clear_says_how_to_reference_it(tmp_path: Path) -> None:
    """`password = "..."` explains the two ways to reference a secret, at its line."""
    root = workspace(tmp_path, {"states/a.toml": BACKUP.format(password='"hunter2"')})
    result = validate(root)
    assert (
        "error: states/a.toml:7: backup[0].password: a secret is written in clear; "
        'reference it instead: { file = "secrets/NAME" } or { env = "VARIABLE" }' in result.output
    )


def test_a_secret_file_is_never_a_source(tmp_path: Path) -> None:
    """A password file named as a file's `source` would be written to a host and hashed
    in a plan: refused, without showing what the file holds."""
    state = BACKUP.format(password='{ file = "secrets/pass" }') + (
        '\n[[file]]\npath = "/etc/motd"\nsource = "./secrets/pass"\n'
    )
    root = workspace(tmp_path, {"states/a.toml": state, "secrets/pass": "hunter2\n"})
    result = validate(root)
    assert_user_error(result)
    assert (
        "states/a.toml:11: file[0].source: './secrets/pass' is a secret file (a password)"
        in result.output
    )
    assert "hunter2" not in result.output


def test_every_broken_file_is_reported_in_one_run(tmp_path: Path) -> None:
    """Three broken files (one per family) give three errors in one run, not only the first."""
    root = workspace(
        tmp_path,
        {
            "hosts/b.toml": "[hosts.x\n",
            "states/c.toml": 'hosts = ["all"]\nfoo = 1\n',
            "rules/r.toml": "[roles.a]\nmembers = 3\n",
        },
    )
    result = validate(root)
    assert_user_error(result)
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert [e.split(":")[1].strip() for e in errors] == [
        "hosts/b.toml",
        "states/c.toml",
        "rules/r.toml",
    ]
    assert "3 problems in the workspace" in result.output


def test_several_problems_in_one_file_are_all_reported(tmp_path: Path) -> None:
    """Every wrong value of a file is listed, each at its own line."""
    text = 'hosts = ["all"]\n[[package]]\nname = "A"\n[[package]]\nname = "b c"\n'
    result = validate(workspace(tmp_path, {"states/a.toml": text}))
    assert "states/a.toml:3: package[0].name:" in result.output
    assert "states/a.toml:5: package[1].name:" in result.output


def test_unreadable_hosts_file_does_not_add_guessed_selector_errors(tmp_path: Path) -> None:
    """With a hosts file broken, a state naming its host is not also 'matches no host'."""
    root = workspace(
        tmp_path, {"hosts/b.toml": "[hosts.fs01\n", "states/a.toml": 'hosts = ["fs01"]\n'}
    )
    result = validate(root)
    assert_user_error(result)
    assert "matches no host" not in result.output
    assert "1 problem in the workspace" in result.output


def test_writable_rules_file_is_refused(tmp_path: Path) -> None:
    """A rules file that group or others can write is refused, as sshd refuses one."""
    root = workspace(tmp_path, {"rules/r.toml": '[roles.a]\nmembers = ["alice"]\n'})
    (root / "rules" / "r.toml").chmod(0o666)
    result = validate(root)
    assert_user_error(result)
    assert "error: rules/r.toml:" in result.output and "chmod go-w" in result.output


@pytest.mark.parametrize(
    ("relative", "display", "stake"),
    [
        ("hosts/local.toml", "hosts/local.toml", "send a host's changes to another machine"),
        ("hosts", "hosts/", "send a host's changes to another machine"),
        ("tendr.toml", "tendr.toml", "move the audit log or the pinned host keys"),
        ("known_hosts", "known_hosts", "pin a host key of their own"),
        (".", "the workspace folder", "replace any file in it"),
        ("files/motd", "states/m.toml:4: file[0].source: 'files/motd'", "change what it holds"),
    ],
)
def test_what_decides_a_hosts_fate_is_refused_when_others_can_change_it(
    tmp_path: Path, relative: str, display: str, stake: str
) -> None:
    """hosts/, tendr.toml, known_hosts, the workspace folder and the files states name are
    held to the rules files' standard: another account that could change them could aim
    tendr elsewhere (an alias entry for a machine got round a host deny; the audit log was
    moved). Each is named with what was at stake and the fix."""
    root = workspace(
        tmp_path,
        {
            "tendr.toml": "parallel = 2\n",
            "known_hosts": "",
            "files/motd": "hello\n",
            "states/m.toml": 'hosts = ["all"]\n[[file]]\npath = "/etc/motd"\n'
            'source = "files/motd"\n',
        },
    )
    target = root / relative
    target.chmod(target.stat().st_mode | 0o002)  # others may write
    result = validate(root)
    assert_user_error(result)
    assert f"error: {display}: refused, anyone who can change it could {stake}" in (result.output)
    assert f"writable by others (mode {target.stat().st_mode & 0o7777:04o}); fix: chmod go-w" in (
        result.output
    )


@needs_root
def test_writable_rules_folder_is_refused(tmp_path: Path) -> None:
    """A rules/ folder others can write is refused: they could swap the files in it."""
    root = workspace(tmp_path, {"rules/r.toml": '[roles.a]\nmembers = ["alice"]\n'})
    (root / "rules").chmod(0o777)
    if os.geteuid() == 0:  # a group shared with others, not root's private group
        os.chown(root / "rules", -1, grp.getgrnam("daemon").gr_gid)
    result = validate(root)
    assert_user_error(result)
    assert (
        "error: rules/:" in result.output
        and "the directory is writable by group and others (mode 0777)" in result.output
    )


@pytest.mark.parametrize("mode", [0o777, 0o1777], ids=["0777", "1777"])
def test_a_folder_above_the_workspace_others_can_write_is_refused_unless_sticky(
    tmp_path: Path, mode: int
) -> None:
    """Whoever can write a folder above the workspace could put another workspace in its
    place: refused, naming the folder and the fix. A sticky one (as /tmp) is fine, since
    nobody else can rename or replace an entry they do not own in it."""
    above = tmp_path / "open"
    root = workspace(above, {})
    above.chmod(mode)
    result = validate(root)
    if mode & 0o1000:
        assert result.exit_code == 0, result.output
        return
    assert_user_error(result)
    folder = above.resolve()
    assert (
        f"error: {folder}/: refused, anyone who can change it could replace any file in it: "
        "the directory is writable by " in result.output
    )
    assert f"(mode 0777); fix: chmod go-w {folder}\n" in result.output
    assert "1 problem in the workspace" in result.output


@needs_root
def test_a_folder_above_the_workspace_owned_by_another_account_is_refused(
    tmp_path: Path,
) -> None:
    """A folder above the workspace owned by neither root nor the workspace's owner is
    refused, even unwritable by others: its owner could swap the workspace."""
    above = tmp_path / "theirs"
    root = workspace(above, {})
    os.chown(above, 65534, 65534)
    result = validate(root)
    assert_user_error(result)
    assert (
        f"error: {above.resolve()}/: refused, anyone who can change it could replace any "
        "file in it: the directory is owned by nobody (uid 65534), neither root nor the "
        "workspace owner (root)" in result.output
    )


@pytest.mark.parametrize(
    ("files", "folder", "mode"),
    [
        (
            {
                "files/sub/motd": "hello\n",
                "files/sub/issue": "hi\n",
                "states/m.toml": 'hosts = ["all"]\n[[file]]\npath = "/etc/motd"\n'
                'source = "files/sub/motd"\n[[file]]\npath = "/etc/issue"\n'
                'source = "files/sub/issue"\n',
            },
            "files/sub",
            0o777,
        ),
        (
            {
                "tendr.toml": 'known_hosts = "keys/pinned/known_hosts"\n',
                "keys/pinned/known_hosts": "",
            },
            "keys/pinned",
            0o1777,
        ),
    ],
    ids=["source", "known_hosts"],
)
def test_a_folder_between_the_workspace_and_a_file_others_can_write_is_refused(
    tmp_path: Path, files: dict[str, str], folder: str, mode: int
) -> None:
    """A folder inside the workspace that holds a file tendr trusts (a `source`, the
    known_hosts file) is held to the file's standard, sticky or not: whoever can write it
    could swap the file. It is named once, however many files it holds."""
    root = workspace(tmp_path, files)
    (root / folder).chmod(mode)
    result = validate(root)
    assert_user_error(result)
    assert (
        f"error: {folder}/: refused, anyone who can change it could replace any file in it: "
        "the directory is writable by " in result.output
    )
    assert f"(mode {mode:04o}); fix: chmod go-w {root.resolve() / folder}\n" in result.output
    assert "1 problem in the workspace" in result.output


def test_json_output_lists_problems(tmp_path: Path) -> None:
    """`--format json` gives scripts each problem's file, key, line and message."""
    result = validate(
        workspace(tmp_path, {"states/a.toml": SERVICE + 'enabled = "yes"\n'}), "--format", "json"
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["problems"] == [
        {
            "file": "states/a.toml",
            "key": "service[0].enabled",
            "line": 5,
            "column": None,
            "message": "expected true or false, got 'yes'",
        }
    ]


def test_not_a_workspace_says_how_to_name_one(tmp_path: Path) -> None:
    """A folder without hosts/, states/ or rules/ is refused with the ways to name a workspace."""
    result = validate(build_tree(tmp_path / "empty", {"README": "x"}))
    assert_user_error(result)
    assert "is not a tendr workspace" in result.output and "tendr init" in result.output


def test_values_that_look_like_markup_are_printed_verbatim(tmp_path: Path) -> None:
    """A value like '[/x]' in an error message is shown as written, not read as markup."""
    root = workspace(tmp_path, {"states/a.toml": 'hosts = ["all"]\n[[service]]\nunit = "[/x]"\n'})
    result = validate(root)
    assert_user_error(result)
    assert "'[/x]' is not a systemd unit name" in result.output


# -- pure parts ----------------------------------------------------------------

NESTED = """\
description = "x"
hosts = ["all"]

[[service]]
unit = "a.service"
content = \"\"\"
[Service]
enabled = 1
\"\"\"
enabled = true

[[service]]
unit = "b.service"

[service.dropins]
"10-limits.conf" = "x"

[[backup]]
name = "docs"
keep = { daily = 7 }
password.env = "X"
  # unit = "commented.service"
[hosts.a-b]
'quoted key' = 1
"""


@pytest.mark.parametrize(
    ("loc", "line"),
    [
        (["description"], 1),
        (["hosts", 0], 2),
        (["service"], 4),
        (["service", 0], 4),
        (["service", 0, "unit"], 5),
        (["service", 0, "content"], 6),
        (["service", 0, "enabled"], 10),  # not the look-alike inside the multi-line string
        (["service", 1], 12),
        (["service", 1, "unit"], 13),
        (["service", 1, "dropins"], 15),
        (["service", 1, "dropins", "10-limits.conf"], 16),
        (["backup", 0, "keep", "daily"], 20),
        (["backup", 0, "password", "env"], 21),
        (["backup", 0, "unknown"], 18),
        (["hosts", "a-b"], 23),
        (["hosts", "a-b", "quoted key"], 24),
        (["nothing"], None),
    ],
)
def test_locate_finds_the_line_of_a_key_path(loc: list[str | int], line: int | None) -> None:
    """locate returns the line of the deepest part of a key path it can find."""
    assert locate(NESTED, loc) == line


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        (("service", 0, "unit"), "service[0].unit"),
        (("hosts", "acme-fs01", "port"), "hosts.acme-fs01.port"),
        (("hosts", 1), "hosts[1]"),
        (("service", 0, "dropins", "x y", "[key]"), 'service[0].dropins."x y"'),
        (("module", 0, "options", 'a"b'), 'module[0].options."a\\"b"'),
        (("roles", "admin", "allow", 0, "ops", 2), "roles.admin.allow[0].ops[2]"),
        ((), ""),
    ],
)
def test_key_path_is_written_as_in_toml(loc: tuple[str | int, ...], text: str) -> None:
    """key_path renders pydantic locations as TOML-style dotted paths with array indexes."""
    assert key_path(loc) == text


def test_locate_counts_nested_arrays_per_entry() -> None:
    """`[[a.b]]` restarts its count under each `[[a]]`: a[1].b[0] is the second a's first b."""
    text = "[[a]]\n[[a.b]]\nx = 1\n[[a.b]]\nx = 2\n[[a]]\n[[a.b]]\nx = 3\n"
    assert locate(text, ["a", 0, "b", 1, "x"]) == 5
    assert locate(text, ["a", 1, "b", 0, "x"]) == 8


def test_locating_many_problems_reads_each_file_once(tmp_path: Path) -> None:
    """Two thousand problems in one file are located in one pass over it, not one pass
    each (which made `validate` quadratic: 96 s for 2000 errors)."""
    from tendr.base.tomlfile import _key_lines

    entries = "".join(f'[[service]]\nunit = "u{i}.service"\nenabled = "yes"\n' for i in range(2000))
    root = workspace(tmp_path, {"states/many.toml": 'hosts = ["all"]\n' + entries})
    _key_lines.cache_clear()
    with pytest.raises(WorkspaceError) as caught:
        load(root)
    assert len(caught.value.problems) == 2000
    assert caught.value.problems[-1].line == 2000 * 3 + 1
    assert _key_lines.cache_info().misses == 2  # hosts/local.toml and states/many.toml


def test_validate_lists_every_problem_in_one_run(tmp_path: Path) -> None:
    """A wrong value does not hide the problems around it: the duplicate of a host whose
    port is wrong, and a missing source beside a wrong service, all in one run."""
    root = workspace(
        tmp_path,
        {
            "hosts/a.toml": '[hosts.h2]\naddress = "192.0.2.2"\nport = "22"\n',
            "hosts/b.toml": '[hosts.h2]\naddress = "192.0.2.3"\n',
            "known_hosts": "",
            "states/s.toml": 'hosts = ["all"]\n[[file]]\npath = "/etc/x"\nsource = "files/nope"\n'
            '[[service]]\nunit = "cron.service"\nenabled = "yes"\n'
            '[[file]]\npath = "/etc/y"\nsource = "files/gone"\n',
            "rules/r.toml": '[roles.a]\nmembers = ["Alice"]\n'
            'deny = [{ ops = ["*"], hosts = ["client:smile"] }]\n',
        },
    )
    result = validate(root)
    assert_user_error(result)
    for expected in (
        "hosts/a.toml:3: hosts.h2.port: expected an integer, got '22'",
        "hosts/b.toml:1: hosts.h2: host 'h2' is already defined in hosts/a.toml",
        "states/s.toml:7: service[0].enabled: expected true or false, got 'yes'",
        "states/s.toml:4: file[0].source: 'files/nope' does not exist in the workspace",
        "states/s.toml:10: file[1].source: 'files/gone' does not exist in the workspace",
        "rules/r.toml:2: roles.a.members[0]: 'Alice' is not an account name",
    ):
        assert f"error: {expected}" in result.output, expected
    # With a hosts file in error, which selectors match nothing would be a guess.
    assert "matches no host" not in result.output
    assert "6 problems in the workspace" in result.output


def test_a_file_nested_too_deeply_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """500 levels of arrays are reported as the file's problem, with no traceback."""
    for deep in ("[" * 500 + "]" * 500, "{a=" * 500 + "}" * 500, "[" * 40 + "]" * 40):
        root = workspace(tmp_path, {"states/deep.toml": f'hosts = ["all"]\nx = {deep}\n'})
        result = validate(root)
        assert_user_error(result)
        assert "error: states/deep.toml: tables and arrays nest more than 32 levels" in (
            result.output
        )


def test_hidden_files_are_not_loaded(tmp_path: Path) -> None:
    """An editor's or a tool's hidden file in states/ (`.x.toml`) is not a state file."""
    root = workspace(
        tmp_path,
        {
            "states/.x.toml": "this is not TOML =",
            "hosts/.old.toml": "[hosts.desk01]\n",
            "rules/.r.toml": "[roles.x]\nmembers = ['Eve']\n",
        },
    )
    result = validate(root)
    assert result.exit_code == 0, result.output
    assert [name for name, _ in load(root).states] == ["states/base.toml"]


def test_load_raises_with_every_problem(tmp_path: Path) -> None:
    """load() raises one WorkspaceError carrying every Problem, for callers other than the CLI."""
    root = workspace(
        tmp_path,
        {
            "states/a.toml": 'hosts = ["all"]\n[[package]]\nname = "A"\n',
            "states/b.toml": 'hosts = ["nobody"]\n',
        },
    )
    with pytest.raises(WorkspaceError) as caught:
        load(root)
    assert [(p.file, p.key, p.line) for p in caught.value.problems] == [
        ("states/a.toml", "package[0].name", 3),
        ("states/b.toml", "hosts[0]", 1),
    ]


@pytest.mark.parametrize(
    ("repository", "shown"),
    [
        (
            "rest:https://alice:hunter2-secret@backup.example/acme",
            "'rest:https://alice:***@backup.example/acme'",
        ),
        (
            "s3:https://AKIAEXAMPLE:wJalrXUtn/K7MDENG+hunter2@s3.example/acme",
            "'s3:https://AKIAEXAMPLE:***@s3.example/acme'",
        ),
        ("sftp:backup:hunter2@192.0.2.60:/srv/restic", "'sftp:backup:***@192.0.2.60:/srv/restic'"),
    ],
)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_credentials_in_a_repository_are_masked(
    tmp_path: Path, repository: str, shown: str, fmt: str
) -> None:
    """A repository URL with user:password@ in it is refused showing the user, never the
    password (nor an S3 secret key with '/' and '+' in it)."""
    state = BACKUP.format(password='{ env = "ACME_RESTIC" }').replace(
        '"/var/backups/restic"', f'"{repository}"'
    )
    result = validate(workspace(tmp_path, {"states/a.toml": state}), "--format", fmt)
    assert_user_error(result)
    assert "backup[0].repository" in result.output
    assert "hunter2" not in result.output
    assert shown in (result.output if fmt == "text" else json.dumps(json.loads(result.stdout)))


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('name = "less-"', "not ending in '-', which apt reads as 'remove'"),
        ('name = "nano+"\npresent = false', "ends in '+', which apt reads as 'install'"),
    ],
)
def test_package_names_apt_would_read_as_the_opposite_order(
    tmp_path: Path, entry: str, expected: str
) -> None:
    """A package rule is decided on the name: apt must not read it as another order."""
    root = workspace(tmp_path, {"states/a.toml": f'hosts = ["all"]\n[[package]]\n{entry}\n'})
    result = validate(root)
    assert_user_error(result)
    assert expected in result.output


def test_a_package_ending_in_plus_installs_as_named(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"states/a.toml": 'hosts = ["all"]\n[[package]]\nname = "g++"\n'})
    assert validate(root).exit_code == 0
