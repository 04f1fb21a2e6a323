"""Checkpoints of the whole GANState with orbax-checkpoint.

Saves are atomic (orbax writes to a temporary directory and renames it when complete),
kept to the last `max_to_keep`, and carry a JSON side file: the data position, the
configuration fingerprint and anything else the host loop needs to resume exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp


class CheckpointMismatchError(ValueError):
  """A checkpoint does not fit the state or configuration it is restored into."""


class CheckpointReadError(RuntimeError):
  """A checkpoint's files cannot be read (damaged or cut short)."""


# What TensorStore's messages start with, or say, when a checkpoint's files are damaged (raised as ValueError or
# Exception, often wrapped by orbax in a plain Exception whose own text says nothing useful).
_READ_FAILURES = ("OUT_OF_RANGE", "DATA_LOSS", "NOT_FOUND", "FAILED_PRECONDITION", "Error reading", "Error opening",
                  "Error decoding", "Bad CRC")


def _causes(err: BaseException) -> list[BaseException]:
  """`err` and the exceptions it was raised from (or while handling), outermost first."""
  chain: list[BaseException] = []
  while err is not None and not any(err is seen for seen in chain):
    chain.append(err)
    err = err.__cause__ or err.__context__
  return chain


def _is_read_failure(err: BaseException) -> bool:
  """Whether `err` (or what it was raised from) says that files are missing, cut short or not parseable."""
  return any(isinstance(e, (OSError, json.JSONDecodeError)) or any(m in str(e) for m in _READ_FAILURES)
             for e in _causes(err))


def _read_detail(err: BaseException, folder: str) -> str:
  """The line that says what is wrong: TensorStore's own status line where there is one, without its spec dump, and
  with paths inside the checkpoint's `folder` made relative to it."""
  chain = _causes(err)
  tensorstore = [e for e in chain if any(m in str(e) for m in _READ_FAILURES)]
  files = [e for e in chain if isinstance(e, (OSError, json.JSONDecodeError))]
  inner = tensorstore[-1] if tensorstore else files[0] if files else err
  text = " ".join((str(inner).strip().splitlines() or [type(inner).__name__])[0].split())
  for cut in (" [tensorstore_spec", " [source locations", ". See full TensorStore details"):
    text = text.split(cut)[0]
  text = text.replace(folder.rstrip("/") + "/", "")
  if isinstance(inner, json.JSONDecodeError):
    text = f"a JSON file does not parse: {text}"
  return text if len(text) <= 300 else text[:297] + "..."


def _draining(make: Callable[[], asyncio.AbstractEventLoop]) -> Callable[[], asyncio.AbstractEventLoop]:
  """`make` (asyncio.new_event_loop), its loops made to finish their pending tasks before they close."""
  def new_event_loop() -> asyncio.AbstractEventLoop:
    loop = make()
    close = loop.close

    def drain_then_close() -> None:
      # Not cancelled but awaited: a cancelled task ends at once while TensorStore's read goes on, and its callback
      # then finds the loop closed. Local reads end quickly; a failed restore takes at most as long as a full one.
      while not loop.is_closed() and not loop.is_running():
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        if not pending:
          loop.run_until_complete(asyncio.sleep(0))  # callbacks already scheduled by finished reads
          break
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
      close()
    try:
      loop.close = drain_then_close
    except AttributeError:  # a loop class without an instance __dict__ (uvloop): closes as it did
      pass
    return loop
  return new_event_loop


_patch_lock = threading.Lock()
_patch_depth = 0
_unpatched: Callable[[], asyncio.AbstractEventLoop] | None = None


@contextlib.contextmanager
def _draining_event_loops() -> Iterator[None]:
  """Event loops made while inside finish their pending tasks before they close.

  Orbax runs a restore in a fresh event loop (`asyncio.new_event_loop`) and closes it as soon as the first array
  read fails, leaving the other reads pending: they are then reported as they are garbage-collected ("Task exception
  was never retrieved", "Exception ignored in: <coroutine object _read_array_index_and_device_put>", "Event loop is
  closed" from TensorStore's callbacks), hundreds of lines after the error. Inside this context the pending reads
  end before the loop closes. Nested and concurrent uses share one patch, removed when the last one exits.
  """
  global _patch_depth, _unpatched  # pylint: disable=global-statement
  with _patch_lock:
    if _patch_depth == 0:
      _unpatched = asyncio.new_event_loop
      asyncio.new_event_loop = _draining(_unpatched)
    _patch_depth += 1
  try:
    yield
  finally:
    with _patch_lock:
      _patch_depth -= 1
      if _patch_depth == 0:
        asyncio.new_event_loop = _unpatched


def config_fingerprint(config: Any) -> str:
  """sha256 of a JSON-able config (sorted keys), used to refuse resuming another configuration."""
  text = json.dumps(config, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_prng_key(x: Any) -> bool:
  """Whether `x` is an array of typed PRNG keys (`jax.random.key`), which orbax cannot store as is."""
  return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _unwrap_keys(tree: Any) -> Any:
  """Typed PRNG keys -> their uint32 data (orbax stores plain arrays)."""
  return jax.tree.map(lambda x: jax.random.key_data(x) if is_prng_key(x) else x, tree)


def _rewrap_keys(tree: Any, like: Any) -> Any:
  return jax.tree.map(lambda x, t: jax.random.wrap_key_data(x, impl=jax.random.key_impl(t))
                      if is_prng_key(t) else x, tree, like)


def _path_name(path: tuple[Any, ...]) -> str:
  """A tree path as 'a.0.b', the same for dataclass fields, dict keys and sequence indices."""
  parts = []
  for k in path:
    for attr in ("name", "key", "idx"):
      if hasattr(k, attr):
        parts.append(str(getattr(k, attr)))
        break
    else:
      parts.append(str(k))
  return ".".join(parts)


def _shape_tree(tree: Any) -> Any:
  """What to restore into: a jax.Array target keeps its own sharding; a host (numpy) target is restored onto
  the first local device, so a checkpoint written on other devices (another mesh, pmap) still loads."""
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

  def one(x):
    if isinstance(x, jax.Array):
      return ocp.utils.to_shape_dtype_struct(x)
    return jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype, sharding=device)
  return jax.tree.map(one, tree)


class Checkpointer:
  """Save/restore `(state, extra)` under `directory/<step>/`.

  Args:
    directory: where checkpoints live (created if missing).
    max_to_keep: number of most recent checkpoints kept.
    config: the run's configuration (JSON-able); its fingerprint is stored and a
      restore under a different configuration is refused with a clear error.
  """

  def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 3,
               config: Any = None):
    if max_to_keep < 1:
      raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}")
    directory = os.fspath(directory)
    # Remote paths (gs://...) go to orbax as they are; local ones are made absolute.
    self.directory = directory if "://" in directory else os.path.abspath(directory)
    self._fingerprint = None if config is None else config_fingerprint(config)
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                           enable_async_checkpointing=False)
    self._manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers={"state": ocp.StandardCheckpointHandler(),
                       "extra": ocp.JsonCheckpointHandler()})

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def save(self, step: int, state: Any, extra: dict[str, Any] | None = None) -> None:
    """Saves the state tree and the JSON `extra` as checkpoint `step` (blocking)."""
    extra = dict(extra or {})
    extra["config_fingerprint"] = self._fingerprint
    self._manager.save(int(step), args=ocp.args.Composite(
        state=ocp.args.StandardSave(_unwrap_keys(state)),
        extra=ocp.args.JsonSave(extra)), force=True)
    self._manager.wait_until_finished()

  def restore(self, target: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Restores checkpoint `step` (default: latest) into the structure of `target`.

    Raises:
      FileNotFoundError: no checkpoint in the directory.
      CheckpointMismatchError: the checkpoint was written by another configuration or
        its arrays do not have the target's structure, shapes or dtypes.
    """
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    plain_target = _unwrap_keys(target)
    self._check_structure(step, plain_target)
    try:
      with _draining_event_loops():
        restored = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_shape_tree(plain_target)),
            extra=ocp.args.JsonRestore()))
    except Exception as e:  # pylint: disable=broad-except  (orbax/TensorStore raise plain Exceptions on bad files)
      if isinstance(e, (ValueError, KeyError, TypeError)) and not _is_read_failure(e):
        raise CheckpointMismatchError(
            f"checkpoint {step} in {self.directory} does not match the current state: {e}") from e
      raise self._read_error(step, e) from None  # the message says it all; orbax's chain repeats a spec dump
    extra = restored["extra"]
    saved = extra.get("config_fingerprint")
    if self._fingerprint is not None and saved is not None and saved != self._fingerprint:
      raise CheckpointMismatchError(
          f"checkpoint {step} in {self.directory} was written with a different configuration "
          f"(fingerprint {saved}, current {self._fingerprint}); use another workdir or start "
          "over (--no-resume)")
    return _rewrap_keys(restored["state"], target), extra

  def _read_error(self, step: int, err: BaseException) -> CheckpointReadError:
    """One message: which checkpoint, that its files are damaged, what TensorStore found, and what to do."""
    earlier = [s for s in self.all_steps() if s < step]
    where = os.path.join(self.directory, str(step))
    remedy = (f"start over with --no-resume or another workdir, or delete {where} to resume from checkpoint "
              f"{max(earlier)}" if earlier else
              "start over with --no-resume (the damaged run is moved to superseded/) or another workdir")
    return CheckpointReadError(f"checkpoint {step} in {self.directory} cannot be read (its files are damaged, e.g. "
                               f"by a full disk or a copy cut short: {_read_detail(err, where)}); {remedy}")

  def _check_structure(self, step: int, target: Any) -> None:
    try:
      with _draining_event_loops():
        meta = self._manager.item_metadata(step)
    except Exception as e:  # pylint: disable=broad-except
      raise self._read_error(step, e) from None
    meta = meta["state"] if meta is not None and "state" in meta else None
    if meta is None:
      return
    want = {_path_name(p): tuple(x.shape) for p, x in jax.tree_util.tree_leaves_with_path(target)}
    have = {_path_name(p): tuple(x.shape) for p, x in jax.tree_util.tree_leaves_with_path(meta)
            if hasattr(x, "shape")}
    missing, unexpected = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing or unexpected:
      raise CheckpointMismatchError(
          f"checkpoint {step} in {self.directory} was written by a different model or loss "
          f"configuration: arrays missing from it {missing[:3]}, arrays only in it "
          f"{unexpected[:3]}; use another workdir or start over (--no-resume)")
    for name, shape in want.items():
      if have[name] != shape:
        raise CheckpointMismatchError(
            f"checkpoint {step} in {self.directory}: {name} has shape {have[name]}, the current "
            f"state expects {shape}: the model configuration changed; use another workdir or "
            "start over (--no-resume)")
