"""AlexNet's convolutional trunk as LPIPS uses it (torchvision's one-tower AlexNet), in flax.linen.

Krizhevsky et al. 2012 in the single-GPU form of Krizhevsky 2014 (arXiv:1404.5997), as torchvision's
`alexnet().features`, whose ImageNet weights LPIPS builds on (Zhang et al. 2018, arXiv:1801.03924):

  conv1 11x11/4 pad 2, 64 -> relu1 -> pool1 3x3/2 -> conv2 5x5 pad 2, 192 -> relu2 -> pool2 3x3/2
  -> conv3 3x3 pad 1, 384 -> relu3 -> conv4 3x3 pad 1, 256 -> relu4 -> conv5 3x3 pad 1, 256 -> relu5 -> pool5 3x3/2

(no local response normalization, as in torchvision). Named outputs are the layer names above; `conv<k>` is before
its ReLU. Inputs: (N, H, W, 3) float in [-1, 1], normalized by `input_norm` as in `vgg.py` (LPIPS: "lpips").
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.perceptual.vgg import Conv, check_layers, check_size, max_pool, normalize_input

PrecisionLike = Any
# (name, channels, kernel, stride, padding, pooled after)
_CONVS = (("conv1", 64, 11, 4, 2, True), ("conv2", 192, 5, 1, 2, True), ("conv3", 384, 3, 1, 1, False),
          ("conv4", 256, 3, 1, 1, False), ("conv5", 256, 3, 1, 1, True))
ALEXNET_LAYERS = ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3", "conv4", "relu4", "conv5",
                  "relu5", "pool5")
LPIPS_LAYERS = ("relu1", "relu2", "relu3", "relu4", "relu5")


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
  return (size + 2 * pad - kernel) // stride + 1


def _shape_after(size: int, layer: str) -> int:
  """Spatial size of `layer`'s output for an input of `size` (<= 0 when it is empty)."""
  for name, _, k, s, p, pooled in _CONVS:
    size = _out_size(size, k, s, p)
    if size < 1 or layer in (name, name.replace("conv", "relu")):
      return size
    if pooled:
      size = _out_size(size, 3, 2, 0)
      if size < 1 or layer == name.replace("conv", "pool"):
        return size
  return size


def min_input_size(layer: str) -> int:
  """Smallest H (= W) for which `layer` is not empty: 7 (conv1), 15 (pool1), 31 (pool2 ... relu5), 63 (pool5)."""
  return next(s for s in range(1, 1024) if _shape_after(s, layer) >= 1)


class AlexNet(nn.Module):
  """AlexNet's convolutional trunk; returns the named features asked for.

  Params: `{"conv1": {"kernel": (11, 11, 3, 64), "bias": (64,)}, ..., "conv5": {...}}` float32; load the ImageNet
  ones with `jaxgan.perceptual.load_params("alex")["trunk"]`.

  Attributes:
    layers: names from `ALEXNET_LAYERS`; default the five LPIPS layers relu1 ... relu5.
    input_norm: "imagenet", "lpips" or "none" (see `vgg.py`).
    dtype: compute dtype; parameters stay float32.
    precision: matmul precision of the convolutions; None follows `jax.default_matmul_precision`.
  """
  layers: Sequence[str] = LPIPS_LAYERS
  input_norm: str = "lpips"
  dtype: Any = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
    """(N, H, W, 3) float in [-1, 1] -> {layer: (N, h, w, C)}; relu5 needs H, W >= 31 (see `min_input_size`)."""
    layers = check_layers(self.layers, ALEXNET_LAYERS, "AlexNet")
    last = max(ALEXNET_LAYERS.index(n) for n in layers)
    if x.ndim != 4:
      raise ValueError(f"AlexNet: expected images (N, H, W, 3), got shape {x.shape}")
    h = normalize_input(x, self.input_norm).astype(self.dtype)
    out: dict[str, jax.Array] = {}
    for name, features, k, s, p, pooled in _CONVS:
      if ALEXNET_LAYERS.index(name) > last:
        break
      size = tuple(_out_size(n, k, s, p) for n in h.shape[1:3])
      check_size(x, size, name, "AlexNet", min_input_size(name))
      h = Conv(features, k, s, p, dtype=self.dtype, precision=self.precision, name=name)(h)
      out[name] = h
      h = nn.relu(h)
      out[name.replace("conv", "relu")] = h
      pool = name.replace("conv", "pool")
      if pooled and ALEXNET_LAYERS.index(pool) <= last:
        check_size(x, tuple(_out_size(n, 3, 2, 0) for n in h.shape[1:3]), pool, "AlexNet", min_input_size(pool))
        h = max_pool(h, 3, 2)
        out[pool] = h
    return {n: out[n] for n in layers}
