"""pix2pix and CycleGAN as general-step models (jaxgan.models, issue 27).

* A pix2pix step: D's and G's losses against a computation by hand with the step's own keys (dropout masks
  included): D = 0.5 x [BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)], G = BCE(D(x, G(x)), 1) + 100 x mean |G(x) - y|;
  the L1-only ablation has no D and G's loss is 100 x L1.
* A CycleGAN step (4 nets, players "g" then "d", pools in the shared loss state): G's terms by hand (2 x LSGAN MSE,
  10 x cycle both ways, 5 x identity both ways); D_B scored on the pool's images, which are G_AB's fakes from
  before G's update (the reference's order), with D's loss 0.5 (MSE_real + MSE_fake); the pool fills, then swaps.
* The CycleGAN step on 8 virtual CPU devices: jit, mesh and pmap give one state, pools included
  (tests/_translation_parallel_check.py in a subprocess).
* Learning-rate schedule, KeyedNet dropout keys, test-time modes.
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

from jaxgan.models import KeyedNet, constant_then_linear, cyclegan_model, patch_logits, pix2pix_model
from jaxgan.models import pix2pix as p2p
from jaxgan.nets.pix2pix import get_translation_generator
from jaxgan.train import general

FAST = general.UNOPTIMIZED


def _images(shape, seed):
  return np.tanh(np.random.default_rng(seed).normal(size=shape)).astype(np.float32)


def _keys(state, num_players, index):
  """The forward's and the loss' keys of player `index`'s single update in step `state.step` (general.py)."""
  key = jax.random.fold_in(state.key, state.step)
  return jax.random.split(jax.random.split(key, num_players)[index])


def _softplus(x):
  return np.logaddexp(0.0, x)


@pytest.fixture(scope="module")
def p2p_run():
  model = pix2pix_model(generator="unet_tiny", d_patch="16", d_width=4, num_steps=10, decay_steps=5)
  batch = {"source": _images((2, 64, 64, 3), 0), "image": _images((2, 64, 64, 3), 1)}
  state0 = jax.device_get(general.init_general_state(jax.random.key(0), model, batch))
  step = jax.jit(general.make_general_step(model), compiler_options=FAST)
  state1, metrics = step(state0, batch)
  return model, batch, state0, jax.device_get(state1), {k: float(v) for k, v in metrics.items()}


def test_pix2pix_step_losses_by_hand(p2p_run):
  model, batch, s0, s1, m = p2p_run
  assert m["loss_finite"] == 1.0 and m["batch_finite"] == 1.0
  g, d = model.nets["G"], model.nets["D"]
  x, y = batch["source"], batch["image"]

  def gen(key):
    out, _ = g.apply(s0.variables("G"), x, key, train=True, mutable=["batch_stats"])
    return np.asarray(out)

  def disc(variables, image):
    out, _ = d.apply(variables, np.concatenate([x, image], -1), train=True, mutable=["batch_stats"])
    return np.asarray(out).reshape(-1)

  # Player "d" (first): G's output under its key, D before its update.
  fake_d = gen(_keys(s0, 2, 0)[0])
  want_d = np.mean(_softplus(-disc(s0.variables("D"), y))) + np.mean(_softplus(disc(s0.variables("D"), fake_d)))
  np.testing.assert_allclose(m["d/non_saturating"], want_d, rtol=1e-4)
  np.testing.assert_allclose(m["d_loss"], 0.5 * want_d, rtol=1e-4)
  # Player "g": G before its update (D updated first), D after its update.
  fake_g = gen(_keys(s0, 2, 1)[0])
  l1 = np.mean(np.abs(fake_g - y))
  np.testing.assert_allclose(m["g/l1"], l1, rtol=1e-5)
  d_after = {"params": s1.params["D"], **s0.collections["D"]}
  ns = np.mean(_softplus(-disc(d_after, fake_g)))
  np.testing.assert_allclose(m["g/non_saturating"], ns, rtol=1e-4)
  np.testing.assert_allclose(m["g_loss"], ns + 100.0 * l1, rtol=1e-5)
  assert int(s1.step) == 1 and not np.array_equal(s1.params["G"]["net"]["Conv_0"]["kernel"],
                                                   s0.params["G"]["net"]["Conv_0"]["kernel"])


def test_pix2pix_l1_only_has_no_discriminator():
  model = pix2pix_model(generator="unet_tiny", gan_loss="none", num_steps=4)
  assert set(model.nets) == {"G"} and [p.name for p in model.players] == ["g"]
  batch = {"source": _images((1, 64, 64, 3), 2), "image": _images((1, 64, 64, 3), 3)}
  state = general.init_general_state(jax.random.key(1), model, batch)
  _, m = jax.jit(general.make_general_step(model), compiler_options=FAST)(state, batch)
  assert "d_loss" not in m
  np.testing.assert_allclose(float(m["g_loss"]), 100.0 * float(m["g/l1"]), rtol=1e-6)


def test_pix2pix_bad_config_errors():
  with pytest.raises(ValueError, match="d_patch must be one of pixel, 16, 70, 142"):
    pix2pix_model(d_patch="35")
  with pytest.raises(ValueError, match="gan_loss must be one of"):
    pix2pix_model(gan_loss="wgan")
  with pytest.raises(ValueError, match="leaves G without a loss"):
    pix2pix_model(gan_loss="none", l1_weight=0.0)


def test_pix2pix_test_modes(p2p_run):
  model, batch, s0, _, _ = p2p_run
  x = batch["source"]
  a = p2p.translate(model, s0, x, jax.random.key(3))
  b = p2p.translate(model, s0, x, jax.random.key(3))
  c = p2p.translate(model, s0, x, jax.random.key(4))
  e = p2p.translate(model, s0, x, mode="eval")
  np.testing.assert_array_equal(a, b)  # dropout is a function of the key
  assert float(jnp.max(jnp.abs(a - c))) > 1e-3  # another key, other masks
  assert float(jnp.max(jnp.abs(a - e))) > 1e-3  # running statistics and no dropout differ from train mode
  with pytest.raises(ValueError, match="mode must be one of"):
    p2p.translate(model, s0, x, mode="test")


def test_keyed_net_dropout_follows_the_key():
  g = KeyedNet(get_translation_generator("unet_tiny"))
  x = _images((1, 64, 64, 3), 5)
  v = g.init(jax.random.key(0), x, None, train=False)
  run = lambda k: g.apply(v, x, k, train=True, mutable=["batch_stats"])[0]
  np.testing.assert_array_equal(run(jax.random.key(1)), run(jax.random.key(1)))
  assert float(jnp.max(jnp.abs(run(jax.random.key(1)) - run(jax.random.key(2))))) > 1e-3


def test_constant_then_linear_schedule():
  sched = constant_then_linear(2e-4, 200, 100)
  np.testing.assert_allclose([float(sched(s)) for s in (0, 99, 100, 150, 200)], [2e-4, 2e-4, 2e-4, 1e-4, 0.0],
                             atol=1e-12)
  assert constant_then_linear(1e-3, 10, 0) == 1e-3
  with pytest.raises(ValueError, match="decay_steps must be in"):
    constant_then_linear(1e-3, 10, 11)
  np.testing.assert_array_equal(patch_logits(jnp.ones((2, 3, 4))).shape, (24,))


# ------------------------------------------------------------------------------------------------------- CycleGAN


@pytest.fixture(scope="module")
def cg_run():
  model = cyclegan_model(generator="resnet_tiny", d_patch="16", d_width=4, image_shape=(16, 16, 3), batch=2,
                         pool_size=3, num_steps=10)
  batch = {"A": _images((2, 16, 16, 3), 10), "B": _images((2, 16, 16, 3), 11)}
  s0 = jax.device_get(general.init_general_state(jax.random.key(0), model, batch))
  step = jax.jit(general.make_general_step(model), compiler_options=FAST)
  s1, m1 = step(s0, batch)
  s2, m2 = step(s1, batch)
  return model, batch, s0, jax.device_get(s1), {k: float(v) for k, v in m1.items()}, jax.device_get(s2), m2


def test_cyclegan_generator_terms_by_hand(cg_run):
  model, batch, s0, _, m, _, _ = cg_run
  assert m["loss_finite"] == 1.0
  a, b = batch["A"], batch["B"]
  G = lambda name, x: np.asarray(model.nets[name].apply(s0.variables(name), x, train=True))
  D = lambda name, x: np.asarray(model.nets[name].apply(s0.variables(name), x, train=True)).reshape(-1)
  fake_b, fake_a = G("G_AB", a), G("G_BA", b)
  want = {"g/cycle_A": np.mean(np.abs(G("G_BA", fake_b) - a)), "g/cycle_B": np.mean(np.abs(G("G_AB", fake_a) - b)),
          "g/identity_B": np.mean(np.abs(G("G_AB", b) - b)), "g/identity_A": np.mean(np.abs(G("G_BA", a) - a)),
          "g/B/least_squares": 0.5 * np.mean((D("D_B", fake_b) - 1) ** 2),
          "g/A/least_squares": 0.5 * np.mean((D("D_A", fake_a) - 1) ** 2)}
  for k, v in want.items():
    np.testing.assert_allclose(m[k], v, rtol=1e-4, err_msg=k)
  total = (2 * (want["g/A/least_squares"] + want["g/B/least_squares"]) + 10 * (want["g/cycle_A"] + want["g/cycle_B"])
           + 5 * (want["g/identity_A"] + want["g/identity_B"]))
  np.testing.assert_allclose(m["g_loss"], total, rtol=1e-4)


def test_cyclegan_discriminator_sees_the_pool_of_pre_update_fakes(cg_run):
  model, batch, s0, s1, m, s2, _ = cg_run
  a, b = batch["A"], batch["B"]
  fake_b = np.asarray(model.nets["G_AB"].apply(s0.variables("G_AB"), a, train=True))
  (pool_a, _), (pool_b, _) = s1.loss_state["cyclegan"][:2]
  # The pool was empty: it stores the 2 fakes and returns them; D_B saw exactly G_AB's pre-update fakes.
  assert int(pool_b.pool.count) == 2 and int(pool_a.pool.count) == 2
  np.testing.assert_allclose(pool_b.for_d, fake_b, atol=1e-6)
  np.testing.assert_allclose(pool_b.pool.images[:2], fake_b, atol=1e-6)
  d_b = lambda x: np.asarray(model.nets["D_B"].apply(s0.variables("D_B"), x, train=True)).reshape(-1)
  want = 0.5 * np.mean((d_b(b) - 1) ** 2) + 0.5 * np.mean(d_b(fake_b) ** 2)
  np.testing.assert_allclose(m["d/B/least_squares"], want, rtol=1e-4)
  # Step 2: 3 slots, 2 stored, 2 new images: one fills the last slot, then the pool is full and swaps or passes.
  (_, _), (pool_b2, _) = s2.loss_state["cyclegan"][:2]
  assert int(pool_b2.pool.count) == 3


def test_cyclegan_checks():
  with pytest.raises(ValueError, match="channels_a == C_B"):
    cyclegan_model(generator="resnet_tiny", image_shape=(16, 16, 3), channels_a=1)
  model = cyclegan_model(generator="resnet_tiny", d_patch="16", image_shape=(16, 16, 3), batch=1)
  with pytest.raises(ValueError, match="built for"):
    general.init_general_state(jax.random.key(0), model, {"A": np.zeros((1, 8, 8, 3), np.float32),
                                                          "B": np.zeros((1, 8, 8, 3), np.float32)})


CHECK = pathlib.Path(__file__).with_name("_translation_parallel_check.py")


def test_cyclegan_jit_mesh_pmap_same_state():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0 "
             "--xla_llvm_disable_expensive_passes=true", JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, str(CHECK)], env=env, capture_output=True, text=True, timeout=1800,
                        check=False)
  assert proc.returncode == 0, proc.stderr[-4000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out["num_devices"] == 8
  for mode in ("mesh", "pmap"):
    r = out[mode]
    assert r["step"] == 2
    for part, tol in (("params", 2e-5), ("pools", 2e-5), ("opt_state", 1e-4)):  # see _diff: scaled differences
      assert r[part] <= tol, (mode, part, r)
    assert r["pool_counts"] == out["jit"]["pool_counts"] == [6, 6]  # 8 fakes per step into pools of 6
    assert r["metrics"] <= 1e-4, (mode, r)
