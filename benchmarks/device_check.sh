#!/bin/bash
# Everything a GPU session checks, in one call under one deadline: the CUDA tests, then training-step throughput
# and peak memory of each variant in its own process (a crash or timeout loses only that variant).
#
#   OUT=results-dir BUDGET=540 [PROFILE=1] bash benchmarks/device_check.sh [variant ...]
#
# Variants are bench_training.py's (default: step compile-reuse compile compile-reuse-mem). Compiling takes
# about three minutes on an H100 (16 cores) the first time and well under one from inductor's cache.
cd "$(dirname "$0")/.." || exit 1
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
PY=${PYTHON:-python3}
OUT=${OUT:-device-check}
mkdir -p "$OUT"
LOG=$OUT/device-check.log
end=$((SECONDS + ${BUDGET:-540}))
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$LOG"
$PY -c "import torch; print('torch', torch.__version__)" | tee -a "$LOG"
timeout 90 $PY -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tail -2 | tee -a "$LOG"
variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(step compile-reuse compile compile-reuse-mem)
for v in "${variants[@]}"; do
  left=$((end - SECONDS))
  if [ $left -lt 30 ]; then echo "== $v skipped: no time left" | tee -a "$LOG"; continue; fi
  echo "== $v (at most $left s)" | tee -a "$LOG"
  timeout $left $PY benchmarks/bench_training.py --device cuda --variants "$v" --steps 10 --warmup 3 \
    ${PROFILE:+--profile} --out "$OUT/train-$v.json" >> "$LOG" 2>&1
  echo "== $v exit $?" | tee -a "$LOG"
  grep -E "warm-up step 1|images/s" "$LOG" | tail -2
done
