#!/bin/sh
# Sets each option ($2...: KEY=VALUE), as the PPD's when the PPD has it, else as an IPP
# default (KEY-default), then reads every one back: CUPS drops what the printer or its
# driver does not offer without a word. $1 is the queue.
p=$1; shift
for kv in "$@"; do
    k=${kv%%=*} v=${kv#*=}
    if lpoptions -p "$p" -l 2>/dev/null | grep -q "^$k/"; then lpadmin -p "$p" -o "$k=$v" || exit 1
    else lpadmin -p "$p" -o "$k-default=$v" || exit 1; fi
done
bad='' opts=" $(lpoptions -p "$p" 2>/dev/null) "
for kv in "$@"; do
    k=${kv%%=*} v=${kv#*=}
    line=$(lpoptions -p "$p" -l 2>/dev/null | grep "^$k/")
    if [ -n "$line" ]; then
        case " ${line#*: } " in *" *$v "*) continue ;; esac
        now=$(printf '%s\n' "${line#*: }" | tr ' ' '\n' | sed -n 's/^\*//p')
    else
        case "$opts" in *" $k=$v "*) continue ;; esac
        now=$(printf '%s\n' "$opts" | tr ' ' '\n' | sed -n "s/^$k=//p")
    fi
    echo "tendr: CUPS did not take $k=$v for $p (it has ${now:-no value}):" \
         "the printer or its driver does not offer it" >&2
    bad=1
done
[ -z "$bad" ]
