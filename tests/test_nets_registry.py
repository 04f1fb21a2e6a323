"""Tests of jaxgan.nets.registry (every registered pair, traced only) and of the InfoGAN networks."""
import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.nets import infogan
from jaxgan.nets import registry
from _nets_util import count, fake_init

KEY = jax.random.key(0, impl="rbg")  # rbg keys compile much faster on CPU than threefry
N = 2
Z = 8
OURS = ["dcgan", "dcgan_tiny", "sndcgan", "sndcgan_tiny", "resnet", "resnet_tiny", "snresnet", "snresnet_tiny",
        "infogan", "infogan_tiny", "sninfogan", "sninfogan_tiny", "cnn", "cnn_tiny", "gpresnet", "gpresnet_tiny",
        "deepconv", "deepconv_tiny"]


@pytest.mark.parametrize("name", OURS)
def test_registered_pair_contract(name):
  """Traces init and apply (no compile): shapes, dtypes, attributes, packed D input, conditional variant."""
  g = registry.get_generator(name)
  d = registry.get_discriminator(name)
  for model in (g, d):
    assert isinstance(model, nn.Module)
    assert {"resolution", "channels", "width", "num_classes"} <= set(vars(model))
  res, channels = g.resolution, g.channels
  assert (d.resolution, d.channels) == (res, channels)
  z = jax.ShapeDtypeStruct((N, Z), jnp.float32)
  gv = jax.eval_shape(g.init, KEY, z)
  x = jax.eval_shape(lambda v, z: g.apply(v, z, train=True, mutable=["batch_stats"])[0], gv, z)
  assert x.shape == (N, res, res, channels) and x.dtype == jnp.float32
  tiny = name.endswith("_tiny")  # full-size variants: plain contract only (tracing is not free)
  for in_channels in (channels, 2 * channels) if tiny else (channels,):
    xs = jax.ShapeDtypeStruct((N, res, res, in_channels), jnp.float32)
    dv = jax.eval_shape(d.init, KEY, xs)
    logits = jax.eval_shape(lambda v, x: d.apply(v, x, None, train=False), dv, xs)
    assert logits.shape == (N,) and logits.dtype == jnp.float32
  if not tiny:
    return
  labels = jax.ShapeDtypeStruct((N,), jnp.int32)
  cg = registry.get_generator(name, num_classes=3)
  cd = registry.get_discriminator(name, num_classes=3)
  cgv = jax.eval_shape(cg.init, KEY, z, labels)
  x_cond = jax.eval_shape(lambda v, z, y: cg.apply(v, z, y, train=False), cgv, z, labels)
  assert x_cond.shape == (N, res, res, channels)
  cdv = jax.eval_shape(cd.init, KEY, x, labels)
  assert jax.eval_shape(lambda v, x, y: cd.apply(v, x, y, train=False), cdv, x, labels).shape == (N,)


def test_all_ours_registered_and_overrides():
  assert set(OURS) <= set(registry.list_networks())
  assert registry.get_generator("dcgan_tiny").width == 4
  assert registry.get_generator("dcgan_tiny", width=8, resolution=64).width == 8
  assert registry.get_discriminator("snresnet").spectral_norm
  assert not registry.get_discriminator("resnet").spectral_norm
  assert registry.get_discriminator("infogan_tiny", norm="none").norm == "none"
  sn_info = registry.get_discriminator("sninfogan")
  assert sn_info.spectral_norm and sn_info.norm == "none"
  assert not registry.get_discriminator("cnn").spectral_norm and registry.get_discriminator("sndcgan").spectral_norm


def test_unknown_name_lists_known_ones():
  with pytest.raises(ValueError, match=r"unknown network 'dcgan_huge'; known: .*dcgan, dcgan_tiny"):
    registry.get_generator("dcgan_huge")
  with pytest.raises(ValueError, match="known: .*infogan"):
    registry.get_discriminator("")


@pytest.mark.parametrize("kwargs, match", [
    (dict(channels=0), r"get_generator\('dcgan_tiny'\): channels must be an int >= 1, got 0"),
    (dict(width=0), "width must be an int >= 1, got 0"),
    (dict(channels=-1), "channels must be an int >= 1, got -1"),
    (dict(resolution=28.0), "resolution must be an int >= 1, got 28.0"),
    (dict(num_classes=-3), "num_classes must be an int >= 0, got -3"),
])
def test_bad_sizes_are_named(kwargs, match):
  with pytest.raises(ValueError, match=match):
    registry.get_generator("dcgan_tiny", **{"resolution": 28, **kwargs})
  with pytest.raises(ValueError, match=match.replace("get_generator", "get_discriminator")):
    registry.get_discriminator("dcgan_tiny", **{"resolution": 28, **kwargs})
  registry.get_generator("dcgan_tiny", resolution=np.int64(28), channels=1, num_classes=0)  # numpy ints are fine


def test_register_refuses_duplicates():
  with pytest.raises(ValueError, match="already registered"):
    registry.register("dcgan", infogan.InfoGANGenerator, infogan.InfoGANDiscriminator)
  assert registry.get_generator("dcgan").__class__.__name__ == "DCGANGenerator"


# ----------------------------------------------------------------------------------------------------------------
# InfoGAN (Chen et al. 2016 / Lucic et al. 2018), tiny width 4.


def test_infogan_values_and_batch_stats():
  g = infogan.InfoGANGenerator(width=4)
  d_bn = infogan.InfoGANDiscriminator(width=4)
  d_ln = infogan.InfoGANDiscriminator(width=4, norm="layer")
  z = jax.random.normal(KEY, (N, Z))
  gv = fake_init(g, z)
  bnv = fake_init(d_bn, jnp.zeros((N, 28, 28, 1)))
  lnv = fake_init(d_ln, jnp.zeros((N, 28, 28, 1)))
  assert "batch_stats" in bnv and "batch_stats" not in lnv

  @jax.jit
  def run(gv, bnv, lnv, z):
    x, g_updates = g.apply(gv, z, train=True, mutable=["batch_stats"])
    logits_bn, d_updates = d_bn.apply(bnv, x, train=True, mutable=["batch_stats"])
    logits_ln = d_ln.apply(lnv, x, train=True)
    return x, g_updates, logits_bn, d_updates, logits_ln

  x, g_updates, logits_bn, d_updates, logits_ln = run(gv, bnv, lnv, z)
  chex.assert_shape(x, (N, 28, 28, 1))
  assert float(jnp.max(jnp.abs(x))) <= 1.0 and float(jnp.std(x)) > 0.0
  chex.assert_shape([logits_bn, logits_ln], [(N,), (N,)])
  for before, after in ((gv, g_updates), (bnv, d_updates)):
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), before["batch_stats"], after["batch_stats"])
    assert all(jax.tree.leaves(changed))


def test_infogan_tiny_parameter_counts():
  gv = jax.eval_shape(infogan.InfoGANGenerator(width=4).init, KEY, jnp.zeros((N, Z)))
  # FC 8 -> 64 (no bias), BN(64), FC 64 -> 7*7*8 (no bias), BN(392), ConvT 4x4 8 -> 4, BN(4), ConvT 4 -> 1 + bias.
  g_params = 8 * 64 + 2 * 64 + 64 * 392 + 2 * 392 + 16 * 8 * 4 + 2 * 4 + (16 * 4 * 1 + 1)
  assert count(gv["params"]) == g_params == 27097
  for norm, norm_params in (("batch", 2 * 8 + 2 * 64), ("layer", 2 * 8 + 2 * 64), ("none", 8 + 64)):
    dv = jax.eval_shape(infogan.InfoGANDiscriminator(width=4, norm=norm).init, KEY, jnp.zeros((N, 28, 28, 1)))
    # Conv 4x4 1 -> 4 + bias, Conv 4x4 4 -> 8, FC 392 -> 64, FC 64 -> 1 + bias; biases of the middle layers
    # only without normalization; layer norm normalizes over (H, W, C) with a per-channel scale and bias.
    d_params = (16 * 1 * 4 + 4) + 16 * 4 * 8 + 392 * 64 + (64 + 1) + norm_params
    assert count(dv["params"]) == d_params, norm
  assert count(jax.eval_shape(
      infogan.InfoGANDiscriminator(width=4).init, KEY, jnp.zeros((N, 28, 28, 1)))["params"]) == 25877


def test_infogan_bad_resolution():
  with pytest.raises(ValueError, match="multiple of 4"):
    jax.eval_shape(infogan.InfoGANGenerator(resolution=30).init, KEY, jnp.zeros((N, Z)))


def test_infogan_spectral_norm_critic_divides_by_the_top_singular_value():
  """With spectral_norm, D's output equals the same D without SN run on kernels divided by their exact
  largest singular value (after enough power iterations that the estimate has converged)."""
  x = jax.random.normal(jax.random.key(1), (N, 28, 28, 1))
  d_sn = infogan.InfoGANDiscriminator(width=4, norm="none", spectral_norm=True)
  d_plain = infogan.InfoGANDiscriminator(width=4, norm="none")
  sv = d_sn.init(KEY, x)
  assert set(sv) == {"params", "spectral"}
  apply_sn = jax.jit(lambda v, x: d_sn.apply(v, x, train=True, mutable=list(set(v) - {"params"})))
  for _ in range(60):  # converge the power iteration
    _, updates = apply_sn(sv, x)
    sv = {**sv, **updates}
  logits_sn = d_sn.apply(sv, x, train=False)

  def normalize(path, w):
    name = str(getattr(path[-1], "key", path[-1]))
    if name != "kernel":
      return w
    m = np.asarray(w).reshape(-1, w.shape[-1])
    return w / np.linalg.svd(m, compute_uv=False)[0]
  normalized = jax.tree_util.tree_map_with_path(normalize, sv["params"])
  plain_params = {name.removeprefix("SN"): p for name, p in normalized.items()}  # SNConv_0 -> Conv_0
  assert set(plain_params) == {"Conv_0", "Conv_1", "Dense_0", "head"}
  logits_plain = d_plain.apply({"params": plain_params}, x, train=False)
  np.testing.assert_allclose(np.asarray(logits_sn), np.asarray(logits_plain), rtol=2e-3, atol=1e-5)


def test_infogan_generator_activation():
  z = jax.random.normal(KEY, (N, Z))
  relu_g = infogan.InfoGANGenerator(width=4)
  leaky_g = infogan.InfoGANGenerator(width=4, activation="leaky_relu")
  v = relu_g.init(KEY, z)
  assert jax.tree.structure(v) == jax.tree.structure(leaky_g.init(KEY, z))
  a = relu_g.apply(v, z, train=False)
  b = leaky_g.apply(v, z, train=False)
  assert float(jnp.max(jnp.abs(a - b))) > 1e-4  # the negative slope changes the output
  with pytest.raises(ValueError, match="activation must be one of relu, leaky_relu"):
    infogan.InfoGANGenerator(width=4, activation="gelu").init(KEY, z)


def test_mlp_nets_build_as_experiments_call_them():
  """`experiment.build_nets` passes resolution, channels and num_classes to every net: the MLPs take them (image
  output of that size), and refuse what they cannot honour."""
  from jaxgan.train import experiment  # pylint: disable=import-outside-toplevel
  c = experiment.base_config()
  c.net = "mlp_tiny"
  g, d = experiment.build_nets(c, 8, 1, 0)
  z = jnp.zeros((N, Z))
  g_vars = g.init(KEY, z)
  x = g.apply(g_vars, z, train=False)
  assert x.shape == (N, 8, 8, 1)
  assert d.apply(d.init(KEY, x), x, train=False).shape == (N,)
  with pytest.raises(ValueError, match="net 'mlp' is unconditional, got num_classes=3"):
    registry.get_generator("mlp", resolution=8, channels=1, num_classes=3)
  with pytest.raises(ValueError, match="sized by hidden"):
    registry.get_discriminator("mlp", resolution=8, channels=1, width=16)
  c.conditional, c.num_classes = True, 3
  with pytest.raises(experiment.ExperimentError, match="unconditional"):
    experiment.build_nets(c, 8, 1, 3)
