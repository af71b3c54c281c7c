"""Host selectors: `all`, a host name, `group:NAME`, `client:NAME`, `tag:NAME`.

Used by state files (`hosts = [...]`), permission rules and `--limit`; one
grammar, one matcher, so the three can never disagree about a host.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

PREFIXES = ("group", "client", "tag")
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
_SELECTOR = re.compile(rf"all|{_NAME}|(?:{'|'.join(PREFIXES)}):{_NAME}")

H = TypeVar("H", bound="HostLike")

SELECTOR_HELP = "'all', a host name, 'group:NAME', 'client:NAME' or 'tag:NAME'"


class HostLike(Protocol):
    """What a selector looks at: a host's name, client, groups and tags."""

    @property
    def name(self) -> str: ...
    @property
    def client(self) -> str: ...
    @property
    def groups(self) -> Sequence[str]: ...
    @property
    def tags(self) -> Sequence[str]: ...


def check_selector(selector: str) -> str | None:
    """Return why `selector` is malformed, or None when it is well formed."""
    if _SELECTOR.fullmatch(selector):
        return None
    return f"{selector!r} is not a host selector (expected {SELECTOR_HELP})"


def matches(selector: str, host: HostLike) -> bool:
    """True when the (well-formed) selector selects the host."""
    if selector == "all":
        return True
    prefix, _, value = selector.partition(":")
    if not value:
        return host.name == selector
    if prefix == "group":
        return value in host.groups
    if prefix == "client":
        return host.client == value
    if prefix == "tag":
        return value in host.tags
    return False


def select(selectors: Iterable[str], hosts: Iterable[H]) -> list[H]:
    """The hosts any selector selects, in inventory order."""
    wanted = list(selectors)
    return [host for host in hosts if any(matches(s, host) for s in wanted)]
