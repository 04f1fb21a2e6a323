"""Tests of jaxgan.data.pipeline: order, flips, remainder, per-process slices, state/restore, device batches."""

import time

import chex
import jax
import numpy as np
import pytest

from jaxgan.data import arrays
from jaxgan.data.pipeline import Pipeline

N, H, W, C = 23, 4, 5, 3


def _images(num: int = N) -> np.ndarray:
  """Image i has value (i + column) % 256 so that index and flips can be read back."""
  columns = np.arange(W)[None, None, :, None]
  return ((np.arange(num)[:, None, None, None] * 7 + columns * 11 + np.zeros((1, H, 1, C))) % 256).astype(np.uint8)


def _labels(num: int = N) -> np.ndarray:
  return np.arange(num, dtype=np.int32)  # label = dataset index


def _epoch_labels(data: Pipeline, epoch: int) -> np.ndarray:
  return np.concatenate([data.host_batch(epoch, s)["label"] for s in range(data.steps_per_epoch)])


def test_batches_are_deterministic_and_each_epoch_a_permutation_without_remainder():
  a = Pipeline(_images(), _labels(), 5, seed=3, prefetch=0)
  b = Pipeline(_images(), _labels(), 5, seed=3, prefetch=0)
  assert a.steps_per_epoch == 4  # 23 // 5, the last 3 examples of each epoch are dropped
  for epoch in range(3):
    got = _epoch_labels(a, epoch)
    np.testing.assert_array_equal(got, _epoch_labels(b, epoch))
    assert len(got) == 20 and len(set(got.tolist())) == 20
    expected = np.random.default_rng([0, 3, epoch]).permutation(N)[:20]
    np.testing.assert_array_equal(got, expected)
  assert not np.array_equal(_epoch_labels(a, 0), _epoch_labels(a, 1))
  other = Pipeline(_images(), _labels(), 5, seed=4, prefetch=0)
  assert not np.array_equal(_epoch_labels(a, 0), _epoch_labels(other, 0))


def test_no_shuffle_keeps_the_dataset_order():
  data = Pipeline(_images(), _labels(), 5, seed=0, shuffle=False, prefetch=0)
  np.testing.assert_array_equal(_epoch_labels(data, 2), np.arange(20))
  np.testing.assert_array_equal(data.host_batch(0, 1)["image"], _images()[5:10])


def test_flip_mirrors_about_half_the_images_deterministically():
  images = _images()
  data = Pipeline(images, _labels(), 5, seed=1, flip=True, prefetch=0)
  flipped = []
  for epoch in range(4):
    for step in range(data.steps_per_epoch):
      batch = data.host_batch(epoch, step)
      again = data.host_batch(epoch, step)
      np.testing.assert_array_equal(batch["image"], again["image"])
      for image, label in zip(batch["image"], batch["label"]):
        original = images[label]
        if np.array_equal(image, original):
          flipped.append(False)
        else:
          np.testing.assert_array_equal(image, original[:, ::-1])
          flipped.append(True)
  assert 0.3 < np.mean(flipped) < 0.7
  no_flip = Pipeline(images, _labels(), 5, seed=1, prefetch=0)
  batch = no_flip.host_batch(0, 0)
  np.testing.assert_array_equal(batch["image"], images[batch["label"]])


def test_processes_get_disjoint_slices_that_cover_the_global_batch():
  batch_size, num_processes = 6, 3
  single = Pipeline(_images(), _labels(), batch_size, seed=2, flip=True, prefetch=0, process_index=0,
                    process_count=1)
  parts = [Pipeline(_images(), _labels(), batch_size, seed=2, flip=True, prefetch=0, process_index=p,
                    process_count=num_processes) for p in range(num_processes)]
  assert parts[0].local_batch_size == 2
  for epoch, step in [(0, 0), (0, 2), (1, 1)]:
    pieces = [p.host_batch(epoch, step) for p in parts]
    labels = [set(piece["label"].tolist()) for piece in pieces]
    assert all(not (labels[i] & labels[j]) for i in range(3) for j in range(i + 1, 3))
    whole = single.host_batch(epoch, step)
    np.testing.assert_array_equal(np.concatenate([p["label"] for p in pieces]), whole["label"])
    np.testing.assert_array_equal(np.concatenate([p["image"] for p in pieces]), whole["image"])


@pytest.mark.parametrize("prefetch", [0, 2])
def test_restore_yields_the_batches_of_an_uninterrupted_run(prefetch):
  kwargs = dict(seed=5, flip=True, prefetch=prefetch)
  reference = Pipeline(_images(), _labels(), 4, **kwargs)  # 5 steps per epoch
  expected = [jax.device_get(next(reference)) for _ in range(12)]
  reference.close()

  first = Pipeline(_images(), _labels(), 4, **kwargs)
  for _ in range(7):
    next(first)
  saved = first.state()
  assert saved == {"epoch": 1, "step": 2, "seed": 5, "batch_size": 4, "num_examples": N}
  first.close()

  resumed = Pipeline(_images(), _labels(), 4, **kwargs)
  next(resumed)  # a fresh pipeline that already ran ahead must still jump back correctly
  resumed.restore({k: np.asarray(v) for k, v in saved.items()})  # as restored from a checkpoint
  for want in expected[7:]:
    chex.assert_trees_all_equal(jax.device_get(next(resumed)), want)
  resumed.close()


def test_device_batches_are_float_in_range_and_match_the_host_batch():
  data = Pipeline(_images(), _labels(), 4, seed=0, flip=True)
  batch = next(data)
  data.close()
  host = data.host_batch(0, 0)
  chex.assert_shape(batch["image"], (4, H, W, C))
  assert batch["image"].dtype == np.float32 and batch["label"].dtype == np.int32
  np.testing.assert_allclose(np.asarray(batch["image"]), arrays.to_float(host["image"]), atol=1e-6)
  np.testing.assert_array_equal(np.asarray(batch["label"]), host["label"])
  assert batch["image"].devices() == {jax.local_devices()[0]}


def test_place_receives_the_uint8_host_batch_in_the_prefetch_thread():
  seen = []

  def place(host):
    seen.append({k: v.copy() for k, v in host.items()})
    return {"image": host["image"].astype(np.float32), "label": host["label"]}

  data = Pipeline(_images(), _labels(), 4, seed=3, flip=True, place=place)
  batches = [next(data) for _ in range(3)]
  data.close()
  for step, batch in enumerate(batches):
    host = data.host_batch(0, step)
    assert seen[step]["image"].dtype == np.uint8
    np.testing.assert_array_equal(seen[step]["image"], host["image"])
    np.testing.assert_array_equal(batch["image"], host["image"].astype(np.float32))
  with pytest.raises(ValueError, match="`place` or `sharding`/`device`"):
    Pipeline(_images(), None, 4, seed=0, place=place, device=jax.local_devices()[0])


def test_unlabeled_sharded_batches_and_num_epochs():
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  images = _images()
  data = Pipeline(images, None, 10, seed=0, shuffle=False, sharding=sharding, num_epochs=2)
  batches = list(data)
  assert len(batches) == 4 and all(set(b) == {"image"} for b in batches)
  assert batches[0]["image"].sharding == sharding
  np.testing.assert_allclose(np.asarray(batches[3]["image"]), arrays.to_float(images[10:20]), atol=1e-6)


def test_float_images_are_accepted_and_quantized():
  images = arrays.to_float(_images())
  data = Pipeline(images, None, 5, seed=0, shuffle=False, prefetch=0)
  np.testing.assert_array_equal(data.host_batch(0, 0)["image"], _images()[:5])


@pytest.mark.parametrize("kwargs, match", [
  (dict(batch_size=24), r"batch_size=24 must be in \[1, 23\]"),
  (dict(batch_size=6, process_count=4, process_index=0), "divisible by process_count=4"),
  (dict(batch_size=4, process_count=2, process_index=2), "process_index=2"),
  (dict(batch_size=4, seed=-1), "seed must be a non-negative int"),
])
def test_bad_arguments(kwargs, match):
  kwargs = {"seed": 0, **kwargs}
  batch_size = kwargs.pop("batch_size")
  with pytest.raises(ValueError, match=match):
    Pipeline(_images(), _labels(), batch_size, **kwargs)


def test_bad_labels_and_states():
  with pytest.raises(ValueError, match="22 labels for 23 images"):
    Pipeline(_images(), _labels()[:-1], 4, seed=0)
  data = Pipeline(_images(), _labels(), 4, seed=0, prefetch=0)
  with pytest.raises(ValueError, match="seed=1"):
    data.restore({"epoch": 0, "step": 0, "seed": 1})
  with pytest.raises(ValueError, match="invalid pipeline state"):
    data.restore({"epoch": 0, "step": 5})


def test_errors_in_the_prefetch_thread_reach_the_caller():
  # The producer's own error, not "RuntimeError: the prefetch thread stopped without a batch or an error", which is
  # what the caller would get if the thread swallowed it.
  data = Pipeline(_images(), _labels(), 4, seed=0, device="not a device")
  with pytest.raises(ValueError, match=r"jax\.device_put.*Received invalid value: not a device"):
    next(data)


class _PlaceError(Exception):
  pass


@pytest.mark.parametrize("prefetch", [0, 2])
def test_an_error_in_place_reaches_the_caller_unchanged(prefetch):
  def place(host):
    raise _PlaceError(f"cannot place a batch of {len(host['image'])}")

  data = Pipeline(_images(), _labels(), 4, seed=0, prefetch=prefetch, place=place)
  with pytest.raises(_PlaceError, match=r"^cannot place a batch of 4$"):
    next(data)
  assert data._thread is None  # pylint: disable=protected-access  # stopped by the failure
  assert data.state()["step"] == 0  # the failed batch is not skipped


def test_float_images_in_zero_one_are_refused_not_brightened():
  unit = _images() / 255.0
  with pytest.raises(ValueError, match=r"float images lie in \[0, 0\.7765\], which looks like \[0, 1\] \(x / 255\)"
                     r".*pass 2 \* x - 1, or uint8 images in \[0, 255\]"):
    Pipeline(unit, _labels(), 4, seed=0, prefetch=0)
  data = Pipeline(2 * unit - 1, _labels(), 4, seed=0, shuffle=False, prefetch=0)  # what the message asks for
  np.testing.assert_array_equal(data.host_batch(0, 0)["image"], _images()[:4])


_SHARDED_SCRIPT = """
import jax, numpy as np
from jaxgan.data import arrays
from jaxgan.data.pipeline import Pipeline
assert jax.device_count() == 4, jax.devices()
mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
images = np.random.default_rng(0).integers(0, 256, (20, 2, 3, 1), dtype=np.uint8)
data = Pipeline(images, np.arange(20), 8, seed=1, flip=True, sharding=sharding)
batch = next(data)
data.close()
host = data.host_batch(0, 0)
assert batch["image"].sharding == sharding and batch["image"].shape == (8, 2, 3, 1)
assert len(batch["image"].addressable_shards) == 4
assert batch["label"].sharding.spec == jax.sharding.PartitionSpec("data")
np.testing.assert_allclose(np.asarray(batch["image"]), arrays.to_float(host["image"]), atol=1e-6)
np.testing.assert_array_equal(np.asarray(batch["label"]), host["label"])
print("OK")
"""


def test_batches_sharded_over_four_cpu_devices():
  import os
  import subprocess
  import sys
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
  result = subprocess.run([sys.executable, "-c", _SHARDED_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
  assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-2000:]


def test_batch_size_must_be_a_positive_int():
  for bad in (2.5, "4", True, None):
    with pytest.raises(ValueError, match=r"batch_size must be a positive int \(the global batch size\), got"):
      Pipeline(_images(), _labels(), bad, seed=0)
  assert Pipeline(_images(), _labels(), np.int64(4), seed=0, prefetch=0).batch_size == 4


@pytest.mark.parametrize("state", [{"foo": 1}, {"epoch": 0}, [0, 1], {"epoch": "x", "step": 0}])
def test_restore_of_something_else_than_a_position_says_so(state):
  data = Pipeline(_images(), _labels(), 4, seed=0, prefetch=0)
  with pytest.raises(ValueError, match="not a Pipeline position"):
    data.restore(state)


def test_close_is_idempotent_and_unregisters_the_exit_hook():
  data = Pipeline(_images(), _labels(), 4, seed=0)
  next(data)
  assert data._at_exit is not None  # pylint: disable=protected-access
  data.close()
  data.close()
  assert data._at_exit is None  # pylint: disable=protected-access
  assert int(next(data)["label"].shape[0]) == 4  # restarts the prefetcher
  data.close()


_UNCLOSED_SCRIPT = """
import numpy as np
from jaxgan.data.pipeline import Pipeline
# A queue that never fills keeps the thread placing batches on the device while the interpreter exits.
data = Pipeline(np.zeros((256, 16, 16, 3), np.uint8), None, 4, seed=0, flip=True, prefetch=100000)
next(data)
next(data)
"""


def test_an_unclosed_pipeline_exits_cleanly():
  """The prefetch thread must be stopped before the runtime shuts down; it used to abort about half the exits (134)."""
  import subprocess
  import sys
  runs = [subprocess.Popen([sys.executable, "-c", _UNCLOSED_SCRIPT], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True) for _ in range(6)]
  results = [(run.wait(timeout=60), run.stderr.read()) for run in runs]
  for run in runs:
    run.stderr.close()
  assert [code for code, _ in results] == [0] * 6, [err[-500:] for code, err in results if code]


@pytest.mark.parametrize("process_count", [1, 2])
def test_flips_follow_the_position_in_the_epoch_as_documented(process_count):
  """The flip of the example at position i of an epoch's order is `default_rng([1, seed, epoch]).random(N)[i] < 0.5`
  (the module's docstring): flips go with the position in the epoch, not with the dataset index of the image."""
  images, seed, batch_size = _images(), 7, 6
  parts = [Pipeline(images, _labels(), batch_size, seed=seed, flip=True, prefetch=0, process_index=p,
                    process_count=process_count) for p in range(process_count)]
  local = batch_size // process_count
  for epoch in range(3):
    order = np.random.default_rng([0, seed, epoch]).permutation(N)
    flips = np.random.default_rng([1, seed, epoch]).random(N) < 0.5
    assert not np.array_equal(flips[order[:18]], flips[:18])  # by index and by position differ here
    for step in range(N // batch_size):
      for p, data in enumerate(parts):
        positions = step * batch_size + p * local + np.arange(local)
        want = np.stack([images[order[i]][:, ::-1] if flips[i] else images[order[i]] for i in positions])
        batch = data.host_batch(epoch, step)
        np.testing.assert_array_equal(batch["label"], order[positions])
        np.testing.assert_array_equal(batch["image"], want)


@pytest.mark.parametrize("key, other", [("seed", 1), ("batch_size", 5), ("num_examples", N - 1)])
def test_restore_refuses_a_state_of_other_settings(key, other):
  data = Pipeline(_images(), _labels(), 4, seed=0, prefetch=0)
  state = {**data.state(), key: other}
  with pytest.raises(ValueError, match=rf"cannot restore a pipeline state with {key}={other} into one with "
                                       rf"{key}={data.state()[key]}"):
    data.restore(state)
  data.restore({**state, key: data.state()[key]})  # the same settings restore


@pytest.mark.parametrize("prefetch", [1, 3])
def test_the_prefetcher_runs_a_bounded_number_of_batches_ahead(prefetch):
  """A queue of `prefetch` batches: after the first batch is taken, the thread prepares `prefetch` more (plus, at
  most, the one it waits to enqueue) and then waits."""
  calls = []

  def place(host):
    calls.append(1)
    return host

  data = Pipeline(_images(), _labels(), 2, seed=0, prefetch=prefetch, place=place)
  first = next(data)
  deadline = time.monotonic() + 10.0
  while len(calls) < 1 + prefetch and time.monotonic() < deadline:
    time.sleep(0.01)
  time.sleep(0.3)  # room to run further ahead, were the queue not bounded
  ahead = len(calls) - 1
  data.close()
  assert prefetch <= ahead <= prefetch + 1, (prefetch, ahead)
  np.testing.assert_array_equal(first["label"], data.host_batch(0, 0)["label"])


def test_subset_indices_first_and_evenly_spaced():
  """"even": index floor(i * num / limit) for i < limit, spread over the whole range; limit is capped at num."""
  np.testing.assert_array_equal(arrays.subset_indices(10, 4, "first"), [0, 1, 2, 3])
  np.testing.assert_array_equal(arrays.subset_indices(10, 4, "even"), [0, 2, 5, 7])  # 0, 2.5, 5, 7.5 floored
  np.testing.assert_array_equal(arrays.subset_indices(7, 3, "even"), [0, 2, 4])  # 0, 2.33, 4.67
  np.testing.assert_array_equal(arrays.subset_indices(9, 1, "even"), [0])
  for subset in ("first", "even"):
    np.testing.assert_array_equal(arrays.subset_indices(5, 10, subset), np.arange(5))
    np.testing.assert_array_equal(arrays.subset_indices(5, 5, subset), np.arange(5))
  with pytest.raises(ValueError, match="limit must be >= 1"):
    arrays.subset_indices(5, 0)
