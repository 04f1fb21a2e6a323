"""Per-image full-reference metrics: mean absolute error (L1), PSNR and SSIM.

For paired translation (pix2pix: generated vs ground-truth photo) and super-resolution. Every function takes two
batches of the same shape and returns one number per image, `(N,)` float32, computed on the [0, 255] scale:

* images of dtype uint8 are taken as [0, 255];
* float images are in `value_range` (default the library's [-1, 1]) and mapped affinely to [0, 255]; with
  `quantize=True` (default, as jaxgan's other metrics and the images one would save as PNG) they are first rounded
  to the 256 levels, `rint((x - lo) / (hi - lo) * 255)` clipped, as `jaxgan.data.to_uint8` does for [-1, 1].

The scale matters for SSIM: its constants C1 = (K1 L)^2, C2 = (K2 L)^2 assume intensities in [0, L], so SSIM of
[-1, 1] images with L = 2 differs from SSIM of the same images in [0, 255] (the luminance term is not
shift-invariant). Here 0 is always the darkest value of the range.

* `l1_error`: mean over pixels and channels of |a - b| (divide by 255 for the [0, 1] scale).
* `psnr`: 10 log10(255^2 / MSE) in dB; +inf for identical images.
* `ssim`: Wang et al. 2004 (IEEE TIP 13(4), "Image quality assessment: from error visibility to structural
  similarity"), eq. 13 with a Gaussian window (11 taps, sigma 1.5), K1 = 0.01, K2 = 0.03, population (co)variances,
  the SSIM map averaged over the positions where the window lies inside the image and over channels: the value of
  scikit-image's `structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=255, channel_axis=-1)` (its `truncate=3.5` gives radius int(3.5 * 1.5 + 0.5) = 5). The authors'
  MATLAB `ssim.m` also averages the "valid" map, but of grayscale images and after downsampling them by
  max(1, round(min(H, W) / 256)); we do neither, as scikit-image (colour images: the mean over channels).

Float32 on the device; local (co)variances are taken of each image less its per-channel mean (less cancellation
in E[x^2] - E[x]^2), which leaves them unchanged. Agreement with a float64 transcription of scikit-image: ~1e-6.

Example:
  >>> ssim(fake, real)          # (N,) float32 in [-1, 1], 1 for identical images
  >>> psnr(fake_u8, real_u8)    # (N,) float32 dB
"""
from __future__ import annotations

import functools
import math

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

_HIGHEST = lax.Precision.HIGHEST
PEAK = 255.0


def _check_range(who: str, value_range) -> tuple[float, float]:
  lo, hi = (float(v) for v in value_range)
  if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
    raise ValueError(f"{who}: value_range must be (low, high) with low < high, got {tuple(value_range)!r}")
  return lo, hi


def _check_pair(who: str, a, b) -> None:
  if a.shape != b.shape:
    raise ValueError(f"{who}: the two batches differ in shape, {a.shape} and {b.shape}")
  if a.ndim != 4:
    raise ValueError(f"{who}: expected images (N, H, W, C), got shape {a.shape}")
  if (a.dtype == jnp.uint8) != (b.dtype == jnp.uint8):
    raise ValueError(f"{who}: one batch is uint8 and the other {a.dtype if b.dtype == jnp.uint8 else b.dtype}; "
                     "give both on the same scale")


def to_255(images: jax.Array, *, value_range: tuple[float, float] = (-1.0, 1.0), quantize: bool = True) -> jax.Array:
  """Images on the [0, 255] scale, float32: uint8 as they are; floats in `value_range` mapped affinely (and, with
  `quantize`, rounded to integers and clipped to [0, 255])."""
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32)
  lo, hi = _check_range("to_255", value_range)
  x = (images.astype(jnp.float32) - lo) * (PEAK / (hi - lo))
  return jnp.clip(jnp.round(x), 0.0, PEAK) if quantize else x


@functools.partial(jax.jit, static_argnames=("value_range", "quantize", "power"))
def _mean_error(a, b, value_range, quantize, power):
  diff = to_255(a, value_range=value_range, quantize=quantize) - to_255(b, value_range=value_range, quantize=quantize)
  return jnp.mean(jnp.abs(diff) ** power, axis=(1, 2, 3))


def l1_error(a: jax.Array, b: jax.Array, *, value_range: tuple[float, float] = (-1.0, 1.0),
             quantize: bool = True) -> jax.Array:
  """Mean absolute difference per image, on the [0, 255] scale.

  Args:
    a, b: (N, H, W, C), both uint8 in [0, 255] or both float in `value_range`.
    value_range: (low, high) of float images.
    quantize: round float images to the 256 levels first.
  Returns:
    (N,) float32 in [0, 255].
  """
  _check_pair("l1_error", a, b)
  value_range = _check_range("l1_error", value_range)
  return _mean_error(a, b, value_range, bool(quantize), 1)


def psnr(a: jax.Array, b: jax.Array, *, value_range: tuple[float, float] = (-1.0, 1.0),
         quantize: bool = True) -> jax.Array:
  """Peak signal-to-noise ratio per image, `10 log10(255^2 / mean((a - b)^2))` on the [0, 255] scale.

  Args:
    a, b: (N, H, W, C), both uint8 in [0, 255] or both float in `value_range`.
    value_range: (low, high) of float images; the peak is high - low.
    quantize: round float images to the 256 levels first.
  Returns:
    (N,) float32 in dB; +inf where the images are equal.
  """
  _check_pair("psnr", a, b)
  value_range = _check_range("psnr", value_range)
  mse = _mean_error(a, b, value_range, bool(quantize), 2)
  return 10.0 * jnp.log10(PEAK ** 2 / mse)


def gaussian_window(win_size: int = 11, sigma: float = 1.5) -> np.ndarray:
  """(win_size,) float64 weights `exp(-x^2 / (2 sigma^2))` for x = -r .. r, r = (win_size - 1) / 2, summing to 1
  (scipy.ndimage's kernel; 11 taps at sigma 1.5 is scikit-image's truncate 3.5)."""
  radius = (win_size - 1) // 2
  x = np.arange(-radius, radius + 1, dtype=np.float64)
  w = np.exp(-0.5 * (x / sigma) ** 2)
  return w / w.sum()


def _filter_valid(x: jax.Array, window: jax.Array) -> jax.Array:
  """Separable 2D filtering of (N, H, W, C) per channel, "valid" positions only: (N, H - k + 1, W - k + 1, C)."""
  n, h, w, c = x.shape
  k = window.shape[0]
  planes = x.transpose(0, 3, 1, 2).reshape(n * c, h, w, 1)
  dn = ("NHWC", "HWIO", "NHWC")
  planes = lax.conv_general_dilated(planes, window.reshape(k, 1, 1, 1), (1, 1), "VALID", dimension_numbers=dn,
                                    precision=_HIGHEST)
  planes = lax.conv_general_dilated(planes, window.reshape(1, k, 1, 1), (1, 1), "VALID", dimension_numbers=dn,
                                    precision=_HIGHEST)
  return planes.reshape(n, c, h - k + 1, w - k + 1).transpose(0, 2, 3, 1)


@functools.partial(jax.jit, static_argnames=("value_range", "quantize", "win_size", "sigma", "k1", "k2"))
def _ssim(a, b, value_range, quantize, win_size, sigma, k1, k2):
  x = to_255(a, value_range=value_range, quantize=quantize)
  y = to_255(b, value_range=value_range, quantize=quantize)
  window = jnp.asarray(gaussian_window(win_size, sigma), jnp.float32)
  # (Co)variances do not change when a constant is taken from either image: each is centred on its own mean per
  # channel (less cancellation in E[x^2] - E[x]^2 in float32); the means are restored for the luminance term.
  shift_x, shift_y = jnp.mean(x, axis=(1, 2), keepdims=True), jnp.mean(y, axis=(1, 2), keepdims=True)
  x, y = x - shift_x, y - shift_y
  mu_x, mu_y = _filter_valid(x, window), _filter_valid(y, window)
  var_x = _filter_valid(x * x, window) - mu_x * mu_x
  var_y = _filter_valid(y * y, window) - mu_y * mu_y
  cov = _filter_valid(x * y, window) - mu_x * mu_y
  mu_x, mu_y = mu_x + shift_x, mu_y + shift_y
  c1, c2 = (k1 * PEAK) ** 2, (k2 * PEAK) ** 2
  ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
  return jnp.mean(ssim_map, axis=(1, 2, 3))


def ssim(a: jax.Array, b: jax.Array, *, value_range: tuple[float, float] = (-1.0, 1.0), quantize: bool = True,
         win_size: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> jax.Array:
  """Structural similarity per image (Wang et al. 2004), as scikit-image's Gaussian-weighted SSIM with data range
  255 (see the module docstring).

  Args:
    a, b: (N, H, W, C), both uint8 in [0, 255] or both float in `value_range`; H, W >= win_size.
    value_range: (low, high) of float images, mapped to [0, 255].
    quantize: round float images to the 256 levels first.
    win_size: taps of the Gaussian window, odd, >= 3.
    sigma: its standard deviation, > 0.
    k1, k2: the constants of C1 = (k1 * 255)^2 and C2 = (k2 * 255)^2, > 0.
  Returns:
    (N,) float32 in [-1, 1]; 1 for identical images.
  Raises:
    ValueError: shapes differ, mixed dtypes, images smaller than the window, or a bad option.
  """
  _check_pair("ssim", a, b)
  value_range = _check_range("ssim", value_range)
  if isinstance(win_size, bool) or not isinstance(win_size, (int, np.integer)) or win_size < 3 or win_size % 2 == 0:
    raise ValueError(f"ssim: win_size must be an odd int >= 3, got {win_size!r}")
  for name, value in (("sigma", sigma), ("k1", k1), ("k2", k2)):
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
      raise ValueError(f"ssim: {name} must be a number > 0, got {value!r}")
  if min(a.shape[1:3]) < win_size:
    raise ValueError(f"ssim: images of {a.shape[1]}x{a.shape[2]} are smaller than the {win_size}x{win_size} window")
  return _ssim(a, b, value_range, bool(quantize), int(win_size), float(sigma), float(k1), float(k2))
