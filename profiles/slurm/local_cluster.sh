#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for trying profiles/slurm and for the CI test
# (tests/workflow/test_slurm.py). Run as root on Debian/Ubuntu with the packages
#   apt-get install -y slurm-wlm munge slurmdbd mariadb-server
# No systemd is needed: munged, mariadbd, slurmdbd, slurmctld and slurmd are started by hand, the
# files they use live under one state directory (plus the links below), and `down` stops them by
# their pid files and removes that directory, the links and the cgroups slurmd left empty.
#
#   profiles/slurm/local_cluster.sh up      # start; prints `export SLURM_CONF=...`
#   profiles/slurm/local_cluster.sh status  # sinfo + accounting associations
#   profiles/slurm/local_cluster.sh down    # stop every daemon started by `up`, remove the state
#
# `up` is idempotent: it first runs `down` on the same state directory.
# The cluster: partitions `cpu` (default) and `gpu` on one node `dvgsnode` (127.0.0.1) with the
# machine's CPUs, 85% of its memory, and DVGS_SLURM_GPUS (default 2) stand-in GRES gpus. SLURM drops
# a gpu without a device file, so each stand-in is a character device node with the numbers of
# /dev/null ($DIR/dev/gpuN, made with mknod, removed by `down`); SLURM schedules, binds
# (CUDA_VISIBLE_DEVICES) and accounts `--gpus`/`--gres=gpu` requests against them, but there is no
# GPU behind them (torch sees none and valuation runs on the CPU). This way the GPU request of the
# slurm profile is tested as shipped on a machine without a GPU.
# The configuration lives in $DIR/etc and is linked from /etc/slurm/ (slurm.conf, gres.conf,
# cgroup.conf; `down` removes the links): SLURM clients inside a job (the `srun` the executor
# plugin's job step runs) drop SLURM_CONF and read the default path. An /etc/slurm/slurm.conf that
# is not such a link is never touched: `up` stops instead.
# Accounting runs through slurmdbd + MariaDB (the executor plugin asks `sacct` for job states);
# account `dvgs` holds user root.
#
# Environment (all optional):
#   DVGS_SLURM_DIR   state directory              [/tmp/dvgs-slurm]
#   DVGS_SLURM_PORT  first of four TCP ports used [16817] (slurmctld, slurmd, slurmdbd, mariadb)
#   DVGS_SLURM_GPUS  stand-in GPUs on the node    [2]
#   DVGS_SLURM_PROCTRACK  cgroup | linuxproc      [cgroup, falling back to linuxproc when slurmd
#                                                  cannot start with cgroups]
set -euo pipefail

DIR=${DVGS_SLURM_DIR:-/tmp/dvgs-slurm}
PORT=${DVGS_SLURM_PORT:-16817}
GPUS=${DVGS_SLURM_GPUS:-2}
PROCTRACK=${DVGS_SLURM_PROCTRACK:-cgroup}
CTLD_PORT=$PORT
SLURMD_PORT=$((PORT + 1))
DBD_PORT=$((PORT + 2))
MYSQL_PORT=$((PORT + 3))
CLUSTER=dvgs
ACCOUNT=dvgs
NODE=dvgsnode
ETC=$DIR/etc
export SLURM_CONF=$ETC/slurm.conf

log() { echo "[local_cluster] $*" >&2; }
die() {
    log "ERROR: $*"
    for f in "$DIR"/log/*.log; do
        [[ -f $f ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
    done
    # a failed `up` leaves nothing running
    [[ ${STARTING:-0} == 1 ]] && STARTING=0 && down
    exit 1
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2
    shift 2
    for ((i = 0; i < limit * 2; i++)); do
        if timeout 10 "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    die "timed out after ${limit}s waiting for $what"
}

stop_pidfile() { # stop the daemon whose pid is in $1 (only that pid), wait for it to exit
    local pidfile=$1 pid
    [[ -f $pidfile ]] || return 0
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 40; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

SYSTEM_ETC=/etc/slurm
LINKED="slurm.conf gres.conf cgroup.conf"

link_etc() {
    mkdir -p "$SYSTEM_ETC"
    for name in $LINKED; do
        if [[ -e $SYSTEM_ETC/$name && ! -L $SYSTEM_ETC/$name ]]; then
            die "$SYSTEM_ETC/$name exists and is not a link made by this script; not touching it"
        fi
        ln -sfn "$ETC/$name" "$SYSTEM_ETC/$name"
    done
}

unlink_etc() {
    for name in $LINKED; do
        if [[ -L $SYSTEM_ETC/$name && $(readlink "$SYSTEM_ETC/$name") == "$ETC/$name" ]]; then
            rm -f "$SYSTEM_ETC/$name"
        fi
    done
}

down() {
    unlink_etc
    [[ -d $DIR ]] || return 0
    # jobs first, so that slurmstepd processes end with their steps
    if [[ -f $DIR/run/slurmctld.pid ]]; then
        timeout 10 scancel --full --user=root >/dev/null 2>&1 || true
    fi
    stop_pidfile "$DIR/run/slurmd.pid"
    stop_pidfile "$DIR/run/slurmctld.pid"
    stop_pidfile "$DIR/run/slurmdbd.pid"
    stop_pidfile "$DIR/run/mariadbd.pid"
    stop_pidfile "$DIR/run/munged.pid"
    # empty cgroups slurmd created for this node (cgroup v1 layout)
    for sub in /sys/fs/cgroup/*/slurm_$NODE /sys/fs/cgroup/*/slurm; do
        [[ -d $sub ]] && find "$sub" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    rm -rf "$DIR"
    log "down: daemons stopped, $DIR removed"
}

write_config() {
    local host topology mem_total real_mem
    host=$(hostname -s)
    # CPUs, boards, sockets, cores and threads as slurmd sees them (RealMemory is set below)
    topology=$(slurmd -C | head -n 1 | tr ' ' '\n' |
        grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')
    mem_total=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
    real_mem=$((mem_total * 85 / 100))
    local proctrack_type task_plugin
    if [[ $PROCTRACK == cgroup ]]; then
        proctrack_type=proctrack/cgroup task_plugin=task/cgroup
    else
        proctrack_type=proctrack/linuxproc task_plugin=task/none
    fi
    cat >"$ETC/slurm.conf" <<EOF
# written by profiles/slurm/local_cluster.sh
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
MailProg=/bin/true
MpiDefault=none
ProctrackType=$proctrack_type
TaskPlugin=$task_plugin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
GresTypes=gpu
ReturnToService=2
MinJobAge=300
KillWait=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# for the slurmdbd storage type this is the munge socket that sacct/sacctmgr use
AccountingStoragePass=$DIR/munge/munge.socket
AccountingStorageTRES=gres/gpu
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$host ${topology}RealMemory=$real_mem Gres=gpu:$GPUS State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE MaxTime=INFINITE State=UP
EOF
    # stand-in GPUs (see the header)
    mkdir -p "$DIR/dev"
    for ((g = 0; g < GPUS; g++)); do
        [[ -e $DIR/dev/gpu$g ]] || mknod "$DIR/dev/gpu$g" c 1 3
        echo "NodeName=$NODE Name=gpu File=$DIR/dev/gpu$g"
    done >"$ETC/gres.conf"
    cat >"$ETC/cgroup.conf" <<EOF
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=yes
ConstrainRAMSpace=yes
ConstrainDevices=no
EOF
    cat >"$ETC/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
DbdAddr=127.0.0.1
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$MYSQL_PORT
StorageUser=slurm
StoragePass=dvgs-local
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$ETC/slurmdbd.conf"
}

start_munge() {
    mkdir -p "$DIR/munge"
    chmod 700 "$DIR/munge"
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$DIR/munge/munge.key"
    munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
        --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
        --seed-file="$DIR/munge/munged.seed" </dev/null >"$DIR/log/munged.start.log" 2>&1 ||
        die "munged did not start"
    wait_for 20 munged munge -n --socket="$DIR/munge/munge.socket"
}

start_mariadb() {
    mkdir -p "$DIR/mysql"
    mariadb-install-db --no-defaults --user=root --datadir="$DIR/mysql/data" \
        --auth-root-authentication-method=socket >"$DIR/log/mariadb-install.log" 2>&1 ||
        die "mariadb-install-db failed (see $DIR/log/mariadb-install.log)"
    mariadbd --no-defaults --user=root --datadir="$DIR/mysql/data" \
        --socket="$DIR/mysql/mysqld.sock" --pid-file="$DIR/run/mariadbd.pid" \
        --bind-address=127.0.0.1 --port="$MYSQL_PORT" --log-error="$DIR/log/mariadbd.log" \
        --innodb-buffer-pool-size=64M --innodb-log-file-size=16M </dev/null >/dev/null 2>&1 &
    wait_for 60 mariadbd mariadb --no-defaults --socket="$DIR/mysql/mysqld.sock" -e "SELECT 1"
    mariadb --no-defaults --socket="$DIR/mysql/mysqld.sock" <<EOF
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'dvgs-local';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'dvgs-local';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
}

start_slurmdbd() {
    slurmdbd </dev/null >"$DIR/log/slurmdbd.start.log" 2>&1 || die "slurmdbd did not start"
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
    sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description=dvgs Organization=dvgs \
        >/dev/null
    sacctmgr -i add user root Account="$ACCOUNT" DefaultAccount="$ACCOUNT" Cluster="$CLUSTER" \
        >/dev/null
}

node_idle() { sinfo -h -n "$NODE" -o %t | grep -q -E '^idle'; }

start_slurm() {
    slurmctld </dev/null >"$DIR/log/slurmctld.start.log" 2>&1 || die "slurmctld did not start"
    wait_for 30 slurmctld scontrol ping
    slurmd -N "$NODE" </dev/null >"$DIR/log/slurmd.start.log" 2>&1 || return 1
    for ((i = 0; i < 60; i++)); do
        # idle, and a one-second job step runs (cgroup set-up problems only show here)
        if node_idle; then
            timeout 60 srun -p cpu -n 1 --mem=64 -t 1 true >>"$DIR/log/smoke.log" 2>&1
            return
        fi
        # a node that registered before slurmctld was ready comes up as down: resume it
        if sinfo -h -n "$NODE" -o %t | grep -q -E '^(down|drain)'; then
            scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
        fi
        sleep 0.5
    done
    return 1
}

up() {
    [[ $EUID -eq 0 ]] || die "run as root (the daemons and job steps run as root)"
    for cmd in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sbatch sacct; do
        command -v "$cmd" >/dev/null || die "$cmd not found: apt-get install -y slurm-wlm munge slurmdbd mariadb-server"
    done
    down
    STARTING=1
    mkdir -p "$ETC" "$DIR/run" "$DIR/log" "$DIR/spool/ctld" "$DIR/spool/d"
    write_config
    link_etc
    start_munge
    start_mariadb
    start_slurmdbd
    if ! start_slurm; then
        if [[ $PROCTRACK == cgroup && -z ${DVGS_SLURM_PROCTRACK:-} ]]; then
            log "slurmd did not come up or run a step with proctrack/cgroup; retrying with proctrack/linuxproc"
            stop_pidfile "$DIR/run/slurmd.pid"
            stop_pidfile "$DIR/run/slurmctld.pid"
            PROCTRACK=linuxproc
            write_config
            start_slurm || die "node $NODE did not become idle or could not run a job step"
        else
            die "node $NODE did not become idle or could not run a job step"
        fi
    fi
    STARTING=0
    log "up: cluster $CLUSTER, node $NODE ($(nproc) CPUs, gpu:$GPUS), partitions cpu gpu," \
        "account $ACCOUNT, proctrack/$PROCTRACK"
    echo "export SLURM_CONF=$SLURM_CONF"
}

status() {
    sinfo -N -o "%N %P %t %c %m %G"
    sacctmgr -n list associations format=cluster,account,user
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
*)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
