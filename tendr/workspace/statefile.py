"""The states/ file format: which hosts, and the resources they should have."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, create_model

from tendr.base.model import Strict
from tendr.base.names import Documented
from tendr.base.selection import SELECTOR_HELP, SELECTOR_REGEX, check_selector
from tendr.kinds import SPECS
from tendr.kinds.base import ResourceSpec
from tendr.kinds.registry import KINDS, with_drivers


def _selector(value: str) -> str:
    if reason := check_selector(value):
        raise ValueError(reason)
    return value


# Checked one by one, so each malformed selector is reported at hosts[INDEX].
Selector = Annotated[
    str, AfterValidator(_selector), Documented(f"Hosts: {SELECTOR_HELP}", pattern=SELECTOR_REGEX)
]


class _StateFile(Strict):
    """states/NAME.toml: a description, the hosts it targets, and resources by kind.

    ```toml
    description = "Front desk printing"
    hosts = ["group:frontdesk"]      # host names, group:NAME, client:NAME, tag:NAME, all

    [[service]]
    unit = "cups.service"
    running = true
    ```
    """

    description: str = ""
    """What this state is for, in a few words."""
    hosts: list[Selector] = Field(min_length=1)
    """The hosts this file targets: host names, 'group:NAME', 'client:NAME', 'tag:NAME' or
    'all'. Each must select at least one host."""

    def resources(self) -> list[tuple[str, ResourceSpec]]:
        """Every resource with its key path in the file, e.g. ('service[0]', spec), and
        the driver packages they need ('printer[0].packages[0]')."""
        found: list[tuple[str, ResourceSpec]] = []
        for kind in SPECS:
            specs: list[ResourceSpec] = getattr(self, kind)
            found.extend((f"{kind}[{i}]", spec) for i, spec in enumerate(specs))
        return with_drivers(found)


# One list of resources per kind of the registry, [[KIND]] in the file: adding a kind
# touches its module and the registry only.
if TYPE_CHECKING:
    StateFile = _StateFile
else:
    StateFile = create_model(
        "StateFile",
        __base__=_StateFile,
        __doc__=_StateFile.__doc__,
        **{
            name: (list[kind.spec], Field(default=[], description=f"{kind.title}: [[{name}]]."))
            for name, kind in KINDS.items()
        },
    )
