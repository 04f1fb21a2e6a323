#!/usr/bin/env bash
# pix2pix and CycleGAN on facades at 256x256 (the papers' settings), time-boxed, on a leased GPU (issue 27).
#
# Assets: the facades folder (~30 MB) must travel with the call: copy ../shared/data/facades to .assets/facades
# (git-ignored) and name it in `carry`. FID needs the Inception weights (84 MB, over one call's 64 MiB): carry
# them in parts with benchmarks/gpu_assets.sh in the calls before, which exports JAXGAN_FID_WEIGHTS; without them
# the runs still train and report L1/PSNR/SSIM (and LPIPS when its weights are cached), with "fid_note" saying FID
# was skipped.
#
#   bash benchmarks/gpu_translation.sh [SECONDS_EACH]     # default 240 s of training per model
#
# Writes workdirs/gpu_translation/{pix2pix,cyclegan}/ (summary.json, metrics.jsonl, samples/) and copies the
# summaries to $OUT when it is set. A time-boxed run is the first steps of the 80,000-step (pix2pix) / 40,000-step
# (CycleGAN) run, with the schedule of the full run: its FID is not the paper's; the steps/s are what to read, and
# `--stop_at`-free reruns resume it.
set -u -o pipefail
secs=${1:-240}
data=${FACADES_DIR:-.assets/facades}
[ -d "$data" ] || data=../shared/data/facades
root=workdirs/gpu_translation
mkdir -p "$root"
common=(--data_dir="$data" --train_seconds="$secs" --log_every=100 --sample_every=1000 --checkpoint_every=1000
        --progress=false)
python -m experiments.pix2pix --workdir "$root/pix2pix" --no-resume "${common[@]}" || echo "pix2pix failed: $?"
python -m experiments.cyclegan --workdir "$root/cyclegan" --no-resume "${common[@]}" || echo "cyclegan failed: $?"
for m in pix2pix cyclegan; do
  [ -f "$root/$m/summary.json" ] && python - "$root/$m/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
e = s.get("eval", {})
print(f"{s['experiment']}: {s['steps']} steps in {s['wall_seconds']:.0f} s ({s['steps_per_sec']} steps/s, "
      f"{s['device']}); FID {e.get('fid')} (floor {e.get('fid_floor')}, n {e.get('fid_num')}), "
      f"L1 {e.get('l1_255')}, PSNR {e.get('psnr')}, SSIM {e.get('ssim')}, LPIPS {e.get('lpips')}, "
      f"cycle L1 {e.get('cycle_l1')}")
PY
  if [ -n "${OUT:-}" ] && [ -f "$root/$m/summary.json" ]; then
    mkdir -p "$OUT/$m" && cp "$root/$m/summary.json" "$root/$m/metrics.jsonl" "$OUT/$m/"
  fi
done
