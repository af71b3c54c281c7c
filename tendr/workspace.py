"""Load and validate a workspace: hosts/, states/, rules/ and tendr.toml.

The only loader. Every file is validated before anything connects anywhere,
and every problem of the workspace is collected, not only the first.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tendr import validation
from tendr.errors import Problem, WorkspaceError
from tendr.hosts.model import Host, HostsFile
from tendr.hosts.selection import matches, select
from tendr.rules.actor import check_rules_file_trust, workspace_owner
from tendr.rules.model import RulesFile
from tendr.settings import Settings
from tendr.states import SPECS
from tendr.states.base import ResourceSpec
from tendr.states.kind import Reference
from tendr.states.kinds import KINDS
from tendr.states.model import StateFile
from tendr.tomlfile import locate, read_toml
from tendr.validation import problems_from

ENV_WORKSPACE = "TENDR_WORKSPACE"
M = TypeVar("M", bound=BaseModel)
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

    def states_for(self, host: Host) -> list[str]:
        """The state files that target the host."""
        return [
            name
            for name, state in self.states
            if any(matches(selector, host) for selector in state.hosts)
        ]

    def desired(self, host: Host) -> list[Declared]:
        """Every resource the host should have, once each, in file order."""
        seen: dict[tuple[str, str], Declared] = {}
        for name, state in self.states:
            if not any(matches(selector, host) for selector in state.hosts):
                continue
            for key_path, spec in state.resources():
                seen.setdefault((spec.kind, spec.key), Declared(name, key_path, spec))
        return list(seen.values())

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


def _date_locations(value: object, loc: tuple[str | int, ...] = ()) -> Iterator[
        tuple[str | int, ...]]:
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

    def load(self) -> Workspace:
        if not self.root.is_dir():
            raise WorkspaceError(
                problems=[Problem(file=str(self.root), message="is not a directory")]
            )
        families = [self.root / name for name in ("hosts", "states", "rules")]
        if not any(folder.is_dir() for folder in families):
            raise WorkspaceError(problems=[Problem(
                file=str(self.root),
                message="is not a tendr workspace (no hosts/, states/ or rules/ folder); "
                "use --workspace DIR, set TENDR_WORKSPACE, or create one with 'tendr init DIR'",
            )])
        settings = self._settings()
        hosts = self._hosts()
        states = self._states(hosts)
        owner_uid, owner = workspace_owner(self.root)
        rules = self._rules(owner_uid)
        self._check_references(settings, hosts, states)
        if self.problems:
            raise WorkspaceError(problems=self.problems)
        return Workspace(self.root, settings, tuple(hosts), tuple(states), tuple(rules),
                         owner, self.texts)

    # -- reading -----------------------------------------------------------

    def _files(self, folder: str) -> Iterator[tuple[Path, str]]:
        directory = self.root / folder
        if directory.is_dir():
            for path in sorted(directory.glob("*.toml")):
                yield path, f"{folder}/{path.name}"

    def _parse(self, path: Path, display: str, model: type[M],
               check: Check | None = None) -> M | None:
        data, text, problem = read_toml(path, display)
        self.texts[display] = text
        if problem:
            self.problems.append(problem)
            return None
        assert data is not None
        if check is not None:
            problems, data = check(data, display, text)
            self.problems.extend(problems)
        dates = list(_date_locations(data))
        for loc in dates:
            self._problem(display, validation.key_path(loc), locate(text, loc),
                          "expected a string, got a TOML date or time (put it in quotes)")
        if dates:
            return None
        try:
            return validate_data(model, data)
        except ValidationError as exc:
            self.problems.extend(problems_from(exc, model, display, text))
            return None

    def _settings(self) -> Settings:
        path = self.root / "tendr.toml"
        if not path.exists():
            return Settings()
        return self._parse(path, "tendr.toml", Settings) or Settings()

    def _hosts(self) -> list[Host]:
        hosts: list[Host] = []
        first_file: dict[str, str] = {}
        for path, display in self._files("hosts"):
            parsed = self._parse(path, display, HostsFile)
            if parsed is None:
                self.hosts_complete = False
                continue
            for name, entry in parsed.hosts.items():
                host = Host.resolve(name, path.stem, entry, parsed.defaults, display)
                line = locate(self.texts[display], ["hosts", name])
                if name in first_file:
                    self._problem(display, f"hosts.{name}", line,
                                  f"host {name!r} is already defined in {first_file[name]}")
                    continue
                first_file[name] = display
                if host.connector == "ssh" and not host.address:
                    self._problem(display, f"hosts.{name}.address", line,
                                  "an ssh host needs an address")
                local = next((h for h in hosts if h.connector == "local"), None)
                if host.connector == "local" and local is not None:
                    self._problem(display, f"hosts.{name}.connector", line,
                                  f"only one host can be this machine; {local.name} in "
                                  f"{local.file} already uses the local connector")
                hosts.append(host)
        return hosts

    def _states(self, hosts: list[Host]) -> list[tuple[str, StateFile]]:
        states: list[tuple[str, StateFile]] = []
        for path, display in self._files("states"):
            parsed = self._parse(path, display, StateFile, check=_check_kinds)
            if parsed is None:
                continue
            text = self.texts[display]
            for index, selector in enumerate(parsed.hosts):
                # With a hosts file unreadable, "matches no host" would be a guess.
                if self.hosts_complete and not select([selector], hosts):
                    self._problem(display, f"hosts[{index}]", locate(text, ["hosts"]),
                                  f"{selector!r} matches no host in hosts/")
            states.append((display, parsed))
        self._check_conflicts(states, hosts)
        return states

    def _rules(self, owner_uid: int) -> list[tuple[str, RulesFile]]:
        rules: list[tuple[str, RulesFile]] = []
        folder = self.root / "rules"
        # Whoever can write the folder can replace the files in it.
        if folder.is_dir() and (reason := check_rules_file_trust(folder, owner_uid)):
            self.problems.append(Problem(file="rules/", message=reason))
            return rules
        for path, display in self._files("rules"):
            if reason := check_rules_file_trust(path, owner_uid):
                self.problems.append(Problem(file=display, message=reason))
                continue
            parsed = self._parse(path, display, RulesFile)
            if parsed is not None:
                rules.append((display, parsed))
        return rules

    # -- checks across files ------------------------------------------------

    def _check_conflicts(self, states: list[tuple[str, StateFile]], hosts: list[Host]) -> None:
        """Two declarations of one resource on one host must agree; name both files."""
        reported: set[tuple[str, str, str, str]] = set()
        for host in hosts:
            seen: dict[tuple[str, str], tuple[str, str, ResourceSpec]] = {}
            for name, state in states:
                if not any(matches(s, host) for s in state.hosts):
                    continue
                for key_path, spec in state.resources():
                    ident = (spec.kind, spec.key)
                    if ident not in seen:
                        seen[ident] = (name, key_path, spec)
                        continue
                    first_name, first_path, first = seen[ident]
                    if first == spec and first_name != name:
                        continue
                    signature = (first_name, first_path, name, key_path)
                    if signature in reported:
                        continue
                    reported.add(signature)
                    what = "again" if first == spec else "differently"
                    fields = _differing_fields(first, spec)
                    detail = f" ({', '.join(fields)} differ)" if fields else ""
                    self._problem(
                        name, key_path, locate(self.texts[name], _loc(key_path)),
                        f"{spec.kind} {spec.key!r} is declared {what} here and in "
                        f"{first_name} ({first_path}) for host {host.name}{detail}",
                    )

    def _check_references(self, settings: Settings, hosts: list[Host],
                          states: list[tuple[str, StateFile]]) -> None:
        """Files a workspace names must exist inside it."""
        if any(h.connector == "ssh" for h in hosts) and not (
            self.root / settings.known_hosts
        ).is_file():
            self._problem("tendr.toml", "known_hosts", None,
                          f"the known_hosts file {settings.known_hosts!r} does not exist; "
                          "ssh hosts cannot be verified without pinned host keys")
        for name, state in states:
            for key_path, spec in state.resources():
                for reference in _workspace_references(spec):
                    where = f"{key_path}.{reference.key}"
                    line = locate(self.texts[name], _loc(where))
                    target = (self.root / reference.path).resolve()
                    # A secret typed where its file belongs must not be echoed.
                    shown = "the secret file" if reference.secret else repr(reference.path)
                    if not target.is_relative_to(self.root):
                        self._problem(name, where, line, f"{shown} is outside the workspace")
                    elif not target.is_file():
                        self._problem(name, where, line,
                                      f"{shown} does not exist in the workspace")

    def _problem(self, file: str, key: str, line: int | None, message: str) -> None:
        self.problems.append(Problem(file=file, key=key, line=line, message=message))


def _check_kinds(data: dict[str, Any], display: str,
                 text: str) -> tuple[list[Problem], dict[str, Any]]:
    """An unknown top-level table in a state file is an unknown resource kind."""
    known = {"description", "hosts", *SPECS}
    problems = []
    for key in data:
        if key not in known and isinstance(data[key], list | dict):
            problems.append(Problem(
                file=display, key=key, line=locate(text, [key]),
                message=f"unknown resource kind {key!r} (expected one of: {', '.join(SPECS)})",
            ))
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
