"""Updates on a real test host, without the internet: a local apt repository built in
the test (dpkg-deb; the Packages and Release files written here) and served to the host
as two flat file: repositories, one labelled as a security origin. Packages at 1.0 are
installed and 1.1 is available: the security update is applied, the other reported, then
applied in the window; a held package is left alone, and an upgrade that would remove
another package is refused, naming it."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tendr.kinds.updates import DAYS
from tests.fleet.host import Host, write_hosts_file
from tests.helpers import ADMIN_RULES, build_tree
from tests.helpers import run_tendr as tendr

pytestmark = pytest.mark.fleet

REPO = "/srv/tendr-repo"


def deb(out: Path, name: str, version: str, **fields: str) -> Path:
    """A package of nothing but its control file (and a file of its own), built here."""
    root = out / f"{name}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/share/doc" / name).mkdir(parents=True)
    (root / "usr/share/doc" / name / "version").write_text(version + "\n")
    control = {
        "Package": name,
        "Version": version,
        "Architecture": "all",
        "Maintainer": "tendr tests <tests@example.org>",
        "Description": "a package of the updates test",
        **fields,
    }
    (root / "DEBIAN/control").write_text("".join(f"{k}: {v}\n" for k, v in control.items()))
    built = out / f"{name}_{version}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(built)],
        check=True,
        capture_output=True,
    )
    return built


def stanza(path: Path) -> str:
    control = subprocess.run(
        ["dpkg-deb", "-f", str(path)], check=True, capture_output=True, text=True
    ).stdout
    data = path.read_bytes()
    return (
        control.rstrip("\n")
        + f"\nFilename: ./{path.name}\nSize: {len(data)}\n"
        + f"SHA256: {hashlib.sha256(data).hexdigest()}\n\n"
    )


def send(host: Host, path: str, data: bytes) -> None:
    ran = host.run(
        ["sh", "-c", f'mkdir -p "$(dirname {path})" && base64 -d > {path}'],
        stdin=base64.b64encode(data).decode(),
    )
    assert ran.returncode == 0, ran.stderr


def repository(host: Host, name: str, label: str, suite: str, debs: list[Path]) -> None:
    packages = "".join(stanza(d) for d in debs).encode()
    release = (
        f"Origin: Tendr\nLabel: {label}\nSuite: {suite}\nCodename: tendr\n"
        "Date: Sat, 05 Dec 2026 00:00:00 UTC\n"
        f"SHA256:\n {hashlib.sha256(packages).hexdigest()} {len(packages)} Packages\n"
    )
    for d in debs:
        send(host, f"{REPO}/{name}/{d.name}", d.read_bytes())
    send(host, f"{REPO}/{name}/Packages", packages)
    send(host, f"{REPO}/{name}/Release", release.encode())


def versions(host: Host) -> dict[str, str]:
    listed = host.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "tendr-*"]).stdout
    return dict(line.split() for line in listed.splitlines())


def plan(ws: str) -> tuple[int, list[dict[str, Any]]]:
    code, text = tendr("plan", "-w", ws, "--format", "json")
    return code, [c for h in json.loads(text)["hosts"] for c in h["changes"]]


def state(host: Host, **fields: str) -> str:
    fields.setdefault("unattended", "true")
    lines = [f"{k} = {v}" for k, v in fields.items()]
    return f'hosts = ["{host.name}"]\n[[updates]]\n' + "\n".join(lines) + "\n"


def test_updates_are_reported_applied_in_the_window_held_and_never_remove(
    fresh_hosts: Callable[[int], list[Host]], tmp_path: Path
) -> None:
    (host,) = fresh_hosts(1)
    built = tmp_path / "debs"
    built.mkdir()
    old = [
        deb(built, "tendr-demo", "1.0"),
        deb(built, "tendr-other", "1.0"),
        deb(built, "tendr-held", "1.0"),
        deb(built, "tendr-conflict", "1.0"),
        deb(built, "tendr-victim", "1.0"),
    ]
    for d in old:
        send(host, f"/tmp/debs/{d.name}", d.read_bytes())
    installed = host.run("dpkg -i /tmp/debs/*.deb")
    assert installed.returncode == 0, installed.stderr
    repository(
        host, "security", "Tendr-Security", "stable-security", [deb(built, "tendr-demo", "1.1")]
    )
    repository(
        host,
        "main",
        "Tendr",
        "stable",
        [
            deb(built, "tendr-other", "1.1"),
            deb(built, "tendr-held", "1.1"),
            deb(built, "tendr-conflict", "1.1", Conflicts="tendr-victim"),
            deb(built, "unattended-upgrades", "1.0"),  # a stand-in: the state's driver
        ],
    )
    # The host's only sources: the test's (no mirror, no internet).
    sources = "".join(f"deb [trusted=yes] file:{REPO}/{name} ./\n" for name in ("main", "security"))
    ran = host.run("rm -f /etc/apt/sources.list.d/* && cat > /etc/apt/sources.list", stdin=sources)
    assert ran.returncode == 0, ran.stderr

    ws_root = tmp_path / "ws"
    write_hosts_file(ws_root, [host])
    hold = '["tendr-held"]'
    files = {
        "rules/roles.toml": ADMIN_RULES,
        "states/u.toml": state(host, hold=hold, unattended="true"),
    }
    ws = str(build_tree(ws_root, files))

    # The first plan refreshes the lists; the security update is approved, the others
    # reported; the hold is to be made.
    code, changes = plan(ws)
    assert code == 2, changes
    found = {(c["op"], c["resource"], c["action"]): c for c in changes}
    demo = found["updates.apply", "tendr-demo", "change"]
    assert (demo["before"], demo["after"]) == ({"version": "1.0"}, {"version": "1.1"})
    assert demo["note"].startswith("security update from Tendr-Security:stable-security")
    other = found["updates.apply", "tendr-other", "unknown"]
    assert other["note"].endswith("reported only"), other
    assert ("updates.hold", "tendr-held", "change") in found
    assert ("driver.install", "unattended-upgrades", "add") in found
    assert ("updates.configure", "unattended-upgrades", "change") in found
    assert not any(c["resource"] == "tendr-victim" for c in changes)
    # The lists were refreshed by the first plan, and only then (refresh = "6h").
    stamp = ["stat", "-c", "%Y", "/var/lib/tendr/apt-lists-refreshed"]
    refreshed = host.run(stamp).stdout.strip()
    assert refreshed, "the first plan refreshed no lists"
    host.run(["touch", "-d", "-1 hour", "/var/lib/tendr/apt-lists-refreshed"], check=True)
    refreshed = host.run(stamp).stdout.strip()
    code, text = tendr("plan", "-w", ws)
    assert "~ updates.apply" in text and "1.0 → 1.1" in text, text
    assert "2 waiting" in text, text
    assert host.run(stamp).stdout.strip() == refreshed

    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1, text  # apply leaves drift: the reported updates
    assert versions(host) == {
        "tendr-demo": "1.1",
        "tendr-other": "1.0",
        "tendr-held": "1.0",
        "tendr-conflict": "1.0",
        "tendr-victim": "1.0",
    }
    assert host.run(["apt-mark", "showhold"]).stdout.split() == ["tendr-held"]
    conf = host.run(["cat", "/etc/apt/apt.conf.d/52tendr-unattended"]).stdout
    assert 'APT::Periodic::Unattended-Upgrade "1";' in conf, conf
    assert host.run(["dpkg-query", "-W", "unattended-upgrades"]).returncode == 0

    # Others applied after 7 days: counted from the first plan that saw them, which the
    # drift history keeps.
    files["states/u.toml"] = state(host, others='"apply"', approve_after='"7d"', hold=hold)
    build_tree(ws_root, files)
    code, changes = plan(ws)
    other = next(c for c in changes if c["resource"] == "tendr-other")
    assert other["action"] == "unknown" and "(approve_after 7d)" in other["note"], other
    history = sqlite3.connect(ws_root / ".tendr" / "history.sqlite")
    with history:
        (facts,) = history.execute(
            "SELECT facts FROM seen WHERE resource = 'updates:updates'"
        ).fetchone()
        available = json.loads(facts)["available"]
        assert set(available) == {"tendr-other=1.1", "tendr-conflict=1.1"}, available
        available["tendr-other=1.1"] -= 8 * 86400  # first seen 8 days earlier
        history.execute(
            "UPDATE seen SET facts = ? WHERE resource = 'updates:updates'",
            (json.dumps({"available": available}),),
        )
    history.close()
    code, changes = plan(ws)
    approved = {
        c["resource"] for c in changes if c["op"] == "updates.apply" and c["action"] == "change"
    }
    assert approved == {"tendr-other"}, changes

    # Others applied, but outside the window: they wait for it.
    now = host.run(["date", "+%a"]).stdout.strip()
    elsewhere = DAYS[(DAYS.index(now) + 3) % 7]
    files["states/u.toml"] = state(
        host, others='"apply"', window=f'"{elsewhere} 00:00-00:00"', hold=hold
    )
    build_tree(ws_root, files)
    code, changes = plan(ws)
    waiting = [c for c in changes if c["action"] == "unknown"]
    assert {c["resource"] for c in waiting} == {"tendr-other", "tendr-conflict"}, changes
    assert all("waiting for the window" in c["note"] for c in waiting), waiting
    code, text = tendr("apply", "-w", ws, "--yes")
    assert versions(host)["tendr-other"] == "1.0"

    # Inside the window: one apt run for both, refused since it would remove the victim.
    files["states/u.toml"] = state(host, others='"apply"', window=f'"{now} 00:00-00:00"', hold=hold)
    build_tree(ws_root, files)
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1, text
    assert "would remove tendr-victim" in text, text
    assert versions(host)["tendr-victim"] == "1.0" and versions(host)["tendr-other"] == "1.0"

    # Held, the conflicting one is left alone and the other upgraded; converged.
    hold = '["tendr-held", "tendr-conflict"]'
    files["states/u.toml"] = state(host, others='"apply"', window=f'"{now} 00:00-00:00"', hold=hold)
    build_tree(ws_root, files)
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    assert versions(host) == {
        "tendr-demo": "1.1",
        "tendr-other": "1.1",
        "tendr-held": "1.0",
        "tendr-conflict": "1.0",
        "tendr-victim": "1.0",
    }
    code, text = tendr("plan", "-w", ws)
    assert code == 0, text

    # Out of the state's hold, the package tendr held is unheld; the next apply upgrades it.
    files["states/u.toml"] = state(
        host, others='"apply"', window=f'"{now} 00:00-00:00"', hold='["tendr-conflict"]'
    )
    build_tree(ws_root, files)
    code, changes = plan(ws)
    assert [(c["op"], c["resource"]) for c in changes] == [("updates.unhold", "tendr-held")]
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 1 and "~ updates.apply      tendr-held" in text, text  # now pending
    assert host.run(["apt-mark", "showhold"]).stdout.split() == ["tendr-conflict"]
    code, text = tendr("apply", "-w", ws, "--yes")
    assert code == 0, text
    assert versions(host)["tendr-held"] == "1.1"
