#!/usr/bin/env bash
# Seeds 0-4 of the MNIST and Fashion-MNIST rows that Lucic et al. 2018 report (issue 26), each scored G only under
# their protocol (10k generated vs the 10k test images), one round of PAR runs per call of a GPU lease.
#
#   eval "$(bash benchmarks/gpu_assets.sh [CARRIED_DIRS])" && bash benchmarks/gpu_lucic.sh OUT
#
# The configuration per loss is fixed before any test FID is seen: each row's preset in experiments/classics.py, its
# loss' own paper's settings (defined for issue 7, before any row was scored). This script only adds seeds; it changes
# no setting (reproduce keeps a row's earlier seeds only when the settings are the same, and moves a JSON of other
# settings to superseded/, never mixing them). Nothing is selected on test FID: every seed of every row is reported.
#
# It runs benchmarks/gpu_classics.sh with these defaults, each overridable from the environment:
#   ROWS       the 12 rows with a Lucic et al. figure: MM, NS, LS, WGAN, WGAN-GP, DRAGAN on both datasets (hinge + SN
#              has none; add it to ROWS once these are done)
#   SEEDS      0,1,2,3,4
#   PAR        7 worker processes sharing the GPU; MAX_ITEMS=$PAR: one round per call, each worker one run, so no run
#              is started that LIMIT would cut (a cut run is lost: checkpoints are written only at its end)
#   LIMIT      420 seconds (a call may take 600; the rest packs the results)
#   EARLIER    benchmarks/results/h200_2026-11-26/classics, the committed seeds 0-1; once a lease has added seeds,
#              commit its unpacked classics_results.tgz (e.g. benchmarks/results/h200_<date>/lucic/) and name that
#   RESULTS    results/lucic (git-ignored, so it stays on the warm machine from one call to the next)
#   FID_BATCH  500; REPRO_ARGS "--frechet eig" (the same FID as sqrtm to ~1e-8 relative, seconds instead of a minute)
#
# Estimate from the committed H200 timings (2026-11-26): seven rows side by side trained in 185-265 s (the WGAN rows
# 83-107 s), each evaluation 13-25 s in turns; a round of seven rows, trained and scored, took 335 and 357 s. Of the
# 60 runs (12 rows x 5 seeds) 19 are measured, 41 are left: 6 rounds of 7. A 15-minute lease holds two rounds after a
# first call that carries the first half of the FID weights and MNIST (the second carries the rest and Fashion-MNIST
# and runs round 1; the third runs round 2): 14 runs per lease, 3 leases. The rounds go seed by seed (every row's
# seed s before any row's seed s + 1), so a lease that ends early leaves every row with as many seeds as possible.
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
export ROWS=${ROWS:-mnist_mm,mnist_ns,mnist_ls,mnist_wgan,mnist_wgan_gp,mnist_dragan,fashion_mm,fashion_ns,fashion_ls,fashion_wgan,fashion_wgan_gp,fashion_dragan}
export SEEDS=${SEEDS:-0,1,2,3,4}
export PAR=${PAR:-7}
export MAX_ITEMS=${MAX_ITEMS:-$PAR}
export LIMIT=${LIMIT:-420}
export EARLIER=${EARLIER:-benchmarks/results/h200_2026-11-26/classics}
export RESULTS=${RESULTS:-results/lucic}
export FID_BATCH=${FID_BATCH:-500}
export REPRO_ARGS=${REPRO_ARGS---frechet eig}  # set but empty: no extra arguments
export TOGETHER=${TOGETHER:-0}
exec bash "$here/gpu_classics.sh" "$@"
