#!/usr/bin/env bash
# Example: one Slurm job array runs the shards, a dependent job merges, reports and gates.
# From the repository root, after `cargo build --release`:
#   sbatch --array=1-4 ci/examples/slurm.sh sweep
#   sbatch --dependency=afterok:<array job id> ci/examples/slurm.sh gate
# Run for real on a one-node cluster by `ci/slurm-cluster.sh` (in `.ci/run`), requeue included.
#SBATCH --job-name=slmbench
#SBATCH --cpus-per-task=8
#SBATCH --requeue
#SBATCH --open-mode=append
# A preempted or requeued task gets SIGTERM, keeps its finished cells (exit 143) and, started
# again, continues them with --resume (which also starts a fresh file). --open-mode=append keeps
# every attempt's output in one log.
#
# Settings, from the environment (sbatch passes the submitting shell's on), with these defaults:
#   SLMBENCH_PRESET         paper               the pair to measure
#   SLMBENCH_INPUT_TOKENS   16-1024*4           -p
#   SLMBENCH_OUTPUT_TOKENS  16,64               -n
#   SLMBENCH_RUN_ARGS       (none)              more `slmbench run` options, split on spaces
#   SLMBENCH_RESULTS        results             folder of the shard files, the merged file, the report
#   SLMBENCH_BASELINE       ci/baselines/cluster-node.json
#   SLMBENCH_GATE_CONFIG    ci/gate.toml        read by `slmbench gate` itself
#   SLMBENCH_GATE_ARGS      (none)              more `slmbench gate` options (e.g. --confirm 2)
#   SLMBENCH_BIN            target/release/slmbench
# Threads per shard are the task's CPUs (--cpus-per-task, default 8 above).
set -euo pipefail
bin=${SLMBENCH_BIN:-target/release/slmbench}
results=${SLMBENCH_RESULTS:-results}
mkdir -p "$results"
case "${1:-sweep}" in
  sweep)
    # Array tasks are numbered 1..N here (--array=1-N), as --shard i/N expects.
    i=${SLURM_ARRAY_TASK_ID:?submit with sbatch --array=1-N}
    n=${SLURM_ARRAY_TASK_COUNT:?submit with sbatch --array=1-N}
    echo "slmbench shard $i/$n: attempt $((${SLURM_RESTART_COUNT:-0} + 1)) on $(hostname) at $(date -u +%FT%TZ)"
    # shellcheck disable=SC2086 # SLMBENCH_RUN_ARGS is a list of options
    "$bin" run --preset "${SLMBENCH_PRESET:-paper}" -p "${SLMBENCH_INPUT_TOKENS:-16-1024*4}" \
      -n "${SLMBENCH_OUTPUT_TOKENS:-16,64}" -t "${SLURM_CPUS_PER_TASK:-8}" ${SLMBENCH_RUN_ARGS:-} --no-report \
      --shard "$i/$n" --resume "$results/shard-$i.jsonl"
    ;;
  gate)
    "$bin" merge "$results"/shard-*.jsonl -o "$results/all.jsonl"
    "$bin" report "$results/all.jsonl" -o "$results/report"
    # shellcheck disable=SC2086 # SLMBENCH_GATE_ARGS is a list of options
    "$bin" gate --current "$results/all.jsonl" --baseline "${SLMBENCH_BASELINE:-ci/baselines/cluster-node.json}" \
      ${SLMBENCH_GATE_ARGS:-}
    ;;
  *)
    echo "usage: sbatch --array=1-N $0 sweep | sbatch --dependency=afterok:<job> $0 gate" >&2
    exit 2
    ;;
esac
