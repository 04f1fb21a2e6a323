"""Latents, truncation and interpolation; a sampling function for trained generators."""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax
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


def _check_pair(what: str, a: jax.Array, b: jax.Array) -> None:
  if jnp.shape(a) != jnp.shape(b) or jnp.ndim(a) < 1:
    raise ValueError(f"{what}: a and b must have one shape (..., Z), got {jnp.shape(a)} and {jnp.shape(b)}")


def lerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Linear interpolation. a, b: (..., Z) of one shape; t: (T,) -> (T, ..., Z)."""
  _check_pair("lerp", a, b)
  t = jnp.asarray(t, jnp.float32).reshape((-1,) + (1,) * a.ndim)
  return (1.0 - t) * a[None] + t * b[None]


def slerp(a: jax.Array, b: jax.Array, t: jax.Array, eps: float = 1e-7) -> jax.Array:
  """Spherical interpolation along the great circle (White 2016, arXiv:1609.04468).

  a, b: (..., Z) of one shape; t: (T,) -> (T, ..., Z). Norms are interpolated linearly, so for
  unit vectors the path stays on the unit sphere. Falls back to lerp of directions
  where a and b are (anti)parallel within `eps`, and to lerp of the vectors where one of them is 0 (no direction).
  """
  _check_pair("slerp", a, b)
  t = jnp.asarray(t, jnp.float32).reshape((-1,) + (1,) * a.ndim)
  na = jnp.linalg.norm(a, axis=-1, keepdims=True)
  nb = jnp.linalg.norm(b, axis=-1, keepdims=True)
  zero = (na <= eps) | (nb <= eps)
  ua, ub = a / jnp.where(zero, 1.0, na), b / jnp.where(zero, 1.0, nb)
  cos = jnp.clip(jnp.sum(ua * ub, axis=-1, keepdims=True), -1.0, 1.0)
  omega = jnp.arccos(cos)
  so = jnp.sin(omega)
  safe = so > eps
  so_safe = jnp.where(safe, so, 1.0)
  wa = jnp.where(safe, jnp.sin((1.0 - t) * omega) / so_safe, 1.0 - t)
  wb = jnp.where(safe, jnp.sin(t * omega) / so_safe, t)
  direction = wa * ua[None] + wb * ub[None]
  norm = (1.0 - t) * na[None] + t * nb[None]
  return jnp.where(zero[None], (1.0 - t) * a[None] + t * b[None], direction * norm)


def make_sample_fn(generator: Any, *, latent_dim: int, latent_dist: str = "normal",
                   ema: bool = True) -> Callable[..., jax.Array]:
  """`sample(state, key, num, labels=None) -> (num, ...) G outputs` in eval mode.

  Uses G's EMA parameters when `ema` and the state has them. Jit it yourself if you
  call it often (static `num`).
  """
  check_latent_dist(latent_dist)

  def sample(state, key, num: int, labels: jax.Array | None = None) -> jax.Array:
    z = sample_latent(key, (num, latent_dim), latent_dist)
    try:
      return generator.apply(state.g_variables(ema=ema), z, labels, train=False)
    except flax.errors.ScopeParamShapeError as e:
      raise ValueError(f"make_sample_fn: G's parameters do not take latents of size latent_dim={latent_dim} "
                       f"(flax: {e}); pass the latent_dim G was initialized with") from None

  return sample


def standing_stats(generator: Any, variables: dict[str, Any], latents: jax.Array,
                   labels: jax.Array | None = None) -> dict[str, Any]:
  """G's variables with every batch-norm layer's running statistics replaced by standing statistics.

  Standing statistics (Brock et al. 2019, "BigGAN", arXiv:1809.11096) are the mean over several batches of the
  statistics each batch-norm layer computes in train mode, with the whole generator in train mode (so each layer sees
  inputs normalized by batch statistics, as in training). They fit the weights G is sampled with; the running
  statistics kept during training fit the weights of the last few steps, which is off for a weight average (EMA).

  The per-batch statistics are read back from flax's running-average update, `new = m * old + (1 - m) * batch`, run
  from old = 0 and (once, to find each layer's momentum m) from old = 1, so any momentum works. Randomness other
  than the latents (dropout) is not drawn: G must not need a "dropout" rng in train mode.

  Args:
    generator: a flax module called as `generator.apply(variables, z, labels, train=...)`.
    variables: G's variables (e.g. `state.g_variables(ema=True)`), with a "batch_stats" collection.
    latents: (B, N, Z) float: B batches of N latents.
    labels: (B, N) int class labels for a conditional G, or None.
  Returns:
    `variables` with "batch_stats" replaced (the other collections are the same objects).
  Raises:
    ValueError: `variables` has no "batch_stats", `latents` is not (B, N, Z) with B >= 1 and N >= 2, `labels` does
      not match, or a layer's statistics do not move in train mode (momentum 1).
  """
  if not variables.get("batch_stats"):
    raise ValueError("standing_stats: G's variables have no 'batch_stats' collection (G has no batch norm); "
                     "sample it as it is")
  latents = jnp.asarray(latents)
  if latents.ndim != 3 or latents.shape[0] < 1 or latents.shape[1] < 2:
    raise ValueError(f"standing_stats: latents must be (batches, batch_size >= 2, latent_dim), got {latents.shape}")
  if labels is not None and jnp.shape(labels) != latents.shape[:2]:
    raise ValueError(f"standing_stats: labels must be (batches, batch_size) = {latents.shape[:2]}, "
                     f"got {jnp.shape(labels)}")
  stats = _standing_stats(generator, variables, latents, labels)
  moved = jax.tree.leaves(jax.tree.map(lambda m: jnp.all(jnp.abs(1.0 - m) > 1e-6), stats[1]))
  if not all(bool(x) for x in moved):
    raise ValueError("standing_stats: a batch-norm layer of G keeps its running statistics in train mode "
                     "(momentum 1), so its batch statistics cannot be read")
  return {**variables, "batch_stats": stats[0]}


@functools.partial(jax.jit, static_argnums=0)
def _standing_stats(generator: Any, variables: dict[str, Any], latents: jax.Array,
                    labels: jax.Array | None) -> tuple[Any, Any]:
  """(mean of the per-batch statistics, each leaf's momentum) for `standing_stats`."""
  def updated(old, z, y):
    _, upd = generator.apply({**variables, "batch_stats": old}, z, y, train=True, mutable=["batch_stats"])
    return upd["batch_stats"]

  zeros = jax.tree.map(jnp.zeros_like, variables["batch_stats"])
  first = None if labels is None else labels[0]
  # updated(old) = m * old + (1 - m) * b: m from a start value p, (updated(p) - updated(0)) / p. p = 1 would lose
  # m to float32 rounding where b >> 1 (the difference of two numbers of size b); p well above b keeps it exact.
  base = updated(zeros, latents[0], first)
  probe = jax.tree.map(lambda b: 1.0 + 1e4 * jnp.abs(b), base)
  momentum = jax.tree.map(lambda u, b, p: (u - b) / p, updated(probe, latents[0], first), base, probe)

  def add(total, batch):
    z, y = batch
    return jax.tree.map(lambda t, new, m: t + new / (1.0 - m), total, updated(zeros, z, y), momentum), None

  total, _ = jax.lax.scan(add, zeros, (latents, labels))
  return jax.tree.map(lambda t: t / latents.shape[0], total), momentum
