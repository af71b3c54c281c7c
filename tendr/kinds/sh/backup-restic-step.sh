#!/bin/sh
# The start of the steps that run restic (init, check): $1 repository, $2 password file,
# $3 sftp command ("" for a local repository), then the step's own arguments; `r` runs
# restic on it (backup-restic.sh); `fail WHAT OUTPUT STATUS` says what failed and why, in
# one line (tendr_classify, made from tendr/kinds/backup/restic.py's RULES, comes before).
# shellcheck disable=SC2034  # read by r()
repo=$1 pw=$2 sftp=$3
shift 3
fail() {
    printf '%s\n' "$2"
    v=$(tendr_classify "$2")
    m=${v#*	}
    [ -n "$m" ] || m="restic failed (exit status $3) with no error output"
    printf 'tendr: %s: %s\n' "$1" "$m" >&2
    exit 1
}
