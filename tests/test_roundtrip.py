"""Property: any valid model written as TOML reads back as the same model."""

from __future__ import annotations

import tomllib
from typing import Any, TypeVar, cast

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tendr.base.names import UNIT_SUFFIXES
from tendr.kinds.backup import BackupSpec, Retention
from tendr.kinds.base import SecretRef
from tendr.kinds.file import FileSpec
from tendr.kinds.module import ModuleSpec
from tendr.kinds.package import PackageSpec
from tendr.kinds.printer import PrinterSpec
from tendr.kinds.service import ServiceSpec
from tendr.workspace.hosts import HostDefaults, HostEntry, HostsFile
from tendr.workspace.loader import validate_data
from tendr.workspace.statefile import StateFile

M = TypeVar("M", bound=BaseModel)


def regex(pattern: str) -> st.SearchStrategy[str]:
    """Strings fully matching `pattern`; the bounds below keep examples short and fast."""
    return st.from_regex(pattern, fullmatch=True)


def valid(model: type[M], fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[M]:
    """Instances of `model` from field strategies, skipping combinations its own
    cross-field rules refuse (e.g. a masked unit that is also running)."""

    def build(kwargs: dict[str, Any]) -> M | None:
        try:
            return model.model_validate(kwargs)
        except ValidationError:
            return None

    built = st.fixed_dictionaries(fields).map(build).filter(lambda m: m is not None)
    return cast("st.SearchStrategy[M]", built)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# The patterns of tendr/names.py and the kind modules, with tighter repetition bounds.
unit = regex(r"[A-Za-z0-9:_.\\][A-Za-z0-9:_.\\@-]{0,20}\.(" + "|".join(UNIT_SUFFIXES) + ")")
module_name = regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,54}")
printer_name = regex(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,20}")
package_name = regex(r"[a-z0-9][a-z0-9+.-]{1,20}(:[a-z0-9-]{1,8})?")
account = regex(r"[a-z_][a-z0-9_-]{0,31}\$?")
host_name = regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}")
address = regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,30}|[0-9A-Fa-f:.]{1,39}")
option_name = regex(r"[A-Za-z0-9_]{1,20}")
dropin = regex(r"[A-Za-z0-9_.@-]{1,20}\.conf")
mode = regex(r"0?[0-7]{3}|[0-7]{4}")
duration = regex(r"[0-9]{1,4}(s|m|h|d|w)")
path_part = regex(r"[A-Za-z0-9_ .-]{1,12}").filter(lambda p: p.strip(".") != "")
absolute_path = st.lists(path_part, max_size=4).map(lambda parts: "/" + "/".join(parts))
selector = regex(
    r"all|[A-Za-z0-9][A-Za-z0-9_.-]{0,20}|(group|client|tag):[A-Za-z0-9][A-Za-z0-9_.-]{0,20}"
)
text = st.text(max_size=40)
one_line = st.text(max_size=30).filter(lambda s: not any(c in s for c in "\n\r\x00"))
toml_int = st.integers(min_value=-(2**63), max_value=2**63 - 1)
flag = optional(st.booleans())

services = valid(
    ServiceSpec,
    {
        "unit": unit,
        "enabled": flag,
        "running": flag,
        "masked": flag,
        "content": optional(text),
        "dropins": st.dictionaries(dropin, text, max_size=2),
        "restart_on_change": st.booleans(),
    },
)
modules = valid(
    ModuleSpec,
    {
        "name": module_name,
        "loaded": flag,
        "at_boot": flag,
        "blacklisted": flag,
        "options": st.dictionaries(
            option_name,
            st.booleans() | toml_int | regex(r"[A-Za-z0-9][A-Za-z0-9_,.-]{0,12}"),
            max_size=3,
        ),
    },
)
printers = valid(
    PrinterSpec,
    {
        "name": printer_name,
        "uri": optional(
            regex(r"(ipp|ipps|socket|usb|lpd)://[A-Za-z0-9._~:/?#@!&'()*+,;=%-]{0,30}")
        ),
        "driver": st.sampled_from(["everywhere", "raw"])
        | regex(r"[A-Za-z0-9][A-Za-z0-9._:/+-]{0,30}"),
        "packages": st.lists(package_name, max_size=2),
        "default": flag,
        "enabled": st.booleans(),
        "accepting": st.booleans(),
        "shared": st.booleans(),
        "description": optional(one_line),
        "location": optional(one_line),
        "options": st.dictionaries(
            regex(r"[A-Za-z][A-Za-z0-9_]{0,10}"),
            regex(r"[A-Za-z0-9][A-Za-z0-9_.,:-]{0,10}"),
            max_size=2,
        ),
        "present": st.booleans(),
    },
)
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKH5Q1dHy3hUbW9qD4Ib8o3Y9H2BfOQm4u0o2Z1H4Xq2"
secrets = st.builds(SecretRef, file=regex(r"secrets/[a-z0-9-]{1,12}\.pass")) | st.builds(
    SecretRef, env=regex(r"[A-Z_][A-Z0-9_]{0,20}")
)
retention = st.builds(
    Retention,
    **{
        period: optional(st.integers(min_value=1, max_value=1000))
        for period in ("last", "hourly", "daily", "weekly", "monthly", "yearly")
    },
)
backups = valid(
    BackupSpec,
    {
        "name": regex(r"[a-z0-9][a-z0-9_-]{0,20}"),
        "sources": st.lists(absolute_path, min_size=1, max_size=3),
        "excludes": st.lists(
            st.text(min_size=1, max_size=10).filter(lambda s: "\n" not in s and "\x00" not in s),
            max_size=3,
        ),
        "repository": absolute_path
        | regex(r"sftp:[a-z_][a-z0-9_-]{0,8}@[A-Za-z0-9.-]{1,12}:/[A-Za-z0-9._/-]{0,12}"),
        "password": secrets,
        "schedule": st.sampled_from(["hourly", "daily", "weekly", "monthly", "Mon *-*-* 02:00:00"]),
        "keep": retention,
        "max_age": optional(duration),
        "check_every": optional(duration),
        # An sftp repository needs both; a local one neither (the others are filtered out).
        "ssh_key": optional(secrets),
        "host_key": optional(st.just(HOST_KEY)),
        "present": st.booleans(),
    },
)
packages = valid(PackageSpec, {"name": package_name, "present": st.booleans()})
files = valid(
    FileSpec,
    {
        "path": absolute_path,
        "content": optional(text),
        "mode": optional(mode),
        "owner": optional(account),
        "group": optional(account),
        "present": st.booleans(),
    },
) | valid(FileSpec, {"path": absolute_path, "source": regex(r"files/[A-Za-z0-9_.-]{1,20}")})
state_files = valid(
    StateFile,
    {
        "description": text,
        "hosts": st.lists(selector, min_size=1, max_size=3),
        **{
            kind: st.lists(strategy, max_size=2)
            for kind, strategy in (
                ("service", services),
                ("module", modules),
                ("printer", printers),
                ("backup", backups),
                ("package", packages),
                ("file", files),
            )
        },
    },
)

port = st.integers(min_value=1, max_value=65535)
connector = st.sampled_from(["ssh", "local"])
groups = st.lists(host_name, max_size=2)
hosts_files = st.builds(
    HostsFile,
    defaults=valid(
        HostDefaults,
        {
            "connector": connector,
            "user": optional(account),
            "port": port,
            "ssh_key": optional(one_line),
            "groups": groups,
            "tags": groups,
        },
    ),
    hosts=st.dictionaries(
        host_name,
        valid(
            HostEntry,
            {
                "address": optional(address),
                "connector": optional(connector),
                "user": optional(account),
                "port": optional(port),
                "ssh_key": optional(one_line),
                "groups": groups,
                "tags": groups,
            },
        ),
        max_size=3,
    ),
)


def as_toml(model: BaseModel) -> str:
    """What a technician would write: TOML without the unset (None) values."""
    return tomli_w.dumps(model.model_dump(exclude_none=True))


@pytest.mark.slow
@settings(max_examples=60, deadline=None, database=None)
@given(state_files)
def test_state_file_round_trips_through_toml(original: StateFile) -> None:
    """A StateFile with resources of every kind, written as TOML, loads back equal."""
    data = tomllib.loads(as_toml(original))
    assert StateFile.model_validate(data) == original
    assert validate_data(StateFile, data) == original


@settings(max_examples=60, deadline=None, database=None)
@given(hosts_files)
def test_hosts_file_round_trips_through_toml(original: HostsFile) -> None:
    """A HostsFile, written as TOML, loads back equal."""
    data = tomllib.loads(as_toml(original))
    assert HostsFile.model_validate(data) == original
    assert validate_data(HostsFile, data) == original
