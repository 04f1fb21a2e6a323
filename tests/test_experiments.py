"""Experiment modules end to end (smoke switch, so the tested path is the real one): workdir
artefacts, kill-and-resume equals an uninterrupted run, each paper's settings, bad input."""

import json
import math
import os
import types

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from PIL import Image

from _run_files import read_json, read_jsonl, read_pixels
from experiments import dcgan, lsgan, wgan, wgan_gp
from jaxgan import config as config_lib
from jaxgan.data import Pipeline
from jaxgan.train import experiment
from jaxgan.train.checkpoint import Checkpointer, CheckpointMismatchError
from jaxgan.train.loop import NonFiniteError


def _digits(num, classes, seed=0):
  """(num, 28, 28, 1) uint8 blobs whose position depends on the class, and their labels."""
  rng = np.random.default_rng(seed)
  labels = np.arange(num) % classes
  yy, xx = np.mgrid[:28, :28]
  images = np.empty((num, 28, 28, 1), np.uint8)
  for i, k in enumerate(labels):
    cy, cx = 8 + 3 * k, 20 - 3 * k
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)
    images[i, ..., 0] = np.clip(255 * blob + rng.integers(0, 30, (28, 28)), 0, 255)
  return images, labels.astype(np.int32)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp("data")
  images, labels = _digits(48, 4)
  np.savez(root / "digits.npz", images=images, labels=labels)
  np.savez(root / "unlabelled.npz", images=images)
  return root


def _config(module, root, **overrides):
  c = module.get_config()
  c.smoke = True
  c.dataset = "npz"
  c.data_dir = str(root / "digits.npz")
  for k, v in overrides.items():
    c[k] = v
  return c


def _fake_fid(sample_fn, ref, num, batch_size, key, extractor, allow_few, sample_args):
  images = jax.jit(sample_fn, static_argnums=2)(sample_args, key, num)
  assert images.shape == (num, 28, 28, 1) and extractor == "extractor" and allow_few
  return float(jnp.mean(images ** 2))


@pytest.fixture(scope="module")
def dcgan_run(data_dir, tmp_path_factory):
  """One uninterrupted dcgan smoke run (4 steps) with the FID switch on (a fake Inception)."""
  import jaxgan.metrics as metrics  # pylint: disable=g-import-not-at-top
  workdir = tmp_path_factory.mktemp("dcgan")
  stats = workdir.parent / "ref_stats.npz"
  np.savez(stats, mu=np.zeros(4), sigma=np.eye(4))
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(metrics, "fid", _fake_fid)
    mp.setattr(metrics, "inception_extractor", lambda weights=None: "extractor")
    state, summary = dcgan.main(_config(dcgan, data_dir, fid_every=2, fid_stats=str(stats)),
                                str(workdir), True)
  return workdir, jax.device_get(state), summary


def _assert_trees_equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    if jnp.issubdtype(getattr(x, "dtype", np.float32), jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_dcgan_smoke_writes_every_artefact(dcgan_run):
  workdir, state, summary = dcgan_run
  assert sorted(os.listdir(workdir)) == ["checkpoints", "config.json", "fid.jsonl", "losses.png",
                                         "metrics.jsonl", "samples", "summary.json"]
  config = read_json(workdir / "config.json")
  assert config["net"] == "dcgan_tiny" and config["num_steps"] == 4 and config["g_lr"] == 2e-4
  records = read_jsonl(workdir / "metrics.jsonl")
  assert [r["step"] for r in records] == [2, 4]
  assert read_json(workdir / "summary.json") == json.loads(json.dumps(summary))
  assert summary["steps"] == int(state.step) == 4
  assert summary["final"]["d_loss"] == records[-1]["d_loss"]
  assert np.isfinite(summary["final"]["g_loss"]) and summary["images_per_sec"] > 0
  assert summary["num_examples"] == 48  # digits.npz holds 48 images, fewer than the smoke limit
  # The rates are those of the log windows after the first (which holds the compilation): here the second.
  for key in ("steps_per_sec", "images_per_sec"):
    assert summary[key] == pytest.approx(records[1][key], rel=1e-12)
    assert summary[key] != pytest.approx(np.mean([r[key] for r in records]), rel=1e-6)
  assert summary["paper"]["lr"] == 2e-4
  assert sorted(os.listdir(workdir / "samples")) == ["step_000002.png", "step_000004.png"]
  grid = read_pixels(workdir / "samples" / "step_000004.png")
  assert grid.shape == (4 * 29 + 1, 4 * 29 + 1)  # 16 samples of 28x28, 1 px padding
  assert Checkpointer(workdir / "checkpoints").all_steps() == [2, 4]
  fid = read_jsonl(workdir / "fid.jsonl")
  assert [f["step"] for f in fid] == [2, 4] and summary["fid"] == fid[-1]["fid"]
  # The DCGAN init: kernels ~ N(0, 0.02) (4 steps of Adam at 2e-4 move them little).
  kernel = np.asarray(state.g_params["Dense_0"]["kernel"])
  assert abs(kernel.std() - 0.02) < 0.003


def test_steady_rate_is_the_windows_count_over_their_time():
  """After the first log window (compilation), the summary's rate is the windows' total steps (images) over their
  total time: a run at 10 steps/s for 100 steps and 100 steps/s for the next 100 ran 200 steps in 11 s (18.2/s),
  not the 55/s a mean of the two rates says; a short last window weighs by its time."""
  records = [{"step": 100, "steps_per_sec": 1.0, "images_per_sec": 64.0},  # compilation: left out
             {"step": 200, "steps_per_sec": 10.0, "images_per_sec": 640.0},
             {"step": 300, "steps_per_sec": 100.0, "images_per_sec": 6400.0},
             {"step": 310, "steps_per_sec": 5.0, "images_per_sec": 320.0}]
  seconds = 100 / 10 + 100 / 100 + 10 / 5
  assert experiment._steady_rate(records, "steps_per_sec") == pytest.approx(210 / seconds, rel=1e-12)
  assert experiment._steady_rate(records, "images_per_sec") == pytest.approx(64 * 210 / seconds, rel=1e-12)
  assert experiment._steady_rate(records[:1], "steps_per_sec") == 1.0  # one window: its own rate
  assert experiment._steady_rate([], "steps_per_sec") is None
  no_clock = records[:2] + [{"step": 201, "steps_per_sec": math.nan, "images_per_sec": math.nan}]
  assert experiment._steady_rate(no_clock, "steps_per_sec") == pytest.approx(10.0)


def test_kill_and_resume_equals_uninterrupted(dcgan_run, data_dir, tmp_path, monkeypatch):
  _, full_state, _ = dcgan_run
  calls = {"n": 0}
  original = Pipeline.__next__

  def killed_after_3_steps(self):
    calls["n"] += 1
    if calls["n"] == 4:
      raise KeyboardInterrupt
    return original(self)

  with monkeypatch.context() as mp:
    mp.setattr(Pipeline, "__next__", killed_after_3_steps)
    with pytest.raises(KeyboardInterrupt):
      dcgan.main(_config(dcgan, data_dir, log_every=1), str(tmp_path), True)
  assert Checkpointer(tmp_path / "checkpoints").all_steps() == [2]
  state, summary = dcgan.main(_config(dcgan, data_dir), str(tmp_path), True)  # the same command
  _assert_trees_equal(full_state, jax.device_get(state))
  # Step 3 was logged before the kill, after the checkpoint: it is dropped, not duplicated.
  assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1, 2, 4]
  assert summary["steps"] == 4

  # Resuming with other model shapes is refused before any compute, naming the field.
  with pytest.raises(CheckpointMismatchError, match=r"g_width=8 there, 6 now"):
    dcgan.main(_config(dcgan, data_dir, g_width=6), str(tmp_path), True)
  # The checkpoint itself is checked too (here without the config.json that names fields).
  os.remove(tmp_path / "config.json")
  with pytest.raises(CheckpointMismatchError, match="model configuration changed"):
    dcgan.main(_config(dcgan, data_dir, g_width=6), str(tmp_path), True)


def test_stop_at_and_time_box_are_the_first_steps_of_the_run(dcgan_run, data_dir, tmp_path):
  _, full_state, _ = dcgan_run
  # stop_at: the first 2 of the run's 4 steps; the same command without it goes on to the whole run.
  _, summary = dcgan.main(_config(dcgan, data_dir, stop_at=2), str(tmp_path / "a"), True)
  assert (summary["steps"], summary["num_steps"]) == (2, 4)
  state, summary = dcgan.main(_config(dcgan, data_dir), str(tmp_path / "a"), True)
  assert summary["steps"] == 4
  _assert_trees_equal(full_state, jax.device_get(state))
  # A time box spent before the first step ends stops the run after it, checkpointed.
  _, summary = dcgan.main(_config(dcgan, data_dir, train_seconds=1e-9), str(tmp_path / "b"), True)
  assert summary["steps"] == 1 and Checkpointer(tmp_path / "b" / "checkpoints").all_steps() == [1]
  state, _ = dcgan.main(_config(dcgan, data_dir), str(tmp_path / "b"), True)
  _assert_trees_equal(full_state, jax.device_get(state))
  # A box longer than the run (an hour for 4 smoke steps) stops nothing: the deadline is an hour from now.
  state, summary = dcgan.main(_config(dcgan, data_dir, train_seconds=3600.0), str(tmp_path / "c"), True)
  assert summary["steps"] == 4
  _assert_trees_equal(full_state, jax.device_get(state))
  for field, value, message in (("stop_at", 5, r"stop_at must be in \[0, num_steps=4\]"),
                                ("stop_at", -1, "stop_at must be in"),
                                ("train_seconds", -1.0, "train_seconds must be >= 0")):
    c = _config(dcgan, data_dir, num_steps=4, **{field: value})
    with pytest.raises(experiment.ExperimentError, match=message):
      experiment.check_config(c)


def test_no_resume_starts_over_and_moves_the_old_run_aside(dcgan_run, data_dir, tmp_path):
  workdir = tmp_path / "wd"
  dcgan.main(_config(dcgan, data_dir, num_steps=2), str(workdir), True)
  state, summary = dcgan.main(_config(dcgan, data_dir, num_steps=2), str(workdir), False)
  assert summary["steps"] == 2 and Checkpointer(workdir / "checkpoints").all_steps() == [2]
  (old,) = os.listdir(workdir / "superseded")
  assert "checkpoints" in os.listdir(workdir / "superseded" / old)
  assert "config.json" in os.listdir(workdir / "superseded" / old)


@pytest.mark.parametrize("module", [wgan, wgan_gp, lsgan], ids=lambda m: m.__name__.split(".")[-1])
def test_paper_experiments_run_two_steps(module, data_dir, tmp_path):
  overrides = {"ls_a": -1.0, "ls_b": 1.0, "ls_c": 0.0} if module is lsgan else {}
  if module is wgan_gp:  # mixed precision through the double backward of the gradient penalty
    overrides = {"compute_dtype": "bfloat16"}
  state, summary = module.main(_config(module, data_dir, num_steps=2, **overrides), str(tmp_path),
                               True)
  records = read_jsonl(tmp_path / "metrics.jsonl")
  assert summary["steps"] == 2 and [r["step"] for r in records] == [2]
  assert np.isfinite(records[-1]["d_loss"]) and np.isfinite(records[-1]["g_loss"])
  assert os.path.exists(tmp_path / "samples" / "step_000002.png")
  config = read_json(tmp_path / "config.json")
  if module is wgan:
    assert config["d_steps"] == 5 and config["optimizer"] == "rmsprop" and config["g_lr"] == 5e-5
    leaves = jax.tree.leaves(state.d_params)
    assert max(float(jnp.max(jnp.abs(x))) for x in leaves) <= 0.01  # weight clipping
  if module is wgan_gp:
    assert config["beta1"] == 0.5 and config["beta2"] == 0.9 and config["d_norm"] == "layer"
    assert "d/gradient_penalty" in records[-1] and state.d_collections == {}  # no batch norm
    assert config["compute_dtype"] == "bfloat16"
    assert {x.dtype for x in jax.tree.leaves((state.g_params, state.d_params))} == {jnp.dtype(jnp.float32)}
  if module is lsgan:
    # a = -1, b = 1, c = 0: the generator loss is 0.5 mean(D(G(z))^2), D's logits are near 0.
    assert records[-1]["g/least_squares"] < 0.1 < records[-1]["d/least_squares"]


def test_conditional_dcgan_takes_classes_from_data(data_dir, tmp_path):
  state, summary = dcgan.main(_config(dcgan, data_dir, conditional=True, num_steps=2),
                              str(tmp_path), True)
  assert state.g_params["label_embed"]["embedding"].shape[0] == 4
  grid = read_pixels(tmp_path / "samples" / "step_000002.png")
  assert grid.shape == (4 * 29 + 1, 4 * 29 + 1)  # one class per column


def test_standing_stats_feed_the_sample_grids_and_the_fid_hook(data_dir, tmp_path, monkeypatch):
  """standing_stats=B: the final grid and the FID hook use G's weight average with standing statistics, i.e. G's
  final EMA variables through `sampling.standing_stats` on `experiment.standing_inputs` (recomputed here), not the
  running statistics (whose grid differs, so the comparison can fail)."""
  import jaxgan.metrics as metrics  # pylint: disable=g-import-not-at-top
  from jaxgan import sampling, viz  # pylint: disable=g-import-not-at-top
  seen = []

  def fake_fid(sample_fn, ref, num, batch_size, key, extractor, allow_few, sample_args):
    seen.append(sample_args)
    return 1.0

  stats = tmp_path / "ref_stats.npz"
  np.savez(stats, mu=np.zeros(4), sigma=np.eye(4))
  monkeypatch.setattr(metrics, "fid", fake_fid)
  monkeypatch.setattr(metrics, "inception_extractor", lambda weights=None: "extractor")
  computed = []
  real_standing_stats = sampling.standing_stats
  monkeypatch.setattr(sampling, "standing_stats", lambda *a: computed.append(1) or real_standing_stats(*a))
  wd = tmp_path / "wd"
  state, _ = dcgan.main(_config(dcgan, data_dir, num_steps=2, ema_decay=0.5, standing_stats=3, fid_every=2,
                                fid_stats=str(stats)), str(wd), True)
  monkeypatch.setattr(sampling, "standing_stats", real_standing_stats)
  # Once per step that wrote a grid or scored an FID (at step 2 both: they share one computation).
  hook_steps = {int(f.stem.split("_")[1]) for f in (wd / "samples").glob("step_*.png")}
  hook_steps |= {json.loads(line)["step"] for line in (wd / "fid.jsonl").read_text().splitlines()}
  assert 2 in hook_steps and len(computed) == len(hook_steps)
  c = ml_collections.ConfigDict(read_json(wd / "config.json"))
  assert c.standing_stats == 3
  generator, _ = experiment.build_nets(c, 28, 1, 0)
  latents, labels = experiment.standing_inputs(c, 0)
  assert latents.shape == (3, c.batch_size, c.latent_dim) and labels is None
  ema = state.g_variables(ema=True)
  expected = sampling.standing_stats(generator, ema, latents)
  for got, want in zip(jax.tree.leaves(seen[-1]), jax.tree.leaves(expected)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
  z = sampling.sample_latent(jax.random.fold_in(jax.random.PRNGKey(c.seed), 0x5EED), (c.num_samples, c.latent_dim),
                             c.latent_dist)
  grid = read_pixels(wd / "samples" / "step_000002.png").astype(int)
  standing = viz.image_grid(generator.apply(expected, z, None, train=False))[..., 0].astype(int)
  running = viz.image_grid(generator.apply(ema, z, None, train=False))[..., 0].astype(int)
  assert np.abs(grid - standing).max() <= 1  # float rounding at a quantization step
  assert np.abs(grid - running).mean() > 5 * np.abs(grid - standing).mean() + 1
  # Every registered G has batch norm; a G without (here a stand-in state) is refused with the remedy.
  no_bn = types.SimpleNamespace(g_variables=lambda ema=False: {"params": {"w": jnp.ones(2)}})
  model = types.SimpleNamespace(dp=types.SimpleNamespace(host_state=lambda x: x), generator=None)
  with pytest.raises(experiment.ExperimentError, match=r"standing_stats=3: G \(dcgan_tiny\) has no batch norm.*=0"):
    experiment.sampled_variables(c, model, no_bn, 0)


def test_bad_input_is_refused_before_compute(data_dir, tmp_path, monkeypatch):
  wd = str(tmp_path / "wd")
  with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.*data_dir"):
    dcgan.main(_config(dcgan, data_dir, dataset="mnist", data_dir=str(tmp_path / "nope")), wd)
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.*data_dir"):
    dcgan.main(_config(dcgan, data_dir, dataset="mnist", data_dir=str(empty)), wd)
  monkeypatch.delenv("JAXGAN_DATA", raising=False)
  monkeypatch.setattr(experiment, "_shared_data_roots", lambda: [])
  with pytest.raises(experiment.ExperimentError, match=r"`data_dir`.*train-images-idx3-ubyte"):
    dcgan.main(_config(dcgan, data_dir, dataset="mnist", data_dir=""), wd)
  for folder in ("", str(data_dir)):  # an unknown name is named as such, with or without a data_dir
    with pytest.raises(experiment.ExperimentError, match=r"unknown dataset 'mnsit'; known: .*mnist"):
      dcgan.main(_config(dcgan, data_dir, dataset="mnsit", data_dir=folder), wd)

  mixed = tmp_path / "mixed"
  mixed.mkdir()
  Image.fromarray(np.zeros((28, 28), np.uint8)).save(mixed / "a.png")
  Image.fromarray(np.zeros((32, 32), np.uint8)).save(mixed / "b.png")
  with pytest.raises(experiment.ExperimentError, match=r"differ in size.*`resolution`"):
    dcgan.main(_config(dcgan, data_dir, dataset="folder", data_dir=str(mixed)), wd)

  with pytest.raises(experiment.ExperimentError, match=r"num_classes=3 .* labels up to 3"):
    dcgan.main(_config(dcgan, data_dir, conditional=True, num_classes=3), wd)
  with pytest.raises(experiment.ExperimentError, match="has no labels"):
    dcgan.main(_config(dcgan, data_dir, conditional=True,
                       data_dir=str(data_dir / "unlabelled.npz")), wd)
  with pytest.raises(experiment.ExperimentError, match="unknown net 'dcgna'.*dcgan"):
    dcgan.main(_config(dcgan, data_dir, net="dcgna"), wd)
  with pytest.raises(experiment.ExperimentError, match="unknown loss 'hnge'"):
    dcgan.main(_config(dcgan, data_dir, loss="hnge"), wd)
  with pytest.raises(experiment.ExperimentError, match="unknown lr_schedule 'cosine'.*constant, linear"):
    dcgan.main(_config(dcgan, data_dir, lr_schedule="cosine"), wd)
  with pytest.raises(experiment.ExperimentError, match="g_activation"):
    dcgan.main(_config(dcgan, data_dir, g_activation="leaky_relu"), wd)  # DCGAN's G has no such option
  with pytest.raises(experiment.ExperimentError, match="fid_stats"):
    dcgan.main(_config(dcgan, data_dir, fid_every=10), wd)
  with pytest.raises(experiment.ExperimentError, match=r"ema_rampup=0.05 ramps up .* set --ema_decay"):
    dcgan.main(_config(dcgan, data_dir, ema_rampup=0.05), wd)
  with pytest.raises(experiment.ExperimentError, match="standing_stats must be >= 0"):
    dcgan.main(_config(dcgan, data_dir, standing_stats=-1), wd)
  with pytest.raises(experiment.ExperimentError, match="batch_size"):
    dcgan.main(_config(dcgan, data_dir, smoke=False, batch_size=128), wd)
  with pytest.raises(experiment.ExperimentError, match="compute_dtype must be one of float32, bfloat16"):
    dcgan.main(_config(dcgan, data_dir, compute_dtype="float16"), wd)
  for field, value, message in (("seed", -1, r"seed must be >= 0, got -1"),
                                ("beta1", 1.5, r"beta1 must be in \[0, 1\), got 1.5"),
                                ("beta2", -0.1, r"beta2 must be in \[0, 1\)"),
                                ("d_norm", "foo", r"d_norm must be one of batch, layer, none .*got 'foo'")):
    with pytest.raises(experiment.ExperimentError, match=message):
      dcgan.main(_config(dcgan, data_dir, **{field: value}), wd)
  with pytest.raises(experiment.ExperimentError, match=r"rmsprop_decay must be in \[0, 1\), got 1.0"):
    wgan.main(_config(wgan, data_dir, rmsprop_decay=1.0), wd)
  monkeypatch.setattr(experiment.hooks_lib, "tensorboard_available", lambda: None)
  with pytest.raises(experiment.hooks_lib.TensorBoardUnavailableError, match="tensorboardX"):
    dcgan.main(_config(dcgan, data_dir, tensorboard=True), wd)
  assert not os.path.exists(os.path.join(wd, "checkpoints"))


def test_unsupported_resolution_is_refused_before_the_data_is_read(data_dir, tmp_path, monkeypatch):
  read = []
  monkeypatch.setattr(experiment, "load_data", lambda c: read.append(c) or pytest.fail("data read"))
  wd = tmp_path / "res40"
  with pytest.raises(experiment.ExperimentError, match=r"cannot build net .* for 40x40x3 images: .*resolution 40"):
    dcgan.main(_config(dcgan, data_dir, resolution=40), str(wd))
  assert not read and not (wd / "config.json").exists()


def test_linear_lr_schedule_falls_to_zero_over_the_run():
  """Adam's first update on a constant gradient is -lr * sign(g); under the linear schedule the k-th update
  is -lr * (1 - k / n) * sign(g) (bias-corrected moments of a constant gradient equal g and g^2)."""
  c = dcgan.get_config()
  c.update(lr_schedule="linear", num_steps=10, d_steps=2, g_lr=1e-3, d_lr=4e-3, beta1=0.5, beta2=0.9)
  g_tx, d_tx = experiment.build_optimizers(c)
  params = {"w": jnp.zeros(3)}
  grads = {"w": jnp.array([1.0, -2.0, 0.5])}
  for tx, lr, n in ((g_tx, 1e-3, 10), (d_tx, 4e-3, 20)):
    state = tx.init(params)
    for k in range(n + 1):
      updates, state = tx.update(grads, state, params)
      np.testing.assert_allclose(np.asarray(updates["w"]), -lr * (1 - k / n) * np.sign(grads["w"]),
                                 rtol=1e-4, atol=1e-9)
  c.lr_schedule = "constant"
  g_tx, _ = experiment.build_optimizers(c)
  state = g_tx.init(params)
  for _ in range(12):
    updates, state = g_tx.update(grads, state, params)
  np.testing.assert_allclose(np.asarray(updates["w"]), -1e-3 * np.sign(grads["w"]), rtol=1e-4)


def _adam_reference(grads, lr, b1, b2, eps=1e-8):
  """Kingma & Ba 2015 (arXiv:1412.6980), Algorithm 1: the update -lr * m_hat / (sqrt(v_hat) + eps) of each step."""
  m = v = np.zeros_like(grads[0])
  out = []
  for t, g in enumerate(grads, 1):
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    out.append(-lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps))
  return out


def _rmsprop_reference(grads, lr, decay, eps=1e-8):
  """RMSProp (Tieleman & Hinton 2012, as torch.optim.RMSprop): nu = decay * nu + (1 - decay) * g^2 from nu = 0, and
  the update -lr * g / (sqrt(nu) + eps)."""
  nu = np.zeros_like(grads[0])
  out = []
  for g in grads:
    nu = decay * nu + (1 - decay) * g * g
    out.append(-lr * g / (np.sqrt(nu) + eps))
  return out


def test_optimizers_take_the_configured_betas_decay_and_clip():
  """G's and D's updates over gradients of changing size and sign, step by step against Adam's and RMSProp's
  formulas (a constant gradient would hide the betas: its bias-corrected moments are g and g^2 for any betas);
  D's weights clipped to [-c, c] after each update (Arjovsky et al. 2017, Algorithm 1, line 7)."""
  base = np.array([1.0, -2.0, 0.5])
  grads = [base * s for s in (1.0, -0.5, 2.0, 0.25, -1.0, 3.0)]

  def run(tx):
    params = {"w": jnp.zeros(3)}
    state = tx.init(params)
    updates_seen, params_seen = [], []
    for g in grads:
      updates, state = tx.update({"w": jnp.asarray(g, jnp.float32)}, state, params)
      params = optax.apply_updates(params, updates)
      updates_seen.append(np.asarray(updates["w"]))
      params_seen.append(np.asarray(params["w"]))
    return updates_seen, params_seen

  c = dcgan.get_config()
  c.update(optimizer="adam", g_lr=1e-3, d_lr=3e-3, beta1=0.3, beta2=0.7, num_steps=10, d_steps=1)
  g_tx, d_tx = experiment.build_optimizers(c)
  for tx, lr in ((g_tx, 1e-3), (d_tx, 3e-3)):
    for got, want in zip(run(tx)[0], _adam_reference(grads, lr, 0.3, 0.7)):
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-10)

  c.update(optimizer="rmsprop", g_lr=1e-3, d_lr=3e-3, rmsprop_decay=0.95, weight_clip=0.01)
  g_tx, d_tx = experiment.build_optimizers(c)
  for got, want in zip(run(g_tx)[0], _rmsprop_reference(grads, 1e-3, 0.95)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-10)
  # D: the RMSProp step of the gradients (its state does not depend on the weights), then the clip.
  want_params = np.zeros(3)
  _, d_params = run(d_tx)
  for got, step in zip(d_params, _rmsprop_reference(grads, 3e-3, 0.95)):
    want_params = np.clip(want_params + step, -0.01, 0.01)
    np.testing.assert_allclose(got, want_params, rtol=1e-5, atol=1e-8)
  assert np.abs(want_params).max() == 0.01  # the clip was reached


def test_smoke_only_shrinks_and_keeps_the_config_valid():
  """`apply_smoke`: at most 4 steps and 64 examples (base_config: "<= 4 steps, <= 64 examples"), whatever the
  config asked for; no numeric field grows; stop_at stays within the shrunk run; the result passes check_config
  and shrinking it again changes nothing."""
  c = dcgan.get_config()
  c.update(num_steps=10_000, stop_at=5_000, limit=1_000, batch_size=128, latent_dim=128, num_samples=64,
           fid_num=10_000, fid_batch=250, log_every=100, sample_every=500, checkpoint_every=1000)
  s = experiment.apply_smoke(c)
  assert s.num_steps <= 4 and 0 < s.limit <= 64 and 0 <= s.stop_at <= s.num_steps
  for k, v in c.items():
    if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "limit":
      assert s[k] <= v, k
  experiment.check_config(s)
  assert experiment.apply_smoke(s).to_dict() == s.to_dict()
  for limit, expected in ((0, 64), (10, 10), (64, 64), (65, 64)):  # 0 (all examples) becomes the smoke limit
    c.limit = limit
    assert experiment.apply_smoke(c).limit == expected
  c.update(num_steps=3, stop_at=2)  # already small: kept
  assert (experiment.apply_smoke(c).num_steps, experiment.apply_smoke(c).stop_at) == (3, 2)


def test_check_config_bounds_and_adam_only_fields():
  """Learning rates and init_std of 0 are refused (> 0, as the messages say); stop_at may be num_steps itself
  ([0, num_steps]); both of Adam's betas are named as having no effect under RMSProp."""
  for name in ("g_lr", "d_lr", "init_std"):
    c = dcgan.get_config()
    c[name] = 0.0
    with pytest.raises(experiment.ExperimentError, match=rf"{name} must be > 0, got 0.0"):
      experiment.check_config(c)
  c = dcgan.get_config()
  c.update(num_steps=4, stop_at=4)
  experiment.check_config(c)
  defaults = dcgan.get_config()
  for field in ("beta1", "beta2"):
    c = config_lib.parse_args(defaults, ["--optimizer=rmsprop", f"--{field}=0.25"])[0]
    assert experiment.unused_fields(c)[field] == "they are Adam's and the optimizer is 'rmsprop'"
    with pytest.raises(experiment.ExperimentError, match=rf"--{field}=0.25 has no effect: they are Adam's"):
      experiment.check_overrides(c, defaults)


def test_compiled_models_of_runs_of_other_lengths_keep_their_own_schedules(data_dir):
  """A process that compiled a run reuses its functions for the same model; with a decaying learning rate the
  run's length is part of the model (found: it was not, so a second, longer run decayed over the first's)."""
  def g_update_at(model, k):  # Adam's k-th update on a constant gradient: -lr(k) * sign(g)
    params, grads = {"w": jnp.zeros(1)}, {"w": jnp.ones(1)}
    state = model.g_tx.init(params)
    for _ in range(k + 1):
      updates, state = model.g_tx.update(grads, state, params)
    return float(updates["w"][0])

  for schedule, expected in (("linear", (0.0, -0.5e-3)), ("constant", (-1e-3, -1e-3))):
    short = _config(dcgan, data_dir, lr_schedule=schedule, num_steps=2, g_lr=1e-3)
    longer = _config(dcgan, data_dir, lr_schedule=schedule, num_steps=4, g_lr=1e-3)
    models = [experiment.compiled(experiment.apply_smoke(cfg), 28, 1, 0) for cfg in (short, longer)]
    assert (models[0] is models[1]) == (schedule == "constant")
    np.testing.assert_allclose([g_update_at(m, 2) for m in models], expected, rtol=1e-4, atol=1e-9)


def test_resuming_a_decaying_schedule_under_another_length_is_refused(data_dir, tmp_path):
  """With lr_schedule=linear, num_steps is the schedule's length: a resume with another num_steps would decay over
  the new length from a state trained on the old one (neither run), so it is refused and config.json kept; with a
  constant rate, training longer by raising num_steps stays allowed."""
  for schedule in ("linear", "constant"):
    workdir = tmp_path / schedule
    dcgan.main(_config(dcgan, data_dir, lr_schedule=schedule, num_steps=2), str(workdir), True)
    config_before = (workdir / "config.json").read_text()
    longer = _config(dcgan, data_dir, lr_schedule=schedule, num_steps=4)
    if schedule == "linear":
      with pytest.raises(CheckpointMismatchError, match=r"num_steps=2 there, 4 now\) \(num_steps sets the length of "
                                                        r"the decaying learning rate.*--stop_at"):
        dcgan.main(longer, str(workdir), True)
      assert (workdir / "config.json").read_text() == config_before
    else:
      _, summary = dcgan.main(longer, str(workdir), True)
      assert summary["steps"] == 4


def test_config_overrides_and_errors():
  c, wd, resume = config_lib.parse_args(
      wgan_gp.get_config(), ["--workdir", "w", "--no-resume", "--net=resnet", "--d_steps", "3",
                             "--reg_weight=5", "--flip=true"])
  assert (wd, resume, c.net, c.d_steps, c.reg_weight, c.flip) == ("w", False, "resnet", 3, 5.0, True)
  with pytest.raises(config_lib.ConfigError, match="unknown config field 'lr'.*g_lr"):
    config_lib.parse_args(dcgan.get_config(), ["--lr=1e-3"])
  with pytest.raises(config_lib.ConfigError, match="--batch_size: expected an integer"):
    config_lib.parse_args(dcgan.get_config(), ["--batch_size=big"])


def test_cli_refuses_settings_that_would_have_no_effect(tmp_path):
  """A field changed from the experiment's default that the other settings ignore is named before any work."""
  def run(get_config, *args):
    experiment.cli(get_config, lambda *a: pytest.fail("main ran"), ["--workdir", str(tmp_path), *args],
                   default_workdir="unused")

  with pytest.raises(SystemExit, match=r"^error: --reg_weight=5.0 has no effect: there is no regularizer \(set "
                     r"--regularizer to one of gradient_penalty, r1, r2, dragan\)\. Drop it"):
    run(dcgan.get_config, "--reg_weight=5")
  with pytest.raises(SystemExit, match=r"--beta1=0.0 has no effect: they are Adam's and the optimizer is "
                     r"'rmsprop'; --fid_num=500 has no effect: no FID"):
    run(dcgan.get_config, "--optimizer=rmsprop", "--beta1=0", "--fid_num=500")
  with pytest.raises(SystemExit, match=r"--ls_a=-1.0 has no effect: the loss is 'hinge', not least_squares"):
    run(lsgan.get_config, "--loss=hinge", "--ls_a=-1")
  with pytest.raises(SystemExit, match=r"--conditioning='concat' has no effect: the model is unconditional"):
    run(dcgan.get_config, "--conditioning=concat")
  with pytest.raises(SystemExit, match=r"--init_std=0.05 has no effect: it is the normal init's and init is "
                     r"'glorot'"):
    run(dcgan.get_config, "--init=glorot", "--init_std=0.05")
  # Turning the regularizer off leaves the experiment's default weight unused, which is not the user's doing.
  no_reg = config_lib.parse_args(wgan_gp.get_config(), ["--regularizer=none"])[0]
  assert set(experiment.unused_fields(no_reg)) == {"reg_weight", "reg_every", "rmsprop_decay", "conditioning",
                                                   "fid_stats", "fid_num", "fid_batch", "fid_weights"}
  experiment.check_overrides(config_lib.parse_args(wgan_gp.get_config(), ["--regularizer=none"])[0],
                             wgan_gp.get_config())
  # The same fields are fine where they take effect.
  experiment.check_overrides(config_lib.parse_args(dcgan.get_config(), ["--regularizer=r1", "--reg_weight=5",
                                                                        "--fid_every=5", "--fid_num=500"])[0],
                             dcgan.get_config())


def test_cli_prints_errors_without_traceback(dcgan_run, data_dir, tmp_path, capsys):
  with pytest.raises(SystemExit, match=r"^error: unknown config field 'lr'"):
    experiment.cli(dcgan.get_config, dcgan.main, ["--workdir", str(tmp_path), "--lr=1"],
                   default_workdir="unused")

  def nan_main(config, workdir, resume):
    raise NonFiniteError("step 3: non-finite d_loss (NaN/inf); training stopped, the last good "
                         "checkpoint is kept.")
  with pytest.raises(SystemExit, match=r"^error: step 3: non-finite d_loss"):
    experiment.cli(dcgan.get_config, nan_main, [], default_workdir=str(tmp_path))
  with pytest.raises(SystemExit, match=r"^error: .*data_dir"):
    experiment.cli(dcgan.get_config, dcgan.main,
                   ["--workdir", str(tmp_path), "--data_dir", str(tmp_path / "nope")],
                   default_workdir="unused")
  # A run through the command line (compiled functions shared with the smoke run above).
  summary = experiment.cli(
      dcgan.get_config, dcgan.main,
      ["--workdir", str(tmp_path / "cli"), "--smoke=true", "--dataset=npz",
       f"--data_dir={data_dir / 'digits.npz'}", "--num_steps=2"], default_workdir="unused")
  out = capsys.readouterr().out
  assert '"num_steps": 2' in out and "done: step 2" in out and summary["steps"] == 2
  assert read_json(tmp_path / "cli" / "config.json")["num_steps"] == 2


def test_mnist_smoke(assets, tmp_path):
  mnist = assets / "data" / "mnist"
  if not mnist.is_dir():
    pytest.skip("no MNIST in the shared assets")
  c = dcgan.get_config()
  c.smoke, c.data_dir = True, str(mnist)
  state, summary = dcgan.main(c, str(tmp_path), True)
  assert summary["num_examples"] == 64 and summary["steps"] == 4
  assert os.path.exists(tmp_path / "samples" / "step_000004.png")


def test_experiment_on_two_devices_matches_one(dcgan_run, data_dir, tmp_path):
  # The same smoke run through the CLI on 2 virtual CPU devices, mesh and pmap, ends with the
  # parameters of the single-device run (a fresh process: the device count is fixed at start-up).
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  _, single, _ = dcgan_run
  script = (
      "import sys, jax, numpy as np\n"
      "from experiments import dcgan\n"
      "from jaxgan.train import experiment\n"
      "c = dcgan.get_config(); c.smoke = True; c.dataset = 'npz'; c.progress = False\n"
      f"c.data_dir = {str(data_dir / 'digits.npz')!r}; c.parallel = sys.argv[1]\n"
      "state, summary = dcgan.main(c, sys.argv[2], True)\n"
      "assert summary['num_devices'] == 2, summary\n"
      "np.savez(sys.argv[3], *[np.asarray(x) for x in jax.tree.leaves(jax.device_get(state.g_params))])\n")
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
  for mode in ("mesh", "pmap"):
    out = tmp_path / f"{mode}.npz"
    proc = subprocess.run([sys.executable, "-c", script, mode, str(tmp_path / mode), str(out)],
                          env=env, capture_output=True, text=True, timeout=600,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(out)
    want = [np.asarray(x) for x in jax.tree.leaves(single.g_params)]
    assert len(got.files) == len(want)
    for i, w in enumerate(want):
      np.testing.assert_allclose(got[f"arr_{i}"], w, rtol=1e-4, atol=1e-5)
  # Checkpoints hold one copy of the state whatever the mode: each run resumes here on one device.
  for mode in ("mesh", "pmap"):
    c = dcgan.get_config()
    c.update(smoke=True, dataset="npz", progress=False, data_dir=str(data_dir / "digits.npz"), parallel="jit")
    restored, _ = Checkpointer(str(tmp_path / mode / "checkpoints")).restore(single)  # shapes checked by name
    assert int(restored.step) == 4
    resumed, summary = dcgan.main(c, str(tmp_path / mode), True)
    assert summary["steps"] == 4
    for a, b in zip(jax.tree.leaves(resumed.g_params), jax.tree.leaves(single.g_params)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_two_process_cli_run_matches_one_device(dcgan_run, data_dir, tmp_path):
  # The README's one-machine multi-host recipe: the same CLI command in 2 processes (one CPU device each, joined
  # through jax.distributed on 127.0.0.1) trains on each process's half of every batch, writes one log and one
  # checkpoint together, and ends with the single-device run's parameters.
  import socket  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  _, single, _ = dcgan_run
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["JAX_PLATFORMS"] = "cpu"
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for attempt in range(2):  # a hung run (XLA's CPU collectives, see test_distributed.py) is tried once more
    workdir = tmp_path / f"attempt{attempt}"
    with socket.socket() as sock:
      sock.bind(("127.0.0.1", 0))
      port = sock.getsockname()[1]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "experiments.dcgan", "--workdir", str(workdir), f"--coordinator=127.0.0.1:{port}",
         "--num_processes=2", f"--process_id={i}", "--smoke=true", "--dataset=npz", "--progress=false",
         f"--data_dir={data_dir / 'digits.npz'}"], env=env, cwd=root, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True) for i in range(2)]
    try:
      logs = [p.communicate(timeout=120)[0] for p in procs]
      break
    except subprocess.TimeoutExpired:
      for p in procs:
        p.kill()
        p.wait()
  else:
    pytest.fail("the 2-process run hung twice (over 120 s each)")
  for p, log in zip(procs, logs):
    assert p.returncode == 0, log[-3000:]
  assert "wrote" in logs[0].splitlines()[-1] and "process 0 wrote" in logs[1].splitlines()[-1]
  assert [json.loads(line)["step"] for line in (workdir / "metrics.jsonl").read_text().splitlines()] == [2, 4]
  assert json.loads((workdir / "summary.json").read_text())["num_devices"] == 2
  restored, _ = Checkpointer(str(workdir / "checkpoints")).restore(single)
  assert int(restored.step) == 4
  for a, b in zip(jax.tree.leaves(restored.g_params), jax.tree.leaves(single.g_params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
  for a, b in zip(jax.tree.leaves(restored.d_params), jax.tree.leaves(single.d_params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def _assert_trees_close(a, b, rel=1e-3):
  """Leaf by leaf: floats within `rel` of the leaf's scale (vmapped convolutions sum in another order), the rest
  (steps, PRNG keys) equal."""
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    if jnp.issubdtype(getattr(x, "dtype", np.float32), jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    x, y = np.asarray(x), np.asarray(y)
    if np.issubdtype(y.dtype, np.floating):
      assert np.max(np.abs(x - y), initial=0.0) <= rel * np.max(np.abs(y), initial=0.0) + 1e-6
    else:
      np.testing.assert_array_equal(x, y)


def test_initial_states_together_are_each_seeds_own(data_dir):
  """init_together stacks the states `init` gives each seed, bitwise, for an init with QR decompositions too (a
  vmapped init batched them, and batched LAPACK calls hung XLA's CPU runtime)."""
  c = experiment.apply_smoke(_config(dcgan, data_dir, init="orthogonal"))
  model = experiment.compiled(c, 28, 1, 0)
  example = {"image": jnp.zeros((c.batch_size, 28, 28, 1))}
  together = jax.device_get(experiment.init_together(model, [3, 8], example))
  for i, seed in enumerate((3, 8)):
    c.seed = seed
    _assert_trees_equal(jax.tree.map(lambda x, i=i: x[i], together), jax.device_get(experiment.init(c, model, example)))
  kernel = np.asarray(together.g_params["Dense_0"]["kernel"][0])  # orthogonal: (in, out) with in < out
  np.testing.assert_allclose(kernel @ kernel.T, np.eye(kernel.shape[0]), atol=1e-5)


def test_seeds_trained_together_match_runs_alone(dcgan_run, data_dir, tmp_path):
  _, alone, summary_alone = dcgan_run  # seed 0, trained by itself
  configs = [_config(dcgan, data_dir, seed=s) for s in (0, 5)]
  workdirs = [str(tmp_path / "s0"), str(tmp_path / "s5")]
  (tmp_path / "s5").mkdir()
  (tmp_path / "s5" / "metrics.jsonl").write_text('{"step": 2}\n')  # left by an unfinished run: moved aside
  states, summaries = experiment.run_together(configs, workdirs, name="dcgan")
  _assert_trees_close(jax.device_get(states[0]), alone)
  # Seed 5 is another run (its own init and data order), not a copy of seed 0.
  g5, g0 = states[1].g_params["Dense_0"]["kernel"], alone.g_params["Dense_0"]["kernel"]
  assert np.max(np.abs(np.asarray(g5) - np.asarray(g0))) > 0.01
  # Each workdir is a finished run: run() resumes it without a step and ends with the same state.
  for config, workdir, state, summary in zip(configs, workdirs, states, summaries):
    assert summary["steps"] == 4 and summary["seeds_together"] == 2 and summary["parallel"] == "vmap"
    assert read_json(os.path.join(workdir, "summary.json")) == json.loads(json.dumps(summary))
    records = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    assert [r["step"] for r in records] == [2, 4] and isinstance(records[-1]["d_loss"], float)
    assert summary["final"]["d_loss"] == records[-1]["d_loss"]
    assert Checkpointer(os.path.join(workdir, "checkpoints")).all_steps() == [4]
    resumed, again = dcgan.main(config, workdir, True)
    assert again["steps"] == 4
    _assert_trees_equal(jax.device_get(resumed), jax.device_get(state))
  assert os.listdir(tmp_path / "s5" / "superseded")
  # Seed 0's last logged losses are the lone run's (same batches, same init).
  assert summaries[0]["final"]["d_loss"] == pytest.approx(
      summary_alone["final"]["d_loss"], rel=1e-3)
  # Refused before any compute: other settings than the seed, a seed twice, a workdir that holds a run.
  with pytest.raises(experiment.ExperimentError, match="seed 5 also differs in g_lr"):
    experiment.run_together([configs[0], _config(dcgan, data_dir, seed=5, g_lr=1e-3)], [None, None])
  with pytest.raises(experiment.ExperimentError, match=r"distinct seeds, got \[0, 0\]"):
    experiment.run_together([configs[0], configs[0]], [None, None])
  with pytest.raises(experiment.ExperimentError, match="already holds a run's checkpoint"):
    experiment.run_together(configs, workdirs)


def test_steps_per_call_runs_the_same_training_and_resumes_exactly(dcgan_run, data_dir, tmp_path, monkeypatch):
  """steps_per_call=2: the same run as one step per call (to float32 rounding: XLA lays a convolution's loop body out
  differently on a CPU), logs, samples and checkpoints at the call boundaries; killed inside the second call and
  resumed, it equals its uninterrupted self bit for bit."""
  _, one_per_call, _ = dcgan_run
  full, summary = dcgan.main(_config(dcgan, data_dir, steps_per_call=2), str(tmp_path / "full"), True)
  assert summary["steps"] == 4
  _assert_trees_close(jax.device_get(full), one_per_call, rel=1e-5)
  assert [r["step"] for r in read_jsonl(tmp_path / "full" / "metrics.jsonl")] == [2, 4]
  assert sorted(os.listdir(tmp_path / "full" / "samples")) == ["step_000002.png", "step_000004.png"]
  assert Checkpointer(tmp_path / "full" / "checkpoints").all_steps() == [2, 4]

  calls = {"n": 0}
  original = Pipeline.__next__

  def killed_at_the_third_batch(self):  # the first batch of the second call of 2
    calls["n"] += 1
    if calls["n"] == 3:
      raise KeyboardInterrupt
    return original(self)

  with monkeypatch.context() as mp:
    mp.setattr(Pipeline, "__next__", killed_at_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
      dcgan.main(_config(dcgan, data_dir, steps_per_call=2), str(tmp_path / "killed"), True)
  assert Checkpointer(tmp_path / "killed" / "checkpoints").all_steps() == [2]
  _, extra = Checkpointer(tmp_path / "killed" / "checkpoints").restore(jax.device_get(full), step=2)
  assert (extra["data"]["epoch"], extra["data"]["step"]) == (0, 2)  # the position at the call boundary
  state, summary = dcgan.main(_config(dcgan, data_dir, steps_per_call=2), str(tmp_path / "killed"), True)
  assert summary["steps"] == 4
  _assert_trees_equal(jax.device_get(full), jax.device_get(state))


def test_steps_per_call_must_divide_the_step_counts():
  c = dcgan.get_config()  # num_steps 2000, log_every 50, sample_every 250, checkpoint_every 500
  c.steps_per_call = 4
  with pytest.raises(experiment.ExperimentError, match=r"^steps_per_call=4: log_every=50, sample_every=250 are not "
                                                      r"multiples of 4 .*; set --log_every=48 --sample_every=248, or "
                                                      r"a steps_per_call that divides them \(1 always works\)$"):
    experiment.check_config(c)
  c.steps_per_call = 0
  with pytest.raises(experiment.ExperimentError, match=r"steps_per_call must be an int >= 1"):
    experiment.check_config(c)
  c.steps_per_call, c.stop_at = 2, 1001
  with pytest.raises(experiment.ExperimentError, match=r"^steps_per_call=2: stop_at=1001 is not a multiple of 2"):
    experiment.check_config(c)
  c.stop_at = 1000
  experiment.check_config(c)
  assert experiment.apply_smoke(dcgan.get_config()).steps_per_call == 1
  smoke = dcgan.get_config()
  smoke.steps_per_call = 16
  assert experiment.apply_smoke(smoke).steps_per_call == 2  # divides the smoke run's 4 steps and intervals of 2


def test_seeds_together_with_steps_per_call(data_dir, tmp_path):
  configs = [_config(dcgan, data_dir, seed=s, steps_per_call=2) for s in (0, 5)]
  states, summaries = experiment.run_together(configs, [str(tmp_path / "s0"), None], name="dcgan")
  assert [s["steps"] for s in summaries] == [4, 4]
  records = read_jsonl(tmp_path / "s0" / "metrics.jsonl")
  assert [r["step"] for r in records] == [2, 4] and isinstance(records[-1]["d_loss"], float)
  _, extra = Checkpointer(tmp_path / "s0" / "checkpoints").restore(jax.device_get(states[0]))
  assert (extra["data"]["epoch"], extra["data"]["step"]) == (0, 4)  # 4 batches read, none ahead
  alone, _ = dcgan.main(_config(dcgan, data_dir, seed=5), None, True)
  _assert_trees_close(jax.device_get(states[1]), jax.device_get(alone))
