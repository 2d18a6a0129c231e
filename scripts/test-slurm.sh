#!/usr/bin/env bash
# blkrew's Slurm test: starts a throw-away one-node Slurm cluster on this machine and runs the
# SlurmTests (a real `sweep run --executor slurm --wait`) against it. Called by `make test-slurm`.
#
# - Installs slurmctld, slurmd and slurm-client when missing (apt-get --no-install-recommends;
#   munge comes along as a dependency but is not used: the cluster uses AuthType=auth/none and
#   CredType=cred/none, which Debian 12's Slurm 22.05 still ships, so no key or munged is needed).
# - Writes slurm.conf under a temporary directory (state, spool, logs and pid files there too,
#   free ports found at run time), starts slurmctld -D and slurmd -D in the background with
#   SLURM_CONF pointing at it, and waits for the node to be idle.
# - Stops both daemons (and cancels the cluster's jobs) on exit, whatever happens.
#
# Exit status: 0 when the test passed, or with a "skipped: <reason>" line when Slurm cannot be
# installed or started here (CI may skip); non-zero when the Slurm path of blkrew fails.
# Environment: BLKREW_SCRATCH_PATH (swift --scratch-path, default .build), KEEP_SLURM_DIR=1 keeps
# the temporary directory (logs) for a look afterwards.
set -uo pipefail

cd "$(dirname "$0")/.."
SCRATCH_PATH="${BLKREW_SCRATCH_PATH:-.build}"
t_start=$(date +%s)

skip() {
  echo "test-slurm: skipped: $*"
  exit 0
}

# 1. Packages.
PACKAGES=(slurmctld slurmd slurm-client)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
      skip "Slurm is not installed and installing it needs root (apt-get install -y --no-install-recommends ${missing[*]})"
    fi
  fi
  echo "test-slurm: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >/tmp/blkrew-test-slurm-apt.log 2>&1; then
    tail -n 5 /tmp/blkrew-test-slurm-apt.log >&2
    skip "apt-get install ${missing[*]} failed (log: /tmp/blkrew-test-slurm-apt.log)"
  fi
fi
for tool in slurmctld slurmd sbatch sinfo squeue scancel; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || skip "$tool not found after installing"
done
export PATH="$PATH:/usr/sbin"

# 2. A one-node cluster under a temporary directory.
SLURM_DIR=$(mktemp -d /tmp/blkrew-slurm.XXXXXX)
CTLD_PID=""
SLURMD_PID=""
cleanup() {
  if [ -n "$CTLD_PID" ] && kill -0 "$CTLD_PID" 2>/dev/null; then
    scancel --quiet --user="$(id -un)" 2>/dev/null || true
    sleep 1
  fi
  for pid in $SLURMD_PID $CTLD_PID; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $SLURMD_PID $CTLD_PID; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "${KEEP_SLURM_DIR:-0}" = 1 ]; then
    echo "test-slurm: kept $SLURM_DIR" >&2
  else
    rm -rf "$SLURM_DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=$((20000 + ($$ % 20000) * 2))
for _ in $(seq 1 50); do
  if port_free "$port" && port_free $((port + 1)); then break; fi
  port=$((port + 2))
done
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) - 1024 }' /proc/meminfo)
user=$(id -un)
mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool" "$SLURM_DIR/log"
cat >"$SLURM_DIR/slurm.conf" <<EOF
# A throw-away one-node cluster for blkrew's Slurm test (scripts/test-slurm.sh).
ClusterName=blkrewtest
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=localhost NodeHostname=localhost CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=blkrew Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$SLURM_DIR/slurm.conf"

slurmctld -D -f "$SLURM_CONF" >"$SLURM_DIR/log/slurmctld.out" 2>&1 &
CTLD_PID=$!
slurmd -D -N localhost -f "$SLURM_CONF" >"$SLURM_DIR/log/slurmd.out" 2>&1 &
SLURMD_PID=$!

state=""
for _ in $(seq 1 60); do
  state=$(sinfo -h -n localhost -o %t 2>/dev/null | head -n 1)
  [ "$state" = idle ] && break
  if ! kill -0 "$CTLD_PID" 2>/dev/null || ! kill -0 "$SLURMD_PID" 2>/dev/null; then break; fi
  sleep 0.5
done
if [ "$state" != idle ]; then
  tail -n 5 "$SLURM_DIR/log/slurmctld.out" "$SLURM_DIR/log/slurmd.out" >&2
  skip "the one-node Slurm cluster did not come up (node state '${state:-none}' after 30 s)"
fi
t_up=$(date +%s)
echo "test-slurm: Slurm up in $((t_up - t_start)) s (ports $port/$((port + 1)), $cpus CPUs, ${mem_mb} MB, $SLURM_DIR)" >&2

# 3. The test.
BLKREW_SLURM_TEST=1 swift test --scratch-path "$SCRATCH_PATH" --filter SlurmTests
rc=$?
t_end=$(date +%s)
if [ $rc -eq 0 ]; then
  echo "test-slurm: passed in $((t_end - t_up)) s (total $((t_end - t_start)) s)"
else
  echo "test-slurm: FAILED (swift test exit $rc) after $((t_end - t_up)) s; daemon logs: KEEP_SLURM_DIR=1 $0" >&2
fi
exit $rc
