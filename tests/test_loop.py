"""Host loop and checkpoints: resume equals uninterrupted, NaN stops, mismatches refused."""

import json
import os
import re
import shutil
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from _ring_stream import RingStream
from _run_files import read_jsonl
from jaxgan import losses as L
from jaxgan.nets.mlp import MLPDiscriminator, TinyMLPDiscriminator, TinyMLPGenerator
from jaxgan.train import StepConfig, init_state, loop, make_train_step, multistep
from jaxgan.train import hooks as hooks_lib
from jaxgan.train.checkpoint import CheckpointMismatchError, CheckpointReadError, Checkpointer
from jaxgan.train.loop import LoopConfig, NonFiniteError, train

CFG = StepConfig(latent_dim=2, d_steps=2, ema_decay=0.9)
LOSS = L.chain(L.non_saturating(), L.every(3, L.r1(1.0)))
TX = optax.adam(1e-2)
G, D = TinyMLPGenerator(), TinyMLPDiscriminator()


@pytest.fixture(scope="module")
def compiled():
  return jax.jit(make_train_step(G, D, LOSS, TX, TX, CFG))


def _fresh():
  example = {"image": jnp.zeros((16, 2))}
  return init_state(jax.random.PRNGKey(0), G, D, LOSS, TX, TX, CFG, example)


def _stream():
  return RingStream(16)


def _leaves_equal(a, b):
  la, lb = jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b))
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    if jnp.issubdtype(getattr(x, "dtype", np.float32), jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_resume_equals_uninterrupted(compiled, tmp_path):
  config = {"name": "resume-test"}
  full, full_records = train(compiled, _fresh(), _stream(), LoopConfig(num_steps=6, log_every=2,
                             checkpoint_every=3), workdir=tmp_path / "full", config=config)
  # "Killed" after step 3, then a new run in the same workdir resumes from the checkpoint.
  data = _stream()
  train(compiled, _fresh(), data, LoopConfig(num_steps=3, log_every=3, checkpoint_every=3),
        workdir=tmp_path / "resumed", config=config, data=data)
  data = _stream()  # a new process: the data position comes back from the checkpoint
  resumed, _ = train(compiled, _fresh(), data, LoopConfig(num_steps=6, log_every=2,
                     checkpoint_every=3), workdir=tmp_path / "resumed", config=config, data=data)
  assert data.state() == {"position": 6}
  assert int(resumed.step) == 6
  _leaves_equal(full, resumed)  # bitwise, loss state, EMA and key included
  lines = read_jsonl(tmp_path / "full" / "metrics.jsonl")
  assert [l["step"] for l in lines] == [2, 4, 6] and lines == full_records
  assert Checkpointer(tmp_path / "full" / "checkpoints").all_steps() == [3, 6]


def test_deadline_stops_at_a_log_step_and_resumes_as_the_full_run(compiled, tmp_path):
  config = {"name": "time-box"}
  full, _ = train(compiled, _fresh(), _stream(), LoopConfig(num_steps=7, log_every=3, checkpoint_every=0),
                  workdir=tmp_path / "full", config=config)
  data = _stream()
  # A deadline already passed: the first step ends the run as num_steps would (logged, checkpointed).
  boxed, records = train(compiled, _fresh(), data, LoopConfig(num_steps=7, log_every=3, checkpoint_every=0,
                         deadline=0.0), workdir=tmp_path / "boxed", config=config, data=data)
  assert int(boxed.step) == 1 and [r["step"] for r in records] == [1] and data.state() == {"position": 1}
  assert Checkpointer(tmp_path / "boxed" / "checkpoints").all_steps() == [1]
  data = _stream()  # resumed without a deadline: the rest of the same run
  resumed, _ = train(compiled, _fresh(), data, LoopConfig(num_steps=7, log_every=3, checkpoint_every=0),
                     workdir=tmp_path / "boxed", config=config, data=data)
  assert int(resumed.step) == 7
  _leaves_equal(full, resumed)
  # A deadline far ahead changes nothing.
  later, _ = train(compiled, _fresh(), _stream(), LoopConfig(num_steps=7, log_every=3, checkpoint_every=0,
                   deadline=time.time() + 3600))
  _leaves_equal(full, later)


class _Steps(NamedTuple):
  step: jax.Array


def test_with_a_deadline_the_host_waits_for_the_step_before_the_last(monkeypatch):
  """Dispatch is asynchronous: a host loop that only read its clock could queue a whole log period of steps before
  the first ran, and a time box would overshoot by their run time. With a deadline, after dispatching step k the
  loop waits for step k - 1 (one step stays in flight); without one it never waits between log steps."""
  waited = []
  monkeypatch.setattr(jax, "block_until_ready", lambda tree: waited.append(int(tree["d_loss"])) or tree)

  def step_fn(state, batch):
    return _Steps(state.step + 1), {"d_loss": (state.step + 1).astype(jnp.float32)}

  for deadline, expected in ((time.time() + 3600, [1, 2, 3, 4]), (None, [])):
    waited.clear()
    state, _ = train(step_fn, _Steps(jnp.int32(0)), _stream(), LoopConfig(num_steps=5, log_every=1000,
                     checkpoint_every=0, deadline=deadline))
    assert int(state.step) == 5 and waited == expected


def test_nan_stops_and_keeps_last_good_checkpoint(compiled, tmp_path):
  class PoisonAt:
    def __init__(self, inner, bad_step):
      self.inner, self.i, self.bad = inner, 0, bad_step
    def __iter__(self):
      return self
    def __next__(self):
      self.i += 1
      b = next(self.inner)
      if self.i >= self.bad:
        b["image"] = b["image"].copy()
        b["image"][0, 0] = np.nan
      return b
  with pytest.raises(NonFiniteError, match="step 5: the input batch contains NaN"):
    train(compiled, _fresh(), PoisonAt(_stream(), 5), LoopConfig(num_steps=8, log_every=4,
          checkpoint_every=2), workdir=tmp_path)
  assert Checkpointer(tmp_path / "checkpoints").all_steps() == [2, 4]


def test_nan_loss_names_step(tmp_path):
  # A huge D learning rate makes the parameters overflow: the loss turns non-finite.
  tx = optax.sgd(1e38)
  step = jax.jit(make_train_step(G, D, LOSS, tx, tx, CFG))
  state = init_state(jax.random.PRNGKey(0), G, D, LOSS, tx, tx, CFG, {"image": jnp.zeros((16, 2))})
  # The first bad step, found by stepping by hand on the same batches (1-based, as the loop counts).
  s, stream, first_bad = state, _stream(), None
  for i in range(1, 7):
    s, m = step(s, next(stream))
    if not (float(m["loss_finite"]) > 0 and all(np.isfinite(float(v)) for k, v in m.items() if k.endswith("loss"))):
      first_bad = i
      break
  assert first_bad is not None
  with pytest.raises(NonFiniteError, match=rf"^step {first_bad}: non-finite"):
    train(step, state, _stream(), LoopConfig(num_steps=6, log_every=6, checkpoint_every=0),
          workdir=tmp_path)
  assert Checkpointer(tmp_path / "checkpoints").all_steps() == []  # nothing saved from the diverged run


def test_checkpoint_from_other_configuration_is_refused(compiled, tmp_path):
  train(compiled, _fresh(), _stream(), LoopConfig(num_steps=1, log_every=1, checkpoint_every=1),
        workdir=tmp_path, config={"a": 1})
  with pytest.raises(CheckpointMismatchError, match="different configuration"):
    Checkpointer(tmp_path / "checkpoints", config={"a": 2}).restore(_fresh())
  bigger_d = MLPDiscriminator(hidden=(16,), maxout_pieces=2)
  other = init_state(jax.random.PRNGKey(0), G, bigger_d, LOSS, TX, TX, CFG,
                     {"image": jnp.zeros((16, 2))})
  with pytest.raises(CheckpointMismatchError, match="model configuration changed"):
    Checkpointer(tmp_path / "checkpoints").restore(other)
  with pytest.raises(FileNotFoundError, match="no checkpoint"):
    Checkpointer(tmp_path / "empty").restore(other)


def _damage(ckpts, step):
  """Cuts the files of checkpoint `step`'s arrays to half their size (a full disk, a copy cut short)."""
  cut = 0
  for root, _, files in os.walk(ckpts / str(step) / "state"):
    for name in files:
      path = os.path.join(root, name)
      if os.path.getsize(path) > 64:
        with open(path, "r+b") as f:
          f.truncate(os.path.getsize(path) // 2)
        cut += 1
  assert cut


def test_damaged_checkpoint_says_which_and_what_to_do(compiled, tmp_path):
  """Files of the latest checkpoint cut short (a full disk): one error naming it and the earlier checkpoint to
  resume from; once it is deleted, that one restores. A lone damaged checkpoint points to --no-resume."""
  train(compiled, _fresh(), _stream(), LoopConfig(num_steps=4, log_every=2, checkpoint_every=2),
        workdir=tmp_path)
  ckpts = tmp_path / "checkpoints"
  assert Checkpointer(ckpts).all_steps() == [2, 4]
  want, _ = Checkpointer(ckpts).restore(_fresh(), step=2)

  _damage(ckpts, 4)
  with pytest.raises(CheckpointReadError, match=rf"checkpoint 4 in .* cannot be read .*damaged.*delete "
                                                rf"{re.escape(str(ckpts / '4'))} to resume from checkpoint 2"):
    Checkpointer(ckpts).restore(_fresh())
  shutil.rmtree(ckpts / "4")
  got, _ = Checkpointer(ckpts).restore(_fresh())
  assert int(got.step) == 2
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(got.g_params), jax.device_get(want.g_params))
  _damage(ckpts, 2)
  with pytest.raises(CheckpointReadError, match="checkpoint 2 .* start over with --no-resume"):
    Checkpointer(ckpts).restore(_fresh())


def _scripted_step(metrics_of):
  """A step without a model: state.step + 1, and the metrics `metrics_of(s)` of the step s (1-based) just taken."""
  def step_fn(state, batch):
    del batch
    return _Steps(state.step + 1), metrics_of(int(state.step) + 1)
  return step_fn


def test_records_are_the_means_since_the_previous_record_per_seed():
  """Each record holds the mean over the steps since the previous record (checkpoint fetches in between do not cut
  the window), per seed for a metric with a seed axis."""
  step_fn = _scripted_step(lambda s: {"d_loss": np.array([s, 10.0 * s], np.float32), "g_loss": np.float32(-s),
                                      "loss_finite": np.float32(1.0)})
  _, records = train(step_fn, _Steps(jnp.int32(0)), _stream(), LoopConfig(num_steps=7, log_every=3,
                     checkpoint_every=2))
  # Windows: steps 1-3, 4-6 and the last step 7 alone; the mean of s over 1..3 is 2, over 4..6 is 5.
  assert [r["step"] for r in records] == [3, 6, 7]
  for record, mean in zip(records, (2.0, 5.0, 7.0)):
    np.testing.assert_allclose(record["d_loss"], [mean, 10.0 * mean])
    assert record["g_loss"] == pytest.approx(-mean) and record["loss_finite"] == 1.0


def test_finiteness_flags_are_combined_by_their_minimum():
  """Means over the steps, but a finiteness flag is the minimum: one bad step (or seed) makes the window bad."""
  means = loop._mean_metrics([  # pylint: disable=protected-access
      {"d_loss": 1.0, "loss_finite": 1.0, "batch_finite": np.array([1.0, 1.0])},
      {"d_loss": 4.0, "loss_finite": 0.0, "batch_finite": np.array([1.0, 0.0])},
      {"d_loss": 7.0, "loss_finite": 1.0, "batch_finite": np.array([1.0, 1.0])}])
  assert float(means["d_loss"]) == pytest.approx(4.0) and float(means["loss_finite"]) == 0.0
  np.testing.assert_array_equal(means["batch_finite"], [1.0, 0.0])


def test_a_non_finite_loss_stops_the_run_even_when_the_flag_says_finite():
  step_fn = _scripted_step(lambda s: {"d_loss": np.float32(1.0), "g_loss": np.float32(np.nan if s == 3 else 1.0),
                                      "loss_finite": np.float32(1.0)})
  with pytest.raises(NonFiniteError, match=r"^step 3: non-finite g_loss \(NaN/inf\)"):
    train(step_fn, _Steps(jnp.int32(0)), _stream(), LoopConfig(num_steps=6, log_every=4, checkpoint_every=0))


def test_a_fresh_start_replaces_the_log_of_a_run_that_saved_no_checkpoint(tmp_path):
  """A run killed before its first checkpoint leaves metrics.jsonl but nothing to resume: the new run starts at
  step 0 and its log replaces the old one instead of following it."""
  old = [{"step": s, "d_loss": 99.0} for s in (1, 2, 3)]
  (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
  step_fn = _scripted_step(lambda s: {"d_loss": np.float32(s)})
  _, records = train(step_fn, _Steps(jnp.int32(0)), _stream(), LoopConfig(num_steps=2, log_every=1,
                     checkpoint_every=0), workdir=tmp_path)
  lines = read_jsonl(tmp_path / "metrics.jsonl")
  assert [(l["step"], l["d_loss"]) for l in lines] == [(1, 1.0), (2, 2.0)] and lines == records


def test_a_damaged_checkpoint_names_the_latest_earlier_one_to_resume_from(tmp_path):
  ckpts = tmp_path / "checkpoints"
  checkpointer = Checkpointer(ckpts, max_to_keep=5)
  for step in (2, 4, 6):
    checkpointer.save(step, {"w": jnp.full((4096,), step, jnp.float32)})
  _damage(ckpts, 6)
  with pytest.raises(CheckpointReadError, match=rf"delete {re.escape(str(ckpts / '6'))} to resume from "
                                                rf"checkpoint 4$"):
    Checkpointer(ckpts).restore({"w": jnp.zeros((4096,), jnp.float32)})


def test_checkpoints_kept_and_restores_with_or_without_a_configuration(tmp_path):
  """`max_to_keep` most recent checkpoints stay. Only two known, different configurations are refused: a checkpoint
  restores into a Checkpointer given no configuration (e.g. to evaluate it), and one written without a
  configuration restores under any."""
  target = {"w": jnp.zeros((8,), jnp.float32)}
  with_config = Checkpointer(tmp_path / "a", max_to_keep=2, config={"lr": 1})
  for step in (1, 2, 3):
    with_config.save(step, {"w": jnp.full((8,), step, jnp.float32)})
  assert with_config.all_steps() == [2, 3]
  got, _ = Checkpointer(tmp_path / "a").restore(target)
  np.testing.assert_array_equal(got["w"], np.full(8, 3.0))
  Checkpointer(tmp_path / "b").save(5, {"w": jnp.ones((8,), jnp.float32)})
  got, _ = Checkpointer(tmp_path / "b", config={"lr": 1}).restore(target)
  np.testing.assert_array_equal(got["w"], np.ones(8))
  with pytest.raises(CheckpointMismatchError, match="different configuration"):
    Checkpointer(tmp_path / "a", config={"lr": 2}).restore(target)


# ---------------------------------------------------------------------------------------------- steps_per_call


@pytest.fixture(scope="module")
def multi_compiled():
  return jax.jit(multistep.multi_step(make_train_step(G, D, LOSS, TX, TX, CFG)))


def _stacked(n, inner=None):
  return multistep.StackedBatches(inner if inner is not None else _stream(), n)


def _without_rates(records):
  return [{k: v for k, v in r.items() if k != "steps_per_sec"} for r in records]


def test_steps_per_call_equals_one_step_per_call(compiled, multi_compiled, tmp_path):
  """Calls of 2 steps: the same state (bitwise: this MLP's loop body compiles to the step's arithmetic), the same
  records, checkpoints at the same steps holding the same data position; hooks see the call boundaries."""
  config = {"name": "steps-per-call"}
  one, one_records = train(compiled, _fresh(), _stream(), LoopConfig(num_steps=8, log_every=4, checkpoint_every=4),
                           workdir=tmp_path / "one", config=config)
  seen = []

  class Steps(hooks_lib.Hook):
    def after_step(self, step, state):
      seen.append((step, int(state.step)))

  data = _stacked(2)
  two, two_records = train(multi_compiled, _fresh(), data, LoopConfig(num_steps=8, log_every=4, checkpoint_every=4,
                           steps_per_call=2), workdir=tmp_path / "two", config=config, data=data, hooks=[Steps()])
  _leaves_equal(one, two)
  assert int(two.step) == 8 and data.state() == {"position": 8}
  assert _without_rates(two_records) == _without_rates(one_records) and [r["step"] for r in two_records] == [4, 8]
  assert seen == [(2, 2), (4, 4), (6, 6), (8, 8)]
  assert Checkpointer(tmp_path / "two" / "checkpoints").all_steps() == [4, 8]
  _, extra = Checkpointer(tmp_path / "two" / "checkpoints").restore(_fresh(), step=4)
  assert extra["data"] == {"position": 4}


def test_steps_per_call_resume_equals_uninterrupted(multi_compiled, tmp_path):
  config = {"name": "steps-per-call-resume"}
  data = _stacked(2)
  full, _ = train(multi_compiled, _fresh(), data, LoopConfig(num_steps=8, log_every=2, checkpoint_every=4,
                  steps_per_call=2), workdir=tmp_path / "full", config=config, data=data)
  data = _stacked(2)  # "killed" after step 4
  train(multi_compiled, _fresh(), data, LoopConfig(num_steps=4, log_every=2, checkpoint_every=4, steps_per_call=2),
        workdir=tmp_path / "resumed", config=config, data=data)
  data = _stacked(2)  # a new process: the position comes back from the checkpoint, at a call boundary
  resumed, _ = train(multi_compiled, _fresh(), data, LoopConfig(num_steps=8, log_every=2, checkpoint_every=4,
                     steps_per_call=2), workdir=tmp_path / "resumed", config=config, data=data)
  assert data.state() == {"position": 8} and int(resumed.step) == 8
  _leaves_equal(full, resumed)
  full_log, resumed_log = (read_jsonl(tmp_path / w / "metrics.jsonl") for w in ("full", "resumed"))
  assert [r["step"] for r in resumed_log] == [2, 4, 6, 8] and _without_rates(resumed_log) == _without_rates(full_log)


def test_nan_inside_a_call_names_its_step_and_keeps_the_checkpoint_before(multi_compiled, tmp_path):
  """A NaN batch at step 6, the second step of the call 5-8: the message names step 6 (not 5 or 8), and the latest
  checkpoint is step 4, the last one before that call."""
  class PoisonAt:
    def __init__(self, inner, bad_step):
      self.inner, self.i, self.bad = inner, 0, bad_step
    def __iter__(self):
      return self
    def __next__(self):
      self.i += 1
      b = next(self.inner)
      if self.i == self.bad:
        b["image"] = b["image"].copy()
        b["image"][0, 0] = np.nan
      return b
  with pytest.raises(NonFiniteError, match=r"^step 6: the input batch contains NaN"):
    train(multi_compiled, _fresh(), _stacked(4, PoisonAt(_stream(), 6)), LoopConfig(num_steps=16, log_every=8,
          checkpoint_every=4, steps_per_call=4), workdir=tmp_path)
  assert Checkpointer(tmp_path / "checkpoints").all_steps() == [4]


def _scripted_multi(metrics_of, n):
  """A multi-step without a model: state.step + n, and the stacked metrics `metrics_of(s)` of its steps s."""
  def multi(state, batches):
    del batches
    first = int(state.step) + 1
    per_step = [metrics_of(s) for s in range(first, first + n)]
    return _Steps(state.step + n), {k: np.stack([m[k] for m in per_step]) for k in per_step[0]}
  return multi


def test_a_non_finite_loss_inside_a_call_names_its_step():
  multi = _scripted_multi(lambda s: {"d_loss": np.float32(1.0), "g_loss": np.float32(np.inf if s >= 7 else 1.0),
                                     "loss_finite": np.float32(1.0)}, 4)
  with pytest.raises(NonFiniteError, match=r"^step 7: non-finite g_loss \(NaN/inf\)"):
    train(multi, _Steps(jnp.int32(0)), _stacked(4), LoopConfig(num_steps=12, log_every=12, checkpoint_every=0,
          steps_per_call=4))


def test_steps_per_call_records_are_means_of_the_steps():
  multi = _scripted_multi(lambda s: {"d_loss": np.array([s, 10.0 * s], np.float32), "loss_finite": np.float32(1)}, 3)
  _, records = train(multi, _Steps(jnp.int32(0)), _stacked(3), LoopConfig(num_steps=12, log_every=6,
                     checkpoint_every=3, steps_per_call=3))
  assert [r["step"] for r in records] == [6, 12]
  np.testing.assert_allclose(records[0]["d_loss"], [3.5, 35.0])  # mean of steps 1..6, per seed
  np.testing.assert_allclose(records[1]["d_loss"], [9.5, 95.0])


def test_steps_per_call_must_divide_the_step_counts():
  with pytest.raises(ValueError, match=r"^LoopConfig: steps_per_call=4 needs num_steps, log_every and "
                                       r"checkpoint_every \(when > 0\) that are multiples of 4 .*got num_steps=10, "
                                       r"log_every=6; set num_steps=8 or 12, log_every=4 or 8, or steps_per_call to "
                                       r"a common divisor of them \(1 always works\)$"):
    LoopConfig(num_steps=10, log_every=6, checkpoint_every=8, steps_per_call=4).check()
  with pytest.raises(ValueError, match=r"got checkpoint_every=2; set checkpoint_every=4,"):
    train(_scripted_multi(lambda s: {"d_loss": np.float32(s)}, 4), _Steps(jnp.int32(0)), _stacked(4),
          LoopConfig(num_steps=8, log_every=4, checkpoint_every=2, steps_per_call=4))
  LoopConfig(num_steps=8, log_every=4, checkpoint_every=0, steps_per_call=4).check()  # 0: only at the end
  for bad in (0, 2.0, True):
    with pytest.raises(ValueError, match=rf"LoopConfig.steps_per_call must be an int >= 1 .*got {bad!r}"):
      LoopConfig(num_steps=8, steps_per_call=bad).check()


def test_resuming_off_a_call_boundary_is_refused(compiled, multi_compiled, tmp_path):
  config = {"name": "misaligned"}
  train(compiled, _fresh(), _stream(), LoopConfig(num_steps=3, log_every=3, checkpoint_every=3),
        workdir=tmp_path, config=config)
  with pytest.raises(ValueError, match=r"starts at step 3 .* not a multiple of steps_per_call=2: .*resume with a "
                                       r"steps_per_call that divides 3 \(1 always works\)"):
    train(multi_compiled, _fresh(), _stacked(2), LoopConfig(num_steps=8, log_every=2, checkpoint_every=2,
          steps_per_call=2), workdir=tmp_path, config=config)


def test_steps_per_call_deadline_stops_at_a_call_boundary_and_resumes(multi_compiled, tmp_path):
  config = {"name": "time-box-calls"}
  full, _ = train(multi_compiled, _fresh(), _stacked(2), LoopConfig(num_steps=6, log_every=2, checkpoint_every=0,
                  steps_per_call=2), workdir=tmp_path / "full", config=config)
  data = _stacked(2)
  boxed, records = train(multi_compiled, _fresh(), data, LoopConfig(num_steps=6, log_every=2, checkpoint_every=0,
                         deadline=0.0, steps_per_call=2), workdir=tmp_path / "boxed", config=config, data=data)
  assert int(boxed.step) == 2 and [r["step"] for r in records] == [2] and data.state() == {"position": 2}
  assert Checkpointer(tmp_path / "boxed" / "checkpoints").all_steps() == [2]
  data = _stacked(2)
  resumed, _ = train(multi_compiled, _fresh(), data, LoopConfig(num_steps=6, log_every=2, checkpoint_every=0,
                     steps_per_call=2), workdir=tmp_path / "boxed", config=config, data=data)
  _leaves_equal(full, resumed)
