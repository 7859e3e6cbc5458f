#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine from Debian's packages (munge, slurmctld, slurmd), as root.
# One node (this host, 127.0.0.1) with CPUs=2 and RealMemory from /proc/meminfo, one partition `main`, no slurmdbd:
# finished jobs are kept in a job-completion log (JobCompType=jobcomp/filetxt, $SLURM_JOBCOMP_LOG) and stay visible
# to `squeue` for MinJobAge seconds, so that snakemake-executor-plugin-slurm can use its `squeue` status command.
# Idempotent: installed packages, an unchanged slurm.conf and running daemons are left as they are.
# Stop the daemons with .ci/slurm/stop-slurm.sh.
set -euo pipefail

JOBCOMP_LOG=${SLURM_JOBCOMP_LOG:-/var/log/slurm/jobcomp.log}
CONF=/etc/slurm/slurm.conf
HOST=$(hostname -s)

if [ "$(id -u)" -ne 0 ]; then
    echo "start-slurm.sh: must run as root (installs packages and starts daemons)" >&2
    exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# --- munge: a key, its folders owned by the munge user, the daemon running as that user
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge /etc/munge
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- munged
    for _ in $(seq 1 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
    munge -n | unmunge >/dev/null
fi

# --- slurm.conf (rewritten only when its content would change)
MEMORY_MB=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
install -d -m 0755 /etc/slurm /var/log/slurm /var/spool/slurmctld /var/spool/slurmd
NEW_CONF=$(mktemp)
trap 'rm -f "$NEW_CONF"' EXIT
cat >"$NEW_CONF" <<EOF
# Written by irsynth .ci/slurm/start-slurm.sh: a single-node cluster on this host.
ClusterName=irsynth
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
# no slurmdbd (so no sacct): finished jobs go to a text log and stay in squeue for an hour
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=${JOBCOMP_LOG}
MinJobAge=3600
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=2 RealMemory=${MEMORY_MB} State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
CHANGED=0
if ! cmp -s "$NEW_CONF" "$CONF"; then
    install -m 0644 "$NEW_CONF" "$CONF"
    CHANGED=1
fi

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# --- slurmctld first; slurmd only once the controller answers (a node that registers earlier stays unk*)
if running /run/slurmctld.pid; then
    [ "$CHANGED" -eq 0 ] || scontrol reconfigure
else
    slurmctld
fi
for _ in $(seq 1 60); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 1; done
if ! scontrol ping | grep -q UP; then
    echo "start-slurm.sh: slurmctld did not come up" >&2
    tail /var/log/slurm/slurmctld.log >&2
    exit 1
fi

if ! running /run/slurmd.pid; then
    slurmd
fi
for _ in $(seq 1 60); do
    state=$(sinfo --noheader --nodes="$HOST" --format=%T 2>/dev/null || true)
    case "$state" in
        idle | mixed | allocated) break ;;
        down* | drain* | unk*) scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
done
sinfo
case "$state" in
    idle | mixed | allocated) echo "start-slurm.sh: node $HOST is $state" ;;
    *) echo "start-slurm.sh: node $HOST is '$state', not idle" >&2; tail /var/log/slurm/slurmd.log >&2; exit 1 ;;
esac
