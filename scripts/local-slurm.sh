#!/usr/bin/env bash
# A real single-node SLURM cluster for ckpt's SLURM tests, everything under one directory:
# no systemd, nothing under /etc changed. Packages: slurmctld slurmd slurm-client munge.
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
  mkdir -p "$LAB"/{state,spool,log,munge}
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
SlurmdSpoolDir=$LAB/spool
SlurmctldPidFile=$LAB/slurmctld.pid
SlurmdPidFile=$LAB/slurmd.pid
SlurmctldLogFile=$LAB/log/slurmctld.log
SlurmdLogFile=$LAB/log/slurmd.log
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
KillWait=5
SlurmdTimeout=6
MinJobAge=600
# Small, so that a flow's fan-out of more tasks is split into several arrays in the tests.
MaxArraySize=5
DefMemPerCPU=256
SlurmdParameters=config_overrides
NodeName=node1 NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=${mem:-1024}
PartitionName=debug Nodes=node1 Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  need munged mungekey slurmctld slurmd sinfo
  local before=
  [ -f "$CONF" ] && before=$(cat "$CONF")
  write_config
  # A lab started by an older version of this script takes the new settings without a restart.
  if [ -n "$before" ] && [ "$before" != "$(cat "$CONF")" ] && pid_alive "$LAB/slurmctld.pid"; then
    scontrol reconfigure || true
  fi
  if ! pid_alive "$LAB/munge/munged.pid"; then
    munged --key-file="$LAB/munge/munge.key" --socket="$LAB/munge/munge.socket.2" \
      --pid-file="$LAB/munge/munged.pid" --log-file="$LAB/munge/munged.log" --seed-file="$LAB/munge/munge.seed"
  fi
  pid_alive "$LAB/slurmctld.pid" || slurmctld -f "$CONF"
  pid_alive "$LAB/slurmd.pid" || slurmd -f "$CONF" -N node1
  for _ in $(seq 100); do
    state=$(sinfo -h -n node1 -o %T 2>/dev/null || true)
    case "$state" in
      idle* | mixed* | allocated*) echo "export SLURM_CONF=$CONF"; return 0 ;;
    esac
    sleep 0.1
  done
  echo "local-slurm: node1 did not become idle (state: ${state:-none}); see $LAB/log/" >&2
  exit 1
}

stop() {
  if pid_alive "$LAB/slurmctld.pid"; then
    # Running jobs outlive slurmd: cancel them and wait until the queue is empty first.
    scancel --full --quiet $(squeue -h -o %A 2>/dev/null) 2>/dev/null || true
    for _ in $(seq 100); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  for pidfile in "$LAB/slurmd.pid" "$LAB/slurmctld.pid" "$LAB/munge/munged.pid"; do
    if pid_alive "$pidfile"; then
      kill "$(cat "$pidfile")"
      for _ in $(seq 50); do pid_alive "$pidfile" || break; sleep 0.1; done
    fi
  done
}

status() {
  for name in munge/munged slurmctld slurmd; do
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
