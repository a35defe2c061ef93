#!/bin/bash
# Start the one-node cluster: accounts, munge, slurmctld, slurmd, sshd.
#
# Environment:
#   CLUSTER_USERS   user accounts to make (space- or comma-separated), e.g. "alice bob";
#                   made once, with a home directory and the site's ~/.pyiron
#   CLUSTER_CPUS    CPUs the node offers SLURM (default: what the container sees)
# Host keys and the munge key are made at first start and kept in the container.
# Writes /run/cluster-ready when every daemon is up (the image's health check reads it).
set -euo pipefail

log() { printf '[cluster] %s\n' "$*" >&2; }
host=$(hostname -s)

# --- accounts -----------------------------------------------------------------------
uid=2000
for user in ${CLUSTER_USERS//,/ }; do
    if ! [[ $user =~ ^[a-z_][a-z0-9_-]{0,31}$ ]]; then
        log "skipping account '$user': not a valid user name"
        continue
    fi
    while getent passwd "$uid" >/dev/null; do uid=$((uid + 1)); done
    if ! id "$user" >/dev/null 2>&1; then
        useradd --create-home --shell /bin/bash --uid "$uid" --user-group "$user"
        install -d -m 0700 -o "$user" -g "$user" "/home/$user/.ssh"
        log "account $user (uid $uid)"
    fi
done

# --- keys made once per container ---------------------------------------------------
ssh-keygen -A >/dev/null
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge
runuser -u munge -- munged --force

# --- SLURM configuration, for this container's host name and CPUs -------------------
cpus=${CLUSTER_CPUS:-$(nproc)}
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=pyiron-test
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
# No cgroups in an unprivileged container: track processes by parent id, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# No slurmdbd: its MySQL plugin fails at start against Debian trixie's MariaDB 11.8
# ("_check_mysql_concat_is_sane: null result", tried), so there is no sacct here. Finished
# jobs stay visible to "scontrol show job" for MinJobAge seconds, and each one is logged,
# with its user and state, in the job completion file.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
# Short intervals: a test cluster should start and answer quickly.
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
# --- SLURM, then the login ----------------------------------------------------------
slurmctld
slurmd
for _ in $(seq 60); do sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)' && break; sleep 0.5; done
/usr/sbin/sshd -t
touch /run/cluster-ready
log "ready: $(sinfo -h -o '%P %D %t %c CPUs') on $host; users: ${CLUSTER_USERS:-none}"
# sshd in the foreground keeps the container alive; -e sends its log to `docker logs`.
exec /usr/sbin/sshd -D -e
