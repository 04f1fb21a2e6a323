"""Several train steps per compiled call (issue 26): `lax.scan` of the step over a stacked batch.

A small model's step is a few milliseconds of work behind a fixed cost per Python call (dispatch, argument
handling, the host loop's bookkeeping), so one call per step leaves the device idle between calls. `multi_step`
turns `step(state, batch) -> (state, metrics)` into `multi(state, batches) -> (state, metrics)` that runs n steps in
one compiled call: every leaf of `batches` carries a leading axis n (step i reads `batches[i]`), and the metrics of
the n steps come back stacked on a leading axis n. The scan runs the same step function n times in order, so the
state after one call of `multi` is the state after n calls of `step`, bit for bit on a CPU (tested); the step's own
randomness (`fold_in(state.key, state.step)`) is unchanged.

The host side: `StackedBatches` stacks n consecutive batches of a data source (numpy) and forwards the source's
`state()`/`restore()`, so a position saved between calls is that of the next call's first batch. `unstack_metrics`
turns one call's stacked metrics back into n per-step dicts (what `jaxgan.train.loop.train` logs and checks for
NaN, naming the step inside the block).

Example:
  >>> step = make_train_step(g, d, loss, g_tx, d_tx, cfg)
  >>> multi = jax.jit(multi_step(step), donate_argnums=0)
  >>> batches = StackedBatches(host_batches, 4)            # {"image": (4, d_steps * B, ...)} per call
  >>> state, metrics = multi(state, next(batches))          # 4 steps; metrics["d_loss"]: (4,)
  >>> state, records = train(multi, state, batches, LoopConfig(num_steps=1000, steps_per_call=4), data=batches)
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import jax
import numpy as np

from jaxgan._checks import is_int

StepFn = Callable[[Any, Any], tuple[Any, Any]]


def check_steps_per_call(steps_per_call: Any, where: str = "steps_per_call") -> int:
  """`steps_per_call` as an int >= 1.

  Raises:
    ValueError: not an int >= 1 (a bool or a float such as 4.0 included).
  """
  if not is_int(steps_per_call) or steps_per_call < 1:
    raise ValueError(f"{where} must be an int >= 1 (1: one step per call), got {steps_per_call!r}")
  return int(steps_per_call)


def leading_size(tree: Any, what: str = "batches") -> int:
  """The common leading axis of every leaf of `tree` (the n of a stacked batch).

  Raises:
    ValueError: `tree` has no leaves, a scalar leaf, or leaves that disagree on the leading axis.
  """
  leaves = jax.tree_util.tree_leaves_with_path(tree)
  if not leaves:
    raise ValueError(f"{what} has no arrays: a stacked batch is a tree of arrays with a leading axis n")
  sizes = {jax.tree_util.keystr(path): (np.shape(x)[0] if np.ndim(x) else None) for path, x in leaves}
  if None in sizes.values() or len(set(sizes.values())) != 1:
    raise ValueError(f"every leaf of {what} needs the same leading axis n (the steps of one call), got leading "
                     f"sizes {sizes}; stack n batches with StackedBatches or stack_batches")
  return next(iter(sizes.values()))


def multi_step(step_fn: StepFn, *, unroll: int | bool = 1) -> StepFn:
  """n steps per call: `jax.lax.scan` of `step_fn` over the leading axis of a stacked batch.

  Args:
    step_fn: a pure step, `step(state, batch) -> (state, metrics)` (e.g. `make_train_step(...)`, or its `jax.vmap`
      over seeds). Not jitted itself: the caller compiles the result (`jax.jit(..., donate_argnums=0)`, the mesh or
      pmap step of `jaxgan.train.parallel`).
    unroll: passed to `jax.lax.scan` (1: a loop around one copy of the step, which compiles as fast as one step).
  Returns:
    `multi(state, batches) -> (state, metrics)`: `batches` is the step's batch with a leading axis n on every leaf
    (e.g. "image" `(n, d_steps * B, ...)`), step i of the call reads `batches[i]`; the state is the one after n
    steps (its `step` advanced by n); every metric leaf gets a leading axis n (`(n,)` for the step's `()` metrics,
    `(n, S)` for S vmapped seeds). n is the batches' leading axis: a new n compiles a new program.
  Raises:
    ValueError (at trace time): the leaves of `batches` disagree on their leading axis.
  """

  def multi(state: Any, batches: Any) -> tuple[Any, Any]:
    leading_size(batches)
    return jax.lax.scan(step_fn, state, batches, unroll=unroll)

  return multi


def stack_batches(batches: list[Any]) -> Any:
  """n batches (trees of equal structure and shapes) as one tree of numpy arrays with a leading axis n.

  Raises:
    ValueError: no batches, or batches whose trees or leaf shapes differ.
  """
  if not batches:
    raise ValueError("stack_batches needs at least one batch")
  structures = {str(jax.tree.structure(b)) for b in batches}
  if len(structures) != 1:
    raise ValueError(f"stack_batches: the batches have different structures {sorted(structures)}")
  try:
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *batches)
  except ValueError as e:
    raise ValueError(f"stack_batches: the batches' arrays differ in shape ({e}); every step of a call needs the "
                     "same batch shape") from None


class StackedBatches:
  """n consecutive batches of a data source per item, stacked on a new leading axis (numpy on the host).

  Each `next` takes exactly n batches from `source` and nothing ahead, so the source's position between two items
  is that of the next item's first batch: `state()` and `restore()` are the source's (when it has them), and a
  checkpoint taken between calls resumes with the batches an uninterrupted run would have read.

  Args:
    source: an iterator of batches (trees of arrays, e.g. `{"image": (N, ...)}` or a `Pipeline` that returns host
      batches, `Pipeline(..., place=lambda b: b)`).
    steps_per_call: n, the batches per item.
    place: applied to each stacked host batch (e.g. `DataParallel.put_batch` of a `DataParallel` with the same
      `steps_per_call`); None returns the numpy stack.

  Yields:
    The n batches stacked: every leaf `(n, *leaf_shape)`, then `place`d.
  """

  def __init__(self, source: Iterator[Any], steps_per_call: int,
               place: Callable[[Any], Any] | None = None):
    self.source = source
    self.steps_per_call = check_steps_per_call(steps_per_call)
    self.place = place

  def __iter__(self) -> StackedBatches:
    return self

  def __next__(self) -> Any:
    stacked = stack_batches([next(self.source) for _ in range(self.steps_per_call)])
    return stacked if self.place is None else self.place(stacked)

  def state(self) -> Any:
    """The source's position (between items: that of the next item's first batch)."""
    if not hasattr(self.source, "state"):
      raise TypeError(f"the source {type(self.source).__name__} has no state() to save")
    return self.source.state()

  def restore(self, state: Any) -> None:
    """Restores the source's position (a `state()` taken between items)."""
    if not hasattr(self.source, "restore"):
      raise TypeError(f"the source {type(self.source).__name__} has no restore()")
    self.source.restore(state)

  def close(self) -> None:
    """Closes the source when it can be closed (a `Pipeline`'s prefetch thread)."""
    if hasattr(self.source, "close"):
      self.source.close()


def unstack_metrics(metrics: dict[str, Any], steps_per_call: int) -> list[dict[str, Any]]:
  """One call's host metrics, every leaf with a leading axis n, as the n per-step dicts in step order.

  Raises:
    ValueError: a metric whose leading axis is not `steps_per_call`.
  """
  for k, v in metrics.items():
    if np.ndim(v) == 0 or np.shape(v)[0] != steps_per_call:
      raise ValueError(f"metric {k!r} has shape {np.shape(v)}, expected a leading axis of steps_per_call="
                       f"{steps_per_call}: with steps_per_call > 1 the step function must be a multi-step one "
                       "(jaxgan.train.multistep.multi_step) fed stacked batches")
  return [{k: np.asarray(v)[i] for k, v in metrics.items()} for i in range(steps_per_call)]
