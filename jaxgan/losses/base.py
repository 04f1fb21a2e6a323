"""The LossTransform contract and its combinators (`chain`, `scale`, `every`, `view`).

A GAN loss in jaxgan is built like an optax gradient transformation: a pair of pure
functions

  init(key) -> state
  apply(ctx, state) -> (loss, aux, new_state)

where `ctx` is a `LossContext` that holds what a term may need (discriminator logits
on real and generated data, the discriminator as a function of its input, the step,
a PRNG key) and names the *player* whose loss is being computed, "d" or "g". One
transform describes both players: a term that concerns only the discriminator (R1,
the gradient penalty) returns zero and leaves its state untouched when asked for the
generator's loss, and vice versa. Each transform declares the players it acts on in
`players`, so that `every(n, ...)` counts only the calls that concern its term.

Example:

  loss = chain(non_saturating(), every(16, r1(gamma=10.0)))
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, NamedTuple, Protocol, Sequence

import jax
import jax.numpy as jnp
from flax import struct

from jaxgan import _checks

Aux = dict[str, jax.Array]
PLAYERS = ("d", "g")


@struct.dataclass
class LossContext:
  """What a loss term may read. Arrays are traced; `player` and `axis_name` are static.

  Every field has a default, so a step builds the context with what its model has: the two-player step fills the
  D fields, a general-step model (`jaxgan.train.general`) fills `values` with the named quantities of its forward
  (e.g. "fake_B", "rec_A", "D_B(fake_B)") and a term reads them by name.

  Attributes:
    player: the name of the player whose loss is computed ("d" or "g" in the two-player step; any player name of a
      general-step model); static.
    d_real: (M,) float32 logits of D on real data (M = N / packing), or None.
    d_fake: (M,) float32 logits of D on generated data, or None.
    real: the real batch as D sees it: (M, ...) float32 (packed along the last axis), or None.
    fake: the generated batch as D sees it, same shape as `real`, or None.
    labels: (N,) int32 class labels or None.
    d_fn: x -> (M,) logits, D with its current parameters closed over (differentiable
      in x and in D's parameters); for penalties that need D on other inputs. None where there is no such D.
    step: () int32, the number of generator updates done so far.
    key: PRNG key for this loss evaluation (fresh for every call).
    axis_name: name of the pmap axis when the step runs per device, else None.
    values: named quantities of a general-step model's forward, {name: array}; empty in the two-player step.
    nets: the model's networks as functions of their current parameters (a `jaxgan.train.general.Nets`), for a
      term that applies a network to inputs of its own (a penalty on a named D: see `view(..., d_fn=)`); static,
      None in the two-player step.
  """

  d_real: jax.Array | None = None
  d_fake: jax.Array | None = None
  real: jax.Array | None = None
  fake: jax.Array | None = None
  labels: jax.Array | None = None
  d_fn: Callable[[jax.Array], jax.Array] | None = struct.field(pytree_node=False, default=None)
  step: jax.Array | None = None
  key: jax.Array | None = None
  player: str = struct.field(pytree_node=False, default="d")
  axis_name: str | None = struct.field(pytree_node=False, default=None)
  values: dict[str, Any] = struct.field(default_factory=dict)
  nets: Any = struct.field(pytree_node=False, default=None)


class InitFn(Protocol):

  def __call__(self, key: jax.Array) -> Any:
    ...


class ApplyFn(Protocol):

  def __call__(self, ctx: LossContext, state: Any) -> tuple[jax.Array, Aux, Any]:
    ...


class LossTransform(NamedTuple):
  """A loss term: `init(key) -> state`, `apply(ctx, state) -> (loss, aux, state)`.

  `players` is the tuple of players ("d", "g") for which the term can be non-zero.
  """

  init: InitFn
  apply: ApplyFn
  players: tuple[str, ...] = PLAYERS


class EmptyState(NamedTuple):
  """State of a stateless term."""


def stateless(
    fn: Callable[[LossContext], tuple[jax.Array, Aux]],
    players: tuple[str, ...] = PLAYERS,
) -> LossTransform:
  """Wraps `fn(ctx) -> (loss, aux)` as a LossTransform with empty state.

  For players not in `players`, apply returns a zero loss and empty aux without
  calling `fn`.
  """

  def init(key):
    del key
    return EmptyState()

  def apply(ctx, state):
    if ctx.player not in players:
      return jnp.zeros((), jnp.float32), {}, state
    loss, aux = fn(ctx)
    return loss, aux, state

  return LossTransform(init, apply, tuple(players))


def chain(*terms: LossTransform) -> LossTransform:
  """Sum of terms. State is the tuple of the terms' states; aux is their union.

  Raises (at trace time) if two terms report the same aux name for one player: wrap
  one of them in `named(...)` to tell them apart.
  """
  if not terms:
    raise ValueError("chain: needs at least one LossTransform")
  for i, t in enumerate(terms):
    if not isinstance(t, LossTransform):
      raise TypeError(f"chain: argument {i} is {type(t).__name__}, not a LossTransform")
  keys_per_term = len(terms)

  def init(key):
    keys = jax.random.split(key, keys_per_term)
    return tuple(t.init(k) for t, k in zip(terms, keys))

  def apply(ctx, state):
    keys = jax.random.split(ctx.key, keys_per_term)
    total = jnp.zeros((), jnp.float32)
    aux: Aux = {}
    new_state = []
    if not isinstance(state, (tuple, list)) or len(state) != len(terms):
      got = f"{len(state)} entries" if isinstance(state, (tuple, list)) else type(state).__name__
      raise ValueError(f"chain: the loss state has {got} for {len(terms)} terms; it was made by another loss "
                       "(e.g. a checkpoint of another config): start from this loss' init")
    for t, s, k in zip(terms, state, keys):
      loss, a, s = t.apply(ctx.replace(key=k), s)
      clash = set(a) & set(aux)
      if clash:
        raise ValueError(f"chain: two terms report {sorted(clash)}; rename one with named()")
      aux.update(a)
      total = total + loss
      new_state.append(s)
    return total, aux, tuple(new_state)

  return LossTransform(init, apply, _union_players(terms))


def _union_players(terms: tuple[LossTransform, ...]) -> tuple[str, ...]:
  """The players of any of `terms`: "d" and "g" first (in that order), then others in order of appearance."""
  players = [p for p in PLAYERS if any(p in t.players for t in terms)]
  for t in terms:
    players += [p for p in t.players if p not in players]
  return tuple(players)


def scale(weight: float, term: LossTransform) -> LossTransform:
  """Multiplies a term's loss by `weight`; aux keeps the unscaled values."""
  weight = float(weight)

  def apply(ctx, state):
    loss, aux, state = term.apply(ctx, state)
    return weight * loss, aux, state

  return LossTransform(term.init, apply, term.players)


def named(prefix: str, term: LossTransform) -> LossTransform:
  """Prefixes every aux name of `term` with `prefix + "/"`."""

  def apply(ctx, state):
    loss, aux, state = term.apply(ctx, state)
    return loss, {f"{prefix}/{k}": v for k, v in aux.items()}, state

  return LossTransform(term.init, apply, term.players)


def only(player: str, term: LossTransform) -> LossTransform:
  """Restricts `term` to one player ("d" or "g", or any player name of a general-step model); others get zero."""
  if not isinstance(player, str) or not player:
    raise ValueError(f"only: player must be a player name such as {PLAYERS}, got {player!r}")

  def apply(ctx, state):
    if ctx.player != player:
      return jnp.zeros((), jnp.float32), {}, state
    return term.apply(ctx, state)

  return LossTransform(term.init, apply, (player,))


_VIEW_FIELDS = ("d_real", "d_fake", "real", "fake", "labels")


def view(term: LossTransform, *, d_real: str | None = None, d_fake: str | None = None, real: str | None = None,
         fake: str | None = None, labels: str | None = None, d_fn: str | None = None) -> LossTransform:
  """Feeds `term` named quantities of a general-step model (`ctx.values`) as the classic context fields.

  The adversarial terms and penalties read `ctx.d_real`, `ctx.d_fake`, `ctx.real`, `ctx.fake`, `ctx.labels` and
  `ctx.d_fn`; a general-step model's forward computes named quantities instead (`jaxgan.train.general`). `view`
  maps the one onto the other, so one term serves each discriminator of a multi-D model (CycleGAN's D_A and D_B):

    adv_b = view(least_squares(), d_real="D_B(real_B)", d_fake="D_B(fake_B)")
    r1_b = view(r1(10.0), d_real="D_B(real_B)", d_fake="D_B(fake_B)", real="real_B", fake="fake_B", d_fn="D_B")
    loss = chain(named("B", adv_b), named("A", adv_a))   # named: both report "least_squares"

  What a reader could get wrong: the term still reads `ctx.player` to choose between its D and G formulas, so a
  model's discriminator player is named "d" and its generator player "g" (or the term is wrapped in `only`); and a
  field given no name keeps the context's value (None in a general-step context), it is not looked up under its
  own name.

  Args:
    term: the LossTransform to feed.
    d_real, d_fake: names of (M,) float32 logits in `ctx.values`.
    real, fake: names of (M, ...) arrays as the discriminator sees them (for penalties).
    labels: name of (N,) int32 labels, or None.
    d_fn: name of a network of the model: `ctx.d_fn` becomes x -> that network applied to (x, labels) with its
      current parameters (differentiable for the player that updates it) and collections (their updates
      discarded), as the two-player step's `d_fn`.
  Returns:
    A LossTransform with `term`'s init, state and players.
  Raises:
    ValueError: a name that is not a non-empty string; at trace time, a name the forward did not compute (the
      message lists those it did), or `d_fn` in a context without `ctx.nets`.
  """
  if not isinstance(term, LossTransform):
    raise TypeError(f"view: term must be a LossTransform, got {type(term).__name__}")
  names = dict(zip(_VIEW_FIELDS, (d_real, d_fake, real, fake, labels)), d_fn=d_fn)
  for field, name in names.items():
    if name is not None and (not isinstance(name, str) or not name):
      raise ValueError(f"view: {field} must be a name in the forward's values (a non-empty string) or None, "
                       f"got {name!r}")

  def apply(ctx, state):
    fields = {}
    for field in _VIEW_FIELDS:
      name = names[field]
      if name is None:
        continue
      if name not in ctx.values:
        raise ValueError(f"view: {field}={name!r} is not among the forward's values {sorted(ctx.values)} "
                         f"(player {ctx.player!r}): compute it in the model's forward or fix the name")
      fields[field] = ctx.values[name]
    if d_fn is not None:
      if ctx.nets is None:
        raise ValueError(f"view: d_fn={d_fn!r} names a network, but this context carries none (ctx.nets is None): "
                         "d_fn= is for the general step (jaxgan.train.general), which sets ctx.nets")
      fields["d_fn"] = ctx.nets.function(d_fn, fields.get("labels", ctx.labels))
    return term.apply(ctx.replace(**fields), state)

  return LossTransform(term.init, apply, term.players)


class EveryState(NamedTuple):
  """State of `every`. `count`: () int32 calls seen so far; `inner`: the term's state."""

  count: jax.Array
  inner: Any


def every(n: int, term: LossTransform, *, rescale: bool = True) -> LossTransform:
  """Lazy regularization: applies `term` on one call in `n` (Karras et al. 2020, arXiv:1912.04958).

  What is counted: calls of `apply` for a player in `term.players` (for R1, each
  discriminator update; with k discriminator steps per generator step that is k
  counts per train step). Calls for other players neither count nor evaluate.

  The first call (count 0) is active, then counts n, 2n, ... With `rescale=True`
  (default) the loss on active calls is multiplied by `n`, so that its average over
  n calls equals the unlazy term, as in StyleGAN2. On skipped calls the loss is 0,
  the inner state does NOT advance, and the term's aux values are reported as 0.
  Under `jax.jit` the term runs inside `lax.cond`, so skipped calls cost nothing
  (under `vmap` both branches are computed and one is selected).

  Args:
    n: interval, >= 1.
    term: the LossTransform to apply lazily.
    rescale: multiply active losses by n.
  """
  if not _checks.is_int(n) or n < 1:
    raise ValueError(f"every: n must be an int >= 1, got {n!r}")
  n = int(n)

  def init(key):
    return EveryState(jnp.zeros((), jnp.int32), term.init(key))

  def apply(ctx, state):
    if ctx.player not in term.players:
      return jnp.zeros((), jnp.float32), {}, state
    factor = float(n) if rescale else 1.0

    def active(inner):
      loss, aux, inner = term.apply(ctx, inner)
      return (factor * loss).astype(jnp.float32), aux, inner

    aux_shape = jax.eval_shape(lambda s: active(s)[1], state.inner)

    def skipped(inner):
      zeros = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), aux_shape)
      return jnp.zeros((), jnp.float32), zeros, inner

    if n == 1:
      loss, aux, inner = active(state.inner)
    else:
      loss, aux, inner = jax.lax.cond(state.count % n == 0, active, skipped, state.inner)
    return loss, aux, EveryState(state.count + 1, inner)

  return LossTransform(init, apply, term.players)


def top_k(term: LossTransform, fraction: float | Callable[[jax.Array], jax.Array]) -> LossTransform:
  """Top-k generator updates (Sinha et al. 2020, arXiv:2002.06224).

  For the generator's loss, only the batch elements that D scores as most realistic
  (the largest `d_fake` logits, a fraction `fraction` of the batch) contribute to the
  gradient; the others are held constant with `stop_gradient`. The gradient is that of
  the term's mean over the kept elements. The loss value returned (and the term's aux)
  stays that of the whole batch, so logged losses remain comparable with an unwrapped
  run; aux gains "top_k_fraction", the fraction kept. The discriminator's loss is
  unchanged. Under pmap (`ctx.axis_name`) the top k are chosen over the global batch.

  Wrap the adversarial term only: the rescaling assumes a mean over `d_fake`, e.g.
  `chain(top_k(non_saturating(), annealed_fraction()), every(4, r1()))`.

  Args:
    term: the loss term whose generator gradient is restricted.
    fraction: in (0, 1], or a function of the step (generator updates so far) that
      returns it, e.g. `annealed_fraction(...)`. k = round(fraction * M), at least 1.
  """
  if not callable(fraction):
    fraction = float(fraction)
    if not 0.0 < fraction <= 1.0:
      raise ValueError(f"top_k: fraction must be in (0, 1], got {fraction}")

  def apply(ctx, state):
    if ctx.player != "g":
      return term.apply(ctx, state)
    frac = fraction(ctx.step) if callable(fraction) else fraction
    frac = jnp.clip(jnp.asarray(frac, jnp.float32), 0.0, 1.0)
    scores = jax.lax.stop_gradient(ctx.d_fake)
    everyone = scores if ctx.axis_name is None else jax.lax.all_gather(
        scores, ctx.axis_name).reshape(-1)
    m = everyone.shape[0]
    k = jnp.clip(jnp.round(frac * m), 1, m).astype(jnp.int32)
    threshold = jnp.sort(everyone)[m - k]
    keep = scores >= threshold
    kept = jnp.sum(keep).astype(jnp.float32)
    if ctx.axis_name is not None:
      kept = jax.lax.psum(kept, ctx.axis_name)
    d_fake = jnp.where(keep, ctx.d_fake, scores)
    loss, aux, state = term.apply(ctx.replace(d_fake=d_fake), state)
    # Value: the loss on the whole batch; gradient: the mean over the kept elements.
    surrogate = (m / kept) * loss
    loss = surrogate - jax.lax.stop_gradient(surrogate - loss)
    return loss, {**aux, "top_k_fraction": kept / m}, state

  return LossTransform(term.init, apply, term.players)


def annealed_fraction(minimum: float = 0.5, decay: float = 0.99,
                      period: int = 1) -> Callable[[jax.Array], jax.Array]:
  """The top-k schedule of Sinha et al. 2020: max(minimum, decay ** (step / period)).

  They decay by 0.99 per epoch down to half the batch; `period` is the number of steps
  that counts as one decay (an epoch, for a finite dataset).
  """
  if not 0.0 < minimum <= 1.0:
    raise ValueError(f"annealed_fraction: minimum must be in (0, 1], got {minimum}")
  if not 0.0 < decay <= 1.0:
    raise ValueError(f"annealed_fraction: decay must be in (0, 1], got {decay}")
  if period < 1:
    raise ValueError(f"annealed_fraction: period must be >= 1, got {period}")

  def fraction(step):
    steps = jnp.asarray(step, jnp.float32) / period
    return jnp.maximum(minimum, jnp.asarray(decay, jnp.float32) ** steps)

  return fraction


def per_example_from_key(key: jax.Array, sampler: Callable[[jax.Array, tuple[int, ...]], jax.Array],
                         shape: tuple[int, ...], axis_name: str | None = None) -> jax.Array:
  """Draws per-example random numbers that do not depend on the number of devices.

  `shape[0]` is the local batch size. Under pmap (`axis_name` set) the global batch is
  drawn on every device from the same key and this device's slice is returned, so a
  run on k devices uses the same numbers as one device on the global batch.
  """
  if axis_name is None:
    return sampler(key, shape)
  num = jax.lax.psum(1, axis_name)
  index = jax.lax.axis_index(axis_name)
  full = sampler(key, (shape[0] * num,) + tuple(shape[1:]))
  return jax.lax.dynamic_slice_in_dim(full, index * shape[0], shape[0], axis=0)


def per_example(ctx: LossContext, sampler: Callable[[jax.Array, tuple[int, ...]], jax.Array],
                shape: tuple[int, ...]) -> jax.Array:
  """`per_example_from_key` with the context's key and axis name."""
  return per_example_from_key(ctx.key, sampler, shape, ctx.axis_name)


def check_weight(who: str, weight: float) -> float:
  """`weight` as a float, checked once when a term is built: a real number >= 0 (not a bool)."""
  if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not weight >= 0.0:
    raise ValueError(f"{who}: weight must be a number >= 0, got {weight!r}")
  return float(weight)


def check_players(who: str, players: str | Sequence[str]) -> tuple[str, ...]:
  """`players` as a non-empty tuple of player names (one name may be given as a str)."""
  if isinstance(players, str):
    players = (players,)
  players = tuple(players)
  if not players or not all(isinstance(p, str) and p for p in players):
    raise ValueError(f"{who}: players must be a non-empty tuple of player names, got {players!r}")
  return players


def check_value_names(who: str, **names: str) -> None:
  """Each keyword's value must name a quantity of `ctx.values` (a non-empty str)."""
  for arg, value in names.items():
    if not isinstance(value, str) or not value:
      raise ValueError(f"{who}: {arg} must be the name of a quantity in ctx.values (a non-empty str), got {value!r}")


def read_value(who: str, ctx: LossContext, name: str) -> Any:
  """`ctx.values[name]`, or one error (at trace time) listing the quantities the model's forward gives."""
  if name not in ctx.values:
    raise ValueError(f"{who}: no quantity {name!r} in ctx.values for player {ctx.player!r}; the model's forward "
                     f"gives {sorted(ctx.values) or 'none'}")
  return ctx.values[name]
