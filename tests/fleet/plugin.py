"""pytest fixtures for the test fleet.

Load with `pytest_plugins = ["tests.fleet.plugin"]` (tests/conftest.py) or
`pytest -p tests.fleet.plugin`.

- `fleet`: the session's Fleet (`fleet_session`) of TENDR_FLEET_SIZE hosts
  (default 6), with background resets finished before the test; booted
  once, torn down at the end (TENDR_FLEET_KEEP=1 leaves it up).  Its hosts are
  shared by all tests: read them, do not change them.
- `fresh_host` (function): one host in the base image's state, for a test that
  changes it; afterwards it is reset in the background.  `fresh_hosts(n)`
  gives several.
- `fleet_workspace` (function): a tmp tendr workspace (hosts/fleet.toml,
  known_hosts, tendr.toml) for the fleet's hosts.
- `fleet_lan` (module): a client LAN behind a gateway host (tests/fleet/lan.py), a
  tests.fleet.lan.Lan: .gateway, .hosts (lan-01 and lan-02, reached through the
  gateway), .known_hosts, .key_path.  Booted for the module, torn down after it.

Where the fleet cannot start (not root, no debootstrap, ...) these fixtures
fail the test with the reason; they never skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.fleet import lan
from tests.fleet.fleet import Fleet, FleetError, fleet_size_from_env
from tests.fleet.host import Host, write_hosts_file

FLEET_FIXTURES = {
    "fleet",
    "fleet_session",
    "fresh_host",
    "fresh_hosts",
    "fleet_workspace",
    "fleet_lan",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fleet: runs against real test hosts booted by the suite")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a fleet fixture `fleet` (select with -m fleet)."""
    for item in items:
        if FLEET_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.fleet)


T = TypeVar("T")


def _or_fail(start: Callable[[], T]) -> T:
    """start(); where the fleet cannot run here, the test fails saying why (never a skip,
    and without the traceback of FleetError: the reason is the message)."""
    problem = ""
    try:
        return start()
    except FleetError as e:
        problem = str(e)
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def fleet_session() -> Iterator[Fleet]:
    """The fleet, booted once per test run."""
    f = Fleet()
    _or_fail(lambda: f.up(fleet_size_from_env()))
    try:
        yield f
    finally:
        if os.environ.get("TENDR_FLEET_KEEP") != "1":
            f.down()


@pytest.fixture
def fleet(fleet_session: Fleet) -> Fleet:
    """The shared fleet, with every background reset finished: a test that reads the
    shared hosts never meets one that is rebooting after an earlier test."""
    fleet_session.settle()
    return fleet_session


@pytest.fixture
def fresh_hosts(fleet_session: Fleet) -> Iterator[Callable[[int], list[Host]]]:
    """A function n -> n fresh hosts; all are given back after the test."""
    taken: list[Host] = []

    def take(n: int = 1) -> list[Host]:
        try:
            hosts = fleet_session.fresh(n)
        except FleetError as e:
            problem = str(e)
        else:
            taken.extend(hosts)
            return hosts
        pytest.fail(problem, pytrace=False)

    yield take
    if taken:
        fleet_session.release(taken)


@pytest.fixture
def fresh_host(fresh_hosts: Callable[[int], list[Host]]) -> Host:
    return fresh_hosts(1)[0]


@pytest.fixture
def fleet_workspace(fleet: Fleet, tmp_path: Path) -> Path:
    """tmp_path as a tendr workspace for all fleet hosts (client "fleet", user root)."""
    write_hosts_file(tmp_path, fleet.hosts)
    return tmp_path


@pytest.fixture(scope="module")
def fleet_lan(request: pytest.FixtureRequest) -> Iterator[lan.Lan]:
    """The lan, booted for the module."""
    # Fleet.up stops every fleet host, the lan's too: where this module also uses the
    # fleet, boot the fleet first.
    fleet_fixtures = FLEET_FIXTURES - {"fleet_lan"}
    if any(
        getattr(item, "module", None) is request.module
        and fleet_fixtures & set(getattr(item, "fixturenames", ()))
        for item in request.session.items
    ):
        request.getfixturevalue("fleet_session")
    booted = _or_fail(lambda: lan.up(Fleet()))
    try:
        yield booted
    finally:
        booted.down()
