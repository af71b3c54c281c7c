"""What `tendr audit-log replay N` plays: the recording a record links to, once the
audit log's chain holds, the person may `shell` on its host, the recording lies in the
sessions folder and is the one the record names (its SHA-256)."""

from __future__ import annotations

import hashlib

from tendr.base.errors import FileUnusable, PermissionDenied, UserError
from tendr.core import audit
from tendr.core.authorize import may
from tendr.ops.shell import SESSIONS_DIR
from tendr.workspace.loader import Workspace


class BrokenLog(UserError):
    """The audit log's chain is broken: nothing recorded in it is played."""

    code = "audit.broken"

    def __init__(self, *, verdict: audit.Verdict) -> None:
        self.verdict = verdict
        super().__init__("the audit log's chain is broken: no recording is played from it")


def recording(loaded: Workspace, person: str, record: int) -> bytes:
    """The bytes of the shell session record number `record` links to, as hashed."""
    lines = list(audit.read_lines(loaded.path(loaded.settings.audit_log)))
    if not (verdict := audit.verify(lines)).ok:
        raise BrokenLog(verdict=verdict)
    found = [r for r in audit.records(lines) if r.get("seq") == record]
    after = found[0].get("after") if found else None
    if not isinstance(after, dict) or "recording" not in after:
        raise UserError(f"record {record} is not a finished shell session")
    host = next((h for h in loaded.hosts if h.name == found[0].get("host")), None)
    decision = may(loaded, person, "shell", host) if host is not None else None
    if decision is None or not decision.allowed:
        why = decision.reason if decision is not None else "its host is gone"
        raise PermissionDenied(message=f"permission denied: {why}")
    path = loaded.root / str(after["recording"])
    if not path.resolve().is_relative_to((loaded.root / SESSIONS_DIR).resolve()):
        raise UserError(f"record {record} names a recording outside the sessions folder")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileUnusable(f"cannot read the recording {path}: {exc.strerror}", file=path) from None
    if hashlib.sha256(data).hexdigest() != after.get("recording_sha256"):
        raise FileUnusable(
            f"{path} is not the recording of record {record}: it changed since", file=path
        )
    return data
