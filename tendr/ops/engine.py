"""Planning over hosts: connect, gather every host's facts in one command, diff.

The I/O edge around the pure plan (tendr/plan.py): one connection and one probe
command per host, hosts in parallel, a host that fails never stops the others.
"""

from __future__ import annotations

import os
import secrets as tokens
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tendr.base.errors import HostError, PermissionDenied, UserError
from tendr.core import history
from tendr.core.authorize import mark, readable
from tendr.core.plan import (
    Desired,
    HostPlan,
    Plan,
    Twice,
    declared_twice,
    plan_host,
    probe_script,
    split_sections,
)
from tendr.kinds.base import ResourceSpec
from tendr.kinds.kind import workspace_bytes
from tendr.kinds.registry import KINDS
from tendr.remote.connect import (
    TUNNEL_DOWN,
    Session,
    close_session,
    in_parallel,
    open_session,
    run_long,
)
from tendr.workspace import baseline
from tendr.workspace.hosts import Host
from tendr.workspace.loader import Declared, Workspace

Progress = Callable[[str], None]


def desired_for(workspace: Workspace, host: Host) -> Desired:
    return [(d.file, d.spec) for d in workspace.desired(host)]


def made_for(workspace: Workspace, host: Host) -> dict[tuple[str, str], ResourceSpec]:
    """What the host's declared resources make (Kind.made), by (kind, name), each with
    the resource that makes it: a backup job's units."""
    return {
        made: spec
        for _, spec in desired_for(workspace, host)
        if getattr(spec, "present", True)  # not a job the states remove
        for made in KINDS[spec.kind].made(spec)
    }


def desired_specs(
    workspace: Workspace, hosts: Sequence[Host]
) -> dict[str, dict[tuple[str, str], ResourceSpec]]:
    """Per host, each desired spec by (kind, key): what apply turns into steps."""
    return {h.name: {(s.kind, s.key): s for _, s in desired_for(workspace, h)} for h in hosts}


def workspace_sources(workspace: Workspace, hosts: Sequence[Host]) -> dict[str, bytes]:
    """The workspace files resources name (a file's `source`), read once for all hosts;
    secrets are not read here."""
    sources: dict[str, bytes] = {}
    for host in hosts:
        for _, spec in desired_for(workspace, host):
            for reference in KINDS[spec.kind].references(spec):
                if not reference.secret and reference.path not in sources:
                    sources[reference.path] = workspace_bytes(workspace.root, reference.path)
    return sources


def workspace_secrets(workspace: Workspace, hosts: Sequence[Host]) -> dict[str, bytes]:
    """The secrets the hosts' resources write (a backup's password), by SecretRef.key: a
    workspace file's bytes or an environment variable's value. One that cannot be read is
    left out: the plan says it is not known, and apply fails on it, naming it."""
    found: dict[str, bytes] = {}
    for host in hosts:
        for _, spec in desired_for(workspace, host):
            for ref in KINDS[spec.kind].secrets(spec):
                if ref.key in found:
                    continue
                if ref.file is not None:
                    try:
                        found[ref.key] = workspace_bytes(workspace.root, ref.file)
                    except OSError:
                        continue
                elif ref.env is not None and os.environ.get(ref.env):
                    found[ref.key] = os.environ[ref.env].encode()
    return found


def secret_values(workspace: Workspace, hosts: Sequence[Host]) -> list[str]:
    """The secrets' values as text, longest first, for masking wherever a command is
    recorded (`tendr run`)."""
    found: set[str] = set()
    for value in workspace_secrets(workspace, hosts).values():
        text = value.decode("utf-8", "replace")
        found.update(line.strip() for line in [text, *text.splitlines()] if line.strip())
    return sorted(found, key=len, reverse=True)


def connect(
    workspace: Workspace, hosts: Sequence[Host], progress: Progress | None = None
) -> Session:
    session = open_session(
        hosts, workspace.path(workspace.settings.known_hosts), workspace.settings, progress
    )
    _tunnels_since(workspace, hosts, session)
    return session


def _shown_time(when: str) -> str:
    """An ISO 8601 time of the history as a person reads it: '2026-12-05 09:20 UTC'."""
    try:
        return datetime.fromisoformat(when).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return when


def _tunnels_since(workspace: Workspace, hosts: Sequence[Host], session: Session) -> None:
    """A host that calls home and whose tunnel is down: since when, as far as tendr knows
    (the last plan that reached it), in its error and in those of the hosts behind it."""
    down = [
        h.name
        for h in hosts
        if h.tunnel_port is not None
        and session.errors.get(h.name, "").startswith(f"{h.name}'s {TUNNEL_DOWN}")
    ]
    if not down:
        return
    try:
        since = history.last_reached(workspace.path(workspace.settings.history), down)
    except UserError:
        return  # an unreadable history is its own command's error; the tunnel is down still
    for name in down:
        when = since.get(name)
        said = (
            f"tunnel has not been connected since {_shown_time(when)}"
            if when
            else "tunnel is not connected (tendr never reached the host through it)"
        )
        for other, why in session.errors.items():
            session.errors[other] = why.replace(f"{name}'s {TUNNEL_DOWN}", f"{name}'s {said}")


@contextmanager
def connected(
    workspace: Workspace, hosts: Sequence[Host], failed: Callable[[str, str], None]
) -> Iterator[tuple[Session, list[Host]]]:
    """Connected to `hosts`: the session and the hosts that connected; each that did not
    is said through failed(name, why). Disconnected at the end."""
    session = connect(workspace, hosts)
    try:
        for name, why in session.errors.items():
            failed(name, why)
        yield session, [h for h in hosts if h.name in session.hosts]
    finally:
        close_session(session)


@dataclass
class Rider:
    """A read-only script sent ahead of a host's probe, in its one command (diagnose's
    and watch's reading), and what it printed: its lines come before the probe's first
    section, and its own sections end before it (plan.split_sections reads each part)."""

    scripts: dict[str, str]  # by host name
    output: dict[str, list[str]] = field(default_factory=dict)


def gather(
    workspace: Workspace,
    hosts: Sequence[Host],
    session: Session,
    progress: Progress | None = None,
    rider: Rider | None = None,
) -> Plan:
    """Plan every host: hosts that did not connect carry their error instead. A rider's
    script goes with each host's probe, in the same command."""
    sources = workspace_sources(workspace, hosts)
    secrets = workspace_secrets(workspace, hosts)
    seen = history.seen(workspace.path(workspace.settings.history), [h.name for h in hosts])
    results: dict[str, HostPlan] = {}

    def plan_one(host: Host) -> None:
        try:
            results[host.name] = _plan_one(
                workspace, host, session, sources, secrets, seen.get(host.name, {}), rider
            )
        except HostError as exc:  # a bug is no host's error: it ends the run (exit 3)
            results[host.name] = HostPlan(
                host=host.name, error=f"reading its state failed: {exc.reason}", code=exc.code
            )
        if progress:
            progress(host.name)

    for host in hosts:
        if host.name in session.errors:
            results[host.name] = HostPlan(
                host=host.name, error=session.errors[host.name], code=session.codes.get(host.name)
            )
    in_parallel(session.state, plan_one, [h for h in hosts if h.name in session.hosts])
    return Plan(tuple(results[h.name] for h in hosts))


def _plan_one(
    workspace: Workspace,
    host: Host,
    session: Session,
    sources: dict[str, bytes],
    secrets: dict[str, bytes],
    seen: dict[str, Any],
    rider: Rider | None = None,
) -> HostPlan:
    declared = workspace.desired(host)
    desired = [(d.file, d.spec) for d in declared]
    ahead = rider.scripts.get(host.name, "") if rider is not None else ""
    if not desired and not ahead:
        return HostPlan(host=host.name)
    nonce = tokens.token_hex(8)
    script = "\n".join(part for part in (ahead, probe_script(desired, nonce)) if part)
    output = run_long(session, host.name, script, timeout=workspace.settings.command_timeout)
    if not output.ok:
        return HostPlan(host=host.name, error=f"reading its state failed: {output.reason()}")
    if rider is not None and ahead:
        rider.output[host.name] = output.stdout
    if not desired:
        return HostPlan(host=host.name)
    sections = split_sections(output.stdout, nonce)
    if twice := declared_twice(desired, sections):
        # The baseline yields to a state that declares the same resource by another name.
        dropped = {id(t.second[1]) for t in twice if t.second[0] == baseline.SOURCE}
        desired = [(f, spec) for f, spec in desired if id(spec) not in dropped]
        if problems := [t for t in twice if id(t.second[1]) not in dropped]:
            return HostPlan(host=host.name, error=_declared_twice(workspace, declared, problems))
    return plan_host(host.name, desired, sections, sources, secrets, seen)


def _declared_twice(workspace: Workspace, declared: Sequence[Declared], twice: list[Twice]) -> str:
    """One resource on the host declared under two names: nothing is planned for the host
    (each apply would undo the other), and both places are named."""
    where = {id(d.spec): workspace.where(d) for d in declared}
    found = [
        f"{t.first[1].kind} {t.first[1].key!r} at {where[id(t.first[1])]} and "
        f"{t.second[1].key!r} at {where[id(t.second[1])]} are one resource on this host "
        f"({t.identity})"
        for t in twice
    ]
    return "; ".join(found) + ": declare it once"


def plan(workspace: Workspace, hosts: Sequence[Host], progress: Progress | None = None) -> Plan:
    """Connect, plan, disconnect."""
    session = connect(workspace, hosts)
    try:
        return gather(workspace, hosts, session, progress)
    finally:
        close_session(session)


def plan_for(
    workspace: Workspace,
    selected: Sequence[Host],
    person: str,
    progress: Progress | None = None,
    session: Session | None = None,
) -> Plan:
    """Plan the hosts `person` may read (the others carry the refusal), each change
    marked allowed or blocked. With a session, its connections are used and kept open."""
    readable_hosts, refused = readable(workspace, person, "plan", selected)
    if not readable_hosts:
        found = Plan()
    elif session is None:
        found = plan(workspace, readable_hosts, progress)
    else:
        found = gather(workspace, readable_hosts, session, progress)
    by_host = {h.host: h for h in found.hosts}
    by_host.update(
        {
            name: HostPlan(host=name, error=why, code=PermissionDenied.code)
            for name, why in refused.items()
        }
    )
    return mark(workspace, person, Plan(tuple(by_host[h.name] for h in selected)))
