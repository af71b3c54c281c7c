"""Changes to the desired state, as git pushes to the gateway's workspace (I/O).

git-receive-pack runs two hooks tendr installs: `pre-receive` accepts a push only when
the pushed workspace validates as a whole and the pusher's role allows every file it
changes (tendr.gateway.edits says which operation each needs); `post-receive` records
what was accepted.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from tendr.base.errors import (
    AuditLogUnwritable,
    GatewayRefused,
    PermissionDenied,
    UserError,
    WorkspaceError,
)
from tendr.core import audit
from tendr.gateway.edits import RULES_EDIT, refusals, required, strongest
from tendr.gateway.session import (
    PERSON_ENV,
    REPOSITORY,
    Session,
    audit_log,
    check_person,
    gateway_problems,
)
from tendr.rules.decide import roles_of
from tendr.workspace.loader import Workspace, load

ZERO = "0" * 40
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree
# -- git over SSH, and the hooks (I/O) ---------------------------------------------------


def serve_git(session: Session, person: str, program: str) -> NoReturn:
    """Become git-upload-pack (a fetch) or git-receive-pack (a push) on the gateway's
    workspace, for a person who holds a role there; the hooks learn who pushes."""
    live = load(session.workspace)
    if not roles_of(person, live.rules, live.owner):
        raise PermissionDenied(message=f"{person} holds no role in the gateway's rules")
    record = audit.event(
        program,
        f"{program} {REPOSITORY}",
        "asked",
        "through ssh",
        person=person,
        account=session.account,
        command=program,
    )
    _record([record], live)
    env = {**os.environ, PERSON_ENV: person}
    os.execvpe(program, [program, str(session.workspace)], env)


def _git(*args: str, env: dict[str, str] | None = None) -> str:
    """A git command in the repository receiving the push (git's hook environment names
    it, the quarantined objects of the push included)."""
    done = subprocess.run(
        ["git", *args],
        capture_output=True,
        text=True,
        errors="surrogateescape",  # a file name that is not UTF-8 is refused, not a crash
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise UserError(f"git {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


def _pusher() -> str:
    person = os.environ.get(PERSON_ENV)
    if not person:
        raise PermissionDenied(
            message="pushes reach the gateway over SSH with a key `tendr gateway allow` let in"
        )
    return check_person(person)


@dataclass(frozen=True)
class Update:
    old: str
    new: str
    ref: str


def updates(stdin: str) -> list[Update]:
    """The refs a push updates, as git gives them to the hooks (`old new ref` lines)."""
    found = []
    for line in stdin.splitlines():
        old, new, ref = line.split(" ", 2)
        found.append(Update(old, new, ref))
    return found


def _changed(update: Update) -> list[str]:
    base = EMPTY_TREE if update.old == ZERO else update.old
    out = _git("diff", "--name-only", "-z", "--no-renames", base, update.new)
    # A name that is not UTF-8 is refused (_odd_entries); it is shown escaped meanwhile.
    return [
        p.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        for p in out.split("\0")
        if p
    ]


def _odd_entries(commit: str) -> list[str]:
    """Why entries of the pushed tree are refused: links and submodules (a link could
    make a state's `source` read a file outside the workspace, a client key), git's own
    attribute and module files (a filter they name would run when the files are checked
    out), and names that are not UTF-8."""
    out = _git("ls-tree", "-r", "-z", "--full-tree", commit)
    odd = []
    for entry in out.split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        if meta.split()[0] in ("120000", "160000"):
            odd.append(f"{shown} (a symbolic link or submodule)")
        elif Path(path).name in (".gitattributes", ".gitmodules"):
            odd.append(f"{shown} (git's attributes or modules)")
        elif shown != path:
            odd.append(f"{shown} (a name that is not UTF-8)")
    return odd


PRIVATE = (".tendr", "secrets")
"""The controller's own folders (the audit log, the secrets): never in git, never pushed."""


def _tracked(commit: str) -> set[str]:
    """The files of `commit` (none for a new branch)."""
    if commit == ZERO:
        return set()
    return set(_git("ls-tree", "-r", "-z", "--name-only", "--full-tree", commit).split("\0"))


def _ignored(live: Path, work_tree: Path, paths: list[str]) -> set[str]:
    """Which of `paths` the .gitignore files of `work_tree` (and the excludes of the
    live workspace's repository) ignore, tracked or not (--no-index)."""
    if not paths:
        return set()
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin", "-z"],
        input="".join(f"{p}\0" for p in paths),
        cwd=work_tree,
        env={**os.environ, "GIT_DIR": str(live / ".git"), "GIT_WORK_TREE": str(work_tree)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):  # 1: none of them is ignored
        raise UserError(f"git check-ignore failed: {done.stderr.strip()}")
    return {p for p in done.stdout.split("\0") if p}


def _in_the_way(root: Path, path: str, tracked: set[str]) -> bool:
    """Whether writing `path` would replace something of the live workspace git does
    not carry: git's update of the checked-out branch overwrites ignored files (the
    audit log, a secret) without a word."""
    parts = Path(path).parts
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        here = root / prefix
        if prefix in tracked or not os.path.lexists(here):
            continue
        if depth == len(parts) or here.is_symlink() or not here.is_dir():
            return True
    return False


def _not_carried(root: Path, update: Update, paths: list[str]) -> list[str]:
    """Why changed paths are refused: the controller's own folders, what the live
    workspace's .gitignore ignores (as it is before the push: a push does not choose its
    own ignore rules), and a new file where the live workspace holds one git does not
    carry."""
    tracked = _tracked(update.old)
    ignored = _ignored(root, root, paths)
    refused = []
    for path in paths:
        if Path(path).parts[0] in PRIVATE:
            refused.append(
                f"{path} (the controller's own: the audit log and secrets stay out of git)"
            )
        elif path in ignored:
            refused.append(f"{path} (ignored by the gateway's .gitignore)")
        elif _in_the_way(root, path, tracked):
            refused.append(
                f"{path} (would replace a file on the controller that git does not carry)"
            )
    return refused


def _unignored(root: Path, tree: Path, kept: set[str]) -> list[str]:
    """What the pushed .gitignore would no longer ignore of what the live one does: the
    controller's own folders, the audit log, and each file only the controller holds."""
    log = str(audit_log(root).relative_to(root))
    private = [f"{folder}/" for folder in PRIVATE]
    wanted = sorted(_ignored(root, root, [*private, log, *sorted(kept)]))
    still = _ignored(root, tree, wanted)
    return [path for path in wanted if path not in still]


def _candidate(session: Session, update: Update, into: Path) -> tuple[Workspace, set[str]]:
    """The workspace as the push would leave it, checked out into `into` with the files
    git tracks neither before nor after the push (secrets/) copied from the live
    workspace, then loaded; and those copied files."""
    index = into / "index"
    tree = into / "workspace"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    _git("read-tree", update.new, env=env)
    _git("checkout-index", "--all", f"--prefix={tree}/", env=env)
    tree.mkdir(mode=0o700, exist_ok=True)
    tracked = set()
    for commit in (update.old, update.new):
        if commit != ZERO:
            listed = _git("ls-tree", "-r", "-z", "--name-only", "--full-tree", commit)
            tracked.update(listed.split("\0"))
    live = session.workspace
    copied = set()
    for folder, dirs, files in os.walk(live):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not (here == live and d in (".git", ".tendr"))]
        for name in files:
            source = here / name
            relative = str(source.relative_to(live))
            if relative in tracked or source.is_symlink() or not source.is_file():
                continue
            target = tree / relative
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copy2(source, target)
            copied.add(relative)
    return load(tree), copied


def _record(entries: list[dict[str, Any]], workspace: Workspace) -> None:
    log = audit_log(workspace.root)
    try:
        audit.append(log, entries)
    except OSError as exc:
        raise AuditLogUnwritable(
            f"refused: the audit log {log} cannot be written ({exc.strerror})"
        ) from None


def _push_record(
    session: Session, person: str, update: Update, verdict: Verdict, outcome: str
) -> dict[str, Any]:
    branch = update.ref.removeprefix("refs/heads/")
    return audit.event(
        verdict.op,
        f"{branch} {update.old[:12]}..{update.new[:12]}",
        outcome,
        verdict.refused,
        person=person,
        account=session.account,
        command="push",
        before={"commit": update.old},
        after={"commit": update.new, "files": verdict.paths},
    )


def pre_receive(session: Session, stdin: str) -> list[str]:
    """Accept the push (return what was accepted, for the pusher) or raise saying why
    not; a refusal is recorded in the audit log, and changes nothing."""
    person = _pusher()
    try:
        live = load(session.workspace)
    except WorkspaceError as exc:
        raise GatewayRefused(
            f"the gateway's own workspace does not validate ({exc}); an administrator "
            "must repair it on the controller before any push is taken"
        ) from None
    head = _git("symbolic-ref", "-q", "HEAD").strip()
    accepted = []
    for update in updates(stdin):
        verdict = _judge(session, person, live, update, head)
        if verdict.refused:
            record = _push_record(session, person, update, verdict, "refused")
            _record([record], live)
            raise PermissionDenied(message=f"push to {update.ref} refused:\n{verdict.refused}")
        accepted.append(f"{update.ref}: {len(verdict.paths)} file(s) validated and allowed")
    return accepted


@dataclass(frozen=True)
class Verdict:
    """What a pushed update changes, what it is recorded as, and why it is refused ('':
    it is not)."""

    paths: list[str]
    op: str
    refused: str = ""


def _judge(session: Session, person: str, live: Workspace, update: Update, head: str) -> Verdict:
    if update.ref != head:
        branch = head.removeprefix("refs/heads/")
        return Verdict([], RULES_EDIT, f"the gateway takes pushes to its branch {branch} only")
    if update.new == ZERO:
        return Verdict([], RULES_EDIT, "the gateway's branch cannot be deleted")
    paths = _changed(update)
    op = strongest(required(paths, live, live))
    odd = _odd_entries(update.new) + _not_carried(live.root, update, paths)
    if odd:
        return Verdict(paths, op, "refused in a push: " + ", ".join(odd))
    home = Path(pwd.getpwnam(session.account).pw_dir)
    with tempfile.TemporaryDirectory(dir=home, prefix="push-") as scratch:
        try:
            after, copied = _candidate(session, update, Path(scratch))
        except WorkspaceError as exc:
            listed = "\n".join(str(p) for p in exc.problems)
            return Verdict(paths, op, f"the pushed workspace does not validate:\n{listed}")
        except OSError as exc:
            return Verdict(paths, op, f"the pushed files cannot be checked out: {exc}")
        unignored = _unignored(live.root, Path(scratch) / "workspace", copied)
    if unignored:
        return Verdict(
            paths,
            op,
            ".gitignore: the push would stop ignoring "
            + ", ".join(unignored)
            + " (the audit log and the secrets stay out of git)",
        )
    if problems := gateway_problems(after):
        return Verdict(paths, op, "\n".join(problems))
    edits = required(paths, live, after, copied)
    refused = refusals(edits, person, live, datetime.now(UTC))
    return Verdict(paths, strongest(edits), "\n".join(refused))


def post_receive(session: Session, stdin: str) -> None:
    """Record each accepted update, with its commits and files, in the audit log."""
    person = _pusher()
    live = load(session.workspace)
    entries = []
    for update in updates(stdin):
        paths = _changed(update)
        verdict = Verdict(paths, strongest(required(paths, live, live)))
        entries.append(_push_record(session, person, update, verdict, "done"))
    _record(entries, live)
