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


def test_equalized_conv_lr_multiplier():
  """Section 4.1 with a learning-rate multiplier (StyleGAN's mapping net): the stored kernel is drawn from
  N(0, 1 / lr^2) and used as w * gain / sqrt(kh * kw * in) * lr; the bias is stored as b / lr and added as b * lr."""
  lr = 0.01
  layer = layers.EqualizedConv(16, kernel_size=3, gain=math.sqrt(2.0), lr_multiplier=lr, bias_init=0.5)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 4, 4, 8)), jnp.float32)
  variables = layer.init(KEY, x)
  kernel, bias = np.asarray(variables["params"]["kernel"]), np.asarray(variables["params"]["bias"])
  chex.assert_shape(kernel, (3, 3, 8, 16))
  np.testing.assert_allclose(np.std(kernel), 1.0 / lr, rtol=0.1)  # 1152 draws of N(0, 100^2)
  np.testing.assert_allclose(bias * lr, 0.5, rtol=1e-6)
  scale = math.sqrt(2.0) / math.sqrt(3 * 3 * 8) * lr
  expected = lax.conv_general_dilated(x, jnp.asarray(kernel * scale), (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=lax.Precision.HIGHEST)
  expected = expected + 0.5
  np.testing.assert_allclose(np.asarray(layer.apply(variables, x)), np.asarray(expected), rtol=1e-4, atol=1e-5)


def test_batch_norm_contract():
  """`normalization("batch")` (module docstring): train mode normalizes by the batch's mean and biased variance with
  epsilon 1e-5 and moves the running averages with momentum 0.9 (new = 0.9 old + 0.1 batch); eval mode normalizes by
  the running averages and leaves them alone."""

  class _BN(nn.Module):
    @nn.compact
    def __call__(self, x, train):
      return layers.batch_norm(x, train=train, bn_axis_name=None)

  bn = _BN()
  rng = np.random.default_rng(0)
  # channel 2 has a variance ~1e-5, the size of epsilon, so that epsilon shows
  x64 = rng.normal(size=(8, 2, 2, 3)) * np.array([1.0, 5.0, 3e-3]) + np.array([2.0, -1.0, 0.0])
  x = jnp.asarray(x64, jnp.float32)
  x64 = np.asarray(x, np.float64)
  variables = bn.init(KEY, x, False)  # scale 1, bias 0, running mean 0, running var 1
  y, updates = bn.apply(variables, x, True, mutable=["batch_stats"])
  mean, var = x64.mean(axis=(0, 1, 2)), x64.var(axis=(0, 1, 2))
  np.testing.assert_allclose(np.asarray(y), (x64 - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-4)
  stats = updates["batch_stats"]["BatchNorm_0"]
  np.testing.assert_allclose(np.asarray(stats["mean"]), 0.1 * mean, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(np.asarray(stats["var"]), 0.9 * 1.0 + 0.1 * var, rtol=1e-5)
  y_eval, eval_updates = bn.apply({**variables, **updates}, x, False, mutable=["batch_stats"])
  chex.assert_trees_all_equal(eval_updates, updates)
  expected = (x64 - 0.1 * mean) / np.sqrt(0.9 + 0.1 * var + 1e-5)
  np.testing.assert_allclose(np.asarray(y_eval), expected, rtol=1e-4, atol=1e-5)


def test_layer_norm_and_none_options():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 3, 4)) * 3 + 1, jnp.float32)

  class _Norm(nn.Module):
    norm: str

    @nn.compact
    def __call__(self, x):
      return layers.normalization(x, self.norm, train=True, bn_axis_name=None)

  y, ln_vars = _Norm("layer").init_with_output(KEY, x)
  flat = np.asarray(y).reshape(2, -1)
  np.testing.assert_allclose(flat.mean(axis=1), 0.0, atol=1e-5)
  np.testing.assert_allclose(flat.std(axis=1), 1.0, rtol=1e-3)
  # Each sample normalized by the mean and biased variance of all its (H, W, C) features together (not per pixel:
  # a per-pixel layer norm also has a flat mean of 0 and std of 1), epsilon 1e-5, a per-channel scale and bias.
  x64 = np.asarray(x, np.float64).reshape(2, -1)
  expected = (x64 - x64.mean(axis=1, keepdims=True)) / np.sqrt(x64.var(axis=1, keepdims=True) + 1e-5)
  np.testing.assert_allclose(np.asarray(y), expected.reshape(x.shape), rtol=1e-4, atol=1e-5)
  assert jax.tree.map(jnp.shape, ln_vars) == {"params": {"LayerNorm_0": {"scale": (4,), "bias": (4,)}}}
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
  """d/dW of sum(x @ W / sigma(W)) in a training step, with u and v held fixed (Miyato et al. 2018, section 2.2).

  With train=True one power iteration runs on W, so u and v depend on W; the reference gradient is the analytic one
  with them constant: d/dK [S(K) / sigma] = (dS/dK) / sigma - S / sigma^2 * v u^T, with sigma = u^T W v, W = K^T.
  """
  layer = layers.SNDense(3, use_bias=False)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 4)), jnp.float32)
  variables = layer.init(KEY, x)
  kernel = variables["params"]["kernel"]

  def loss(k):
    y, updates = layer.apply({"params": {"kernel": k}, "spectral": variables["spectral"]}, x, train=True,
                             mutable=["spectral"])
    return jnp.sum(y), updates["spectral"]["u"]

  (value, new_u), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(kernel)

  # one power iteration from the stored u, in float64 numpy, on a constant copy of W
  k64, x64 = np.asarray(kernel, np.float64), np.asarray(x, np.float64)
  w_mat, u = k64.T, np.asarray(variables["spectral"]["u"], np.float64)
  v = w_mat.T @ u / np.linalg.norm(w_mat.T @ u)
  u = w_mat @ v / np.linalg.norm(w_mat @ v)
  v = w_mat.T @ u / np.linalg.norm(w_mat.T @ u)
  sigma = u @ w_mat @ v
  total = np.sum(x64 @ k64)
  expected = np.outer(x64.sum(axis=0), np.ones(3)) / sigma - total / sigma**2 * np.outer(v, u)

  np.testing.assert_allclose(np.asarray(new_u), u, rtol=1e-5, atol=1e-6)  # the iteration did run and advance u
  np.testing.assert_allclose(float(value), total / sigma, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(grads), expected, rtol=1e-4, atol=1e-5)

  def loss_of_u(u0):
    y, _ = layer.apply({"params": {"kernel": kernel}, "spectral": {"u": u0}}, x, train=True, mutable=["spectral"])
    return jnp.sum(y)

  np.testing.assert_array_equal(np.asarray(jax.jit(jax.grad(loss_of_u))(variables["spectral"]["u"])), 0.0)


# ----------------------------------------------------------------------------------------------------------------
# Convolutions with the tap-by-tap kernel gradient (the CPU's), against lax and its autodiff.

_NHWC = ("NHWC", "HWIO", "NHWC")
_CASES = [((7, 7), 4, 2, "SAME"), ((5, 6), 3, 2, "SAME"), ((9, 8), 5, 3, "VALID"), ((6, 4), 1, 2, "SAME"),
          ((3, 5), 3, 1, "VALID"), ((8, 7), 4, 2, ((1, 2), (0, 3))), ((4, 4), 2, 3, "SAME"),
          ((6, 5), 3, 1, "SAME"), ((5, 5), 1, 1, "SAME"), ((6, 6), 4, 1, "SAME"), ((5, 4), 3, 1, ((0, 2), (1, 0))),
          ((4, 4), 1, 1, ((1, 1), (0, 0)))]  # the last: padding wider than the kernel, autodiff's rules


def _lax_conv(x, k, stride, padding):
  return lax.conv_general_dilated(x, k, (stride, stride), padding, dimension_numbers=_NHWC,
                                  precision=lax.Precision.HIGHEST)


def _lax_conv_transpose(x, k, stride, padding):
  return lax.conv_transpose(x, k, (stride, stride), padding, dimension_numbers=_NHWC, precision=lax.Precision.HIGHEST)


def _pads(kind, x, kernel, stride, padding):
  if kind == "conv":
    if isinstance(padding, str):
      return tuple(lax.padtype_to_pads(x.shape[1:3], (kernel, kernel), (stride, stride), padding))
    return padding
  return tuple(layers.conv_transpose_padding(kernel, stride, p)
               for p in ([padding] * 2 if isinstance(padding, str) else padding))


@pytest.mark.parametrize("kind", ["conv", "transpose"])
@pytest.mark.parametrize("size,kernel,stride,padding", _CASES)
def test_convolutions_and_their_gradients_equal_lax(kind, size, kernel, stride, padding):
  rng = np.random.default_rng(sum(size) + kernel + stride)
  x = jnp.asarray(rng.standard_normal((2, *size, 3)), jnp.float32)
  k = jnp.asarray(rng.standard_normal((kernel, kernel, 3, 4)), jnp.float32)
  if kind == "conv":
    ref, op, taps = _lax_conv, layers.conv2d, layers._conv_kernel_grad_by_taps  # pylint: disable=protected-access
  else:
    ref, op = _lax_conv_transpose, layers.conv_transpose
    taps = layers._transpose_kernel_grad_by_taps  # pylint: disable=protected-access
  ours = lambda x, k: op(x, k, (stride, stride), padding, precision=lax.Precision.HIGHEST)
  want = ref(x, k, stride, padding)
  np.testing.assert_allclose(ours(x, k), want, rtol=1e-5, atol=1e-5)
  cotangent = jnp.asarray(rng.standard_normal(want.shape), jnp.float32)
  loss_ours = lambda x, k: jnp.sum(ours(x, k) * cotangent)
  loss_ref = lambda x, k: jnp.sum(ref(x, k, stride, padding) * cotangent)
  expected = jax.grad(loss_ref, (0, 1))(x, k)
  for got, exp in zip(jax.jit(jax.grad(loss_ours, (0, 1)))(x, k), expected):
    np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-4)
  # The tap-by-tap rule itself (what the CPU runs), whatever backend runs the tests.
  by_taps = taps(x, cotangent, k.shape, (stride, stride), _pads(kind, x, kernel, stride, padding),
                 lax.Precision.HIGHEST)
  np.testing.assert_allclose(by_taps, expected[1], rtol=1e-5, atol=1e-4)
  pads = _pads(kind, x, kernel, stride, padding)
  if kind == "conv" and stride == 1 and all(0 <= p <= kernel - 1 for pair in pads for p in pair):
    # The stride-1 input gradient as a plain convolution (what the CPU runs), whatever backend runs the tests.
    dx = layers._stride1_input_grad(cotangent, k, pads, lax.Precision.HIGHEST)  # pylint: disable=protected-access
    np.testing.assert_allclose(dx, expected[0], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("kind,stride", [("conv", 2), ("conv", 1), ("transpose", 2)])
def test_second_order_gradients_equal_lax(kind, stride):
  """Penalties on input gradients (WGAN-GP, R1, path length) differentiate the backward pass again."""
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.standard_normal((2, 6, 6, 3)), jnp.float32)
  k = jnp.asarray(rng.standard_normal((4, 4, 3, 2)), jnp.float32)
  ref = {"conv": _lax_conv, "transpose": _lax_conv_transpose}[kind]
  op = {"conv": layers.conv2d, "transpose": layers.conv_transpose}[kind]

  def penalty(f):
    return lambda k: jnp.sum(jax.grad(lambda x: jnp.sum(jnp.tanh(f(x, k))))(x) ** 2)

  ours = penalty(lambda x, k: op(x, k, (stride, stride), "SAME", precision=lax.Precision.HIGHEST))
  theirs = penalty(lambda x, k: ref(x, k, stride, "SAME"))
  np.testing.assert_allclose(jax.grad(ours)(k), jax.grad(theirs)(k), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["conv", "transpose"])
def test_conv_modules_equal_flax(kind):
  """Same parameter names, shapes and initial values as flax.linen's Conv / ConvTranspose, same outputs (checkpoints
  and results of the nets that switched to them are unchanged), flax's dtype rule in mixed precision."""
  theirs_cls, ours_cls = {"conv": (nn.Conv, layers.Conv), "transpose": (nn.ConvTranspose, layers.ConvTranspose)}[kind]
  x = jax.random.normal(jax.random.key(1), (2, 5, 5, 4))
  for kw in (dict(features=3, kernel_size=(3, 3), strides=(1, 1), padding="VALID", use_bias=False),
             dict(features=5, kernel_size=(3, 3), strides=(2, 2), padding=((1, 0), (2, 1))),
             dict(features=6, kernel_size=(4, 4), strides=(2, 2), padding="SAME")):
    theirs, ours = theirs_cls(**kw), ours_cls(**kw)
    v_theirs, v_ours = theirs.init(jax.random.key(0), x), ours.init(jax.random.key(0), x)
    chex.assert_trees_all_equal(v_ours, v_theirs)
    np.testing.assert_allclose(ours.apply(v_ours, x), theirs.apply(v_theirs, x), rtol=1e-5, atol=1e-5)
  # Parameters and input cast to bf16, as apply_model does (the strided layer): a bf16 output, bf16 gradients.
  half = jax.tree.map(lambda a: a.astype(jnp.bfloat16), v_ours)
  y_ours, y_theirs = ours.apply(half, x.astype(jnp.bfloat16)), theirs.apply(half, x.astype(jnp.bfloat16))
  assert y_ours.dtype == y_theirs.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.float32(y_ours), np.float32(y_theirs), rtol=2e-2, atol=2e-2)
  grads = jax.grad(lambda v: jnp.sum(ours.apply(v, x.astype(jnp.bfloat16))))(half)
  assert grads["params"]["kernel"].dtype == jnp.bfloat16


def test_conv_refuses_unknown_padding():
  x = jnp.ones((1, 4, 4, 2))
  with pytest.raises(ValueError, match="'SAME', 'VALID' or"):
    layers.conv_transpose(x, jnp.ones((3, 3, 2, 2)), (2, 2), "FULL")
  with pytest.raises(ValueError, match="'SAME', 'VALID' or"):
    layers.conv2d(x, jnp.ones((3, 3, 2, 2)), (2, 2), "CIRCULAR")
  with pytest.raises(ValueError, match="expected NHWC input"):
    layers.conv2d(x[0], jnp.ones((3, 3, 2, 2)), (2, 2))
