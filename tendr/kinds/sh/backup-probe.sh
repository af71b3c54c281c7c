#!/bin/sh
# The backup probe's functions, in the probe script tendr sends (tendr/kinds/backup/facts.py).
#
# _tb_host TIMEOUT FOLDER...: once per host, whether systemd runs, restic's version, the
# host's clock, the folders; restic is given TIMEOUT seconds to answer from then on.
#
# _tb_job, per job: $1 name, $2 password file ("": the repository is not read), $3 ssh key
# and $4 known_hosts ("" for a local repository), $5 repository, $6 sftp command, $7 the
# check's file, $8 the mount the repository lives on ("": none named). The units' state,
# a failed run's error lines (priority err, of its last invocation), whether the mount
# is one (`mountpoint` exits 0; the repository is not read when not), the repository
# (only with every file restic needs there: the password never leaves tendr in a
# probe): the job's snapshots and restic's repository id (tendr remembers both: a
# repository seen before and missing now is never made anew on a guess), its locks
# where they may matter (each restic run costs a key derivation, about half a second:
# only after a failed run, with no snapshot yet, or a local repository's locks folder
# not empty), and the last check.
_tb_host() {
    _tb_timeout=$1
    shift
    if [ -d /run/systemd/system ]; then echo '@systemd'; else echo '@nosystemd'; fi
    if command -v restic >/dev/null 2>&1; then
        printf '@restic\t%s\n' "$(restic version 2>/dev/null | head -n 1)"
    else printf '@restic\t\n'; fi
    printf '@now\t%s\n' "$(date +%s)"
    for _tb_d do
        if [ -L "$_tb_d" ]; then _tb_s='link'
        elif [ -d "$_tb_d" ]; then
            _tb_s=$(stat --printf '%a\t%U\t%G' -- "$_tb_d" 2>/dev/null) || _tb_s=unreadable
        elif [ -e "$_tb_d" ]; then _tb_s=other
        else _tb_s=absent; fi
        printf '@dir\t%s\t%s\n' "$_tb_d" "$_tb_s"
    done
}
_tb_tag() { while IFS= read -r _tb_l || [ -n "$_tb_l" ]; do printf '%s\t%s\n' "$1" "$_tb_l"; done; }
_tb_restic() {
    _tb_pw=$1 _tb_repo=$2 _tb_cmd=$3; shift 3
    if [ -n "$_tb_cmd" ]; then
        RESTIC_PASSWORD_FILE=$_tb_pw timeout "$_tb_timeout" restic --no-cache --no-lock \
            -r "$_tb_repo" -o "sftp.command=$_tb_cmd" "$@" </dev/null
    else
        RESTIC_PASSWORD_FILE=$_tb_pw timeout "$_tb_timeout" restic --no-cache --no-lock \
            -r "$_tb_repo" "$@" </dev/null
    fi
}
_tb_job() {
    _tb_u=tendr-backup-$1 _tb_f=
    if [ -d /run/systemd/system ]; then
        systemctl show --no-pager -p LoadState,UnitFileState,ActiveState -- "$_tb_u.timer" \
            2>/dev/null | _tb_tag @timer
        _tb_s=$(systemctl show --no-pager \
            -p LoadState,ActiveState,Result,ExecMainStatus,ExecMainExitTimestamp,InvocationID \
            -- "$_tb_u.service" 2>/dev/null)
        printf '%s\n' "$_tb_s" | _tb_tag @service
        case "$_tb_s" in *Result=success*|'') ;; *)
            _tb_f=1
            _tb_i=$(printf '%s\n' "$_tb_s" | sed -n 's/^InvocationID=\([0-9a-f]\{32\}\)$/\1/p')
            if [ -n "$_tb_i" ]; then
                journalctl --no-pager -q -o cat -p err -n 3 "_SYSTEMD_INVOCATION_ID=$_tb_i"
            else
                journalctl --no-pager -q -o cat -p err -n 3 -u "$_tb_u.service"
            fi 2>/dev/null | _tb_tag @error ;;
        esac
    fi
    _tb_m=0
    if [ -n "$8" ]; then
        mountpoint -q -- "$8" 2>/dev/null
        _tb_m=$?
        printf '@mount\t%s\n' "$_tb_m"
    fi
    if [ "$_tb_m" = 0 ] && [ -n "$2" ] && [ -f "$2" ] &&
            { [ -z "$3" ] || { [ -f "$3" ] && [ -f "$4" ]; }; } &&
            command -v restic >/dev/null 2>&1; then
        _tb_o=$(_tb_restic "$2" "$5" "$6" snapshots --json --tag "tendr-$1" \
            --host "$(uname -n)" 2>&1)
        _tb_r=$?
        printf '@repo\t%s\n' "$_tb_r"
        printf '%s\n' "$_tb_o" | head -n 20 | _tb_tag @out
        if [ "$_tb_r" = 0 ]; then
            printf '@id\t%s\n' "$(_tb_restic "$2" "$5" "$6" cat config 2>/dev/null |
                sed -n 's/^ *"id": *"\([0-9a-f]*\)".*/\1/p' | head -n 1)"
        fi
        if [ "$_tb_r" = 0 ] && { [ -n "$_tb_f" ] || [ "$_tb_o" = '[]' ] ||
                { [ -z "$6" ] && [ -n "$(ls -A -- "$5/locks" 2>/dev/null)" ]; }; }; then
            _tb_n=0
            for _tb_id in $(_tb_restic "$2" "$5" "$6" list locks 2>/dev/null); do
                _tb_n=$((_tb_n + 1))
                [ "$_tb_n" -le 3 ] || break
                case $_tb_id in *[!0-9a-f]*) continue ;; esac
                printf '@lock\t%s\n' \
                    "$(_tb_restic "$2" "$5" "$6" cat lock "$_tb_id" 2>/dev/null | tr -d '\n')"
            done
        fi
    else
        printf '@repo\tskipped\n'
    fi
    if [ -f "$7" ] && [ ! -L "$7" ]; then
        printf '@checked\t%s\n' "$(head -c 32 -- "$7" | tr -d '\n')"
    fi
}
