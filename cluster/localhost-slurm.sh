#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, from Debian's packages, to run the workflow
# through `--executor slurm` for real (tests/test_slurm.py, docs/cluster.md).
#
#   sudo cluster/localhost-slurm.sh up      # install if needed, configure, start, wait until idle
#   sudo cluster/localhost-slurm.sh down    # stop the daemons (configuration and accounting stay)
#
# What it builds, and why:
# - munge: SLURM's authentication between daemons and commands.
# - slurmctld + slurmd on this host: one partition `popnas` with one node shaped like a small
#   GPU node (at least 16 CPUs, 64 GB, 2 GPUs; more where the machine has more), so that
#   profiles/slurm's requests (4 CPUs and 16 GB per training) fit unchanged. SLURM counts
#   these; the real cores do the work (SlurmdParameters=config_overrides).
# - Two GPUs as generic resources (GRES). This machine may have none, so they are two
#   character devices with /dev/null's numbers: SLURM then schedules `--gpus=1` against a
#   count of 2 and sets CUDA_VISIBLE_DEVICES per job exactly as on a GPU node, which is what
#   the workflow relies on. On a machine with NVIDIA GPUs the real /dev/nvidia* are used.
# - Accounting through slurmdbd and MariaDB: the executor plugin asks `sacct` for job states,
#   and sacct is also how we check afterwards what ran as a SLURM job.
# - No cgroups (proctrack/linuxproc, task/none): containers and CI machines rarely let a
#   process manage them, and a test cluster needs no isolation.
# Daemons run as root and are started directly (no systemd), so this works in a container.
set -euo pipefail

action=${1:-up}
host=$(hostname -s)
conf=/etc/slurm
logs=/var/log/slurm
gpus=2

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "localhost-slurm.sh: run as root (it installs packages and starts daemons)" >&2
        exit 1
    fi
}

install_packages() {
    local missing=()
    for command in slurmctld slurmd slurmdbd munged mariadbd sbatch sacct; do
        command -v "$command" >/dev/null 2>&1 || missing+=("$command")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing SLURM, munge and MariaDB (missing: ${missing[*]})"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # policy-rc.d keeps the packages from starting services: we start them below.
        apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server >/dev/null
    fi
}

gres_line() {
    # Real NVIDIA devices where there are some, else stand-ins (see the header). Where no
    # device node can be made (a locked-down container), a bare count: SLURM still schedules
    # GPUs by count but sets no CUDA_VISIBLE_DEVICES.
    if ls /dev/nvidia[0-9]* >/dev/null 2>&1; then
        echo "File=$(ls /dev/nvidia[0-9]* | head -n "$gpus" | paste -sd, -)"
        return
    fi
    local files=()
    for index in $(seq 0 $((gpus - 1))); do
        if [ ! -e "/dev/popnas-gpu$index" ] && ! mknod "/dev/popnas-gpu$index" c 1 3 2>/dev/null; then
            echo "Count=$gpus"
            return
        fi
        files+=("/dev/popnas-gpu$index")
    done
    (IFS=,; echo "File=${files[*]}")
}

write_config() {
    local cpus memory
    cpus=$(( $(nproc) > 16 ? $(nproc) : 16 ))
    memory=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
    memory=$(( memory > 65536 ? memory : 65536 ))
    mkdir -p "$conf" "$logs" /var/spool/slurmctld /var/spool/slurmd /run/munge /run/mysqld
    cat > "$conf/slurm.conf" <<EOF
# Written by cluster/localhost-slurm.sh: a one-node test cluster.
ClusterName=popnas
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
# sacct then shows the comment the executor plugin gives each job: its rule and wildcards.
AccountingStoreFlags=job_comment
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=600
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory Gres=gpu:$gpus State=UNKNOWN
PartitionName=popnas Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    echo "NodeName=$host Name=gpu $(gres_line)" > "$conf/gres.conf"
    cat > "$conf/slurmdbd.conf" <<EOF
# Written by cluster/localhost-slurm.sh.
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
PidFile=/run/slurmdbd.pid
LogFile=$logs/slurmdbd.log
EOF
    chmod 600 "$conf/slurmdbd.conf"
}

running() {
    pgrep -x "$1" >/dev/null 2>&1
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq 1 "$seconds"); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 1
    done
    echo "localhost-slurm.sh: $what did not come up in ${seconds}s; logs in $logs" >&2
    exit 1
}

start() {
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key /run/munge 2>/dev/null || true
    running munged || runuser -u munge -- munged
    wait_for 20 munge munge -n

    if ! running mariadbd; then
        chown mysql:mysql /run/mysqld
        runuser -u mysql -- mariadbd --skip-networking=0 --bind-address=127.0.0.1 >"$logs/mariadb.log" 2>&1 &
    fi
    wait_for 60 MariaDB mariadb -u root -e "select 1"
    # root over the unix socket is how Debian's MariaDB authenticates; slurmdbd connects as root.
    mariadb -u root -e "create database if not exists slurm_acct_db"

    running slurmdbd || slurmdbd
    wait_for 60 slurmdbd sacctmgr -i list cluster
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx popnas; then
        sacctmgr -i add cluster popnas >/dev/null
    fi
    running slurmctld || slurmctld
    wait_for 60 slurmctld scontrol ping
    if ! sacctmgr -n -P list account format=account | grep -qx popnas; then
        sacctmgr -i add account popnas cluster=popnas description=popnas organization=popnas >/dev/null
    fi
    for user in root ${SUDO_USER:-}; do
        if ! sacctmgr -n -P list user format=user | grep -qx "$user"; then
            sacctmgr -i add user "$user" account=popnas >/dev/null
        fi
    done
    running slurmd || slurmd
    wait_for 60 "the node" sh -c "sinfo -h -N -o %T | grep -Eq '^(idle|mixed|allocated)'"
    scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
    sinfo -N -o "%N %P %c %m %G %T"
}

stop() {
    for daemon in slurmd slurmctld slurmdbd mariadbd munged; do
        pkill -x "$daemon" 2>/dev/null || true
    done
}

case "$action" in
    up) need_root; install_packages; write_config; start ;;
    down) need_root; stop ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
