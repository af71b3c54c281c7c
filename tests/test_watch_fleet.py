"""tendr watch on real test hosts, its alerts received on loopback (an SMTP server and a
JSON webhook): a backup that starts failing opens one problem and one notification, the
next cycle sends nothing more, the fix sends "cleared"; a host made unreachable and one
drifted by hand each open a problem; a flapping unit is one alert; the status page lists
the problems in Chromium."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, BROWSER, build_tree, rendered, requires
from tests.helpers import run_tendr as tendr
from tests.receivers import Received, http_receiver, smtp_receiver

pytestmark = pytest.mark.fleet

TOKEN = "Watch-Alert-Secret-51c2"
PASSWORD = "Watch-Backup-Secret-8d1e"
REPO = "/var/backups/restic/documents"
BACKUP = f"""
[[backup]]
name = "documents"
sources = ["/srv/share"]
repository = "{REPO}"
password = {{ file = "secrets/acme.pass" }}
schedule = "daily"
"""
MOTD = '[[file]]\npath = "/etc/motd"\ncontent = "Managed by tendr\\n"\n'


def workspace(root: Path, hosts: list[Host], state: str, hook: Received, mail: Received) -> str:
    write_hosts_file(root, hosts, client="acme")
    with (root / "tendr.toml").open("a") as settings:
        settings.write(
            'watch_clear_after = 1\n[[alert]]\nurl = { file = "secrets/hook.url" }\n'
            '[[alert]]\nurl = { file = "secrets/mail.url" }\nmin_severity = "critical"\n'
        )
    names = ", ".join(f'"{h.name}"' for h in hosts)
    build_tree(
        root,
        {
            "states/s.toml": f"hosts = [{names}]\n{state}",
            "rules/roles.toml": ADMIN_RULES,
            "secrets/acme.pass": PASSWORD + "\n",
            "secrets/hook.url": f"json://tendr:{TOKEN}@127.0.0.1:{hook.port}/\n",
            "secrets/mail.url": f"mailto://tendr:{TOKEN}@127.0.0.1:{mail.port}"
            "?from=tendr@example.net&to=ops@example.net&secure=no\n",
        },
    )
    for secret in ("acme.pass", "hook.url", "mail.url"):
        (root / "secrets" / secret).chmod(0o600)
    return str(root)


def watch(ws: str, said: list[str]) -> tuple[int, dict[str, list[dict[str, str]]]]:
    code, text = tendr("watch", "-w", ws, "--format", "json")
    said.append(text)
    assert code in (0, 2), text
    return code, json.loads(text)


def keys(found: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(p["area"], p["key"]) for p in found}


def test_a_failing_backup_opens_one_alert_and_its_fix_clears_it(
    fresh_host: Host, tmp_path: Path
) -> None:
    fresh_host.run("mkdir -p /srv/share && echo figures > /srv/share/report.txt", check=True)
    said: list[str] = []
    with http_receiver() as hook, smtp_receiver() as mail:
        ws = workspace(tmp_path / "ws", [fresh_host], BACKUP, hook, mail)
        code, text = tendr("apply", "-w", ws, "--yes")
        assert code == 0, text
        _, done = watch(ws, said)
        assert not [p for p in done["open"] if p["area"] == "backup"], done
        before = len(hook.messages), len(mail.messages)

        # The job's source is gone and its run fails.
        fresh_host.run(
            "mv /srv/share /srv/share.away; systemctl start tendr-backup-documents.service",
        )
        code, done = watch(ws, said)
        assert code == 2 and keys(done["opened"]) == {("backup", "backup.run documents")}, done
        [problem] = done["opened"]
        assert problem["severity"] == "critical" and "the last run failed" in problem["cause"]
        assert len(hook.messages) == before[0] + 1 and len(mail.messages) == before[1] + 1
        for told in (hook.messages[-1], mail.messages[-1]):
            assert told["title"] == "tendr: acme: 1 new"
            assert "backup.run documents" in told["body"] and "the last run failed" in told["body"]
            assert "fix:   tendr apply (operation backup.run documents)" in told["body"]

        code, done = watch(ws, said)  # still failing: nothing more is told
        assert code == 2 and done["opened"] == [] and done["cleared"] == [], done
        assert len(hook.messages) == before[0] + 1 and len(mail.messages) == before[1] + 1

        fresh_host.run("mv /srv/share.away /srv/share", check=True)
        code, text = tendr("apply", "-w", ws, "--yes")  # runs the job again
        assert code == 0, text
        code, done = watch(ws, said)
        assert keys(done["cleared"]) == {("backup", "backup.run documents")}, done
        assert (
            hook.messages[-1]["title"] == mail.messages[-1]["title"] == ("tendr: acme: 1 cleared")
        )
        assert len(hook.messages) == before[0] + 2

    for text in [*said, *(m["body"] for m in hook.messages + mail.messages)]:
        assert TOKEN not in text and PASSWORD not in text
    for path in (tmp_path / "ws/.tendr").rglob("*"):  # every file tendr keeps
        assert path.is_dir() or TOKEN.encode() not in path.read_bytes(), path


PORT_FILE = "/etc/ssh/sshd_config.d/01-tendr-fleet-port.conf"  # as tests/fleet writes it
PORT_CONF = "Port %s\\nListenAddress 127.0.0.1\\n"


def elsewhere(host: Host, tmp_path: Path) -> Host:
    """Move the host's sshd to a free port: its own is then closed, as a machine off the
    network is to tendr; the host as reached on the new port (to move it back)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host.run(f"printf '{PORT_CONF}' {port} > {PORT_FILE} && systemctl restart ssh", check=True)
    known = tmp_path / "known_hosts.moved"
    known.write_text(f"[127.0.0.1]:{port} {host.host_key}\n")
    return replace(host, port=port, known_hosts_path=known)


@requires(BROWSER is not None, "Debian's chromium renders the status page")
def test_an_unreachable_host_and_one_drifted_by_hand_each_open_a_problem(
    fresh_hosts: Callable[[int], list[Host]], tmp_path: Path
) -> None:
    first, second = fresh_hosts(2)
    said: list[str] = []
    with http_receiver() as hook, smtp_receiver() as mail:
        ws = workspace(tmp_path / "ws", [first, second], MOTD, hook, mail)
        code, text = tendr("apply", "-w", ws, "--yes")
        assert code == 0, text
        watch(ws, said)
        told = len(hook.messages)

        first.run("echo changed by hand > /etc/motd", check=True)
        back = elsewhere(second, tmp_path)  # its sshd moved to another port: unreachable
        try:
            code, done = watch(ws, said)
            assert code == 2, done
            opened = {(p["host"], p["area"], p["key"]) for p in done["opened"]}
            assert opened == {
                (first.name, "drift", "file.write /etc/motd"),
                (second.name, "host", "cannot be reached"),
            }, done
            severity = {p["host"]: p["severity"] for p in done["opened"]}
            assert severity == {first.name: "warning", second.name: "critical"}
            assert len(hook.messages) == told + 1  # one notification for the client
            assert "2 new" in hook.messages[-1]["title"]
            assert "1 new" in mail.messages[-1]["title"]  # critical ones only
            assert second.name in mail.messages[-1]["body"]

            dom = rendered(tmp_path / "ws/.tendr/status.html")
            assert "Fleet status: 2 problem(s) open" in dom
            assert "file.write /etc/motd" in dom and f"{second.name} cannot be reached" in dom
        finally:
            back.run(f"printf '{PORT_CONF}' {second.port} > {PORT_FILE} && systemctl restart ssh")

        first.run("printf 'Managed by tendr\\n' > /etc/motd", check=True)
        code, done = watch(ws, said)
        cleared = {(p["host"], p["area"]) for p in done["cleared"]}
        assert cleared == {(first.name, "drift"), (second.name, "host")}, done
        code, text = tendr("status", "-w", ws)
        assert "0 problem(s)" in text and "cannot be reached" not in text, text


FLAPPING = "[Service]\nType=oneshot\nExecStart=/bin/false\n"


def test_a_flapping_unit_is_one_alert(fresh_host: Host, tmp_path: Path) -> None:
    fresh_host.run(
        f"printf '{FLAPPING}' > /etc/systemd/system/tendr-flap.service && systemctl daemon-reload",
        check=True,
    )
    said: list[str] = []
    with http_receiver() as hook, smtp_receiver() as mail:
        ws = workspace(tmp_path / "ws", [fresh_host], MOTD, hook, mail)
        (tmp_path / "ws/tendr.toml").write_text(
            (tmp_path / "ws/tendr.toml").read_text().replace("watch_clear_after = 1", "")
        )  # the default: a clearing is told after two cycles without the problem
        code, text = tendr("apply", "-w", ws, "--yes")
        assert code == 0, text
        watch(ws, said)
        told, mailed = len(hook.messages), len(mail.messages)
        opened = []
        for _ in range(3):
            fresh_host.run("systemctl start tendr-flap.service")
            _, done = watch(ws, said)
            opened += [p for p in done["opened"] if p["key"] == "tendr-flap.service failed"]
            fresh_host.run("systemctl reset-failed tendr-flap.service", check=True)
            _, done = watch(ws, said)
            assert done["cleared"] == [], done
        assert len(opened) == 1 and len(hook.messages) == told + 1
        assert len(mail.messages) == mailed + 1  # a failed unit is critical
        _, done = watch(ws, said)  # away two cycles in a row: cleared, told once
        assert keys(done["cleared"]) == {("unit", "tendr-flap.service failed")}
        assert len(hook.messages) == told + 2 and "1 cleared" in hook.messages[-1]["title"]
