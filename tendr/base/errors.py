"""The whole exception hierarchy of tendr.

`UserError` and its children are mistakes a technician can fix (exit 1, a
message per problem, no traceback). `HostError` carries the host's name. Any
other exception is a bug in tendr and is rendered as such by the CLI.
Constructors take keyword arguments and build their own message; none prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class TendrError(Exception):
    """Root of every error tendr raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a workspace file: where, and what was expected."""

    file: str
    message: str
    key: str = ""
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class UserError(TendrError):
    """A mistake the person running tendr can correct."""


class WorkspaceError(UserError):
    """The workspace has one or more problems; all are listed, not only the first."""

    def __init__(self, *, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the workspace")


class SelectionError(UserError):
    """A --limit selector is malformed or selects no host."""

    def __init__(self, *, selector: str, reason: str) -> None:
        self.selector = selector
        super().__init__(f"--limit: {reason}")


class NotImplementedYet(UserError):
    """A command exists in the interface but not yet in the engine."""

    def __init__(self, *, command: str) -> None:
        super().__init__(f"'tendr {command}' is not implemented yet; nothing was done")


class InitError(UserError):
    """`tendr init` cannot create a workspace where asked."""

    def __init__(self, *, path: Path, reason: str) -> None:
        super().__init__(f"cannot create a workspace in {path}: {reason}")


class PermissionDenied(UserError):
    """The acting person may not do what they asked."""

    def __init__(self, *, message: str) -> None:
        super().__init__(message)


class HostError(TendrError):
    """Something went wrong on, or on the way to, one host."""

    def __init__(self, *, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"{host}: {reason}")


class CommandTimeout(HostError):
    """A command on a host did not finish in time; it may still be running there."""

    def __init__(self, *, host: str, seconds: int) -> None:
        super().__init__(
            host=host,
            reason=(
                f"timed out after {seconds} s (command_timeout in tendr.toml); "
                "it may still be running on the host"
            ),
        )


class ConnectionLost(HostError):
    """The connection to a host broke while a command ran: its outcome is unknown."""

    def __init__(self, *, host: str, detail: str) -> None:
        super().__init__(host=host, reason=f"the connection was lost ({detail})")
