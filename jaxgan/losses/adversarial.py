"""Adversarial losses: minimax, non-saturating, least squares, Wasserstein, hinge.

Each factory returns one LossTransform for both players. Losses are means over the
batch. Logit-based losses use `softplus` for numerical stability:
-log sigmoid(l) = softplus(-l) and -log(1 - sigmoid(l)) = softplus(l).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgan.losses.base import LossContext, LossTransform, per_example, stateless


def _check_logits(ctx: LossContext) -> None:
  for name in ("d_real", "d_fake"):
    x = getattr(ctx, name)
    if x.ndim != 1:
      raise ValueError(f"{name} must be (M,) logits, got shape {x.shape}; "
                       "the discriminator must return one logit per example")


def _bce(logits: jax.Array, target: jax.Array | float) -> jax.Array:
  """Binary cross-entropy with logits, per element: -t log s(l) - (1-t) log(1-s(l))."""
  return target * jax.nn.softplus(-logits) + (1.0 - target) * jax.nn.softplus(logits)


def _check_label_options(name: str, real_label: float, flip_prob: float) -> None:
  if not 0.5 < real_label <= 1.0:
    raise ValueError(f"{name}: real_label must be in (0.5, 1], got {real_label}")
  if not 0.0 <= flip_prob < 0.5:
    raise ValueError(f"{name}: flip_prob must be in [0, 0.5), got {flip_prob}")


def _d_targets(ctx: LossContext, real_label: float, flip_prob: float):
  """Targets of the discriminator's cross-entropy: one-sided smoothing, then noisy labels."""
  m = ctx.d_real.shape[0]
  t_real = jnp.full((m,), real_label, jnp.float32)
  t_fake = jnp.zeros((m,), jnp.float32)
  if flip_prob > 0.0:
    # One (real, fake) pair of draws per example, along the batch axis: under pmap each device then holds the rows
    # of its own examples, so the flips are those of the single-device step.
    flip = per_example(ctx, jax.random.uniform, (m, 2)) < flip_prob
    t_real = jnp.where(flip[:, 0], 1.0 - t_real, t_real)
    t_fake = jnp.where(flip[:, 1], 1.0 - t_fake, t_fake)
  return t_real, t_fake


def _cross_entropy_gan(name: str, g_loss_fn, real_label: float, flip_prob: float) -> LossTransform:
  _check_label_options(name, real_label, flip_prob)

  def fn(ctx: LossContext):
    _check_logits(ctx)
    if ctx.player == "d":
      t_real, t_fake = _d_targets(ctx, real_label, flip_prob)
      loss = jnp.mean(_bce(ctx.d_real, t_real)) + jnp.mean(_bce(ctx.d_fake, t_fake))
    else:
      loss = jnp.mean(g_loss_fn(ctx.d_fake))
    return loss, {name: loss}

  return stateless(fn)


def minimax(*, real_label: float = 1.0, flip_prob: float = 0.0) -> LossTransform:
  """The original GAN game (Goodfellow et al. 2014, arXiv:1406.2661, Eq. 1), saturating G loss.

  D: -mean log s(D(x)) - mean log(1 - s(D(G(z)))).  G: mean log(1 - s(D(G(z)))).

  Args:
    real_label: target of real samples for D; < 1 is one-sided label smoothing
      (Salimans et al. 2016, arXiv:1606.03498, Sec. 3.4), e.g. 0.9.
    flip_prob: probability of flipping each D target (noisy labels), in [0, 0.5).
  Returns:
    A LossTransform; aux "minimax", () float32.
  """
  return _cross_entropy_gan("minimax", lambda f: -jax.nn.softplus(f), real_label, flip_prob)


def non_saturating(*, real_label: float = 1.0, flip_prob: float = 0.0) -> LossTransform:
  """Non-saturating GAN (Goodfellow et al. 2014, Sec. 3): G minimizes -mean log s(D(G(z))).

  D's loss is the minimax one. Options as in `minimax`. aux: "non_saturating".
  """
  return _cross_entropy_gan("non_saturating", lambda f: jax.nn.softplus(-f), real_label,
                            flip_prob)


def least_squares(*, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> LossTransform:
  """LSGAN (Mao et al. 2017, arXiv:1611.04076, Eq. 2) on raw D outputs.

  D: 0.5 mean (D(x) - b)^2 + 0.5 mean (D(G(z)) - a)^2.  G: 0.5 mean (D(G(z)) - c)^2.
  a, b: fake and real targets of D; c: the value G wants D to believe. The paper's
  two choices are (a, b, c) = (0, 1, 1) (the default) and (-1, 1, 0).

  Returns:
    A LossTransform; aux "least_squares".
  """
  if b == a:
    raise ValueError(f"least_squares: a and b must differ, got a=b={a}")

  def fn(ctx: LossContext):
    _check_logits(ctx)
    if ctx.player == "d":
      loss = 0.5 * jnp.mean((ctx.d_real - b) ** 2) + 0.5 * jnp.mean((ctx.d_fake - a) ** 2)
    else:
      loss = 0.5 * jnp.mean((ctx.d_fake - c) ** 2)
    return loss, {"least_squares": loss}

  return stateless(fn)


def wasserstein() -> LossTransform:
  """WGAN critic loss (Arjovsky et al. 2017, arXiv:1701.07875, Alg. 1).

  D (critic): mean D(G(z)) - mean D(x).  G: -mean D(G(z)). Needs a Lipschitz
  constraint: weight clipping (`jaxgan.train.clip_params`), `gradient_penalty`, or
  spectral norm. aux: "wasserstein" (the critic loss for D, i.e. minus the estimate
  of the Wasserstein distance).
  """

  def fn(ctx: LossContext):
    _check_logits(ctx)
    if ctx.player == "d":
      loss = jnp.mean(ctx.d_fake) - jnp.mean(ctx.d_real)
    else:
      loss = -jnp.mean(ctx.d_fake)
    return loss, {"wasserstein": loss}

  return stateless(fn)


def hinge() -> LossTransform:
  """Hinge loss (Lim & Ye 2017, arXiv:1705.02894; Miyato et al. 2018, arXiv:1802.05957, Eq. 16/17).

  D: mean relu(1 - D(x)) + mean relu(1 + D(G(z))).  G: -mean D(G(z)). aux: "hinge".
  """

  def fn(ctx: LossContext):
    _check_logits(ctx)
    if ctx.player == "d":
      loss = jnp.mean(jax.nn.relu(1.0 - ctx.d_real)) + jnp.mean(jax.nn.relu(1.0 + ctx.d_fake))
    else:
      loss = -jnp.mean(ctx.d_fake)
    return loss, {"hinge": loss}

  return stateless(fn)
