"""Changes to the desired state, as git pushes to the gateway's workspace.

git-receive-pack runs two hooks tendr installs: `pre-receive` accepts a push only when
the pushed workspace validates as a whole and the pusher's role allows every file it
changes (decided with the rules in force, never the pushed ones, or a push could grant
itself); `post-receive` records what was accepted. Which operation a changed file needs
(`required`) is pure:

- a state file: `state.edit` on every host it targets, before or after the push;
- a file a state names (`source`, a secret file): `state.edit` on that state's hosts;
- any other file under files/: `state.edit` on every host (rules for `all` hosts);
- everything else (rules/, hosts/, tendr.toml, known_hosts, ...): `rules.edit` on every
  host, since it decides what tendr may do anywhere.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from tendr import audit
from tendr.errors import PermissionDenied, UserError, WorkspaceError
from tendr.gateway.session import PERSON_ENV, Session, check_person
from tendr.hosts.selection import HostLike
from tendr.rules.decide import decide, roles_of
from tendr.states.kinds import KINDS
from tendr.workspace import Workspace, load

ZERO = "0" * 40
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree
STATE_EDIT = "state.edit"
RULES_EDIT = "rules.edit"


@dataclass(frozen=True)
class Everywhere:
    """The host of an edit that concerns every host: only rules for `all` hosts match it
    (no name, client, group or tag of a real host is empty)."""

    name: str = "every host"
    client: str = ""
    groups: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


EVERYWHERE = Everywhere()


@dataclass(frozen=True)
class Edit:
    """What a changed file needs: an operation on hosts."""

    path: str
    op: str
    hosts: tuple[HostLike, ...] = field(default=(EVERYWHERE,))


def _targets(workspace: Workspace | None, state_file: str) -> dict[str, HostLike]:
    """The hosts `state_file` targets in `workspace` (none where it has no such file)."""
    if workspace is None:
        return {}
    return {h.name: h for h in workspace.hosts if state_file in workspace.states_for(h)}


def _referenced(workspace: Workspace | None) -> dict[str, list[str]]:
    """Each workspace file a state names (sources, secret files) -> those state files."""
    found: dict[str, list[str]] = {}
    if workspace is None:
        return found
    for name, state in workspace.states:
        for _, spec in state.resources():
            for reference in KINDS[spec.kind].references(spec):
                path = os.path.normpath(reference.path)
                found.setdefault(path, []).append(name)
    return found


def required(paths: Iterable[str], before: Workspace | None, after: Workspace) -> list[Edit]:
    """The operation each changed path needs, on which hosts (see the module's doc)."""
    every_host: dict[str, HostLike] = {}
    for workspace in (before, after):
        if workspace is not None:
            every_host.update({h.name: h for h in workspace.hosts})
    referenced = {
        path: names
        for workspace in (before, after)
        for path, names in _referenced(workspace).items()
    }
    edits = []
    for path in sorted(set(paths)):
        state_files = [path] if path.startswith("states/") else referenced.get(path, [])
        if path.startswith("states/") or path in referenced:
            hosts: dict[str, HostLike] = {}
            for state_file in state_files:
                hosts.update(_targets(before, state_file))
                hosts.update(_targets(after, state_file))
            edits.append(Edit(path, STATE_EDIT, tuple(hosts.values()) or (EVERYWHERE,)))
        elif path.startswith("files/"):
            edits.append(Edit(path, STATE_EDIT))
        else:
            edits.append(Edit(path, RULES_EDIT, (EVERYWHERE, *every_host.values())))
    return edits


def refusals(edits: Sequence[Edit], person: str, rules_from: Workspace) -> list[str]:
    """Why `person` may not make each edit they may not, by the rules of `rules_from`."""
    found = []
    for edit in edits:
        for host in edit.hosts:
            decision = decide(person, edit.op, host, rules_from.rules, rules_from.owner)
            if not decision.allowed:
                found.append(f"{edit.path}: {decision.reason}")
                break
    return found


def strongest(edits: Sequence[Edit]) -> str:
    """The operation a push is recorded as: rules.edit when any file needs it."""
    return RULES_EDIT if any(e.op == RULES_EDIT for e in edits) else STATE_EDIT


# -- git over SSH, and the hooks (I/O) ---------------------------------------------------


def serve_git(session: Session, person: str, program: str) -> NoReturn:
    """Become git-upload-pack (a fetch) or git-receive-pack (a push) on the gateway's
    workspace, for a person who holds a role there; the hooks learn who pushes."""
    live = load(session.workspace)
    if not roles_of(person, live.rules, live.owner):
        raise PermissionDenied(message=f"{person} holds no role in the gateway's rules")
    env = {**os.environ, PERSON_ENV: person}
    os.execvpe(program, [program, str(session.workspace)], env)


def _git(*args: str, env: dict[str, str] | None = None) -> str:
    """A git command in the repository receiving the push (git's hook environment names
    it, the quarantined objects of the push included)."""
    done = subprocess.run(["git", *args], capture_output=True, text=True, env=env, check=False)
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
    return [p for p in out.split("\0") if p]


def _odd_entries(commit: str) -> list[str]:
    """Paths of the pushed tree that are links or submodules: a link could make a state's
    `source` read a file outside the workspace (a client key), so none is taken."""
    out = _git("ls-tree", "-r", "-z", "--full-tree", commit)
    odd = []
    for entry in out.split("\0"):
        if entry:
            meta, _, path = entry.partition("\t")
            if meta.split()[0] in ("120000", "160000"):
                odd.append(path)
    return odd


def _candidate(session: Session, commit: str, into: Path) -> Workspace:
    """The workspace as the push would leave it, checked out into `into` with the files
    git does not track (secrets) copied from the live workspace, then loaded."""
    index = into / "index"
    tree = into / "workspace"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    _git("read-tree", commit, env=env)
    _git("checkout-index", "--all", f"--prefix={tree}/", env=env)
    tree.mkdir(mode=0o700, exist_ok=True)
    tracked = set(_git("ls-tree", "-r", "-z", "--name-only", "--full-tree", commit).split("\0"))
    live = session.workspace
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
    return load(tree)


def _record(entries: list[dict[str, Any]], workspace: Workspace) -> None:
    log = workspace.root / workspace.settings.audit_log
    try:
        audit.append(log, entries)
    except OSError as exc:
        raise UserError(
            f"the push is refused: the audit log {log} cannot be written ({exc.strerror})"
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
        raise UserError(
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
    odd = _odd_entries(update.new)
    if odd:
        return Verdict(
            paths,
            op,
            "symbolic links and submodules are refused (a link could name a file outside "
            "the workspace): " + ", ".join(odd),
        )
    home = Path(pwd.getpwnam(session.account).pw_dir)
    with tempfile.TemporaryDirectory(dir=home, prefix="push-") as scratch:
        try:
            after = _candidate(session, update.new, Path(scratch))
        except WorkspaceError as exc:
            problems = "\n".join(str(p) for p in exc.problems)
            return Verdict(paths, op, f"the pushed workspace does not validate:\n{problems}")
    edits = required(paths, live, after)
    return Verdict(paths, strongest(edits), "\n".join(refusals(edits, person, live)))


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
