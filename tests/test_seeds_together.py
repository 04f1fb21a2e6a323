"""benchmarks.seeds_together: the speed-up formula, the JSON it writes, refusals before any compute."""

import json

import pytest

from benchmarks import seeds_together


def test_speedup_is_n_runs_alone_over_one_run_together():
  results = [{"row": "a", "seeds": 1, "ms_per_call": 2.0}, {"row": "a", "seeds": 3, "ms_per_call": 3.0},
             {"row": "b", "seeds": 2, "ms_per_call": 5.0}]
  out = seeds_together.with_speedups(results)
  assert [r["speedup"] for r in out] == [1.0, 2.0, None]  # 3 x 2 ms alone = 6 ms vs 3 ms; b has no n = 1 time


def test_smoke_measures_and_writes_json(tmp_path):
  path = tmp_path / "seeds.json"
  report = seeds_together.main(["--rows", "mnist_ns", "--seeds", "1,2", "--smoke", "--out", str(path)])
  assert json.loads(path.read_text()) == json.loads(json.dumps(report))
  one, two = report["results"]
  assert (one["seeds"], two["seeds"]) == (1, 2) and one["speedup"] == 1.0
  assert two["ms_per_seed_step"] == pytest.approx(two["ms_per_call"] / 2)
  assert two["speedup"] == pytest.approx(2 * one["ms_per_call"] / two["ms_per_call"])
  assert two["seed_steps_per_s"] == pytest.approx(2e3 / two["ms_per_call"])


def test_bad_arguments_are_refused():
  with pytest.raises(SystemExit, match="unknown row 'nope'"):
    seeds_together.main(["--rows", "nope"])
  with pytest.raises(SystemExit, match="positive seed counts"):
    seeds_together.main(["--rows", "mnist_ns", "--seeds", "0,2"])
