"""Commands on the workspace itself: validate, init, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tendr.base.errors import PermissionDenied, UserError
from tendr.cli.common import (
    Format,
    FormatOpt,
    WorkspaceOpt,
    load_workspace,
    out,
    print_json,
    reporting,
)
from tendr.cli.render import escape
from tendr.gateway import session as gateway
from tendr.rules.actor import acting_person


def validate(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.text) -> None:
    """Check every file of the workspace; list every problem (exit 1) or say it is valid."""
    from tendr.base.errors import WorkspaceError
    from tendr.workspace.loader import missing_keys

    with reporting(fmt):
        loaded = load_workspace(workspace)
        if problems := missing_keys(loaded):
            raise WorkspaceError(problems=problems)
        counts = {
            "hosts": len(loaded.hosts),
            "states": len(loaded.states),
            "rules": len(loaded.rules),
        }
        if fmt is Format.json:
            print_json({"ok": True, "problems": [], **counts})
        else:
            out.print(
                f"workspace {escape(loaded.root)} is valid: {counts['hosts']} hosts, "
                f"{counts['states']} state files, {counts['rules']} rules files"
            )


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create (must be new or empty).")],
) -> None:
    """Create a new workspace that targets no host yet, with examples; you become its
    administrator."""
    from tendr.workspace.init import create_workspace

    with reporting():
        creator = acting_person(None)
        written = create_workspace(directory, creator)
        for path in written:
            out.print(f"created {escape(path)}")
        out.print(
            f"{escape(creator)} is the administrator (rules/roles.toml). The workspace "
            "targets no host yet: copy hosts/acme.toml.example to hosts/CLIENT.toml "
            "and states/baseline.toml.example to states/NAME.toml, edit them, then "
            f"tendr validate -w {escape(directory)}"
        )


def schema(
    family: Annotated[str | None, typer.Argument(help="hosts, states, rules or settings.")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write one .schema.json per family here.")
    ] = None,
) -> None:
    """JSON Schema of the workspace files, for editors (Taplo / Even Better TOML)."""
    from tendr.workspace.schema import FAMILIES, FILE_NAMES, schema_for

    with reporting():
        if family is not None and family not in FAMILIES:
            raise UserError(f"unknown family {family!r} (expected one of: {', '.join(FAMILIES)})")
        families = [family] if family else list(FAMILIES)
        if output is None:
            data = schema_for(families[0]) if family else {f: schema_for(f) for f in families}
            print_json(data)
            return
        if gateway.session() is not None:
            raise PermissionDenied(
                message="the gateway writes no file you name: --output is refused"
            )
        output.mkdir(parents=True, exist_ok=True)
        for name in families:
            target = output / FILE_NAMES[name]
            target.write_text(json.dumps(schema_for(name), indent=2) + "\n", encoding="utf-8")
            out.print(f"wrote {escape(target)}")
