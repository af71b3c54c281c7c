"""Putting the permission rules in front of hosts and changes. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from tendr.base.changes import Change
from tendr.base.errors import PermissionDenied
from tendr.core.plan import HostPlan, Plan
from tendr.rules.actor import GATEWAY_ITSELF
from tendr.rules.decide import EVERYWHERE, Decision, decide, roles_of
from tendr.rules.model import READING_OPS
from tendr.workspace.hosts import Host
from tendr.workspace.loader import Workspace

# What an audit-only host (not approved yet) still allows: reading it, and bringing it
# under management (its key pinned again included: that changes the workspace alone).
AUDIT_ONLY = (*READING_OPS, "host.onboard", "host.approve", "host.pin")


def may(
    workspace: Workspace, person: str, op: str, host: Host, resource: str | None = None
) -> Decision:
    if person == GATEWAY_ITSELF:
        return Decision(
            op == "watch",
            "the gateway's own watch" if op == "watch" else None,
            "the gateway watches its hosts (read-only) and does nothing else for itself",
        )
    if not host.approved and op not in AUDIT_ONLY:
        return Decision(
            False,
            None,
            f"{host.name} is not approved yet: plans only, until `tendr approve {host.name}`",
        )
    return decide(
        person,
        op,
        host,
        workspace.rules,
        workspace.owner,
        resource,
        workspace.grants,
        datetime.now(UTC),
    )


def may_change(workspace: Workspace, person: str, host: Host, change: Change) -> Decision:
    """The decision on a change, made on what the host means rather than on how the
    state spells it: a deny naming any name the host knows the resource by refuses it
    (the alias sshd.service of ssh.service, the path as declared or through its links);
    an allow must name the resource as the host resolves it (a write to /etc/cups/x
    where /etc/cups links to /etc/sudoers.d is a write to /etc/sudoers.d/x), or one of
    its aliases (a rule naming either name of a unit covers both)."""
    decisions = {name: may(workspace, person, change.op, host, name) for name in change.names}
    for decision in decisions.values():
        if not decision.allowed and decision.rule is not None:
            return decision
    primary = change.resolved or change.resource
    for name in (primary, *change.aliases):
        if name in decisions and decisions[name].allowed:
            return decisions[name]
    return decisions[primary]


def readable(
    workspace: Workspace, person: str, op: str, hosts: Sequence[Host]
) -> tuple[list[Host], dict[str, str]]:
    """Split hosts into those `person` may read with `op`, and refusals by host name."""
    allowed: list[Host] = []
    refused: dict[str, str] = {}
    for host in hosts:
        decision = may(workspace, person, op, host)
        if decision.allowed:
            allowed.append(host)
        else:
            refused[host.name] = f"permission denied: {decision.reason}"
    return allowed, refused


@dataclass(frozen=True)
class Reading:
    """What a person may read of a workspace, decided like acting: a host's hosts entry,
    plans, journals and audit records when they hold any reading operation on it; the
    records about the workspace as a whole (pushes, grants, what the gateway was asked)
    and those of hosts no longer in it when they may edit the rules everywhere (who may
    rewrite the rules could give themselves any reading anyway)."""

    person: str
    hosts: tuple[Host, ...]  # the hosts they may read, in the workspace's order
    workspace: bool  # rules.edit on every host
    role: bool  # they hold a role of their own (grants aside)
    known: frozenset[str]  # every host name of the workspace

    @property
    def nothing(self) -> bool:
        return not self.hosts and not self.workspace

    def host(self, name: str) -> bool:
        """May they read what concerns host `name` (an audit record's `host`)? A record of
        the workspace itself ("(workspace)", or none) or of a host gone from hosts/ is
        the workspace's."""
        if name in self.known:
            return any(h.name == name for h in self.hosts)
        return self.workspace


def readable_records(
    reader: Reading, records: Iterable[dict[str, Any]], host: str | None
) -> list[dict[str, Any]]:
    """The audit records `reader` may read; asked for one host's, refused (rather than an
    empty answer, which reads as "nothing happened") when they may not read that host."""
    if host is not None and not reader.host(host):
        raise PermissionDenied(
            message=f"permission denied: {reader.person} may not read the records of "
            f"{host} (no reading operation on it)"
        )
    return [r for r in records if reader.host(str(r.get("host") or ""))]


def reading(workspace: Workspace, person: str) -> Reading:
    """The one decision on what `person` may read (hosts, audit-log show, rules)."""
    hosts = tuple(
        h
        for h in workspace.hosts
        if any(may(workspace, person, op, h).allowed for op in READING_OPS)
    )
    # As the gateway decides a push of rules/: a rule for `all` hosts (grants never count).
    edits = decide(person, "rules.edit", EVERYWHERE, workspace.rules, workspace.owner)
    return Reading(
        person,
        hosts,
        edits.allowed,
        bool(roles_of(person, workspace.rules, workspace.owner)),
        frozenset(h.name for h in workspace.hosts),
    )


def mark(workspace: Workspace, person: str, plan: Plan) -> Plan:
    """Each change marked allowed or blocked, with the deciding rule."""
    by_name = {h.name: h for h in workspace.hosts}
    hosts = []
    for host_plan in plan.hosts:
        host = by_name[host_plan.host]
        changes = []
        for change in host_plan.changes:
            if change.action == "unknown":  # nothing would be done; nothing to permit
                changes.append(change)
                continue
            decision = may_change(workspace, person, host, change)
            changes.append(
                replace(change, allowed=decision.allowed, rule=decision.rule or decision.reason)
            )
        hosts.append(replace(host_plan, changes=tuple(changes)))
    return Plan(tuple(hosts))


def blocked(plan: Plan) -> list[tuple[HostPlan, list[str]]]:
    """Per host, the changes the rules block, as 'op resource' strings."""
    found = []
    for host in plan.hosts:
        names = [
            f"{c.op} {c.resource}"
            for c in host.changes
            if c.allowed is False and c.action != "unknown"
        ]
        if names:
            found.append((host, names))
    return found
