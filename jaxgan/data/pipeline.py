"""Input pipeline: deterministic shuffled batches from in-memory uint8 images, prefetched to the device.

Every batch is a pure function of `(seed, epoch, step)`: the epoch's order is
`np.random.default_rng([0, seed, epoch]).permutation(N)`, its horizontal flips come from
`np.random.default_rng([1, seed, epoch])`, and global batch `step` is the slice `[step * B, (step + 1) * B)` of that
order (the last `N mod B` examples of an epoch are dropped). With P processes, process p takes the p-th contiguous
`B / P` of every global batch, so the processes see disjoint parts of the same global batch, and the global batch
does not depend on P. The position `(epoch, step)` of the next batch is all the state there is: `state()` returns
it with the settings it depends on, `restore(state)` jumps there, and the batches that follow are those an
uninterrupted pipeline would have given.

Example:
  >>> data = Pipeline(images, labels, batch_size=64, seed=0, flip=True)
  >>> batch = next(data)   # {"image": (64, H, W, C) float32 in [-1, 1], "label": (64,) int32} on the device
  >>> saved = data.state() # {"epoch": 0, "step": 1, ...}, ints; store it in the checkpoint
  >>> data.restore(saved)  # continues with batch 1 of epoch 0
"""

from __future__ import annotations

import atexit
import functools
import queue
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan._checks import is_int
from jaxgan.data import arrays

_PERMUTATION_STREAM = 0
_FLIP_STREAM = 1
_END = object()


class _Failure:
  """Carries an exception from the producer thread to the consumer."""

  def __init__(self, error: BaseException):
    self.error = error


@jax.jit
def uint8_to_float(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1] (`x / 127.5 - 1`) on the device(s) that hold the images (sharding kept)."""
  return images.astype(jnp.float32) / jnp.float32(127.5) - jnp.float32(1.0)


def _close_at_exit(ref: weakref.ref) -> None:
  """The `atexit` hook of a running pipeline: stops its prefetch thread before the interpreter (and JAX) shut down.

  A prefetch thread still placing arrays on the device while the runtime is torn down aborts the process.
  """
  pipeline = ref()
  if pipeline is not None:
    pipeline.close()


def _label_sharding(sharding: jax.sharding.Sharding) -> jax.sharding.Sharding:
  """The sharding of `(B,)` labels that matches a batch sharding of `(B, H, W, C)` images."""
  if isinstance(sharding, jax.sharding.NamedSharding):
    spec = tuple(sharding.spec)
    return jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec(*spec[:1]))
  return sharding


class Pipeline:
  """Shuffled, flipped, per-process batches of an in-memory dataset, prefetched to the device by a thread.

  Args:
    images: `(N, H, W, C) uint8 in [0, 255]` (float `[-1, 1]` is accepted and quantized to uint8, which is what
      the pipeline stores; a float dataset in `[0, 1]` is refused, see `arrays.images_to_uint8`).
    labels: `(N,)` integers, or None; batches then have no "label".
    batch_size: the global batch size B (over all processes), 1 <= B <= N, divisible by the process count.
    seed: non-negative int; with the epoch it fixes the order and the flips.
    shuffle: permute each epoch (False: the dataset's order every epoch).
    flip: mirror each image left-right with probability 1/2, deterministically per (seed, epoch, position).
    process_index, process_count: this process and the number of processes; default `jax.process_index()` and
      `jax.process_count()`.
    prefetch: batches prepared ahead by a background thread (a bounded queue); 0 prepares each batch in `next`.
    sharding: where a batch goes: a `jax.sharding.Sharding` of the global `(B, H, W, C)` batch (each process gives
      its `B / P` rows, assembled with `jax.make_array_from_process_local_data`; labels get the same sharding of the
      batch axis). None: `device`.
    device: the device for the process-local batch when `sharding` is None; default the first local device.
    num_epochs: stop after this many epochs; None never stops.
    place: replaces `sharding`/`device`: `place(host_batch) -> batch` puts the process-local host batch
      `{"image": (B / P, H, W, C) uint8, "label"?}` on the devices in whatever layout the step wants (e.g.
      `DataParallel.put_batch`, which shards it and converts to float on each device), in the prefetch thread.

  Batches are dicts `{"image": (B / P, H, W, C) float32 in [-1, 1], "label": (B / P,) int32}` (global shape
  `(B, ...)` when `sharding` is given). uint8 crosses to the device and is converted there (4x fewer bytes).
  """

  def __init__(self, images: np.ndarray, labels: np.ndarray | None, batch_size: int, *, seed: int,
               shuffle: bool = True, flip: bool = False, process_index: int | None = None,
               process_count: int | None = None, prefetch: int = 2,
               sharding: jax.sharding.Sharding | None = None, device: jax.Device | None = None,
               num_epochs: int | None = None,
               place: Callable[[dict[str, np.ndarray]], dict[str, jax.Array]] | None = None):
    if place is not None and (sharding is not None or device is not None):
      raise ValueError("Pipeline: give `place` or `sharding`/`device`, not both")
    self._place = place
    self._images = arrays.images_to_uint8(images)
    num = len(self._images)
    self._labels = None if labels is None else arrays.check_labels(labels, num)
    process_index = jax.process_index() if process_index is None else int(process_index)
    process_count = jax.process_count() if process_count is None else int(process_count)
    if not is_int(seed) or seed < 0:
      raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if num == 0:
      raise ValueError("Pipeline: the dataset is empty")
    if not is_int(batch_size):
      raise ValueError(f"batch_size must be a positive int (the global batch size), got {batch_size!r} of type "
                       f"{type(batch_size).__name__}")
    if not 1 <= batch_size <= num:
      raise ValueError(f"batch_size={batch_size} must be in [1, {num}] (the dataset has {num} examples and the "
                       "remainder of each epoch is dropped)")
    if process_count < 1 or not 0 <= process_index < process_count:
      raise ValueError(f"process_index={process_index} must be in [0, process_count={process_count})")
    if batch_size % process_count:
      raise ValueError(f"batch_size={batch_size} is the global batch size and must be divisible by "
                       f"process_count={process_count}")
    if prefetch < 0:
      raise ValueError(f"prefetch must be >= 0, got {prefetch}")
    if num_epochs is not None and num_epochs < 0:
      raise ValueError(f"num_epochs must be None or >= 0, got {num_epochs}")
    self._batch_size = int(batch_size)
    self._seed = int(seed)
    self._shuffle = shuffle
    self._flip = flip
    self._process_index = process_index
    self._process_count = process_count
    self._prefetch = prefetch
    self._sharding = sharding
    self._device = device
    self._num_epochs = num_epochs
    self._epoch = 0
    self._step = 0
    self._cache: tuple[int, np.ndarray, np.ndarray | None] | None = None
    self._lock = threading.Lock()
    self._thread: threading.Thread | None = None
    self._queue: queue.Queue | None = None
    self._stop: threading.Event | None = None
    self._at_exit: Callable[[], None] | None = None

  @classmethod
  def from_dataset(cls, dataset: arrays.ImageDataset, batch_size: int, **kwargs: Any) -> Pipeline:
    """A pipeline over an `ImageDataset`'s images and labels; kwargs as in the constructor."""
    return cls(dataset.images, dataset.labels, batch_size, **kwargs)

  # ----------------------------------------------------------------------------------------------- properties

  @property
  def num_examples(self) -> int:
    return len(self._images)

  @property
  def batch_size(self) -> int:
    """Global batch size."""
    return self._batch_size

  @property
  def local_batch_size(self) -> int:
    """Rows of each global batch that this process produces: batch_size / process_count."""
    return self._batch_size // self._process_count

  @property
  def steps_per_epoch(self) -> int:
    return self.num_examples // self._batch_size

  # ----------------------------------------------------------------------------------------------- host side

  def _epoch_plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray | None]:
    with self._lock:
      cache = self._cache
    if cache is not None and cache[0] == epoch:
      return cache[1], cache[2]
    num = self.num_examples
    order = (np.random.default_rng([_PERMUTATION_STREAM, self._seed, epoch]).permutation(num)
             if self._shuffle else np.arange(num))
    flips = np.random.default_rng([_FLIP_STREAM, self._seed, epoch]).random(num) < 0.5 if self._flip else None
    with self._lock:
      self._cache = (epoch, order, flips)
    return order, flips

  def indices(self, epoch: int, step: int) -> np.ndarray:
    """Dataset indices of this process's part of global batch `step` of `epoch`: `(B / P,) int64`."""
    if not 0 <= step < self.steps_per_epoch or epoch < 0:
      raise ValueError(f"no batch (epoch={epoch}, step={step}); steps per epoch: {self.steps_per_epoch}")
    order, _ = self._epoch_plan(epoch)
    start = step * self._batch_size + self._process_index * self.local_batch_size
    return order[start:start + self.local_batch_size]

  def host_batch(self, epoch: int, step: int) -> dict[str, np.ndarray]:
    """This process's part of a batch on the host, before conversion.

    Returns:
      `{"image": (B / P, H, W, C) uint8, "label": (B / P,) int32}` ("label" only when labels are known).
    """
    index = self.indices(epoch, step)
    images = self._images[index]
    _, flips = self._epoch_plan(epoch)
    if flips is not None:
      start = step * self._batch_size + self._process_index * self.local_batch_size
      mask = flips[start:start + self.local_batch_size]
      images[mask] = images[mask, :, ::-1]
    batch = {"image": images}
    if self._labels is not None:
      batch["label"] = self._labels[index]
    return batch

  def _device_batch(self, epoch: int, step: int) -> dict[str, jax.Array]:
    host = self.host_batch(epoch, step)
    if self._place is not None:
      return self._place(host)
    if self._sharding is not None:
      image = jax.make_array_from_process_local_data(self._sharding, host["image"])
      batch = {"image": uint8_to_float(image)}
      if "label" in host:
        batch["label"] = jax.make_array_from_process_local_data(_label_sharding(self._sharding), host["label"])
      return batch
    device = self._device or jax.local_devices()[0]
    batch = {"image": uint8_to_float(jax.device_put(host["image"], device))}
    if "label" in host:
      batch["label"] = jax.device_put(host["label"], device)
    return batch

  def _next_position(self, epoch: int, step: int) -> tuple[int, int]:
    step += 1
    if step == self.steps_per_epoch:
      return epoch + 1, 0
    return epoch, step

  def _finished(self, epoch: int) -> bool:
    return self._num_epochs is not None and epoch >= self._num_epochs

  # ----------------------------------------------------------------------------------------- iteration, state

  def __iter__(self) -> Iterator[dict[str, jax.Array]]:
    return self

  def __next__(self) -> dict[str, jax.Array]:
    if self._prefetch == 0:
      if self._finished(self._epoch):
        raise StopIteration
      batch = self._device_batch(self._epoch, self._step)
    else:
      if self._thread is None:
        self._start()
      item = self._get()
      if item is _END:
        raise StopIteration
      if isinstance(item, _Failure):
        self.close()
        raise item.error
      position, batch = item
      assert position == (self._epoch, self._step), (position, self._epoch, self._step)
    self._epoch, self._step = self._next_position(self._epoch, self._step)
    return batch

  def state(self) -> dict[str, int]:
    """The position of the next batch and the settings that give it meaning, as plain ints.

    Returns:
      `{"epoch", "step", "seed", "batch_size", "num_examples"}`; store it in the checkpoint.
    """
    return {"epoch": self._epoch, "step": self._step, "seed": self._seed, "batch_size": self._batch_size,
            "num_examples": self.num_examples}

  def restore(self, state: Mapping[str, Any]) -> None:
    """Continues from a `state()`: the next batch is the one that followed when the state was taken.

    Raises:
      ValueError: not a `state()` dict (e.g. a checkpoint of another data source), a state taken with another
        seed, batch size or dataset size, or one that names no batch.
    """
    if not isinstance(state, Mapping) or not {"epoch", "step"} <= set(state):
      found = sorted(map(str, state)) if isinstance(state, Mapping) else type(state).__name__
      raise ValueError(f"not a Pipeline position: expected a dict with keys 'epoch' and 'step' (and 'seed', "
                       f"'batch_size', 'num_examples') as returned by Pipeline.state(), got {found}; a checkpoint "
                       "of another data source or trainer?")
    own = self.state()
    try:
      state = {k: int(np.asarray(v)) for k, v in state.items() if k in own}
    except (TypeError, ValueError) as e:
      raise ValueError(f"not a Pipeline position: its values must be ints, got {dict(state)!r}") from e
    for key in ("seed", "batch_size", "num_examples"):
      if key in state and state[key] != own[key]:
        raise ValueError(f"cannot restore a pipeline state with {key}={state[key]} into one with "
                         f"{key}={own[key]}: the batches would differ")
    epoch, step = state["epoch"], state["step"]
    if epoch < 0 or not 0 <= step < self.steps_per_epoch:
      raise ValueError(f"invalid pipeline state epoch={epoch}, step={step} ({self.steps_per_epoch} steps/epoch)")
    self.close()
    self._epoch, self._step = epoch, step

  # ------------------------------------------------------------------------------------------- the prefetcher

  def _start(self) -> None:
    self._queue = queue.Queue(maxsize=self._prefetch)
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._produce, args=(self._epoch, self._step, self._queue, self._stop),
                                    name="jaxgan-prefetch", daemon=True)
    # Stops the thread at interpreter exit when the user never calls close(): a thread still placing arrays on the
    # device while the runtime shuts down aborts the process. A weakref, so that the hook keeps nothing alive.
    self._at_exit = functools.partial(_close_at_exit, weakref.ref(self))
    atexit.register(self._at_exit)
    self._thread.start()

  def _produce(self, epoch: int, step: int, out: queue.Queue, stop: threading.Event) -> None:
    def put(item: Any) -> bool:
      while not stop.is_set():
        try:
          out.put(item, timeout=0.05)
          return True
        except queue.Full:
          continue
      return False

    try:
      while not stop.is_set():
        if self._finished(epoch):
          put(_END)
          return
        batch = self._device_batch(epoch, step)
        if not put(((epoch, step), batch)):
          return
        epoch, step = self._next_position(epoch, step)
    except BaseException as e:  # pylint: disable=broad-except
      put(_Failure(e))

  def _get(self) -> Any:
    while True:
      try:
        return self._queue.get(timeout=1.0)
      except queue.Empty:
        if not self._thread.is_alive() and self._queue.empty():
          raise RuntimeError("the prefetch thread stopped without a batch or an error") from None

  def close(self) -> None:
    """Stops the prefetch thread and drops prefetched batches (the position stays at the last batch returned).

    Safe to call more than once; runs by itself at interpreter exit for a pipeline that was never closed.
    """
    if self._at_exit is not None:
      atexit.unregister(self._at_exit)
      self._at_exit = None
    if self._thread is None:
      return
    self._stop.set()
    while self._thread.is_alive():
      try:
        self._queue.get_nowait()
      except queue.Empty:
        self._thread.join(timeout=0.05)
    self._thread = self._queue = self._stop = None

  def __enter__(self) -> Pipeline:
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()

  def __del__(self):
    try:
      self.close()
    except Exception:  # pylint: disable=broad-except
      pass
