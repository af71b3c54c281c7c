#!/bin/sh
# restic check reading $2 (--read-data-subset=...) of the data, then its time in $1 (the
# check's file), by rename: written only when the check passed. (After
# backup-restic-step.sh, which took the repository's three; make_folders and
# safe_folders come before.)
out=$(r check "$2" 2>&1) || fail "restic check failed" "$out" "$?"
printf '%s\n' "$out"
checked=$1 dir=${1%/*}
make_folders "$dir" && safe_folders "$dir" strict || exit 1
if ! { tmp=$(mktemp -- "$dir/.tendr.XXXXXXXXXX") && date +%s > "$tmp" &&
        chmod 0600 -- "$tmp" && mv -f -T -- "$tmp" "$checked"; }; then
    rm -f -- "$tmp"
    echo "tendr: the check passed, but $checked could not be written" >&2
    exit 1
fi
