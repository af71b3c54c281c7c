#!/bin/sh
# Writes CONTENT (base64 on standard input) to $1 as one root command, $2 its mode, $3 its
# owner, $4 its group ("": kept from the file it replaces, else 0644 and root's); after
# safe_folders (tendr/kinds/sh/safe-folders.sh). See tendr/ops/execute.py.
set -eu
path=$1 mode=$2 owner=$3 group=$4
dir=${path%/*}
dir=${dir:-/}
tmp=
trap 'rm -f -- ${tmp:+"$tmp"}; cat > /dev/null' EXIT
safe_folders "$dir" ""
[ -d "$dir" ] || (umask 022 && mkdir -p -- "$dir")
tmp=$(mktemp -- "$dir/.tendr.XXXXXXXXXX")
base64 -d > "$tmp"
if [ -f "$path" ] && [ ! -L "$path" ]; then
    [ -n "$owner" ] || chown --reference="$path" -- "$tmp"
    [ -n "$group" ] || chgrp --reference="$path" -- "$tmp"
    [ -n "$mode" ] || chmod --reference="$path" -- "$tmp"
elif [ -z "$mode" ]; then
    chmod 0644 -- "$tmp"
fi
[ -z "$owner" ] || chown -- "$owner" "$tmp"
[ -z "$group" ] || chgrp -- "$group" "$tmp"
[ -z "$mode" ] || chmod -- "$mode" "$tmp"
mv -f -T -- "$tmp" "$path"
trap - EXIT
