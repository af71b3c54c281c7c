"""What `tendr rules list` shows a person: every role and grant to one who may edit the
rules on every host; otherwise their own roles (held or granted) and the grants to or by
them. Refused to one in no role. Touches no host."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tendr.base.errors import PermissionDenied, UnknownHost, UnknownOperation, UserError
from tendr.core.authorize import Reading, may, reading
from tendr.rules.decide import Decision, matching_rules, roles_of
from tendr.rules.model import Rule, check_operation
from tendr.rules.resources import field_of
from tendr.workspace.loader import Workspace


def visible_rules(
    loaded: Workspace, person: str, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The roles (file, role, description, members, allow, deny) and the grants (with
    whether each holds at `now`) `person` may see, as plain data."""
    reader = reading(loaded, person)
    mine = [g for g in loaded.grants if reader.person in (g.person, g.granted_by)]
    held = {g.role for g in mine if g.person == reader.person and g.holds_at(now)}
    if not (reader.workspace or reader.role or held):
        raise PermissionDenied(
            message=f"permission denied: {reader.person} is in no role: the rules are "
            "shown to those who hold one"
        )
    shown = set(roles_of(reader.person, loaded.rules, loaded.owner)) | held
    rows: list[dict[str, Any]] = [
        {
            "file": file,
            "role": name,
            "description": role.description,
            "members": [loaded.owner + " (@owner)" if m == "@owner" else m for m in role.members],
            "allow": [rule_data(r) for r in role.allow],
            "deny": [rule_data(r) for r in role.deny],
        }
        for file, rules_file in loaded.rules
        for name, role in rules_file.roles.items()
        if reader.workspace or name in shown
    ]
    grants = [
        {**g.model_dump(), "holds": g.holds_at(now)}
        for g in (loaded.grants if reader.workspace else mine)
    ]
    return rows, grants


def rule_data(rule: Rule) -> dict[str, Any]:
    """A rule as plain data: its ops, hosts and the resources it names."""
    found = {"ops": list(rule.ops), "hosts": list(rule.hosts)}
    found.update({name: list(getattr(rule, name)) for name in rule.resource_fields()})
    return found


@dataclass(frozen=True)
class Explanation:
    """Why `person` may or may not do `operation` on a host (to a resource)."""

    decision: Decision
    matching: tuple[str, ...]  # every rule that matches, as the rules file says it
    roles: tuple[str, ...]  # the person's roles


def explain(
    loaded: Workspace,
    reader: Reading,
    person: str,
    operation: str,
    host: str,
    resource: str | None,
) -> Explanation:
    """`rules explain`, as `reader` may ask it: about themselves on a host they may read;
    about anyone, on any host, with rules.edit on every host. A host they may not read is
    answered as one that does not exist."""
    if person != reader.person and not reader.workspace:
        raise PermissionDenied(
            message=f"permission denied: {reader.person} may ask about themselves only "
            f"(asking about others needs rules.edit on every host)"
        )
    visible = loaded.hosts if reader.workspace else reader.hosts
    target = next((h for h in visible if h.name == host), None)
    if target is None:
        raise UnknownHost(host=host, readable=True)
    if reason := check_operation(operation):
        raise UnknownOperation(param="operation", text=operation, problem=reason)
    if resource is not None and field_of(operation) is None:
        raise UserError(f"{operation} acts on no resource; leave RESOURCE out")
    return Explanation(
        may(loaded, person, operation, target, resource),
        tuple(
            str(m)
            for m in matching_rules(person, operation, target, loaded.rules, loaded.owner, resource)
        ),
        tuple(roles_of(person, loaded.rules, loaded.owner)),
    )
