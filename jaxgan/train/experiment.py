"""The logic shared by the image-GAN experiment modules (experiments/dcgan.py, wgan.py, ...).

An experiment module holds a `get_config()` that starts from `base_config()` and sets the
paper's values, and a `main(config, workdir, resume)` that calls `run`. `run` reads top to
bottom: check the config, find and load the data, check labels, build networks, loss and
optimizers by name, initialize, build the hooks, train (resuming when the workdir has a
checkpoint), write `summary.json`. Every check of the input happens before the first step
is compiled, and raises `ExperimentError` (or `FileNotFoundError` for missing data) with a
message that names the config field to change. `cli` is the `__main__` of every module: it
turns those errors, a NaN stop and a refused resume into one `error: ...` line and exit
status 1. `run_together` trains several seeds of one config side by side in one compiled step
(`jax.vmap`) and leaves each seed's workdir as `run` would at the end.

Workdir contents: config.json (the resolved config), metrics.jsonl, losses.png,
samples/step_XXXXXX.png (fixed latents), checkpoints/, summary.json, and optionally
tensorboard/ and fid.jsonl.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import os
import pathlib
import sys
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxgan import config as config_lib
from jaxgan import losses
from jaxgan import sampling
from jaxgan.data import Pipeline, check_dataset_name, get_dataset
from jaxgan.data.arrays import ImageDataset
from jaxgan.data.files import idx_file_names
from jaxgan.data.pipeline import uint8_to_float
from jaxgan.nets import registry
from jaxgan.nets.layers import NORMS
from jaxgan.train import distributed
from jaxgan.train import hooks as hooks_lib
from jaxgan.train import parallel
from jaxgan.train.checkpoint import CheckpointMismatchError, CheckpointReadError, Checkpointer
from jaxgan.train.loop import RUN_ARTEFACTS, LoopConfig, NonFiniteError, move_aside, train
from jaxgan.train.multistep import StackedBatches, multi_step
from jaxgan.train.optim import clip_params
from jaxgan.train.state import GANState
from jaxgan.train.step import (COMPUTE_DTYPES, UNOPTIMIZED, StepConfig, glorot_init, init_state, make_train_step,
                               normal_init_state, orthogonal_init, reinit_state)

OPTIMIZERS = ("adam", "rmsprop")
INITS = ("normal", "default", "orthogonal", "glorot")
_REINIT = {"orthogonal": orthogonal_init, "glorot": glorot_init}  # init name -> parameter redraw after init_state
LR_SCHEDULES = ("constant", "linear")
# Fields that change how long a run goes or what it reports, not its trajectory: a checkpoint
# written under other values of these can be resumed (e.g. to train longer).
NOT_FINGERPRINTED = ("num_steps", "log_every", "sample_every", "num_samples", "checkpoint_every",
                     "keep", "progress", "tensorboard", "fid_every", "fid_stats", "fid_num",
                     "fid_batch", "fid_weights", "data_dir", "parallel", "coordinator",
                     "num_processes", "process_id", "standing_stats", "stop_at", "train_seconds",
                     "steps_per_call")
_SMOKE_LIMIT = 64


class ExperimentError(ValueError):
  """A configuration or input problem found before training starts."""


# ---------------------------------------------------------------------------------------- config


def base_config() -> ml_collections.ConfigDict:
  """The fields every image-GAN experiment has; experiment modules set the paper's values."""
  c = ml_collections.ConfigDict()
  # Data.
  c.dataset = "mnist"  # mnist, fashion_mnist, cifar10, folder, npz or tfds:<name>
  c.data_dir = ""  # "": $JAXGAN_DATA, else ../shared/data/<dataset> if it exists; tfds: TFDS' dir
  c.split = "train"
  c.resolution = 0  # 0: the data's own size; else center crop + resize to this side
  c.channels = 0  # 0: the data's own channels; 1 or 3 converts
  c.limit = 0  # > 0: use only `limit` evenly spaced examples (every class of a class-sorted folder)
  c.flip = False  # random horizontal flips
  c.conditional = False  # class-conditional G and D (labels from the data)
  c.num_classes = 0  # with conditional: 0 takes the number of classes from the data
  c.conditioning = "projection"  # D's conditioning: projection (Miyato & Koyama 2018) or concat
  # Networks.
  c.net = "dcgan"  # a name of jaxgan.nets.registry (dcgan, sndcgan, resnet, snresnet, infogan)
  c.g_width = 0  # 0: the registered variant's width
  c.d_width = 0
  c.d_norm = ""  # "": the net's default; batch, layer or none (the DCGAN, InfoGAN and standard-CNN critics)
  c.g_activation = ""  # "": the net's default; relu or leaky_relu (InfoGAN G only)
  c.init = "normal"  # normal: kernels ~ N(0, init_std), biases 0, norm scales ~ N(1, init_std); default: the
  # layers' own (flax); orthogonal: semi-orthogonal kernels, biases 0, norm scales 1 (StudioGAN's "ortho");
  # glorot: Glorot-uniform kernels, gain sqrt(2) in residual blocks' 3x3 convs (the SN-GAN / WGAN-GP ResNet code)
  c.init_std = 0.02
  c.latent_dim = 100
  c.latent_dist = "normal"  # normal or uniform
  # Loss.
  c.loss = "non_saturating"  # a name of jaxgan.losses.ADVERSARIAL
  c.regularizer = "none"  # none or a name of jaxgan.losses.REGULARIZERS
  c.reg_weight = 10.0  # the regularizer's weight (lambda of WGAN-GP, gamma of R1)
  c.reg_every = 1  # lazy regularization interval (D steps)
  # Optimization.
  c.optimizer = "adam"  # adam or rmsprop, for both players
  c.g_lr = 2e-4
  c.d_lr = 2e-4
  c.lr_schedule = "constant"  # constant, or linear: decays to 0 over the run (Gulrajani et al. 2017)
  c.beta1 = 0.5  # Adam
  c.beta2 = 0.999  # Adam
  c.rmsprop_decay = 0.99  # RMSProp's moving-average decay
  c.weight_clip = 0.0  # > 0: clip D's weights to [-c, c] after each update (WGAN)
  c.d_steps = 1  # D updates per G update
  c.batch_size = 128  # examples per D update; a step reads d_steps * batch_size real images
  c.g_batch_multiplier = 1  # G's update draws this many times batch_size latents (SN-GAN code: 2)
  c.ema_decay = 0.0  # > 0: keep an EMA of G's weights, used for samples and FID
  c.ema_rampup = 0.0  # > 0: the EMA's half-life is min(its own, ema_rampup * step) (StyleGAN2-ADA: 0.05)
  c.standing_stats = 0  # > 0: samples and FID use standing batch-norm statistics over this many batches (BigGAN)
  c.compute_dtype = "float32"  # or bfloat16: G and D compute in bf16; parameters, optimizer, losses stay f32
  c.num_steps = 10_000  # G updates
  c.stop_at = 0  # > 0: stop after this many G steps of the num_steps run (its schedules unchanged); resumable
  c.train_seconds = 0.0  # > 0: stop at the first step after this many seconds (first compile included), a
  # time box: like stop_at, the run is the first steps of the num_steps run, and resuming it continues that run
  c.seed = 0
  # Reporting.
  c.log_every = 100  # steps per metrics.jsonl record
  c.sample_every = 500  # steps per samples/step_XXXXXX.png and losses.png (0: only at the end)
  c.num_samples = 64  # images in a sample grid
  c.checkpoint_every = 1000
  c.keep = 3  # checkpoints kept
  c.progress = True  # tqdm bar with steps/s, images/s and losses
  c.tensorboard = False  # also write TensorBoard events (needs tensorboardX or tensorflow)
  c.fid_every = 0  # > 0: FID every this many steps and at the end (needs fid_stats)
  c.fid_stats = ""  # reference statistics .npz (python -m jaxgan.fid stats SOURCE --out FILE)
  c.fid_num = 10_000  # samples per FID evaluation
  c.fid_batch = 250
  c.fid_weights = ""  # Inception weights ("": $JAXGAN_FID_WEIGHTS or the cache)
  # Devices and hosts (see README "Scaling out").
  c.parallel = "auto"  # auto (mesh when several devices), jit (one device), mesh or pmap
  c.coordinator = ""  # host:port of process 0 for a multi-host run ("": single host or auto-detect)
  c.num_processes = 0  # with coordinator: the number of processes
  c.process_id = -1  # with coordinator: this process's index
  c.fast_compile = False  # XLA optimization level 0: compiles fast, runs slower (smoke runs)
  c.steps_per_call = 1  # > 1: this many steps per compiled call (lax.scan), for small models that dispatch-bound
  # the device; num_steps, log_every, checkpoint_every, sample_every, fid_every, stop_at must be multiples of it
  c.smoke = False  # shrink to seconds: tiny nets, <= 4 steps, <= 64 examples (tests use it)
  return c


def apply_smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config shrunk to a run of seconds (values are only ever made smaller)."""
  c = ml_collections.ConfigDict(config.to_dict())
  if not c.net.endswith("_tiny") and f"{c.net}_tiny" in registry.list_networks():
    c.net = f"{c.net}_tiny"
  c.g_width, c.d_width = min(c.g_width, 8), min(c.d_width, 8)
  c.num_steps = min(c.num_steps, 4)
  c.stop_at = min(c.stop_at, c.num_steps)
  c.batch_size = min(c.batch_size, 8)
  c.limit = min(c.limit, _SMOKE_LIMIT) if c.limit > 0 else _SMOKE_LIMIT
  c.latent_dim = min(c.latent_dim, 16)
  c.log_every = min(c.log_every, 2)
  c.sample_every = min(c.sample_every, 2)
  c.checkpoint_every = min(c.checkpoint_every, 2)
  c.steps_per_call = min(c.steps_per_call, 2)  # divides the smoke run's 4 steps and its intervals of 2
  c.num_samples = min(c.num_samples, 16)
  c.fid_num, c.fid_batch = min(c.fid_num, 16), min(c.fid_batch, 16)
  c.progress = False
  c.fast_compile = True
  return c


def check(ok: bool, message: str) -> None:
  """Raises ExperimentError(message) unless `ok` (a config or input check before any compute)."""
  if not ok:
    raise ExperimentError(message)


def unused_fields(c: ml_collections.ConfigDict) -> dict[str, str]:
  """The fields of `c` its other settings leave without effect, each with the reason (fields `c` lacks skipped)."""
  rules = [
      (("reg_weight", "reg_every"), c.get("regularizer", "none") in ("", "none"),
       f"there is no regularizer (set --regularizer to one of {', '.join(losses.REGULARIZERS)})"),
      (("ls_a", "ls_b", "ls_c"), losses.canonical_name(c.get("loss", "")) != "least_squares",
       f"the loss is {c.get('loss')!r}, not least_squares"),
      (("beta1", "beta2"), c.get("optimizer", "adam") != "adam", f"they are Adam's and the optimizer is "
       f"{c.get('optimizer')!r}"),
      (("rmsprop_decay",), c.get("optimizer", "rmsprop") != "rmsprop",
       f"it is RMSProp's and the optimizer is {c.get('optimizer')!r}"),
      (("conditioning",), not c.get("conditional", True), "the model is unconditional (set --conditional=true)"),
      (("top_k_decay", "top_k_period"), c.get("top_k", 0.5) == 1.0, "top-k updates are off (top_k = 1)"),
      (("lr_final_fraction",), c.get("lr_schedule") == "constant", "the learning rate is constant"),
      (("init_std",), c.get("init", "normal") != "normal", f"it is the normal init's and init is {c.get('init')!r}"),
      (("fid_stats", "fid_num", "fid_batch", "fid_weights"), c.get("fid_every", 1) == 0,
       "no FID is computed during training (set --fid_every)"),
  ]
  return {name: why for names, unused, why in rules if unused for name in names if name in c}


def check_overrides(config: ml_collections.ConfigDict, defaults: ml_collections.ConfigDict) -> None:
  """Refuses fields set away from `defaults` that `config`'s other settings leave without effect.

  Raises:
    ExperimentError: naming each such field, its value and why it has no effect.
  """
  unused = unused_fields(config)
  changed = [name for name in unused if config[name] != defaults.get(name, config[name])]
  if changed:
    raise ExperimentError("; ".join(f"--{name}={config[name]!r} has no effect: {unused[name]}" for name in changed)
                          + f". Drop {'them' if len(changed) > 1 else 'it'}, or set what "
                          f"{'they depend' if len(changed) > 1 else 'it depends'} on.")


def check_config(c: ml_collections.ConfigDict) -> None:
  """Value checks that need no data; names are checked against the registries."""
  nets = registry.list_networks()
  check(c.net in nets, f"unknown net {c.net!r} (config field `net`); known: {', '.join(nets)}")
  check(c.optimizer in OPTIMIZERS, f"unknown optimizer {c.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
  check(c.init in INITS, f"unknown init {c.init!r}; known: {', '.join(INITS)}")
  check(c.lr_schedule in LR_SCHEDULES,
        f"unknown lr_schedule {c.lr_schedule!r}; known: {', '.join(LR_SCHEDULES)}")
  for name in ("num_steps", "batch_size", "d_steps", "latent_dim", "log_every", "reg_every",
               "num_samples", "g_batch_multiplier"):
    check(c[name] >= 1, f"{name} must be >= 1, got {c[name]}")
  for name in ("g_lr", "d_lr", "init_std"):
    check(c[name] > 0, f"{name} must be > 0, got {c[name]}")
  for name in ("limit", "resolution", "channels", "num_classes", "weight_clip", "g_width",
               "d_width", "sample_every", "checkpoint_every", "fid_every", "standing_stats"):
    check(c[name] >= 0, f"{name} must be >= 0, got {c[name]}")
  check(0 <= c.stop_at <= c.num_steps, f"stop_at must be in [0, num_steps={c.num_steps}] (0: train all "
                                         f"num_steps), got {c.stop_at}")
  check(c.train_seconds >= 0, f"train_seconds must be >= 0 (0: no time box), got {c.train_seconds}")
  check(c.seed >= 0, f"seed must be >= 0, got {c.seed}")
  check(0.0 <= c.rmsprop_decay < 1.0, f"rmsprop_decay must be in [0, 1), got {c.rmsprop_decay}")
  check(c.d_norm in ("",) + NORMS, f"d_norm must be one of {', '.join(NORMS)} (or empty: the net's default), got "
                                    f"{c.d_norm!r}")
  check(c.channels in (0, 1, 3), f"channels must be 0 (keep), 1 or 3, got {c.channels}")
  check(c.ema_rampup >= 0, f"ema_rampup must be >= 0 (0: no ramp-up), got {c.ema_rampup}")
  check(c.ema_rampup == 0 or c.ema_decay > 0,
        f"ema_rampup={c.ema_rampup} ramps up G's weight average, which is off: set --ema_decay in (0, 1)")
  check(c.num_classes == 0 or c.conditional,
        f"num_classes={c.num_classes} is set but conditional=False; set --conditional=true")
  check(c.fid_every == 0 or bool(c.fid_stats),
        f"fid_every={c.fid_every} needs reference statistics: set --fid_stats=FILE.npz "
        "(python -m jaxgan.fid stats SOURCE --out FILE.npz)")
  check(c.keep >= 1, f"keep must be >= 1, got {c.keep}")
  check_steps_per_call(c)
  check(c.compute_dtype in COMPUTE_DTYPES,
        f"compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {c.compute_dtype!r}")
  check_shared_fields(c)


def check_steps_per_call(c: ml_collections.ConfigDict) -> None:
  """`c.steps_per_call` is an int >= 1 that divides every step count the loop and the hooks act on (logs,
  checkpoints, samples and FIDs happen between calls).

  Raises:
    ExperimentError: naming each field that is not a multiple and the multiples to set.
  """
  n = c.steps_per_call
  check(isinstance(n, int) and not isinstance(n, bool) and n >= 1,
        f"steps_per_call must be an int >= 1 (1: one step per call), got {n!r}")
  counts = {"num_steps": c.num_steps, "log_every": c.log_every}
  counts.update({k: c[k] for k in ("checkpoint_every", "sample_every", "fid_every", "stop_at") if c[k] > 0})
  bad = {k: v for k, v in counts.items() if v % n}
  if bad:
    fix = " ".join(f"--{k}={max(n, round(v / n) * n)}" for k, v in bad.items())
    raise ExperimentError(
        f"steps_per_call={n}: {', '.join(f'{k}={v}' for k, v in bad.items())} "
        f"{'is not a multiple' if len(bad) == 1 else 'are not multiples'} of {n} (logs, checkpoints, samples and "
        f"FIDs happen between calls of {n} steps, and so does stop_at); set {fix}, or a steps_per_call that divides "
        f"{'it' if len(bad) == 1 else 'them'} (1 always works)")


def check_shared_fields(c: ml_collections.ConfigDict) -> None:
  """Checks of the fields every experiment's config has, the image experiments' and toy2d's alike: Adam's betas,
  the EMA decay, the latent distribution, and the loss and regularizer names (`build_loss`)."""
  for name in ("beta1", "beta2"):
    check(0.0 <= c[name] < 1.0, f"{name} must be in [0, 1), got {c[name]}")
  check(0.0 <= c.ema_decay < 1.0, f"ema_decay must be in [0, 1) (0: no EMA), got {c.ema_decay}")
  try:
    sampling.check_latent_dist(c.latent_dist)
  except ValueError as e:
    raise ExperimentError(f"latent_dist: {e}") from None
  build_loss(c)  # unknown loss or regularizer names


# ------------------------------------------------------------------------------------------ data


def _shared_data_roots() -> list[pathlib.Path]:
  """../shared/data beside the working directory and beside the checkout."""
  roots = [pathlib.Path.cwd().parent / "shared" / "data",
           pathlib.Path(__file__).resolve().parents[3] / "shared" / "data"]
  out = []
  for r in roots:
    if r.is_dir() and r.resolve() not in [o.resolve() for o in out]:
      out.append(r)
  return out


def _expected_files(dataset: str, split: str) -> str:
  if dataset in ("mnist", "fashion_mnist"):
    try:
      images, labels = idx_file_names(split)
    except ValueError:
      images, labels = idx_file_names("train")
    return f"{images} and {labels}"
  if dataset == "cifar10":
    return "train/<class>/*.jpg in a folder or cifar10*.zip, or cifar-10-python.tar.gz"
  if dataset == "npz":
    return "an .npz file with `images` and optional `labels`"
  return "a folder or .zip of images"


def resolve_data_dir(dataset: str, data_dir: str, split: str = "train") -> str | None:
  """The data_dir to use: the config's, else $JAXGAN_DATA, else ../shared/data/<dataset>.

  Returns:
    A path, or None for TFDS datasets without a data_dir (TFDS' default folder).
  Raises:
    ExperimentError: an unknown dataset name (lists the known ones), or no data_dir given and no default found
      (names the expected files).
  """
  try:
    check_dataset_name(dataset)
  except ValueError as e:
    raise ExperimentError(str(e)) from None
  if data_dir:
    return os.path.expanduser(data_dir)
  if dataset.startswith("tfds:"):
    return None
  env = os.environ.get("JAXGAN_DATA")
  if env:
    return env
  for root in _shared_data_roots():
    if (root / dataset).exists():
      return str(root / dataset)
    if dataset == "cifar10" and any(root.glob("cifar10*.zip")):
      return str(root)
  raise ExperimentError(
      f"dataset {dataset!r}: no data found; set the config field `data_dir` (--data_dir=PATH) to the "
      f"folder holding {_expected_files(dataset, split)}, or set $JAXGAN_DATA")


def load_data(c: ml_collections.ConfigDict) -> ImageDataset:
  """Loads the configured dataset into host memory; errors name the fields to change."""
  try:
    return get_dataset(c.dataset, data_dir=c.data_dir or None, split=c.split,
                       resolution=c.resolution or None, channels=c.channels or None,
                       limit=c.limit or None, subset="even")
  except FileNotFoundError as e:
    raise FileNotFoundError(f"{e} (now data_dir={c.data_dir!r})") from None
  except ValueError as e:
    text = str(e)
    if "differ in size" in text:
      text += " (config field `resolution`, e.g. --resolution=32)"
    raise ExperimentError(f"dataset {c.dataset!r}: {text}") from None


def check_labels(c: ml_collections.ConfigDict, data: ImageDataset) -> int:
  """The number of classes of a conditional model (0 when unconditional), checked against the labels."""
  if not c.conditional:
    return 0
  check(data.labels is not None,
        f"conditional=True but dataset {c.dataset!r} ({data.source}) has no labels; use a labelled "
        "dataset or set --conditional=false")
  lo, hi = int(data.labels.min()), int(data.labels.max())
  check(lo >= 0, f"dataset {c.dataset!r} has negative labels (min {lo})")
  found = data.num_classes or hi + 1
  if c.num_classes == 0:
    return found
  check(hi < c.num_classes,
        f"num_classes={c.num_classes} but dataset {c.dataset!r} has labels up to {hi} ({found} "
        f"classes); set --num_classes={found} (or 0 to take it from the data)")
  check(data.class_names is None or len(data.class_names) == c.num_classes,
        f"num_classes={c.num_classes} but dataset {c.dataset!r} has {len(data.class_names or ())} "
        f"classes ({', '.join(data.class_names or ())}); set --num_classes={found} (or 0)")
  return c.num_classes


# -------------------------------------------------------------------------------- model, loss, tx


def build_nets(c: ml_collections.ConfigDict, resolution: int, channels: int,
               num_classes: int) -> tuple[Any, Any]:
  """G and D by name (`c.net`), sized for the data; width/norm overrides only when set."""
  common = dict(resolution=resolution, channels=channels, num_classes=num_classes)
  g_kw = dict(common, **({"width": c.g_width} if c.g_width else {}))
  d_kw = dict(common, **({"width": c.d_width} if c.d_width else {}))
  if num_classes:
    d_kw["conditioning"] = c.conditioning
  if c.d_norm:
    d_kw["norm"] = c.d_norm
  if c.g_activation:
    g_kw["activation"] = c.g_activation
  try:
    return registry.get_generator(c.net, **g_kw), registry.get_discriminator(c.net, **d_kw)
  except TypeError as e:
    raise ExperimentError(f"net {c.net!r} does not take one of the options {sorted(set(g_kw) | set(d_kw))} "
                          f"(g_activation, d_norm, g_width, d_width, conditioning): {e}") from None
  except ValueError as e:  # a value the net refuses (e.g. classes for an unconditional net), with its reason
    raise ExperimentError(str(e)) from None


def build_loss(c: ml_collections.ConfigDict) -> losses.LossTransform:
  """`c.loss` (+ `c.regularizer`), from the fields the config has.

  Least squares reads `ls_a`, `ls_b`, `ls_c`; `top_k` < 1 turns on top-k generator updates
  with the kept fraction annealed by `top_k_decay` every `top_k_period` steps down to it.
  """
  kwargs = {}
  if losses.canonical_name(c.loss) == "least_squares":
    kwargs = {k: c[f"ls_{k}"] for k in ("a", "b", "c") if f"ls_{k}" in c}
  try:
    top_k = None
    if c.get("top_k", 1.0) != 1.0:  # annealed_fraction rejects values outside (0, 1]
      top_k = losses.annealed_fraction(c.top_k, c.get("top_k_decay", 0.99), c.get("top_k_period", 1))
    reg = {} if c.regularizer in ("", "none") else dict(regularizer=c.regularizer, weight=c.reg_weight,
                                                        interval=c.reg_every)
    return losses.build_loss(c.loss, adversarial_kwargs=kwargs, top_k_fraction=top_k, **reg)
  except ValueError as e:
    raise ExperimentError(f"loss: {e}") from None


def build_optimizers(c: ml_collections.ConfigDict) -> tuple[optax.GradientTransformation,
                                                            optax.GradientTransformation]:
  """(g_tx, d_tx); D's ends with weight clipping when `c.weight_clip > 0`.

  With `c.lr_schedule == "linear"` both learning rates fall linearly to 0 over the run: G's over `num_steps`
  updates, D's over `num_steps * d_steps` (as in Gulrajani et al. 2017's CIFAR-10 runs).
  """
  def make(lr, updates):
    if c.lr_schedule == "linear":
      lr = optax.linear_schedule(lr, 0.0, updates)
    if c.optimizer == "adam":
      return optax.adam(lr, b1=c.beta1, b2=c.beta2)
    return optax.rmsprop(lr, decay=c.rmsprop_decay)
  d_tx = make(c.d_lr, c.num_steps * c.d_steps)
  if c.weight_clip > 0:
    d_tx = optax.chain(d_tx, clip_params(c.weight_clip))
  return make(c.g_lr, c.num_steps), d_tx


# Fields that do not change any compiled function (the data's shapes are keyed separately).
_HOST_ONLY = NOT_FINGERPRINTED + ("seed", "dataset", "split", "limit", "flip", "smoke",
                                   "row", "protocol")  # classics presets: labels, not model settings


@dataclasses.dataclass(frozen=True)
class Compiled:
  """The model of a config and its jitted functions (reused by later runs of the same config).

  Attributes:
    init_fn: `(key, example) -> GANState`, `init_state` plus the DCGAN init when configured.
    step_fn: the train step, state donated, compiled by `dp` (one device, mesh or pmap).
    dp: how state and batches are placed on the devices.
    sample_fn: `(variables, z (N, Z), labels (N,) | None) -> (N, H, W, C)`, G in eval mode on the
      given variables (`sampled_variables` gives those of a run's samples and FIDs).
  """
  generator: Any
  discriminator: Any
  loss: losses.LossTransform
  g_tx: optax.GradientTransformation
  d_tx: optax.GradientTransformation
  step_cfg: StepConfig
  init_fn: Callable[[jax.Array, dict[str, jax.Array]], GANState]
  step_fn: Callable[..., Any]
  sample_fn: Callable[..., jax.Array]
  dp: parallel.DataParallel


_COMPILED: collections.OrderedDict[str, Compiled] = collections.OrderedDict()
_COMPILED_MAX = 8


def compiled(c: ml_collections.ConfigDict, resolution: int, channels: int,
             num_classes: int) -> Compiled:
  """Builds nets, loss, optimizers and jitted init/step/sample functions for `c`.

  Within a process, a second run of the same model configuration reuses the compiled
  functions (a notebook or a test suite re-running `main` compiles once).
  """
  key = json.dumps({**{k: v for k, v in c.to_dict().items() if k not in _HOST_ONLY},
                    "_shape": [resolution, channels, num_classes], "_parallel": c.parallel,
                    "_steps_per_call": c.steps_per_call,
                    "_devices": jax.device_count(),
                    # a decaying learning rate is compiled over the run's length (num_steps is host-only else)
                    "_schedule_steps": c.num_steps if c.lr_schedule != "constant" else None},
                   sort_keys=True, default=str)
  if key in _COMPILED:
    _COMPILED.move_to_end(key)
    return _COMPILED[key]
  generator, discriminator = build_nets(c, resolution, channels, num_classes)
  loss = build_loss(c)
  g_tx, d_tx = build_optimizers(c)
  step_cfg = StepConfig(latent_dim=c.latent_dim, latent_dist=c.latent_dist, d_steps=c.d_steps,
                        ema_decay=c.ema_decay if c.ema_decay > 0 else None,
                        ema_rampup=c.ema_rampup if c.ema_rampup > 0 else None,
                        g_batch_multiplier=c.g_batch_multiplier,
                        conditional=num_classes > 0,
                        compute_dtype=c.compute_dtype)
  options = UNOPTIMIZED if c.fast_compile else None
  cpu = jax.default_backend() == "cpu"

  # Init runs once: on CPU it compiles unoptimized (op-heavy random init compiles for long
  # at full optimization and runs in milliseconds either way).
  @functools.partial(jax.jit, compiler_options=UNOPTIMIZED if (cpu or c.fast_compile) else None)
  def init_fn(key, example):
    state = init_state(key, generator, discriminator, loss, g_tx, d_tx, step_cfg, example)
    if c.init == "normal":
      return normal_init_state(state, jax.random.fold_in(key, 1), c.init_std, g_tx, d_tx)
    if c.init in _REINIT:
      return reinit_state(state, jax.random.fold_in(key, 1), _REINIT[c.init], g_tx, d_tx)
    return state  # "default": the layers' own initializers

  @functools.partial(jax.jit, compiler_options=options)
  def sample_fn(variables, z, labels):
    return generator.apply(variables, z, labels, train=False)

  try:
    dp = parallel.DataParallel.create(c.parallel, d_steps=c.d_steps, steps_per_call=c.steps_per_call)
  except ValueError as e:
    raise ExperimentError(f"--parallel={c.parallel}: {e}") from None
  check(c.batch_size % dp.num_devices == 0, f"batch_size={c.batch_size} is not divisible by the {dp.num_devices} "
                                            f"devices of --parallel={dp.mode}; use a multiple of {dp.num_devices}")
  step_fn = dp.compile(generator, discriminator, loss, g_tx, d_tx, step_cfg,
                       compiler_options=options)
  out = Compiled(generator, discriminator, loss, g_tx, d_tx, step_cfg, init_fn, step_fn, sample_fn,
                 dp)
  _COMPILED[key] = out
  while len(_COMPILED) > _COMPILED_MAX:
    _COMPILED.popitem(last=False)
  return out


def init(c: ml_collections.ConfigDict, model: Compiled, example: dict[str, jax.Array]) -> GANState:
  """The initial state from `c.seed` (`init_state`, then the DCGAN N(0, init_std) init when `c.init == "normal"`,
  `orthogonal_init` / `glorot_init` when it is "orthogonal" / "glorot"); only the shapes of `example` matter."""
  small = jax.tree.map(lambda x: x[:2], example)  # init needs a couple of examples' shapes
  return model.init_fn(jax.random.PRNGKey(c.seed), small)


# -------------------------------------------------------------------------------------------- run


STANDING_KEY = 0x57D  # folded into the seed's key for the latents of standing statistics


def standing_inputs(c: ml_collections.ConfigDict, num_classes: int,
                    batches: int | None = None) -> tuple[jax.Array, jax.Array | None]:
  """The latents `(B, batch_size, latent_dim)` (and uniform random labels `(B, batch_size)` for a conditional G) of
  a run's standing statistics: B = `batches` or `c.standing_stats`, of the run's batch size, from the run's seed."""
  batches = c.standing_stats if batches is None else batches
  k_z, k_y = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(c.seed), STANDING_KEY))
  latents = sampling.sample_latent(k_z, (batches, c.batch_size, c.latent_dim), c.latent_dist)
  labels = jax.random.randint(k_y, (batches, c.batch_size), 0, num_classes) if num_classes else None
  return latents, labels


def _check_standing(c: ml_collections.ConfigDict, variables: dict[str, Any]) -> None:
  check(bool(variables.get("batch_stats")), f"standing_stats={c.standing_stats}: G ({c.net}) has no batch norm, "
        "so it has no statistics to replace; set standing_stats=0")


def sampled_variables(c: ml_collections.ConfigDict, model: Compiled, state: GANState,
                      num_classes: int) -> dict[str, Any]:
  """G's variables that a run's sample grids and FIDs use: its weight average when `c.ema_decay` > 0 (else G's
  weights), with G's running batch-norm statistics, or with standing statistics over `c.standing_stats` batches
  (`jaxgan.sampling.standing_stats`) when that is > 0.

  Raises:
    ExperimentError: `c.standing_stats` > 0 and G has no batch norm.
  """
  variables = model.dp.host_state(state).g_variables(ema=c.ema_decay > 0)
  if c.standing_stats <= 0:
    return variables
  _check_standing(c, variables)
  return sampling.standing_stats(model.generator, variables, *standing_inputs(c, num_classes))


def has_checkpoint(workdir: str) -> bool:
  """The workdir holds a checkpoint (a run that `run` resumes, or evaluates when it is finished)."""
  path = os.path.join(workdir, "checkpoints")
  return os.path.isdir(path) and any(n.isdigit() for n in os.listdir(path))


def check_resumable(workdir: str, fingerprinted: dict[str, Any]) -> None:
  """Refuses, before any compute, to resume a workdir whose run had another configuration.

  Compares the fingerprinted fields with the workdir's config.json when it has a checkpoint
  (the checkpoint itself is checked again, array by array, when it is restored).

  Raises:
    CheckpointMismatchError: naming every field that differs.
  """
  path = os.path.join(workdir, "config.json")
  if not (has_checkpoint(workdir) and os.path.exists(path)):
    return
  with open(path) as f:
    old = json.load(f)
  diff = [f"{k}={old.get(k)!r} there, {v!r} now" for k, v in sorted(fingerprinted.items())
          if k in old and old[k] != v]
  if diff:
    hint = (" (num_steps sets the length of the decaying learning rate: to train part of a run, give the full "
            "run's num_steps with --stop_at or --train_seconds)" if "num_steps" in fingerprinted
            and old.get("num_steps", fingerprinted["num_steps"]) != fingerprinted["num_steps"] else "")
    raise CheckpointMismatchError(
        f"cannot resume {workdir}: its checkpoints were written with another configuration "
        f"({'; '.join(diff)}){hint}; resume with the same values, use another --workdir, or start "
        "over with --no-resume (the old run is moved to superseded/)")


def _fid_sampler(generator, variables, latent_dim: int, latent_dist: str, num_classes: int,
                 key: jax.Array, n: int) -> jax.Array:
  k_z, k_y = jax.random.split(key)
  z = sampling.sample_latent(k_z, (n, latent_dim), latent_dist)
  labels = jax.random.randint(k_y, (n,), 0, num_classes) if num_classes else None
  return generator.apply(variables, z, labels, train=False)


def _final_metrics(record: dict[str, Any] | None) -> dict[str, Any]:
  if not record:
    return {}
  keep = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")
  return {k: v for k, v in record.items()
          if k in keep or k.startswith("d/") or k.startswith("g/")}


def _steady_rate(records: Sequence[dict[str, Any]], key: str) -> float | None:
  """`key` (a rate: steps or images per second) over the log windows after the first (which holds the compilation)
  when there are more: their total count over their total time, each window's time its steps over its
  `steps_per_sec`. A plain mean of the windows' rates would weigh a fast window as much as a slow one and overstate
  a rate that varies (e.g. while other processes share the device)."""
  windows = [(r["step"], r["steps_per_sec"], r[key]) for r in records if key in r]
  if not windows:
    return None
  if len(windows) == 1:
    return float(windows[0][2])
  total_seconds = count = 0.0
  for (prev, _, _), (step, steps_rate, rate) in zip(windows, windows[1:]):
    if not (np.isfinite(steps_rate) and steps_rate > 0 and np.isfinite(rate)):
      continue  # a window too short for the clock carries no time
    seconds = (step - prev) / steps_rate
    total_seconds += seconds
    count += seconds * rate
  return count / total_seconds if total_seconds > 0 else None


def _prepare(config: ml_collections.ConfigDict) -> tuple[ml_collections.ConfigDict, ImageDataset, int]:
  """(checked config with smoke applied and data_dir resolved, the loaded data, number of classes); every check of
  the config and the data that can refuse before any compute."""
  c = apply_smoke(config) if config.smoke else ml_collections.ConfigDict(config.to_dict())
  check_config(c)
  c.data_dir = resolve_data_dir(c.dataset, c.data_dir, c.split) or ""
  if c.resolution:  # a size the nets cannot take is refused before the images are decoded
    _check_net_size(c, c.resolution, c.channels or 3)
  data = load_data(c)
  num_classes = check_labels(c, data)
  h, w = data.resolution
  check(h == w, f"dataset {c.dataset!r} has {h}x{w} images; the nets need square ones: set "
                "--resolution=<side>")
  per_step = c.d_steps * c.batch_size
  check(per_step <= len(data),
        f"a step reads d_steps * batch_size = {per_step} images but dataset {c.dataset!r} has "
        f"{len(data)} (limit={c.limit}); lower batch_size or raise limit")
  return c, data, num_classes


def plain_config(c: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as JSON-able plain values (what config.json holds)."""
  return json.loads(json.dumps(c.to_dict(), default=str))


def _fingerprinted(config_dict: dict[str, Any]) -> dict[str, Any]:
  """The fields a checkpoint must agree on to be resumed (see NOT_FINGERPRINTED). `num_steps` counts when a
  learning-rate schedule decays over it: resumed under another length, the rate would jump mid-run."""
  out = {k: v for k, v in config_dict.items() if k not in NOT_FINGERPRINTED}
  if config_dict.get("lr_schedule", "constant") != "constant":
    out["num_steps"] = config_dict.get("num_steps")
  return out


def _example(c: ml_collections.ConfigDict, data: ImageDataset, num_classes: int) -> dict[str, jax.Array]:
  """A zero batch of one step's shape (d_steps * batch_size images, labels when conditional)."""
  h, w = data.resolution
  per_step = c.d_steps * c.batch_size
  example = {"image": jnp.zeros((per_step, h, w, data.channels), jnp.float32)}
  if num_classes:
    example["label"] = jnp.zeros((per_step,), jnp.int32)
  return example


def _build_error(c: ml_collections.ConfigDict, data: ImageDataset, e: ValueError) -> ExperimentError:
  h, w = data.resolution
  return _size_error(c, f"{h}x{w}x{data.channels}", e)


def _size_error(c: ml_collections.ConfigDict, size: str, e: ValueError) -> ExperimentError:
  return ExperimentError(f"cannot build net {c.net!r} for {size} images: {e}; "
                         "set --resolution (and --channels) to a size the net supports")


def _check_net_size(c: ml_collections.ConfigDict, resolution: int, channels: int) -> None:
  """Builds G and D for `resolution` abstractly (shapes only, nothing compiled or computed)."""
  generator, discriminator = build_nets(c, resolution, channels, 0)
  z = jnp.zeros((2, c.latent_dim), jnp.float32)
  x = jnp.zeros((2, resolution, resolution, channels), jnp.float32)
  key = jax.random.PRNGKey(0)
  try:
    jax.eval_shape(lambda: generator.init(key, z, None, train=False))
    jax.eval_shape(lambda: discriminator.init(key, x, None, train=False))
  except ValueError as e:
    raise _size_error(c, f"{resolution}x{resolution}x{channels}", e) from None


def run(config: ml_collections.ConfigDict, workdir: str | None, resume: bool = True, *,
        name: str = "experiment", paper: dict[str, Any] | None = None,
        extra_hooks: Sequence[hooks_lib.Hook] = ()) -> tuple[GANState, dict[str, Any]]:
  """Trains the configured GAN; returns (final state, summary). See the module docstring.

  Args:
    config: a `base_config()`-shaped ConfigDict (with `smoke` applied here when set).
    workdir: where everything is written; None writes nothing (no checkpoints, no resume).
    resume: continue from the workdir's latest checkpoint when there is one; False starts
      over and moves the previous run's files to workdir/superseded/.
    name: the experiment's name, for the summary.
    paper: the paper's settings or numbers, copied into the summary.
    extra_hooks: more host-loop hooks.
  Raises:
    ExperimentError, FileNotFoundError: bad config or input, before any training compute.
    CheckpointMismatchError: the workdir's checkpoint was written by another configuration.
    NonFiniteError: a loss became NaN/inf (the message names the step and the loss).
  """
  c, data, num_classes = _prepare(config)
  check(c.train_seconds == 0 or jax.process_count() == 1,
        f"train_seconds={c.train_seconds} needs a single process (each would stop at its own step); give a "
        "multi-host run stop_at or num_steps instead")
  h, _ = data.resolution
  per_step = c.d_steps * c.batch_size
  config_dict = plain_config(c)
  fingerprinted = _fingerprinted(config_dict)
  if workdir:
    if resume:
      check_resumable(workdir, fingerprinted)
    elif jax.process_index() == 0:
      moved = move_aside(workdir, RUN_ARTEFACTS + ("config.json",))
      if moved:
        print(f"starting over (--no-resume): the previous run's files are now in {moved}")
    config_dict = config_lib.save_config(c, workdir)
  if jax.process_index() == 0:
    print("config:", json.dumps(config_dict, sort_keys=True, default=str), flush=True)

  # Hooks that can refuse (TensorBoard missing, FID statistics missing) come before any compute.
  hooks: list[hooks_lib.Hook] = []
  tb = fid_hook = sample_grid = None
  if workdir and c.tensorboard:
    tb = hooks_lib.TensorBoard(os.path.join(workdir, "tensorboard"))
    hooks.append(tb)
  model: Compiled | None = None
  if workdir and c.fid_every > 0:
    def fid_sample(variables, key, n):  # one function object: every evaluation reuses one compilation
      return _fid_sampler(model.generator, variables, c.latent_dim, c.latent_dist, num_classes, key, n)
    fid_hook = hooks_lib.PeriodicFID(
        fid_sample, lambda state: run_variables(state),
        stats=c.fid_stats, num=c.fid_num, every=c.fid_every,
        path=os.path.join(workdir, "fid.jsonl"), batch_size=c.fid_batch,
        weights=c.fid_weights or None, writers=[tb] if tb else [], seed=c.seed)

  model = compiled(c, h, data.channels, num_classes)
  try:
    state = model.dp.put_state(init(c, model, _example(c, data, num_classes)))
  except ValueError as e:
    raise _build_error(c, data, e) from None
  dp = model.dp
  if c.standing_stats > 0:  # refuses a G without batch norm before any training
    _check_standing(c, dp.host_state(state).g_variables())

  memo: dict[str, Any] = {}

  def run_variables(state):  # once per step: a sample grid and the FID hook at one step share standing statistics
    step = int(jax.device_get(state.step).reshape(-1)[0])
    if memo.get("step") != step:
      memo.update(step=step, variables=sampled_variables(c, model, state, num_classes))
    return memo["variables"]

  def sample_on_host(state, z, labels):
    return model.sample_fn(run_variables(state), z, labels)

  if workdir:
    k_fixed = jax.random.fold_in(jax.random.PRNGKey(c.seed), 0x5EED)
    latents = sampling.sample_latent(k_fixed, (c.num_samples, c.latent_dim), c.latent_dist)
    labels = jnp.arange(c.num_samples, dtype=jnp.int32) % num_classes if num_classes else None
    ncols = num_classes if 0 < num_classes <= c.num_samples else None
    sample_grid = hooks_lib.SampleGrid(
        sample_on_host, latents, labels=labels, every=c.sample_every,
        directory=os.path.join(workdir, "samples"), ncols=ncols, image_writers=[tb] if tb else [])
    hooks.append(sample_grid)
    hooks.append(hooks_lib.LossCurves(
        os.path.join(workdir, "metrics.jsonl"), os.path.join(workdir, "losses.png"),
        every=c.sample_every, title=f"{name}: {c.net} on {c.dataset}"))
  if fid_hook is not None:
    hooks.append(fid_hook)
  hooks += list(extra_hooks)

  labels_in = data.labels if num_classes else None
  # Batches leave the host as uint8 and go straight to the devices that use them (float conversion there).
  pipeline = Pipeline(data.images, labels_in, per_step, seed=c.seed, shuffle=True, flip=c.flip,
                      place=dp.put_batch if c.steps_per_call == 1 else (lambda host: host))
  if c.steps_per_call > 1:  # n host batches stacked, then placed: (n, d_steps * B, ...) per call
    pipeline = StackedBatches(pipeline, c.steps_per_call, place=dp.put_batch)
  loop_cfg = _loop_config(c, per_step, checkpoint_every=c.checkpoint_every, keep=c.keep, resume=resume)
  start = time.perf_counter()
  try:
    state, records = train(model.step_fn, state, pipeline, loop_cfg, workdir=workdir,
                           config=fingerprinted, data=pipeline, hooks=hooks, placement=dp)
  finally:
    pipeline.close()
  wall = time.perf_counter() - start

  history = (hooks_lib.read_records(os.path.join(workdir, "metrics.jsonl")) if workdir
             else records)
  state = dp.host_state(state)
  summary = _summary(name, c, data, int(jax.device_get(state.step)), history, records, wall,
                     num_devices=dp.num_devices, parallel=dp.mode, paper=paper,
                     fid=fid_hook.history[-1]["fid"] if fid_hook and fid_hook.history else None,
                     fid_history=fid_hook.history if fid_hook else [],
                     last_samples=sample_grid.written[-1] if sample_grid and sample_grid.written else None)
  if workdir and jax.process_index() == 0:
    _write_json(os.path.join(workdir, "summary.json"), summary)
  return state, summary


def _loop_config(c: ml_collections.ConfigDict, images_per_step: int, **kwargs: Any) -> LoopConfig:
  """The host loop's settings of `c`: its last step (`stop_at`, else `num_steps`), its deadline (`train_seconds`
  from now, or none), logging, progress and steps per call; `kwargs` add the checkpoint and resume settings."""
  deadline = time.time() + c.train_seconds if c.train_seconds > 0 else None
  return LoopConfig(num_steps=c.stop_at or c.num_steps, log_every=c.log_every, progress=c.progress,
                    images_per_step=images_per_step, deadline=deadline, steps_per_call=c.steps_per_call,
                    **kwargs)


def _summary(name: str, c: ml_collections.ConfigDict, data: ImageDataset, final_step: int,
             history: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]], wall: float, *,
             num_devices: int, parallel: str, paper: dict[str, Any] | None, fid: float | None = None,
             fid_history: Sequence[dict[str, Any]] = (), last_samples: str | None = None,
             **extra: Any) -> dict[str, Any]:
  """summary.json of a run: what ran, how far, its last losses, how fast."""
  summary = {
      "experiment": name,
      "net": c.net,
      "dataset": c.dataset,
      "num_examples": len(data),
      "steps": final_step,
      "num_steps": c.num_steps,
      "final": _final_metrics(history[-1] if history else None),
      "wall_seconds": wall,
      "steps_per_sec": _steady_rate(records, "steps_per_sec"),
      "images_per_sec": _steady_rate(records, "images_per_sec"),
      "fid": fid,
      "fid_history": list(fid_history),
      "last_samples": last_samples,
      "device": jax.devices()[0].device_kind,
      "num_devices": num_devices,
      "parallel": parallel,
      **extra,
  }
  if paper:
    summary["paper"] = paper
  return summary


def _write_json(path: str, value: Any) -> None:
  with open(path, "w") as f:
    json.dump(value, f, indent=2, default=str)


def _seed_record(record: dict[str, Any], i: int, n: int) -> dict[str, Any]:
  """Seed i's part of a log record of n seeds trained together (per-seed metrics are lists of n)."""
  return {k: v[i] if isinstance(v, list) and len(v) == n else v for k, v in record.items()}


def init_together(model: Compiled, seeds: Sequence[int], example: dict[str, jax.Array]) -> GANState:
  """The initial states of `seeds` stacked on a leading axis (seed i's is the one `init` gives `seed=seeds[i]`);
  only the shapes of `example` (one step's batch) matter."""
  small = jax.tree.map(lambda x: x[:2], example)  # init needs a couple of examples' shapes
  # One seed at a time with `run`'s compiled init, then stacked: a vmapped init would batch the QR decompositions
  # of init="orthogonal", and batched LAPACK calls hang XLA's CPU runtime (jax 0.10; seen 3 times in 3 runs
  # here on 2 cores), besides compiling a second init.
  states = [model.init_fn(jax.random.PRNGKey(seed), small) for seed in seeds]
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def together_step(model: Compiled, *, fast_compile: bool = False, steps_per_call: int = 1) -> Callable[..., Any]:
  """The train step of `model` over seeds side by side: `jax.vmap` over the state and the batch (one batch per
  seed on a leading axis), compiled on one device, state donated. With `steps_per_call` n > 1, n such steps per
  call (`multi_step`): batches (n, seeds, ...), metrics (n, seeds)."""
  step = jax.vmap(make_train_step(model.generator, model.discriminator, model.loss, model.g_tx, model.d_tx,
                                  model.step_cfg))
  return jax.jit(multi_step(step) if steps_per_call > 1 else step, donate_argnums=0,
                 compiler_options=UNOPTIMIZED if fast_compile else None)


def run_together(configs: Sequence[ml_collections.ConfigDict], workdirs: Sequence[str | None], *,
                 name: str = "experiment",
                 paper: dict[str, Any] | None = None) -> tuple[list[GANState], list[dict[str, Any]]]:
  """Trains several seeds of one configuration side by side in one compiled step on one device.

  The step is `jax.vmap` of the one `run` compiles, over the whole state (params, optimizer and loss states, batch
  statistics, EMA) and over one batch per seed, each from the seed's own `Pipeline` (the order and flips `run`
  would give it); each seed starts from `PRNGKey(seed)` as in `run`. A small net leaves most of a GPU idle, one
  seed at a time, so n seeds cost much less than n runs. At the end each workdir holds what `run` leaves there:
  config.json, the final checkpoint (with the seed's data position), the seed's metrics.jsonl and summary.json
  (`wall_seconds` and `steps_per_sec` are the group's, with `seeds_together`), so `run(config, workdir)` resumes
  it as a finished run (no step) and whatever comes next (evaluation) is the same for both ways of training.
  Nothing is written before the last step: a group stopped early leaves no partial run behind.

  Args:
    configs: the seeds' configs, equal except for `seed` (distinct).
    workdirs: one per config (None writes nothing for that seed); a workdir with a checkpoint is refused
      (`run` resumes it), leftover files of an unfinished run are moved to its superseded/ first.
    name, paper: as for `run`.
  Returns:
    (the final state of each seed, each seed's summary).
  Raises:
    ExperimentError, FileNotFoundError: bad configs or input, before any compute.
    NonFiniteError: a loss of some seed became NaN/inf; nothing is written (train the seeds one by one with `run`
      to learn which).
  """
  check(len(configs) > 0 and len(configs) == len(workdirs),
        f"run_together needs one workdir per config, got {len(configs)} configs and {len(workdirs)} workdirs")
  check(jax.process_count() == 1, "run_together trains on one device of one process; use run() per seed on "
                                  "several hosts")
  seeds = [int(cfg.seed) for cfg in configs]
  check(len(set(seeds)) == len(seeds), f"run_together needs distinct seeds, got {seeds}")
  first = {k: v for k, v in configs[0].to_dict().items() if k != "seed"}
  for cfg in configs[1:]:
    other = {k: v for k, v in cfg.to_dict().items() if k != "seed"}
    diff = sorted(k for k in first.keys() | other.keys() if first.get(k) != other.get(k))
    check(not diff, f"run_together trains seeds of one configuration; seed {cfg.seed} also differs in "
                    f"{', '.join(diff)}")
  c, data, num_classes = _prepare(configs[0])
  cs = []
  for seed in seeds:
    ci = ml_collections.ConfigDict(c.to_dict())
    ci.seed = seed
    cs.append(ci)
  for workdir in workdirs:
    if workdir:
      check(not has_checkpoint(workdir), f"{workdir} already holds a run's checkpoint; run() resumes it (or "
                                          "start over with --no-resume)")
  for workdir in workdirs:  # only once every workdir is accepted
    if workdir:
      moved = move_aside(workdir, RUN_ARTEFACTS + ("config.json",))
      if moved:
        print(f"{workdir}: the files of an unfinished run are now in {moved}")

  n, per_step = len(cs), c.d_steps * c.batch_size
  model = compiled(c, data.resolution[0], data.channels, num_classes)
  device = jax.local_devices()[0]
  try:
    state = jax.device_put(init_together(model, seeds, _example(c, data, num_classes)), device)
  except ValueError as e:
    raise _build_error(c, data, e) from None
  step_fn = together_step(model, fast_compile=c.fast_compile, steps_per_call=c.steps_per_call)
  labels_in = data.labels if num_classes else None
  pipelines = [Pipeline(data.images, labels_in, per_step, seed=seed, shuffle=True, flip=c.flip,
                        place=lambda host: host) for seed in seeds]

  def host_batches():  # the seeds' host batches stacked: (seeds, per_step, ...) uint8
    while True:
      parts = [next(p) for p in pipelines]
      yield {k: np.stack([b[k] for b in parts]) for k in parts[0]}

  def place(batch):  # sent as uint8, converted on the device
    batch = jax.device_put(batch, device)
    batch["image"] = uint8_to_float(batch["image"])
    return batch

  # With steps_per_call n > 1: n steps' seed batches stacked, (n, seeds, per_step, ...) per call.
  batches = (map(place, host_batches()) if c.steps_per_call == 1
             else StackedBatches(host_batches(), c.steps_per_call, place=place))
  loop_cfg = _loop_config(c, per_step, checkpoint_every=0, resume=False)
  start = time.perf_counter()
  try:
    state, records = train(step_fn, state, batches, loop_cfg)
  except NonFiniteError as e:
    raise NonFiniteError(f"seeds {seeds} trained together: {e}") from None
  finally:
    for p in pipelines:
      p.close()
  wall = time.perf_counter() - start

  state = jax.device_get(state)
  states, summaries = [], []
  for i, (ci, workdir) in enumerate(zip(cs, workdirs)):
    state_i = jax.tree.map(lambda x, i=i: x[i], state)
    history = [_seed_record(r, i, n) for r in records]
    summary = _summary(name, ci, data, int(state_i.step), history, records, wall, num_devices=1,
                       parallel="vmap", paper=paper, seeds_together=n)
    if workdir:
      config_lib.save_config(ci, workdir)
      ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=ci.keep,
                          config=_fingerprinted(plain_config(ci)))
      ckpt.save(int(state_i.step), state_i, {"data": pipelines[i].state()})
      with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in history)
      _write_json(os.path.join(workdir, "summary.json"), summary)
    states.append(state_i)
    summaries.append(summary)
  return states, summaries


# -------------------------------------------------------------------------------------------- CLI

# Errors a user can fix; `cli` prints them as one line instead of a traceback.
USER_ERRORS = (config_lib.ConfigError, ExperimentError, FileNotFoundError, NonFiniteError,
               CheckpointMismatchError, CheckpointReadError, hooks_lib.TensorBoardUnavailableError, ImportError)


def cli(get_config: Callable[[], ml_collections.ConfigDict],
        main: Callable[[ml_collections.ConfigDict, str, bool], tuple[Any, dict[str, Any]]],
        argv: Sequence[str], *, default_workdir: str) -> dict[str, Any]:
  """`python -m experiments.NAME --workdir DIR [--no-resume] [--field=value ...]`.

  Exits with `error: <message>` (status 1) on a bad config, missing data, a refused resume
  or a NaN stop.
  """
  try:
    defaults = get_config()
    config, workdir, resume = config_lib.parse_args(defaults, argv)
    check_overrides(config, defaults)
    workdir = workdir or default_workdir
    try:
      distributed.initialize(config.coordinator or None, config.num_processes or None,
                             config.process_id if config.process_id >= 0 else None)
    except ValueError as e:
      raise ExperimentError(f"multi-host launch: {e}") from None
    _, summary = main(config, workdir, resume)
  except USER_ERRORS as e:
    sys.exit(f"error: {e}")
  except KeyboardInterrupt:
    sys.exit("interrupted; run the same command again to resume from the last checkpoint")
  final = summary.get("final", {})
  losses_text = ", ".join(f"{k} {np.mean(final[k]):.4f}" for k in ("d_loss", "g_loss") if k in final)
  written = (f"wrote {workdir}/summary.json, {workdir}/samples/, {workdir}/losses.png" if distributed.is_main_process()
             else "process 0 wrote the logs and samples; this process took part in the checkpoints")
  early = (f" of {summary['num_steps']} (stopped by stop_at or train_seconds; the same command without them "
           "resumes the run)" if summary["steps"] < summary["num_steps"] else "")
  print(f"done: step {summary['steps']}{early}, {losses_text}; {written}")
  return summary
