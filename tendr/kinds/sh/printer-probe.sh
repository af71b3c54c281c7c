#!/bin/sh
# The printer probe's first part (tendr/kinds/printer.py's probe sets tendr_ppd, the
# folder of the queues' PPDs, and tendr_printers_conf, CUPS's printers.conf, before it):
# whether CUPS is there (@cups, @nocups, @stopped), then how one queue is read,
# tendr_printer_queue ($1 its name as declared, $2 the same in lower case, CUPS's
# comparison; $3 the options to read from the PPD, as KEY|KEY): by cupsd while it runs;
# else from printers.conf and the PPDs, so a queue is never taken for missing only because
# the scheduler is stopped. N is the queue's name on the host. tendr_printer_models MODEL...
# lists the models lpinfo offers of those asked (only while cupsd runs).
# shellcheck disable=SC2154
if ! command -v lpstat >/dev/null 2>&1 || ! command -v lpadmin >/dev/null 2>&1; then
    echo '@nocups'
    tendr_printer_queue() { :; }
    tendr_printer_models() { :; }
elif [ "$(lpstat -r 2>/dev/null)" != "scheduler is running" ]; then
    echo '@stopped'
    [ -e "$tendr_printers_conf" ] && [ ! -r "$tendr_printers_conf" ] && echo 'U'
    # printers.conf: <Printer NAME> or <DefaultPrinter NAME>, then KEY VALUE lines. A PPD
    # with no queue in printers.conf (cupsd ended before it wrote the file): G.
    tendr_printer_queue() {
        b=$(awk -v want="$2" '/^<(Default)?Printer [^>]*>$/ {
    n = substr($2, 1, length($2) - 1); on = tolower(n) == want
    if (on) { print "N\t" n; if ($1 == "<DefaultPrinter") print "Y\tdefault" }
    next
}
/^<\/(Default)?Printer>/ { on = 0; next }
on && $1 ~ /^(DeviceURI|State|Accepting|Shared|Info|Location)$/ {
    v = $0; sub(/^[^ ]* ?/, "", v); print "C\t" $1 "\t" v
}' "$tendr_printers_conf" 2>/dev/null)
        r=$(printf '%s\n' "$b" | sed -n 's/^N\t//p')
        [ -n "$b" ] && printf '%s\n' "$b"
        if [ -z "$r" ]; then
            for f in "$tendr_ppd"/*.ppd; do
                n=${f##*/}; n=${n%.ppd}
                [ "$(printf '%s' "$n" | tr '[:upper:]' '[:lower:]')" = "$2" ] &&
                    printf 'G\t%s\n' "$n" && r=$n
            done
        fi
        [ -n "$r" ] && [ -f "$tendr_ppd/$r.ppd" ] && grep -E '^\*(PCFileName|NickName):' \
            -- "$tendr_ppd/$r.ppd" | head -n 2 | sed 's/^\*/F\t/'
    }
    tendr_printer_models() { :; }
else
    echo '@cups'
    printf 'D\t%s\n' "$(lpstat -d 2>/dev/null)"
    tendr_printer_queue() {
        v=$(lpstat -v "$1" 2>/dev/null) || return 0
        r=${v#device for }; r=${r%%: *}
        printf 'N\t%s\nV\t%s\n' "$r" "${v#*: }"
        printf 'O\t%s\n' "$(lpoptions -p "$r" 2>/dev/null)"
        [ -f "$tendr_ppd/$r.ppd" ] && grep -E '^\*(PCFileName|NickName):' -- "$tendr_ppd/$r.ppd" |
            head -n 2 | sed 's/^\*/F\t/'
        [ -n "$3" ] && lpoptions -p "$r" -l 2>/dev/null | grep -E "^($3)/" | sed 's/^/K\t/'
        printf 'J\t%s\n' "$(lpstat -o "$r" 2>/dev/null | wc -l)"
        lpstat -o "$r" 2>/dev/null | head -n 1 | sed 's/^/W\t/'
    }
    # Each model as a line of lpinfo -m begins: "MODEL DESCRIPTION".
    tendr_printer_models() {
        for m do set -- "$@" -e "$m "; shift; done
        lpinfo -m 2>/dev/null | grep -F "$@" | sed 's/^/M\t/'
    }
fi
