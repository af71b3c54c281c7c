"""A job's restore check (`tendr backup check HOST [JOB]`, run by tendr/ops/backup_check.py):
the script that checks a job's repository on the host, and what its output means.

The script runs as root on the host (the password never leaves it): `restic check
--read-data-subset=SUBSET`, the check's time written where a plan reads it (as apply's
backup.check does), then a restore test. Up to SAMPLE files of the job's newest
snapshot from this host, picked at random, are restored with `restic restore --verify`
into a fresh folder (`mktemp -d`, 0700, removed on exit whatever happens), and each
restored file's size, permission bits and modification time are set beside the
snapshot's own record of them (`restic ls --json`) for `verdict` to compare.

Every step prints one line, `@check<TAB>WHAT<TAB>DETAIL`: `passed` (restic check),
`recorded` or `unrecorded` (the check's time), `snapshot` (its JSON), then per file
`node` (its JSON from restic ls) and `restored` (SIZE<TAB>MODE<TAB>MTIME, or
`missing`), and `done` at the end; `fail` with the reason ends it early. A file whose
path restic's JSON escapes, or holds a glob character (* ? [), is not picked: the
shell could not name it exactly.

```python
fact = restore_check(spec)            # the script, its arguments, and `verdict`
argv = check_command(spec)            # the same as a Run's argv, as apply runs steps
passed, reason = verdict(output_lines)
```
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from tendr.kinds.backup.act import MAKE_FOLDERS, RESTIC_FUNCTION
from tendr.kinds.backup.facts import instant, loads
from tendr.kinds.backup.restic import classify, clean, shell_classify
from tendr.kinds.backup.spec import CHECK_SUBSET, BackupSpec, checked_path, restic_args, tag
from tendr.kinds.file import SAFE_FOLDERS
from tendr.kinds.kind import Fact

SAMPLE = 20
"""How many files of the newest snapshot are restored, at most."""
CHECK_TIMEOUT = 600
"""Seconds a check may take at the least: a repository check reads back part of the data."""
LARGEST = 4 * 1024 * 1024
"""The largest file picked to restore, in bytes: the test's folder is in /tmp, and a
huge (or sparse) file in a share must not fill the client's disk or memory."""

# $1 repository, $2 password file, $3 sftp command (""), $4 the check's file, $5 the
# snapshots' tag, $6 how many files to restore, $7 how much of the data restic reads, $8
# the largest file restored (bytes).
_SCRIPT = (
    r"""repo=$1 pw=$2 sftp=$3 checked=$4 tag=$5 sample=$6 subset=$7 max=$8
"""
    + RESTIC_FUNCTION
    + r"""say() { printf '@check\t%s\t%s\n' "$1" "$2"; }
fail() {
    v=$(tendr_classify "$2")
    m=${v#*	}
    say fail "$1: ${m:-it failed with no error output}"
    exit 1
}
command -v restic >/dev/null 2>&1 || { say fail "restic is not installed"; exit 1; }
[ -f "$pw" ] || { say fail "$pw is missing: apply the job first"; exit 1; }
out=$(r check --read-data-subset="$subset" 2>&1) || fail "restic check failed" "$out"
say passed "restic check --read-data-subset=$subset found no errors"
dir=${checked%/*}
if make_folders "$dir" && safe_folders "$dir" strict &&
        tmp=$(mktemp -- "$dir/.tendr.XXXXXXXXXX") && date +%s > "$tmp" &&
        chmod 0600 -- "$tmp" && mv -f -T -- "$tmp" "$checked"; then
    say recorded "$checked"
else
    [ -z "${tmp:-}" ] || rm -f -- "$tmp"
    say unrecorded "$checked could not be written"
fi
work=$(mktemp -d) || { say fail "no temporary folder could be made"; exit 1; }
trap 'rm -rf -- "$work"' EXIT
trap 'exit 1' HUP INT TERM
chmod 0700 -- "$work"
host=$(uname -n)
r ls --json latest --tag "$tag" --host "$host" > "$work/ls" 2> "$work/err" ||
    fail "restic ls failed" "$(cat -- "$work/err")"
line=$(head -n 1 -- "$work/ls")
case $line in *'"struct_type":"snapshot"'*) ;; *)
    say fail "no snapshot of this job from $host to restore from"; exit 1 ;;
esac
say snapshot "$line"
id=$(printf '%s\n' "$line" | sed -n 's/.*"id":"\([0-9a-f]\{64\}\)".*/\1/p')
[ -n "$id" ] || { say fail "restic ls named no snapshot id"; exit 1; }
awk -v n="$sample" -v seed="$$" -v max="$max" 'BEGIN { srand(seed) }
    /"type":"file"/ && /"struct_type":"node"/ {
        s = 0
        if (match($0, /"size":[0-9]+/)) s = substr($0, RSTART + 7, RLENGTH - 7) + 0
        if (s > max || !match($0, /"path":"[^"\\*?[]*"/)) next
        i++
        if (i <= n) pick[i] = $0
        else { j = int(rand() * i) + 1; if (j <= n) pick[j] = $0 }
    }
    END { for (k = 1; k <= i && k <= n; k++) print pick[k] }' "$work/ls" > "$work/sample"
set --
picked=0
while IFS= read -r line; do
    picked=$((picked + 1))
    set -- "$@" --include "$(printf '%s\n' "$line" | sed 's/.*"path":"\([^"]*\)".*/\1/')"
done < "$work/sample"
if [ "$#" -gt 0 ]; then
    out=$(r restore "$id" --target "$work/r" --verify "$@" 2>&1) ||
        fail "restic restore failed" "$out"
fi
while IFS= read -r line; do
    say node "$line"
    f=$work/r$(printf '%s\n' "$line" | sed 's/.*"path":"\([^"]*\)".*/\1/')
    if [ -f "$f" ] && [ ! -L "$f" ]; then
        say restored "$(stat -c '%s	%a	%Y' -- "$f")"
    else
        say restored missing
    fi
done < "$work/sample"
say done "$picked"
"""
)

SCRIPT = SAFE_FOLDERS + MAKE_FOLDERS + shell_classify() + _SCRIPT
"""The whole script, as `sh -c SCRIPT sh ARGS...` runs it."""


def restore_check(
    spec: BackupSpec, sample: int = SAMPLE, subset: str = CHECK_SUBSET
) -> Fact[tuple[bool, str]]:
    """What checks `spec`'s repository on its host, as root (every value an argument of
    its own, never part of the script), and `verdict` reading what it printed."""
    args = (*restic_args(spec), checked_path(spec), tag(spec), str(sample), subset, str(LARGEST))
    return Fact(SCRIPT, verdict, args, errors=True, timeout=CHECK_TIMEOUT)


def check_command(
    spec: BackupSpec, sample: int = SAMPLE, subset: str = CHECK_SUBSET
) -> tuple[str, ...]:
    """The same as an argv: `sh -c SCRIPT sh ARGS...`."""
    return ("sh", "-c", SCRIPT, "sh", *restore_check(spec, sample, subset).args)


def shell_command(spec: BackupSpec, sample: int = SAMPLE, subset: str = CHECK_SUBSET) -> str:
    """The same, as one shell command line."""
    return shlex.join(check_command(spec, sample, subset))


def _json(text: str) -> dict[str, Any] | None:
    found = loads(text)
    return found if isinstance(found, dict) else None


def _mismatch(node: dict[str, Any], restored: str) -> str:
    """How a restored file differs from the snapshot's record of it ("" when it does
    not): its size, its permission bits, its modification time (whole seconds)."""
    path = clean(str(node.get("path", "?")), 200)
    if restored == "missing":
        return f"{path} was not restored"
    parts = restored.split("\t")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return f"{path}: its restored metadata could not be read"
    size, mode, mtime = int(parts[0]), int(parts[1], 8), int(parts[2])
    wanted_mode = node.get("mode")
    wanted_mtime = instant(node.get("mtime"))
    if node.get("size", 0) != size:
        return f"{path} was restored with {size} bytes, the snapshot has {node.get('size', 0)}"
    if not isinstance(wanted_mode, int) or wanted_mode & 0o777 != mode & 0o777:
        return f"{path} was restored with mode {mode & 0o777:04o}, not the snapshot's"
    if wanted_mtime is None or wanted_mtime != mtime:
        return f"{path} was restored with another modification time than the snapshot's"
    return ""


def verdict(lines: Sequence[str]) -> tuple[bool, str]:
    """The script's output -> (passed, why), in one line. Anything it did not say, or
    said in a form it never prints, fails: a check is passed only when it says so."""
    steps = [line.split("\t", 2) for line in lines if line.startswith("@check\t")]
    found: dict[str, list[str]] = {}
    pairs: list[tuple[str, str]] = []
    node = ""
    for parts in steps:
        what, detail = parts[1], parts[2] if len(parts) > 2 else ""
        found.setdefault(what, []).append(detail)
        if what == "node":
            node = detail
        elif what == "restored":
            pairs.append((node, detail))
    if "fail" in found:
        return False, clean(found["fail"][0])
    if "passed" not in found:
        rest = [line for line in lines if line.strip() and not line.startswith("@check\t")]
        return False, "the check did not run: " + (
            classify(rest).message if rest else "the host said nothing"
        )
    if "done" not in found:
        return False, "the check did not finish (cut off before its restore test ended)"
    snapshot = _json(found.get("snapshot", ["{}"])[0]) or {}
    for node_text, restored in pairs:
        record = _json(node_text)
        if record is None:
            return False, "restic's record of a restored file could not be read"
        if problem := _mismatch(record, restored):
            return False, problem
    when = clean(str(snapshot.get("time", "?")), 40)
    short = clean(str(snapshot.get("short_id", "?")), 16)
    restored_text = (
        f"{len(pairs)} file(s) of snapshot {short} ({when}) restored with their size, mode "
        "and modification time"
        if pairs
        else f"snapshot {short} ({when}) holds no file tendr could pick to restore"
    )
    recorded = "" if "recorded" in found else "; its time could not be recorded on the host"
    return True, f"{found['passed'][0]}; {restored_text}{recorded}"
