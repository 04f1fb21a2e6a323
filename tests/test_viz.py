"""Sample grids and plots."""

import numpy as np
import pytest

from _run_files import read_image
from jaxgan import viz


def test_image_grid_layout_and_quantization():
  imgs = np.stack([np.full((2, 3, 1), v, np.float32) for v in (-1.0, 0.0, 1.0)])
  grid = viz.image_grid(imgs, ncols=2, pad=1)
  assert grid.shape == (2 * 3 + 1, 2 * 4 + 1, 1) and grid.dtype == np.uint8
  assert grid[1, 1, 0] == 0 and grid[1, 5, 0] == 128 and grid[4, 1, 0] == 255
  assert grid[0, 0, 0] == 255 and grid[4, 5, 0] == 255  # padding and the empty cell are white
  with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
    viz.image_grid(np.zeros((3, 4, 4)))


def test_png_writers(tmp_path):
  viz.save_image_grid(np.zeros((4, 8, 8, 3), np.float32), tmp_path / "g.png")
  assert read_image(tmp_path / "g.png").size == (19, 19)
  viz.save_scatter(np.random.default_rng(0).normal(size=(50, 2)), tmp_path / "s.png",
                   modes=np.zeros((1, 2)), limit=3)
  viz.save_curves([{"step": 1, "d_loss": [1.0, 2.0]}, {"step": 2, "d_loss": [0.5, 0.5]}],
                  ["d_loss"], tmp_path / "c.png")
  assert read_image(tmp_path / "s.png").format == "PNG" and (tmp_path / "c.png").exists()


def test_curves_average_the_seeds_of_each_record(monkeypatch, tmp_path):
  plt = viz._pyplot()  # pylint: disable=protected-access
  axes = []
  real_subplots = plt.subplots

  def recording_subplots(*args, **kwargs):
    fig, ax = real_subplots(*args, **kwargs)
    axes.append(ax)
    return fig, ax

  monkeypatch.setattr(plt, "subplots", recording_subplots)
  viz.save_curves([{"step": 1, "d_loss": [1.0, 2.0], "g_loss": 3.0}, {"step": 2, "d_loss": [0.5, 0.5], "g_loss": 1.0}],
                  ["d_loss", "g_loss", "absent"], tmp_path / "c.png")
  lines = {line.get_label(): line for line in axes[-1].lines}
  assert sorted(lines) == ["d_loss", "g_loss"]  # a key the records lack is skipped
  np.testing.assert_array_equal(lines["d_loss"].get_xdata(), [1, 2])
  np.testing.assert_array_equal(lines["d_loss"].get_ydata(), [1.5, 0.5])  # the mean over seeds
  np.testing.assert_array_equal(lines["g_loss"].get_ydata(), [3.0, 1.0])
