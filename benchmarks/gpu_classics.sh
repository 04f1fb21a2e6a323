#!/usr/bin/env bash
# Rows of the classics table (issue 7) on one GPU machine, in slices that fit a time-limited lease.
#
#   ROWS=mnist_ns,mnist_ls SEEDS=0,1,2 DATA_DIR=data/mnist JAXGAN_FID_WEIGHTS=W bash benchmarks/gpu_classics.sh OUT
#
# Trains and scores ROWS (names or groups, `python -m benchmarks.reproduce --list`) for SEEDS with
# `benchmarks.reproduce` under RESULTS (default results/; a row already finished there is only re-evaluated,
# an interrupted one resumes from its checkpoint), all within LIMIT seconds (default 540; the rows finished by
# then keep their JSON), then packs
# every row's JSON, baselines.json and results.md into OUT/classics_results.tgz (one file, however many rows) and
# copies results.md beside it. DATA_DIR goes to --data-dir (a folder when the rows read one dataset, else
# dataset=DIR pairs, e.g. mnist=data/mnist,fashion_mnist=data/fashion). Needs the project's dependencies
# (ml_collections included) and the FID weights. REPRO_ARGS go to every reproduce call (e.g. --smoke for a CPU
# check of the plumbing, or --steps N).
set -u -o pipefail
out=${1:-${OUT:-results/gpu}}
results=${RESULTS:-results}
mkdir -p "$out" "$results"
export PYTHONUNBUFFERED=1
data=()
read -r -a extra <<<"${REPRO_ARGS:-}"
[ -n "${DATA_DIR:-}" ] && data=(--data-dir "$DATA_DIR")
# One call for all rows, so that --data-dir is checked against every dataset the rows read.
timeout "${LIMIT:-540}" python3 -m benchmarks.reproduce --rows "${ROWS:?set ROWS, e.g. ROWS=mnist_ns}" \
  --seeds "${SEEDS:-0}" "${data[@]}" "${extra[@]}" --fid-batch "${FID_BATCH:-500}" --out "$results" 2>&1 |
  tee "$out/classics.log" | grep -v '^| '
python3 -m benchmarks.reproduce --table --out "$results" >/dev/null
(cd "$results" && tar czf - $(ls ./*.json 2>/dev/null) results.md) >"$out/classics_results.tgz"
cp "$results/results.md" "$out/"
