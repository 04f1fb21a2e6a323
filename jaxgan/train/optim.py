"""Optax transforms on parameters: WGAN weight clipping."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def clip_params(limit: float) -> optax.GradientTransformation:
  """Keeps every parameter in [-limit, limit] after the update (Arjovsky et al. 2017, Alg. 1).

  Put it last in the chain: `optax.chain(optax.rmsprop(5e-5), clip_params(0.01))`.
  It rewrites the updates u so that params + u = clip(params + u, -limit, limit),
  which is WGAN's weight clipping expressed as a gradient transformation. Up to rounding: optax adds
  u = clip(p + u) - p back to p in float32, so a clipped weight can land a rounding step of |u| past the
  limit (about 1e-9 for limit 0.01 and weights of order 0.1), which does not matter to WGAN.

  Args:
    limit: clipping bound c > 0 (the paper uses 0.01).
  """
  if not limit > 0:
    raise ValueError(f"clip_params: limit must be > 0, got {limit}")

  def init(params):
    del params
    return optax.EmptyState()

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("clip_params needs params: call tx.update(grads, state, params)")
    new = jax.tree.map(lambda p, u: jnp.clip(p + u, -limit, limit) - p, params, updates)
    return new, state

  return optax.GradientTransformation(init, update)
