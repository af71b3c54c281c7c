#!/bin/sh
# make_folders FOLDER...: each made root's and 0700 where missing (the folders above
# it: 0755), in folders only root can change (safe_folders comes before).
make_folders() {
    # Not d, s, u, a or strict: safe_folders sets those.
    for mf_dir in "$@"; do
        mf_up=${mf_dir%/*}
        mf_up=${mf_up:-/}
        [ -d "$mf_up" ] || (umask 022 && mkdir -p -- "$mf_up") || return 1
        safe_folders "$mf_up" "" || return 1
        if [ -L "$mf_dir" ] || { [ -e "$mf_dir" ] && [ ! -d "$mf_dir" ]; }; then
            echo "tendr: $mf_dir is not a folder; tendr does not replace it" >&2
            return 1
        fi
        [ -d "$mf_dir" ] || mkdir -m 0700 -- "$mf_dir" || return 1
        chown root:root -- "$mf_dir" && chmod 0700 -- "$mf_dir" || return 1
    done
}
