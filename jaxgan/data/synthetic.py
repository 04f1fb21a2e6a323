"""2D Gaussian mixtures for mode-collapse studies, and their metrics.

The two standard mixtures (used by VEEGAN, Srivastava et al. 2017, arXiv:1705.07761, and
PacGAN, Lin et al. 2018, arXiv:1712.04086):
  ring: 8 modes on the unit circle, std 0.01;
  grid: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Mixture:
  """An equal-weight isotropic Gaussian mixture. means: (K, 2); std: per-coordinate std."""

  name: str
  means: np.ndarray
  std: float

  @property
  def num_modes(self) -> int:
    return self.means.shape[0]

  def sample(self, rng: np.random.Generator, num: int) -> np.ndarray:
    """(num, 2) float32 samples."""
    idx = rng.integers(0, self.num_modes, size=num)
    return (self.means[idx] + self.std * rng.standard_normal((num, 2))).astype(np.float32)


def ring(num_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> Mixture:
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
  return Mixture("ring", means.astype(np.float64), std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
  coords = spacing * (np.arange(side) - (side - 1) / 2)
  xx, yy = np.meshgrid(coords, coords, indexing="ij")
  means = np.stack([xx.ravel(), yy.ravel()], axis=1)
  return Mixture("grid", means.astype(np.float64), std)


MIXTURES = {"ring": ring, "grid": grid}


def get_mixture(name: str) -> Mixture:
  if name not in MIXTURES:
    raise ValueError(f"unknown mixture {name!r}; known: {', '.join(sorted(MIXTURES))}")
  return MIXTURES[name]()


def mode_metrics(samples: np.ndarray, mixture: Mixture, *, num_std: float = 3.0,
                 min_count: int = 1, strict_fraction: float = 0.2) -> dict[str, Any]:
  """Mode coverage metrics of PacGAN's Table 1 on generated 2D samples.

  Each sample is assigned to its nearest mode. A sample is *high quality* when it lies
  within `num_std` standard deviations (Euclidean distance <= num_std * std) of its
  nearest mode. A mode is *covered* when it receives at least `min_count` high-quality
  samples: 1 by default, the rule of the code released with PacGAN (fjxmlzn/PacGAN,
  `MetricLogger`: modes with a nonzero count of samples within 3 std), so that `modes` is
  comparable with its Table 1. `modes_strict` applies our stricter rule: at least
  `strict_fraction` of a mode's share under perfect coverage (0.2 * N / K: 20 of 2,500
  samples on the grid). Reverse KL is KL(p_gen || p_true) between the histogram of
  nearest-mode assignments of all samples and the uniform distribution over modes (empty
  bins add 0).

  Args:
    samples: (N, 2) generated points (PacGAN uses N = 2500).
    mixture: the target mixture.
    num_std: radius of the high-quality ball in standard deviations.
    min_count: high-quality samples a mode needs to count in `modes`.
    strict_fraction: the fraction of N / K a mode needs to count in `modes_strict`.
  Returns:
    {"modes": int, "modes_strict": int, "high_quality": float in [0, 1],
     "reverse_kl": float, "counts": (K,) high-quality samples per mode}.
  """
  samples = np.asarray(samples, np.float64)
  if samples.ndim != 2 or samples.shape[1] != 2:
    raise ValueError(f"mode_metrics expects (N, 2) samples, got {samples.shape}")
  if not np.all(np.isfinite(samples)):
    raise ValueError("mode_metrics: samples contain NaN/inf")
  n, k = samples.shape[0], mixture.num_modes
  strict_count = max(1, int(round(strict_fraction * n / k)))
  d2 = np.sum((samples[:, None, :] - mixture.means[None]) ** 2, axis=-1)
  nearest = np.argmin(d2, axis=1)
  dist = np.sqrt(d2[np.arange(n), nearest])
  good = dist <= num_std * mixture.std
  counts = np.bincount(nearest[good], minlength=k)
  p = np.bincount(nearest, minlength=k) / n
  nz = p > 0
  reverse_kl = float(np.sum(p[nz] * np.log(p[nz] * k)))
  return {"modes": int(np.sum(counts >= min_count)),
          "modes_strict": int(np.sum(counts >= strict_count)),
          "high_quality": float(np.mean(good)), "reverse_kl": reverse_kl,
          "counts": counts.tolist()}
