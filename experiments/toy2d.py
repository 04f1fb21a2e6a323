"""Mode collapse on 2D Gaussian mixtures: GAN vs PacGAN (Lin et al. 2018, arXiv:1712.04086).

The benchmark of VEEGAN (Srivastava et al. 2017) and PacGAN: a ring of 8 Gaussians
(radius 1, std 0.01) and a 5x5 grid of 25 Gaussians (spacing 2, std 0.05). After
training, 2,500 generated samples are scored: modes covered, % high-quality samples
(within 3 std of a mode) and the reverse KL between the generated and true mode
histograms (see `jaxgan.data.synthetic.mode_metrics`; a mode counts as covered with one
high-quality sample, as in PacGAN's released code, and `modes_strict` with a fifth of its
fair share). Seeds run side by side in one compiled step (`jax.vmap` over the whole train
state).

PacGAN's Table 1 (mean ± s.e., 10 trials): GAN 6.3/8 ring, 17.3/25 grid, reverse KL
0.45/0.70; PacGAN2 7.9/8, 23.8/25; PacGAN4 7.8/8, 24.8/25, reverse KL 0.07/0.04.

Run (the default: both mixtures, PacGAN2, 3 seeds; 354 s of CPU time, 370 s wall on 2 CPU cores shared with other
jobs, load average 4-5, 2026-12-07):

  python -m experiments.toy2d --workdir workdirs/toy2d

Expect (README, toy2d; seeds 0-2): ring 8/8 modes on every seed, 77.2 % high quality, reverse KL 0.084; grid
21.67/25 modes, 41.1 % high quality, reverse KL 0.311. The ring is covered; the grid's blur between modes is not
gone after 4,000 steps (see the README for what the short run misses).

The default is a short run: a learning rate twice the long runs' (2e-3 for G, 4e-3 for D), two D updates per G
update, an 8-d latent, a cosine decay to 10 % and an EMA of G (0.99), 4,000 steps, 250 steps per compiled call
(`steps_per_call`: a `lax.scan` over stacked batches, no Python round trip per step). Any other ring or grid is a
spec, scored the same way (`jaxgan.data.synthetic.MIXTURE_SYNTAX`):

  python -m experiments.toy2d --mixtures=ring:K=12,r=2,std=0.02,grid:K=7,spacing=1.5

Any config field can be overridden, e.g. `--packing=1 --loss=hinge --num_seeds=5`. The thorough setting of our
earlier runs (README, toy2d, "earlier runs": all 33 modes on every one of 5 seeds, 94.5 % (grid) and 98.1 % (ring)
high quality, reverse KL 0.006 and 0.002, about an hour per mixture on 2 CPU cores; not re-measured since):

  python -m experiments.toy2d --workdir workdirs/toy2d_best --num_seeds=5 --num_steps=60000 --lr=1e-3 --d_steps=1 \
      --d_lr_ratio=2 --latent_dim=8 --lr_final_fraction=0.1 --ema_decay=0.999 --plot_every=5000 \
      --checkpoint_every=5000 --log_every=1000

PacGAN's own grid setting (its released code: G 4 x 400 with batch norm, D 3 x 200 maxout-5, N(0, 0.02)
init, Adam 1e-4 with beta1 0.8, 100 packed examples per batch, 400 epochs of 100k packed examples = 400k
steps) is a GPU job:

  python -m experiments.toy2d --workdir workdirs/toy2d_paper --mixtures=grid --num_seeds=5 --packing=2 \
      --g_hidden=400,400,400,400 --d_hidden=200,200,200 --init_std=0.02 --lr=1e-4 --d_lr_ratio=1 --beta1=0.8 \
      --lr_schedule=constant --normalize=false --batch_size=200 --num_steps=400000 --d_steps=1 --latent_dim=2 \
      --ema_decay=0

Writes to the workdir: config.json, summary.json, and per mixture metrics.jsonl,
eval.jsonl, checkpoints/ and scatter PNGs over training. Running the same command again resumes
(a finished run is only scored again); a changed config is refused before anything is written, and
`--no-resume` moves the previous run (config, summary and mixture folders) to `superseded/<time>/`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import sys
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxgan import config as config_lib
from jaxgan import viz
from jaxgan.data import synthetic
from jaxgan.nets.mlp import MLPDiscriminator, MLPGenerator
from jaxgan.sampling import sample_latent
from jaxgan.train import StepConfig, init_state, make_train_step, normal_init_state
from jaxgan.train import experiment
from jaxgan.train.experiment import check
from jaxgan.train import hooks as hooks_lib
from jaxgan.train import loop as loop_lib
from jaxgan.train.checkpoint import CheckpointMismatchError
from jaxgan.train.loop import LoopConfig, train
from jaxgan.train.multistep import StackedBatches, multi_step

PAPER = {  # PacGAN Table 1 (Lin et al. 2018), mean over 10 trials.
    "GAN": {"ring_modes": 6.3, "grid_modes": 17.3, "ring_reverse_kl": 0.45,
            "grid_reverse_kl": 0.70},
    "PacGAN2": {"ring_modes": 7.9, "grid_modes": 23.8},
    "PacGAN4": {"ring_modes": 7.8, "grid_modes": 24.8, "ring_reverse_kl": 0.07,
                "grid_reverse_kl": 0.04},
}
LR_SCHEDULES = ("constant", "cosine")


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Mixtures trained one after the other: "ring" and "grid" are PacGAN's; any other ring or grid is a spec, e.g.
  # "ring:K=12,r=2,std=0.02" or "grid:K=7,spacing=1.5,std=0.05" (syntax: jaxgan.data.synthetic.MIXTURE_SYNTAX).
  c.mixtures = ("ring", "grid")
  c.loss = "non_saturating"  # any name of jaxgan.losses.ADVERSARIAL
  c.regularizer = "none"  # none, gradient_penalty, r1, r2, dragan
  c.reg_weight = 1.0  # the regularizer's weight (gamma for r1/r2)
  c.reg_every = 1  # lazy regularization interval (discriminator steps)
  c.top_k = 1.0  # < 1: top-k G updates (Sinha et al. 2020), kept fraction annealed down to this
  c.top_k_decay = 0.99  # the kept fraction is multiplied by this every top_k_period steps
  c.top_k_period = 100  # steps per decay (Sinha et al.: one epoch)
  c.packing = 2  # PacGAN degree m: D judges m samples at once (1 = plain GAN)
  c.num_seeds = 3  # independent runs trained together (vmap)
  c.seed = 0  # seeds used: seed, seed + 1, ...
  c.num_steps = 4000  # generator updates
  c.batch_size = 256  # samples per discriminator step (a multiple of packing)
  c.d_steps = 2  # discriminator updates per generator update
  c.latent_dim = 8  # 8 covered the grid more evenly than PacGAN's 2 in our long runs
  c.latent_dist = "normal"  # "normal" N(0, I) or "uniform" U[-1, 1]
  c.g_hidden = (128, 128, 128)  # PacGAN/VEEGAN use 4 x 400 with batch norm
  c.g_batch_norm = True
  c.d_hidden = (128, 128)  # PacGAN/VEEGAN use 3 x 200 maxout
  c.maxout = 5  # maxout pieces in D (1 = LeakyReLU units)
  c.init_std = 0.0  # 0: flax's default init; > 0: kernels ~ N(0, init_std), biases 0 (PacGAN: 0.02)
  c.lr = 2e-3  # G's learning rate (the peak of the schedule)
  c.d_lr_ratio = 2.0  # D's learning rate is d_lr_ratio * lr (TTUR, Heusel et al. 2017)
  c.lr_schedule = "cosine"  # "constant" or "cosine" (decays to lr_final_fraction * lr)
  c.lr_final_fraction = 0.1
  c.beta1 = 0.5
  c.beta2 = 0.999
  c.ema_decay = 0.99  # > 0 evaluates an EMA of G's weights (the raw G is scored too: `without_ema`)
  c.normalize = True  # train on x / max|mode| (1 for the ring, 4 for the grid); scored unscaled
  c.eval_samples = 2500  # samples scored per seed, as in PacGAN
  # Training steps per compiled call (a lax.scan over stacked batches; the same numbers as one step per call, without
  # a Python round trip per step). num_steps, log_every and checkpoint_every (when > 0) must be multiples of it.
  c.steps_per_call = 250
  c.log_every = 500  # fetch, check and log the metrics every this many steps
  c.plot_every = 2000  # score the seeds and draw seed 0's scatter PNG every this many steps (and at the end)
  c.checkpoint_every = 2000  # 0: only at the end
  c.smoke = False  # a few steps with tiny nets, for tests
  return c


def _apply_smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config shrunk to a run of seconds, as `experiment.apply_smoke`: values are only ever made smaller, so
  what the command line set below the smoke sizes stays (the batch stays a multiple of `packing`)."""
  c = ml_collections.ConfigDict(c.to_dict())
  c.num_steps, c.num_seeds = min(c.num_steps, 6), min(c.num_seeds, 2)
  c.batch_size = min(c.batch_size, max(c.packing, 16 // c.packing * c.packing))
  c.g_hidden, c.d_hidden = (tuple(min(w, 16) for w in c.g_hidden[:2]), tuple(min(w, 16) for w in c.d_hidden[:1]))
  c.log_every = min(c.log_every, 2)
  c.plot_every = min(c.plot_every, c.log_every)
  c.checkpoint_every = min(c.checkpoint_every, 4)
  # Two steps per call when the sizes allow it (so that the multi-step path is the tested one), else what divides.
  c.steps_per_call = math.gcd(min(c.steps_per_call, 2), c.num_steps, c.log_every, c.checkpoint_every)
  c.eval_samples = min(c.eval_samples, 200)
  return c


def mixture_names(c: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The canonical specs of the config's mixtures, in order: `--mixtures=ring,grid:K=7,spacing=1.5` arrives as
  ("ring", "grid:K=7", "spacing=1.5") and gives ("ring", "grid:K=7,spacing=1.5"); "ring:K=8" gives "ring".

  Raises:
    synthetic.MixtureSpecError: a spec that does not parse (the message gives the syntax).
  """
  return tuple(synthetic.canonical_name(spec) for spec in synthetic.group_specs(c.mixtures))


def _mixture_dirs(c: ml_collections.ConfigDict, workdir: str) -> list[str]:
  """The mixture folders a run in `workdir` may have written: the built-in mixtures', the config's and those of
  the config.json there."""
  specs = set(synthetic.MIXTURES) | set(mixture_names(c))
  path = os.path.join(workdir, "config.json")
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f).get("mixtures", [])
    try:
      specs |= set(synthetic.group_specs(old if isinstance(old, (list, tuple)) else [old]))
    except synthetic.MixtureSpecError:
      pass
  dirs = set()
  for spec in specs:
    try:
      dirs.add(synthetic.dirname(spec))
    except synthetic.MixtureSpecError:
      pass
  return sorted(dirs)


def check_config(c: ml_collections.ConfigDict) -> None:
  """Refuses, before anything is written or compiled, values the run cannot use.

  Raises:
    experiment.ExperimentError: for the first problem found, saying what to set.
  """
  try:
    mixtures = mixture_names(c)
  except synthetic.MixtureSpecError as err:
    raise experiment.ExperimentError(f"config field `mixtures`: {err}") from None
  check(len(mixtures) > 0, "mixtures is empty; set --mixtures to one or more mixtures, e.g. --mixtures=ring,grid or "
                           "--mixtures=ring:K=12,r=2,std=0.02")
  for name in mixtures:
    check(mixtures.count(name) == 1, f"mixture {name!r} is listed twice in --mixtures; list each once")
  for name in ("num_seeds", "num_steps", "batch_size", "d_steps", "packing", "latent_dim", "maxout",
               "eval_samples", "log_every", "plot_every"):
    check(c[name] >= 1, f"{name} must be an integer >= 1, got {c[name]!r}")
  check(c.plot_every % c.log_every == 0,
        f"plot_every={c.plot_every} must be a multiple of log_every={c.log_every} (scatter plots are drawn at log "
        f"steps); e.g. --plot_every={c.log_every * max(1, round(c.plot_every / c.log_every))}")
  check(c.checkpoint_every >= 0, f"checkpoint_every must be >= 0 (0: only at the end), got {c.checkpoint_every!r}")
  check(c.steps_per_call >= 1, f"steps_per_call must be an integer >= 1, got {c.steps_per_call!r}")
  n = c.steps_per_call
  fields = {"num_steps": c.num_steps, "log_every": c.log_every,
            **({"checkpoint_every": c.checkpoint_every} if c.checkpoint_every > 0 else {})}
  bad = {k: v for k, v in fields.items() if v % n}
  check(not bad, f"steps_per_call={n} needs num_steps, log_every and checkpoint_every (when > 0) that are multiples of "
                 f"{n} (logs, scores and checkpoints happen between calls of {n} steps), got "
                 f"{', '.join(f'{k}={v}' for k, v in bad.items())}; e.g. "
                 f"{' '.join(f'--{k}={max(n, round(v / n) * n)}' for k, v in bad.items())}, or a steps_per_call "
                 f"that divides them (--steps_per_call={math.gcd(n, *fields.values())})")
  check(c.seed >= 0, f"seed must be >= 0 (the seeds are seed, ..., seed + num_seeds - 1), got {c.seed!r}")
  check(c.batch_size % c.packing == 0,
        f"batch_size={c.batch_size} must be a multiple of packing={c.packing} (D judges packing samples at "
        f"once); e.g. --batch_size={c.packing * max(1, round(c.batch_size / c.packing))}")
  for name in ("g_hidden", "d_hidden"):
    check(all(w >= 1 for w in c[name]), f"{name} must be layer widths >= 1, e.g. --{name}=128,128, got {c[name]!r}")
  check(c.lr > 0, f"lr must be > 0, got {c.lr!r}")
  check(c.d_lr_ratio > 0, f"d_lr_ratio must be > 0 (D's learning rate is d_lr_ratio * lr), got {c.d_lr_ratio!r}")
  check(c.lr_schedule in LR_SCHEDULES,
        f"unknown lr_schedule {c.lr_schedule!r}; known: {', '.join(LR_SCHEDULES)}")
  check(0 <= c.lr_final_fraction <= 1, f"lr_final_fraction must be in [0, 1], got {c.lr_final_fraction!r}")
  check(c.init_std >= 0, f"init_std must be >= 0 (0: flax's default init), got {c.init_std!r}")
  experiment.check_shared_fields(c)  # betas, ema_decay, latent_dist, loss names and top-k settings


def check_resumable(c: ml_collections.ConfigDict, workdir: str) -> None:
  """Refuses, before anything is written, to resume a workdir whose checkpoints had another configuration.

  Compares `c` with the workdir's config.json when a mixture folder holds a checkpoint (the
  checkpoints store a fingerprint of the whole config and refuse any other one when restored).

  Raises:
    CheckpointMismatchError: naming every field that differs and what to do.
  """
  path = os.path.join(workdir, "config.json")
  trained = [n for n in _mixture_dirs(c, workdir) if experiment.has_checkpoint(os.path.join(workdir, n))]
  if not (trained and os.path.exists(path)):
    return
  with open(path) as f:
    old = json.load(f)
  new = experiment.plain_config(c)
  diff = [f"{k}={old.get(k)!r} there, {new.get(k)!r} now" for k in sorted(set(old) | set(new))
          if old.get(k) != new.get(k)]
  if diff:
    raise CheckpointMismatchError(
        f"cannot resume {workdir}: its checkpoints ({', '.join(trained)}) were written with another "
        f"configuration ({'; '.join(diff)}); resume with the same values, use another --workdir, or start "
        "over with --no-resume (the old run is moved to superseded/)")


class _ResumeEvalLog(hooks_lib.Hook):
  """Once the loop has restored step s: drops the lines of eval.jsonl the run writes again.

  Those are the ones after s, which the resumed run scores again, and the final one, which is
  written again after training (the same scores: evaluation is deterministic in the state and step).
  Scatter PNGs after s are removed too (they are drawn again when the run gets there).
  """

  def __init__(self, directory: str, final_step: int):
    self.directory, self.final_step = directory, final_step

  def start(self, step: int, state: Any) -> None:
    del state
    if jax.process_index() != 0:
      return
    hooks_lib.truncate_records(os.path.join(self.directory, "eval.jsonl"), min(step, self.final_step - 1))
    for name in os.listdir(self.directory):
      stem = name[len("scatter_"):-len(".png")]
      if name.startswith("scatter_") and name.endswith(".png") and stem.isdigit() and int(stem) > step:
        os.remove(os.path.join(self.directory, name))


class MixtureStream:
  """Batches of real samples for every seed: {"image": (S, d_steps * B, 2)}.

  Deterministic in (seed, step): batch s of seed i comes from
  np.random.default_rng((seed_i, s)), so resuming at step s needs only s.
  """

  def __init__(self, mixture: synthetic.Mixture, seeds: list[int], per_step: int,
               scale: float = 1.0):
    self.mixture, self.seeds, self.per_step, self.position = mixture, seeds, per_step, 0
    self.scale = scale

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    x = np.stack([self.mixture.sample(np.random.default_rng((s, self.position)), self.per_step)
                  for s in self.seeds]) / np.float32(self.scale)
    self.position += 1
    return {"image": x}

  def state(self) -> dict[str, Any]:
    return {"position": self.position}

  def restore(self, state: dict[str, Any]) -> None:
    self.position = int(state["position"])


def _summarize(values: list[float]) -> dict[str, float]:
  a = np.asarray(values, np.float64)
  sem = float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else 0.0
  return {"mean": float(a.mean()), "sem": sem}


def _score_summary(scores: list[dict[str, Any]]) -> dict[str, Any]:
  num_modes = len(scores[0]["counts"])
  return {
      "per_seed": [{k: v for k, v in s.items() if k != "counts"} for s in scores],
      **{key: _summarize([s[key] for s in scores])
         for key in ("modes", "modes_strict", "high_quality", "reverse_kl")},
      "all_modes_every_seed": all(s["modes"] == num_modes for s in scores),
  }


@dataclasses.dataclass(frozen=True)
class _Programs:
  """What the mixtures share: the nets and the compiled functions (built once, so the second mixture reuses the
  first one's compilation: a mixture changes the data only, never a shape)."""

  generator: MLPGenerator
  init: Callable[[jax.Array], Any]  # (S, 2) keys -> the vmapped train state of S seeds
  step: Callable[[Any, Any], tuple[Any, Any]]  # steps_per_call steps of every seed, the state donated
  sample: Callable[[Any, jax.Array, bool], jax.Array]  # (state, key, ema) -> (S, eval_samples, 2), training scale


def _build(c: ml_collections.ConfigDict) -> _Programs:
  """The nets, optimizers and loss of the config, and its jitted init, (multi-)step and sampler."""
  generator = MLPGenerator(out_shape=(2,), hidden=tuple(c.g_hidden), batch_norm=c.g_batch_norm,
                           output="linear")
  discriminator = MLPDiscriminator(hidden=tuple(c.d_hidden), maxout_pieces=c.maxout)
  loss = experiment.build_loss(c)
  if c.lr_schedule not in LR_SCHEDULES:
    raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {c.lr_schedule!r}")

  def adam(base_lr, updates_per_run):
    lr = (base_lr if c.lr_schedule == "constant" else
          optax.cosine_decay_schedule(base_lr, updates_per_run, alpha=c.lr_final_fraction))
    return optax.adam(lr, b1=c.beta1, b2=c.beta2)

  g_tx = adam(c.lr, c.num_steps)
  d_tx = adam(c.lr * c.d_lr_ratio, c.num_steps * c.d_steps)
  cfg = StepConfig(latent_dim=c.latent_dim, latent_dist=c.latent_dist, d_steps=c.d_steps,
                   packing=c.packing,
                   ema_decay=c.ema_decay if c.ema_decay > 0 else None)
  if c.batch_size % c.packing:
    raise ValueError(f"batch_size={c.batch_size} must be a multiple of packing={c.packing}")
  example = {"image": jnp.zeros((c.d_steps * c.batch_size, 2), jnp.float32)}

  def init_one(key):
    state = init_state(key, generator, discriminator, loss, g_tx, d_tx, cfg, example)
    if c.init_std > 0:
      state = normal_init_state(state, jax.random.fold_in(key, 1), c.init_std, g_tx, d_tx)
    return state

  step = jax.vmap(make_train_step(generator, discriminator, loss, g_tx, d_tx, cfg))
  if c.steps_per_call > 1:
    step = multi_step(step)  # lax.scan: steps_per_call steps per call, batches stacked on a leading axis

  @functools.partial(jax.jit, static_argnums=2)
  def sample(state, key, ema):
    def one(s, k):
      z = sample_latent(k, (c.eval_samples, c.latent_dim), c.latent_dist)
      return generator.apply(s.g_variables(ema=ema), z, train=False)
    return jax.vmap(one)(state, jax.random.split(key, state.step.shape[0]))

  return _Programs(generator, jax.jit(jax.vmap(init_one)), jax.jit(step, donate_argnums=0), sample)


def run_mixture(c: ml_collections.ConfigDict, name: str, workdir: str | None, resume: bool,
                config_dict: dict[str, Any], programs: _Programs | None = None) -> tuple[Any, dict[str, Any]]:
  """Trains all seeds on one mixture; returns (final vmapped state, summary of the mixture).

  Args:
    c: the checked config.
    name: a mixture spec (`ring`, `grid:K=7,spacing=1.5`, ...).
    workdir: the run's workdir (the mixture writes into its folder `synthetic.dirname(name)`); None writes nothing.
    resume: continue from the mixture's latest checkpoint.
    config_dict: the config as saved (checkpoints are fingerprinted with it).
    programs: `_build(c)`, shared by the mixtures of a run; None builds them.
  """
  mixture = synthetic.get_mixture(name)
  programs = programs or _build(c)
  max_abs = float(np.abs(mixture.means).max())
  limit = max(1.5 * max_abs, max_abs + 6 * mixture.std)
  seeds = [c.seed + i for i in range(c.num_seeds)]
  scale = max_abs if c.normalize and max_abs > 0 else 1.0
  stream = MixtureStream(mixture, seeds, c.d_steps * c.batch_size, scale)
  batches = StackedBatches(stream, c.steps_per_call) if c.steps_per_call > 1 else stream
  state = programs.init(jnp.stack([jax.random.PRNGKey(s) for s in seeds]))
  sub = os.path.join(workdir, synthetic.dirname(name)) if workdir else None
  ema = c.ema_decay > 0

  def evaluate(step: int, state: Any, use_ema: bool = ema) -> list[dict[str, Any]]:
    points = scale * np.asarray(jax.device_get(programs.sample(state, jax.random.PRNGKey(10_000 + step), use_ema)))
    scores = [synthetic.mode_metrics(p, mixture) for p in points]
    if sub and jax.process_index() == 0 and use_ema == ema:
      viz.save_scatter(points[0], os.path.join(sub, f"scatter_{step:06d}.png"),
                       modes=mixture.means, limit=limit,
                       title=f"{name}, seed {seeds[0]}, step {step}: "
                             f"{scores[0]['modes']}/{mixture.num_modes} modes")
      with open(os.path.join(sub, "eval.jsonl"), "a") as f:
        f.write(json.dumps({"step": step, "per_seed": scores}) + "\n")
    return scores

  def on_log(step: int, means: dict[str, Any], state: Any) -> None:
    if step % c.plot_every == 0 and step < c.num_steps:
      evaluate(step, state)

  start = time.perf_counter()
  state, records = train(
      programs.step, state, batches,
      LoopConfig(num_steps=c.num_steps, log_every=c.log_every,
                 checkpoint_every=c.checkpoint_every, resume=resume, steps_per_call=c.steps_per_call),
      workdir=sub, config=config_dict, data=batches, on_log=on_log,
      hooks=[_ResumeEvalLog(sub, c.num_steps)] if sub else [])
  scores = evaluate(c.num_steps, state)
  # The whole history: a resumed run's `records` hold only the steps it trained itself.
  records = (hooks_lib.read_records(os.path.join(sub, "metrics.jsonl")) if sub else []) or records
  if sub and jax.process_index() == 0:
    viz.save_curves(records, ["d_loss", "g_loss"], os.path.join(sub, "losses.png"), title=name)
  summary = {"num_modes": mixture.num_modes, "seeds": seeds, **_score_summary(scores),
             "train_seconds": time.perf_counter() - start,
             "final_d_loss": records[-1]["d_loss"] if records else None}
  if ema:  # the trained generator's own weights, next to the EMA that is scored above
    summary["without_ema"] = _score_summary(evaluate(c.num_steps, state, use_ema=False))
  return state, summary


def main(config: ml_collections.ConfigDict, workdir: str | None = None,
         resume: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
  """Trains on every mixture of the config; returns (final states by mixture, summary).

  Args:
    config: a `get_config()`-shaped ConfigDict (`smoke` applied here when set).
    workdir: where everything is written; None writes nothing.
    resume: continue from the mixtures' latest checkpoints (a finished run is only scored again);
      False moves the previous run's files (config.json, summary.json, the mixture folders) to
      `workdir/superseded/<time>/` and starts over.
  Raises:
    experiment.ExperimentError: a bad config value, before anything is written or compiled.
    CheckpointMismatchError: resuming a workdir whose checkpoints had another config, before
      anything is written.
    NonFiniteError: a loss became NaN/inf.
  """
  c = _apply_smoke(config) if config.smoke else ml_collections.ConfigDict(config.to_dict())
  check_config(c)
  c.mixtures = mixture_names(c)  # canonical specs: the summary's keys; folders are synthetic.dirname(spec)
  if workdir and resume:
    check_resumable(c, workdir)
  elif workdir and jax.process_index() == 0:
    moved = loop_lib.move_aside(workdir, ("config.json", "summary.json", *_mixture_dirs(c, workdir)))
    if moved:
      print(f"starting over (--no-resume): the previous run's files are now in {moved}", flush=True)
  config_dict = config_lib.save_config(c, workdir) if workdir else c.to_dict()
  states, summary = {}, {"config": config_dict, "paper_table1": PAPER, "mixtures": {}}
  programs = _build(c)
  for name in c.mixtures:
    states[name], summary["mixtures"][name] = run_mixture(c, name, workdir, resume, config_dict, programs)
  if workdir and jax.process_index() == 0:
    with open(os.path.join(workdir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=2)
  return states, summary


def format_table(summary: dict[str, Any]) -> str:
  """Mean ± s.e. over seeds; modes by PacGAN's rule (>= 1 high-quality sample) and the strict one."""
  width = max([7, *map(len, summary["mixtures"])])
  lines = [f"{'mixture':{width}s}  modes covered     strict rule       high quality %   reverse KL      "
           "seeds with all modes",
           f"{'-' * width}  ----------------  ----------------  ---------------  --------------  "
           "--------------------"]
  for name, s in summary["mixtures"].items():
    full = sum(p["modes"] == s["num_modes"] for p in s["per_seed"])
    modes = [f"{s[k]['mean']:5.2f} ± {s[k]['sem']:.2f} /{s['num_modes']:<3d}"
             for k in ("modes", "modes_strict")]
    lines.append(
        f"{name:{width}s}  {modes[0]}  {modes[1]}  "
        f"{100 * s['high_quality']['mean']:6.1f} ± {100 * s['high_quality']['sem']:4.1f}   "
        f"{s['reverse_kl']['mean']:.3f} ± {s['reverse_kl']['sem']:.3f}   "
        f"{full}/{len(s['per_seed'])}")
  return "\n".join(lines)


def cli(argv: Sequence[str]) -> dict[str, Any]:
  """`python -m experiments.toy2d [--workdir DIR] [--no-resume] [--field=value ...]`; returns the summary.

  Exits with `error: <message>` (status 1) on a bad config, a refused resume or a NaN stop, as
  `jaxgan.train.experiment.cli` does.
  """
  try:
    cfg, wd, res = config_lib.parse_args(get_config(), argv)
    experiment.check_overrides(cfg, get_config())
    wd = wd or "workdirs/toy2d"
    try:
      cfg.mixtures = mixture_names(cfg)  # printed as the run names them; a bad spec is reported by main's checks
    except synthetic.MixtureSpecError:
      pass
    print("config:", json.dumps(cfg.to_dict(), sort_keys=True, default=str), flush=True)
    _, result = main(cfg, wd, res)
  except experiment.USER_ERRORS as err:
    sys.exit(f"error: {err}")
  except KeyboardInterrupt:
    sys.exit("interrupted; run the same command again to resume from the last checkpoint")
  print(format_table(result))
  print(f"wrote {wd}/summary.json")
  return result


if __name__ == "__main__":
  cli(sys.argv[1:])
