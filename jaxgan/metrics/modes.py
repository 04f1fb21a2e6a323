"""From images to the Inception input: range checks, uint8 quantization, bilinear resize to 299, normalization.

Modes (`mode=`):

- "tf1" (default): TF1's `tf.image.resize_bilinear(align_corners=False)`, as inside the 2015 graph that TTUR and the
  original FID code feed with uint8 images: source coordinate `src = dst * in / out` (no half-pixel centres),
  then `(x - 128) / 128`. Numbers comparable with published FIDs (TTUR, StyleGAN2-ADA's `fid50k_full`).
- "pytorch": pytorch-fid's `F.interpolate(mode="bilinear", align_corners=False)`: half-pixel centres,
  `src = max((dst + 0.5) * in / out - 0.5, 0)`, then `2 * x / 255 - 1`.
- "none": no resize (images must already be 299x299), then `2 * x / 255 - 1` (pytorch-fid with
  `resize_input=False`).

Inputs are uint8 in [0, 255] or float in [-1, 1] (generator output). Floats are first quantized to uint8 the way
StyleGAN2-ADA does, `(x * 127.5 + 128).clip(0, 255).astype(uint8)`, unless `quantize=False` (then `(x + 1) * 127.5`,
clipped to [0, 255], is used unrounded). Grayscale (C=1) is repeated to 3 channels.

The resize is two small matrix products per image (rows then columns), in float32 at "highest" precision whatever
the network's precision. Checked outside the test suite: "tf1" equals TF 2.21's
`tf.compat.v1.image.resize_bilinear(align_corners=False, half_pixel_centers=False)` to 5e-5 grey levels and
"pytorch" equals torch 2.14's `F.interpolate(bilinear, align_corners=False)` to 1e-3 grey levels (32 -> 299,
512x400 -> 299).
"""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

MODES = ("tf1", "pytorch", "none")
INPUT_SIZE = 299


def check_mode(mode: str) -> str:
  if mode not in MODES:
    raise ValueError(f"unknown preprocessing mode {mode!r}; known modes: {', '.join(MODES)}")
  return mode


def interpolation_matrix(in_size: int, out_size: int, mode: str) -> np.ndarray:
  """Bilinear resampling along one axis as an (out_size, in_size) float64 matrix.

  Args:
    in_size: input length.
    out_size: output length.
    mode: "tf1" (src = dst * in / out) or "pytorch" (src = (dst + 0.5) * in / out - 0.5, clamped at 0).
  Returns:
    M (float64 holding float32-computed weights) with `resized = M @ x` along that axis; each row has weights
    (1 - t, t) on pixels (i0, i1), i1 = min(i0 + 1, in_size - 1).
  """
  # Coordinates in float32, as both TF's and PyTorch's kernels compute them (scale = float(in) / out); float64
  # coordinates would differ from theirs by up to ~1e-2 grey levels at 512 -> 299.
  f32 = np.float32
  dst = np.arange(out_size, dtype=f32)
  scale = f32(in_size) / f32(out_size)
  if mode == "tf1":
    src = dst * scale
  elif mode == "pytorch":
    src = np.maximum(scale * (dst + f32(0.5)) - f32(0.5), f32(0))
  else:
    raise ValueError(f"interpolation_matrix: mode must be 'tf1' or 'pytorch', got {mode!r}")
  i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
  i1 = np.minimum(i0 + 1, in_size - 1)
  t = (src - i0.astype(f32)).astype(np.float64)
  m = np.zeros((out_size, in_size), np.float64)
  np.add.at(m, (np.arange(out_size), i0), 1.0 - t)
  np.add.at(m, (np.arange(out_size), i1), t)
  return m


def resize_bilinear(x: jax.Array, size: int, mode: str) -> jax.Array:
  """Bilinear resize of (N, H, W, C) float32 to (N, size, size, C) with the coordinate rule of `mode`."""
  n, h, w, c = x.shape
  if (h, w) == (size, size):
    return x
  mh = jnp.asarray(interpolation_matrix(h, size, mode), jnp.float32)
  mw = jnp.asarray(interpolation_matrix(w, size, mode), jnp.float32)
  hp = jax.lax.Precision.HIGHEST
  y = jnp.einsum("oh,nhwc->nowc", mh, x, precision=hp)
  return jnp.einsum("pw,nowc->nopc", mw, y, precision=hp)


def to_pixels(images: jax.Array, *, quantize: bool = True) -> jax.Array:
  """(N, H, W, C) uint8 or float in [-1, 1] -> float32 pixel values in [0, 255] (integers when quantized)."""
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32)
  if not jnp.issubdtype(images.dtype, jnp.floating):
    raise ValueError(f"images must be uint8 in [0, 255] or float in [-1, 1], got dtype {images.dtype}; cast "
                     "integer images to uint8")
  x = images.astype(jnp.float32)
  if quantize:
    return jnp.clip(x * 127.5 + 128.0, 0.0, 255.0).astype(jnp.uint8).astype(jnp.float32)
  return jnp.clip((x + 1.0) * 127.5, 0.0, 255.0)


def preprocess(images: jax.Array, *, mode: str = "tf1", quantize: bool = True, size: int = INPUT_SIZE) -> jax.Array:
  """Images -> network input.

  Args:
    images: (N, H, W, C) uint8 in [0, 255] or float in [-1, 1]; C in {1, 3}.
    mode: "tf1", "pytorch" or "none" (see the module docstring).
    quantize: round float images to uint8 first (StyleGAN2-ADA), as a real image file would be.
    size: output side (299 for FID).
  Returns:
    (N, size, size, 3) float32, about [-1, 1].
  """
  check_mode(mode)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f"images must be (N, H, W, C) with C in (1, 3), got shape {images.shape}")
  x = to_pixels(images, quantize=quantize)
  if x.shape[-1] == 1:
    x = jnp.broadcast_to(x, x.shape[:-1] + (3,))
  if mode == "none":
    if x.shape[1:3] != (size, size):
      raise ValueError(f"mode 'none' needs {size}x{size} images, got {x.shape[1]}x{x.shape[2]}; use mode='tf1' or "
                       "'pytorch' to resize")
    return x / 127.5 - 1.0
  x = resize_bilinear(x, size, mode)
  if mode == "tf1":
    return (x - 128.0) / 128.0
  return x / 127.5 - 1.0


def check_images(images: np.ndarray, *, what: str = "images") -> None:
  """Host-side checks of a batch before it goes to the device (dtype, shape, range, finiteness).

  Raises:
    ValueError: with what to do, for integer dtypes other than uint8, wrong shapes, non-finite values, and floats
      far outside [-1, 1] (a [0, 255] array stored as float). Floats in [0, 1] only warn (they may be legitimate).
  """
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f"{what}: expected (N, H, W, C) with C in (1, 3), got shape {images.shape}; add a channel axis "
                     "for grayscale")
  if images.dtype == np.uint8:
    return
  if not jnp.issubdtype(images.dtype, jnp.floating):  # jnp's: bfloat16 is a float there, not in numpy
    raise ValueError(f"{what}: dtype {images.dtype} not supported; pass uint8 in [0, 255] or float in [-1, 1]")
  if images.size == 0:
    return
  lo, hi = float(np.min(images)), float(np.max(images))
  check_range(lo, hi, what=what)


def check_range(lo: float, hi: float, *, what: str = "images") -> None:
  """Errors and warnings on the observed min/max of float images (see `check_images`)."""
  if not (np.isfinite(lo) and np.isfinite(hi)):
    raise ValueError(f"{what}: non-finite pixel values (NaN or inf); check the generator")
  if lo < -2.0 or hi > 2.0:
    raise ValueError(f"{what}: float values in [{lo:.3g}, {hi:.3g}] but float images must be in [-1, 1]; for "
                     "[0, 255] data pass uint8, or rescale with x / 127.5 - 1")
  if lo >= 0.0 and hi <= 1.0 and hi > 0.0:
    warnings.warn(f"{what}: float values all in [0, 1]; jaxgan expects [-1, 1] (use 2 * x - 1 if these are [0, 1] "
                  "images)", stacklevel=3)
