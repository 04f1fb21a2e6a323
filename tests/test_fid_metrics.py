"""FID, its statistics, preprocessing modes, Inception Score, KID and precision/recall against direct formulas."""
import dataclasses
import json
import math
import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.metrics import pipeline as fid_lib
from jaxgan.metrics import frechet, improved_pr, iscore, kid, modes, stats


# ------------------------------------------------------------------------------------------------ preprocessing

def _resize_loops(img: np.ndarray, out: int, mode: str) -> np.ndarray:
  """Bilinear resize of (H, W, C) written out pixel by pixel."""
  h, w, c = img.shape
  res = np.zeros((out, out, c))

  def source(dst, size):
    if mode == "tf1":
      s = dst * size / out
    else:
      s = max((dst + 0.5) * size / out - 0.5, 0.0)
    i0 = int(math.floor(s))
    i1 = i0 + 1 if i0 < size - 1 else i0
    return i0, i1, s - i0

  for oy in range(out):
    y0, y1, ty = source(oy, h)
    for ox in range(out):
      x0, x1, tx = source(ox, w)
      top = img[y0, x0] * (1 - tx) + img[y0, x1] * tx
      bottom = img[y1, x0] * (1 - tx) + img[y1, x1] * tx
      res[oy, ox] = top * (1 - ty) + bottom * ty
  return res


@pytest.mark.parametrize("mode", ["tf1", "pytorch"])
@pytest.mark.parametrize("in_hw,out", [((7, 5), 13), ((23, 23), 9), ((4, 4), 4)])
def test_resize_matches_loops(mode, in_hw, out):
  img = np.random.default_rng(0).uniform(0, 255, in_hw + (3,))
  got = np.asarray(modes.resize_bilinear(jnp.asarray(img[None], jnp.float32), out, mode))[0]
  np.testing.assert_allclose(got, _resize_loops(img, out, mode), atol=2e-3)


def test_tf1_and_pytorch_modes_differ_and_normalize():
  img = np.random.default_rng(1).integers(0, 256, (1, 8, 8, 3), dtype=np.uint8)
  tf1 = np.asarray(modes.preprocess(jnp.asarray(img), mode="tf1", size=16))
  pt = np.asarray(modes.preprocess(jnp.asarray(img), mode="pytorch", size=16))
  np.testing.assert_allclose(tf1, (_resize_loops(img[0].astype(float), 16, "tf1")[None] - 128) / 128, atol=1e-5)
  np.testing.assert_allclose(pt, 2 * _resize_loops(img[0].astype(float), 16, "pytorch")[None] / 255 - 1, atol=1e-5)
  assert np.abs(tf1 - pt).max() > 0.05
  # tf1 upsampling by 2 keeps the pixel at even positions exactly; pytorch's half-pixel centres do not
  np.testing.assert_allclose(tf1[0, ::2, ::2], (img[0] - 128.0) / 128, atol=1e-6)


# torch.nn.functional.interpolate(img, size=(19, 19), mode="bilinear", align_corners=False) of the image below,
# saved with torch 2.14.1 (CPU) on 2026-11-26, so that the comparison runs without torch.
TORCH_BILINEAR = pathlib.Path(__file__).with_name("data") / "torch_bilinear_10x7_to_19x19.npy"


def test_pytorch_mode_matches_torch_interpolate():
  img = np.random.default_rng(2).uniform(0, 255, (1, 3, 10, 7)).astype(np.float32)
  got = np.asarray(modes.resize_bilinear(jnp.asarray(img.transpose(0, 2, 3, 1)), 19, "pytorch"))
  saved = np.load(TORCH_BILINEAR).transpose(0, 2, 3, 1)
  np.testing.assert_allclose(got, saved, atol=1e-3)
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return
  live = torch.nn.functional.interpolate(torch.from_numpy(img), size=(19, 19), mode="bilinear",
                                         align_corners=False).numpy().transpose(0, 2, 3, 1)
  np.testing.assert_allclose(got, live, atol=1e-3)


def test_float_inputs_quantize_like_stylegan2_ada_and_gray_is_repeated():
  x = jnp.array([-1.0, -0.999, 0.0, 0.5, 1.0, 1.2])
  got = np.asarray(modes.to_pixels(x.reshape(1, 1, 6, 1)))
  want = np.clip(np.asarray(x) * 127.5 + 128, 0, 255).astype(np.uint8)
  np.testing.assert_array_equal(got.reshape(-1), want)
  np.testing.assert_allclose(np.asarray(modes.to_pixels(x.reshape(1, 1, 6, 1), quantize=False)).reshape(-1),
                             np.clip((np.asarray(x) + 1) * 127.5, 0, 255), rtol=1e-6)
  gray = np.random.default_rng(3).integers(0, 256, (2, 5, 5, 1), dtype=np.uint8)
  out = np.asarray(modes.preprocess(jnp.asarray(gray), mode="tf1", size=5))
  assert out.shape == (2, 5, 5, 3)
  np.testing.assert_allclose(out, np.repeat((gray - 128.0) / 128, 3, axis=-1), atol=1e-6)


def test_bad_images_raise():
  with pytest.raises(ValueError, match="uint8"):
    modes.check_images(np.zeros((1, 4, 4, 3), np.int32))
  with pytest.raises(ValueError, match=r"must be in \[-1, 1\]"):
    modes.check_images(np.full((1, 4, 4, 3), 200.0, np.float32))
  with pytest.raises(ValueError, match="non-finite"):
    modes.check_images(np.full((1, 4, 4, 3), np.nan, np.float32))
  with pytest.raises(ValueError, match="C in"):
    modes.check_images(np.zeros((1, 4, 4, 2), np.uint8))
  with pytest.warns(UserWarning, match=r"\[0, 1\]"):
    modes.check_images(np.full((1, 4, 4, 3), 0.5, np.float32))
  # bfloat16 host images (a generator's output) are floats like on the device; out of range is still refused
  modes.check_images(np.full((1, 4, 4, 3), -0.5, jnp.bfloat16))
  with pytest.raises(ValueError, match=r"must be in \[-1, 1\]"):
    modes.check_images(np.full((1, 4, 4, 3), 200.0, jnp.bfloat16))
  with pytest.raises(ValueError, match="unknown preprocessing mode"):
    modes.preprocess(jnp.zeros((1, 299, 299, 3), jnp.uint8), mode="tf2")
  with pytest.raises(ValueError, match="needs 299x299"):
    modes.preprocess(jnp.zeros((1, 32, 32, 3), jnp.uint8), mode="none")


# ------------------------------------------------------------------------------------------------ Fréchet distance

@pytest.mark.parametrize("method", ["sqrtm", "eig"])
def test_frechet_distance_of_diagonal_gaussians(method):
  rng = np.random.default_rng(0)
  mu1, mu2 = rng.standard_normal((2, 6))
  a, b = rng.uniform(0.1, 3.0, (2, 6))
  want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  got = frechet.frechet_distance(mu1, np.diag(a), mu2, np.diag(b), method=method)
  assert got == pytest.approx(want, rel=1e-10)


def _random_cov(rng, d, n=None):
  x = rng.standard_normal((n or 3 * d, d))
  return np.cov(x, rowvar=False)


@pytest.mark.parametrize("method", ["sqrtm", "eig"])
def test_frechet_distance_of_a_gaussian_with_itself_is_zero(method):
  rng = np.random.default_rng(1)
  mu, sigma = rng.standard_normal(20), _random_cov(rng, 20)
  assert abs(frechet.frechet_distance(mu, sigma, mu, sigma, method=method)) < 1e-8 * np.trace(sigma)


def test_frechet_eig_with_rank_deficient_covariances():
  """Fewer samples than dimensions: eig factors the low-rank covariance; compare with a dense eigendecomposition."""
  rng = np.random.default_rng(9)
  s1, s2 = _random_cov(rng, 40, n=6), _random_cov(rng, 40, n=60)  # rank 5 and full rank
  w, v = np.linalg.eigh(s1)
  root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
  want = np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)))
  for a, b in ((s1, s2), (s2, s1)):
    assert frechet.frechet_distance(np.zeros(40), a, np.zeros(40), b, method="eig") == pytest.approx(want, rel=1e-6)
  assert abs(frechet.frechet_distance(np.zeros(40), s1, np.zeros(40), s1, method="eig")) < 1e-9 * np.trace(s1)


def test_frechet_eig_agrees_with_sqrtm_and_rotation_invariance():
  rng = np.random.default_rng(2)
  mu1, mu2 = rng.standard_normal((2, 30))
  s1, s2 = _random_cov(rng, 30), _random_cov(rng, 30)
  by_sqrtm = frechet.frechet_distance(mu1, s1, mu2, s2)
  assert frechet.frechet_distance(mu1, s1, mu2, s2, method="eig") == pytest.approx(by_sqrtm, rel=1e-8)
  q, _ = np.linalg.qr(rng.standard_normal((30, 30)))  # FID is invariant under a common rotation
  rotated = frechet.frechet_distance(q @ mu1, q @ s1 @ q.T, q @ mu2, q @ s2 @ q.T)
  assert rotated == pytest.approx(by_sqrtm, rel=1e-8)


def test_frechet_singular_product_gets_offset_and_broken_input_raises():
  rng = np.random.default_rng(3)
  zero = np.zeros((4, 4))
  with pytest.warns(UserWarning, match="adding"):
    value = frechet.frechet_distance(np.zeros(4), zero, np.zeros(4), zero)
  assert abs(value) < 1e-5
  sigma = _random_cov(rng, 4)
  not_psd = -np.eye(4)  # covariance with negative eigenvalues: the product's root is imaginary
  with pytest.raises(ValueError, match="imaginary"):
    frechet.frechet_distance(np.zeros(4), sigma, np.zeros(4), not_psd)
  with pytest.raises(ValueError, match="not positive semi-definite"):
    frechet.frechet_distance(np.zeros(4), sigma, np.zeros(4), not_psd, method="eig")
  with pytest.raises(ValueError, match="shapes"):
    frechet.frechet_distance(np.zeros(4), sigma, np.zeros(3), sigma)
  with pytest.raises(ValueError, match="NaN"):
    frechet.frechet_distance(np.full(4, np.nan), sigma, np.zeros(4), sigma)


def test_frechet_singular_product_offsets_both_covariances():
  # diag(a) diag(b) is singular (a zero on both diagonals): "sqrtm" adds eps * I to both covariances, as pytorch-fid
  # does, so tr((S1 + eps I)(S2 + eps I))^(1/2) = sum_i sqrt((a_i + eps)(b_i + eps)).
  a, b, eps = np.array([1.0, 0.0, 2.0]), np.array([0.5, 0.0, 3.0]), 0.1
  mu1, mu2 = np.array([0.5, -1.0, 2.0]), np.array([0.0, 1.0, 2.5])
  with pytest.warns(UserWarning, match="adding 0.1 to the diagonals"):
    got = frechet.frechet_distance(mu1, np.diag(a), mu2, np.diag(b), eps=eps)
  want = np.sum((mu1 - mu2) ** 2) + a.sum() + b.sum() - 2 * np.sum(np.sqrt((a + eps) * (b + eps)))
  assert got == pytest.approx(want, rel=1e-7)


# ------------------------------------------------------------------------------------------------ statistics

def test_streaming_moments_equal_np_cov():
  rng = np.random.default_rng(4)
  feats = (rng.standard_normal((300, 8)) * rng.uniform(0.1, 3, 8) + 50.0).astype(np.float32)
  update = jax.jit(stats.update_moments)
  state = stats.init_moments(8)
  for i in range(0, 300, 64):  # 64-row batches, the last one padded and masked
    chunk = feats[i:i + 64]
    mask = np.arange(64) < chunk.shape[0]
    chunk = np.concatenate([chunk, np.full((64 - chunk.shape[0], 8), 1e6, np.float32)])
    state = update(state, chunk, mask)
  got = stats.finalize_moments(state, allow_few=False)
  x = feats.astype(np.float64)
  assert got.num == 300
  np.testing.assert_allclose(got.mu, x.mean(0), rtol=1e-6)
  np.testing.assert_allclose(got.sigma, np.cov(x, rowvar=False), rtol=1e-5, atol=1e-5)
  one_shot = stats.stats_from_features(feats)
  np.testing.assert_allclose(one_shot.sigma, np.cov(x, rowvar=False), rtol=1e-12)


def test_streaming_moments_compensate_a_drifting_mean():
  # The shift is the first batch's mean; when later batches sit far from it (data sorted by class, say) the float32
  # running sums grow large and lose low bits at every batch. The compensated sums keep the covariance at ~1e-7 of
  # a float64 np.cov over 100,000 samples; plain float32 sums are off by several 1e-6.
  rng = np.random.default_rng(12)
  x = rng.standard_normal((4000, 25, 3)).astype(np.float32)
  x[1:] += np.float32(10.0)
  scan = jax.jit(lambda s, xs: jax.lax.scan(lambda s, f: (stats.update_moments(s, f), None), s, xs)[0])
  got = stats.finalize_moments(scan(stats.init_moments(3), jnp.asarray(x)))
  ref = x.reshape(-1, 3).astype(np.float64)
  cov = np.cov(ref, rowvar=False)
  assert got.num == 100_000
  np.testing.assert_allclose(got.mu, ref.mean(0), rtol=1e-7)
  assert np.max(np.abs(got.sigma - cov)) < 2e-6 * np.max(np.abs(cov))


def test_statistics_errors():
  state = jax.jit(stats.update_moments)(stats.init_moments(16), np.ones((10, 16), np.float32))
  with pytest.raises(ValueError, match="only 10 samples for 16-dimensional"):
    stats.finalize_moments(state)
  assert stats.finalize_moments(state, allow_few=True).num == 10
  bad = jax.jit(stats.update_moments)(stats.init_moments(2), np.array([[1.0, np.nan], [0.0, 1.0]], np.float32))
  with pytest.raises(ValueError, match="NaN or inf"):
    stats.finalize_moments(bad, allow_few=True)
  with pytest.raises(ValueError, match="at least 2"):
    stats.finalize_moments(jax.jit(stats.update_moments)(stats.init_moments(1), np.ones((1, 1), np.float32)))


def test_stats_file_round_trip_and_errors(tmp_path):
  rng = np.random.default_rng(5)
  s = stats.Stats(rng.standard_normal(5), _random_cov(rng, 5), 15)
  assert stats.save_stats(tmp_path / "s.npz", s) == tmp_path / "s.npz"
  assert stats.save_stats(tmp_path / "t", s) == tmp_path / "t.npz"  # np.savez's suffix rule
  assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz", "t.npz"]  # no temporary file left behind
  with np.load(tmp_path / "s.npz") as z:  # TTUR / pytorch-fid read exactly these keys
    np.testing.assert_array_equal(z["mu"], s.mu)
    np.testing.assert_array_equal(z["sigma"], s.sigma)
  back = stats.load_stats(tmp_path / "s.npz")
  assert back.num == 15 and fid_lib.fid_from_stats(back, str(tmp_path / "s.npz")) == pytest.approx(0, abs=1e-9)
  np.savez(tmp_path / "bad.npz", mean=s.mu, cov=s.sigma)
  with pytest.raises(ValueError, match=r"lacks \['mu', 'sigma'\]"):
    stats.load_stats(tmp_path / "bad.npz")
  with pytest.raises(FileNotFoundError, match="jaxgan.fid stats"):
    stats.load_stats(tmp_path / "missing.npz")


def test_load_stats_of_a_corrupt_npz_says_to_recreate_it(tmp_path):
  good = tmp_path / "good.npz"
  stats.save_stats(good, stats.Stats(np.zeros(3), np.eye(3), 5))
  (tmp_path / "garbage.npz").write_bytes(b"garbage")  # numpy: "pickled (object) data ... allow_pickle"
  (tmp_path / "truncated.npz").write_bytes(good.read_bytes()[:200])  # zipfile.BadZipFile
  np.save(tmp_path / "array.npy", np.zeros(3))
  (tmp_path / "array.npy").rename(tmp_path / "array.npz")  # a single .npy
  for name in ("garbage.npz", "truncated.npz", "array.npz"):
    with pytest.raises(ValueError, match=r"not a valid statistics \.npz \(corrupt or not written by numpy\): "
                       r"recreate it with `python -m jaxgan.fid stats`"):
      fid_lib.fid_from_stats(str(tmp_path / name), good)


# ------------------------------------------------------------------------------------------------ IS, KID, PR

def test_inception_score_against_formula():
  rng = np.random.default_rng(6)
  logits = rng.standard_normal((40, 1008)) * 3
  for unbiased in (False, True):
    z = logits[:, :1001] if unbiased else logits
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    scores = []
    for part in np.split(p, 4):
      py = part.mean(0)
      kl = [sum(pi[j] * (math.log(pi[j]) - math.log(py[j])) for j in range(z.shape[1])) for pi in part]
      scores.append(math.exp(np.mean(kl)))
    got = iscore.inception_score(logits, num_splits=4, unbiased=unbiased)
    assert got == pytest.approx((np.mean(scores), np.std(scores)), rel=1e-9)
  same = np.tile(rng.standard_normal((1, 10)), (20, 1))  # identical predictions: IS = 1
  assert iscore.inception_score(same, num_splits=2)[0] == pytest.approx(1.0)
  with pytest.raises(ValueError, match="at least num_splits"):
    iscore.inception_score(logits[:3], num_splits=10)


def test_inception_score_splits_like_the_original_code():
  # N = 10 into 3 splits: the original code's chunks preds[i * N // splits:(i + 1) * N // splits] are rows 0-2, 3-5
  # and 6-9, so every sample counts (the last chunk takes the remainder).
  logits = np.random.default_rng(13).standard_normal((10, 7)) * 2
  p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  scores = []
  for rows in (range(0, 3), range(3, 6), range(6, 10)):
    part = p[list(rows)]
    py = part.mean(0)
    scores.append(math.exp(np.mean([np.sum(pi * (np.log(pi) - np.log(py))) for pi in part])))
  assert iscore.inception_score(logits, num_splits=3) == pytest.approx((np.mean(scores), np.std(scores)), rel=1e-9)
  other = logits.copy()
  other[9] = logits[6]  # the last sample changes the score
  assert iscore.inception_score(other, num_splits=3)[0] != pytest.approx(np.mean(scores), rel=1e-6)


def _mmd2_u_loops(xs, ys):
  """Unbiased MMD^2 with k(a, b) = (a . b / d + 1)^3, written out over pairs (equal set sizes)."""
  m, d = len(xs), xs.shape[1]
  k = lambda a, b: (a @ b / d + 1) ** 3
  kxx = sum(k(xs[i], xs[j]) for i in range(m) for j in range(m) if i != j)
  kyy = sum(k(ys[i], ys[j]) for i in range(m) for j in range(m) if i != j)
  kxy = sum(k(a, b) for a in xs for b in ys)
  return (kxx + kyy) / (m * (m - 1)) - 2 * kxy / m**2


def test_kid_subsets_shrink_to_the_smaller_side():
  # subset_size above both counts becomes min(N_real, N_fake) = 9 per side, whichever side is smaller. One side's
  # rows are all equal, so every subset of it is the same and each subset's value is the whole-set formula.
  rng = np.random.default_rng(14)
  same = np.tile(rng.standard_normal(5), (14, 1))
  varied = rng.standard_normal((9, 5)) + 0.3
  want = _mmd2_u_loops(same[:9], varied)
  for real, fake in ((same, varied), (varied, same)):
    mean, std = kid.kernel_inception_distance(real, fake, num_subsets=3, subset_size=50)
    assert mean == pytest.approx(want, rel=1e-4) and std < 1e-6 * abs(want)


def test_kid_against_formula():
  rng = np.random.default_rng(7)
  x = rng.standard_normal((12, 5))
  y = rng.standard_normal((15, 5)) + 0.5
  # subset_size = 12 = N_real: every real subset is all of x; fake subsets are random, so check one subset size 12
  # against the unbiased estimator over the same rows, by hand.
  k = lambda a, b: (a @ b / 5 + 1) ** 3
  def mmd(xs, ys):
    m = len(xs)
    kxx = sum(k(xs[i], xs[j]) for i in range(m) for j in range(m) if i != j)
    kyy = sum(k(ys[i], ys[j]) for i in range(m) for j in range(m) if i != j)
    kxy = sum(k(xs[i], ys[j]) for i in range(m) for j in range(m))
    return (kxx + kyy) / (m * (m - 1)) - 2 * kxy / m**2
  yy = y[:12]
  mean, std = kid.kernel_inception_distance(x, yy, num_subsets=3, subset_size=50)  # clamps to 12: whole sets
  assert mean == pytest.approx(mmd(x, yy), rel=1e-4) and std < 1e-6 * abs(mean) + 1e-9
  # Random subsets of 6 (without replacement) on each side: each subset's MMD^2_u is an unbiased estimate of the
  # U-statistic over all 12 x 15 rows, so their mean lands within a few standard errors of it (subsets drawn with
  # replacement would bias it with k(x_i, x_i) terms).
  def mmd_all(xs, ys):
    kxx = sum(k(xs[i], xs[j]) for i in range(len(xs)) for j in range(len(xs)) if i != j)
    kyy = sum(k(ys[i], ys[j]) for i in range(len(ys)) for j in range(len(ys)) if i != j)
    kxy = sum(k(a, b) for a in xs for b in ys)
    return kxx / (len(xs) * (len(xs) - 1)) + kyy / (len(ys) * (len(ys) - 1)) - 2 * kxy / (len(xs) * len(ys))
  n = 4000
  sub, sub_std = kid.kernel_inception_distance(x, y, num_subsets=n, subset_size=6, key=jax.random.key(1))
  assert sub_std > 0.1 * abs(sub) and abs(sub - mmd_all(x, y)) < 4 * sub_std / math.sqrt(n)
  again, _ = kid.kernel_inception_distance(x, y, num_subsets=n, subset_size=6, key=jax.random.key(1))
  assert again == sub  # the key fixes the subsets
  with pytest.raises(ValueError, match="same D"):
    kid.kernel_inception_distance(x, y[:, :4])


def test_kid_of_close_inception_like_sets_matches_float64():
  """KID is a difference of sums of m^2 kernel values of ~1 that cancel to a few parts in 10^4: the float32 device
  sums must not carry float32's rounding into it (summed in float32 it was 2e-3 off here)."""
  rng = np.random.default_rng(0)
  d, m = 512, 500
  base = np.abs(rng.standard_normal(d)) * 0.5
  x = np.maximum(rng.standard_normal((m, d)) * 0.4 + base, 0).astype(np.float32)  # ReLU-like, as pool3 features
  y = np.maximum(rng.standard_normal((m, d)) * 0.4 + base * 1.01, 0).astype(np.float32)
  k = lambda a, b: (a.astype(np.float64) @ b.astype(np.float64).T / d + 1) ** 3
  kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
  want = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / m**2
  assert 1e-4 < want < 1e-3  # close sets: the cancellation is the point
  mean, _ = kid.kernel_inception_distance(x, y, num_subsets=1, subset_size=m)  # m = N: the subset is the whole set
  assert mean == pytest.approx(want, rel=1e-4)


def test_precision_recall_on_known_configuration():
  # real: 10 points on a line, spacing 1 (3rd-neighbour radius >= 2); fake: a tight cluster inside the real support
  # (radii 0.4-0.6) around 4.2..5.0, and a far cluster. Precision: the 5 near fakes of 10 are inside real balls.
  # Recall: only real points 4 and 5 lie within a fake ball (|4 - 4.2| = 0.2 <= 0.6, 5 == 5.0).
  line = lambda v: np.stack([np.asarray(v, np.float32), np.zeros(len(v), np.float32)], 1)
  real = line(np.arange(10.0))
  fake = line([4.2, 4.4, 4.6, 4.8, 5.0, 100, 100.2, 100.4, 100.6, 100.8])
  p, r = improved_pr.precision_recall(real, fake, k=3, block_size=4)
  assert (p, r) == (pytest.approx(0.5), pytest.approx(0.2))
  np.testing.assert_allclose(improved_pr.knn_radii(real, 3), [9, 4, 4, 4, 4, 4, 4, 4, 4, 9], rtol=1e-6)
  with pytest.raises(ValueError, match="more than k"):
    improved_pr.precision_recall(real[:3], fake, k=3)


def test_precision_counts_a_point_on_a_ball_boundary_as_inside():
  # Real points 0..9 on a line: point 9's 3rd neighbour is 6, radius 3, so its ball reaches exactly 12 (squared
  # distances 9 and 9, exact in float32). A fake at 12 is inside (d <= r), one at 12.001 is not, nor 50 and 60.
  line = lambda v: np.stack([np.asarray(v, np.float32), np.zeros(len(v), np.float32)], 1)
  real, fake = line(np.arange(10.0)), line([12.0, 12.001, 50.0, 60.0])
  assert improved_pr.knn_radii(real, 3)[9] == 9.0
  p, r = improved_pr.precision_recall(real, fake, k=3)
  assert p == 0.25 and r == 1.0  # every real point lies within fake 12's ball (3rd neighbour 60: radius 48)


# ------------------------------------------------------------------------------------------------ pipelines

@dataclasses.dataclass(frozen=True)
class _TinyApply:
  """A cheap stand-in for the Inception: tf1 preprocessing to 8x8, then a fixed linear map to 6 features."""
  size: int = 8

  def __call__(self, params, images):
    x = modes.preprocess(images, mode="tf1", size=self.size)
    return {"pool3": jnp.tanh(x.reshape(x.shape[0], -1) @ params["w"])}


def _tiny_extractor():
  w = jax.random.normal(jax.random.key(0), (8 * 8 * 3, 6)) / 8
  return fid_lib.FeatureExtractor(_TinyApply(), {"w": w}, feature_dim=6)


def _sample_fn(key, n):
  return jnp.tanh(jax.random.normal(key, (n, 5, 5, 3)) * 2)


def test_stats_from_images_equal_one_shot_features():
  ex = _tiny_extractor()
  images = np.random.default_rng(8).integers(0, 256, (23, 5, 5, 3), dtype=np.uint8)
  got = fid_lib.stats_from_images(images, ex, batch_size=10)
  feats = np.asarray(_TinyApply()(ex.params, jnp.asarray(images))["pool3"], np.float64)
  np.testing.assert_allclose(got.mu, feats.mean(0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got.sigma, np.cov(feats, rowvar=False), rtol=1e-4, atol=1e-6)
  # an iterator of uneven chunks gives the same statistics
  chunks = iter([images[:3], images[3:17], images[17:]])
  again = fid_lib.stats_from_images(chunks, ex, batch_size=10)
  np.testing.assert_allclose(again.sigma, got.sigma, rtol=1e-6, atol=1e-7)
  limited = fid_lib.extract_features(images, ex, batch_size=10, limit=12)["pool3"]
  np.testing.assert_allclose(limited, feats[:12], rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="only 4 samples"):
    fid_lib.stats_from_images(images[:4], ex)
  with pytest.raises(ValueError, match=r"must be in \[-1, 1\]"):
    fid_lib.stats_from_images(images.astype(np.float32), ex)


def test_generator_stats_equal_features_of_the_same_samples():
  ex = _tiny_extractor()
  key = jax.random.key(3)
  got = fid_lib.stats_from_generator(_sample_fn, 25, key=key, batch_size=8, extractor=ex)
  feats = fid_lib.features_from_generator(_sample_fn, 25, key=key, batch_size=8, extractor=ex)["pool3"]
  assert feats.shape == (25, 6) and got.num == 25  # 4 batches of 8, the last one masked to 1 sample
  manual = np.concatenate([np.asarray(_sample_fn(jax.random.fold_in(key, i), 8)) for i in range(4)])[:25]
  want = np.asarray(_TinyApply()(ex.params, jnp.asarray(manual))["pool3"], np.float64)
  np.testing.assert_allclose(feats, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got.sigma, np.cov(want, rowvar=False), rtol=1e-4, atol=1e-6)
  ref = stats.stats_from_features(want)
  assert fid_lib.fid(_sample_fn, ref, num=25, batch_size=8, key=key, extractor=ex) == pytest.approx(0, abs=1e-6)


_TRACED_BATCHES: list[int] = []


@dataclasses.dataclass(frozen=True)
class _RecordingApply(_TinyApply):
  """_TinyApply that notes the batch size each compiled call is traced for."""
  tag: str = "record"

  def __call__(self, params, images):
    _TRACED_BATCHES.append(images.shape[0])
    return super().__call__(params, images)


def test_batches_never_exceed_the_images():
  """A batch larger than the images to measure is cut to their number (not padded up to it): the same features,
  a program for 12 images instead of 500."""
  w = _tiny_extractor().params
  images = np.random.default_rng(9).integers(0, 256, (12, 5, 5, 3), dtype=np.uint8)
  want = fid_lib.extract_features(images, _tiny_extractor(), batch_size=4)["pool3"]
  _TRACED_BATCHES.clear()
  ex = fid_lib.FeatureExtractor(_RecordingApply(tag="images"), w, feature_dim=6)
  np.testing.assert_allclose(fid_lib.extract_features(images, ex, batch_size=500)["pool3"], want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(fid_lib.extract_features(images, ex, batch_size=500, limit=5)["pool3"], want[:5],
                             rtol=1e-5, atol=1e-6)
  fid_lib.stats_from_images(images, ex, batch_size=500, allow_few=True)
  gen = fid_lib.FeatureExtractor(_RecordingApply(tag="generator"), w, feature_dim=6)
  key = jax.random.key(1)
  feats = fid_lib.features_from_generator(_sample_fn, 7, key=key, batch_size=500, extractor=gen)["pool3"]
  fid_lib.stats_from_generator(_sample_fn, 7, key=key, batch_size=500, extractor=gen, allow_few=True)
  assert _TRACED_BATCHES == [12, 5, 12, 7, 7] and feats.shape == (7, 6)
  manual = np.asarray(_TinyApply()(w, _sample_fn(jax.random.fold_in(key, 0), 7))["pool3"])
  np.testing.assert_allclose(feats, manual, rtol=1e-5, atol=1e-6)


def _scaled_sample_fn(scale, key, n):
  return jnp.tanh(jax.random.normal(key, (n, 5, 5, 3)) * scale)


def test_generator_parameters_as_sample_args_compile_once():
  """Parameters passed as `sample_args` give the statistics of the same function with them bound, and new
  parameter values reuse the compiled step (the static sample_fn is the same object)."""
  ex = _tiny_extractor()
  key = jax.random.key(3)
  fid_lib._generator_step.clear_cache()  # pylint: disable=protected-access
  with_args = fid_lib.stats_from_generator(_scaled_sample_fn, 16, key=key, batch_size=8, extractor=ex,
                                           allow_few=True, sample_args=jnp.float32(2.0))
  bound = fid_lib.stats_from_generator(_sample_fn, 16, key=key, batch_size=8, extractor=ex, allow_few=True)
  np.testing.assert_allclose(with_args.sigma, bound.sigma, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(with_args.mu, bound.mu, rtol=1e-5, atol=1e-7)
  size = fid_lib._generator_step._cache_size()  # pylint: disable=protected-access
  other = fid_lib.stats_from_generator(_scaled_sample_fn, 16, key=key, batch_size=8, extractor=ex,
                                       allow_few=True, sample_args=jnp.float32(0.5))
  assert fid_lib._generator_step._cache_size() == size  # pylint: disable=protected-access
  assert not np.allclose(other.sigma, with_args.sigma)  # the new value was used, not a baked-in constant
  feats = fid_lib.features_from_generator(_scaled_sample_fn, 16, key=key, batch_size=8, extractor=ex,
                                          sample_args=jnp.float32(2.0))["pool3"]
  np.testing.assert_allclose(np.mean(feats, 0), bound.mu, rtol=1e-5, atol=1e-6)


def test_bad_counts_and_reference_fail_before_any_sampling_or_extraction():
  """Too few samples and reference statistics of another dimension are known up front: no sample_fn call, no
  extractor call (nothing is traced, let alone run)."""
  calls = []

  def counting_sample_fn(key, n):
    calls.append("sample")
    return _sample_fn(key, n)

  ex = fid_lib.FeatureExtractor(_RecordingApply(tag="early"), _tiny_extractor().params, feature_dim=6)
  _TRACED_BATCHES.clear()
  ref8 = stats.Stats(np.zeros(8), np.eye(8), 100)
  with pytest.raises(ValueError, match="reference statistics have dimension 8, features have 6"):
    fid_lib.fid(counting_sample_fn, ref8, num=10, batch_size=5, extractor=ex)
  ref6 = stats.Stats(np.zeros(6), np.eye(6), 100)
  with pytest.raises(ValueError, match="only 4 samples for 6-dimensional features"):
    fid_lib.fid(counting_sample_fn, ref6, num=4, batch_size=2, extractor=ex)
  with pytest.raises(ValueError, match="only 4 samples for 6-dimensional features"):
    fid_lib.stats_from_generator(counting_sample_fn, 4, batch_size=2, extractor=ex)
  with pytest.raises(ValueError, match="at least 2 samples"):
    fid_lib.stats_from_generator(counting_sample_fn, 1, extractor=ex, allow_few=True)
  images = np.zeros((4, 5, 5, 3), np.uint8)
  with pytest.raises(ValueError, match="only 4 samples for 6-dimensional features"):
    fid_lib.stats_from_images(images, ex)
  with pytest.raises(ValueError, match="only 3 samples"):  # the limit bounds the count of an iterable
    fid_lib.stats_from_images(iter([images, images]), ex, limit=3)
  with pytest.raises(ValueError, match="only 4 samples for 2048-dimensional features"):  # default extractor:
    fid_lib.stats_from_images(images)  # no weights needed to say so
  for fn in (fid_lib.stats_from_images, fid_lib.extract_features):
    for kw in (dict(batch_size=0), dict(batch_size=-4), dict(limit=0)):
      for source in (images, iter([images])):
        with pytest.raises(ValueError, match="batch_size must be >= 1 and limit None or >= 1"):
          fn(source, ex, **kw)
  assert not calls and not _TRACED_BATCHES


def test_generator_output_checks(monkeypatch):
  ex = _tiny_extractor()
  nan_fn = lambda key, n: jnp.full((n, 5, 5, 3), jnp.nan)
  with pytest.raises(ValueError, match="non-finite"):
    fid_lib.stats_from_generator(nan_fn, 8, batch_size=8, extractor=ex, allow_few=True)
  # A NaN generator is named after its first batch, not after all of them.
  steps = []
  real_step = fid_lib._generator_step  # pylint: disable=protected-access
  monkeypatch.setattr(fid_lib, "_generator_step", lambda *a: steps.append(1) or real_step(*a))
  with pytest.raises(ValueError, match="non-finite"):
    fid_lib.stats_from_generator(nan_fn, 32, batch_size=4, extractor=ex, allow_few=True)
  assert len(steps) == 1
  monkeypatch.undo()
  wide_fn = lambda key, n: jax.random.uniform(key, (n, 5, 5, 3)) * 255
  with pytest.raises(ValueError, match=r"must be in \[-1, 1\]"):
    fid_lib.stats_from_generator(wide_fn, 8, batch_size=8, extractor=ex, allow_few=True)
  with pytest.raises(ValueError, match="num and batch_size"):
    fid_lib.stats_from_generator(_sample_fn, 0, extractor=ex)


def test_generator_stats_sharded_over_two_devices_match():
  """Same statistics on 2 fake CPU devices (Mesh + NamedSharding over the batch) as on one."""
  ex = _tiny_extractor()
  one = fid_lib.stats_from_generator(_sample_fn, 30, key=jax.random.key(5), batch_size=10, extractor=ex)
  images = np.random.default_rng(10).integers(0, 256, (13, 5, 5, 3), dtype=np.uint8)
  one_images = fid_lib.stats_from_images(images, ex, batch_size=3, allow_few=True)
  script = textwrap.dedent("""
    import json, jax, jax.numpy as jnp, numpy as np
    import tests.test_fid_metrics as t
    from jaxgan.metrics import pipeline as fid_lib
    assert jax.local_device_count() == 2
    s = fid_lib.stats_from_generator(t._sample_fn, 30, key=jax.random.key(5), batch_size=10,
                                     extractor=t._tiny_extractor())
    images = np.random.default_rng(10).integers(0, 256, (13, 5, 5, 3), dtype=np.uint8)
    si = fid_lib.stats_from_images(images, t._tiny_extractor(), batch_size=3, allow_few=True)  # rounded up to 4
    print(json.dumps({"mu": s.mu.tolist(), "sigma": s.sigma.tolist(), "num": s.num, "images_mu": si.mu.tolist(),
                      "images_sigma": si.sigma.tolist(), "images_num": si.num}))
  """)
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True, check=True)
  two = json.loads(out.stdout.strip().splitlines()[-1])
  assert two["num"] == 30
  np.testing.assert_allclose(two["mu"], one.mu, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(two["sigma"], one.sigma, rtol=1e-4, atol=1e-6)
  assert two["images_num"] == 13
  np.testing.assert_allclose(two["images_mu"], one_images.mu, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(two["images_sigma"], one_images.sigma, rtol=1e-4, atol=1e-6)
