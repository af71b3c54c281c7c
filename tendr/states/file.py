"""The file kind: a regular file's content, mode, owner and group; or its absence."""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from tendr.names import AbsolutePath, AccountName, FileMode
from tendr.states.base import ResourceSpec


class FileSpec(ResourceSpec):
    """A file on the host.

    ```toml
    [[file]]
    path = "/etc/motd"
    content = "Managed by Example IT. Call 555-0100 for help.\\n"
    mode = "0644"
    owner = "root"
    group = "root"

    [[file]]
    path = "/etc/issue.net"
    source = "files/issue.net"     # a file in the workspace, relative to its root

    [[file]]
    path = "/etc/cron.d/old-job"
    present = false
    ```
    """

    kind: ClassVar[str] = "file"
    identity: ClassVar[str] = "path"

    path: AbsolutePath
    content: str | None = None
    source: str | None = None
    mode: FileMode | None = None
    owner: AccountName | None = None
    group: AccountName | None = None
    present: bool = True

    @model_validator(mode="after")
    def _one_content(self) -> FileSpec:
        if self.content is not None and self.source is not None:
            raise ValueError("give either 'content' or 'source', not both")
        if not self.present and any(
            v is not None for v in (self.content, self.source, self.mode, self.owner, self.group)
        ):
            raise ValueError("a file with present = false takes no content, source, mode or owner")
        return self
