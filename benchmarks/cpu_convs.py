"""Strided convolutions on the CPU: autodiff's kernel gradient next to jaxgan's tap-by-tap one, side by side.

XLA's CPU backend runs the kernel gradient of a strided convolution (a convolution with a dilated kernel) and of a
transposed one (a dilated input) on a slow generic path. `jaxgan.nets.layers.conv2d` / `conv_transpose` compute it
tap by tap instead (`layers.TAP_KERNEL_GRADS`). This measures, in one run on this machine's CPU:

1. per layer (the strided layers of the InfoGAN nets of the MNIST rows and of DCGAN 32x32, batch 64): forward +
   both gradients, ms, autodiff's rule vs the tap rule, and the largest difference of their kernel gradients;
2. the whole compiled training step of a classics row (default `mnist_ns`), ms, with either rule.

  python -m benchmarks.cpu_convs --out cpu_convs.json
  python -m benchmarks.cpu_convs --out cpu_convs.json --note "CPU shared with other jobs"   # recorded in the JSON
  python -m benchmarks.cpu_convs --smoke              # seconds: batch 4, 2 timed calls
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import time_calls
from jaxgan.nets import layers

# name, op, input (N omitted), kernel, stride
LAYERS = [
    ("infogan G deconv 7->14", "transpose", (7, 7, 128), (4, 4, 128, 64), 2),
    ("infogan G deconv 14->28", "transpose", (14, 14, 64), (4, 4, 64, 1), 2),
    ("infogan D conv 28->14", "conv", (28, 28, 1), (4, 4, 1, 64), 2),
    ("infogan D conv 14->7", "conv", (14, 14, 64), (4, 4, 64, 128), 2),
    ("dcgan32 G deconv 8->16", "transpose", (8, 8, 256), (4, 4, 256, 128), 2),
    ("dcgan32 D conv 16->8", "conv", (16, 16, 128), (4, 4, 128, 256), 2),
]


def _median_ms(fn: Callable[[], Any], calls: int) -> float:
  return 1e3 * time_calls(fn, jax.block_until_ready, warmup=1, iters=1, repeats=calls)[1]


def _with_rule(tap: bool, make: Callable[[], Callable[[], Any]], calls: int) -> tuple[float, Any]:
  """Traces and times `make()` with the tap rule on or off (the switch is read at trace time)."""
  old = layers.TAP_KERNEL_GRADS
  layers.TAP_KERNEL_GRADS = tap
  try:
    fn = make()
    return _median_ms(fn, calls), jax.device_get(fn())
  finally:
    layers.TAP_KERNEL_GRADS = old


def layer_rows(batch: int, calls: int) -> list[dict[str, Any]]:
  rows = []
  for name, kind, in_shape, k_shape, stride in LAYERS:
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch, *in_shape)), jnp.float32)
    k = jnp.asarray(rng.standard_normal(k_shape) / np.sqrt(np.prod(k_shape[:3])), jnp.float32)
    op = layers.conv_transpose if kind == "transpose" else layers.conv2d
    loss = lambda x, k, op=op, stride=stride: jnp.sum(jnp.tanh(op(x, k, (stride, stride), "SAME")))

    def make(loss=loss, x=x, k=k):
      grad = jax.jit(jax.grad(loss, (0, 1)))
      return lambda: grad(x, k)

    ms_auto, (_, dk_auto) = _with_rule(False, make, calls)
    ms_taps, (_, dk_taps) = _with_rule(True, make, calls)
    rows.append({"layer": name, "batch": batch, "autodiff_ms": ms_auto, "taps_ms": ms_taps,
                 "speedup": ms_auto / ms_taps,
                 "max_abs_diff_kernel_grad": float(np.max(np.abs(dk_auto - dk_taps))),
                 "max_abs_kernel_grad": float(np.max(np.abs(dk_auto)))})
    print(f"{name:28s} autodiff {ms_auto:9.2f} ms  taps {ms_taps:8.2f} ms  x{ms_auto / ms_taps:5.1f}", flush=True)
  return rows


def step_rows(row: str, calls: int, smoke: bool, rules: tuple[bool, ...] = (False, True)) -> list[dict[str, Any]]:
  """The compiled training step of classics row `row` (28x28), ms per step (median of `calls`), under each kernel
  gradient rule of `rules` (False: autodiff's, True: the tap rule)."""
  from experiments import classics  # pylint: disable=import-outside-toplevel
  from jaxgan.train import experiment  # pylint: disable=import-outside-toplevel
  c = classics.get_config(row)
  if smoke:
    c.batch_size = 4
  out = []
  for tap in rules:
    experiment._COMPILED.clear()  # pylint: disable=protected-access  # compile again under this rule
    layers.TAP_KERNEL_GRADS = tap
    try:
      model = experiment.compiled(c, 28, 1, 0)
      example = {"image": jnp.zeros((c.d_steps * c.batch_size, 28, 28, 1), jnp.float32)}
      holder = {"state": model.dp.put_state(experiment.init(c, model, example))}
      batch = model.dp.put_batch({"image": np.zeros((c.d_steps * c.batch_size, 28, 28, 1), np.uint8)})

      def run():
        holder["state"], metrics = model.step_fn(holder["state"], batch)
        return metrics

      ms = _median_ms(run, calls)
    finally:
      layers.TAP_KERNEL_GRADS = True
    experiment._COMPILED.clear()  # pylint: disable=protected-access
    out.append({"step": row, "rule": "taps" if tap else "autodiff", "batch": c.batch_size, "ms": ms})
    print(f"{row} training step, {'taps' if tap else 'autodiff'}: {ms:.1f} ms", flush=True)
  return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
  p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_convs", description=__doc__.split("\n")[0])
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--calls", type=int, default=10, help="timed calls per measurement (median)")
  p.add_argument("--row", default="mnist_ns", help="classics row whose 28x28 training step is timed")
  p.add_argument("--smoke", action="store_true", help="batch 4, 2 calls")
  p.add_argument("--out", default="", help="write the results as JSON here")
  p.add_argument("--note", default="", help="recorded in the JSON, e.g. what else ran on the machine")
  a = p.parse_args(argv)
  if jax.default_backend() != "cpu":
    print(f"note: the default backend is {jax.default_backend()}; both rules are the same off the CPU")
  batch, calls = (4, 2) if a.smoke else (a.batch, a.calls)
  from benchmarks.reproduce import device_name  # pylint: disable=import-outside-toplevel
  result = {"device": device_name(), "jax": jax.__version__, "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "command": "python -m benchmarks.cpu_convs " + " ".join(argv if argv is not None else sys.argv[1:]),
            "note": a.note, "calls": calls, "layers": layer_rows(batch, calls),
            "steps": step_rows(a.row, calls, a.smoke)}
  auto, taps = (s["ms"] for s in result["steps"])
  result["step_speedup"] = auto / taps
  print(f"step speedup: x{auto / taps:.2f}")
  if a.out:
    with open(a.out, "w") as f:
      json.dump(result, f, indent=2)
  return result


if __name__ == "__main__":
  main()
