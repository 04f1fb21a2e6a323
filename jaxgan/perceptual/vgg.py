"""VGG-16's convolutional trunk (Simonyan & Zisserman 2015, arXiv:1409.1556, configuration D) in flax.linen.

Thirteen 3x3 convolutions (stride 1, zero padding 1) with ReLU, in five blocks of 2, 2, 3, 3, 3 convolutions of 64,
128, 256, 512, 512 channels, each block closed by a 2x2 max pool of stride 2, as torchvision's `vgg16().features`
(whose ImageNet weights `weights.py` loads). The three fully connected layers are not built: perceptual losses and
LPIPS read the convolutional features only.

Named outputs, in forward order: `conv<b>_<i>` (a convolution's output plus bias, before its ReLU), `relu<b>_<i>`
(after it) and `pool<b>` (after the block's max pool), b = 1..5. The trunk stops after the deepest layer asked for.

Layout is NHWC with HWIO kernels. Inputs are jaxgan images, (N, H, W, 3) float32 in [-1, 1], normalized inside the
module by `input_norm`:

- "imagenet": x01 = (x + 1) / 2, then (x01 - mean) / std with torchvision's mean (0.485, 0.456, 0.406) and std
  (0.229, 0.224, 0.225), what the ImageNet weights were trained on;
- "lpips": (x - shift) / scale with shift (-0.030, -0.088, -0.188) and scale (0.458, 0.448, 0.450), the "scaling
  layer" of LPIPS v0.1 (Zhang et al. 2018). It is the same map written for [-1, 1] inputs (shift = 2 mean - 1,
  scale = 2 std): the two differ by float32 rounding only (about 1e-7 relative);
- "none": the caller has normalized.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.perceptual.weights import VGG16_CONVS

PrecisionLike = Any  # None, a string such as "highest", or a jax.lax.Precision
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
INPUT_NORMS = ("imagenet", "lpips", "none")
# Blocks: the convolutions of each (name, channels, kernel) and the pool that closes it.
_BLOCKS = tuple(tuple(c for c in VGG16_CONVS if c[0].startswith(f"conv{b}_")) for b in range(1, 6))
VGG16_LAYERS = tuple(n for b, convs in enumerate(_BLOCKS, start=1)
                     for n in [x for name, _, _ in convs for x in (name, name.replace("conv", "relu"))] + [f"pool{b}"])
LPIPS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


def normalize_input(x: jax.Array, mode: str) -> jax.Array:
  """Maps (N, H, W, 3) images in [-1, 1] to what the ImageNet trunks take (see the module docstring).

  Args:
    x: (N, H, W, 3) float in [-1, 1].
    mode: "imagenet", "lpips" or "none".
  Returns:
    (N, H, W, 3) in x's dtype, about zero mean and unit variance per channel on natural images.
  """
  if mode == "none":
    return x
  if x.shape[-1] != 3:
    raise ValueError(f"input normalization {mode!r} needs RGB images (N, H, W, 3), got shape {x.shape}")
  if mode == "imagenet":
    mean, std = jnp.asarray(IMAGENET_MEAN, x.dtype), jnp.asarray(IMAGENET_STD, x.dtype)
    return ((x + 1) / 2 - mean) / std
  if mode == "lpips":
    return (x - jnp.asarray(LPIPS_SHIFT, x.dtype)) / jnp.asarray(LPIPS_SCALE, x.dtype)
  raise ValueError(f"unknown input_norm {mode!r}; known: {', '.join(INPUT_NORMS)}")


def max_pool(x: jax.Array, window: int, stride: int) -> jax.Array:
  """Max pool over H, W of (N, H, W, C), no padding (sizes floor, as torch's `ceil_mode=False`).

  The initial value is a Python -inf so that JAX sees the max monoid and differentiates it under jit too (an array
  init, as in `jaxgan.metrics.inception.max_pool`, falls back to a generic reduce_window without a gradient).
  """
  return lax.reduce_window(x, -jnp.inf, lax.max, (1, window, window, 1), (1, stride, stride, 1), "VALID")


class Conv(nn.Module):
  """A convolution with bias (no activation): `kernel` (KH, KW, C_in, C_out), `bias` (C_out,), float32.

  Attributes:
    features: output channels.
    kernel_size: square kernel size.
    stride: stride in H and W.
    padding: symmetric zero padding in H and W.
    dtype: compute dtype; parameters stay float32.
    precision: matmul precision; None follows `jax.default_matmul_precision`.
  """
  features: int
  kernel_size: int = 3
  stride: int = 1
  padding: int = 1
  dtype: Any = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", nn.initializers.he_normal(), (k, k, x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
    p = self.padding
    y = lax.conv_general_dilated(x.astype(self.dtype), kernel.astype(self.dtype), (self.stride, self.stride),
                                 ((p, p), (p, p)), dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                 precision=self.precision)
    return y + bias.astype(self.dtype)


def check_layers(layers: Sequence[str], known: Sequence[str], net: str) -> tuple[str, ...]:
  """The requested layer names as a tuple; ValueError naming the unknown ones and listing the known."""
  if isinstance(layers, str):
    layers = (layers,)
  layers = tuple(layers)
  unknown = [n for n in layers if n not in known]
  if unknown or not layers:
    raise ValueError(f"{net}: unknown layers {unknown or '(none asked for)'}; known: {', '.join(known)}")
  return layers


def check_size(x: jax.Array, size: tuple[int, int], layer: str, net: str, min_size: int) -> None:
  """Trace-time check that the feature map feeding `layer` is not empty."""
  if min(size) < 1:
    raise ValueError(f"{net}: input {x.shape[1]}x{x.shape[2]} is too small for layer {layer}, which needs at least "
                     f"{min_size}x{min_size} pixels")


class VGG16(nn.Module):
  """VGG-16's convolutional trunk; returns the named features asked for.

  Params: `{"conv1_1": {"kernel": (3, 3, 3, 64), "bias": (64,)}, ..., "conv5_3": {...}}` float32 (only the
  convolutions up to the deepest layer asked for are used). Load the ImageNet ones with
  `jaxgan.perceptual.load_params("vgg")["trunk"]`.

  Attributes:
    layers: names from `VGG16_LAYERS` (conv1_1, relu1_1, ..., pool5); default the five LPIPS layers.
    input_norm: "imagenet", "lpips" or "none" (see the module docstring).
    dtype: compute dtype (float32, or bfloat16 for speed); outputs are in this dtype.
    precision: matmul precision of the convolutions; None follows `jax.default_matmul_precision` (reference
      comparisons need "highest": XLA on GPU uses TF32 for float32 otherwise).

  Example:
    net = VGG16(layers=("relu2_2", "relu4_3"))
    feats = net.apply({"params": load_params("vgg")["trunk"]}, x)  # x: (N, H, W, 3) in [-1, 1], H, W >= 8
    feats["relu4_3"].shape  # (N, H // 8, W // 8, 512)
  """
  layers: Sequence[str] = LPIPS_LAYERS
  input_norm: str = "imagenet"
  dtype: Any = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
    """(N, H, W, 3) float in [-1, 1] -> {layer: (N, H / 2^k, W / 2^k, C)} for the layers asked for.

    A layer of block b needs H, W >= 2^(b - 1) (pool<b>: 2^b); odd sizes are floored by the pools, as in torch.
    """
    layers = check_layers(self.layers, VGG16_LAYERS, "VGG16")
    last = max(VGG16_LAYERS.index(n) for n in layers)
    if x.ndim != 4:
      raise ValueError(f"VGG16: expected images (N, H, W, 3), got shape {x.shape}")
    h = normalize_input(x, self.input_norm).astype(self.dtype)
    out: dict[str, jax.Array] = {}
    for b, convs in enumerate(_BLOCKS, start=1):
      for name, features, k in convs:
        if VGG16_LAYERS.index(name) > last:
          return {n: out[n] for n in layers}
        check_size(x, h.shape[1:3], name, "VGG16", 2 ** (b - 1))
        h = Conv(features, k, dtype=self.dtype, precision=self.precision, name=name)(h)
        out[name] = h
        h = nn.relu(h)
        out[name.replace("conv", "relu")] = h
      if VGG16_LAYERS.index(f"pool{b}") > last:
        break
      check_size(x, (h.shape[1] // 2, h.shape[2] // 2), f"pool{b}", "VGG16", 2 ** b)
      h = max_pool(h, 2, 2)
      out[f"pool{b}"] = h
    return {n: out[n] for n in layers}


def vgg16_features(params: Any, x: jax.Array, layers: Sequence[str] = LPIPS_LAYERS, *, input_norm: str = "imagenet",
                   precision: PrecisionLike = None) -> dict[str, jax.Array]:
  """Features of VGG-16 at the named layers; a function form of `VGG16(...).apply`.

  Args:
    params: VGG16 params (`load_params("vgg")["trunk"]`, or the whole LPIPS params: their "trunk" is used).
    x: (N, H, W, 3) float32 in [-1, 1].
    layers: names from `VGG16_LAYERS`.
    input_norm: "imagenet" (default), "lpips" or "none".
    precision: matmul precision; None follows the context.
  Returns:
    {layer: (N, h, w, C) float32}.
  """
  if "trunk" in params:
    params = params["trunk"]
  return VGG16(layers=tuple(layers), input_norm=input_norm, precision=precision).apply({"params": params}, x)
