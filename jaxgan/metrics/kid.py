"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs", arXiv:1801.01401).

The unbiased estimator of MMD^2 with the cubic polynomial kernel k(x, y) = (x . y / d + 1)^3, averaged over
`num_subsets` random subsets of `subset_size` real and `subset_size` fake features drawn without replacement
(default 100 subsets of 1000, as in the paper's code and StyleGAN2-ADA's `kid50k_full`). For one subset of size m:

  MMD^2_u = [sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)] / (m (m - 1)) - 2 sum_{i, j} k(x_i, y_j) / m^2

Kernels are computed on device in float32 at "highest" precision, the sums in float32 per subset; when there are
fewer samples than `subset_size`, m = min(N_real, N_fake) (as StyleGAN2-ADA does). Reported values are often
multiplied by 1000 in papers; this function returns the raw MMD^2.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _mmd2_unbiased(x: jax.Array, y: jax.Array) -> jax.Array:
  m, d = x.shape
  hp = jax.lax.Precision.HIGHEST
  k = lambda a, b: (jnp.matmul(a, b.T, precision=hp) / d + 1.0) ** 3
  kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
  off = lambda kk: jnp.sum(kk) - jnp.sum(jnp.diagonal(kk))
  return (off(kxx) + off(kyy)) / (m * (m - 1)) - 2.0 * jnp.sum(kxy) / (m * m)


@functools.partial(jax.jit, static_argnames=("num_subsets", "subset_size"))
def _kid_subsets(real: jax.Array, fake: jax.Array, key: jax.Array, num_subsets: int, subset_size: int) -> jax.Array:
  def one(k):
    kr, kf = jax.random.split(k)
    ir = jax.random.permutation(kr, real.shape[0])[:subset_size]
    jf = jax.random.permutation(kf, fake.shape[0])[:subset_size]
    return _mmd2_unbiased(real[ir], fake[jf])
  return jax.lax.map(one, jax.random.split(key, num_subsets))


def kernel_inception_distance(real_features: np.ndarray, fake_features: np.ndarray, *, num_subsets: int = 100,
                              subset_size: int = 1000, key: jax.Array | None = None) -> tuple[float, float]:
  """KID between two feature sets.

  Args:
    real_features: (N_r, D) float.
    fake_features: (N_f, D) float.
    num_subsets: number of random subsets.
    subset_size: samples per subset and side, reduced to min(N_r, N_f) when larger.
    key: PRNG key for the subsets (default `jax.random.key(0)`, so results are reproducible).
  Returns:
    (mean, std) of MMD^2_u over subsets, Python floats.
  Raises:
    ValueError: shapes differ, fewer than 2 samples, non-finite features, bad counts.
  """
  real, fake = np.asarray(real_features, np.float32), np.asarray(fake_features, np.float32)
  if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
    raise ValueError(f"kernel_inception_distance: features must be (N, D) with the same D, got {real.shape} and "
                     f"{fake.shape}")
  if not (np.all(np.isfinite(real)) and np.all(np.isfinite(fake))):
    raise ValueError("kernel_inception_distance: features contain NaN or inf")
  if num_subsets < 1 or subset_size < 2:
    raise ValueError(f"kernel_inception_distance: need num_subsets >= 1 and subset_size >= 2, got {num_subsets}, "
                     f"{subset_size}")
  m = min(subset_size, real.shape[0], fake.shape[0])
  if m < 2:
    raise ValueError(f"kernel_inception_distance: need at least 2 samples on each side, got {real.shape[0]} and "
                     f"{fake.shape[0]}")
  key = jax.random.key(0) if key is None else key
  values = np.asarray(_kid_subsets(jnp.asarray(real), jnp.asarray(fake), key, num_subsets, m), np.float64)
  return float(values.mean()), float(values.std())
