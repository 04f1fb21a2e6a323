"""Inception-v3 as used by FID: the TensorFlow graph of 2015-12-05, in flax.linen.

This is the network of Heusel et al. 2017 (TTUR, arXiv:1706.08500) and of pytorch-fid: torchvision's Inception-v3
layout (Szegedy et al. 2016, arXiv:1512.00567) with the differences of the old TF graph:

- batch norm eps 1e-3 and no learned scale (here folded into each convolution at load time, see `weights.py`);
- the average pools of the Mixed_5b..5d (A), Mixed_6b..6e (C) and Mixed_7b (E_1) blocks exclude the padding from the
  count (PyTorch's `count_include_pad=False`), and the last block Mixed_7c (E_2) pools its branch with a 3x3 max pool;
- the classifier has 1008 outputs (index 0 background, 1..1000 ImageNet classes, 1001..1007 unused).

Layout is NHWC with HWIO kernels; every convolution uses explicit padding equal to what TF's 'VALID'/'SAME' gives
for that layer (for odd kernels at stride 1 'SAME' is symmetric). Submodules carry torchvision's names
(`Conv2d_1a_3x3`, `Mixed_5b/branch1x1`, ...), so the .pth names map one to one.

Parameters of each conv: `kernel` (KH, KW, C_in, C_out) float32 with the batch-norm scale folded in, and `bias`
(C_out,) float32 (the folded batch-norm shift). The block is conv -> + bias -> ReLU.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

PrecisionLike = Any  # None, a string such as "highest", or a jax.lax.Precision
FEATURE_DIM = 2048
NUM_CLASSES = 1008


class ConvBN(nn.Module):
  """Convolution with folded batch norm, then ReLU.

  Attributes:
    features: output channels.
    kernel_size: (KH, KW).
    strides: (SH, SW).
    padding: (PH, PW), symmetric zero padding.
    dtype: compute dtype (float32, or bfloat16 for the fast mode); parameters stay float32.
    precision: matmul precision of the convolution; None follows `jax.default_matmul_precision`.
  """
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: tuple[int, int] = (0, 0)
  dtype: Any = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kh, kw = self.kernel_size
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (kh, kw, x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
    ph, pw = self.padding
    y = lax.conv_general_dilated(
        x.astype(self.dtype), kernel.astype(self.dtype), window_strides=self.strides,
        padding=((ph, ph), (pw, pw)), dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=self.precision)
    return nn.relu(y + bias.astype(self.dtype))


def max_pool(x: jax.Array, window: int, stride: int, pad: int = 0) -> jax.Array:
  """Max pool over H, W of (N, H, W, C); padding (if any) never wins. Differentiable under jit: the initial value
  is a Python -inf (an array there makes JAX's reduce_window rule fail to linearize)."""
  return lax.reduce_window(x, -jnp.inf, lax.max, (1, window, window, 1), (1, stride, stride, 1),
                           ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def avg_pool_exclude_pad(x: jax.Array) -> jax.Array:
  """3x3 stride-1 average pool with padding 1 that averages only real pixels (`count_include_pad=False`).

  Args:
    x: (N, H, W, C).
  Returns:
    (N, H, W, C): each output is the mean of the 4, 6 or 9 input pixels its window covers.
  """
  pads = ((0, 0), (1, 1), (1, 1), (0, 0))
  zero = jnp.array(0, x.dtype)
  total = lax.reduce_window(x, zero, lax.add, (1, 3, 3, 1), (1, 1, 1, 1), pads)
  count = lax.reduce_window(jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype), zero, lax.add, (1, 3, 3, 1), (1, 1, 1, 1),
                            pads)
  return total / count


class InceptionA(nn.Module):
  """Mixed_5b..5d (pytorch-fid's FIDInceptionA): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool(excl. pad)-1x1."""
  pool_features: int
  dtype: Any = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = lambda f, k, p, name: ConvBN(f, k, padding=p, dtype=self.dtype, precision=self.precision, name=name)
    b1 = conv(64, (1, 1), (0, 0), "branch1x1")(x)
    b5 = conv(48, (1, 1), (0, 0), "branch5x5_1")(x)
    b5 = conv(64, (5, 5), (2, 2), "branch5x5_2")(b5)
    b3 = conv(64, (1, 1), (0, 0), "branch3x3dbl_1")(x)
    b3 = conv(96, (3, 3), (1, 1), "branch3x3dbl_2")(b3)
    b3 = conv(96, (3, 3), (1, 1), "branch3x3dbl_3")(b3)
    bp = conv(self.pool_features, (1, 1), (0, 0), "branch_pool")(avg_pool_exclude_pad(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """Mixed_6a (grid reduction 35 -> 17): 3x3/2 | 1x1-3x3-3x3/2 | maxpool 3/2."""
  dtype: Any = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = lambda f, k, s, p, name: ConvBN(f, k, s, p, dtype=self.dtype, precision=self.precision, name=name)
    b3 = conv(384, (3, 3), (2, 2), (0, 0), "branch3x3")(x)
    bd = conv(64, (1, 1), (1, 1), (0, 0), "branch3x3dbl_1")(x)
    bd = conv(96, (3, 3), (1, 1), (1, 1), "branch3x3dbl_2")(bd)
    bd = conv(96, (3, 3), (2, 2), (0, 0), "branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, max_pool(x, 3, 2)], axis=-1)


class InceptionC(nn.Module):
  """Mixed_6b..6e (pytorch-fid's FIDInceptionC): factorized 7x7 towers; avgpool excludes padding."""
  channels_7x7: int
  dtype: Any = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = lambda f, k, p, name: ConvBN(f, k, padding=p, dtype=self.dtype, precision=self.precision, name=name)
    c7 = self.channels_7x7
    b1 = conv(192, (1, 1), (0, 0), "branch1x1")(x)
    b7 = conv(c7, (1, 1), (0, 0), "branch7x7_1")(x)
    b7 = conv(c7, (1, 7), (0, 3), "branch7x7_2")(b7)
    b7 = conv(192, (7, 1), (3, 0), "branch7x7_3")(b7)
    bd = conv(c7, (1, 1), (0, 0), "branch7x7dbl_1")(x)
    bd = conv(c7, (7, 1), (3, 0), "branch7x7dbl_2")(bd)
    bd = conv(c7, (1, 7), (0, 3), "branch7x7dbl_3")(bd)
    bd = conv(c7, (7, 1), (3, 0), "branch7x7dbl_4")(bd)
    bd = conv(192, (1, 7), (0, 3), "branch7x7dbl_5")(bd)
    bp = conv(192, (1, 1), (0, 0), "branch_pool")(avg_pool_exclude_pad(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """Mixed_7a (grid reduction 17 -> 8): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool 3/2."""
  dtype: Any = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = lambda f, k, s, p, name: ConvBN(f, k, s, p, dtype=self.dtype, precision=self.precision, name=name)
    b3 = conv(192, (1, 1), (1, 1), (0, 0), "branch3x3_1")(x)
    b3 = conv(320, (3, 3), (2, 2), (0, 0), "branch3x3_2")(b3)
    b7 = conv(192, (1, 1), (1, 1), (0, 0), "branch7x7x3_1")(x)
    b7 = conv(192, (1, 7), (1, 1), (0, 3), "branch7x7x3_2")(b7)
    b7 = conv(192, (7, 1), (1, 1), (3, 0), "branch7x7x3_3")(b7)
    b7 = conv(192, (3, 3), (2, 2), (0, 0), "branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, max_pool(x, 3, 2)], axis=-1)


class InceptionE(nn.Module):
  """Mixed_7b / Mixed_7c (pytorch-fid's FIDInceptionE_1 / E_2): expanded 3x3 towers.

  Attributes:
    pool: "avg" (Mixed_7b: 3x3 average pool excluding padding) or "max" (Mixed_7c: 3x3 max pool, stride 1, pad 1;
      the 2015 TF graph has a max pool there).
  """
  pool: str
  dtype: Any = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = lambda f, k, p, name: ConvBN(f, k, padding=p, dtype=self.dtype, precision=self.precision, name=name)
    b1 = conv(320, (1, 1), (0, 0), "branch1x1")(x)
    b3 = conv(384, (1, 1), (0, 0), "branch3x3_1")(x)
    b3 = jnp.concatenate([conv(384, (1, 3), (0, 1), "branch3x3_2a")(b3),
                          conv(384, (3, 1), (1, 0), "branch3x3_2b")(b3)], axis=-1)
    bd = conv(448, (1, 1), (0, 0), "branch3x3dbl_1")(x)
    bd = conv(384, (3, 3), (1, 1), "branch3x3dbl_2")(bd)
    bd = jnp.concatenate([conv(384, (1, 3), (0, 1), "branch3x3dbl_3a")(bd),
                          conv(384, (3, 1), (1, 0), "branch3x3dbl_3b")(bd)], axis=-1)
    pooled = avg_pool_exclude_pad(x) if self.pool == "avg" else max_pool(x, 3, 1, 1)
    bp = conv(192, (1, 1), (0, 0), "branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3FID(nn.Module):
  """The FID Inception-v3 network.

  Input: (N, H, W, 3) float in [-1, 1], already resized (299x299 for standard FID; any H, W >= 75 works, the
  features are then not comparable with published numbers). Use `modes.preprocess` to get there from images.

  Attributes:
    num_classes: 0 for features only; 1008 to also return the logits of the 2015 graph (needs weights with `fc`).
    logits_bias: whether the logits include the classifier's bias. False (the default) gives pool3 @ W, the logits
      the Inception Score was defined with: Salimans et al.'s code multiplies pool3 by the softmax layer's weight
      only, and StyleGAN2-ADA's is50k drops the bias to match it. The bias is loaded either way.
    dtype: compute dtype of the convolutions (float32, or bfloat16 for the fast mode). Pooled features and logits
      are returned as float32 whatever the compute dtype.
    precision: matmul precision; None follows `jax.default_matmul_precision` (on GPU, float32 convolutions then
      run in TF32). Pass "highest" for strict float32.

  Returns:
    {"pool3": (N, 2048) float32} and, if num_classes, {"logits": (N, num_classes) float32}.

  Example:
    >>> net = InceptionV3FID()
    >>> shapes = jax.eval_shape(net.init, jax.random.key(0), jnp.zeros((1, 299, 299, 3)))
  """
  num_classes: int = 0
  logits_bias: bool = False
  dtype: Any = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
    if x.ndim != 4 or x.shape[-1] != 3:
      raise ValueError(f"InceptionV3FID: expected (N, H, W, 3) input, got shape {x.shape}")
    if min(x.shape[1:3]) < 75:
      raise ValueError(f"InceptionV3FID: images must be at least 75x75, got {x.shape[1:3]}; resize to 299 first")
    kw = dict(dtype=self.dtype, precision=self.precision)
    x = ConvBN(32, (3, 3), (2, 2), name="Conv2d_1a_3x3", **kw)(x)
    x = ConvBN(32, (3, 3), name="Conv2d_2a_3x3", **kw)(x)
    x = ConvBN(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3", **kw)(x)
    x = max_pool(x, 3, 2)
    x = ConvBN(80, (1, 1), name="Conv2d_3b_1x1", **kw)(x)
    x = ConvBN(192, (3, 3), name="Conv2d_4a_3x3", **kw)(x)
    x = max_pool(x, 3, 2)
    x = InceptionA(32, name="Mixed_5b", **kw)(x)
    x = InceptionA(64, name="Mixed_5c", **kw)(x)
    x = InceptionA(64, name="Mixed_5d", **kw)(x)
    x = InceptionB(name="Mixed_6a", **kw)(x)
    x = InceptionC(128, name="Mixed_6b", **kw)(x)
    x = InceptionC(160, name="Mixed_6c", **kw)(x)
    x = InceptionC(160, name="Mixed_6d", **kw)(x)
    x = InceptionC(192, name="Mixed_6e", **kw)(x)
    x = InceptionD(name="Mixed_7a", **kw)(x)
    x = InceptionE("avg", name="Mixed_7b", **kw)(x)
    x = InceptionE("max", name="Mixed_7c", **kw)(x)
    pool3 = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
    out = {"pool3": pool3}
    if self.num_classes:
      fc = nn.Dense(self.num_classes, precision=self.precision, name="fc")
      out["logits"] = fc(pool3)
      if not self.logits_bias:  # the biased product above is then unused, and compiled away under jit
        out["logits"] = jnp.dot(pool3, fc.variables["params"]["kernel"], precision=self.precision)
    return out


def param_shapes(num_classes: int = 0) -> dict[str, Any]:
  """Shapes of the flax params (a tree of jax.ShapeDtypeStruct), without allocating anything."""
  net = InceptionV3FID(num_classes=num_classes)
  return jax.eval_shape(net.init, jax.random.key(0), jnp.zeros((1, 299, 299, 3), jnp.float32))["params"]
