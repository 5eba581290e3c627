#!/usr/bin/env bash
# A throw-away single-node SLURM cluster for the SLURM tests (tests/study/test_slurm.py), from
# Debian 12 packages, without systemd: every daemon is started directly and stopped by the PID
# recorded here, never by name. Runs as root.
#
#   .ci/slurm.sh install   apt-get the packages (slurm-wlm munge slurmdbd mariadb-server)
#   .ci/slurm.sh start     start munged, mariadbd, slurmdbd, slurmctld, slurmd; wait for the node
#   .ci/slurm.sh stop      cancel every job and stop the daemons started by `start`
#
# slurmdbd + MariaDB give SLURM accounting, so that finished and cancelled jobs have known states.
set -euo pipefail

STATE=/run/slowvae-ci-slurm          # PID files of the daemons we started
PARTITION=${PARTITION:-debug}
CONF=/etc/slurm/slurm.conf
LOGDIR=/var/log/slurm

log() { printf '[slurm.sh %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

alive() {  # pid exists and is not a zombie
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]
}

do_install() {
    if command -v slurmctld >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null \
        && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null; then
        log "packages present ($(slurmd -V))"; return
    fi
    export DEBIAN_FRONTEND=noninteractive
    # the packages' postinst scripts would start the daemons through invoke-rc.d; we start them
    # ourselves, so forbid that with a temporary policy-rc.d unless the image has one
    local added=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; added=1
    fi
    local rc=0
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge slurmdbd mariadb-server >/dev/null; } || rc=$?
    [ "$added" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || die "apt-get install failed"
    log "installed $(slurmd -V)"
}

start_munge() {
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key /etc/munge /var/lib/munge /var/log/munge
    chmod 0400 /etc/munge/munge.key; chmod 0700 /etc/munge /var/log/munge; chmod 0711 /var/lib/munge
    install -d -o munge -g munge -m 0755 /run/munge
    setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground >>"$STATE/munged.out" 2>&1 &
    echo $! > "$STATE/munged.pid"
    for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n </dev/null | unmunge >/dev/null || die "munge round-trip failed"
}

start_mariadb() {
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    install -d -o mysql -g mysql -m 0755 /run/mysqld
    setpriv --reuid=mysql --regid=mysql --init-groups /usr/sbin/mariadbd --skip-networking \
        --innodb-lock-wait-timeout=900 >>"$STATE/mariadb.out" 2>&1 &
    echo $! > "$STATE/mariadb.pid"
    for _ in $(seq 150); do mariadb -u root -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
    mariadb -u root -e 'select 1' >/dev/null || die "mariadb does not answer"
}

start_slurmdbd() {
    cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
LogFile=${LOGDIR}/slurmdbd.log
PidFile=/run/slurmdbd.pid
EOF
    chmod 600 /etc/slurm/slurmdbd.conf
    slurmdbd -D >>"$STATE/slurmdbd.out" 2>&1 &
    echo $! > "$STATE/slurmdbd.pid"
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/6819) 2>/dev/null && break; sleep 0.2; done
    alive "$(cat "$STATE/slurmdbd.pid")" || die "slurmdbd exited: $(tail -5 "$STATE/slurmdbd.out")"
}

write_conf() {
    local host topo mem margin
    host=$(hostname -s)
    topo=$(slurmd -C | head -1)   # NodeName=... CPUs=2 Boards=1 ... RealMemory=24105
    mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$topo")
    margin=$(( mem / 20 )); [ "$margin" -lt 512 ] && margin=512
    mem=$(( mem - margin ))
    topo=$(sed -e 's/^NodeName=[^ ]* //' -e 's/ *RealMemory=[0-9]*//' <<<"$topo")
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$LOGDIR"
    cat > "$CONF" <<EOF
# single-node test cluster of slowvae's CI (.ci/slurm.sh)
ClusterName=ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=${LOGDIR}/slurmctld.log
SlurmdLogFile=${LOGDIR}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=10
Waittime=0
NodeName=${host} NodeAddr=127.0.0.1 ${topo} RealMemory=${mem} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
}

do_start() {
    local d
    for d in munged mariadb slurmdbd slurmctld slurmd; do
        alive "$(cat "$STATE/$d.pid" 2>/dev/null)" && die "$d is already running; run '$0 stop' first"
    done
    do_install
    mkdir -p "$STATE"
    start_munge
    start_mariadb
    start_slurmdbd
    write_conf
    slurmctld -D -c >>"$STATE/slurmctld.out" 2>&1 &
    echo $! > "$STATE/slurmctld.pid"
    for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.2; done
    scontrol ping | grep -q 'is UP' || die "slurmctld is not up: $(tail -5 "$LOGDIR/slurmctld.log")"
    slurmd -D >>"$STATE/slurmd.out" 2>&1 &
    echo $! > "$STATE/slurmd.pid"
    local host st; host=$(hostname -s)
    for _ in $(seq 120); do
        st=$(sinfo -h -N -n "$host" -o '%T' 2>/dev/null || true)
        case "$st" in idle*) log "cluster up: node $host is $st"; return 0 ;; esac
        sleep 0.5
    done
    die "node $host is not idle after 60 s (state: ${st:-?})"
}

stop_pid() {  # name: stop the PID recorded in $STATE/name.pid if it still is that daemon
    local f="$STATE/$1.pid" pid comm
    [ -f "$f" ] || return 0
    pid=$(cat "$f"); comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    case "$1:$comm" in
        munged:munged|mariadb:mariadbd|slurmdbd:slurmdbd|slurmctld:slurmctld|slurmd:slurmd) ;;
        *) rm -f "$f"; return 0 ;;
    esac
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
}

do_stop() {
    if [ -f "$STATE/slurmctld.pid" ] && alive "$(cat "$STATE/slurmctld.pid")"; then
        scancel --quiet --user=root 2>/dev/null || true
        sleep 1
    fi
    for d in slurmd slurmctld slurmdbd mariadb munged; do stop_pid "$d"; done
    log "cluster stopped"
}

case "${1:-}" in
    install) do_install ;;
    start) do_start ;;
    stop) do_stop ;;
    *) die "usage: $0 install|start|stop" ;;
esac
