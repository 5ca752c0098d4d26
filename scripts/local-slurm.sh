#!/usr/bin/env bash
# A real SLURM cluster for ckpt's SLURM tests, everything under one directory: no systemd,
# nothing under /etc changed. Packages: slurmctld slurmd slurm-client munge. Three nodes on this
# one machine, each its own slurmd (Debian's SLURM is built for several slurmd per host), with
# its own port, spool, pid and log: partition `debug` (the default) is node1 alone, partition
# `multi` is node[1-3] for jobs on several nodes.
#
#   scripts/local-slurm.sh start     # prints the SLURM_CONF to export
#   scripts/local-slurm.sh status
#   scripts/local-slurm.sh stop
#   scripts/local-slurm.sh env       # prints `export SLURM_CONF=…`
#
# CKPT_SLURM_LAB chooses the directory (default /tmp/ckpt-slurm-lab).
set -euo pipefail

LAB=${CKPT_SLURM_LAB:-/tmp/ckpt-slurm-lab}
CONF=$LAB/slurm.conf
export SLURM_CONF=$CONF
# Non-default ports so the lab cannot clash with a real SLURM on the same machine.
CTLD_PORT=${CKPT_SLURM_CTLD_PORT:-16817}
SLURMD_PORT=${CKPT_SLURM_SLURMD_PORT:-16818}
NODES="node1 node2 node3"
# Fake CPUs so a job array's tasks can run side by side on a small machine.
CPUS=${CKPT_SLURM_CPUS:-4}

need() {
  for bin in "$@"; do
    command -v "$bin" >/dev/null 2>&1 || {
      echo "local-slurm: $bin not found. Install: apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge" >&2
      exit 1
    }
  done
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_config() {
  mkdir -p "$LAB"/{state,log,munge} "$LAB"/spool/{node1,node2,node3}
  chmod 711 "$LAB/munge"
  [ -f "$LAB/munge/munge.key" ] || mungekey --create --keyfile="$LAB/munge/munge.key" >/dev/null
  chmod 600 "$LAB/munge/munge.key"
  : >"$LAB/plugstack.conf"
  local mem
  mem=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  cat >"$CONF" <<CONF
ClusterName=ckptlab
SlurmctldHost=localhost
SlurmUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$LAB/munge/munge.socket.2,cred_expire=5
StateSaveLocation=$LAB/state
SlurmdSpoolDir=$LAB/spool/%n
SlurmctldPidFile=$LAB/slurmctld.pid
SlurmdPidFile=$LAB/slurmd.%n.pid
SlurmctldLogFile=$LAB/log/slurmctld.log
SlurmdLogFile=$LAB/log/slurmd.%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LAB/jobcomp.txt
MpiDefault=none
MailProg=/bin/true
PlugStackConfig=$LAB/plugstack.conf
ReturnToService=2
SchedulerParameters=bf_interval=1,sched_interval=2
# SIGTERM to SIGKILL: real clusters use 30 s; 5 s was too short for two MPI ranks to commit
# under the test suite's load.
KillWait=10
SlurmdTimeout=6
MinJobAge=600
# Small, so that a flow's fan-out of more tasks is split into several arrays in the tests.
MaxArraySize=5
DefMemPerCPU=256
SlurmdParameters=config_overrides
NodeName=node1 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$SLURMD_PORT CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=${mem:-1024}
NodeName=node2 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((SLURMD_PORT + 2)) CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=${mem:-1024}
NodeName=node3 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((SLURMD_PORT + 3)) CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=${mem:-1024}
PartitionName=debug Nodes=node1 Default=YES MaxTime=INFINITE State=UP
PartitionName=multi Nodes=node[1-3] MaxTime=INFINITE State=UP
CONF
}

start() {
  need munged mungekey slurmctld slurmd sinfo
  local before=
  [ -f "$CONF" ] && before=$(cat "$CONF")
  write_config
  # A lab started by an older version of this script is restarted with the new settings (new
  # nodes need a new slurmctld; its jobs are cancelled).
  if [ -n "$before" ] && [ "$before" != "$(cat "$CONF")" ] && pid_alive "$LAB/slurmctld.pid"; then
    echo "local-slurm: the configuration changed; restarting the lab" >&2
    stop
    write_config
  fi
  if ! pid_alive "$LAB/munge/munged.pid"; then
    munged --key-file="$LAB/munge/munge.key" --socket="$LAB/munge/munge.socket.2" \
      --pid-file="$LAB/munge/munged.pid" --log-file="$LAB/munge/munged.log" --seed-file="$LAB/munge/munge.seed"
  fi
  # The single slurmd of a lab started by an older version of this script.
  if pid_alive "$LAB/slurmd.pid"; then kill "$(cat "$LAB/slurmd.pid")"; sleep 1; fi
  pid_alive "$LAB/slurmctld.pid" || slurmctld -f "$CONF"
  for node in $NODES; do
    pid_alive "$LAB/slurmd.$node.pid" || slurmd -f "$CONF" -N "$node"
  done
  for node in $NODES; do
    for _ in $(seq 150); do
      state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
      case "$state" in
        idle* | mixed* | allocated*) continue 2 ;;
        down* | drain* | fail*) scontrol update NodeName="$node" State=RESUME 2>/dev/null || true ;;
      esac
      sleep 0.1
    done
    echo "local-slurm: $node did not become idle (state: ${state:-none}); see $LAB/log/" >&2
    exit 1
  done
  echo "export SLURM_CONF=$CONF"
}

stop() {
  if pid_alive "$LAB/slurmctld.pid"; then
    # Running jobs outlive slurmd: cancel them and wait until the queue is empty first.
    scancel --full --quiet $(squeue -h -o %A 2>/dev/null) 2>/dev/null || true
    for _ in $(seq 100); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  for pidfile in "$LAB"/slurmd.*pid "$LAB/slurmctld.pid" "$LAB/munge/munged.pid"; do
    if pid_alive "$pidfile"; then
      kill "$(cat "$pidfile")"
      for _ in $(seq 50); do pid_alive "$pidfile" || break; sleep 0.1; done
    fi
  done
}

status() {
  for name in munge/munged slurmctld slurmd.node1 slurmd.node2 slurmd.node3; do
    if pid_alive "$LAB/$name.pid"; then echo "$(basename $name): running (pid $(cat "$LAB/$name.pid"))"; else echo "$(basename $name): stopped"; fi
  done
  sinfo 2>/dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
