"""The rules: rules explain, rules list, and grants (grant, grant revoke)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from tendr.base.errors import UserError
from tendr.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    AsOpt,
    Commands,
    Format,
    FormatOpt,
    WorkspaceOpt,
    load_workspace,
    may_read,
    options,
    out,
    person_acting,
    print_json,
    reporting,
)
from tendr.cli.render import escape
from tendr.core.visible_rules import explain, visible_rules
from tendr.gateway import session as gateway
from tendr.rules.resources import FIELDS

rules_app = typer.Typer(
    rich_markup_mode=None,
    cls=Commands,
    help="Permission rules: who may do what, where.",
    no_args_is_help=True,
)


@rules_app.command("explain")
def rules_explain(
    person: Annotated[str, typer.Argument(help="An operating-system account name.")],
    operation: Annotated[str, typer.Argument(help="e.g. service.restart, package.install, plan")],
    host: Annotated[str, typer.Argument(help="A host name from hosts/.")],
    resource: Annotated[
        str | None,
        typer.Argument(help="The unit, path, package, queue, job or module (rules may name some)."),
    ] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    as_person: AsOpt = None,
) -> None:
    """Why PERSON may or may not apply OPERATION on HOST (to RESOURCE), and the rule
    that decides. You may ask about yourself on a host you may read; about someone
    else, or any host, with rules.edit on every host.

    Exit 0 when allowed, 1 when not.
    """
    with reporting(fmt):
        loaded = load_workspace(workspace)
        reader = may_read(loaded, as_person)
        told = explain(loaded, reader, person, operation, host, resource)
        decision, found, roles = told.decision, told.matching, told.roles
        if fmt is Format.json:
            print_json(
                {
                    "person": person,
                    "operation": operation,
                    "host": host,
                    "resource": resource,
                    "allowed": decision.allowed,
                    "rule": decision.rule,
                    "reason": decision.reason,
                    "roles": roles,
                    "matching": list(found),
                }
            )
        else:
            verdict = "[green]allowed[/]" if decision.allowed else "[red]denied[/]"
            out.print(f"{verdict}: {escape(decision.reason)}")
            out.print(f"deciding rule: {escape(decision.rule or 'none (default deny)')}")
            out.print(f"{escape(person)}'s roles: {escape(', '.join(roles) or 'none')}")
            for match in found:
                out.print(f"  matches {escape(match)}")
        raise typer.Exit(EXIT_OK if decision.allowed else EXIT_ERROR)


@rules_app.command("list")
def rules_list(
    workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.text, as_person: AsOpt = None
) -> None:
    """Every role: its file, members and rules; and the grants, holding or not. With
    rules.edit on every host, all of them; otherwise your own roles and the grants to or
    by you."""
    with reporting(fmt):
        loaded = load_workspace(workspace)
        rows, grants = visible_rules(loaded, person_acting(as_person), datetime.now(UTC))
        if fmt is Format.json:
            print_json({"roles": rows, "grants": grants})
            return
        for row in rows:
            out.print(
                f"[bold]{escape(row['role'])}[/] ({escape(row['file'])}): "
                f"{escape(row['description'])}"
            )
            out.print(f"  members: {escape(', '.join(row['members']) or 'none')}")
            for effect in ("allow", "deny"):
                for rule in row[effect]:
                    only = "".join(
                        f"; {name} {', '.join(rule[name])}" for name in FIELDS if name in rule
                    )
                    out.print(
                        f"  {effect} {escape(', '.join(rule['ops']))} "
                        f"on {escape(', '.join(rule['hosts']))}{escape(only)}"
                    )
        for made in grants:
            state = "holds" if made["holds"] else "does not hold now"
            out.print(
                f"[bold]grant {escape(made['id'])}[/] ({state}): {escape(made['person'])} "
                f"as {escape(made['role'])} on {escape(', '.join(made['hosts']))}, from "
                f"{escape(made['start'])} until {escape(made['until'])}, by "
                f"{escape(made['granted_by'])}: {escape(made['reason'])}"
            )


def grant(
    person_or_revoke: Annotated[
        str, typer.Argument(metavar="PERSON", help="Who gets the role (or: revoke ID).")
    ],
    role_or_id: Annotated[str, typer.Argument(metavar="ROLE", help="The role they get.")],
    hosts: Annotated[
        list[str] | None,
        typer.Option("--hosts", help="Where: NAME, group:G, client:C, tag:T, all [default: all]."),
    ] = None,
    for_: Annotated[
        str | None, typer.Option("--for", help="How long: 2h, 90m, 1d12h, 30s (at most 30d).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why: a ticket, a call.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    as_person: AsOpt = None,
) -> None:
    """Give PERSON a ROLE for a time (needs rules.grant there); it ends by itself, and
    never allows what you may not do. `tendr grant revoke ID` takes one back."""
    from tendr.ops import grants

    with reporting(fmt), options(duration="--for", hosts="--hosts", reason="--reason"):
        loaded = load_workspace(workspace)
        person = person_acting(as_person)
        if person_or_revoke == "revoke":
            taken = grants.revoke(loaded, person, role_or_id)
            if fmt is Format.json:
                print_json({"ok": True, "revoked": taken.model_dump()})
                return
            out.print(
                f"revoked grant {escape(taken.id)} ({escape(taken.person)} as {escape(taken.role)})"
            )
            return
        if for_ is None or reason is None:
            raise UserError("a grant needs --for DURATION and --reason TEXT")
        made = grants.grant(
            loaded,
            person,
            gateway.check_person(person_or_revoke),
            role_or_id,
            hosts or ["all"],
            grants.parse_duration(for_),
            reason,
            datetime.now(UTC),
        )
        if fmt is Format.json:
            print_json({"ok": True, "granted": made.model_dump()})
            return
        out.print(
            f"granted {escape(made.person)} the role {escape(made.role)} on "
            f"{escape(', '.join(made.hosts))} until {escape(made.until)} (grant {escape(made.id)})"
        )
