"""Mutation testing of tendr's pure core: how much of it the fast tests really pin down.

    python3 -m tests.mutation                    # every module in MODULES
    python3 -m tests.mutation tendr/core/plan.py      # one module
    python3 -m tests.mutation --workers 2 --list # also print each surviving mutant

Each mutant is one small change to one module's syntax tree (a comparison or boolean
operator turned, a `not` dropped, a constant changed, a call statement removed, a
`return` emptied), decorated functions, properties and validators included. For each
mutant the module's fast tests run in a private copy of the repository (one per
worker); a mutant is killed when a test fails. Mutants listed in tests/mutation.toml
are equivalent (no behaviour can tell them apart), each with the reason, and are not
counted. Prints the score per module; exits 1 when a mutant survives that is not
listed there.
"""

from __future__ import annotations

import argparse
import ast
import copy
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "tests" / "mutation.toml"

# Each module of the pure core, with the fast tests that speak for it.
MODULES: dict[str, list[str]] = {
    "tendr/core/plan.py": [
        "tests/test_plan.py",
        "tests/test_diff_cases.py",
        "tests/test_diff_properties.py",
        "tests/test_depends.py",
        "tests/test_backup_memory.py",
        "tests/test_drivers.py",
    ],
    "tendr/rules/decide.py": [
        "tests/test_rules.py",
        "tests/test_rules_resources.py",
        "tests/test_rules_properties.py",
        "tests/test_rules_cedar.py",
    ],
    "tendr/rules/model.py": [
        "tests/test_rules.py",
        "tests/test_rules_resources.py",
        "tests/test_rules_properties.py",
    ],
    "tendr/rules/resources.py": [
        "tests/test_rules_resources.py",
        "tests/test_rules_resources_properties.py",
    ],
    "tendr/gateway/edits.py": ["tests/test_gateway.py"],
    "tendr/base/keys.py": ["tests/test_formats.py"],
    "tendr/rules/actor.py": ["tests/test_rules.py", "tests/test_cli.py"],
    "tendr/kinds/file.py": [
        "tests/test_diff_cases.py",
        "tests/test_diff_properties.py",
        "tests/test_execute.py",
        "tests/test_plan.py",
    ],
    "tendr/kinds/service.py": [
        "tests/test_diff_cases.py",
        "tests/test_diff_properties.py",
        "tests/test_execute.py",
        "tests/test_plan.py",
    ],
    "tendr/kinds/package.py": [
        "tests/test_diff_cases.py",
        "tests/test_diff_properties.py",
        "tests/test_execute.py",
        "tests/test_plan.py",
    ],
}

_COMPARE = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BINARY = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd}


@dataclass(frozen=True)
class Mutant:
    module: str
    line: int
    what: str  # e.g. "== -> !="
    source: str  # the mutated module

    @property
    def key(self) -> str:
        """Stable across edits elsewhere in the file: the line's text and the change."""
        text = (ROOT / self.module).read_text().splitlines()[self.line - 1].strip()
        return f"{self.module}: {text} :: {self.what}"


def _docstring(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _mutations(node: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """Each (description, replacement) for one node."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        new = copy.deepcopy(node)
        new.ops = [_COMPARE[type(node.ops[0])]()]
        yield f"{type(node.ops[0]).__name__} -> {type(new.ops[0]).__name__}", new
    elif isinstance(node, ast.BoolOp):
        other = copy.deepcopy(node)
        other.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield f"{type(node.op).__name__} -> {type(other.op).__name__}", other
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not dropped", copy.deepcopy(node.operand)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        arithmetic = copy.deepcopy(node)
        arithmetic.op = _BINARY[type(node.op)]()
        yield f"{type(node.op).__name__} -> {type(arithmetic.op).__name__}", arithmetic
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield f"{node.value} -> {not node.value}", ast.Constant(not node.value)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield f"{node.value} -> {node.value + 1}", ast.Constant(node.value + 1)
    elif (
        isinstance(node, ast.Return)
        and node.value is not None
        and not (isinstance(node.value, ast.Constant) and node.value.value is None)
    ):
        yield "return None", ast.Return(ast.Constant(None))
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        yield "call removed", ast.Pass()


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, replacement: ast.AST) -> None:
        self.target, self.replacement = target, replacement

    def visit(self, node: ast.AST) -> ast.AST:
        if node is self.target:
            return ast.copy_location(self.replacement, node)
        visited: ast.AST = super().visit(node)
        return visited


def mutants(module: str) -> list[Mutant]:
    tree = ast.parse((ROOT / module).read_text())
    skip: set[int] = set()  # annotations and docstrings are not behaviour
    for node in ast.walk(tree):
        annotation = getattr(node, "annotation", None) or getattr(node, "returns", None)
        if annotation is not None:
            skip.update(id(n) for n in ast.walk(annotation))
        if _docstring(node):
            skip.add(id(node))
    nodes = list(ast.walk(tree))
    found = []
    for index, node in enumerate(nodes):
        if id(node) in skip:
            continue
        for what, replacement in _mutations(node):
            clone = copy.deepcopy(tree)
            target = list(ast.walk(clone))[index]  # the same walk order: the same node
            new_tree = ast.fix_missing_locations(_Replace(target, replacement).visit(clone))
            found.append(Mutant(module, getattr(node, "lineno", 0), what, ast.unparse(new_tree)))
    return found


def _run(mutant: Mutant, workdir: Path, timeout: float) -> bool:
    """True when the module's tests kill the mutant (fail, or run over)."""
    target = workdir / mutant.module
    original = target.read_text()
    target.write_text(mutant.source)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:cacheprovider",
                "-m",
                "not fleet",
                "--hypothesis-profile=mutation",
                *MODULES[mutant.module],
            ],
            cwd=workdir,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return True
    finally:
        target.write_text(original)
    return done.returncode != 0


def _copy(into: Path) -> Path:
    shutil.copytree(
        ROOT,
        into,
        ignore=shutil.ignore_patterns(
            ".git", "__pycache__", ".mypy_cache", ".ruff_cache", "bench", ".tendr"
        ),
    )
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("modules", nargs="*", default=list(MODULES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--list", action="store_true", help="print every surviving mutant")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args(argv)
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"not a module of the pure core: {', '.join(sorted(unknown))}")
    equivalent = tomllib.loads(EQUIVALENT.read_text())["equivalent"] if EQUIVALENT.exists() else {}
    todo = [m for module in args.modules for m in mutants(module)]
    started = time.monotonic()
    print(
        f"{len(todo)} mutants in {len(args.modules)} module(s), {args.workers} worker(s)",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="tendr-mutation-") as tmp:
        dirs: Queue[Path] = Queue()
        for i in range(args.workers):
            dirs.put(_copy(Path(tmp) / f"w{i}"))

        def judge(mutant: Mutant) -> tuple[Mutant, bool]:
            workdir = dirs.get()
            try:
                return mutant, _run(mutant, workdir, args.timeout)
            finally:
                dirs.put(workdir)

        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            results = list(pool.map(judge, todo))
    surviving = [m for m, killed in results if not killed]
    unexplained = [m for m in surviving if m.key not in equivalent]
    print(f"{'module':28} {'mutants':>7} {'killed':>6} {'equiv.':>6} {'score':>6}")
    for module in args.modules:
        mine = [(m, k) for m, k in results if m.module == module]
        killed = sum(k for _, k in mine)
        equiv = sum(1 for m, k in mine if not k and m.key in equivalent)
        counted = len(mine) - equiv
        score = 100 * killed / counted if counted else 100.0
        print(f"{module:28} {len(mine):7} {killed:6} {equiv:6} {score:5.1f}%")
    print(
        f"{len(unexplained)} surviving mutant(s) not listed as equivalent; "
        f"{time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    if args.list:
        for m in unexplained:
            print(f"  {m.module}:{m.line}: {m.what}  [{m.key}]")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
