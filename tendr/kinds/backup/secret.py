"""The secrets a job writes (its password, an sftp repository's ssh key), never shown:
by reference, compared by hash, scrubbed from the host's words."""

from __future__ import annotations

from tendr.kinds.backup.spec import BackupSpec
from tendr.kinds.base import SecretRef
from tendr.kinds.kind import Context, Reference

# -- secrets ----------------------------------------------------------------------


def secret_key(ref: SecretRef) -> str:
    """A secret's key in `Context.secrets`. Its value is the file's bytes, or the
    variable's value encoded in UTF-8, as they are: restic ignores white space around a
    password."""
    return ref.key


def secrets(spec: BackupSpec) -> list[SecretRef]:
    """The secrets a job needs in `Context.secrets`, for plan (to compare) and apply (to
    write)."""
    return [spec.password] + ([spec.ssh_key] if spec.ssh_key is not None else [])


def secret_content(ref: SecretRef, context: Context, *, key: bool = False) -> bytes | None:
    """A secret's bytes as tendr writes them on the host (an ssh key ends in a newline,
    or ssh cannot read it); None when plan or apply did not provide it."""
    data = context.secrets.get(secret_key(ref))
    if data is not None and key and not data.endswith(b"\n"):
        data += b"\n"
    return data


def scrub(text: str, spec: BackupSpec, context: Context) -> str:
    """A message from the host with any of the job's secrets in it taken out."""
    for ref in secrets(spec):
        data = context.secrets.get(secret_key(ref))
        value = data.decode("utf-8", "replace").strip() if data else ""
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


def references(spec: BackupSpec) -> list[Reference]:
    found = []
    if spec.password.file is not None:
        found.append(Reference("password.file", spec.password.file, secret=True))
    if spec.ssh_key is not None and spec.ssh_key.file is not None:
        found.append(Reference("ssh_key.file", spec.ssh_key.file, secret=True))
    return found
