"""Pictures: sample grids, 2D scatter plots and loss curves, written as PNG."""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray) -> np.ndarray:
  """(N, H, W, C) float in [-1, 1] -> uint8, as the metrics quantize (x * 127.5 + 128, clipped)."""
  return np.clip(np.asarray(images, np.float32) * 127.5 + 128.0, 0, 255).astype(np.uint8)


def image_grid(images: np.ndarray, ncols: int | None = None, pad: int = 1) -> np.ndarray:
  """Tiles (N, H, W, C) images (float in [-1, 1] or uint8) into one (H', W', C) uint8 array."""
  images = np.asarray(images)
  if images.ndim != 4:
    raise ValueError(f"image_grid expects (N, H, W, C) images, got shape {images.shape}")
  if images.dtype != np.uint8:
    images = to_uint8(images)
  n, h, w, c = images.shape
  ncols = ncols or int(math.ceil(math.sqrt(n)))
  nrows = int(math.ceil(n / ncols))
  out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), 255, np.uint8)
  for i in range(n):
    r, q = divmod(i, ncols)
    out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = images[i]
  return out


def save_image_grid(images: np.ndarray, path: str | os.PathLike, ncols: int | None = None) -> None:
  """Writes a grid of (N, H, W, C) images as a PNG file."""
  grid = image_grid(images, ncols)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def save_scatter(points: np.ndarray, path: str | os.PathLike, *, modes: np.ndarray | None = None,
                 title: str = "", limit: float | None = None) -> None:
  """Scatter plot of (N, 2) points, with the true modes as red crosses when given."""
  points = np.asarray(points)
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
  ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, color="tab:blue")
  if modes is not None:
    ax.scatter(modes[:, 0], modes[:, 1], s=30, marker="x", color="tab:red")
  if limit is not None:
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
  ax.set_aspect("equal")
  ax.set_title(title, fontsize=9)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path)
  plt.close(fig)


def save_curves(records: Sequence[dict[str, Any]], keys: Sequence[str], path: str | os.PathLike,
                title: str = "") -> None:
  """Plots metrics of `records` (dicts with "step") against step; per-seed lists are averaged."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
  steps = [r["step"] for r in records]
  for k in keys:
    if records and k in records[0]:
      ax.plot(steps, [float(np.mean(r[k])) for r in records], label=k)
  ax.set_xlabel("step")
  ax.legend(fontsize=8)
  ax.set_title(title, fontsize=9)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path)
  plt.close(fig)
