"""Tests of jaxgan.train.parallel.

The multi-device checks run `tests/_parallel_check.py` once, in a subprocess with 8 virtual CPU devices (the CPU
device count is fixed when JAX starts, and this process already started it with one device), and assert on its JSON
report: the mesh-jit and pmap steps give the single-device state after 2 steps for a DCGAN with batch norm
(synchronized under pmap) and for WGAN-GP with 2 critic steps, and a CycleGAN-shaped general-step model gives its
jit state under mesh and pmap; bad inputs raise one clear ValueError.
"""

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan.train import parallel

CHECK = pathlib.Path(__file__).with_name("_parallel_check.py")
# Fast CPU compilation: the check compiles 6 steps; numerics are compared within one process, same flags.
FAST_XLA = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
ATOL = 1e-6


def run_script(path: pathlib.Path, args: list[str], num_devices: int, timeout: float) -> dict:
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={num_devices} {FAST_XLA}"
  env["JAX_PLATFORMS"] = "cpu"
  proc = subprocess.run([sys.executable, str(path), *args], env=env, capture_output=True, text=True,
                        timeout=timeout, check=False)
  if proc.returncode != 0:
    pytest.fail(f"{path.name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def report() -> dict:
  out = run_script(CHECK, [], num_devices=8, timeout=600)
  assert out["num_devices"] == 8
  return out


@pytest.mark.parametrize("case", ["dcgan_bn", "wgan_gp"])
@pytest.mark.parametrize("mode", ["mesh", "pmap"])
def test_matches_single_device(report, case, mode):
  result = report[case][mode]
  assert result["step"] == 2
  for part in ("g_params", "d_params", "g_collections"):
    abs_diff, _ = result[part]
    assert abs_diff <= ATOL, (case, mode, part, result[part])
  if case == "dcgan_bn":  # batch statistics of both nets and G's EMA
    for part in ("d_collections", "g_ema_params"):
      assert result[part][0] <= ATOL, (case, mode, part, result[part])
  assert result["metrics"] <= 1e-4  # relative, largest over all metrics


def test_general_step_matches_under_jit_mesh_and_pmap(report):
  """A CycleGAN-shaped general-step model (4 nets, 2 players, batch norm synchronized under pmap, 2 per-slice D
  updates): mesh and pmap give the jit state after 2 steps."""
  result = report["cyclegan"]
  assert {"g_loss", "d_loss", "g/cycle_A", "d/B/r1", "loss_finite"} <= set(result["metric_names"])
  for mode in ("mesh", "pmap"):
    r = result[mode]
    assert r["step"] == 2 and r["same_keys"] and r["loss_state_equal"], (mode, r)
    for part in ("params", "collections", "ema_params", "opt_state"):
      assert r[part][0] <= ATOL, (mode, part, r[part])
    assert r["metrics"] <= 1e-4, (mode, r["metrics"])
  assert result["pmap_replicas_differ"] == []


def test_nan_batch_is_flagged_in_every_mode(report):
  """One NaN pixel on one device's shard: batch_finite and loss_finite are 0 in all three modes (a mean over
  devices would give 7/8 under pmap, and the loop would blame the loss instead of the data)."""
  for case in ("dcgan_bn", "wgan_gp"):
    assert report[case]["nan_flags"] == {m: [0.0, 0.0] for m in ("single", "mesh", "pmap")}, case


def test_pmap_replicas_stay_equal(report):
  for case in ("dcgan_bn", "wgan_gp"):
    result = report[case]["pmap"]
    assert result["replicas_differ"] == [] and result["replicated_leaves"] > 10, (case, result["replicas_differ"])


def test_mesh_batch_is_sharded_per_d_step(report):
  assert report["wgan_gp"]["mesh"]["image_sharding"] == "P(None, 'data')"
  # The compiled mesh step never moves the batch between devices: the step takes the (d_steps, B, ...) slices
  # as they are sharded (presplit), with one D step and with two.
  assert report["dcgan_bn"]["mesh"]["batch_collectives"] == 0
  assert report["wgan_gp"]["mesh"]["batch_collectives"] == 0
  errors = report["errors"]
  assert errors["mesh_shape"] == [2, 16, 1]
  assert errors["pmap_shape"] == [8, 4, 1]
  # Every device holds 2 rows of each of the 2 D-step slices of 16, in global order.
  expected = [[2 * j, 2 * j + 1, 16 + 2 * j, 17 + 2 * j] for j in range(8)]
  assert errors["layout_pmap"] == expected
  assert errors["layout_mesh"] == expected
  assert errors["pmap_image_equals_label"]
  for mode in ("mesh", "pmap"):  # uint8 batches are placed as uint8 and converted where they land
    assert errors["uint8_put"][mode] == {"dtype": "float32", "same_sharding": True, "equal": True}, mode


def test_bad_inputs_raise_clear_errors(report):
  e = report["errors"]
  assert "mesh shape (16,) does not match the devices: only 8" in e["mesh_too_big"]
  assert "xla_force_host_platform_device_count=16" in e["mesh_too_big"]
  assert "positive int" in e["mesh_zero"]
  assert "slices has 12 rows, not divisible by the 8" in e["mesh_slice"]
  assert "slices has 12 rows, not divisible by the 8" in e["pmap_slice"]
  assert "not divisible by d_steps=2" in e["d_steps"]
  assert "mode must be one of" in e["mode"]
  assert "bn_axis_name=None" in e["bn_axis_mesh"]
  assert "cfg.axis_name must be None" in e["axis_name_mesh"]
  assert e["mesh_small_ok"] == 4


# ---- In this process (one CPU device).


def test_make_mesh_one_device():
  mesh = parallel.make_mesh()
  assert mesh.axis_names == ("data",) and mesh.devices.shape == (jax.device_count(),)
  with pytest.raises(ValueError, match="does not match the devices"):
    parallel.make_mesh(jax.device_count() + 1)
  with pytest.raises(ValueError, match="axis_name"):
    parallel.make_mesh(axis_name="")


def test_put_state_copies_so_donation_keeps_the_source():
  mesh = parallel.make_mesh()
  tree = {"w": jnp.arange(3.0), "key": jax.random.key(0)}
  donate = jax.jit(lambda t: jax.tree.map(lambda x: x, t), donate_argnums=0)
  for mode in parallel.MODES:
    placed = parallel.put_state(tree, mode, mesh=mesh)
    buffers = lambda x: {s.data.unsafe_buffer_pointer() for s in x.addressable_shards}
    assert not buffers(placed["w"]) & buffers(tree["w"])  # a copy, not the caller's buffer
    out = donate(placed)
    assert not tree["w"].is_deleted()
    np.testing.assert_array_equal(np.asarray(tree["w"]), np.arange(3.0))
    back = parallel.get_state(out, mode)
    np.testing.assert_array_equal(np.asarray(back["w"]), np.arange(3.0))
    np.testing.assert_array_equal(jax.random.key_data(back["key"]), jax.random.key_data(tree["key"]))


def test_shard_batch_checks_arrays():
  mesh = parallel.make_mesh()
  with pytest.raises(ValueError, match="same leading"):
    parallel.shard_batch({"image": np.zeros((4, 2)), "label": np.zeros((3,), np.int32)}, "mesh", d_steps=1,
                         mesh=mesh)
  with pytest.raises(ValueError, match="needs mesh="):
    parallel.shard_batch({"image": np.zeros((4, 2))}, "mesh", d_steps=1)
  with pytest.raises(ValueError, match="d_steps"):
    parallel.shard_batch({"image": np.zeros((4, 2))}, "pmap", d_steps=0)
  out = parallel.shard_batch({"image": np.arange(8.0).reshape(4, 2)}, "mesh", d_steps=2, mesh=mesh)
  np.testing.assert_array_equal(np.asarray(out["image"]).reshape(4, 2), np.arange(8.0).reshape(4, 2))


def test_data_parallel_auto_and_jit():
  dp = parallel.DataParallel.create("auto", d_steps=2)
  assert dp.mode == ("mesh" if jax.device_count() > 1 else "jit") and dp.num_devices == jax.device_count()
  with pytest.raises(ValueError, match="mode must be"):
    parallel.DataParallel.create("spmd")
  jit_dp = parallel.DataParallel.create("jit", d_steps=2)
  batch = jit_dp.put_batch({"image": np.zeros((4, 2), np.float32)})
  assert batch["image"].shape == (4, 2)
  tree = {"w": jnp.ones(2)}
  placed = jit_dp.put_state(tree)
  jax.jit(lambda t: t, donate_argnums=0)(placed)
  assert not tree["w"].is_deleted()


@pytest.mark.parametrize("mode", ["mesh", "pmap"])
def test_unplaced_batch_is_refused_with_the_remedy(mode):
  # A host batch handed to the step as it is (without dp.put_batch) fails with the remedy before the sharding code.
  from jaxgan import losses as L  # pylint: disable=g-import-not-at-top
  from jaxgan.nets.mlp import TinyMLPDiscriminator, TinyMLPGenerator  # pylint: disable=g-import-not-at-top
  from jaxgan.train.step import StepConfig, init_state  # pylint: disable=g-import-not-at-top
  g, d, loss, tx = TinyMLPGenerator(), TinyMLPDiscriminator(), L.non_saturating(), optax.sgd(0.1)
  cfg = StepConfig(latent_dim=2, d_steps=2)
  host = {"image": np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)}
  dp = parallel.DataParallel.create(mode, d_steps=2)
  step = dp.compile(g, d, loss, tx, tx, cfg)
  state = dp.put_state(init_state(jax.random.PRNGKey(0), g, d, loss, tx, tx, cfg, host))
  for bad in (host, {"image": jnp.asarray(host["image"])}):
    with pytest.raises(ValueError, match=rf"DataParallel\('{mode}'\) step: .*pass each host batch through "
                                         r"dp.put_batch"):
      step(state, bad)
  state, metrics = step(state, dp.put_batch(host))
  assert np.isfinite(float(metrics["d_loss"]))



@pytest.mark.parametrize("mode", ["jit", "mesh", "pmap"])
def test_steps_per_call_matches_single_device(report, mode):
  """DataParallel(steps_per_call=2): 2 calls of 2 steps (WGAN-GP, 2 critic steps) give the state of 4 single-device
  steps in every mode; the stacked batch is (2, d_steps, B, ...) on the mesh, (devices, 2, ...) under pmap, and the
  metrics come back (2,)."""
  result = report["multistep"][mode]
  assert result["step"] == 4 and result["metric_shape"] == [2]
  for part in ("g_params", "d_params", "g_collections"):
    assert result[part][0] <= ATOL, (mode, part, result[part])
  assert result["metrics"] <= 1e-4
  assert result["batch_shape"] == {"jit": [2, 32, 28, 28, 1], "mesh": [2, 2, 16, 28, 28, 1],
                                   "pmap": [8, 2, 4, 28, 28, 1]}[mode]
  if mode == "mesh":
    assert result["batch_sharding"] == "P(None, None, 'data')"


def test_steps_per_call_placement(report):
  result = report["multistep"]
  assert result["stacked_layout_equal"] == {"mesh": True, "pmap": True}
  assert "steps_per_call=2 takes 2 stacked host batches" in result["unstacked_error"]
  assert "StackedBatches" in result["unstacked_error"]


def test_data_parallel_steps_per_call_on_one_device():
  """jit mode with 2 steps per call: a stacked host batch placed as it is; an unstacked one refused by the mesh
  step with the layout it needs."""
  from jaxgan import losses as L  # pylint: disable=g-import-not-at-top
  from jaxgan.nets.mlp import TinyMLPDiscriminator, TinyMLPGenerator  # pylint: disable=g-import-not-at-top
  from jaxgan.train.step import StepConfig, init_state  # pylint: disable=g-import-not-at-top
  g, d, loss, tx = TinyMLPGenerator(), TinyMLPDiscriminator(), L.non_saturating(), optax.sgd(0.1)
  cfg = StepConfig(latent_dim=2, d_steps=2)
  host = {"image": np.random.default_rng(0).normal(size=(2, 8, 2)).astype(np.float32)}
  with pytest.raises(ValueError, match=r"DataParallel: steps_per_call must be an int >= 1 .*got 0"):
    parallel.DataParallel.create("jit", d_steps=2, steps_per_call=0)
  for mode in ("jit", "mesh"):
    dp = parallel.DataParallel.create(mode, d_steps=2, steps_per_call=2, num_devices=1)
    step = dp.compile(g, d, loss, tx, tx, cfg)
    state = dp.put_state(init_state(jax.random.PRNGKey(0), g, d, loss, tx, tx, cfg, {"image": host["image"][0]}))
    placed = dp.put_batch(host)
    assert placed["image"].shape == ((2, 8, 2) if mode == "jit" else (2, 2, 4, 2))
    if mode == "mesh":
      with pytest.raises(ValueError, match=r"leading axis \(2, 2\), the steps_per_call and d_steps"):
        step(state, jax.device_put(host))
    state, metrics = step(state, placed)
    assert metrics["d_loss"].shape == (2,) and int(jax.device_get(state.step)) == 2
