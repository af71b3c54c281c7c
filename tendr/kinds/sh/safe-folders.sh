#!/bin/sh
# Root changes a file only where no other account can swap the names it works with
# between two of its commands (a link put there mid-write would turn root's write or
# chmod onto any file): every folder from the file's up to / must be root's and
# writable by no other account, or sticky like /tmp (others cannot rename root's
# entries there). `safe_folders FOLDER strict`: the file's own folder may not be
# sticky either, for a change made to a file in place (its owner could swap it).
safe_folders() {
    d=$1 strict=$2
    while :; do
        if [ -L "$d" ]; then
            echo "tendr: $d is a symbolic link; tendr writes to a path as it is declared" \
                 "(a rule on paths is decided on it), so declare the path through the" \
                 "folder the link points to" >&2
            return 1
        fi
        if [ -d "$d" ]; then
            s=$(stat -L -c '%u %a' -- "$d") || return 1
            u=${s% *} a=${s#* }
            if [ "$u" != 0 ] || { [ $(( 0$a & 18 )) -ne 0 ] &&
                    { [ -n "$strict" ] || [ $(( 0$a & 512 )) -eq 0 ]; }; }; then
                echo "tendr: $d can be changed by an account other than root; tendr does" \
                     "not write there as root (a link put there mid-write could redirect" \
                     "it)" >&2
                return 1
            fi
            strict=
        fi
        [ "$d" = / ] && return 0
        d=${d%/*} && d=${d:-/}
    done
}
