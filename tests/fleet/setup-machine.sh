#!/usr/bin/env bash
# Install what the test fleet (tests/fleet) needs on a Debian machine, as root.
# Idempotent: installs only what is missing; safe to run before every CI run.
#
#   bash tests/fleet/setup-machine.sh            # packages only
#   TENDR_FLEET_BUILD=1 bash tests/fleet/setup-machine.sh   # also build the base image
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-machine.sh: run as root" >&2
    exit 1
fi

# debootstrap builds the base image, systemd-container has systemd-nspawn,
# openssh-client talks to the hosts, iproute2 has ss (tests check listeners),
# procps has ps, util-linux has mount/umount, tmux drives `tendr shell` in its test,
# restic checks the backup kind's scripts against real repositories, chromium renders
# the HTML report, python3-venv gives the non-root suite (.ci/nonroot-suite) its own Python.
packages=(debootstrap systemd-container openssh-client iproute2 procps util-linux ca-certificates tmux restic chromium python3-venv)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup-machine.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "setup-machine.sh: packages present"
fi

if ! grep -qw overlay /proc/filesystems; then
    modprobe overlay 2>/dev/null || echo "setup-machine.sh: warning: no overlay filesystem" >&2
fi

# Each host's systemd takes inotify instances; at 20 hosts reset again and again the
# default of 128 per user runs out ("Failed to allocate manager object: Too many open
# files"). Raised for this machine's test hosts, never lowered.
if [ "$(sysctl -n fs.inotify.max_user_instances)" -lt 1024 ]; then
    sysctl -q -w fs.inotify.max_user_instances=1024 \
        || echo "setup-machine.sh: warning: cannot raise fs.inotify.max_user_instances" >&2
fi

if [ "${TENDR_FLEET_BUILD:-0}" = 1 ]; then
    cd "$(dirname "$0")/../.."
    python3 -m tests.fleet build
fi
