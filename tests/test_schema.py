"""JSON Schema for editors: it accepts what tendr accepts, and refuses typos."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import TypeAdapter, ValidationError

from tendr.base import names
from tendr.workspace.init import create_workspace
from tendr.workspace.loader import validate_data
from tendr.workspace.schema import FAMILIES, schema_for
from tests.test_names import CASES

REPO_ROOT = Path(__file__).resolve().parent.parent


def _example_files() -> list[tuple[str, Path]]:
    found = [
        (family, path)
        for family in ("hosts", "states", "rules")
        for path in sorted((REPO_ROOT / family).glob("*.toml"))
    ]
    return [*found, ("settings", REPO_ROOT / "tendr.toml")]


def check(family: str, data: dict[str, Any]) -> None:
    schema = schema_for(family)
    jsonschema.validators.validator_for(schema).check_schema(schema)
    jsonschema.validate(data, schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize(
    ("family", "path"),
    _example_files(),
    ids=[str(p.relative_to(REPO_ROOT)) for _, p in _example_files()],
)
def test_schema_accepts_example_file(family: str, path: Path) -> None:
    """Each example workspace file is valid against its family's JSON Schema."""
    check(family, tomllib.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    "relative",
    ["hosts/acme.toml.example", "states/baseline.toml.example", "rules/roles.toml", "tendr.toml"],
)
def test_schema_accepts_init_output(tmp_path: Path, relative: str) -> None:
    """Each file `tendr init` writes (the examples too) is valid against its family's
    JSON Schema."""
    create_workspace(tmp_path / "ws", "alice")
    family = relative.split("/")[0] if "/" in relative else "settings"
    check(family, tomllib.loads((tmp_path / "ws" / relative).read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("family", "data"),
    [
        ("states", {"hosts": ["all"], "service": [{"unit": "cups.service", "enabeld": True}]}),
        ("states", {"hosts": ["all"], "servce": [{"unit": "cups.service"}]}),
        ("states", {"hosts": ["all"], "service": [{"unit": "cups.service", "enabled": "yes"}]}),
        ("hosts", {"hosts": {"fs01": {"port": 70000}}}),
        ("settings", {"paralel": 3}),
    ],
)
def test_schema_refuses_typos_and_wrong_types(family: str, data: dict[str, Any]) -> None:
    """Editors flag unknown keys, unknown kinds and wrong types, as `tendr validate` does."""
    with pytest.raises(jsonschema.ValidationError):
        check(family, data)


@pytest.mark.parametrize(
    ("family", "title"),
    [
        ("hosts", "tendr hosts file (hosts/CLIENT.toml)"),
        ("states", "tendr state file (states/NAME.toml)"),
        ("rules", "tendr rules file (rules/NAME.toml)"),
        ("settings", "tendr settings (tendr.toml)"),
    ],
)
def test_each_family_schema_is_titled_for_editors(family: str, title: str) -> None:
    """Each family's schema names draft 2020-12 and says which file it is for (pydantic
    alone would title it with a class name, such as 'HostsFile')."""
    schema = schema_for(family)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == title


def _properties(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property of every object in a schema, with where it is."""
    if isinstance(node, dict):
        for name, child in node.get("properties", {}).items():
            yield f"{where}.{name}", child
        for key, child in node.items():
            yield from _properties(child, f"{where}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _properties(child, f"{where}[{index}]")


@pytest.mark.parametrize("family", FAMILIES)
def test_every_key_has_a_description_for_editors(family: str) -> None:
    """An editor shows help on hover for every key of every file family."""
    found = dict(_properties(schema_for(family)))
    assert len(found) >= len(FAMILIES[family].model_fields)
    missing = [where for where, schema in found.items() if not schema.get("description")]
    assert missing == []


# A file of each family using every kind of name, as tendr and the schema both accept it.
GOOD: dict[str, dict[str, Any]] = {
    "hosts": {
        "defaults": {"user": "tendr", "groups": ["acme"]},
        "hosts": {
            "acme-fs01": {"address": "203.0.113.10", "tags": ["critical"]},
            "acme-desk01": {"address": "2001:db8::21", "port": 2222},
        },
    },
    "states": {
        "hosts": ["client:acme", "acme-fs01", "all"],
        "service": [{"unit": "getty@tty1.service", "dropins": {"10-limits.conf": ""}}],
        "package": [{"name": "libc6:amd64"}],
        "updates": [
            {
                "others": "apply",
                "approve_after": "7d",
                "window": "Mon,Sat 22:00-02:00",
                "hold": ["postgresql-15", "libc6:amd64"],
                "unattended": True,
            }
        ],
        "file": [{"path": "/etc/motd", "source": "files/motd", "mode": "0644", "owner": "root"}],
        "module": [{"name": "snd-hda-intel", "options": {"power_save": 1}}],
        "printer": [
            {
                "name": "frontdesk",
                "uri": "ipp://192.0.2.50/ipp/print",
                "driver": "drv:///hpcups.drv/hp-laserjet.ppd",
                "packages": ["printer-driver-hpcups"],
            }
        ],
        "backup": [
            {
                "name": "documents",
                "sources": ["/srv/share"],
                "repository": "sftp:backup@192.0.2.60:/srv/restic/acme",
                "password": {"file": "secrets/acme.pass"},
                "ssh_key": {"file": "secrets/acme-backup.key"},
                "host_key": "ssh-ed25519 "
                "AAAAC3NzaC1lZDI1NTE5AAAAIKH5Q1dHy3hUbW9qD4Ib8o3Y9H2BfOQm4u0o2Z1H4Xq2",
                "schedule": "Mon *-*-* 02:00",
                "max_age": "26h",
            }
        ],
    },
    "rules": {
        "roles": {
            "help-desk": {
                "members": ["alice", "@owner"],
                "allow": [
                    {
                        "ops": ["plan", "service.restart", "printer.*", "*.remove", "*"],
                        "hosts": ["all", "client:acme", "acme-fs01"],
                    }
                ],
            }
        },
    },
    "settings": {"service_account": "tendr"},
}

# Values of the right type that only a name's pattern refuses: each would pass an editor
# whose schema had lost that pattern.
HOSTILE: list[tuple[str, list[str | int], str]] = [
    ("states", ["service", 0, "unit"], "cups.service; rm -rf /"),
    ("states", ["service", 0, "unit"], "getty@.service"),
    ("states", ["package", 0, "name"], "cups; reboot"),
    ("states", ["file", 0, "path"], "/etc/../shadow"),
    ("states", ["file", 0, "path"], "/etc//motd"),
    ("states", ["file", 0, "source"], "../../etc/shadow"),
    ("states", ["file", 0, "source"], "/etc/shadow"),
    ("states", ["file", 0, "mode"], "0999"),
    ("states", ["file", 0, "owner"], "root; reboot"),
    ("states", ["updates", 0, "hold", 0], "cups; reboot"),
    ("states", ["updates", 0, "window"], "Sat 02:00-05:00; reboot"),
    ("states", ["updates", 0, "window"], "Sat 02:00-25:00"),
    ("states", ["updates", 0, "approve_after"], "a week"),
    ("states", ["updates", 0, "others"], "always"),
    ("states", ["module", 0, "name"], "usb_storage; reboot"),
    ("states", ["printer", 0, "name"], "front desk"),
    ("states", ["printer", 0, "uri"], "ipp://192.0.2.50/`reboot`"),
    ("states", ["printer", 0, "driver"], "$(reboot)"),
    ("states", ["printer", 0, "packages", 0], "-oAPT::Get"),
    ("states", ["backup", 0, "name"], "documents; reboot"),
    ("states", ["backup", 0, "sources", 0], "srv/share"),
    ("states", ["backup", 0, "repository"], "sftp:backup@host:/srv; reboot"),
    ("states", ["backup", 0, "schedule"], "daily; reboot"),
    ("states", ["backup", 0, "max_age"], "a day"),
    ("states", ["backup", 0, "password", "file"], "../acme.pass"),
    ("states", ["hosts", 0], "group:front desk"),
    ("hosts", ["hosts", "acme-fs01", "address"], "-oProxyCommand=reboot"),
    ("hosts", ["hosts", "acme-fs01", "address"], "fs01; reboot"),
    ("hosts", ["defaults", "user"], "root; reboot"),
    ("hosts", ["defaults", "groups", 0], "-x"),
    ("rules", ["roles", "help-desk", "members", 0], "everyone"),
    ("rules", ["roles", "help-desk", "members", 0], "alice bob"),
    ("rules", ["roles", "help-desk", "allow", 0, "ops", 0], "service;reboot"),
    ("rules", ["roles", "help-desk", "allow", 0, "ops", 0], "service.restart.now"),
    ("rules", ["roles", "help-desk", "allow", 0, "hosts", 0], "grp:acme"),
    ("settings", ["service_account"], "root; reboot"),
]

# Keys of tables that are names: a hostile key is added beside the good one.
HOSTILE_KEYS: list[tuple[str, list[str | int], str]] = [
    ("hosts", ["hosts"], "fs01; reboot"),
    ("states", ["service", 0, "dropins"], "../evil.conf"),
    ("states", ["module", 0, "options"], "power save"),
    ("rules", ["roles"], "help desk"),
]


def _at(data: Any, path: list[str | int]) -> Any:
    for part in path:
        data = data[part]
    return data


def _tendr_accepts(family: str, data: dict[str, Any]) -> bool:
    try:
        validate_data(FAMILIES[family], data)
    except ValidationError:
        return False
    return True


def _schema_accepts(family: str, data: dict[str, Any]) -> bool:
    try:
        check(family, data)
    except jsonschema.ValidationError:
        return False
    return True


@pytest.mark.parametrize("family", GOOD)
def test_schema_and_tendr_accept_good_names(family: str) -> None:
    """Every kind of name, written well, passes both the editor's schema and tendr."""
    assert _tendr_accepts(family, GOOD[family])
    assert _schema_accepts(family, GOOD[family])


@pytest.mark.parametrize(
    ("family", "path", "value"),
    HOSTILE,
    ids=[f"{'.'.join(map(str, p))}={v}" for _, p, v in HOSTILE],
)
def test_schema_refuses_hostile_names_as_tendr_does(
    family: str, path: list[str | int], value: str
) -> None:
    """`unit = "cups.service; rm -rf /"` and its kind are refused in the editor, as
    `tendr validate` refuses them: every name type carries its pattern in the schema."""
    data = copy.deepcopy(GOOD[family])
    _at(data, path[:-1])[path[-1]] = value
    assert not _tendr_accepts(family, data)
    assert not _schema_accepts(family, data)


@pytest.mark.parametrize(
    ("family", "path", "key"),
    HOSTILE_KEYS,
    ids=[f"{'.'.join(map(str, p))}[{k}]" for _, p, k in HOSTILE_KEYS],
)
def test_schema_refuses_hostile_table_keys_as_tendr_does(
    family: str, path: list[str | int], key: str
) -> None:
    """A table keyed by names (hosts, drop-ins, module options, roles) has every key checked
    in the editor too, not only the keys that happen to match."""
    data = copy.deepcopy(GOOD[family])
    table = _at(data, path)
    table[key] = next(iter(table.values()))
    assert not _tendr_accepts(family, data)
    assert not _schema_accepts(family, data)


_PATH_CASES: list[tuple[Any, str, bool]] = [
    (names.WorkspacePath, "files/motd", True),
    (names.WorkspacePath, "./files/motd", True),
    (names.WorkspacePath, "files//motd", True),
    (names.WorkspacePath, "..files/motd", True),
    (names.WorkspacePath, "files/", True),
    (names.WorkspacePath, "", False),
    (names.WorkspacePath, "/etc/motd", False),
    (names.WorkspacePath, "../motd", False),
    (names.WorkspacePath, "files/../../motd", False),
    (names.WorkspacePath, "files/..", False),
    (names.WorkspacePath, "files/mo\x00td", False),
    (names.AbsolutePath, "/.hidden", True),
    (names.AbsolutePath, "/a/..b", True),
    (names.AbsolutePath, "/a/.", False),
    (names.AbsolutePath, "/a/..", False),
]


# Python's '$' (which the jsonschema package uses) also matches before a final newline,
# ECMAScript's (an editor's) does not: those cases are tendr's to refuse.
_NAME_CASES = [case for case in [*CASES, *_PATH_CASES] if not case[1].endswith("\n")]
_TYPE_NAMES = {id(v): k for k, v in vars(names).items() if k[0].isupper()}


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    _NAME_CASES,
    ids=[f"{_TYPE_NAMES[id(kind)]}-{value[:30]!r}" for kind, value, _ in _NAME_CASES],
)
def test_each_name_pattern_accepts_what_tendr_accepts(kind: Any, value: str, ok: bool) -> None:
    """Each name type's schema accepts exactly the names tendr accepts (test_names.py has
    why each case is what it is)."""
    schema = TypeAdapter(kind).json_schema()
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        accepted = False
    else:
        accepted = True
    assert accepted is ok


def test_state_files_have_a_field_for_every_kind_in_the_registry() -> None:
    """The registry (tendr/kinds/registry.py) is the one list of kinds: state files accept
    exactly its kinds, and the rules know every kind's operations."""
    from tendr.kinds.registry import KINDS
    from tendr.rules.model import KINDS as OPERATION_KINDS
    from tendr.workspace.statefile import StateFile

    assert set(StateFile.model_fields) - {"description", "hosts"} == set(KINDS)
    assert set(KINDS) <= set(OPERATION_KINDS)
