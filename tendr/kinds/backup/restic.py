"""What restic's errors mean: one classification, in Python and as a shell function."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from tendr.kinds.backup.spec import PROBE_TIMEOUT

# -- what restic's errors mean ----------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What went wrong with a repository: a kind a program may test, and a message."""

    kind: str
    message: str


@dataclass(frozen=True)
class _Rule:
    """A kind of restic failure: a line holding one of `needles` (and one of `also`),
    compared in lower case; `detail`: the message ends with that line."""

    kind: str
    needles: tuple[str, ...]
    message: str
    detail: bool = False
    also: tuple[str, ...] = ()


# Checked in this order against restic 0.14's output (and ssh's, which restic passes on
# as "subprocess ssh: ..."); the first rule a line matches decides.
RULES = (
    _Rule(
        "locked",
        ("repository is already locked",),
        "the repository is locked (another restic is running, or a stale lock: restic unlock)",
        detail=True,
    ),
    _Rule(
        "wrong-password",
        ("wrong password or no key found",),
        "the repository refuses the password: wrong password or no key found",
    ),
    _Rule("no-space", ("no space left on device",), "no space left on device", detail=True),
    _Rule(
        "host-key",
        ("host key verification failed", "remote host identification has changed"),
        "the repository host's key is not the declared host_key: ssh refused to connect "
        "(Host key verification failed)",
    ),
    _Rule(
        "ssh-key",
        ("permission denied (publickey",),
        "the repository host refuses the ssh key (Permission denied (publickey))",
    ),
    _Rule(
        "corrupt",
        ("repository contains errors",),
        "restic check found errors in the repository",
    ),
    _Rule(
        "missing",
        ("unable to open config file",),
        "there is no repository there: it is not initialised",
        also=("no such file or directory", "file does not exist"),
    ),
    _Rule(
        "exists",
        ("config file already exists",),
        "a repository already exists there, and restic init does not overwrite one",
    ),
    _Rule(
        "unreachable",
        (
            "connection refused",
            "connection timed out",
            "no route to host",
            "could not resolve hostname",
            "network is unreachable",
            "connection closed",
            "connection reset",
        ),
        "the repository is unreachable",
        detail=True,
    ),
    # restic may exit before it passed ssh's own words on: then only this is left.
    _Rule(
        "unreachable",
        ("unable to start the sftp session", "ssh command exited"),
        "the repository is unreachable: ssh could not open an sftp session (its address, "
        "port, the ssh key or the host key; ssh's own message did not reach restic)",
    ),
    _Rule("not-installed", ("restic: not found",), "restic is not installed"),
)
_PREFIXES = ("Fatal: ", "subprocess ssh: ", "ssh: ")


def clean(line: str, limit: int = 300) -> str:
    """A line from the host as one printable line of at most `limit` characters."""
    text = "".join(c if c.isprintable() else " " for c in line).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bare(line: str) -> str:
    for prefix in _PREFIXES:
        line = line.removeprefix(prefix)
    return line


def _detailed(rule: _Rule, line: str) -> str:
    """The rule's message, then the line that matched it when it says more (without the
    rule's own words at its end: "no space left on device: write /srv/x")."""
    if not rule.detail:
        return rule.message
    detail = _bare(line)
    suffix = f": {rule.message}"
    if detail.lower().endswith(suffix):
        detail = detail[: -len(suffix)]
    return f"{rule.message}: {detail}"


def classify(lines: Sequence[str], status: int | None = None) -> Problem:
    """restic's output (stdout and stderr, any order) and exit status -> what went wrong,
    in one line: wrong password, locked, unreachable, no space... or restic's own
    fatal line. Shared by the plan, and by `tendr backup check`."""
    cleaned = [clean(line) for line in lines]
    if status == 124:
        return Problem("timeout", f"the repository did not answer within {PROBE_TIMEOUT} s")
    for rule in RULES:
        for line in cleaned:
            low = line.lower()
            if any(n in low for n in rule.needles) and (
                not rule.also or any(a in low for a in rule.also)
            ):
                return Problem(rule.kind, _detailed(rule, line))
    fatal = [line for line in cleaned if line.startswith("Fatal: ")]
    last = fatal[:1] or [line for line in cleaned if line][-1:]
    if last:
        return Problem("other", _bare(last[0]))
    code = "" if status is None else f" (exit status {status})"
    return Problem("other", f"restic failed{code} with no error output")


def shell_classify() -> str:
    """`classify` as a shell function for the steps' scripts: `tendr_classify OUTPUT`
    prints "KIND<TAB>MESSAGE"; made from RULES, so both say the same."""
    q = shlex.quote
    lines = ["tendr_classify() {"]
    for rule in RULES:
        needles = " ".join(f"-e {q(n)}" for n in rule.needles)
        test = f"printf '%s\\n' \"$1\" | grep -i -F {needles}"
        if rule.also:
            test += " | grep -i -F " + " ".join(f"-e {q(a)}" for a in rule.also)
        test += " | head -n 1 | grep ."
        detail = ": %s" if rule.detail else ""
        lines.append(
            f"    if l=$({test}); then l=${{l#Fatal: }}; "
            "l=${l#subprocess ssh: }; l=${l#ssh: }; "
            f"l=${{l%: {q(rule.message)}}}; "
            f"printf '%s\\t%s{detail}\\n' {q(rule.kind)} {q(rule.message)}"
            + (' "$l"' if rule.detail else "")
            + "; return; fi"
        )
    lines += [
        "    l=$(printf '%s\\n' \"$1\" | grep -m1 '^Fatal: ') ||"
        " l=$(printf '%s\\n' \"$1\" | grep -v '^[[:space:]]*$' | tail -n 1)",
        "    printf 'other\\t%s\\n' \"${l#Fatal: }\"",
        "}",
    ]
    return "\n".join(lines) + "\n"
