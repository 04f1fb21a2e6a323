"""benchmarks.timing: the first call timed apart, warm-up calls untimed, the median per call over the repeats."""

import types

from benchmarks import timing


def test_time_calls_on_a_scripted_clock(monkeypatch):
  """The device is asynchronous here, as on a GPU: a call returns at once and its work is done when `sync` waits
  for it. Timings are right only if each clock reading comes after the sync that ends the work it times."""
  clock = {"now": 0.0, "pending": 0.0}
  monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: clock["now"]))
  # Seconds of device work of each call: the first (compiling) 5, two more warm-up calls, then 3 repeats of 2 calls.
  durations = iter([5.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 10.0, 10.0])
  calls, syncs = [], []

  def fn():
    clock["pending"] += next(durations)  # queued, not done
    calls.append(len(calls) + 1)
    return len(calls)

  def sync(out):
    clock["now"] += clock["pending"]  # waits for everything queued
    clock["pending"] = 0.0
    syncs.append(out)

  first, per_call = timing.time_calls(fn, sync, warmup=3, iters=2, repeats=3)
  assert first == 5.0 and per_call == 2.0  # the repeats ran 1, 2 and 10 s per call
  assert len(calls) == 9 and syncs == [1, 3, 5, 7, 9]  # each sync waits for the last call before it

  durations = iter([3.0, 4.0])
  calls.clear()
  assert timing.time_calls(fn, sync, warmup=0, iters=0, repeats=0) == (3.0, 4.0)  # at least one of each
  assert len(calls) == 2


def test_train_step_ratios_compare_like_with_like():
  """vs-PyTorch ratios: not for a torch.compile row that ran its penalty pass eager (or, in older results, the
  whole critic), and none when JAX ran on several devices while PyTorch ran on one."""
  from benchmarks import train_step  # pylint: disable=import-outside-toplevel
  results = [{"config": "c", "impl": "jax", "mode": "jit", "ms_per_step": 2.0},
             {"config": "c", "impl": "torch_eager", "ms_per_step": 6.0, "note": ""},
             {"config": "c", "impl": "torch_compile", "ms_per_step": 5.0,
              "note": f"{train_step.PENALTY_EAGER}: torch.compile failed on the double backward (X)"},
             {"config": "c", "impl": "torch_compile", "ms_per_step": 5.0,
              "note": "critic eager: torch.compile failed on the double backward (RuntimeError)"},
             {"config": "d", "impl": "jax", "mode": "jit", "ms_per_step": 1.0},
             {"config": "d", "impl": "torch_compile", "ms_per_step": 4.0, "note": ""},
             {"config": "e", "impl": "torch_eager", "error": "boom"}]
  assert train_step._ratios(results) == {"c": {"torch_eager/jax": 3.0}, "d": {"torch_compile/jax": 4.0}}
  mesh = [dict(r, mode="mesh") if r["impl"] == "jax" else r for r in results]
  assert train_step._ratios(mesh, num_devices=2) == {}
  assert train_step._ratios(mesh, num_devices=1) == train_step._ratios(results)


def test_time_step_feeds_each_call_the_state_the_last_one_returned():
  seen = []

  def step(state, batch):
    seen.append(state)
    return state + batch, {"loss": float(state)}

  first, per_call, last = timing.time_step(step, 0, 2, warmup=2, iters=3, repeats=2)
  assert seen == [0, 2, 4, 6, 8, 10, 12, 14] and last == 16  # 2 warm-up calls, then 2 x 3 timed ones
  assert first >= 0.0 and per_call >= 0.0
