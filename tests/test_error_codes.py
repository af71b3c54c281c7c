"""Errors carry data (issue 29 point 6): every error class a stable code, the README's
table lists exactly those codes, `--format json` shows the code beside the message, and
only the CLI names the options whose values it passes on."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import tendr
from tendr.base.errors import TendrError
from tests.helpers import ADMIN_RULES, build_tree, run_tendr

ROOT = Path(__file__).resolve().parent.parent


def every_error_class() -> list[type[TendrError]]:
    """TendrError and every class below it, in every module of tendr."""
    for found in pkgutil.walk_packages(tendr.__path__, "tendr."):
        importlib.import_module(found.name)
    seen: list[type[TendrError]] = []
    todo: list[type[TendrError]] = [TendrError]
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    return seen


def readme_codes() -> list[str]:
    """The codes in README's "Error codes" table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Error codes", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, re.M)


def test_every_error_class_has_a_code_of_its_own() -> None:
    classes = [c for c in every_error_class() if c is not TendrError]
    codes = {c: c.code for c in classes}
    assert all(re.fullmatch(r"[a-z]+([.-][a-z]+)*", code) for code in codes.values()), codes
    clashes = {code for code in codes.values() if list(codes.values()).count(code) > 1}
    assert not clashes, {c.__name__: code for c, code in codes.items() if code in clashes}


def test_the_readme_lists_exactly_the_codes() -> None:
    codes = [c.code for c in every_error_class() if c is not TendrError]
    listed = readme_codes()
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(codes)


def workspace(tmp_path: Path, extra: dict[str, str] | None = None) -> str:
    files = {
        "hosts/acme.toml": '[hosts.a1]\naddress = "192.0.2.1"\ngroups = ["office"]\n',
        "known_hosts": "192.0.2.1 ssh-ed25519 AAAA\n",
        "rules/roles.toml": ADMIN_RULES,
        **(extra or {}),
    }
    return str(build_tree(tmp_path / "ws", files))


def json_error(*args: str) -> dict[str, object]:
    code, output = run_tendr(*args, "--format", "json")
    assert code == 1, output
    found = json.loads(output)
    assert isinstance(found, dict) and found["ok"] is False, found
    return found


def test_a_workspace_error_has_its_code(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"hosts/beta.toml": "[hosts.b1\n"})
    found = json_error("hosts", "-w", ws)
    assert found["code"] == "workspace.invalid"
    assert found["problems"] and found["error"] == "1 problem in the workspace"


def test_a_bad_duration_is_worded_with_for(tmp_path: Path) -> None:
    found = json_error(
        "grant", "dave", "admin", "--for", "99x", "--reason", "x", "-w", workspace(tmp_path)
    )
    assert found == {
        "ok": False,
        "code": "duration.invalid",
        "error": "--for: '99x' is not a duration such as 2h, 90m, 1d12h or 30s",
        "option": "--for",
        "value": "99x",
        "expected": "a duration such as 2h, 90m, 1d12h or 30s",
    }


def test_a_bad_since_in_logs_is_worded_with_since(tmp_path: Path) -> None:
    found = json_error("logs", "-w", workspace(tmp_path), "--since", "soon!")
    assert found["code"] == "time.invalid"
    assert found["option"] == "--since" and found["value"] == "soon!"
    assert str(found["error"]).startswith("--since: 'soon!' is not '-2h' or '1 hour ago'")


@pytest.mark.parametrize("command", ["hosts", "logs", "plan"])
def test_a_limit_selecting_nothing_is_worded_with_limit(tmp_path: Path, command: str) -> None:
    found = json_error(command, "-w", workspace(tmp_path), "--limit", "group:offce")
    assert found == {
        "ok": False,
        "code": "selection.no-host",
        "error": "--limit: 'group:offce' matches no host in hosts/ (did you mean 'group:office'?)",
        "option": "--limit",
        "value": "group:offce",
    }


def test_a_malformed_limit_has_its_own_code(tmp_path: Path) -> None:
    found = json_error("hosts", "-w", workspace(tmp_path), "--limit", "grp:x y")
    assert found["code"] == "selection.invalid" and found["option"] == "--limit"


def test_an_unknown_host_carries_its_name(tmp_path: Path) -> None:
    found = json_error("history", "nowhere", "-w", workspace(tmp_path))
    assert (found["code"], found["host"]) == ("host.unknown", "nowhere")


# The options whose values the CLI passes to the layers below: those layers say what is
# wrong with a value, and only the command that passed it names the option (a usage
# synopsis, `tendr run [--limit HOSTS] -- COMMAND`, is no value's wording).
PASSED_ON = re.compile(
    r"(?<!\[)--(for|since|until|limit|hosts|reason|unit|grep|ssh-key|client|via)\b"
)
BELOW_THE_CLI = ("base", "rules", "workspace", "core", "ops")


def raised_texts(path: Path) -> list[tuple[int, str]]:
    """Every string constant in a `raise` statement of the module, or in an exception's
    message (`super().__init__(...)`), f-strings' parts too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        raised = node.exc if isinstance(node, ast.Raise) else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            raised = node if node.func.attr == "__init__" else None
        if raised is not None:
            for part in ast.walk(raised):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    found.append((part.lineno, part.value))
    return found


def test_only_the_cli_names_the_options_it_passes_on() -> None:
    named = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for layer in BELOW_THE_CLI
        for path in sorted((ROOT / "tendr" / layer).rglob("*.py"))
        for line, text in raised_texts(path)
        if PASSED_ON.search(text)
    ]
    assert not named, "\n".join(named)
