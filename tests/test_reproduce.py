"""experiments.classics, experiments.protocols and benchmarks.reproduce on CPU: every row's config trains 2 smoke
steps; protocols pick the right split and counts; the table writer on fake results; one row end to end with a
cheap stand-in for the Inception network."""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import reproduce
from experiments import classics
from experiments import protocols as proto
from jaxgan import metrics
from jaxgan.metrics import FeatureExtractor
from jaxgan.train import experiment


@dataclasses.dataclass(frozen=True)
class _PoolFeatures:
  """A stand-in for the Inception: images -> 4x4 average-pooled gray levels, (N, 16) float32."""

  def __call__(self, params, images):
    x = images.astype(jnp.float32)
    x = x / 127.5 - 1.0 if images.dtype == jnp.uint8 else x
    x = jnp.mean(x, axis=-1)
    n, h, w = x.shape
    pooled = jax.image.resize(x, (n, 4, 4), "linear").reshape(n, 16)
    return {"pool3": pooled * params["scale"]}


def _extractor():
  return FeatureExtractor(_PoolFeatures(), {"scale": jnp.float32(1.0)}, feature_dim=16)


def _fake_npz(path, side, channels, num, seed):
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[:side, :side]
  images = np.empty((num, side, side, channels), np.uint8)
  for i in range(num):
    cy, cx = rng.uniform(side * 0.3, side * 0.7, 2)
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (side / 3.0))
    images[i] = np.clip(255 * blob + rng.integers(0, 20, (side, side)), 0, 255)[..., None]
  np.savez(path, x_train=images, x_test=images[: num // 2])
  return path


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory):
  root = tmp_path_factory.mktemp("data")
  return {"28": str(_fake_npz(root / "gray28.npz", 28, 1, 80, 0)),
          "32": str(_fake_npz(root / "rgb32.npz", 32, 3, 80, 1))}


def _smoke_config(name, fake_data, steps=2):
  c = classics.get_config(name)
  c.smoke = True
  c.num_steps = steps
  c.dataset = "npz"
  c.data_dir = fake_data["32" if classics.get_row(name).dataset == "cifar10" else "28"]
  return c


# ----------------------------------------------------------------------------------------- classics rows


@pytest.mark.parametrize("name", classics.row_names())
def test_every_row_trains_two_smoke_steps(name, fake_data):
  state, summary = classics.main(_smoke_config(name, fake_data), None, True)
  assert summary["steps"] == 2
  assert summary["experiment"] == f"classics/{name}"
  losses = [v for k, v in summary["final"].items() if k in ("d_loss", "g_loss")]
  assert losses and all(np.all(np.isfinite(v)) for v in losses)
  assert int(jax.device_get(state.step)) == 2


def test_rows_carry_the_papers_settings():
  ns, wgan, gp = (classics.get_config(n) for n in ("mnist_ns", "mnist_wgan", "fashion_wgan_gp"))
  assert (ns.net, ns.latent_dim, ns.batch_size, ns.loss) == ("infogan", 64, 64, "non_saturating")
  assert (ns.latent_dist, ns.g_activation, ns.lr_schedule) == ("uniform", "leaky_relu", "constant")
  hinge = classics.get_config("mnist_hinge_sn")
  assert (hinge.net, hinge.loss, hinge.resolution) == ("sninfogan", "hinge", 0)  # 28x28, like the other rows
  assert ns.num_steps == 18_750  # 20 epochs of 60k at batch 64
  assert (wgan.optimizer, wgan.weight_clip, wgan.d_steps, wgan.g_lr) == ("rmsprop", 0.01, 5, 5e-5)
  assert wgan.num_steps == round(20 * 60_000 / (64 * 5))  # 20 epochs of critic reads
  assert (gp.regularizer, gp.reg_weight, gp.d_norm, gp.beta1, gp.beta2) == ("gradient_penalty", 10.0, "layer",
                                                                            0.5, 0.9)
  sn = classics.get_config("cifar_sngan_resnet_hinge")
  assert (sn.net, sn.loss, sn.beta1, sn.beta2, sn.d_steps, sn.num_steps, sn.latent_dim) == (
      "snresnet", "hinge", 0.0, 0.9, 5, 50_000, 128)
  assert sn.lr_schedule == "linear" and classics.get_config("cifar_wgan_gp_resnet").lr_schedule == "linear"
  assert sn.init == classics.get_config("cifar_wgan_gp_resnet").init == "glorot"  # both ResNet codes' init
  # The SN-GAN and WGAN-GP ResNet code draws 128 latents per G update with D batch 64; every other row draws
  # D's batch.
  assert (sn.batch_size, sn.g_batch_multiplier) == (64, 2)
  assert {n for n in classics.row_names() if classics.get_config(n).g_batch_multiplier != 1} == {
      "cifar_sngan_resnet_hinge", "cifar_wgan_gp_resnet"}
  cnn = classics.get_config("cifar_wgan_gp_cnn")  # Miyato et al.'s WGAN-GP row: their CNN, no SN, setting A
  assert (cnn.net, cnn.regularizer, cnn.g_lr, cnn.beta1, cnn.beta2, cnn.d_steps) == (
      "cnn", "gradient_penalty", 1e-4, 0.5, 0.9, 5)
  dc = classics.get_config("cifar_dcgan_ns")  # StudioGAN's DCGAN.yaml and its config defaults
  assert (dc.net, dc.d_steps, dc.num_steps, dc.latent_dim, dc.init, dc.flip, dc.batch_size, dc.g_lr, dc.beta1) == (
      "deepconv", 2, 200_000, 128, "orthogonal", True, 64, 2e-4, 0.5)
  # Fashion rows are the MNIST rows on another dataset.
  for key in ("mm", "ns", "ls", "wgan", "wgan_gp", "dragan", "hinge_sn"):
    a, b = classics.get_config(f"mnist_{key}").to_dict(), classics.get_config(f"fashion_{key}").to_dict()
    assert {k for k in a if a[k] != b[k]} == {"dataset", "row"}
  assert classics.get_row("mnist_ns").published["fid"] == 6.8
  assert classics.get_row("cifar_sngan_resnet_hinge").published == {
      "fid": 21.7, "is": 8.22, "source": classics.get_row("cifar_sngan_resnet_hinge").published["source"]}


def _infogan_sizes(z, channels, d_norm, w=64, side=28):
  """Lucic et al. 2018, Table 7 (InfoGAN nets, width w = 64): no bias before a normalization layer."""
  b = side // 4
  g = (z * 16 * w + 2 * 16 * w) + (16 * w * b * b * 2 * w + 2 * b * b * 2 * w) + (16 * 2 * w * w + 2 * w) + (
      16 * w * channels + channels)
  per_channel = 2 * (2 * w + 16 * w)  # a scale and a shift per channel of the two normalized layers
  d = (16 * channels * w + w) + 16 * w * 2 * w + b * b * 2 * w * 16 * w + (16 * w + 1) + (
      per_channel if d_norm != "none" else per_channel // 2)  # without normalization: the layers' own biases
  return g, d


def _sndcgan_sizes(z=128, channels=3, w=64, m=4):
  """Miyato et al. 2018, Table 3 (standard CNN): Dense + 3 deconvs 4x4 with batch norm, conv 3x3 out; D 7 convs."""
  g = z * m * m * 8 * w + 2 * 8 * w + sum(16 * a * b * w * w + 2 * b * w for a, b in ((8, 4), (4, 2), (2, 1)))
  g += 9 * w * channels + channels
  convs = ((channels, w, 3), (w, w, 4), (w, 2 * w, 3), (2 * w, 2 * w, 4), (2 * w, 4 * w, 3), (4 * w, 4 * w, 4),
           (4 * w, 8 * w, 3))
  d = sum(k * k * cin * cout + cout for cin, cout, k in convs) + (m * m * 8 * w + 1)
  return g, d


def _resnet_sizes(g_width, z=128, channels=3, w=128, head_bias=True):
  """Miyato et al. 2018, Table 4 / Gulrajani et al. 2017, App. F: 3 up blocks in G, 4 blocks in D, at 32x32. D's
  Dense(1) has a bias in Gulrajani et al.'s code, none in the SN-GAN code's 32x32 D."""
  conv3 = lambda cin, cout: 9 * cin * cout + cout
  gw = g_width
  g_block = 2 * (2 * gw) + 2 * conv3(gw, gw) + (gw * gw + gw)  # two BNs, two 3x3 convs, a 1x1 shortcut
  g = (z * 16 * gw + 16 * gw) + 3 * g_block + 2 * gw + conv3(gw, channels)
  optimized = conv3(channels, w) + conv3(w, w) + (channels * w + w)
  d = optimized + (2 * conv3(w, w) + w * w + w) + 2 * 2 * conv3(w, w) + (w + int(head_bias))
  return g, d


def _deepconv_sizes(z=128, channels=3, w=64, m=4):
  """StudioGAN's deep_conv (src/models/deep_conv.py): the standard CNN with a biased input layer and no batch norm
  after it in G (its deconvs' biases, which batch norm cancels, are left out here); D's seven convs keep their
  biases, each followed by batch norm; D's last map is summed over H and W before Dense(1)."""
  g, d = _sndcgan_sizes(z, channels, w, m)
  g += m * m * 8 * w - 2 * 8 * w  # the input layer's bias instead of its batch norm
  d += 2 * w * (1 + 1 + 2 + 2 + 4 + 4 + 8) - (m * m * 8 * w - 8 * w)  # 7 batch norms; head on 8w features
  return g, d


def test_rows_build_the_papers_networks():
  """Parameter counts of every row's G and D (traced, not compiled), against the papers' architecture tables."""
  expected = {
      "cifar_dcgan_ns": _deepconv_sizes(),
      "cifar_sndcgan_ns": _sndcgan_sizes(), "cifar_sndcgan_hinge": _sndcgan_sizes(),
      "cifar_wgan_gp_cnn": _sndcgan_sizes(),
      "cifar_wgan_gp_resnet": _resnet_sizes(g_width=128),  # Gulrajani et al.: G 128 wide
      "cifar_sngan_resnet_hinge": _resnet_sizes(g_width=256, head_bias=False),  # Miyato et al.: G 256 wide
  }
  for prefix in ("mnist", "fashion"):
    expected.update({f"{prefix}_{key}": _infogan_sizes(64, 1, d_norm) for key, d_norm in (
        ("mm", "batch"), ("ns", "batch"), ("ls", "batch"), ("wgan", "batch"), ("wgan_gp", "layer"),
        ("dragan", "layer"), ("hinge_sn", "none"))})
  assert set(expected) == set(classics.row_names())
  spectral = {"cifar_sndcgan_ns", "cifar_sndcgan_hinge", "cifar_sngan_resnet_hinge", "mnist_hinge_sn",
              "fashion_hinge_sn"}
  for name, (g_size, d_size) in expected.items():
    c = classics.get_config(name)
    side, channels = (32, 3) if c.dataset == "cifar10" else (28, 1)
    g, d = experiment.build_nets(c, side, channels, 0)
    key = jax.random.key(0)
    gv = jax.eval_shape(g.init, key, jnp.zeros((2, c.latent_dim)))
    dv = jax.eval_shape(d.init, key, jnp.zeros((2, side, side, channels)))
    count = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))
    assert (count(gv["params"]), count(dv["params"])) == (g_size, d_size), name
    assert ("spectral" in dv) == (name in spectral), name
    if "resnet" in name:  # global pooling before D's head: Gulrajani et al.'s code averages, Miyato et al.'s sums
      assert d.pooling == ("mean" if name == "cifar_wgan_gp_resnet" else "sum")


def test_unknown_row_lists_the_known_ones():
  with pytest.raises(experiment.ExperimentError, match="known rows: mnist_mm, mnist_ns"):
    classics.get_config("mnist_began")
  with pytest.raises(experiment.ExperimentError, match="unknown row 'nope'"):
    classics.expand_rows("mnist_ns,nope")
  assert classics.expand_rows("fashion,mnist_ns") == [n for n in classics.row_names()
                                                        if n.startswith("fashion_")] + ["mnist_ns"]
  with pytest.raises(SystemExit, match="known rows"):
    reproduce.main(["--rows", "cifar_biggan", "--out", "/nonexistent"])


def test_data_dir_is_one_folder_per_dataset(tmp_path):
  """A bare folder serves a run of one dataset only; several datasets need name=DIR pairs."""
  assert reproduce.parse_data_dirs("", ["mnist", "cifar10"]) == {}
  assert reproduce.parse_data_dirs("d/m", ["mnist", "mnist"]) == {"mnist": "d/m"}
  assert reproduce.parse_data_dirs("mnist=d/m, fashion_mnist=d/f", ["mnist", "fashion_mnist"]) == {
      "mnist": "d/m", "fashion_mnist": "d/f"}
  with pytest.raises(ValueError, match=r"one folder, but this run reads \['mnist', 'fashion_mnist'\]"):
    reproduce.parse_data_dirs("d/m", ["mnist", "fashion_mnist"])
  with pytest.raises(ValueError, match="'svhn=d/s' is not dataset=DIR"):
    reproduce.parse_data_dirs("mnist=d/m,svhn=d/s", ["mnist"])
  with pytest.raises(ValueError, match="'mnist=' is not dataset=DIR"):
    reproduce.parse_data_dirs("mnist=", ["mnist"])
  # The CLI refuses before any work: MNIST files read as Fashion-MNIST would give a wrong row silently.
  with pytest.raises(SystemExit, match="give one folder per dataset"):
    reproduce.main(["--rows", "mnist_ns,fashion_ns", "--data-dir", str(tmp_path), "--out", str(tmp_path)])
  with pytest.raises(SystemExit, match="give one folder per dataset"):
    reproduce.main(["--baselines", "--data-dir", str(tmp_path), "--out", str(tmp_path)])
  assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------------ protocols


def test_protocols_pick_split_and_counts():
  lucic, miyato, studio = (proto.get_protocol(n) for n in ("lucic2018", "miyato2018", "studiogan"))
  ref = proto.reference_spec(lucic, "mnist")
  assert (ref.split, ref.num, ref.whole) == ("test", 10_000, True)
  assert lucic.num_generated == 10_000 and lucic.mode == "tf1" and lucic.metrics == ("fid",)
  assert (proto.baseline_spec(lucic, "fashion_mnist").split, proto.baseline_spec(lucic, "fashion_mnist").num) == (
      "train", 10_000)
  ref = proto.reference_spec(miyato, "cifar10")
  assert (ref.split, ref.num, miyato.num_generated, miyato.is_num, miyato.is_splits) == (
      "test", 10_000, 5_000, 50_000, 10)
  assert "is" in miyato.metrics
  ref = proto.reference_spec(studio, "cifar10")
  assert (ref.split, ref.num, ref.whole, studio.num_generated) == ("train", 50_000, True, 50_000)
  assert not proto.reference_spec(studio, "mnist").whole  # 50k of MNIST's 60k: a seeded subset
  b = proto.baseline_spec(studio, "cifar10")
  assert (b.split, b.num, b.describe()) == ("test", 10_000, "10k test")


def test_protocol_refuses_more_images_than_the_split_has():
  studio = proto.get_protocol("studiogan")
  with pytest.raises(proto.ProtocolError, match=r"asks for 50000 reference images of cifar10 split 'train', "
                                                r"which has 1000"):
    proto.reference_spec(studio, "cifar10", available=1000)
  greedy = dataclasses.replace(proto.get_protocol("lucic2018"), num_real=20_000)
  with pytest.raises(proto.ProtocolError, match="which has 10000"):
    proto.reference_spec(greedy, "mnist")
  with pytest.raises(proto.ProtocolError, match="known: lucic2018, miyato2018, studiogan"):
    proto.get_protocol("ttur")
  with pytest.raises(proto.ProtocolError, match="asked for 5 images of a split that has 3"):
    proto.select(np.zeros((3, 2, 2, 1), np.uint8), 5, 0)


def test_select_is_whole_or_a_seeded_subset():
  images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1)
  np.testing.assert_array_equal(proto.select(images, 10, 0), images)
  a, b, c = (proto.select(images, 4, s).ravel() for s in (0, 0, 1))
  np.testing.assert_array_equal(a, b)
  assert len(set(a.tolist())) == 4 and np.all(np.diff(a) > 0) and not np.array_equal(a, c)


def test_shrunk_protocol_caps_every_count():
  p = proto.get_protocol("miyato2018").shrunk(32)
  assert (p.num_real, p.num_generated, p.is_num, p.baseline_num, p.is_splits) == (32, 32, 32, 32, 2)


# ---------------------------------------------------------------------------------------------------- table


def _fake_result(name, fids, steps, paper_steps, diverged=0, smoke=False, ema=(), standing=()):
  seeds = [{"seed": i, "status": "ok", "fid": f} for i, f in enumerate(fids)]
  seeds += [{"seed": 10 + i, "status": "diverged", "fid": None, "error": "NaN"} for i in range(diverged)]
  mean, std = reproduce.aggregate(fids)
  row = classics.get_row(name)
  return {"row": name, "dataset": row.dataset, "protocol": dataclasses.asdict(proto.get_protocol(row.protocol)),
          "published": row.published, "seeds": seeds, "fid_mean": mean, "fid_std": std, "is_mean": None,
          "is_std": None, "num_ok": len(fids), "num_seeds": len(seeds), "steps": steps, "steps_paper": paper_steps,
          "wall_seconds": 5400.0, "device": "NVIDIA H100", "smoke": smoke, "num_ema": len(ema),
          "fid_ema_mean": reproduce.aggregate(ema)[0], "fid_ema_std": reproduce.aggregate(ema)[1],
          "num_ema_standing": len(standing), "fid_ema_standing_mean": reproduce.aggregate(standing)[0],
          "fid_ema_standing_std": reproduce.aggregate(standing)[1]}


def test_table_writer_on_fake_results(tmp_path):
  results = {
      "mnist_ns": _fake_result("mnist_ns", [7.0, 8.0, 9.0], 18750, 18750, ema=[6.0, 7.0]),
      "mnist_wgan": _fake_result("mnist_wgan", [], 100, 3750, diverged=2),
      "fashion_ls": _fake_result("fashion_ls", [30.0, 32.0], 500, 18750, diverged=1, ema=[29.0, 31.0],
                                 standing=[25.5]),
      "fashion_ns": _fake_result("fashion_ns", [], 100, 18750),
  }
  # A finite FID above the sanity bound (a run stopped early, no NaN) is shown beside the word.
  results["fashion_ns"]["seeds"] = [{"seed": 0, "status": "diverged", "fid": 341.24, "error": "FID above"}]
  results["fashion_ns"]["num_seeds"] = 1
  baselines = {"mnist/lucic2018": {
      "status": "ok", "description": "FID 10k gen vs 10k test, tf1", "compared": "10k train vs 10k test",
      "runs": [{"fid": 1.5}, {"fid": 2.5}], "fid_mean": 2.0, "fid_std": 0.7071, "seconds": 90.0,
      "device": "CPU (x, 2 cores)"},
      "cifar10/studiogan": {"status": "error", "error": "no data"}}
  text = reproduce.write_table(results, baselines, tmp_path / "results.md")
  assert (tmp_path / "results.md").read_text() == text
  lines = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
  assert "| 8.00 ± 1.00 (n=3) | — | 6.50 ± 0.71 (n=2) | FID 6.8 ± 0.5 |" in lines["mnist_ns"]
  # A row whose weight average ramps its half-life up says so in the cell (the 28x28 rows were measured without).
  ramped = {**results["mnist_ns"], "config": {"ema_decay": 0.999, "ema_rampup": 0.05}}
  assert "| ramp-up 0.05: 6.50 ± 0.71 (n=2) |" in reproduce.write_table({"mnist_ns": ramped}, {})
  assert "| diverged | — | — | FID 6.7 ± 0.4 |" in lines["mnist_wgan"]  # no weight average scored: a dash
  assert "18750 / 18750" in lines["mnist_ns"] and "90 min" in lines["mnist_ns"] and "| ok |" in lines["mnist_ns"]
  assert "| diverged |" in lines["mnist_wgan"] and "FID 6.7 ± 0.4" in lines["mnist_wgan"]
  assert "31.00 ± 1.41 (1/3 seeds diverged)" in lines["fashion_ls"] and "partly diverged" in lines["fashion_ls"]
  assert "| fashion_ns | Fashion-MNIST | diverged (FID 341.2 above the sanity bound) |" in lines["fashion_ns"]
  assert "| fashion_ls | Fashion-MNIST | 31.00 ± 1.41 (1/3 seeds diverged) | — | 30.00 ± 1.41 (n=2); standing " \
         "statistics 25.50 (n=1) | FID 30.7 ± 2.2 |" in lines["fashion_ls"]
  assert lines["mnist_ns"].startswith("| mnist_ns | MNIST | ")
  # Every other row is listed as not run, with its published figure and never a number of ours.
  assert f"| {reproduce.NOT_RUN} | — | — | FID 21.7, IS 8.22 |" in lines["cifar_sngan_resnet_hinge"]
  assert "FID 48.29" in lines["cifar_dcgan_ns"]
  # Not run: every row without a result (3 have one) and every (dataset, protocol) baseline without an entry
  # (2 have one: mnist/lucic2018 measured, cifar10/studiogan an error).
  num_baselines = len(proto.SPLIT_SIZES) * len(proto.PROTOCOLS)  # the table lists every pair
  assert sum(reproduce.NOT_RUN in line for line in text.splitlines()) == (
      len(classics.ROWS) - len(results) + num_baselines - len(baselines))
  assert "2.00 ± 0.71 (n=2)" in text and "10k train vs 10k test" in text
  assert "error: no data" in text and "JPEG CIFAR-10" in text
  assert "50k train vs 50k train" not in text and "10k test vs 50k train" in text  # studiogan mnist, not run


def test_aggregate_and_divergence_bound():
  assert reproduce.aggregate([]) == (None, None)
  assert reproduce.aggregate([4.0]) == (4.0, 0.0)
  mean, std = reproduce.aggregate([1.0, 2.0, 3.0])
  assert mean == 2.0 and std == pytest.approx(1.0)
  assert reproduce.is_diverged(float("nan"), 300) and reproduce.is_diverged(301.0, 300)
  assert reproduce.is_diverged(None, 300) and not reproduce.is_diverged(299.0, 300)


def test_row_json_adds_up_seeds_and_survives_a_stop(tmp_path, monkeypatch):
  fids = {0: 7.0, 1: 9.0, 2: 11.0, 3: 400.0}

  def fake_seed(row, seed, evaluator, **kw):
    if seed == 5:
      raise KeyboardInterrupt  # a lease's time limit stops the run between seeds
    status = "ok" if fids[seed] < kw["diverged_above"] else "diverged"
    return {"seed": seed, "status": status, "fid": fids[seed], "steps": 18750, "train_seconds": 10.0 * (seed + 1),
            "eval_seconds": 1.0, "device": f"GPU {seed % 2}", "checkpoint_every": kw["checkpoint_every"]}

  monkeypatch.setattr(reproduce, "run_seed", fake_seed)
  run = lambda seeds, **kw: reproduce.run_row("mnist_ns", seeds, tmp_path, None, **kw)
  path = tmp_path / "mnist_ns.json"
  with pytest.raises(KeyboardInterrupt):
    run([0, 5])
  assert [x["seed"] for x in json.loads(path.read_text())["seeds"]] == [0]  # written after seed 0, kept
  assert [x["checkpoint_every"] for x in run([2, 1], checkpoint_every=0)["seeds"]] == [-1, 0, 0]
  result = json.loads(path.read_text())
  assert [x["seed"] for x in result["seeds"]] == [0, 1, 2]  # an earlier session's seed 0 is kept, seeds sorted
  assert result["fid_mean"] == pytest.approx(9.0) and result["fid_std"] == pytest.approx(2.0)
  assert result["wall_seconds"] == pytest.approx(10 + 20 + 30 + 3) and result["device"] == "GPU 0; GPU 1"
  fids[1] = 400.0  # seed 1 again: its new record replaces the old one
  again = run([1, 3])
  assert [x["seed"] for x in again["seeds"]] == [0, 1, 2, 3] and again["num_ok"] == 2
  assert again["fid_mean"] == pytest.approx(9.0)
  # Other settings (here fewer steps) never mix with these seeds: the old file moves to superseded/, intact.
  short = run([0], steps=100)
  assert [x["seed"] for x in short["seeds"]] == [0] and short["config"]["num_steps"] == 100
  (moved,) = (tmp_path / "superseded").iterdir()
  assert moved.name.startswith("mnist_ns-") and json.loads(moved.read_text()) == json.loads(json.dumps(again))
  assert not list(tmp_path.glob("*.tmp"))


def test_row_json_of_an_older_config_joins_when_new_fields_are_defaults(tmp_path):
  """A row JSON written before config fields were added (the committed MNIST JSON predate `stop_at` and
  `train_seconds`; written without `standing_stats` too here): its seeds still count, as the fields' defaults are
  what those runs did; a non-default value, or a field that is gone, makes other settings."""
  committed = pathlib.Path(reproduce.__file__).parent / "results" / "h200_2026-11-26" / "classics" / "mnist_ls.json"
  earlier = json.loads(committed.read_text())
  assert "train_seconds" not in earlier["config"]
  settings = reproduce._row_settings("mnist_ls", 0, False, 0)
  assert settings["config"]["standing_stats"] == 0 and settings["config"]["train_seconds"] == 0
  assert list(reproduce._read_seeds(committed, settings)) == [0, 1]
  path = tmp_path / "mnist_ls.json"
  older = {k: v for k, v in earlier["config"].items() if k != "standing_stats"}
  path.write_text(json.dumps({**earlier, "config": older}))
  assert list(reproduce._read_seeds(path, settings)) == [0, 1]
  for field, value in (("standing_stats", 3), ("train_seconds", 300.0)):
    changed = json.loads(json.dumps(settings))
    changed["config"][field] = value
    assert reproduce._read_seeds(committed, changed) is None
  path.write_text(json.dumps({**earlier, "config": {**earlier["config"], "removed_field": 1}}))
  assert reproduce._read_seeds(path, settings) is None
  path.write_text(json.dumps({**earlier, "config": {**earlier["config"], "g_lr": 1e-3}}))
  assert reproduce._read_seeds(path, settings) is None


def test_seeds_of_other_processes_are_kept_and_measured_seeds_skipped(tmp_path, monkeypatch):
  ran = []

  def fake_seed(row, seed, evaluator, **kw):
    ran.append(seed)
    if seed == 1:  # meanwhile another process finishes seed 7 of the row and rewrites the JSON
      path = tmp_path / "mnist_ns.json"
      other = json.loads(path.read_text())
      other["seeds"].append({"seed": 7, "status": "ok", "fid": 8.0})
      path.write_text(json.dumps(other))
    return {"seed": seed, "status": "ok", "fid": 5.0 + seed, "steps": 10, "train_seconds": 1.0, "eval_seconds": 1.0,
            "device": "GPU"}

  monkeypatch.setattr(reproduce, "run_seed", fake_seed)
  reproduce.run_row("mnist_ns", [0], tmp_path, None)
  result = reproduce.run_row("mnist_ns", [0, 1], tmp_path, None, skip_done=True)
  assert ran == [0, 1]  # seed 0 was measured: skipped the second time
  assert [x["seed"] for x in result["seeds"]] == [0, 1, 7]  # the other process's seed is not lost
  assert [x["seed"] for x in json.loads((tmp_path / "mnist_ns.json").read_text())["seeds"]] == [0, 1, 7]
  # What is left to run: every row's first seed before any second; a diverged seed counts as measured, a file
  # written with other settings (here: for 500 steps) counts as nothing and is left where it is.
  (tmp_path / "mnist_ls.json").write_text(json.dumps({**reproduce._row_settings("mnist_ls", 500, False, 0),
                                                      "seeds": [{"seed": 0, "status": "ok"}]}))
  (tmp_path / "mnist_mm.json").write_text(json.dumps({**reproduce._row_settings("mnist_mm", 0, False, 0),
                                                      "seeds": [{"seed": 1, "status": "diverged"}]}))
  rows = ["mnist_ns", "mnist_ls", "mnist_mm"]
  assert reproduce.todo(rows, [0, 1, 2], tmp_path) == [
      ("mnist_ls", 0), ("mnist_mm", 0), ("mnist_ls", 1), ("mnist_ns", 2), ("mnist_ls", 2), ("mnist_mm", 2)]
  assert reproduce.todo(rows, [0], tmp_path, steps={"mnist_ls": 500}) == [("mnist_mm", 0)]
  assert (tmp_path / "mnist_ls.json").is_file() and not (tmp_path / "superseded").exists()
  printed = reproduce.main(["--rows", ",".join(rows), "--seeds", "0,1", "--out", str(tmp_path), "--todo"])
  assert printed.split("\n") == ["mnist_ls:0", "mnist_mm:0", "mnist_ls:1"]


def test_plan_checks_arguments_and_lists_rows(capsys):
  assert reproduce.main(["--rows", "mnist_ns,fashion", "--plan"]).split("\n") == (
      ["mnist_ns"] + [n for n in classics.row_names() if n.startswith("fashion_")])
  with pytest.raises(SystemExit, match="one folder"):
    reproduce.main(["--rows", "mnist_ns,fashion_ns", "--data-dir", "data/mnist", "--plan"])
  with pytest.raises(SystemExit, match="unknown row 'nope'"):
    reproduce.main(["--rows", "nope", "--plan"])
  with pytest.raises(SystemExit, match=r"--seeds '0,a': expected comma-separated ints"):
    reproduce.main(["--rows", "mnist_ns", "--seeds", "0,a", "--plan"])
  with pytest.raises(SystemExit, match=r"--data-dir: mnist=/nonexistent/mnist does not exist"):
    reproduce.main(["--rows", "mnist_ns", "--data-dir", "/nonexistent/mnist", "--plan"])
  # Numbers that would fail only at the first evaluation, after a row's training, are refused before any work.
  for flags, message in ((["--seeds", "0,1,0"], r"seed\(s\) \[0\] given twice"), (["--seeds", ","], "no seed given"),
                         (["--fid-batch", "0"], "--fid-batch must be >= 1, got 0"),
                         (["--eval-cap", "-1"], "--eval-cap must be >= 0"), (["--workers", "0"], "--workers must be"),
                         (["--standing-stats", "-2"], "--standing-stats must be >= 0"),
                         (["--checkpoint-every", "-3"], "--checkpoint-every must be >= -1"),
                         (["--diverged-above", "nan"], "--diverged-above must be a positive FID"),
                         (["--diverged-above", "0"], "--diverged-above must be a positive FID")):
    with pytest.raises(SystemExit, match=message):
      reproduce.main(["--rows", "mnist_ns", *flags, "--plan"])


def test_steps_for_every_row_or_per_row():
  rows = ["mnist_ns", "cifar_sngan_resnet_hinge"]
  assert reproduce.parse_steps("", rows) == {} and reproduce.parse_steps("0", rows) == {}
  assert reproduce.parse_steps("500", rows) == {"mnist_ns": 500, "cifar_sngan_resnet_hinge": 500}
  # Pairs shorten the rows they name; a named row this run does not train is ignored (one setting, many runs).
  assert reproduce.parse_steps("cifar_sngan_resnet_hinge=5000, cifar_wgan_gp_resnet=4000", rows) == {
      "cifar_sngan_resnet_hinge": 5000}
  with pytest.raises(ValueError, match="every row needs a positive number of G steps, got '-3'"):
    reproduce.parse_steps("-3", rows)
  with pytest.raises(ValueError, match="mnist_ns needs a positive number of G steps, got 'many'"):
    reproduce.parse_steps("mnist_ns=many", rows)
  with pytest.raises(experiment.ExperimentError, match="unknown row 'mnist_nss'.*mnist_ns"):
    reproduce.parse_steps("mnist_nss=10", rows)
  with pytest.raises(SystemExit, match="unknown row 'cifar_sngan'"):  # the CLI checks it before any work
    reproduce.main(["--rows", "cifar", "--steps", "cifar_sngan=10", "--plan"])


# ----------------------------------------------------------------------------------------------- end to end


def test_row_end_to_end_with_stand_in_features(tmp_path, fake_data):
  def loader(dataset, split, resolution):
    assert (dataset, resolution) == ("mnist", 0)
    with np.load(fake_data["28"]) as z:
      return z[f"x_{split}"]

  evaluator = reproduce.Evaluator(tmp_path, extractor=_extractor(), batch_size=16, loader=loader,
                                  lock=tmp_path / "eval.lock")
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(classics, "get_config", _npz_config(classics.get_config, fake_data["28"]))
    result = reproduce.run_row("mnist_ns", [0], tmp_path, evaluator, smoke=True, data_dir=fake_data["28"])
    # Run again: the finished run is resumed, not retrained; same FID, training time kept; this time G's weight
    # average is also scored with standing statistics.
    again = reproduce.run_row("mnist_ns", [0], tmp_path, evaluator, smoke=True, data_dir=fake_data["28"],
                              standing_batches=2)
    # A sanity bound below any FID marks the seed diverged instead of hiding it.
    bad = reproduce.run_row("mnist_ns", [1], tmp_path / "bad", evaluator, smoke=True, data_dir=fake_data["28"],
                            diverged_above=-1.0)
  seed = result["seeds"][0]
  assert again["seeds"][0]["fid"] == seed["fid"] and again["seeds"][0]["train_seconds"] == seed["train_seconds"]
  assert seed["status"] == "ok" and np.isfinite(seed["fid"]) and seed["steps"] == 4
  assert 0.0 <= seed["eval_wait_seconds"] < seed["eval_seconds"] + 1.0  # nobody else held the turn
  assert seed["workers"] == 1 and seed["frechet"] == "sqrtm"
  # G's weight average is scored beside G: another generator, another FID.
  assert np.isfinite(seed["fid_ema"]) and seed["fid_ema"] != seed["fid"] and result["num_ema"] == 1
  assert "fid_ema_standing" not in seed and result["num_ema_standing"] == 0
  # The same weight average with other batch-norm statistics: the same samples' latents, another FID.
  standing = again["seeds"][0]
  assert standing["fid_ema"] == seed["fid_ema"] and standing["standing_batches"] == 2
  assert np.isfinite(standing["fid_ema_standing"]) and standing["fid_ema_standing"] != seed["fid_ema"]
  assert again["fid_ema_standing_mean"] == standing["fid_ema_standing"] and again["num_ema_standing"] == 1
  assert result["num_ok"] == 1 and result["fid_mean"] == seed["fid"] and result["protocol"]["num_generated"] == 32
  on_disk = json.loads((tmp_path / "mnist_ns.json").read_text())
  assert on_disk["fid_mean"] == result["fid_mean"] and on_disk["protocol"]["name"] == "lucic2018"
  assert (tmp_path / "runs" / "mnist_ns" / "seed_0" / "summary.json").is_file()
  assert (tmp_path / "stats" / "mnist_test_32_seed0_tf1_r0_custom.npz").is_file()  # 32 of the fake 40
  assert bad["seeds"][0]["status"] == "diverged" and "sanity bound" in bad["seeds"][0]["error"]
  # A workdir trained with other model settings is refused before any compute, with a remedy for this command.
  with pytest.MonkeyPatch.context() as mp:
    other = _npz_config(classics.get_config, fake_data["28"])
    mp.setattr(classics, "get_config", lambda row="mnist_ns": _with(other(row), g_lr=1e-3))
    with pytest.raises(experiment.ExperimentError, match=r"g_lr=0.0002 there, 0.001 now.*move .*seed_0 aside"):
      reproduce.run_seed("mnist_ns", 0, evaluator, smoke=True, data_dir=fake_data["28"],
                         workdir=str(tmp_path / "runs" / "mnist_ns" / "seed_0"))
  # Baselines: subsets (32 of 40 test, 32 of 80 train) are drawn per seed; a split too small is reported.
  entries = reproduce.run_baselines(["mnist"], ["lucic2018"], [0, 1], tmp_path, evaluator, smoke=True)
  assert entries[0]["status"] == "ok" and len(entries[0]["runs"]) == 2 and np.isfinite(entries[0]["fid_mean"])
  assert entries[0]["runs"][0]["fid"] != entries[0]["runs"][1]["fid"]
  greedy = dataclasses.replace(proto.PROTOCOLS["lucic2018"], name="greedy", num_real=20_000)
  with pytest.MonkeyPatch.context() as mp:
    mp.setitem(proto.PROTOCOLS, "greedy", greedy)
    (entry,) = reproduce.run_baselines(["mnist"], ["greedy"], [0], tmp_path / "greedy", evaluator)
  assert entry["status"] == "error" and "asks for 20000 reference images of mnist split 'test'" in entry["error"]
  text = reproduce.write_table(*reproduce.load_results(tmp_path))
  assert "smoke (meaningless FID)" in text and "| MNIST | lucic2018: FID 10k gen vs 10k test, tf1" in text


def test_seeds_trained_together_then_evaluated_one_by_one(tmp_path, fake_data, monkeypatch):
  def loader(dataset, split, resolution):
    with np.load(fake_data["28"]) as z:
      return z[f"x_{split}"]

  evaluator = reproduce.Evaluator(tmp_path, extractor=_extractor(), batch_size=16, loader=loader)
  monkeypatch.setattr(classics, "get_config", _npz_config(classics.get_config, fake_data["28"]))
  run = lambda out, **kw: reproduce.run_row("mnist_ns", [0, 1], out, evaluator, smoke=True,
                                            data_dir=fake_data["28"], **kw)
  together = run(tmp_path / "together", together=True)
  # A NaN in a group leaves nothing behind and its seeds are trained one by one: here, the runs alone to compare.
  def nan_group(configs, workdirs):
    raise reproduce.NonFiniteError("step 3: non-finite d_loss")
  monkeypatch.setattr(classics, "main_together", nan_group)
  alone = run(tmp_path / "alone", together=True)
  assert [x["seeds_together"] for x in together["seeds"]] == [2, 2]
  assert [x["seeds_together"] for x in alone["seeds"]] == [1, 1]
  # The same runs (to float rounding: vmapped convolutions sum in another order), so the same FIDs.
  for a, b in zip(together["seeds"], alone["seeds"]):
    assert a["status"] == b["status"] == "ok" and a["steps"] == b["steps"] == 4
    assert a["fid"] == pytest.approx(b["fid"], rel=1e-3) and a["fid_ema"] == pytest.approx(b["fid_ema"], rel=1e-3)
  assert together["seeds"][0]["fid"] != together["seeds"][1]["fid"]
  # Both seeds hold the group's train time; the row counts it once.
  t = together["seeds"][0]["train_seconds"]
  assert together["seeds"][1]["train_seconds"] == t
  assert together["wall_seconds"] == pytest.approx(t + sum(x["eval_seconds"] for x in together["seeds"]))
  # --todo --together: one item per row with the seeds it still needs.
  printed = reproduce.main(["--rows", "mnist_dragan,mnist_ns", "--seeds", "0,1,2", "--smoke", "--out",
                            str(tmp_path / "together"), "--todo", "--together"])
  assert printed.split("\n") == ["mnist_dragan:0,1,2", "mnist_ns:2"]


def _with(c, **fields):
  for k, v in fields.items():
    c[k] = v
  return c


def test_time_boxed_row_stops_early_and_is_evaluated_again_without_training(tmp_path, fake_data):
  def loader(dataset, split, resolution):
    with np.load(fake_data["28"]) as z:
      return z[f"x_{split}"]

  evaluator = reproduce.Evaluator(tmp_path, extractor=_extractor(), batch_size=16, loader=loader)
  run = lambda **kw: reproduce.run_row("mnist_ns", [0], tmp_path, evaluator, smoke=True, data_dir=fake_data["28"],
                                       **kw)
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(classics, "get_config", _npz_config(classics.get_config, fake_data["28"]))
    boxed = run(train_seconds=1e-9)  # spent before the first step ends: the run stops after it (step 1 of 4)
    again = run(train_seconds=1e-9)  # its box was spent: resumed to step 1 and evaluated, no second box
    full = run()  # no box: other settings, so the boxed row's JSON moves to superseded/
  seed, seed_again = boxed["seeds"][0], again["seeds"][0]
  assert (seed["steps"], seed["steps_planned"], seed["train_seconds_box"]) == (1, 4, 1e-9)
  assert boxed["config"]["train_seconds"] == 1e-9 and boxed["steps"] == boxed["steps_min"] == 1
  assert seed_again["steps"] == 1 and seed_again["fid"] == seed["fid"]
  assert seed_again["train_seconds"] == seed["train_seconds"]  # not trained again
  cells = reproduce._row_cells("mnist_ns", dict(boxed, smoke=False))  # (a smoke row's status says smoke first)
  assert cells[7] == "1 / 18750" and cells[-1] == "time-boxed run (0 s of training)"
  # The same workdir without the box trains on from step 1 to the end of the run.
  assert full["seeds"][0]["steps"] == 4 and "train_seconds_box" not in full["seeds"][0]
  assert list((tmp_path / "superseded").glob("mnist_ns-*.json"))
  # Seeds stopped at different steps read as a range.
  two = dict(boxed, steps=40, steps_min=36)
  assert reproduce._row_cells("mnist_ns", two)[7] == "36-40 / 18750"


def test_time_box_of_seeds_trained_together(tmp_path, fake_data):
  def loader(dataset, split, resolution):
    with np.load(fake_data["28"]) as z:
      return z[f"x_{split}"]

  evaluator = reproduce.Evaluator(tmp_path, extractor=_extractor(), batch_size=16, loader=loader)
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(classics, "get_config", _npz_config(classics.get_config, fake_data["28"]))
    result = reproduce.run_row("mnist_ns", [0, 1], tmp_path, evaluator, smoke=True, data_dir=fake_data["28"],
                               together=True, train_seconds=1e-9)
  assert [(x["steps"], x["seeds_together"]) for x in result["seeds"]] == [(1, 2), (1, 2)]
  assert all(x["status"] == "ok" and x["train_seconds_box"] == 1e-9 for x in result["seeds"])


def test_train_seconds_for_every_row_or_per_row():
  rows = ["mnist_ns", "cifar_sngan_resnet_hinge"]
  assert reproduce.parse_train_seconds("", rows) == {}
  assert reproduce.parse_train_seconds("90.5", rows) == {"mnist_ns": 90.5, "cifar_sngan_resnet_hinge": 90.5}
  assert reproduce.parse_train_seconds("cifar_sngan_resnet_hinge=300", rows) == {"cifar_sngan_resnet_hinge": 300.0}
  for bad in ("-3", "nan", "inf", "mnist_ns=soon"):
    with pytest.raises(ValueError, match="--train-seconds: .* needs a positive number of seconds"):
      reproduce.parse_train_seconds(bad, rows)
  with pytest.raises(SystemExit, match="--train-seconds"):
    reproduce.main(["--rows", "mnist_ns", "--train-seconds", "0.0.1", "--plan"])


def _npz_config(get_config, path):
  def patched(row="mnist_ns"):
    c = get_config(row)
    c.dataset = "npz"
    c.data_dir = path
    return c
  return patched


def test_evaluations_take_turns_across_evaluators_and_processes(tmp_path):
  lock = tmp_path / "eval.lock"
  first, second = reproduce.Evaluator(tmp_path, lock=lock), reproduce.Evaluator(tmp_path, lock=lock)
  entered = threading.Event()

  def wait_for_turn():
    with second.turn():
      entered.set()

  with first.turn():
    with first.turn():  # re-entrant: the reference and the evaluation of one seed nest freely
      pass
    other = threading.Thread(target=wait_for_turn)
    other.start()
    assert not entered.wait(0.5)  # the second waits while the first holds the turn
  assert entered.wait(10.0)  # and goes on once it is given back
  other.join()
  # A process killed while holding the turn does not block the others: the lock goes with the process.
  holder = subprocess.Popen(
      [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
       "print('held', flush=True); time.sleep(60)", str(lock)], stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline().strip() == "held"
  blocked = threading.Thread(target=wait_for_turn)
  entered.clear()
  blocked.start()
  assert not entered.wait(0.5)
  holder.kill()
  holder.wait()
  assert entered.wait(10.0)
  blocked.join()
  # Without a lock there are no turns: two evaluators hold theirs at once.
  free = reproduce.Evaluator(tmp_path), reproduce.Evaluator(tmp_path)
  with free[0].turn(), free[1].turn():
    pass


def test_generator_metrics_is_its_device_part_then_its_host_part(tmp_path, monkeypatch):
  ex = _extractor()
  evaluator = reproduce.Evaluator(tmp_path, extractor=ex, batch_size=16)
  sample = lambda key, n: jax.random.uniform(key, (n, 28, 28, 1), minval=-1.0, maxval=1.0)
  real = np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1), dtype=np.uint8)
  ref = metrics.stats_from_images(real, ex, batch_size=16, allow_few=True)
  protocol = dataclasses.replace(proto.PROTOCOLS["miyato2018"], num_generated=48, is_num=32)
  out = evaluator.generator_metrics(protocol, ref, sample, 3, allow_few=True)
  # The same number as the one-call FID of jaxgan.metrics, with the same samples.
  key = jax.random.fold_in(jax.random.PRNGKey(3), 0xF1D)
  assert out["fid"] == metrics.fid(sample, ref, num=48, batch_size=16, key=key, extractor=ex, allow_few=True)
  assert out["is"] is None and "classifier" in out["is_note"]  # the stand-in has no logits
  part = evaluator.generator_features(protocol, sample, 3, allow_few=True)
  assert part["logits"] is None and part["stats"].mu.shape == (16,)
  assert reproduce.Evaluator.finish_metrics(part, ref, protocol) == out
  other = metrics.Stats(mu=np.zeros(8), sigma=np.eye(8))
  with pytest.raises(ValueError, match=r"shapes do not match: mu1 \(16,\), mu2 \(8,\)"):
    reproduce.Evaluator.finish_metrics(part, other, protocol)
  # The eigenvalue route to the Frechet distance: the same FID of the same samples, to rounding.
  eig = reproduce.Evaluator(tmp_path, extractor=ex, batch_size=16, frechet="eig")
  methods, fid_from_stats = [], metrics.fid_from_stats
  monkeypatch.setattr(metrics, "fid_from_stats", lambda *a, **k: methods.append(k["method"]) or fid_from_stats(*a, **k))
  assert eig.generator_metrics(protocol, ref, sample, 3, allow_few=True)["fid"] == pytest.approx(out["fid"], rel=1e-8)
  assert methods == ["eig"]
  with pytest.raises(ValueError, match="unknown Frechet method 'svd'; known: sqrtm, eig"):
    reproduce.Evaluator(tmp_path, frechet="svd")


def test_evaluation_inputs_are_checked_before_any_training(tmp_path, fake_data):
  def loader(dataset, split, resolution):
    with np.load(fake_data["28"]) as z:
      return z[f"x_{split}"]  # a test split of 40 images

  workdir = tmp_path / "run"
  run = lambda evaluator, **kw: reproduce.run_seed("mnist_ns", 0, evaluator, data_dir=fake_data["28"],
                                                   workdir=str(workdir), **kw)
  with pytest.raises(FileNotFoundError, match="missing.npz does not exist"):
    run(reproduce.Evaluator(tmp_path, weights=str(tmp_path / "missing.npz"), loader=loader), smoke=True)
  with pytest.raises(proto.ProtocolError, match="asks for 10000 reference images of mnist split 'test', which has 40"):
    run(reproduce.Evaluator(tmp_path, extractor=_extractor(), loader=loader))
  assert not workdir.exists()  # neither trained a step


# ------------------------------------------------------------------------------------------- aggregation, table


def test_row_result_aggregates_the_seeds_that_did_not_diverge():
  records = [
      {"seed": 0, "status": "ok", "fid": 10.0, "is": 5.0, "fid_ema": 9.0, "steps": 40, "train_seconds": 100.0,
       "seeds_together": 2, "eval_seconds": 3.0, "device": "GPU A"},
      {"seed": 1, "status": "ok", "fid": 14.0, "is": 7.0, "fid_ema": float("nan"), "steps": 36,
       "train_seconds": 100.0, "seeds_together": 2, "eval_seconds": 5.0, "device": "GPU B"},
      {"seed": 2, "status": "diverged", "fid": 400.0, "is": 1.0, "fid_ema": 300.0, "steps": 38,
       "train_seconds": 20.0, "eval_seconds": 1.0, "device": "GPU A"},
  ]
  settings = reproduce._row_settings("mnist_ns", 0, False, 0)
  result = reproduce.row_result("mnist_ns", records, proto.get_protocol("lucic2018"), settings)
  # FID and IS over seeds 0 and 1 only; sample std (ddof=1) of two values a, b is |a - b| / sqrt(2).
  assert result["fid_mean"] == pytest.approx(12.0) and result["fid_std"] == pytest.approx(4.0 / np.sqrt(2))
  assert result["is_mean"] == pytest.approx(6.0) and result["is_std"] == pytest.approx(2.0 / np.sqrt(2))
  # The weight average: finite figures of the seeds that did not diverge (one here, so std 0).
  assert (result["num_ema"], result["fid_ema_mean"], result["fid_ema_std"]) == (1, 9.0, 0.0)
  assert (result["num_ok"], result["num_seeds"], result["steps"], result["steps_min"]) == (2, 3, 40, 36)
  # The group of two counts its 100 s once; every seed's evaluation counts.
  assert result["wall_seconds"] == pytest.approx(100.0 + 20.0 + 3.0 + 5.0 + 1.0)
  assert result["device"] == "GPU A; GPU B" and result["steps_paper"] == 18_750


def test_one_seed_or_one_baseline_run_shows_no_spread():
  """A std needs two figures: one seed (one baseline run) reads `mean (n=1)`, never `± 0.00`."""
  results = {"mnist_ns": _fake_result("mnist_ns", [7.25], 18750, 18750, ema=[6.5])}
  baselines = {"mnist/lucic2018": {
      "status": "ok", "description": "FID 10k gen vs 10k test, tf1", "compared": "10k train vs 10k test",
      "runs": [{"fid": 1.5}], "fid_mean": 1.5, "fid_std": 0.0, "seconds": 30.0, "device": "CPU (x, 2 cores)"}}
  text = reproduce.write_table(results, baselines)
  assert "| mnist_ns | MNIST | 7.25 (n=1) | — | 6.50 (n=1) |" in text
  assert "| MNIST | lucic2018: FID 10k gen vs 10k test, tf1 | 10k train vs 10k test | 1.50 (n=1) | 30 s |" in text


def test_baselines_of_whole_splits_on_both_sides_are_measured_once(tmp_path, monkeypatch):
  """Seeds only draw the subsets: studiogan on CIFAR-10 compares all 10k test images with all 50k train images, so
  one seed measures it; every other pair below uses a subset on at least one side (lucic2018: 10k of MNIST's 60k
  or CIFAR-10's 50k train images; studiogan: 50k of MNIST's 60k train images)."""
  evaluator = reproduce.Evaluator(tmp_path)
  calls = []

  def baseline(protocol, dataset, seed=0, allow_few=False):
    calls.append((dataset, protocol.name, seed))
    return {"fid": 2.0 + seed, "compared": "x vs y", "seconds": 1.0, "device": "CPU"}

  monkeypatch.setattr(evaluator, "baseline", baseline)
  entries = reproduce.run_baselines(["cifar10", "mnist"], ["studiogan", "lucic2018"], [0, 1, 2], tmp_path, evaluator)
  assert calls == [("cifar10", "studiogan", 0)] + [(d, p, s) for d, p in (
      ("cifar10", "lucic2018"), ("mnist", "studiogan"), ("mnist", "lucic2018")) for s in (0, 1, 2)]
  assert [len(e["runs"]) for e in entries] == [1, 3, 3, 3]
  assert (entries[0]["fid_mean"], entries[0]["fid_std"]) == (2.0, 0.0)
  assert entries[1]["fid_mean"] == pytest.approx(3.0) and entries[1]["fid_std"] == pytest.approx(1.0)  # 2, 3, 4
  assert set(json.loads((tmp_path / "baselines.json").read_text())) == {
      "cifar10/studiogan", "cifar10/lucic2018", "mnist/studiogan", "mnist/lucic2018"}


def test_protocol_counts_of_the_baselines_and_reduced_runs():
  miyato = proto.get_protocol("miyato2018")
  b = proto.baseline_spec(miyato, "cifar10")  # 5k train images stand in for the 5k generated ones
  assert (b.split, b.num, b.whole, b.describe()) == ("train", 5_000, False, "5k train")
  # Every count capped on its own: 7000 leaves the 5k generated and 5k baseline images as they are.
  p = miyato.shrunk(7000)
  assert (p.num_real, p.num_generated, p.is_num, p.baseline_num, p.is_splits) == (7000, 5000, 7000, 5000, 2)
  assert p.description == "FID 5k gen vs 10k test, IS 10 x 5k, tf1 [reduced: <= 7000 images per side]"
  # "Nk" only for whole thousands.
  assert [proto.SampleSpec("mnist", "test", n, 10_000).describe() for n in (32, 1500, 2000, 10_000)] == [
      "32 test", "1500 test", "2k test", "10k test"]


# ------------------------------------------------------------------------------- G against its weight average


def test_fid_scores_g_and_fid_ema_scores_its_weight_average(tmp_path, fake_data, monkeypatch):
  """`fid` (the figure compared with the papers) is G's own and `fid_ema` its weight average's: each equals the FID
  computed here, on the same samples, from the trained state's G params or EMA params. Swapping the two variables
  in `run_seed` fails this test (checked by hand), as nothing else tells them apart."""
  def loader(dataset, split, resolution):
    with np.load(fake_data["28"]) as z:
      return z[f"x_{split}"]

  evaluator = reproduce.Evaluator(tmp_path, extractor=_extractor(), batch_size=16, loader=loader)
  monkeypatch.setattr(classics, "get_config", _npz_config(classics.get_config, fake_data["28"]))
  states, train = [], classics.main

  def keep_state(config, workdir, resume):
    """The trained state, its weight average set to a generator far from G's (0.1 added to every weight of G:
    saturated images), so that the two figures differ by much more than rounding whatever 4 smoke steps did."""
    state, summary = train(config, workdir, resume)
    state = state.replace(g_ema_params=jax.tree.map(lambda p: p + 0.1, state.g_params))
    states.append(state)
    return state, summary

  monkeypatch.setattr(classics, "main", keep_state)
  record = reproduce.run_seed("mnist_ns", 3, evaluator, smoke=True, data_dir=fake_data["28"],
                              workdir=str(tmp_path / "run"))
  (state,) = states
  c = experiment.apply_smoke(reproduce.row_config("mnist_ns", 3, smoke=True))
  generator, _ = experiment.build_nets(c, 28, 1, 0)
  sample_fn = reproduce._Generate(generator, c.latent_dim, c.latent_dist)
  protocol = dataclasses.replace(reproduce._protocol("lucic2018", True, 0), metrics=("fid",))
  ref = evaluator.reference_stats(protocol, "mnist", allow_few=True)
  fid_of = lambda variables: evaluator.generator_metrics(protocol, ref, sample_fn, 3, allow_few=True,
                                                         sample_args=variables)["fid"]
  g, average = fid_of(state.g_variables()), fid_of(state.g_variables(ema=True))
  assert abs(g - average) > 1e-2 * max(g, average)  # the figures tell the two generators apart
  assert record["fid"] == pytest.approx(g, rel=1e-6)
  assert record["fid_ema"] == pytest.approx(average, rel=1e-6)


# --------------------------------------------------------------------------- the table against Lucic et al.


def _lucic_record(seed, fid, ema=None, status="ok", train=200.0, evaluation=20.0):
  return {"seed": seed, "status": status, "fid": fid, "fid_ema": ema, "train_seconds": train,
          "eval_seconds": evaluation}


def test_lucic_table_is_g_only_mean_and_sample_std_over_the_seeds_there_are():
  """Five seeds -> mean ± sample std (n - 1) of G beside Lucic et al.'s same-loss and best-loss figures; the weight
  average only in its own column; seeds listed in seed order; rows of one or no seed, diverged seeds, a loss without
  a row (BEGAN) and a row without a Lucic figure (hinge + SN)."""
  fids = [10.0, 14.0, 11.0, 12.0, 13.0]  # seeds 4, 0, 1, 2, 3 below: listed by seed
  seeds = [_lucic_record(s, f, ema=f - 5.0) for s, f in zip((4, 0, 1, 2, 3), fids)]
  results = {
      "fashion_ns": {"seeds": seeds, "steps": 18750, "config": {"d_steps": 1}},
      "mnist_wgan_gp": {"seeds": [_lucic_record(0, 19.95, ema=21.24, train=185.0, evaluation=25.0)], "steps": 3750,
                        "config": {"d_steps": 5}},
      "mnist_ns": {"seeds": [_lucic_record(0, 8.0, ema=7.0), _lucic_record(1, None, status="diverged")],
                   "steps": 18750, "config": {"d_steps": 1}},
      "mnist_hinge_sn": {"seeds": [_lucic_record(0, 14.13, ema=10.06)], "steps": 18750, "config": {"d_steps": 1}},
  }
  lines = reproduce.lucic_table(results)
  assert lines[0] == "| " + " | ".join(reproduce.LUCIC_HEAD) + " |"
  rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in lines[2:]}
  ns = rows["`fashion_ns` (NS-GAN)"]
  # mean 12, sample std sqrt(2.5) = 1.58 (the population std would read 1.41); each seed's FID in seed order.
  assert ns[0] == "12.00 ± 1.58 (n=5: 14.00, 11.00, 12.00, 13.00, 10.00)"
  assert ns[1:5] == ["26.5 ± 1.6", "beats by 14.5", "21.5 ± 1.6 (WGAN)", "beats by 9.5"]
  assert ns[5] == "7.00 ± 1.58 (n=5: 9.00, 6.00, 7.00, 8.00, 5.00)"  # the average: own column, no comparison
  assert ns[6:] == ["18,750 (18,750)", "200, 200, 200, 200, 200 s; 20, 20, 20, 20, 20 s |"]
  gp = rows["`mnist_wgan_gp` (WGAN-GP)"]
  assert gp[:5] == ["19.95 (n=1)", "20.3 ± 5.0", "beats by 0.4 (within their std)", "6.7 ± 0.4 (WGAN)",
                    "misses by 13.2"]
  assert gp[5:] == ["21.24 (n=1)", "3,750 (18,750)", "185 s; 25 s |"]
  assert rows["`mnist_ns` (NS-GAN)"][:3] == ["8.00 (n=1); 1 seed(s) diverged", "6.8 ± 0.5", "misses by 1.2"]
  assert rows["`mnist_hinge_sn` (hinge + SN)"][1:3] == ["— (not in Lucic et al.)", "—"]
  assert rows["`mnist_mm` (MM-GAN)"][:4] == ["not measured", "9.8 ± 0.9", "—", "6.7 ± 0.4 (WGAN)"]
  assert rows["`fashion_dragan` (DRAGAN)"][1] == "27.7 ± 1.2" and rows["`fashion_mm` (MM-GAN)"][1] == "29.6 ± 1.6"
  assert rows["MNIST BEGAN (no jaxgan row)"][1] == "13.1 ± 1.0"
  assert rows["Fashion-MNIST BEGAN (no jaxgan row)"][1] == "22.9 ± 0.9"
  # Every 28x28 row once, plus BEGAN per dataset; no CIFAR row.
  assert len(rows) == sum(classics.get_row(n).dataset != "cifar10" for n in classics.row_names()) + 2
  # The results table written by --table carries the same layout, from the rows' JSON.
  full = {"mnist_ns": _fake_result("mnist_ns", [7.0, 8.0, 9.0], 18750, 18750, ema=[6.0, 7.0])}
  text = reproduce.write_table(full, {})
  assert "\n".join(reproduce.lucic_table(full)) in text and "| `mnist_ns` (NS-GAN) | 8.00 ± 1.00 (n=3: " in text


def test_lucic_figures_and_best_loss():
  assert classics.lucic_best("mnist") == ("wgan", 6.7, 0.4)
  assert classics.lucic_best("fashion_mnist") == ("wgan", 21.5, 1.6)
  for row, figure in (("mnist_dragan", (7.6, 0.4)), ("fashion_dragan", (27.7, 1.2)), ("fashion_mm", (29.6, 1.6))):
    published = classics.get_row(row).published
    assert (published["fid"], published["fid_std"]) == figure and "Dai & Wipf 2019" in published["source"]
  assert "Dai & Wipf" not in classics.get_row("mnist_ns").published["source"]


def test_gpu_lucic_runs_one_round_of_the_seeds_left(tmp_path):
  """benchmarks/gpu_lucic.sh (with the stand-in for reproduce, no training): earlier seeds are copied in, only the
  first PAR items of the work run (one round per call: no run started that the call's limit would cut), every row's
  seed s before any row's seed s + 1; a bad MAX_ITEMS is refused before any work."""
  root = pathlib.Path(__file__).resolve().parents[1]
  earlier, results = tmp_path / "earlier", tmp_path / "results"
  earlier.mkdir()
  (earlier / "r1.json").write_text(json.dumps({"seeds": [0]}))
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_PYTHON_CLIENT_MEM_FRACTION", "JAX_COMPILATION_CACHE_DIR",
                                                          "MAX_ITEMS", "LIMIT")}
  env.update(PYTHON=sys.executable, REPRO_MODULE="tests._fake_reproduce", RESULTS=str(results), EARLIER=str(earlier),
             ROWS="r1,r2,r3,r4", SEEDS="0,1", PAR="3", REPRO_ARGS="")
  run = lambda **kw: subprocess.run(["bash", "benchmarks/gpu_lucic.sh", str(tmp_path / "out")], cwd=root,
                                    env={**env, **kw}, capture_output=True, text=True, timeout=120)
  proc = run()
  assert proc.returncode == 0, proc.stderr
  seeds = {r: json.loads((results / f"{r}.json").read_text())["seeds"] for r in ("r1", "r2", "r3", "r4")}
  assert seeds == {"r1": [0], "r2": [0], "r3": [0], "r4": [0]}  # r1's seed 0 came from EARLIER; 3 runs, seed 0 first
  assert json.loads((results / "r2.json").read_text())["workers"] == "3"
  proc = run()  # the next call: the next round
  assert proc.returncode == 0, proc.stderr
  seeds = {r: json.loads((results / f"{r}.json").read_text())["seeds"] for r in ("r1", "r2", "r3", "r4")}
  assert seeds == {"r1": [0, 1], "r2": [0, 1], "r3": [0, 1], "r4": [0]}
  bad = run(MAX_ITEMS="x")
  assert bad.returncode == 2 and "MAX_ITEMS must be a positive integer, got 'x'" in bad.stderr
