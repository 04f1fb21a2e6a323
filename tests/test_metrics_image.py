"""Tests of jaxgan.metrics.image: L1, PSNR and SSIM per image.

SSIM is compared with a float64 transcription of scikit-image's `structural_similarity` (gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1) built on scipy.ndimage.gaussian_filter,
scikit-image's own filter (scikit-image is not a test dependency: its wheel and dependencies are tens of MB for
one function), and with closed forms.
"""
import math

import numpy as np
import pytest
from scipy import ndimage

from jaxgan.data import to_uint8
from jaxgan.metrics import image as metrics

RNG = np.random.default_rng(0)


def skimage_ssim(a, b, data_range=255.0, sigma=1.5, k1=0.01, k2=0.03):
  """skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=sigma, use_sample_covariance=False,
  data_range=data_range, channel_axis=-1) for one (H, W, C) image pair, transcribed (scikit-image 0.24)."""
  truncate = 3.5
  win_size = 2 * int(truncate * sigma + 0.5) + 1
  values = []
  for ch in range(a.shape[-1]):
    im1, im2 = a[..., ch].astype(np.float64), b[..., ch].astype(np.float64)
    f = lambda x: ndimage.gaussian_filter(x, sigma=sigma, truncate=truncate, mode="reflect")
    ux, uy = f(im1), f(im2)
    uxx, uyy, uxy = f(im1 * im1), f(im2 * im2), f(im1 * im2)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    pad = (win_size - 1) // 2
    values.append(s[pad:-pad, pad:-pad].mean(dtype=np.float64))
  return float(np.mean(values))


def _pair(shape=(3, 24, 20, 3)):
  a = RNG.integers(0, 256, size=shape).astype(np.uint8)
  noise = RNG.normal(0, 1, size=shape) * np.linspace(10, 60, shape[0]).reshape(-1, 1, 1, 1)  # other levels
  b = np.clip(a + noise, 0, 255).astype(np.uint8)
  return a, b


def test_ssim_matches_scikit_image_transcription():
  a, b = _pair()
  # a smooth pair too, where the luminance and structure terms are far from their extremes
  yy, xx = np.mgrid[0:24, 0:20]
  smooth = (127 + 100 * np.sin(xx / 3.0)[..., None] * np.cos(yy / 5.0)[..., None] * np.ones(3)).astype(np.uint8)
  a = np.concatenate([a, smooth[None]])
  b = np.concatenate([b, np.clip(smooth.astype(int) + 30, 0, 255).astype(np.uint8)[None]])
  ours = np.asarray(metrics.ssim(a, b))
  expected = [skimage_ssim(x, y) for x, y in zip(a, b)]
  assert ours.shape == (4,) and ours.dtype == np.float32
  np.testing.assert_allclose(ours, expected, atol=2e-6)
  assert len(set(np.round(expected, 2))) == 4  # distinct cases, not one number four times


def test_ssim_float_images_are_measured_on_the_0_255_scale():
  a, b = _pair((2, 16, 16, 1))
  fa, fb = a / 127.5 - 1.0, b / 127.5 - 1.0
  np.testing.assert_allclose(metrics.ssim(fa, fb), metrics.ssim(a, b), atol=1e-6)  # quantize: back to a, b exactly
  np.testing.assert_array_equal(to_uint8(fa), a)
  raw = metrics.ssim(a / 255.0, b / 255.0, value_range=(0.0, 1.0), quantize=False)
  np.testing.assert_allclose(raw, [skimage_ssim(x, y) for x, y in zip(a, b)], atol=2e-6)
  # skimage on [-1, 1] floats with data_range=2 is another number (luminance is not shift-invariant)
  other = [skimage_ssim(x, y, data_range=2.0) for x, y in zip(fa, fb)]
  assert np.min(np.abs(np.asarray(raw) - other)) > 1e-3


def test_ssim_closed_forms():
  a, _ = _pair((2, 16, 16, 3))
  np.testing.assert_allclose(metrics.ssim(a, a), 1.0, atol=1e-6)
  # constant images: no variance, SSIM is the luminance term (2 m n + C1) / (m^2 + n^2 + C1)
  m, n = 100.0, 180.0
  c1 = (0.01 * 255) ** 2
  got = metrics.ssim(np.full((1, 12, 12, 1), m, np.uint8), np.full((1, 12, 12, 1), n, np.uint8))
  np.testing.assert_allclose(got, (2 * m * n + c1) / (m ** 2 + n ** 2 + c1), rtol=1e-6)
  # symmetric, and an image against its negative is dissimilar
  x, y = _pair((2, 16, 16, 3))
  np.testing.assert_allclose(metrics.ssim(x, y), metrics.ssim(y, x), atol=1e-6)
  assert float(metrics.ssim(x, 255 - x).max()) < 0.0


def test_l1_and_psnr_against_formulas():
  a, b = _pair()
  diff = a.astype(np.float64) - b
  np.testing.assert_allclose(metrics.l1_error(a, b), np.abs(diff).mean(axis=(1, 2, 3)), rtol=1e-6)
  np.testing.assert_allclose(metrics.psnr(a, b), 10 * np.log10(255 ** 2 / (diff ** 2).mean(axis=(1, 2, 3))),
                             rtol=1e-6)
  # a constant offset d: PSNR = 20 log10(255 / d); the same images as floats in [-1, 1]
  base = np.full((1, 8, 8, 3), 100, np.uint8)
  np.testing.assert_allclose(metrics.psnr(base, base + 5), 20 * math.log10(255 / 5), rtol=1e-6)
  np.testing.assert_allclose(metrics.psnr(base / 127.5 - 1, (base + 5) / 127.5 - 1), 20 * math.log10(255 / 5),
                             rtol=1e-6)
  np.testing.assert_allclose(metrics.l1_error(base / 127.5 - 1, (base + 5) / 127.5 - 1), 5.0, rtol=1e-6)
  assert float(metrics.psnr(a, a)[0]) == math.inf


def test_quantize_switch():
  a = np.zeros((1, 11, 11, 1), np.float32)
  b = np.full((1, 11, 11, 1), 0.4 / 127.5, np.float32)  # less than half a level above 0 in [-1, 1]
  assert float(metrics.l1_error(a, b)[0]) == 0.0
  np.testing.assert_allclose(metrics.l1_error(a, b, quantize=False), 0.4, atol=2e-5)  # float32 ulp at 127.5


@pytest.mark.parametrize("call, match", [
    (lambda a: metrics.ssim(a, a[:, :, :-1]), r"ssim: the two batches differ in shape"),
    (lambda a: metrics.psnr(a, a.astype(np.float32)), r"psnr: one batch is uint8 and the other float32"),
    (lambda a: metrics.l1_error(a[0], a[0]), r"l1_error: expected images \(N, H, W, C\)"),
    (lambda a: metrics.ssim(a, a, win_size=10), r"ssim: win_size must be an odd int >= 3, got 10"),
    (lambda a: metrics.ssim(a, a, sigma=0.0), r"ssim: sigma must be a number > 0, got 0.0"),
    (lambda a: metrics.ssim(a[:, :8, :8], a[:, :8, :8]), r"images of 8x8 are smaller than the 11x11 window"),
    (lambda a: metrics.psnr(a / 1.0, a / 1.0, value_range=(1, 1)),
     r"value_range must be \(low, high\) with low < high"),
])
def test_bad_arguments(call, match):
  with pytest.raises(ValueError, match=match):
    call(np.zeros((1, 12, 12, 3), np.uint8))
