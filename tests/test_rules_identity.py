"""A rule names a resource as the host reads it, however a state or a person spells it
(issue 25, points 1 and 3): a CUPS queue in any case, a kernel module with '-' or '_', a
package with any architecture. Properties against `tendr rules explain` (the CLI, in
process) and the pure `decide`, in both directions: the rule spelling the name one way,
the request another. The Cedar differential test (test_rules_cedar) decides the same
spellings."""

from __future__ import annotations

import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tendr.rules.decide import decide
from tendr.rules.model import RulesFile
from tendr.rules.resources import covers
from tests.helpers import ADMIN_RULES, build_tree, run_tendr
from tests.rules_strategies import FakeHost

HOST = FakeHost("desk01", "acme", (), ())

# dave may do anything but OP on the pattern; erin may do OP on the pattern alone.
RULES = """\
[roles.helpdesk]
members = ["dave"]
allow = [{{ ops = ["*"], hosts = ["all"] }}]
deny = [{{ ops = ["{op}"], hosts = ["all"], {field} = ["{pattern}"] }}]

[roles.printing]
members = ["erin"]
allow = [{{ ops = ["{op}"], hosts = ["all"], {field} = ["{pattern}"] }}]
"""


def decided(op: str, field: str, pattern: str, resource: str) -> tuple[bool, bool]:
    """(dave allowed, erin allowed) by the pure `decide`, after checking that `rules explain`
    on a workspace with these rules says the same."""
    text = RULES.format(op=op, field=field, pattern=pattern)
    rules = [("rules/roles.toml", RulesFile.model_validate(tomllib.loads(text)))]
    dave, erin = (decide(p, op, HOST, rules, None, resource).allowed for p in ("dave", "erin"))
    pure = (dave, erin)
    with tempfile.TemporaryDirectory() as folder:
        ws = build_tree(
            Path(folder) / "ws",
            {
                "hosts/acme.toml": '[hosts.desk01]\nconnector = "local"\n',
                "rules/roles.toml": ADMIN_RULES + text,
            },
        )
        answers = []
        for person in ("dave", "erin"):
            code, said = run_tendr(
                "rules", "explain", person, op, "desk01", resource, "-w", str(ws)
            )
            assert code in (0, 1), said
            assert said.startswith("allowed" if code == 0 else "denied"), said
            answers.append(code == 0)
    assert tuple(answers) == pure, (answers, pure)
    return pure


def respelled(draw: st.DrawFn, name: str, swap: Callable[[str], str]) -> str:
    """`name` with any of its characters swapped for their other spelling."""
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "".join(swap(c) if flip else c for c, flip in zip(name, flips, strict=True))


def with_star(draw: st.DrawFn, name: str) -> str:
    """`name`, or `name` with one run of it replaced by '*'."""
    if not draw(st.booleans()):
        return name
    start = draw(st.integers(0, len(name)))
    return name[:start] + "*" + name[start + draw(st.integers(0, 3)) :]


@st.composite
def queue_spellings(draw: st.DrawFn) -> tuple[str, str]:
    """A queue name in one case as a rule's pattern, and in another as the request's."""
    name = draw(st.from_regex(r"[A-Za-z][A-Za-z0-9_.@+-]{0,10}", fullmatch=True))
    return with_star(draw, respelled(draw, name, str.swapcase)), respelled(draw, name, str.swapcase)


@settings(max_examples=40, deadline=None)
@given(queue_spellings())
def test_a_printer_rule_names_its_queue_in_any_case(drawn: tuple[str, str]) -> None:
    """CUPS queue names are case-insensitive: a deny on `frontdesk` refuses
    `printer.remove FRONTDESK`, and an allow of `FrontDesk` allows `frontdesk`."""
    pattern, resource = drawn
    assert decided("printer.remove", "printers", pattern, resource) == (False, True)


def other_dash(c: str) -> str:
    return {"-": "_", "_": "-"}.get(c, c)


@st.composite
def module_spellings(draw: st.DrawFn) -> tuple[str, str]:
    """A module name and a respelling; it starts with a letter or digit (a leading `-`
    would be read as an option by `tendr rules explain`, as by modprobe)."""
    name = draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,12}", fullmatch=True))
    return with_star(draw, respelled(draw, name, other_dash)), respelled(draw, name, other_dash)


@settings(max_examples=40, deadline=None)
@given(module_spellings())
def test_a_module_rule_reads_dash_and_underscore_alike(drawn: tuple[str, str]) -> None:
    """modprobe reads '-' as '_': a rule on `snd-dummy` holds for `snd_dummy` and back."""
    pattern, resource = drawn
    assert decided("module.load", "modules", pattern, resource) == (False, True)


ARCHITECTURES = ("amd64", "i386", "arm64", "armhf", "armel", "ppc64el", "s390x", "all", "any")


@st.composite
def package_spellings(draw: st.DrawFn) -> tuple[str, str]:
    """A package as a rule names it, and as a request may: with any architecture, a real
    one or any name dpkg could give one."""
    name = draw(st.from_regex(r"[a-z0-9][a-z0-9+.-]{0,10}[a-z0-9+.]", fullmatch=True))
    arch = draw(
        st.none()
        | st.sampled_from(ARCHITECTURES)
        | st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}", fullmatch=True)
    )
    return with_star(draw, name), name if arch is None else f"{name}:{arch}"


@settings(max_examples=40, deadline=None)
@given(
    package_spellings(), st.sampled_from(("package.install", "package.remove", "driver.install"))
)
def test_a_package_rule_holds_for_every_architecture(drawn: tuple[str, str], op: str) -> None:
    """`hello:amd64`, `hello:i386` and `hello` are one package to the rules."""
    pattern, resource = drawn
    assert decided(op, "packages", pattern, resource) == (False, True)


def test_the_issue_s_printer_is_denied_in_every_spelling() -> None:
    """`printers = ["frontdesk"]` denied: `rules explain PERSON printer.remove HOST
    FRONTDESK` says denied (it said allowed, and CUPS removed the queue)."""
    for spelling in ("frontdesk", "FRONTDESK", "FrontDesk"):
        assert decided("printer.remove", "printers", "frontdesk", spelling) == (False, True)


def test_only_ascii_letters_fold_as_cups_folds_them() -> None:
    """CUPS compares queue names with an ASCII-only strcasecmp: a KELVIN SIGN is no 'k'
    (Python's own case folding would say it is), and other names stay other queues."""
    assert not covers("printers", "frontdesk", "FRONTDES\u212a")
    assert not covers("printers", "frontdesk", "frontdesk2")
    assert not covers("modules", "snd_dummy", "snd_dummyx")
    assert not covers("packages", "hello", "hello-traditional:amd64")
    assert not covers("units", "ssh.service", "SSH.service")  # systemd names are exact
