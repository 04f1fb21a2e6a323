"""Tests of the ResNet (CIFAR-10) generator and discriminator, tiny width 8, batch 2."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.nets import resnet
from _nets_util import count, fake_init

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
