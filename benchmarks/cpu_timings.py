"""CPU timings the README quotes for the classics rows, each written to JSON with the command that measured it.

On the development machine (2 CPU cores, no GPU), three figures say why a CPU session cannot finish a classics row:

1. `steps`: the compiled training step of classics rows (default `mnist_ns` and `fashion_wgan_gp`), ms per G step
   (median of `--calls` calls after one warm-up; jaxgan's tap rule for strided kernel gradients, the default);
2. `fid`: Inception pool3 features of 28x28 images as the FID protocols compute them (TF1 resize to 299x299, strict
   float32), seconds per image at `--fid-batch` (median of `--calls` calls after the compiling one);
3. `frechet`: one Frechet distance between two 2048-d Gaussians, pytorch-fid's `sqrtm` against symmetric
   eigenvalues (`method="eig"`), seconds, one call each, and the two values.

  python -m benchmarks.cpu_timings --out benchmarks/results/cpu_2026-12-06/cpu_timings.json --note "..."
  python -m benchmarks.cpu_timings --parts frechet --dim 64 --out /tmp/t.json    # seconds: a small check

The machine may be shared; `--note` says so in the JSON. Timings there are upper bounds of the idle machine's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import time_calls

PARTS = ("steps", "fid", "frechet")


def fid_features(weights: str | None, batch: int, calls: int) -> dict[str, Any]:
  """Seconds per image of the FID Inception's pool3 features, 28x28 gray images in, strict float32, tf1 mode."""
  from jaxgan import metrics  # pylint: disable=import-outside-toplevel
  extractor = metrics.inception_extractor(weights, mode="tf1")
  images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (batch, 28, 28, 1), dtype=np.uint8))
  features = jax.jit(extractor.apply_fn)
  first, per_call = time_calls(lambda: features(extractor.params, images)["pool3"], jax.block_until_ready,
                               warmup=1, iters=1, repeats=calls)
  return {"batch": batch, "calls": calls, "first_call_seconds": first, "seconds_per_batch": per_call,
          "seconds_per_image": per_call / batch, "mode": "tf1", "precision": "highest"}


def frechet_times(dim: int) -> dict[str, Any]:
  """One Frechet distance between two random dim-d Gaussians (covariances of 2*dim samples), by each method."""
  from jaxgan.metrics import frechet  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  stats = []
  for shift in (0.0, 0.1):
    x = rng.standard_normal((2 * dim, dim)) + shift
    stats.append((x.mean(0), np.cov(x, rowvar=False)))
  (mu1, s1), (mu2, s2) = stats
  out: dict[str, Any] = {"dim": dim}
  for method in ("sqrtm", "eig"):
    start = time.perf_counter()
    value = frechet.frechet_distance(mu1, s1, mu2, s2, method=method)
    out[method] = {"seconds": time.perf_counter() - start, "fid": float(value)}
  out["relative_difference"] = abs(out["sqrtm"]["fid"] - out["eig"]["fid"]) / abs(out["sqrtm"]["fid"])
  return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
  p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_timings", description=__doc__.split("\n")[0])
  p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
  p.add_argument("--rows", default="mnist_ns,fashion_wgan_gp", help="classics rows whose training step is timed")
  p.add_argument("--calls", type=int, default=3, help="timed calls per measurement (median)")
  p.add_argument("--fid-batch", type=int, default=8, help="images per Inception call")
  p.add_argument("--weights", default=None, help="FID Inception weights (default: as benchmarks.reproduce finds them)")
  p.add_argument("--dim", type=int, default=2048, help="dimension of the Frechet distance")
  p.add_argument("--note", default="", help="recorded in the JSON, e.g. what else ran on the machine")
  p.add_argument("--out", default="", help="write the results as JSON here")
  a = p.parse_args(argv)
  parts = [x.strip() for x in a.parts.split(",") if x.strip()]
  unknown = sorted(set(parts) - set(PARTS))
  if unknown:
    p.error(f"unknown part(s) {unknown}; known: {', '.join(PARTS)}")
  from benchmarks.reproduce import default_weights, device_name  # pylint: disable=import-outside-toplevel
  result: dict[str, Any] = {
      "device": device_name(), "jax": jax.__version__, "date": time.strftime("%Y-%m-%d", time.gmtime()),
      "command": "python -m benchmarks.cpu_timings " + " ".join(argv if argv is not None else sys.argv[1:]),
      "note": a.note}
  if "steps" in parts:
    from benchmarks.cpu_convs import step_rows  # pylint: disable=import-outside-toplevel
    result["steps"] = []
    for row in (r.strip() for r in a.rows.split(",") if r.strip()):
      (rec,) = step_rows(row, a.calls, False, rules=(True,))
      rec["steps_per_sec"] = 1e3 / rec["ms"]
      result["steps"].append(rec)
  if "fid" in parts:
    result["fid"] = fid_features(a.weights or default_weights(), a.fid_batch, a.calls)
    print(f"FID features: {result['fid']['seconds_per_image']:.3f} s per image", flush=True)
  if "frechet" in parts:
    result["frechet"] = frechet_times(a.dim)
    print(f"Frechet distance, {a.dim}-d: sqrtm {result['frechet']['sqrtm']['seconds']:.1f} s, "
          f"eig {result['frechet']['eig']['seconds']:.1f} s", flush=True)
  if a.out:
    with open(a.out, "w") as f:
      json.dump(result, f, indent=2)
  return result


if __name__ == "__main__":
  main()
