#!/bin/sh
# Mode and ownership of a file that is still a regular file (not a link put there
# since the plan: chmod would follow it), in folders no other account can change
# (safe_folders comes before). $1 the file, $2 OWNER[:GROUP] or :GROUP ("": left
# alone), $3 the mode ("": left alone).
dir=${1%/*}
safe_folders "${dir:-/}" strict || exit 1
if ! [ -f "$1" ] || [ -L "$1" ]; then
    echo "$1 is no longer a regular file; plan again" >&2
    exit 1
fi
# Each must succeed: a chown that failed is not made good by a chmod that did not.
if [ -n "$2" ]; then chown -h -- "$2" "$1" || exit 1; fi
if [ -n "$3" ]; then chmod -- "$3" "$1" || exit 1; fi
