"""Tests of jaxgan.nets.layers and jaxgan.nets.conditional against numpy formulas."""
import math

import chex
import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.nets import conditional
from jaxgan.nets import layers

KEY = jax.random.key(0, impl="rbg")  # rbg keys compile much faster on CPU than threefry


def _matrix_with_spectrum(rows: int, cols: int, singular_values: list[float], seed: int) -> np.ndarray:
  rng = np.random.default_rng(seed)
  u, _ = np.linalg.qr(rng.normal(size=(rows, rows)))
  v, _ = np.linalg.qr(rng.normal(size=(cols, cols)))
  s = np.zeros((rows, cols))
  s[np.arange(len(singular_values)), np.arange(len(singular_values))] = singular_values
  return (u @ s @ v.T).astype(np.float32)


def _run_power_iterations(layer: nn.Module, variables, x, num_calls: int):
  step = jax.jit(lambda v: layer.apply(v, x, train=True, mutable=["spectral"])[1]["spectral"])
  for _ in range(num_calls):
    variables = {**variables, "spectral": step(variables)}
  return variables


def test_spectral_sigma_converges_to_svd():
  w = _matrix_with_spectrum(5, 7, [3.0, 2.0, 1.0, 0.5, 0.1], seed=1)
  u0 = jnp.asarray(np.random.default_rng(2).normal(size=5), jnp.float32)
  sigma0, _ = layers.spectral_sigma(jnp.asarray(w), u0 / jnp.linalg.norm(u0), num_iters=0)
  sigma, u = layers.spectral_sigma(jnp.asarray(w), u0 / jnp.linalg.norm(u0), num_iters=50)
  top = np.linalg.svd(w, compute_uv=False)[0]
  assert float(sigma0) < top - 1e-3  # a random u underestimates sigma
  np.testing.assert_allclose(float(sigma), top, rtol=1e-5)
  np.testing.assert_allclose(abs(float(jnp.dot(u, jnp.asarray(np.linalg.svd(w)[0][:, 0])))), 1.0, rtol=1e-5)


def test_sn_dense_matches_svd_after_50_iterations():
  layer = layers.SNDense(4)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 6)), jnp.float32)
  variables = jax.jit(layer.init)(KEY, x)
  kernel = _matrix_with_spectrum(6, 4, [2.5, 1.5, 1.0, 0.3], seed=3)  # (in, out)
  bias = np.arange(4, dtype=np.float32)
  variables = {"params": {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)},
               "spectral": variables["spectral"]}
  chex.assert_shape(variables["spectral"]["u"], (4,))
  variables = _run_power_iterations(layer, variables, x, 50)
  y = layer.apply(variables, x, train=False)
  top = np.linalg.svd(kernel.T.reshape(4, -1), compute_uv=False)[0]
  np.testing.assert_allclose(np.asarray(y), np.asarray(x) @ (kernel / top) + bias, rtol=1e-4, atol=1e-5)


def test_sn_conv_matches_svd_after_50_iterations():
  layer = layers.SNConv(4, (3, 3), (2, 2))
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 6, 2)), jnp.float32)
  variables = jax.jit(layer.init)(KEY, x)
  w_mat = _matrix_with_spectrum(4, 18, [2.0, 1.2, 0.7, 0.2], seed=4)  # (out, kh*kw*in)
  kernel = w_mat.T.reshape(3, 3, 2, 4)
  variables = {"params": {"kernel": jnp.asarray(kernel), "bias": jnp.zeros(4)}, "spectral": variables["spectral"]}
  variables = _run_power_iterations(layer, variables, x, 50)
  y = layer.apply(variables, x, train=False)
  top = np.linalg.svd(kernel.reshape(-1, 4).T, compute_uv=False)[0]
  np.testing.assert_allclose(top, 2.0, rtol=1e-5)
  expected = lax.conv_general_dilated(
      x, jnp.asarray(kernel / top), (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
      precision=lax.Precision.HIGHEST)
  chex.assert_shape(y, (2, 3, 3, 4))
  np.testing.assert_allclose(np.asarray(y), np.asarray(expected), rtol=1e-4, atol=1e-5)


def test_sn_u_updated_only_when_train_and_mutable():
  layer = layers.SNDense(3, use_bias=False)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5)), jnp.float32)
  variables = layer.init(KEY, x)
  u = np.asarray(variables["spectral"]["u"])
  np.testing.assert_allclose(np.linalg.norm(u), 1.0, rtol=1e-5)
  kernel = np.asarray(variables["params"]["kernel"])

  _, train_mut = layer.apply(variables, x, train=True, mutable=["spectral"])
  assert not np.allclose(np.asarray(train_mut["spectral"]["u"]), u)
  _, eval_mut = layer.apply(variables, x, train=False, mutable=["spectral"])
  np.testing.assert_array_equal(np.asarray(eval_mut["spectral"]["u"]), u)

  # Not mutable: no update, and sigma comes from the stored u: sigma = |W^T u| with W = kernel.T (out, in).
  sigma_stored = np.linalg.norm(kernel @ u)
  expected = np.asarray(x) @ kernel / sigma_stored
  for train in (True, False):
    y = layer.apply(variables, x, train=train)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-4, atol=1e-6)


def test_pixel_norm_formula():
  x = np.random.default_rng(0).normal(size=(2, 3, 3, 5)).astype(np.float32)
  expected = x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + 1e-8)
  np.testing.assert_allclose(np.asarray(layers.pixel_norm(jnp.asarray(x))), expected, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(layers.PixelNorm().apply({}, jnp.asarray(x))), expected, rtol=1e-5)


@pytest.mark.parametrize("group_size,num_features", [(2, 2), (4, 1), (8, 1)])
def test_minibatch_stddev_formula(group_size, num_features):
  n, h, w, c = 4, 3, 2, 4
  x = np.random.default_rng(0).normal(size=(n, h, w, c)).astype(np.float32)
  y = np.asarray(layers.minibatch_stddev(jnp.asarray(x), group_size=group_size, num_features=num_features))
  chex.assert_shape(y, (n, h, w, c + num_features))
  np.testing.assert_array_equal(y[..., :c], x)
  g = min(group_size, n)
  m = n // g
  for i in range(n):
    members = [j for j in range(n) if j % m == i % m]
    assert len(members) == g
    for f in range(num_features):
      chunk = x[members][..., f * (c // num_features):(f + 1) * (c // num_features)]
      expected = np.mean(np.sqrt(np.var(chunk, axis=0) + 1e-8))
      np.testing.assert_allclose(y[i, :, :, c + f], expected, rtol=1e-5)


def test_minibatch_stddev_rejects_bad_group():
  with pytest.raises(ValueError, match="divisible by group size"):
    layers.minibatch_stddev(jnp.zeros((6, 2, 2, 2)), group_size=4)


@pytest.mark.parametrize("lr_multiplier", [1.0, 0.01])
def test_equalized_dense_formula(lr_multiplier):
  layer = layers.EqualizedDense(300, gain=math.sqrt(2.0), lr_multiplier=lr_multiplier, bias_init=0.5)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 50)), jnp.float32)
  variables = layer.init(KEY, x)
  kernel, bias = np.asarray(variables["params"]["kernel"]), np.asarray(variables["params"]["bias"])
  np.testing.assert_allclose(np.std(kernel), 1.0 / lr_multiplier, rtol=0.05)  # N(0, 1/lr^2) storage
  np.testing.assert_allclose(bias * lr_multiplier, 0.5, rtol=1e-6)
  scale = math.sqrt(2.0) / math.sqrt(50) * lr_multiplier
  expected = np.asarray(x) @ (kernel * scale) + bias * lr_multiplier
  np.testing.assert_allclose(np.asarray(layer.apply(variables, x)), expected, rtol=1e-4, atol=1e-5)


def test_equalized_conv_formula():
  layer = layers.EqualizedConv(3, kernel_size=3, gain=1.0)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 5, 5, 2)), jnp.float32)
  variables = layer.init(KEY, x)
  kernel = np.asarray(variables["params"]["kernel"])
  chex.assert_shape(kernel, (3, 3, 2, 3))
  y = np.asarray(layer.apply(variables, x))
  scaled = kernel / math.sqrt(3 * 3 * 2)
  xp = np.pad(np.asarray(x), ((0, 0), (1, 1), (1, 1), (0, 0)))
  expected = np.zeros((1, 5, 5, 3), np.float32)
  for i in range(5):
    for j in range(5):
      expected[0, i, j] = np.einsum("hwc,hwco->o", xp[0, i:i + 3, j:j + 3], scaled)
  np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_layer_norm_and_none_options():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 3, 4)) * 3 + 1, jnp.float32)

  class _Norm(nn.Module):
    norm: str

    @nn.compact
    def __call__(self, x):
      return layers.normalization(x, self.norm, train=True, bn_axis_name=None)

  y, _ = _Norm("layer").init_with_output(KEY, x)
  flat = np.asarray(y).reshape(2, -1)
  np.testing.assert_allclose(flat.mean(axis=1), 0.0, atol=1e-5)
  np.testing.assert_allclose(flat.std(axis=1), 1.0, rtol=1e-3)
  y, variables = _Norm("none").init_with_output(KEY, x)
  np.testing.assert_array_equal(np.asarray(y), np.asarray(x))
  assert not variables
  with pytest.raises(ValueError, match="norm must be one of"):
    layers.check_norm("group", "test")


def test_check_labels():
  good = conditional.check_labels(np.array([0, 2]), 2, 3, "M")
  assert good.dtype == jnp.int32
  with pytest.raises(ValueError, match="labels are required"):
    conditional.check_labels(None, 2, 3, "M")
  with pytest.raises(ValueError, match="dtype"):
    conditional.check_labels(jnp.array([0.0, 1.0]), 2, 3, "M")
  with pytest.raises(ValueError, match="shape"):
    conditional.check_labels(jnp.array([[0], [1]]), 2, 3, "M")
  with pytest.raises(ValueError, match="shape"):
    conditional.check_labels(jnp.array([0, 1, 2]), 2, 3, "M")
  with pytest.raises(ValueError, match="values"):
    conditional.check_labels(jnp.array([0, 3]), 2, 3, "M")
  with pytest.raises(ValueError, match="values"):
    conditional.check_labels(jnp.array([-1, 0]), 2, 3, "M")


def test_sn_gradient_treats_u_and_v_as_constants():
  """d/dW of sum(x @ W / sigma(W)) with sigma = u^T W v, u and v held fixed (Miyato et al. 2018, section 2.2)."""
  layer = layers.SNDense(3, use_bias=False)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 4)), jnp.float32)
  variables = layer.init(KEY, x)
  u = variables["spectral"]["u"]

  def loss(kernel):
    return jnp.sum(layer.apply({"params": {"kernel": kernel}, "spectral": variables["spectral"]}, x, train=False))

  def reference(kernel):
    w_mat = kernel.T
    v = lax.stop_gradient(w_mat.T @ u / jnp.linalg.norm(w_mat.T @ u))
    return jnp.sum(x @ kernel / (u @ w_mat @ v))

  grads, expected = jax.jit(lambda k: (jax.grad(loss)(k), jax.grad(reference)(k)))(variables["params"]["kernel"])
  np.testing.assert_allclose(np.asarray(grads), np.asarray(expected), rtol=1e-4, atol=1e-5)
