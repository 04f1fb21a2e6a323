"""One pure GAN train step: `step(state, batch) -> (state, metrics)`, the two-player case of the general step.

The step does `d_steps` discriminator updates (a `lax.scan`, each with fresh latents
and its own slice of the real batch), then one generator update, then the EMA of G.
It is `jaxgan.train.general.make_general_step` on the two-player model `gan_model` (nets "G" and "D", players "d"
then "g", one loss transform shared by both), with GANState mapped to the general TrainState and back; it gives
the numbers of the step it replaced, bit for bit (tests/test_general_step.py, against tests/_reference_step.py).
It never leaves the device: no printing, no host conversion, no Python branching on
array values. The caller chooses how to compile it: `jax.jit` (see `jit_step`), `jax.jit`
over a Mesh, or `jax.pmap` with `axis_name` (see `jaxgan.train.parallel`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan._checks import is_int
from jaxgan.losses.base import LossTransform, per_example_from_key, view
from jaxgan.sampling import check_latent_dist, sample_latent
from jaxgan.train import general
from jaxgan.train.general import (COMPUTE_DTYPES, UNOPTIMIZED, _TRACER, Batch, Metrics, _all_finite,  # noqa: F401
                                  _cast_floats, _global_norm, _prefixed, apply_model, ema_decay_at)
from jaxgan.train.state import GANState


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """Static settings of the step (closed over, never traced).

  Attributes:
    latent_dim: Z, size of the latent vector.
    latent_dist: "normal" or "uniform".
    d_steps: discriminator updates per generator update (WGAN: 5).
    packing: PacGAN degree m (Lin et al. 2018, arXiv:1712.04086): D sees m samples
      concatenated along the last axis; the per-D-step batch must be divisible by m.
    ema_decay: decay of G's parameter EMA, or None for no EMA.
    ema_rampup: None, or r > 0: the EMA's half-life grows with the run, min(h, r * t) G updates at update t
      (h the half-life of `ema_decay`), as StyleGAN2-ADA's `ema_rampup` (Karras et al. 2020, arXiv:2006.06676;
      0.05 in its CIFAR-10 config), so the average does not keep G's initial weights (with a fixed decay d it
      keeps d^t of them). See `ema_decay_at`.
    g_batch_multiplier: G's update draws this many times the per-D-step batch of latents
      (the SN-GAN code of Miyato et al. 2018 draws 128 for G with D batch 64: 2). Each
      (packed) real example of the slice it is compared with is repeated as many times, so
      real and generated batches keep one size for losses that read both (the mean of
      D(x) does not change); conditional labels are repeated the same way.
    conditional: pass the batch's "label" to G and D (generated samples take the
      labels of the real batch they are compared with).
    axis_name: pmap axis name; gradients, batch statistics and metrics are averaged
      over it. None under jit (sharding takes care of it).
    compute_dtype: None or "float32", or "bfloat16": mixed precision. G and D run in bfloat16
      (floating parameters and inputs cast on entry, outputs cast back to float32), while
      parameters, gradients, optimizer states, losses and the collections (batch norm
      statistics, spectral norm vectors) stay float32.
  """

  latent_dim: int
  latent_dist: str = "normal"
  d_steps: int = 1
  packing: int = 1
  ema_decay: float | None = None
  ema_rampup: float | None = None
  g_batch_multiplier: int = 1
  conditional: bool = False
  axis_name: str | None = None
  compute_dtype: str | None = None

  def __post_init__(self):
    if self.compute_dtype is not None and self.compute_dtype not in COMPUTE_DTYPES:
      raise ValueError(f"compute_dtype must be None or one of {COMPUTE_DTYPES}, got {self.compute_dtype!r}")
    for name in ("latent_dim", "d_steps", "packing", "g_batch_multiplier"):  # numpy ints become ints
      value = getattr(self, name)
      if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
      object.__setattr__(self, name, int(value))
    if not isinstance(self.conditional, (bool, np.bool_)):  # a string such as "false" would count as True
      raise ValueError(f"conditional must be True or False, got {self.conditional!r}")
    object.__setattr__(self, "conditional", bool(self.conditional))
    check_latent_dist(self.latent_dist)
    if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
      raise ValueError(f"ema_decay must be in [0, 1) or None, got {self.ema_decay}")
    if self.ema_rampup is not None:
      if not self.ema_rampup > 0:
        raise ValueError(f"ema_rampup must be > 0 or None (no ramp-up), got {self.ema_rampup}")
      if not self.ema_decay:
        raise ValueError(f"ema_rampup={self.ema_rampup} ramps up G's EMA, which is off: set ema_decay in (0, 1)")
    if self.conditional and self.packing > 1:
      raise ValueError("packing > 1 with a conditional model is not supported: "
                       "set packing=1 or conditional=False")


def pack(x: jax.Array, m: int) -> jax.Array:
  """PacGAN packing: (N, ..., C) -> (N/m, ..., m*C), grouping consecutive examples.

  Example i of the result concatenates examples m*i ... m*i + m - 1 along the last axis.
  """
  if m == 1:
    return x
  n = x.shape[0]
  if n % m:
    raise ValueError(f"packing={m} needs a batch divisible by {m}, got {n} examples")
  x = x.reshape((n // m, m) + x.shape[1:])
  x = jnp.moveaxis(x, 1, -2)
  return x.reshape(x.shape[:-2] + (m * x.shape[-1],))


def _split_batch(batch: Batch, k: int) -> Batch:
  out = {}
  for name, x in batch.items():
    if x.shape[0] % k:
      raise ValueError(f"batch[{name!r}] has {x.shape[0]} examples, not divisible by "
                       f"d_steps={k}: the step takes d_steps slices of the batch")
    out[name] = x.reshape((k, x.shape[0] // k) + x.shape[1:])
  return out


def check_batch(batch: Batch, cfg: StepConfig) -> None:
  """Trace-time checks of the batch structure (shapes and dtypes, not values)."""
  if not isinstance(batch, dict) or "image" not in batch:
    raise ValueError("batch must be a dict with key 'image' ((N, ...) float32 in [-1, 1])"
                     f", got {type(batch).__name__} with keys "
                     f"{sorted(batch) if isinstance(batch, dict) else None}")
  image = batch["image"]
  if not jnp.issubdtype(image.dtype, jnp.floating):
    raise ValueError(f"batch['image'] must be floating point in [-1, 1], got dtype {image.dtype}; "
                     "convert uint8 images with x / 127.5 - 1")
  if cfg.conditional:
    if "label" not in batch:
      raise ValueError("conditional=True needs batch['label'] ((N,) int32 class indices)")
    label = batch["label"]
    if label.shape != image.shape[:1] or not jnp.issubdtype(label.dtype, jnp.integer):
      raise ValueError(f"batch['label'] must be ({image.shape[0]},) integers, got "
                       f"{label.shape} {label.dtype}")


GAN_NETS = ("G", "D")  # the two-player model's net names; its players are "d" then "g"
GAN_LOSS = "loss"  # the loss_name "d" and "g" share: one transform, one state (GANState.loss_state)


def gan_model(generator: nn.Module, discriminator: nn.Module, loss: LossTransform,
              g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation,
              cfg: StepConfig) -> general.Model:
  """The two-player GAN as a general-step Model: what `make_train_step` runs.

  Nets "G" and "D"; player "d" (`cfg.d_steps` updates of D, one batch slice each) then player "g" (one update of
  G on the last slice); both apply `loss` and share its state. The forward computes "d_real", "d_fake" ((M,) D
  logits), "real", "fake" (as D sees them, packed) and "labels" (conditional), which `view` feeds to `loss` as the
  context fields, with `d_fn` the net "D". Player "d" reports "d_real" and "d_fake", D's mean logits.

  Args:
    generator, discriminator, loss, g_tx, d_tx, cfg: as for `make_train_step`.
  Returns:
    A `jaxgan.train.general.Model`; its TrainState is `to_train_state(GANState)`.
  """
  if not isinstance(loss, LossTransform):
    raise TypeError(f"loss must be a LossTransform, got {type(loss).__name__}")
  m = cfg.packing

  def generate(nets, key, n, labels):
    z = per_example_from_key(key, lambda k, s: sample_latent(k, s, cfg.latent_dist),
                             (n, cfg.latent_dim), nets.axis_name)
    return nets("G", z, labels)

  def forward(nets: general.Nets, batch: Batch, key: jax.Array, player: str) -> dict[str, Any]:
    labels = batch["label"] if cfg.conditional else None
    if player == "d":  # fresh latents, this update's real slice; G's output a constant
      real = batch["image"]
      fake = generate(nets, key, real.shape[0], labels)
      if fake.shape[1:] != real.shape[1:]:
        raise ValueError(f"generator output {fake.shape[1:]} does not match the real "
                         f"batch {real.shape[1:]} (per example)")
      fake = jax.lax.stop_gradient(fake)
      real_p, fake_p = pack(real, m), pack(fake, m)
      d_real = nets("D", real_p, labels)
      d_fake = nets("D", fake_p, labels)
    else:
      # With g_batch_multiplier r, G draws r * B latents and each (packed) real example of the last slice is
      # repeated r times: a local operation, so jit, mesh and pmap see the same pairs.
      r = cfg.g_batch_multiplier
      labels = None if labels is None else jnp.repeat(labels, r, axis=0)
      real_p = jnp.repeat(pack(batch["image"], m), r, axis=0)
      fake = generate(nets, key, r * batch["image"].shape[0], labels)
      fake_p = pack(fake, m)
      d_fake = nets("D", fake_p, labels)
      d_real = nets("D", real_p, labels)
    values = {"d_real": d_real, "d_fake": d_fake, "real": real_p, "fake": fake_p}
    if labels is not None:
      values["labels"] = labels
    return values

  term = view(loss, d_real="d_real", d_fake="d_fake", real="real", fake="fake",
              labels="labels" if cfg.conditional else None, d_fn="D")
  report = lambda v: {"d_real": jnp.mean(v["d_real"]), "d_fake": jnp.mean(v["d_fake"])}
  players = (general.Player("d", ("D",), d_tx, term, steps=cfg.d_steps, per_slice=True, loss_name=GAN_LOSS,
                            report=report),
             general.Player("g", ("G",), g_tx, term, loss_name=GAN_LOSS))
  ema = cfg.ema_decay is not None
  return general.Model(nets={"G": generator, "D": discriminator}, players=players, forward=forward,
                       ema_nets=("G",) if ema else (), ema_decay=cfg.ema_decay, ema_rampup=cfg.ema_rampup,
                       compute_dtype=cfg.compute_dtype, axis_name=cfg.axis_name)


def to_train_state(state: GANState) -> general.TrainState:
  """The GANState as the general step's TrainState of `gan_model` (the same arrays, no copy)."""
  return general.TrainState(
      step=state.step,
      params={"G": state.g_params, "D": state.d_params},
      collections={"G": state.g_collections, "D": state.d_collections},
      opt_state={"d": state.d_opt_state, "g": state.g_opt_state},
      ema_params={} if state.g_ema_params is None else {"G": state.g_ema_params},
      loss_state={GAN_LOSS: state.loss_state},
      key=state.key)


def to_gan_state(state: general.TrainState) -> GANState:
  """`gan_model`'s TrainState as a GANState (the same arrays, no copy); the inverse of `to_train_state`."""
  return GANState(
      step=state.step,
      g_params=state.params["G"],
      d_params=state.params["D"],
      g_collections=state.collections["G"],
      d_collections=state.collections["D"],
      g_opt_state=state.opt_state["g"],
      d_opt_state=state.opt_state["d"],
      g_ema_params=state.ema_params.get("G"),
      loss_state=state.loss_state[GAN_LOSS],
      key=state.key)


def make_train_step(
    generator: nn.Module,
    discriminator: nn.Module,
    loss: LossTransform,
    g_tx: optax.GradientTransformation,
    d_tx: optax.GradientTransformation,
    cfg: StepConfig,
    *,
    presplit: bool = False,
) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
  """Builds the pure train step: `make_general_step(gan_model(...))` on GANState.

  Args:
    generator: flax module, `G(z, labels, *, train) -> (N, ...)` in [-1, 1].
    discriminator: flax module, `D(x, labels, *, train) -> (N,)` logits.
    loss: one LossTransform for both players (see jaxgan.losses).
    g_tx, d_tx: optax optimizers of G and D.
    cfg: static settings (StepConfig).
    presplit: the batch arrives already split into slices, (d_steps, B, ...) instead
      of (d_steps * B, ...); used by the mesh step so a sharded batch never moves.
  Returns:
    `step(state, batch) -> (state, metrics)`. batch["image"]: (d_steps * B, ...) float32
    in [-1, 1] (B per discriminator step; under pmap, per device), batch["label"]:
    (d_steps * B,) int32 when conditional. metrics: dict of () float32: "d_loss",
    "g_loss", "d/<term>", "g/<term>" (every loss term's aux), "d_real" and "d_fake"
    (mean D logits on the last D step), "d_grad_norm", "g_grad_norm", "loss_finite"
    (1.0 when both losses and all gradients are finite), "batch_finite".
  Raises:
    ValueError (at trace time): a batch that does not fit `cfg`, or a state built for another model (e.g. another
      width or latent size: its parameter shapes are not this model's).
  """
  model = gan_model(generator, discriminator, loss, g_tx, d_tx, cfg)
  general_step = general.make_general_step(model, presplit=True, check_state=False)

  def step(state: GANState, batch: Batch) -> tuple[GANState, Metrics]:
    if presplit:
      for name, x in batch.items():
        if x.ndim < 2 or x.shape[0] != cfg.d_steps:
          raise ValueError(f"presplit batch[{name!r}] must be (d_steps={cfg.d_steps}, B, ...), "
                           f"got shape {x.shape}")
      check_batch(jax.tree.map(lambda x: x[0], batch), cfg)
      slices = batch
    else:
      check_batch(batch, cfg)
      slices = _split_batch(batch, cfg.d_steps)
    general.check_state_fits({"G": state.g_params, "D": state.d_params},
                             {"G": state.g_collections, "D": state.d_collections}, model,
                             jax.tree.map(lambda x: x[0], slices), what="GANState")
    new, metrics = general_step(to_train_state(state), slices)
    return to_gan_state(new), metrics

  return step


def init_state(
    key: jax.Array,
    generator: nn.Module,
    discriminator: nn.Module,
    loss: LossTransform,
    g_tx: optax.GradientTransformation,
    d_tx: optax.GradientTransformation,
    cfg: StepConfig,
    example_batch: Batch,
) -> GANState:
  """Initializes every part of the state from one PRNG key, in one compiled program.

  Args:
    key: PRNG key; split into G init, D init, loss init and the run's base key.
    example_batch: a batch with the shapes of the real data ("image" (N, ...), and
      "label" when conditional); only shapes and dtypes are used.
  Raises:
    ValueError: a batch that does not fit `cfg`, or a generator whose output does not match the data's shape.
  """
  check_batch(example_batch, cfg)
  if cfg.conditional:
    for role, model in (("generator", generator), ("discriminator", discriminator)):
      if getattr(model, "num_classes", None) == 0:
        raise ValueError(f"conditional=True, but the {role} ({type(model).__name__}) has num_classes=0 and would "
                         "ignore the labels: build it with num_classes=K (the number of classes)")
  image = jnp.asarray(example_batch["image"])
  if image.ndim == 4 and not (_TRACER is not None and isinstance(image, _TRACER)):  # concrete (N, H, W, C) images
    low, high = float(jnp.min(image)), float(jnp.max(image))
    if low < -1.001 or high > 1.001:
      raise ValueError(f"batch['image'] values are in [{low:g}, {high:g}]; jaxgan's generators draw images in "
                       "[-1, 1]: map uint8 pixels with x / 127.5 - 1 (jaxgan.data does this on the device)")
  n = max(cfg.packing, 2) if image.shape[0] >= max(cfg.packing, 2) else image.shape[0]
  labels = jnp.asarray(example_batch["label"])[:n] if cfg.conditional else None
  build = functools.partial(_init_state, generator, discriminator, loss, g_tx, d_tx, cfg)
  args = (key, image[:n], labels)
  if _TRACER is None or any(isinstance(x, _TRACER) for x in args):
    return build(*args)  # inside the caller's jit or vmap (as before: the same numbers), part of its program
  # Run eagerly, the init would dispatch (and on a CPU compile) every small op of every layer's initializer one by
  # one: tens of seconds for a small GAN on 2 CPU cores. Jitted it is one program; on a CPU compiled unoptimized
  # (it runs once, and LLVM's optimizations of it took 10 s where the unoptimized program compiles in 2).
  return jax.jit(build, compiler_options=UNOPTIMIZED if jax.default_backend() == "cpu" else None)(*args)


def _init_state(generator: nn.Module, discriminator: nn.Module, loss: LossTransform,
                g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation, cfg: StepConfig,
                key: jax.Array, image: jax.Array, labels: jax.Array | None) -> GANState:
  """`init_state` on `n` example images (and their labels, or None)."""
  k_g, k_d, k_loss, k_run, k_z = jax.random.split(key, 5)
  z = sample_latent(k_z, (image.shape[0], cfg.latent_dim), cfg.latent_dist)
  g_vars = generator.init(k_g, z, labels, train=False)
  fake = generator.apply(g_vars, z, labels, train=False)
  if fake.shape[1:] != image.shape[1:]:
    raise ValueError(f"generator output per example {fake.shape[1:]} does not match the data "
                     f"{image.shape[1:]}: check the model's resolution/channels or the data")
  d_vars = discriminator.init(k_d, pack(image, cfg.packing), labels, train=False)
  g_params, g_cols = g_vars["params"], {k: v for k, v in g_vars.items() if k != "params"}
  d_params, d_cols = d_vars["params"], {k: v for k, v in d_vars.items() if k != "params"}
  return GANState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_params,
      d_params=d_params,
      g_collections=g_cols,
      d_collections=d_cols,
      g_opt_state=g_tx.init(g_params),
      d_opt_state=d_tx.init(d_params),
      g_ema_params=(jax.tree.map(jnp.copy, g_params) if cfg.ema_decay is not None else None),
      loss_state=loss.init(k_loss),
      key=k_run,
  )


def jit_step(step: Callable[[GANState, Batch], tuple[GANState, Metrics]]):
  """`jax.jit` on one device, the state's buffers donated (drop your old reference)."""
  return jax.jit(step, donate_argnums=0)


def _redraw(params: Any, key: jax.Array, kernel: Callable[[list[str], jax.Array, jax.Array], jax.Array],
            scale: Callable[[jax.Array, jax.Array], jax.Array]) -> Any:
  """`params` with every "kernel" `kernel(path names, key, old)`, every "bias" 0 and every normalization "scale"
  `scale(key, old)`, each leaf with a key of its own; other leaves (embeddings) unchanged."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
  keys = jax.random.split(key, len(leaves))
  out = []
  for (path, x), k in zip(leaves, keys):
    names = [str(getattr(p, "key", p)) for p in path]
    if names[-1] == "kernel":
      x = kernel(names, k, x)
    elif names[-1] == "bias":
      x = jnp.zeros_like(x)
    elif names[-1] == "scale":
      x = scale(k, x)
    out.append(x)
  return jax.tree_util.tree_unflatten(treedef, out)


def _ones(key: jax.Array, x: jax.Array) -> jax.Array:
  del key
  return jnp.ones_like(x)


def normal_init(params: Any, key: jax.Array, std: float = 0.02) -> Any:
  """DCGAN initialization (Radford et al. 2015, arXiv:1511.06434, Sec. 4): every "kernel" ~ N(0, std),
  every "bias" 0, normalization "scale" ~ N(1, std); embeddings keep their init."""
  normal = lambda k, x: std * jax.random.normal(k, x.shape, x.dtype)
  return _redraw(params, key, lambda names, k, x: normal(k, x), lambda k, x: 1.0 + normal(k, x))


def orthogonal_init(params: Any, key: jax.Array) -> Any:
  """Orthogonal initialization as PyTorch's `nn.init.orthogonal_` (gain 1) applies it to every weight (StudioGAN's
  "ortho", after Saxe et al. 2014, arXiv:1312.6120): every "kernel" a random semi-orthogonal matrix, every "bias"
  0, normalization scales 1; embeddings keep their init.

  A kernel is orthogonal as the matrix PyTorch's weight flattens to: `(in, out)` for a Dense kernel,
  `(kh*kw*in, out)` for a convolution, `(kh*kw*out, in)` for a transposed convolution (a layer whose module name
  contains "ConvTranspose"; PyTorch stores those weights `(in, out, kh, kw)`).
  """
  def kernel(names, k, x):
    transposed = any("ConvTranspose" in n for n in names[:-1])
    return jax.nn.initializers.orthogonal(column_axis=-2 if transposed else -1)(k, x.shape, x.dtype)
  return _redraw(params, key, kernel, _ones)


def glorot_init(params: Any, key: jax.Array) -> Any:
  """Glorot-uniform initialization as the ResNet GAN code of Gulrajani et al. 2017 (igul222/improved_wgan_training,
  tflib: `he_init` convs) and Miyato et al. 2018 (pfnet-research/sngan_projection, chainer) both apply it: every
  "kernel" ~ U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)) (fans include the kernel's taps), with gain sqrt(2)
  for the two 3x3 convs of a residual block (a module whose name contains "Block", its 1x1 "shortcut" excepted)
  and gain 1 elsewhere (input Dense, output conv, shortcuts, D's head; every kernel of a net without residual
  blocks); every "bias" 0, normalization scales 1; embeddings keep their init."""
  def kernel(names, k, x):
    in_block = any("Block" in n for n in names[:-1]) and "shortcut" not in names
    return jax.nn.initializers.variance_scaling(2.0 if in_block else 1.0, "fan_avg", "uniform")(k, x.shape, x.dtype)
  return _redraw(params, key, kernel, _ones)


def reinit_state(state: GANState, key: jax.Array, init: Callable[[Any, jax.Array], Any],
                 g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation) -> GANState:
  """`state` with G's and D's parameters re-drawn by `init(params, key)` (e.g. `orthogonal_init`), the optimizer
  states re-initialized for them and G's EMA (if any) set to them."""
  k_g, k_d = jax.random.split(key)
  g_params, d_params = init(state.g_params, k_g), init(state.d_params, k_d)
  return state.replace(
      g_params=g_params, d_params=d_params, g_opt_state=g_tx.init(g_params), d_opt_state=d_tx.init(d_params),
      g_ema_params=None if state.g_ema_params is None else jax.tree.map(jnp.copy, g_params))


def normal_init_state(state: GANState, key: jax.Array, std: float, g_tx: optax.GradientTransformation,
                      d_tx: optax.GradientTransformation) -> GANState:
  """`state` with G's and D's parameters re-drawn by `normal_init` (N(0, std) kernels, zero biases), the
  optimizer states re-initialized for them and G's EMA (if any) set to them."""
  return reinit_state(state, key, lambda params, k: normal_init(params, k, std), g_tx, d_tx)
