"""The file kind: a regular file's content, mode, owner and group; or its absence."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from pydantic import model_validator

from tendr.base.changes import Change, FieldChange, Put, Run, Step, Unreadable, content_value
from tendr.base.names import AbsolutePath, AccountName, FileMode, WorkspacePath
from tendr.base.scripts import script
from tendr.kinds.base import ResourceSpec
from tendr.kinds.kind import Context, Kind, Reference, unknown


class FileSpec(ResourceSpec):
    """A file on the host.

    ```toml
    [[file]]
    path = "/etc/motd"
    content = "Managed by Example IT. Call 555-0100 for help.\\n"
    mode = "0644"
    owner = "root"
    group = "root"

    [[file]]
    path = "/etc/issue.net"
    source = "files/issue.net"     # a file in the workspace, relative to its root

    [[file]]
    path = "/etc/cron.d/old-job"
    present = false
    ```
    """

    kind: ClassVar[str] = "file"
    identity: ClassVar[str] = "path"

    path: AbsolutePath
    """Where the file is on the host: an absolute, normal path."""
    content: str | None = None
    """The file's whole content. Give content or source, not both; neither: the content
    is left alone."""
    source: WorkspacePath | None = None
    """A file in the workspace, relative to its root, whose bytes become the content."""
    mode: FileMode | None = None
    """Permission bits as an octal string, such as "0644". Unset: left alone (0644 for a
    new file)."""
    owner: AccountName | None = None
    """The owning account. Unset: left alone (root for a new file)."""
    group: AccountName | None = None
    """The owning group. Unset: left alone (root for a new file)."""
    present: bool = True
    """true: the file exists as declared; false: it is removed (then nothing else)."""

    @model_validator(mode="after")
    def _one_content(self) -> FileSpec:
        if self.content is not None and self.source is not None:
            raise ValueError("give either 'content' or 'source', not both")
        if not self.present and any(
            v is not None for v in (self.content, self.source, self.mode, self.owner, self.group)
        ):
            raise ValueError("a file with present = false takes no content, source, mode or owner")
        return self


# -- facts, diff and steps -------------------------------------------------------


@dataclass(frozen=True)
class FileActual:
    """A path on the host: its type, and for a regular file its metadata and hash."""

    type: str  # "file", "absent", "link", "other", "unreadable"
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    size: int | None = None
    sha256: str | None = None
    existing: str | None = None  # when absent: the deepest folder above it that exists
    # Where the path leads with its folders' links resolved (the file kind reads it;
    # "" where not read), and whether every folder above it lets any account through
    # (o+x): only then may a plan show a hash of it (see `shown`).
    real: str = ""
    searchable: bool = True
    # The mount point, named in /etc/fstab and not mounted now, that the path lies
    # under: what is (or is not) there cannot be seen.
    unmounted: str = ""


# One line per path: "<type>", "absent<TAB>DEEPEST EXISTING FOLDER ABOVE" or
# "file<TAB>MODE<TAB>OWNER<TAB>GROUP<TAB>SIZE<TAB>SHA256" (tabs, since account names
# from a directory service may hold spaces). Only metadata and a hash leave the host,
# never the content.
_STAT = (
    'if [ -L "$f" ]; then echo link; elif [ -f "$f" ]; then '
    'if h=$(sha256sum < "$f" 2>/dev/null); then '
    'printf \'file\\t%s\\t%s\\n\' "$(stat -c \'%a\t%U\t%G\t%s\' -- "$f")" "${h%% *}"; '
    "else echo unreadable; fi; "
    'elif [ -e "$f" ]; then echo other; else d=${f%/*}; '
    'while [ -n "$d" ] && [ ! -d "$d" ]; do d=${d%/*}; done; '
    "printf 'absent\\t%s\\n' \"${d:-/}\"; fi"
)


def probe_paths(paths: Sequence[str]) -> str:
    """The shell snippet printing one FileActual line per path, in order."""
    return "; ".join(f"f={shlex.quote(path)}; {_STAT}" for path in paths)


def parse_line(line: str) -> FileActual:
    """One probe line; anything malformed counts as unreadable, never as a guess."""
    parts = line.split("\t")
    if parts[0] in ("link", "other", "unreadable") and len(parts) == 1:
        return FileActual(type=parts[0])
    if parts[0] == "absent" and len(parts) == 2 and parts[1].startswith("/"):
        return FileActual(type="absent", existing=parts[1])
    if parts == ["absent"]:  # where the folders above are not known
        return FileActual(type="absent")
    if parts[0] != "file" or len(parts) != 6 or not parts[4].isdigit():
        return FileActual(type="unreadable")
    _, mode, owner, group, size, sha = parts
    return FileActual("file", mode, owner, group, int(size), sha)


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _folders(specs: Sequence[FileSpec]) -> list[str]:
    return sorted({_folder(spec.path) for spec in specs})


# The folders' real paths (`readlink -m`: links resolved, missing parts kept), in the
# order given; then the mode of every folder on the way to each, once (one stat for all,
# so ten thousand files cost no more processes than one).
_REAL = (
    "echo '@real'; readlink -m -- {folders}; echo '@folders'; "
    'readlink -m -- {folders} | awk \'{{p=$0; while (p != "") {{print p; '
    'sub(/\\/[^\\/]*$/, "", p)}}; print "/"}}\' | sort -u '
    "| xargs -d '\\n' -r stat -L --printf '%a %n\\n' -- 2>/dev/null"
)

# The file systems /etc/fstab names that are not mounted now (a backup disk, a share):
# a path under one is not there to be seen, and writing it would fill the disk below.
_UNMOUNTED = (
    "echo '@unmounted'; [ ! -r /etc/fstab ] || "
    "awk '$1 !~ /^#/ && $2 ~ /^\\/./ && $3 != \"swap\" {print $2}' /etc/fstab "
    '| while IFS= read -r m; do mountpoint -q -- "$m" 2>/dev/null || printf \'%s\\n\' "$m"; done'
)


def probe(specs: Sequence[FileSpec]) -> str:
    folders = " ".join(shlex.quote(f) for f in _folders(specs))
    return "; ".join(
        [probe_paths([spec.path for spec in specs]), _REAL.format(folders=folders), _UNMOUNTED]
    )


def parse(specs: Sequence[FileSpec], lines: list[str]) -> dict[str, Any]:
    end = lines.index("@real") if "@real" in lines else len(lines)
    padded = lines[:end] + ["unreadable"] * (len(specs) - end)
    found = {spec.key: parse_line(line) for spec, line in zip(specs, padded, strict=False)}
    cut = lines.index("@unmounted") if "@unmounted" in lines else len(lines)
    reals, modes = _real_folders(_folders(specs), lines[end + 1 : cut])
    unmounted = [m.rstrip("/") + "/" for m in lines[cut + 1 :] if m.startswith("/")]
    for spec in specs:
        real_folder = reals.get(_folder(spec.path))
        if real_folder is None:  # not read: a link's target that held a newline, say
            found[spec.key] = FileActual("unreadable")
            continue
        real = f"{real_folder.rstrip('/')}/{spec.path.rsplit('/', 1)[1]}"
        away = [m for m in unmounted if real.startswith(m) or spec.path.startswith(m)]
        found[spec.key] = replace(
            found[spec.key],
            real=real,
            searchable=_searchable(real_folder, modes),
            unmounted=max(away, key=len).rstrip("/") if away else "",
        )
    return found


def _real_folders(folders: list[str], lines: list[str]) -> tuple[dict[str, str], dict[str, int]]:
    """The probe's `@real` and `@folders` lines -> each folder's real path, and the
    mode of each folder on the way (a folder not there yet is made 0755)."""
    split = lines.index("@folders") if "@folders" in lines else len(lines)
    real = lines[:split]
    if len(real) != len(folders) or not all(r.startswith("/") for r in real):
        return {}, {}
    modes: dict[str, int] = {}
    for line in lines[split + 1 :]:
        mode, _, path = line.partition(" ")
        if mode.isdigit():
            modes[path] = int(mode, 8)
    return dict(zip(folders, real, strict=True)), modes


def _searchable(folder: str, modes: dict[str, int]) -> bool:
    """Whether any account may pass every folder from / to `folder` (o+x)."""
    parts = folder.strip("/").split("/") if folder != "/" else []
    chain = ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
    return all(modes.get(f, 0o755) & 0o001 for f in chain)


def names(spec: FileSpec, actual: FileActual) -> tuple[str, ...]:
    """The file as the host has it: the path with its folders' links resolved, on which
    the rules decide (a rule on /etc/cups/** says nothing of /etc/sudoers.d)."""
    return (actual.real or spec.path,)


def same_mode(a: str | None, b: str | None) -> bool:
    return a is None or b is None or int(a, 8) == int(b, 8)


def _octal(mode: str | None) -> str:
    return f"{int(mode or '0', 8):04o}"


def world_readable(mode: str | None) -> bool:
    """Whether a file of this mode is readable by every account on the host (o+r): only
    then does a plan show its content's size and hash."""
    return mode is not None and int(mode, 8) & 0o004 != 0


def wanted_content(data: bytes, mode: str | None, searchable: bool = True) -> dict[str, Any]:
    """The content tendr would write, as the plan shows it: never the bytes themselves,
    and the size and hash only when the file is to be readable by every account (its
    mode, and the folders above it: a 0644 file inside the 0700 /root is root's alone)."""
    shown = world_readable(mode) and searchable
    return content_value(len(data), hashlib.sha256(data).hexdigest(), shown)


def content_of(spec: FileSpec, context: Context) -> bytes | None:
    if spec.content is not None:
        return spec.content.encode()
    if spec.source is not None:
        return context.sources[spec.source]
    return None


def diff(spec: FileSpec, actual: FileActual, context: Context) -> list[Change]:
    if actual.type == "unreadable":
        return unknown(spec, Unreadable(f"{spec.path} exists but cannot be read"))
    if actual.type == "other":
        return unknown(
            spec,
            Unreadable(
                f"{spec.path} is a directory or a special file: tendr manages regular files "
                "only and leaves it alone; move it away by hand"
            ),
        )
    if actual.unmounted:
        return unknown(
            spec,
            Unreadable(
                f"{spec.path} is on {actual.unmounted}, which /etc/fstab names and which is "
                "not mounted: what is there cannot be seen, and tendr writes nothing there "
                f"(it would land on the disk below); mount it (mount {actual.unmounted})"
            ),
        )
    if not spec.present:
        if actual.type == "absent":
            return []
        return [
            Change(
                kind="file",
                resource=spec.path,
                op="file.remove",
                action="remove",
                fields=(FieldChange("exists", True, False),),
            )
        ]
    changes = diff_file(
        spec.path,
        content_of(spec, context),
        spec.mode,
        spec.owner,
        spec.group,
        actual,
        op="file.write",
        kind="file",
    )
    if actual.real and actual.real != spec.path:
        # Root never writes through a linked folder (see SAFE_FOLDERS): say so now.
        note = (
            f"the path leads through a symbolic link to {actual.real}: tendr writes through "
            f"no link, so apply fails here; declare {actual.real}"
        )
        changes = [replace(c, note=note) for c in changes]
    return changes


def diff_file(
    path: str,
    data: bytes | None,
    mode: str | None,
    owner: str | None,
    group: str | None,
    actual: FileActual,
    *,
    op: str,
    kind: str,
) -> list[Change]:
    """The change making `path` a regular file with these attributes; shared with the
    service kind for unit files and drop-ins."""
    wanted_hash = hashlib.sha256(data).hexdigest() if data is not None else None
    if actual.type != "file":
        # A new file gets the mode given, else 0644 (see execute.PUT_SCRIPT).
        after = {
            "content": (
                wanted_content(data, mode or "0644", actual.searchable)
                if data is not None
                else "(empty)"
            ),
            "mode": mode,
            "owner": owner,
            "group": group,
        }
        note = {
            "absent": _new_folders(path, actual.existing),
            "link": "replaces the symbolic link there (its target is left alone)",
        }.get(actual.type, f"replaces the {actual.type} there")
        return [
            Change(
                kind=kind,
                resource=path,
                op=op,
                action="add",
                note=note,
                fields=tuple(FieldChange(k, None, v) for k, v in after.items() if v),
            )
        ]
    fields: list[FieldChange] = []
    if wanted_hash is not None and wanted_hash != actual.sha256:
        assert data is not None
        # New content keeps the file's mode unless one is given (see execute.PUT_SCRIPT).
        shown = world_readable(actual.mode) and actual.searchable
        before = content_value(actual.size, actual.sha256, shown)
        after = wanted_content(data, mode or actual.mode, actual.searchable)
        fields.append(FieldChange("content", before, after))
    if not same_mode(mode, actual.mode):
        fields.append(FieldChange("mode", _octal(actual.mode), _octal(mode)))
    for name, want, have in (("owner", owner, actual.owner), ("group", group, actual.group)):
        if want is not None and want != have:
            fields.append(FieldChange(name, have, want))
    if not fields:
        return []
    return [Change(kind=kind, resource=path, op=op, action="change", fields=tuple(fields))]


def _new_folders(path: str, existing: str | None) -> str:
    """The plan's word on the folders a new file needs: made root's, never its owner's."""
    if existing is None:
        return ""
    parent = path.rsplit("/", 1)[0] or "/"
    if parent == existing:
        return ""
    base = existing.rstrip("/")
    tail = parent[len(base) + 1 :].split("/")
    folders = ["/".join([base, *tail[: i + 1]]) for i in range(len(tail))]
    return f"creates folder(s) {', '.join(folders)} (root, 0755)"


def steps(spec: FileSpec, change: Change, context: Context) -> list[Step]:
    if change.op == "file.remove":
        return [Run(("rm", "-f", "--", spec.path), f"remove {spec.path}")]
    content = content_of(spec, context)
    if change.action == "add":
        # Not a regular file yet: written whole (empty when no content is given) and
        # renamed over whatever is there, so nothing is written through a link.
        return [Put(spec.path, content or b"", spec.mode, spec.owner, spec.group)]
    if content is not None and "content" in {f.name for f in change.fields}:
        return [Put(spec.path, content, spec.mode, spec.owner, spec.group)]
    return attribute_steps(spec.path, spec.mode, spec.owner, spec.group)


# `safe_folders FOLDER [strict]`: whether root may change a file in FOLDER, every folder
# up to / root's and writable by no other account (tendr/kinds/sh/safe-folders.sh).
SAFE_FOLDERS = script("tendr.kinds", "safe-folders")

# Mode and ownership of a file that is still a regular file, in folders no other account
# can change: $1 the file, $2 OWNER[:GROUP] ("": left alone), $3 the mode ("": left alone).
_ATTRIBUTES = SAFE_FOLDERS + script("tendr.kinds", "file-attributes")


def attribute_steps(
    path: str, mode: str | None, owner: str | None, group: str | None
) -> list[Step]:
    """Set mode and ownership without touching the content, in one command."""
    owners = f"{owner or ''}:{group or ''}".rstrip(":") if owner or group else ""
    if not owners and not mode:
        return []
    return [Run(("sh", "-c", _ATTRIBUTES, "sh", path, owners, mode or ""))]


def references(spec: FileSpec) -> list[Reference]:
    return [Reference("source", spec.source)] if spec.source is not None else []


KIND: Kind[FileSpec] = Kind(
    "file",
    FileSpec,
    probe,
    parse,
    diff,
    steps,
    references,
    title="Files",
    verbs=("write", "remove"),
    names=names,
)
