#!/bin/sh
# The module probe's first part (tendr/kinds/module.py): whether this host's kernel
# loads modules (@loadable), and two functions for each module, between which the probe
# reads tendr's two files for it (the file kind's probe lines).
#
# tendr_module_state NAME: "M<TAB>NAME", "S<TAB>STATE" (loaded, builtin, absent); NAME is
# the kernel's name.
#
# tendr_module_files REGEX BOOT CONF: tagged lines: C (a line of tendr's modprobe.d file
# CONF), B (another file than tendr's BOOT loading it at boot), X (another file
# blacklisting it). REGEX matches the kernel's name taking '-' for '_' anywhere, as
# modprobe does (snd-dummy, snd_dummy). Where else a module may be loaded at boot or
# blacklisted (modules-load.d(5), modprobe.d(5)): tendr reads them all to tell the truth,
# and edits only its own files.
if systemd-detect-virt --container --quiet 2>/dev/null; then echo '@container'
elif [ ! -e /proc/modules ]; then echo '@nomodules'; else echo '@loadable'; fi
tendr_module_state() {
    printf 'M\t%s\n' "$1"
    if grep -q "^$1 " /proc/modules 2>/dev/null; then printf 'S\tloaded\n'
    # Built into the kernel: in /sys/module without the initstate loadable ones have.
    elif [ -d "/sys/module/$1" ] && [ ! -e "/sys/module/$1/initstate" ]; then
        printf 'S\tbuiltin\n'
    else printf 'S\tabsent\n'; fi
}
tendr_module_files() {
    # awk ends every line, the last one too: nothing is glued to what follows.
    [ -f "$3" ] && [ ! -L "$3" ] && head -c 4096 -- "$3" | awk '{ printf "C\t%s\n", $0 }'
    for f in /etc/modules /etc/modules-load.d/*.conf /run/modules-load.d/*.conf \
            /usr/lib/modules-load.d/*.conf /lib/modules-load.d/*.conf; do
        [ "$f" != "$2" ] && [ -f "$f" ] && [ ! -L "$f" ] &&
            sed 's/#.*//' -- "$f" | tr -d ' \t' | grep -qxE "$1" && printf 'B\t%s\n' "$f"
    done
    for f in /etc/modprobe.d/*.conf /run/modprobe.d/*.conf /usr/lib/modprobe.d/*.conf \
            /lib/modprobe.d/*.conf; do
        [ "$f" != "$3" ] && [ -f "$f" ] &&
            grep -qE "^[[:space:]]*blacklist[[:space:]]+$1[[:space:]]*$" -- "$f" &&
            printf 'X\t%s\n' "$f"
    done
    true
}
