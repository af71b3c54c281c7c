"""The inventory as commands see it: the hosts selectors select, and the `tendr hosts` rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tendr.base.errors import NoHostSelected, SelectionError
from tendr.base.selection import check_selector, no_match, select
from tendr.workspace.hosts import Host, login_user
from tendr.workspace.loader import Workspace


def host_rows(workspace: Workspace, hosts: list[Host]) -> list[dict[str, Any]]:
    """Plain rows, shared by the table and the JSON output."""
    return [
        {
            "name": host.name,
            "client": host.client,
            "address": host.address or ("local" if host.connector == "local" else None),
            "port": host.port if host.connector == "ssh" else None,
            "via": host.via,
            "tunnel_port": host.tunnel_port,
            "user": login_user(host, workspace.settings) if host.connector == "ssh" else None,
            "connector": host.connector,
            "groups": list(host.groups),
            "tags": list(host.tags),
            "states": workspace.states_for(host),
        }
        for host in hosts
    ]


def limit(workspace: Workspace, selectors: Sequence[str]) -> list[Host]:
    """The hosts the selectors select (all hosts without one); each must select some."""
    return among(workspace.hosts, selectors)


def among(hosts: Sequence[Host], selectors: Sequence[str]) -> list[Host]:
    """The `hosts` the selectors select (all without one); each must select one of them,
    and the nearest selector suggested is one of them too."""
    if not selectors:
        return list(hosts)
    for selector in selectors:
        if reason := check_selector(selector):
            raise SelectionError(param="selectors", selector=selector, reason=reason)
        if not select([selector], hosts):
            raise NoHostSelected(
                param="selectors", selector=selector, reason=no_match(selector, hosts)
            )
    return select(selectors, hosts)
