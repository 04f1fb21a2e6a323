"""2D Gaussian mixtures for mode-collapse studies, and their metrics.

The two standard mixtures (used by VEEGAN, Srivastava et al. 2017, arXiv:1705.07761, and
PacGAN, Lin et al. 2018, arXiv:1712.04086):
  ring: 8 modes on the unit circle, std 0.01;
  grid: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05.

Any other ring or grid is named by a spec string (`get_mixture`, `MIXTURE_SYNTAX`):

  ring:K=12,r=2,std=0.02       12 modes on the circle of radius 2, std 0.02
  grid:K=7,spacing=1.5         7 x 7 modes 1.5 apart (centred on 0), std 0.05 (the grid's)
  ring:std=0.05                the PacGAN ring, wider modes

A field left out keeps the PacGAN mixture's value, so `ring` and `grid` are the PacGAN mixtures
and `ring:K=8` is `ring`. A mixture's `name` is its canonical spec: the family and the fields
that differ from PacGAN's, in the order above (`ring:K=12,r=2,std=0.02`); `dirname` turns it
into a folder name (`ring_K12_r2_std0.02`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Mixture:
  """An equal-weight isotropic Gaussian mixture. name: its canonical spec ("ring", "ring:K=12,r=2"); means: (K, 2);
  std: per-coordinate std."""

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
  """`num_modes` modes evenly spaced on a circle of `radius` (the first at angle 0), std `std`."""
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
  return Mixture(_canonical("ring", {"K": num_modes, "r": radius, "std": std}), means.astype(np.float64), std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
  """`side` x `side` modes `spacing` apart, centred on the origin, std `std`."""
  coords = spacing * (np.arange(side) - (side - 1) / 2)
  xx, yy = np.meshgrid(coords, coords, indexing="ij")
  means = np.stack([xx.ravel(), yy.ravel()], axis=1)
  return Mixture(_canonical("grid", {"K": side, "spacing": spacing, "std": std}), means.astype(np.float64), std)


MIXTURES = {"ring": ring, "grid": grid}
# Per family: spec field -> (factory argument, type, PacGAN's value, what it is).
_FIELDS = {
    "ring": {"K": ("num_modes", int, 8, "number of modes"), "r": ("radius", float, 1.0, "radius"),
             "std": ("std", float, 0.01, "std")},
    "grid": {"K": ("side", int, 5, "number of modes per side"), "spacing": ("spacing", float, 2.0, "spacing"),
             "std": ("std", float, 0.05, "std")},
}
MIXTURE_SYNTAX = ("ring[:K=<modes>,r=<radius>,std=<std>] (PacGAN's ring: K=8,r=1,std=0.01) or "
                  "grid[:K=<modes per side>,spacing=<spacing>,std=<std>] (PacGAN's grid: K=5,spacing=2,std=0.05), "
                  "fields in any order, each optional, e.g. ring:K=12,r=2,std=0.02 or grid:K=7,spacing=1.5")


def _number(x: float) -> str:
  return f"{x:g}"


def _canonical(family: str, values: dict[str, Any]) -> str:
  fields = [f"{k}={_number(values[k])}" for k, (_, _, default, _) in _FIELDS[family].items() if values[k] != default]
  return family + (":" + ",".join(fields) if fields else "")


class MixtureSpecError(ValueError):
  """A mixture spec that does not parse; the message gives the syntax."""


def parse_mixture(spec: str) -> tuple[str, dict[str, Any]]:
  """Parses a mixture spec.

  Args:
    spec: `family[:field=value,...]`, see MIXTURE_SYNTAX.
  Returns:
    (family, factory keyword arguments), e.g. ("ring", {"num_modes": 12, "radius": 2.0}).
  Raises:
    MixtureSpecError: one line naming the spec, what is wrong with it and the syntax.
  """
  def fail(problem: str) -> MixtureSpecError:
    return MixtureSpecError(f"unknown mixture {spec!r} ({problem}); a mixture is {MIXTURE_SYNTAX}")

  text = str(spec).strip()
  family, _, body = text.partition(":")
  family = family.strip()
  if family not in MIXTURES:
    raise fail(f"the family must be one of {', '.join(sorted(MIXTURES))}")
  fields, kwargs = _FIELDS[family], {}
  if ":" in text and not body.strip():
    raise fail("nothing after ':'")
  for item in (body.split(",") if body.strip() else []):
    key, eq, value = (t.strip() for t in item.partition("="))
    if not eq or not key or not value:
      raise fail(f"{item.strip()!r} is not field=value")
    if key not in fields:
      raise fail(f"{family} has no field {key!r}; its fields: {', '.join(fields)}")
    arg, kind, _, what = fields[key]
    if arg in kwargs:
      raise fail(f"{key} is given twice")
    try:
      number = kind(value)
    except ValueError:
      raise fail(f"{key}={value}: the {what} must be {'an integer' if kind is int else 'a number'}") from None
    if not (np.isfinite(number) and number >= 1 if kind is int else np.isfinite(number) and number > 0):
      raise fail(f"{key}={value}: the {what} must be {'an integer >= 1' if kind is int else 'a number > 0'}")
    kwargs[arg] = number
  return family, kwargs


def get_mixture(spec: str) -> Mixture:
  """The mixture of a spec: `ring`, `grid` (PacGAN's) or e.g. `ring:K=12,r=2,std=0.02` (see MIXTURE_SYNTAX).

  Raises:
    MixtureSpecError (a ValueError): the spec does not parse.
  """
  family, kwargs = parse_mixture(spec)
  return MIXTURES[family](**kwargs)


def canonical_name(spec: str) -> str:
  """The canonical spec of a mixture: `ring:r=1,K=12` -> `ring:K=12`, `ring:K=8` -> `ring`."""
  return get_mixture(spec).name


def dirname(spec: str) -> str:
  """A folder name for a mixture: `ring` -> `ring`, `ring:K=12,r=2,std=0.02` -> `ring_K12_r2_std0.02`."""
  return canonical_name(spec).replace(":", "_").replace(",", "_").replace("=", "")


def group_specs(items: Sequence[str]) -> tuple[str, ...]:
  """Mixture specs from a command line's comma-split list: an item `field=value` belongs to the spec before it.

  `--mixtures=ring,grid:K=7,spacing=1.5` reaches a config as ("ring", "grid:K=7", "spacing=1.5"); this gives
  ("ring", "grid:K=7,spacing=1.5"). Items that already hold whole specs pass through, split and regrouped.

  Raises:
    MixtureSpecError: a `field=value` item with no spec before it.
  """
  specs: list[str] = []
  for item in (t.strip() for entry in items for t in str(entry).split(",")):
    if not item:
      continue
    if "=" in item and ":" not in item:
      if not specs or ":" not in specs[-1]:
        where = f"follows {specs[-1]!r}, which has no ':' (write {specs[-1]}:{item})" if specs else "has no mixture"
        raise MixtureSpecError(f"mixture field {item!r} {where}; a mixture is {MIXTURE_SYNTAX}")
      specs[-1] += ("" if specs[-1].endswith(":") else ",") + item
    else:
      specs.append(item)
  return tuple(specs)


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
