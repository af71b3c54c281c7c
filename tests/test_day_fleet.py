"""A technician's day through the gateway, end to end: two clients, two technicians
with different roles, one new machine onboarded, a plan, an apply while a printer is
off (the backup is still set up), a unit that fails and is found in the logs and by
diagnose, then fixed with the command diagnose suggests, a backup check, and the
client's report. Each step asserts what it shows the technician: the seams between
the commands are where the last round broke.

The gateway and its two client hosts (acme, beta) are test_gateway_fleet's."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.fleet.host import Host
from tests.test_gateway_fleet import TENDR, WORKSPACE, Gateway, gateway  # noqa: F401
from tests.test_gateway_onboard_fleet import PASSWORD, over_a_terminal, takes_a_password

pytestmark = pytest.mark.fleet

# carol administers; dave is the helpdesk: he reads everything, restarts acme's units
# and checks their backups, and changes nothing else.
DAY_RULES = """\
[roles.admin]
members = ["carol"]
allow = [{ ops = ["*", "command.run", "shell"], hosts = ["all"] }]

[roles.helpdesk]
members = ["dave"]
allow = [
  { ops = ["plan", "logs", "diagnose", "history", "report"], hosts = ["all"] },
  { ops = ["service.restart", "backup.check"], hosts = ["client:acme"] },
]
"""

ACME_DAY = """\
description = "Front desk: printing, the documents' backup, the sync service"
hosts = ["client:acme"]

[[printer]]
name = "frontdesk"
uri = "ipp://127.0.0.1:9/ipp/print"     # switched off: nothing answers there

[[backup]]
name = "documents"
sources = ["/srv/share"]
repository = "/var/backups/restic/documents"
password = { file = "secrets/acme.pass" }
schedule = "daily"

[[service]]
unit = "acme-sync.service"
content = \"\"\"
[Service]
ExecStart=/usr/local/bin/acme-sync
\"\"\"
running = true
"""

BETA_DAY = """\
description = "Login banner"
hosts = ["client:beta"]

[[file]]
path = "/etc/issue.net"
content = "Beta GmbH: authorised use only.\\n"
"""

SYNC = "#!/bin/sh\nexec sleep infinity\n"


def as_gateway(gateway: Gateway, command: str, stdin: str | None = None) -> None:  # noqa: F811
    """What the administrator changes in the gateway's workspace, committed."""
    done = gateway.controller.run(f"runuser -u tendr -- {command}", stdin=stdin)
    assert done.returncode == 0, done.stderr


def write(gateway: Gateway, relative: str, text: str, mode: str = "0644") -> None:  # noqa: F811
    path = f"{WORKSPACE}/{relative}"
    as_gateway(gateway, f'sh -c \'umask 077 && cat > "$1" && chmod {mode} "$1"\' - {path}', text)


def test_a_technicians_day(
    gateway: Gateway,  # noqa: F811 - the fixture, imported
    fresh_hosts: Callable[[int], list[Host]],
) -> None:
    acme, beta = gateway.acme, gateway.beta
    write(gateway, "rules/roles.toml", DAY_RULES, "0600")
    as_gateway(gateway, f"mkdir -p -m 0700 {WORKSPACE}/secrets")
    write(gateway, "secrets/acme.pass", "correct horse battery staple\n", "0600")
    write(gateway, "states/acme.toml", ACME_DAY)
    write(gateway, "states/beta.toml", BETA_DAY)
    for client in (acme, (new := fresh_hosts(1)[0])):
        client.run("mkdir -p /srv/share && echo 'minutes' > /srv/share/minutes.txt", check=True)
    git = f"git -C {WORKSPACE}"
    as_gateway(gateway, f"{git} add -A")
    as_gateway(gateway, f"{git} commit --quiet -m 'the day: rules and states'")

    # -- Morning: carol onboards acme's new front-desk machine through the gateway.
    takes_a_password(new)
    argv = gateway.ssh_argv("carol")
    argv[argv.index("-T")] = "-t"
    command = (
        f"onboard acme-desk02 --address {new.address} --port {new.port} --client acme "
        "--bootstrap-user tech --yes"
    )
    code, shown = over_a_terminal([*argv, "--", command], "tech's password:", PASSWORD)
    # acme's file logs in as root: the entry names the account onboarding made, and
    # onboarding ended by logging in through it.
    assert code == 0 and "onboarded: account, key, sudoers, pin, hosts file" in shown, shown
    assert PASSWORD not in shown
    approved = gateway.ssh("carol", "approve acme-desk02")
    assert approved.returncode == 0, approved.stderr
    # Its record is filed under the new host, where dave (who may read it) finds it.
    found = gateway.ssh("dave", "audit-log show --host acme-desk02 --format json")
    assert found.returncode == 0, found.stderr
    assert [r["op"] for r in json.loads(found.stdout)["records"]][:2] == [
        "host.onboard",
        "host.approve",
    ]

    # -- dave plans: every host's own work, the printer, backup and unit on acme's.
    planned = gateway.ssh("dave", "plan")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    for expected in ("printer.add", "backup.init", "service.configure", "/etc/issue.net"):
        assert expected in planned.stdout, (expected, planned.stdout)
    # dave may not apply: refused, nothing made.
    refused = gateway.ssh("dave", "apply --yes -l client:beta")
    assert refused.returncode == 1 and "file.write /etc/issue.net" in refused.stderr

    # -- carol applies while the printer is off: the backup is still set up, the
    # sync unit fails to start (its program is missing), beta's banner is written.
    applied = gateway.ssh("carol", "apply --yes --format json")
    assert applied.returncode == 1, applied.stdout + applied.stderr
    results = {
        (h["name"], c["op"], c["resource"]): c["outcome"]
        for h in json.loads(applied.stdout)["results"]
        for c in h["changes"]
    }
    for host in (acme.name, "acme-desk02"):
        assert results[(host, "printer.add", "frontdesk")] == "failed", results
        assert results[(host, "backup.init", "documents")] == "done", results
    assert results[(beta.name, "file.write", "/etc/issue.net")] == "done"
    # systemd took the start (a simple service), then the program was not there:
    # the read-back says the host has not converged, and the unit has failed.
    after = {h["name"]: h for h in json.loads(applied.stdout)["after"]["hosts"]}
    assert "acme-sync.service" in json.dumps(after[acme.name]["changes"])
    assert acme.run("systemctl is-failed acme-sync.service").stdout.strip() == "failed"
    assert acme.run("test -e /etc/tendr/backup/documents.sh").returncode == 0

    # -- The client calls: the sync is down. dave reads the unit's errors...
    logs = gateway.ssh("dave", f"logs -l {acme.name} --unit acme-sync.service --lines 20")
    assert logs.returncode == 0, logs.stderr
    assert "acme-sync.service: Main process exited" in logs.stdout, logs.stdout
    assert "status=203/EXEC" in logs.stdout  # it could not run its program
    assert "COMMAND=" not in logs.stdout  # not tendr's own sudo lines

    # ...and diagnose says why and what fixes it, a command he may run.
    diagnosed = gateway.ssh("dave", f"diagnose -l {acme.name}")
    assert diagnosed.returncode == 2, diagnosed.stdout + diagnosed.stderr
    shown = diagnosed.stdout
    assert "acme-sync.service failed" in shown
    assert "cause: a program or file it needs is missing" in shown, shown
    fix = "tendr do service.restart acme-sync.service"
    assert f"fix:   {fix}" in shown, shown
    # The printer that does not answer is said too, with no fix dave cannot run.
    assert "frontdesk" in shown

    # The cause dealt with on the machine (the client's installer), the suggested fix.
    acme.run(["install", "-m", "0755", "/dev/stdin", "/usr/local/bin/acme-sync"], stdin=SYNC)
    restarted = gateway.ssh("dave", f"do service.restart acme-sync.service -l {acme.name}")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert acme.run("systemctl is-active acme-sync.service").stdout.strip() == "active"

    # -- The backup, set up while the printer was off, is checked: it restores.
    backup = gateway.ssh("carol", f"apply --yes -l {acme.name} --format json")
    checked = gateway.ssh("dave", f"backup check {acme.name} documents")
    assert checked.returncode == 0, checked.stdout + checked.stderr + backup.stdout
    assert "passed" in checked.stdout

    # -- The client's report, in the client's words.
    report = gateway.ssh("dave", "report -l client:acme")
    assert report.returncode == 0, report.stderr
    text = report.stdout
    assert "Front desk: printing, the documents' backup, the sync service" in text
    assert "rules/roles.toml" not in text and "roles.admin" not in text
    assert "acme-sync.service failed" in text  # found by diagnose
    assert "printer.add frontdesk" in text
    assert "acme-desk02" in text and beta.name not in text
