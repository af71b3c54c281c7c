"""The whole exception hierarchy of tendr.

`UserError` and its children are mistakes a technician can fix (exit 1, a
message per problem, no traceback). `HostError` carries the host's name. Any
other exception is a bug in tendr and is rendered as such by the CLI.
Constructors take keyword arguments and build their own message; none prints.

Each class has a stable `code` (README, "Exit codes", lists them all), which
`--format json` shows beside the message, and `details()`: its fields, for scripts.
Errors below the CLI name no command-line option: a value refused carries the value
and what was expected (`InvalidValue`), and the command that passed it names its
option (`tendr.cli.common.options`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


class TendrError(Exception):
    """Root of every error tendr raises on purpose."""

    code: ClassVar[str] = "error"

    def details(self) -> dict[str, Any]:
        """The error's fields, by name, for `--format json` (beside `code` and the message)."""
        return {}


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
    """A mistake the person running tendr can correct; its own class when a script would
    want to tell it apart, this one (the generic code) otherwise."""

    code = "user.error"


class WorkspaceError(UserError):
    """The workspace has one or more problems; all are listed, not only the first."""

    code = "workspace.invalid"

    def __init__(self, *, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the workspace")


class InvalidValue(UserError):
    """A value given to an operation (from the command line, mostly) that it cannot use:
    `param` names what the value is for, `text` is the value as given, `problem` says
    what is wrong with it. The CLI sets `option`, the option that passed the value, and
    the message then starts with it (`--unit: 'x y' is not ...`); `param` is how the CLI
    knows which of its options that is."""

    code = "value.invalid"

    def __init__(self, *, param: str, text: str, problem: str) -> None:
        self.param = param
        self.text = text
        self.problem = problem
        self.option: str | None = None
        super().__init__(problem)

    def __str__(self) -> str:
        return f"{self.option}: {self.problem}" if self.option else self.problem

    def details(self) -> dict[str, Any]:
        return {"option": self.option, "value": self.text}


class InvalidDuration(InvalidValue):
    """Not a duration, or one out of the range `expected` says."""

    code = "duration.invalid"

    def __init__(self, *, param: str, text: str, expected: str, in_range: bool = False) -> None:
        self.expected = expected
        shown = f"{text!r} is out of range:" if in_range else f"{text!r} is not"
        problem = f"{shown} {expected}"
        super().__init__(param=param, text=text, problem=problem)

    def details(self) -> dict[str, Any]:
        return {**super().details(), "expected": self.expected}


class InvalidTime(InvalidValue):
    """Not a time in the form `expected` says."""

    code = "time.invalid"

    def __init__(self, *, param: str, text: str, expected: str) -> None:
        self.expected = expected
        super().__init__(param=param, text=text, problem=f"{text!r} is not {expected}")

    def details(self) -> dict[str, Any]:
        return {**super().details(), "expected": self.expected}


class SelectionError(InvalidValue):
    """A host selector is malformed (`reason` says why)."""

    code = "selection.invalid"

    def __init__(self, *, param: str, selector: str, reason: str) -> None:
        self.selector = selector
        super().__init__(param=param, text=selector, problem=reason)


class NoHostSelected(SelectionError):
    """A well-formed host selector that selects no host of the workspace."""

    code = "selection.no-host"


class NoResourceSelected(InvalidValue):
    """A well-formed resource selector (`--only`) that selects no resource the selected
    hosts are given."""

    code = "selection.no-resource"

    def __init__(self, *, param: str, text: str, expected: str) -> None:
        self.expected = expected
        problem = f"{text!r} selects no resource of the selected hosts (expected {expected})"
        super().__init__(param=param, text=text, problem=problem)

    def details(self) -> dict[str, Any]:
        return {**super().details(), "expected": self.expected}


class UnknownHost(UserError):
    """A host named that the workspace has not (or that the person may not read)."""

    code = "host.unknown"

    def __init__(self, *, host: str, readable: bool = False) -> None:
        self.host = host
        if readable:  # the same answer whether it exists or is not the person's to read
            super().__init__(f"no host named {host!r} among those you may read (tendr hosts)")
        else:
            super().__init__(f"{host!r} is not a host of this workspace (tendr hosts lists them)")

    def details(self) -> dict[str, Any]:
        return {"host": self.host}


class UnknownName(UserError):
    """A role, grant or other thing named that does not exist; `kind` says which."""

    code = "name.unknown"

    def __init__(self, *, kind: str, name: str, hint: str, where: str = "") -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"no {kind} {name!r}{f' {where}' if where else ''} ({hint})")

    def details(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name}


class UnknownOperation(InvalidValue):
    """Not the name of one operation (an operation pattern where one is asked, a typo)."""

    code = "operation.unknown"


class NotConfirmed(UserError):
    """What needs confirming was not confirmed: nothing was done."""

    code = "confirm.declined"


class NoTerminal(UserError):
    """A confirmation is needed and there is no terminal to ask on (`--yes` says it)."""

    code = "confirm.no-terminal"


class AuditLogUnwritable(UserError):
    """The audit log cannot take a record, so nothing that must be recorded is done."""

    code = "audit.unwritable"


class WorkspaceLocked(UserError):
    """Another apply holds the workspace's lock."""

    code = "workspace.locked"


class FileUnusable(UserError):
    """A file tendr needs cannot be read or written, or is not safe to trust."""

    code = "file.unusable"

    def __init__(self, message: str, *, file: Path | str) -> None:
        self.file = str(file)
        super().__init__(message)

    def details(self) -> dict[str, Any]:
        return {"file": self.file}


class GatewayRefused(UserError):
    """The gateway refuses what was asked of it (not a person's permission: the request)."""

    code = "gateway.refused"


class NotImplementedYet(UserError):
    """A command exists in the interface but not yet in the engine."""

    code = "not-implemented"

    def __init__(self, *, command: str) -> None:
        super().__init__(f"'tendr {command}' is not implemented yet; nothing was done")


class InitError(UserError):
    """`tendr init` cannot create a workspace where asked."""

    code = "init.failed"

    def __init__(self, *, path: Path, reason: str) -> None:
        super().__init__(f"cannot create a workspace in {path}: {reason}")


class PermissionDenied(UserError):
    """The acting person may not do what they asked."""

    code = "permission.denied"

    def __init__(self, *, message: str) -> None:
        super().__init__(message)


class HostError(TendrError):
    """Something went wrong on, or on the way to, one host. A host's entry in a plan's,
    an apply's or a run's results carries the code of what kept it from being reached
    (`host.unreachable`, `host.key-changed`...) beside the reason."""

    code = "host.failed"

    def __init__(self, *, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"{host}: {reason}")

    def details(self) -> dict[str, Any]:
        return {"host": self.host}


class HostUnreachable(HostError):
    """No SSH connection could be made to the host (or through its gateway)."""

    code = "host.unreachable"


class HostAuthFailed(HostError):
    """The host refused the login: the key or password was not accepted, or the key
    file cannot be used."""

    code = "host.auth-failed"


class HostKeyUnknown(HostError):
    """The workspace's known_hosts pins no key for the host: tendr trusts none unseen."""

    code = "host.key-unknown"


class HostKeyChanged(HostError):
    """The host offered a key other than the one pinned for it."""

    code = "host.key-changed"


class SudoRefused(HostError):
    """The login account needs passwordless sudo, and sudo asked for a password."""

    code = "host.sudo-refused"


class CommandTimeout(HostError):
    """A command on a host did not finish in time; it may still be running there."""

    code = "host.timeout"

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

    code = "host.connection-lost"

    def __init__(self, *, host: str, detail: str) -> None:
        super().__init__(host=host, reason=f"the connection was lost ({detail})")
