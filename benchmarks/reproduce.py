"""Reproduce the classics (issue 7): train named rows of `experiments.classics`, evaluate each with its paper's
protocol (`experiments.protocols`), write results/*.json and a markdown table.

  python -m benchmarks.reproduce --rows mnist_ns,fashion_wgan --seeds 0,1,2 --out results/
  python -m benchmarks.reproduce --baselines --out results/                 # real train-vs-test FIDs only
  python -m benchmarks.reproduce --rows mnist_ns --steps 300 --eval-cap 500 --out results/cpu  # CPU check: short
                                           # run, FID of <= 500 images per side (biased; marked "not comparable")
  python -m benchmarks.reproduce --rows mnist_ns --smoke --out /tmp/smoke   # seconds: tiny nets, <= 64 images
  python -m benchmarks.reproduce --rows fashion --seeds 0,1,2 --together --out results/  # each row's seeds trained
                                           # side by side in one compiled step (jax.vmap), then evaluated one by one
  python -m benchmarks.reproduce --rows cifar --steps cifar_wgan_gp_resnet=8000,cifar_sngan_resnet_hinge=6000 \
      --out results/                        # the rows named are shortened (marked in the table), the others not
  python -m benchmarks.reproduce --rows cifar --train-seconds 300 --out results/  # time box: each run stops at
                                           # its first step after 300 s of training (the table says so)
  python -m benchmarks.reproduce --rows fashion_ls --standing-stats 100 --out results/  # G's weight average also
                                           # scored with standing batch-norm statistics (100 batches of 64 latents)
  python -m benchmarks.reproduce --list
  python -m benchmarks.reproduce --table --out results/                     # rewrite the table from the JSON
  python -m benchmarks.reproduce --rows mnist,fashion --plan                 # check the arguments, list the rows

Writes under --out:
  runs/<row>/seed_<s>/    the experiment workdir (resumed when run again: a finished run is only re-evaluated)
  stats/*.npz             cached reference statistics (mu, sigma) per dataset, split, count, mode and size
  <row>.json              per seed: FID (and IS), steps, train and eval seconds, status, device, date; and their
                          aggregate. Rewritten after every seed; seeds of an earlier file with the same settings are
                          kept, so seeds run in separate sessions add up (other settings: the old file moves to
                          superseded/)
  baselines.json          real-vs-real FIDs per dataset and protocol
  results.md              the table: every row of `experiments.classics` (rows without results read
                          "not run (needs GPU)") and every baseline

A seed whose training stops on a non-finite loss, or whose FID is not finite or above `--diverged-above`, is
reported as "diverged" (its FID is left out of the mean, and the row says how many seeds diverged).
`--steps N` shortens a run; the table then shows the steps run next to the paper's, so it is never mistaken for a
reproduction. `--train-seconds S` time-boxes a run instead: it trains the paper's run (its learning-rate schedule
unchanged) and stops at the first step after S seconds, so it is the first steps of the paper's run, where
`--steps` compresses the whole run into fewer steps; the table shows the steps reached and the box. A time-boxed
seed that has trained is only evaluated when run again (its workdir is resumed up to the step it reached). FID of
fewer than 2048 images (smoke) is strongly biased and only checks the plumbing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import pathlib
import platform
import sys
import time
from typing import Any, Callable, Mapping, Sequence

import jax
import ml_collections
import numpy as np

from experiments import classics
from experiments import protocols as proto
from jaxgan import sampling
from jaxgan.data import get_dataset
from jaxgan.metrics.frechet import METHODS as FRECHET_METHODS
from jaxgan.train import experiment
from jaxgan.train.checkpoint import CheckpointMismatchError
from jaxgan.train.loop import NonFiniteError

SMOKE_IMAGES = 32  # every protocol count is capped at this with --smoke
DEFAULT_DIVERGED_ABOVE = 300.0  # FID above this is a failed run on these datasets (noise scores ~400)
NOT_RUN = "not run (needs GPU)"
_SHARED_WEIGHTS = "fid_inception_2015_12_05.npz"


# ------------------------------------------------------------------------------------------------ helpers


def device_name() -> str:
  """The accelerator's name; for CPUs the processor model and the number of cores."""
  dev = jax.devices()[0]
  if dev.platform != "cpu":
    return f"{dev.device_kind} x{jax.device_count()}"
  model = platform.processor() or "cpu"
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          model = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  return f"CPU ({model}, {cores} cores)"


def default_weights() -> str | None:
  """--weights default: $JAXGAN_FID_WEIGHTS, else ../shared/weights/<npz> beside the cwd or the checkout, else None
  (`load_inception_params` then looks in its cache)."""
  env = os.environ.get("JAXGAN_FID_WEIGHTS")
  if env:
    return env
  for root in (pathlib.Path.cwd().parent, pathlib.Path(__file__).resolve().parents[2]):
    path = root / "shared" / "weights" / _SHARED_WEIGHTS
    if path.is_file():
      return str(path)
  return None


@dataclasses.dataclass(frozen=True)
class _Generate:
  """(variables, key, n) -> (n, H, W, C) float32 in [-1, 1]: the unconditional generator in eval mode.

  Equal for equal nets and latents (flax modules compare by their fields), so the compiled sampling + Inception
  program is reused for every seed and for G's weight average instead of being traced again for each.
  """

  generator: Any
  latent_dim: int
  latent_dist: str

  def __call__(self, variables: Any, key: jax.Array, n: int) -> jax.Array:
    z = sampling.sample_latent(key, (n, self.latent_dim), self.latent_dist)
    return self.generator.apply(variables, z, None, train=False)


def aggregate(values: Sequence[float]) -> tuple[float | None, float | None]:
  """(mean, std) of per-seed figures; std is the sample std (ddof=1), 0.0 for one seed, None for none."""
  if not values:
    return None, None
  v = np.asarray(values, np.float64)
  return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def is_diverged(fid: float | None, bound: float) -> bool:
  """A failed run: FID missing, not finite, or above the sanity bound."""
  return fid is None or not math.isfinite(fid) or fid > bound


def _write_atomic(path: pathlib.Path, text: str) -> None:
  """Writes `text` to `path` through a temporary file in the same folder: a reader (or a process killed mid-write)
  never sees half a file."""
  tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
  tmp.write_text(text)
  tmp.replace(path)


@contextlib.contextmanager
def _flock(path: str | os.PathLike):
  """An exclusive `flock` on `path` (created if missing) while inside; the OS drops it with the process."""
  import fcntl  # pylint: disable=import-outside-toplevel  (POSIX)
  pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
  with open(path, "a", encoding="utf-8") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------- evaluation


class Evaluator:
  """Reference statistics (cached on disk) and FID/IS of generators or real images under a protocol.

  Args:
    out: results folder; statistics are cached under out/stats.
    extractor: a `jaxgan.metrics.FeatureExtractor` (tests pass a cheap one); None builds the FID Inception from
      `weights` on first use, in each protocol's mode.
    weights: Inception weights path (see `default_weights`).
    data_dirs: {dataset: data_dir} (a dataset left out resolves as the experiments do).
    batch_size: images per Inception call.
    loader: `(dataset, split, resolution) -> (N, H, W, C) uint8` for the real images (tests pass one); None
      loads with `jaxgan.data.get_dataset`.
    lock: a file that processes sharing one GPU name alike: inside `turn()` only one of them evaluates at a time.
      Measured on an H200 (2026-11-26): six 10k-image evaluations started together while training ran beside them
      all overran a 250 s limit, where one alone takes 25 s; in turns they finish one after the other. A turn
      covers the device work only: `run_seed` computes the Frechet distances (host sqrtm) after giving it back.
      None: no turns.
  """

  def __init__(self, out: pathlib.Path, *, extractor: Any = None, weights: str | None = None,
               data_dirs: Mapping[str, str] | None = None, batch_size: int = 100,
               loader: Callable[[str, str, int], np.ndarray] | None = None,
               lock: str | os.PathLike | None = None, frechet: str = "sqrtm"):
    if frechet not in FRECHET_METHODS:
      raise ValueError(f"unknown Frechet method {frechet!r}; known: {', '.join(FRECHET_METHODS)}")
    self.frechet = frechet
    self.out = pathlib.Path(out)
    self._fixed_extractor = extractor
    self._extractors: dict[str, Any] = {}
    self.weights = weights
    self.data_dirs = dict(data_dirs or {})
    self.batch_size = batch_size
    self._splits: dict[tuple, np.ndarray] = {}
    self._loader = loader
    self.lock = lock
    self._holding = False

  @contextlib.contextmanager
  def turn(self):
    """This process's turn at evaluating: an exclusive `flock` on `lock` (nothing without one). Re-entrant; the
    lock goes with the process, so a killed evaluation never blocks the others."""
    if self.lock is None or self._holding:
      yield
      return
    with _flock(self.lock):
      self._holding = True
      try:
        yield
      finally:
        self._holding = False

  def extractor(self, mode: str) -> Any:
    if self._fixed_extractor is not None:
      return self._fixed_extractor
    if mode not in self._extractors:
      from jaxgan import metrics  # pylint: disable=import-outside-toplevel
      self._extractors[mode] = metrics.inception_extractor(self.weights, mode=mode)
    return self._extractors[mode]

  def real_images(self, dataset: str, split: str, resolution: int = 0) -> np.ndarray:
    """All images of a split, (N, H, W, C) uint8 (resized to `resolution` when > 0)."""
    key = (dataset, split, resolution)
    if key not in self._splits and self._loader is not None:
      self._splits[key] = np.asarray(self._loader(dataset, split, resolution))
    if key not in self._splits:
      data_dir = experiment.resolve_data_dir(dataset, self.data_dirs.get(dataset, ""), split)
      self._splits[key] = get_dataset(dataset, data_dir=data_dir, split=split,
                                      resolution=resolution or None).images
    return self._splits[key]

  def _stats_of(self, images: np.ndarray, mode: str, allow_few: bool):
    from jaxgan import metrics  # pylint: disable=import-outside-toplevel
    return metrics.stats_from_images(images, self.extractor(mode), batch_size=self.batch_size,
                                     allow_few=allow_few)

  def reference_stats(self, protocol: proto.Protocol, dataset: str, resolution: int = 0, *, seed: int = 0,
                      allow_few: bool = False):
    """Stats of the protocol's reference images of `dataset` (cached under out/stats when not a test extractor).

    Raises:
      ProtocolError: the protocol asks for more reference images than the split has.
    """
    from jaxgan import metrics  # pylint: disable=import-outside-toplevel
    spec = proto.reference_spec(protocol, dataset)  # fails before any loading when the known size is too small
    subset_seed = "all" if spec.whole else f"seed{seed}"
    name = (f"{dataset}_{spec.split}_{spec.num}_{subset_seed}_{protocol.mode}_r{resolution}"
            f"{'_custom' if self._fixed_extractor is not None else ''}.npz")
    path = self.out / "stats" / name
    if path.is_file():
      return metrics.load_stats(path)
    images = self.real_images(dataset, spec.split, resolution)
    spec = proto.reference_spec(protocol, dataset, available=len(images))
    stats = self._stats_of(proto.select(images, spec.num, seed), protocol.mode, allow_few)
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics.save_stats(path, stats)
    return stats

  def generator_metrics(self, protocol: proto.Protocol, ref: Any, sample_fn: Any, seed: int,
                        allow_few: bool = False, sample_args: Any = None) -> dict[str, Any]:
    """FID (and IS when the protocol has it and the weights have the classifier) of `sample_fn`
    (`(key, n) -> images`, or `(sample_args, key, n) -> images` with `sample_args`, see `metrics.fid`).

    The same as `finish_metrics(generator_features(...), ref)`: a caller sharing the GPU holds its turn only for
    the first part (the Frechet distance's sqrtm takes ~7 s of host time per FID at D = 2048).

    Returns:
      {"fid": float, "is": float | None, "is_std": float | None, "is_note": str (when IS was skipped)}.
    """
    return self.finish_metrics(self.generator_features(protocol, sample_fn, seed, allow_few=allow_few,
                                                       sample_args=sample_args), ref, protocol, self.frechet)

  def generator_features(self, protocol: proto.Protocol, sample_fn: Any, seed: int, allow_few: bool = False,
                         sample_args: Any = None) -> dict[str, Any]:
    """The device part of `generator_metrics`: the samples' feature statistics (and IS logits).

    Returns:
      {"stats": metrics.Stats, "logits": (is_num, classes) array or None}.
    Raises:
      ValueError: non-finite samples or features.
    """
    from jaxgan import metrics  # pylint: disable=import-outside-toplevel
    ex = self.extractor(protocol.mode)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 0xF1D)
    out: dict[str, Any] = {"stats": metrics.stats_from_generator(
        sample_fn, protocol.num_generated, key=key, batch_size=self.batch_size, extractor=ex, allow_few=allow_few,
        sample_args=sample_args), "logits": None}
    if "is" in protocol.metrics and ex.has_logits:
      out["logits"] = np.asarray(metrics.features_from_generator(
          sample_fn, protocol.is_num, key=jax.random.fold_in(key, 1), batch_size=self.batch_size, extractor=ex,
          sample_args=sample_args)["logits"])
    return out

  @staticmethod
  def finish_metrics(part: Mapping[str, Any], ref: Any, protocol: proto.Protocol,
                     method: str = "sqrtm") -> dict[str, Any]:
    """The host part of `generator_metrics`: FID against `ref` and IS from `generator_features`' output.

    Raises:
      ValueError: statistics of another dimension, or numerically broken ones.
    """
    from jaxgan import metrics  # pylint: disable=import-outside-toplevel
    out: dict[str, Any] = {"fid": metrics.fid_from_stats(part["stats"], ref, method=method)}
    if "is" in protocol.metrics:
      if part["logits"] is not None:
        out["is"], out["is_std"] = metrics.inception_score(part["logits"], num_splits=protocol.is_splits)
      else:
        out["is"] = out["is_std"] = None
        out["is_note"] = ("IS needs the Inception's 1008-way classifier (pytorch-fid's .pth); these weights have "
                          "none")
    return out

  def baseline(self, protocol: proto.Protocol, dataset: str, seed: int = 0, allow_few: bool = False) -> dict:
    """FID of real `baseline_split` images against the protocol's reference (the train/test gap)."""
    from jaxgan import metrics  # pylint: disable=import-outside-toplevel
    other = proto.baseline_spec(protocol, dataset)
    start = time.perf_counter()
    ref = self.reference_stats(protocol, dataset, seed=seed, allow_few=allow_few)
    images = self.real_images(dataset, other.split)
    other = proto.baseline_spec(protocol, dataset, available=len(images))
    stats = self._stats_of(proto.select(images, other.num, seed + 1), protocol.mode, allow_few)
    value = metrics.fid_from_stats(stats, ref, method=self.frechet)
    ref_spec = proto.reference_spec(protocol, dataset)
    return {"dataset": dataset, "protocol": protocol.name, "seed": seed, "fid": value,
            "compared": f"{other.describe()} vs {ref_spec.describe()}", "seconds": time.perf_counter() - start,
            "device": device_name(), "frechet": self.frechet}


# -------------------------------------------------------------------------------------------------- rows


def row_config(row: str, seed: int, *, steps: int = 0, smoke: bool = False, data_dir: str = "",
               checkpoint_every: int = -1, train_seconds: float = 0.0) -> ml_collections.ConfigDict:
  """The row's config for one seed; `steps` > 0 shortens it, `train_seconds` > 0 time-boxes it, `smoke` shrinks it
  to seconds, `checkpoint_every` >= 0 replaces the row's checkpoint period (0: only the final state, which
  evaluation resumes from)."""
  c = classics.get_config(row)
  c.seed = seed
  c.progress = False
  if steps:
    c.num_steps = steps
  c.train_seconds = float(train_seconds)
  if checkpoint_every >= 0:
    c.checkpoint_every = checkpoint_every
  if smoke:
    c.smoke = True
  if data_dir:
    c.data_dir = data_dir
  return c


def _protocol(name: str, smoke: bool, eval_cap: int) -> proto.Protocol:
  """The named protocol, its counts capped at SMOKE_IMAGES (smoke) and at `eval_cap` (> 0)."""
  protocol = proto.get_protocol(name)
  caps = [c for c in (SMOKE_IMAGES if smoke else 0, eval_cap) if c > 0]
  return protocol.shrunk(min(caps)) if caps else protocol


_TRAIN_LOG = "train_time.json"  # reproduce's running total of training time in a workdir


def _earlier_training(workdir: str | None) -> tuple[int, float, float | None, int]:
  """(steps, training seconds, steps/s, seeds trained together) of the run already in `workdir`, or
  (0, 0.0, None, 1).

  Read from train_time.json, which this module keeps (the runner's summary.json only times the last segment and is
  rewritten when a finished run is resumed to be evaluated); else from a summary.json left by a direct run or by
  `experiment.run_together` (whose seconds and steps/s are those of all the seeds it trained at once).
  """
  if not workdir:
    return 0, 0.0, None, 1
  for name, seconds_key in ((_TRAIN_LOG, "train_seconds"), ("summary.json", "wall_seconds")):
    path = pathlib.Path(workdir) / name
    if path.is_file():
      s = json.loads(path.read_text())
      return (int(s.get("steps", 0)), float(s.get(seconds_key, 0.0)), s.get("steps_per_sec"),
              int(s.get("seeds_together", 1)))
  return 0, 0.0, None, 1


def _check_evaluation_inputs(row: str, evaluator: Evaluator, protocol: proto.Protocol,
                             c: ml_collections.ConfigDict) -> np.ndarray:
  """What evaluation needs, checked before any training: a protocol that asks too much of a split, missing
  reference images, missing or wrong FID weights. Returns the reference images. Their statistics come later, in the
  process's evaluation turn (computed by the first process of a lease, read from the cache by the others), so no
  process waits for another before it trains."""
  dataset = classics.get_row(row).dataset
  proto.reference_spec(protocol, dataset)  # the known split size, before loading anything
  images = evaluator.real_images(dataset, protocol.real_split, c.resolution)
  proto.reference_spec(protocol, dataset, available=len(images))
  evaluator.extractor(protocol.mode)
  return images


_EMA_FIGURES = ("fid_ema", "fid_ema_standing")  # G's weight average with G's running / its standing statistics


def _ema_variants(c: ml_collections.ConfigDict, generator: Any, state: Any,
                  standing_batches: int) -> list[tuple[str, Callable[[], Any]]]:
  """(record key, () -> G's variables) of the weight-average figures to score: none without EMA; with G's running
  statistics; and, if `standing_batches` > 0, with standing statistics over that many batches of the row's batch
  size (`experiment.standing_inputs`: latents of their own key, so the FID samples are the same as for the other
  figures)."""
  if not c.ema_decay > 0:
    return []
  variants: list[tuple[str, Callable[[], Any]]] = [("fid_ema", lambda: state.g_variables(ema=True))]
  if standing_batches > 0:
    latents, _ = experiment.standing_inputs(c, 0, standing_batches)  # the classics rows are unconditional
    variants.append(("fid_ema_standing",
                     lambda: sampling.standing_stats(generator, state.g_variables(ema=True), latents)))
  return variants


def run_seed(row: str, seed: int, evaluator: Evaluator, *, steps: int = 0, smoke: bool = False,
             data_dir: str = "", diverged_above: float = DEFAULT_DIVERGED_ABOVE,
             workdir: str | None = None, eval_cap: int = 0, checkpoint_every: int = -1,
             workers: int = 1, standing_batches: int = 0, train_seconds: float = 0.0) -> dict[str, Any]:
  """Trains one seed of a row (resuming its workdir), evaluates it; never raises on divergence. `workers`: how many
  processes share the device (recorded, so that train times measured side by side read as such).
  `standing_batches` > 0: G's weight average is also scored with standing batch-norm statistics drawn over that
  many batches (`fid_ema_standing`), beside the running statistics G kept in training (`fid_ema`).
  `train_seconds` > 0: a time box (`experiment` field `train_seconds`); a workdir whose run has trained before
  (stopped by its box) is resumed up to the step it reached and evaluated, not trained again.

  Returns:
    {"seed", "status" ("ok" or "diverged"), "fid", "is", "is_std", "fid_ema"?, "fid_ema_standing"?, "steps",
     "train_seconds", "eval_seconds", "device", "date", "error"?, ...}.
  """
  r = classics.get_row(row)
  protocol = _protocol(r.protocol, smoke, eval_cap)
  allow_few = protocol.num_generated < 2048 or protocol.num_real < 2048
  config = row_config(row, seed, steps=steps, smoke=smoke, data_dir=data_dir, checkpoint_every=checkpoint_every,
                      train_seconds=train_seconds)
  earlier = _earlier_training(workdir)
  if train_seconds and earlier[0]:  # its box was spent: no second box, the run as it stopped is evaluated
    config.stop_at, config.train_seconds = earlier[0], 0.0
  c = experiment.apply_smoke(config) if smoke else config
  images = _check_evaluation_inputs(row, evaluator, protocol, c)
  record: dict[str, Any] = {"seed": seed, "steps_planned": c.num_steps, "device": device_name(),
                            "date": time.strftime("%Y-%m-%d", time.gmtime()), "workers": workers,
                            "frechet": evaluator.frechet}
  if train_seconds:
    record["train_seconds_box"] = float(train_seconds)
  start = time.perf_counter()
  try:
    state, summary = classics.main(config, workdir, True)
  except CheckpointMismatchError as e:  # one line from the CLI, and a remedy that fits this command
    raise experiment.ExperimentError(f"{e}. With benchmarks.reproduce: move {workdir} aside (nothing there is "
                                     "deleted) or use another --out") from None
  except NonFiniteError as e:
    record.update(status="diverged", error=str(e), fid=None,
                  train_seconds=earlier[1] + time.perf_counter() - start)
    return record
  trained = summary["steps"] > earlier[0]  # False: a finished run, resumed only to be evaluated
  # A run resumed to train further counts as trained alone from there on.
  record.update(steps=summary["steps"], train_seconds=earlier[1] + (summary["wall_seconds"] if trained else 0.0),
                steps_per_sec=summary["steps_per_sec"] if trained else earlier[2],
                seeds_together=1 if trained else earlier[3])
  if workdir:
    (pathlib.Path(workdir) / _TRAIN_LOG).write_text(json.dumps(
        {"steps": record["steps"], "train_seconds": record["train_seconds"],
         "steps_per_sec": record["steps_per_sec"], "seeds_together": record["seeds_together"]}))
  generator, _ = experiment.build_nets(c, images.shape[1], images.shape[3], 0)
  sample_fn = _Generate(generator, c.latent_dim, c.latent_dist)
  # The weight average is scored too, beside the paper's G (training does not depend on it). As by default in
  # jaxgan (sample grids, the FID hook, make_sample_fn), it runs in eval mode with G's running statistics; with
  # `standing_batches` also with standing statistics (sampling.standing_stats) drawn for it.
  fid_only = dataclasses.replace(protocol, metrics=("fid",))
  features: dict[str, Any] = {}
  waited = time.perf_counter()
  with evaluator.turn():  # the device part in this process's turn, the Frechet distances after it
    start = time.perf_counter()
    record["eval_wait_seconds"] = start - waited  # for the turn; not part of eval_seconds
    ref = evaluator.reference_stats(protocol, r.dataset, c.resolution, allow_few=allow_few)
    try:
      features["fid"] = evaluator.generator_features(protocol, sample_fn, seed, allow_few=allow_few,
                                                     sample_args=state.g_variables())
      for name, variables in _ema_variants(c, generator, state, standing_batches):
        if name == "fid_ema_standing":
          record["standing_batches"] = standing_batches
        try:
          features[name] = evaluator.generator_features(fid_only, sample_fn, seed, allow_few=allow_few,
                                                        sample_args=variables())
        except ValueError as e:
          record.update({name: None, f"{name}_error": f"evaluation: {e}"})
    except ValueError as e:  # non-finite samples or features
      record.update(status="diverged", error=f"evaluation: {e}", fid=None)
  if "fid" in features:
    try:
      record.update(Evaluator.finish_metrics(features["fid"], ref, protocol, evaluator.frechet))
    except ValueError as e:
      record.update(status="diverged", error=f"evaluation: {e}", fid=None)
  for name in _EMA_FIGURES:
    if name in features:
      try:
        record[name] = Evaluator.finish_metrics(features[name], ref, fid_only, evaluator.frechet)["fid"]
      except ValueError as e:
        record.update({name: None, f"{name}_error": f"evaluation: {e}"})
  record["eval_seconds"] = time.perf_counter() - start
  if "status" not in record:
    diverged = is_diverged(record["fid"], diverged_above)
    record["status"] = "diverged" if diverged else "ok"
    if diverged:
      record["error"] = f"FID {record['fid']} above the sanity bound {diverged_above}"
  return record


def _row_settings(row: str, steps: int, smoke: bool, eval_cap: int, train_seconds: float = 0.0) -> dict[str, Any]:
  """What makes two runs of a row comparable: its config (seed 0, no host-only fields; steps and time box
  included), smoke, eval cap."""
  config = experiment.plain_config(row_config(row, 0, steps=steps, train_seconds=train_seconds))
  return {"config": config, "smoke": smoke, "eval_cap": eval_cap}


def _same_settings(earlier: Mapping[str, Any], settings: Mapping[str, Any]) -> bool:
  """Whether a row JSON's settings are `settings`. A config field that jaxgan gained after the JSON was written
  (absent there) counts as the same when it has its default value: the earlier run had the default's behaviour."""
  if any(earlier.get(k) != v for k, v in settings.items() if k != "config"):
    return False
  old, new = earlier.get("config"), settings.get("config")
  if not isinstance(old, dict) or not isinstance(new, dict) or set(old) - set(new):
    return False
  defaults = experiment.plain_config(experiment.base_config())
  return all(old[k] == v if k in old else (k in defaults and defaults[k] == v) for k, v in new.items())


def _read_seeds(path: pathlib.Path, settings: dict[str, Any]) -> dict[int, dict[str, Any]] | None:
  """The seed records of out/<row>.json by seed: {} when there is no file, None when it was written with other
  settings (or cannot be read)."""
  if not path.is_file():
    return {}
  try:
    earlier = json.loads(path.read_text())
    same = _same_settings(earlier, settings)
  except (json.JSONDecodeError, AttributeError):
    same = False
  return {int(x["seed"]): x for x in earlier.get("seeds", [])} if same else None


def _measured(records: Mapping[int, dict[str, Any]]) -> set[int]:
  """Seeds with a result ("ok" or "diverged"); anything else is run again."""
  return {seed for seed, x in records.items() if x.get("status") in ("ok", "diverged")}


def _earlier_seeds(path: pathlib.Path, settings: dict[str, Any]) -> dict[int, dict[str, Any]]:
  """The seed records of an earlier out/<row>.json with the same settings (by seed). A file written with other
  settings is moved to out/superseded/ (with a message), so its numbers are kept but never mixed with new ones."""
  seeds = _read_seeds(path, settings)
  if seeds is not None:
    return seeds
  dest = path.parent / "superseded" / f"{path.stem}-{time.strftime('%Y%m%d-%H%M%S')}.json"
  dest.parent.mkdir(parents=True, exist_ok=True)
  path.replace(dest)
  print(f"{path.name} was written with other settings (steps, config, --smoke or --eval-cap); moved to {dest}",
        flush=True)
  return {}


def row_result(row: str, records: Sequence[dict[str, Any]], protocol: proto.Protocol,
               settings: dict[str, Any]) -> dict[str, Any]:
  """The JSON of a row from its seed records: FID (IS) mean and std over the seeds that did not diverge."""
  r = classics.get_row(row)
  ok = [x for x in records if x["status"] == "ok"]
  fid_mean, fid_std = aggregate([x["fid"] for x in ok])
  is_mean, is_std = aggregate([x["is"] for x in ok if x.get("is") is not None])
  ema, standing = ([x[k] for x in ok if x.get(k) is not None and math.isfinite(x[k])] for k in _EMA_FIGURES)
  fid_ema_mean, fid_ema_std = aggregate(ema)
  standing_mean, standing_std = aggregate(standing)
  devices = list(dict.fromkeys(x.get("device") for x in records if x.get("device")))
  reached = [x["steps"] for x in records if x.get("steps") is not None]
  return {
      "row": row, "dataset": r.dataset, "dataset_label": proto.DATASET_LABELS[r.dataset],
      "protocol": dataclasses.asdict(protocol), "published": r.published, "reference": r.reference,
      "note": r.note, **settings,
      "steps_paper": classics.get_config(row).num_steps,
      "steps": max(reached, default=None), "steps_min": min(reached, default=None),
      "seeds": list(records), "fid_mean": fid_mean, "fid_std": fid_std, "is_mean": is_mean,
      "is_std": is_std, "fid_ema_mean": fid_ema_mean, "fid_ema_std": fid_ema_std, "num_ema": len(ema),
      "fid_ema_standing_mean": standing_mean, "fid_ema_standing_std": standing_std,
      "num_ema_standing": len(standing),
      "num_ok": len(ok), "num_seeds": len(records),
      # a group's training counted once: each of its n seeds holds the group's seconds
      "wall_seconds": float(sum(x.get("train_seconds", 0.0) / x.get("seeds_together", 1) + x.get("eval_seconds", 0.0)
                                for x in records)),
      "device": "; ".join(devices) if devices else device_name(),
  }


def run_row(row: str, seeds: Sequence[int], out: pathlib.Path, evaluator: Evaluator, *, steps: int = 0,
            smoke: bool = False, data_dir: str = "", diverged_above: float = DEFAULT_DIVERGED_ABOVE,
            eval_cap: int = 0, checkpoint_every: int = -1, skip_done: bool = False,
            workers: int = 1, together: bool = False, standing_batches: int = 0,
            train_seconds: float = 0.0) -> dict[str, Any]:
  """Runs `seeds` of a row and writes out/<row>.json after each one; returns the row's result.

  The seeds of an earlier out/<row>.json with the same settings are kept (a seed run again replaces its record),
  so seeds measured in separate sessions add up to one row; a run stopped between seeds keeps the finished ones.
  Processes running other seeds of the row at the same time add theirs too: the file is re-read and rewritten
  under a lock (out/.locks/<row>.lock). `skip_done` skips the seeds it already has a result for. `eval_cap` > 0
  caps every protocol count; `workers` goes into each seed's record; `standing_batches` > 0 also scores G's weight
  average with standing batch-norm statistics (see `run_seed`); `train_seconds` > 0 time-boxes each run (or each
  group of seeds trained together).

  `together`: the seeds to run that have no run in their workdir yet are first trained side by side in one
  compiled step (`experiment.run_together`, a `jax.vmap` over the seeds), then evaluated one by one as finished
  runs; their records say `seeds_together` (their train time is the group's). If a seed of the group hits a
  NaN/inf, the group is dropped and its seeds are trained one by one, which tells which seed diverged.
  """
  r = classics.get_row(row)
  protocol = _protocol(r.protocol, smoke, eval_cap)
  settings = _row_settings(row, steps, smoke, eval_cap, train_seconds)
  path = out / f"{row}.json"
  lock = out / ".locks" / f"{row}.lock"
  with _flock(lock):
    by_seed = _earlier_seeds(path, settings)
  current = lambda: row_result(row, [by_seed[s] for s in sorted(by_seed)], protocol, settings)
  workdir_of = lambda seed: str(out / "runs" / row / f"seed_{seed}")
  if together:
    fresh = [s for s in seeds
             if not (skip_done and s in _measured(by_seed)) and not experiment.has_checkpoint(workdir_of(s))]
    if len(fresh) > 1:
      _train_together(row, fresh, [workdir_of(s) for s in fresh], evaluator, protocol, steps=steps, smoke=smoke,
                      data_dir=data_dir, checkpoint_every=checkpoint_every, train_seconds=train_seconds)
  for seed in seeds:
    if skip_done and seed in _measured(by_seed):
      print(f"{row} seed {seed}: measured before ({by_seed[seed]['status']}), skipped", flush=True)
      continue
    workdir = workdir_of(seed)
    rec = run_seed(row, seed, evaluator, steps=steps, smoke=smoke, data_dir=data_dir,
                   diverged_above=diverged_above, workdir=workdir, eval_cap=eval_cap,
                   checkpoint_every=checkpoint_every, workers=workers, standing_batches=standing_batches,
                   train_seconds=train_seconds)
    print(f"{row} seed {seed}: {rec['status']}, FID {rec.get('fid')}", flush=True)
    with _flock(lock):
      by_seed = {**_earlier_seeds(path, settings), seed: rec}  # with what other processes wrote meanwhile
      _write_atomic(path, json.dumps(current(), indent=2, default=str))
  return current()


def _train_together(row: str, seeds: Sequence[int], workdirs: Sequence[str], evaluator: Evaluator,
                    protocol: proto.Protocol, *, steps: int, smoke: bool, data_dir: str,
                    checkpoint_every: int, train_seconds: float = 0.0) -> None:
  """Trains `seeds` of a row side by side (`experiment.run_together`), leaving finished runs in `workdirs`; on a
  NaN/inf it says so and leaves nothing, so that the seeds are trained one by one."""
  configs = [row_config(row, seed, steps=steps, smoke=smoke, data_dir=data_dir, checkpoint_every=checkpoint_every,
                        train_seconds=train_seconds) for seed in seeds]
  _check_evaluation_inputs(row, evaluator, protocol, experiment.apply_smoke(configs[0]) if smoke else configs[0])
  print(f"{row} seeds {','.join(map(str, seeds))}: training together", flush=True)
  try:
    _, summaries = classics.main_together(configs, workdirs)
  except NonFiniteError as e:
    print(f"{row}: {e}; training the seeds one by one instead", flush=True)
    return
  print(f"{row} seeds {','.join(map(str, seeds))}: trained together in {summaries[0]['wall_seconds']:.0f} s",
        flush=True)


def todo(rows: Sequence[str], seeds: Sequence[int], out: pathlib.Path, *, steps: Mapping[str, int] | None = None,
         smoke: bool = False, eval_cap: int = 0,
         train_seconds: Mapping[str, float] | None = None) -> list[tuple[str, int]]:
  """The (row, seed) runs without a result under `out` yet (same settings), seed by seed: every row's first seed
  comes before any row's second. Reads only."""
  steps, train_seconds = steps or {}, train_seconds or {}
  left = []
  for seed in seeds:
    for row in rows:
      settings = _row_settings(row, steps.get(row, 0), smoke, eval_cap, train_seconds.get(row, 0.0))
      records = _read_seeds(out / f"{row}.json", settings) or {}
      if seed not in _measured(records):
        left.append((row, seed))
  return left


def run_baselines(datasets: Sequence[str], protocol_names: Sequence[str], seeds: Sequence[int], out: pathlib.Path,
                  evaluator: Evaluator, *, smoke: bool = False, eval_cap: int = 0) -> list[dict[str, Any]]:
  """Real train-vs-test FIDs per (dataset, protocol), merged into out/baselines.json.

  A protocol whose baseline uses whole splits on both sides is measured once (seeds would repeat it).
  """
  path = out / "baselines.json"
  merged = json.loads(path.read_text()) if path.is_file() else {}
  results = []
  for dataset in datasets:
    for name in protocol_names:
      protocol = _protocol(name, smoke, eval_cap)
      allow_few = protocol.num_generated < 2048 or protocol.num_real < 2048 or protocol.baseline_num < 2048
      entry: dict[str, Any] = {"dataset": dataset, "dataset_label": proto.DATASET_LABELS[dataset],
                               "protocol": protocol.name, "description": protocol.description, "smoke": smoke,
                               "eval_cap": eval_cap}
      try:
        ref_spec = proto.reference_spec(protocol, dataset)
        other = proto.baseline_spec(protocol, dataset)
        run_seeds = list(seeds) if not (ref_spec.whole and other.whole) else list(seeds)[:1]
        with evaluator.turn():
          runs = [evaluator.baseline(protocol, dataset, seed=s, allow_few=allow_few) for s in run_seeds]
      except proto.ProtocolError as e:
        entry.update(status="error", error=str(e))
      else:
        mean, std = aggregate([x["fid"] for x in runs])
        entry.update(status="ok", runs=runs, fid_mean=mean, fid_std=std, compared=runs[0]["compared"],
                     seconds=float(sum(x["seconds"] for x in runs)), device=runs[0]["device"])
      print(f"baseline {dataset} {protocol.name}: {entry.get('fid_mean', entry.get('error'))}", flush=True)
      merged[f"{dataset}/{protocol.name}"] = entry
      results.append(entry)
  out.mkdir(parents=True, exist_ok=True)
  _write_atomic(path, json.dumps(merged, indent=2, default=str))
  return results


# ------------------------------------------------------------------------------------------------- table


def _pm(mean: float | None, std: float | None, digits: int = 1) -> str:
  if mean is None:
    return "—"
  return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _duration(seconds: float | None) -> str:
  if seconds is None:
    return "—"
  if seconds < 120:
    return f"{seconds:.0f} s"
  if seconds < 7200:
    return f"{seconds / 60:.0f} min"
  return f"{seconds / 3600:.1f} h"


def _published(p: dict[str, Any]) -> str:
  if not p:
    return "—"
  parts = []
  if "fid" in p:
    digits = 2 if abs(round(p["fid"], 1) - p["fid"]) > 1e-9 else 1
    parts.append(f"FID {_pm(p['fid'], p.get('fid_std'), digits)}")
  if "is" in p:
    parts.append(f"IS {p['is']:.2f}")
  return ", ".join(parts)


def _row_cells(name: str, result: dict[str, Any] | None) -> list[str]:
  r = classics.get_row(name)
  protocol = proto.get_protocol(r.protocol)
  label = proto.DATASET_LABELS[r.dataset]
  if result is None:
    return [name, label, NOT_RUN, "—", "—", _published(r.published), f"{protocol.name}: {protocol.description}",
            "—", "—", "—", NOT_RUN]
  n_ok, n = result["num_ok"], result["num_seeds"]
  fid = _pm(result["fid_mean"], result["fid_std"] if n_ok > 1 else None, 2)
  if n_ok < n:
    # A finite FID above the sanity bound is shown: a time-boxed run stopped early can lie there without a NaN.
    over = [f"{x['fid']:.1f}" for x in result["seeds"] if x.get("status") == "diverged" and x.get("fid") is not None
            and math.isfinite(x["fid"])]
    why = f"FID {', '.join(over)} above the sanity bound" if over else ""
    fid = (f"diverged ({why})" if why else "diverged") if n_ok == 0 else \
        f"{fid} ({n - n_ok}/{n} seeds diverged{'; ' + why if why else ''})"
  else:
    fid = f"{fid} (n={n})"
  is_cell = "—"
  if "is" in protocol.metrics:
    notes = [x.get("is_note") for x in result["seeds"] if x.get("is_note")]
    is_cell = _pm(result["is_mean"], result["is_std"] if n_ok > 1 else None, 2) if result["is_mean"] is not None \
        else ("no IS weights" if notes else "—")
  config = result.get("config") or {}  # the row's settings (absent from results written by hand or in tests)
  ema_cells = []
  rampup = config.get("ema_rampup") or 0
  for suffix, words in (("", f"ramp-up {rampup:g}: " if rampup else ""), ("_standing", "standing statistics ")):
    n_ema = result.get(f"num_ema{suffix}", 0)
    if n_ema:
      mean, std = result[f"fid_ema{suffix}_mean"], result[f"fid_ema{suffix}_std"]
      ema_cells.append(f"{words}{_pm(mean, std if n_ema > 1 else None, 2)} (n={n_ema})")
  ema_cell = "; ".join(ema_cells) or "—"
  steps, fewest = result.get("steps"), result.get("steps_min")
  reached = f"{fewest}-{steps}" if fewest is not None and steps is not None and fewest < steps else steps
  steps_cell = f"{reached} / {result['steps_paper']}" if steps is not None else f"— / {result['steps_paper']}"
  box = config.get("train_seconds") or 0
  if result.get("smoke"):
    status = "smoke (meaningless FID)"
  elif result.get("eval_cap"):
    status = "shortened run, reduced FID (not comparable)"
  elif n_ok < n:
    status = "diverged" if n_ok == 0 else "partly diverged"
  elif steps is not None and steps < result["steps_paper"]:
    status = f"time-boxed run ({box:.0f} s of training)" if box else "shortened run"
  else:
    status = "ok"
  return [name, label, fid, is_cell, ema_cell, _published(r.published),
          f"{protocol.name}: {result['protocol']['description']}", steps_cell,
          _duration(result.get("wall_seconds")), result.get("device", "—"), status]


LUCIC_HEAD = ["row", "our FID of G (mean ± std; n: each seed)", "Lucic et al., same loss", "G against same loss",
              "Lucic et al., best loss", "G against best loss", "G's weight average (not compared with Lucic et al.)",
              "G steps (D steps)", "train; eval per seed"]
LUCIC_DATASETS = ("mnist", "fashion_mnist")


def _seed_list(values: Sequence[float], digits: int = 2) -> str:
  """`mean ± std (n=N: v1, v2, ...)` (sample std, n - 1); one value reads `v (n=1)`."""
  mean, std = aggregate(values)
  if len(values) == 1:
    return f"{mean:.{digits}f} (n=1)"
  return f"{_pm(mean, std, digits)} (n={len(values)}: {', '.join(f'{v:.{digits}f}' for v in values)})"


def _against(ours: float | None, theirs: tuple[float, float] | None) -> str:
  """`beats by D` / `misses by D` (FID: lower is better; D = |ours - their mean| to 0.1), `level` within 0.05;
  `(within their std)` where D is no more than their std, a gap their own reruns spread over."""
  if ours is None or theirs is None:
    return "—"
  diff = round(ours, 2) - theirs[0]
  if abs(diff) < 0.05:
    return "level"
  within = " (within their std)" if abs(diff) <= theirs[1] else ""
  return f"{'beats' if diff < 0 else 'misses'} by {abs(diff):.1f}{within}"


def lucic_rows(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
  """The MNIST and Fashion-MNIST rows against Lucic et al. 2018, G only: one entry per 28x28 row of
  `experiments.classics` (in table order) and per Lucic et al. loss that has no row (BEGAN), per dataset.

  Our figure is G itself, mean ± sample std (n - 1) over the seeds that did not diverge, whatever their number; the
  weight average is kept apart (`ema`) and never compared. Lucic et al.'s figures are the mean ± std of reruns of the
  one configuration their search selected (`classics.LUCIC_FID`).

  Returns:
    dicts with "dataset", "row" (None for a loss without a row), "loss", "fids" (G per ok seed, by seed), "ema",
    "diverged", "lucic" ((mean, std) or None), "best" ((loss, mean, std)), "result" (the row JSON or None).
  """
  out = []
  for dataset in LUCIC_DATASETS:
    best = classics.lucic_best(dataset)
    losses_with_rows = set()
    for name in classics.row_names():
      r = classics.get_row(name)
      if r.dataset != dataset:
        continue
      loss = name.split("_", 1)[1]
      losses_with_rows.add(loss)
      result = results.get(name)
      seeds = sorted(result["seeds"], key=lambda x: x["seed"]) if result else []
      ok = [x for x in seeds if x.get("status") == "ok"]
      out.append({"dataset": dataset, "row": name, "loss": loss, "fids": [x["fid"] for x in ok],
                  "ema": [x["fid_ema"] for x in ok if x.get("fid_ema") is not None and math.isfinite(x["fid_ema"])],
                  "diverged": len(seeds) - len(ok), "lucic": classics.LUCIC_FID.get((dataset, loss)), "best": best,
                  "result": result, "seeds": ok})
    for (d, loss), figure in classics.LUCIC_FID.items():
      if d == dataset and loss not in losses_with_rows:
        out.append({"dataset": dataset, "row": None, "loss": loss, "fids": [], "ema": [], "diverged": 0,
                    "lucic": figure, "best": best, "result": None, "seeds": []})
  return out


def lucic_table(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
  """The markdown table of `lucic_rows` (the README's MNIST and Fashion-MNIST table): per row our G (each seed, mean
  ± sample std), Lucic et al.'s figure for the same loss and for their best loss on that dataset, how far G is from
  each, and the weight average in a column of its own."""
  lines = ["| " + " | ".join(LUCIC_HEAD) + " |", "|" + "---|" * len(LUCIC_HEAD)]
  for e in lucic_rows(results):
    loss_name = classics.LUCIC_LOSSES.get(e["loss"], "hinge + SN" if e["loss"] == "hinge_sn" else e["loss"])
    label = proto.DATASET_LABELS[e["dataset"]]
    best_loss, best_mean, best_std = e["best"]
    best_cell = f"{_pm(best_mean, best_std)} ({classics.LUCIC_LOSSES[best_loss]})"
    lucic_cell = _pm(*e["lucic"]) if e["lucic"] else "— (not in Lucic et al.)"
    if e["row"] is None:
      lines.append(f"| {label} {loss_name} (no jaxgan row) | — | {lucic_cell} | — | {best_cell} | — | — | — | — |")
      continue
    ours = aggregate(e["fids"])[0]
    if e["fids"]:
      g_cell = _seed_list(e["fids"])
      if e["diverged"]:
        g_cell += f"; {e['diverged']} seed(s) diverged"
    else:
      g_cell = f"diverged ({e['diverged']} seed(s))" if e["diverged"] else "not measured"
    ema_cell = _seed_list(e["ema"]) if e["ema"] else "—"
    result = e["result"] or {}
    d_steps = (result.get("config") or {}).get("d_steps", 1)
    steps = result.get("steps")
    steps_cell = f"{steps:,} ({steps * d_steps:,})" if steps is not None else "—"
    seeds = e["seeds"]
    times = "—"
    if seeds and all("train_seconds" in x and "eval_seconds" in x for x in seeds):
      times = (", ".join(f"{x['train_seconds']:.0f}" for x in seeds) + " s; "
               + ", ".join(f"{x['eval_seconds']:.0f}" for x in seeds) + " s")
    lines.append(f"| `{e['row']}` ({loss_name}) | {g_cell} | {lucic_cell} | "
                 f"{_against(ours, e['lucic'])} | {best_cell} | {_against(ours, (best_mean, best_std))} | "
                 f"{ema_cell} | {steps_cell} | {times} |")
  return lines


def write_table(results: dict[str, dict[str, Any]], baselines: dict[str, dict[str, Any]],
                path: pathlib.Path | None = None) -> str:
  """The markdown table of every classics row and every (dataset, protocol) baseline.

  Args:
    results: row name -> the JSON `run_row` writes; rows absent read "not run (needs GPU)".
    baselines: "dataset/protocol" -> the entry `run_baselines` writes; absent ones read "not run (needs GPU)".
    path: where to write it (None: only return it).
  Returns:
    The markdown text.
  """
  head = ["row", "data", "our FID (mean ± std, seeds)", "our IS", "our FID, G's weight average", "published",
          "protocol", "steps (run / paper)", "wall time", "device", "status"]
  lines = ["## GAN rows", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for name in classics.row_names():
    lines.append("| " + " | ".join(_row_cells(name, results.get(name))) + " |")
  bhead = ["data", "protocol", "real vs real", "FID (mean ± std)", "wall time", "device", "status"]
  lines += ["", "## Real-data baselines (train vs test)", "", "| " + " | ".join(bhead) + " |",
            "|" + "---|" * len(bhead)]
  for dataset in proto.SPLIT_SIZES:
    for name, protocol in proto.PROTOCOLS.items():
      b = baselines.get(f"{dataset}/{name}")
      label = proto.DATASET_LABELS[dataset]
      if b is None:
        try:
          compared = (f"{proto.baseline_spec(protocol, dataset).describe()} vs "
                      f"{proto.reference_spec(protocol, dataset).describe()}")
        except proto.ProtocolError as e:
          compared = str(e)
        cells = [label, f"{name}: {protocol.description}", compared, NOT_RUN, "—", "—", NOT_RUN]
      elif b["status"] != "ok":
        cells = [label, f"{name}: {protocol.description}", "—", "—", "—", "—", f"error: {b['error']}"]
      else:
        n = len(b["runs"])
        fid = _pm(b["fid_mean"], b["fid_std"] if n > 1 else None, 2)
        cells = [label, f"{name}: {b['description']}", b["compared"], f"{fid} (n={n})", _duration(b["seconds"]),
                 b["device"],
                 "smoke" if b.get("smoke") else "reduced (not comparable)" if b.get("eval_cap") else "ok"]
      lines.append("| " + " | ".join(cells) + " |")
  lines += ["", "CIFAR-10 here is a JPEG (quality 75) copy: its FIDs are not comparable with published CIFAR-10 "
            "figures; compare them with the JPEG CIFAR-10 baselines instead.", "",
            "## MNIST and Fashion-MNIST against Lucic et al. 2018 (G only)", "",
            "Our FID scores G itself, as Lucic et al. do (mean ± sample std over the seeds measured, each seed listed); "
            "theirs is the mean ± std of reruns of the configuration their search selected (Table 2). The weight "
            "average has a column of its own and is not compared with their figures.", "",
            *lucic_table(results), ""]
  text = "\n".join(lines)
  if path is not None:  # several processes of a lease rewrite it
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, text)
  return text


def load_results(out: pathlib.Path) -> tuple[dict[str, dict], dict[str, dict]]:
  """(row results, baselines) found under `out`."""
  results = {}
  for name in classics.row_names():
    p = out / f"{name}.json"
    if p.is_file():
      results[name] = json.loads(p.read_text())
  b = out / "baselines.json"
  return results, (json.loads(b.read_text()) if b.is_file() else {})


# --------------------------------------------------------------------------------------------------- CLI


def parse_data_dirs(text: str, datasets: Sequence[str]) -> dict[str, str]:
  """--data-dir: `DIR` when the run reads one dataset, else `name=DIR` pairs separated by commas.

  Raises:
    ValueError: one bare folder for several datasets (it would be read as each of them), an unknown dataset
      name, or a pair without a folder.
  """
  text = text.strip()
  if not text:
    return {}
  if "=" not in text:
    used = list(dict.fromkeys(datasets))
    if len(used) > 1:
      raise ValueError(f"--data-dir {text!r} names one folder, but this run reads {used}; give one folder per "
                       f"dataset, e.g. --data-dir {used[0]}=DIR1,{used[1]}=DIR2")
    return {used[0]: text} if used else {}
  dirs = {}
  for pair in text.split(","):
    name, _, folder = (t.strip() for t in pair.partition("="))
    if name not in proto.SPLIT_SIZES or not folder:
      raise ValueError(f"--data-dir: {pair!r} is not dataset=DIR with a dataset of {sorted(proto.SPLIT_SIZES)}")
    dirs[name] = folder
  return dirs


def _per_row(text: str, rows: Sequence[str], flag: str, unit: str, cast: Callable[[str], Any]) -> dict[str, Any]:
  """`N` for every row of the run, or `row=N` pairs separated by commas (a row not named keeps the paper's setting;
  named rows outside `rows` are ignored, so one setting can serve runs of single rows); "" or "0": none.

  Raises:
    ValueError: a value that is not a positive `unit`, or an unknown row name.
  """
  def value_of(value: str, what: str) -> Any:
    try:
      n = cast(value)
    except ValueError:
      n = 0
    if not n > 0 or not math.isfinite(n):
      raise ValueError(f"{flag}: {what} needs a positive {unit}, got {value!r}")
    return n

  text = text.strip()
  if text in ("", "0"):
    return {}
  if "=" not in text:
    n = value_of(text, "every row")
    return {row: n for row in rows}
  values = {}
  for pair in text.split(","):
    name, _, value = (t.strip() for t in pair.partition("="))
    classics.get_row(name)  # an unknown name lists the known ones
    values[name] = value_of(value, name)
  return {row: n for row, n in values.items() if row in rows}


def parse_steps(text: str, rows: Sequence[str]) -> dict[str, int]:
  """--steps: {row: G steps} for the rows of `rows` that are shortened (see `_per_row` for the forms)."""
  return _per_row(text, rows, "--steps", "number of G steps", int)


def parse_train_seconds(text: str, rows: Sequence[str]) -> dict[str, float]:
  """--train-seconds: {row: seconds} for the rows of `rows` that are time-boxed (see `_per_row` for the forms)."""
  return _per_row(text, rows, "--train-seconds", "number of seconds", float)


def _check_numbers(args: argparse.Namespace, seeds: Sequence[int]) -> None:
  """The seeds and the numeric flags, before any work: a bad one would otherwise fail only at the first evaluation,
  after a row's training (or, for --seeds, measure one seed twice)."""
  if not seeds:
    raise ValueError(f"--seeds {args.seeds!r}: no seed given, e.g. --seeds 0,1,2")
  twice = sorted({s for s in seeds if seeds.count(s) > 1})
  if twice:
    raise ValueError(f"--seeds {args.seeds!r}: seed(s) {twice} given twice; give each seed once")
  for flag, value, least in (("--fid-batch", args.fid_batch, 1), ("--eval-cap", args.eval_cap, 0),
                             ("--workers", args.workers, 1), ("--standing-stats", args.standing_stats, 0),
                             ("--checkpoint-every", args.checkpoint_every, -1)):
    if value < least:
      raise ValueError(f"{flag} must be >= {least}, got {value}")
  if not (args.diverged_above > 0 and math.isfinite(args.diverged_above)):
    raise ValueError(f"--diverged-above must be a positive FID, got {args.diverged_above}")


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m benchmarks.reproduce", description=__doc__.split("\n")[0])
  p.add_argument("--rows", default="", help="comma-separated row names or groups (all, mnist, fashion, cifar)")
  p.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
  p.add_argument("--out", default="results", help="results folder")
  p.add_argument("--baselines", action="store_true", help="also measure real train-vs-test FIDs")
  p.add_argument("--datasets", default="", help="baseline datasets (default: those of --rows, else all)")
  p.add_argument("--protocols", default=",".join(proto.PROTOCOLS), help="baseline protocols")
  p.add_argument("--smoke", action="store_true", help="tiny nets, <= 4 steps, <= 32 images per FID (plumbing)")
  p.add_argument("--steps", default="", help="N: train every row N G steps instead of the paper's; row=N pairs "
                                             "separated by commas: those rows only")
  p.add_argument("--train-seconds", default="",
                 help="S: time-box every row (train the paper's run, stop at the first step after S seconds, "
                      "first compile included); row=S pairs separated by commas: those rows only")
  p.add_argument("--eval-cap", type=int, default=0,
                 help="> 0: at most this many images per FID side (CPU checks; biased, not comparable)")
  p.add_argument("--weights", default=None, help="FID Inception weights (default: $JAXGAN_FID_WEIGHTS, "
                 "../shared/weights, the cache)")
  p.add_argument("--data-dir", default="", help="DIR when one dataset is read, else dataset=DIR pairs separated by "
                                                "commas (default: as the experiments resolve)")
  p.add_argument("--fid-batch", type=int, default=100, help="images per Inception call")
  p.add_argument("--frechet", default="sqrtm", choices=FRECHET_METHODS,
                 help="the Frechet distance's matrix square root: sqrtm (pytorch-fid's) or eig (symmetric "
                      "eigenvalues: the same FID to ~1e-8 relative, several times faster on the host)")
  p.add_argument("--diverged-above", type=float, default=DEFAULT_DIVERGED_ABOVE, help="FID sanity bound")
  p.add_argument("--eval-lock", default=None,
                 help="a file shared by processes on one GPU: they evaluate one at a time (gpu_classics.sh sets it)")
  p.add_argument("--checkpoint-every", type=int, default=-1,
                 help=">= 0: checkpoint every this many steps instead of the row's period (0: only the final "
                      "state; saves time where a run cannot outlive the machine, e.g. a GPU lease)")
  p.add_argument("--workers", type=int, default=1,
                 help="processes sharing the device, recorded with each seed (gpu_classics.sh passes PAR)")
  p.add_argument("--skip-done", action="store_true",
                 help="skip the seeds that the row's JSON under --out already has a result for")
  p.add_argument("--together", action="store_true",
                 help="train a row's seeds side by side in one compiled step (jax.vmap over the seeds; a small net "
                      "leaves most of a GPU idle), then evaluate each; with --todo: one 'row:s1,s2,...' line per row")
  p.add_argument("--standing-stats", type=int, default=0, metavar="B",
                 help="> 0: also score G's weight average with standing batch-norm statistics, the mean of G's "
                      "train-mode statistics over B batches of the row's batch size (BigGAN's); the table shows both")
  p.add_argument("--todo", action="store_true",
                 help="check the arguments, print one 'row:seed' line per run without a result under --out (every "
                      "row's first seed before any second), and run nothing")
  p.add_argument("--plan", action="store_true",
                 help="check the arguments, print the rows this call would run (one per line) and stop")
  p.add_argument("--list", action="store_true", help="list the rows and protocols")
  p.add_argument("--table", action="store_true", help="only rewrite results.md from the JSON under --out")
  return p


def main(argv: Sequence[str] | None = None) -> str:
  """Runs the CLI; returns the markdown table."""
  args = _parser().parse_args(argv)
  out = pathlib.Path(args.out)
  if args.list:
    for name in classics.row_names():
      r = classics.get_row(name)
      pub = _published(r.published)
      print(f"{name:26s} {proto.DATASET_LABELS[r.dataset]:14s} {r.protocol:11s} published {pub}")
    for p in proto.PROTOCOLS.values():
      print(f"protocol {p.name}: {p.description} ({p.paper})")
    return ""
  try:
    rows = classics.expand_rows(args.rows)
    try:
      seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
      raise ValueError(f"--seeds {args.seeds!r}: expected comma-separated ints, e.g. 0,1,2") from None
    _check_numbers(args, seeds)
    for name in args.protocols.split(","):
      proto.get_protocol(name)
    row_datasets = list(dict.fromkeys(classics.get_row(r).dataset for r in rows))
    datasets = ([d.strip() for d in args.datasets.split(",") if d.strip()] or row_datasets
                or list(proto.SPLIT_SIZES))
    data_dirs = parse_data_dirs(args.data_dir, row_datasets + (datasets if args.baselines else []))
    missing = [f"{name}={folder}" for name, folder in data_dirs.items()
               if not pathlib.Path(folder).expanduser().exists()]
    if missing:
      raise ValueError(f"--data-dir: {', '.join(missing)} does not exist")
    steps = parse_steps(args.steps, rows)
    boxes = parse_train_seconds(args.train_seconds, rows)
  except (experiment.ExperimentError, proto.ProtocolError, ValueError) as e:
    sys.exit(f"error: {e}")
  if args.plan or args.todo:
    items = rows
    if args.todo:
      left = todo(rows, seeds, out, steps=steps, smoke=args.smoke, eval_cap=args.eval_cap, train_seconds=boxes)
      if args.together:  # one item per row: its seeds train together
        by_row = {row: [str(seed) for r, seed in left if r == row] for row in rows}
        items = [f"{row}:{','.join(s)}" for row, s in by_row.items() if s]
      else:
        items = [f"{row}:{seed}" for row, seed in left]
    text = "\n".join(items)
    print(text)
    return text
  if not args.table:
    evaluator = Evaluator(out, weights=args.weights or default_weights(), data_dirs=data_dirs,
                          batch_size=args.fid_batch, lock=args.eval_lock, frechet=args.frechet)
    try:
      for row in rows:
        run_row(row, seeds, out, evaluator, steps=steps.get(row, 0), smoke=args.smoke,
                data_dir=data_dirs.get(classics.get_row(row).dataset, ""),
                diverged_above=args.diverged_above, eval_cap=args.eval_cap,
                checkpoint_every=args.checkpoint_every, skip_done=args.skip_done, workers=args.workers,
                together=args.together, standing_batches=args.standing_stats,
                train_seconds=boxes.get(row, 0.0))
      if args.baselines:
        run_baselines(datasets, args.protocols.split(","), seeds, out, evaluator, smoke=args.smoke,
                      eval_cap=args.eval_cap)
    except (experiment.ExperimentError, proto.ProtocolError, FileNotFoundError) as e:
      sys.exit(f"error: {e}")
  results, baselines = load_results(out)
  text = write_table(results, baselines, out / "results.md")
  print(text)
  return text


if __name__ == "__main__":
  main()
