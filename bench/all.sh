#!/bin/sh
# Every benchmark of bench/ in one run, on one test fleet at a time (as root, from the
# repository root, no pytest using the fleet): start-up per command; plan, apply and a
# second apply on 1, 5 and 20 hosts against pyinfra and Ansible; then 20, 99 and (by
# simulation) 297 hosts and a 10,000-file host. Results in bench/results/, tables on
# standard output. About 40 minutes on 2 cores.
set -eu
cd "$(dirname "$0")/.."
python3 bench/startup.py
for mode in plan apply reapply; do
    python3 bench/run.py --mode "$mode" --hosts 1,5,20 --repeat 2 \
        --output "bench/results/$mode.json"
done
python3 -m tests.fleet up 99
python3 bench/many.py --hosts 20,99,297 --files 10000 --repeat 3
python3 -m tests.fleet down
