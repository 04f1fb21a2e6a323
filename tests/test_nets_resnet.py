"""Tests of the ResNet (CIFAR-10) generator and discriminator, tiny width 8, batch 2."""
import chex
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.nets import resnet
from _nets_util import count, fake_init, randomize_norms

KEY = jax.random.key(0, impl="rbg")  # rbg keys compile much faster on CPU than threefry
Z = 8
N = 2
W = 8


@pytest.fixture(scope="module")
def cifar_run():
  """G and SN-D (on packed pairs: 6 channels) at 32x32 in train mode, in one compile."""
  g = resnet.ResNetGenerator(resolution=32, width=W)
  d = resnet.ResNetDiscriminator(resolution=32, width=W, spectral_norm=True)
  z = jax.random.normal(KEY, (N, Z))
  gv = fake_init(g, z)
  dv = fake_init(d, jnp.zeros((N, 32, 32, 6)))

  @jax.jit
  def run(gv, dv, z):
    x, g_updates = g.apply(gv, z, train=True, mutable=["batch_stats"])
    packed = jnp.concatenate([x, x[::-1]], axis=-1)
    logits, d_updates = d.apply(dv, packed, train=True, mutable=["spectral"])
    return dict(x=x, g_updates=g_updates, logits=logits, d_updates=d_updates)

  return gv, dv, run(gv, dv, z)


def test_generator_shape_dtype_range(cifar_run):
  _, _, out = cifar_run
  x = out["x"]
  chex.assert_shape(x, (N, 32, 32, 3))
  assert x.dtype == jnp.float32
  assert float(jnp.max(jnp.abs(x))) <= 1.0
  assert float(jnp.std(x)) > 0.0


def test_generator_batch_stats(cifar_run):
  gv, _, out = cifar_run
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), gv["batch_stats"], out["g_updates"]["batch_stats"])
  assert all(jax.tree.leaves(changed))


def test_discriminator_packed_logits_and_spectral_updates(cifar_run):
  _, dv, out = cifar_run
  logits = out["logits"]
  chex.assert_shape(logits, (N,))
  assert logits.dtype == jnp.float32
  assert np.all(np.isfinite(np.asarray(logits)))
  assert "batch_stats" not in dv
  chex.assert_shape(dv["params"]["DiscriminatorBlock_0"]["SNConv_0"]["kernel"], (3, 3, 6, W))
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), dv["spectral"], out["d_updates"]["spectral"])
  del changed["head"]  # a (1,) vector of norm 1 is a fixed point
  assert all(jax.tree.leaves(changed))


def test_tiny_parameter_counts():
  g = resnet.ResNetGenerator(resolution=32, channels=3, width=W)
  d = resnet.ResNetDiscriminator(resolution=32, channels=3, width=W)
  gv = jax.eval_shape(g.init, KEY, jnp.zeros((N, Z)))
  dv = jax.eval_shape(d.init, KEY, jnp.zeros((N, 32, 32, 3)))
  conv3 = 9 * W * W + W  # 3x3 conv W -> W with bias
  # G: Dense 8 -> 4*4*8 + bias; 3 up blocks of [BN(8), conv3, BN(8), conv3, 1x1 shortcut 8->8 + bias];
  # BN(8); conv 3x3 8 -> 3 + bias.
  g_block = 2 * W + conv3 + 2 * W + conv3 + (W * W + W)
  assert count(gv["params"]) == (Z * 16 * W + 16 * W) + 3 * g_block + 2 * W + (9 * W * 3 + 3) == 5203
  assert count(gv["batch_stats"]) == 2 * (3 * 2 * W + W)
  # D: optimized block [conv 3x3 3->8, conv3, 1x1 shortcut 3->8]; down block [conv3, conv3, 1x1 8->8];
  # two blocks [conv3, conv3] (no shortcut conv); Dense 8 -> 1.
  optimized = (9 * 3 * W + W) + conv3 + (3 * W + W)
  down = 2 * conv3 + (W * W + W)
  assert count(dv["params"]) == optimized + down + 2 * 2 * conv3 + (W + 1) == 4425
  assert set(dv) == {"params"}  # no batch norm, no spectral state without SN
  # SN-GAN's 32x32 D (head_bias=False): the same without the head's bias.
  d_no_bias = resnet.ResNetDiscriminator(resolution=32, channels=3, width=W, head_bias=False)
  nv = jax.eval_shape(d_no_bias.init, KEY, jnp.zeros((N, 32, 32, 3)))
  assert count(nv["params"]) == optimized + down + 2 * 2 * conv3 + W == 4424
  assert set(nv["params"]["head"]) == {"kernel"}


def test_mean_pooling_is_the_sum_over_the_final_map_size():
  """D(x) with mean pooling = D(x) with sum pooling and the head's kernel divided by the 8x8 final map."""
  d_sum = resnet.ResNetDiscriminator(resolution=32, width=W)
  d_mean = resnet.ResNetDiscriminator(resolution=32, width=W, pooling="mean")
  x = jax.random.normal(KEY, (N, 32, 32, 3))
  dv = fake_init(d_mean, x)
  dv["params"]["head"]["bias"] = jnp.full((1,), 0.3)
  scaled = jax.tree.map(lambda a: a, dv)
  scaled["params"]["head"]["kernel"] = dv["params"]["head"]["kernel"] / 64.0
  mean_logits = d_mean.apply(dv, x)
  np.testing.assert_allclose(mean_logits, d_sum.apply(scaled, x), rtol=1e-5, atol=1e-6)
  assert not np.allclose(mean_logits, d_sum.apply(dv, x), rtol=1e-3)  # the two poolings differ
  with pytest.raises(ValueError, match="pooling must be one of sum, mean, got 'max'"):
    jax.eval_shape(resnet.ResNetDiscriminator(pooling="max").init, KEY, x)


# ----------------------------------------------------------------------------------------------------------------
# Forward passes written out from Gulrajani et al. 2017 (appendix F) / Miyato et al. 2018 (Table 4) with lax/numpy,
# eval mode, on random biases and BN parameters and statistics.

_DN = ("NHWC", "HWIO", "NHWC")


def _conv(x, p):
  """Stride-1 SAME convolution (3x3 or 1x1) with an HWIO kernel and a bias."""
  return lax.conv_general_dilated(x, p["kernel"], (1, 1), "SAME", dimension_numbers=_DN,
                                  precision=lax.Precision.HIGHEST) + p["bias"]


def _bn(x, params, stats):
  """Batch norm in eval mode: running statistics, epsilon 1e-5."""
  return (x - stats["mean"]) / jnp.sqrt(stats["var"] + 1e-5) * params["scale"] + params["bias"]


def _nearest_up(x):
  """Nearest-neighbour 2x upsampling: out[n, i, j] = x[n, i // 2, j // 2]."""
  rows, cols = jnp.arange(2 * x.shape[1]) // 2, jnp.arange(2 * x.shape[2]) // 2
  return x[:, rows][:, :, cols]


def _avg_pool(x):
  """2x2 mean pooling, stride 2."""
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def test_generator_forward_matches_the_paper():
  """z -> Dense (+ bias) -> 4x4xW -> 3 x [BN-ReLU-up-conv3x3-BN-ReLU-conv3x3 + conv1x1(up(x))] -> BN -> ReLU ->
  conv3x3 to 3 -> tanh, with nearest-neighbour upsampling; eval mode."""
  g = resnet.ResNetGenerator(resolution=32, width=W)
  z = jax.random.normal(KEY, (N, Z))
  gv = randomize_norms(fake_init(g, z))

  def reference(gv):
    p, s = gv["params"], gv["batch_stats"]
    h = (z @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"]).reshape(N, 4, 4, W)
    for i in range(3):
      bp, bs = p[f"GeneratorBlock_{i}"], s[f"GeneratorBlock_{i}"]
      r = _nearest_up(jnp.maximum(_bn(h, bp["BatchNorm_0"], bs["BatchNorm_0"]), 0.0))
      r = jnp.maximum(_bn(_conv(r, bp["Conv_0"]), bp["BatchNorm_1"], bs["BatchNorm_1"]), 0.0)
      h = _conv(r, bp["Conv_1"]) + _conv(_nearest_up(h), bp["shortcut"])
    return jnp.tanh(_conv(jnp.maximum(_bn(h, p["BatchNorm_0"], s["BatchNorm_0"]), 0.0), p["Conv_0"]))

  x, want = jax.jit(lambda v: (g.apply(v, z, train=False), reference(v)))(gv)
  chex.assert_shape(want, (N, 32, 32, 3))
  np.testing.assert_allclose(x, want, rtol=1e-4, atol=1e-5)


def test_discriminator_forward_matches_the_paper():
  """Optimized block conv3x3-ReLU-conv3x3-avgpool + conv1x1(avgpool(x)); down block ReLU-conv3x3-ReLU-conv3x3-avgpool
  + avgpool(conv1x1(x)); two blocks ReLU-conv3x3-ReLU-conv3x3 + x; ReLU; sum over H, W; Dense(1), no bias
  (SN-GAN's 32x32 D, head_bias=False). Without SN; eval mode."""
  d = resnet.ResNetDiscriminator(resolution=32, width=W, head_bias=False)
  x = jax.random.uniform(KEY, (N, 32, 32, 3), minval=-1.0, maxval=1.0)
  dv = randomize_norms(fake_init(d, x))
  assert [set(dv["params"][f"DiscriminatorBlock_{i}"]) for i in range(4)] == (
      [{"Conv_0", "Conv_1", "shortcut"}] * 2 + [{"Conv_0", "Conv_1"}] * 2)

  def reference(dv):
    p = dv["params"]
    b = p["DiscriminatorBlock_0"]
    h = _avg_pool(_conv(jnp.maximum(_conv(x, b["Conv_0"]), 0.0), b["Conv_1"])) + _conv(_avg_pool(x), b["shortcut"])
    b = p["DiscriminatorBlock_1"]
    r = _conv(jnp.maximum(_conv(jnp.maximum(h, 0.0), b["Conv_0"]), 0.0), b["Conv_1"])
    h = _avg_pool(r) + _avg_pool(_conv(h, b["shortcut"]))
    for i in (2, 3):
      b = p[f"DiscriminatorBlock_{i}"]
      h = h + _conv(jnp.maximum(_conv(jnp.maximum(h, 0.0), b["Conv_0"]), 0.0), b["Conv_1"])
    phi = jnp.sum(jnp.maximum(h, 0.0), axis=(1, 2))
    return phi @ p["head"]["kernel"][:, 0]

  logits, want = jax.jit(lambda v: (d.apply(v, x, train=False), reference(v)))(dv)
  chex.assert_shape(want, (N,))
  np.testing.assert_allclose(logits, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("res", [48, 64])
def test_other_resolutions_shapes(res):
  g = resnet.ResNetGenerator(resolution=res, width=W)
  d = resnet.ResNetDiscriminator(resolution=res, width=W)
  gv = jax.eval_shape(g.init, KEY, jnp.zeros((N, Z)))
  x = jax.eval_shape(lambda v: g.apply(v, jnp.zeros((N, Z)), mutable=["batch_stats"])[0], gv)
  assert x.shape == (N, res, res, 3)
  dv = jax.eval_shape(d.init, KEY, x)
  logits = jax.eval_shape(lambda v: d.apply(v, jnp.zeros(x.shape)), dv)
  assert logits.shape == (N,)


def test_unsupported_resolution():
  with pytest.raises(ValueError, match=r"unsupported resolution 28; supported: \[32, 48, 64\]"):
    jax.eval_shape(resnet.ResNetGenerator(resolution=28).init, KEY, jnp.zeros((N, Z)))


def test_conditional_projection_and_concat():
  labels = jnp.array([0, 3], jnp.int32)
  other = jnp.array([1, 1], jnp.int32)
  g = resnet.ResNetGenerator(resolution=32, width=W, num_classes=4, embed_dim=4)
  gv = jax.eval_shape(g.init, KEY, jnp.zeros((N, Z)), labels)
  chex.assert_shape(gv["params"]["label_embed"]["embedding"], (4, 4))
  d_proj = resnet.ResNetDiscriminator(resolution=32, width=W, num_classes=4)
  d_cat = resnet.ResNetDiscriminator(resolution=32, width=W, num_classes=4, conditioning="concat")
  x = jax.random.uniform(KEY, (N, 32, 32, 3), minval=-1.0, maxval=1.0)
  pv = fake_init(d_proj, x, labels)
  cv = fake_init(d_cat, x, labels)
  chex.assert_shape(pv["params"]["class_embed"]["embedding"], (4, W))  # projection on the pooled features
  chex.assert_shape(cv["params"]["DiscriminatorBlock_0"]["Conv_0"]["kernel"], (3, 3, 3 + 4, W))

  @jax.jit
  def run(pv, cv, x):
    return [d.apply(v, x, y, train=False) for d, v in ((d_proj, pv), (d_cat, cv)) for y in (labels, other)]

  proj, proj_other, cat, cat_other = run(pv, cv, x)
  assert float(jnp.max(jnp.abs(proj - proj_other))) > 1e-5
  assert float(jnp.max(jnp.abs(cat - cat_other))) > 1e-5
  with pytest.raises(ValueError, match="labels are required"):
    d_proj.apply(pv, x)
