"""Host-loop hooks: sample grids, loss curves, TensorBoard, periodic FID.

A hook is called by `jaxgan.train.loop.train` at fixed points of the host loop; it never
runs inside the compiled step. Every method is optional (subclass `Hook`):

  start(step, state)        after the state is initialized or restored, before any step
  after_step(step, state)   after every step (keep it a cheap Python check most of the time)
  log(step, record, state)  after a log record is written (record: the metrics.jsonl line)
  end(step, state)          after the last step (not on errors)
  close()                   always, last, also when training stopped with an error

Only process 0 writes files; hooks that sample call the generator on every process.

Example:
  >>> hooks = [SampleGrid(sample_fn, latents, every=500, directory="wd/samples"),
  ...          LossCurves("wd/metrics.jsonl", "wd/losses.png", every=500)]
  >>> state, records = train(step_fn, state, data, cfg, workdir="wd", hooks=hooks)
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Sequence

import jax
import numpy as np

from jaxgan import viz


class Hook:
  """Base class: every method does nothing."""

  def start(self, step: int, state: Any) -> None:
    del step, state

  def after_step(self, step: int, state: Any) -> None:
    del step, state

  def log(self, step: int, record: dict[str, Any], state: Any) -> None:
    del step, record, state

  def end(self, step: int, state: Any) -> None:
    del step, state

  def close(self) -> None:
    pass


def _is_writer() -> bool:
  return jax.process_index() == 0


class SampleGrid(Hook):
  """Writes `directory/step_XXXXXX.png`: G's outputs on the same latents every `every` steps.

  The latents (and labels) are fixed for the whole run, so the grids of different steps
  are directly comparable. A grid is also written after the last step.

  Args:
    sample_fn: `(state, z, labels) -> (N, H, W, C) float32 in [-1, 1]`, e.g. a jitted
      generator call on `state.g_variables(ema=True)`.
    latents: (N, Z) float32, fixed.
    labels: (N,) int32 class labels for a conditional G, or None.
    every: steps between grids; 0 writes only the final grid.
    directory: where the PNGs go.
    ncols: grid columns (default: sqrt(N), or the number of classes when the labels cycle).
    image_writers: objects with `image(tag, grid, step)` (e.g. `TensorBoard`) also given each
      grid, (H', W', C) uint8.
  """

  def __init__(self, sample_fn: Callable[[Any, jax.Array, jax.Array | None], jax.Array],
               latents: jax.Array, *, labels: jax.Array | None = None, every: int,
               directory: str | os.PathLike, ncols: int | None = None,
               image_writers: Sequence[Any] = ()):
    if every < 0:
      raise ValueError(f"SampleGrid: every must be >= 0, got {every}")
    self.sample_fn, self.latents, self.labels = sample_fn, latents, labels
    self.every, self.directory, self.ncols = every, os.fspath(directory), ncols
    self.image_writers = list(image_writers)
    self.written: list[str] = []
    self._last = -1

  def path(self, step: int) -> str:
    return os.path.join(self.directory, f"step_{step:06d}.png")

  def write(self, step: int, state: Any) -> None:
    """Samples the fixed latents and writes the grid of `step` (once per step)."""
    if step == self._last:
      return
    self._last = step
    images = np.asarray(jax.device_get(self.sample_fn(state, self.latents, self.labels)))
    if not _is_writer():
      return
    viz.save_image_grid(images, self.path(step), self.ncols)
    self.written.append(self.path(step))
    if self.image_writers:
      grid = viz.image_grid(images, self.ncols)
      for w in self.image_writers:
        w.image("samples", grid, step)

  def after_step(self, step: int, state: Any) -> None:
    if self.every and step % self.every == 0:
      self.write(step, state)

  def end(self, step: int, state: Any) -> None:
    self.write(step, state)


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
  """The records of a metrics.jsonl file (empty when it does not exist)."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def truncate_records(path: str | os.PathLike, last_step: int) -> None:
  """Keeps the records of a JSONL file (metrics.jsonl, fid.jsonl) with step <= last_step: a run resumed from the
  checkpoint of `last_step` redoes the later steps, and logs them again."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = [l for l in f if l.strip()]
  kept = [l for l in lines if json.loads(l).get("step", 0) <= last_step]
  if len(kept) != len(lines):
    with open(path, "w") as f:
      f.writelines(kept)


class LossCurves(Hook):
  """Plots `keys` of `metrics.jsonl` against the step into a PNG, every `every` steps and at the end.

  It reads the file, not the loop's records, so a resumed run plots its whole history.

  Args:
    metrics_path: the run's metrics.jsonl.
    path: the PNG to write (e.g. workdir/losses.png).
    keys: metrics to plot (missing ones are skipped).
    every: steps between plots; 0 plots only at the end.
    title: plot title.
  """

  def __init__(self, metrics_path: str | os.PathLike, path: str | os.PathLike, *,
               keys: Sequence[str] = ("d_loss", "g_loss"), every: int = 0, title: str = ""):
    self.metrics_path, self.path, self.keys = os.fspath(metrics_path), os.fspath(path), tuple(keys)
    self.every, self.title = every, title
    self._last = -1

  def write(self, step: int) -> None:
    """Plots the records written so far (once per step)."""
    if step == self._last:
      return
    self._last = step
    records = read_records(self.metrics_path)
    if records and _is_writer():
      viz.save_curves(records, self.keys, self.path, title=self.title)

  def after_step(self, step: int, state: Any) -> None:
    if self.every and step % self.every == 0:
      self.write(step)

  def end(self, step: int, state: Any) -> None:
    self.write(step)


def tensorboard_available() -> str | None:
  """The name of an importable TensorBoard writer backend ("tensorboardX", "tensorflow") or None."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  for name in ("tensorboardX", "tensorflow"):
    if importlib.util.find_spec(name) is not None:
      return name
  return None


class TensorBoardUnavailableError(RuntimeError):
  """TensorBoard logging was asked for but neither tensorboardX nor tensorflow is installed."""


class TensorBoard(Hook):
  """Writes TensorBoard event files: every numeric metric of each log record, and sample grids.

  Uses `tensorboardX` when importable, else `tensorflow`'s `tf.summary`; jaxgan depends on
  neither.

  Args:
    logdir: where the event files go (e.g. workdir/tensorboard).
  Raises:
    TensorBoardUnavailableError: neither package is importable (the message says what to install).
  """

  def __init__(self, logdir: str | os.PathLike):
    self.logdir = os.fspath(logdir)
    self.backend = tensorboard_available()
    if self.backend is None:
      raise TensorBoardUnavailableError(
          "TensorBoard logging needs the tensorboardX or tensorflow package and neither is "
          "installed: `pip install tensorboardX`, or turn it off (--tensorboard=false); "
          "metrics.jsonl and losses.png are written either way")
    self._writer = None

  def _open(self):
    if self._writer is None and _is_writer():
      if self.backend == "tensorboardX":
        import tensorboardX  # pylint: disable=g-import-not-at-top
        self._writer = tensorboardX.SummaryWriter(self.logdir)
      else:
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        self._writer = tf.summary.create_file_writer(self.logdir)
    return self._writer

  def scalar(self, tag: str, value: float, step: int) -> None:
    w = self._open()
    if w is None:
      return
    if self.backend == "tensorboardX":
      w.add_scalar(tag, value, step)
    else:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      with w.as_default():
        tf.summary.scalar(tag, value, step=step)

  def image(self, tag: str, grid: np.ndarray, step: int) -> None:
    """grid: (H, W, C) uint8."""
    w = self._open()
    if w is None:
      return
    if self.backend == "tensorboardX":
      w.add_image(tag, grid, step, dataformats="HWC")
    else:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      with w.as_default():
        tf.summary.image(tag, grid[None], step=step)

  def log(self, step: int, record: dict[str, Any], state: Any) -> None:
    for k, v in record.items():
      if k != "step" and isinstance(v, (int, float)) and np.isfinite(v):
        self.scalar(k, float(v), step)

  def close(self) -> None:
    if self._writer is not None:
      self._writer.flush()
      self._writer.close()
      self._writer = None


class PeriodicFID(Hook):
  """FID of G against reference statistics every `every` steps and at the end (Heusel et al. 2017,
  arXiv:1706.08500), via `jaxgan.metrics.fid`; results go to `path` (one JSON line per evaluation).

  `jaxgan.metrics` is imported only when this hook is built, so runs without FID never load it.

  Args:
    sample_fn: `(variables, key, n) -> (n, H, W, C) float32 in [-1, 1]`, G in eval mode; one
      function object for the whole run, so every evaluation reuses one compiled program.
    variables_of: `state -> variables` (e.g. `lambda s: s.g_variables(ema=True)`), passed to
      `sample_fn` as a traced argument.
    stats: path of the reference statistics (.npz with mu, sigma).
    num: samples per evaluation (50,000 for the standard FID; fewer is biased upwards).
    every: steps between evaluations; 0 evaluates only at the end.
    path: the JSONL file of results (e.g. workdir/fid.jsonl).
    batch_size: samples per compiled FID step.
    weights: Inception weights path ("" or None: the metrics module's default lookup).
    writers: objects with `scalar(tag, value, step)` (e.g. `TensorBoard`).
    seed: key of the FID samples (the same every evaluation).
  """

  def __init__(self, sample_fn: Callable[[Any, jax.Array, int], jax.Array],
               variables_of: Callable[[Any], Any], *,
               stats: str, num: int, every: int, path: str | os.PathLike, batch_size: int = 250,
               weights: str | None = None, writers: Sequence[Any] = (), seed: int = 0):
    from jaxgan import metrics  # pylint: disable=g-import-not-at-top
    if not stats or not os.path.exists(stats):
      raise FileNotFoundError(
          f"FID reference statistics {stats!r} not found (config field `fid_stats`); compute them "
          "with `python -m jaxgan.fid stats SOURCE --out FILE.npz` or turn FID off "
          "(--fid_every=0)")
    if num < 2:
      raise ValueError(f"fid_num must be >= 2, got {num}")
    self._metrics = metrics
    self.sample_fn, self.variables_of = sample_fn, variables_of
    self.stats_path, self.num, self.every = stats, num, every
    self.path, self.batch_size, self.writers, self.seed = os.fspath(path), batch_size, writers, seed
    self.stats = metrics.load_stats(stats)
    self.extractor = metrics.inception_extractor(weights or None)
    self.history: list[dict[str, Any]] = []
    self._last = -1

  def start(self, step: int, state: Any) -> None:
    """A resumed run keeps the evaluations up to its checkpoint's step (the later ones were of steps it redoes), so
    `history` and the file cover the whole run, each step once; a finished run is not scored again."""
    del state
    if _is_writer():
      truncate_records(self.path, step)
    self.history = [r for r in read_records(self.path) if r.get("step", 0) <= step]
    self._last = step if self.history and self.history[-1]["step"] == step else -1

  def evaluate(self, step: int, state: Any) -> float:
    if step == self._last:
      return self.history[-1]["fid"]
    self._last = step
    value = float(self._metrics.fid(
        self.sample_fn, self.stats, num=self.num, batch_size=min(self.batch_size, self.num),
        key=jax.random.PRNGKey(self.seed), extractor=self.extractor, allow_few=self.num < 2048,
        sample_args=self.variables_of(state)))
    entry = {"step": step, "fid": value, "num": self.num}
    self.history.append(entry)
    if _is_writer():
      with open(self.path, "a") as f:
        f.write(json.dumps(entry) + "\n")
      for w in self.writers:
        w.scalar("fid", value, step)
    return value

  def after_step(self, step: int, state: Any) -> None:
    if self.every and step % self.every == 0:
      self.evaluate(step, state)

  def end(self, step: int, state: Any) -> None:
    self.evaluate(step, state)
