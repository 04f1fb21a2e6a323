"""Steps per call (issue 26): train steps/s with n = 1, 4, 16 steps per compiled call (`multi_step`, a `lax.scan`).

A small model's step is a few milliseconds of compute behind a fixed cost per Python call (dispatch, argument
handling), so a host loop that calls one step at a time leaves the device waiting. Two models:

* toy2d: experiments/toy2d.py's MLP GAN at its default config (PacGAN2, G 3 x 128 with batch norm, D 2 x 128
  maxout-5, batch 256), 3 seeds side by side (`jax.vmap`), fed by its `MixtureStream`, built from its config as
  `run_mixture` builds it (nets, loss, optimizers), then `multi_step` of the vmapped step.
* dcgan_mnist: experiments/dcgan.py's MNIST DCGAN (width 16, batch 64), random data of MNIST's shape on the device,
  compiled by the experiment runner (`experiment.compiled`, its `DataParallel` with steps_per_call = n).

Per (model, n): steps/s (median of `--repeats` timings of `--iters` calls, each call n steps, after `--warmup` calls
that include the compilation), ms per step, the speed-up over n = 1 and the first call's seconds. Batches are
placed on the device once (stacked for n > 1), so the numbers are the step's and the dispatch's, not the input
pipeline's.

  python -m benchmarks.steps_per_call --out benchmarks/results/cpu_2026-12-06/steps_per_call.json
  python -m benchmarks.steps_per_call --models toy2d --counts 1,4 --smoke     # a CPU check of the plumbing
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.timing import sweep, time_step
from experiments import dcgan, toy2d
from jaxgan.data import synthetic
from jaxgan.nets.mlp import MLPDiscriminator, MLPGenerator
from jaxgan.train import StepConfig, experiment, init_state, make_train_step, multi_step, stack_batches

MODELS = ("toy2d", "dcgan_mnist")


def toy2d_setup(n: int, smoke: bool) -> tuple[Any, Any, Any, dict[str, Any]]:
  """(step over n steps, state, batch, info) of toy2d's default run on the ring: 3 vmapped seeds."""
  c = toy2d.get_config()
  if smoke:
    c = toy2d._apply_smoke(c)  # pylint: disable=protected-access
  toy2d.check_config(c)
  mixture = synthetic.get_mixture("ring")
  generator = MLPGenerator(out_shape=(2,), hidden=tuple(c.g_hidden), batch_norm=c.g_batch_norm, output="linear")
  discriminator = MLPDiscriminator(hidden=tuple(c.d_hidden), maxout_pieces=c.maxout)
  loss = experiment.build_loss(c)
  g_tx = optax.adam(optax.cosine_decay_schedule(c.lr, c.num_steps, alpha=c.lr_final_fraction), b1=c.beta1,
                    b2=c.beta2)
  d_tx = optax.adam(optax.cosine_decay_schedule(c.lr * c.d_lr_ratio, c.num_steps * c.d_steps,
                                                alpha=c.lr_final_fraction), b1=c.beta1, b2=c.beta2)
  cfg = StepConfig(latent_dim=c.latent_dim, latent_dist=c.latent_dist, d_steps=c.d_steps, packing=c.packing)
  seeds = [c.seed + i for i in range(c.num_seeds)]
  stream = toy2d.MixtureStream(mixture, seeds, c.d_steps * c.batch_size)
  example = {"image": jnp.zeros((c.d_steps * c.batch_size, 2), jnp.float32)}
  keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
  state = jax.vmap(lambda k: init_state(k, generator, discriminator, loss, g_tx, d_tx, cfg, example))(keys)
  step = jax.vmap(make_train_step(generator, discriminator, loss, g_tx, d_tx, cfg))
  hosts = [next(stream) for _ in range(n)]
  batch = jax.device_put(hosts[0] if n == 1 else stack_batches(hosts))
  fn = jax.jit(step if n == 1 else multi_step(step), donate_argnums=0)
  return fn, state, batch, {"seeds": len(seeds), "batch": c.batch_size, "d_steps": c.d_steps,
                            "packing": c.packing, "g_hidden": list(c.g_hidden), "d_hidden": list(c.d_hidden)}


def dcgan_setup(n: int, smoke: bool) -> tuple[Any, Any, Any, dict[str, Any]]:
  """(step over n steps, state, batch, info) of experiments/dcgan.py's MNIST config, random MNIST-shaped data."""
  c = dcgan.get_config()
  c.steps_per_call = n
  c.num_steps, c.log_every, c.sample_every, c.checkpoint_every = 16 * 48, 48, 48 * 16, 48 * 16  # multiples of n
  if smoke:
    c = experiment.apply_smoke(c)
    c.steps_per_call = n
  experiment.check_config(c)
  model = experiment.compiled(c, 28, 1, 0)
  per_step = c.d_steps * c.batch_size
  example = {"image": jnp.zeros((per_step, 28, 28, 1), jnp.float32)}
  state = model.dp.put_state(experiment.init(c, model, example))
  rng = np.random.default_rng(0)
  hosts = [{"image": rng.integers(0, 256, (per_step, 28, 28, 1), dtype=np.uint8)} for _ in range(n)]
  batch = model.dp.put_batch(hosts[0] if n == 1 else stack_batches(hosts))  # uint8 -> [-1, 1] on the device
  return model.step_fn, state, batch, {"net": c.net, "width": c.g_width, "batch": c.batch_size,
                                       "d_steps": c.d_steps, "parallel": model.dp.mode}


def measure(model: str, n: int, *, smoke: bool, warmup: int, iters: int, repeats: int) -> dict[str, Any]:
  setup = toy2d_setup if model == "toy2d" else dcgan_setup
  fn, state, batch, info = setup(n, smoke)
  first, seconds, _ = time_step(fn, state, batch, warmup=warmup, iters=iters, repeats=repeats)
  return {"model": model, "steps_per_call": n, "first_call_s": first, "ms_per_call": 1e3 * seconds,
          "ms_per_step": 1e3 * seconds / n, "steps_per_s": n / seconds, **info}


def with_speedups(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
  """Adds `speedup` (steps/s over the model's n = 1 steps/s) where n = 1 was measured."""
  base = {r["model"]: r["steps_per_s"] for r in results if r["steps_per_call"] == 1}
  return [{**r, "speedup": r["steps_per_s"] / base[r["model"]] if r["model"] in base else None} for r in results]


def table(results: list[dict[str, Any]]) -> str:
  head = f"{'model':<12} {'n':>3} {'ms/call':>9} {'ms/step':>8} {'steps/s':>9} {'speed-up':>8} {'1st call s':>10}"
  lines = [head, "-" * len(head)]
  for r in with_speedups(results):
    speedup = "—" if r["speedup"] is None else f"{r['speedup']:.2f}x"
    lines.append(f"{r['model']:<12} {r['steps_per_call']:>3} {r['ms_per_call']:9.2f} {r['ms_per_step']:8.3f} "
                 f"{r['steps_per_s']:9.1f} {speedup:>8} {r['first_call_s']:10.1f}")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
  p = argparse.ArgumentParser(prog="python -m benchmarks.steps_per_call", description=__doc__.split("\n")[0])
  p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
  p.add_argument("--counts", default="1,4,16", help="comma-separated steps per call; include 1 for the speed-up")
  p.add_argument("--smoke", action="store_true", help="tiny configs and few calls: a CPU check of the plumbing")
  p.add_argument("--warmup", type=int, default=2, help="untimed calls, compilation included")
  p.add_argument("--steps", type=int, default=64, help="steps per timing (iters = steps / n calls)")
  p.add_argument("--dcgan-steps", type=int, default=16, help="steps per timing for dcgan_mnist (slow on a CPU)")
  p.add_argument("--repeats", type=int, default=3, help="timings; the median is reported")
  p.add_argument("--note", action="append", default=[], help="a note for the JSON (repeatable)")
  p.add_argument("--out", default=None, help="write the results as JSON here (after every measurement)")
  args = p.parse_args(argv)
  models = [m for m in args.models.split(",") if m]
  counts = [int(s) for s in args.counts.split(",") if s.strip()]
  if set(models) - set(MODELS) or not models:
    raise SystemExit(f"error: --models takes names of {', '.join(MODELS)}, got {args.models!r}")
  if not counts or min(counts) < 1:
    raise SystemExit(f"error: --counts takes positive steps per call, got {args.counts!r}")
  if args.smoke:
    args.warmup, args.steps, args.dcgan_steps, args.repeats = 1, max(counts), max(counts), 1
  def report(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"benchmark": "steps_per_call", "device": str(jax.devices()[0].device_kind),
            "backend": jax.default_backend(), "cpu_count": __import__("os").cpu_count(),
            "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "command": "python -m benchmarks.steps_per_call " + " ".join(sys.argv[1:] if argv is None else argv),
            "jax": jax.__version__, "python": platform.python_version(), "smoke": args.smoke,
            "warmup": args.warmup, "repeats": args.repeats, "notes": args.note, "results": with_speedups(results)}

  def one(model: str, n: int) -> Callable[[], dict[str, Any]]:
    steps = args.dcgan_steps if model == "dcgan_mnist" else args.steps
    return lambda: measure(model, n, smoke=args.smoke, warmup=args.warmup, iters=max(1, steps // n),
                           repeats=args.repeats)

  return sweep([one(model, n) for model in models for n in counts], table, report, args.out)


if __name__ == "__main__":
  main()
