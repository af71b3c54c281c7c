"""Reading is decided like acting: hosts, audit records and rules are shown only where
the person holds a reading operation; the workspace's own records to rules.edit holders;
a person in no role reads nothing. Acting as another person (--as) is root's alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tendr.base.changes import Change
from tendr.core import audit
from tests.helpers import ME, build_tree, needs_root, run_tendr

HOSTS = {  # never connected to: what is read here is the workspace's
    "hosts/acme.toml": '[hosts.acme-fs01]\naddress = "192.0.2.1"\n'
    '[hosts.acme-desk01]\naddress = "192.0.2.2"\n',
    "hosts/beta.toml": '[hosts.beta-fs01]\naddress = "192.0.2.3"\n',
}
RULES = """\
[roles.helpdesk]
members = ["dave"]
allow = [{ ops = ["plan", "logs", "service.restart"], hosts = ["client:acme"] }]

[roles.admin]
members = ["carol"]
allow = [{ ops = ["*"], hosts = ["all"] }]
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """Two clients' hosts, a helpdesk for acme (dave), an admin (carol), and an audit log
    with a record of each host, of a host gone from hosts/, and of the workspace."""
    root = build_tree(tmp_path / "ws", {**HOSTS, "rules/roles.toml": RULES, "known_hosts": ""})
    log = root / ".tendr" / "audit.log"
    log.parent.mkdir()
    journal = audit.Journal(log, person="carol", account="root", command="do")
    for host in ("acme-fs01", "beta-fs01", "old-fs01"):
        restart = Change("service", f"{host}-cups.service", "service.restart", "change")
        assert journal.write(host, [(restart, "done", "")])
    pushed = audit.event(
        "rules.edit", "main 0..1", "done", person="carol", account="tendr", command="push"
    )
    audit.append(log, [pushed])
    return root


def shown(root: Path, person: str, *args: str) -> list[str]:
    """The hosts of the audit records `person` is shown."""
    code, raw = run_tendr(
        "audit-log", "show", "-w", str(root), "--format", "json", "--as", person, *args
    )
    assert code == 0, raw
    return [record["host"] for record in json.loads(raw)["records"]]


@needs_root  # --as PERSON
def test_a_helpdesk_of_one_client_sees_only_its_hosts(workspace: Path) -> None:
    code, raw = run_tendr("hosts", "-w", str(workspace), "--as", "dave", "--format", "json")
    assert code == 0, raw
    assert [h["name"] for h in json.loads(raw)["hosts"]] == ["acme-fs01", "acme-desk01"]
    code, text = run_tendr("hosts", "-w", str(workspace), "--as", "dave")
    assert code == 0 and "acme-desk01" in text and "beta" not in text, text
    # --limit selects among their hosts only, and suggests only those.
    code, text = run_tendr("hosts", "-w", str(workspace), "--as", "dave", "-l", "beta-fs01")
    assert code == 1 and "'beta-fs01' matches no host" in text, text
    assert "did you mean 'acme-fs01'?" in text


@needs_root  # --as PERSON
def test_a_helpdesk_of_one_client_reads_only_its_records(workspace: Path) -> None:
    assert shown(workspace, "dave") == ["acme-fs01"]
    assert shown(workspace, "dave", "--host", "acme-fs01") == ["acme-fs01"]
    for other in ("beta-fs01", "old-fs01", "(workspace)"):
        code, text = run_tendr(
            "audit-log", "show", "-w", str(workspace), "--as", "dave", "--host", other
        )
        assert code == 1, text
        assert f"permission denied: dave may not read the records of {other}" in text


@needs_root  # --as PERSON
def test_the_rules_edit_holder_reads_the_workspace_records(workspace: Path) -> None:
    """Records of the workspace as a whole and of hosts gone from hosts/ are the rules
    editors'; every host's are theirs too where they may read it."""
    assert shown(workspace, "carol") == ["acme-fs01", "beta-fs01", "old-fs01", "(workspace)"]
    assert shown(workspace, "carol", "--host", "(workspace)") == ["(workspace)"]


@needs_root  # --as PERSON
@pytest.mark.parametrize(
    "command",
    [
        ["hosts"],
        ["audit-log", "show"],
        ["audit-log", "verify"],
        ["audit-log", "head"],
        ["rules", "list"],
        ["rules", "explain", "mallory", "plan", "acme-fs01"],
        ["history", "acme-fs01"],
        ["report"],
        ["logs"],
        ["diagnose"],
    ],
)
def test_a_person_in_no_role_reads_nothing(workspace: Path, command: list[str]) -> None:
    code, text = run_tendr(*command, "-w", str(workspace), "--as", "mallory")
    assert code == 1, text
    assert "permission denied: mallory" in text and "no role" in text, text
    assert "beta" not in text and "(workspace)" not in text


def test_the_account_running_tendr_reads_by_its_own_roles(workspace: Path) -> None:
    """Without --as the acting person is the account running tendr: in no role here."""
    code, text = run_tendr("hosts", "-w", str(workspace))
    assert code == 1 and f"permission denied: {ME} is in no role" in text, text


@needs_root  # --as PERSON
def test_rules_list_shows_a_member_their_own_roles(workspace: Path) -> None:
    code, text = run_tendr("rules", "list", "-w", str(workspace), "--as", "dave")
    assert code == 0, text
    assert "helpdesk" in text and "admin" not in text
    code, text = run_tendr("rules", "list", "-w", str(workspace), "--as", "carol")
    assert code == 0 and "helpdesk" in text and "admin" in text, text


@needs_root  # --as PERSON
def test_rules_explain_answers_a_person_about_themselves_on_hosts_they_read(
    workspace: Path,
) -> None:
    explain = ["rules", "explain", "-w", str(workspace)]
    code, text = run_tendr(*explain, "--as", "dave", "dave", "service.restart", "acme-fs01")
    assert code == 0 and "allowed" in text, text
    code, text = run_tendr(*explain, "--as", "dave", "dave", "plan", "beta-fs01")
    assert code == 1 and "no host named 'beta-fs01' among those you may read" in text, text
    code, text = run_tendr(*explain, "--as", "dave", "carol", "plan", "acme-fs01")
    assert code == 1 and "dave may ask about themselves only" in text, text
    code, text = run_tendr(*explain, "--as", "carol", "dave", "plan", "beta-fs01")
    assert code == 1 and "denied: no rule allows plan on beta-fs01 for dave" in text, text


@needs_root  # --as PERSON
def test_history_is_read_only_where_the_person_may(workspace: Path) -> None:
    code, text = run_tendr("history", "beta-fs01", "-w", str(workspace), "--as", "dave")
    assert code == 1 and "permission denied" in text, text
    # dave holds plan on acme-fs01, not history: reading it is still refused.
    code, text = run_tendr("history", "acme-fs01", "-w", str(workspace), "--as", "dave")
    assert code == 1 and "permission denied" in text, text
    code, text = run_tendr("history", "beta-fs01", "-w", str(workspace), "--as", "carol")
    assert code == 0 and "no plan in the drift history yet" in text, text
