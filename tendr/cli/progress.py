"""Progress on a terminal, on standard error: a bar while hosts are read, and one while
changes are made with a line per host still working."""

from __future__ import annotations

from rich.console import RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from tendr.cli.common import Format, err
from tendr.cli.render import escape


class ReadingBar:
    """A bar on a terminal while several hosts are read; nothing in JSON mode or pipes.
    Closed before anything else is printed, so it never lingers above the plan."""

    def __init__(self, fmt: Format, total: int) -> None:
        self.bar: Progress | None = None
        if fmt is Format.text and err.is_terminal and total > 1:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            )
            self.task = self.bar.add_task("reading hosts", total=total)
            self.bar.start()

    def __call__(self, host: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=f"reading hosts ({escape(host)})")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __enter__(self) -> ReadingBar:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _OverallOnly(ProgressColumn):
    """A column shown for the overall bar only; a host's line is its text alone."""

    def __init__(self, column: ProgressColumn) -> None:
        super().__init__()
        self.column = column

    def render(self, task: Task) -> RenderableType:
        return self.column.render(task) if task.total is not None else ""


class ApplyProgress:
    """On a terminal: one bar for every change, moved as each is settled, and a line per
    host still working that names the change it is making; a host's line goes when the
    host is done. Then a bar while the hosts are read back."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            _OverallOnly(BarColumn()),
            _OverallOnly(MofNCompleteColumn()),
            _OverallOnly(TimeElapsedColumn()),
            console=err,
            transient=True,
        )
        self.lines: dict[str, TaskID] = {}
        self.overall: TaskID | None = None

    def start(self, total: int) -> None:
        self.overall = self.bar.add_task("applying", total=total)
        self.bar.start()

    def working(self, host: str, what: str) -> None:
        text = escape(f"  {host}: {what}")
        if host in self.lines:
            self.bar.update(self.lines[host], description=text)
        else:
            self.lines[host] = self.bar.add_task(text, total=None)

    def advance(self, host: str) -> None:  # noqa: ARG002 - one bar counts every host
        if self.overall is not None:
            self.bar.advance(self.overall)

    def finished(self, host: str) -> None:
        if host in self.lines:
            self.bar.remove_task(self.lines.pop(host))

    def reading(self, total: int) -> None:
        """The read-back after the changes: its own bar."""
        for host in list(self.lines):
            self.finished(host)
        if self.overall is not None:
            self.bar.remove_task(self.overall)
        self.overall = self.bar.add_task(f"reading back {total} host(s)", total=total)

    def read(self, host: str) -> None:  # noqa: ARG002 - one bar counts every host
        if self.overall is not None:
            self.bar.advance(self.overall)

    def close(self) -> None:
        self.bar.stop()
