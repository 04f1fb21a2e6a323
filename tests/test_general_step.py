"""The general step (jaxgan.train.general, issue 27).

* `make_train_step(G, D, ...)`, now the two-player case of the general step, gives the state and metrics of the step
  it replaced (tests/_reference_step.py, a verbatim copy) bit for bit over 3 steps: DCGAN with batch norm, WGAN-GP
  with 5 critic steps, PacGAN packing, lazy R1 on a spectral-norm D, conditional, g_batch_multiplier, bfloat16.
* A player's gradient is with respect to its own parameters, and later players see earlier players' updates
  (closed-form check on scalar nets).
* A CycleGAN-shaped model (4 nets, 2 players, batch norm, a penalty through `view(..., d_fn=)`) initializes, steps
  and reports its metrics; its state survives a checkpoint round trip bitwise.
* Bad input: a player naming a missing net, two players updating one net, a state of another model (issue 26).
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import losses as L
from jaxgan.nets import layers
from jaxgan.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from jaxgan.nets.mlp import MLPDiscriminator, MLPGenerator
from jaxgan.train import general
from jaxgan.train.checkpoint import Checkpointer
from jaxgan.train.step import UNOPTIMIZED, StepConfig, init_state, make_train_step, to_gan_state, to_train_state
import _reference_step as ref
from _general_models import ab_batch, cyclegan_model

STEPS = 3


def _bits(x):
  if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
    x = jax.random.key_data(x)
  return np.asarray(x)


def assert_bitwise(a, b):
  """Same tree, every leaf bitwise equal (PRNG keys by their data)."""
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
    assert x.dtype == y.dtype, jax.tree_util.keystr(path)
    np.testing.assert_array_equal(_bits(x), _bits(y), err_msg=jax.tree_util.keystr(path))


class BatchNormG(nn.Module):
  """z -> Dense -> batch norm -> ReLU -> Dense -> (4, 4, 2) tanh; class embedding added when num_classes."""
  num_classes: int = 0

  @nn.compact
  def __call__(self, z, labels=None, *, train):
    h = nn.Dense(16)(z)
    if self.num_classes:
      h = h + nn.Embed(self.num_classes, 16)(labels)
    h = nn.relu(layers.batch_norm(h, train=train, bn_axis_name=None))
    return jnp.tanh(nn.Dense(4 * 4 * 2)(h)).reshape(z.shape[0], 4, 4, 2)


class SpectralD(nn.Module):
  """x -> SN conv 3x3/2 -> LReLU -> SN dense (+ projection of the label when num_classes): power-iteration
  vectors in a "spectral" collection."""
  num_classes: int = 0

  @nn.compact
  def __call__(self, x, labels=None, *, train):
    x = nn.leaky_relu(layers.SNConv(4, (3, 3), (2, 2))(x, train=train), 0.2)
    h = x.reshape(x.shape[0], -1)
    out = layers.SNDense(1)(h, train=train)[:, 0]
    if self.num_classes:
      out = out + jnp.sum(nn.Embed(self.num_classes, h.shape[-1])(labels) * h, axis=-1)
    return out


def _images(n, shape, seed=0):
  return np.tanh(np.random.default_rng(seed).normal(size=(n,) + shape)).astype(np.float32)


def _case(name):
  """(G, D, loss, g_tx, d_tx, cfg, batch) of one configuration."""
  adam = optax.adam(2e-3, b1=0.5)
  if name == "dcgan_bn":
    g = DCGANGenerator(resolution=28, channels=1, width=2)
    d = DCGANDiscriminator(resolution=28, channels=1, width=2, norm="batch")
    cfg = StepConfig(latent_dim=4, ema_decay=0.9, ema_rampup=1.0)
    return g, d, L.non_saturating(flip_prob=0.3), adam, adam, cfg, {"image": _images(8, (28, 28, 1))}
  if name == "wgan_gp_5":
    g = MLPGenerator(out_shape=(2,), hidden=(8,), batch_norm=True, output="linear")
    d = MLPDiscriminator(hidden=(8, 8), maxout_pieces=1)
    tx = optax.adam(1e-3, b1=0.5, b2=0.9)
    cfg = StepConfig(latent_dim=2, d_steps=5)
    return g, d, L.chain(L.wasserstein(), L.gradient_penalty(10.0)), tx, tx, cfg, {"image": _images(20, (2,))}
  if name == "pacgan":
    g = MLPGenerator(out_shape=(2,), hidden=(8,), batch_norm=True, output="linear")
    d = MLPDiscriminator(hidden=(8,), maxout_pieces=1)
    cfg = StepConfig(latent_dim=2, packing=2, d_steps=2)
    return g, d, L.non_saturating(), adam, adam, cfg, {"image": _images(16, (2,))}
  if name == "lazy_r1_spectral":
    loss = L.chain(L.non_saturating(), L.every(2, L.r1(10.0)))
    cfg = StepConfig(latent_dim=4, d_steps=2, ema_decay=0.99)
    return BatchNormG(), SpectralD(), loss, adam, adam, cfg, {"image": _images(8, (4, 4, 2))}
  if name == "conditional_multiplier":
    cfg = StepConfig(latent_dim=4, conditional=True, d_steps=2, g_batch_multiplier=2)
    labels = np.array([0, 2, 1, 1, 0, 2, 2, 1], np.int32)
    batch = {"image": _images(8, (4, 4, 2)), "label": labels}
    return BatchNormG(num_classes=3), SpectralD(num_classes=3), L.hinge(), adam, adam, cfg, batch
  if name == "bf16":
    loss = L.chain(L.non_saturating(), L.every(2, L.r1(1.0)))
    cfg = StepConfig(latent_dim=4, compute_dtype="bfloat16", g_batch_multiplier=2, ema_decay=0.9)
    return BatchNormG(), SpectralD(), loss, adam, adam, cfg, {"image": _images(8, (4, 4, 2))}
  raise ValueError(name)


CASES = ["dcgan_bn", "wgan_gp_5", "pacgan", "lazy_r1_spectral", "conditional_multiplier", "bf16"]
# Compiled as the library compiles them (LLVM's optimizations on) for two cases; the others with them off, which
# halves these tests' CPU time and compiles both steps the same way.
OPTIMIZED = ("dcgan_bn", "wgan_gp_5")


def _compile(step, name):
  return jax.jit(step, compiler_options=None if name in OPTIMIZED else UNOPTIMIZED)


@pytest.mark.parametrize("name", CASES)
def test_two_player_step_is_bitwise_the_reference(name):
  g, d, loss, g_tx, d_tx, cfg, batch = _case(name)
  state = init_state(jax.random.key(1), g, d, loss, g_tx, d_tx, cfg, batch)
  assert_bitwise(state, ref.init_state(jax.random.key(1), g, d, loss, g_tx, d_tx, cfg, batch))
  new_step = _compile(make_train_step(g, d, loss, g_tx, d_tx, cfg), name)
  ref_step = _compile(ref.make_train_step(g, d, loss, g_tx, d_tx, cfg), name)
  a, b = state, state
  for i in range(STEPS):
    batch_i = {k: np.roll(v, i, axis=0) for k, v in batch.items()}
    a, ma = new_step(a, batch_i)
    b, mb = ref_step(b, batch_i)
  assert_bitwise(a, b)
  assert sorted(ma) == sorted(mb)
  assert_bitwise(ma, mb)
  assert int(a.step) == STEPS and float(ma["loss_finite"]) == 1.0


def test_presplit_two_player_step_is_bitwise_the_reference():
  """The mesh step's path: the batch arrives as (d_steps, B, ...) slices."""
  g, d, loss, g_tx, d_tx, cfg, batch = _case("pacgan")
  state = init_state(jax.random.key(1), g, d, loss, g_tx, d_tx, cfg, batch)
  sliced = {k: v.reshape((cfg.d_steps, -1) + v.shape[1:]) for k, v in batch.items()}
  a = _compile(make_train_step(g, d, loss, g_tx, d_tx, cfg, presplit=True), "pacgan")(state, sliced)
  b = _compile(ref.make_train_step(g, d, loss, g_tx, d_tx, cfg, presplit=True), "pacgan")(state, sliced)
  assert_bitwise(a, b)


def test_gan_state_maps_to_the_general_state_and_back():
  g, d, loss, g_tx, d_tx, cfg, batch = _case("lazy_r1_spectral")
  state = init_state(jax.random.key(1), g, d, loss, g_tx, d_tx, cfg, batch)
  general_state = to_train_state(state)
  assert set(general_state.params) == {"G", "D"} and set(general_state.opt_state) == {"d", "g"}
  assert set(general_state.collections["D"]) == {"spectral"} and set(general_state.ema_params) == {"G"}
  assert_bitwise(to_gan_state(general_state), state)


# ---- Players' gradients and order, in closed form.


class Scale(nn.Module):
  """x -> w * x, w a scalar starting at `w0`."""
  w0: float = 1.0

  @nn.compact
  def __call__(self, x, *, train=True):
    del train
    return self.param("w", lambda k: jnp.asarray(self.w0, jnp.float32)) * x


def _mean_of(name):
  return L.stateless(lambda ctx: (jnp.mean(ctx.values[name]), {"mean": jnp.mean(ctx.values[name])}),
                     players=("pa", "pb"))


def test_each_player_differentiates_its_own_nets_and_sees_earlier_updates():
  # y = b * (a * x). Player "pa" (net A, SGD lr) minimizes mean(y): da = b * mean(x), b held fixed. Player "pb"
  # (net B) then minimizes mean(y) with A's new a: db = a' * mean(x). "pb" runs twice (steps=2) on the same batch:
  # a scan of two updates, b'' = b' - lr a' mean(x).
  lr, a0, b0 = 0.1, 2.0, 3.0
  x = np.array([[1.0], [2.0], [4.0], [5.0]], np.float32)  # mean 3
  forward = lambda nets, batch, key, player: {"y": nets("B", nets("A", batch["x"]))}
  model = general.Model(
      nets={"A": Scale(a0), "B": Scale(b0)}, forward=forward,
      players=(general.Player("pa", ("A",), optax.sgd(lr), _mean_of("y")),
               general.Player("pb", "B", optax.sgd(lr), _mean_of("y"), steps=2)))
  state = general.init_general_state(jax.random.key(0), model, {"x": x})
  new, m = jax.jit(general.make_general_step(model))(state, {"x": x})
  a1 = a0 - lr * b0 * 3.0
  b1 = b0 - lr * a1 * 3.0
  b2 = b1 - lr * a1 * 3.0
  np.testing.assert_allclose(float(new.params["A"]["w"]), a1, rtol=1e-6)
  np.testing.assert_allclose(float(new.params["B"]["w"]), b2, rtol=1e-6)
  np.testing.assert_allclose(float(m["pa_loss"]), a0 * b0 * 3.0, rtol=1e-6)
  np.testing.assert_allclose(float(m["pa_grad_norm"]), b0 * 3.0, rtol=1e-6)
  np.testing.assert_allclose(float(m["pb_loss"]), np.mean([a1 * b0 * 3.0, a1 * b1 * 3.0]), rtol=1e-6)
  np.testing.assert_allclose(float(m["pb/mean"]), float(m["pb_loss"]), rtol=1e-6)
  assert float(m["loss_finite"]) == 1.0 and float(m["batch_finite"]) == 1.0 and int(new.step) == 1


# ---- A CycleGAN-shaped model: 4 nets, 2 players.


@pytest.fixture(scope="module")
def cyclegan():
  model = cyclegan_model(d_steps=2)
  batch = ab_batch(8)
  state = general.init_general_state(jax.random.key(0), model, batch)
  return model, jax.jit(general.make_general_step(model)), state, batch


def test_cyclegan_shaped_model_steps(cyclegan):
  model, step, state, batch = cyclegan
  assert set(state.params) == {"G_AB", "G_BA", "D_A", "D_B"} and set(state.opt_state) == {"g", "d"}
  assert set(state.collections["G_AB"]) == {"batch_stats"} and state.collections["D_A"] == {}
  assert set(state.ema_params) == {"G_AB"} and set(state.loss_state) == {"g", "d"}
  # The two generators were initialized with keys of their own.
  assert not np.array_equal(state.params["G_AB"]["Dense_0"]["kernel"], state.params["G_BA"]["Dense_0"]["kernel"])
  new, m = step(state, batch)
  assert {"g_loss", "d_loss", "g_grad_norm", "d_grad_norm", "g/A/least_squares", "g/B/least_squares",
          "g/cycle_A", "d/A/least_squares", "d/B/r1", "loss_finite", "batch_finite"} <= set(m)
  assert float(m["loss_finite"]) == 1.0 and int(new.step) == 1
  # g's loss is its terms' sum: 2 adversarial + 10 x 2 cycle terms.
  want = (float(m["g/A/least_squares"]) + float(m["g/B/least_squares"]) + 10 * float(m["g/cycle_A"]) +
          10 * float(m["g/cycle_B"]))
  np.testing.assert_allclose(float(m["g_loss"]), want, rtol=1e-5)
  # every(2, r1) counted d's 2 updates; the EMA moved towards G_AB; batch statistics were updated.
  assert int(new.loss_state["d"][2].count) == 2
  ema = jax.tree.map(lambda e, p: 0.9 * e + 0.1 * p, state.ema_params["G_AB"], new.params["G_AB"])
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7), new.ema_params["G_AB"], ema)
  assert not np.array_equal(new.collections["G_BA"]["batch_stats"]["BatchNorm_0"]["mean"],
                            state.collections["G_BA"]["batch_stats"]["BatchNorm_0"]["mean"])
  assert jax.tree.map(lambda x: (x.shape, x.dtype), new) == jax.tree.map(lambda x: (x.shape, x.dtype), state)


def test_general_state_checkpoint_round_trip(cyclegan, tmp_path):
  model, step, state, batch = cyclegan
  one, _ = step(state, batch)
  ckpt = Checkpointer(tmp_path / "ckpt", config={"model": "cyclegan"})
  ckpt.save(1, one, {"data_position": 8})
  restored, extra = ckpt.restore(general.init_general_state(jax.random.key(5), model, batch))
  assert extra["data_position"] == 8
  assert_bitwise(restored, one)
  assert_bitwise(step(restored, batch), step(one, batch))  # resumed == uninterrupted


# ---- Bad input.


def test_bad_models_raise_one_clear_error():
  tx, loss = optax.sgd(0.1), _mean_of("y")
  forward = lambda nets, batch, key, player: {"y": nets("A", batch["x"])}
  nets = {"A": Scale(), "B": Scale()}
  with pytest.raises(ValueError, match=r"player 'pa' updates net 'C', which the model does not have \(nets: "
                                       r"\['A', 'B'\]\)"):
    general.Model(nets=nets, forward=forward, players=(general.Player("pa", ("C",), tx, loss),))
  with pytest.raises(ValueError, match="players 'pa' and 'pb' both update the parameters of 'A'"):
    general.Model(nets=nets, forward=forward, players=(general.Player("pa", ("A",), tx, loss),
                                                       general.Player("pb", ("B", "A"), tx, loss)))
  with pytest.raises(ValueError, match="steps must be an int >= 1, got 0"):
    general.Player("pa", ("A",), tx, loss, steps=0)
  with pytest.raises(ValueError, match="share loss_name 'x' but hold different loss transforms"):
    general.Model(nets=nets, forward=forward, players=(general.Player("pa", "A", tx, loss, loss_name="x"),
                                                       general.Player("pb", "B", tx, _mean_of("y"), loss_name="x")))
  model = general.Model(nets=nets, forward=forward, players=(general.Player("pa", "A", tx, loss),))
  with pytest.raises(ValueError, match=r"nets \['B'\] are never applied by the model's forward"):
    general.init_general_state(jax.random.key(0), model, {"x": np.ones((2, 1), np.float32)})
  bad = general.Model(nets={"A": Scale()}, forward=forward, players=(
      general.Player("d", "A", tx, L.view(L.hinge(), d_real="D(x)", d_fake="y")),))
  x = {"x": np.ones((2, 1), np.float32)}
  with pytest.raises(ValueError, match=r"view: d_real='D\(x\)' is not among the forward's values \['y'\]"):
    general.make_general_step(bad)(general.init_general_state(jax.random.key(0), bad, x), x)
  with_fn = dataclasses.replace(bad, forward=lambda nets, batch, key, player: {"y": nets("A", batch["x"]),
                                                                               "D": nets.function("A")})
  with pytest.raises(ValueError, match="the forward's value 'D' \\(player 'd'\\) is a function; values are arrays"):
    general.make_general_step(with_fn)(general.init_general_state(jax.random.key(0), bad, x), x)


def test_state_of_another_model_is_refused_with_one_message():
  """Issue 26: G width 4 -> 8 and latent 8 -> 16 used to fail inside flax (ScopeParamShapeError)."""
  loss, tx = L.non_saturating(), optax.adam(1e-3)
  batch = {"image": _images(4, (28, 28, 1))}
  d = DCGANDiscriminator(resolution=28, channels=1, width=4)
  small_g, cfg = DCGANGenerator(resolution=28, channels=1, width=4), StepConfig(latent_dim=8)
  state = jax.eval_shape(lambda: init_state(jax.random.key(0), small_g, d, loss, tx, tx, cfg, batch))
  wider = DCGANGenerator(resolution=28, channels=1, width=8)
  with pytest.raises(ValueError, match=r"the GANState belongs to another model: G's parameters do not match the "
                                       r"model the step was built for \(\['BatchNorm_0'\]\['bias'\] is \(8,\) in "
                                       r"the GANState, \(16,\) in the model; e.g. another width"):
    jax.eval_shape(make_train_step(wider, d, loss, tx, tx, cfg), state, batch)
  with pytest.raises(ValueError, match=r"G's parameters do not match .*\['Dense_0'\]\['kernel'\] is \(8, "):
    jax.eval_shape(make_train_step(small_g, d, loss, tx, tx, StepConfig(latent_dim=16)), state, batch)
  # The general step: a 4-net state into a model whose D_B has another width.
  model = cyclegan_model()
  ab = ab_batch(4)
  cycle_state = jax.eval_shape(lambda: general.init_general_state(jax.random.key(0), model, ab))
  other = dataclasses.replace(model, nets={**model.nets, "D_B": _WideD()})
  with pytest.raises(ValueError, match=r"the state belongs to another model: D_B's parameters .*Dense_0"):
    jax.eval_shape(general.make_general_step(other), cycle_state, ab)


class _WideD(nn.Module):

  @nn.compact
  def __call__(self, x, labels=None, *, train):
    del labels, train
    return nn.Dense(1)(nn.leaky_relu(nn.Dense(16)(x), 0.2))[:, 0]
