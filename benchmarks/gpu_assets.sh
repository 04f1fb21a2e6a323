#!/usr/bin/env bash
# Assets that reach a leased GPU machine over several calls (a call carries at most 64 MiB): the FID weights (84 MB)
# in parts, and the datasets. Prepare them here once, in git-ignored folders:
#
#   mkdir -p .assets/wa .assets/wb && split -b 54000000 W /tmp/wpart_ && mv /tmp/wpart_aa .assets/wa/ &&
#   mv /tmp/wpart_ab .assets/wb/     # then one folder per dataset: .assets/mnist, .assets/fashion (idx files)
#
# The split lets two calls carry weights and both 28x28 datasets (the working tree, ~1 MB, travels too): the first
# .assets/wa (54 MB) + .assets/mnist (11 MB), the second .assets/wb (33 MB) + .assets/fashion (31 MB), which can
# then run the MNIST and Fashion-MNIST rows. Each call names some of these folders in `carry` and begins with
#
#   eval "$(bash benchmarks/gpu_assets.sh .assets/wa .assets/mnist)"        # DIRs: the folders this call carried
#
# Every file under the DIRs is copied into STASH (default /root/stash, which lives as long as the warm machine).
# The weights' parts (wpart_*) are joined, in name order, into STASH/fid_inception_2015_12_05.npz as soon as the
# join has the sha256 jaxgan knows for these weights (WEIGHTS_SHA256 overrides it); until then the script says which
# parts it has. On stdout it prints only `export` lines: JAXGAN_FID_WEIGHTS once the weights are whole, and DATA_DIR
# with a dataset=DIR pair for every dataset in the stash (mnist; fashion_mnist, whose folder's path must contain
# "fashion"; cifar10, a cifar10*.zip), the form
# benchmarks/gpu_classics.sh and `benchmarks.reproduce --data-dir` take. Messages go to stderr.
set -u -o pipefail
stash=${STASH:-/root/stash}
py=${PYTHON:-python3}
mkdir -p "$stash" || exit 1
dirs=("$@")
[ "${#dirs[@]}" -gt 0 ] || dirs=(.assets/*/)
for d in "${dirs[@]}"; do
  d=${d%/}
  [ -d "$d" ] || { echo "gpu_assets: $d is not a folder (name the carried folders)" >&2; exit 2; }
  mkdir -p "$stash/$(basename "$d")"
  cp -r "$d"/. "$stash/$(basename "$d")/"
  echo "gpu_assets: stashed $d ($(du -sh "$d" | cut -f1))" >&2
done

weights="$stash/fid_inception_2015_12_05.npz"
want=${WEIGHTS_SHA256:-$("$py" -c 'from jaxgan.metrics.weights import KNOWN_SHA256; print(next(iter(KNOWN_SHA256)))')}
[ -n "$want" ] || { echo "gpu_assets: cannot read the weights' sha256 from jaxgan; set WEIGHTS_SHA256" >&2; exit 1; }
if [ ! -f "$weights" ]; then
  parts=$(find "$stash" -type f -name 'wpart_*' | awk -F/ '{print $NF "\t" $0}' | sort | cut -f2)
  if [ -n "$parts" ]; then
    # shellcheck disable=SC2086
    cat $parts >"$weights.tmp"
    if [ "$(sha256sum "$weights.tmp" | cut -d' ' -f1)" = "$want" ]; then
      mv "$weights.tmp" "$weights"
      echo "gpu_assets: weights joined from $(echo "$parts" | wc -l) parts, sha256 checked" >&2
    else
      rm -f "$weights.tmp"
      echo "gpu_assets: weights not whole yet; parts so far: $(echo "$parts" | xargs -n1 basename | xargs)" >&2
    fi
  fi
fi
[ -f "$weights" ] && echo "export JAXGAN_FID_WEIGHTS=$weights"

pairs=()
idx() {  # the first folder of the stash holding MNIST-style idx files; $1: a find filter on the path
  find "$stash" -type f -name 'train-images-idx3-ubyte*' "$@" | sort | head -n 1 | xargs -r dirname
}
f=$(idx -not -path '*fashion*') && [ -n "$f" ] && pairs+=("mnist=$f")
f=$(idx -path '*fashion*') && [ -n "$f" ] && pairs+=("fashion_mnist=$f")  # its folder's path names fashion
f=$(find "$stash" -type f -name 'cifar10*.zip' | sort | head -n 1)
[ -n "$f" ] && pairs+=("cifar10=$f")
if [ "${#pairs[@]}" -gt 0 ]; then
  (IFS=,; echo "export DATA_DIR=${pairs[*]}")
fi
exit 0
