"""The image-to-image translation runner (pix2pix, CycleGAN): data, the general step, the host loop, evaluation.

An experiment module (experiments/pix2pix.py, experiments/cyclegan.py) holds a `get_config()` built on
`translation_config()` and a `main()` that calls `run(config, workdir, resume, build=...)`, where `build(c, shape)`
is the family's (`jaxgan.models.pix2pix.spec_from_config`, `jaxgan.models.cyclegan.spec_from_config`) and returns a
`TranslationSpec`: the general-step `Model` and its test-time functions. The runner knows no family.

`run` reads top to bottom: check the config, load the two domains (train and test), build the model, initialize,
train with `jaxgan.train.loop.train` (checkpoints, resume, NaN checks, metrics.jsonl), write sample grids (source |
output | target, or source | output | round trip for unpaired test sets), evaluate (`evaluate`), write
summary.json.

Datasets (`dataset` field; `../shared/data`, `$JAXGAN_DATA` or `data_dir`):
  * "facades": CMP Facades in pix2pix's AB layout, paired; `direction` "BtoA" is labels -> photo (the paper's).
  * "facades_unpaired": the same, train pairs split into two disjoint halves (`jaxgan.data.paired.unpair`); the
    test set stays paired, so paired metrics exist for CycleGAN too.
  * "mnist_fashion": MNIST (A) <-> Fashion-MNIST (B), 28x28x1 (or `resolution`/`channels`).
  * "cifar_horse_deer": CIFAR-10 horse (A) <-> deer (B), 32x32x3 (the JPEG copy).

Evaluation (`evaluate`, after training; also usable on any state): the test sources translated (`test_mode` for
pix2pix), then
  * FID of the translations against the real test targets at n = `fid_num` (0: the whole test set; facades 106),
    with the FID Inception (`fid_weights`, `$JAXGAN_FID_WEIGHTS`, ../shared/weights/fid_inception_2015_12_05.npz or
    the cache; skipped with a note when absent), next to the floor at the same n (n train targets against the test
    targets: FID at small n is biased upward, so only the difference to the floor means something) and the source
    baseline (the untranslated test sources against the test targets);
  * for paired test sets: mean L1 (on [0, 255] and on the loss' [-1, 1] scale), PSNR and SSIM against the target
    (`jaxgan.metrics.image`), LPIPS (`jaxgan.perceptual.lpips`, AlexNet or VGG, when its weights are cached);
  * for models with a way back (CycleGAN): the test cycle L1, mean |G_BA(G_AB(a)) - a| on [-1, 1].
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import config as config_lib
from jaxgan import viz
from jaxgan.data import paired as paired_lib
from jaxgan.data.paired import TranslationDataset
from jaxgan.data.pipeline import Pipeline, uint8_to_float
from jaxgan.metrics import image as image_metrics
from jaxgan.train import general
from jaxgan.train import hooks as hooks_lib
from jaxgan.train import parallel
from jaxgan.train.experiment import ExperimentError, _steady_rate, check, check_resumable, has_checkpoint
from jaxgan.train.loop import RUN_ARTEFACTS, LoopConfig, move_aside, train

DATASETS = ("facades", "facades_unpaired", "mnist_fashion", "cifar_horse_deer")
PARALLEL = ("auto", "jit", "mesh", "pmap")
NOT_FINGERPRINTED = ("num_steps", "stop_at", "train_seconds", "log_every", "sample_every", "num_samples",
                     "checkpoint_every", "keep", "progress", "fid", "fid_num", "fid_weights", "fid_batch", "lpips",
                     "lpips_net", "eval_batch", "test_mode", "data_dir", "parallel", "coordinator", "num_processes",
                     "process_id", "evaluate")
_FID_NPZ = "fid_inception_2015_12_05.npz"
_EVAL_KEY = 0xE7A1
_SAMPLE_KEY = 0x5A3


@dataclasses.dataclass(frozen=True)
class TranslationSpec:
  """What the runner needs from a family.

  Attributes:
    model: the general-step Model; batches are {a_name: (N, H, W, C_A), b_name: (N, H, W, C_B)} float32 in [-1, 1].
    a_name, b_name: the batch keys of the source and the target domain ("source"/"image", "A"/"B").
    translate: `(state, x, key) -> y`, the test-time A -> B map of one copy of the state (jit-able).
    back: `(state, y) -> x`, B -> A (CycleGAN's G_BA), or None.
    eval_batch: images per translate call at test time (pix2pix in train mode: the batch whose statistics
      normalize; 1 as the reference's test.py).
  """
  model: general.Model
  a_name: str
  b_name: str
  translate: Callable[[general.TrainState, jax.Array, jax.Array], jax.Array]
  back: Callable[[general.TrainState, jax.Array], jax.Array] | None = None
  eval_batch: int = 1


# ---------------------------------------------------------------------------------------------------------- config


def translation_config() -> ml_collections.ConfigDict:
  """The fields every translation experiment has; experiment modules add the family's and set the paper's."""
  c = ml_collections.ConfigDict()
  # Data.
  c.dataset = "facades"  # facades, facades_unpaired, mnist_fashion, cifar_horse_deer
  c.data_dir = ""  # "": $JAXGAN_DATA, else ../shared/data
  c.direction = "BtoA"  # facades: which half is the source (BtoA: labels -> photo, the paper's)
  c.resolution = 256  # side of the images (0: the data's own)
  c.channels = 0  # 0: the data's own; 1 or 3 converts
  c.limit = 0  # > 0: at most this many training images per domain
  c.jitter = True  # pix2pix's random jitter: resize by 286/256, random crop back, random flip (both sides alike)
  # Networks (the family's defaults in get_config).
  c.generator = "unet_256"  # a name of jaxgan.nets.pix2pix.TRANSLATION_GENERATORS
  c.g_width = 0  # 0: the variant's (64; tiny 4)
  c.d_patch = "70"  # pixel, 16, 70, 142: D's receptive field
  c.d_width = 64
  c.norm = "batch"  # batch, instance or none
  # Optimization.
  c.batch_size = 1
  c.lr = 2e-4
  c.beta1 = 0.5
  c.beta2 = 0.999
  c.num_steps = 80_000  # updates of each player (facades: 400 images x 200 epochs at batch 1)
  c.decay_steps = 40_000  # the last decay_steps updates decay the rate linearly to 0
  c.stop_at = 0  # > 0: stop after this many steps of the num_steps run (resumable)
  c.train_seconds = 0.0  # > 0: stop at the first step after this many seconds (a time box, resumable)
  c.seed = 0
  # Reporting.
  c.log_every = 100
  c.sample_every = 2000  # steps per samples/step_XXXXXX.png (0: only at the end)
  c.num_samples = 8  # test sources in a grid (rows of source | output | target)
  c.checkpoint_every = 2000
  c.keep = 2
  c.progress = True
  # Evaluation at the end.
  c.evaluate = True
  c.test_mode = "train"  # pix2pix at test time: train (dropout on, the test batch's statistics) or eval
  c.eval_batch = 0  # images per test-time call; 0: the family's (pix2pix 1, CycleGAN 50)
  c.fid = True  # FID (skipped with a note when the Inception weights are absent)
  c.fid_num = 0  # images per FID set; 0: the whole test set (facades: 106, the anchors' count)
  c.fid_batch = 50
  c.fid_weights = ""  # "": $JAXGAN_FID_WEIGHTS, ../shared/weights/fid_inception_2015_12_05.npz, or the cache
  c.lpips = True  # LPIPS against paired targets (skipped with a note when the weights are not cached)
  c.lpips_net = "alex"  # alex (the reference metric) or vgg
  # Devices.
  c.parallel = "jit"  # jit, mesh, pmap or auto
  c.coordinator = ""  # multi-host (see README "Scaling out"); translation runs are single-host so far
  c.num_processes = 0
  c.process_id = -1
  c.fast_compile = False  # XLA optimization level 0 (smoke runs)
  c.smoke = False
  return c


def apply_smoke(config: ml_collections.ConfigDict, *, tiny_generator: str) -> ml_collections.ConfigDict:
  """The config shrunk to seconds: a tiny generator, 64x64 (28 for MNIST), 4 steps, 16 images, small evaluation."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.generator = tiny_generator
  c.g_width = min(c.g_width, 4) if c.g_width else 0
  c.d_width = min(c.d_width, 4)
  if c.dataset.startswith("facades"):
    c.resolution = min(c.resolution, 64) if c.resolution else 64
  c.num_steps, c.decay_steps = min(c.num_steps, 4), min(c.decay_steps, 2)
  c.stop_at = min(c.stop_at, c.num_steps)
  c.batch_size = min(c.batch_size, 2)
  c.limit = min(c.limit, 16) if c.limit else 16
  c.log_every, c.sample_every, c.checkpoint_every = 2, 2, 2
  c.num_samples = min(c.num_samples, 4)
  c.fid_num = min(c.fid_num, 8) if c.fid_num else 8
  c.fid_batch = min(c.fid_batch, 8)
  c.fid = c.lpips = False  # an Inception or AlexNet compile takes minutes on a CPU; `evaluate` tests cover them
  c.progress = False
  c.fast_compile = True
  return c


def check_config(c: ml_collections.ConfigDict) -> None:
  """Value checks that need no data; each error names the field."""
  check(c.dataset in DATASETS, f"unknown dataset {c.dataset!r} (field `dataset`); known: {', '.join(DATASETS)}")
  check(c.direction in paired_lib.DIRECTIONS, f"direction must be one of {paired_lib.DIRECTIONS}, got {c.direction!r}")
  for name in ("num_steps", "batch_size", "log_every", "num_samples", "keep", "fid_batch"):
    check(c[name] >= 1, f"{name} must be >= 1, got {c[name]}")
  for name in ("resolution", "limit", "g_width", "sample_every", "checkpoint_every", "fid_num", "eval_batch"):
    check(c[name] >= 0, f"{name} must be >= 0, got {c[name]}")
  check(c.d_width >= 1, f"d_width must be >= 1, got {c.d_width}")
  check(c.channels in (0, 1, 3), f"channels must be 0 (keep), 1 or 3, got {c.channels}")
  check(0 <= c.decay_steps <= c.num_steps, f"decay_steps must be in [0, num_steps={c.num_steps}], got {c.decay_steps}")
  check(0 <= c.stop_at <= c.num_steps, f"stop_at must be in [0, num_steps={c.num_steps}], got {c.stop_at}")
  check(c.train_seconds >= 0, f"train_seconds must be >= 0, got {c.train_seconds}")
  check(c.lr > 0, f"lr must be > 0, got {c.lr}")
  for name in ("beta1", "beta2"):
    check(0.0 <= c[name] < 1.0, f"{name} must be in [0, 1), got {c[name]}")
  check(c.test_mode in ("train", "eval"), f"test_mode must be 'train' or 'eval', got {c.test_mode!r}")
  check(c.lpips_net in ("alex", "vgg"), f"lpips_net must be 'alex' or 'vgg', got {c.lpips_net!r}")
  check(c.parallel in PARALLEL, f"parallel must be one of {', '.join(PARALLEL)}, got {c.parallel!r}")
  check(c.seed >= 0, f"seed must be >= 0, got {c.seed}")


def fingerprinted(config_dict: dict[str, Any]) -> dict[str, Any]:
  """The fields a checkpoint must agree on to be resumed; num_steps counts when the rate decays over it."""
  out = {k: v for k, v in config_dict.items() if k not in NOT_FINGERPRINTED}
  if config_dict.get("decay_steps", 0):
    out["num_steps"] = config_dict.get("num_steps")
  return out


# ------------------------------------------------------------------------------------------------------------ data


def data_root(data_dir: str) -> pathlib.Path:
  """`data_dir`, else $JAXGAN_DATA, else ../shared/data beside the working directory or the checkout.

  Raises:
    FileNotFoundError: none of them exists (naming the field to set).
  """
  if data_dir:
    return pathlib.Path(os.path.expanduser(data_dir))
  candidates = [os.environ.get("JAXGAN_DATA", "")]
  candidates += [str(pathlib.Path.cwd().parent / "shared" / "data"),
                 str(pathlib.Path(__file__).resolve().parents[3] / "shared" / "data")]
  for cand in candidates:
    if cand and pathlib.Path(cand).is_dir():
      return pathlib.Path(cand)
  raise FileNotFoundError("no data folder: set the config field `data_dir` (--data_dir=PATH) to the folder holding "
                          "facades/, mnist/, fashion_mnist/ or cifar10*.zip, or set $JAXGAN_DATA")


def load_translation_data(c: ml_collections.ConfigDict) -> tuple[TranslationDataset, TranslationDataset]:
  """(train, test) domains of `c.dataset`; `a` is the source domain of every set.

  Raises:
    FileNotFoundError: missing data (the message names `data_dir`). ExperimentError: unusable images.
  """
  root = data_root(c.data_dir)
  res = c.resolution or None
  ch = c.channels or None
  limit = c.limit or None
  try:
    if c.dataset in ("facades", "facades_unpaired"):
      path = root / "facades" if (root / "facades").is_dir() else root
      load = lambda split, lim: paired_lib.load_paired_ab(path, split=split, direction=c.direction, resolution=res,
                                                          channels=ch, limit=lim, subset="even")
      train_set, test_set = load("train", limit), load("test", None)
      if c.dataset == "facades_unpaired":
        train_set = paired_lib.unpair(train_set, seed=c.seed)
    elif c.dataset == "mnist_fashion":
      a, b = root / "mnist", root / "fashion_mnist"
      load = lambda split, lim: paired_lib.load_unpaired(a, b, split=split, resolution=res, channels=ch, limit=lim,
                                                         subset="even")
      train_set, test_set = load("train", limit), load("test", None)
    else:  # cifar_horse_deer
      zips = sorted(root.glob("cifar10*.zip")) if root.is_dir() and root.suffix != ".zip" else [root]
      check(bool(zips), f"no cifar10*.zip in {root}; set data_dir to it")
      load = lambda split, lim: paired_lib.load_unpaired_classes(zips[0], "horse", "deer", split=split,
                                                                 resolution=res, channels=ch, limit=lim, subset="even")
      train_set, test_set = load("train", limit), load("test", None)
  except FileNotFoundError as e:
    raise FileNotFoundError(f"{e} (data_dir={c.data_dir!r}; set --data_dir)") from None
  except ValueError as e:
    raise ExperimentError(f"dataset {c.dataset!r}: {e}") from None
  for name, ds in (("train", train_set), ("test", test_set)):
    for side in ("a", "b"):
      h, w = getattr(ds, side).resolution
      check(h == w, f"{name} domain {side} has {h}x{w} images; the nets need square ones: set --resolution")
  return train_set, test_set


class TranslationBatches:
  """Shuffled batches of both domains, jittered on the device, in the step's layout; resumable.

  Paired sets keep their pairs (one `Pipeline` over the two sides side by side, the AB layout); unpaired domains
  have a pipeline each (seeds `seed` and `seed + 1`). Batch i's jitter key is fold_in(key(seed), i) and the
  position (`state()`) is saved in checkpoints, so a resumed run reads the batches of the uninterrupted one.
  """

  def __init__(self, data: TranslationDataset, batch_size: int, *, a_name: str, b_name: str, seed: int,
               jitter: bool, place: Callable[[dict[str, jax.Array]], dict[str, jax.Array]]):
    self._paired = data.paired
    self._a_name, self._b_name = a_name, b_name
    self._w_a = data.a.images.shape[2]
    self._jitter = jitter
    self._place = place
    self._key = jax.random.key(seed)
    self._count = 0
    host = lambda batch: batch
    if data.paired:
      if data.a.images.shape[1:] != data.b.images.shape[1:]:
        raise ExperimentError(f"paired domains of different shapes ({data.a.images.shape[1:]} and "
                              f"{data.b.images.shape[1:]}): set --channels so both sides have the same")
      self._pipes = [Pipeline(np.concatenate([data.a.images, data.b.images], axis=2), None, batch_size, seed=seed,
                              place=host)]
    else:
      self._pipes = [Pipeline(data.a.images, None, batch_size, seed=seed, place=host),
                     Pipeline(data.b.images, None, batch_size, seed=seed + 1, place=host)]
    self._prepare = jax.jit(self._prepare_fn)

  def _prepare_fn(self, key, a, b):
    a, b = uint8_to_float(a), uint8_to_float(b)
    if self._jitter:
      if self._paired:
        a, b = paired_lib.jitter(key, a, b)
      else:
        k_a, k_b = jax.random.split(key)
        a, = paired_lib.jitter(k_a, a)
        b, = paired_lib.jitter(k_b, b)
    return a, b

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, jax.Array]:
    if self._paired:
      images = next(self._pipes[0])["image"]
      a, b = images[:, :, :self._w_a], images[:, :, self._w_a:]
    else:
      a, b = next(self._pipes[0])["image"], next(self._pipes[1])["image"]
    a, b = self._prepare(jax.random.fold_in(self._key, self._count), a, b)
    self._count += 1
    return self._place({self._a_name: a, self._b_name: b})

  def state(self) -> dict[str, Any]:
    return {"pipes": [p.state() for p in self._pipes], "count": self._count}

  def restore(self, state: dict[str, Any]) -> None:
    for p, s in zip(self._pipes, state["pipes"]):
      p.restore(s)
    self._count = int(state["count"])

  def close(self) -> None:
    for p in self._pipes:
      p.close()


# ------------------------------------------------------------------------------------------------------ evaluation


def fid_weights_path(path: str = "") -> str | None:
  """`path`, else $JAXGAN_FID_WEIGHTS, else ../shared/weights/<npz> beside the working directory or the checkout,
  else None (then `jaxgan.metrics.load_inception_params` looks in its cache)."""
  if path:
    return path
  if os.environ.get("JAXGAN_FID_WEIGHTS"):
    return os.environ["JAXGAN_FID_WEIGHTS"]
  for root in (pathlib.Path.cwd().parent, pathlib.Path(__file__).resolve().parents[3]):
    cand = root / "shared" / "weights" / _FID_NPZ
    if cand.is_file():
      return str(cand)
  return None


def translate_all(fn: Callable[..., jax.Array], state: Any, images: np.ndarray, batch: int,
                  key: jax.Array | None = None) -> np.ndarray:
  """`fn` over `images` ((N, H, W, C) uint8 or float in [-1, 1]) in batches of `batch` (the last one smaller: a
  second compilation, but no padding images in the batch statistics). fn(state, x, key) when `key` is given (key
  folded with the batch index), else fn(state, x). Returns (N, H', W', C') float32 numpy."""
  x = np.asarray(images)
  if x.dtype == np.uint8:
    x = x.astype(np.float32) / 127.5 - 1.0
  out = []
  for i in range(0, len(x), batch):
    part = jnp.asarray(x[i:i + batch])
    y = fn(state, part, jax.random.fold_in(key, i)) if key is not None else fn(state, part)
    out.append(np.asarray(jax.device_get(y), np.float32))
  return np.concatenate(out)


def _to_rgb(x: np.ndarray) -> np.ndarray:
  return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def write_grid(path: str, columns: Sequence[np.ndarray]) -> str:
  """A PNG of rows (one per image) of the given columns, each (N, H, W, C) float in [-1, 1] (1 channel -> gray RGB
  when the columns mix channels). Returns the path."""
  mixed = len({c.shape[-1] for c in columns}) > 1
  cols = [_to_rgb(c) if mixed else c for c in columns]
  rows = np.stack(cols, axis=1).reshape((-1,) + cols[0].shape[1:])
  os.makedirs(os.path.dirname(path), exist_ok=True)
  viz.save_image_grid(rows, path, ncols=len(cols))
  return path


def _fid_block(c: ml_collections.ConfigDict, outputs: np.ndarray, test: TranslationDataset,
               train: TranslationDataset, n: int) -> dict[str, Any]:
  """FID of the outputs, the floor and the source baseline at n, or a note when the Inception is unavailable."""
  from jaxgan import metrics  # pylint: disable=g-import-not-at-top
  weights = fid_weights_path(c.fid_weights)
  try:
    extractor = metrics.inception_extractor(weights)
  except FileNotFoundError as e:
    return {"fid": None, "fid_note": f"FID skipped: no Inception weights ({e})"}
  batch = max(1, min(c.fid_batch, n))
  stats = lambda images: metrics.stats_from_images(images, extractor, batch_size=batch, allow_few=True)
  ref = stats(test.b.images[:n])
  out = {"fid_num": n, "fid": metrics.fid_from_stats(stats(outputs[:n]), ref)}
  floor_n = min(n, len(train.b))
  if floor_n == n:
    out["fid_floor"] = metrics.fid_from_stats(stats(train.b.images[:n]), ref)
    out["fid_floor_note"] = f"{n} train targets vs the {n} test targets: the FID of real images at this n"
  else:
    out["fid_floor"] = None
    out["fid_floor_note"] = f"only {len(train.b)} train targets for n = {n}"
  out["fid_source"] = metrics.fid_from_stats(stats(test.a.images[:n]), ref)
  out["fid_source_note"] = "the untranslated test sources vs the test targets"
  return out


def evaluate(spec: TranslationSpec, state: general.TrainState, test: TranslationDataset,
             train_set: TranslationDataset, c: ml_collections.ConfigDict, *,
             grid_path: str | None = None) -> dict[str, Any]:
  """The test metrics of one state (see the module docstring); state: one copy (not per device).

  Returns:
    {"num_test", "fid", "fid_floor", "fid_source", "fid_num" (or "fid_note"), and for paired test sets "l1_255",
    "l1", "psnr", "ssim", "lpips" (or "lpips_note"); "cycle_l1" when the spec has a way back; "grid"}.
  """
  n = min(c.fid_num, len(test.a)) if c.fid_num else len(test.a)
  batch = c.eval_batch or spec.eval_batch
  key = jax.random.fold_in(jax.random.key(c.seed), _EVAL_KEY)
  translate = jax.jit(spec.translate)
  sources = test.a.images[:n]
  t0 = time.perf_counter()
  outputs = translate_all(translate, state, sources, batch, key)
  src = sources.astype(np.float32) / 127.5 - 1.0
  out: dict[str, Any] = {"num_test": n, "test_mode": c.test_mode, "eval_batch": batch}
  if test.paired:
    target = test.b.images[:n].astype(np.float32) / 127.5 - 1.0
    l1_255 = np.asarray(image_metrics.l1_error(jnp.asarray(outputs), jnp.asarray(target)))
    out["l1_255"] = float(l1_255.mean())
    out["l1"] = float(np.mean(np.abs(outputs - target)))
    out["psnr"] = float(np.mean(np.asarray(image_metrics.psnr(jnp.asarray(outputs), jnp.asarray(target)))))
    out["ssim"] = float(np.mean(np.asarray(image_metrics.ssim(jnp.asarray(outputs), jnp.asarray(target)))))
    if c.lpips:
      out.update(_lpips(c.lpips_net, outputs, target))
  if spec.back is not None:
    rec = translate_all(jax.jit(spec.back), state, outputs, batch)
    out["cycle_l1"] = float(np.mean(np.abs(rec - src)))
    out["cycle_l1_note"] = "mean |G_BA(G_AB(a)) - a| over the test sources, on [-1, 1]"
  if grid_path:
    cols = [src[:c.num_samples], outputs[:c.num_samples]]
    cols.append(target[:c.num_samples] if test.paired else rec[:c.num_samples])
    out["grid"] = write_grid(grid_path, cols)
    out["grid_columns"] = "source | output | target" if test.paired else "source | output | round trip"
  if c.fid:
    out.update(_fid_block(c, outputs, test, train_set, n))
  else:
    out["fid"], out["fid_note"] = None, "FID off (fid=False)"
  out["eval_seconds"] = time.perf_counter() - t0
  return out


def _lpips(net: str, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
  from jaxgan import perceptual  # pylint: disable=g-import-not-at-top
  if perceptual.find_weights(net) is None:
    return {"lpips": None, "lpips_note": f"LPIPS skipped: no {net} weights cached (python -m jaxgan.perceptual "
                                         "download)"}
  x, y = _to_rgb(x), _to_rgb(y)
  if net == "alex" and min(x.shape[1:3]) < 31:
    net = "vgg"  # AlexNet's first layers need 31 pixels
  return {"lpips": float(np.mean(perceptual.lpips(x, y, net=net))), "lpips_net": net}


class _Grid(hooks_lib.Hook):
  """samples/step_XXXXXX.png every `every` steps and at the end: fixed test sources | outputs | targets."""

  def __init__(self, fn: Callable[[Any, int], str], every: int):
    self._fn, self._every = fn, every
    self.written: list[str] = []

  def after_step(self, step, state):
    if self._every and step % self._every == 0 and jax.process_index() == 0:
      self.written.append(self._fn(state, step))

  def end(self, step, state):
    if jax.process_index() == 0 and (not self.written or not self.written[-1].endswith(f"{step:06d}.png")):
      self.written.append(self._fn(state, step))


# ---------------------------------------------------------------------------------------------------------- runner


def run(config: ml_collections.ConfigDict, workdir: str | None, resume: bool = True, *,
        build: Callable[[ml_collections.ConfigDict, TranslationDataset], TranslationSpec],
        tiny_generator: str, name: str = "translation",
        paper: dict[str, Any] | None = None) -> tuple[general.TrainState, dict[str, Any]]:
  """Trains and evaluates a translation model; returns (final state, summary). See the module docstring.

  Args:
    config: a `translation_config()`-shaped ConfigDict with the family's fields.
    workdir: where config.json, metrics.jsonl, samples/, checkpoints/ and summary.json go; None writes nothing.
    resume: continue from the workdir's checkpoint; False moves the previous run aside.
    build: the family's `spec_from_config(c, train_data) -> TranslationSpec`.
    tiny_generator: the generator of `--smoke`.
    name: the experiment's name for the summary; paper: anchors copied into the summary.
  Raises:
    ExperimentError, FileNotFoundError: bad config or data, before any compute. CheckpointMismatchError: the
    workdir's run had another configuration. NonFiniteError: a NaN/inf loss.
  """
  c = apply_smoke(config, tiny_generator=tiny_generator) if config.smoke else ml_collections.ConfigDict(
      config.to_dict())
  check_config(c)
  train_set, test_set = load_translation_data(c)
  check(c.batch_size <= min(len(train_set.a), len(train_set.b)),
        f"batch_size={c.batch_size} exceeds the smaller domain ({min(len(train_set.a), len(train_set.b))} images)")
  try:
    spec = build(c, train_set)
  except ValueError as e:
    raise ExperimentError(f"cannot build the model: {e}") from None
  config_dict = json.loads(json.dumps(c.to_dict(), default=str))
  fp = fingerprinted(config_dict)
  if workdir:
    if resume:
      check_resumable(workdir, fp)
    else:
      moved = move_aside(workdir, RUN_ARTEFACTS + ("config.json",))
      if moved:
        print(f"starting over (--no-resume): the previous run's files are now in {moved}")
    config_lib.save_config(c, workdir)
  print("config:", json.dumps(config_dict, sort_keys=True), flush=True)

  model = spec.model
  dp = parallel.DataParallel.create(c.parallel, d_steps=model.num_slices)
  shape = lambda ds: (c.batch_size,) + ds.images.shape[1:]
  example = {spec.a_name: jnp.zeros(shape(train_set.a), jnp.float32),
             spec.b_name: jnp.zeros(shape(train_set.b), jnp.float32)}
  try:
    state = general.init_general_state(jax.random.key(c.seed), model, example)
  except ValueError as e:
    raise ExperimentError(f"cannot build the model for {shape(train_set.a)[1:]} images: {e}; set --resolution "
                          "(and --channels) to a size the nets support") from None
  state = dp.put_state(state)
  step_fn = dp.compile_model(model, compiler_options=general.UNOPTIMIZED if c.fast_compile else None)

  hooks = []
  grid = None
  if workdir:
    fixed = test_set.a.images[:c.num_samples]
    fixed_b = test_set.b.images[:c.num_samples] if test_set.paired else None
    sample_key = jax.random.fold_in(jax.random.key(c.seed), _SAMPLE_KEY)
    translate = jax.jit(spec.translate)

    def write(state, step):
      host = dp.host_state(state)
      out = translate_all(translate, host, fixed, c.eval_batch or spec.eval_batch, sample_key)
      cols = [fixed.astype(np.float32) / 127.5 - 1.0, out]
      if fixed_b is not None:
        cols.append(fixed_b.astype(np.float32) / 127.5 - 1.0)
      return write_grid(os.path.join(workdir, "samples", f"step_{step:06d}.png"), cols)

    grid = _Grid(write, c.sample_every)
    hooks.append(grid)
    hooks.append(hooks_lib.LossCurves(os.path.join(workdir, "metrics.jsonl"), os.path.join(workdir, "losses.png"),
                                      every=c.sample_every, title=f"{name}: {c.generator} on {c.dataset}"))

  batches = TranslationBatches(train_set, c.batch_size, a_name=spec.a_name, b_name=spec.b_name, seed=c.seed,
                               jitter=c.jitter, place=dp.put_batch)
  deadline = time.time() + c.train_seconds if c.train_seconds > 0 else None
  loop_cfg = LoopConfig(num_steps=c.stop_at or c.num_steps, log_every=c.log_every,
                        checkpoint_every=c.checkpoint_every, keep=c.keep, resume=resume, progress=c.progress,
                        images_per_step=c.batch_size, deadline=deadline)
  start = time.perf_counter()
  try:
    state, records = train(step_fn, state, batches, loop_cfg, workdir=workdir, config=fp, data=batches,
                           hooks=hooks, placement=dp)
  finally:
    batches.close()
  wall = time.perf_counter() - start
  state = dp.host_state(state)
  step = int(jax.device_get(state.step))
  history = hooks_lib.read_records(os.path.join(workdir, "metrics.jsonl")) if workdir else records
  summary = {
      "experiment": name, "dataset": c.dataset, "direction": c.direction, "generator": c.generator,
      "resolution": int(train_set.a.images.shape[1]), "num_train": [len(train_set.a), len(train_set.b)],
      "num_test": len(test_set.a), "steps": step, "num_steps": c.num_steps, "wall_seconds": wall,
      "steps_per_sec": _steady_rate(records, "steps_per_sec") if records else None,
      "final": {k: v for k, v in (history[-1] if history else {}).items()
                if k.endswith("_loss") or "/" in k},
      "device": jax.devices()[0].device_kind, "parallel": dp.mode, "num_devices": dp.num_devices,
      "last_samples": grid.written[-1] if grid and grid.written else None,
  }
  if c.evaluate:
    summary["eval"] = evaluate(spec, state, test_set, train_set, c,
                               grid_path=os.path.join(workdir, "samples", "test_grid.png") if workdir else None)
  if paper:
    summary["paper"] = paper
  if workdir and jax.process_index() == 0:
    with open(os.path.join(workdir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=2, default=str)
  return state, summary


__all__ = ["TranslationSpec", "translation_config", "apply_smoke", "check_config", "load_translation_data",
           "TranslationBatches", "evaluate", "translate_all", "write_grid", "fid_weights_path", "run",
           "has_checkpoint"]
