#!/usr/bin/env bash
# Rows of the classics table (issue 7) on one GPU machine, in slices that fit a time-limited lease.
#
#   ROWS=fashion,mnist SEEDS=0,1,2 PAR=7 TOGETHER=1 DATA_DIR=mnist=D1,fashion_mnist=D2 JAXGAN_FID_WEIGHTS=W \
#     EARLIER=benchmarks/results/h200_2026-11-26/classics bash benchmarks/gpu_classics.sh OUT
#
# Trains and scores ROWS (names or groups, `python -m benchmarks.reproduce --list`) for SEEDS with
# `benchmarks.reproduce` under RESULTS (default results/), all within LIMIT seconds (default 540), then packs every
# row's JSON, baselines.json, results.md and each run's last sample grid and loss curves into
# OUT/classics_results.tgz (one file, however many rows; the device returns at most 8), copies results.md beside it
# and writes the workers' output to OUT/classics.log.
#
# The archive is rewritten after every item (a row's seed), so a call cut off by the lease keeps what was finished.
#
# The work is one item per row and seed that has no result in RESULTS yet (`reproduce --todo`), every row's first
# seed before any row's second. PAR worker processes (default 1) share the GPU: each takes the next item nobody has
# taken yet (one reproduce process per item), so a slow row does not hold up the others. On one H200 (2026-11-26)
# seven MNIST rows trained side by side, the five n_critic 1 ones 18,750 G steps each in 207-265 s (71-91 steps/s,
# compilation included; one row alone: not measured yet). Evaluations take turns (`--eval-lock`): six started
# together there all overran the limit, where one alone takes 25 s; taking turns, seven Fashion-MNIST rows trained
# and scored in 335 s, and on 2026-11-27 six CIFAR-10 rows (PAR=6, FID_BATCH=500) in 530 s. Each process gets 0.9 /
# PAR of the GPU memory (XLA_PYTHON_CLIENT_MEM_FRACTION, unless set: with PAR=6, 12 GiB of an 80 GB H100, 21 GiB of
# an H200; the Inception's buffers take 4.5 GiB at FID_BATCH=500 and 2.3 GiB at 250, by XLA's memory analysis of the
# compiled CPU program, 2026-11-27, before cuDNN's workspace) and compiled programs are cached on disk
# (JAX_COMPILATION_CACHE_DIR, default RESULTS/.jax_cache), so the Inception is compiled once, not once per row.
# Seeds of an earlier run with the same settings are kept (runs in several leases add up, see reproduce.py).
#
# DATA_DIR goes to --data-dir (a folder when the rows read one dataset, else dataset=DIR pairs, e.g.
# mnist=data/mnist,fashion_mnist=data/fashion); all arguments are checked against every row before any work.
# CKPT_EVERY (default 0: only the final state, which evaluation resumes from) is the checkpoint period: a run cannot
# outlive the lease's machine, so intermediate checkpoints only cost time. REPRO_ARGS go to every reproduce call
# (e.g. --smoke for a CPU check of the plumbing, --steps N, or --train-seconds S: each run stops at its first step
# after S seconds of training, so rows of unknown speed on a shared GPU still finish within LIMIT); PYTHON (default
# python3) runs them.
#
# TOGETHER=1: an item is a row with all its seeds still to measure ("row:0,1,2"), trained side by side in one
# compiled step (`reproduce --together`, a jax.vmap over the seeds: a small net leaves most of the GPU idle, so
# three seeds cost far less than three runs; not measured on a GPU yet), then evaluated one by one.
#
# MAX_ITEMS=N: only the first N items of the work (default: all), so a call takes one round of PAR items and starts
# none it cannot finish within LIMIT (benchmarks/gpu_lucic.sh calls it so).
#
# EARLIER: a folder of row JSON from earlier leases (e.g. the committed benchmarks/results/<device>_<date>/classics),
# copied into RESULTS where RESULTS has no file of that name, so that new seeds of a row add to its measured ones
# (reproduce keeps them when the settings match and moves the file to superseded/ when they do not).
set -u -o pipefail
out=${1:-${OUT:-results/gpu}}
results=${RESULTS:-results}
par=${PAR:-1}
limit=${LIMIT:-540}
py=${PYTHON:-python3}
module=${REPRO_MODULE:-benchmarks.reproduce}  # tests replace the module with a stand-in
case "$par" in ''|*[!0-9]*|0) echo "error: PAR must be a positive integer, got '$par'" >&2; exit 2 ;; esac
case "$limit" in ''|*[!0-9]*) echo "error: LIMIT must be a number of seconds, got '$limit'" >&2; exit 2 ;; esac
if [ -n "${MAX_ITEMS:-}" ]; then
  case "$MAX_ITEMS" in *[!0-9]*|0) echo "error: MAX_ITEMS must be a positive integer, got '$MAX_ITEMS'" >&2; exit 2 ;; esac
fi
mkdir -p "$out" "$results"
export PYTHONUNBUFFERED=1
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$results/.jax_cache}
if [ "$par" -gt 1 ] && [ -z "${XLA_PYTHON_CLIENT_MEM_FRACTION:-}" ]; then
  XLA_PYTHON_CLIENT_MEM_FRACTION=$(awk -v p="$par" 'BEGIN { printf "%.3f", 0.9 / p }')
  export XLA_PYTHON_CLIENT_MEM_FRACTION
fi
deadline=$(( $(date +%s) + limit ))
data=()
read -r -a extra <<<"${REPRO_ARGS:-}"
[ -n "${DATA_DIR:-}" ] && data=(--data-dir "$DATA_DIR")

: "${ROWS:?set ROWS, e.g. ROWS=mnist_ns}"
if [ -n "${EARLIER:-}" ]; then
  [ -d "$EARLIER" ] || { echo "error: EARLIER=$EARLIER is not a folder (the earlier row JSON)" >&2; exit 2; }
  for f in "$EARLIER"/*.json; do
    [ -f "$f" ] && [ ! -e "$results/$(basename "$f")" ] && cp "$f" "$results/" && echo "earlier: $(basename "$f")"
  done
fi
# Every argument checked against all rows at once (--data-dir against every dataset they read); groups expanded.
# The work: one row:seed item per seed not measured yet, every row's first seed before any row's second.
together=()
case "${TOGETHER:-0}" in
  0) ;;
  1) together=(--together) ;;
  *) echo "error: TOGETHER must be 0 or 1, got '${TOGETHER}'" >&2; exit 2 ;;
esac
items=$("$py" -m "$module" --rows "$ROWS" --seeds "${SEEDS:-0}" "${data[@]}" "${extra[@]}" "${together[@]}" \
  --out "$results" --todo) || exit 1
[ -n "${MAX_ITEMS:-}" ] && items=$(printf '%s\n' "$items" | head -n "$MAX_ITEMS")
work=$(mktemp -d "$results/.gpu_classics.XXXXXX")
trap 'rm -rf "$work"' EXIT

pack() {  # every row JSON (and results.md once written) into OUT/classics_results.tgz, replaced atomically,
  # with each finished run's last sample grid and loss curves (runs/ROW/seed_S/{samples/step_N.png,losses.png}; a
  # run has finished training once its summary.json is written, after them)
  local tmp files grids
  files=$(cd "$results" && ls ./*.json ./results.md 2>/dev/null)
  [ -n "$files" ] || return 0  # nothing finished yet
  grids=$(cd "$results" && for summary in ./runs/*/seed_*/summary.json; do
    [ -f "$summary" ] || continue
    run=${summary%/summary.json}
    find "$run/samples" -maxdepth 1 -name 'step_*.png' 2>/dev/null | sort -V | tail -n 1
    [ -f "$run/losses.png" ] && echo "$run/losses.png"
  done)
  files="$files $grids"
  tmp=$(mktemp "$out/.classics_results.XXXXXX") || return 1
  # shellcheck disable=SC2086
  if (cd "$results" && tar czf - $files) >"$tmp" && chmod 644 "$tmp"; then
    mv -f "$tmp" "$out/classics_results.tgz"
  else
    rm -f "$tmp"
  fi
}

worker() {  # $1: worker number. Takes items nobody has taken (mkdir is atomic) until none is left or time is up.
  local item row seed left status
  for item in $items; do
    mkdir "$work/$item" 2>/dev/null || continue
    row=${item%:*}
    seed=${item##*:}
    left=$(( deadline - $(date +%s) ))
    if [ "$left" -le 5 ]; then
      echo "time is up: $row seed $seed not started"
      continue
    fi
    echo "$row seed $seed: start, ${left} s left"
    timeout "$left" "$py" -m "$module" --rows "$row" --seeds "$seed" --skip-done --workers "$par" \
      "${data[@]}" "${extra[@]}" "${together[@]}" \
      --fid-batch "${FID_BATCH:-500}" --checkpoint-every "${CKPT_EVERY:-0}" --eval-lock "$work/eval.lock" \
      --out "$results" 2>&1 |
      grep --line-buffered -v '^| '
    status=${PIPESTATUS[0]}
    case "$status" in
      0) echo "$row seed $seed: done" ;;
      124) echo "$row seed $seed: stopped at LIMIT" ;;
      *) echo "$row seed $seed: failed (exit $status)" ;;
    esac
    pack  # what is finished comes back even if the lease's call is cut off before the end
  done
}

for i in $(seq 1 "$par"); do  # output both live (line by line, tagged) and per worker
  worker "$i" 2>&1 | sed -u "s/^/[w$i] /" | tee "$work/w$i.log" &
done
wait
cat "$work"/w*.log >"$out/classics.log"
"$py" -m "$module" --table --out "$results" >/dev/null
pack
cp "$results/results.md" "$out/"
