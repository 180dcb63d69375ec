#!/usr/bin/env bash
# Example: one Slurm job array runs the shards, a dependent job merges, reports and gates.
#   sbatch --array=1-4 ci/examples/slurm.sh sweep
#   sbatch --dependency=afterok:<array job id> ci/examples/slurm.sh gate
#SBATCH --job-name=slmbench
#SBATCH --cpus-per-task=8
#SBATCH --requeue
# A preempted task gets SIGTERM, keeps its finished cells (exit 143) and, requeued, continues
# them with --resume (which also starts a fresh file).
set -euo pipefail
bin=target/release/slmbench
case "${1:-sweep}" in
  sweep)
    # Array tasks are numbered 1..N here (--array=1-N), as --shard i/N expects.
    "$bin" run --preset paper -p 16-1024*4 -n 16,64 -t 8 --no-report \
      --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" --resume "results/shard-${SLURM_ARRAY_TASK_ID}.jsonl"
    ;;
  gate)
    "$bin" merge results/shard-*.jsonl -o results/all.jsonl
    "$bin" report results/all.jsonl -o results/report
    "$bin" gate --current results/all.jsonl --baseline ci/baselines/cluster-node.json
    ;;
esac
