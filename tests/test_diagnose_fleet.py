"""diagnose on a real test host: a unit that cannot start and a stopped print queue,
each with its cause and the operation that fixes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

BROKEN = "[Service]\nExecStart=/usr/bin/tendr-missing-program\n"


def test_diagnose_shows_what_is_wrong_why_and_the_fix(fresh_host: Host, tmp_path: Path) -> None:
    fresh_host.run(
        f"printf '{BROKEN}' > /etc/systemd/system/tendr-broken.service && "
        "systemctl daemon-reload; systemctl start tendr-broken.service; "
        "lpadmin -p frontdesk -v socket://127.0.0.1:9 -m raw && cupsdisable frontdesk && "
        "cupsaccept frontdesk && lp -d frontdesk /etc/hostname",
    )
    write_hosts_file(tmp_path, [fresh_host])
    state = (
        f'hosts = ["{fresh_host.name}"]\n[[file]]\npath = "/etc/motd"\ncontent = "Hi\\n"\n'
        '[[service]]\nunit = "tendr-broken.service"\nenabled = false\n'
    )
    ws = str(build_tree(tmp_path, {"states/s.toml": state, "rules/roles.toml": ADMIN_RULES}))

    code, text = tendr("diagnose", "-w", ws)
    assert code == 2, text
    for expected in (
        "tendr-broken.service failed",
        "cause: a program or file it needs is missing",
        # Declared: the fix is one tendr accepts for this person.
        "fix:   tendr do service.restart tendr-broken.service",
        "tendr-missing-program",  # its own error line from the journal
        "print queue frontdesk is stopped, 1 job(s) waiting",
        # Declared by no state: tendr would refuse `tendr do printer.enable frontdesk`.
        "fix:   no state declares printer frontdesk",
        "file.write /etc/motd",  # drift against the desired state
        "cause: its content differs from the state; not seen drifting by an earlier plan; "
        "tendr has not changed it",
        " bytes, sha256 ",  # a content as a plan shows it, not as Python does
    ):
        assert expected in text, f"{expected}\n---\n{text}"
    assert text.count("tendr-missing-program") == 1, text  # not again as the journal's
    assert "tendr do printer.enable frontdesk" not in text

    code, text = tendr("diagnose", "-w", ws, "--format", "json")
    [host] = json.loads(text)["hosts"]
    areas = [p["area"] for p in host["problems"]]
    assert areas[:1] == ["unit"] and "printer" in areas and "drift" in areas

    code, text = tendr("diagnose", "-w", ws, "--as", "dave")
    assert code == 1 and "permission denied" in text
