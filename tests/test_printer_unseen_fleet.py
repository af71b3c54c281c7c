"""Printers that cannot be seen now are not printers that never were (issue 27), and a
queue's name in another case is the same queue (issue 25): real cupsd, a simulated
network printer (ippeveprinter) that is switched off, a raw queue, and people in narrow
roles acting with --as."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr
from tests.test_drivers_fleet import printer_state, queue, simulated_printer

pytestmark = pytest.mark.fleet

RULES = f"""\
{ADMIN_RULES}
[roles.helpdesk]
members = ["hana"]
allow = [
  {{ ops = ["plan"], hosts = ["all"] }},
  {{ ops = ["printer.enable", "printer.disable"], hosts = ["all"] }},
]

[roles.printing]
members = ["pia"]
allow = [{{ ops = ["plan"], hosts = ["all"] }}, {{ ops = ["printer.*"], hosts = ["all"] }}]
deny = [{{ ops = ["printer.*"], hosts = ["all"], printers = ["frontdesk"] }}]
"""

STOP_CUPS = "systemctl stop cups.socket cups.path cups.service"


def workspace(root: Path, host: Host, state: str) -> str:
    write_hosts_file(root, [host])
    files = {"states/printers.toml": state, "rules/roles.toml": RULES}
    return str(build_tree(root, files))


def queue_id(host: Host, name: str) -> str:
    """The queue's UUID as cupsd wrote it into printers.conf when it stopped: a queue made
    again gets another."""
    conf = host.run(["cat", "/etc/cups/printers.conf"]).stdout
    block = conf.partition(f" {name}>\n")[2].partition("</")[0]
    [uuid] = [line for line in block.splitlines() if line.startswith("UUID ")]
    return uuid


def audited_ops(ws: str) -> list[tuple[str, str, str]]:
    code, raw = tendr("audit-log", "show", "-w", ws, "--format", "json")
    assert code == 0, raw
    return [(r["op"], r["resource"], r["outcome"]) for r in json.loads(raw)["records"]]


def test_a_stopped_cups_is_started_and_its_queue_kept(fresh_host: Host, tmp_path: Path) -> None:
    """CUPS stopped (socket, path and service) with a queue that is still configured and
    the default: the plan says CUPS is not running and plans no queue; a helpdesk person
    may start it; the administrator's apply, CUPS stopped again, keeps the same queue."""
    port = simulated_printer(fresh_host)
    uri = f"ipp://localhost:{port}/ipp/print"
    made = fresh_host.run(
        f"lpadmin -p reception -v {uri} -m everywhere -E -o printer-is-shared=false && "
        f"lpadmin -d reception && {STOP_CUPS}"
    )
    assert made.returncode == 0, made.stderr
    before = queue_id(fresh_host, "reception")
    ws = workspace(tmp_path, fresh_host, printer_state(fresh_host, "reception", port))

    code, text = tendr("plan", "-w", ws, "--as", "hana")
    assert code == 2, text
    assert "~ printer.enable     reception" in text
    assert "cups: not running → running" in text
    assert "CUPS is not running, so no queue prints: apply starts it" in text
    assert "printer.add" not in text and "blocked" not in text

    code, text = tendr("apply", "-w", ws, "--as", "hana", "--yes")
    assert code == 0, text
    assert "done printer.enable reception" in text
    assert fresh_host.run("systemctl is-active cups.service").stdout.strip() == "active"
    assert queue(fresh_host, "-d") == "system default destination: reception\n"
    assert queue(fresh_host, "-v", "reception") == f"device for reception: {uri}\n"

    assert fresh_host.run(STOP_CUPS).returncode == 0
    assert queue_id(fresh_host, "reception") == before
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    assert fresh_host.run(STOP_CUPS).returncode == 0
    assert queue_id(fresh_host, "reception") == before  # the same queue, never made again
    ops = audited_ops(ws)
    assert ("printer.enable", "reception", "done") in ops
    assert not [op for op in ops if op[0] == "printer.add"], ops


def test_a_printer_switched_off_leaves_its_queue_in_sync(
    fresh_hosts: Callable[[int], list[Host]], tmp_path: Path
) -> None:
    """A queue as declared is in sync whatever the printer's power: plan exits 0 with the
    printer off. A raw queue made while it is off gets no warning and prints nothing
    through CUPS's driverless set-up, so apply makes it."""
    printer_host, client = fresh_hosts(2)
    port = simulated_printer(printer_host)
    ws = workspace(tmp_path, client, printer_state(client, "frontdesk", port, default="true"))
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text

    assert printer_host.run("systemctl stop tendr-test-printer").returncode == 0
    code, text = tendr("plan", "-w", ws)
    assert code == 0, text
    assert "does not answer" not in text and "printer.read" not in text
    code, text = tendr("diagnose", "-w", ws, "-l", client.name)
    assert f"the printer of queue frontdesk at localhost:{port} does not answer" in text, text

    raw = f'[[printer]]\nname = "labels"\nuri = "socket://localhost:{port}"\ndriver = "raw"\n'
    ws = workspace(tmp_path, client, printer_state(client, "frontdesk", port, default="true") + raw)
    code, text = tendr("plan", "-w", ws)
    assert code == 2, text
    assert "+ printer.add        labels" in text
    assert "does not answer" not in text and "would have no driver" not in text
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    assert queue(client, "-v", "labels") == f"device for labels: socket://localhost:{port}\n"


def test_the_first_plan_without_cups_warns_of_a_printer_that_does_not_answer(
    fresh_host: Host, tmp_path: Path
) -> None:
    """No CUPS yet, a driverless printer that does not answer: the plan installs CUPS and
    warns that a queue made now would have no driver."""
    removed = fresh_host.run("apt-get -y -q remove cups cups-client cups-bsd")
    assert removed.returncode == 0, removed.stderr
    silent = 39999  # nothing listens there
    ws = workspace(tmp_path, fresh_host, printer_state(fresh_host, "frontdesk", silent))
    code, text = tendr("plan", "-w", ws)
    assert code == 2, text
    assert "+ driver.install     cups" in text and "+ printer.add        frontdesk" in text
    assert (
        f"the printer at localhost:{silent} does not answer: a queue made now would have no "
        "driver, so apply fails until it does"
    ) in text


def test_a_queue_name_in_capitals_does_not_dodge_a_deny(fresh_host: Host, tmp_path: Path) -> None:
    """A deny on the queue frontdesk: removing FRONTDESK (CUPS ignores case) is refused in
    the plan, which names the queue the host has, and the queue stays."""
    made = fresh_host.run(
        "lpadmin -p frontdesk -v socket://localhost:39998 -m raw -E -o printer-is-shared=false"
    )
    assert made.returncode == 0, made.stderr
    state = f'hosts = ["{fresh_host.name}"]\n[[printer]]\nname = "FRONTDESK"\npresent = false\n'
    ws = workspace(tmp_path, fresh_host, state)

    code, text = tendr("plan", "-w", ws, "--as", "pia")
    assert code == 2, text
    assert "printer.remove     FRONTDESK = frontdesk" in text
    code, raw = tendr("plan", "-w", ws, "--as", "pia", "--format", "json")
    [change] = json.loads(raw)["hosts"][0]["changes"]
    assert (change["op"], change["resolved"], change["allowed"]) == (
        "printer.remove",
        "frontdesk",
        False,
    )
    code, text = tendr("apply", "-w", ws, "--as", "pia", "--yes")
    assert code == 1 and "nothing was applied" in text, text
    assert (
        queue(fresh_host, "-v", "frontdesk") == "device for frontdesk: socket://localhost:39998\n"
    )
