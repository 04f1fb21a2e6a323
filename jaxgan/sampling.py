"""Latents, truncation and interpolation; a sampling function for trained generators."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

LATENT_DISTS = ("normal", "uniform")


def check_latent_dist(dist: str) -> None:
  if dist not in LATENT_DISTS:
    raise ValueError(f"unknown latent distribution {dist!r}; known: {', '.join(LATENT_DISTS)}")


def sample_latent(key: jax.Array, shape: tuple[int, ...], dist: str = "normal") -> jax.Array:
  """Latent vectors: (N, Z) float32 from N(0, I) ("normal") or U[-1, 1] ("uniform")."""
  check_latent_dist(dist)
  if dist == "normal":
    return jax.random.normal(key, shape, jnp.float32)
  return jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0)


def truncated_normal(key: jax.Array, shape: tuple[int, ...], threshold: float) -> jax.Array:
  """N(0, I) latents with every entry resampled into [-threshold, threshold] (BigGAN's trick,
  Brock et al. 2019, arXiv:1809.11096, Sec. 3.1). (N, Z) float32."""
  if not threshold > 0:
    raise ValueError(f"truncated_normal: threshold must be > 0, got {threshold}")
  return jax.random.truncated_normal(key, -threshold, threshold, shape, jnp.float32)


def truncate(z: jax.Array, psi: float, center: jax.Array | float = 0.0) -> jax.Array:
  """Truncation by interpolation toward a center: center + psi (z - center) (StyleGAN's trick
  in W, Karras et al. 2019, arXiv:1812.04948, Sec. 2). psi = 1 leaves z unchanged."""
  if not 0.0 <= psi <= 1.0:
    raise ValueError(f"truncate: psi must be in [0, 1], got {psi}")
  return center + psi * (z - center)


def lerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Linear interpolation. a, b: (..., Z); t: (T,) -> (T, ..., Z)."""
  t = jnp.asarray(t, jnp.float32).reshape((-1,) + (1,) * a.ndim)
  return (1.0 - t) * a[None] + t * b[None]


def slerp(a: jax.Array, b: jax.Array, t: jax.Array, eps: float = 1e-7) -> jax.Array:
  """Spherical interpolation along the great circle (White 2016, arXiv:1609.04468).

  a, b: (..., Z); t: (T,) -> (T, ..., Z). Norms are interpolated linearly, so for
  unit vectors the path stays on the unit sphere. Falls back to lerp of directions
  where a and b are (anti)parallel within `eps`.
  """
  t = jnp.asarray(t, jnp.float32).reshape((-1,) + (1,) * a.ndim)
  na = jnp.linalg.norm(a, axis=-1, keepdims=True)
  nb = jnp.linalg.norm(b, axis=-1, keepdims=True)
  ua, ub = a / na, b / nb
  cos = jnp.clip(jnp.sum(ua * ub, axis=-1, keepdims=True), -1.0, 1.0)
  omega = jnp.arccos(cos)
  so = jnp.sin(omega)
  safe = so > eps
  so_safe = jnp.where(safe, so, 1.0)
  wa = jnp.where(safe, jnp.sin((1.0 - t) * omega) / so_safe, 1.0 - t)
  wb = jnp.where(safe, jnp.sin(t * omega) / so_safe, t)
  direction = wa * ua[None] + wb * ub[None]
  norm = (1.0 - t) * na[None] + t * nb[None]
  return direction * norm


def make_sample_fn(generator: Any, *, latent_dim: int, latent_dist: str = "normal",
                   ema: bool = True) -> Callable[..., jax.Array]:
  """`sample(state, key, num, labels=None) -> (num, ...) G outputs` in eval mode.

  Uses G's EMA parameters when `ema` and the state has them. Jit it yourself if you
  call it often (static `num`).
  """
  check_latent_dist(latent_dist)

  def sample(state, key, num: int, labels: jax.Array | None = None) -> jax.Array:
    z = sample_latent(key, (num, latent_dim), latent_dist)
    return generator.apply(state.g_variables(ema=ema), z, labels, train=False)

  return sample
