"""benchmarks.timing: the first call timed apart, warm-up calls untimed, the median per call over the repeats."""

import types

from benchmarks import timing


def test_time_calls_on_a_scripted_clock(monkeypatch):
  clock = {"now": 0.0}
  monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: clock["now"]))
  # Seconds each call takes: the first (compiling) 5, two more warm-up calls, then 3 repeats of 2 calls.
  durations = iter([5.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 10.0, 10.0])
  calls, syncs = [], []

  def fn():
    clock["now"] += next(durations)
    calls.append(clock["now"])
    return len(calls)

  first, per_call = timing.time_calls(fn, syncs.append, warmup=3, iters=2, repeats=3)
  assert first == 5.0 and per_call == 2.0  # the repeats ran 1, 2 and 10 s per call
  assert len(calls) == 9 and syncs == [1, 3, 5, 7, 9]  # each sync waits for the last call before it

  durations = iter([3.0, 4.0])
  calls.clear()
  assert timing.time_calls(fn, lambda _: None, warmup=0, iters=0, repeats=0) == (3.0, 4.0)  # at least one of each
  assert len(calls) == 2


def test_time_step_feeds_each_call_the_state_the_last_one_returned():
  seen = []

  def step(state, batch):
    seen.append(state)
    return state + batch, {"loss": float(state)}

  first, per_call, last = timing.time_step(step, 0, 2, warmup=2, iters=3, repeats=2)
  assert seen == [0, 2, 4, 6, 8, 10, 12, 14] and last == 16  # 2 warm-up calls, then 2 x 3 timed ones
  assert first >= 0.0 and per_call >= 0.0
