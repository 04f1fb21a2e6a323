"""2D mixtures and the PacGAN mode metrics on constructed samples."""

import numpy as np
import pytest

from jaxgan.data import synthetic


def test_mixture_geometry():
  ring, grid = synthetic.ring(), synthetic.grid()
  assert ring.num_modes == 8 and grid.num_modes == 25
  np.testing.assert_allclose(np.linalg.norm(ring.means, axis=1), 1.0)
  assert sorted(set(grid.means[:, 0])) == [-4, -2, 0, 2, 4]
  x = grid.sample(np.random.default_rng(0), 5000)
  assert x.shape == (5000, 2) and x.dtype == np.float32
  m = synthetic.mode_metrics(x, grid)
  assert m["modes"] == 25 and m["high_quality"] > 0.98 and m["reverse_kl"] < 0.01


def test_metrics_on_constructed_samples():
  ring = synthetic.ring()
  # 100 samples exactly on mode 0, 100 on mode 1, 50 far from any mode (but nearest to mode 2).
  far = ring.means[2] * 0.5
  x = np.concatenate([np.repeat(ring.means[:1], 100, 0), np.repeat(ring.means[1:2], 100, 0),
                      np.repeat(far[None], 50, 0)])
  m = synthetic.mode_metrics(x, ring, min_count=10)
  assert m["modes"] == 2
  assert m["high_quality"] == pytest.approx(200 / 250)
  p = np.array([100, 100, 50]) / 250
  assert m["reverse_kl"] == pytest.approx(float(np.sum(p * np.log(p * 8))))
  assert m["counts"][:3] == [100, 100, 0]


def test_min_count_threshold_and_errors():
  ring = synthetic.ring()
  x = np.concatenate([np.repeat(ring.means[:1], 99, 0), np.repeat(ring.means[1:2], 1, 0)])
  assert synthetic.mode_metrics(x, ring, min_count=2)["modes"] == 1
  assert synthetic.mode_metrics(x, ring, min_count=1)["modes"] == 2


def test_default_coverage_rules():
  # PacGAN's rule (one high-quality sample covers a mode) and the strict rule (a fifth of
  # the fair share: round(0.2 * 100 / 8) = 2 samples here).
  ring = synthetic.ring()
  x = np.concatenate([np.repeat(ring.means[:1], 96, 0), np.repeat(ring.means[1:2], 2, 0),
                      np.repeat(ring.means[2:3], 1, 0), np.repeat(ring.means[2:3] * 0.5, 1, 0)])
  m = synthetic.mode_metrics(x, ring)
  assert (m["modes"], m["modes_strict"]) == (3, 2)
  assert synthetic.mode_metrics(x, ring, strict_fraction=0.9)["modes_strict"] == 1


def test_bad_inputs():
  ring = synthetic.ring()
  with pytest.raises(ValueError, match=r"\(N, 2\)"):
    synthetic.mode_metrics(np.zeros((4, 3)), ring)
  with pytest.raises(ValueError, match="NaN"):
    synthetic.mode_metrics(np.full((4, 2), np.nan), ring)
  with pytest.raises(ValueError, match="unknown mixture 'spiral'"):
    synthetic.get_mixture("spiral")
