"""The host loop: the only impure code around the pure step.

It feeds batches, keeps metrics on device until a log step, then fetches them once,
checks them for NaN/inf, writes `metrics.jsonl`, saves checkpoints only of states
whose every step was finite, and resumes from the latest checkpoint. Hooks
(`jaxgan.train.hooks`: sample grids, loss curves, TensorBoard, FID) run on the host
between steps; a tqdm bar shows steps/s, images/s and the latest losses.

With `LoopConfig.steps_per_call` n > 1 each call of the step function makes n steps (a
`jaxgan.train.multistep.multi_step` fed stacked batches): its metrics are unstacked into n
per-step records for the logs and the NaN check (which names the step inside the call), and
logs, checkpoints, hooks and the deadline happen between calls only.

Resuming drops the lines of `metrics.jsonl` written after the restored checkpoint (they
are logged again by the resumed run); starting over (`resume=False`) in a workdir that
holds a previous run moves that run's artefacts to `workdir/superseded/<time>/` first, so
old and new checkpoints are never mixed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from typing import Any, Callable, Iterator, Protocol, Sequence

import jax
import numpy as np

from jaxgan.train.checkpoint import Checkpointer
from jaxgan.train.hooks import truncate_records
from jaxgan.train.multistep import check_steps_per_call, unstack_metrics

_FLAGS = ("loss_finite", "batch_finite")
# What a run writes into its workdir (moved aside together when a run starts over).
RUN_ARTEFACTS = ("checkpoints", "metrics.jsonl", "summary.json", "samples", "losses.png",
                 "tensorboard", "fid.jsonl")


class NonFiniteError(FloatingPointError):
  """Training produced a NaN/inf loss (or was fed a non-finite batch)."""


class Resumable(Protocol):
  """A data source whose position is saved in checkpoints."""

  def state(self) -> dict[str, Any]:
    ...

  def restore(self, state: dict[str, Any]) -> None:
    ...


@dataclasses.dataclass
class LoopConfig:
  """Host-loop settings.

  Attributes:
    num_steps: train until state.step reaches this.
    log_every: fetch and write metrics every this many steps.
    checkpoint_every: save every this many steps (0: only at the end); metrics are
      fetched and checked first, so only states whose every step was finite are saved.
    keep: number of checkpoints kept.
    resume: restore the latest checkpoint of the workdir when there is one; False starts
      over and moves a previous run's artefacts (RUN_ARTEFACTS) to workdir/superseded/.
    progress: show a tqdm progress bar (process 0 only).
    images_per_step: real images consumed per step (d_steps * batch size); > 0 adds
      "images_per_sec" to the log records and the progress bar.
    deadline: a `time.time()` value, or None. The first step dispatched at or after it ends
      the run as `num_steps` would (logged, checkpointed, hooks ended); with a deadline the host
      waits for step k - 1 before dispatching step k + 1, so the box overshoots by about one
      step. A time-boxed run is the first steps of the full run, and resuming it without a
      deadline continues that run. One process only (several would stop at different steps).
      With steps_per_call n > 1: read between calls, the first call dispatched at or after it is the last,
      and the host waits for call c - 1 before dispatching c + 1.
    steps_per_call: n, steps made by each call of the step function (1: a plain step). With n > 1 the step
      function is a multi-step one (`jaxgan.train.multistep.multi_step`, compiled) and the batches are n stacked
      batches (`jaxgan.train.multistep.StackedBatches`); its metrics have a leading axis n. Logs, checkpoints,
      hooks (`after_step`) and the deadline come between calls only, so `num_steps`, `log_every` and
      `checkpoint_every` (when > 0) must be multiples of n, and a resumed run must start at a multiple of n.
      The states and records are those of n = 1, bit for bit on a CPU.
  """

  num_steps: int
  log_every: int = 100
  checkpoint_every: int = 1000
  keep: int = 3
  resume: bool = True
  progress: bool = False
  images_per_step: int = 0
  deadline: float | None = None
  steps_per_call: int = 1

  def check(self) -> None:
    """Raises ValueError unless `steps_per_call` is an int >= 1 that divides `num_steps`, `log_every` and
    `checkpoint_every` (when > 0), naming each field that is not a multiple and the values to set instead."""
    n = check_steps_per_call(self.steps_per_call, "LoopConfig.steps_per_call")
    fields = {"num_steps": self.num_steps, "log_every": self.log_every}
    if self.checkpoint_every > 0:
      fields["checkpoint_every"] = self.checkpoint_every
    bad = {k: v for k, v in fields.items() if v % n}
    if bad:
      got = ", ".join(f"{k}={v}" for k, v in bad.items())
      fix = ", ".join(f"{k}={_multiple_near(v, n)}" for k, v in bad.items())
      raise ValueError(f"LoopConfig: steps_per_call={n} needs num_steps, log_every and checkpoint_every (when > 0) "
                       f"that are multiples of {n} (logs, checkpoints and hooks happen between calls of {n} steps), "
                       f"got {got}; set {fix}, or steps_per_call to a common divisor of them (1 always works)")


def _multiple_near(value: int, n: int) -> str:
  """The multiples of n around `value` (the one below omitted when it is 0), e.g. "8 or 12"."""
  below, above = value // n * n, -(-value // n) * n
  return str(above) if below == 0 else f"{below} or {above}"


def _mean_metrics(history: list[dict[str, Any]]) -> dict[str, Any]:
  """Means over steps of host metrics; finiteness flags take the minimum."""
  out = {}
  for k in history[0]:
    values = np.stack([np.asarray(h[k], np.float64) for h in history])
    out[k] = values.min(axis=0) if k in _FLAGS else values.mean(axis=0)
  return out


def _jsonable(x: Any) -> Any:
  x = np.asarray(x)
  return float(x) if x.ndim == 0 else x.tolist()


def check_finite(history: list[dict[str, Any]], first_step: int) -> None:
  """Raises NonFiniteError naming the first step (and losses) whose metrics are not finite."""
  for i, h in enumerate(history):
    bad_batch = "batch_finite" in h and not np.all(np.asarray(h["batch_finite"]) > 0)
    bad_loss = "loss_finite" in h and not np.all(np.asarray(h["loss_finite"]) > 0)
    bad_keys = [k for k, v in h.items() if k.endswith("loss") and not np.all(np.isfinite(v))]
    if bad_batch:
      raise NonFiniteError(f"step {first_step + i}: the input batch contains NaN/inf values; "
                           "check the data source")
    if bad_loss or bad_keys:
      which = ", ".join(bad_keys) if bad_keys else "a gradient"
      raise NonFiniteError(
          f"step {first_step + i}: non-finite {which} (NaN/inf); training stopped, the last "
          "good checkpoint is kept. Lower the learning rate or add a regularizer.")


def move_aside(workdir: str | os.PathLike, names: Sequence[str] = RUN_ARTEFACTS) -> str | None:
  """Moves the run artefacts `names` present in `workdir` to `workdir/superseded/<time>/`.

  Returns:
    The folder they were moved to, or None when there was nothing to move.
  """
  present = [n for n in names if os.path.exists(os.path.join(workdir, n))]
  if not present:
    return None
  stamp = time.strftime("%Y%m%d-%H%M%S")
  dest = os.path.join(workdir, "superseded", stamp)
  i = 1
  while os.path.exists(dest):
    dest, i = os.path.join(workdir, "superseded", f"{stamp}-{i}"), i + 1
  os.makedirs(dest)
  for n in present:
    shutil.move(os.path.join(workdir, n), os.path.join(dest, n))
  return dest


def _postfix(record: dict[str, Any]) -> dict[str, str]:
  out = {k: f"{np.mean(record[k]):.3f}" for k in ("d_loss", "g_loss") if k in record}
  if "images_per_sec" in record:
    out["img/s"] = f"{np.mean(record['images_per_sec']):.0f}"
  return out


def train(
    step_fn: Callable[[Any, Any], tuple[Any, dict[str, Any]]],
    state: Any,
    batches: Iterator[Any],
    cfg: LoopConfig,
    *,
    workdir: str | os.PathLike | None = None,
    config: Any = None,
    data: Resumable | None = None,
    on_log: Callable[[int, dict[str, Any], Any], None] | None = None,
    hooks: Sequence[Any] = (),
    placement: Any = None,
) -> tuple[Any, list[dict[str, Any]]]:
  """Runs `step_fn` until `state.step == cfg.num_steps` (or the first step after `cfg.deadline`).

  Args:
    step_fn: compiled step, `(state, batch) -> (state, metrics)`; may donate `state`. With
      `cfg.steps_per_call` n > 1, a compiled `multi_step`: `(state, batches) -> (state, metrics)`, n steps per
      call, every metric leaf with a leading axis n.
    state: the initial state (replaced by the checkpoint when resuming).
    batches: iterator of batches (n > 1: of n stacked batches, e.g. a `StackedBatches`).
    cfg: LoopConfig.
    workdir: where `metrics.jsonl` and `checkpoints/` go; None writes nothing.
    config: the run's JSON-able configuration (checkpoints refuse another one).
    data: the data source, if its position must be saved and restored.
    on_log: `on_log(step, means, state)` after each log (plots, samples, prints).
    hooks: `jaxgan.train.hooks.Hook`s: start after init/restore, after_step after every
      step (after that step's log and checkpoint; with steps_per_call n > 1 after every call, at the
      steps that are multiples of n), log after each record, end after the last step, close always
      (also on errors).
    placement: how `state` sits on the devices, e.g. a `jaxgan.train.parallel.DataParallel`:
      `checkpoint_state(state)` gives the one copy that checkpoints hold and `put_state(copy)`
      places a restored copy. Checkpoints are then the same under jit, mesh and pmap (a pmap run's
      checkpoint holds no per-device copies) and any of them can resume any other. None: the
      state is checkpointed as it is.
  Returns:
    (final state, list of logged records). Each record: {"step": s, metric: mean over
    the steps since the previous record (a list when the metric is per seed)}.
  Raises:
    NonFiniteError: a loss or batch was NaN/inf; the message names the step (the first bad step inside a
      call of several). The checkpoints written before stay.
    ValueError: `cfg.steps_per_call` does not divide num_steps, log_every or checkpoint_every, or the
      (resumed) start step; a deadline with several processes.
  """
  cfg.check()
  n = cfg.steps_per_call
  if cfg.deadline is not None and jax.process_count() > 1:
    raise ValueError("a training deadline (time box) needs a single process: each process would stop at its own "
                     "step; give multi-host runs a number of steps instead")
  writer = jax.process_index() == 0 and workdir is not None
  ckpt = None
  log_path = os.path.join(workdir, "metrics.jsonl") if writer else None
  if workdir is not None:
    os.makedirs(workdir, exist_ok=True)
    if not cfg.resume and writer:
      moved = move_aside(workdir)
      if moved:
        print(f"starting over: the previous run's files are now in {moved}")
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=cfg.keep,
                        config=config)
    if cfg.resume and ckpt.latest_step() is not None:
      if placement is None:
        state, extra = ckpt.restore(state)
      else:
        restored, extra = ckpt.restore(placement.checkpoint_state(state))
        state = placement.put_state(restored)
      if data is not None and extra.get("data") is not None:
        data.restore(extra["data"])
      if log_path:
        truncate_records(log_path, int(jax.device_get(state.step).reshape(-1)[0]))
  step = int(jax.device_get(state.step).reshape(-1)[0])
  if step % n:
    raise ValueError(f"the run starts at step {step} (the latest checkpoint's, or the given state's), not a multiple "
                     f"of steps_per_call={n}: calls of {n} steps would miss the log and checkpoint steps; resume with "
                     f"a steps_per_call that divides {step} (1 always works) up to a checkpoint at a multiple of {n}")
  if log_path and step == 0 and os.path.exists(log_path):
    os.remove(log_path)  # a fresh start replaces the previous run's log
  records: list[dict[str, Any]] = []
  pending: list[dict[str, Any]] = []  # metrics still on device
  checked: list[dict[str, Any]] = []  # fetched and checked, not yet logged
  first_pending = step
  bar = None
  try:
    for h in hooks:
      h.start(step, state)
    if cfg.progress and jax.process_index() == 0:
      import tqdm  # pylint: disable=g-import-not-at-top
      bar = tqdm.tqdm(total=cfg.num_steps, initial=step, unit="step", dynamic_ncols=True)
    t0, s0 = time.perf_counter(), step

    while step < cfg.num_steps:
      state, metrics = step_fn(state, next(batches))
      pending.append(metrics)
      step += n
      if bar is not None:
        bar.update(n)
      if cfg.deadline is not None and len(pending) >= 2:  # the host runs ahead of the device (async dispatch):
        jax.block_until_ready(pending[-2])  # with a deadline, at most one step ahead, so that its clock counts
      last = step == cfg.num_steps or (cfg.deadline is not None and time.time() >= cfg.deadline)
      is_log = step % cfg.log_every == 0 or last
      is_ckpt = cfg.checkpoint_every > 0 and step % cfg.checkpoint_every == 0
      if is_log or is_ckpt:
        fetched = jax.device_get(pending)
        if n > 1:  # one dict per call, every leaf (n, ...) -> one dict per step
          fetched = [one for call in fetched for one in unstack_metrics(call, n)]
        check_finite(fetched, first_pending + 1)
        checked += fetched
        pending, first_pending = [], step
      if is_log:
        means = _mean_metrics(checked)
        dt = time.perf_counter() - t0
        rate = (step - s0) / dt if dt > 0 else math.nan
        record = {"step": step, **{k: _jsonable(v) for k, v in means.items()},
                  "steps_per_sec": rate}
        if cfg.images_per_step > 0:
          record["images_per_sec"] = rate * cfg.images_per_step
        records.append(record)
        if log_path:
          with open(log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if bar is not None:
          bar.set_postfix(_postfix(record))
        if on_log is not None:
          on_log(step, means, state)
        for h in hooks:
          h.log(step, record, state)
        checked = []
      if ckpt is not None and (is_ckpt or last):
        ckpt.save(step, state if placement is None else placement.checkpoint_state(state),
                  {"data": data.state() if data is not None else None})
      for h in hooks:
        h.after_step(step, state)
      if last:
        break
      if is_log:
        t0, s0 = time.perf_counter(), step  # hooks and checkpoints are not counted
    for h in hooks:
      h.end(step, state)
  finally:
    if bar is not None:
      bar.close()
    for h in hooks:
      h.close()
  return state, records
