"""The host loop: the only impure code around the pure step.

It feeds batches, keeps metrics on device until a log step, then fetches them once,
checks them for NaN/inf, writes `metrics.jsonl`, saves checkpoints only of states
whose every step was finite, and resumes from the latest checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any, Callable, Iterator, Protocol

import jax
import numpy as np

from jaxgan.train.checkpoint import Checkpointer

_FLAGS = ("loss_finite", "batch_finite")


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
    resume: restore the latest checkpoint of the workdir when there is one.
    progress: show a tqdm progress bar (process 0 only).
  """

  num_steps: int
  log_every: int = 100
  checkpoint_every: int = 1000
  keep: int = 3
  resume: bool = True
  progress: bool = False


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
) -> tuple[Any, list[dict[str, Any]]]:
  """Runs `step_fn` until `state.step == cfg.num_steps`.

  Args:
    step_fn: compiled step, `(state, batch) -> (state, metrics)`; may donate `state`.
    state: the initial state (replaced by the checkpoint when resuming).
    batches: iterator of batches.
    cfg: LoopConfig.
    workdir: where `metrics.jsonl` and `checkpoints/` go; None writes nothing.
    config: the run's JSON-able configuration (checkpoints refuse another one).
    data: the data source, if its position must be saved and restored.
    on_log: `on_log(step, means, state)` after each log (plots, samples, prints).
  Returns:
    (final state, list of logged records). Each record: {"step": s, metric: mean over
    the steps since the previous record (a list when the metric is per seed)}.
  Raises:
    NonFiniteError: a loss or batch was NaN/inf; the message names the step. The
      checkpoints written before stay.
  """
  writer = jax.process_index() == 0 and workdir is not None
  ckpt = None
  if workdir is not None:
    os.makedirs(workdir, exist_ok=True)
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=cfg.keep,
                        config=config)
    if cfg.resume and ckpt.latest_step() is not None:
      state, extra = ckpt.restore(state)
      if data is not None and extra.get("data") is not None:
        data.restore(extra["data"])
  step = int(jax.device_get(state.step).reshape(-1)[0])
  log_path = os.path.join(workdir, "metrics.jsonl") if writer else None
  if log_path and step == 0 and os.path.exists(log_path):
    os.remove(log_path)  # a fresh start replaces the previous run's log
  records: list[dict[str, Any]] = []
  pending: list[dict[str, Any]] = []  # metrics still on device
  checked: list[dict[str, Any]] = []  # fetched and checked, not yet logged
  first_pending = step
  bar = None
  if cfg.progress and jax.process_index() == 0:
    import tqdm  # pylint: disable=g-import-not-at-top
    bar = tqdm.tqdm(total=cfg.num_steps, initial=step, unit="step", dynamic_ncols=True)
  t0, s0 = time.perf_counter(), step

  while step < cfg.num_steps:
    state, metrics = step_fn(state, next(batches))
    pending.append(metrics)
    step += 1
    is_log = step % cfg.log_every == 0 or step == cfg.num_steps
    is_ckpt = cfg.checkpoint_every > 0 and step % cfg.checkpoint_every == 0
    if not (is_log or is_ckpt):
      continue
    fetched = jax.device_get(pending)
    check_finite(fetched, first_pending + 1)
    checked += fetched
    pending, first_pending = [], step
    if is_log:
      means = _mean_metrics(checked)
      dt = time.perf_counter() - t0
      record = {"step": step, **{k: _jsonable(v) for k, v in means.items()},
                "steps_per_sec": (step - s0) / dt if dt > 0 else math.nan}
      records.append(record)
      if log_path:
        with open(log_path, "a") as f:
          f.write(json.dumps(record) + "\n")
      if bar is not None:
        bar.update(step - bar.n)
        shown = {k: v for k, v in record.items() if k in ("d_loss", "g_loss")}
        bar.set_postfix({k: f"{np.mean(v):.3f}" for k, v in shown.items()})
      if on_log is not None:
        on_log(step, means, state)
      checked = []
      t0, s0 = time.perf_counter(), step
    if ckpt is not None and (is_ckpt or step == cfg.num_steps):
      ckpt.save(step, state, {"data": data.state() if data is not None else None})
  if bar is not None:
    bar.close()
  return state, records
