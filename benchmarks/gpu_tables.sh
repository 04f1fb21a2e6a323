#!/usr/bin/env bash
# Every GPU table of the README in one command, for one GPU machine with jax, flax, optax,
# orbax-checkpoint, scipy, pillow and torch installed. The two benchmarks need nothing else, so no install step
# is required: run it from the repository root.
#
#   bash benchmarks/gpu_tables.sh [OUT_DIR]        # default: $OUT, else results/gpu
#   BENCH_ARGS=--smoke bash benchmarks/gpu_tables.sh /tmp/check   # a CPU check of the plumbing
#   PARTS=train bash benchmarks/gpu_tables.sh OUT_DIR              # one of the two (train, fid), e.g. when the
#                                                                  # weights reach the machine only after the first
#
# Writes OUT_DIR/{device.txt, train_step.json, train_step.log, fid_throughput.json,
# fid_throughput.log}. The FID benchmark uses random Inception weights of the real shapes unless
# JAXGAN_FID_WEIGHTS names the weights file (speed does not depend on the values; the drift FIDs
# are then between precisions of the same random network). Each benchmark gets its own time limit
# (seconds, TRAIN_LIMIT and FID_LIMIT) so that one slow part cannot take the other's results; each JSON is
# rewritten after every measured part, so a run stopped at its limit keeps what it measured. FID_ARGS go to
# the FID benchmark alone (e.g. --batch-sizes 64,256).
set -u -o pipefail
out=${1:-${OUT:-results/gpu}}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  python3 -c 'import jax, torch; print("jax", jax.__version__, jax.devices()); print("torch", torch.__version__)'
} >"$out/device.txt" 2>&1
cat "$out/device.txt"

read -r -a extra <<<"${BENCH_ARGS:-}"
weights=()
[ -n "${JAXGAN_FID_WEIGHTS:-}" ] && weights=(--weights "$JAXGAN_FID_WEIGHTS")
read -r -a fid_extra <<<"${FID_ARGS:-}"
parts=${PARTS:-train fid}
if [[ " $parts " == *" train "* ]]; then
  timeout "${TRAIN_LIMIT:-300}" python3 -m benchmarks.train_step "${extra[@]}" --out "$out/train_step.json" \
    2>&1 | tee "$out/train_step.log"
fi
if [[ " $parts " == *" fid "* ]]; then
  timeout "${FID_LIMIT:-240}" python3 -m benchmarks.fid_throughput "${extra[@]}" "${fid_extra[@]}" "${weights[@]}" \
    --out "$out/fid_throughput.json" 2>&1 | tee "$out/fid_throughput.log"
fi
