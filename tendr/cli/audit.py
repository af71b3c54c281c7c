"""The audit log: verify, head, show, replay."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from tendr.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    TIME_HELP,
    AsOpt,
    Commands,
    Format,
    FormatOpt,
    WorkspaceOpt,
    err,
    load_workspace,
    may_read,
    options,
    out,
    person_acting,
    print_json,
    reporting,
    time_option,
)
from tendr.cli.render import escape
from tendr.core import audit
from tendr.core.authorize import readable_records

audit_app = typer.Typer(
    rich_markup_mode=None,
    cls=Commands,
    help="The hash-chained record of every change.",
    no_args_is_help=True,
)


@audit_app.command("verify")
def audit_verify(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    head: Annotated[
        str | None, typer.Option(help="A head kept earlier: it must still be in the log.")
    ] = None,
    as_person: AsOpt = None,
) -> None:
    """Check the audit log's hash chain. Exit 0 when intact, 1 when broken.

    The whole chain, whoever asks (it shows no record), but not to a person who may read
    nothing here."""
    with reporting(fmt):
        loaded = load_workspace(workspace)
        may_read(loaded, as_person)
        path = loaded.path(loaded.settings.audit_log)
        verdict = audit.verify(audit.read_lines(path), head)
        if fmt is Format.json:
            print_json(_verdict_json(verdict))
        elif verdict.ok:
            out.print(
                f"{escape(loaded.settings.audit_log)}: intact, {verdict.records} records, "
                f"head {verdict.head}"
            )
        else:
            _broken(loaded.settings.audit_log, verdict)
        raise typer.Exit(EXIT_OK if verdict.ok else EXIT_ERROR)


def _verdict_json(verdict: audit.Verdict) -> dict[str, Any]:
    return {
        "ok": verdict.ok,
        "records": verdict.records,
        "head": verdict.head,
        "line": verdict.line,
        "reason": verdict.reason or None,
    }


def _broken(log: str, verdict: audit.Verdict) -> None:
    """A broken chain as verify, show and head report it: where, why, how much holds."""
    where = f" at line {verdict.line}" if verdict.line else ""
    err.print(
        f"[red]{escape(log)}: broken{where}[/]: "
        f"{escape(verdict.reason)} ({verdict.records} records intact before it)"
    )


@audit_app.command("head")
def audit_head(workspace: WorkspaceOpt = None, as_person: AsOpt = None) -> None:
    """The hash of the last record: keep it elsewhere to detect records cut off later.

    Exit 1, printing no head, when the log is broken.
    """
    with reporting():
        loaded = load_workspace(workspace)
        may_read(loaded, as_person)
        verdict = audit.verify(audit.read_lines(loaded.path(loaded.settings.audit_log)))
        if not verdict.ok:
            _broken(loaded.settings.audit_log, verdict)
            raise typer.Exit(EXIT_ERROR)
        out.print(verdict.head)


@audit_app.command("show")
def audit_show(
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.text,
    last: Annotated[int, typer.Option(min=1, help="How many of the latest matching records.")] = 20,
    host: Annotated[str | None, typer.Option(help="Only this host's records.")] = None,
    person: Annotated[
        str | None, typer.Option(help="Only the records of this person (whom tendr acted for).")
    ] = None,
    op: Annotated[
        str | None,
        typer.Option(
            help="Only these operations: service.restart, service.*, *.remove (as in rules)."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help=f"Records at or after this time: {TIME_HELP}")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help=f"Records at or before this time: {TIME_HELP}")
    ] = None,
    as_person: AsOpt = None,
) -> None:
    """The latest records you may read: when, who, which host, what, and how it went.
    Records of a host need a reading operation on it; those of the workspace as a whole
    (pushes, grants, requests to the gateway) need rules.edit on every host.

    Exit 1 when the log is broken (reported as verify reports it, after the records).
    """
    with reporting(fmt):
        loaded = load_workspace(workspace)
        reader = may_read(loaded, as_person)
        with options(op="--op"):
            query = audit.query(
                host, person, op, time_option("--since", since), time_option("--until", until)
            )
        lines = list(audit.read_lines(loaded.path(loaded.settings.audit_log)))
        verdict = audit.verify(lines)
        records = [r for r in readable_records(reader, audit.records(lines), host) if query(r)]
        records = records[-last:]
        if fmt is Format.json:
            print_json({"records": records, "chain": _verdict_json(verdict)})
        else:
            if records:
                out.print("\n".join(_record_line(r) for r in records))
            else:
                err.print("no records to show")
            if not verdict.ok:
                _broken(loaded.settings.audit_log, verdict)
        raise typer.Exit(EXIT_OK if verdict.ok else EXIT_ERROR)


def _record_line(record: dict[str, Any]) -> str:
    """One record as text; any field may be missing or odd in a damaged log."""
    fields = " ".join(
        str(record.get(key)) for key in ("time", "person", "host", "outcome", "op", "resource")
    )
    reason = f" ({record['reason']})" if record.get("reason") else ""
    return escape(f"{str(record.get('seq')):>5} {fields}{reason}")


@audit_app.command("replay")
def audit_replay(
    record: Annotated[int, typer.Argument(help="The record's number (audit-log show).")],
    workspace: WorkspaceOpt = None,
    speed: Annotated[
        float, typer.Option(min=0, help="Playback speed; 0 prints it all at once.")
    ] = 1.0,
) -> None:
    """Play back the shell session a record links to, with its timing. It takes the
    `shell` operation on the session's host (a recording shows what root saw there), an
    audit log whose chain holds, and the recording the record names (its SHA-256).

    On a terminal the host's output is played as it was, less the sequences that would
    make this terminal answer or change its title; otherwise control characters are
    shown as escapes.
    """
    with reporting():
        from tendr.ops import shell as sessions
        from tendr.ops.replay import BrokenLog, recording

        loaded = load_workspace(workspace)
        try:
            data = recording(loaded, person_acting(None), record)
        except BrokenLog as exc:
            _broken(loaded.settings.audit_log, exc.verdict)
            raise
        raw = sys.stdout.isatty()

        def write(text: str) -> None:
            sys.stdout.write(sessions.inert(text) if raw else _harmless(text))
            sys.stdout.flush()

        sessions.replay(data, write, speed=speed)  # the bytes hashed, not a second read


def _harmless(text: str) -> str:
    """Recorded output for a file or a pipe: lines kept, other control characters shown."""
    return "\n".join(
        "".join(c if c.isprintable() or c == "\t" else ascii(c)[1:-1] for c in line)
        for line in text.replace("\r\n", "\n").split("\n")
    )
