"""Host selectors: `all`, a host name, `group:NAME`, `client:NAME`, `tag:NAME`.

Used by state files (`hosts = [...]`), permission rules and `--limit`; one
grammar, one matcher, so the three can never disagree about a host.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from tendr.base.names import HOST_NAME_REGEX

PREFIXES = ("group", "client", "tag")
_NAME = HOST_NAME_REGEX
SELECTOR_REGEX = rf"all|{_NAME}|(?:{'|'.join(PREFIXES)}):{_NAME}"  # also the JSON Schema's
_SELECTOR = re.compile(SELECTOR_REGEX)

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


def suggest(selector: str, hosts: Iterable[HostLike]) -> str | None:
    """The selector of this inventory nearest to one that matches nothing, if one is near:
    the same words in another case (`H02` for `h02`), the same name under another prefix
    (`group:lab` for `tag:lab`), then a near spelling under the same prefix."""
    known: set[tuple[str, str]] = set()
    for host in hosts:
        known.add(("", host.name))
        known.add(("client", host.client))
        known.update(("group", group) for group in host.groups)
        known.update(("tag", tag) for tag in host.tags)
    prefix, _, value = selector.rpartition(":")
    ordered = sorted(known)
    same_words = [(p, v) for p, v in ordered if p == prefix and v.casefold() == value.casefold()]
    other_prefix = [(p, v) for p, v in ordered if v == value]
    if same_words or other_prefix:
        p, v = [*same_words, *other_prefix][0]
        return f"{p}:{v}" if p else v
    same_prefix = [v for p, v in ordered if p == prefix]
    close = difflib.get_close_matches(value, same_prefix, n=1, cutoff=0.6)
    if not close:
        return None
    return f"{prefix}:{close[0]}" if prefix else close[0]


def no_match(selector: str, hosts: Iterable[HostLike]) -> str:
    """Why `selector` selects nothing, with the nearest selector that would."""
    near = suggest(selector, hosts)
    hint = f" (did you mean {near!r}?)" if near else ""
    return f"{selector!r} matches no host in hosts/{hint}"
