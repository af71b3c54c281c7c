"""`tendr do backup.init JOB`: a new, empty repository started over deliberately, made on
each host's job as a state declares it, once confirmed."""

from __future__ import annotations

from dataclasses import replace

from tendr.base.changes import Change, FieldChange
from tendr.base.errors import UserError
from tendr.kinds.backup.act import NEW
from tendr.kinds.backup.memory import held, seen
from tendr.kinds.backup.spec import BackupSpec, job_name, mask_credentials
from tendr.kinds.base import ResourceSpec
from tendr.kinds.kind import Context, OnDemand


def _init(resource: str) -> tuple[ResourceSpec, tuple[FieldChange, ...]]:
    # A stand-in with the job's kind and name: the job itself is the one a state declares
    # for each host, with its repository and password.
    try:
        name = job_name(resource)
    except ValueError as exc:
        raise UserError(f"backup.init {resource!r}: {exc}") from None
    spec = BackupSpec.model_construct(name=name)  # type: ignore[call-arg]
    return spec, (FieldChange("repository", None, NEW),)


def _started_over(spec: BackupSpec, change: Change, context: Context) -> tuple[Change, str]:
    """backup.init with what plans saw there before as its `before`, for the question and
    the audit record; and the question's line."""
    before = seen(spec, context)
    said = "never seen by tendr"
    if before is not None:
        said = f"seen before, restic id {str(before.get('id'))[:10]}: {held(before)}"
    line = (
        f"backup {spec.name}: a new, empty repository at "
        f"{mask_credentials(spec.repository)} (the one there was "
        f"{said}); restic init refuses where a repository is found"
    )
    return replace(change, fields=(FieldChange("repository", said, NEW),)), line


ON_DEMAND = {"backup.init": OnDemand(_init, confirm=_started_over)}
