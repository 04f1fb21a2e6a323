"""Reconstruction terms (L1/L2, cycle, identity, feature matching) and the image history pool.

The terms read named quantities from `ctx.values` (what a general-step model's forward computes, e.g. "real_A",
"fake_B", "rec_A"), so one factory serves every model: `l1("fake_B", "real_B", weight=100.0)` is pix2pix's L1 term,
`cycle("real_A", "rec_A")` CycleGAN's forward cycle. Each acts for the players named in `players` (default the
generator player "g") and gives zero for the others. Losses are `weight * distance`; aux reports the unweighted
distance under the term's `name`, as a `()` float32 (as `scale` and the penalties do). Two terms of the same kind in
one `chain` need different names (`name="cycle_A"`), or `named(...)`.

Distances are means over every element (batch, pixels and channels), as PyTorch's `L1Loss` / `MSELoss` that the
reference code uses (github.com/junyanz/pytorch-CycleGAN-and-pix2pix): under pmap each device averages its own
shard, and the step averages the devices' gradients.

The image history pool (Shrivastava et al. 2017, arXiv:1612.07828, section 2.3; CycleGAN's `ImagePool` of 50) is a
pure function of its state (`ImagePoolState`) and a key, for the step to apply to generated images before D's
loss.

Example:
  >>> loss = chain(least_squares(), cycle("real_A", "rec_A", name="cycle_A"), cycle("real_B", "rec_B",
  ...              name="cycle_B"), identity("real_B", "idt_B"))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgan.losses.base import (LossContext, LossTransform, check_players, check_value_names, check_weight, read_value,
                                stateless)

_DISTANCES = ("l1", "l2")


def _distance(who: str, kind: str, a: jax.Array, b: jax.Array) -> jax.Array:
  if a.shape != b.shape:
    raise ValueError(f"{who}: the two quantities differ in shape, {a.shape} and {b.shape}")
  diff = a.astype(jnp.float32) - b.astype(jnp.float32)
  return jnp.mean(jnp.abs(diff)) if kind == "l1" else jnp.mean(jnp.square(diff))


def _pairwise(who: str, kind: str, names: dict[str, str], weight: float, players, name: str) -> LossTransform:
  """`names`: {argument name: quantity name} of the two quantities, for messages."""
  weight = check_weight(who, weight)
  players = check_players(who, players)
  check_value_names(who, **names, name=name)
  a, b = names.values()

  def fn(ctx: LossContext):
    dist = _distance(who, kind, read_value(who, ctx, a), read_value(who, ctx, b))
    return weight * dist, {name: dist}

  return stateless(fn, players)


def l1(a: str, b: str, *, weight: float = 1.0, players: Sequence[str] = ("g",), name: str = "l1") -> LossTransform:
  """`weight * mean |values[a] - values[b]|` (pix2pix's L1 term with weight 100: Isola et al. 2017,
  arXiv:1611.07004, eq. 3 and section 4; `l1("fake_B", "real_B", weight=100.0)`).

  Args:
    a, b: names of two quantities of `ctx.values` of the same shape; the gradient flows into both (wrap one in
      `stop_gradient` in the forward if it must not).
    weight: multiplier, >= 0.
    players: the players the term acts on.
    name: the aux name.
  Returns:
    A LossTransform; aux `name`: the unweighted mean absolute difference, () float32.
  """
  return _pairwise("l1", "l1", dict(a=a, b=b), weight, players, name)


def l2(a: str, b: str, *, weight: float = 1.0, players: Sequence[str] = ("g",), name: str = "l2") -> LossTransform:
  """`weight * mean (values[a] - values[b])^2` (the mean squared error, PyTorch's `MSELoss`). Arguments as `l1`'s;
  aux `name`: the unweighted mean squared difference, () float32."""
  return _pairwise("l2", "l2", dict(a=a, b=b), weight, players, name)


def cycle(real: str, reconstructed: str, *, weight: float = 10.0, players: Sequence[str] = ("g",),
          name: str = "cycle") -> LossTransform:
  """Cycle-consistency loss (Zhu et al. 2017, arXiv:1703.10593, eq. 2): `weight * mean |x - F(G(x))|`.

  One direction per term; CycleGAN uses two, `cycle("real_A", "rec_A", name="cycle_A")` and
  `cycle("real_B", "rec_B", name="cycle_B")`, each with lambda = 10 (the reference's `--lambda_A`, `--lambda_B`).

  Args:
    real: name of x in `ctx.values`.
    reconstructed: name of its round trip F(G(x)), same shape.
    weight: lambda, >= 0.
    players: the players the term acts on.
    name: the aux name.
  Returns:
    A LossTransform; aux `name`: the unweighted mean absolute difference, () float32.
  """
  return _pairwise("cycle", "l1", dict(real=real, reconstructed=reconstructed), weight, players, name)


def identity(real: str, mapped: str, *, weight: float = 5.0, players: Sequence[str] = ("g",),
             name: str = "identity") -> LossTransform:
  """Identity-mapping loss (Taigman et al. 2017, arXiv:1611.02200; Zhu et al. 2017, section 5.2):
  `weight * mean |y - G(y)|` for y of G's output domain.

  The reference weighs it `lambda_identity * lambda_B` = 0.5 x 10, hence the default 5 (`identity("real_B",
  "idt_B")` with idt_B = G_A(real_B)); its term for G_B is a second one with its own name.

  Args:
    real: name of y in `ctx.values`.
    mapped: name of G(y), same shape.
    weight: multiplier, >= 0 (the reference's lambda_identity x lambda).
    players: the players the term acts on.
    name: the aux name.
  Returns:
    A LossTransform; aux `name`: the unweighted mean absolute difference, () float32.
  """
  return _pairwise("identity", "l1", dict(real=real, mapped=mapped), weight, players, name)


def feature_matching(real: str, fake: str, *, weight: float = 1.0, distance: str = "l1",
                     layer_weights: Sequence[float] | None = None, players: Sequence[str] = ("g",),
                     name: str = "feature_matching") -> LossTransform:
  """Feature matching between D's features on real and generated data.

  `weight * sum_i w_i * mean dist(f_i(real), f_i(fake))` over the layers i, with `w_i = 1 / L` by default (the mean
  over L layers) and the real features held constant (`stop_gradient`), as pix2pixHD's discriminator feature loss
  (Wang et al. 2018, arXiv:1711.11585, eq. 4: L1, the real features detached; its weights 4 / (n_layers + 1) per
  layer and 1 / num_D per D are `layer_weights`). Salimans et al. 2016 (arXiv:1606.03498, section 3.1) match batch
  means with L2: give the features already averaged over the batch and `distance="l2"`.

  Args:
    real: name in `ctx.values` of a list/tuple of D's feature maps on real data, `[(N, ...), ...]`.
    fake: name of the same on generated data, same shapes.
    weight: multiplier, >= 0.
    distance: "l1" (mean absolute difference) or "l2" (mean squared difference).
    layer_weights: one weight >= 0 per layer, or None for 1 / L each.
    players: the players the term acts on.
    name: the aux name.
  Returns:
    A LossTransform; aux `name`: the unweighted sum over layers, () float32.
  """
  who = "feature_matching"
  weight = check_weight(who, weight)
  players = check_players(who, players)
  check_value_names(who, real=real, fake=fake, name=name)
  if distance not in _DISTANCES:
    raise ValueError(f"{who}: distance must be one of {_DISTANCES}, got {distance!r}")
  if layer_weights is not None:
    layer_weights = tuple(layer_weights)
    if not layer_weights or not all(isinstance(w, numbers.Real) and not isinstance(w, bool) and w >= 0.0
                                    for w in layer_weights):
      raise ValueError(f"{who}: layer_weights must be one number >= 0 per layer, got {layer_weights!r}")
    layer_weights = tuple(float(w) for w in layer_weights)

  def fn(ctx: LossContext):
    f_real, f_fake = read_value(who, ctx, real), read_value(who, ctx, fake)
    if not isinstance(f_real, (list, tuple)) or not isinstance(f_fake, (list, tuple)) or len(f_real) != len(f_fake) \
        or not f_real:
      raise ValueError(f"{who}: {real!r} and {fake!r} must be lists of feature maps of the same non-zero length")
    weights = layer_weights or (1.0 / len(f_real),) * len(f_real)
    if len(weights) != len(f_real):
      raise ValueError(f"{who}: {len(weights)} layer_weights for {len(f_real)} layers")
    total = jnp.zeros((), jnp.float32)
    for w, fr, ff in zip(weights, f_real, f_fake):
      total = total + w * _distance(who, distance, jax.lax.stop_gradient(fr), ff)
    return weight * total, {name: total}

  return stateless(fn, players)


# ----------------------------------------------------------------------------------------------------------------
# Image history pool.


class ImagePoolState(NamedTuple):
  """State of the image history pool.

  Attributes:
    images: (size, H, W, C) the stored images (zeros where nothing is stored yet).
    count: () int32, how many are stored, at most size.
  """
  images: jax.Array
  count: jax.Array


class ImagePool(NamedTuple):
  """`init(image_shape, dtype) -> ImagePoolState`, `query(state, images, key) -> (images, state)`."""
  init: Callable[..., ImagePoolState]
  query: Callable[[ImagePoolState, jax.Array, jax.Array], tuple[jax.Array, ImagePoolState]]
  size: int


def image_pool(size: int = 50) -> ImagePool:
  """The image history pool of Shrivastava et al. 2017 (arXiv:1612.07828, section 2.3), as CycleGAN's `ImagePool`.

  D is shown generated images drawn partly from a history of earlier generators' outputs. For each image of the
  batch, in order (an image stored earlier in the batch may come back later in it): while the pool holds fewer
  than `size`, the image is stored and returned; once full, with probability 1/2 a stored image at a uniformly
  random index is returned and the new image takes its place, otherwise the new image is returned. `size=0`
  returns the batch unchanged. The returned images are constants (`stop_gradient`), as the reference stores and
  returns `.data`.

  Randomness: for each image i of the batch, `u_i ~ U[0, 1)` and `j_i ~ U{0 .. size - 1}` drawn from `key` as
  `u = jax.random.uniform(k1, (N,))`, `j = jax.random.randint(k2, (N,), 0, size)` with `k1, k2 = split(key)`; the
  pool returns the stored image when `u_i < 0.5` (the reference draws p and swaps when p > 0.5: the same law).
  Under pmap each device keeps its own pool (it is state like any other); give each device its own key.

  Args:
    size: number of images kept, >= 0 (50 in CycleGAN).
  Returns:
    An `ImagePool`: `init(image_shape, dtype=jnp.float32)` with image_shape (H, W, C) gives an empty pool;
    `query(state, images, key)` with images (N, H, W, C) gives the (N, H, W, C) images for D and the new state.
    Both are jit-able; query runs a `lax.scan` over the N images.
  """
  if isinstance(size, bool) or not isinstance(size, int) or size < 0:
    raise ValueError(f"image_pool: size must be an int >= 0, got {size!r}")

  def init(image_shape: Sequence[int], dtype=jnp.float32) -> ImagePoolState:
    shape = tuple(int(s) for s in image_shape)
    return ImagePoolState(jnp.zeros((size, *shape), dtype), jnp.zeros((), jnp.int32))

  def query(state: ImagePoolState, images: jax.Array, key: jax.Array) -> tuple[jax.Array, ImagePoolState]:
    images = jax.lax.stop_gradient(images)
    if images.shape[1:] != state.images.shape[1:]:
      raise ValueError(f"image_pool: images of shape {images.shape[1:]} for a pool of {state.images.shape[1:]}")
    if size == 0:
      return images, state
    k_swap, k_index = jax.random.split(key)
    n = images.shape[0]
    swap = jax.random.uniform(k_swap, (n,)) < 0.5
    index = jax.random.randint(k_index, (n,), 0, size)

    def one(carry, inputs):
      pool, count = carry
      image, swap_i, index_i = inputs
      filling = count < size
      slot = jnp.where(filling, count, index_i)
      stored = pool[slot]
      out = jnp.where(~filling & swap_i, stored, image.astype(pool.dtype))
      write = filling | swap_i
      pool = pool.at[slot].set(jnp.where(write, image.astype(pool.dtype), stored))
      return (pool, count + filling.astype(jnp.int32)), out

    (pool, count), out = jax.lax.scan(one, (state.images, state.count), (images, swap, index))
    return out.astype(images.dtype), ImagePoolState(pool, count)

  return ImagePool(init, query, size)
