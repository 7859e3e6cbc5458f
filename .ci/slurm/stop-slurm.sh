#!/usr/bin/env bash
# Stop the daemons that .ci/slurm/start-slurm.sh started (by their pid files); configuration and logs stay.
set -uo pipefail
for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
    pid=$(cat "$pidfile" 2>/dev/null) || continue
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
done
