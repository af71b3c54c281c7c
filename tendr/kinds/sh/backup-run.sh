#!/bin/sh
# $1 the units' name: start the service and wait for its end; when it fails, its error
# lines from the journal and what they mean (tendr_classify comes before).
unit=$1.service
out=$(systemctl start -- "$unit" 2>&1) && exit 0
printf '%s\n' "$out"
inv=$(systemctl show -p InvocationID --value -- "$unit" 2>/dev/null)
case $inv in
''|*[!0-9a-f]*) errs=$(journalctl --no-pager -q -o cat -p err -n 5 -u "$unit" 2>/dev/null) ;;
*) errs=$(journalctl --no-pager -q -o cat -p err -n 5 "_SYSTEMD_INVOCATION_ID=$inv" 2>/dev/null) ;;
esac
printf '%s\n' "$errs"
status=$(systemctl show -p ExecMainStatus --value -- "$unit" 2>/dev/null)
if [ "$status" = 3 ]; then
    m="restic made the snapshot, but some source files could not be read"
else
    v=$(tendr_classify "${errs:-$out}")
    m=${v#*	}
fi
printf 'tendr: the backup failed: %s\n' "${m:-$out}" >&2
exit 1
