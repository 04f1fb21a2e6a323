"""Latent sampling, truncation and interpolation against their formulas; standing statistics against numpy."""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxgan import sampling


def test_latent_distributions():
  z = sampling.sample_latent(jax.random.PRNGKey(0), (4000, 8))
  assert z.shape == (4000, 8) and z.dtype == jnp.float32
  assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05
  u = sampling.sample_latent(jax.random.PRNGKey(0), (4000, 8), "uniform")
  assert float(u.min()) >= -1 and float(u.max()) <= 1 and abs(float(u.var()) - 1 / 3) < 0.02
  with pytest.raises(ValueError, match="unknown latent distribution 'gamma'"):
    sampling.sample_latent(jax.random.PRNGKey(0), (2, 2), "gamma")


def test_truncation():
  # entries follow N(0, 1) conditioned on [-2, 2], not a clipped normal (mass on +-2) nor a uniform draw
  z = sampling.truncated_normal(jax.random.PRNGKey(0), (10000, 4), 2.0)
  assert z.shape == (10000, 4) and z.dtype == jnp.float32
  flat = np.asarray(z, np.float64).ravel()
  assert np.all(np.abs(flat) < 2.0)  # strictly inside: clipping would put samples exactly on the threshold
  reference = stats.truncnorm(-2.0, 2.0)
  assert stats.kstest(flat, reference.cdf).pvalue > 1e-3
  var, fourth = reference.var(), reference.moment(4)  # mean 0, so moment(4) is the central fourth moment
  assert abs(flat.var() - var) < 4 * math.sqrt((fourth - var**2) / flat.size)
  x = jnp.array([[2.0, -4.0]])
  np.testing.assert_allclose(sampling.truncate(x, 0.25, center=jnp.array([1.0, 0.0])),
                             [[1.25, -1.0]])
  with pytest.raises(ValueError, match="psi"):
    sampling.truncate(x, 1.5)


def test_lerp_endpoints_and_midpoint():
  a, b = jnp.array([1.0, 0.0]), jnp.array([0.0, 3.0])
  out = sampling.lerp(a, b, jnp.array([0.0, 0.5, 1.0]))
  np.testing.assert_allclose(out, [[1, 0], [0.5, 1.5], [0, 3]])


def test_slerp_stays_on_circle_with_constant_angle_steps():
  a, b = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
  t = jnp.linspace(0, 1, 5)
  out = np.asarray(sampling.slerp(a, b, t))
  np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
  angles = np.arctan2(out[:, 1], out[:, 0])
  np.testing.assert_allclose(angles, np.pi / 2 * np.asarray(t), atol=1e-6)
  # batched and with different norms: norms interpolate linearly
  a2, b2 = jnp.array([[2.0, 0.0], [1.0, 1.0]]), jnp.array([[0.0, 4.0], [1.0, 1.0]])
  mid = np.asarray(sampling.slerp(a2, b2, jnp.array([0.5])))[0]
  np.testing.assert_allclose(np.linalg.norm(mid[0]), 3.0, rtol=1e-6)
  # orthogonal inputs: halfway along the quarter circle (45 degrees) at the mean norm (2 + 4) / 2
  np.testing.assert_allclose(mid[0], 3.0 * np.array([math.cos(math.pi / 4), math.sin(math.pi / 4)]), rtol=1e-6)
  np.testing.assert_allclose(mid[1], [1.0, 1.0], rtol=1e-6)  # parallel: falls back to lerp
  # a zero vector has no direction: lerp of the vectors, finite
  half = np.asarray(sampling.slerp(jnp.zeros((1, 2)), jnp.array([[0.0, 4.0]]), jnp.array([0.25, 0.5])))
  np.testing.assert_allclose(half[:, 0], [[0.0, 1.0], [0.0, 2.0]], rtol=1e-6)
  for fn in (sampling.slerp, sampling.lerp):
    with pytest.raises(ValueError, match=r"a and b must have one shape \(\.\.\., Z\), got \(2, 4\) and \(2, 5\)"):
      fn(jnp.ones((2, 4)), jnp.ones((2, 5)), jnp.array([0.5]))


def test_slerp_endpoints_and_norm_at_any_t():
  """slerp(a, b, 0) = a and slerp(a, b, 1) = b for orthogonal, antiparallel and parallel pairs. At t = 1/4: the
  direction of an orthogonal pair is 1/4 of the way along the quarter circle and an (anti)parallel pair takes the
  lerp of its unit directions (the docstring's fallback), each times the norm 3/4 |a| + 1/4 |b| (norms interpolate
  linearly)."""
  a = jnp.array([[3.0, 0.0], [2.0, 0.0], [1.0, 1.0]])
  b = jnp.array([[0.0, 1.0], [-4.0, 0.0], [2.0, 2.0]])  # orthogonal, antiparallel, parallel
  out = np.asarray(jax.jit(sampling.slerp)(a, b, jnp.array([0.0, 0.25, 1.0])))  # one compile, not one per op
  np.testing.assert_allclose(out[0], a, atol=1e-6)
  np.testing.assert_allclose(out[2], b, atol=1e-6)
  na, nb = np.array([3.0, 2.0, math.sqrt(2)]), np.array([1.0, 4.0, math.sqrt(8)])
  norm = 0.75 * na + 0.25 * nb
  np.testing.assert_allclose(np.linalg.norm(out[1, [0, 2]], axis=-1), norm[[0, 2]], rtol=1e-6)
  np.testing.assert_allclose(out[1, 0], norm[0] * np.array([math.cos(math.pi / 8), math.sin(math.pi / 8)]),
                             rtol=1e-6)
  np.testing.assert_allclose(out[1, 1], norm[1] * (0.75 * np.array([1.0, 0.0]) + 0.25 * np.array([-1.0, 0.0])),
                             rtol=1e-6)
  np.testing.assert_allclose(out[1, 2], norm[2] * np.array([1.0, 1.0]) / math.sqrt(2), rtol=1e-6)


class _TwoBatchNorms(nn.Module):
  """Dense - BN - ReLU - Dense - BN: small enough to recompute its batch statistics by hand."""
  momentum: float = 0.9

  @nn.compact
  def __call__(self, z, labels=None, *, train=True):
    bn = lambda: nn.BatchNorm(use_running_average=not train, momentum=self.momentum, epsilon=1e-5)
    h = nn.relu(bn()(nn.Dense(5)(z)))
    return bn()(nn.Dense(3)(h))


def _stats_by_hand(params, latents, eps=1e-5):
  """Per layer (mean, biased var) averaged over the batches, in numpy, with G in train mode."""
  p = jax.tree.map(np.asarray, params)
  sums = [[0.0, 0.0], [0.0, 0.0]]
  for z in np.asarray(latents, np.float64):
    a1 = z @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"]
    m1, v1 = a1.mean(0), a1.var(0)
    h = np.maximum((a1 - m1) / np.sqrt(v1 + eps) * p["BatchNorm_0"]["scale"] + p["BatchNorm_0"]["bias"], 0.0)
    a2 = h @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]
    for layer, a in enumerate((a1, a2)):
      sums[layer][0] = sums[layer][0] + a.mean(0)
      sums[layer][1] = sums[layer][1] + a.var(0)
  return [(m / len(latents), v / len(latents)) for m, v in sums]


@pytest.mark.parametrize("momentum, scale", [(0.9, 1.0), (0.99, 1.0), (0.9, 300.0)])
def test_standing_stats_average_the_batch_statistics_of_each_layer(momentum, scale):
  """scale 300: first-layer variances ~1e5, where recovering the momentum from updates that differ by 1 lost it to
  float32 rounding (a 4e-3 relative error in the variance)."""
  g = _TwoBatchNorms(momentum)
  variables = g.init(jax.random.PRNGKey(0), jnp.zeros((2, 4)), train=False)
  # running statistics far from the truth, so that they cannot pass for the standing ones
  variables = {**variables, "batch_stats": jax.tree.map(lambda x: x + 7.0, variables["batch_stats"])}
  latents = scale * jax.random.normal(jax.random.PRNGKey(1), (6, 32, 4))
  out = sampling.standing_stats(g, variables, latents)
  assert out["params"] is variables["params"]
  for layer, (mean, var) in enumerate(_stats_by_hand(variables["params"], latents)):
    got = out["batch_stats"][f"BatchNorm_{layer}"]
    np.testing.assert_allclose(got["mean"], mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["var"], var, rtol=1e-4, atol=1e-5)


def test_standing_stats_of_one_batch_make_eval_mode_equal_train_mode_on_it():
  from jaxgan.nets.infogan import InfoGANGenerator  # pylint: disable=import-outside-toplevel
  g = InfoGANGenerator(resolution=8, width=4, activation="leaky_relu")
  z = jax.random.uniform(jax.random.PRNGKey(3), (16, 8), minval=-1.0, maxval=1.0)
  variables = jax.jit(functools.partial(g.init, train=False))(jax.random.PRNGKey(2), z)
  trained, _ = jax.jit(functools.partial(g.apply, train=True, mutable=["batch_stats"]))(variables, z)
  sample = jax.jit(functools.partial(g.apply, train=False))  # compiled once, called twice
  before = sample(variables, z)
  after = sample(sampling.standing_stats(g, variables, z[None]), z)
  assert float(jnp.abs(before - trained).max()) > 1e-2  # the initial running statistics do differ
  np.testing.assert_allclose(after, trained, atol=2e-5)


def test_standing_stats_bad_inputs():
  g = _TwoBatchNorms()
  variables = g.init(jax.random.PRNGKey(0), jnp.zeros((2, 4)), train=False)
  with pytest.raises(ValueError, match=r"latents must be \(batches, batch_size >= 2, latent_dim\)"):
    sampling.standing_stats(g, variables, jnp.zeros((8, 4)))
  with pytest.raises(ValueError, match=r"labels must be \(batches, batch_size\) = \(2, 8\)"):
    sampling.standing_stats(g, variables, jnp.zeros((2, 8, 4)), jnp.zeros((2, 7), jnp.int32))
  dense = nn.Dense(3)
  with pytest.raises(ValueError, match="no 'batch_stats' collection"):
    sampling.standing_stats(dense, dense.init(jax.random.PRNGKey(0), jnp.zeros((2, 4))), jnp.zeros((1, 8, 4)))
  frozen = _TwoBatchNorms(momentum=1.0)
  with pytest.raises(ValueError, match="momentum 1"):
    sampling.standing_stats(frozen, frozen.init(jax.random.PRNGKey(0), jnp.zeros((2, 4)), train=False),
                            jax.random.normal(jax.random.PRNGKey(1), (1, 8, 4)))


def test_make_sample_fn_draws_latents_and_applies_g_in_eval_mode():
  from jaxgan.nets.mlp import MLPGenerator  # pylint: disable=g-import-not-at-top
  from jaxgan.train.state import GANState  # pylint: disable=g-import-not-at-top
  g = MLPGenerator(out_shape=(3,), hidden=(8,), batch_norm=True, output="linear")
  variables = g.init(jax.random.PRNGKey(0), jnp.zeros((2, 4)))
  ema = jax.tree.map(lambda p: p + 1.0, variables["params"])
  # batch-norm running statistics away from (0, 1), so eval mode differs from train mode
  stats_ = jax.tree.map(lambda s: s + 0.5, variables["batch_stats"])
  state = GANState(step=jnp.zeros((), jnp.int32), g_params=variables["params"], d_params={},
                   g_collections={"batch_stats": stats_}, d_collections={}, g_opt_state=(), d_opt_state=(),
                   g_ema_params=ema, loss_state=(), key=jax.random.PRNGKey(1))
  key = jax.random.PRNGKey(7)
  z = sampling.sample_latent(key, (5, 4), "uniform")
  for use_ema, params in ((True, ema), (False, variables["params"])):
    got = sampling.make_sample_fn(g, latent_dim=4, latent_dist="uniform", ema=use_ema)(state, key, 5)
    want = g.apply({"params": params, "batch_stats": stats_}, z, train=False)
    np.testing.assert_array_equal(got, want)
    assert got.shape == (5, 3)
  with pytest.raises(ValueError, match=r"do not take latents of size latent_dim=6 .*pass the latent_dim G was "
                     r"initialized with"):
    sampling.make_sample_fn(g, latent_dim=6)(state, key, 5)
