"""Data parallelism: one pure step compiled over a device Mesh (`jax.jit`) or with `jax.pmap`.

Both modes run `jaxgan.train.step.make_train_step` unchanged and give the numbers of one device on the same global
batch (up to float reduction order): latents and penalty noise are drawn for the global batch, batch norm sees the
global batch (mesh) or synchronizes its statistics over the pmap axis, gradients and metrics are global means.

* **mesh** (recommended): `jax.jit` with `NamedSharding`s over a 1-D `Mesh` ("data" axis). Parameters and optimizer
  states are replicated, the batch is split along "data", the state is donated. Works unchanged across hosts.
* **pmap**: the per-device step (`StepConfig(axis_name="batch")`, which pmeans gradients, collections and metrics),
  models cloned with `bn_axis_name="batch"` for synchronized batch norm; the state carries a leading device axis.

Batch layout. A step consumes `d_steps` slices of B examples each (slice i: rows i*B .. (i+1)*B - 1 of the global
batch). `shard_batch` places a host batch so that every device holds B / num_devices rows of *every* slice, which is
what pmap needs and what keeps each D step spread over all devices under the mesh:

* mesh: the global array has shape (d_steps, B, ...), sharded `P(None, "data")`; the compiled mesh step takes it in
  this shape and passes it to the step as pre-split slices (`make_train_step(..., presplit=True)`), so the batch
  never moves between devices.
* pmap: the array has shape (local_devices, d_steps * B / num_devices, ...); device j holds rows
  i*B + j*B/num_devices .. of every slice i.

With several processes each one passes its *process-local* batch, (d_steps * B / P, ...): rows
i*B/P .. (i+1)*B/P - 1 are this process's part of slice i. The global slice i is the concatenation over processes
(in process order) of their parts of slice i. With one process this is the step's own layout.

Example (mesh):
  >>> mesh = make_mesh()
  >>> step = make_mesh_step(g, d, loss, g_tx, d_tx, cfg, mesh)
  >>> state = put_state(state, "mesh", mesh=mesh)
  >>> state, metrics = step(state, shard_batch(host_batch, "mesh", d_steps=cfg.d_steps, mesh=mesh))

The same through one object, whatever the mode (`DataParallel`):
  >>> dp = DataParallel.create("auto", d_steps=cfg.d_steps)
  >>> step = dp.compile(g, d, loss, g_tx, d_tx, cfg)
  >>> state, metrics = step(dp.put_state(state), dp.put_batch(host_batch))

A general-step model (`jaxgan.train.general.Model`: named nets and players) goes the same ways through
`make_model_mesh_step`, `make_model_pmap_step` or `DataParallel.compile_model`, with d_steps its `num_slices`:
  >>> dp = DataParallel.create("auto", d_steps=model.num_slices)
  >>> step = dp.compile_model(model)
  >>> state, metrics = step(dp.put_state(init_general_state(key, model, host_batch)), dp.put_batch(host_batch))

Example (pmap):
  >>> step = make_pmap_step(g, d, loss, g_tx, d_tx, cfg)
  >>> state = put_state(state, "pmap")
  >>> state, metrics = step(state, shard_batch(host_batch, "pmap", d_steps=cfg.d_steps))
  >>> host_state = unreplicate(state)

Several steps per call (`steps_per_call` n > 1, see `jaxgan.train.multistep`): the compiled step is the `lax.scan`
of the step over n stacked batches, and a host batch carries a leading axis n before the example axis,
(n, d_steps * B_local, ...); placed, it is (n, d_steps, B, ...) sharded `P(None, None, "data")` on the mesh and
(local_devices, n, d_steps * B / num_devices, ...) under pmap (the axis n right after the device axis). Metrics come
back with a leading axis n (under pmap (local_devices, n); DataParallel returns the first copy, (n,)).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxgan import _checks
from jaxgan.data.pipeline import uint8_to_float
from jaxgan.losses.base import LossTransform
from jaxgan.train import general
from jaxgan.train.state import GANState
from jaxgan.train.checkpoint import is_prng_key
from jaxgan.train.multistep import check_steps_per_call, multi_step
from jaxgan.train.step import Batch, Metrics, StepConfig, make_train_step

MODES = ("mesh", "pmap")
PMAP_AXIS = "batch"
StepFn = Callable[[GANState, Batch], tuple[GANState, Metrics]]


def _check_mode(mode: str) -> None:
  if mode not in MODES:
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def check_processes() -> None:
  """Checks that every process sees the same number of local devices.

  Raises:
    ValueError: the processes of a multi-host launch have different numbers of devices, or the global device list
      does not add up to `process_count * local_device_count` (an inconsistent launch).
  """
  counts: dict[int, int] = {}
  for dev in jax.devices():
    counts[dev.process_index] = counts.get(dev.process_index, 0) + 1
  if len(counts) != jax.process_count():
    raise ValueError(f"inconsistent multi-host launch: jax.process_count()={jax.process_count()} but devices belong "
                     f"to {len(counts)} processes {sorted(counts)}")
  if len(set(counts.values())) > 1:
    raise ValueError(f"inconsistent multi-host launch: processes have different device counts {counts}; launch "
                     "every process with the same number of local devices")


def make_mesh(num_devices: int | None = None, axis_name: str = "data", *,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D data-parallel Mesh.

  Devices are ordered by (process index, device id), so each process's devices are one contiguous block of the
  "data" axis (what `jax.make_array_from_process_local_data` and the batch layout of `shard_batch` expect).

  Args:
    num_devices: mesh size; None uses every device (every process's, with several processes). With one process a
      smaller mesh takes the first `num_devices` devices.
    axis_name: name of the mesh axis.
    devices: the devices to choose from (default `jax.devices()`).
  Returns:
    `Mesh` of shape (num_devices,) with axis `axis_name`.
  Raises:
    ValueError: `num_devices` is not a positive int, exceeds the devices available, or (several processes) does not
      cover all devices; or the processes have inconsistent device counts.
  """
  if not isinstance(axis_name, str) or not axis_name:
    raise ValueError(f"make_mesh: axis_name must be a non-empty string, got {axis_name!r}")
  check_processes()
  devices = list(jax.devices() if devices is None else devices)
  devices.sort(key=lambda d: (d.process_index, d.id))
  available = len(devices)
  if num_devices is None:
    num_devices = available
  if not isinstance(num_devices, (int, np.integer)) or isinstance(num_devices, bool) or num_devices < 1:
    raise ValueError(f"make_mesh: num_devices must be a positive int or None, got {num_devices!r}")
  if num_devices > available:
    hint = ""
    if devices and devices[0].platform == "cpu":
      hint = (f"; for virtual CPU devices set XLA_FLAGS=--xla_force_host_platform_device_count={num_devices} "
              "before JAX starts")
    raise ValueError(f"make_mesh: mesh shape ({num_devices},) does not match the devices: only {available} "
                     f"{devices[0].platform if devices else ''} device(s) available{hint}")
  if jax.process_count() > 1 and num_devices != available:
    raise ValueError(f"make_mesh: with {jax.process_count()} processes the mesh must span all {available} devices "
                     f"(got num_devices={num_devices})")
  return Mesh(np.array(devices[:num_devices]), (axis_name,))


def _data_axis(mesh: Mesh) -> str:
  if not isinstance(mesh, Mesh) or len(mesh.axis_names) != 1:
    raise ValueError(f"expected a 1-D data-parallel Mesh (see make_mesh), got {mesh!r}")
  return mesh.axis_names[0]


def _models_for(mode: str, models: Sequence[nn.Module], axis_name: str | None) -> list[nn.Module]:
  """Checks (mesh) or sets (pmap) the models' `bn_axis_name`."""
  out = []
  for model in models:
    name = type(model).__name__
    if not hasattr(model, "bn_axis_name"):
      out.append(model)
      continue
    current = model.bn_axis_name
    if mode == "mesh":
      if current is not None:
        raise ValueError(f"{name}.bn_axis_name={current!r}: under the mesh (jax.jit) batch norm already sees the "
                         "global batch; build the model with bn_axis_name=None")
      out.append(model)
    else:
      if current is None:
        model = model.clone(bn_axis_name=axis_name)
      elif current != axis_name:
        raise ValueError(f"{name}.bn_axis_name={current!r} differs from the pmap axis {axis_name!r}")
      out.append(model)
  return out


def make_mesh_step(generator: nn.Module, discriminator: nn.Module, loss: LossTransform,
                   g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation, cfg: StepConfig,
                   mesh: Mesh, *, donate: bool = True, compiler_options: dict[str, Any] | None = None,
                   steps_per_call: int = 1) -> StepFn:
  """The train step compiled with `jax.jit` over `mesh`: batch sharded along its axis, state replicated.

  Args:
    generator, discriminator, loss, g_tx, d_tx, cfg: as for `make_train_step`; `cfg.axis_name` must be None and
      the models' `bn_axis_name` None (the compiled step sees the global batch).
    mesh: a 1-D Mesh (see `make_mesh`).
    donate: donate the state's buffers (drop your reference to the old state).
    compiler_options: passed to `jax.jit` (e.g. fast-compile XLA options for CPU tests).
    steps_per_call: n > 1 compiles n steps per call (`multi_step`); the batch gets a leading axis n.
  Returns:
    `step(state, batch) -> (state, metrics)`: state replicated on the mesh (`put_state(state, "mesh", mesh=mesh)`),
    batch from `shard_batch(..., "mesh")`: "image" (d_steps, B, ...) float32 sharded along B (and "label"
    (d_steps, B) int32); with n > 1 (n, d_steps, B, ...). Metrics are () float32 global means, replicated ((n,)
    with n > 1).
  Raises:
    ValueError: `cfg.axis_name` is set, a model has `bn_axis_name` set, or `mesh` is not 1-D.
  """
  axis = _data_axis(mesh)
  if cfg.axis_name is not None:
    raise ValueError(f"make_mesh_step: cfg.axis_name must be None under jit (got {cfg.axis_name!r}); "
                     "the axis name is for pmap")
  generator, discriminator = _models_for("mesh", (generator, discriminator), None)
  step = make_train_step(generator, discriminator, loss, g_tx, d_tx, cfg, presplit=True)
  return _jit_on_mesh(step, mesh, donate, compiler_options, steps_per_call)


def _jit_on_mesh(step: Callable[..., Any], mesh: Mesh, donate: bool,
                 compiler_options: dict[str, Any] | None, steps_per_call: int = 1) -> Callable[..., Any]:
  """`jax.jit` of a presplit step: state replicated, batch (slices, B, ...) sharded along B; with steps_per_call
  n > 1 the `multi_step` of it, batch (n, slices, B, ...)."""
  n = check_steps_per_call(steps_per_call)
  replicated = NamedSharding(mesh, P())
  batch_sharding = NamedSharding(mesh, P(None, None, _data_axis(mesh)) if n > 1 else P(None, _data_axis(mesh)))
  return jax.jit(multi_step(step) if n > 1 else step, in_shardings=(replicated, batch_sharding),
                 out_shardings=(replicated, replicated), donate_argnums=(0,) if donate else (), compiler_options=compiler_options)


def make_model_mesh_step(model: general.Model, mesh: Mesh, *, donate: bool = True,
                         compiler_options: dict[str, Any] | None = None,
                         steps_per_call: int = 1) -> Callable[..., Any]:
  """The general step of `model` (jaxgan.train.general) compiled with `jax.jit` over `mesh`, as `make_mesh_step`.

  Returns:
    `step(state, batch) -> (state, metrics)`: a TrainState replicated on the mesh, batch from
    `shard_batch(..., "mesh", d_steps=model.num_slices)`: {name: (num_slices, B, ...)} sharded along B.
  Raises:
    ValueError: `model.axis_name` is set, a net has `bn_axis_name` set, or `mesh` is not 1-D.
  """
  _data_axis(mesh)
  if model.axis_name is not None:
    raise ValueError(f"make_model_mesh_step: model.axis_name must be None under jit (got {model.axis_name!r}); "
                     "the axis name is for pmap")
  _models_for("mesh", tuple(model.nets.values()), None)
  return _jit_on_mesh(general.make_general_step(model, presplit=True), mesh, donate, compiler_options,
                      steps_per_call)


def make_model_pmap_step(model: general.Model, *, axis_name: str = PMAP_AXIS,
                         devices: Sequence[jax.Device] | None = None, donate: bool = True,
                         steps_per_call: int = 1) -> Callable[..., Any]:
  """The general step of `model` under `jax.pmap`, as `make_pmap_step`: `model.axis_name` set to `axis_name`
  (gradients, collections and metrics pmean'ed), nets with a `bn_axis_name` left at None cloned with it.

  Returns:
    `step(state, batch) -> (state, metrics)`: a TrainState with a leading local-device axis, batch from
    `shard_batch(..., "pmap", d_steps=model.num_slices)`.
  """
  if model.axis_name not in (None, axis_name):
    raise ValueError(f"make_model_pmap_step: model.axis_name={model.axis_name!r} differs from "
                     f"axis_name={axis_name!r}")
  nets = dict(zip(model.nets, _models_for("pmap", tuple(model.nets.values()), axis_name)))
  model = dataclasses.replace(model, nets=nets, axis_name=axis_name)
  step = general.make_general_step(model)
  return jax.pmap(multi_step(step) if check_steps_per_call(steps_per_call) > 1 else step, axis_name=axis_name,
                  devices=devices, donate_argnums=(0,) if donate else ())


def make_pmap_step(generator: nn.Module, discriminator: nn.Module, loss: LossTransform,
                   g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation, cfg: StepConfig, *,
                   axis_name: str = PMAP_AXIS, devices: Sequence[jax.Device] | None = None,
                   donate: bool = True, steps_per_call: int = 1) -> StepFn:
  """The per-device train step under `jax.pmap`.

  The step is built with `StepConfig(axis_name=axis_name)` (gradients, collections and metrics pmean'ed) and models
  that have a `bn_axis_name` attribute left at None are cloned with `bn_axis_name=axis_name` (synchronized batch
  norm), so the result matches one device on the global batch.

  Args:
    generator, discriminator, loss, g_tx, d_tx, cfg: as for `make_train_step` (`cfg.axis_name` is replaced).
    axis_name: the pmap axis name.
    devices: pmap devices (default: all; with several processes, all of them).
    donate: donate the state's buffers.
    steps_per_call: n > 1 runs n steps per call (`multi_step` inside the pmap); the batch's axis after the device
      axis is n.
  Returns:
    `step(state, batch) -> (state, metrics)`: state replicated with a leading local-device axis
    (`put_state(state, "pmap")`), batch from `shard_batch(..., "pmap")`: "image" (local_devices, d_steps * b, ...)
    with b = B / num_devices ((local_devices, n, d_steps * b, ...) with n > 1). Metrics: (local_devices,) float32,
    the same global mean on every device ((local_devices, n) with n > 1).
  Raises:
    ValueError: a model's `bn_axis_name` is set to another name.
  """
  if cfg.axis_name not in (None, axis_name):
    raise ValueError(f"make_pmap_step: cfg.axis_name={cfg.axis_name!r} differs from axis_name={axis_name!r}")
  cfg = dataclasses.replace(cfg, axis_name=axis_name)
  generator, discriminator = _models_for("pmap", (generator, discriminator), axis_name)
  step = make_train_step(generator, discriminator, loss, g_tx, d_tx, cfg)
  if check_steps_per_call(steps_per_call) > 1:
    step = multi_step(step)
  return jax.pmap(step, axis_name=axis_name, devices=devices, donate_argnums=(0,) if donate else ())


# ------------------------------------------------------------------------------------------------------------------
# Placement of state and batches.


def _local_pmap_devices(devices: Sequence[jax.Device] | None) -> list[jax.Device]:
  if devices is None:
    return list(jax.local_devices())
  local = [d for d in devices if d.process_index == jax.process_index()]
  return sorted(local, key=lambda d: d.id)


def _pmap_sharding(devices: Sequence[jax.Device]) -> NamedSharding:
  return NamedSharding(Mesh(np.array(list(devices)), (PMAP_AXIS,)), P(PMAP_AXIS))


def _to_host_with_keys(x: Any) -> tuple[np.ndarray, Any]:
  impl = jax.random.key_impl(x) if is_prng_key(x) else None
  if impl is not None:
    x = jax.random.key_data(x)
  if isinstance(x, jax.Array) and not x.is_fully_addressable and x.is_fully_replicated:
    x = x.addressable_data(0)  # a global replicated array of several processes: this process's copy
  return np.asarray(jax.device_get(x)), impl


def _put_copy(tree: Any, sharding: jax.sharding.Sharding, leading: int | None = None) -> Any:
  """device_put of a host copy of every leaf (optionally broadcast to a leading axis of size `leading`).

  The copy goes through host memory on purpose: in this JAX version `device_put(..., may_alias=False)` still
  aliases a buffer that already sits on one of the target devices, and a donated step would then delete the
  caller's arrays. Typed PRNG keys travel as their uint32 data.
  """

  def put(x):
    data, impl = _to_host_with_keys(x)
    if leading is not None:
      data = np.broadcast_to(data, (leading,) + data.shape)
    y = jax.device_put(np.array(data), sharding)
    return y if impl is None else jax.random.wrap_key_data(y, impl=impl)

  return jax.tree.map(put, tree)


def replicate(tree: Any, devices: Sequence[jax.Device] | None = None) -> Any:
  """Copies every leaf to each local pmap device: leaf (...) -> (local_devices, ...).

  The result never aliases `tree`'s buffers, so `tree` survives a step that donates the replicated state.
  """
  devices = _local_pmap_devices(devices)
  return _put_copy(tree, _pmap_sharding(devices), leading=len(devices))


def unreplicate(tree: Any) -> Any:
  """The first device's copy of a pmap-replicated tree: leaf (devices, ...) -> (...).

  With several processes each one takes its own first local device's copy (the replicas are equal: the step
  pmeans what it changes), which needs no communication; indexing the global array would be a program that every
  process has to run (for the step's metrics: at every step).
  """
  return jax.tree.map(_first_copy, tree)


def _first_copy(x: Any) -> Any:
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    local = x.addressable_data(0)  # (1, ...) under a named sharding; (...) under a pmap sharding
    return local[0] if local.ndim == x.ndim else local
  return x[0]


def replicate_on_mesh(tree: Any, mesh: Mesh) -> Any:
  """Every leaf as a global array replicated on all devices of `mesh` (all processes).

  With several processes each one passes the same values (e.g. the same initial state from the same key); they
  are not checked against each other. The result never aliases `tree`'s buffers.
  """
  sharding = NamedSharding(mesh, P())
  if jax.process_count() == 1:
    return _put_copy(tree, sharding)

  def put(x):
    data, impl = _to_host_with_keys(x)
    arr = jax.make_array_from_process_local_data(sharding, data, data.shape)
    return arr if impl is None else jax.random.wrap_key_data(arr, impl=impl)

  return jax.tree.map(put, tree)


def put_state(state: Any, mode: str, *, mesh: Mesh | None = None,
              devices: Sequence[jax.Device] | None = None) -> Any:
  """Places a host/single-device state for a compiled step.

  Args:
    state: the state (e.g. from `init_state`), identical on every process.
    mode: "mesh" (replicated global arrays on `mesh`) or "pmap" (leading local-device axis).
    mesh: the mesh, for mode "mesh".
    devices: the pmap devices, for mode "pmap" (default: the local devices).
  """
  _check_mode(mode)
  if mode == "mesh":
    if mesh is None:
      raise ValueError("put_state: mode 'mesh' needs mesh=")
    return replicate_on_mesh(state, mesh)
  return replicate(state, devices)


def get_state(state: Any, mode: str) -> Any:
  """One copy of the state: the pmap state unreplicated; the mesh state as is (already one global copy)."""
  _check_mode(mode)
  return unreplicate(state) if mode == "pmap" else state


def _slice_rows(name: str, x: Any, d_steps: int, num_shards: int, what: str) -> int:
  rows = x.shape[0]
  if rows % d_steps:
    raise ValueError(f"batch[{name!r}] has {rows} rows, not divisible by d_steps={d_steps}: the step takes "
                     "d_steps slices of the batch")
  per_slice = rows // d_steps
  if per_slice % num_shards:
    raise ValueError(f"batch[{name!r}]: each of the d_steps={d_steps} slices has {per_slice} rows, not divisible "
                     f"by the {num_shards} {what}; choose a per-D-step batch that is a multiple of {num_shards}")
  return per_slice


def shard_batch(batch: dict[str, Any], mode: str, *, d_steps: int, mesh: Mesh | None = None,
                devices: Sequence[jax.Device] | None = None, steps_per_call: int = 1) -> dict[str, jax.Array]:
  """Puts a process-local host batch on the devices with the layout of the compiled step.

  Args:
    batch: {"image": (d_steps * B_local, ...), "label"?: (d_steps * B_local,)} numpy or jax arrays; B_local = B / P
      with P processes (B per D step, globally). Rows i*B_local .. (i+1)*B_local - 1 are this process's part of the
      i-th D-step slice.
    mode: "mesh" or "pmap".
    d_steps: the step's `cfg.d_steps`.
    mesh: the mesh, for mode "mesh".
    devices: pmap devices, for mode "pmap" (default: the local devices).
    steps_per_call: n > 1: `batch` is n host batches stacked, every array (n, d_steps * B_local, ...), each placed
      as above with the axis n in front (mesh) or right after the device axis (pmap).
  Returns:
    mesh: global arrays (d_steps, B, ...) sharded `P(None, axis)`. pmap: (local_devices, d_steps * B / D, ...) with
    D the number of devices, device j holding rows j*B/D .. (j+1)*B/D - 1 of each slice, in slice order. With
    n > 1: (n, d_steps, B, ...) sharded `P(None, None, axis)`, and (local_devices, n, d_steps * B / D, ...).
  Raises:
    ValueError: the rows are not divisible by d_steps, a slice not by the number of (local) devices, or the arrays
      disagree in their number of rows.
  """
  _check_mode(mode)
  if not _checks.is_int(d_steps) or d_steps < 1:
    raise ValueError(f"shard_batch: d_steps must be an int >= 1, got {d_steps!r}")
  d_steps = int(d_steps)
  n = check_steps_per_call(steps_per_call, "shard_batch: steps_per_call")
  if not isinstance(batch, dict) or not batch:
    raise ValueError(f"shard_batch: batch must be a non-empty dict of arrays, got {type(batch).__name__}")
  if n > 1:
    return _shard_stacked(batch, mode, d_steps, n, mesh, devices)
  rows = {name: np.shape(x)[0] if np.ndim(x) else None for name, x in batch.items()}
  if len(set(rows.values())) != 1 or None in rows.values():
    raise ValueError(f"shard_batch: every array needs the same leading (example) axis, got {rows}")

  if mode == "mesh":
    if mesh is None:
      raise ValueError("shard_batch: mode 'mesh' needs mesh=")
    axis = _data_axis(mesh)
    local_devices = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
    sharding = NamedSharding(mesh, P(None, axis))
    out = {}
    for name, x in batch.items():
      per_slice = _slice_rows(name, x, d_steps, len(local_devices), "local devices of the mesh")
      x = x.reshape((d_steps, per_slice) + tuple(x.shape[1:]))
      if jax.process_count() == 1:
        out[name] = jax.device_put(x, sharding)
      else:
        global_shape = (d_steps, per_slice * jax.process_count()) + tuple(x.shape[2:])
        out[name] = jax.make_array_from_process_local_data(sharding, np.asarray(x), global_shape)
    return out

  devices = _local_pmap_devices(devices)
  n = len(devices)
  sharding = _pmap_sharding(devices)
  out = {}
  for name, x in batch.items():
    per_slice = _slice_rows(name, x, d_steps, n, "local pmap devices")
    x = x.reshape((d_steps, n, per_slice // n) + tuple(x.shape[1:]))
    x = x.swapaxes(0, 1).reshape((n, d_steps * (per_slice // n)) + tuple(x.shape[3:]))
    out[name] = jax.device_put(x, sharding)
  return out


def _shard_stacked(batch: dict[str, Any], mode: str, d_steps: int, n: int, mesh: Mesh | None,
                   devices: Sequence[jax.Device] | None) -> dict[str, jax.Array]:
  """`shard_batch` of n stacked host batches (every array (n, d_steps * B_local, ...)): each step's batch in the
  layout of one step, with the axis n in front (mesh) or right after the device axis (pmap)."""
  shapes = {name: tuple(np.shape(x)) for name, x in batch.items()}
  if any(len(shape) < 2 or shape[0] != n for shape in shapes.values()):
    raise ValueError(f"shard_batch: steps_per_call={n} takes {n} stacked host batches, every array (n={n}, "
                     f"d_steps * B, ...), got shapes {shapes}; stack them with jaxgan.train.StackedBatches")
  one = shard_batch({name: np.asarray(x[0]) for name, x in batch.items()}, mode, d_steps=d_steps, mesh=mesh,
                    devices=devices)  # the checks, and one step's global shapes
  out = {}
  for name, x in batch.items():
    x = np.asarray(x)
    if mode == "mesh":
      sharding = NamedSharding(mesh, P(None, None, _data_axis(mesh)))
      x = x.reshape((n, d_steps, x.shape[1] // d_steps) + x.shape[2:])
      if jax.process_count() == 1:
        out[name] = jax.device_put(x, sharding)
      else:
        out[name] = jax.make_array_from_process_local_data(sharding, x, (n,) + tuple(one[name].shape))
    else:
      local = _local_pmap_devices(devices)
      per_device = x.shape[1] // d_steps // len(local)
      x = x.reshape((n, d_steps, len(local), per_device) + x.shape[2:])
      x = np.moveaxis(x, 2, 0).reshape((len(local), n, d_steps * per_device) + x.shape[4:])
      out[name] = jax.device_put(x, _pmap_sharding(local))
  return out


def fetch_metrics(metrics: Metrics, mode: str) -> dict[str, float]:
  """Device metrics -> host floats (call once per log interval). pmap: the first device's copy, which pmean made
  equal on all devices; mesh: the replicated global value."""
  _check_mode(mode)
  if mode == "pmap":
    metrics = unreplicate(metrics)
  return {k: float(v) for k, v in jax.device_get(metrics).items()}


# ------------------------------------------------------------------------------------------------------------------
# One object for the host loop.


@dataclasses.dataclass(frozen=True)
class DataParallel:
  """The choice of compilation in one place, so a host loop reads the same for every mode.

  Attributes:
    mode: "jit" (one device), "mesh" (jax.jit over `mesh`) or "pmap".
    d_steps: the step's `cfg.d_steps` (the batch layout depends on it).
    mesh: the mesh, for mode "mesh".
    steps_per_call: n; > 1: `compile` gives n steps per call (`jaxgan.train.multistep.multi_step`) and `put_batch`
      takes n host batches stacked, (n, d_steps * B_local, ...) (`jaxgan.train.StackedBatches`); metrics (n,).

  Example:
    >>> dp = DataParallel.create("auto", d_steps=cfg.d_steps)
    >>> step = dp.compile(g, d, loss, g_tx, d_tx, cfg)
    >>> state = dp.put_state(init_state(...))
    >>> for host_batch in pipeline:
    ...   state, metrics = step(state, dp.put_batch(host_batch))   # metrics: () arrays in every mode
    >>> final = dp.host_state(state)
  """

  mode: str
  d_steps: int = 1
  mesh: Mesh | None = None
  steps_per_call: int = 1

  @classmethod
  def create(cls, mode: str = "auto", *, d_steps: int = 1, num_devices: int | None = None,
             steps_per_call: int = 1) -> "DataParallel":
    """mode "auto": "mesh" when there is more than one device (or process), else "jit".

    `num_devices` sizes the mesh (default: all devices); pmap always uses every device.

    Raises:
      ValueError: an unknown mode, "jit" with several processes, or a mesh size the devices do not match.
    """
    if mode not in ("auto", "jit") + MODES:
      raise ValueError(f"DataParallel: mode must be 'auto', 'jit', 'mesh' or 'pmap', got {mode!r}")
    if mode == "auto":
      mode = "mesh" if (num_devices or jax.device_count()) > 1 else "jit"
    if mode == "jit" and jax.process_count() > 1:
      raise ValueError("DataParallel: mode 'jit' runs on one device; with several processes use 'mesh' or 'pmap'")
    mesh = make_mesh(num_devices) if mode == "mesh" else None
    return cls(mode=mode, d_steps=d_steps, mesh=mesh,
               steps_per_call=check_steps_per_call(steps_per_call, "DataParallel: steps_per_call"))

  @property
  def num_devices(self) -> int:
    if self.mode == "mesh":
      return int(self.mesh.devices.size)
    return jax.device_count() if self.mode == "pmap" else 1

  def compile(self, generator: nn.Module, discriminator: nn.Module, loss: LossTransform,
              g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation, cfg: StepConfig, *,
              compiler_options: dict[str, Any] | None = None) -> StepFn:
    """The compiled step (state donated); under pmap its metrics come back as the first device's () copy.

    `compiler_options` go to `jax.jit` (modes "jit" and "mesh"; pmap takes none).
    """
    if cfg.d_steps != self.d_steps:
      raise ValueError(f"DataParallel: d_steps={self.d_steps} but cfg.d_steps={cfg.d_steps}")
    n = self.steps_per_call
    if self.mode == "jit":
      step = make_train_step(generator, discriminator, loss, g_tx, d_tx, cfg)
      return jax.jit(multi_step(step) if n > 1 else step, donate_argnums=0, compiler_options=compiler_options)
    if self.mode == "mesh":
      mesh_step = make_mesh_step(generator, discriminator, loss, g_tx, d_tx, cfg, self.mesh,
                                 compiler_options=compiler_options, steps_per_call=n)

      def placed_mesh_step(state, batch):
        self._check_placed(batch, self.d_steps, "d_steps")
        return mesh_step(state, batch)

      return placed_mesh_step
    step = make_pmap_step(generator, discriminator, loss, g_tx, d_tx, cfg, steps_per_call=n)

    def pmap_step(state, batch):
      self._check_placed(batch, jax.local_device_count(), "local devices")
      state, metrics = step(state, batch)
      return state, unreplicate(metrics)

    return pmap_step

  def compile_model(self, model: general.Model, *,
                    compiler_options: dict[str, Any] | None = None) -> Callable[..., Any]:
    """`compile` for a general-step model (jaxgan.train.general): its step on a TrainState, in this mode.

    Raises:
      ValueError: `self.d_steps` is not the model's number of batch slices (`model.num_slices`).
    """
    if model.num_slices != self.d_steps:
      raise ValueError(f"DataParallel: d_steps={self.d_steps} but the model splits its batch into "
                       f"{model.num_slices} slices (the steps of its per-slice players): create the DataParallel "
                       f"with d_steps={model.num_slices}")
    n = self.steps_per_call
    if self.mode == "jit":
      step = general.make_general_step(model)
      return jax.jit(multi_step(step) if n > 1 else step, donate_argnums=0, compiler_options=compiler_options)
    if self.mode == "mesh":
      mesh_step = make_model_mesh_step(model, self.mesh, compiler_options=compiler_options, steps_per_call=n)

      def placed_mesh_step(state, batch):
        self._check_placed(batch, self.d_steps, "d_steps")
        return mesh_step(state, batch)

      return placed_mesh_step
    step = make_model_pmap_step(model, steps_per_call=n)

    def pmap_step(state, batch):
      self._check_placed(batch, jax.local_device_count(), "local devices")
      state, metrics = step(state, batch)
      return state, unreplicate(metrics)

    return pmap_step

  def _check_placed(self, batch: Any, leading: int, what: str) -> None:
    """A batch that did not go through `put_batch` fails here with the remedy, not deep inside the sharding code."""
    name = "image" if not isinstance(batch, Mapping) or "image" in batch else next(iter(batch), "image")
    image = batch.get(name) if isinstance(batch, Mapping) else None
    n = self.steps_per_call
    expect = (leading,)
    if n > 1:  # the stacked layout: (n, d_steps, B, ...) on the mesh, (devices, n, ...) under pmap
      mesh = self.mode == "mesh"
      expect = (n, leading) if mesh else (leading, n)
      leading = f"({expect[0]}, {expect[1]})"
      what = f"steps_per_call and {what}" if mesh else f"{what} and steps_per_call"
    if not isinstance(image, jax.Array) or image.ndim < 1 + len(expect) or image.shape[:len(expect)] != expect:
      got = (f"{type(image).__name__} of shape {getattr(image, 'shape', None)}" if image is not None
             else repr(batch)[:80])
      raise ValueError(f"DataParallel({self.mode!r}) step: batch[{name!r}] must be placed by dp.put_batch (leading "
                       f"axis {leading}, the {what}), got {got}; pass each host batch through dp.put_batch")

  def put_state(self, state: Any) -> Any:
    """The state placed for the step (a copy: the step donates it)."""
    if self.mode == "jit":
      return _put_copy(state, jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))
    return put_state(state, self.mode, mesh=self.mesh)

  def put_batch(self, batch: dict[str, Any]) -> dict[str, jax.Array]:
    """A process-local host batch (d_steps * B_local, ...) in the step's layout (see `shard_batch`); with
    steps_per_call n > 1, n of them stacked, (n, d_steps * B_local, ...).

    uint8 images (a `Pipeline`'s host batches) travel as uint8 straight to the devices that use them and are
    converted there to float32 in [-1, 1] (`x / 127.5 - 1`); float images are placed as they are.
    """
    if self.mode == "jit":
      out = jax.device_put(batch, jax.local_devices()[0])
    else:
      out = shard_batch(batch, self.mode, d_steps=self.d_steps, mesh=self.mesh, steps_per_call=self.steps_per_call)
    if "image" in out and out["image"].dtype == jnp.uint8:
      out["image"] = uint8_to_float(out["image"])
    return out

  def host_state(self, state: Any) -> Any:
    """One copy of the state (pmap: unreplicated), e.g. for sampling or evaluation."""
    return unreplicate(state) if self.mode == "pmap" else state

  def checkpoint_state(self, state: Any) -> Any:
    """The one copy of the state that checkpoints hold, and the template they are restored into.

    jit and mesh: the state itself (the mesh state is one global array per leaf). pmap: the unreplicated
    state, and with several processes that copy as global arrays replicated over every device, which orbax
    can write from all processes together (process-local arrays it refuses).
    """
    if self.mode != "pmap":
      return state
    one = unreplicate(state)
    if jax.process_count() == 1:
      return one
    return replicate_on_mesh(one, Mesh(np.asarray(jax.devices()), ("all",)))
