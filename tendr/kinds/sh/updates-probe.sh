#!/bin/sh
# The updates probe (tendr/kinds/updates.py), run in the C locale: tendr_updates REFRESH.
#
# Refreshes apt's package lists when tendr's last refresh (the stamp's time) is REFRESH
# seconds old or older (@refreshed, or @refreshfailed<TAB>apt's last error line), then
# prints the host's clock ("@now EPOCH DAY HH:MM", local time), the held packages
# ("H<TAB>NAME"), apt's simulated full upgrade (its "Inst" and "Remv" lines, or
# "@failed<TAB>apt's error"), and "@reboot" with "P<TAB>PACKAGE" lines where the host
# says it needs a reboot (/var/run/reboot-required and its .pkgs), and "U<TAB>SHA-256" of
# tendr's unattended-upgrades file where there is one.
tendr_updates() {
    if ! command -v apt-get >/dev/null 2>&1; then echo '@noapt'; return 0; fi
    stamp=/var/lib/tendr/apt-lists-refreshed
    last=$(stat -c %Y "$stamp" 2>/dev/null) || last=0
    if [ $(($(date +%s) - last)) -ge "$1" ]; then
        if out=$(timeout 300 apt-get -q update 2>&1); then
            mkdir -p /var/lib/tendr && touch "$stamp" && echo '@refreshed'
        else
            printf '@refreshfailed\t%s\n' "$(printf '%s\n' "$out" | grep -E '^(E|W):' | tail -n 1)"
        fi
    fi
    date '+@now %s %a %H:%M'
    apt-mark showhold 2>/dev/null | awk '{ printf "H\t%s\n", $0 }'
    if sim=$(apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>&1); then
        printf '%s\n' "$sim" | grep -E '^(Inst|Remv) '
    else
        printf '@failed\t%s\n' "$(printf '%s\n' "$sim" | grep -E '^E:' | head -n 1)"
    fi
    if [ -e /var/run/reboot-required ]; then
        echo '@reboot'
        awk '{ printf "P\t%s\n", $0 }' /var/run/reboot-required.pkgs 2>/dev/null
    fi
    f=/etc/apt/apt.conf.d/52tendr-unattended
    if [ -f "$f" ] && [ ! -L "$f" ]; then
        printf 'U\t%s\n' "$(sha256sum < "$f" | cut -c1-64)"
    fi
    return 0
}
