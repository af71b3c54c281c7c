#!/bin/sh
# r ARGS: restic on the repository $repo with the password file $pw, over the sftp command
# $sftp when there is one ("": a local repository); nothing read from stdin. The script it
# goes in sets the three (tendr/kinds/backup/act.py and tendr/ops/backup_check.py).
# shellcheck disable=SC2154
r() {
    if [ -n "$sftp" ]; then
        RESTIC_PASSWORD_FILE=$pw restic --no-cache -r "$repo" -o "sftp.command=$sftp" "$@" \
            </dev/null
    else
        RESTIC_PASSWORD_FILE=$pw restic --no-cache -r "$repo" "$@" </dev/null
    fi
}
