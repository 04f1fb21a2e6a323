"""Parity of the single-device, mesh-jit and pmap steps on virtual CPU devices (run by tests/test_parallel.py).

Run in a fresh process with XLA_FLAGS=--xla_force_host_platform_device_count=8 (the CPU device count is fixed when
JAX starts). Prints one JSON object: for each case, the largest absolute and relative parameter differences of the
mesh and pmap states to the single-device state after a few steps, metric differences, and the error messages of
the bad-input checks.
"""

import json
import sys
import time

import jax
import numpy as np
import optax

from jaxgan.losses.adversarial import non_saturating, wasserstein
from jaxgan.losses.base import chain
from jaxgan.losses.penalties import gradient_penalty
from jaxgan.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from jaxgan.nets.mlp import MLPDiscriminator
from jaxgan.train import general, parallel
from jaxgan.train.multistep import stack_batches
from jaxgan.train.step import StepConfig, init_state, make_train_step

STEPS = 2


def _adam(lr, **kw):
  """Adam with eps 1e-4. Its update lr * g / (|g| + eps) turns a difference d in a near-zero gradient into up to
  lr * d / eps: with the default eps 1e-8, the float32 noise of summing the batch in another order (8 devices)
  became a 1.2e-6 parameter difference on one CPU (an AMD EPYC; another passed), larger than what the parallel
  code itself is held to. eps 1e-4 bounds that gain by lr * 1e4 and leaves larger gradients' updates as Adam's."""
  return optax.adam(lr, eps=1e-4, **kw)


def _case(name):
  if name == "dcgan_bn":
    g = DCGANGenerator(resolution=28, channels=1, width=4)
    d = DCGANDiscriminator(resolution=28, channels=1, width=4, norm="batch")
    cfg = StepConfig(latent_dim=8, d_steps=1, ema_decay=0.9, ema_rampup=1.0)  # decay 0, then 0.5: traced per step
    # Noisy labels: each example's flips must be the single-device step's on whichever device holds it.
    return g, d, non_saturating(flip_prob=0.3), cfg, (16, 28, 28, 1), (_adam(2e-3, b1=0.5), _adam(2e-3, b1=0.5))
  if name == "wgan_gp":
    # G with batch norm but no bias before it: a bias followed by batch norm has a zero gradient up to rounding,
    # which Adam would amplify into arbitrary, implementation-dependent updates.
    g = DCGANGenerator(resolution=28, channels=1, width=4)
    d = MLPDiscriminator(hidden=(8, 8), maxout_pieces=1)
    # G draws 2 x D's batch (g_batch_multiplier): its latents must be the same numbers in every mode.
    cfg = StepConfig(latent_dim=4, d_steps=2, g_batch_multiplier=2)
    loss = chain(wasserstein(), gradient_penalty(10.0))
    return g, d, loss, cfg, (16, 28, 28, 1), (_adam(1e-3, b1=0.5, b2=0.9), _adam(1e-3, b1=0.5, b2=0.9))
  raise ValueError(name)


def _batches(shape, d_steps, steps):
  rng = np.random.default_rng(0)
  n = shape[0] * d_steps
  return [{"image": np.tanh(rng.normal(size=(n,) + shape[1:])).astype(np.float32)} for _ in range(steps)]


def _diff(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(la) == len(lb)
  abs_d = max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(la, lb))
  rel_d = max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)) / (1e-6 + np.abs(np.asarray(y)))))
              for x, y in zip(la, lb))
  return abs_d, rel_d


def _compare(ref_state, ref_metrics, state, metrics):
  keys = ("g_params", "d_params", "g_collections", "d_collections", "g_ema_params")
  out = {}
  for k in keys:
    a, b = getattr(state, k), getattr(ref_state, k)
    if jax.tree.leaves(b):
      out[k] = _diff(a, b)
  out["step"] = int(np.asarray(state.step))
  out["metrics"] = max(abs(metrics[k] - ref_metrics[k]) / (1e-6 + abs(ref_metrics[k])) for k in ref_metrics)
  return out


def run_case(name):
  g, d, loss, cfg, shape, (g_tx, d_tx) = _case(name)
  batches = _batches(shape, cfg.d_steps, STEPS)
  state0 = init_state(jax.random.key(1), g, d, loss, g_tx, d_tx, cfg, batches[0])
  host0 = jax.device_get(state0)

  single = jax.jit(make_train_step(g, d, loss, g_tx, d_tx, cfg))
  s = state0
  for b in batches:
    s, m = single(s, b)
  ref_state, ref_metrics = jax.device_get(s), {k: float(v) for k, v in jax.device_get(m).items()}
  # One NaN pixel in the batch's last example, which the last device holds: every mode must flag the whole batch.
  nan_batch = {k: v.copy() for k, v in batches[0].items()}
  nan_batch["image"][-1, 0, 0, 0] = np.nan
  nan_flags = {"single": _flags(single(state0, nan_batch)[1])}

  result = {}
  mesh = parallel.make_mesh()
  mesh_step = parallel.make_mesh_step(g, d, loss, g_tx, d_tx, cfg, mesh)
  s = parallel.put_state(host0, "mesh", mesh=mesh)
  for b in batches:
    s, m = mesh_step(s, parallel.shard_batch(b, "mesh", d_steps=cfg.d_steps, mesh=mesh))
  result["mesh"] = _compare(ref_state, ref_metrics, jax.device_get(parallel.get_state(s, "mesh")),
                            parallel.fetch_metrics(m, "mesh"))
  placed = parallel.shard_batch(batches[0], "mesh", d_steps=cfg.d_steps, mesh=mesh)
  result["mesh"]["image_sharding"] = str(placed["image"].sharding.spec)
  nan_flags["mesh"] = _flags(parallel.fetch_metrics(mesh_step(
      parallel.put_state(host0, "mesh", mesh=mesh),
      parallel.shard_batch(nan_batch, "mesh", d_steps=cfg.d_steps, mesh=mesh))[1], "mesh"))
  hlo = mesh_step.lower(s, placed).compile().as_text()  # the cached executable
  result["mesh"]["batch_collectives"] = hlo.count("all-gather(") + hlo.count("all-to-all(")
  del s

  # pmap through DataParallel (make_pmap_step, put_state, shard_batch; metrics come back unreplicated).
  dp = parallel.DataParallel.create("pmap", d_steps=cfg.d_steps)
  pmap_step = dp.compile(g, d, loss, g_tx, d_tx, cfg)
  s = dp.put_state(host0)
  for b in batches:
    s, m = pmap_step(s, dp.put_batch(b))
  host = jax.device_get(dp.host_state(s))
  result["pmap"] = _compare(ref_state, ref_metrics, host, {k: float(v) for k, v in jax.device_get(m).items()})
  # Every leaf of the replicated state (parameters, optimizer and loss states, batch statistics, EMA, step, key)
  # bitwise equal on all devices: the names of those that are not.
  leaves, _ = jax.tree_util.tree_flatten_with_path(s)
  result["pmap"]["replicas_differ"] = [
      jax.tree_util.keystr(path) for path, x in leaves
      if not np.all(_bits(x) == _bits(x)[:1])]
  result["pmap"]["replicated_leaves"] = len(leaves)
  nan_flags["pmap"] = _flags(pmap_step(dp.put_state(host0), dp.put_batch(nan_batch))[1])
  result["nan_flags"] = nan_flags
  return result


def run_model_case():
  """The general step of a CycleGAN-shaped model (4 nets, players "g" then "d" with 2 per-slice updates, batch norm
  in the generators, lazy R1 through view(d_fn=)) under jit, mesh and pmap (DataParallel.compile_model)."""
  from _general_models import ab_batch, cyclegan_model  # pylint: disable=g-import-not-at-top
  model = cyclegan_model(d_steps=2)
  batches = [ab_batch(32, seed=i) for i in range(STEPS)]  # 2 slices of 16: 2 rows of each per device
  host0 = jax.device_get(general.init_general_state(jax.random.key(1), model, batches[0]))
  out = {}
  states = {}
  for mode in ("jit", "mesh", "pmap"):
    dp = parallel.DataParallel.create(mode, d_steps=model.num_slices)
    step = dp.compile_model(model)
    s = dp.put_state(host0)
    for b in batches:
      s, m = step(s, dp.put_batch(b))
    if mode == "pmap":
      leaves, _ = jax.tree_util.tree_flatten_with_path(s)
      out["pmap_replicas_differ"] = [jax.tree_util.keystr(path) for path, x in leaves
                                     if not np.all(_bits(x) == _bits(x)[:1])]
    states[mode] = (jax.device_get(dp.host_state(s)), {k: float(v) for k, v in jax.device_get(m).items()})
  ref_state, ref_metrics = states["jit"]
  for mode in ("mesh", "pmap"):
    state, metrics = states[mode]
    out[mode] = {part: _diff(getattr(state, part), getattr(ref_state, part))
                 for part in ("params", "collections", "ema_params", "opt_state")}
    out[mode]["step"] = int(np.asarray(state.step))
    out[mode]["metrics"] = max(abs(metrics[k] - ref_metrics[k]) / (1e-6 + abs(ref_metrics[k])) for k in ref_metrics)
    out[mode]["same_keys"] = sorted(metrics) == sorted(ref_metrics)
    out[mode]["loss_state_equal"] = all(np.array_equal(_bits(x), _bits(y)) for x, y in zip(
        jax.tree.leaves(state.loss_state), jax.tree.leaves(ref_state.loss_state)))
  out["metric_names"] = sorted(ref_metrics)
  return out


def run_multistep(name="wgan_gp", n=2, calls=2):
  """steps_per_call: `calls` calls of n steps through DataParallel in modes jit, mesh and pmap against n * calls
  single-device steps; the stacked batch's placement (shape, sharding) in each mode."""
  g, d, loss, cfg, shape, (g_tx, d_tx) = _case(name)
  batches = _batches(shape, cfg.d_steps, n * calls)
  state0 = init_state(jax.random.key(1), g, d, loss, g_tx, d_tx, cfg, batches[0])
  host0 = jax.device_get(state0)
  single = jax.jit(make_train_step(g, d, loss, g_tx, d_tx, cfg))
  s = state0
  for b in batches:
    s, m = single(s, b)
  ref_state, ref_metrics = jax.device_get(s), {k: float(v) for k, v in jax.device_get(m).items()}
  result = {}
  for mode in ("jit", "mesh", "pmap"):
    dp = parallel.DataParallel.create(mode, d_steps=cfg.d_steps, steps_per_call=n)
    step = dp.compile(g, d, loss, g_tx, d_tx, cfg)
    s = dp.put_state(host0)
    for c in range(calls):
      placed = dp.put_batch(stack_batches(batches[c * n:(c + 1) * n]))
      s, m = step(s, placed)
    metrics = jax.device_get(m)
    last = {k: float(np.asarray(v)[-1]) for k, v in metrics.items()}
    result[mode] = _compare(ref_state, ref_metrics, jax.device_get(dp.host_state(s)), last)
    result[mode]["metric_shape"] = list(np.shape(metrics["d_loss"]))
    result[mode]["batch_shape"] = list(placed["image"].shape)
    result[mode]["batch_sharding"] = (str(placed["image"].sharding.spec) if mode == "mesh" else None)
    del s
  # Layout: step i of a stacked placement is the placement of step i's own batch (pmap: after the device axis).
  mesh = parallel.make_mesh()
  steps = [{"image": (100 * i + np.arange(32, dtype=np.float32)).reshape(32, 1),
            "label": 100 * i + np.arange(32, dtype=np.int32)} for i in range(n)]
  same = {}
  for mode in ("mesh", "pmap"):
    stacked = parallel.shard_batch(stack_batches(steps), mode, d_steps=2, mesh=mesh, steps_per_call=n)
    ones = [parallel.shard_batch(b, mode, d_steps=2, mesh=mesh) for b in steps]
    same[mode] = all(np.array_equal(np.asarray(stacked[k])[i] if mode == "mesh" else np.asarray(stacked[k])[:, i],
                                    np.asarray(one[k])) for k in ("image", "label") for i, one in enumerate(ones))
  result["stacked_layout_equal"] = same
  result["unstacked_error"] = _error(lambda: parallel.shard_batch(steps[0], "mesh", d_steps=2, mesh=mesh,
                                                                  steps_per_call=n))
  return result


def _flags(metrics):
  """The step's (batch_finite, loss_finite) flags as host floats."""
  return [float(np.asarray(jax.device_get(metrics[k]))) for k in ("batch_finite", "loss_finite")]


def _bits(x):
  """A leaf as host numpy (PRNG keys as their key data)."""
  if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
    x = jax.random.key_data(x)
  return np.asarray(jax.device_get(x))


def _error(fn):
  try:
    fn()
  except ValueError as e:
    return str(e)
  return None


def run_errors():
  mesh = parallel.make_mesh()
  g, d, loss, cfg, shape, (g_tx, d_tx) = _case("wgan_gp")
  bad = {"image": np.zeros((2 * 12, 28, 28, 1), np.float32)}  # d_steps=2 slices of 12: 12 % 8 != 0
  odd = {"image": np.zeros((15, 28, 28, 1), np.float32)}
  return {
      "mesh_too_big": _error(lambda: parallel.make_mesh(16)),
      "mesh_zero": _error(lambda: parallel.make_mesh(0)),
      "mesh_slice": _error(lambda: parallel.shard_batch(bad, "mesh", d_steps=2, mesh=mesh)),
      "pmap_slice": _error(lambda: parallel.shard_batch(bad, "pmap", d_steps=2)),
      "d_steps": _error(lambda: parallel.shard_batch(odd, "pmap", d_steps=2)),
      "mode": _error(lambda: parallel.shard_batch(bad, "shard", d_steps=2)),
      "bn_axis_mesh": _error(lambda: parallel.make_mesh_step(g.clone(bn_axis_name="batch"), d, loss, g_tx, d_tx,
                                                             cfg, mesh)),
      "axis_name_mesh": _error(lambda: parallel.make_mesh_step(
          g, d, loss, g_tx, d_tx, StepConfig(latent_dim=4, axis_name="batch"), mesh)),
      "mesh_small_ok": parallel.make_mesh(4).devices.shape[0],
      **_layouts(mesh),
  }


def _layouts(mesh):
  """Example ids each device holds for d_steps=2 slices of B=16 (ids = global row numbers)."""
  ids = {"image": np.arange(32, dtype=np.float32).reshape(32, 1), "label": np.arange(32, dtype=np.int32)}
  pm = parallel.shard_batch(ids, "pmap", d_steps=2)
  me = parallel.shard_batch(ids, "mesh", d_steps=2, mesh=mesh)
  pmap_rows = [np.asarray(s.data).reshape(-1).tolist() for s in
               sorted(pm["label"].addressable_shards, key=lambda s: s.index[0].start)]
  mesh_rows = [np.asarray(s.data).reshape(-1).tolist() for s in
               sorted(me["label"].addressable_shards, key=lambda s: s.index[1].start)]
  # uint8 host batches through DataParallel.put_batch: converted on the devices, same layout as float ones.
  u8 = {"image": (np.arange(32) % 256).astype(np.uint8).reshape(32, 1), "label": ids["label"]}
  want = np.arange(32, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)
  uint8_put = {}
  for mode in ("mesh", "pmap"):
    dp = parallel.DataParallel.create(mode, d_steps=2)
    got = dp.put_batch(u8)
    ref = parallel.shard_batch({"image": want.reshape(32, 1)}, mode, d_steps=2, mesh=dp.mesh)["image"]
    uint8_put[mode] = {"dtype": str(got["image"].dtype), "same_sharding": got["image"].sharding == ref.sharding,
                       "equal": bool(np.array_equal(np.asarray(got["image"]), np.asarray(ref)))}
  return {"layout_pmap": pmap_rows, "layout_mesh": mesh_rows, "mesh_shape": list(me["image"].shape),
          "uint8_put": uint8_put,
          "pmap_shape": list(pm["image"].shape),
          "pmap_image_equals_label": bool(np.array_equal(np.asarray(pm["image"])[..., 0], np.asarray(pm["label"])))}


def main():
  cases = sys.argv[1:] or ["dcgan_bn", "wgan_gp", "errors", "cyclegan", "multistep"]
  out = {"num_devices": jax.device_count()}
  with jax.default_matmul_precision("highest"):
    for c in cases:
      t0 = time.perf_counter()
      out[c] = (run_errors() if c == "errors" else run_model_case() if c == "cyclegan" else run_multistep()
                if c == "multistep" else run_case(c))
      out[c]["seconds"] = time.perf_counter() - t0
  print(json.dumps(out))


if __name__ == "__main__":
  main()
