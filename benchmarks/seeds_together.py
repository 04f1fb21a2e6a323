"""Seeds side by side: a classics row's train step for one seed, as `experiment.run` compiles it, next to the same
step over n seeds in one compiled call (`jax.vmap`), as `experiment.run_together` compiles it.

A GAN as small as the 28x28 rows of issue 7 leaves most of a GPU idle: its step is a long chain of small kernels,
so one seed's step takes about as long as the launches it needs. Over n seeds each kernel does n times the work for
about the same launch cost. This benchmark measures how much of that holds for each row (and where it stops: the
ResNet rows fill more of the device), so that a GPU lease chooses between `reproduce --together` and running the
seeds one after another from figures.

One device, data already on it (random images in [-1, 1]); per (row, n): ms per call of the step (all D steps and
the G step of every seed; median of `--repeats` timings of `--iters` calls, after `--warmup` calls that include the
compilation), ms per seed-step (that / n), seed-steps/s, and the speed-up over running the n seeds one after
another (n x the n = 1 time / the n time; > 1: together is faster), plus the first call (compilation).

  python -m benchmarks.seeds_together --rows fashion_ns,fashion_wgan_gp,cifar_sngan_resnet_hinge --seeds 1,3,5 \
      --out seeds_together.json                                      # GPU
  python -m benchmarks.seeds_together --rows mnist_ns --seeds 1,2 --smoke   # CPU check: tiny nets, seconds
"""
from __future__ import annotations

import argparse
import platform
from typing import Any, Callable

import jax
import jax.numpy as jnp

from benchmarks.timing import sweep, time_step
from experiments import classics
from jaxgan.train import experiment

SHAPES = {"mnist": (28, 1), "fashion_mnist": (28, 1), "cifar10": (32, 3)}  # (side, channels) of the rows' data


def measure(row: str, n: int, *, smoke: bool, warmup: int, iters: int, repeats: int) -> dict[str, Any]:
  """Times one call of the row's step for n seeds (n = 1: `run`'s step; n > 1: `run_together`'s)."""
  c = classics.get_config(row)
  if smoke:
    c = experiment.apply_smoke(c)
  side, channels = SHAPES[classics.get_row(row).dataset]
  side = c.resolution or side
  model = experiment.compiled(c, side, channels, 0)
  per_step = c.d_steps * c.batch_size
  shape = (per_step, side, side, channels)
  example = {"image": jnp.zeros(shape, jnp.float32)}
  key = jax.random.PRNGKey(1)
  if n == 1:
    state = model.dp.put_state(experiment.init(c, model, example))
    step = model.step_fn
    batch = {"image": jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0)}
  else:
    device = jax.local_devices()[0]
    state = jax.device_put(experiment.init_together(model, list(range(n)), example), device)
    step = experiment.together_step(model, fast_compile=c.fast_compile)
    batch = {"image": jax.device_put(jax.random.uniform(key, (n, *shape), jnp.float32, -1.0, 1.0), device)}
  first, seconds, _ = time_step(step, state, batch, warmup=warmup, iters=iters, repeats=repeats)
  return {"row": row, "seeds": n, "first_call_s": first, "ms_per_call": 1e3 * seconds,
          "ms_per_seed_step": 1e3 * seconds / n, "seed_steps_per_s": n / seconds,
          "batch": c.batch_size, "d_steps": c.d_steps, "net": c.net}


def with_speedups(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
  """Adds `speedup` (n x the row's n = 1 time / its n time) where the row's n = 1 time was measured."""
  alone = {r["row"]: r["ms_per_call"] for r in results if r["seeds"] == 1}
  return [{**r, "speedup": r["seeds"] * alone[r["row"]] / r["ms_per_call"] if r["row"] in alone else None}
          for r in results]


def table(results: list[dict[str, Any]]) -> str:
  head = f"{'row':<28} {'seeds':>5} {'ms/call':>9} {'ms/seed-step':>12} {'seed-steps/s':>12} {'speed-up':>8} " \
         f"{'1st call s':>10}"
  lines = [head, "-" * len(head)]
  for r in with_speedups(results):
    speedup = "—" if r["speedup"] is None else f"{r['speedup']:.2f}x"
    lines.append(f"{r['row']:<28} {r['seeds']:>5} {r['ms_per_call']:9.2f} {r['ms_per_seed_step']:12.2f} "
                 f"{r['seed_steps_per_s']:12.0f} {speedup:>8} {r['first_call_s']:10.1f}")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
  p = argparse.ArgumentParser(prog="python -m benchmarks.seeds_together", description=__doc__.split("\n")[0])
  p.add_argument("--rows", default="fashion_ns", help="comma-separated classics rows or groups (mnist, fashion, ...)")
  p.add_argument("--seeds", default="1,3", help="comma-separated seed counts; include 1 for the speed-up")
  p.add_argument("--smoke", action="store_true", help="tiny nets and few calls: a CPU check of the plumbing")
  p.add_argument("--warmup", type=int, default=5, help="untimed calls, compilation included")
  p.add_argument("--iters", type=int, default=20, help="calls per timing")
  p.add_argument("--repeats", type=int, default=5, help="timings; the median is reported")
  p.add_argument("--out", default=None, help="write the results as JSON here (after every measurement)")
  args = p.parse_args(argv)
  try:
    rows = classics.expand_rows(args.rows)
    counts = [int(s) for s in args.seeds.split(",") if s.strip()]
  except ValueError as e:
    raise SystemExit(f"error: {e}") from None
  if not counts or min(counts) < 1:
    raise SystemExit(f"error: --seeds takes positive seed counts, got {args.seeds!r}")
  if args.smoke:
    args.warmup, args.iters, args.repeats = 1, min(args.iters, 2), min(args.repeats, 2)
  def report(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"benchmark": "seeds_together", "device": str(jax.devices()[0].device_kind),
            "backend": jax.default_backend(), "jax": jax.__version__, "python": platform.python_version(),
            "smoke": args.smoke, "warmup": args.warmup, "iters": args.iters, "repeats": args.repeats,
            "results": with_speedups(results)}

  def one(row: str, n: int) -> Callable[[], dict[str, Any]]:
    return lambda: measure(row, n, smoke=args.smoke, warmup=args.warmup, iters=args.iters, repeats=args.repeats)

  return sweep([one(row, n) for row in rows for n in counts], table, report, args.out)


if __name__ == "__main__":
  main()
