#!/bin/sh
# Make the repository, never over one there: one that opens with the password is kept
# (the step succeeds: it is what the state asks; for `tendr do backup.init`, $2 "new",
# it fails: nothing was started over), anything else but "no repository there" fails
# the step with the reason, and so does restic init's own refusal. $1: the mount the
# repository lives on ("": none named), which must be one: never a repository on the
# disk underneath. (After backup-restic-step.sh, which took the repository's three.)
if [ -n "$1" ] && ! mountpoint -q -- "$1"; then
    echo "tendr: restic init was not run: $1 is not mounted" >&2
    exit 1
fi
out=$(r snapshots --no-lock --json --latest 1 2>&1)
rc=$?
if [ "$rc" = 0 ] && [ "$2" = new ]; then
    echo "tendr: restic init was not run: a repository is there and opens (kept as it is)" >&2
    exit 1
elif [ "$rc" = 0 ]; then
    echo "tendr: the repository exists and opens with the password: kept as it is"
    exit 0
fi
case $(tendr_classify "$out") in
missing*) ;;
*) fail "restic init was not run" "$out" "$rc" ;;
esac
out=$(r init 2>&1) || fail "restic init failed" "$out" "$?"
printf '%s\n' "$out"
