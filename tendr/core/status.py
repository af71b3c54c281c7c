"""`tendr status`: the fleet at a glance, from what watch keeps (no host is touched):
per client and host, the problems open with their age, the resources drifting, each
backup job's newest snapshot, when the host was last read. Pure: `gather` builds it,
`as_json` and `render_html` say it (the page is self-contained, values inert)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tendr.core.history import WatchStore
from tendr.core.watch import Tracked
from tendr.workspace.hosts import Host


@dataclass(frozen=True)
class HostStatus:
    name: str
    client: str
    watched: bool  # some cycle looked at it
    last_seen: str | None  # the last cycle that read it whole
    error: str  # why the last cycle could not, or ""
    problems: tuple[Tracked, ...]  # open now, most severe first
    drifting: tuple[str, ...]
    backups: dict[str, int] = field(default_factory=dict)  # job -> newest snapshot (UNIX)


@dataclass(frozen=True)
class Status:
    time: str  # when it was made, ISO 8601 UTC
    hosts: tuple[HostStatus, ...]

    @property
    def clients(self) -> dict[str, list[HostStatus]]:
        found: dict[str, list[HostStatus]] = {}
        for host in self.hosts:
            found.setdefault(host.client, []).append(host)
        return dict(sorted(found.items()))


def gather(store: WatchStore, hosts: Sequence[Host], now: datetime) -> Status:
    """The status of `hosts` (those the reader may read) as the store has them."""
    found = []
    for host in hosts:
        kept = store.hosts.get(host.name)
        problems = sorted(
            (p for p in store.problems if p.host == host.name and p.open and p.cleared is None),
            key=lambda p: (p.severity != "critical", p.first_seen),
        )
        found.append(
            HostStatus(
                name=host.name,
                client=host.client,
                watched=kept is not None,
                last_seen=kept.read if kept else None,
                error=kept.error if kept else "",
                problems=tuple(problems),
                drifting=kept.drifting if kept else (),
                backups=dict(kept.backups) if kept else {},
            )
        )
    return Status(now.isoformat(timespec="seconds"), tuple(found))


def age(since: str, now: str) -> str:
    """How long ago, in its two largest units: "3d 4h", "12m", "under a minute"."""
    try:
        seconds = int((datetime.fromisoformat(now) - datetime.fromisoformat(since)).total_seconds())
    except ValueError:
        return "?"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2]) or "under a minute"


def snapshot_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def problem_json(p: Tracked) -> dict[str, Any]:
    return {
        "host": p.host,
        "area": p.area,
        "key": p.key,
        "what": p.what,
        "severity": p.severity,
        "cause": p.cause,
        "fix": p.fix or None,
        "first_seen": p.first_seen,
        "last_seen": p.last_seen,
        "cleared": p.cleared,
    }


def as_json(status: Status) -> dict[str, Any]:
    return {
        "time": status.time,
        "clients": [
            {
                "name": client,
                "hosts": [
                    {
                        "name": h.name,
                        "watched": h.watched,
                        "last_seen": h.last_seen,
                        "error": h.error or None,
                        "problems": [
                            {**problem_json(p), "age": age(p.first_seen, status.time)}
                            for p in h.problems
                        ],
                        "drifting": list(h.drifting),
                        "backups": {j: snapshot_time(t) for j, t in sorted(h.backups.items())},
                    }
                    for h in hosts
                ],
            }
            for client, hosts in status.clients.items()
        ],
    }


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
table{border-collapse:collapse;width:100%;margin-bottom:1em}
th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #ddd;vertical-align:top}
.critical{color:#a00;font-weight:bold}.warning{color:#a60}.ok{color:#070}.dim{color:#777}
"""


def _h(value: object) -> str:
    return html.escape(str(value))


def _host_rows(host: HostStatus, now: str) -> str:
    seen = (
        f"{_h(host.last_seen)} ({_h(age(host.last_seen, now))} ago)" if host.last_seen else "never"
    )
    backups = "<br>".join(
        f"{_h(job)}: {_h(snapshot_time(t))}" for job, t in sorted(host.backups.items())
    )
    if not host.watched:
        verdict = '<span class="dim">not watched yet</span>'
    elif host.problems:
        worst = host.problems[0].severity
        verdict = f'<span class="{worst}">{len(host.problems)} problem(s)</span>'
    else:
        verdict = '<span class="ok">no problem</span>'
    rows = [
        f'<tr class="host"><td><b>{_h(host.name)}</b></td><td>{verdict}</td>'
        f"<td>{seen}</td><td>{backups or '-'}</td>"
        f"<td>{'<br>'.join(_h(d) for d in host.drifting) or '-'}</td></tr>"
    ]
    for p in host.problems:
        fix = f"<br>fix: <code>{_h(p.fix)}</code>" if p.fix else ""
        rows.append(
            f'<tr class="problem"><td></td><td class="{p.severity}">{_h(p.severity)}</td>'
            f'<td colspan="3">{_h(p.area)}: {_h(p.what)} '
            f'<span class="dim">(open {_h(age(p.first_seen, now))})</span>'
            f"<br>cause: {_h(p.cause)}{fix}</td></tr>"
        )
    return "\n".join(rows)


def render_html(status: Status) -> str:
    """One self-contained page: no script, no external asset; every value escaped."""
    sections = []
    for client, hosts in status.clients.items():
        rows = "\n".join(_host_rows(h, status.time) for h in hosts)
        sections.append(
            f"<h2>{_h(client)}</h2>\n<table><tr><th>host</th><th>state</th>"
            f"<th>last seen</th><th>newest backup</th><th>drifting</th></tr>\n{rows}\n</table>"
        )
    count = sum(len(h.problems) for h in status.hosts)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tendr status: {count} problem(s) open</title><style>{_CSS}</style></head>
<body><h1>Fleet status: {count} problem(s) open</h1>
<p class="dim">as of {_h(status.time)}</p>
{"".join(sections) or "<p>No host.</p>"}
</body></html>
"""
