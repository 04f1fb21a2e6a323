"""`python -m jaxgan.fid` end to end on the real network, with synthetic weights (no assets needed) or MNIST."""
import numpy as np
import pytest
from PIL import Image

from jaxgan import fid as cli
from jaxgan.metrics import pipeline, stats, weights


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
  """NVIDIA-layout npz with random He-initialised convs and identity batch norm (finite, non-trivial features)."""
  rng = np.random.default_rng(0)
  from jaxgan.metrics import inception
  shapes = inception.param_shapes()
  arrays = {}
  for path, prefix in weights.conv_table():
    node = shapes
    for p in path:
      node = node[p]
    kh, kw, cin, cout = node["kernel"].shape
    arrays[f"{prefix}.weight"] = (rng.standard_normal((cout, cin, kh, kw)) * np.sqrt(2 / (cin * kh * kw))).astype(
        np.float32)
    arrays[f"{prefix}.beta"] = np.full(cout, 0.01, np.float32)
    arrays[f"{prefix}.mean"] = np.zeros(cout, np.float32)
    arrays[f"{prefix}.var"] = np.full(cout, 1 - 1e-3, np.float32)
  path = tmp_path_factory.mktemp("weights") / "synthetic.npz"
  np.savez(path, **arrays)
  return path


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("JAXGAN_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield


def _common(weights_file):
  # every call below feeds (3, 28, 28, 1) uint8 batches in pytorch mode: one compilation serves the whole file
  return ["--weights", str(weights_file), "--no-verify", "--allow-few", "--batch-size", "3", "--mode", "pytorch"]


def test_stats_and_score_from_npz_sources(tmp_path, weights_file, capsys):
  rng = np.random.default_rng(1)
  np.savez(tmp_path / "a.npz", images=rng.integers(0, 256, (3, 28, 28, 1), dtype=np.uint8))
  np.savez(tmp_path / "b.npz", images=rng.integers(0, 128, (4, 28, 28, 1), dtype=np.uint8))
  cli.main(["stats", str(tmp_path / "a.npz"), "--out", str(tmp_path / "a_stats.npz")] + _common(weights_file))
  a = stats.load_stats(tmp_path / "a_stats.npz")
  assert a.mu.shape == (2048,) and a.sigma.shape == (2048, 2048) and a.num == 3
  same = cli.main(["score", str(tmp_path / "a_stats.npz"), str(tmp_path / "a.npz"), "--method", "eig"]
                  + _common(weights_file))
  assert abs(same) < 1e-3 * np.trace(a.sigma) + 1e-6
  other = cli.main(["score", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--method", "eig", "--num", "3"]
                   + _common(weights_file))
  assert other > 10 * abs(same)
  assert f"FID: {other:.6f}" in capsys.readouterr().out


def test_cli_errors(tmp_path, weights_file):
  np.savez(tmp_path / "a.npz", images=np.zeros((3, 32, 32, 3), np.uint8))
  with pytest.raises(FileNotFoundError, match="does not exist"):
    cli.main(["score", str(tmp_path / "missing"), str(tmp_path / "a.npz")] + _common(weights_file))
  with pytest.raises(ValueError, match="unknown sha256"):
    cli.main(["stats", str(tmp_path / "a.npz"), "--out", str(tmp_path / "s.npz"), "--weights", str(weights_file)])


def _no_weights(*args, **kwargs):
  raise AssertionError("the weights were loaded before the sources were checked")


def test_bad_sources_fail_before_weights_load(tmp_path, monkeypatch):
  np.savez(tmp_path / "a.npz", images=np.zeros((3, 28, 28, 1), np.uint8))
  (tmp_path / "garbage.npz").write_bytes(b"garbage")
  (tmp_path / "notes.txt").write_text("not images")
  monkeypatch.setattr(pipeline, "inception_extractor", _no_weights)
  a = str(tmp_path / "a.npz")
  with pytest.raises(FileNotFoundError, match="image source .*missing does not exist"):
    cli.main(["score", a, str(tmp_path / "missing")])
  with pytest.raises(ValueError, match="unknown kind of source"):
    cli.main(["score", a, str(tmp_path / "notes.txt")])
  with pytest.raises(ValueError, match=r"garbage\.npz is not a valid statistics \.npz .*`python -m jaxgan.fid stats`"):
    cli.main(["score", a, str(tmp_path / "garbage.npz")])
  with pytest.raises(ValueError, match="not a valid statistics .npz"):
    cli.main(["score", str(tmp_path / "garbage.npz"), a])


def test_mixed_sizes_hint_names_the_cli_option_and_it_works(tmp_path, weights_file):
  folder = tmp_path / "mixed"
  folder.mkdir()
  for i, size in enumerate((28, 32, 40)):
    Image.fromarray(np.full((size, size), 40 * i, np.uint8)).save(folder / f"{i}.png")
  out = str(tmp_path / "s.npz")
  with pytest.raises(ValueError, match=r"differ in size.*resolution=N \(CLI: --resolution=N\) to center-crop"):
    cli.main(["stats", str(folder), "--out", out] + _common(weights_file))
  cli.main(["stats", str(folder), "--out", out, "--resolution", "28"] + _common(weights_file))  # (3, 28, 28, 1)
  assert stats.load_stats(out).num == 3


def test_score_mnist_idx(assets, weights_file):
  mnist = assets / "data" / "mnist"
  value = cli.main(["score", str(mnist / "train-images-idx3-ubyte.gz"), str(mnist / "t10k-images-idx3-ubyte.gz"),
                    "--num", "3", "--method", "eig"] + _common(weights_file))
  assert np.isfinite(value) and value > 0
