"""Host-loop hooks: order of calls, sample grids from fixed latents, loss curves over a resume,
start over (--no-resume) moves the old run aside, TensorBoard wiring and its absence, FID hook."""

import os
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from _ring_stream import RingStream
from _run_files import read_image, read_jsonl, read_pixels
from jaxgan import losses as L
from jaxgan.nets.mlp import TinyMLPDiscriminator, TinyMLPGenerator
from jaxgan.train import StepConfig, init_state, make_train_step
from jaxgan.train import hooks as H
from jaxgan.train.checkpoint import Checkpointer
from jaxgan.train.loop import LoopConfig, move_aside, train

CFG = StepConfig(latent_dim=2)
LOSS = L.non_saturating()
TX = optax.adam(1e-2)
G, D = TinyMLPGenerator(), TinyMLPDiscriminator()


@pytest.fixture(scope="module")
def compiled():
  return jax.jit(make_train_step(G, D, LOSS, TX, TX, CFG))


def _fresh():
  return init_state(jax.random.PRNGKey(0), G, D, LOSS, TX, TX, CFG, {"image": jnp.zeros((8, 2))})


class _Recorder(H.Hook):
  def __init__(self):
    self.calls = []

  def start(self, step, state):
    self.calls.append(("start", step, int(state.step)))

  def after_step(self, step, state):
    self.calls.append(("after_step", step, int(state.step)))

  def log(self, step, record, state):
    self.calls.append(("log", step, record["step"]))

  def end(self, step, state):
    self.calls.append(("end", step, int(state.step)))

  def close(self):
    self.calls.append(("close",))


def test_hook_call_order_and_images_per_sec(compiled, tmp_path):
  rec = _Recorder()
  _, records = train(compiled, _fresh(), RingStream(8),
                     LoopConfig(num_steps=4, log_every=2, checkpoint_every=0, images_per_step=8),
                     workdir=tmp_path, hooks=[rec])
  assert rec.calls == [("start", 0, 0),
                       ("after_step", 1, 1), ("log", 2, 2), ("after_step", 2, 2),
                       ("after_step", 3, 3), ("log", 4, 4), ("after_step", 4, 4),
                       ("end", 4, 4), ("close",)]
  for r in records:
    np.testing.assert_allclose(r["images_per_sec"], 8 * r["steps_per_sec"])


def test_close_runs_on_error(compiled, tmp_path):
  class Boom(H.Hook):
    def after_step(self, step, state):
      if step == 2:
        raise RuntimeError("boom")
  rec = _Recorder()
  with pytest.raises(RuntimeError, match="boom"):
    train(compiled, _fresh(), RingStream(8), LoopConfig(num_steps=4, log_every=1, checkpoint_every=0),
          workdir=tmp_path, hooks=[Boom(), rec])
  assert rec.calls[-1] == ("close",) and ("end", 4, 4) not in rec.calls


def _sample_fn(state, z, labels):
  del labels
  x = G.apply(state.g_variables(), z, train=False)  # (N, 2) points -> (N, 2, 2, 1) "images"
  return jnp.tanh(jnp.repeat(x[:, :, None, None], 2, axis=2))


def test_sample_grid_fixed_latents_every_n_and_at_end(compiled, tmp_path):
  z = jax.random.normal(jax.random.PRNGKey(1), (4, 2))
  grid = H.SampleGrid(jax.jit(_sample_fn), z, every=2, directory=tmp_path / "samples", ncols=2)
  state, _ = train(compiled, _fresh(), RingStream(8), LoopConfig(num_steps=5, log_every=5,
                   checkpoint_every=0), workdir=tmp_path, hooks=[grid])
  names = sorted(os.listdir(tmp_path / "samples"))
  assert names == ["step_000002.png", "step_000004.png", "step_000005.png"]
  # The last grid is exactly the final state's samples on the same latents.
  want = H.viz.image_grid(np.asarray(_sample_fn(state, z, None)), 2)
  got = read_pixels(tmp_path / "samples" / "step_000005.png")
  np.testing.assert_array_equal(got, want[..., 0])


def test_resume_truncates_log_and_curves_cover_history(compiled, tmp_path, monkeypatch):
  config = {"run": 1}
  data = RingStream(8)
  with pytest.raises(RuntimeError):
    class KillAt5(H.Hook):
      def after_step(self, step, state):
        if step == 5:
          raise RuntimeError("killed")
    train(compiled, _fresh(), data, LoopConfig(num_steps=8, log_every=1, checkpoint_every=4),
          workdir=tmp_path, config=config, data=data, hooks=[KillAt5()])
  assert [r["step"] for r in H.read_records(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4, 5]
  data = RingStream(8)
  plotted = []
  real_save_curves = H.viz.save_curves

  def recording_save_curves(records, keys, path, title=""):
    plotted.append([r["step"] for r in records])
    real_save_curves(records, keys, path, title=title)

  monkeypatch.setattr(H.viz, "save_curves", recording_save_curves)
  curves = H.LossCurves(tmp_path / "metrics.jsonl", tmp_path / "losses.png")
  train(compiled, _fresh(), data, LoopConfig(num_steps=8, log_every=1, checkpoint_every=4),
        workdir=tmp_path, config=config, data=data, hooks=[curves])
  # Step 5 (after the checkpoint of step 4) was logged by the killed run and again by the
  # resumed one: it appears once, and the resumed run's plot covers the whole run.
  assert [r["step"] for r in H.read_records(tmp_path / "metrics.jsonl")] == list(range(1, 9))
  assert plotted == [list(range(1, 9))]
  assert read_image(tmp_path / "losses.png").size[0] > 100


def test_no_resume_moves_previous_run_aside(compiled, tmp_path):
  cfg = LoopConfig(num_steps=2, log_every=1, checkpoint_every=2)
  train(compiled, _fresh(), RingStream(8), cfg, workdir=tmp_path)
  (tmp_path / "samples").mkdir()
  (tmp_path / "config.json").write_text("{}")
  state, _ = train(compiled, _fresh(), RingStream(8), LoopConfig(num_steps=1, log_every=1,
                   checkpoint_every=1, resume=False), workdir=tmp_path)
  assert int(state.step) == 1  # started over, did not restore step 2
  assert Checkpointer(tmp_path / "checkpoints").all_steps() == [1]
  old = tmp_path / "superseded" / os.listdir(tmp_path / "superseded")[0]
  assert sorted(os.listdir(old)) == ["checkpoints", "metrics.jsonl", "samples"]
  assert Checkpointer(old / "checkpoints").all_steps() == [2]
  assert (tmp_path / "config.json").exists()  # not a run artefact
  assert move_aside(tmp_path / "nothing_here") is None


def test_tensorboard_unavailable_is_a_clear_error(monkeypatch, tmp_path):
  monkeypatch.setattr(H, "tensorboard_available", lambda: None)
  with pytest.raises(H.TensorBoardUnavailableError, match="pip install tensorboardX"):
    H.TensorBoard(tmp_path / "tb")


def test_tensorboard_writes_scalars_and_images(monkeypatch, compiled, tmp_path):
  events = []

  class FakeWriter:
    def __init__(self, logdir):
      events.append(("open", str(logdir)))

    def add_scalar(self, tag, value, step):
      events.append(("scalar", tag, step))

    def add_image(self, tag, img, step, dataformats):
      events.append(("image", tag, step, img.shape, dataformats))

    def flush(self):
      events.append(("flush",))

    def close(self):
      events.append(("close",))

  monkeypatch.setitem(sys.modules, "tensorboardX", types.SimpleNamespace(SummaryWriter=FakeWriter))
  monkeypatch.setattr(H, "tensorboard_available", lambda: "tensorboardX")
  tb = H.TensorBoard(tmp_path / "tb")
  z = jnp.ones((4, 2))
  grid = H.SampleGrid(jax.jit(_sample_fn), z, every=0, directory=tmp_path / "s", image_writers=[tb])
  train(compiled, _fresh(), RingStream(8), LoopConfig(num_steps=2, log_every=2, checkpoint_every=0),
        workdir=tmp_path, hooks=[tb, grid])
  assert events[0] == ("open", str(tmp_path / "tb"))
  assert ("scalar", "d_loss", 2) in events and ("scalar", "g_loss", 2) in events
  assert ("image", "samples", 2, (7, 7, 1), "HWC") in events
  assert events[-2:] == [("flush",), ("close",)]


def test_periodic_fid_hook(monkeypatch, compiled, tmp_path):
  import jaxgan.metrics as metrics  # pylint: disable=g-import-not-at-top
  stats = tmp_path / "ref.npz"
  np.savez(stats, mu=np.zeros(3), sigma=np.eye(3))
  calls = []

  def fake_fid(sample_fn, ref, num, batch_size, key, extractor, allow_few, sample_args):
    x = sample_fn(sample_args, key, num)
    calls.append((x.shape, num, batch_size, allow_few))
    return float(jnp.mean(x))

  monkeypatch.setattr(metrics, "fid", fake_fid)
  monkeypatch.setattr(metrics, "inception_extractor", lambda weights: "extractor")

  def sample_fn(variables, key, n):
    return G.apply(variables, jax.random.normal(key, (n, 2)), train=False)

  hook = H.PeriodicFID(sample_fn, lambda s: s.g_variables(), stats=str(stats), num=6, every=2,
                       path=tmp_path / "fid.jsonl", batch_size=4)
  train(compiled, _fresh(), RingStream(8), LoopConfig(num_steps=3, log_every=3, checkpoint_every=0),
        workdir=tmp_path, hooks=[hook])
  lines = read_jsonl(tmp_path / "fid.jsonl")
  assert [l["step"] for l in lines] == [2, 3] and calls[0] == ((6, 2), 6, 4, True)
  assert [h["step"] for h in hook.history] == [2, 3]

  # Killed after scoring step 3, with the checkpoint of step 2: the resumed run redoes step 3, and the file and
  # the history hold each step once, the killed run's evaluations up to step 2 included.
  run = tmp_path / "resumed"

  class KillAt3(H.Hook):
    def after_step(self, step, state):
      if step == 3:
        raise RuntimeError("killed")

  def fid_hook():
    return H.PeriodicFID(sample_fn, lambda s: s.g_variables(), stats=str(stats), num=6, every=1,
                         path=run / "fid.jsonl", batch_size=4)

  cfg = LoopConfig(num_steps=4, log_every=1, checkpoint_every=2)
  with pytest.raises(RuntimeError, match="killed"):
    train(compiled, _fresh(), RingStream(8), cfg, workdir=run, hooks=[fid_hook(), KillAt3()])
  assert [l["step"] for l in H.read_records(run / "fid.jsonl")] == [1, 2, 3]
  hook = fid_hook()
  train(compiled, _fresh(), RingStream(8), cfg, workdir=run, hooks=[hook])
  assert [l["step"] for l in H.read_records(run / "fid.jsonl")] == [1, 2, 3, 4]
  assert [h["step"] for h in hook.history] == [1, 2, 3, 4]
  # The finished run, started again, is not scored again (its last evaluation stands).
  n_calls = len(calls)
  hook = fid_hook()
  train(compiled, _fresh(), RingStream(8), cfg, workdir=run, hooks=[hook])
  assert len(calls) == n_calls and [h["step"] for h in hook.history] == [1, 2, 3, 4]
  assert [l["step"] for l in H.read_records(run / "fid.jsonl")] == [1, 2, 3, 4]
  with pytest.raises(FileNotFoundError, match="fid_stats"):
    H.PeriodicFID(sample_fn, lambda s: s.g_variables(), stats=str(tmp_path / "missing.npz"), num=6, every=2,
                  path=tmp_path / "f.jsonl")


def test_progress_bar_shows_rate_images_and_losses(compiled, tmp_path, capsys):
  train(compiled, _fresh(), RingStream(8), LoopConfig(num_steps=4, log_every=2, checkpoint_every=0,
        progress=True, images_per_step=8), workdir=tmp_path)
  err = capsys.readouterr().err
  assert "4/4" in err and "step/s" in err
  assert "img/s=" in err and "d_loss=" in err and "g_loss=" in err
