#!/usr/bin/env bash
# The GPU checks of one lent GPU machine, as one prepared script (device time is short):
#   1. tests/test_cuda.py (CUDA paths against the CPU ones) and a CUDA/faiss environment report;
#   2. benchmarks/fidelity.py at 10^6 items with its GPU columns (exact scoring on the GPU);
#   3. HSTU on Toys (configs/hstu/toys.yaml), base + one RSIR iteration, for the seeds in SEEDS,
#      all at once on the one GPU (each with THREADS CPU threads), each section written by
#      benchmarks/rsir.py so that its header names the GPU machine.
# Everything lands in OUT (default benchmarks/out/gpu): logs, results-*.md, and runs.tgz (the run
# directories without model weights). DEADLINE (seconds) bounds step 3; what finished by then is kept.
# GPU_CHECK_TINY=1 runs the same steps on the embedded dataset in seconds (a dry run for a CPU machine).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/out/gpu}"
SEEDS="${SEEDS:-1 2 3 4}"
THREADS="${THREADS:-3}"
DEADLINE="${DEADLINE:-420}"
PY="${PY:-python3}"
# EXTRA: more benchmarks/rsir.py arguments for every seed (e.g. "--set model.dropout=0.2"); TAG names those runs
EXTRA="${EXTRA:-}"
TAG="${TAG:-seed}"
SKIP_CHECKS="${SKIP_CHECKS:-0}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 WANDB_MODE=offline
LOG="$OUT/log.txt"

{
  date -u
  nvidia-smi -L 2>&1 || echo "no nvidia-smi"
  # the machine as every benchmark section describes it, plus whether faiss can use the GPU
  "$PY" -c "import sys; sys.path.insert(0, 'benchmarks'); from _common import machine_info
from rsir_pl.generation.index import faiss_has_gpu
print(machine_info(), 'faiss GPU:', faiss_has_gpu())"
} >"$LOG" 2>&1

if [ "${GPU_CHECK_TINY:-0}" = 1 ]; then
  CONFIG=(--config configs/hstu/synthetic.yaml --set trainer.max_epochs=2)
  DATA=synthetic
  FID_SIZES=(--sizes 10000 --nlist 64 --nprobe 4 --queries 256)
else
  CONFIG=(--config configs/hstu/toys.yaml)
  DATA=Toys
  FID_SIZES=(--sizes 1000000 --nlist 1024 --nprobe 16 64)
fi

# 3. seeds in the background first: they are the long part
pids=()
for s in $SEEDS; do
  # shellcheck disable=SC2086
  (OMP_NUM_THREADS=$THREADS timeout "$DEADLINE" "$PY" benchmarks/rsir.py "${CONFIG[@]}" \
      --set seed="$s" --set trainer.progress_bar=false --set generation.progress=false \
      --run_dir "$OUT/runs/$TAG$s" --results "$OUT/results-seed-$TAG$s.md" $EXTRA \
      --title "HSTU full-softmax CE + RSIR at p = 1, $DATA, seed $s on the GPU ($TAG)" \
      >"$OUT/seed-$TAG$s.log" 2>&1; echo "seed $s exit $?" >>"$OUT/seed-$TAG$s.log") &
  pids+=($!)
done

# 1. CUDA tests, then 2. the fidelity benchmark's GPU columns, while the seeds train
[ "$SKIP_CHECKS" = 1 ] || {
  echo "== pytest tests/test_cuda.py"
  OMP_NUM_THREADS=2 timeout 240 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py -rs 2>&1 | tail -25
  echo "== fidelity.py"
  timeout 240 "$PY" benchmarks/fidelity.py --threads 2 "${FID_SIZES[@]}" --results "$OUT/results-fidelity.md" 2>&1 | tail -30
} >>"$LOG" 2>&1

for p in "${pids[@]}"; do wait "$p"; done
{
  for f in "$OUT"/seed-*.log; do echo "== $f"; tail -5 "$f"; done
  nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv 2>&1
  date -u
} >>"$LOG" 2>&1
cat "$OUT"/results-seed*.md >"$OUT/results-seeds.md" 2>/dev/null
rm -f "$OUT"/results-seed-*.md
tar czf "$OUT/runs.tgz" --exclude='*.pt' --exclude='*.npz' -C "$OUT" runs 2>/dev/null
tar czf "$OUT/seedlogs.tgz" -C "$OUT" $(cd "$OUT" && ls seed*.log) 2>/dev/null
rm -rf "$OUT/runs" "$OUT"/seed*.log
cat "$LOG"
