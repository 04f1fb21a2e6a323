"""The train step: k D-steps, EMA, packing, clipping, determinism, bad input."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import losses as L
from jaxgan.nets.mlp import TinyMLPDiscriminator, TinyMLPGenerator
from jaxgan.nets import layers
from jaxgan.train import StepConfig, apply_model, clip_params, init_state, make_train_step, pack
from jaxgan.train.step import UNOPTIMIZED, ema_decay_at


class ConstG(nn.Module):
  """G(z) = b for every z: makes the generated batch known in closed form."""

  @nn.compact
  def __call__(self, z, labels=None, *, train=True):
    b = self.param("b", lambda k: jnp.array([0.5, -1.0], jnp.float32))
    return jnp.broadcast_to(b, (z.shape[0], 2)) + 0.0 * z[:, :2]


class LinearD(nn.Module):

  @nn.compact
  def __call__(self, x, labels=None, *, train=True):
    return nn.Dense(1, kernel_init=nn.initializers.zeros)(x)[:, 0]


def test_k_discriminator_steps_use_successive_slices():
  # Wasserstein loss, linear D, SGD: each D step moves w by -lr * (mean(fake) - mean(real_i)).
  k, b, lr = 3, 4, 0.1
  loss = L.chain(L.wasserstein(), L.every(1, L.r1(0.0)))
  cfg = StepConfig(latent_dim=2, d_steps=k)
  g_tx, d_tx = optax.sgd(0.0), optax.sgd(lr)
  real = np.arange(k * b * 2, dtype=np.float32).reshape(k * b, 2) / 10
  batch = {"image": jnp.asarray(real)}
  state = init_state(jax.random.PRNGKey(0), ConstG(), LinearD(), loss, g_tx, d_tx, cfg, batch)
  new, metrics = jax.jit(make_train_step(ConstG(), LinearD(), loss, g_tx, d_tx, cfg))(state, batch)
  fake = np.array([0.5, -1.0])
  expected_w = -lr * sum(fake - real[i * b:(i + 1) * b].mean(0) for i in range(k))
  np.testing.assert_allclose(new.d_params["Dense_0"]["kernel"][:, 0], expected_w, rtol=1e-5)
  # every(1, ...) inside the loss state counted k discriminator calls
  assert int(new.loss_state[1].count) == k
  assert int(new.step) == 1
  # metrics are scalars; d_real / d_fake are D's mean logits in the last D step, before its update (b stays 0:
  # the Wasserstein D loss' gradient in b is 1 - 1)
  assert all(v.shape == () for v in metrics.values())
  w_last = -lr * sum(fake - real[i * b:(i + 1) * b].mean(0) for i in range(k - 1))
  np.testing.assert_allclose(float(metrics["d_real"]), (real[(k - 1) * b:] @ w_last).mean(), rtol=1e-5)
  np.testing.assert_allclose(float(metrics["d_fake"]), fake @ w_last, rtol=1e-5)


class ScaleG(nn.Module):
  """G(z) = s * z, s = 1 at init: the generated batch is the latents G drew."""

  @nn.compact
  def __call__(self, z, labels=None, *, train=True):
    return self.param("s", lambda k: jnp.ones((), jnp.float32)) * z


def _d_latents(state, i, shape):
  """The latents of D step i, by the step's key schedule: fold in the step, split D / G, fold in i, split into
  latents / loss; N(0, I) on one device."""
  d_key = jax.random.split(jax.random.fold_in(state.key, state.step))[0]
  return jax.random.normal(jax.random.split(jax.random.fold_in(d_key, i))[0], shape)


def test_d_steps_draw_fresh_latents_and_average_their_metrics():
  # Wasserstein loss, linear D (w, c) from 0, SGD: D step i has loss (mean(z_i) - mean(real_i)) . w_i (c cancels),
  # gradient g_i = mean(z_i) - mean(real_i) in w (0 in c), then w_{i+1} = w_i - lr g_i. Each step draws its own
  # latents z_i; the step's D metrics are the means over the k steps (d_real / d_fake: the last step's).
  k, b, lr = 3, 4, 0.1
  loss, cfg = L.wasserstein(), StepConfig(latent_dim=2, d_steps=k)
  g_tx, d_tx = optax.sgd(0.0), optax.sgd(lr)
  real = np.random.default_rng(0).normal(size=(k * b, 2)).astype(np.float32)
  batch = {"image": jnp.asarray(real)}
  state = init_state(jax.random.PRNGKey(0), ScaleG(), LinearD(), loss, g_tx, d_tx, cfg, batch)
  new, m = jax.jit(make_train_step(ScaleG(), LinearD(), loss, g_tx, d_tx, cfg))(state, batch)
  z = [np.asarray(_d_latents(state, i, (b, 2)), np.float64) for i in range(k)]
  assert min(np.abs(z[i] - z[j]).max() for i in range(k) for j in range(i)) > 0.1  # the draws differ
  w, losses, norms = np.zeros(2), [], []
  for i in range(k):
    g = z[i].mean(0) - real[i * b:(i + 1) * b].mean(0)
    losses.append(g @ w)
    norms.append(np.linalg.norm(g))
    w_last, w = w, w - lr * g
  np.testing.assert_allclose(new.d_params["Dense_0"]["kernel"][:, 0], w, rtol=1e-5)
  np.testing.assert_allclose(float(m["d_loss"]), np.mean(losses), rtol=1e-5)
  np.testing.assert_allclose(float(m["d/wasserstein"]), np.mean(losses), rtol=1e-5)
  np.testing.assert_allclose(float(m["d_grad_norm"]), np.mean(norms), rtol=1e-5)
  np.testing.assert_allclose(float(m["d_real"]), real[(k - 1) * b:].mean(0) @ w_last, rtol=1e-5)
  np.testing.assert_allclose(float(m["d_fake"]), z[k - 1].mean(0) @ w_last, rtol=1e-5)


def test_loss_finite_is_zero_when_any_d_step_is_not():
  # d_steps=2, a NaN in the first slice only: D step 1 has a NaN loss and gradient; with updates set to zero D stays
  # finite, so D step 2 and G's step are finite. One bad D step is enough: loss_finite is 0.
  loss, cfg = L.non_saturating(), StepConfig(latent_dim=2, d_steps=2)
  g_tx, d_tx = optax.sgd(0.1), optax.set_to_zero()
  g, d = ScaleG(), LinearD()
  good = jax.random.normal(jax.random.PRNGKey(1), (16, 2))
  state = init_state(jax.random.PRNGKey(0), g, d, loss, g_tx, d_tx, cfg, {"image": good})
  step = jax.jit(make_train_step(g, d, loss, g_tx, d_tx, cfg))
  _, m = step(state, {"image": good})
  assert float(m["loss_finite"]) == 1.0 and float(m["batch_finite"]) == 1.0
  new, m = step(state, {"image": good.at[1, 0].set(jnp.nan)})
  assert np.isnan(float(m["d_loss"]))  # the mean over the D steps
  assert np.isfinite(float(m["g_loss"])) and np.isfinite(float(m["g_grad_norm"]))
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(new.d_params))
  assert float(m["loss_finite"]) == 0.0 and float(m["batch_finite"]) == 0.0


class ScaleLabelG(nn.Module):
  """G(z, y) = s * z + e[y]: the update of s reads the mean of the latents G drew."""

  @nn.compact
  def __call__(self, z, labels=None, *, train=True):
    s = self.param("s", lambda k: jnp.ones((), jnp.float32))
    e = self.param("e", lambda k: jnp.zeros((3, 2), jnp.float32))
    return s * z + e[labels]


class FixedD(nn.Module):
  """D(x) = x . v with v = (1, 2) (trained with learning rate 0)."""

  @nn.compact
  def __call__(self, x, labels=None, *, train=True):
    return x @ self.param("v", lambda k: jnp.array([1.0, 2.0], jnp.float32))


def _g_latents(state, shape):
  """The latents of G's update, by the step's key schedule: fold in the step, split D / G,
  split G's key into latents / loss; N(0, I) on one device."""
  g_key = jax.random.split(jax.random.fold_in(state.key, state.step))[1]
  return jax.random.normal(jax.random.split(g_key)[0], shape)


@pytest.mark.parametrize("r", [1, 2])
def test_g_batch_multiplier_draws_r_times_the_latents(r):
  # Wasserstein G loss -mean_i D(G(z_i, y_i)), SGD lr 1 on G: s gains mean_i z_i . v over
  # the r * B latents G drew; e[c] gains (share of class c in the real slice) * v.
  b, v = 4, np.array([1.0, 2.0])
  loss = L.wasserstein()
  g_tx, d_tx = optax.sgd(1.0), optax.sgd(0.0)
  labels = np.array([0, 2, 2, 1, 0, 0, 0, 2], np.int32)  # slices [0 2 2 1], [0 0 0 2]
  batch = {"image": jnp.zeros((2 * b, 2)), "label": jnp.asarray(labels)}
  g, d = ScaleLabelG(), FixedD()
  cfg = StepConfig(latent_dim=2, conditional=True, d_steps=2, g_batch_multiplier=r)
  state = init_state(jax.random.PRNGKey(3), g, d, loss, g_tx, d_tx, cfg, batch)
  new, _ = jax.jit(make_train_step(g, d, loss, g_tx, d_tx, cfg))(state, batch)
  z = np.asarray(_g_latents(state, (r * b, 2)))
  np.testing.assert_allclose(float(new.g_params["s"]), 1.0 + (z @ v).mean(), rtol=1e-5)
  share = np.bincount(labels[b:], minlength=3) / b  # G's step uses the last slice
  np.testing.assert_allclose(new.g_params["e"], share[:, None] * v[None, :], atol=1e-6)
  if r > 1:  # the first B latents alone give a different update: all r * B were used
    assert abs((z @ v).mean() - (z[:b] @ v).mean()) > 1e-3
  with pytest.raises(ValueError, match="g_batch_multiplier"):
    StepConfig(latent_dim=2, g_batch_multiplier=0)


def test_g_batch_multiplier_with_packing_scores_every_packed_fake():
  # G's LSGAN loss 0.5 mean (D(pack(G(z))) - 1)^2 over the 3 * 8 latents, packed in pairs: 12 D calls.
  cfg = StepConfig(latent_dim=2, packing=2, g_batch_multiplier=3)
  loss = L.least_squares()
  tx = optax.adam(1e-2)
  g, d = TinyMLPGenerator(), TinyMLPDiscriminator()
  batch = {"image": jax.random.normal(jax.random.PRNGKey(1), (8, 2))}
  state = init_state(jax.random.PRNGKey(0), g, d, loss, tx, tx, cfg, batch)
  new, m = jax.jit(make_train_step(g, d, loss, tx, tx, cfg))(state, batch)
  z = _g_latents(state, (3 * 8, 2))
  fake, _ = g.apply({"params": state.g_params, **state.g_collections}, z, None, train=True,
                    mutable=["batch_stats"])  # batch statistics of the 24 generated examples
  assert not new.d_collections
  d_fake = d.apply({"params": new.d_params}, pack(fake, 2), None, train=True)  # D updated first
  assert d_fake.shape == (12,)
  np.testing.assert_allclose(float(m["g_loss"]), 0.5 * float(jnp.mean((d_fake - 1.0) ** 2)), rtol=1e-5)


class LabelScaleD(nn.Module):
  """D(x, y) = (x . v) * c[y]: the value depends on which label goes with which example."""

  @nn.compact
  def __call__(self, x, labels=None, *, train=True):
    v = self.param("v", lambda k: jnp.array([1.0, 2.0], jnp.float32))
    c = self.param("c", lambda k: jnp.array([1.0, -2.0, 5.0], jnp.float32))
    return (x @ v) * c[labels]


def test_g_batch_multiplier_keeps_real_examples_with_their_labels():
  # With r = 2, G's step repeats each real example of the last slice and its label r times: D(x_j, y_j) for the
  # same pairs as the data, so the mean of D on real data in G's loss is that of the slice's pairs. A test term
  # reports it (and gives D no loss).
  b, r = 4, 2
  probe = L.LossTransform(lambda key: L.EmptyState(),
                          lambda ctx, s: (-jnp.mean(ctx.d_fake), {"d_real": jnp.mean(ctx.d_real)}, s), ("g",))
  tx = optax.sgd(0.0)
  real = np.random.default_rng(2).normal(size=(2 * b, 2)).astype(np.float32)
  labels = np.array([0, 2, 2, 1, 0, 1, 2, 0], np.int32)
  batch = {"image": jnp.asarray(real), "label": jnp.asarray(labels)}
  g, d = ScaleLabelG(), LabelScaleD()
  cfg = StepConfig(latent_dim=2, conditional=True, d_steps=2, g_batch_multiplier=r)
  state = init_state(jax.random.PRNGKey(3), g, d, probe, tx, tx, cfg, batch)
  _, m = jax.jit(make_train_step(g, d, probe, tx, tx, cfg))(state, batch)
  c = np.array([1.0, -2.0, 5.0])
  want = np.mean((real[b:] @ np.array([1.0, 2.0])) * c[labels[b:]])
  np.testing.assert_allclose(float(m["g/d_real"]), want, rtol=1e-5)
  # pairs shifted between examples and labels would give another mean
  shuffled = np.tile(labels[b:], r)
  assert abs(np.mean((np.repeat(real[b:], r, 0) @ np.array([1.0, 2.0])) * c[shuffled]) - want) > 0.05


def test_ema_math():
  cfg = StepConfig(latent_dim=2, ema_decay=0.9)
  loss = L.non_saturating()
  tx = optax.sgd(0.5)
  batch = {"image": jax.random.normal(jax.random.PRNGKey(1), (8, 2))}
  g, d = TinyMLPGenerator(), TinyMLPDiscriminator()
  state = init_state(jax.random.PRNGKey(0), g, d, loss, tx, tx, cfg, batch)
  # An average that differs from G's weights (at init they are equal, so blending the old weights would pass too).
  state = state.replace(g_ema_params=jax.tree.map(lambda p: p + 1.0, state.g_params))
  new, _ = jax.jit(make_train_step(g, d, loss, tx, tx, cfg))(state, batch)
  expected = jax.tree.map(lambda e, p: 0.9 * e + 0.1 * p, state.g_ema_params, new.g_params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
               new.g_ema_params, expected)
  assert not jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), new.g_params,
                                       state.g_params))


def test_ema_rampup_follows_stylegan2_ada_schedule():
  """G's average after each of 16 updates against a recurrence written in images seen, as StyleGAN2-ADA states its
  ramp-up: half-life min(ema_nimg, cur_nimg * rampup) images, beta = 0.5 ** (batch / half-life)."""
  decay, rampup, batch_size = 0.9, 0.5, 8
  cfg = StepConfig(latent_dim=2, ema_decay=decay, ema_rampup=rampup)
  loss, tx = L.non_saturating(), optax.sgd(0.5)
  batch = {"image": jax.random.normal(jax.random.PRNGKey(1), (batch_size, 2))}
  g, d = TinyMLPGenerator(), TinyMLPDiscriminator()
  state = init_state(jax.random.PRNGKey(0), g, d, loss, tx, tx, cfg, batch)
  step = jax.jit(make_train_step(g, d, loss, tx, tx, cfg))
  ema_nimg = batch_size * np.log(0.5) / np.log(decay)  # the half-life of `decay`, in images (6.6 updates)
  expected = jax.tree.map(np.asarray, state.g_params)
  betas = []
  for t in range(16):
    state, _ = step(state, batch)
    beta = 0.5 ** (batch_size / max(min(ema_nimg, t * batch_size * rampup), 1e-8))
    betas.append(beta)
    expected = jax.tree.map(lambda e, p, b=beta: b * e + (1 - b) * np.asarray(p, np.float64), expected,
                            state.g_params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), state.g_ema_params,
                 expected)
  assert betas[0] == 0.0 and 0.0 < betas[1] < betas[10] < decay == pytest.approx(betas[15])
  np.testing.assert_allclose([float(ema_decay_at(jnp.int32(t), decay, rampup)) for t in range(16)], betas,
                             rtol=1e-6)
  assert float(ema_decay_at(jnp.int32(14), decay, rampup)) == np.float32(decay)  # ramp over: exactly `decay`
  assert ema_decay_at(jnp.int32(3), decay, None) == decay  # no ramp-up: the Python float, as before ramp-up existed
  with pytest.raises(ValueError, match="ema_rampup=0.05 ramps up G's EMA, which is off"):
    StepConfig(latent_dim=2, ema_rampup=0.05)
  with pytest.raises(ValueError, match="ema_rampup must be > 0"):
    StepConfig(latent_dim=2, ema_decay=0.9, ema_rampup=0.0)


def test_step_is_deterministic_and_changes_with_key():
  cfg = StepConfig(latent_dim=2, d_steps=2, packing=2)
  loss = L.chain(L.hinge(), L.gradient_penalty(1.0))
  tx = optax.adam(1e-2)
  g, d = TinyMLPGenerator(), TinyMLPDiscriminator()
  batch = {"image": jax.random.normal(jax.random.PRNGKey(1), (16, 2))}
  state = init_state(jax.random.PRNGKey(0), g, d, loss, tx, tx, cfg, batch)
  step = jax.jit(make_train_step(g, d, loss, tx, tx, cfg))
  a, ma = step(state, batch)
  b, mb = step(state, batch)
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)),
               (a.g_params, a.d_params, ma), (b.g_params, b.d_params, mb))
  c, _ = step(state.replace(key=jax.random.PRNGKey(7)), batch)
  assert not np.allclose(c.g_params["Dense_0"]["kernel"], a.g_params["Dense_0"]["kernel"])
  assert set(ma) >= {"d_loss", "g_loss", "d/hinge", "d/gradient_penalty", "g/hinge", "d_real",
                     "d_fake", "d_grad_norm", "g_grad_norm", "loss_finite", "batch_finite"}


def test_pack_groups_consecutive_examples():
  x = jnp.arange(12.0).reshape(6, 2)
  np.testing.assert_array_equal(pack(x, 3), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
  img = jnp.arange(4 * 2 * 2 * 1.0).reshape(4, 2, 2, 1)
  p = pack(img, 2)
  assert p.shape == (2, 2, 2, 2)
  np.testing.assert_array_equal(p[1, ..., 0], img[2, ..., 0])
  np.testing.assert_array_equal(p[1, ..., 1], img[3, ..., 0])
  with pytest.raises(ValueError, match="divisible by 4"):
    pack(x, 4)


def test_clip_params_keeps_weights_in_range():
  tx = optax.chain(optax.sgd(1.0), clip_params(0.01))
  params = {"w": jnp.array([0.005, -0.2, 0.0])}
  grads = {"w": jnp.array([-1.0, 0.1, 0.004])}
  updates, _ = tx.update(grads, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  # atol: the float32 rounding of p + (clip(p + u) - p), a few ulp of |u| ~ 0.2 (ulp 1.5e-8); a weight left
  # unclipped would be off by 0.29 or 0.995.
  np.testing.assert_allclose(new["w"], np.clip(params["w"] - grads["w"], -0.01, 0.01), atol=1e-7)
  with pytest.raises(ValueError, match="limit"):
    clip_params(0.0)


def test_bad_inputs_raise_clear_errors():
  loss = L.non_saturating()
  tx = optax.adam(1e-3)
  g, d = TinyMLPGenerator(), TinyMLPDiscriminator()
  cfg = StepConfig(latent_dim=2)
  good = {"image": jnp.zeros((8, 2))}
  state = init_state(jax.random.PRNGKey(0), g, d, loss, tx, tx, cfg, good)
  step = make_train_step(g, d, loss, tx, tx, cfg)
  with pytest.raises(ValueError, match="does not match the real batch"):
    step(state, {"image": jnp.zeros((8, 3))})
  with pytest.raises(ValueError, match="floating point"):
    step(state, {"image": jnp.zeros((8, 2), jnp.uint8)})
  with pytest.raises(ValueError, match="key 'image'"):
    step(state, {"x": jnp.zeros((8, 2))})
  with pytest.raises(ValueError, match="does not match the data"):
    init_state(jax.random.PRNGKey(0), g, d, loss, tx, tx, cfg, {"image": jnp.zeros((8, 5))})
  with pytest.raises(ValueError, match="not divisible by d_steps=3"):
    make_train_step(g, d, loss, tx, tx, StepConfig(latent_dim=2, d_steps=3))(state, good)
  with pytest.raises(ValueError, match="label"):
    init_state(jax.random.PRNGKey(0), g, d, loss, tx, tx,
               StepConfig(latent_dim=2, conditional=True), good)
  with pytest.raises(ValueError, match="latent distribution 'cauchy'"):
    StepConfig(latent_dim=2, latent_dist="cauchy")
  with pytest.raises(ValueError, match="d_steps must be an int >= 1, got 0"):
    StepConfig(latent_dim=2, d_steps=0)
  with pytest.raises(ValueError, match="latent_dim must be an int >= 1, got 2.0"):
    StepConfig(latent_dim=2.0)
  with pytest.raises(ValueError, match="conditional must be True or False, got 'false'"):
    StepConfig(latent_dim=2, conditional="false")
  numpy_ints = StepConfig(latent_dim=np.int64(8), d_steps=np.int32(2), conditional=np.bool_(False))
  assert numpy_ints == StepConfig(latent_dim=8, d_steps=2) and type(numpy_ints.latent_dim) is int
  # Images outside [-1, 1] (here 0..255 pixels as floats) are refused at init, where the example batch is concrete.
  from jaxgan.nets.mlp import MLPDiscriminator, MLPGenerator  # pylint: disable=g-import-not-at-top
  g_img = MLPGenerator(hidden=(8,), out_shape=(4, 4, 1), batch_norm=False)
  d_img = MLPDiscriminator(hidden=(8,), maxout_pieces=1)
  pixels = jnp.full((4, 4, 4, 1), 255.0)
  with pytest.raises(ValueError, match=r"values are in \[255, 255\].*x / 127.5 - 1"):
    init_state(jax.random.PRNGKey(0), g_img, d_img, loss, tx, tx, StepConfig(latent_dim=2), {"image": pixels})
  init_state(jax.random.PRNGKey(0), g_img, d_img, loss, tx, tx, StepConfig(latent_dim=2),
             {"image": pixels / 127.5 - 1})
  # conditional=True with nets built without classes would train an unconditional GAN: refused.
  from jaxgan.nets import registry  # pylint: disable=g-import-not-at-top
  sizes = dict(resolution=28, channels=1)
  g_plain = registry.get_generator("dcgan_tiny", **sizes)
  d_cond = registry.get_discriminator("dcgan_tiny", num_classes=3, **sizes)
  labelled = {"image": jnp.zeros((4, 28, 28, 1)), "label": jnp.zeros((4,), jnp.int32)}
  with pytest.raises(ValueError, match=r"the generator \(DCGANGenerator\) has num_classes=0 .*num_classes=K"):
    init_state(jax.random.PRNGKey(0), g_plain, d_cond, loss, tx, tx, StepConfig(latent_dim=2, conditional=True),
               labelled)
  with pytest.raises(TypeError, match="LossTransform"):
    make_train_step(g, d, "hinge", tx, tx, cfg)


def test_nonfinite_batch_is_flagged():
  loss = L.non_saturating()
  tx = optax.adam(1e-3)
  g, d = TinyMLPGenerator(), TinyMLPDiscriminator()
  cfg = StepConfig(latent_dim=2)
  batch = {"image": jnp.zeros((8, 2)).at[3, 1].set(jnp.nan)}
  state = init_state(jax.random.PRNGKey(0), g, d, loss, tx, tx, cfg, {"image": jnp.zeros((8, 2))})
  _, m = jax.jit(make_train_step(g, d, loss, tx, tx, cfg))(state, batch)
  assert float(m["batch_finite"]) == 0.0 and float(m["loss_finite"]) == 0.0


def test_normal_init_state_redraws_kernels_and_resets_optimizers():
  from jaxgan.nets.mlp import MLPGenerator  # pylint: disable=g-import-not-at-top
  from jaxgan.train.step import normal_init_state  # pylint: disable=g-import-not-at-top
  g = MLPGenerator(out_shape=(2,), hidden=(256, 256), batch_norm=True, output="linear")
  d = TinyMLPDiscriminator()
  g_tx, d_tx = optax.adam(1e-3), optax.sgd(1e-2, momentum=0.9)
  state = init_state(jax.random.PRNGKey(0), g, d, L.non_saturating(), g_tx, d_tx,
                     StepConfig(latent_dim=2, ema_decay=0.9), {"image": jnp.zeros((4, 2))})
  new = normal_init_state(state, jax.random.PRNGKey(1), 0.02, g_tx, d_tx)
  k = np.asarray(new.g_params["Dense_1"]["kernel"])  # 256 x 256 draws
  assert abs(k.mean()) < 1e-3 and abs(k.std() - 0.02) < 1e-3
  assert all(not np.any(np.asarray(b)) for b in jax.tree.leaves(
      jax.tree_util.tree_map_with_path(lambda p, x: x if p[-1].key == "bias" else jnp.zeros(()), new.g_params)))
  s = np.asarray(new.g_params["BatchNorm_0"]["scale"])
  assert abs(s.mean() - 1.0) < 5e-3 and abs(s.std() - 0.02) < 5e-3
  chex_equal = lambda a, b: all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  assert chex_equal(new.g_ema_params, new.g_params)
  assert chex_equal(new.g_opt_state, g_tx.init(new.g_params)) and chex_equal(new.d_opt_state, d_tx.init(new.d_params))
  assert jax.tree.structure(new) == jax.tree.structure(state) and int(new.step) == 0


def test_orthogonal_init_is_orthogonal_as_pytorch_flattens_each_weight():
  from jaxgan.nets.dcgan import SNDCGANGenerator  # pylint: disable=g-import-not-at-top
  from jaxgan.train.step import orthogonal_init, reinit_state  # pylint: disable=g-import-not-at-top
  g = SNDCGANGenerator(width=4, num_classes=3, input_norm=False)
  z, y = jnp.zeros((2, 16)), jnp.zeros((2,), jnp.int32)
  params = g.init(jax.random.PRNGKey(0), z, y)["params"]
  new = orthogonal_init(params, jax.random.PRNGKey(1))
  eye = lambda n: np.eye(n, dtype=np.float32)
  dense = np.asarray(new["Dense_0"]["kernel"])  # (16 + 32, 512): PyTorch's (512, 48) weight, orthonormal columns
  np.testing.assert_allclose(dense @ dense.T, eye(dense.shape[0]), atol=1e-5)
  conv = np.asarray(new["Conv_0"]["kernel"])  # (3, 3, 4, 3): PyTorch's (3, 36) weight, orthonormal rows
  m = conv.reshape(-1, 3)
  np.testing.assert_allclose(m.T @ m, eye(3), atol=1e-5)
  for name in ("ConvTranspose_0", "ConvTranspose_1", "ConvTranspose_2"):
    k = np.asarray(new[name]["kernel"])  # (4, 4, in, out): PyTorch's (in, out, 4, 4) weight, flattened (in, -1)
    rows = np.moveaxis(k, 2, 0).reshape(k.shape[2], -1)
    np.testing.assert_allclose(rows @ rows.T, eye(k.shape[2]), atol=1e-5)
  assert not np.any(np.asarray(new["Dense_0"]["bias"])) and not np.any(np.asarray(new["Conv_0"]["bias"]))
  assert all(np.all(np.asarray(bn["scale"]) == 1) for n, bn in new.items() if n.startswith("BatchNorm"))
  np.testing.assert_array_equal(new["label_embed"]["embedding"], params["label_embed"]["embedding"])
  # reinit_state: the same parameters for G (its key is the first split), optimizer states for the new ones.
  tx = optax.adam(1e-3)
  state = init_state(jax.random.PRNGKey(0), g, TinyMLPDiscriminator(), L.non_saturating(), tx, tx,
                     StepConfig(latent_dim=16, conditional=True), {"image": jnp.zeros((2, 32, 32, 3)), "label": y})
  fresh = reinit_state(state, jax.random.PRNGKey(1), orthogonal_init, tx, tx)
  want = orthogonal_init(state.g_params, jax.random.split(jax.random.PRNGKey(1))[0])
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(fresh.g_params), jax.tree.leaves(want)))
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(fresh.g_opt_state),
                                                   jax.tree.leaves(tx.init(fresh.g_params))))


def test_glorot_init_is_glorot_uniform_with_gain_sqrt2_in_residual_blocks():
  from jaxgan.nets.resnet import ResNetDiscriminator, ResNetGenerator  # pylint: disable=g-import-not-at-top
  from jaxgan.train.step import glorot_init  # pylint: disable=g-import-not-at-top
  g = ResNetGenerator(width=64)
  params = glorot_init(jax.eval_shape(g.init, jax.random.PRNGKey(0), jnp.zeros((2, 128)))["params"],
                      jax.random.PRNGKey(1))

  def check(kernel, gain):  # U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)): std b / sqrt(3), |x| <= b
    k = np.asarray(kernel)
    receptive = int(np.prod(k.shape[:-2])) if k.ndim > 2 else 1
    bound = gain * np.sqrt(6.0 / (receptive * (k.shape[-2] + k.shape[-1])))
    assert np.abs(k).max() <= bound  # a gain of sqrt(2) would exceed it
    if k.size >= 4096:  # enough draws for the spread to pin the gain from below too
      assert np.abs(k).max() > 0.99 * bound and abs(k.std() - bound / np.sqrt(3)) < 0.02 * bound

  for i in range(3):
    block = params[f"GeneratorBlock_{i}"]
    check(block["Conv_0"]["kernel"], np.sqrt(2))
    check(block["Conv_1"]["kernel"], np.sqrt(2))
    check(block["shortcut"]["kernel"], 1.0)
  check(params["Dense_0"]["kernel"], 1.0)
  check(params["Conv_0"]["kernel"], 1.0)
  assert all(not np.any(np.asarray(b)) for b in jax.tree.leaves(
      jax.tree_util.tree_map_with_path(lambda p, x: x if p[-1].key == "bias" else jnp.zeros(()), params)))
  d = ResNetDiscriminator(width=64, spectral_norm=True)
  d_params = glorot_init(jax.eval_shape(d.init, jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 3)))["params"],
                        jax.random.PRNGKey(2))
  check(d_params["DiscriminatorBlock_0"]["SNConv_0"]["kernel"], np.sqrt(2))
  check(d_params["DiscriminatorBlock_1"]["shortcut"]["kernel"], 1.0)
  check(d_params["head"]["kernel"], 1.0)


def test_apply_model_in_bfloat16_rounds_like_a_bfloat16_matmul():
  """compute_dtype casts parameters and inputs on entry and the output back to float32."""
  class Dense(nn.Module):
    @nn.compact
    def __call__(self, x, *, train):
      del train
      return nn.Dense(3, name="dense")(x)

  dense = Dense()
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 5))
  params = dense.init(jax.random.PRNGKey(1), x, train=False)["params"]
  out, cols = apply_model(dense, params, {}, x, train=True, compute_dtype="bfloat16")
  bf = jnp.bfloat16
  w, b = params["dense"]["kernel"], params["dense"]["bias"]
  expected = (jnp.dot(x.astype(bf), w.astype(bf)) + b.astype(bf)).astype(jnp.float32)
  assert out.dtype == jnp.float32 and cols == {}
  np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))
  full, _ = apply_model(dense, params, {}, x, train=True)
  assert not np.array_equal(np.asarray(out), np.asarray(full))  # bf16 rounding is visible,
  np.testing.assert_allclose(np.asarray(out), np.asarray(full), rtol=0.05, atol=0.05)  # and small


class BatchNormG(nn.Module):
  """z -> Dense -> batch norm -> ReLU -> Dense -> (8, 8, 2) tanh: a G with batch statistics."""

  @nn.compact
  def __call__(self, z, labels=None, *, train):
    del labels
    h = nn.relu(layers.batch_norm(nn.Dense(32)(z), train=train, bn_axis_name=None))
    return jnp.tanh(nn.Dense(8 * 8 * 2)(h)).reshape(z.shape[0], 8, 8, 2)


class SpectralD(nn.Module):
  """x -> SN conv 3x3/2 -> LReLU -> SN conv 3x3/2 -> LReLU -> SN dense: a D with power-iteration vectors."""

  @nn.compact
  def __call__(self, x, labels=None, *, train):
    del labels
    for width in (8, 16):
      x = nn.leaky_relu(layers.SNConv(width, (3, 3), (2, 2))(x, train=train), 0.2)
    return layers.SNDense(1)(x.reshape(x.shape[0], -1), train=train)[:, 0]


def test_bfloat16_step_keeps_float32_state_and_tracks_the_float32_step():
  """Mixed precision: every leaf of the new state keeps its dtype (batch norm statistics and spectral norm vectors
  included, updated from bf16 activations), and the losses and updates stay close to the float32 step's."""
  g, d = BatchNormG(), SpectralD()
  loss, tx = L.non_saturating(), optax.sgd(1e-2)
  batch = {"image": jax.random.uniform(jax.random.PRNGKey(1), (16, 8, 8, 2), minval=-1, maxval=1)}
  results = {}
  for dtype in (None, "bfloat16"):
    cfg = StepConfig(latent_dim=8, compute_dtype=dtype)
    state = init_state(jax.random.PRNGKey(0), g, d, loss, tx, tx, cfg, batch)
    # LLVM's optimizations of the bf16 program take most of this test's time on a CPU and change no dtype
    step = jax.jit(make_train_step(g, d, loss, tx, tx, cfg)).lower(state, batch).compile(UNOPTIMIZED)
    new, metrics = step(state, batch)
    assert jax.tree.map(lambda x: x.dtype, new) == jax.tree.map(lambda x: x.dtype, state)
    assert float(metrics["loss_finite"]) == 1.0
    results[dtype] = (state, new, metrics)
  (s32, n32, m32), (_, n16, m16) = results[None], results["bfloat16"]
  for k in ("d_loss", "g_loss"):
    np.testing.assert_allclose(float(m16[k]), float(m32[k]), rtol=0.02)
  # With SGD the update is the gradient: bf16 gradients point where the float32 ones do (a wrong cast or a
  # dropped gradient path would give a cosine far below 1).
  for player in ("g_params", "d_params"):
    flat = lambda new: np.concatenate([np.ravel(a - b) for a, b in zip(
        jax.tree.leaves(getattr(new, player)), jax.tree.leaves(getattr(s32, player)))])
    u32, u16 = flat(n32), flat(n16)
    cosine = u32 @ u16 / np.linalg.norm(u32) / np.linalg.norm(u16)
    assert cosine > 0.97, (player, cosine)
  for old, new in ((s32.g_collections, n16.g_collections), (s32.d_collections, n16.d_collections)):
    old, new = jax.tree.leaves(old), jax.tree.leaves(new)  # batch statistics of G, u vectors of D:
    assert new and all(x.dtype == jnp.float32 for x in new)  # updated from bf16 activations, kept float32
    assert all(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(old, new)
               if a.size > 1)  # the last layer's u has one entry, always 1


def test_unknown_compute_dtype_is_refused():
  with pytest.raises(ValueError, match="compute_dtype must be None or one of"):
    StepConfig(latent_dim=2, compute_dtype="float16")
