"""The FID Inception network and its weights: reference features, name mapping, .pth reader, hashes, cache."""
import dataclasses
import hashlib
import io
import pathlib
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _run_files import read_image
from jaxgan.metrics import inception, weights
from jaxgan.metrics import pipeline as fid_lib


def _fake_arrays(layout: str, seed: int = 0, with_fc: bool = False) -> dict[str, np.ndarray]:
  """Random source arrays in a given layout, shapes taken from the flax params (jax.eval_shape)."""
  rng = np.random.default_rng(seed)
  shapes = inception.param_shapes()
  arrays = {}
  for path, nv_prefix in weights.conv_table():
    node = shapes
    for p in path:
      node = node[p]
    kh, kw, cin, cout = node["kernel"].shape
    w = rng.standard_normal((cout, cin, kh, kw)).astype(np.float32)
    beta, mean = rng.standard_normal((2, cout)).astype(np.float32)
    var = rng.uniform(0.5, 2.0, cout).astype(np.float32)
    if layout == "nvidia":
      arrays.update({f"{nv_prefix}.weight": w, f"{nv_prefix}.beta": beta, f"{nv_prefix}.mean": mean,
                     f"{nv_prefix}.var": var})
    else:
      tv = ".".join(path)
      gamma = rng.uniform(0.5, 2.0, cout).astype(np.float32)
      arrays.update({f"{tv}.conv.weight": w, f"{tv}.bn.weight": gamma, f"{tv}.bn.bias": beta,
                     f"{tv}.bn.running_mean": mean, f"{tv}.bn.running_var": var,
                     f"{tv}.bn.num_batches_tracked": np.array(0, np.int64)})
  if with_fc:
    arrays["fc.weight"] = rng.standard_normal((1008, 2048)).astype(np.float32)
    arrays["fc.bias"] = rng.standard_normal(1008).astype(np.float32)
  return arrays


def _shapes(tree) -> dict:
  return {k: _shapes(v) if isinstance(v, dict) else tuple(v.shape) for k, v in tree.items()}


# ------------------------------------------------------------------------------------------------ the network

@pytest.fixture(scope="module")
def real_params(assets):
  return weights.load_inception_params(assets / "weights" / "fid_inception_2015_12_05.npz", use_cache=False)


@pytest.fixture(scope="module")
def apply_fn():
  net = inception.InceptionV3FID()
  return jax.jit(lambda p, x: net.apply({"params": p}, x)["pool3"])


def test_elefant_pool3_matches_pytorch_fid(assets, real_params, apply_fn):
  image = np.asarray(read_image(assets / "reference" / "elefant.jpg").convert("RGB"), np.float32)
  assert image.shape == (256, 256, 3)
  expected = np.load(assets / "reference" / "elefant_pool3.npy").reshape(1, 2048)
  with jax.default_matmul_precision("highest"):
    got = np.asarray(apply_fn(real_params, jnp.asarray(2 * image / 255 - 1)[None]))
  assert got.shape == (1, 2048)
  np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_bfloat16_mode_stays_close(assets, real_params):
  image = np.asarray(read_image(assets / "reference" / "elefant.jpg").convert("RGB"), np.float32)
  x = jnp.asarray(2 * image[88:168, 88:168] / 255 - 1)[None]  # an 80x80 crop: bf16 convolutions are slow on CPU
  strict = inception.InceptionV3FID(precision="highest")
  fast = inception.InceptionV3FID(dtype=jnp.bfloat16)
  want = np.asarray(jax.jit(strict.apply)({"params": real_params}, x)["pool3"])
  got = np.asarray(jax.jit(fast.apply)({"params": real_params}, x)["pool3"])
  assert got.dtype == np.float32
  rel = np.linalg.norm(got - want) / np.linalg.norm(want)
  assert 0 < rel < 0.05, rel  # bf16 drifts, but stays the same features


def test_param_shapes_count_and_logits():
  shapes = inception.param_shapes(num_classes=1008)
  flat = weights.flatten_params(_shapes(shapes))
  assert len(flat) == 2 * 94 + 2  # 94 convs (kernel, folded bias) + the classifier
  assert tuple(flat["fc/kernel"]) == (2048, 1008)
  assert tuple(flat["Mixed_7c/branch_pool/kernel"]) == (1, 1, 2048, 192)


def test_network_outputs_on_small_input():
  net = inception.InceptionV3FID(num_classes=1008)
  params = weights.random_inception_params(0, num_classes=1008)
  out = jax.jit(net.apply)({"params": params}, jnp.zeros((2, 75, 75, 3)))
  assert out["pool3"].shape == (2, 2048) and out["logits"].shape == (2, 1008)
  # The IS logits are pool3 @ W without the classifier's bias (Salimans et al.'s code); logits_bias adds it.
  params["fc"]["bias"] = np.random.default_rng(0).standard_normal(1008).astype(np.float32)
  x = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (2, 75, 75, 3)).astype(np.float32))
  with jax.default_matmul_precision("highest"):
    out = jax.jit(net.apply)({"params": params}, x)
    biased = jax.jit(net.clone(logits_bias=True).apply)({"params": params}, x)
  pool3 = np.asarray(out["pool3"], np.float64)
  want = pool3 @ np.asarray(params["fc"]["kernel"], np.float64)
  np.testing.assert_allclose(out["logits"], want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
  np.testing.assert_allclose(biased["logits"], want + params["fc"]["bias"], rtol=1e-4,
                             atol=1e-4 * np.abs(want).max())
  assert np.all(np.asarray(out["pool3"]) >= 0)  # mean of ReLU outputs
  with pytest.raises(ValueError, match="at least 75"):
    net.apply({"params": params}, jnp.zeros((1, 64, 64, 3)))


def test_avg_pool_excludes_padding():
  x = np.random.default_rng(0).standard_normal((1, 4, 5, 2)).astype(np.float32)
  got = np.asarray(inception.avg_pool_exclude_pad(jnp.asarray(x)))
  want = np.zeros_like(x)
  for i in range(4):
    for j in range(5):
      window = x[0, max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
      want[0, i, j] = window.reshape(-1, 2).mean(axis=0)
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------------ extractor input

class _InputAsFeatures:
  """Stands in for InceptionV3FID: its "pool3" is the network's input, so a test sees the preprocessing."""

  def __init__(self, **kwargs):
    del kwargs

  def apply(self, variables, x):
    del variables
    return {"pool3": x}


@pytest.mark.parametrize("mode", ["tf1", "pytorch"])
@pytest.mark.parametrize("quantize", [True, False])
def test_extractor_preprocesses_with_its_own_mode_and_quantization(monkeypatch, mode, quantize):
  """`inception_extractor(mode=, quantize=)` feeds the network what those settings say, on 299x299 gray floats
  (no resize in either mode): pixels p = floor(clip(127.5 x + 128, 0, 255)) when quantized (StyleGAN2-ADA's uint8
  conversion), else clip(127.5 (x + 1), 0, 255); then (p - 128) / 128 (tf1: the 2015 graph's own normalization)
  or p / 127.5 - 1 (pytorch-fid's 2 p / 255 - 1); gray repeated to 3 channels."""
  monkeypatch.setattr(fid_lib, "InceptionV3FID", _InputAsFeatures)
  ex = fid_lib.inception_extractor(params={}, mode=mode, quantize=quantize)
  values = np.array([-1.0, -0.999, -0.3, 0.0, 0.4999, 0.5, 0.9, 1.0], np.float64)
  images = np.resize(values, (2, 299, 299, 1))
  got = np.asarray(ex.apply_fn(ex.params, jnp.asarray(images, jnp.float32))["pool3"])
  if quantize:
    p = np.floor(np.clip(127.5 * images + 128, 0, 255))
  else:
    p = np.clip(127.5 * (images + 1), 0, 255)
  want = (p - 128) / 128 if mode == "tf1" else p / 127.5 - 1
  assert got.shape == (2, 299, 299, 3)
  np.testing.assert_allclose(got, np.repeat(want, 3, axis=-1), rtol=0, atol=2e-6)


@dataclasses.dataclass(frozen=True)
class _FirstPixels:
  """A cheap stand-in extractor: the first 4 pixel values of each image as its features."""

  def __call__(self, params, images):
    del params
    x = images.astype(jnp.float32)
    return {"pool3": x.reshape(x.shape[0], -1)[:, :4]}


def test_a_limit_cuts_an_iterable_of_batches_mid_stream():
  """`limit` counts images across the chunks of an iterable (not per chunk): the first `limit` images, in order,
  whatever the chunk sizes."""
  images = np.random.default_rng(0).integers(0, 256, (12, 5, 5, 1), dtype=np.uint8)
  ex = fid_lib.FeatureExtractor(_FirstPixels(), {}, feature_dim=4)
  want = images[:6].reshape(6, -1)[:, :4].astype(np.float64)
  for sizes in ((4, 4, 4), (2, 7, 3), (6, 6)):
    chunks = np.split(images, np.cumsum(sizes)[:-1])
    got = fid_lib.extract_features(iter(chunks), ex, batch_size=3, limit=6)["pool3"]
    np.testing.assert_array_equal(got, want)
    stats = fid_lib.stats_from_images(iter(chunks), ex, batch_size=3, limit=6, allow_few=True)
    assert stats.num == 6
    np.testing.assert_allclose(stats.mu, want.mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats.sigma, np.cov(want, rowvar=False), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------ name mapping

def test_mapping_covers_keys_file_exactly_once(assets):
  lines = (assets / "weights" / "fid_inception_2015_12_05.keys.txt").read_text().strip().splitlines()
  keys = [line.split("\t")[0] for line in lines]
  assert len(keys) == 376 == len(set(keys))
  table = weights.conv_table()
  from_table = [f"{prefix}.{f}" for _, prefix in table for f in ("weight", "beta", "mean", "var")]
  assert sorted(from_table) == sorted(keys)  # every key once, nothing else
  arrays = {}
  for line in lines:
    name, shape, _ = line.split("\t")
    arrays[name] = np.ones(eval(shape), np.float32)  # pylint: disable=eval-used
  params = weights.inception_params_from_arrays(arrays)
  assert _shapes(params) == _shapes(inception.param_shapes())
  n_source = sum(a.size for k, a in arrays.items() if k.endswith((".weight", ".beta")))
  assert sum(a.size for a in weights.flatten_params(params).values()) == n_source


@pytest.mark.parametrize("layout", ["nvidia", "torchvision"])
def test_mapping_from_synthetic_arrays_folds_batch_norm(layout):
  table = weights.conv_table()
  assert len(table) == 94 and len({p for p, _ in table}) == 94 and len({n for _, n in table}) == 94
  arrays = _fake_arrays(layout, with_fc=layout == "torchvision")
  params = weights.inception_params_from_arrays(arrays)
  want_shapes = _shapes(inception.param_shapes(num_classes=1008 if layout == "torchvision" else 0))
  assert _shapes(params) == want_shapes
  # one conv by hand: kernel = W^T * gamma / sqrt(var + 1e-3), bias = beta - mean * gamma / sqrt(var + 1e-3)
  if layout == "nvidia":
    w, beta, mean, var = (arrays[f"net.layers.mixed_4.tower_1.conv_2.{f}"] for f in ("weight", "beta", "mean", "var"))
    gamma = np.ones_like(beta)
  else:
    pre = "Mixed_6b.branch7x7dbl_3"
    w, gamma, beta, mean, var = (arrays[f"{pre}.{f}"] for f in ("conv.weight", "bn.weight", "bn.bias",
                                                               "bn.running_mean", "bn.running_var"))
    np.testing.assert_array_equal(params["fc"]["kernel"], arrays["fc.weight"].T)
  got = params["Mixed_6b"]["branch7x7dbl_3"]
  scale = gamma / np.sqrt(var.astype(np.float64) + 1e-3)
  assert got["kernel"].shape == (1, 7, 128, 128)
  np.testing.assert_allclose(got["kernel"], np.transpose(w, (2, 3, 1, 0)) * scale, rtol=1e-6)
  np.testing.assert_allclose(got["bias"], beta - mean * scale, rtol=1e-5, atol=1e-6)


def test_mapping_errors_name_missing_and_unexpected_keys():
  arrays = _fake_arrays("nvidia")
  del arrays["net.layers.mixed_9.tower_1_conv_1.var"]
  arrays["net.layers.extra.weight"] = np.zeros(3, np.float32)
  with pytest.raises(ValueError, match=r"1 missing keys .*mixed_9.tower_1_conv_1.var.*1 unexpected keys"):
    weights.inception_params_from_arrays(arrays)
  with pytest.raises(ValueError, match="unknown key layout"):
    weights.inception_params_from_arrays({"foo": np.zeros(1)})


# ------------------------------------------------------------------------------------------------ files

def _write_npz(path: pathlib.Path, arrays: dict) -> str:
  np.savez(path, **arrays)
  return hashlib.sha256(path.read_bytes()).hexdigest()


def test_load_verifies_hash_and_caches(tmp_path, monkeypatch):
  monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "cache"))
  src = tmp_path / "w.npz"
  digest = _write_npz(src, _fake_arrays("nvidia", seed=1))
  with pytest.raises(ValueError, match="unknown sha256"):
    weights.load_inception_params(src)
  with pytest.raises(ValueError, match=r"verify=False \(CLI: --no-verify\)"):  # the fix for API and CLI users
    weights.load_inception_params(src)
  with pytest.raises(ValueError, match="differs from the expected"):
    weights.load_inception_params(src, sha256="0" * 64)
  params = weights.load_inception_params(src, sha256=digest)
  cached = tmp_path / "cache" / f"fid_inception_{digest[:16]}.npz"
  assert cached.is_file()
  again = weights.load_inception_params(src, sha256=digest)  # read from the cache
  jax.tree.map(np.testing.assert_array_equal, params, again)
  assert weights.load_inception_params(src, verify=False, use_cache=False).keys() == params.keys()


def test_missing_weights_file_says_what_to_do(tmp_path, monkeypatch):
  monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path))
  monkeypatch.delenv("JAXGAN_FID_WEIGHTS", raising=False)
  monkeypatch.setenv("HOME", str(tmp_path))
  with pytest.raises(FileNotFoundError, match="download"):
    weights.load_inception_params()
  with pytest.raises(FileNotFoundError, match="does not exist"):
    weights.load_inception_params(tmp_path / "nope.pth")


def test_known_hash_of_shared_npz(assets):
  path = assets / "weights" / "fid_inception_2015_12_05.npz"
  assert weights.sha256_file(path) in weights.KNOWN_SHA256


def test_download_checks_hash(tmp_path):
  src = tmp_path / "src" / "pt_weights.pth"
  src.parent.mkdir()
  src.write_bytes(b"not the weights")
  digest = hashlib.sha256(b"not the weights").hexdigest()
  url = src.as_uri()
  with pytest.raises(ValueError, match="does not start with"):
    weights.download_weights(tmp_path / "dl", url=url, sha256_prefix="6726825d")
  assert not list((tmp_path / "dl").iterdir())  # nothing half-written left behind
  got = weights.download_weights(tmp_path / "dl", url=url, sha256_prefix=digest[:8])
  assert got.read_bytes() == b"not the weights"


# ------------------------------------------------------------------------------------------------ .pth reader

class _FakeStorageType:
  pass


def _fake_torch(monkeypatch):
  """Minimal `torch` / `torch._utils` modules so pickle can write references to their names."""
  torch = types.ModuleType("torch")
  utils = types.ModuleType("torch._utils")
  for name in ("FloatStorage", "LongStorage"):
    cls = type(name, (_FakeStorageType,), {})
    cls.__module__, cls.__qualname__ = "torch", name
    setattr(torch, name, cls)

  def _rebuild_tensor_v2(*args):
    raise AssertionError("never called when writing")
  _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
  utils._rebuild_tensor_v2 = _rebuild_tensor_v2
  torch._utils = utils
  monkeypatch.setitem(sys.modules, "torch", torch)
  monkeypatch.setitem(sys.modules, "torch._utils", utils)
  return torch, utils


class _Tensor:
  """Pickles like a torch tensor: _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)."""

  def __init__(self, utils, storage_id, offset, size, stride):
    self.utils, self.args = utils, (storage_id, offset, size, stride)

  def __reduce__(self):
    storage_id, offset, size, stride = self.args
    return self.utils._rebuild_tensor_v2, (storage_id, offset, size, stride, False, OrderedDict())


class _StorageRef:
  def __init__(self, pid):
    self.pid = pid


class _Pickler(pickle.Pickler):
  def persistent_id(self, obj):
    return obj.pid if isinstance(obj, _StorageRef) else None


def _state_dict_and_storages(torch, utils):
  """Two tensors: a (2, 3) float view at offset 1 with transposed strides, and a long scalar."""
  floats = np.arange(8, dtype=np.float32) * 0.5
  longs = np.array([7], np.int64)
  s0 = _StorageRef(("storage", torch.FloatStorage, "0", "cpu", 8))
  s1 = _StorageRef(("storage", torch.LongStorage, "1", "cpu", 1))
  sd = OrderedDict([("a.weight", _Tensor(utils, s0, 1, (2, 3), (1, 2))),
                    ("a.num_batches_tracked", _Tensor(utils, s1, 0, (), ()))])
  expected = {"a.weight": np.lib.stride_tricks.as_strided(floats[1:], (2, 3), (4, 8)).copy(),
              "a.num_batches_tracked": np.array(7)}
  return sd, {"0": floats, "1": longs}, expected


def test_read_pth_zip_format_without_torch(tmp_path, monkeypatch):
  torch, utils = _fake_torch(monkeypatch)
  sd, storages, expected = _state_dict_and_storages(torch, utils)
  path = tmp_path / "small.pth"
  _zip_pth(path, sd, storages)
  monkeypatch.delitem(sys.modules, "torch")  # the reader must not need it
  got = weights.read_torch_state_dict(path)
  assert got.keys() == expected.keys()
  for k in expected:
    np.testing.assert_array_equal(got[k], expected[k])
  assert got["a.weight"].dtype == np.float32 and got["a.num_batches_tracked"].dtype == np.int64


def _legacy_bytes(sd, storages) -> bytes:
  """legacy: magic, protocol, sys_info, the object, the storage keys, then per storage int64 numel + raw bytes."""
  buf = io.BytesIO()
  for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
    pickle.dump(header, buf, protocol=2)
  _Pickler(buf, protocol=2).dump(sd)
  pickle.dump(list(storages), buf, protocol=2)
  for arr in storages.values():
    buf.write(struct.pack("<q", arr.size) + arr.tobytes())
  return buf.getvalue()


def _zip_pth(path, sd, storages) -> None:
  buf = io.BytesIO()
  _Pickler(buf, protocol=2).dump(sd)
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr("small/data.pkl", buf.getvalue())
    zf.writestr("small/byteorder", "little")
    for key, arr in storages.items():
      zf.writestr(f"small/data/{key}", arr.tobytes())


def test_read_pth_legacy_format_without_torch(tmp_path, monkeypatch):
  torch, utils = _fake_torch(monkeypatch)
  sd, storages, expected = _state_dict_and_storages(torch, utils)
  path = tmp_path / "legacy.pth"
  path.write_bytes(_legacy_bytes(sd, storages))
  monkeypatch.delitem(sys.modules, "torch")
  got = weights.read_torch_state_dict(path)
  for k in expected:
    np.testing.assert_array_equal(got[k], expected[k])


def test_read_pth_refuses_corrupt_files(tmp_path, monkeypatch):
  """Truncated storages and views past their storage are refused; the reader never reads outside its buffers
  (np.frombuffer without a count and as_strided would return whatever memory follows)."""
  torch, utils = _fake_torch(monkeypatch)
  sd, storages, _ = _state_dict_and_storages(torch, utils)
  full = _legacy_bytes(sd, storages)
  cases = {"cut.pth": full[:-6], "cut_header.pth": full[:-12], "cut_pickle.pth": full[:60]}
  for name, data in cases.items():
    (tmp_path / name).write_bytes(data)
  _zip_pth(tmp_path / "short.pth", sd, {"0": storages["0"][:5], "1": storages["1"]})
  # a (2, 3) view at offset 1 with strides (1, 4) ends at element 1 + 1 + 8 = 10 of a storage of 8
  far = OrderedDict([("a.weight", _Tensor(utils, sd["a.weight"].args[0], 1, (2, 3), (1, 4)))])
  _zip_pth(tmp_path / "far.pth", far, {"0": storages["0"]})
  monkeypatch.delitem(sys.modules, "torch")
  monkeypatch.setitem(sys.modules, "torch", None)  # and no real torch fallback either: import torch fails
  for name, match in (("cut.pth", "storage 1 should hold 1 elements, the file has 1 and 2 bytes"),
                      ("cut_header.pth", "storage 1 should hold 1 elements, the file has 0"),
                      ("cut_pickle.pth", "could not read .* without torch"),
                      ("short.pth", "storage 0 holds 20 bytes, its header says 8 x 4"),
                      ("far.pth", r"size \(2, 3\), stride \(1, 4\) at offset 1 lies outside its storage of 8")):
    with pytest.raises(ValueError, match=match):
      weights.read_torch_state_dict(tmp_path / name)


def test_unreadable_npz_weights_say_what_to_do(tmp_path, monkeypatch):
  monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "cache"))
  src = tmp_path / "w.npz"
  digest = _write_npz(src, _fake_arrays("nvidia", seed=1))
  bad = tmp_path / "bad.npz"
  bad.write_bytes(src.read_bytes()[:1000])
  with pytest.raises(ValueError, match="bad.npz is not a valid FID weights file: download the weights again"):
    weights.load_inception_params(bad, verify=False, use_cache=False)
  # A corrupt cache file (derived data) is rebuilt from the weights, not an error.
  params = weights.load_inception_params(src, sha256=digest)
  cached = tmp_path / "cache" / f"fid_inception_{digest[:16]}.npz"
  cached.write_bytes(b"garbage")
  again = weights.load_inception_params(src, sha256=digest)
  jax.tree.map(np.testing.assert_array_equal, params, again)
  assert cached.stat().st_size > 1000


def test_read_pth_refuses_other_classes(tmp_path):
  path = tmp_path / "evil.pth"
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr("evil/data.pkl", pickle.dumps({"x": pathlib.PurePosixPath("/")}, protocol=2))
  # Refused by jaxgan's reader; with torch installed its torch.load fallback fails too, and the error says both.
  with pytest.raises(ValueError, match="refusing to load pathlib"):
    weights.read_torch_state_dict(path)


def test_read_pth_written_by_torch(tmp_path):
  torch = pytest.importorskip("torch")
  arrays = _fake_arrays("torchvision", seed=2, with_fc=True)
  sd = OrderedDict((k, torch.from_numpy(v)) for k, v in arrays.items())
  for legacy in (False, True):
    path = tmp_path / f"w{int(legacy)}.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
    got = weights.read_torch_state_dict(path)
    assert got.keys() == arrays.keys()
    for k, v in arrays.items():
      np.testing.assert_array_equal(got[k], v)


def test_max_pool_differentiable_under_jit():
  """The gradient of a sum of max pools sends 1 to each window's arg-max (a numpy loop), under jit."""
  x = np.asarray(jax.random.normal(jax.random.key(0), (2, 7, 7, 3)), np.float32)
  grad = np.asarray(jax.jit(jax.grad(lambda v: inception.max_pool(v, 3, 2, 1).sum()))(jnp.asarray(x)))
  padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
  want = np.zeros_like(padded)
  for n in range(2):
    for c in range(3):
      for i in range(4):
        for j in range(4):
          win = padded[n, 2 * i:2 * i + 3, 2 * j:2 * j + 3, c]
          a, b = np.unravel_index(np.argmax(win), win.shape)
          want[n, 2 * i + a, 2 * j + b, c] += 1.0
  np.testing.assert_array_equal(grad, want[:, 1:-1, 1:-1, :])
