#!/usr/bin/env bash
# `ci/examples/slurm.sh` on a real one-node Slurm cluster: installs Debian's slurmctld, slurmd and
# munge when missing, starts the daemons in a scratch folder (their own ports, munge socket and
# key; each stopped by its process id on exit), submits the job array and the dependent
# merge/report/gate job exactly as the example's comments say, requeues one array task while it
# runs (a preemption), and checks:
#   - every job completed; the requeued task's log shows attempt 1 stopped by the requeue, and
#     attempt 2;
#   - the requeued shard kept the cells attempt 1 had finished (the same records) and holds every
#     cell once;
#   - the merged file holds exactly the unsharded sweep's cells, each once; the gate passed against
#     that unsharded run.
# Needs root (daemons, apt-get). About two minutes. Usage: ci/slurm-cluster.sh [slmbench binary]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/slmbench}")
start=$(date +%s)
say() { echo "slurm-cluster: $*"; }
fail() {
  echo "slurm-cluster: FAILED: $*" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || fail "needs root, to install packages and start the Slurm and munge daemons"
[ -x "$bin" ] || fail "$bin is not an executable: build it with cargo build --release"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null ||
  ! command -v munged >/dev/null; then
  say "installing slurmctld, slurmd, slurm-client and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
fi

dir=$(mktemp -d /tmp/slmbench-slurm.XXXXXX)
chmod 755 "$dir"
mkdir -p "$dir"/{munge,state,spool,log,results}
pids=()
jobs=
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    for f in "$dir"/log/*; do
      [ -f "$f" ] && { echo "---- $f"; tail -n 60 "$f"; }
    done >&2
  fi
  # Jobs still running (a failure midway) are cancelled first, so no step outlives the cluster.
  if [ -n "${jobs:-}" ]; then
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 100); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.1; done
  fi
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -s "$pidfile" ] && pids+=("$(cat "$pidfile")")
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
  exit $rc
}
trap cleanup EXIT

# munge: this cluster's own key and socket, so a system munged (if any) is left alone.
head -c 1024 /dev/urandom >"$dir/munge/munge.key"
chown -R munge:munge "$dir/munge"
chmod 755 "$dir/munge"
chmod 400 "$dir/munge/munge.key"
runuser -u munge -- munged --socket="$dir/munge/munge.sock" --key-file="$dir/munge/munge.key" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed"

host=$(hostname -s)
cpus=$(nproc)
export SLURM_CONF="$dir/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=slmbenchci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
KillWait=30
MinJobAge=600
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do
  [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break
  sleep 0.5
done
[ "$(sinfo -h -o %T)" = idle ] || fail "the node did not come up: sinfo says '$(sinfo -h -o %T)'"
say "one-node cluster up: $host, $cpus CPUs"

# The sweep: the tiny pair at 3 × 2 points (12 cells), 300 repetitions each, so a task runs long
# enough to be requeued between its cells. sbatch passes these on to the jobs.
export SLMBENCH_BIN="$bin" SLMBENCH_PRESET=tiny SLMBENCH_INPUT_TOKENS=16,32,64 SLMBENCH_OUTPUT_TOKENS=8,16
export SLMBENCH_RUN_ARGS="--min-repetitions 300 -r 300 --no-accuracy"
export SLMBENCH_RESULTS="$dir/results" SLMBENCH_BASELINE="$dir/unsharded.jsonl"
export SLMBENCH_GATE_CONFIG=ci/gate-tiny.toml SLMBENCH_GATE_ARGS="--confirm 2"
# shellcheck disable=SC2086
"$bin" run --preset tiny -p "$SLMBENCH_INPUT_TOKENS" -n "$SLMBENCH_OUTPUT_TOKENS" -t 1 $SLMBENCH_RUN_ARGS \
  --no-report -o "$dir/unsharded.jsonl" >"$dir/log/unsharded.out" 2>&1 || fail "the unsharded reference run failed"

cells() { grep -o '"cell_id":"[0-9a-f]*"' "$1" | sort; }
array=$(sbatch --parsable --array=1-3 --cpus-per-task=1 --output="$dir/log/sweep-%A_%a.out" ci/examples/slurm.sh sweep)
gate=$(sbatch --parsable --dependency="afterok:$array" --cpus-per-task=1 --output="$dir/log/gate-%j.out" \
  ci/examples/slurm.sh gate)
jobs="$array $gate"
say "submitted array job $array (3 tasks, 1 CPU each) and gate job $gate after it"

# Preemption: once task 1 has written its first pair of cells, requeue it.
shard1="$dir/results/shard-1.jsonl"
for _ in $(seq 1200); do
  [ -f "$shard1" ] && [ "$(cells "$shard1" | wc -l)" -ge 2 ] && break
  sleep 0.1
done
kept=$(cells "$shard1" | wc -l)
[ "$kept" -ge 2 ] && [ "$kept" -lt 4 ] || fail "task 1 had $kept of its 4 cells when it was to be requeued"
[ "$(squeue -h -j "${array}_1" -o %T)" = RUNNING ] || fail "task 1 was not running when it was to be requeued"
scontrol requeue "${array}_1"
# A requeued job waits two minutes before it may start again; this test need not.
for _ in $(seq 600); do
  [ "$(squeue -h -j "${array}_1" -o %T)" = PENDING ] && break
  sleep 0.1
done
cp "$shard1" "$dir/attempt-1.jsonl"
scontrol update jobid="${array}_1" StartTime=now
say "requeued task 1 with $kept of its 4 cells written"

# Wait for the gate job; a failed task leaves it pending forever, so watch its reason too.
for _ in $(seq 600); do
  state=$(squeue -h -t all -j "$gate" -o '%T %r' 2>/dev/null || true)
  case "$state" in
    *DependencyNeverSatisfied*) fail "an array task failed: the gate job says $state" ;;
    PENDING* | RUNNING* | CONFIGURING* | COMPLETING*) ;;
    *) break ;;
  esac
  sleep 1
done
case "$state" in PENDING* | RUNNING* | CONFIGURING* | COMPLETING*) fail "the jobs did not finish within 10 minutes ($state)" ;; esac
for job in "${array}_1" "${array}_2" "${array}_3" "$gate"; do
  info=$(scontrol show job "$job")
  grep -q "JobState=COMPLETED" <<<"$info" || fail "job $job: $(grep -o 'JobState=[^ ]*\|ExitCode=[^ ]*' <<<"$info" | xargs)"
done

log1=$(ls "$dir"/log/sweep-"${array}"_1.out)
grep -q "attempt 1 on" "$log1" || fail "task 1's log has no first attempt"
grep -q "DUE TO JOB REQUEUE" "$log1" || fail "task 1's log does not show the requeue"
grep -q "slmbench: stopped by SIGTERM" "$log1" || fail "task 1's log does not show slmbench stopped by the requeue's SIGTERM"
grep -q "attempt 2 on" "$log1" || fail "task 1's log has no second attempt"
# Attempt 1's finished cells are still there, record for record, and no cell is there twice.
while IFS= read -r line; do
  grep -qxF "$line" "$shard1" || fail "a record attempt 1 wrote is not in the final shard file"
done < <(grep '"cell_id"' "$dir/attempt-1.jsonl")
[ -z "$(cells "$shard1" | uniq -d)" ] || fail "a cell is in shard 1 twice"
[ "$(cells "$shard1" | wc -l)" -eq 4 ] || fail "shard 1 holds $(cells "$shard1" | wc -l) cells, not 4"
diff <(cells "$dir/results/all.jsonl") <(cells "$dir/unsharded.jsonl") >/dev/null ||
  fail "the merged cells differ from the unsharded sweep's"
[ -f "$dir/results/report/index.html" ] || fail "the gate job wrote no report"
say "task 1's log (both attempts):"
sed 's/^/  | /' "$log1"
say "passed in $(($(date +%s) - start)) s: 12 cells in 3 shards merged equal the unsharded sweep; task 1 was requeued after $kept cells, resumed, and holds each of its 4 cells once; the gate passed"
