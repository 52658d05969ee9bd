#!/usr/bin/env bash
# The GPU checks of one lent GPU machine, as one prepared script (device time is short):
#   1. tests/test_cuda.py (CUDA paths against the CPU ones) and a CUDA/faiss environment report;
#   2. benchmarks/fidelity.py at 10^6 items with its GPU columns (exact scoring on the GPU);
#   3. the headline cells the CPU machines cannot train in a session: for each BACKBONE:DATASET:SEED
#      of CELLS, `rsir tune` (base under the adopted default, then one RSIR iteration per setting of
#      GRID, chosen on validation), all at once on the one GPU (each with THREADS CPU threads), each
#      section written by benchmarks/study.py so that its header names the GPU machine.
# Everything lands in OUT (default benchmarks/out/gpu): logs, results-*.md, and runs.tgz (the run
# directories without model weights or in-progress fit checkpoints, with the per-user test ranks
# that benchmarks/seed_summary.py --tune pools over seeds). DEADLINE (seconds) bounds step 3; what
# finished by then is kept (a cell cut off by the deadline writes no section).
# GPU_CHECK_TINY=1 runs the same steps on the embedded dataset in seconds (a dry run for a CPU machine).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/out/gpu}"
CELLS="${CELLS:-cl4srec:beauty:1 cl4srec:beauty:2}"
# one setting by default: a base and one student fit in a call's 10 minutes on an H200 (HSTU on Toys:
# about 2.5 min for the base, twice that for the student on D_0 plus its synthetic sequences)
GRID="${GRID:-{generation.p: [0.5]}}"
THREADS="${THREADS:-3}"
DEADLINE="${DEADLINE:-540}"
PY="${PY:-python3}"
# EXTRA: more benchmarks/study.py arguments for every cell (e.g. "--set model.dropout=0.2")
EXTRA="${EXTRA:-}"
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
  TINY=(--set trainer.max_epochs=2)
  FID_SIZES=(--sizes 10000 --nlist 64 --nprobe 4 --queries 256)
else
  TINY=()
  FID_SIZES=(--sizes 1000000 --nlist 1024 --nprobe 16 64)
fi

# 3. the cells in the background first: they are the long part
pids=()
for cell in $CELLS; do
  IFS=: read -r bb data seed <<<"$cell"
  [ "${GPU_CHECK_TINY:-0}" = 1 ] && data=synthetic
  name="$bb-$data-s$seed"
  # shellcheck disable=SC2086
  (OMP_NUM_THREADS=$THREADS timeout "$DEADLINE" "$PY" benchmarks/study.py tune --config "configs/$bb/$data.yaml" \
      --grid "$GRID" --set seed="$seed" --set run_dir="$OUT/runs/tune-$name" "${TINY[@]}" \
      --set trainer.progress_bar=false --set generation.progress=false --results "$OUT/results-cell-$name.md" \
      --title "rsir tune on $data ($bb, strong base, seed $seed) on the GPU: p chosen on validation" $EXTRA \
      >"$OUT/cell-$name.log" 2>&1; echo "cell $name exit $?" >>"$OUT/cell-$name.log") &
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
  for f in "$OUT"/cell-*.log; do echo "== $f"; tail -5 "$f"; done
  nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv 2>&1
  date -u
} >>"$LOG" 2>&1
cat "$OUT"/results-cell-*.md >"$OUT/results-cells.md" 2>/dev/null
rm -f "$OUT"/results-cell-*.md
tar czf "$OUT/runs.tgz" --exclude='*.pt' --exclude='*.ckpt' -C "$OUT" runs 2>/dev/null
tar czf "$OUT/celllogs.tgz" -C "$OUT" $(cd "$OUT" && ls cell-*.log) 2>/dev/null
rm -rf "$OUT/runs" "$OUT"/cell-*.log
cat "$LOG"
