#!/bin/sh
# After lpadmin -m everywhere: CUPS made the queue without a driver (a raw queue) when the
# printer did not answer. $1 the queue, $2 1 when the queue was just made (then removed),
# $3 the folder of the queues' PPDs, $4 how long to wait for the PPD, in tenths of a
# second: cupsd may write the driverless PPD (PCFileName ippeve.ppd, printer.py's
# EVERYWHERE_PPD) a moment after lpadmin returns; it is waited for only when it is not
# there, that is when the printer does not answer.
n=0
while [ "$n" -lt "$4" ]; do
    grep -q '^\*PCFileName: "ippeve.ppd"' -- "$3/$1.ppd" 2>/dev/null && exit 0
    sleep 0.1
    n=$((n + 1))
done
grep -q '^\*PCFileName: "ippeve.ppd"' -- "$3/$1.ppd" 2>/dev/null && exit 0
if [ "$2" = 1 ]; then
    lpadmin -x "$1"
    what="the queue was removed again"
else
    what="the queue has no driver now"
fi
echo "tendr: the printer did not answer while CUPS set up the driverless queue $1, so" \
    "CUPS made it without a driver (it cannot print documents); $what: check that the" \
    "printer is on and reachable from this host, then apply again" >&2
exit 1
