"""Layers shared by the GAN networks.

* Spectral normalization (Miyato et al. 2018, arXiv:1802.05957): `SNDense`, `SNConv`, and the pure
  `spectral_sigma` power iteration they use. The power-iteration vector `u` lives in the flax collection
  `"spectral"`; it advances only when `train=True` and that collection is mutable.
* Pixel normalization and minibatch standard deviation (Karras et al. 2018, arXiv:1710.10196, sections 4.2 and 3).
* Equalized learning rate dense/conv (Karras et al. 2018, arXiv:1710.10196, section 4.1): weights are drawn from
  N(0, 1) and scaled by He's constant `gain / sqrt(fan_in)` at every call.
* `normalization`: the choice of batch norm / layer norm / none used by discriminators (WGAN-GP critics must not
  use batch norm, Gulrajani et al. 2017, arXiv:1704.00028).
* `Conv`, `ConvTranspose` (`conv2d`, `conv_transpose`): flax's layers of the same names, parameters and outputs, with
  a kernel gradient of strided layers that XLA's CPU backend computes fast.

Example:
  >>> layer = SNDense(8)
  >>> variables = layer.init(jax.random.key(0), jnp.ones((2, 4)))
  >>> y, updates = layer.apply(variables, jnp.ones((2, 4)), train=True, mutable=["spectral"])
"""
from collections.abc import Callable, Sequence
import functools
import math
from typing import Any

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp

Initializer = Callable[..., jax.Array]
SPECTRAL = "spectral"
_HIGHEST = lax.Precision.HIGHEST
_NHWC = ("NHWC", "HWIO", "NHWC")


# ----------------------------------------------------------------------------------------------------------------
# Spectral normalization.


def _l2_normalize(x: jax.Array, eps: float) -> jax.Array:
  return x * lax.rsqrt(jnp.sum(x * x) + eps)


def spectral_sigma(
    w_mat: jax.Array, u: jax.Array, num_iters: int = 1, eps: float = 1e-12
) -> tuple[jax.Array, jax.Array]:
  """Estimates the largest singular value of `w_mat` by power iteration.

  Runs `num_iters` iterations `v <- W^T u / |W^T u|`, `u <- W v / |W v|` (Algorithm 1 of Miyato et al. 2018,
  arXiv:1802.05957), then returns `sigma = u^T W v` with `v = W^T u / |W^T u|`, i.e. `sigma = |W^T u|`. With
  `num_iters=0` sigma is computed from the stored `u`. `u` and `v` are treated as constants (no gradient through
  them); the gradient flows through `W` only, as in the paper.

  Args:
    w_mat: (out, in) float32, the weight reshaped so rows index output units.
    u: (out,) float32, the current estimate of the first left singular vector.
    num_iters: number of power iterations, >= 0.
    eps: added under the square root of the norms.
  Returns:
    (sigma, u): sigma `()` float32 <= the true largest singular value; u `(out,)` float32, the new estimate.
  """
  u = lax.stop_gradient(u)
  w_const = lax.stop_gradient(w_mat)
  for _ in range(num_iters):
    v = _l2_normalize(jnp.matmul(w_const.T, u, precision=_HIGHEST), eps)
    u = _l2_normalize(jnp.matmul(w_const, v, precision=_HIGHEST), eps)
  v = _l2_normalize(jnp.matmul(w_const.T, u, precision=_HIGHEST), eps)
  sigma = jnp.dot(u, jnp.matmul(w_mat, v, precision=_HIGHEST), precision=_HIGHEST)
  return sigma, u


class _SpectralNormMixin:
  """Divides a kernel `(..., in, out)` by its spectral norm, keeping `u` in the "spectral" collection."""

  def _normalize_kernel(self, kernel: jax.Array, train: bool) -> jax.Array:
    out = kernel.shape[-1]
    w_mat = kernel.reshape(-1, out).T  # (out, -1), as in the paper (and PyTorch's spectral_norm)

    def init_u() -> jax.Array:
      key = self.make_rng("params") if self.has_rng("params") else jax.random.key(0)
      return _l2_normalize(jax.random.normal(key, (out,), jnp.float32), self.eps)

    u_var = self.variable(SPECTRAL, "u", init_u)
    update = train and self.is_mutable_collection(SPECTRAL)
    sigma, u = spectral_sigma(w_mat, u_var.value, self.num_iters if update else 0, self.eps)
    if update and not self.is_initializing():
      u_var.value = u
    return kernel / sigma


class SNDense(_SpectralNormMixin, nn.Module):
  """Dense layer whose kernel is divided by its spectral norm (Miyato et al. 2018, arXiv:1802.05957).

  Attributes:
    features: output size.
    use_bias: whether to add a bias (not normalized).
    num_iters: power iterations per training call.
    eps: numerical floor of the norms.
    kernel_init, bias_init: initializers of the raw kernel (in, out) and bias (out,).
  """
  features: int
  use_bias: bool = True
  num_iters: int = 1
  eps: float = 1e-12
  kernel_init: Initializer = nn.initializers.lecun_normal()
  bias_init: Initializer = nn.initializers.zeros

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = True) -> jax.Array:
    """Maps `(..., in)` float32 to `(..., features)` float32; `u` advances iff train and "spectral" is mutable."""
    kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
    # the normalization runs in the kernel's dtype promoted with u's (float32); the product in x's
    y = jnp.matmul(x, self._normalize_kernel(kernel, train).astype(x.dtype))
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32)
    return y


class SNConv(_SpectralNormMixin, nn.Module):
  """2D convolution (NHWC, HWIO kernel) with spectral normalization of the kernel reshaped to (out, kh*kw*in).

  Attributes:
    features: output channels.
    kernel_size: (kh, kw).
    strides: (sh, sw).
    padding: "SAME", "VALID" or ((top, bottom), (left, right)).
    use_bias, num_iters, eps, kernel_init, bias_init: as in `SNDense`.
  """
  features: int
  kernel_size: Sequence[int] = (3, 3)
  strides: Sequence[int] = (1, 1)
  padding: str | Sequence[tuple[int, int]] = "SAME"
  use_bias: bool = True
  num_iters: int = 1
  eps: float = 1e-12
  kernel_init: Initializer = nn.initializers.lecun_normal()
  bias_init: Initializer = nn.initializers.zeros

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = True) -> jax.Array:
    """Maps `(N, H, W, C_in)` float32 to `(N, H', W', features)` float32."""
    shape = (*self.kernel_size, x.shape[-1], self.features)
    kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
    y = conv2d(x, self._normalize_kernel(kernel, train).astype(x.dtype), self.strides, self.padding)
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32)
    return y


def dense(features: int, *, spectral_norm: bool, use_bias: bool = True, name: str | None = None) -> nn.Module:
  """Returns `SNDense` or `nn.Dense`; call it through `call_layer` (call inside a compact method)."""
  if spectral_norm:
    return SNDense(features, use_bias=use_bias, name=name)
  return nn.Dense(features, use_bias=use_bias, name=name)


def conv(
    features: int, kernel: int, stride: int = 1, *, spectral_norm: bool, use_bias: bool = True,
    name: str | None = None,
) -> nn.Module:
  """Returns `SNConv` or `Conv` with a square kernel and SAME padding (call inside a compact method)."""
  if spectral_norm:
    return SNConv(features, (kernel, kernel), (stride, stride), use_bias=use_bias, name=name)
  return Conv(features, (kernel, kernel), (stride, stride), padding="SAME", use_bias=use_bias, name=name)


def call_layer(layer: nn.Module, x: jax.Array, train: bool) -> jax.Array:
  """Applies a layer built by `dense`/`conv`, passing `train` to spectrally normalized ones only."""
  if isinstance(layer, _SpectralNormMixin):
    return layer(x, train=train)
  return layer(x)


# ----------------------------------------------------------------------------------------------------------------
# Convolutions whose kernel gradient XLA's CPU backend computes fast.
#
# Autodiff turns the kernel gradient of a strided convolution into a convolution with a dilated kernel, and that of a
# transposed convolution into one with a dilated input; XLA's CPU backend runs both on a slow generic path (on 2 cores:
# 11x slower for a DCGAN 32x32 G layer, four fifths of the mnist_ns training step; benchmarks/cpu_convs.py). Here each
# kernel tap's gradient is one matrix product of a strided slice of one operand with the other, the same sums in
# another order. Stride-1 convolutions take it too, for a slowness of XLA's CPU backend inside loops (see
# `_conv_stride1`). Only the CPU takes this path (`lax.platform_dependent`); GPUs and TPUs keep autodiff's rule.
# `TAP_KERNEL_GRADS = False` (read when a function is traced) gives autodiff's rule on the CPU too
# (benchmarks/cpu_convs.py times both).
TAP_KERNEL_GRADS = True


def _tap_products(a: jax.Array, b: jax.Array, kernel_hw: Sequence[int], strides: Sequence[int],
                  offset: Callable[[int, int], tuple[int, int]], count: tuple[int, int], precision: Any) -> jax.Array:
  """(kh, kw, C_a, C_b) of sum over n, i, j of a[n, i, j] (outer) b[n, top + s_h * i, left + s_w * j] with
  (top, left) = offset(u, v) for tap (u, v), i < count[0], j < count[1]."""
  (kh, kw), (sh, sw) = kernel_hw, strides
  rows = []
  for u in range(kh):
    row = []
    for v in range(kw):
      top, left = offset(u, v)
      window = lax.slice(b, (0, top, left, 0),
                         (b.shape[0], top + sh * (count[0] - 1) + 1, left + sw * (count[1] - 1) + 1, b.shape[3]),
                         (1, sh, sw, 1))
      row.append(jnp.einsum("nhwi,nhwo->io", a, window, precision=precision))
    rows.append(jnp.stack(row))
  return jnp.stack(rows)


def _conv_kernel_grad_by_taps(x, dy, kernel_shape, strides, pads, precision):
  """dL/dkernel of `_strided_conv`: tap (u, v) meets padded-input pixel (s*p + u, s*q + v) at output (p, q)."""
  xp = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (*pads[0], 0), (*pads[1], 0), (0, 0, 0)))
  return _tap_products(dy, xp, kernel_shape[:2], strides, lambda u, v: (u, v), dy.shape[1:3], precision
                       ).transpose(0, 1, 3, 2)


def _transpose_kernel_grad_by_taps(x, dy, kernel_shape, strides, pads, precision):
  """dL/dkernel of `_dilated_conv`: tap (u, v) meets input pixel (a, b) at output (s*a + lo - u, s*b + lo - v)."""
  (kh, kw), (sh, sw), ((lo_h, _), (lo_w, _)) = kernel_shape[:2], strides, pads
  _, h, w, _ = x.shape
  # Zero rows so that every tap's slice lies inside dy (the rows it adds meet no input pixel).
  pad_h = (max(0, kh - 1 - lo_h), max(0, sh * (h - 1) + lo_h - (dy.shape[1] - 1)))
  pad_w = (max(0, kw - 1 - lo_w), max(0, sw * (w - 1) + lo_w - (dy.shape[2] - 1)))
  dyp = jnp.pad(dy, ((0, 0), pad_h, pad_w, (0, 0)))
  return _tap_products(x, dyp, (kh, kw), strides, lambda u, v: (lo_h - u + pad_h[0], lo_w - v + pad_w[0]), (h, w),
                       precision)


def _strided_conv(x, kernel, strides, pads, precision):
  return lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=_NHWC, precision=precision)


def _dilated_conv(x, kernel, strides, pads, precision):
  return lax.conv_general_dilated(x, kernel, (1,) * len(strides), pads, lhs_dilation=strides,
                                  dimension_numbers=_NHWC, precision=precision)


def _stride1_input_grad(dy, kernel, pads, precision):
  """dL/dx of a stride-1 `_strided_conv`: dy convolved with the kernel flipped in space and transposed in/out, padded
  (k - 1 - lo, k - 1 - hi). Autodiff's form of the same sums runs 5-10x slower on XLA's CPU backend inside a loop
  (the D steps' `lax.scan`); this one is itself a stride-1 `conv2d`, so a gradient penalty differentiating it again
  takes the fast kernel gradient too."""
  kh, kw = kernel.shape[:2]
  flipped = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)
  return _conv_stride1(dy, flipped, (1, 1), ((kh - 1 - pads[0][0], kh - 1 - pads[0][1]),
                                             (kw - 1 - pads[1][0], kw - 1 - pads[1][1])), precision)


def _with_tap_kernel_grad(forward, kernel_grad_by_taps, input_grad=None):
  """`forward(x, kernel, strides, pads, precision)` with, on the CPU, the kernel gradient `kernel_grad_by_taps` and
  the input gradient `input_grad(dy, kernel, pads, precision)` when given (autodiff's elsewhere; reverse mode only:
  a `jax.custom_vjp`)."""

  @functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
  def f(x, kernel, strides, pads, precision):
    return forward(x, kernel, strides, pads, precision)

  def f_fwd(x, kernel, strides, pads, precision):
    return forward(x, kernel, strides, pads, precision), (x, kernel)

  def f_bwd(strides, pads, precision, residuals, dy):
    x, kernel = residuals
    _, x_vjp = jax.vjp(lambda x_: forward(x_, kernel, strides, pads, precision), x)

    def by_taps(x, dy):
      return kernel_grad_by_taps(x, dy, kernel.shape, strides, pads, precision).astype(kernel.dtype)

    def by_autodiff(x, dy):
      _, k_vjp = jax.vjp(lambda k_: forward(x, k_, strides, pads, precision), kernel)
      return k_vjp(dy)[0]

    if not TAP_KERNEL_GRADS:
      return x_vjp(dy)[0], by_autodiff(x, dy)
    dx = x_vjp(dy)[0] if input_grad is None else lax.platform_dependent(
        dy, cpu=lambda dy: input_grad(dy, kernel, pads, precision), default=lambda dy: x_vjp(dy)[0])
    return dx, lax.platform_dependent(x, dy, cpu=by_taps, default=by_autodiff)

  f.defvjp(f_fwd, f_bwd)
  return f


_conv_fast_grad = _with_tap_kernel_grad(_strided_conv, _conv_kernel_grad_by_taps)
# Stride 1: autodiff's kernel gradient is 100-300x slower on XLA's CPU backend inside a `lax.scan` (the D steps of
# the train step: a 3x3 conv 64 -> 128 at 16x16, batch 64: 2.8 s against 14 ms outside the loop and 27 ms tap by tap
# inside it; 2 CPU cores, jax 0.10), so stride-1 convolutions take the tap-by-tap rule and `_stride1_input_grad`.
_conv_stride1 = _with_tap_kernel_grad(_strided_conv, _conv_kernel_grad_by_taps, _stride1_input_grad)
_conv_transpose_fast_grad = _with_tap_kernel_grad(_dilated_conv, _transpose_kernel_grad_by_taps)


def _check_nhwc(who: str, x: jax.Array, kernel: jax.Array, strides: Sequence[int]) -> tuple[int, int]:
  if x.ndim != 4 or kernel.ndim != 4 or len(strides) != 2:
    raise ValueError(f"{who}: expected NHWC input, HWIO kernel and 2 strides, got {x.shape}, {kernel.shape}, "
                     f"{tuple(strides)}")
  return int(strides[0]), int(strides[1])


def conv2d(x: jax.Array, kernel: jax.Array, strides: Sequence[int] = (1, 1),
           padding: str | Sequence[tuple[int, int]] = "SAME", *, precision: Any = None) -> jax.Array:
  """`lax.conv_general_dilated(x, kernel, strides, padding)` for NHWC input and HWIO kernel; its kernel gradient on
  the CPU is computed tap by tap, and with stride 1 its input gradient as a plain convolution (see above; a padding
  wider than the kernel keeps autodiff's rules). Reverse-mode differentiable (`jax.jvp` through it raises).

  Args:
    x: (N, H, W, C_in).
    kernel: (kh, kw, C_in, C_out).
    strides: (sh, sw).
    padding: "SAME", "VALID" or ((top, bottom), (left, right)).
    precision: `lax.Precision` of the convolution and of its kernel gradient.
  Returns:
    (N, H', W', C_out).
  """
  strides = _check_nhwc("conv2d", x, kernel, strides)
  if isinstance(padding, str):
    if padding not in ("SAME", "VALID"):
      raise ValueError(f"conv2d: padding must be 'SAME', 'VALID' or (low, high) pairs, got {padding!r}")
    pads = tuple(lax.padtype_to_pads(x.shape[1:3], kernel.shape[:2], strides, padding))
  else:
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
  if strides == (1, 1):
    if min(p for pair in pads for p in pair) < 0 or any(lo > k - 1 or hi > k - 1 for (lo, hi), k in
                                                        zip(pads, kernel.shape[:2])):
      return _strided_conv(x, kernel, strides, pads, precision)  # the input gradient would need negative padding
    return _conv_stride1(x, kernel, strides, pads, precision)
  return _conv_fast_grad(x, kernel, strides, pads, precision)


def conv_transpose_padding(kernel: int, stride: int, padding: str | tuple[int, int]) -> tuple[int, int]:
  """The (low, high) padding of the stride-dilated input that `lax.conv_transpose` uses for one spatial dim."""
  if not isinstance(padding, str):
    lo, hi = padding
    return int(lo), int(hi)
  if padding not in ("SAME", "VALID"):
    raise ValueError(f"conv_transpose: padding must be 'SAME', 'VALID' or (low, high) pairs, got {padding!r}")
  if padding == "SAME":
    total = kernel + stride - 2
    lo = kernel - 1 if stride > kernel - 1 else math.ceil(total / 2)
  else:
    total, lo = kernel + stride - 2 + max(kernel - stride, 0), kernel - 1
  return lo, total - lo


def conv_transpose(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
                   padding: str | Sequence[tuple[int, int]] = "SAME", *, precision: Any = None) -> jax.Array:
  """`lax.conv_transpose(x, kernel, strides, padding, dimension_numbers=NHWC/HWIO)` (transpose_kernel=False); with
  strides > 1 its kernel gradient on the CPU is computed tap by tap (see above). Reverse-mode differentiable.

  Args:
    x: (N, H, W, C_in).
    kernel: (kh, kw, C_in, C_out).
    strides: (sh, sw).
    padding: "SAME", "VALID" or ((lo, hi), (lo, hi)) of the stride-dilated input, as `lax.conv_transpose` takes.
    precision: `lax.Precision` of the convolution and of its kernel gradient.
  Returns:
    (N, H', W', C_out), e.g. H' = H * sh for "SAME".
  """
  strides = _check_nhwc("conv_transpose", x, kernel, strides)
  per_dim = [padding] * 2 if isinstance(padding, str) else list(padding)
  pads = tuple(conv_transpose_padding(k, s, p) for k, s, p in zip(kernel.shape[:2], strides, per_dim))
  if strides == (1, 1):
    return _dilated_conv(x, kernel, strides, pads, precision)
  return _conv_transpose_fast_grad(x, kernel, strides, pads, precision)


class _ConvBase(nn.Module):
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: str | Sequence[tuple[int, int]] = "SAME"
  use_bias: bool = True
  kernel_init: Initializer = nn.initializers.lecun_normal()
  bias_init: Initializer = nn.initializers.zeros_init()
  precision: Any = None

  def _apply(self, op: Callable[..., jax.Array], x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", self.kernel_init, (*self.kernel_size, x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", self.bias_init, (self.features,), jnp.float32) if self.use_bias else None
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias)
    y = op(x, kernel, self.strides, self.padding, precision=self.precision)
    return y if bias is None else y + bias


class Conv(_ConvBase):
  """`flax.linen.Conv` for NHWC images (the same parameters "kernel" (kh, kw, in, out) and "bias", initial values
  and outputs), through `conv2d`: strided layers train fast on the CPU too.

  Attributes:
    features: output channels.
    kernel_size: (kh, kw).
    strides: (sh, sw).
    padding: "SAME", "VALID" or explicit (low, high) pairs.
    use_bias: add a learned bias.
    kernel_init, bias_init: initializers (flax's defaults).
    precision: `lax.Precision` of the convolution.
  """

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return self._apply(conv2d, x)


class ConvTranspose(_ConvBase):
  """`flax.linen.ConvTranspose` for NHWC images (the same parameters, initial values and outputs), through
  `conv_transpose`: its kernel gradient runs fast on the CPU too. Attributes as `Conv`'s; `padding` as
  `lax.conv_transpose` takes it."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return self._apply(conv_transpose, x)


# ----------------------------------------------------------------------------------------------------------------
# Normalization choice.

NORMS = ("batch", "layer", "none")


def check_norm(norm: str, who: str) -> None:
  """Raises ValueError unless `norm` is one of NORMS."""
  if norm not in NORMS:
    raise ValueError(f"{who}: norm must be one of {NORMS}, got {norm!r}")


def normalization(
    x: jax.Array, norm: str, *, train: bool, bn_axis_name: str | None, name: str | None = None
) -> jax.Array:
  """Applies batch norm, layer norm (over all non-batch axes) or nothing (call inside a compact method).

  Batch norm follows the jaxgan contract: momentum 0.9, epsilon 1e-5, running averages in eval mode, statistics
  synchronized over `bn_axis_name` when set.
  """
  if norm == "batch":
    return nn.BatchNorm(
        use_running_average=not train, momentum=0.9, epsilon=1e-5, axis_name=bn_axis_name, name=name)(x)
  if norm == "layer":
    return nn.LayerNorm(epsilon=1e-5, reduction_axes=tuple(range(1, x.ndim)), name=name)(x)
  if norm == "none":
    return x
  raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def batch_norm(x: jax.Array, *, train: bool, bn_axis_name: str | None, name: str | None = None) -> jax.Array:
  """Batch norm with the jaxgan contract (see `normalization`)."""
  return normalization(x, "batch", train=train, bn_axis_name=bn_axis_name, name=name)


# ----------------------------------------------------------------------------------------------------------------
# Progressive-GAN layers (Karras et al. 2018, arXiv:1710.10196).


def pixel_norm(x: jax.Array, *, axis: int = -1, eps: float = 1e-8) -> jax.Array:
  """Pixelwise feature normalization, Karras et al. 2018 (arXiv:1710.10196) eq. in section 4.2.

  `b = a / sqrt(mean_c(a^2) + eps)` over the channel axis.

  Args:
    x: (..., C) float32.
    axis: the channel axis.
    eps: 1e-8 as in the paper.
  Returns:
    Same shape and dtype as `x`.
  """
  return x * lax.rsqrt(jnp.mean(jnp.square(x), axis=axis, keepdims=True) + eps)


class PixelNorm(nn.Module):
  """Module form of `pixel_norm` (no parameters)."""
  eps: float = 1e-8

  def __call__(self, x: jax.Array) -> jax.Array:
    return pixel_norm(x, eps=self.eps)


def minibatch_stddev(x: jax.Array, *, group_size: int = 4, num_features: int = 1, eps: float = 1e-8) -> jax.Array:
  """Appends minibatch standard-deviation channels (Karras et al. 2018, arXiv:1710.10196, section 3).

  The batch is split into groups of `G = min(group_size, N)` samples; sample `n` belongs to the group
  `{m : m % (N // G) == n % (N // G)}` (StyleGAN2's layout, Karras et al. 2020, arXiv:1912.04958). Channels are split
  into `num_features` slices. For each group and slice: the standard deviation over the group of every
  (h, w, c) feature, `sqrt(var + eps)` with the biased variance, averaged over (h, w, c) of the slice. This one
  number per (group, slice) is broadcast to an `(H, W)` map and appended to each member's channels. The ProGAN
  paper's version is `group_size = N`, `num_features = 1`.

  Args:
    x: (N, H, W, C) float32, N divisible by min(group_size, N), C divisible by num_features.
    group_size: samples per group.
    num_features: number of appended channels.
    eps: added to the variance before the square root.
  Returns:
    (N, H, W, C + num_features) float32.
  Raises:
    ValueError: if N or C do not divide as required.
  """
  n, h, w, c = x.shape
  g = min(group_size, n)
  if n % g:
    raise ValueError(f"minibatch_stddev: batch size {n} is not divisible by group size {g}")
  if c % num_features:
    raise ValueError(f"minibatch_stddev: channels {c} are not divisible by num_features {num_features}")
  y = x.reshape(g, n // g, h, w, num_features, c // num_features)
  y = y - jnp.mean(y, axis=0, keepdims=True)
  std = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + eps)  # (M, H, W, F, C/F)
  std = jnp.mean(std, axis=(1, 2, 4))  # (M, F)
  std = jnp.tile(std, (g, 1))  # (N, F): row n is group n % M
  maps = jnp.broadcast_to(std[:, None, None, :], (n, h, w, num_features)).astype(x.dtype)
  return jnp.concatenate([x, maps], axis=-1)


class MinibatchStddev(nn.Module):
  """Module form of `minibatch_stddev` (no parameters)."""
  group_size: int = 4
  num_features: int = 1

  def __call__(self, x: jax.Array) -> jax.Array:
    return minibatch_stddev(x, group_size=self.group_size, num_features=self.num_features)


def _const_init(value: float) -> Initializer:
  def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
    del key
    return jnp.full(shape, value, dtype)
  return init


class EqualizedDense(nn.Module):
  """Dense layer with an equalized learning rate (Karras et al. 2018, arXiv:1710.10196, section 4.1).

  Stored weights `w ~ N(0, 1 / lr_multiplier^2)`; at runtime
  `y = x @ (w * gain / sqrt(in) * lr_multiplier) + b * lr_multiplier`, so every weight has unit-scale
  updates under Adam whatever the fan-in. `lr_multiplier < 1` gives the slower mapping network of StyleGAN.

  Attributes:
    features: output size.
    use_bias: whether to add a bias.
    gain: He's gain, sqrt(2) for (leaky) ReLU, 1 for linear.
    lr_multiplier: learning-rate multiplier of this layer.
    bias_init: the initial effective bias value.
  """
  features: int
  use_bias: bool = True
  gain: float = math.sqrt(2.0)
  lr_multiplier: float = 1.0
  bias_init: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps `(..., in)` float32 to `(..., features)` float32."""
    fan_in = x.shape[-1]
    std = 1.0 / self.lr_multiplier
    kernel = self.param("kernel", nn.initializers.normal(std), (fan_in, self.features), jnp.float32)
    y = jnp.matmul(x, kernel * (self.gain / math.sqrt(fan_in) * self.lr_multiplier))
    if self.use_bias:
      bias = self.param("bias", _const_init(self.bias_init / self.lr_multiplier), (self.features,), jnp.float32)
      y = y + bias * self.lr_multiplier
    return y


class EqualizedConv(nn.Module):
  """2D convolution (NHWC, SAME padding) with an equalized learning rate; runtime scale `gain / sqrt(kh*kw*in)`.

  Attributes:
    features: output channels.
    kernel_size: square kernel side.
    strides: stride in both directions.
    use_bias, gain, lr_multiplier, bias_init: as in `EqualizedDense`.
  """
  features: int
  kernel_size: int = 3
  strides: int = 1
  use_bias: bool = True
  gain: float = math.sqrt(2.0)
  lr_multiplier: float = 1.0
  bias_init: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps `(N, H, W, C_in)` float32 to `(N, H / strides, W / strides, features)` float32."""
    k = self.kernel_size
    fan_in = k * k * x.shape[-1]
    std = 1.0 / self.lr_multiplier
    kernel = self.param("kernel", nn.initializers.normal(std), (k, k, x.shape[-1], self.features), jnp.float32)
    y = lax.conv_general_dilated(
        x, kernel * (self.gain / math.sqrt(fan_in) * self.lr_multiplier), (self.strides, self.strides), "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if self.use_bias:
      bias = self.param("bias", _const_init(self.bias_init / self.lr_multiplier), (self.features,), jnp.float32)
      y = y + bias * self.lr_multiplier
    return y
