"""Multi-host runs: `jax.distributed` start-up, process roles, per-process data shards, cross-process checks.

Every process runs the same program. `initialize()` connects them (before any other JAX call); after it,
`jax.devices()` lists every process's devices, a `Mesh` over them (`jaxgan.train.parallel.make_mesh`) spans all
hosts, each process feeds its own slice of every global batch (`data_shard()`), orbax checkpoints are written by
all processes together (`jaxgan.train.checkpoint.Checkpointer`, unchanged) and only process 0 writes logs
(`is_main_process()`, `main_process_only`).

How the processes find each other:

* TPU VM pod slices (and SLURM / Open MPI launches on GPU clusters): nothing to pass; `jax.distributed.initialize()`
  detects the cluster from the environment.
* Other GPU clusters and tests: `initialize(coordinator="host0:1234", num_processes=2, process_id=i)`, or the
  environment variables JAXGAN_COORDINATOR, JAXGAN_NUM_PROCESSES, JAXGAN_PROCESS_ID (explicit arguments win).

Example:
  >>> info = distributed.initialize()                 # a no-op for a single-process run
  >>> pipeline = Pipeline(..., **distributed.data_shard())
  >>> if distributed.is_main_process(): write_log(...)
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import warnings
from typing import Any, Callable, TypeVar

import jax
import numpy as np

from jaxgan._checks import is_int

ENV_COORDINATOR = "JAXGAN_COORDINATOR"
ENV_NUM_PROCESSES = "JAXGAN_NUM_PROCESSES"
ENV_PROCESS_ID = "JAXGAN_PROCESS_ID"
ENV_AUTO = "JAXGAN_DISTRIBUTED_AUTO"  # "1": call jax.distributed.initialize() and let JAX detect the cluster

_F = TypeVar("_F", bound=Callable[..., Any])
_initialized_here = False


@dataclasses.dataclass(frozen=True)
class ProcessInfo:
  """Where this process stands in the launch.

  Attributes:
    process_index: this process, in [0, process_count).
    process_count: number of processes.
    local_device_count: devices of this process.
    device_count: devices of all processes.
    coordinator: the coordinator address used, or None (single process or auto-detected).
  """

  process_index: int
  process_count: int
  local_device_count: int
  device_count: int
  coordinator: str | None = None

  @property
  def is_main(self) -> bool:
    return self.process_index == 0


def _from_env(value: Any, env: str, cast: Callable[[str], Any]) -> Any:
  if value is not None:
    return value
  raw = os.environ.get(env)
  if raw is None or raw == "":
    return None
  try:
    return cast(raw)
  except ValueError as e:
    raise ValueError(f"environment variable {env}={raw!r} is not valid: {e}") from e


def _check_int(name: str, value: Any, minimum: int) -> int:
  if not is_int(value) or value < minimum:
    raise ValueError(f"initialize: {name} must be an int >= {minimum}, got {value!r}")
  return int(value)


def _check_coordinator(address: str) -> str:
  if not isinstance(address, str) or not re.fullmatch(r"\[?[A-Za-z0-9_.:\-]+\]?:\d{1,5}", address):
    raise ValueError(f"initialize: coordinator must be 'host:port' (e.g. '10.0.0.1:1234'), got {address!r}")
  port = int(address.rsplit(":", 1)[1])
  if not 0 < port < 65536:
    raise ValueError(f"initialize: coordinator port must be in [1, 65535], got {port}")
  return address


def _cluster_detected() -> bool:
  """True when the environment describes a multi-process launch that jax can auto-detect."""
  hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
  if len([h for h in hosts.split(",") if h]) > 1:
    return True
  for var in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
    try:
      if int(os.environ.get(var, "1")) > 1:
        return True
    except ValueError:
      pass
  return False


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None,
               *, local_device_ids: int | list[int] | None = None, auto: bool | None = None,
               timeout_s: int = 300) -> ProcessInfo:
  """Connects the processes of a multi-host launch (call first, before any other JAX call).

  Decides, in order:
  1. explicit `coordinator`, `num_processes`, `process_id` (each falling back to JAXGAN_COORDINATOR,
     JAXGAN_NUM_PROCESSES, JAXGAN_PROCESS_ID): all three are needed, unless num_processes is 1 (a single process,
     nothing to connect; a coordinator is then ignored);
  2. otherwise, when `auto` is True (or JAXGAN_DISTRIBUTED_AUTO=1), or `auto` is None and the environment
     describes a TPU pod slice (TPU_WORKER_HOSTNAMES with several hosts) or a SLURM / Open MPI launch of several
     tasks, `jax.distributed.initialize()` detects everything. (On TPU pod slices JAX also runs multi-host
     without it; calling it is recommended and what `auto` does.);
  3. otherwise a single-process run: nothing is done.
  On CPU, cross-process collectives use gloo; run one CPU device per process (with more it hangs at times, and
  `initialize` warns).

  Args:
    coordinator: "host:port" of process 0's coordinator service (the port must be free on that host).
    num_processes: number of processes, >= 1.
    process_id: this process, in [0, num_processes).
    local_device_ids: restrict this process to these local devices (e.g. one GPU per process).
    auto: force (True) or forbid (False) cluster auto-detection.
    timeout_s: how long to wait for all processes to connect.
  Returns:
    ProcessInfo of this process.
  Raises:
    ValueError: incomplete or inconsistent settings (a process id outside [0, num_processes), a malformed
      coordinator, only some of the three given), or, after connecting, a process count or index different from
      the one asked for, or processes with different device counts.
    RuntimeError: JAX was already used in this process before `initialize` (from `jax.distributed`).
  """
  global _initialized_here
  coordinator = _from_env(coordinator, ENV_COORDINATOR, str)
  num_processes = _from_env(num_processes, ENV_NUM_PROCESSES, int)
  process_id = _from_env(process_id, ENV_PROCESS_ID, int)
  explicit = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
  given = [k for k, v in explicit.items() if v is not None]

  if num_processes is not None:
    num_processes = _check_int("num_processes", num_processes, 1)
  if process_id is not None:
    process_id = _check_int("process_id", process_id, 0)
    if num_processes is not None and process_id >= num_processes:
      raise ValueError(f"initialize: process_id={process_id} must be in [0, num_processes={num_processes})")
  if coordinator is not None:
    coordinator = _check_coordinator(coordinator)

  if num_processes == 1:  # one process: nothing to connect, whatever the coordinator (process_id: 0, checked above)
    return _info(None, expect=(0, 1))
  if given and len(given) < 3:
    missing = [k for k, v in explicit.items() if v is None]
    raise ValueError(f"initialize: a multi-process launch needs coordinator, num_processes and process_id; got "
                     f"{given}, missing {missing} (arguments, or the environment variables {ENV_COORDINATOR}, "
                     f"{ENV_NUM_PROCESSES}, {ENV_PROCESS_ID})")

  if auto is None and os.environ.get(ENV_AUTO, "").lower() in ("1", "true", "yes"):
    auto = True
  use_auto = not given and (auto is True or (auto is None and _cluster_detected()))
  if not given and not use_auto:
    return _info(None, expect=None)

  if jax.distributed.is_initialized():
    return _info(coordinator, expect=None if use_auto else (process_id, num_processes))
  try:  # the CPU client needs a collectives implementation for cross-process all-reduce
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  except (AttributeError, ValueError):
    pass
  if use_auto:
    jax.distributed.initialize(local_device_ids=local_device_ids, initialization_timeout=timeout_s)
  else:
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id, local_device_ids=local_device_ids,
                               initialization_timeout=timeout_s)
  _initialized_here = True
  return _info(coordinator, expect=None if use_auto else (process_id, num_processes))


def _info(coordinator: str | None, expect: tuple[int, int] | None) -> ProcessInfo:
  info = ProcessInfo(process_index=jax.process_index(), process_count=jax.process_count(),
                     local_device_count=jax.local_device_count(), device_count=jax.device_count(),
                     coordinator=coordinator)
  if expect is not None and (info.process_index, info.process_count) != tuple(expect):
    raise ValueError(f"inconsistent multi-host launch: asked for process {expect[0]} of {expect[1]}, JAX reports "
                     f"process {info.process_index} of {info.process_count}; check every process's "
                     "--num_processes/--process_id")
  from jaxgan.train.parallel import check_processes  # pylint: disable=g-import-not-at-top
  check_processes()
  why = _unreliable_layout(jax.default_backend(), info.process_count, info.local_device_count)
  if why:
    warnings.warn(why, stacklevel=3)
  return info


def _unreliable_layout(platform: str, process_count: int, local_device_count: int) -> str | None:
  """Why this launch's layout is known to hang, or None.

  XLA's CPU collectives across processes (Gloo) hang intermittently when a process has more than one device:
  jaxgan's 2-process check (tests/_distributed_check.py) hung in 9 of 12 runs with 2 virtual CPU devices per
  process and in none of 18 with one (2 cores, jax 0.10.2, 2026-11-26); see also openxla/xla#16430.
  """
  if platform == "cpu" and process_count > 1 and local_device_count > 1:
    return (f"distributed.initialize: {local_device_count} CPU devices in each of {process_count} processes; XLA's "
            "CPU collectives across processes (Gloo) hang intermittently with more than one device per process "
            "(openxla/xla#16430). Run one CPU device per process: leave out "
            "--xla_force_host_platform_device_count from XLA_FLAGS, or set it to 1, and start more processes.")
  return None


def shutdown() -> None:
  """Disconnects from the other processes, if `initialize` connected them."""
  global _initialized_here
  if _initialized_here and jax.distributed.is_initialized():
    jax.distributed.shutdown()
  _initialized_here = False


def is_main_process() -> bool:
  """True on process 0, the one that writes logs, images and summaries."""
  return jax.process_index() == 0


def main_process_only(fn: _F) -> _F:
  """Decorator: `fn` runs on process 0 only; elsewhere the call does nothing and returns None."""

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    if jax.process_index() != 0:
      return None
    return fn(*args, **kwargs)

  return wrapper  # type: ignore[return-value]


def data_shard() -> dict[str, int]:
  """Keyword arguments for `jaxgan.data.pipeline.Pipeline`: this process's index and the process count."""
  return {"process_index": jax.process_index(), "process_count": jax.process_count()}


def sync(name: str) -> None:
  """Barrier: returns when every process has reached `sync(name)` (no-op with one process)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)


def assert_same_across_processes(value: Any, name: str) -> None:
  """Checks that a small host value (e.g. a config fingerprint or batch size) is equal on every process.

  Raises:
    ValueError: the processes disagree (names the value).
  """
  if jax.process_count() == 1:
    return
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  arr = np.asarray(value)
  gathered = np.asarray(multihost_utils.process_allgather(arr))
  if not np.all(gathered == gathered[:1]):
    raise ValueError(f"inconsistent multi-host launch: {name} differs between processes: "
                     f"{gathered.reshape(gathered.shape[0], -1).tolist()}")
