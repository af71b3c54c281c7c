"""What `tendr rules list` shows a person: every role and grant to one who may edit the
rules on every host; otherwise their own roles (held or granted) and the grants to or by
them. Refused to one in no role. Touches no host."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tendr.base.errors import PermissionDenied
from tendr.core.authorize import reading
from tendr.rules.decide import roles_of
from tendr.rules.model import Rule
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
