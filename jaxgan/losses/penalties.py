"""Gradient penalties of the discriminator: WGAN-GP, R1, R2, DRAGAN.

All are discriminator-only terms (zero for the generator's loss) computed on the
inputs as D sees them (packed when PacGAN packing is on). Gradients are taken of the
sum of D's logits with respect to its input, which is the per-example input gradient
when D treats examples independently (no batch norm in D, as the papers require).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgan.losses.base import LossContext, LossTransform, per_example, stateless


def _input_grad(ctx: LossContext, x: jax.Array) -> jax.Array:
  """(M, ...) gradient of sum_i D(x_i) with respect to x."""
  return jax.grad(lambda v: jnp.sum(ctx.d_fn(v)))(x)


def _sq_norm(g: jax.Array) -> jax.Array:
  """(M,) squared L2 norm over all non-batch axes."""
  return jnp.sum(jnp.square(g).reshape(g.shape[0], -1), axis=1)


def _check_nonneg(name: str, arg: str, value: float) -> None:
  if not value >= 0.0:
    raise ValueError(f"{name}: {arg} must be >= 0, got {value}")


def gradient_penalty(weight: float = 10.0, *, target: float = 1.0) -> LossTransform:
  """WGAN-GP penalty (Gulrajani et al. 2017, arXiv:1704.00028, Alg. 1).

  weight * mean_i (||grad_x D(x_hat_i)||_2 - target)^2 with x_hat = e x + (1 - e) G(z),
  e ~ U[0, 1] per example.

  Returns:
    A LossTransform; aux "gradient_penalty" (the unweighted mean) and
    "grad_norm_interp" (mean gradient norm at the interpolates).
  """
  _check_nonneg("gradient_penalty", "weight", weight)
  _check_nonneg("gradient_penalty", "target", target)

  def fn(ctx: LossContext):
    m = ctx.real.shape[0]
    eps = per_example(ctx, jax.random.uniform, (m,))
    eps = eps.reshape((m,) + (1,) * (ctx.real.ndim - 1))
    x_hat = eps * ctx.real + (1.0 - eps) * jax.lax.stop_gradient(ctx.fake)
    norm = jnp.sqrt(_sq_norm(_input_grad(ctx, x_hat)) + 1e-12)
    penalty = jnp.mean((norm - target) ** 2)
    return weight * penalty, {"gradient_penalty": penalty, "grad_norm_interp": jnp.mean(norm)}

  return stateless(fn, players=("d",))


def r1(gamma: float = 10.0) -> LossTransform:
  """R1 penalty on real data (Mescheder et al. 2018, arXiv:1801.04406, Eq. 9).

  (gamma / 2) * mean_i ||grad_x D(x_i)||^2 over real x. Note the gamma/2 convention of
  the paper and of StyleGAN2; combine with `every(16, r1(gamma))` for lazy R1.

  Returns:
    A LossTransform; aux "r1" (the unweighted mean squared gradient norm).
  """
  _check_nonneg("r1", "gamma", gamma)

  def fn(ctx: LossContext):
    penalty = jnp.mean(_sq_norm(_input_grad(ctx, ctx.real)))
    return 0.5 * gamma * penalty, {"r1": penalty}

  return stateless(fn, players=("d",))


def r2(gamma: float = 10.0) -> LossTransform:
  """R2 penalty: as `r1` but on generated data (Mescheder et al. 2018). aux "r2"."""
  _check_nonneg("r2", "gamma", gamma)

  def fn(ctx: LossContext):
    penalty = jnp.mean(_sq_norm(_input_grad(ctx, jax.lax.stop_gradient(ctx.fake))))
    return 0.5 * gamma * penalty, {"r2": penalty}

  return stateless(fn, players=("d",))


def dragan(weight: float = 10.0, *, noise_scale: float = 0.5, target: float = 1.0) -> LossTransform:
  """DRAGAN penalty (Kodali et al. 2017, arXiv:1705.07215).

  weight * mean (||grad_x D(x + delta)|| - target)^2 with delta = noise_scale * std(x) * u,
  u ~ U[0, 1] elementwise, std over the batch (the authors' reference choice). aux "dragan".
  """
  _check_nonneg("dragan", "weight", weight)
  _check_nonneg("dragan", "noise_scale", noise_scale)

  def fn(ctx: LossContext):
    u = per_example(ctx, jax.random.uniform, ctx.real.shape)
    std = jnp.std(ctx.real)
    if ctx.axis_name is not None:
      std = jnp.sqrt(jax.lax.pmean(jnp.var(ctx.real) + jnp.mean(ctx.real) ** 2, ctx.axis_name)
                     - jax.lax.pmean(jnp.mean(ctx.real), ctx.axis_name) ** 2)
    x_hat = ctx.real + noise_scale * std * u
    norm = jnp.sqrt(_sq_norm(_input_grad(ctx, x_hat)) + 1e-12)
    penalty = jnp.mean((norm - target) ** 2)
    return weight * penalty, {"dragan": penalty}

  return stateless(fn, players=("d",))
