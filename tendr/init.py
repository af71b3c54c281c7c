"""`tendr init DIR`: a new workspace with commented examples, its creator as admin."""

from __future__ import annotations

from pathlib import Path

from tendr.errors import InitError

_HOSTS = """\
# hosts/local.toml — one client per file; the client is the file's stem.
# Add a file per client, e.g. hosts/acme.toml:
#
#   [defaults]
#   user = "tendr"                      # the service account onboarding creates
#   ssh_key = "~/.ssh/tendr_ed25519"
#
#   [hosts.acme-fs01]
#   address = "203.0.113.10"
#   port = 22
#   groups = ["fileservers"]
#
# SSH host keys are pinned in known_hosts: an unknown or changed key is refused.

[hosts.localhost]
connector = "local"                     # this machine, without SSH
groups = ["workstations"]
"""

_STATE = """\
# states/baseline.toml — desired state. `hosts` takes host names, group:NAME,
# client:NAME, tag:NAME or all. Kinds: service, module, printer, backup, package, file.
description = "Baseline for every machine"
hosts = ["all"]

[[file]]
path = "/etc/motd"
content = "Managed by your IT provider.\\n"
mode = "0644"

[[package]]
name = "ca-certificates"

# [[service]]
# unit = "cron.service"
# enabled = true
# running = true
"""

_RULES = """\
# rules/roles.toml — who may do what, where. Default deny; a deny beats an allow.
# Members are operating-system account names. This file must not be writable
# by anyone but its owner (chmod go-w), as sshd requires of authorized_keys.

[roles.admin]
description = "Workspace administrators"
members = [{creator!r}]
allow = [{{ ops = ["*"], hosts = ["all"] }}]

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
"""


def create_workspace(path: Path, creator: str) -> list[Path]:
    """Write a new workspace at `path`; refuse a folder that already has files."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InitError(path=path, reason="it exists and is not an empty folder")
    files = {
        "hosts/local.toml": _HOSTS,
        "states/baseline.toml": _STATE,
        "rules/roles.toml": _RULES.format(creator=creator),
        "tendr.toml": _SETTINGS,
        "known_hosts": "",
        ".gitignore": ".tendr/\n",
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
