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


def test_specs_default_to_the_pacgan_mixtures():
  for spec, same in [("ring", synthetic.ring()), ("grid", synthetic.grid()), ("ring:K=8", synthetic.ring()),
                     ("grid:K=5,spacing=2,std=0.05", synthetic.grid())]:
    m = synthetic.get_mixture(spec)
    assert m.name == same.name and m.std == same.std
    np.testing.assert_array_equal(m.means, same.means)
  assert synthetic.ring().name == "ring" and synthetic.grid().name == "grid"


def test_ring_and_grid_specs_build_the_geometry_they_name():
  m = synthetic.get_mixture("ring:std=0.02,K=12,r=2")
  assert m.name == "ring:K=12,r=2,std=0.02" and m.num_modes == 12 and m.std == 0.02
  np.testing.assert_allclose(np.linalg.norm(m.means, axis=1), 2.0)
  np.testing.assert_allclose(m.means[1], [2 * np.cos(np.pi / 6), 2 * np.sin(np.pi / 6)])
  g = synthetic.get_mixture("grid:K=7,spacing=1.5")
  assert g.name == "grid:K=7,spacing=1.5" and g.num_modes == 49 and g.std == 0.05
  assert sorted(set(g.means[:, 0])) == pytest.approx([-4.5, -3, -1.5, 0, 1.5, 3, 4.5])
  assert synthetic.dirname("ring:K=12,r=2,std=0.02") == "ring_K12_r2_std0.02"
  assert synthetic.dirname("grid") == "grid"
  # Scored with the same metrics: samples of the mixture itself cover every mode.
  x = g.sample(np.random.default_rng(1), 10_000)
  s = synthetic.mode_metrics(x, g)
  assert s["modes"] == 49 and s["high_quality"] > 0.98 and s["reverse_kl"] < 0.01


@pytest.mark.parametrize("spec,problem", [
    ("spiral", "the family must be one of grid, ring"),
    ("ring:", "nothing after ':'"),
    ("ring:K", "'K' is not field=value"),
    ("ring:K=1.5", "K=1.5: the number of modes must be an integer"),
    ("grid:K=0", "K=0: the number of modes per side must be an integer >= 1"),
    ("ring:r=-1", "r=-1: the radius must be a number > 0"),
    ("grid:std=nan", "std=nan: the std must be a number > 0"),
    ("ring:spacing=2", "ring has no field 'spacing'; its fields: K, r, std"),
    ("ring:K=3,K=4", "K is given twice"),
])
def test_bad_specs_name_the_problem_and_the_syntax(spec, problem):
  with pytest.raises(synthetic.MixtureSpecError) as info:
    synthetic.get_mixture(spec)
  text = str(info.value)
  assert text.startswith(f"unknown mixture {spec!r} ({problem}); a mixture is ring[:K=<modes>,r=<radius>,std=<std>]")
  assert "e.g. ring:K=12,r=2,std=0.02" in text and "\n" not in text


def test_group_specs_rejoins_a_comma_split_command_line():
  assert synthetic.group_specs(["ring", "grid:K=7", "spacing=1.5", "ring:K=12", "r=2"]) == (
      "ring", "grid:K=7,spacing=1.5", "ring:K=12,r=2")
  assert synthetic.group_specs(("ring:K=12,r=2", "grid")) == ("ring:K=12,r=2", "grid")
  with pytest.raises(synthetic.MixtureSpecError, match=r"'K=3' follows 'ring', which has no ':' \(write ring:K=3\)"):
    synthetic.group_specs(["ring", "K=3"])
