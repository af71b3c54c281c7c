"""The host onboarding will write: checked as a hosts file's entry is, with its client's
defaults and its gateway resolved as the workspace resolves them. Touches no host."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from tendr.base.errors import InvalidValue, UserError
from tendr.base.names import is_host_name
from tendr.workspace.hosts import Host, HostsFile, route
from tendr.workspace.loader import Workspace, gateway_problem


def new_host(
    loaded: Workspace,
    name: str,
    address: str,
    port: int,
    client: str,
    groups: list[str],
    ssh_key: Path | None,
    via: str | None,
) -> Host:
    """The host as onboarding will write it, checked as a hosts file's entry is, its
    gateway resolved as the workspace resolves one."""
    existing = next((h for h in loaded.hosts if h.name == name), None)
    if existing is not None:
        # Run again, a host keeps its way in: never straight to an address that is only
        # meaningful behind its gateway.
        via = via or existing.via
        if (existing.address, existing.port, existing.client, existing.via) != (
            address,
            port,
            client,
            via,
        ):
            raise UserError(
                f"{name} is in {existing.file} already, at {route(existing)}: onboarding "
                "does not move a host"
            )
    known = existing or next((h for h in loaded.hosts if h.client == client and h.ssh_key), None)
    key = ssh_key or (Path(known.ssh_key) if known and known.ssh_key else None)
    if key is None:
        raise InvalidValue(
            param="ssh_key",
            text="",
            problem="the controller's key for the service account is needed",
        )
    if not is_host_name(client):  # its hosts file is hosts/CLIENT.toml
        raise InvalidValue(
            param="client",
            text=client,
            problem=f"{client!r} is not a client name (letters, digits, _ . -)",
        )
    entry_data = {"address": address, "port": port, "groups": groups, "via": via}
    try:
        parsed = HostsFile.model_validate({"hosts": {name: entry_data}})
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise UserError(f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None
    entry = parsed.hosts[name]
    defaults = parsed.defaults.model_copy(
        update={"ssh_key": str(key.expanduser()), "via": _client_via(loaded, client)}
    )
    host = Host.resolve(name, client, entry, defaults, f"hosts/{client}.toml")
    gateway = next((h for h in loaded.hosts if h.name == host.via), None)
    if host.via is not None and (why := gateway_problem(host, gateway, True)):
        raise InvalidValue(param="via", text=host.via, problem=why)
    return host.model_copy(update={"gateway": gateway})


def _client_via(loaded: Workspace, client: str) -> str | None:
    """[defaults] via of hosts/CLIENT.toml, as the loader read it: a new host of the file
    is reached so too."""
    defaults = loaded.defaults.get(client)
    return defaults.via if defaults is not None else None
