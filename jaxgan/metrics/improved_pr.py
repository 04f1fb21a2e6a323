"""Improved precision and recall (Kynkäänniemi et al. 2019, arXiv:1904.06991).

Each feature set is a union of hyperspheres: around every sample, the ball whose radius is the distance to its k-th
nearest neighbour in the same set (the sample itself excluded; k=3 as in the paper). Precision is the fraction of
fake samples inside some real ball; recall is the fraction of real samples inside some fake ball. A point on a
sphere's boundary counts as inside (d <= r).

The paper uses VGG-16 features; jaxgan computes it on the same Inception pool3 features as FID (as the issue asks),
so values are not comparable with the paper's tables. Distances come from |a|^2 + |b|^2 - 2 a.b in float32 at
"highest" precision, in row blocks so the N x N matrix is never held at once.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _sq_dists(a: jax.Array, b: jax.Array) -> jax.Array:
  ab = jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)
  return jnp.maximum(jnp.sum(a * a, 1)[:, None] + jnp.sum(b * b, 1)[None, :] - 2.0 * ab, 0.0)


@functools.partial(jax.jit, static_argnames=("k",))
def _kth_radius_block(block: jax.Array, points: jax.Array, k: int) -> jax.Array:
  # the k+1 smallest distances include the point itself (distance 0)
  neg, _ = jax.lax.top_k(-_sq_dists(block, points), k + 1)
  return -neg[:, k]


@jax.jit
def _covered_block(block: jax.Array, points: jax.Array, radii: jax.Array) -> jax.Array:
  return jnp.any(_sq_dists(block, points) <= radii[None, :], axis=1)


def _blocks(x: np.ndarray, size: int):
  for i in range(0, x.shape[0], size):
    yield jnp.asarray(x[i:i + size])


def knn_radii(features: np.ndarray, k: int = 3, *, block_size: int = 1024) -> np.ndarray:
  """Squared distance of each row to its k-th nearest other row. (N, D) -> (N,) float32."""
  pts = jnp.asarray(features, jnp.float32)
  return np.concatenate([np.asarray(_kth_radius_block(b, pts, k)) for b in _blocks(features, block_size)])


def _coverage(queries: np.ndarray, points: np.ndarray, sq_radii: np.ndarray, block_size: int) -> float:
  pts, r = jnp.asarray(points, jnp.float32), jnp.asarray(sq_radii)
  inside = np.concatenate([np.asarray(_covered_block(b, pts, r)) for b in _blocks(queries, block_size)])
  return float(np.mean(inside))


def precision_recall(real_features: np.ndarray, fake_features: np.ndarray, *, k: int = 3,
                     block_size: int = 1024) -> tuple[float, float]:
  """Improved precision and recall of fake samples against real ones.

  Args:
    real_features: (N_r, D) float.
    fake_features: (N_f, D) float.
    k: neighbourhood size (3 in the paper); each set needs more than k samples.
    block_size: rows per distance block (memory: block_size x N floats).
  Returns:
    (precision, recall), each in [0, 1].
  Raises:
    ValueError: shapes, non-finite features, too few samples.
  """
  real, fake = np.asarray(real_features, np.float32), np.asarray(fake_features, np.float32)
  if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
    raise ValueError(f"precision_recall: features must be (N, D) with the same D, got {real.shape} and {fake.shape}")
  if not (np.all(np.isfinite(real)) and np.all(np.isfinite(fake))):
    raise ValueError("precision_recall: features contain NaN or inf")
  if k < 1 or min(real.shape[0], fake.shape[0]) <= k:
    raise ValueError(f"precision_recall: need k >= 1 and more than k samples per set, got k={k}, "
                     f"{real.shape[0]} real, {fake.shape[0]} fake")
  precision = _coverage(fake, real, knn_radii(real, k, block_size=block_size), block_size)
  recall = _coverage(real, fake, knn_radii(fake, k, block_size=block_size), block_size)
  return precision, recall
