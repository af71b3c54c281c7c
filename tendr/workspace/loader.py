"""Load and validate a workspace: hosts/, states/, rules/ and tendr.toml.

The only loader. Every file is validated before anything connects anywhere,
and every problem of the workspace is collected, not only the first.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import stat
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from tendr.base import validation
from tendr.base.errors import Problem, WorkspaceError
from tendr.base.selection import matches, no_match, select
from tendr.base.settings import Settings
from tendr.base.tomlfile import locate, read_toml
from tendr.base.validation import problems_from
from tendr.kinds import SPECS
from tendr.kinds.base import ResourceSpec
from tendr.kinds.kind import Reference
from tendr.kinds.package import DriverSpec, agree
from tendr.kinds.registry import KINDS, with_drivers
from tendr.rules.actor import GRANT, check_trust, holding_folders, real_account, workspace_owner
from tendr.rules.model import GRANTS_FILE, Grant, GrantsFile, RulesFile
from tendr.workspace import baseline
from tendr.workspace.hosts import Host, HostDefaults, HostEntry, HostsFile
from tendr.workspace.statefile import Selector, StateFile

ENV_WORKSPACE = "TENDR_WORKSPACE"
M = TypeVar("M", bound=BaseModel)
_SELECTORS = TypeAdapter(list[Selector])
_SALVAGE_ROUNDS = 8  # each round takes out at least one key; files nest a few levels
Check = Callable[[dict[str, Any], str, str], tuple[list[Problem], dict[str, Any]]]


@dataclass(frozen=True)
class Declared:
    """A resource as one state file declares it for the hosts it targets."""

    file: str
    key_path: str
    spec: ResourceSpec


@dataclass(frozen=True)
class Workspace:
    """A validated workspace: frozen models, relative paths for display."""

    root: Path
    settings: Settings
    hosts: tuple[Host, ...]
    states: tuple[tuple[str, StateFile], ...]
    rules: tuple[tuple[str, RulesFile], ...]
    owner: str
    texts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    grants: tuple[Grant, ...] = ()
    # Each hosts file's [defaults], by client (the file's name): what a new host of the
    # client inherits (onboarding).
    defaults: dict[str, HostDefaults] = field(default_factory=dict, compare=False)

    def states_for(self, host: Host) -> list[str]:
        """The state files that target the host."""
        return [
            name
            for name, state in self.states
            if any(matches(selector, host) for selector in state.hosts)
        ]

    def desired(self, host: Host) -> list[Declared]:
        """Every resource the host should have, once each, in file order; then tendr's
        baseline (tendr/baseline.py), where no state declares the same resource."""
        seen: dict[tuple[str, str], Declared] = {}
        for name, state in self.states:
            if not any(matches(selector, host) for selector in state.hosts):
                continue
            for key_path, spec in state.resources():
                known = seen.get((spec.kind, spec.same_key))
                # A package declared as such prevails over the same one as a driver.
                if known is None or (
                    isinstance(known.spec, DriverSpec) and not isinstance(spec, DriverSpec)
                ):
                    seen[(spec.kind, spec.same_key)] = Declared(name, key_path, spec)
        for index, spec in enumerate(baseline.resources(host, self.settings.tunnel)):
            seen.setdefault(
                (spec.kind, spec.same_key), Declared(baseline.SOURCE, f"baseline[{index}]", spec)
            )
        return list(seen.values())

    def where(self, declared: Declared) -> str:
        """Where a declaration stands, as a person looks it up: `states/a.toml:7
        (service[0])`; the baseline is tendr's own and has no line."""
        text = self.texts.get(declared.file)
        line = locate(text, _loc(declared.key_path)) if text is not None else None
        return f"{declared.file}{f':{line}' if line else ''} ({declared.key_path})"

    def path(self, relative: str) -> Path:
        """A workspace-relative path made absolute."""
        return self.root / relative


def validate_data(model: type[M], data: dict[str, Any]) -> M:
    """Validate parsed TOML strictly: `enabled = "yes"` or `port = "22"` is a wrong
    type, not a value pydantic quietly coerces.

    TOML's types are JSON's (plus dates), so the data goes through pydantic's
    strict JSON mode, in which an array may still fill a tuple field.
    """
    return model.model_validate_json(json.dumps(data, default=_toml_date), strict=True)


def _date_locations(
    value: object, loc: tuple[str | int, ...] = ()
) -> Iterator[tuple[str | int, ...]]:
    """Where TOML dates or times stand: no tendr setting takes one."""
    if isinstance(value, datetime.date | datetime.time):
        yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _date_locations(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _date_locations(item, (*loc, index))


def _toml_date(value: object) -> str:
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"unexpected TOML value {value!r}")


def find_root(option: Path | None) -> Path:
    """--workspace, then $TENDR_WORKSPACE, then the current directory."""
    if option is not None:
        return option
    env = os.environ.get(ENV_WORKSPACE)
    return Path(env) if env else Path.cwd()


def load(root: Path) -> Workspace:
    """Read and validate the workspace at `root`; raise WorkspaceError listing every problem."""
    loader = _Loader(root.resolve())
    return loader.load()


class _Loader:
    """Collects problems while it reads; one instance per load."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []
        self.texts: dict[str, str] = {}
        self.hosts_complete = True  # False once a hosts file could not be read
        self.owner_uid = workspace_owner(root)[0] if root.is_dir() else 0
        self.folders: dict[Path, bool] = {}  # folder -> trusted, each checked once per load
        self.keys: set[tuple[str, tuple[str, ...]]] = set()  # ssh_key settings checked
        self.settings: Settings | None = None
        self.tunnel_ports: dict[int, str] = {}  # each tunnel port, and its host
        self.tunnel_hosts_unported: list[tuple[str, str, int | None]] = []
        self.defaults: dict[str, HostDefaults] = {}  # each hosts file's, by client

    def load(self) -> Workspace:
        if not self.root.is_dir():
            raise WorkspaceError(
                problems=[Problem(file=str(self.root), message="is not a directory")]
            )
        families = [self.root / name for name in ("hosts", "states", "rules")]
        if not any(folder.is_dir() for folder in families):
            raise WorkspaceError(
                problems=[
                    Problem(
                        file=str(self.root),
                        message="is not a tendr workspace (no hosts/, states/ or rules/ "
                        "folder); use --workspace DIR, set TENDR_WORKSPACE, or create one "
                        "with 'tendr init DIR'",
                    )
                ]
            )
        owner = workspace_owner(self.root)[1]
        self._trust(self.root, "the workspace folder", "replace any file in it")
        settings = self.settings = self._settings()
        hosts = self._hosts()
        self._check_tunnel_ports()
        states = self._states(hosts)
        rules = self._rules()
        self._check_rule_selectors(rules, hosts)
        grants = self._grants()
        self._check_known_hosts(settings, hosts)
        if self.problems:
            raise WorkspaceError(problems=self.problems)
        return Workspace(
            self.root,
            settings,
            tuple(hosts),
            tuple(states),
            tuple(rules),
            owner,
            self.texts,
            tuple(grants),
            self.defaults,
        )

    # -- reading -----------------------------------------------------------

    def _files(self, folder: str) -> Iterator[tuple[Path, str]]:
        directory = self.root / folder
        if directory.is_dir():
            for path in sorted(directory.glob("*.toml")):
                # Hidden files are editors' and tools' (`.#x.toml`, `.x.toml`), not states.
                if not path.name.startswith("."):
                    yield path, f"{folder}/{path.name}"

    def _parse(
        self, path: Path, display: str, model: type[M], check: Check | None = None
    ) -> tuple[M | None, dict[str, Any] | None]:
        """The validated model, or None and the problems recorded; with None, the parsed
        data too when the file was TOML, so what is right in it can still be checked."""
        data, text, problem = read_toml(path, display)
        self.texts[display] = text
        if problem:
            self.problems.append(problem)
            return None, None
        assert data is not None
        if check is not None:
            problems, data = check(data, display, text)
            self.problems.extend(problems)
        dates = list(_date_locations(data))
        for loc in dates:
            self._problem(
                display,
                validation.key_path(loc),
                locate(text, loc),
                "expected a string, got a TOML date or time (put it in quotes)",
            )
        if dates:
            return None, None
        try:
            return validate_data(model, data), None
        except ValidationError as exc:
            self.problems.extend(problems_from(exc, model, display, text))
            return None, data

    def _trust(self, path: Path, display: str, stake: str) -> bool:
        """Whether only root and the workspace owner can change `path` and every folder
        that holds it; else a problem. Like rules/, hosts/, tendr.toml, known_hosts and
        the files states name decide what tendr does to the hosts and where it records it."""
        folders_trusted = self._trust_folders(path)
        reason = check_trust(path, self.owner_uid, stake)
        if reason:
            self.problems.append(Problem(file=display, message=reason))
        return folders_trusted and reason is None

    def _trust_folders(self, path: Path) -> bool:
        """Whether every folder on the way to `path` is held to the same standard: those
        inside the workspace as the file itself, those above it (or above a file outside
        it) up to / alike except that they may be sticky, as /tmp is. Whoever can change
        one could swap what it holds. Each folder refused is reported once per load."""
        trusted = True
        resolved = Path(os.path.realpath(path))  # never raises, even on a symlink loop
        inside = resolved != self.root and resolved.is_relative_to(self.root)
        for folder in holding_folders(resolved, self.root):
            if folder not in self.folders:
                reason = check_trust(
                    folder, self.owner_uid, "replace any file in it", sticky_ok=not inside
                )
                if reason:
                    shown = folder.relative_to(self.root) if inside else folder
                    display = shown.as_posix().rstrip("/") + "/"
                    self.problems.append(Problem(file=display, message=reason))
                self.folders[folder] = reason is None
            trusted = trusted and self.folders[folder]
        return trusted

    def _settings(self) -> Settings:
        path = self.root / "tendr.toml"
        if not path.exists():
            return Settings()
        if not self._trust(path, "tendr.toml", "move the audit log or the pinned host keys"):
            return Settings()
        settings = self._parse(path, "tendr.toml", Settings)[0] or Settings()
        for at, alert in enumerate(settings.alert):
            self._check_alert_url(alert.url.file, f"alert[{at}].url.file")
        return settings

    def _check_alert_url(self, file: str, where: str) -> None:
        """An alert's URL carries its credentials: a secret file, as a backup's password."""
        line = locate(self.texts["tendr.toml"], _loc(where))
        target = (self.root / file).resolve()
        if not target.is_relative_to(self.root):
            self._problem("tendr.toml", where, line, "the secret file is outside the workspace")
        elif not target.is_file():
            self._problem("tendr.toml", where, line, "the secret file does not exist")
        else:
            self._trust_folders(target)
            owner = workspace_owner(self.root)[1]
            if reason := secret_problem(target, {0, self.owner_uid}, "secret file", owner):
                self._problem("tendr.toml", where, line, reason)

    def _hosts(self) -> list[Host]:
        hosts: list[Host] = []
        via_keys: dict[str, tuple[str, ...]] = {}  # where each host's `via` is written
        first_file: dict[str, str] = {}
        folder = self.root / "hosts"
        send = "send a host's changes to another machine"
        if folder.is_dir() and not self._trust(folder, "hosts/", send):
            self.hosts_complete = False
            return hosts
        for path, display in self._files("hosts"):
            if not self._trust(path, display, send):
                self.hosts_complete = False
                continue
            parsed, rest = self._parse(path, display, HostsFile)
            if parsed is None:
                self.hosts_complete = False
                # The hosts that are right still count, for duplicates across files.
                parsed = _salvage(HostsFile, rest)
                if parsed is None:
                    continue
            self.defaults[path.stem] = parsed.defaults
            for name, entry in parsed.hosts.items():
                host = Host.resolve(name, path.stem, entry, parsed.defaults, display)
                line = locate(self.texts[display], ["hosts", name])
                if name in first_file:
                    self._problem(
                        display,
                        f"hosts.{name}",
                        line,
                        f"host {name!r} is already defined in {first_file[name]}",
                    )
                    continue
                first_file[name] = display
                if host.connector == "ssh" and not host.address and not entry.tunnel:
                    self._problem(
                        display, f"hosts.{name}.address", line, "an ssh host needs an address"
                    )
                local = next((h for h in hosts if h.connector == "local"), None)
                if host.connector == "local" and local is not None:
                    self._problem(
                        display,
                        f"hosts.{name}.connector",
                        line,
                        f"only one host can be this machine; {local.name} in "
                        f"{local.file} already uses the local connector",
                    )
                hosts.append(host)
                self._check_tunnel(display, host, entry)
                via_keys[name] = ("hosts", name, "via") if entry.via else ("defaults", "via")
                self._check_key(display, host, own=entry.ssh_key is not None)
        return self._gateways(hosts, via_keys)

    def _check_tunnel(self, display: str, host: Host, entry: HostEntry) -> None:
        """A host that calls home is an SSH host reached through its own tunnel alone,
        on a port of its own; its port is written in the file, so it never moves."""
        if not entry.tunnel:
            if entry.tunnel_port is not None:
                self.tunnel_ports.setdefault(entry.tunnel_port, host.name)
            return
        line = locate(self.texts[display], ["hosts", host.name, "tunnel"])
        where = f"hosts.{host.name}.tunnel"
        if host.connector != "ssh":
            self._problem(display, where, line, "only an SSH host keeps a tunnel")
        if host.via is not None:
            self._problem(
                display, where, line,
                "a host that calls home is reached through its own tunnel, not via "
                f"{host.via}; leave via out (in [defaults], set it for the others alone)",
            )  # fmt: skip
        if self.settings is not None and self.settings.tunnel is None:
            self._problem(
                display, where, line,
                "tendr.toml has no [tunnel] (the controller's tunnel account and host key) "
                "for this host to call",
            )  # fmt: skip
        if entry.tunnel_port is None:
            self.tunnel_hosts_unported.append((display, host.name, line))
            return
        holder = self.tunnel_ports.setdefault(entry.tunnel_port, host.name)
        if holder != host.name:
            self._problem(
                display, f"hosts.{host.name}.tunnel_port", line,
                f"port {entry.tunnel_port} is {holder}'s tunnel port: one port per host",
            )  # fmt: skip

    def _check_tunnel_ports(self) -> None:
        """A host with tunnel = true and no port: the first free one, to write in."""
        first = self.settings.tunnel.first_port if self.settings and self.settings.tunnel else 20000
        for display, name, line in self.tunnel_hosts_unported:
            port = next(p for p in range(first, 65536) if p not in self.tunnel_ports)
            self.tunnel_ports[port] = name
            self._problem(
                display, f"hosts.{name}.tunnel_port", line,
                f"a host that calls home needs its tunnel port: add tunnel_port = {port} "
                "(the first free one), then let its key in at the controller",
            )  # fmt: skip

    def _check_key(self, display: str, host: Host, own: bool) -> None:
        """An SSH host's ssh_key (its `own`, or that of [defaults]) must be readable by its
        owner alone, as ssh requires (paramiko, which connects, does not check), and be
        this account's, root's or the workspace owner's. Checked once where it is written;
        `~` is this account's home."""
        written = ("hosts", host.name, "ssh_key") if own else ("defaults", "ssh_key")
        if host.connector != "ssh" or not host.ssh_key or (display, written) in self.keys:
            return
        self.keys.add((display, written))
        owners = {0, os.geteuid(), self.owner_uid}
        path = Path(host.ssh_key).expanduser()
        if reason := secret_problem(path, owners, "private key", real_account()):
            line = locate(self.texts[display], list(written))
            self._problem(display, ".".join(written), line, reason)

    def _gateways(self, hosts: list[Host], via_keys: dict[str, tuple[str, ...]]) -> list[Host]:
        """Resolve each host's `via` to the host it names: an SSH host of the workspace
        reached directly (one gateway, not a chain)."""
        by_name = {h.name: h for h in hosts}
        resolved = []
        for host in hosts:
            gateway = by_name.get(host.via) if host.via else None
            if host.via is not None:
                why = gateway_problem(host, gateway, self.hosts_complete)
                if why:
                    key = via_keys[host.name]
                    line = locate(self.texts[host.file], key)
                    self._problem(host.file, ".".join(key), line, why)
                    gateway = None
            resolved.append(host.model_copy(update={"gateway": gateway}))
        return resolved

    def _states(self, hosts: list[Host]) -> list[tuple[str, StateFile]]:
        states: list[tuple[str, StateFile]] = []
        declared: list[_Declarations] = []
        for path, display in self._files("states"):
            parsed, rest = self._parse(path, display, StateFile, check=_check_kinds)
            if parsed is None:
                # The resources that are right are still checked against the others.
                if rest is not None:
                    declared.append(_salvage_state(display, rest))
                continue
            text = self.texts[display]
            for index, selector in enumerate(parsed.hosts):
                # With a hosts file unreadable, "matches no host" would be a guess.
                if self.hosts_complete and not select([selector], hosts):
                    self._problem(
                        display,
                        f"hosts[{index}]",
                        locate(text, ["hosts"]),
                        no_match(selector, hosts),
                    )
            states.append((display, parsed))
            declared.append(_Declarations(display, tuple(parsed.hosts), parsed.resources()))
        self._check_conflicts(declared, hosts)
        self._check_references(declared)
        self._check_after(declared, hosts)
        return states

    def _rules(self) -> list[tuple[str, RulesFile]]:
        rules: list[tuple[str, RulesFile]] = []
        folder = self.root / "rules"
        # Whoever can write the folder can replace the files in it.
        if folder.is_dir() and not self._trust(folder, "rules/", GRANT):
            return rules
        for path, display in self._files("rules"):
            if not self._trust(path, display, GRANT):
                continue
            parsed, rest = self._parse(path, display, RulesFile)
            if parsed is not None:
                rules.append((display, parsed))
            elif (salvaged := _salvage(RulesFile, rest)) is not None:
                # Its right roles still get their selectors checked. It decides nothing:
                # with a problem recorded, no workspace is built.
                rules.append((display, salvaged))
        return rules

    def _grants(self) -> list[Grant]:
        """grants.toml, as trusted as rules/. A grant whose role or hosts are gone since
        grants nothing; it is not an error, so that it can still be listed and revoked."""
        path = self.root / GRANTS_FILE
        if not path.exists() or not self._trust(path, GRANTS_FILE, GRANT):
            return []
        parsed = self._parse(path, GRANTS_FILE, GrantsFile)[0]
        return list(parsed.grant) if parsed is not None else []

    # -- checks across files ------------------------------------------------

    def _check_conflicts(self, declared: list[_Declarations], hosts: list[Host]) -> None:
        """Two declarations of one resource on one host must agree; name both files."""
        reported: set[tuple[str, str, str, str]] = set()
        for host in hosts:
            seen: dict[tuple[str, str], tuple[str, str, ResourceSpec]] = {}
            for state in declared:
                if not any(matches(s, host) for s in state.selectors):
                    continue
                for key_path, spec in state.resources:
                    ident = (spec.kind, spec.same_key)
                    if ident not in seen:
                        seen[ident] = (state.file, key_path, spec)
                        continue
                    first_name, first_path, first = seen[ident]
                    # Declared once per file, except for the drivers resources need.
                    if agree(first, spec) and (
                        first_name != state.file
                        or isinstance(first, DriverSpec)
                        or isinstance(spec, DriverSpec)
                    ):
                        continue
                    signature = (first_name, first_path, state.file, key_path)
                    if signature in reported:
                        continue
                    reported.add(signature)
                    what = "again" if first == spec else "differently"
                    fields = _differing_fields(first, spec)
                    detail = f" ({', '.join(fields)} differ)" if fields else ""
                    self._problem(
                        state.file,
                        key_path,
                        locate(self.texts[state.file], _loc(key_path)),
                        f"{spec.kind} {spec.key!r} is declared {what} here and in "
                        f"{first_name} ({first_path}) for host {host.name}{detail}",
                    )

    def _check_rule_selectors(self, rules: list[tuple[str, RulesFile]], hosts: list[Host]) -> None:
        """A rule's selector must select a host: a deny that matches nothing would allow
        what it meant to forbid. `all` is exempt, so a workspace may start without hosts."""
        if not self.hosts_complete:  # with a hosts file unreadable this would be a guess
            return
        for name, rules_file in rules:
            for role_name, role in rules_file.roles.items():
                for effect, listed in (("allow", role.allow), ("deny", role.deny)):
                    for index, rule in enumerate(listed):
                        for position, selector in enumerate(rule.hosts):
                            if selector == "all" or select([selector], hosts):
                                continue
                            loc: list[str | int] = [
                                "roles",
                                role_name,
                                effect,
                                index,
                                "hosts",
                                position,
                            ]
                            self._problem(
                                name,
                                validation.key_path(loc),
                                locate(self.texts[name], loc[:3]),
                                no_match(selector, hosts),
                            )

    def _check_known_hosts(self, settings: Settings, hosts: list[Host]) -> None:
        pinned = self.root / settings.known_hosts
        if pinned.is_file():
            self._trust(pinned, settings.known_hosts, "pin a host key of their own")
        elif any(h.connector == "ssh" for h in hosts):
            self._problem(
                "tendr.toml",
                "known_hosts",
                None,
                f"the known_hosts file {settings.known_hosts!r} does not exist; "
                "ssh hosts cannot be verified without pinned host keys",
            )

    def _check_references(self, declared: list[_Declarations]) -> None:
        """Files a state names must exist inside the workspace, and a secret file is
        never also a file's `source` (its content would be written to a host, and its
        hash shown in a plan)."""
        secrets = {
            (self.root / reference.path).resolve()
            for state in declared
            for _, spec in state.resources
            for reference in _workspace_references(spec)
            if reference.secret
        }
        for state in declared:
            for key_path, spec in state.resources:
                for reference in _workspace_references(spec):
                    where = f"{key_path}.{reference.key}"
                    line = locate(self.texts[state.file], _loc(where))
                    target = (self.root / reference.path).resolve()
                    # A secret typed where its file belongs must not be echoed.
                    shown = "the secret file" if reference.secret else repr(reference.path)
                    if not target.is_relative_to(self.root):
                        self._problem(state.file, where, line, f"{shown} is outside the workspace")
                    elif not reference.secret and target in secrets:
                        self._problem(
                            state.file, where, line, f"{shown} is a secret file (a password)"
                        )
                    elif not target.is_file():
                        self._problem(
                            state.file, where, line, f"{shown} does not exist in the workspace"
                        )
                    elif reference.secret:
                        self._trust_folders(target)  # a folder refused is reported once
                        owner = workspace_owner(self.root)[1]
                        reason = secret_problem(target, {0, self.owner_uid}, "secret file", owner)
                        if reason:
                            self._problem(state.file, where, line, reason)
                    else:
                        self._trust_folders(target)  # a folder refused is reported once
                        if reason := check_trust(target, self.owner_uid, "change what it holds"):
                            self._problem(state.file, where, line, f"{shown}: {reason}")

    def _check_after(self, declared: list[_Declarations], hosts: list[Host]) -> None:
        """What a resource's `after` names must be declared (by a state, or tendr's
        baseline) and come before it in a plan: an earlier kind, or its own kind declared
        earlier in the same file (across files, each host's plan checks the order)."""
        kinds = list(KINDS)
        tunnel = self.settings.tunnel if self.settings else None
        known = {(s.kind, s.key) for h in hosts for s in baseline.resources(h, tunnel)}
        known |= {(spec.kind, spec.key) for state in declared for _, spec in state.resources}
        for state in declared:
            position = {(s.kind, s.key): i for i, (_, s) in enumerate(state.resources)}
            for key_path, spec in state.resources:
                for index, (kind, name) in enumerate(spec.waits_on):
                    where = f"{key_path}.after[{index}]"
                    named = repr(f"{kind}:{name}")
                    if kind not in KINDS:
                        why = f"{named}: no kind {kind!r} (expected one of: {', '.join(KINDS)})"
                    elif (kind, name) not in known:
                        why = f"{named}: no state declares {kind} {name!r}"
                    elif kinds.index(kind) > kinds.index(spec.kind) or (
                        kind == spec.kind
                        and position.get((kind, name), -1) >= position[(spec.kind, spec.key)]
                    ):
                        why = (
                            f"{named} comes later in the plan (or is this resource): a "
                            "resource waits only on one of an earlier kind (in the order "
                            f"{', '.join(KINDS)}), or of its kind declared before it"
                        )
                    else:
                        continue
                    self._problem(
                        state.file, where, locate(self.texts[state.file], _loc(where)), why
                    )

    def _problem(self, file: str, key: str, line: int | None, message: str) -> None:
        self.problems.append(Problem(file=file, key=key, line=line, message=message))


@dataclass(frozen=True)
class _Declarations:
    """What a state file declares, for the checks across files: its selectors and its
    resources with their key paths (those that validated, when the file has problems)."""

    file: str
    selectors: tuple[str, ...]
    resources: list[tuple[str, ResourceSpec]]


def missing_keys(workspace: Workspace) -> list[Problem]:
    """The ssh_key files the workspace names that do not exist for the account running
    tendr (`~` is its home), each where it is written. Not a problem of the load, which
    every command does: another host's key missing must not stop work on this one; but
    `validate` says so before a plan fails on it."""
    problems: dict[tuple[str, str], Problem] = {}
    for host in workspace.hosts:
        if host.connector != "ssh" or not host.ssh_key:
            continue
        if Path(host.ssh_key).expanduser().exists():
            continue
        text = workspace.texts.get(host.file, "")
        own = ("hosts", host.name, "ssh_key")
        written = own if locate(text, own) != locate(text, own[:2]) else ("defaults", "ssh_key")
        problems.setdefault(
            (host.file, ".".join(written)),
            Problem(
                file=host.file,
                key=".".join(written),
                line=locate(text, list(written)),
                message=f"the private key {host.ssh_key} does not exist (for {real_account()})",
            ),
        )
    return list(problems.values())


def secret_problem(path: Path, owners: Collection[int], what: str, owner: str) -> str | None:
    """Why tendr refuses the private key or secret file at `path` (`what`), or None. Like
    ssh for a private key: readable by its owner alone (0600 or 0400), and that owner one
    of `owners`, since whoever owns it can read it (`owner`: whose it should be). A link is
    followed, as ssh does and as the loader does for rules files: what it leads to is
    checked. A file that does not exist is said where it is needed."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"the {what} {path}: cannot check who may read it ({error.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return f"the {what} {path} is not a file"
    problems = []
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        who = " and ".join(
            w for w, bits in (("its group", 0o070), ("others", 0o007)) if mode & bits
        )
        verb = "readable by" if mode & 0o044 else "open to"
        problems.append(
            f"is {verb} {who} (mode {mode:04o}); it must be readable by its owner alone, "
            f"as ssh requires of a private key; fix: chmod 600 {path}"
        )
    if info.st_uid not in owners:
        problems.append(
            f"belongs to uid {info.st_uid}, who can read it and is neither root nor {owner}; "
            f"fix: chown {owner} {path} (as root), or use a file of {owner}'s own"
        )
    if not problems:
        return None
    return f"the {what} {path} " + "; and it ".join(problems)


def _salvage_state(display: str, data: dict[str, Any]) -> _Declarations:
    """The selectors and resources of a state file that are right in themselves, each at
    its own index, so a problem in one entry does not hide those of the others."""
    selectors = _quietly(_SELECTORS, data.get("hosts")) or ()
    resources: list[tuple[str, ResourceSpec]] = []
    for kind, spec_model in SPECS.items():
        entries = data.get(kind)
        if not isinstance(entries, list):
            continue
        for index, entry in enumerate(entries):
            spec = _quietly(spec_model, entry)
            if spec is not None:
                resources.append((f"{kind}[{index}]", spec))
    return _Declarations(display, tuple(selectors), with_drivers(resources))


def _salvage(model: type[M], data: dict[str, Any] | None) -> M | None:
    """What of a hosts or rules file validates once the keys in error are taken out
    (`hosts.h2.port`, then a rule without its `ops`...), so that a wrong value does not
    hide the file's other problems. Never used to act: the workspace has problems."""
    if data is None:
        return None
    rest = copy.deepcopy(data)
    for _ in range(_SALVAGE_ROUNDS):
        try:
            return validate_data(model, rest)
        except ValidationError as exc:
            dropped = [_drop(rest, item["loc"]) for item in exc.errors()]  # all, not the first
            if not any(dropped):
                return None
    return None


def _drop(data: dict[str, Any], loc: tuple[str | int, ...]) -> bool:
    """Delete the innermost table key on the way to `loc`; False when there is none."""
    found: tuple[dict[str, Any], str] | None = None
    current: Any = data
    for part in loc:
        if isinstance(current, dict) and isinstance(part, str) and part in current:
            found = (current, part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            break
    if found is None:
        return False
    del found[0][found[1]]
    return True


def _quietly(model: type[M] | TypeAdapter[Any], data: Any) -> Any:
    """`data` validated as `model`, or None: its problems were reported already."""
    if data is None:
        return None
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_json(json.dumps(data, default=_toml_date), strict=True)
        return validate_data(model, data)
    except ValidationError:
        return None


def _check_kinds(
    data: dict[str, Any], display: str, text: str
) -> tuple[list[Problem], dict[str, Any]]:
    """An unknown top-level table in a state file is an unknown resource kind."""
    known = {"description", "hosts", *SPECS}
    problems = []
    for key in data:
        if key not in known and isinstance(data[key], list | dict):
            problems.append(
                Problem(
                    file=display,
                    key=key,
                    line=locate(text, [key]),
                    message=f"unknown resource kind {key!r} (expected one of: {', '.join(SPECS)})",
                )
            )
    kinds_left = {k: v for k, v in data.items() if k in known or not isinstance(v, list | dict)}
    return problems, kinds_left


def _workspace_references(spec: ResourceSpec) -> list[Reference]:
    return KINDS[spec.kind].references(spec)


def _differing_fields(a: ResourceSpec, b: ResourceSpec) -> list[str]:
    left, right = a.model_dump(), b.model_dump()
    return [k for k in left if left[k] != right.get(k)]


def _loc(key_path: str) -> list[str | int]:
    """'service[0].unit' -> ['service', 0, 'unit']."""
    loc: list[str | int] = []
    for part in key_path.replace("]", "").replace("[", ".").split("."):
        loc.append(int(part) if part.isdigit() else part)
    return loc


def gateway_problem(host: Host, gateway: Host | None, hosts_complete: bool) -> str | None:
    """Why `host` cannot be reached through the host its `via` names, or None."""
    via = host.via
    if host.connector != "ssh":
        return "only an SSH host is reached through a gateway"
    if via == host.name:
        return "a host is not reached through itself: name its gateway, or leave via out"
    if gateway is None:
        # With a hosts file unreadable, the gateway may be in it: that file's error says so.
        return f"no host {via!r} in hosts/ to reach this host through" if hosts_complete else None
    if gateway.connector != "ssh":
        return f"{via} is not an SSH host: a gateway is a machine tendr reaches over SSH"
    if gateway.via is not None:
        return (
            f"{via} is itself reached through {gateway.via}: tendr goes through one gateway, "
            "so name the host reached directly"
        )
    return None
