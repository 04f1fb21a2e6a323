"""The two-player train step as it was before the general step (issue 27), kept verbatim as the reference.

`tests/test_general_step.py` checks that `jaxgan.train.step.make_train_step` / `init_state`, now the two-player case
of `jaxgan.train.general`, give these functions' states and metrics bit for bit. Copied from jaxgan/train/step.py at
commit 917ef42 (the step, its helpers and the init); only this docstring and the imports are new. Do not edit the
numerics: the point of this file is that it does not change.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxgan.losses.base import LossContext, LossTransform, per_example_from_key
from jaxgan.sampling import sample_latent
from jaxgan.train.state import GANState
from jaxgan.train.step import StepConfig

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


def ema_decay_at(step: jax.Array, decay: float, rampup: float | None) -> jax.Array | float:
  """The EMA decay of G's update number `step` + 1 (`step` updates done before it).

  Without ramp-up it is `decay` itself, the Python float (the update's arithmetic is then what it was before ramp-up
  existed, to the bit). With ramp-up r the half-life is min(h, r * step) updates, h = log(0.5) / log(decay)
  the half-life of `decay`, and the decay 0.5 ** (1 / that): 0 at the first update (the average starts as G), `decay`
  from step h / r on. In StyleGAN2-ADA's images (its training_loop.py) this is min(ema_nimg, cur_nimg * ema_rampup)
  with cur_nimg the images seen before the update; in updates the batch size cancels.
  """
  if rampup is None:
    return decay
  half_life = math.log(0.5) / math.log(decay)
  ramped = jnp.minimum(half_life, rampup * jnp.asarray(step, jnp.float32))
  return jnp.where(ramped < half_life, 0.5 ** (1.0 / jnp.maximum(ramped, 1e-8)), decay)


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


def _cast_floats(tree: Any, dtype: Any) -> Any:
  return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x,
                      tree)


def apply_model(model: nn.Module, params: Any, collections: dict[str, Any], *args: Any,
                train: bool, compute_dtype: str | None = None) -> tuple[jax.Array, dict[str, Any]]:
  """Runs `model.apply` and returns (output, updated non-param collections).

  In train mode every collection present is mutable (batch norm statistics, spectral
  norm vectors); in eval mode none is, and `collections` is returned unchanged.
  With `compute_dtype` (e.g. "bfloat16") the floating parameters and arguments are cast to it
  on entry, floating outputs are cast to float32 and updated collections to their own dtypes.
  """
  cast = compute_dtype not in (None, "float32")
  if cast:
    params, args = _cast_floats(params, compute_dtype), _cast_floats(args, compute_dtype)
  variables = {"params": params, **collections}
  if train and collections:
    out, new = model.apply(variables, *args, train=True, mutable=list(collections))
    new = jax.tree.map(lambda n, old: n.astype(old.dtype), new, {k: collections[k] for k in new})
    out_cols = {**collections, **new}
  else:
    out, out_cols = model.apply(variables, *args, train=train), collections
  if cast:
    out = _cast_floats(out, jnp.float32)
  return out, out_cols


def _global_norm(tree: Any) -> jax.Array:
  norm = optax.tree.norm if hasattr(optax, "tree") and hasattr(optax.tree, "norm") else (
      optax.global_norm)
  return norm(tree).astype(jnp.float32)


def _prefixed(prefix: str, aux: dict[str, jax.Array]) -> Metrics:
  return {f"{prefix}/{k}": jnp.asarray(v, jnp.float32) for k, v in aux.items()}


def _all_finite(tree: Any) -> jax.Array:
  leaves = jax.tree.leaves(tree)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])).astype(jnp.float32)


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
  """Builds the pure train step.

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
  """
  if not isinstance(loss, LossTransform):
    raise TypeError(f"loss must be a LossTransform, got {type(loss).__name__}")
  m = cfg.packing

  def labels_of(b):
    return b["label"] if cfg.conditional else None

  def pmean(tree):
    return tree if cfg.axis_name is None else jax.lax.pmean(tree, cfg.axis_name)

  def generate(params, collections, key, n, labels):
    z = per_example_from_key(key, lambda k, s: sample_latent(k, s, cfg.latent_dist),
                             (n, cfg.latent_dim), cfg.axis_name)
    return apply_model(generator, params, collections, z, labels, train=True,
                       compute_dtype=cfg.compute_dtype)

  def d_call(params, collections, x, labels):
    return apply_model(discriminator, params, collections, x, labels, train=True,
                       compute_dtype=cfg.compute_dtype)

  def d_fn_of(params, collections, labels):
    return lambda x: d_call(params, collections, x, labels)[0]

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
    key = jax.random.fold_in(state.key, state.step)
    d_key, g_key = jax.random.split(key)

    # ---- Discriminator: d_steps updates, each on fresh latents and its own real slice.
    def d_update(carry, xs):
      d_params, d_cols, d_opt, loss_state = carry
      sub, i = xs
      k_gen, k_loss = jax.random.split(jax.random.fold_in(d_key, i))
      real = sub["image"]
      labels = labels_of(sub)
      fake, _ = generate(state.g_params, state.g_collections, k_gen, real.shape[0], labels)
      if fake.shape[1:] != real.shape[1:]:
        raise ValueError(f"generator output {fake.shape[1:]} does not match the real "
                         f"batch {real.shape[1:]} (per example)")
      fake = jax.lax.stop_gradient(fake)
      real_p, fake_p = pack(real, m), pack(fake, m)

      def d_loss_fn(params):
        d_real, cols = d_call(params, d_cols, real_p, labels)
        d_fake, cols = d_call(params, cols, fake_p, labels)
        ctx = LossContext(d_real=d_real, d_fake=d_fake, real=real_p, fake=fake_p,
                          labels=labels, d_fn=d_fn_of(params, cols, labels), step=state.step,
                          key=k_loss, player="d", axis_name=cfg.axis_name)
        value, aux, new_loss_state = loss.apply(ctx, loss_state)
        return value, (aux, new_loss_state, cols, d_real, d_fake)

      (value, (aux, loss_state, d_cols, d_real, d_fake)), grads = jax.value_and_grad(
          d_loss_fn, has_aux=True)(d_params)
      grads = pmean(grads)
      updates, d_opt = d_tx.update(grads, d_opt, d_params)
      d_params = optax.apply_updates(d_params, updates)
      metrics = {"d_loss": value, "d_grad_norm": _global_norm(grads),
                 "d_real": jnp.mean(d_real), "d_fake": jnp.mean(d_fake),
                 "d_finite": jnp.isfinite(value).astype(jnp.float32) * _all_finite(grads),
                 **_prefixed("d", aux)}
      return (d_params, d_cols, d_opt, loss_state), metrics

    carry = (state.d_params, state.d_collections, state.d_opt_state, state.loss_state)
    (d_params, d_cols, d_opt, loss_state), d_hist = jax.lax.scan(
        d_update, carry, (slices, jnp.arange(cfg.d_steps)))
    d_metrics = jax.tree.map(jnp.mean, d_hist)
    d_metrics["d_real"] = d_hist["d_real"][-1]
    d_metrics["d_fake"] = d_hist["d_fake"][-1]
    d_metrics["d_finite"] = jnp.min(d_hist["d_finite"])

    # ---- Generator: one update on fresh latents, D's updated parameters. With
    # g_batch_multiplier r it draws r * B latents and repeats each (packed) real example of
    # the last slice r times: a local operation, so jit, mesh and pmap see the same pairs.
    r = cfg.g_batch_multiplier
    last = jax.tree.map(lambda x: x[-1], slices)
    labels = labels_of(last)
    labels = None if labels is None else jnp.repeat(labels, r, axis=0)
    real_p = jnp.repeat(pack(last["image"], m), r, axis=0)
    k_gen, k_loss = jax.random.split(g_key)

    def g_loss_fn(params):
      fake, g_cols = generate(params, state.g_collections, k_gen, r * last["image"].shape[0], labels)
      fake_p = pack(fake, m)
      d_fake, _ = d_call(d_params, d_cols, fake_p, labels)
      d_real, _ = d_call(d_params, d_cols, real_p, labels)
      ctx = LossContext(d_real=d_real, d_fake=d_fake, real=real_p, fake=fake_p, labels=labels,
                        d_fn=d_fn_of(d_params, d_cols, labels), step=state.step, key=k_loss,
                        player="g", axis_name=cfg.axis_name)
      value, aux, new_loss_state = loss.apply(ctx, loss_state)
      return value, (aux, new_loss_state, g_cols)

    (g_value, (g_aux, loss_state, g_cols)), g_grads = jax.value_and_grad(
        g_loss_fn, has_aux=True)(state.g_params)
    g_grads = pmean(g_grads)
    updates, g_opt = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    g_ema = state.g_ema_params
    if cfg.ema_decay is not None:
      decay = ema_decay_at(state.step, cfg.ema_decay, cfg.ema_rampup)
      g_ema = optax.incremental_update(g_params, g_ema, step_size=1.0 - decay)

    g_finite = jnp.isfinite(g_value).astype(jnp.float32) * _all_finite(g_grads)
    metrics = {
        **{k: v for k, v in d_metrics.items() if k != "d_finite"},
        "g_loss": g_value,
        "g_grad_norm": _global_norm(g_grads),
        **_prefixed("g", g_aux),
    }
    metrics = pmean({k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()})
    # The 0/1 flags are the minimum over devices, not the mean: one device's NaN shard makes the whole batch bad.
    flags = {"loss_finite": d_metrics["d_finite"] * g_finite, "batch_finite": _all_finite(batch)}
    metrics.update(flags if cfg.axis_name is None else jax.lax.pmin(flags, cfg.axis_name))
    new_state = state.replace(
        step=state.step + 1, g_params=g_params, d_params=d_params, g_collections=pmean(g_cols),
        d_collections=pmean(d_cols), g_opt_state=g_opt, d_opt_state=d_opt,
        g_ema_params=g_ema, loss_state=loss_state)
    return new_state, metrics

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


# XLA options of a program compiled for a quick start rather than speed (LLVM's optimizations off): one-off
# programs on a CPU (an init, a test's step) and `fast_compile` runs.
UNOPTIMIZED = {"xla_backend_optimization_level": 0}
_TRACER = getattr(jax.core, "Tracer", None)


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
