"""plan and apply end to end on real test hosts (systemd, sshd, apt) over SSH."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fleet.fleet import Fleet
from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr
from tests.test_connect import ssh_fingerprint

pytestmark = pytest.mark.fleet

DEMO_UNIT = (
    "[Unit]\\nDescription=tendr demo\\n[Service]\\nExecStart=/bin/sleep infinity\\n"
    "[Install]\\nWantedBy=multi-user.target\\n"
)

STATE = f"""\
hosts = ["all"]

[[package]]
name = "hello"

[[file]]
path = "/etc/motd"
content = "Managed by Example IT.\\n"
mode = "0640"
owner = "root"
group = "lp"

[[service]]
unit = "tendr-demo.service"
content = "{DEMO_UNIT}"
enabled = true
running = true

[[service]]
unit = "cron.service"
enabled = false
running = false
"""


def workspace(root: Path, hosts: list[Host], state: str, user: str = "root") -> Path:
    """A workspace for these hosts with one state file and an admin role for root."""
    write_hosts_file(root, hosts, user=user)
    return build_tree(root, {"states/main.toml": state, "rules/roles.toml": ADMIN_RULES})


def test_drift_apply_converge_and_idempotent(fresh_host: Host, tmp_path: Path) -> None:
    """Each kind's drift is planned with its operation; apply converges; a second apply
    changes nothing and the plan after it exits 0."""
    ws = str(workspace(tmp_path, [fresh_host], STATE))
    code, text = tendr("plan", "-w", ws)
    assert code == 2, text
    for expected in (
        "+ package.install",
        "hello",
        "~ file.write",
        "/etc/motd",
        "+ service.configure",
        "tendr-demo.service",
        "service.enable",
        "service.start",
        "~ service.disable",
        "cron.service",
        "~ service.stop",
        "active (running) → inactive (dead)",
    ):
        assert expected in text, expected

    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    assert "converged" in text

    assert (
        fresh_host.run(["dpkg-query", "-W", "-f=${Status}", "hello"]).stdout
        == "install ok installed"
    )
    assert fresh_host.run("stat -c '%a %U %G' /etc/motd").stdout.strip() == "640 root lp"
    assert fresh_host.run("cat /etc/motd").stdout == "Managed by Example IT.\n"
    assert fresh_host.run("systemctl is-active tendr-demo.service").stdout.strip() == "active"
    assert fresh_host.run("systemctl is-enabled tendr-demo.service").stdout.strip() == "enabled"
    assert fresh_host.run("systemctl is-active cron.service").stdout.strip() == "inactive"

    code, text = tendr("plan", "-w", ws)
    assert code == 0, text
    assert "in sync" in text
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    assert "Nothing to apply" in text


def test_json_says_what_text_says(fresh_host: Host, tmp_path: Path) -> None:
    """The JSON plan lists the same operations and resources as the text plan."""
    ws = str(workspace(tmp_path, [fresh_host], STATE))
    code_text, text = tendr("plan", "-w", ws)
    code_json, raw = tendr("plan", "-w", ws, "--format", "json")
    assert code_text == code_json == 2
    data = json.loads(raw)
    [host] = data["hosts"]
    assert host["name"] == fresh_host.name and host["error"] is None
    for change in host["changes"]:
        assert f"{change['op']}" in text and change["resource"] in text
        assert change["allowed"] is True and "roles.admin.allow[0]" in change["rule"]
    motd = next(c for c in host["changes"] if c["resource"] == "/etc/motd")
    assert motd["before"]["mode"] == "0644" and motd["after"]["mode"] == "0640"
    assert data["summary"]["with_changes"] == 1


def test_changed_host_key_is_refused(fresh_host: Host, tmp_path: Path) -> None:
    """A host whose key does not match known_hosts is refused, named, and nothing runs."""
    ws = workspace(tmp_path, [fresh_host], STATE)
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmX8XnkhvSAI4zAXuVMlw6WkqSmGx0jf0KLLpdo3Nrx"
    (ws / "known_hosts").write_text(f"[127.0.0.1]:{fresh_host.port} {other}\n")
    code, text = tendr("plan", "-w", str(ws))
    assert code == 1
    assert f"{fresh_host.name}: error: host key not verified" in text
    # Both keys as ssh shows them, and the command for the workspace's file (not ~/.ssh's).
    kind = fresh_host.host_key.split()[0]
    assert f"port {fresh_host.port} offered {kind} {ssh_fingerprint(fresh_host.host_key)}" in text
    known = (ws / "known_hosts").resolve()
    assert f"{known} pins ssh-ed25519 {ssh_fingerprint(other)} for it" in text
    assert f"`ssh-keygen -R '[127.0.0.1]:{fresh_host.port}' -f {known}`" in text
    code, text = tendr("apply", "-w", str(ws), "--yes")
    assert code == 1
    assert fresh_host.run(["dpkg-query", "-W", "hello"]).returncode != 0


def test_unknown_host_key_is_refused(fresh_host: Host, tmp_path: Path) -> None:
    """An empty known_hosts never trusts on first use."""
    ws = workspace(tmp_path, [fresh_host], STATE)
    (ws / "known_hosts").write_text("")
    code, text = tendr("plan", "-w", str(ws))
    assert code == 1 and "host key not verified" in text
    assert (ws / "known_hosts").read_text() == ""


def test_unreachable_host_does_not_stop_the_others(fresh_host: Host, tmp_path: Path) -> None:
    """With one host unreachable the others are planned and applied; the exit code is 1."""
    ws = workspace(tmp_path, [fresh_host], STATE)
    hosts_file = ws / "hosts" / "fleet.toml"
    hosts_file.write_text(
        hosts_file.read_text() + '\n[hosts.gone-01]\naddress = "127.0.0.1"\nport = 1\n'
    )
    code, text = tendr("plan", "-w", str(ws))
    assert code == 1
    assert "gone-01: error: cannot connect" in text
    assert "+ package.install" in text
    code, text = tendr("apply", "-w", str(ws), "--yes")
    assert code == 1
    assert f"{fresh_host.name}: converged" in text
    assert fresh_host.run("systemctl is-active tendr-demo.service").stdout.strip() == "active"


HOSTILE_PATH = '/srv/we ird/it\'s "q"; $(touch /tmp/pwned1) `touch /tmp/pwned2` & x'
HOSTILE_CONTENT = "a'b\"c; $(touch /tmp/pwned3)\n`touch /tmp/pwned4`\n\\n \t end\n\n"


def test_hostile_paths_and_content_arrive_byte_for_byte(fresh_host: Host, tmp_path: Path) -> None:
    """Spaces, quotes, ;, $(...), backticks and newlines are data, never shell."""
    state = (
        f'hosts = ["all"]\n[[file]]\npath = {json.dumps(HOSTILE_PATH)}\n'
        f'content = {json.dumps(HOSTILE_CONTENT)}\nmode = "0600"\n'
    )
    ws = str(workspace(tmp_path, [fresh_host], state))
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    got = fresh_host.run(["cat", "--", HOSTILE_PATH])
    assert got.returncode == 0 and got.stdout == HOSTILE_CONTENT
    assert fresh_host.run("ls /tmp/pwned* 2>/dev/null | wc -l").stdout.strip() == "0"
    assert tendr("plan", "-w", ws)[0] == 0


def test_failed_unit_is_shown_failed_and_apply_reports_why(
    fresh_host: Host, tmp_path: Path
) -> None:
    """A unit that fails to start fails the apply with systemd's reason; the plan after
    shows it as failed, not as a bare 'not running'."""
    state = (
        'hosts = ["all"]\n[[service]]\nunit = "tendr-broken.service"\n'
        'content = "[Service]\\nType=oneshot\\nExecStart=/bin/false\\n"\nrunning = true\n'
    )
    ws = str(workspace(tmp_path, [fresh_host], state))
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1
    assert "failed service.start tendr-broken.service" in text
    code, text = tendr("plan", "-w", ws)
    assert code == 2
    assert "failed (failed) → active (running)" in text


def test_sudo_user(fresh_host: Host, tmp_path: Path) -> None:
    """A non-root user reads and changes the host through sudo."""
    state = 'hosts = ["all"]\n[[file]]\npath = "/etc/tendr-sudo"\ncontent = "via sudo\\n"\n'
    ws = str(workspace(tmp_path, [fresh_host], state, user="tech"))
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    assert fresh_host.run("stat -c %U /etc/tendr-sudo").stdout.strip() == "root"
    assert tendr("plan", "-w", ws)[0] == 0


def test_installed_program_plans_and_applies(
    fresh_hosts: Callable[[int], list[Host]], tmp_path: Path
) -> None:
    """The installed `tendr` program (cooperative I/O patched in, as users run it) plans and
    applies on several hosts at once; JSON output parses and the second plan is in sync."""
    hosts = fresh_hosts(2)
    ws = str(workspace(tmp_path, hosts, STATE))

    def program(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tendr", *args, "-w", ws],
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )

    planned = program("plan", "--format", "json")
    assert planned.returncode == 2, planned.stderr
    assert sorted(h["name"] for h in json.loads(planned.stdout)["hosts"]) == sorted(
        h.name for h in hosts
    )
    applied = program("apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert applied.stdout.count(": converged") == 2
    again = program("plan")
    assert again.returncode == 0 and again.stdout.count(": in sync") == 2


def test_package_missing_from_the_lists_is_flagged(fresh_host: Host, tmp_path: Path) -> None:
    """A wanted package the host's apt lists do not offer is planned with a warning, while
    one they offer is not."""
    state = (
        'hosts = ["all"]\n[[package]]\nname = "tendr-no-such-package"\n[[package]]\nname = "tree"\n'
    )
    ws = str(workspace(tmp_path, [fresh_host], state))
    code, raw = tendr("plan", "-w", ws, "--format", "json")
    assert code == 2
    notes = {c["resource"]: c["note"] for c in json.loads(raw)["hosts"][0]["changes"]}
    assert "not in the host's package lists now" in notes["tendr-no-such-package"]
    assert notes["tree"] is None


def test_removals_and_masking_converge(fresh_host: Host, tmp_path: Path) -> None:
    """Removing a package and a file and masking a unit are planned with their operations,
    applied, and in sync afterwards."""
    state = (
        'hosts = ["all"]\n[[package]]\nname = "cron"\npresent = false\n'
        '[[file]]\npath = "/etc/motd"\npresent = false\n'
        '[[service]]\nunit = "cups.service"\nmasked = true\n'
    )
    ws = str(workspace(tmp_path, [fresh_host], state))
    code, text = tendr("plan", "-w", ws)
    assert code == 2
    for expected in (
        "- package.remove",
        "cron",
        "- file.remove",
        "/etc/motd",
        "~ service.mask",
        "cups.service",
        "masked: no → yes",
    ):
        assert expected in text, expected
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    assert fresh_host.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "cron"]).stdout[1] != "i"
    assert fresh_host.run("test -e /etc/motd").returncode == 1
    assert fresh_host.run("systemctl is-enabled cups.service").stdout.strip() == "masked"
    assert tendr("plan", "-w", ws)[0] == 0


def test_a_removal_that_would_take_other_packages_is_refused(
    fresh_host: Host, tmp_path: Path
) -> None:
    """apt removes what depends on a package; the plan named one package, so a removal
    that would take others (git needs libcurl3-gnutls) fails saying which, and removes
    nothing."""
    state = 'hosts = ["all"]\n[[package]]\nname = "libcurl3-gnutls"\npresent = false\n'
    ws = str(workspace(tmp_path, [fresh_host], state))
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1
    assert "removing libcurl3-gnutls would also remove git" in text
    status = "dpkg-query -W -f='${db:Status-Abbrev}\\n' git libcurl3-gnutls"
    assert fresh_host.run(status, check=True).stdout.split() == ["ii", "ii"]


def test_a_symbolic_link_is_replaced_never_written_through(
    fresh_host: Host, tmp_path: Path
) -> None:
    """A link where a managed file should be (say, planted in a world-writable folder) is
    replaced by the file; the link's target keeps its content, mode and owner."""
    fresh_host.run(
        "install -d -m 1777 /srv/drop && printf secret > /root/private && "
        "chmod 600 /root/private && ln -s /root/private /srv/drop/report.log && "
        "ln -s /root/private /srv/drop/empty.log",
        check=True,
    )
    state = (
        'hosts = ["all"]\n[[file]]\npath = "/srv/drop/report.log"\ncontent = "report"\n'
        'mode = "0666"\nowner = "nobody"\n'
        '[[file]]\npath = "/srv/drop/empty.log"\nmode = "0666"\nowner = "nobody"\n'
    )
    ws = str(workspace(tmp_path, [fresh_host], state))
    code, text = tendr("plan", "-w", ws)
    assert code == 2 and "replaces the symbolic link there" in text
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    assert (
        fresh_host.run("stat -c '%a %U %s' /root/private; cat /root/private").stdout
        == "600 root 6\nsecret"
    )
    assert fresh_host.run(
        "stat -c '%F %a %U' /srv/drop/report.log /srv/drop/empty.log"
    ).stdout.splitlines() == ["regular file 666 nobody", "regular empty file 666 nobody"]
    assert fresh_host.run("cat /srv/drop/report.log").stdout == "report"
    assert tendr("plan", "-w", ws)[0] == 0


def plans_in_order_then_converges(ws: str, *ops: str) -> None:
    """The plan drifts with `ops` in this order; apply makes them; the plan is in sync."""
    code, text = tendr("plan", "-w", ws)
    assert code == 2, text
    positions = [text.index(op) for op in ops]
    assert positions == sorted(positions), text
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    assert tendr("plan", "-w", ws)[0] == 0


def test_a_masked_unit_is_unmasked_before_its_file_is_written(
    fresh_host: Host, tmp_path: Path
) -> None:
    """Unmasking comes first, so the unit file is not written into the mask's /dev/null."""
    fresh_host.run("systemctl mask tendr-masked.service", check=True)
    state = (
        'hosts = ["all"]\n[[service]]\nunit = "tendr-masked.service"\nmasked = false\n'
        f'content = "{DEMO_UNIT}"\nrunning = true\n'
    )
    ws = str(workspace(tmp_path, [fresh_host], state))
    plans_in_order_then_converges(ws, "service.unmask", "service.configure", "service.start")
    assert fresh_host.run("systemctl is-active tendr-masked.service").stdout.strip() == "active"
    assert fresh_host.run("test -c /dev/null && test ! -s /dev/null").returncode == 0


def test_a_masked_unit_wanted_running_is_unmasked_first(fresh_host: Host, tmp_path: Path) -> None:
    """cron masked, wanted enabled and running, the state silent on masking: the plan
    unmasks first (service.unmask, for the rules to decide), and apply converges (once:
    enable failed on the mask)."""
    fresh_host.run(
        "systemctl disable --now cron.service && systemctl mask cron.service", check=True
    )
    state = 'hosts = ["all"]\n[[service]]\nunit = "cron.service"\nenabled = true\nrunning = true\n'
    ws = str(workspace(tmp_path, [fresh_host], state))
    plans_in_order_then_converges(ws, "service.unmask", "service.enable", "service.start")
    assert fresh_host.run("systemctl is-enabled cron; systemctl is-active cron").stdout.split() == [
        "enabled",
        "active",
    ]


def test_new_content_keeps_the_mode_and_owner_the_state_leaves_unsaid(
    fresh_host: Host, tmp_path: Path
) -> None:
    """Replacing a file's content keeps the mode, owner and group the state does not set."""
    fresh_host.run(
        "printf old > /etc/tendr-secret && chown daemon:lp /etc/tendr-secret && "
        "chmod 0600 /etc/tendr-secret",
        check=True,
    )
    state = 'hosts = ["all"]\n[[file]]\npath = "/etc/tendr-secret"\ncontent = "new"\n'
    ws = str(workspace(tmp_path, [fresh_host], state))
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    assert (
        fresh_host.run("stat -c '%a %U %G' /etc/tendr-secret; cat /etc/tendr-secret").stdout
        == "600 daemon lp\nnew"
    )


VIEWER_RULES = """\
[roles.viewer]
members = ["root"]
allow = [{ ops = ["plan"], hosts = ["all"] }]
"""


def test_a_root_only_files_content_shows_neither_hash_nor_size(
    fresh_host: Host, tmp_path: Path
) -> None:
    """A person who may only plan learns of a root-only file, or a root-only drop-in, only
    that its content differs: neither hash nor size, in text or JSON (once a PIN was
    recovered from the hash prefix). A world-readable file shows both."""
    fresh_host.run(
        "printf 'PIN=1234\\n' > /etc/tendr-pin && chmod 600 /etc/tendr-pin && "
        "printf 'old\\n' > /etc/tendr-motd && chmod 644 /etc/tendr-motd && "
        "mkdir -p /etc/systemd/system/cron.service.d && cd $_ && "
        "printf 'PIN=1234\\n' > 10-tendr.conf && chmod 600 10-tendr.conf",
        check=True,
    )
    state = (
        'hosts = ["all"]\n[[file]]\npath = "/etc/tendr-pin"\ncontent = "PIN=0000\\n"\n'
        '[[file]]\npath = "/etc/tendr-motd"\ncontent = "new\\n"\n'
        '[[service]]\nunit = "cron.service"\n'
        'dropins = { "10-tendr.conf" = "[Service]\\nNice=1\\n" }\n'
    )
    write_hosts_file(tmp_path, [fresh_host])
    ws = str(build_tree(tmp_path, {"states/main.toml": state, "rules/roles.toml": VIEWER_RULES}))
    secrets = [hashlib.sha256(b"PIN=1234\n").hexdigest(), hashlib.sha256(b"PIN=0000\n").hexdigest()]
    old, new = (hashlib.sha256(text).hexdigest() for text in (b"old\n", b"new\n"))

    code, text = tendr("plan", "-w", ws)
    assert code == 2, text
    assert "/etc/tendr-pin  blocked" in text
    assert "content: differs (not world-readable: no hash or size shown)" in text
    assert "drop-in 10-tendr.conf content: not shown (not world-readable) → 17 bytes" in text
    assert "9 bytes" not in text and not any(digest[:12] in text for digest in secrets)
    assert f"content: 4 bytes, sha256 {old[:12]} → 4 bytes, sha256 {new[:12]}" in text

    code, raw = tendr("plan", "-w", ws, "--format", "json")
    assert code == 2, raw
    changes = {
        c["resource"]: c
        for c in json.loads(raw)["hosts"][0]["changes"]
        if c["op"] != "service.restart"
    }
    hidden = {"hidden": "not world-readable"}
    assert (
        changes["/etc/tendr-pin"]["before"]
        == changes["/etc/tendr-pin"]["after"]
        == {"content": hidden}
    )
    assert changes["cron.service"]["before"] == {
        "dropin_10-tendr.conf_content": hidden,
        "dropin_10-tendr.conf_mode": "0600",
    }
    assert not any(digest[:12] in raw for digest in secrets)
    assert changes["/etc/tendr-motd"]["before"] == {"content": {"size": 4, "sha256": old}}
    assert changes["/etc/tendr-motd"]["after"] == {"content": {"size": 4, "sha256": new}}


def test_a_unit_not_installed_yet_reads_so_and_apply_says_why_once(
    fresh_host: Host, tmp_path: Path
) -> None:
    """A unit the host has not got, while the plan installs a package that does not bring
    it: the plan says 'not installed' (not systemd's 'none' or 'inactive (dead)') and that
    it needs the planned installs; apply fails on it with systemd's reason, and makes the
    change that does not need it."""
    state = (
        'hosts = ["all"]\n[[package]]\nname = "hello"\n'
        '[[service]]\nunit = "tendr-nothere.service"\nenabled = true\nrunning = true\n'
        '[[service]]\nunit = "cron.service"\nrunning = false\n'
    )
    ws = str(workspace(tmp_path, [fresh_host], state))
    code, text = tendr("plan", "-w", ws)
    assert code == 2, text
    assert "enabled: not installed → enabled" in text
    assert "state: not installed → active (running)" in text
    assert text.count("needs package.install hello") == 2
    assert "none →" not in text and "inactive (dead) →" not in text
    assert "allowed by rules/roles.toml: roles.admin.allow[0]" in text

    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1, text
    assert "failed service.enable tendr-nothere.service: " in text
    assert "failed service.start tendr-nothere.service: " in text
    assert "done service.stop cron.service\n" in text


def test_a_thousand_resources_on_one_host_plan_correctly(fleet: Fleet, tmp_path: Path) -> None:
    """A probe of 1,000 files (over the kernel's 128 KiB for one command line) is read
    in one round trip; each file's state is right: 400 match, 300 differ, 300 missing.
    Only reads the shared host: the files it compares are ones the host has."""
    host = fleet.hosts[0]
    present = host.run(
        "find /usr/share -type f -perm 0644 -user root | grep -E '^[A-Za-z0-9/._+-]+$' "
        "| sort | head -n 700",
        check=True,
    ).stdout.split()
    assert len(present) == 700
    entries = []
    for index, path in enumerate(present):
        # The first 400 declared with their real mode (in sync), the next 300 with
        # another (a change); then 300 that do not exist (to be added).
        mode = "0644" if index < 400 else "0600"
        entries.append(f'[[file]]\npath = "{path}"\nmode = "{mode}"\n')
    entries += [
        f'[[file]]\npath = "/srv/tendr-missing/f{index:04d}"\ncontent = "x"\n'
        for index in range(300)
    ]
    state = 'hosts = ["all"]\n\n' + "\n".join(entries)
    assert len(state) > 40_000  # and the probe, with its quoting and commands, far more
    ws = str(workspace(tmp_path, [host], state))
    code, raw = tendr("plan", "-w", ws, "--format", "json")
    assert code == 2, raw
    (planned,) = json.loads(raw)["hosts"]
    assert planned["error"] is None
    actions = [c["action"] for c in planned["changes"]]
    assert actions.count("change") == 300 and actions.count("add") == 300
    assert len(actions) == 600
