"""One way to time a call in every benchmark here: the first call (compilation included) apart, then the median
over repeats of a run of synchronized calls."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any, Callable


def time_calls(fn: Callable[[], Any], sync: Callable[[Any], Any], *, warmup: int = 1, iters: int = 1,
               repeats: int = 1) -> tuple[float, float]:
  """Times `fn`.

  Args:
    fn: the call to time; its result goes to `sync`.
    sync: waits for a result to be computed (`jax.block_until_ready`, `torch.cuda.synchronize` ...).
    warmup: calls before timing, the first of them timed alone (at least one is made).
    iters: calls per repeat, synchronized once at the end (asynchronous dispatch overlaps them).
    repeats: timed runs of `iters` calls.
  Returns:
    (seconds of the first call, median over the repeats of the seconds per call).
  """
  t0 = time.perf_counter()
  sync(fn())
  first = time.perf_counter() - t0
  out = None
  for _ in range(max(warmup - 1, 0)):
    out = fn()
  if warmup > 1:
    sync(out)
  per_call = []
  for _ in range(max(repeats, 1)):
    t0 = time.perf_counter()
    for _ in range(max(iters, 1)):
      out = fn()
    sync(out)
    per_call.append((time.perf_counter() - t0) / max(iters, 1))
  return first, statistics.median(per_call)


def time_step(step: Callable[[Any, Any], tuple[Any, Any]], state: Any, batch: Any, *, warmup: int = 1, iters: int = 1,
              repeats: int = 1) -> tuple[float, float, Any]:
  """Times a train step, `state, metrics = step(state, batch)`, each call on the state the previous one returned
  (so the step may donate it); synchronized on the metrics with `jax.block_until_ready`.

  Returns:
    (seconds of the first call, median seconds per call, the last state).
  """
  import jax  # pylint: disable=import-outside-toplevel  (time_calls serves PyTorch code too)
  holder = {"state": state}
  del state  # the step may donate it: only `holder` refers to the current state

  def call():
    holder["state"], metrics = step(holder["state"], batch)
    return metrics

  first, per_call = time_calls(call, jax.block_until_ready, warmup=warmup, iters=iters, repeats=repeats)
  return first, per_call, holder["state"]


def sweep(measures: list[Callable[[], dict[str, Any]]], table: Callable[[list[dict[str, Any]]], str],
          report: Callable[[list[dict[str, Any]]], dict[str, Any]], out: str | None) -> dict[str, Any]:
  """Runs each measurement in turn, printing its table row as it comes and rewriting `out` (JSON of `report`)
  after each one, so a run stopped by a time limit keeps what it measured; then prints the whole table.

  Returns:
    `report(results)` of all the measurements.
  """
  results: list[dict[str, Any]] = []
  for measure in measures:
    results.append(measure())
    print(table(results[-1:]).splitlines()[-1], flush=True)
    if out:
      with open(out, "w") as f:
        json.dump(report(results), f, indent=1)
  print()
  print(table(results))
  return report(results)
