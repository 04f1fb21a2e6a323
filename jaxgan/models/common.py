"""Pieces the translation models share: a dropout key for a network, patch logits, the learning-rate schedule of
pix2pix/CycleGAN, and the image history pool as a loss term.

* `KeyedNet` wraps a flax module that draws dropout (the U-Net) so that the forward passes its key as an argument:
  `nets("G", x, key)`. The general step's `Nets` applies a net without `rngs=` (see the note below).
* `patch_logits` flattens a PatchGAN's `(N, h, w)` map into the `(N * h * w,)` logits the adversarial terms take, so
  their means are the reference's means over every patch.
* `constant_then_linear` is the reference's `--lr_policy linear`: the rate held for the first steps, then
  decayed linearly to 0 (`optax.join_schedules`).
* `pooled_adversarial` keeps CycleGAN's image pool in its loss state. The generator player ("g") pushes its fakes
  through the pool and stores what D will see; the discriminator player ("d") applies D to those through
  `ctx.nets` and scores them. The two players share one loss state (`Player.loss_name`), so D is trained on the
  fakes G made before its update, as the reference's `optimize_parameters` does (G step, then D step on the same
  `fake_B` through the pool), and the D player's forward needs no generator at all.

Note on `KeyedNet`: flax's `Dropout` draws from the "dropout" rng collection, which `jaxgan.train.general`'s `Nets`
does not supply (it calls `module.apply` without `rngs=`). The wrapper installs the given key as that collection on
the wrapped module's scope (a flax internal, `Scope.rngs`), which keeps every draw a function of the step's keys.
When `Nets.__call__` takes `rngs=`, this wrapper can go.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.core import scope as flax_scope

from jaxgan.losses.base import LossContext, LossTransform
from jaxgan.losses.reconstruction import ImagePoolState, image_pool


class KeyedNet(nn.Module):
  """`net` with its dropout key as an argument: `KeyedNet(net)(x, key, train=True)`.

  Attributes:
    net: a module called `net(x, train=...)` that may draw from the "dropout" rng collection.
  Call args:
    x: the net's input.
    key: a PRNG key for the dropout masks, or None (then `train=True` needs no dropout in `net`, or an rngs=
      "dropout" given to `apply`).
    train: passed to `net`.
  """
  net: nn.Module

  @nn.compact
  def __call__(self, x: jax.Array, key: jax.Array | None = None, *, train: bool = True) -> jax.Array:
    if train and key is not None:
      scope = self.net.scope  # binds the child; its sub-modules (Dropout_0 ...) derive their rngs from it
      scope.rngs["dropout"] = flax_scope.LazyRng.create(key)
      scope.rng_counters["dropout"] = 0
    return self.net(x, train=train)


def patch_logits(logits: jax.Array) -> jax.Array:
  """`(N, h, w)` patch logits (or `(N,)`) -> `(N * h * w,)` float32: one logit per patch, for the adversarial terms
  (their means are then the means over every patch of every image, as the reference's `GANLoss`)."""
  return logits.reshape(-1).astype(jnp.float32)


def constant_then_linear(lr: float, num_steps: int, decay_steps: int) -> optax.Schedule | float:
  """The reference's linear policy in updates: `lr` for `num_steps - decay_steps` updates, then linearly to 0 at
  update `num_steps` (the reference steps per epoch, `1 - max(0, epoch + 1 - n_epochs) / (n_epochs_decay + 1)`;
  per update it is the same line without the stairs).

  Args:
    lr: the initial rate, > 0.
    num_steps: the run's length in updates, >= 1.
    decay_steps: updates over which the rate decays to 0, in [0, num_steps]; 0 is a constant rate.
  Returns:
    An optax schedule (a float when decay_steps is 0).
  Raises:
    ValueError: naming the argument out of range.
  """
  if not lr > 0:
    raise ValueError(f"constant_then_linear: lr must be > 0, got {lr}")
  if num_steps < 1:
    raise ValueError(f"constant_then_linear: num_steps must be >= 1, got {num_steps}")
  if not 0 <= decay_steps <= num_steps:
    raise ValueError(f"constant_then_linear: decay_steps must be in [0, num_steps={num_steps}], got {decay_steps}")
  if decay_steps == 0:
    return float(lr)
  constant = num_steps - decay_steps
  return optax.join_schedules([optax.constant_schedule(lr), optax.linear_schedule(lr, 0.0, decay_steps)],
                              [constant])


def adam(lr: float, num_steps: int, decay_steps: int, b1: float = 0.5, b2: float = 0.999, *,
         eps: float = 1e-8) -> optax.GradientTransformation:
  """Adam with `constant_then_linear(lr, num_steps, decay_steps)` (pix2pix and CycleGAN: 2e-4, beta1 0.5)."""
  return optax.adam(constant_then_linear(lr, num_steps, decay_steps), b1=b1, b2=b2, eps=eps)


class PooledState(NamedTuple):
  """State of `pooled_adversarial`.

  Attributes:
    pool: the image history pool (`ImagePoolState`: (size, H, W, C) images and a count).
    for_d: (N, H, W, C) the images the last "g" call chose for D (global batch under pmap), constants.
  """
  pool: ImagePoolState
  for_d: jax.Array


def pooled_adversarial(term: LossTransform, *, size: int, image_shape: Sequence[int], batch: int, fake: str,
                       d_real: str, d: str, g_fake: str, g_weight: float = 1.0, d_weight: float = 1.0,
                       dtype: Any = jnp.float32) -> LossTransform:
  """An adversarial term whose discriminator sees generated images through an image history pool (Shrivastava et
  al. 2017, arXiv:1612.07828; CycleGAN's `ImagePool(50)`), for a model whose players "g" and "d" share this loss.

  Player "g": the term's G loss on `ctx.values[g_fake]` (D's logits on G's current output, differentiable in G),
  and the pool is queried with `ctx.values[fake]` (G's images; constants), the result kept in the state for D.
  Player "d": D's loss with d_real = `ctx.values[d_real]` and d_fake = D (`ctx.nets.function(d)`, its current
  parameters, train mode) applied to the kept images. Any other player: zero, state unchanged.

  Under pmap (`ctx.axis_name`), the pool is one pool of the global batch, replicated: "g" gathers every device's
  images (`all_gather`), queries the pool with the same key on every device (the step's keys are replicated), and
  keeps the global result; "d" takes its device's rows. The state and the numbers are then those of one device
  holding the whole batch.

  Args:
    term: an adversarial LossTransform reading d_real/d_fake (e.g. `least_squares()`), acting for "d" and "g".
    size: pool size (50 in CycleGAN; 0 passes the batch through).
    image_shape: (H, W, C) of the images.
    batch: images per step on all devices together (the global batch).
    fake, d_real, d, g_fake: names: G's images, D's logits on real images (N*h*w,), D's net name, D's logits on
      G's images for G's loss.
    g_weight, d_weight: multipliers of the term's loss for "g" and for "d" (aux keeps the unweighted values): CycleGAN
      with `least_squares()` takes g_weight 2 (its G loss is the reference's MSE, without LSGAN's 1/2) and d_weight 1
      (its D loss already is the reference's 0.5 x (MSE_real + MSE_fake)).
    dtype: of the stored images.
  Returns:
    A LossTransform for players ("d", "g"); aux as `term`'s.
  """
  if not isinstance(batch, int) or batch < 1:
    raise ValueError(f"pooled_adversarial: batch must be an int >= 1 (the global batch), got {batch!r}")
  g_weight, d_weight = float(g_weight), float(d_weight)
  pool = image_pool(size)
  shape = tuple(int(s) for s in image_shape)

  def init(key):
    return (PooledState(pool.init(shape, dtype), jnp.zeros((batch,) + shape, dtype)), term.init(key))

  def apply(ctx: LossContext, state):
    (pstate, inner) = state
    if ctx.player == "g":
      k_pool, k_term = jax.random.split(ctx.key)
      images = jax.lax.stop_gradient(ctx.values[fake])
      if ctx.axis_name is not None:
        images = jax.lax.all_gather(images, ctx.axis_name, tiled=True)
      if images.shape[0] != batch:
        raise ValueError(f"pooled_adversarial: {images.shape[0]} images of {fake!r} in the step, but the term was "
                         f"built for batch={batch}")
      out, new_pool = pool.query(pstate.pool, images, k_pool)
      g_logits = ctx.values[g_fake]
      loss, aux, inner = term.apply(ctx.replace(key=k_term, d_real=g_logits, d_fake=g_logits), inner)
      return g_weight * loss, aux, (PooledState(new_pool, out.astype(dtype)), inner)
    if ctx.player == "d":
      images = pstate.for_d
      if ctx.axis_name is not None:
        n = images.shape[0] // jax.lax.psum(1, ctx.axis_name)
        start = jax.lax.axis_index(ctx.axis_name) * n
        images = jax.lax.dynamic_slice_in_dim(images, start, n)
      d_fake = patch_logits(ctx.nets.function(d)(images))
      loss, aux, inner = term.apply(ctx.replace(d_real=ctx.values[d_real], d_fake=d_fake), inner)
      return d_weight * loss, aux, (pstate, inner)
    return jnp.zeros((), jnp.float32), {}, state

  return LossTransform(init, apply, ("d", "g"))
