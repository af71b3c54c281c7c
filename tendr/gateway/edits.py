"""Which operation each file a push changes needs, and on which hosts. Pure.

- a state file: `state.edit` on every host it targets, before or after the push, and
  on the hosts of every other state that already names a file it now names (so a
  state cannot borrow another client's file or secret); a file only the controller
  holds (secrets/) that no state named yet needs `state.edit` on every host;
- a file under files/: `state.edit` on the hosts of the states that name it, before
  or after; on every host (a rule for `all` hosts) when none does;
- everything else (rules/, hosts/, tendr.toml, known_hosts, grants.toml, ...):
  `rules.edit` on every host, since it decides what tendr may do anywhere, whatever a
  state names.

What a file needs is the union of all its uses: any file a state names (as a `source`
or a secret file), a state file or a rules file included, also needs `state.edit` on
that state's hosts, since its content reaches them.

Decided with the rules in force before the push, never the pushed ones: a push could
grant itself.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tendr.base.selection import HostLike
from tendr.kinds.registry import KINDS
from tendr.rules.decide import EVERYWHERE, decide
from tendr.workspace.loader import Workspace

STATE_EDIT = "state.edit"
RULES_EDIT = "rules.edit"


@dataclass(frozen=True)
class Edit:
    """What a changed file needs: an operation on hosts."""

    path: str
    op: str
    hosts: tuple[HostLike, ...] = field(default=(EVERYWHERE,))


def _targets(workspace: Workspace, state_file: str) -> dict[str, HostLike]:
    """The hosts `state_file` targets in `workspace` (none where it has no such file)."""
    return {h.name: h for h in workspace.hosts if state_file in workspace.states_for(h)}


def _names(workspace: Workspace) -> dict[str, set[str]]:
    """Each state file of `workspace` -> the workspace files it names (sources, secrets)."""
    found: dict[str, set[str]] = {}
    for name, state in workspace.states:
        found[name] = {
            os.path.normpath(reference.path)
            for _, spec in state.resources()
            for reference in KINDS[spec.kind].references(spec)
        }
    return found


def required(
    paths: Iterable[str],
    before: Workspace,
    after: Workspace,
    controller_only: Collection[str] = (),
) -> list[Edit]:
    """The operation each changed path needs, on which hosts (see the module's doc).
    `controller_only`: files the push cannot carry (secrets/), kept on the controller."""
    every_host = {h.name: h for workspace in (before, after) for h in workspace.hosts}
    named = (_names(before), _names(after))
    edits = []
    for path in sorted(set(paths)):
        users = _users_hosts(path, before, after, named)
        if path.startswith("states/"):
            hosts = {**_state_hosts(path, before, after, named, controller_only), **users}
        elif path.startswith("files/"):
            hosts = users
        else:
            edits.append(Edit(path, RULES_EDIT, (EVERYWHERE, *every_host.values())))
            if users:
                edits.append(Edit(path, STATE_EDIT, tuple(users.values())))
            continue
        edits.append(Edit(path, STATE_EDIT, tuple(hosts.values()) or (EVERYWHERE,)))
    return edits


Named = tuple[dict[str, set[str]], dict[str, set[str]]]  # _names before and after


def _state_hosts(
    path: str,
    before: Workspace,
    after: Workspace,
    named: Named,
    controller_only: Collection[str],
) -> dict[str, HostLike]:
    hosts = {**_targets(before, path), **_targets(after, path)}
    # A file the state names now and did not before: naming it is editing every state
    # that names it already (another client's secret), and one only the controller
    # holds that no state named yet may be anybody's.
    named_before, named_after = named
    for name in named_after.get(path, set()) - named_before.get(path, set()):
        users = {s for s, names in named_before.items() if name in names} - {path}
        for user in users:
            hosts.update(_targets(before, user))
        if not users and name in controller_only:
            hosts[EVERYWHERE.name] = EVERYWHERE
    return hosts


def _users_hosts(
    path: str, before: Workspace, after: Workspace, named: Named
) -> dict[str, HostLike]:
    """The hosts of every state that names `path`, before or after the push."""
    hosts: dict[str, HostLike] = {}
    for names in named:
        for user in (s for s, listed in names.items() if path in listed):
            hosts.update(_targets(before, user))
            hosts.update(_targets(after, user))
    return hosts


def refusals(
    edits: Sequence[Edit], person: str, rules_from: Workspace, now: datetime | None = None
) -> list[str]:
    """Why `person` may not make each edit they may not, by the rules (and the grants
    holding `now`) of `rules_from`."""
    found = []
    for edit in edits:
        for host in edit.hosts:
            decision = decide(
                person,
                edit.op,
                host,
                rules_from.rules,
                rules_from.owner,
                grants=rules_from.grants,
                now=now,
            )
            if not decision.allowed:
                found.append(f"{edit.path}: {decision.reason}")
                break
    return found


def strongest(edits: Sequence[Edit]) -> str:
    """The operation a push is recorded as: rules.edit when any file needs it."""
    return RULES_EDIT if any(e.op == RULES_EDIT for e in edits) else STATE_EDIT
