"""CycleGAN (4 nets, pools in the loss state) under jit, mesh and pmap on 8 virtual CPU devices (run by
tests/test_models_translation.py with XLA_FLAGS=--xla_force_host_platform_device_count=8). Prints one JSON object:
per mode, the largest absolute differences of params, optimizer states and pools to the jit state after 2 steps."""

import json

import jax
import numpy as np

from jaxgan.models import cyclegan_model
from jaxgan.train import general, parallel


def _diff(a, b):
  """The largest difference over leaves, each leaf's scaled by max(1, its largest magnitude): absolute for params
  and images (|x| <= 1 mostly), relative for Adam's moments of gradients of norm ~10-40."""
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(la) == len(lb)
  out = 0.0
  for x, y in zip(la, lb):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.size:
      out = max(out, float(np.max(np.abs(x - y)) / max(1.0, float(np.max(np.abs(y))))))
  return out


def main():
  model = cyclegan_model(generator="resnet_tiny", d_patch="16", d_width=4, image_shape=(16, 16, 3), batch=8,
                         pool_size=6, num_steps=10, eps=1e-4)  # eps: see cyclegan_model's docstring
  rng = np.random.default_rng(0)
  batches = [{k: np.tanh(rng.normal(size=(8, 16, 16, 3))).astype(np.float32) for k in ("A", "B")} for _ in range(2)]
  host0 = jax.device_get(general.init_general_state(jax.random.key(1), model, batches[0]))
  out = {"num_devices": jax.device_count()}
  states = {}
  with jax.default_matmul_precision("highest"):
    for mode in ("jit", "mesh", "pmap"):
      dp = parallel.DataParallel.create(mode, d_steps=model.num_slices)
      step = dp.compile_model(model, compiler_options=general.UNOPTIMIZED if mode != "pmap" else None)
      s = dp.put_state(host0)
      for b in batches:
        s, m = step(s, dp.put_batch(b))
      states[mode] = (jax.device_get(dp.host_state(s)), {k: float(v) for k, v in jax.device_get(m).items()})
  ref, ref_m = states["jit"]
  pools = lambda s: [t[0] for t in s.loss_state["cyclegan"][:2]]
  out["jit"] = {"pool_counts": [int(p.pool.count) for p in pools(ref)]}
  for mode in ("mesh", "pmap"):
    s, m = states[mode]
    out[mode] = {"step": int(s.step), "params": _diff(s.params, ref.params), "opt_state": _diff(s.opt_state,
                 ref.opt_state), "pools": _diff(pools(s), pools(ref)),
                 "pool_counts": [int(p.pool.count) for p in pools(s)],
                 "metrics": max(abs(m[k] - ref_m[k]) / (1e-6 + abs(ref_m[k])) for k in ref_m)}
  print(json.dumps(out))


if __name__ == "__main__":
  main()
