"""What a push may carry to the gateway, and what root's changes to it leave in the
audit log, on the test fleet (the controller with a real sshd, as in
test_gateway_fleet.py, whose fixture and helpers these tests share).

The secret and the audit log live on the controller only: a push naming them is refused
and leaves them byte for byte as they were, and git at the gateway never holds them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tendr.core import audit
from tests import test_gateway_fleet
from tests.test_gateway_fleet import BETA_STATE, TENDR, WORKSPACE, Gateway

pytestmark = pytest.mark.fleet
gateway = test_gateway_fleet.gateway  # the fixture: a controller set up as the gateway

SECRET = "beta-secret-7f3a\n"
BETA_WITH_SECRET = BETA_STATE + (
    '\n[[file]]\npath = "/etc/beta.conf"\nsource = "secrets/beta.pass"\nmode = "0600"\n'
)
AS_TENDR = "runuser -u tendr --"


def _clone(gateway: Gateway, person: str, where: Path) -> Path:
    clone = where / f"clone-{person}"
    done = gateway.git(person, "clone", "tendr@127.0.0.1:workspace", str(clone), cwd=where)
    assert done.returncode == 0, done.stderr
    return clone


def _commit_and_push(
    gateway: Gateway, person: str, clone: Path, files: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Write `files` into `clone`, add them even where .gitignore says not to (-f), commit
    and push."""
    gateway.git(person, "fetch", "--quiet", cwd=clone)
    gateway.git(person, "reset", "--quiet", "--hard", "origin/main", cwd=clone)
    for relative, text in files.items():
        (clone / relative).parent.mkdir(parents=True, exist_ok=True)
        (clone / relative).write_text(text)
    added = gateway.git(person, "add", "-f", *files, cwd=clone)
    assert added.returncode == 0, added.stderr
    gateway.git(person, "commit", "--quiet", "-m", f"{person} pushes", cwd=clone)
    return gateway.git(person, "push", "--quiet", "origin", "HEAD:main", cwd=clone)


def _controller(gateway: Gateway, command: str) -> str:
    done = gateway.on_controller(command)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _log(gateway: Gateway) -> list[str]:
    """The gateway's audit log as it is on the controller's disk, line by line."""
    return _controller(gateway, f"cat {WORKSPACE}/.tendr/audit.log").splitlines(keepends=True)


def _records(gateway: Gateway) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _log(gateway)]


def test_a_push_cannot_carry_the_audit_log_a_secret_or_its_ignore_rules(
    gateway: Gateway, tmp_path: Path
) -> None:
    # The administrator puts the secret on the controller, then pushes the state naming it.
    _controller(
        gateway,
        f"install -d -o tendr -g tendr -m 0700 {WORKSPACE}/secrets && "
        f"install -o tendr -g tendr -m 0600 /dev/stdin {WORKSPACE}/secrets/beta.pass",
    )
    gateway.controller.run(f"cat > {WORKSPACE}/secrets/beta.pass", stdin=SECRET, check=True)
    secret_sum = f"sha256sum {WORKSPACE}/secrets/beta.pass"
    before_secret = _controller(gateway, secret_sum)
    carol = _clone(gateway, "carol", tmp_path)
    named = _commit_and_push(gateway, "carol", carol, {"states/beta.toml": BETA_WITH_SECRET})
    assert named.returncode == 0, named.stderr
    head = _controller(gateway, f"{AS_TENDR} git -C {WORKSPACE} rev-parse HEAD")

    # rules.edit everywhere does not let a push replace the log or the secret.
    forged = _commit_and_push(
        gateway,
        "carol",
        carol,
        {".tendr/audit.log": '{"forged": true}\n', "secrets/beta.pass": "stolen\n"},
    )
    assert forged.returncode != 0
    assert ".tendr/audit.log (the controller's own" in forged.stderr
    assert "secrets/beta.pass (the controller's own" in forged.stderr

    # Nor un-ignore them, to have them committed later.
    unignore = _commit_and_push(gateway, "carol", carol, {".gitignore": ".tendr/\n"})
    assert unignore.returncode != 0
    assert ".gitignore: the push would stop ignoring" in unignore.stderr
    assert "secrets/beta.pass" in unignore.stderr

    # Nor replace a file the controller holds outside git that .gitignore names.
    more = _commit_and_push(gateway, "carol", carol, {".gitignore": ".tendr/\nsecrets/\n*.local\n"})
    assert more.returncode == 0, more.stderr
    head = _controller(gateway, f"{AS_TENDR} git -C {WORKSPACE} rev-parse HEAD")
    _controller(gateway, f"{AS_TENDR} sh -c 'echo mine > {WORKSPACE}/notes.local'")
    ignored = _commit_and_push(gateway, "carol", carol, {"notes.local": "theirs\n"})
    assert ignored.returncode != 0
    assert "notes.local (ignored by the gateway's .gitignore)" in ignored.stderr
    assert _controller(gateway, f"cat {WORKSPACE}/notes.local") == "mine\n"

    assert _controller(gateway, secret_sum) == before_secret
    assert _controller(gateway, f"{AS_TENDR} git -C {WORKSPACE} rev-parse HEAD") == head
    assert audit.verify(_log(gateway)).ok
    committed = _controller(
        gateway, f"{AS_TENDR} git -C {WORKSPACE} log --all --format= --name-only"
    )
    assert "secrets/" not in committed and ".tendr/" not in committed

    # A technician of another client fetching from the gateway never sees the secret.
    dave = _clone(gateway, "dave", tmp_path)
    shown = gateway.git("dave", "log", "--all", "-p", cwd=dave)
    assert shown.returncode == 0 and SECRET.strip() not in shown.stdout
    assert not (dave / "secrets").exists()

    # The gateway goes on taking pushes: its checkout still matches its branch.
    later = _commit_and_push(
        gateway, "dave", dave, {"states/acme.toml": 'hosts = ["client:acme"]\n'}
    )
    assert later.returncode == 0, later.stderr
    refused = [
        r["after"]["files"]
        for r in _records(gateway)
        if r["command"] == "push" and r["outcome"] == "refused"
    ]
    assert refused == [[".tendr/audit.log", "secrets/beta.pass"], [".gitignore"], ["notes.local"]]


def test_root_s_changes_to_the_gateway_are_recorded(gateway: Gateway) -> None:
    """setup and allow (run by the fixture) and revoke are in the audit log with the
    account that ran them."""
    revoked = gateway.on_controller(f"{TENDR} gateway revoke dave")
    assert revoked.returncode == 0, revoked.stderr
    shut = gateway.ssh("dave", "plan")
    assert shut.returncode == 255 and "Permission denied" in shut.stderr
    records = [
        (r["op"], r["resource"], r["account"], r["person"])
        for r in _records(gateway)
        if str(r["op"]).startswith("gateway.")
    ]
    assert records == [
        ("gateway.setup", WORKSPACE, "root", "root"),
        ("gateway.allow", "carol", "root", "root"),
        ("gateway.allow", "dave", "root", "root"),
        ("gateway.revoke", "dave", "root", "root"),
    ]
    owner = _controller(gateway, f"stat -c %U {WORKSPACE}/.tendr/audit.log")
    assert owner == "tendr\n"  # root wrote nothing there itself


def test_a_line_tendr_did_not_write_is_refused_and_never_listed(gateway: Gateway) -> None:
    blob = _controller(gateway, "cut -d' ' -f2 /root/dave.pub").strip()
    forged = (
        f'restrict,pty,command="/bin/sh -c id gateway serve --person x" '
        f"ssh-ed25519 {blob} tendr-gateway:x"
    )
    keys = "/var/lib/tendr/.ssh/authorized_keys"
    _controller(gateway, f"echo '{forged}' >> {keys}")
    setup = gateway.on_controller(f"{TENDR} gateway setup --account tendr --workspace {WORKSPACE}")
    assert setup.returncode == 1
    assert "keys tendr did not write" in setup.stderr and "line 3" in setup.stderr
    people = gateway.on_controller(f"{TENDR} gateway people")
    assert people.returncode == 1 and "line 3" in people.stderr
    assert " x " not in people.stdout


def test_a_state_file_another_client_s_state_names_needs_that_client_too(
    gateway: Gateway, tmp_path: Path
) -> None:
    """beta's state takes a file's content from states/acme.toml: dave, who may edit
    acme's states only, may no longer change it, since the change would reach beta."""
    borrowing = BETA_STATE + '\n[[file]]\npath = "/etc/acme.toml"\nsource = "states/acme.toml"\n'
    carol = _clone(gateway, "carol", tmp_path)
    named = _commit_and_push(gateway, "carol", carol, {"states/beta.toml": borrowing})
    assert named.returncode == 0, named.stderr
    live = _controller(gateway, f"cat {WORKSPACE}/states/acme.toml")

    dave = _clone(gateway, "dave", tmp_path)
    pushed = _commit_and_push(gateway, "dave", dave, {"states/acme.toml": live + "# dave\n"})
    assert pushed.returncode != 0
    assert (
        f"states/acme.toml: no rule allows state.edit on {gateway.beta.name} for dave"
        in pushed.stderr
    )
    assert _controller(gateway, f"cat {WORKSPACE}/states/acme.toml") == live
