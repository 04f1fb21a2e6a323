"""experiments/pix2pix.py and experiments/cyclegan.py end to end on tiny synthetic facades (AB images written to
tmp_path, so no shared assets are needed), with the smoke switch: workdir artefacts (config.json, metrics.jsonl,
summary.json, sample grids, checkpoints), the evaluation's paired metrics and CycleGAN's cycle L1, and a run stopped
at step 2 and resumed equal bit for bit to the uninterrupted one, image pools and data position included."""

import os

import jax
import numpy as np
import pytest
from PIL import Image

from _run_files import read_json, read_jsonl, read_pixels
from experiments import cyclegan, pix2pix
from jaxgan.train import translation
from jaxgan.train.checkpoint import Checkpointer


@pytest.fixture(scope="module")
def facades_dir(tmp_path_factory):
  """train/ (12) and test/ (5) AB images 128x64: a photo-like left half and a blocky label map on the right."""
  root = tmp_path_factory.mktemp("facades")
  rng = np.random.default_rng(0)
  for split, n in (("train", 12), ("test", 5)):
    os.makedirs(root / split)
    for i in range(n):
      labels = np.kron(rng.integers(0, 255, size=(4, 4, 3)), np.ones((16, 16, 1))).astype(np.uint8)
      photo = np.clip(labels * 0.6 + rng.normal(0, 20, labels.shape) + 40, 0, 255).astype(np.uint8)
      Image.fromarray(np.concatenate([photo, labels], axis=1)).save(root / split / f"{i}.png")
  return root


def _config(module, data_dir, **overrides):
  c = module.get_config()
  c.smoke = True
  c.data_dir = str(data_dir)
  c.evaluate = True
  for k, v in overrides.items():
    c[k] = v
  return c


def _assert_trees_equal(a, b):
  la, lb = jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)
  assert len(la) == len(lb)
  for (path, x), y in zip(la, lb):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=jax.tree_util.keystr(path))


def test_pix2pix_smoke_writes_the_workdir(facades_dir, tmp_path):
  state, summary = pix2pix.main(_config(pix2pix, facades_dir), str(tmp_path), True)
  records = read_jsonl(tmp_path / "metrics.jsonl")
  assert [r["step"] for r in records] == [2, 4]
  for r in records:
    assert r["loss_finite"] == 1.0 and np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"])
    np.testing.assert_allclose(r["d_loss"], 0.5 * r["d/non_saturating"], rtol=1e-5)
  on_disk = read_json(tmp_path / "summary.json")
  assert on_disk["steps"] == summary["steps"] == 4 and on_disk["generator"] == "unet_tiny"
  ev = on_disk["eval"]
  assert ev["num_test"] == 5 and ev["eval_batch"] == 1 and ev["test_mode"] == "train"
  assert 0 < ev["l1_255"] < 255 and np.isclose(ev["l1"] * 127.5, ev["l1_255"], rtol=0.05)
  assert np.isfinite(ev["psnr"]) and -1 <= ev["ssim"] <= 1 and ev["fid"] is None
  grid = read_pixels(tmp_path / "samples" / "test_grid.png")
  assert grid.shape[0] > grid.shape[1] / 3  # 4 rows of source | output | target
  assert read_json(tmp_path / "config.json")["resolution"] == 64
  assert Checkpointer(tmp_path / "checkpoints").all_steps() == [2, 4]
  assert sorted(state.params) == ["D", "G"]


def test_pix2pix_l1_only_ablation(facades_dir, tmp_path):
  _, summary = pix2pix.main(_config(pix2pix, facades_dir, gan_loss="none", evaluate=False), str(tmp_path), True)
  last = read_jsonl(tmp_path / "metrics.jsonl")[-1]
  assert "d_loss" not in last and np.isclose(last["g_loss"], 100 * last["g/l1"], rtol=1e-5)
  assert "eval" not in summary


def test_cyclegan_stop_and_resume_equals_uninterrupted(facades_dir, tmp_path):
  full_state, summary = cyclegan.main(_config(cyclegan, facades_dir), str(tmp_path / "full"), True)
  ev = summary["eval"]
  assert 0 <= ev["cycle_l1"] < 2 and ev["num_test"] == 5 and "l1_255" in ev  # facades' test set stays paired
  last = read_jsonl(tmp_path / "full" / "metrics.jsonl")[-1]
  for k in ("g/cycle_A", "g/identity_B", "g/A/least_squares", "d/B/least_squares"):
    assert np.isfinite(last[k]), k
  pools = [t[0].pool.count for t in full_state.loss_state["cyclegan"][:2]]
  assert [int(p) for p in pools] == [4, 4]  # 4 steps x batch 1 (the paper's) into pools of 50
  part = tmp_path / "part"
  cyclegan.main(_config(cyclegan, facades_dir, stop_at=2, evaluate=False), str(part), True)
  assert Checkpointer(part / "checkpoints").all_steps() == [2]
  state, _ = cyclegan.main(_config(cyclegan, facades_dir, evaluate=False), str(part), True)  # resumes at 2
  _assert_trees_equal(jax.device_get(full_state), jax.device_get(state))
  assert [r["step"] for r in read_jsonl(part / "metrics.jsonl")] == [2, 4]


def test_bad_config_names_the_field(facades_dir, tmp_path):
  with pytest.raises(translation.ExperimentError, match="unknown dataset 'horses'"):
    pix2pix.main(_config(pix2pix, facades_dir, dataset="horses"), str(tmp_path), True)
  with pytest.raises(translation.ExperimentError, match="d_patch must be one of"):
    pix2pix.main(_config(pix2pix, facades_dir, d_patch="35"), str(tmp_path), True)
