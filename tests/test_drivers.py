"""The driver kinds, fast (no network, no test hosts): kernel modules and CUPS queues.

Validation as `tendr validate` reports it (file, key, message); each kind's parse on
probe output as the host prints it and its pure diff as the plan shows it (operation,
sign, fields, notes); the argv of the steps; the probes and apply's scripts run by
dash and bash, with fake CUPS commands first on PATH; the driver packages a workspace
adds for a printer; and parse never raising on whatever a host prints.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.text import Text

from tendr.base.changes import Change, FieldChange, Put, Run, Step, Unreadable
from tendr.cli.render import change_lines
from tendr.core.plan import needed, plan_host, probe_script, split_sections
from tendr.kinds import module, printer
from tendr.kinds.base import ResourceSpec
from tendr.kinds.kind import Context
from tendr.kinds.module import ModuleActual, ModuleSpec
from tendr.kinds.package import DriverSpec, PackageSpec
from tendr.kinds.printer import PrinterActual, PrinterSpec
from tendr.workspace.loader import load
from tests.helpers import LOCAL_HOSTS, build_tree, run_tendr

CTX = Context()
SHELLS = ["sh", "dash", "bash"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shown(changes: Sequence[Change]) -> str:
    """The changes as a plan's text shows them (markup gone)."""
    return "\n".join(Text.from_markup(line).plain for c in changes for line in change_lines(c))


def ops(changes: Sequence[Change]) -> list[tuple[str, str]]:
    return [(c.op, c.sign) for c in changes]


def fields(change: Change) -> dict[str, tuple[Any, Any]]:
    return {f.name: (f.before, f.after) for f in change.fields}


def plan(spec: ResourceSpec, lines: list[str]) -> list[Change]:
    """One resource planned as the plan does it: its kind's parse, then diff."""
    return list(plan_host("h", [("states/s.toml", spec)], {spec.kind: lines}, {}).changes)


def shell_path(shell: str) -> str:
    """The shell's full path (a test's PATH may not hold it); failing when missing."""
    found = shutil.which(shell)
    if found is None:
        pytest.fail(f"{shell} is not installed", pytrace=False)
    return found


# -- validation, as `tendr validate` says it -----------------------------------------------


def validate(tmp_path: Path, state: str, *options: str) -> tuple[int, str]:
    ws = build_tree(tmp_path / "ws", {"hosts/h.toml": LOCAL_HOSTS, "states/s.toml": state})
    return run_tendr("validate", "-w", str(ws), *options)


def q(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value)


REFUSED = [
    # (resource table, the key in error, the words of the message)
    (f"[[module]]\nname = {q('usb_storage; rm -rf /')}", "module[0].name", "kernel module name"),
    ('[[module]]\nname = "-r"', "module[0].name", "'-r' is not a kernel module name"),
    ('[[module]]\nname = "../x"', "module[0].name", "'../x' is not a kernel module name"),
    ('[[module]]\nname = "$(reboot)"', "module[0].name", "is not a kernel module name"),
    ('[[module]]\nname = "x"\noptions = { "a;b" = 1 }', "module[0].options", "option name"),
    ('[[module]]\nname = "x"\noptions = { a = "b c" }', "module[0]", "option a = 'b c'"),
    ('[[module]]\nname = "x"\noptions = { a = "$(id)" }', "module[0]", "option a = '$(id)'"),
    ('[[module]]\nname = "x"\noptions = { a = "1;reboot" }', "module[0]", "letters, digits"),
    (
        '[[module]]\nname = "x"\nblacklisted = true\nloaded = true',
        "module[0]",
        "a blacklisted module cannot also be loaded or loaded at boot",
    ),
    (
        '[[module]]\nname = "x"\nblacklisted = true\nat_boot = true',
        "module[0]",
        "a blacklisted module cannot also be loaded or loaded at boot",
    ),
    ('[[printer]]\nname = "a b"', "printer[0].name", "'a b' is not a CUPS queue name"),
    ('[[printer]]\nname = "-x"', "printer[0].name", "is not a CUPS queue name"),
    ('[[printer]]\nname = "../q"', "printer[0].name", "is not a CUPS queue name"),
    ('[[printer]]\nname = "q;reboot"', "printer[0].name", "is not a CUPS queue name"),
    ('[[printer]]\nname = "q/x"', "printer[0].name", "is not a CUPS queue name"),
    (
        '[[printer]]\nname = "p"\nuri = "file:/etc/passwd"',
        "printer[0].uri",
        "'file:/etc/passwd' is not a device URI such as 'ipp://host/ipp/print' (schemes: ipp,",
    ),
    ('[[printer]]\nname = "p"\nuri = "ipp://h/x y"', "printer[0].uri", "is not a device URI"),
    # '$' and '`' are not in the URI's characters: refused, though ( ) ; & are taken.
    ('[[printer]]\nname = "p"\nuri = "ipp://h/$(reboot)"', "printer[0].uri", "not a device URI"),
    ('[[printer]]\nname = "p"\nuri = "ipp://h/`id`"', "printer[0].uri", "not a device URI"),
    ('[[printer]]\nname = "p"\nuri = "ipp://h/\\"x"', "printer[0].uri", "not a device URI"),
    ('[[printer]]\nname = "p"\nuri = "/dev/usb/lp0"', "printer[0].uri", "not a device URI"),
    ('[[printer]]\nname = "p"\ndriver = "a b"', "printer[0].driver", "is not a driver"),
    ('[[printer]]\nname = "p"\ndriver = "-x"', "printer[0].driver", "is not a driver"),
    ('[[printer]]\nname = "p"\noptions = { "a;b" = "x" }', "printer[0].options", "option name"),
    ('[[printer]]\nname = "p"\noptions = { sides = "$(x)" }', "printer[0].options", "sides ="),
    ('[[printer]]\nname = "p"\noptions = { sides = "a b" }', "printer[0].options", "sides ="),
    ('[[printer]]\nname = "p"\noptions = { sides = "-x" }', "printer[0].options", "sides ="),
    ('[[printer]]\nname = "p"\noptions = { sides = "a`b`" }', "printer[0].options", "sides ="),
    (
        '[[printer]]\nname = "p"\noptions = { "printer-info" = "x" }',
        "printer[0].options",
        "'printer-info' is not an option name tendr sets this way",
    ),
    (
        '[[printer]]\nname = "p"\noptions = { "device-uri" = "ipp:x" }',
        "printer[0].options",
        "'device-uri' is not an option name tendr sets this way",
    ),
    (
        '[[printer]]\nname = "p"\noptions = { "sides-default" = "one-sided" }',
        "printer[0].options",
        "'sides-default' is not an option name",
    ),
    (
        f'[[printer]]\nname = "p"\ndescription = {q("a" + chr(10) + "b")}',
        "printer[0].description",
        "must be a single line",
    ),
    (
        f'[[printer]]\nname = "p"\nlocation = {q("a" + chr(13) + "b")}',
        "printer[0].location",
        "must be a single line",
    ),
]


@pytest.mark.parametrize(("table", "key", "message"), REFUSED)
def test_validate_refuses_hostile_values_naming_file_and_key(
    tmp_path: Path, table: str, key: str, message: str
) -> None:
    code, text = validate(tmp_path, f'hosts = ["all"]\n{table}\n')
    assert code == 1, text
    assert "states/s.toml:" in text and f": {key}" in text and message in text, text
    assert "1 problem in the workspace; nothing was done." in text


@pytest.mark.parametrize("form", ["text", "json"])
def test_a_uri_with_a_password_is_refused_without_echoing_it(tmp_path: Path, form: str) -> None:
    """lpstat shows a queue's URI to every account: refused, and the refusal does not
    repeat the password to whoever reads the terminal or the CI log."""
    state = 'hosts = ["all"]\n[[printer]]\nname = "p"\nuri = "smb://user:s3cr3t@host/q"\n'
    code, text = validate(tmp_path, state, "--format", form)
    assert code == 1
    assert "a device URI with a password in it is refused" in text
    assert "printer[0].uri" in text
    assert "s3cr3t" not in text


@pytest.mark.parametrize(
    "uri", ["smb://alice:p#ss@host/q", "smb://alice:p?ss@host/q", "smb://alice:p/ss@host/q"]
)
def test_a_password_with_uri_delimiters_in_it_is_refused_too(tmp_path: Path, uri: str) -> None:
    code, text = validate(tmp_path, f'hosts = ["all"]\n[[printer]]\nname = "p"\nuri = "{uri}"\n')
    assert code == 1 and "a device URI with a password in it is refused" in text, text


@pytest.mark.parametrize(
    "table",
    [
        '[[module]]\nname = "snd-dummy"\nat_boot = true\noptions = { index = -2, b = true }',
        '[[module]]\nname = "usb_storage"\nblacklisted = true\nloaded = false',
        '[[module]]\nname = "x"\noptions = { a = "1,2.3-x_y" }',
        '[[printer]]\nname = "frontdesk"\nuri = "ipp://192.0.2.50:631/ipp/print"',
        '[[printer]]\nname = "p"\nuri = "socket://[2001:db8::1]:9100"\ndriver = "raw"',
        '[[printer]]\nname = "p.1@x+y"\nuri = "usb://HP/LaserJet?serial=X1"',
        '[[printer]]\nname = "p"\nuri = "ipp://h/(x);y&z"',
        '[[printer]]\nname = "p"\nuri = "smb://user@host/q"\ndriver = "drv:///sample.drv/dymo.ppd"',
        '[[printer]]\nname = "p"\noptions = { PageSize = "A4", sides = "two-sided-long-edge" }',
        f'[[printer]]\nname = "p"\ndescription = {q("a; rm -rf / $(x) `y`")}',
    ],
)
def test_validate_accepts_sound_drivers(tmp_path: Path, table: str) -> None:
    code, text = validate(tmp_path, f'hosts = ["all"]\n{table}\n')
    assert code == 0, text


def test_the_spec_classes_refuse_the_same() -> None:
    """Without a workspace too: the models themselves refuse."""
    with pytest.raises(ValueError, match="is not a kernel module name"):
        ModuleSpec.model_validate({"name": "usb_storage; rm -rf /"})
    with pytest.raises(ValueError, match="not a device URI"):
        PrinterSpec.model_validate({"name": "p", "uri": "file:/etc/passwd"})
    with pytest.raises(ValueError, match="password"):
        PrinterSpec.model_validate({"name": "p", "uri": "ipps://u:pw@h/x"})


# -- modules: probe output, parse, diff -------------------------------------------------

ABSENT_BOOT = "absent\t/etc/modules-load.d"
ABSENT_CONF = "absent\t/etc/modprobe.d"


def own(content: bytes) -> str:
    """A file probe line: root's, 0644, holding `content` (as tendr writes its files)."""
    return f"file\t644\troot\troot\t{len(content)}\t{sha(content)}"


def block(
    name: str,
    state: str = "absent",
    boot: str = ABSENT_BOOT,
    conf: str = ABSENT_CONF,
    tagged: Sequence[str] = (),
) -> list[str]:
    """One module's lines as the probe prints them."""
    return [f"M\t{name}", f"S\t{state}", boot, conf, *tagged]


def modules(*blocks: list[str], head: str = "@loadable") -> list[str]:
    return [head, *(line for b in blocks for line in b)]


def test_module_parse_reads_state_files_and_other_files() -> None:
    spec = ModuleSpec(name="snd_hda_intel", options={"power_save": 1})
    conf = b"options snd_hda_intel power_save=1\n"
    lines = modules(
        block(
            "snd_hda_intel",
            "loaded",
            conf=own(conf),
            tagged=[
                "C\toptions snd_hda_intel power_save=1",
                "B\t/etc/modules",
                "X\t/etc/modprobe.d/blacklist.conf",
            ],
        )
    )
    actual = module.parse([spec], lines)["snd_hda_intel"]
    assert isinstance(actual, ModuleActual)
    assert actual.unloadable == "" and actual.state == "loaded"
    assert actual.boot_file.type == "absent"
    assert (actual.modprobe_file.type, actual.modprobe_file.sha256) == ("file", sha(conf))
    assert actual.modprobe_lines == ("options snd_hda_intel power_save=1",)
    assert actual.at_boot_in == ("/etc/modules",)
    assert actual.blacklisted_in == ("/etc/modprobe.d/blacklist.conf",)


@pytest.mark.parametrize(
    ("head", "words"),
    [
        ("@container", "this host is a container"),
        ("@nomodules", "this host's kernel cannot load modules (no /proc/modules)"),
    ],
)
def test_module_parse_says_why_the_loaded_state_cannot_be_known(head: str, words: str) -> None:
    actual = module.parse([ModuleSpec(name="loop")], modules(block("loop"), head=head))["loop"]
    assert isinstance(actual, ModuleActual) and actual.unloadable.startswith(words)


@pytest.mark.parametrize(
    "lines",
    [
        [],
        ["@loadable"],
        modules(block("other")),
        ["@loadable", "M\tloop", "S\tloaded", ABSENT_BOOT],  # cut short
        ["@loadable", "M\tloop", ABSENT_BOOT, ABSENT_CONF, "S\tloaded"],
    ],
)
def test_a_module_not_reported_is_unknown(lines: list[str]) -> None:
    [change] = plan(ModuleSpec(name="loop", loaded=True), lines)
    assert (change.op, change.sign) == ("module.read", "?")
    assert change.note == "the host did not report on module loop"


def test_dash_and_underscore_names_are_one_kernel_module() -> None:
    """modprobe takes snd-dummy for snd_dummy; the kernel (and the probe) says snd_dummy."""
    spec = ModuleSpec(name="snd-dummy", at_boot=True, loaded=True)
    assert module.boot_path(spec) == "/etc/modules-load.d/tendr-snd_dummy.conf"
    assert module.modprobe_path(spec) == "/etc/modprobe.d/tendr-snd_dummy.conf"
    written = b"snd_dummy\n"
    lines = modules(block("snd_dummy", "loaded", boot=own(written)))
    assert spec.name == "snd_dummy"  # one module, one name
    assert isinstance(module.parse([spec], lines)["snd_dummy"], ModuleActual)
    assert plan(spec, lines) == []
    [put] = module.steps(spec, Change("module", "snd_dummy", "module.configure", "change"), CTX)
    assert put == Put("/etc/modules-load.d/tendr-snd_dummy.conf", written, "0644", "root", "root")


def test_options_drift_shows_old_and_new_sorted() -> None:
    spec = ModuleSpec(name="snd_hda_intel", options={"power_save": 1, "enable_msi": True})
    old = b"options snd_hda_intel power_save=0\n"
    lines = modules(
        block(
            "snd_hda_intel",
            "loaded",
            conf=own(old),
            tagged=["C\toptions snd_hda_intel power_save=0"],
        )
    )
    [change] = plan(spec, lines)
    assert ops([change]) == [("module.configure", "~")]
    assert fields(change) == {"options": ("power_save=0", "enable_msi=1 power_save=1")}
    text = shown([change])
    assert "options: power_save=0 → enable_msi=1 power_save=1" in text
    assert "the options take effect when the module is next loaded (it is loaded now)" in text


def test_options_new_show_none_before_and_no_note_when_unloaded() -> None:
    spec = ModuleSpec(name="snd_hda_intel", options={"power_save": 1})
    [change] = plan(spec, modules(block("snd_hda_intel")))
    assert fields(change) == {"options": (None, "power_save=1")}
    assert "options: (none) → power_save=1" in shown([change]) and change.note == ""


def test_a_missing_blacklist_is_planned_and_written() -> None:
    spec = ModuleSpec(name="usb_storage", blacklisted=True)
    [change] = plan(spec, modules(block("usb_storage")))
    assert ops([change]) == [("module.configure", "~")]
    assert "blacklisted: no → yes" in shown([change])
    assert module.steps(spec, change, CTX) == [
        Put(
            "/etc/modprobe.d/tendr-usb_storage.conf",
            b"blacklist usb_storage\n",
            "0644",
            "root",
            "root",
        )
    ]


def test_blacklist_and_options_are_written_in_one_file() -> None:
    spec = ModuleSpec(name="x", blacklisted=True, options={"b": 2, "a": "v-1"})
    [change] = plan(spec, modules(block("x")))
    assert fields(change) == {"blacklisted": (False, True), "options": (None, "a=v-1 b=2")}
    [put] = module.steps(spec, change, CTX)
    assert isinstance(put, Put)
    assert put.content == b"blacklist x\noptions x a=v-1 b=2\n"
    assert (put.mode, put.owner, put.group) == ("0644", "root", "root")


def test_a_blacklist_no_longer_wanted_removes_tendrs_file() -> None:
    spec = ModuleSpec(name="usb_storage", blacklisted=False)
    content = b"blacklist usb_storage\n"
    lines = modules(block("usb_storage", conf=own(content), tagged=["C\tblacklist usb_storage"]))
    [change] = plan(spec, lines)
    assert "blacklisted: yes → no" in shown([change])
    assert module.steps(spec, change, CTX) == [
        Run(("rm", "-f", "--", "/etc/modprobe.d/tendr-usb_storage.conf"))
    ]


def test_a_hand_edited_modprobe_file_is_rewritten_as_declared() -> None:
    spec = ModuleSpec(name="usb_storage", blacklisted=True)
    content = b"blacklist usb_storage\ninstall usb_storage /bin/true\n"
    tagged = ["C\tblacklist usb_storage", "C\tinstall usb_storage /bin/true"]
    [change] = plan(spec, modules(block("usb_storage", conf=own(content), tagged=tagged)))
    assert "modprobe.d file: differs → as declared" in shown([change])


def test_a_modprobe_file_of_another_mode_is_rewritten() -> None:
    spec = ModuleSpec(name="usb_storage", blacklisted=True)
    content = b"blacklist usb_storage\n"
    conf = f"file\t600\troot\troot\t{len(content)}\t{sha(content)}"
    [change] = plan(
        spec, modules(block("usb_storage", conf=conf, tagged=["C\tblacklist usb_storage"]))
    )
    assert fields(change) == {"modprobe_file": ("differs", "as declared")}


@pytest.mark.parametrize(
    ("at_boot", "before", "after"), [(True, "no", "yes"), (False, "yes", "no")]
)
def test_at_boot_is_planned_both_ways(at_boot: bool, before: str, after: str) -> None:
    spec = ModuleSpec(name="loop", at_boot=at_boot)
    boot = ABSENT_BOOT if at_boot else own(b"loop\n")
    [change] = plan(spec, modules(block("loop", boot=boot)))
    assert ops([change]) == [("module.configure", "~")]
    assert f"at boot: {before} → {after}" in shown([change])
    path = "/etc/modules-load.d/tendr-loop.conf"
    expected: Step = (
        Put(path, b"loop\n", "0644", "root", "root") if at_boot else Run(("rm", "-f", "--", path))
    )
    assert module.steps(spec, change, CTX) == [expected]


LOOP = sha(b"loop\n")


@pytest.mark.parametrize(
    ("boot", "before"),
    [
        # right content, not 0644 or not root's: the file differs, at boot it already is
        (f"file\t600\troot\troot\t5\t{LOOP}", {"boot_file": ("differs", "as declared")}),
        (f"file\t644\tlp\troot\t5\t{LOOP}", {"boot_file": ("differs", "as declared")}),
        ("link", {"at_boot": ("link at the file's place", True)}),
        ("other", {"at_boot": ("other at the file's place", True)}),
    ],
)
def test_a_boot_file_not_as_tendr_writes_it_is_rewritten(boot: str, before: object) -> None:
    spec = ModuleSpec(name="loop", at_boot=True)
    [change] = plan(spec, modules(block("loop", boot=boot)))
    assert (change.op, fields(change)) == ("module.configure", before)
    assert module.steps(spec, change, CTX) == [
        Put("/etc/modules-load.d/tendr-loop.conf", b"loop\n", "0644", "root", "root")
    ]


def test_a_wrong_boot_file_reads_as_a_difference() -> None:
    spec = ModuleSpec(name="loop", at_boot=True)
    [change] = plan(spec, modules(block("loop", boot=own(b"loop max_loop=8\n"))))
    [item] = change.fields
    assert item.before != item.after, shown([change])


@pytest.mark.parametrize(
    ("state", "loaded", "op"),
    [
        ("absent", True, "module.load"),
        ("loaded", False, "module.unload"),
    ],
)
def test_loaded_state_is_planned_and_run_with_modprobe(state: str, loaded: bool, op: str) -> None:
    spec = ModuleSpec(name="snd-dummy", loaded=loaded)
    [change] = plan(spec, modules(block("snd_dummy", state)))
    assert (change.op, change.sign, fields(change)) == (op, "~", {"loaded": (not loaded, loaded)})
    argv = ("modprobe", "--", "snd_dummy") if loaded else ("modprobe", "-r", "--", "snd_dummy")
    assert module.steps(spec, change, CTX) == [Run(argv)]


def test_in_sync_loaded_modules_need_nothing() -> None:
    assert plan(ModuleSpec(name="loop", loaded=True), modules(block("loop", "loaded"))) == []
    assert plan(ModuleSpec(name="loop", loaded=False), modules(block("loop", "absent"))) == []


def test_a_builtin_module_is_loaded_and_cannot_be_unloaded() -> None:
    lines = modules(block("loop", "builtin"))
    assert plan(ModuleSpec(name="loop", loaded=True), lines) == []
    [change] = plan(ModuleSpec(name="loop", loaded=False), lines)
    assert (change.op, change.sign) == ("module.read", "?")
    assert "built into the kernel" in change.note


@pytest.mark.parametrize("head", ["@container", "@nomodules"])
def test_a_container_plans_configuration_but_cannot_verify_loading(head: str) -> None:
    spec = ModuleSpec(name="snd_dummy", loaded=True, options={"index": 1})
    changes = plan(spec, modules(block("snd_dummy"), head=head))
    assert ops(changes) == [("module.configure", "~"), ("module.read", "?")]
    assert fields(changes[0]) == {"options": (None, "index=1")}
    assert "whether the module is loaded cannot be verified or changed here" in changes[1].note
    assert "its configuration files are still managed" in changes[1].note


def test_a_builtin_module_in_a_container_is_in_sync_when_wanted_loaded() -> None:
    spec = ModuleSpec(name="loop", loaded=True)
    assert plan(spec, modules(block("loop", "builtin"), head="@container")) == []


def test_loaded_at_boot_by_another_file_is_said_not_edited() -> None:
    spec = ModuleSpec(name="loop", at_boot=False)
    [change] = plan(spec, modules(block("loop", tagged=["B\t/etc/modules"])))
    assert (change.op, change.sign) == ("module.read", "?")
    assert change.note == (
        "it is loaded at boot by /etc/modules, which tendr does not edit: change that file by hand"
    )


def test_blacklisted_by_another_file_is_said_not_edited() -> None:
    spec = ModuleSpec(name="pcspkr", blacklisted=False)
    x = "X\t/etc/modprobe.d/blacklist.conf"
    [change] = plan(spec, modules(block("pcspkr", tagged=[x])))
    assert (change.op, change.sign) == ("module.read", "?")
    assert "it is blacklisted by /etc/modprobe.d/blacklist.conf, which tendr does not" in (
        change.note
    )


def test_other_files_do_not_matter_when_nothing_is_declared_against_them() -> None:
    spec = ModuleSpec(name="loop", loaded=True)
    tagged = ["B\t/etc/modules", "X\t/etc/modprobe.d/blacklist.conf"]
    assert plan(spec, modules(block("loop", "loaded", tagged=tagged))) == []


def as_written(spec: ModuleSpec, state: str) -> list[str]:
    """The probe's lines for the module once apply ran its configure steps."""
    boot, conf, tagged = ABSENT_BOOT, ABSENT_CONF, []
    for step in module.steps(spec, Change("module", spec.name, "module.configure", "change"), CTX):
        if isinstance(step, Put) and step.path == module.boot_path(spec):
            boot = own(step.content)
        elif isinstance(step, Put):
            conf = own(step.content)
            tagged = [f"C\t{line}" for line in step.content.decode().splitlines()]
    return modules(block(module.kernel_name(spec.name), state, boot, conf, tagged))


@pytest.mark.parametrize(
    "spec",
    [
        ModuleSpec(name="snd-dummy", at_boot=True, options={"index": -2, "enable": True}),
        ModuleSpec(name="usb_storage", blacklisted=True, at_boot=False),
        ModuleSpec(name="x", blacklisted=False, options={"a": "1,2"}),
        ModuleSpec(name="pcspkr", blacklisted=True, options={"b": 0}),
    ],
)
def test_a_second_plan_after_apply_is_in_sync(spec: ModuleSpec) -> None:
    assert plan(spec, modules(block(module.kernel_name(spec.name))))  # there was work
    assert plan(spec, as_written(spec, "absent")) == []


def test_nothing_declared_leaves_tendrs_files_alone() -> None:
    """Unset blacklisted and no options: the modprobe.d file, whatever it holds, stays."""
    spec = ModuleSpec(name="x", loaded=True)
    lines = modules(block("x", "loaded", conf=own(b"junk\n"), tagged=["C\tjunk"]))
    assert plan(spec, lines) == []
    assert module.steps(spec, Change("module", "x", "module.configure", "change"), CTX) == []


# -- modules: the probe as a shell runs it ----------------------------------------------


def run_probe(shell: str, script: str, path: str | None = None, **variables: str) -> list[str]:
    env = {**os.environ, **variables}
    if path:
        env["PATH"] = path
    done = subprocess.run(
        [shell_path(shell), "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "syntax" not in done.stderr.lower(), done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("shell", SHELLS)
def test_the_module_probe_parses_with_each_shell(shell: str) -> None:
    specs = [
        ModuleSpec(name="loop", at_boot=False),
        ModuleSpec(name="snd-dummy", blacklisted=False),
    ]
    done = subprocess.run(
        [shell_path(shell), "-n", "-c", module.probe(specs)], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_the_module_probe_runs_here(shell: str) -> None:
    """This machine's /etc and /sys/module (maybe no /proc/modules): read, not guessed."""
    specs = [ModuleSpec(name="loop", loaded=True), ModuleSpec(name="snd-dummy", at_boot=False)]
    lines = run_probe(shell, module.probe(specs))
    assert lines[0] in ("@container", "@nomodules", "@loadable")
    found = module.parse(specs, lines)
    for spec in specs:
        actual = found[spec.key]
        assert isinstance(actual, ModuleActual), actual
        assert actual.state in ("loaded", "builtin", "absent")
        assert actual.boot_file.type != "unreadable"


def probe_in(root: Path, specs: Sequence[ModuleSpec]) -> str:
    """The module probe reading ROOT/etc instead of /etc (files, never the machine's)."""
    return module.probe(specs).replace("/etc/", f"{root}/etc/")


@pytest.mark.parametrize("shell", SHELLS)
def test_the_module_probe_reads_its_files_and_the_others(tmp_path: Path, shell: str) -> None:
    tree = {
        "etc/modules": "# /etc/modules\nloop \n",
        "etc/modules-load.d/tendr-loop.conf": "loop\n",
        "etc/modprobe.d/tendr-loop.conf": "options loop max_loop=8\n",
        "etc/modprobe.d/blacklist.conf": "# off\n  blacklist snd_dummy\nblacklist loopy\n",
        "etc/modprobe.d/old.conf": "blacklist snd-dummy\n",
    }
    build_tree(tmp_path, tree)
    specs = [
        ModuleSpec(name="loop", at_boot=False),
        ModuleSpec(name="snd-dummy", blacklisted=False),
    ]
    found = module.parse(specs, run_probe(shell, probe_in(tmp_path, specs)))
    loop, dummy = found["loop"], found["snd_dummy"]
    assert isinstance(loop, ModuleActual) and isinstance(dummy, ModuleActual)
    assert loop.boot_file.type == "file" and loop.boot_file.sha256 == sha(b"loop\n")
    assert loop.modprobe_lines == ("options loop max_loop=8",)
    assert f"{tmp_path}/etc/modules" in loop.at_boot_in
    assert dummy.modprobe_file.type == "absent" and dummy.modprobe_lines == ()
    etc = f"{tmp_path}/etc/modprobe.d"
    assert {f"{etc}/blacklist.conf", f"{etc}/old.conf"} <= set(dummy.blacklisted_in)
    assert not any("tendr-" in f for f in dummy.blacklisted_in + loop.at_boot_in)


def test_a_modprobe_file_without_a_final_newline_does_not_hide_the_next_module(
    tmp_path: Path,
) -> None:
    build_tree(tmp_path, {"etc/modprobe.d/tendr-loop.conf": "options loop max_loop=8"})
    specs = [ModuleSpec(name="loop", options={"max_loop": 8}), ModuleSpec(name="snd-dummy")]
    found = module.parse(specs, run_probe("sh", probe_in(tmp_path, specs)))
    loop = found["loop"]
    assert isinstance(loop, ModuleActual), loop
    assert loop.modprobe_lines == ("options loop max_loop=8",), loop.modprobe_lines
    assert isinstance(found["snd_dummy"], ModuleActual), found["snd_dummy"]


def test_a_modules_packages_are_installed_first(tmp_path: Path) -> None:
    ws = load(
        workspace(
            tmp_path,
            '[[module]]\nname = "v4l2loopback"\nloaded = true\npackages = ["v4l2loopback-dkms"]\n',
        )
    )
    drivers = [d for d in ws.desired(ws.hosts[0]) if isinstance(d.spec, DriverSpec)]
    assert [(d.key_path, d.spec.key) for d in drivers] == [
        ("module[0].packages[0]", "v4l2loopback-dkms")
    ]


def test_the_same_module_under_both_spellings_is_a_conflict(tmp_path: Path) -> None:
    ws = build_tree(
        tmp_path / "ws",
        {
            "hosts/h.toml": LOCAL_HOSTS,
            "states/a.toml": 'hosts = ["all"]\n[[module]]\nname = "snd-dummy"\n'
            "blacklisted = true\n",
            "states/b.toml": 'hosts = ["all"]\n[[module]]\nname = "snd_dummy"\nat_boot = true\n',
        },
    )
    code, text = run_tendr("validate", "-w", str(ws))
    assert code == 1 and "declared differently" in text, text


# -- printers: probe output as CUPS 2.4 prints it ----------------------------------------

URI = "ipp://localhost:8631/ipp/print"
OPTIONS = (
    "copies=1 device-uri=ipp://localhost:8631/ipp/print finishings=3 job-cancel-after=10800 "
    "job-hold-until=no-hold job-priority=50 job-sheets=none,none marker-change-time=0 "
    "media=iso_a4_210x297mm number-up=1 print-color-mode=monochrome printer-commands=none "
    "printer-info='Front desk' printer-is-accepting-jobs=true printer-is-shared=false "
    "printer-is-temporary=false printer-location=Reception "
    "printer-make-and-model='Printer - IPP Everywhere' printer-state=3 "
    "printer-state-change-time=1795924554 printer-state-reasons=none printer-type=2101316 "
    "printer-uri-supported=ipp://localhost/printers/frontdesk sides=one-sided"
)
STOPPED = OPTIONS.replace("printer-state=3", "printer-state=5").replace(
    "printer-state-reasons=none", "printer-state-reasons=paused"
)
REJECTING = OPTIONS.replace("printer-is-accepting-jobs=true", "printer-is-accepting-jobs=false")
RAW = OPTIONS.replace("'Printer - IPP Everywhere'", "'Local Raw Printer'")
EVERYWHERE_PPD = ['F\tPCFileName: "ippeve.ppd"', 'F\tNickName: "Printer - IPP Everywhere"']
PAGESIZE = "PageSize/Media Size: *A4 Env10 EnvDL Legal Letter"
JOB = "frontdesk-1             root              1024   Sun Nov 29 03:58:53 2026"
DEFAULT = "system default destination: frontdesk"
NO_DEFAULT = "no system default destination"
DYMO = "drv:///sample.drv/dymo.ppd"


def queue(
    name: str = "frontdesk",
    uri: str | None = URI,
    options: str = OPTIONS,
    ppd: Sequence[str] = tuple(EVERYWHERE_PPD),
    choices: Sequence[str] = (),
    jobs: Sequence[str] = (),
    answers: str | None = "yes",
) -> list[str]:
    """One queue's lines as the probe prints them (uri None: no such queue)."""
    lines = [f"P\t{name}"]
    if uri is not None:
        lines += [f"V\t{uri}", f"O\t{options}", *ppd, *(f"K\t{c}" for c in choices)]
        lines += [f"J\t{len(jobs)}", *(f"W\t{j}" for j in jobs[:1])]
    if answers is not None:
        lines.append(f"R\t{answers}")
    return lines


def cups(*queues: list[str], default: str = NO_DEFAULT, models: Sequence[str] = ()) -> list[str]:
    return ["@cups", f"D\t{default}", *(f"M\t{m}" for m in models), *(x for q in queues for x in q)]


def frontdesk(**settings: Any) -> PrinterSpec:
    base: dict[str, Any] = {
        "name": "frontdesk",
        "uri": URI,
        "description": "Front desk",
        "location": "Reception",
    }
    return PrinterSpec.model_validate({**base, **settings})


def actual_of(spec: PrinterSpec, lines: list[str]) -> PrinterActual:
    found = printer.parse([spec], lines)[spec.key]
    assert isinstance(found, PrinterActual), found
    return found


def test_printer_parse_reads_cups_as_it_prints() -> None:
    spec = frontdesk(options={"PageSize": "A4"})
    lines = cups(
        queue(choices=[PAGESIZE], jobs=[JOB]),
        default=DEFAULT,
        models=[f"{DYMO} DYMO Label Printer"],
    )
    actual = actual_of(spec, lines)
    assert actual.exists and actual.cups == "" and actual.uri == URI
    assert actual.options["printer-info"] == "Front desk"
    assert actual.options["printer-make-and-model"] == "Printer - IPP Everywhere"
    assert actual.ppd == {"PCFileName": "ippeve.ppd", "NickName": "Printer - IPP Everywhere"}
    assert actual.driver == "everywhere" and actual.choices == {"PageSize": "A4"}
    assert actual.default and actual.enabled and actual.accepting
    assert (actual.jobs, actual.oldest_job, actual.answers) == (1, JOB, True)
    assert actual.models == {DYMO: "DYMO Label Printer"}
    assert actual.summary() == (
        f"now: driver everywhere, {URI}, idle, 1 job(s) waiting, the oldest: {JOB}"
    )


def test_printer_parse_reads_raw_stopped_and_rejecting_queues() -> None:
    spec = frontdesk()
    raw = actual_of(spec, cups(queue(options=RAW, ppd=())))
    assert raw.driver == "raw"
    stopped = actual_of(spec, cups(queue(options=STOPPED)))
    assert not stopped.enabled and stopped.accepting
    assert stopped.summary() == f"now: driver everywhere, {URI}, stopped (paused), no jobs waiting"
    assert not actual_of(spec, cups(queue(options=REJECTING))).accepting
    assert not actual_of(spec, cups(queue())).default


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([], "the host did not report on CUPS"),
        (["garbage"], "the host did not report on CUPS"),
        (cups(queue(name="other")), "the host did not report on the queue frontdesk"),
        (cups(queue(options="printer-info='Front desk")), "the queue frontdesk could not be read"),
    ],
)
def test_a_queue_not_read_is_unknown(lines: list[str], reason: str) -> None:
    [change] = plan(frontdesk(), lines)
    assert (change.op, change.sign) == ("printer.read", "?")
    assert change.note.startswith(reason)


def test_a_queue_as_declared_is_in_sync() -> None:
    spec = frontdesk(
        default=True,
        options={"PageSize": "A4", "media": "iso_a4_210x297mm", "sides": "one-sided"},
    )
    assert plan(spec, cups(queue(choices=[PAGESIZE]), default=DEFAULT)) == []


def test_a_missing_queue_is_added_with_every_field() -> None:
    spec = frontdesk(default=True, options={"sides": "two-sided-long-edge"})
    [change] = plan(spec, cups(queue(uri=None)))
    assert (change.op, change.sign, change.needs, change.note) == ("printer.add", "+", (), "")
    assert fields(change) == {
        "uri": (None, URI),
        "driver": (None, "everywhere"),
        "enabled": (None, True),
        "accepting": (None, True),
        "shared": (None, False),
        "description": (None, "Front desk"),
        "location": (None, "Reception"),
        "default": (None, True),
        "option_sides": (None, "two-sided-long-edge"),
    }
    text = shown([change])
    assert f"uri: (none) → {URI}" in text and "driver: (none) → everywhere" in text
    assert "option sides: (none) → two-sided-long-edge" in text


def test_a_missing_queue_without_uri_cannot_be_made() -> None:
    [change] = plan(PrinterSpec(name="frontdesk"), cups(queue(uri=None)))
    assert (change.op, change.sign) == ("printer.read", "?")
    assert "gives no uri to make it" in change.note


def earlier(*names: str, op: str = "driver.install") -> Context:
    return Context(
        earlier=tuple(Change("package", name, op, "add") for name in names),
    )


@pytest.mark.parametrize(
    ("context", "needs"),
    [
        (earlier("cups"), ("driver.install cups",)),
        (earlier("printer-driver-hpcups"), ("driver.install printer-driver-hpcups",)),
        (
            earlier("cups", "nano", "printer-driver-hpcups"),
            ("driver.install cups", "driver.install printer-driver-hpcups"),
        ),
        (earlier("cups", op="package.install"), ("package.install cups",)),
        (earlier("nano"), ()),
        (earlier("cups", op="package.remove"), ()),
        (CTX, ()),
    ],
)
def test_a_queue_needs_the_drivers_installed_first(
    context: Context, needs: tuple[str, ...]
) -> None:
    spec = frontdesk(packages=["printer-driver-hpcups"])
    actual = actual_of(spec, cups(queue(uri=None)))
    [change] = printer.diff(spec, actual, context)
    assert change.op == "printer.add" and change.needs == needs
    configured = actual_of(spec, cups(queue(uri="ipp://other/ipp/print")))
    [change] = printer.diff(spec, configured, context)
    assert change.op == "printer.configure" and change.needs == needs


def test_a_driver_package_with_an_architecture_is_a_dependency() -> None:
    spec = frontdesk(packages=["printer-driver-x:i386"])
    actual = actual_of(spec, cups(queue(uri=None)))
    [change] = printer.diff(spec, actual, earlier("printer-driver-x:i386"))
    assert change.needs == ("driver.install printer-driver-x:i386",)


def test_no_cups_adds_the_queue_after_cups_is_installed() -> None:
    spec = frontdesk()
    [change] = plan(spec, ["@nocups"])
    assert (change.op, change.sign) == ("printer.add", "+")
    assert change.needs == ()  # here no install is planned: plan_host plans one (below)
    assert plan(frontdesk(present=False), ["@nocups"]) == []


def conf(
    name: str = "frontdesk", default: bool = True, state: str = "Idle", uri: str = URI
) -> list[str]:
    """A queue as the probe reads it from printers.conf and its PPD (CUPS stopped)."""
    lines = [f"N\t{name}", *(["Y\tdefault"] if default else [])]
    lines += ["C\tInfo\tFront desk", "C\tLocation\tReception", f"C\tDeviceURI\t{uri}"]
    lines += [f"C\tState\t{state}", "C\tAccepting\tYes", "C\tShared\tNo", *EVERYWHERE_PPD]
    return lines


def test_cups_stopped_is_its_own_finding_and_the_queue_is_kept() -> None:
    """printers.conf still lists the queue: CUPS is started, nothing is added."""
    spec = frontdesk(default=True)
    [change] = plan(spec, ["@stopped", "P\tfrontdesk", *conf()])
    assert (change.op, change.sign) == ("printer.enable", "~")
    assert fields(change) == {"cups": ("not running", "running")}
    assert change.note.startswith("CUPS is not running, so no queue prints: apply starts it")
    assert printer.steps(spec, change, CTX) == [
        Run(("systemctl", "enable", "--now", "cups.service"))
    ]
    actual = actual_of(spec, ["@stopped", "P\tfrontdesk", *conf()])
    assert actual.exists and actual.default and actual.driver == "everywhere"
    assert actual.summary() == f"now: driver everywhere, {URI}, idle, CUPS not running"


def test_cups_stopped_plans_what_its_files_tell_and_says_what_they_cannot() -> None:
    """Two queues: CUPS is started once; a queue stopped in printers.conf is enabled, a
    missing one added; options and a driver model, which only a running CUPS tells, are
    not guessed."""
    other = PrinterSpec(name="labels", uri="usb://DYMO/x", driver=DYMO, options={"sides": "x"})
    lines = ["@stopped", "P\tfrontdesk", *conf(state="Stopped"), "P\tlabels", "P\tback"]
    back = PrinterSpec(name="back", uri="socket://192.0.2.9", driver="raw")
    changes = plan_host(
        "h", [("s", frontdesk()), ("s", other), ("s", back)], {"printer": lines}, {}
    ).changes
    assert [(c.op, c.resource, c.sign) for c in changes] == [
        ("printer.enable", "frontdesk", "~"),
        ("printer.enable", "frontdesk", "~"),
        ("printer.add", "labels", "+"),
        ("printer.add", "back", "+"),
    ]
    assert fields(changes[0]) == {"cups": ("not running", "running")}
    assert fields(changes[1]) == {"enabled": (False, True)}
    assert changes[2].note == ""  # lpinfo cannot be asked: no word on the model either
    # CUPS's start comes first; every queue's change needs it (the queue's own enable,
    # of the same name, too: an id names the earlier change).
    assert [c.needs for c in changes] == [()] + [("printer.enable frontdesk",)] * 3
    assert needed(changes) == [(), (0,), (0,), (0,)]
    known = PrinterSpec(name="labels", uri="usb://DYMO/x", driver=DYMO, options={"sides": "x"})
    lines = ["@stopped", "P\tlabels", *conf(name="labels", default=False, uri="usb://DYMO/x")]
    [start, unseen] = plan(known, lines)
    assert start.op == "printer.enable" and (unseen.op, unseen.sign) == ("printer.read", "?")
    assert unseen.note == (
        "CUPS is not running: the queue's options and driver model cannot be read without "
        "it; plan again once it runs"
    )


def test_cups_stopped_removes_nothing_and_reads_what_it_can() -> None:
    [unknown] = plan(frontdesk(present=False), ["@stopped", "P\tfrontdesk", *conf()])
    assert unknown.op == "printer.read" and "CUPS is not running" in unknown.note
    assert plan(frontdesk(present=False), ["@stopped", "P\tfrontdesk"]) == []
    [unread] = plan(frontdesk(), ["@stopped", "U", "P\tfrontdesk"])
    assert unread.note == "CUPS is not running, and /etc/cups/printers.conf could not be read"
    # A PPD with no entry in printers.conf: cupsd ended before it wrote it. Not added.
    [unread] = plan(frontdesk(), ["@stopped", "P\tfrontdesk", "G\tFrontDesk"])
    assert unread.op == "printer.read"
    assert "does not list the queue FrontDesk its PPD is for" in unread.note


def test_a_queue_is_found_whatever_case_the_state_gives_it() -> None:
    """CUPS names queues ignoring case: FRONTDESK is the host's frontdesk, and the plan
    acts on, and shows, that queue."""
    spec = PrinterSpec(name="FRONTDESK", present=False)
    lines = cups(["P\tFRONTDESK", "N\tfrontdesk", *queue()[1:]])
    [change] = plan(spec, lines)
    assert (change.op, change.resource, change.resolved) == (
        "printer.remove",
        "FRONTDESK",
        "frontdesk",
    )
    assert "printer.remove     FRONTDESK = frontdesk" in shown([change])
    assert printer.steps(spec, change, CTX) == [Run(("lpadmin", "-x", "frontdesk"))]
    wanted = frontdesk(name="FrontDesk", default=True)
    lines = cups(["P\tFrontDesk", "N\tfrontdesk", *queue()[1:]], default=DEFAULT)
    assert plan(wanted, lines) == []
    stopped = ["@stopped", "P\tFRONTDESK", *conf()]
    assert actual_of(spec, stopped).name == "frontdesk"


def test_two_spellings_of_one_queue_for_one_host_are_refused(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path,
        '[[printer]]\nname = "rt-front"\nuri = "socket://192.0.2.9"\n',
        '[[printer]]\nname = "RT-FRONT"\nuri = "socket://192.0.2.9"\n',
    )
    code, text = run_tendr("validate", "-w", str(ws))
    assert code == 1, text
    assert "printer 'RT-FRONT' is declared differently here and in states/s0.toml" in text
    assert "states/s1.toml" in text


def test_a_uri_change_is_configured() -> None:
    spec = frontdesk(uri="ipp://192.0.2.50/ipp/print")
    [change] = plan(spec, cups(queue()))
    assert (change.op, change.sign) == ("printer.configure", "~")
    assert fields(change) == {"uri": (URI, "ipp://192.0.2.50/ipp/print")}
    assert f"uri: {URI} → ipp://192.0.2.50/ipp/print" in shown([change])
    assert change.note == f"now: driver everywhere, {URI}, idle, no jobs waiting"
    assert printer.steps(spec, change, CTX) == [
        Run(("lpadmin", "-p", "frontdesk", "-v", "ipp://192.0.2.50/ipp/print"))
    ]


def driverless_checked(added: bool) -> Run:
    """The step checking frontdesk got its driverless PPD, as the steps must spell it (a
    queue just made, `added`, is removed again when it did not)."""
    check = printer._CHECK_DRIVERLESS
    return Run(
        (
            "sh",
            "-c",
            check,
            "sh",
            "frontdesk",
            "1" if added else "0",
            printer.PPD_DIR,
            str(printer.PPD_WAIT),
        )
    )


def test_a_raw_queue_where_everywhere_is_wanted_gets_its_driver_checked() -> None:
    spec = frontdesk()
    [change] = plan(spec, cups(queue(options=RAW, ppd=())))
    assert fields(change) == {"driver": ("raw", "everywhere")}
    assert "driver: raw → everywhere" in shown([change])
    assert printer.steps(spec, change, CTX) == [
        Run(("lpadmin", "-p", "frontdesk", "-m", "everywhere")),
        driverless_checked(added=False),
    ]


def test_a_model_driver_is_compared_by_its_nickname() -> None:
    spec = frontdesk(driver=DYMO)
    ppd = ['F\tPCFileName: "dymo.ppd"', 'F\tNickName: "DYMO Label Printer"']
    models = [f"{DYMO} DYMO Label Printer"]
    assert plan(spec, cups(queue(ppd=ppd), models=models)) == []
    [change] = plan(spec, cups(queue(), models=models))
    assert fields(change) == {"driver": ("everywhere", DYMO)}
    assert printer.steps(spec, change, CTX) == [Run(("lpadmin", "-p", "frontdesk", "-m", DYMO))]


def test_a_model_no_driver_offers_is_said_when_adding() -> None:
    spec = frontdesk(driver=DYMO)
    [change] = plan(spec, cups(queue(uri=None), models=[f"{DYMO} DYMO Label Printer"]))
    assert change.op == "printer.add" and change.note == ""
    [change] = plan(spec, cups(queue(uri=None)))
    assert change.note.startswith("no installed driver offers this model (`lpinfo -m`)")


@pytest.mark.parametrize(
    ("options", "have"),
    [
        ({"PageSize": "Letter"}, "A4"),  # the PPD's option: its starred choice
        ({"sides": "two-sided-long-edge"}, "one-sided"),  # an IPP one: lpoptions' value
        ({"print-quality": "5"}, None),  # not set at all
    ],
)
def test_options_are_compared_where_cups_keeps_them(options: dict[str, str], have: Any) -> None:
    spec = frontdesk(options=options)
    [change] = plan(spec, cups(queue(choices=[PAGESIZE])))
    [(key, wanted)] = options.items()
    assert fields(change) == {f"option_{key}": (have, wanted)}
    shown_have = "(none)" if have is None else have
    assert f"option {key}: {shown_have} → {wanted}" in shown([change])
    assert printer.steps(spec, change, CTX) == [
        Run(("sh", "-c", printer._SET_OPTIONS, "sh", "frontdesk", f"{key}={wanted}"))
    ]


def test_a_ppd_option_is_not_compared_with_lpoptions() -> None:
    """PageSize is the PPD's: its starred choice counts, whatever lpoptions lists."""
    spec = frontdesk(options={"PageSize": "A4"})
    options = OPTIONS + " PageSize=Letter"
    assert plan(spec, cups(queue(options=options, choices=[PAGESIZE]))) == []


def test_a_stopped_rejecting_queue_is_enabled() -> None:
    spec = frontdesk()
    options = STOPPED.replace("printer-is-accepting-jobs=true", "printer-is-accepting-jobs=false")
    [change] = plan(spec, cups(queue(options=options, jobs=[JOB])))
    assert (change.op, change.sign) == ("printer.enable", "~")
    assert fields(change) == {"enabled": (False, True), "accepting": (False, True)}
    assert change.note == (
        f"now: driver everywhere, {URI}, stopped (paused), 1 job(s) waiting, the oldest: {JOB}"
    )
    assert printer.steps(spec, change, CTX) == [
        Run(("cupsenable", "frontdesk")),
        Run(("cupsaccept", "frontdesk")),
    ]


def test_a_queue_wanted_off_is_disabled() -> None:
    spec = frontdesk(enabled=False, accepting=False)
    [change] = plan(spec, cups(queue()))
    assert (change.op, change.sign) == ("printer.disable", "~")
    assert fields(change) == {"enabled": (True, False), "accepting": (True, False)}
    assert printer.steps(spec, change, CTX) == [
        Run(("cupsdisable", "frontdesk")),
        Run(("cupsreject", "frontdesk")),
    ]


def test_enable_and_disable_together() -> None:
    spec = frontdesk(enabled=False)
    [enable, disable] = plan(spec, cups(queue(options=REJECTING)))
    assert (enable.op, fields(enable)) == ("printer.enable", {"accepting": (False, True)})
    assert disable.op == "printer.disable" and fields(disable) == {"enabled": (True, False)}
    assert printer.steps(spec, disable, CTX) == [Run(("cupsdisable", "frontdesk"))]


def test_the_summary_is_said_on_a_disable_alone() -> None:
    [change] = plan(frontdesk(enabled=False), cups(queue(jobs=[JOB])))
    assert change.op == "printer.disable" and "1 job(s) waiting" in change.note


def test_a_default_wanted_is_set_last() -> None:
    spec = frontdesk(default=True)
    [change] = plan(spec, cups(queue()))
    assert (change.op, fields(change)) == ("printer.configure", {"default": (False, True)})
    assert "default: no → yes" in shown([change])
    assert printer.steps(spec, change, CTX) == [Run(("lpadmin", "-d", "frontdesk"))]


@pytest.mark.parametrize(
    ("key", "option", "value"),
    [
        ("description", "printer-info", "Bob's printer"),
        ("description", "printer-info", "Bob's"),
        ("location", "printer-location", "Room\\2"),
    ],
)
def test_what_tendr_set_reads_back_as_lpoptions_prints_it(
    key: str, option: str, value: str
) -> None:
    printed = f"'{value}'" if " " in value else value  # as lpoptions.c prints it
    options = OPTIONS.replace("printer-info='Front desk'", "printer-info=x").replace(
        "printer-location=Reception", "printer-location=x"
    )
    options = options.replace(f"{option}=x", f"{option}={printed}")
    spec = frontdesk(**{"description": "x", "location": "x", key: value})
    assert plan(spec, cups(queue(options=options))) == []


def test_the_default_is_not_unset() -> None:
    [change] = plan(frontdesk(default=False), cups(queue(), default=DEFAULT))
    assert (change.op, change.sign) == ("printer.read", "?")
    assert "it is the host's default printer" in change.note
    assert "declare another queue with default = true" in change.note
    assert plan(frontdesk(default=False), cups(queue())) == []


def test_a_printer_switched_off_is_no_drift() -> None:
    """Whether the printer answers is its health: a queue as declared is in sync."""
    spec = frontdesk(uri="ipp://192.0.2.50/ipp/print")
    lines = cups(queue(uri="ipp://192.0.2.50/ipp/print", answers="no"))
    assert plan(spec, lines) == []
    [enable] = plan(spec, cups(queue(uri=spec.uri, options=STOPPED, answers="no")))
    assert enable.op == "printer.enable"


def test_a_silent_printer_is_said_when_its_queue_gets_the_driverless_driver() -> None:
    [change] = plan(frontdesk(), cups(queue(options=RAW, ppd=(), answers="no")))
    assert fields(change) == {"driver": ("raw", "everywhere")}
    assert change.note.startswith(
        "the printer at localhost:8631 does not answer: a queue made now would have no "
        "driver, so apply fails until it does; the queue now: driver raw"
    )


@pytest.mark.parametrize(
    ("uri", "endpoint"),
    [
        ("ipp://192.0.2.5/ipp/print", "192.0.2.5:631"),
        ("ipps://192.0.2.5/ipp/print", "192.0.2.5:631"),
        ("http://192.0.2.5/ipp", "192.0.2.5:631"),
        ("https://192.0.2.5/ipp", "192.0.2.5:443"),
        ("socket://192.0.2.5", "192.0.2.5:9100"),
        ("lpd://192.0.2.5/queue", "192.0.2.5:515"),
        ("ipp://printer.example:8631/ipp/print", "printer.example:8631"),
        ("socket://[2001:db8::5]:9101", "2001:db8::5:9101"),
    ],
)
def test_the_silent_printer_is_named_by_host_and_port(uri: str, endpoint: str) -> None:
    [change] = plan(frontdesk(uri=uri), cups(queue(uri=None, answers="no")))
    assert change.note.startswith(f"the printer at {endpoint} does not answer: ")


@pytest.mark.parametrize(
    "uri", ["usb://HP/LaserJet", "dnssd://x._ipp._tcp.local/", "ipp://h:99999/"]
)
def test_the_probe_tries_network_printers_only(uri: str) -> None:
    probe = printer.probe([frontdesk(uri=uri)])
    assert "/dev/tcp/" not in probe
    assert "/dev/tcp/" in printer.probe([frontdesk(uri="socket://192.0.2.5")])
    assert "/dev/tcp/" not in printer.probe([frontdesk(uri="socket://192.0.2.5", present=False)])


@pytest.mark.parametrize("shell", SHELLS)
def test_diagnose_asks_every_declared_network_printer_at_once(shell: str) -> None:
    """Whether a printer answers is its health: diagnose asks each network printer the
    host's states declare, together, and names the ones that do not answer."""
    specs = [
        frontdesk(uri="ipp://127.0.0.1:9/ipp/print"),  # discard: nothing listens here
        PrinterSpec(name="back", uri="socket://127.0.0.1:9", driver="raw"),
        PrinterSpec(name="gone", uri="socket://127.0.0.1:9", present=False),
        PrinterSpec(name="usb", uri="usb://DYMO/x", driver=DYMO),
    ]
    script = printer.reachability(specs)
    assert script.count("/dev/tcp/") == 2 and printer.reachability(specs[2:]) == ""
    lines = run_probe(shell, script)
    assert printer.silent(lines) == [("back", "127.0.0.1:9"), ("frontdesk", "127.0.0.1:9")]
    assert printer.silent(["A\tfrontdesk\t127.0.0.1:9\tyes", "A\tx", "junk"]) == []


@pytest.mark.parametrize("driver", ["raw", DYMO])
def test_a_queue_with_a_driver_of_its_own_never_asks_the_printer(driver: str) -> None:
    """Only a driverless queue needs its printer to be set up: a raw queue never gets
    the warning that it would have no driver."""
    spec = frontdesk(uri="socket://192.0.2.5", driver=driver)
    assert "/dev/tcp/" not in printer.probe([spec])
    models = [f"{DYMO} DYMO Label Printer"]
    [add] = plan(spec, cups(queue(uri=None, answers=None), models=models))
    assert add.op == "printer.add" and "does not answer" not in add.note


def test_the_driver_of_a_model_queue_is_shown_by_name() -> None:
    """The PPD's NickName, or without one the make and model CUPS lists."""
    ppd = ['F\tPCFileName: "dymo.ppd"', 'F\tNickName: "DYMO Label Printer"']
    [change] = plan(frontdesk(), cups(queue(ppd=ppd)))
    assert fields(change) == {"driver": ("DYMO Label Printer", "everywhere")}
    [change] = plan(frontdesk(), cups(queue(ppd=['F\tPCFileName: "x.ppd"'])))
    assert fields(change) == {"driver": ("Printer - IPP Everywhere", "everywhere")}


def test_a_job_count_cups_did_not_give_reads_as_none() -> None:
    lines = cups(queue()[:-2] + ["J\tx", "R\tyes"])
    assert actual_of(frontdesk(), lines).summary().endswith(", no jobs waiting")


def test_a_silent_printer_is_said_when_adding() -> None:
    spec = frontdesk(uri="socket://192.0.2.9")
    [change] = plan(spec, cups(queue(uri=None, answers="no")))
    assert change.op == "printer.add"
    assert change.note == (
        "the printer at 192.0.2.9:9100 does not answer: a queue made now would have no "
        "driver, so apply fails until it does"
    )


def test_the_queues_state_is_said_once() -> None:
    spec = frontdesk(location="Office 2")
    [configure, enable] = plan(spec, cups(queue(options=STOPPED, jobs=[JOB])))
    assert (configure.op, enable.op) == ("printer.configure", "printer.enable")
    assert fields(configure) == {"location": ("Reception", "Office 2")}
    text = shown([configure, enable])
    assert text.count("now: driver everywhere") == 1
    assert f"now: driver everywhere, {URI}, stopped (paused), 1 job(s) waiting" in configure.note


def test_an_unwanted_queue_is_removed() -> None:
    spec = frontdesk(present=False)
    [change] = plan(spec, cups(queue()))
    assert (change.op, change.sign, fields(change)) == (
        "printer.remove",
        "-",
        {"exists": (True, False)},
    )
    assert printer.steps(spec, change, CTX) == [Run(("lpadmin", "-x", "frontdesk"))]
    assert plan(spec, cups(queue(uri=None))) == []


HOSTILE = "a; rm -rf / $(x) `y`"


def test_adding_runs_lpadmin_then_checks_then_sets() -> None:
    """Every value a separate argv item: a hostile (valid) description never reaches a
    shell string, and settings follow the queue's making."""
    spec = frontdesk(
        uri="ipp://192.0.2.50/ipp/print?x=(1);y",
        description=HOSTILE,
        location="Room 1",
        default=True,
        shared=True,
        options={"sides": "two-sided-long-edge", "PageSize": "A4"},
    )
    [change] = plan(spec, cups(queue(uri=None)))
    steps = printer.steps(spec, change, CTX)
    assert steps == [
        Run(
            (
                "lpadmin",
                "-p",
                "frontdesk",
                "-v",
                "ipp://192.0.2.50/ipp/print?x=(1);y",
                "-m",
                "everywhere",
            )
        ),
        driverless_checked(added=True),
        Run(
            (
                "lpadmin",
                "-p",
                "frontdesk",
                "-o",
                "printer-is-shared=true",
                "-D",
                HOSTILE,
                "-L",
                "Room 1",
            )
        ),
        Run(
            (
                "sh",
                "-c",
                printer._SET_OPTIONS,
                "sh",
                "frontdesk",
                "sides=two-sided-long-edge",
                "PageSize=A4",
            )
        ),
        Run(("cupsenable", "frontdesk")),
        Run(("cupsaccept", "frontdesk")),
        Run(("lpadmin", "-d", "frontdesk")),
    ]
    items = [item for step in steps if isinstance(step, Run) for item in step.argv]
    assert items.count(HOSTILE) == 1
    assert not any(HOSTILE in item for item in items if item != HOSTILE)
    assert not any("frontdesk" in item for item in items if item != "frontdesk")


def test_a_queue_added_with_a_model_is_not_checked_as_driverless() -> None:
    spec = frontdesk(driver=DYMO, enabled=False, accepting=False)
    [change] = plan(spec, cups(queue(uri=None), models=[f"{DYMO} DYMO"]))
    steps = printer.steps(spec, change, CTX)
    assert steps[0] == Run(("lpadmin", "-p", "frontdesk", "-v", URI, "-m", DYMO))
    assert not any(isinstance(s, Run) and s.argv[:2] == ("sh", "-c") for s in steps)
    assert steps[-2:] == [Run(("cupsdisable", "frontdesk")), Run(("cupsreject", "frontdesk"))]


def test_changed_settings_only_are_given_to_lpadmin() -> None:
    spec = frontdesk(description=HOSTILE, shared=True)
    [change] = plan(spec, cups(queue()))
    assert fields(change) == {"shared": (False, True), "description": ("Front desk", HOSTILE)}
    assert printer.steps(spec, change, CTX) == [
        Run(("lpadmin", "-p", "frontdesk", "-o", "printer-is-shared=true", "-D", HOSTILE))
    ]


# -- printers: the probe and apply's scripts, run with fake CUPS commands --------------------


def fake_bin(tmp_path: Path, options: str = OPTIONS) -> tuple[str, Path]:
    """A folder of fake CUPS commands printing what CUPS 2.4 printed for queue
    'frontdesk' (any other queue does not exist); lpadmin logs its arguments. Returns
    PATH with it first, and the log."""
    log = tmp_path / "lpadmin.log"
    scripts = {
        "lpstat": f"""#!/bin/sh
case "$1" in
  -r) echo "scheduler is running" ;;
  -d) echo "{DEFAULT}" ;;
  -v) if [ "$2" != frontdesk ]; then
        echo "lpstat: Invalid destination name in list \\"$2\\"." >&2; exit 1
      fi
      echo "device for frontdesk: {URI}" ;;
  -o) [ "$2" = frontdesk ] && echo "{JOB}" ;;
esac
""",
        "lpoptions": f"""#!/bin/sh
[ "$1" = -p ] && [ "$2" = frontdesk ] || exit 1
if [ "$3" = -l ]; then
  echo "{PAGESIZE}"
  echo "ColorModel/Output Mode: Gray *RGB"
else
  cat <<'EOF'
{options}
EOF
fi
""",
        "lpinfo": f'#!/bin/sh\necho "everywhere IPP Everywhere"\necho "{DYMO} DYMO Label Printer"',
        "lpadmin": f'#!/bin/sh\necho "$*" >> "{log}"\n',
        "timeout": "#!/bin/sh\nexit 0\n",  # the printer answers, without any network
    }
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, text in scripts.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return f"{folder}:{os.environ['PATH']}", log


@pytest.mark.parametrize("shell", SHELLS)
def test_the_printer_probe_parses_with_each_shell(shell: str) -> None:
    specs = [frontdesk(options={"PageSize": "A4"}), PrinterSpec(name="x", driver=DYMO)]
    for script in (printer.probe(specs), printer._SET_OPTIONS, printer._CHECK_DRIVERLESS):
        done = subprocess.run(
            [shell_path(shell), "-n", "-c", script], capture_output=True, text=True
        )
        assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_the_printer_probe_reads_fake_cups_and_plans_nothing(tmp_path: Path, shell: str) -> None:
    path, _ = fake_bin(tmp_path)
    build_tree(
        tmp_path / "ppd",
        {
            "frontdesk.ppd": '*PPD-Adobe: "4.3"\n*PCFileName: "ippeve.ppd"\n'
            '*NickName: "Printer - IPP Everywhere"\n*Product: "(x)"\n'
        },
    )
    specs = [
        frontdesk(default=True, options={"PageSize": "A4", "sides": "one-sided"}),
        PrinterSpec(name="labels", uri="usb://DYMO/LabelWriter", driver=DYMO),
    ]
    script = printer.probe(specs).replace(printer.PPD_DIR, str(tmp_path / "ppd"))
    lines = run_probe(shell, script, path)
    assert lines[:2] == ["@cups", f"D\t{DEFAULT}"]
    found = printer.parse(specs, lines)
    desk, labels = found["frontdesk"], found["labels"]
    assert isinstance(desk, PrinterActual) and isinstance(labels, PrinterActual)
    # Its driverless PPD is there: the printer is not asked.
    assert (desk.uri, desk.driver, desk.default, desk.answers) == (URI, "everywhere", True, None)
    assert desk.choices == {"PageSize": "A4"} and (desk.jobs, desk.oldest_job) == (1, JOB)
    assert not labels.exists and labels.models == {DYMO: "DYMO Label Printer"}
    assert printer.diff(specs[0], desk, CTX) == []
    [add] = printer.diff(specs[1], labels, CTX)
    assert (add.op, add.note) == ("printer.add", "")


@pytest.mark.parametrize("shell", SHELLS)
def test_the_printer_probe_says_when_cups_is_missing(tmp_path: Path, shell: str) -> None:
    lines = run_probe(shell, printer.probe([frontdesk()]), "/nonexistent")
    # No CUPS yet: the queue is to be made, so whether its printer answers is asked (no
    # `timeout` on this PATH: it does not).
    assert lines == ["@nocups", "P\tfrontdesk", "R\tno"]
    [add] = plan(frontdesk(), lines)
    assert add.op == "printer.add" and "localhost:8631 does not answer" in add.note


# printers.conf as cupsd 2.4 wrote it when it stopped (a driverless default, a raw queue).
PRINTERS_CONF = f"""# Printer configuration file for CUPS v2.4.2
# Written by cupsd
NextPrinterId 3
<DefaultPrinter frontdesk>
PrinterId 1
Info Front desk
Location Reception
MakeModel Printer - IPP Everywhere
DeviceURI {URI}
State Idle
Accepting Yes
Shared No
Option media iso_a4_210x297mm
</DefaultPrinter>
<Printer rawq>
Info rawq
DeviceURI socket://localhost:30001
State Stopped
Accepting No
Shared No
</Printer>
"""


@pytest.mark.parametrize("shell", SHELLS)
def test_the_printer_probe_reads_printers_conf_while_cups_is_stopped(
    tmp_path: Path, shell: str
) -> None:
    """lpstat knows no queue while the scheduler is stopped: printers.conf and the PPDs
    are read, whatever case the state gives a name; a queue is never taken for missing."""
    path, log = fake_bin(tmp_path)
    (tmp_path / "bin" / "lpstat").write_text(
        '#!/bin/sh\n[ "$1" = -r ] && echo "scheduler is not running" && exit 0\n'
        'echo "lpstat: Scheduler is not running." >&2; exit 1\n'
    )
    build_tree(
        tmp_path / "cups",
        {
            "printers.conf": PRINTERS_CONF,
            "ppd/frontdesk.ppd": '*PCFileName: "ippeve.ppd"\n*NickName: "Printer - IPP"\n',
        },
    )
    specs = [
        frontdesk(name="FrontDesk", default=True),
        PrinterSpec(
            name="RAWQ",
            uri="socket://localhost:30001",
            driver="raw",
            enabled=False,
            accepting=False,
        ),
        PrinterSpec(name="new", uri="socket://192.0.2.9"),
    ]
    script = (
        printer.probe(specs)
        .replace(printer.PRINTERS_CONF, str(tmp_path / "cups/printers.conf"))
        .replace(printer.PPD_DIR, str(tmp_path / "cups/ppd"))
    )
    lines = run_probe(shell, script, path)
    assert lines[0] == "@stopped"
    desired = [("states/s.toml", spec) for spec in specs]
    changes = plan_host("h", desired, {"printer": lines}, {}).changes
    assert [(c.op, c.resource, c.resolved) for c in changes] == [
        ("printer.enable", "FrontDesk", "frontdesk"),  # CUPS started, nothing else
        ("printer.add", "new", ""),  # not in printers.conf: made once CUPS runs
    ]
    assert fields(changes[0]) == {"cups": ("not running", "running")}
    raw = printer.parse(specs, lines)["RAWQ"]
    assert isinstance(raw, PrinterActual) and raw.name == "rawq" and raw.driver == "raw"
    assert (raw.enabled, raw.accepting, raw.default) == (False, False, False)
    assert not log.exists()


LOCALIZED_LPSTAT = f"""#!/bin/sh
# lpstat as CUPS runs it: its words in the locale's language (German stands for any).
case "${{LC_ALL:-${{LC_MESSAGES:-$LANG}}}}" in
  de*) running="Zeitplandienst läuft"; default="Standardziel des Systems: frontdesk" ;;
  *) running="scheduler is running"; default="{DEFAULT}" ;;
esac
case "$1" in
  -r) echo "$running" ;;
  -d) echo "$default" ;;
  -v) echo "device for frontdesk: {URI}" ;;
esac
"""


def test_the_printer_probe_reads_cups_in_the_hosts_language(tmp_path: Path) -> None:
    path, _ = fake_bin(tmp_path)
    (tmp_path / "bin" / "lpstat").write_text(LOCALIZED_LPSTAT)
    spec = frontdesk(default=True)
    # The probe as plan sends it: every kind's snippet after the locale is set.
    script = probe_script([("states/s.toml", spec)], "n0nce")
    output = run_probe("sh", script, path, LANG="de_DE.UTF-8", LC_ALL="", LC_MESSAGES="")
    lines = split_sections(output, "n0nce")["printer"]
    actual = printer.parse([spec], lines)["frontdesk"]
    assert isinstance(actual, PrinterActual) and actual.cups == "", lines
    assert actual.exists and actual.default


def run_script(shell: str, step: Step, path: str) -> subprocess.CompletedProcess[str]:
    """A step's `sh -c SCRIPT sh ARGS...` as apply runs it, by `shell`."""
    assert isinstance(step, Run) and step.argv[:2] == ("sh", "-c")
    return subprocess.run(
        [shell_path(shell), *step.argv[1:]],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=60,
        check=False,
    )


def set_options(options: dict[str, str]) -> Step:
    spec = frontdesk(options=options)
    change = Change(
        "printer",
        "frontdesk",
        "printer.configure",
        "change",
        tuple(FieldChange(f"option_{k}", None, v) for k, v in options.items()),
    )
    [step] = printer.steps(spec, change, CTX)
    return step


@pytest.mark.parametrize("shell", SHELLS)
def test_options_cups_took_pass_the_read_back(tmp_path: Path, shell: str) -> None:
    path, log = fake_bin(tmp_path)
    step = set_options({"PageSize": "A4", "sides": "one-sided", "media": "iso_a4_210x297mm"})
    done = run_script(shell, step, path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # The PPD's option as itself, IPP ones as their defaults.
    assert log.read_text().splitlines() == [
        "-p frontdesk -o PageSize=A4",
        "-p frontdesk -o sides-default=one-sided",
        "-p frontdesk -o media-default=iso_a4_210x297mm",
    ]


@pytest.mark.parametrize("shell", SHELLS)
def test_options_cups_did_not_take_fail_naming_what_it_has(tmp_path: Path, shell: str) -> None:
    path, _ = fake_bin(tmp_path)
    step = set_options(
        {
            "sides": "two-sided-long-edge",
            "PageSize": "Letter",
            "print-quality": "5",
            "media": ("iso_a4_210x297mm"),
        }
    )
    done = run_script(shell, step, path)
    assert done.returncode != 0
    said = done.stderr
    assert "CUPS did not take sides=two-sided-long-edge for frontdesk (it has one-sided)" in said
    assert "CUPS did not take PageSize=Letter for frontdesk (it has A4)" in said
    assert "CUPS did not take print-quality=5 for frontdesk (it has no value)" in said
    assert "the printer or its driver does not offer it" in said
    assert "media" not in said


@pytest.mark.parametrize("shell", SHELLS)
def test_a_queue_made_without_its_driver_is_removed_again(tmp_path: Path, shell: str) -> None:
    """No PPD of an IPP Everywhere queue (the printer did not answer): a queue just made
    is removed, one that existed is left and said to have no driver; both fail."""
    path, log = fake_bin(tmp_path)
    name = "tendr-test-no-such-queue"
    # No PPD comes: the check is given a tenth of a second to wait, not 10 s.
    check = Run(printer.driverless_check(name, True, wait=1))
    done = run_script(shell, check, path)
    assert done.returncode == 1
    assert f"the printer did not answer while CUPS set up the driverless queue {name}" in (
        done.stderr
    )
    assert "the queue was removed again" in done.stderr
    assert log.read_text().splitlines() == [f"-x {name}"]
    log.unlink()
    done = run_script(shell, Run(printer.driverless_check(name, False, wait=1)), path)
    assert done.returncode == 1 and "the queue has no driver now" in done.stderr
    assert not log.exists()


@pytest.mark.parametrize(
    ("ppd", "code"),
    [
        ('*PCFileName: "ippeve.ppd"\n*NickName: "Printer - IPP Everywhere"\n', 0),
        ('*PCFileName: "dymo.ppd"\n', 1),
    ],
)
def test_a_driverless_queue_with_its_ppd_passes(tmp_path: Path, ppd: str, code: int) -> None:
    path, log = fake_bin(tmp_path)
    build_tree(tmp_path / "ppd", {"frontdesk.ppd": ppd})
    check = ("sh", "-c", printer._CHECK_DRIVERLESS, "sh", "frontdesk", "1")
    done = run_script("sh", Run((*check, str(tmp_path / "ppd"), "1")), path)
    assert done.returncode == code, done.stderr
    assert log.exists() == bool(code)


# -- the workspace: a printer's drivers ----------------------------------------------------


def workspace(tmp_path: Path, *states: str) -> Path:
    files = {f"states/s{i}.toml": 'hosts = ["all"]\n' + s for i, s in enumerate(states)}
    return build_tree(tmp_path / "ws", {"hosts/h.toml": LOCAL_HOSTS, **files})


PRINTER = '[[printer]]\nname = "frontdesk"\nuri = "ipp://192.0.2.50/ipp/print"\n'


def test_a_printer_brings_cups_and_its_packages_as_drivers(tmp_path: Path) -> None:
    ws = load(
        workspace(
            tmp_path,
            PRINTER + 'packages = ["printer-driver-hpcups", "hplip"]\n'
            '[[printer]]\nname = "old"\npresent = false\npackages = ["foo-driver"]\n',
        )
    )
    desired = ws.desired(ws.hosts[0])
    drivers = [(d.file, d.key_path, d.spec.name) for d in desired if isinstance(d.spec, DriverSpec)]
    assert drivers == [
        ("states/s0.toml", "printer[0]", "cups"),
        ("states/s0.toml", "printer[0].packages[0]", "printer-driver-hpcups"),
        ("states/s0.toml", "printer[0].packages[1]", "hplip"),
    ]


def test_the_plan_installs_the_drivers_before_adding_the_queue(tmp_path: Path) -> None:
    ws = load(workspace(tmp_path, PRINTER + 'packages = ["printer-driver-hpcups"]\n'))
    desired = [(d.file, d.spec) for d in ws.desired(ws.hosts[0])]
    sections = {
        "package": [
            "@policy",
            "cups:",
            "  Candidate: 2.4.2-3",
            "printer-driver-hpcups:",
            "  Candidate: 3.22",
        ],
        "printer": ["@nocups"],
    }
    changes = plan_host("h", desired, sections, {}).changes
    assert [(c.op, c.resource) for c in changes] == [
        ("driver.install", "cups"),
        ("driver.install", "printer-driver-hpcups"),
        ("printer.add", "frontdesk"),
    ]
    assert changes[2].needs == ("driver.install cups", "driver.install printer-driver-hpcups")
    assert "needs driver.install cups, driver.install printer-driver-hpcups" in shown(changes)


def test_a_declared_package_prevails_over_the_same_driver(tmp_path: Path) -> None:
    ws = load(workspace(tmp_path, PRINTER, '[[package]]\nname = "cups"\n'))
    [cups_] = [d for d in ws.desired(ws.hosts[0]) if d.spec.key == "cups"]
    assert type(cups_.spec) is PackageSpec and cups_.key_path == "package[0]"
    desired = [(d.file, d.spec) for d in ws.desired(ws.hosts[0])]
    changes = plan_host("h", desired, {"package": ["@policy"], "printer": ["@nocups"]}, {}).changes
    assert [c.op for c in changes] == ["package.install", "printer.add"]
    assert changes[1].needs == ("package.install cups",)


def test_the_same_file_declaring_the_package_is_no_conflict(tmp_path: Path) -> None:
    code, text = validate(tmp_path, 'hosts = ["all"]\n' + PRINTER + '[[package]]\nname = "cups"\n')
    assert code == 0, text


def test_cups_removed_while_a_printer_needs_it_is_refused(tmp_path: Path) -> None:
    code, text = validate(
        tmp_path, 'hosts = ["all"]\n[[package]]\nname = "cups"\npresent = false\n' + PRINTER
    )
    assert code == 1
    assert "printer[0]: package 'cups' is declared differently here and in states/s.toml " in text
    assert "(package[0])" in text and "present differ" in text


def test_a_driver_removed_in_another_file_is_refused(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path,
        PRINTER + 'packages = ["hplip"]\n',
        '[[package]]\nname = "hplip"\npresent = false\n',
    )
    code, text = run_tendr("validate", "-w", str(ws))
    assert code == 1, text
    assert "package 'hplip' is declared differently here and in" in text
    assert "printer[0].packages[0]" in text and "package[0]" in text
    assert "states/s0.toml" in text and "states/s1.toml" in text


def test_two_printers_needing_cups_are_no_conflict(tmp_path: Path) -> None:
    second = '[[printer]]\nname = "back"\nuri = "socket://192.0.2.51"\npackages = ["hplip"]\n'
    code, text = validate(tmp_path, 'hosts = ["all"]\n' + PRINTER + second)
    assert code == 0, text
    ws = load(workspace(tmp_path / "again", PRINTER, second))
    names = [d.spec.name for d in ws.desired(ws.hosts[0]) if isinstance(d.spec, DriverSpec)]
    assert names == ["cups", "hplip"]  # once each


# -- whatever a host prints: never an exception ----------------------------------------------

MODULE_LINES = [
    "@container",
    "@nomodules",
    "@loadable",
    "M\tloop",
    "M\tsnd_dummy",
    "S\tloaded",
    "S\tbuiltin",
    "S\tabsent",
    ABSENT_BOOT,
    ABSENT_CONF,
    own(b"loop\n"),
    "link",
    "other",
    "C\tblacklist loop",
    "C\toptions loop a=1",
    "B\t/etc/modules",
    "X\t/etc/x.conf",
    "M\t",
    "",
]
PRINTER_LINES = [
    "@cups",
    "@nocups",
    "@stopped",
    f"D\t{DEFAULT}",
    f"D\t{NO_DEFAULT}",
    "P\tfrontdesk",
    "P\tx",
    f"V\t{URI}",
    f"O\t{OPTIONS}",
    f"O\t{STOPPED}",
    "O\tprinter-info='x",
    "O\ta=\\",
    *EVERYWHERE_PPD,
    "F\tbroken",
    f"K\t{PAGESIZE}",
    "K\tPageSize",
    "K\tx/y: *",
    "J\t3",
    "J\t²",
    "J\t",
    f"W\t{JOB}",
    "R\tyes",
    "R\tno",
    f"M\t{DYMO} DYMO",
    "M\t",
    "",
]


def host_lines(known: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(known) | st.text(max_size=30), max_size=25)


maybe = st.none() | st.booleans()
module_specs = (
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["loop", "snd-dummy", "snd_dummy"]),
            "loaded": maybe,
            "at_boot": maybe,
            "blacklisted": maybe,
            "options": st.dictionaries(
                st.sampled_from(["a", "b"]), st.integers(-9, 9) | st.booleans(), max_size=2
            ),
        }
    )
    .filter(lambda d: not (d["blacklisted"] and (d["loaded"] or d["at_boot"])))
    .map(ModuleSpec.model_validate)
)
printer_specs = st.builds(
    PrinterSpec,
    name=st.sampled_from(["frontdesk", "x"]),
    uri=st.none() | st.sampled_from([URI, "socket://192.0.2.9", "usb://x/y", "ipp://h:99999/"]),
    driver=st.sampled_from(["everywhere", "raw", DYMO]),
    default=st.none() | st.booleans(),
    enabled=st.booleans(),
    present=st.booleans(),
    options=st.dictionaries(st.sampled_from(["PageSize", "sides"]), st.just("A4"), max_size=2),
)


@given(st.lists(module_specs, min_size=1, max_size=2), host_lines(MODULE_LINES))
def test_module_parse_and_diff_never_raise(specs: list[ModuleSpec], lines: list[str]) -> None:
    found = module.parse(specs, lines)
    for spec in specs:
        assert isinstance(found[spec.key], ModuleActual | Unreadable)
        for change in module.diff(spec, found[spec.key], CTX):
            module.steps(spec, change, CTX)


@given(st.lists(printer_specs, min_size=1, max_size=2), host_lines(PRINTER_LINES))
def test_printer_parse_and_diff_never_raise(specs: list[PrinterSpec], lines: list[str]) -> None:
    found = printer.parse(specs, lines)
    for spec in specs:
        assert isinstance(found[spec.key], PrinterActual | Unreadable)
        for change in printer.diff(spec, found[spec.key], CTX):
            printer.steps(spec, change, CTX)
