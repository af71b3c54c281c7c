"""A resource pattern that can name no resource of its kind is an error with a suggestion
(issue 25, point 5): a deny with `units = ["ssh"]` would otherwise forbid nothing.

Checked against what the states accept as names (tendr.names and the backup kind's own
check): a pattern made from any valid name is accepted and names it, and a pattern that is
accepted names some valid name, found by filling its '*'s."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from tendr.base.names import UNIT_SUFFIXES, ModuleName, PackageName, PrinterName, UnitName
from tendr.kinds.backup import BackupSpec
from tendr.rules.resources import check_pattern, covers
from tests.helpers import ADMIN_RULES, build_tree, run_tendr

# -- what each kind accepts as a name, by the states' own validators ------------------------

ADAPTERS = {
    "units": TypeAdapter(UnitName),
    "packages": TypeAdapter(PackageName),
    "printers": TypeAdapter(PrinterName),
    "modules": TypeAdapter(ModuleName),
}


def valid(field: str, name: str) -> bool:
    """Whether a state may declare `name`, as the host reads it, as a resource of
    `field`'s kind (a module's '-' is '_': `-x` is the module `_x`)."""
    if field == "modules":
        name = name.replace("-", "_")
    try:
        if field == "backups":
            BackupSpec.model_validate(
                {"name": name, "sources": ["/srv"], "repository": "/r", "password": {"env": "P"}}
            )
        else:
            ADAPTERS[field].validate_python(name)
    except ValidationError:
        return False
    return field != "packages" or ":" not in name  # a package with an architecture: below


# Regexes of valid names (as tendr.names writes them), for drawing names.
NAME_REGEXES = {
    "units": r"[a-z][a-z0-9_.-]{0,8}(@[a-z0-9]{1,3})?\.(" + "|".join(UNIT_SUFFIXES) + ")",
    "packages": r"[a-z0-9][a-z0-9+.-]{0,8}[a-z0-9+.]",
    "printers": r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,10}",
    "backups": r"[a-z0-9][a-z0-9_-]{0,10}",
    "modules": r"[A-Za-z0-9_][A-Za-z0-9_-]{0,10}",
}
FIELDS = tuple(NAME_REGEXES)


@st.composite
def field_and_name(draw: st.DrawFn) -> tuple[str, str]:
    field = draw(st.sampled_from(FIELDS))
    name = draw(
        st.from_regex(NAME_REGEXES[field], fullmatch=True).filter(lambda n: valid(field, n))
    )
    return field, name


@settings(max_examples=300)
@given(field_and_name(), st.lists(st.tuples(st.integers(0, 20), st.integers(0, 4)), max_size=3))
def test_a_pattern_made_from_a_valid_name_is_accepted_and_names_it(
    drawn: tuple[str, str], holes: list[tuple[int, int]]
) -> None:
    """Any valid name, with any runs of it replaced by '*', is a pattern tendr accepts
    and that names the name: no pattern that could name a resource is refused."""
    field, name = drawn
    pattern = name
    for start, length in holes:
        start = min(start, len(pattern))
        pattern = pattern[:start] + "*" + pattern[start + length :]
    assert check_pattern(field, pattern) is None, (field, pattern)
    assert covers(field, pattern, name)


# Pieces of patterns: characters some kinds accept and others do not, and unit types.
PIECES = ("a", "Z", "0", "_", "-", ".", "@", "+", ":", "*", ".service", "ser", "vice", "@.")
# What a '*' is tried as: any run, or the start of a unit's type after one.
FILLERS = (
    "",
    "a",
    "aa",
    *(
        f"{a}.{t}"[: n + 1 + len(a)]
        for t in UNIT_SUFFIXES
        for a in ("", "a")
        for n in range(len(t) + 1)
    ),
)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(FIELDS),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=5)
    .map("".join)
    .filter(lambda p: p.count("*") <= 2),
)
def test_a_pattern_is_refused_exactly_when_it_can_name_nothing(field: str, pattern: str) -> None:
    """Filling each '*' every way the test knows: an accepted pattern names some name a
    state may declare, and a refused one names none."""
    parts = pattern.split("*")
    names = {
        "".join(itertools.chain.from_iterable(zip(parts, (*fill, ""), strict=True)))
        for fill in itertools.product(FILLERS, repeat=len(parts) - 1)
    }
    named = sorted(n for n in names if valid(field, n))
    problem = check_pattern(field, pattern)
    if problem is None:
        assert named, (field, pattern)
        assert all(covers(field, pattern, n) for n in named)
    else:
        assert named == [], (field, pattern, problem)
        assert f"{pattern!r} can name no" in problem


@pytest.mark.parametrize(
    ("field", "pattern", "expected"),
    [
        ("units", "ssh", "'ssh' can name no systemd unit (did you mean 'ssh.service'?)"),
        ("units", "cups-*.servce", "(did you mean 'cups-*.service'?): a unit's name ends in"),
        ("units", "getty@.service", "(did you mean 'getty@*.service'?)"),
        ("units", "-ssh.service", "(did you mean 'ssh.service'?): no name starts with '-'"),
        ("units", "cups+.service", "names hold only letters, digits and : _ . \\ @ -"),
        ("packages", "Hello", "'Hello' can name no Debian package (did you mean 'hello'?)"),
        ("packages", "hello:amd64", "(did you mean 'hello'?): a package is named without"),
        ("packages", "python3_lxml", "(did you mean 'python3-lxml'?)"),
        ("packages", "less-", "(did you mean 'less'?): no name ends in '-'"),
        ("packages", "x", "a name has at least 2 characters"),
        ("printers", "front desk", "can name no CUPS queue: names hold only letters"),
        ("printers", "-front", "(did you mean 'front'?)"),
        ("modules", "usb_storage.ko", "(did you mean 'usb_storage'?)"),
        ("modules", "m" * 56, "a name has at most 55 characters"),
        ("backups", "Documents", "(did you mean 'documents'?)"),
        ("backups", "docs.daily", "can name no backup job: names hold only lower case"),
        ("paths", "etc/cups/**", "did you mean '/etc/cups/**'?"),
        ("paths", "/etc/cups/", "did you mean '/etc/cups'?"),
    ],
)
def test_a_pattern_that_can_name_nothing_is_refused_with_a_suggestion(
    field: str, pattern: str, expected: str
) -> None:
    assert expected in (check_pattern(field, pattern) or "")


@pytest.mark.parametrize(
    ("field", "pattern"),
    [
        ("units", "ssh.service"),
        ("units", "cups*"),
        ("units", "*"),
        ("units", "getty@*.service"),
        ("units", "*vice"),
        ("packages", "printer-driver-*"),
        ("packages", "g++"),
        ("printers", "FrontDesk"),
        ("modules", "snd-hda-*"),
        ("backups", "*"),
    ],
)
def test_patterns_that_can_name_something_are_accepted(field: str, pattern: str) -> None:
    assert check_pattern(field, pattern) is None


RULES = """\
[roles.helpdesk]
members = ["dave"]
allow = [{ ops = ["*"], hosts = ["all"] }]
deny = [
  { ops = ["service.stop"], hosts = ["all"], units = ["%s"] },
]
"""


def workspace(root: Path, unit: str) -> str:
    files = {
        "hosts/local.toml": '[hosts.desk01]\nconnector = "local"\n',
        "rules/roles.toml": ADMIN_RULES + RULES % unit,
    }
    return str(build_tree(root, files))


def test_validate_refuses_a_deny_that_names_no_unit(tmp_path: Path) -> None:
    """The README's case: a deny with `units = ["ssh"]` is an error naming the file, the
    line, the key and what a unit pattern is, with the pattern meant; `rules explain` will
    not answer from such rules; with the suggested pattern the deny holds."""
    ws = workspace(tmp_path / "bad", "ssh")
    code, text = run_tendr("validate", "-w", ws)
    assert code == 1
    assert (
        "error: rules/roles.toml:7: roles.helpdesk.deny[0].units[0]: 'ssh' can name no "
        "systemd unit (did you mean 'ssh.service'?): a unit's name ends in its type"
    ) in " ".join(text.split())
    code, raw = run_tendr("validate", "-w", ws, "--format", "json")
    [problem] = json.loads(raw)["problems"]
    assert (problem["file"], problem["key"], problem["line"]) == (
        "rules/roles.toml",
        "roles.helpdesk.deny[0].units[0]",
        7,
    )
    code, text = run_tendr("rules", "explain", "dave", "service.stop", "desk01", "ssh", "-w", ws)
    assert code == 1 and "allowed" not in text and "'ssh' can name no systemd unit" in text

    fixed = workspace(tmp_path / "good", "ssh.service")
    assert run_tendr("validate", "-w", fixed)[0] == 0
    code, text = run_tendr(
        "rules", "explain", "dave", "service.stop", "desk01", "ssh.service", "-w", fixed
    )
    assert code == 1 and text.startswith("denied"), text
    assert "roles.helpdesk.deny[0] (service.stop on all, ssh.service)" in text
