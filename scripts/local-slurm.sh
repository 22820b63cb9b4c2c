#!/usr/bin/env bash
# A real single-node SLURM on localhost, with accounting and a fake GPU, for testing the SLURM profile
# (tests/test_slurm.py, profiles/slurm-test). Needs root and apt (Debian/Ubuntu); no systemd needed.
#
#   scripts/local-slurm.sh start     install what is missing, configure, start every daemon (idempotent)
#   scripts/local-slurm.sh status    what runs, the node and the partitions
#   scripts/local-slurm.sh stop      stop the daemons this script started, by their PID files
#
# The cluster is named `local` and mimics HCC Swan's layout: partitions `batch` (default) and `gpu`,
# both on this machine; the node has the feature `tgpu` and LOCAL_SLURM_GPUS fake GPUs (gres
# gpu:tgpu, backed by empty files: SLURM counts and accounts them, no job sees a real device).
# Accounting goes through slurmdbd into MariaDB, so `sacct` shows every job and what it asked for.
# Daemons run as root (munged and mariadbd as their own users); state and logs live in
# LOCAL_SLURM_STATE (default /var/lib/local-slurm). It writes /etc/slurm/{slurm,gres,slurmdbd}.conf,
# and refuses to overwrite such files that it did not write itself.
set -euo pipefail

STATE=${LOCAL_SLURM_STATE:-/var/lib/local-slurm}
GPUS=${LOCAL_SLURM_GPUS:-2}              # fake GPUs on the node (gres gpu:tgpu)
CPUS=${LOCAL_SLURM_CPUS:-8}              # CPUs the node claims (more than it has: profiles/slurm asks for 4 per search)
MEMORY=${LOCAL_SLURM_MEMORY:-65536}      # MiB the node claims (not enforced): enough for profiles/slurm's requests
ETC=/etc/slurm
MARK="# written by scripts/local-slurm.sh"
DB_PASS=local-slurm                      # MariaDB password of the `slurm` database user (localhost only)
MYSQL_RUN=/run/mysqld
MYSQL_SOCK=$MYSQL_RUN/mysqld.sock
PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)

log() { printf 'local-slurm: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

alive() { # alive PIDFILE: the process named in PIDFILE runs
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND until it succeeds
    local seconds=$1 what=$2
    shift 2
    for ((i = 0; i < seconds * 4; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    die "timed out after ${seconds}s waiting for $what (logs: $STATE/log/)"
}

mine_or_absent() { # the config file is ours to (re)write
    [[ ! -e $1 ]] || grep -qxF "$MARK" "$1" || die "$1 exists and was not written by this script; not touching it"
}

install() {
    local missing=()
    for cmd in slurmctld slurmd sbatch sacct slurmdbd munged munge mariadbd mariadb-install-db mariadb-admin mariadb; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
    log "installing ${PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Package scripts must not try to start services: there is no init system here.
    local policy=/usr/sbin/policy-rc.d added_policy=
    if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1; fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >"$STATE/log/apt.log" 2>&1 ||
        { tail -20 "$STATE/log/apt.log" >&2; die "apt-get install failed"; }
    [[ -z $added_policy ]] || rm -f "$policy"
}

start_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if ! alive /run/munge/munged.pid; then
        log "starting munged"
        runuser -u munge -- /usr/sbin/munged
    fi
    wait_for 20 munge bash -c 'munge -n | unmunge'
}

start_mariadb() {
    # mariadbd crashes when its pid or log files are in a root-owned directory: give it its own.
    mkdir -p "$MYSQL_RUN" "$STATE/mysql"
    chown mysql:mysql "$MYSQL_RUN" "$STATE/mysql"
    if [[ ! -d /var/lib/mysql/mysql ]]; then
        log "initialising the MariaDB data directory"
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$STATE/log/mariadb-install.log" 2>&1
    fi
    if ! alive "$STATE/mysql/mariadbd.pid"; then
        log "starting mariadbd"
        setsid runuser -u mysql -- mariadbd --datadir=/var/lib/mysql --socket="$MYSQL_SOCK" \
            --pid-file="$STATE/mysql/mariadbd.pid" --log-error="$STATE/mysql/mariadbd.err" \
            --bind-address=127.0.0.1 --port=3306 </dev/null >/dev/null 2>&1 &
    fi
    wait_for 60 MariaDB mariadb-admin --socket="$MYSQL_SOCK" ping
    mariadb --socket="$MYSQL_SOCK" -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

write_configs() {
    local host node cpus
    host=$(hostname -s)
    for f in slurm.conf gres.conf slurmdbd.conf; do mine_or_absent "$ETC/$f"; done
    mkdir -p "$ETC" "$STATE/ctld" "$STATE/d" "$STATE/log"
    # The node claims CPUS single-core sockets (at least as many as it has), MEMORY MiB and GPUS GPUs,
    # so that profiles/slurm's requests fit on a small machine; nothing enforces them here.
    cpus=$(nproc)
    ((CPUS > cpus)) && cpus=$CPUS
    node="NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus Sockets=$cpus CoresPerSocket=1 ThreadsPerCore=1"
    cat >"$ETC/slurmdbd.conf" <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StoragePort=3306
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$ETC/slurmdbd.conf"
    cat >"$ETC/gres.conf" <<EOF
$MARK
AutoDetect=off
EOF
    for ((g = 0; g < GPUS; g++)); do
        # Each fake GPU needs a distinct file; without File= the node is marked INVAL.
        touch "$STATE/fake-gpu$g"
        echo "NodeName=$host Name=gpu Type=tgpu File=$STATE/fake-gpu$g" >>"$ETC/gres.conf"
    done
    cat >"$ETC/slurm.conf" <<EOF
$MARK
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
MailProg=/bin/true
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# No cgroups here: processes are tracked by parentage.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Use the node description below rather than what slurmd detects (the memory is made up).
SlurmdParameters=config_overrides
# Without a default, a job that gives no --mem would take the whole node.
DefMemPerCPU=1000
MinJobAge=300
ReturnToService=2
MpiDefault=none
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
# Keep the job comment (the plugin writes the rule and wildcards there) for sacct -o Comment.
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
$node RealMemory=$MEMORY Gres=gpu:tgpu:$GPUS Features=tgpu State=UNKNOWN
PartitionName=batch Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
EOF
    log "node: $node RealMemory=$MEMORY ($(nproc) real CPUs, $GPUS fake GPUs)"
}

start_slurmdbd() {
    if ! alive "$STATE/slurmdbd.pid"; then
        log "starting slurmdbd"
        slurmdbd
    fi
    wait_for 60 slurmdbd sacctmgr -n list cluster
    # (Output captured first: `grep -q` closing a pipe early would fail it under pipefail.)
    local clusters
    clusters=$(sacctmgr -n -P list cluster format=cluster)
    grep -qx local <<<"$clusters" || sacctmgr -i add cluster local >/dev/null
}

start_slurm() {
    if ! alive "$STATE/slurmctld.pid"; then
        log "starting slurmctld"
        slurmctld
    fi
    wait_for 30 slurmctld scontrol ping
    if ! alive "$STATE/slurmd.pid"; then
        log "starting slurmd"
        slurmd
    fi
    local host
    host=$(hostname -s)
    node_state() { sinfo -h -n "$host" -o %T | head -1; }
    for ((i = 0; i < 120; i++)); do
        case $(node_state) in
            idle* | mixed* | allocated*) log "ready: $(sinfo -h -o '%P %a %D %T %G' | tr '\n' ';')"; return 0 ;;
            down* | drain* | *fail*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 0.5
    done
    die "the node did not become idle: $(sinfo -N -o '%N %T %E' | tail -1) (logs: $STATE/log/)"
}

start() {
    [[ $EUID -eq 0 ]] || die "needs root (it installs packages and runs the SLURM daemons)"
    mkdir -p "$STATE/log"
    install
    start_munge
    start_mariadb
    write_configs
    start_slurmdbd
    start_slurm
}

stop_pidfile() { # stop_pidfile NAME PIDFILE
    local pid
    alive "$2" || return 0
    pid=$(cat "$2")
    log "stopping $1 ($pid)"
    kill "$pid"
    for ((i = 0; i < 80; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
    log "$1 ($pid) did not stop; killing it"
    kill -9 "$pid" 2>/dev/null || true
}

stop() {
    stop_pidfile slurmd "$STATE/slurmd.pid"
    stop_pidfile slurmctld "$STATE/slurmctld.pid"
    stop_pidfile slurmdbd "$STATE/slurmdbd.pid"
    stop_pidfile mariadbd "$STATE/mysql/mariadbd.pid"
    stop_pidfile munged /run/munge/munged.pid
}

status() {
    local name pidfile ok=0
    for entry in "munged /run/munge/munged.pid" "mariadbd $STATE/mysql/mariadbd.pid" \
        "slurmdbd $STATE/slurmdbd.pid" "slurmctld $STATE/slurmctld.pid" "slurmd $STATE/slurmd.pid"; do
        read -r name pidfile <<<"$entry"
        if alive "$pidfile"; then echo "$name: running ($(cat "$pidfile"))"; else echo "$name: stopped"; ok=1; fi
    done
    ((ok == 0)) && sinfo -o '%P %a %D %T %c %m %G %f'
    return $ok
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
