"""`tendr init DIR`: a new workspace with examples, its creator as admin.

The new workspace targets no host: the examples are files tendr does not read (their
names end in .example) until they are copied to a .toml name, so a first `tendr apply`
changes nothing anywhere, not even on the technician's own machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import tomlkit

from tendr.base.errors import InitError
from tendr.workspace.schema import FAMILIES, FILE_NAMES, schema_for, taplo_config

EXAMPLE_SUFFIX = ".example"
SCHEMA_FOLDER = ".schemas"

_HOSTS = """\
# An example client, not read by tendr until you copy it to hosts/CLIENT.toml (the
# client's name is the file's stem), e.g. `cp hosts/acme.toml.example hosts/acme.toml`.
# SSH host keys are pinned in known_hosts: an unknown or changed key is refused.

[defaults]
# connector = "local" reaches the machine tendr runs on, without SSH.
connector = "ssh"
user = "tendr"                          # default: service_account in tendr.toml
port = 22
ssh_key = "~/.ssh/tendr_ed25519"        # unencrypted; or leave it out to use ssh-agent
groups = ["acme"]

[hosts.acme-fs01]
address = "203.0.113.10"
groups = ["fileservers"]
tags = ["critical"]

[hosts.acme-desk01]
address = "203.0.113.21"
groups = ["desktops", "frontdesk"]
"""

_STATE = """\
# An example of desired state, not read by tendr until you copy it to states/NAME.toml.
# `hosts` takes host names, group:NAME, client:NAME, tag:NAME or all; each must select
# a host of hosts/. Kinds: service, module, printer, backup, package, file.
description = "Baseline for Acme's machines"
hosts = ["client:acme"]

[[file]]
path = "/etc/motd"
content = "Managed by your IT provider.\\n"
mode = "0644"

[[package]]
name = "ca-certificates"

[[service]]
unit = "cron.service"
enabled = true
running = true
"""

_RULES = """\
# rules/roles.toml — who may do what, where. Default deny; a deny beats an allow.
# Members are operating-system account names. This file must not be writable
# by anyone but its owner (chmod go-w), as sshd requires of authorized_keys.

[roles.admin]
description = "Workspace administrators"
members = [{creator}]
# command.run and shell are a root shell's power: named, never covered by "*".
allow = [{{ ops = ["*", "command.run", "shell"], hosts = ["all"] }}]

# [roles.helpdesk]
# members = ["alice"]
# allow = [
#   {{ ops = ["plan", "logs", "diagnose"], hosts = ["all"] }},
#   {{ ops = ["service.restart", "printer.*"], hosts = ["client:acme"] }},
# ]
# deny = [{{ ops = ["*.remove"], hosts = ["all"] }}]
"""

_SETTINGS = """\
# tendr.toml — workspace settings; every key is optional.
known_hosts = "known_hosts"
audit_log = ".tendr/audit.log"
parallel = 10
service_account = "tendr"               # the account tendr logs in as where a host sets no user
"""

# Secrets (backup passwords) are files under secrets/: never in the repository.
_GITIGNORE = ".tendr/\nsecrets/\n"


def create_workspace(path: Path, creator: str) -> list[Path]:
    """Write a new workspace at `path`; refuse a folder that already has files, and say in
    one line why a folder cannot be made or written."""
    try:
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise InitError(path=path, reason="it exists and is not an empty folder")
        return _write(path, creator)
    except OSError as exc:
        raise InitError(path=path, reason=_why(path, exc)) from None


def _write(path: Path, creator: str) -> list[Path]:
    files = {
        f"hosts/acme.toml{EXAMPLE_SUFFIX}": _HOSTS,
        f"states/baseline.toml{EXAMPLE_SUFFIX}": _STATE,
        "rules/roles.toml": _RULES.format(creator=tomlkit.string(creator).as_string()),
        "tendr.toml": _SETTINGS,
        "known_hosts": "",
        ".gitignore": _GITIGNORE,
        ".taplo.toml": taplo_config(SCHEMA_FOLDER),
        **{
            f"{SCHEMA_FOLDER}/{FILE_NAMES[family]}": json.dumps(schema_for(family), indent=2) + "\n"
            for family in FAMILIES
        },
    }
    written = []
    for relative, text in files.items():
        target = path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        target.chmod(0o644)
        written.append(target)
    for folder in ("hosts", "states", "rules"):
        (path / folder).chmod(0o755)
    return written


def _why(path: Path, exc: OSError) -> str:
    """An OSError as a reason a technician can act on."""
    existing = next((p for p in path.absolute().parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"{existing} is a file, not a folder"
    what = (exc.strerror or str(exc)).lower()
    return f"{what} ({exc.filename})" if exc.filename else what
