#!/bin/sh
# $1 the units' name, then the job's files: the timer and the service stopped and
# gone, the files removed; the repository is not touched.
unit=$1
shift
for u in "$unit.timer" "$unit.service"; do
    [ "$(systemctl show -p LoadState --value -- "$u" 2>/dev/null)" = not-found ] && continue
    systemctl disable --now --quiet -- "$u" 2>/dev/null || systemctl stop -- "$u" || exit 1
done
rm -f -- "$@" || exit 1
systemctl daemon-reload || exit 1
systemctl reset-failed -- "$unit.timer" "$unit.service" 2>/dev/null
exit 0
