"""Validated names: what tendr accepts is no looser than what the real tools accept."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from tendr.base import names
from tests.helpers import requires

HOSTILE = ["cups.service; rm -rf /", "$(reboot)", "`reboot`", "../etc/passwd", "a b", "a\nb", ""]

CASES: list[tuple[Any, str, bool]] = [
    # systemd units: systemd's unit_name_is_valid, with a type suffix
    (names.UnitName, "cups.service", True),
    (names.UnitName, "getty@tty1.service", True),
    (names.UnitName, "getty@.service", False),  # a template: systemctl cannot show it
    (names.UnitName, "a@b@c.service", True),
    (names.UnitName, "dev-sda1.device", True),
    (names.UnitName, "systemd-fsck@dev-disk-by\\x2dlabel-root.service", True),
    (names.UnitName, "backup.timer", True),
    (names.UnitName, "x" * 247 + ".service", True),
    (names.UnitName, "x" * 248 + ".service", False),  # 256 bytes: longer than systemd allows
    (names.UnitName, "@foo.service", False),  # empty prefix before the instance
    (names.UnitName, "-x.service", False),  # would read as an option
    (names.UnitName, "cups", False),  # no unit type
    (names.UnitName, "cups.daemon", False),  # not a unit type
    (names.UnitName, "cups service.service", False),
    (names.UnitName, "cups.service; rm -rf /", False),
    (names.UnitName, "$(reboot).service", False),
    (names.UnitName, "../etc/passwd.service", False),
    # kernel modules: MODULE_NAME_LEN is 56 with the NUL
    (names.ModuleName, "usb_storage", True),
    (names.ModuleName, "snd-hda-intel", True),
    (names.ModuleName, "8021q", True),
    (names.ModuleName, "m" * 55, True),
    (names.ModuleName, "m" * 56, False),
    (names.ModuleName, "-r", False),
    (names.ModuleName, "usb.storage", False),
    (names.ModuleName, "$(reboot)", False),
    (names.ModuleName, "usb_storage; reboot", False),
    (names.ModuleName, "../etc/passwd", False),
    # CUPS queues: no spaces, '/', '#', quotes or control characters; at most 127
    (names.PrinterName, "frontdesk", True),
    (names.PrinterName, "HP_LaserJet-4.2@floor+1", True),
    (names.PrinterName, "p" * 127, True),
    (names.PrinterName, "p" * 128, False),
    (names.PrinterName, "front desk", False),
    (names.PrinterName, "front/desk", False),
    (names.PrinterName, "front#desk", False),
    (names.PrinterName, "'frontdesk'", False),
    (names.PrinterName, "-E", False),
    (names.PrinterName, "$(reboot)", False),
    (names.PrinterName, "../etc/passwd", False),
    # Debian packages: policy 5.6.1, optionally with :arch
    (names.PackageName, "printer-driver-hpcups", True),
    (names.PackageName, "libstdc++6", True),
    (names.PackageName, "0ad", True),
    (names.PackageName, "python3.11", True),
    (names.PackageName, "libc6:amd64", True),
    (names.PackageName, "a", False),  # at least two characters
    (names.PackageName, "Vim", False),  # lower case only
    (names.PackageName, "-vim", False),
    (names.PackageName, "vim; reboot", False),
    (names.PackageName, "$(reboot)", False),
    (names.PackageName, "../etc/passwd", False),
    # absolute paths
    (names.AbsolutePath, "/etc/motd", True),
    (names.AbsolutePath, "/", True),
    (names.AbsolutePath, "/srv/share/", False),  # "/srv/share/" and "/srv/share" are one path
    (names.AbsolutePath, "/srv/My Documents", True),  # quoted wherever it is used
    (names.AbsolutePath, "etc/motd", False),
    (names.AbsolutePath, "../etc/passwd", False),
    (names.AbsolutePath, "/etc/../etc/passwd", False),
    (names.AbsolutePath, "/etc/./motd", False),
    (names.AbsolutePath, "/etc//motd", False),
    (names.AbsolutePath, "/etc/motd\n", False),
    (names.AbsolutePath, "/etc/mo\x00td", False),
    (names.AbsolutePath, "~/motd", False),
    # accounts, hosts, addresses, modes, durations
    (names.AccountName, "tendr", True),
    (names.AccountName, "_apt", True),
    (names.AccountName, "root; reboot", False),
    (names.AccountName, "Root", False),
    (names.AccountName, "1user", False),
    (names.HostName, "acme-fs01", True),
    (names.HostName, "acme.fs01", True),
    (names.HostName, "-oProxyCommand", False),
    (names.Address, "203.0.113.10", True),
    (names.Address, "2001:db8::1", True),
    (names.Address, "fs01.acme.example", True),
    (names.Address, "-oProxyCommand=reboot", False),
    (names.Address, "host; reboot", False),
    (names.Address, "user@host", False),
    (names.FileMode, "0644", True),
    (names.FileMode, "644", True),
    (names.FileMode, "2755", True),
    (names.FileMode, "0888", False),
    (names.FileMode, "rw-r--r--", False),
    (names.Duration, "26h", True),
    (names.Duration, "26 hours", False),
    (names.DropinName, "10-limits.conf", True),
    (names.DropinName, "../10-limits.conf", False),
    (names.DropinName, "limits", False),
    (names.OptionName, "power_save", True),
    (names.OptionName, "power save", False),
]


def _accepts(kind: Any, value: str) -> bool:
    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError:
        return False
    return True


_TYPE_NAMES = {id(v): k for k, v in vars(names).items() if k[0].isupper()}


def _case_id(case: tuple[Any, str, bool]) -> str:
    kind, value, ok = case
    return f"{_TYPE_NAMES.get(id(kind), '?')}-{'ok' if ok else 'bad'}-{value[:30]!r}"


@pytest.mark.parametrize(("kind", "value", "ok"), CASES, ids=[_case_id(c) for c in CASES])
def test_name_validator(kind: Any, value: str, ok: bool) -> None:
    """Each validated name type accepts exactly the values the real tool would take."""
    assert _accepts(kind, value) is ok


@pytest.mark.parametrize(
    "kind",
    [
        names.UnitName,
        names.ModuleName,
        names.PrinterName,
        names.PackageName,
        names.AbsolutePath,
        names.AccountName,
        names.HostName,
        names.Address,
    ],
)
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_refused(kind: Any, value: str) -> None:
    """Shell metacharacters, path traversal and empty values are never a valid name."""
    assert not _accepts(kind, value)


def test_refusal_names_the_value_and_what_was_expected() -> None:
    """A refused name says what it got and what kind of name was expected."""
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(names.UnitName).validate_python("cups; reboot")
    message = caught.value.errors()[0]["msg"]
    assert "'cups; reboot'" in message and "systemd unit name" in message


@pytest.mark.parametrize(
    "value", [v.split(":")[0] for k, v, ok in CASES if k is names.PackageName and ok]
)
@requires(shutil.which("dpkg") is not None, "dpkg is not installed")
def test_accepted_package_names_are_accepted_by_dpkg(value: str) -> None:
    """Every package name tendr accepts is one dpkg accepts too."""
    result = subprocess.run(["dpkg", "--validate-pkgname", value], capture_output=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (v, ok)
        for k, v, ok in CASES
        if k is names.UnitName
        and "/" not in v
        # tendr's own refusals: option injection, length, templates systemctl cannot show
        and not (v.startswith("-") or len(v) > 255 or "@." in v)
    ],
)
@requires(shutil.which("systemd-analyze") is not None, "systemd-analyze is not installed")
def test_unit_names_agree_with_systemd(value: str, ok: bool, tmp_path: Path) -> None:
    """systemd refuses the unit names tendr refuses for systemd's reasons, and takes the rest."""
    unit = tmp_path / value
    unit.write_text("[Unit]\n", encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    refused_name = "Failed to prepare filename" in result.stderr
    assert refused_name is not ok, result.stderr


@pytest.mark.parametrize("value", ["../evil.conf", "sub/10-limits.conf", "/etc/evil.conf"])
def test_a_dropin_name_with_a_slash_is_refused_for_that(value: str) -> None:
    """A drop-in named like a path is refused for what is wrong with it (a '/'), not for
    an ending it has."""
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(names.DropinName).validate_python(value)
    message = caught.value.errors()[0]["msg"]
    assert f"{value!r} is not a file name" in message and "without '/'" in message
    assert "ending in .conf" not in message


def test_a_dropin_name_without_conf_says_so() -> None:
    """A plain name that does not end in .conf is told what a drop-in name is."""
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(names.DropinName).validate_python("10-limits")
    assert (
        "'10-limits' is not a drop-in file name (letters, digits and _ . @ -, ending in "
        ".conf)" in caught.value.errors()[0]["msg"]
    )
