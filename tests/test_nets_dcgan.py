"""Tests of the DCGAN and SNDCGAN networks (tiny widths, batch 2)."""
import chex
import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.nets import dcgan
from _nets_util import count, fake_init, randomize_norms

KEY = jax.random.key(0, impl="rbg")  # rbg keys compile much faster on CPU than threefry
Z = 8
N = 2


def _z(seed: int = 1) -> jax.Array:
  return jax.random.normal(jax.random.key(seed, impl="rbg"), (N, Z))


def _apply_fn(model: nn.Module, train: bool):
  mutable = ["batch_stats", "spectral"]
  return jax.jit(lambda v, *args: model.apply(v, *args, train=train, mutable=mutable))


@pytest.fixture(scope="module", params=[(28, 1), (32, 3), (64, 3)], ids=["28", "32", "64"])
def generated(request):
  """(resolution, channels, variables, outputs) for each DCGAN resolution, from one compiled function."""
  res, channels = request.param
  g = dcgan.DCGANGenerator(resolution=res, channels=channels, width=4)
  variables = fake_init(g, _z())

  @jax.jit
  def run(v, z):
    x, updates = g.apply(v, z, train=True, mutable=["batch_stats"])
    x_eval, eval_updates = g.apply(v, z, train=False, mutable=["batch_stats"])
    x_first = g.apply(v, z[:1], train=False)
    return dict(x=x, updates=updates, x_eval=x_eval, eval_updates=eval_updates, x_first=x_first)

  return res, channels, variables, run(variables, _z())


def test_generator_shape_dtype_range(generated):
  res, channels, _, out = generated
  for x in (out["x"], out["x_eval"]):
    chex.assert_shape(x, (N, res, res, channels))
    assert x.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(x))) <= 1.0
    assert float(jnp.std(x)) > 0.0


def test_batch_stats_updated_in_train_untouched_in_eval(generated):
  _, _, variables, out = generated
  before = variables["batch_stats"]
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), before, out["updates"]["batch_stats"])
  assert all(jax.tree.leaves(changed))
  chex.assert_trees_all_equal(out["eval_updates"]["batch_stats"], before)
  # Eval mode is per sample: the first image does not depend on the rest of the batch.
  np.testing.assert_allclose(np.asarray(out["x_first"][0]), np.asarray(out["x_eval"][0]), rtol=1e-4, atol=1e-5)


def test_bn_axis_name_synchronizes_batch_statistics():
  """Two "devices" of 2 samples each, mapped with an axis name, match one batch of 4 in training mode."""
  g = dcgan.DCGANGenerator(resolution=28, channels=1, width=4)
  g_sync = dcgan.DCGANGenerator(resolution=28, channels=1, width=4, bn_axis_name="devices")
  variables = fake_init(g, _z())
  z = jax.random.normal(KEY, (4, Z))

  @jax.jit
  def run(v, z):
    whole, whole_updates = g.apply(v, z, mutable=["batch_stats"])
    split, split_updates = jax.vmap(
        lambda zs: g_sync.apply(v, zs, mutable=["batch_stats"]), axis_name="devices")(z.reshape(2, 2, Z))
    return whole, whole_updates, split.reshape(whole.shape), jax.tree.map(lambda a: a[0], split_updates)

  whole, whole_updates, split, split_updates = run(variables, z)
  np.testing.assert_allclose(np.asarray(split), np.asarray(whole), rtol=1e-4, atol=1e-5)
  chex.assert_trees_all_close(split_updates, whole_updates, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("res", [28, 32, 64])
@pytest.mark.parametrize("in_channels", [3, 6])  # 6 = a PacGAN discriminator on pairs of RGB images
def test_discriminator_shapes(res, in_channels):
  d = dcgan.DCGANDiscriminator(resolution=res, channels=3, width=4)
  x = jax.ShapeDtypeStruct((N, res, res, in_channels), jnp.float32)
  variables = jax.eval_shape(d.init, KEY, x)
  out = jax.eval_shape(lambda v, x: d.apply(v, x, mutable=["batch_stats"])[0], variables, x)
  assert out.shape == (N,) and out.dtype == jnp.float32
  chex.assert_shape(variables["params"]["Conv_0"]["kernel"], (4, 4, in_channels, 4))


def test_discriminator_packed_values():
  d = dcgan.DCGANDiscriminator(resolution=32, width=4)
  x = jax.random.uniform(KEY, (N, 32, 32, 6), minval=-1.0, maxval=1.0)
  variables = fake_init(d, x)
  logits, updates = _apply_fn(d, True)(variables, x)
  chex.assert_shape(logits, (N,))
  assert np.all(np.isfinite(np.asarray(logits)))
  assert "batch_stats" in updates


# ----------------------------------------------------------------------------------------------------------------
# Forward passes written out from the papers' layer tables with lax/numpy, eval mode, on random BN parameters and
# statistics (so that batch norm is not the identity).

_DN = ("NHWC", "HWIO", "NHWC")


def _conv(x, p, stride):
  """SAME convolution with an HWIO kernel, plus the bias when the layer has one."""
  y = lax.conv_general_dilated(x, p["kernel"], (stride, stride), "SAME", dimension_numbers=_DN,
                               precision=lax.Precision.HIGHEST)
  return y + p["bias"] if "bias" in p else y


def _deconv(x, p):
  """4x4/2 transposed convolution, SAME: (N, H, W, C) -> (N, 2H, 2W, C')."""
  y = lax.conv_transpose(x, p["kernel"], (2, 2), "SAME", dimension_numbers=_DN, precision=lax.Precision.HIGHEST)
  return y + p["bias"] if "bias" in p else y


def _bn(x, variables, name):
  """Batch norm in eval mode: running statistics, epsilon 1e-5."""
  p, s = variables["params"][name], variables["batch_stats"][name]
  return (x - s["mean"]) / jnp.sqrt(s["var"] + 1e-5) * p["scale"] + p["bias"]


def _lrelu(x, slope):
  return jnp.where(x >= 0, x, slope * x)


def _g_trunk(gv, z, channels, blocks):
  """The generator trunk of Radford et al. that Miyato et al.'s Table 3 keeps: Dense (no bias) -> 4x4xchannels ->
  BN -> ReLU -> `blocks` x [deconv 4x4/2 -> BN -> ReLU]."""
  gp = gv["params"]
  h = jnp.maximum(_bn((z @ gp["Dense_0"]["kernel"]).reshape(N, 4, 4, channels), gv, "BatchNorm_0"), 0.0)
  for i in range(blocks):
    h = jnp.maximum(_bn(_deconv(h, gp[f"ConvTranspose_{i}"]), gv, f"BatchNorm_{i + 1}"), 0.0)
  return h


def _check_against(g, d, generator, discriminator, z, x):
  """G(z) and D(x) in eval mode against the written-out forward passes, all in one compile."""
  gv = randomize_norms(fake_init(g, z))
  dv = randomize_norms(fake_init(d, x))

  @jax.jit
  def run(gv, dv):
    return (g.apply(gv, z, train=False), generator(gv, z), d.apply(dv, x, train=False), discriminator(dv, x))

  x_g, want_x, logits, want_logits = run(gv, dv)
  chex.assert_shape(want_x, x_g.shape)
  np.testing.assert_allclose(x_g, want_x, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(logits, want_logits, rtol=1e-4, atol=1e-5)
  return dv, x_g


def test_dcgan_forward_matches_the_paper():
  """Radford et al. 2015, section 3: G = Dense (no bias) -> 4x4x4w -> BN -> ReLU -> [deconv 4x4/2 -> BN -> ReLU]
  to 2w, w -> deconv 4x4/2 to C (+ bias) -> tanh; D = conv 4x4/2 (+ bias) -> LReLU(0.2) -> [conv 4x4/2 (no bias)
  -> BN -> LReLU(0.2)] to 2w, 4w -> flatten -> Dense(1). Resolution 32, w = 4, eval mode."""
  g = dcgan.DCGANGenerator(resolution=32, channels=3, width=4)
  d = dcgan.DCGANDiscriminator(resolution=32, channels=3, width=4)

  def generator(gv, z):
    return jnp.tanh(_deconv(_g_trunk(gv, z, 16, 2), gv["params"]["ConvTranspose_2"]))

  def discriminator(dv, x):
    dp = dv["params"]
    h = _lrelu(_conv(x, dp["Conv_0"], 2), 0.2)
    for i in (1, 2):
      h = _lrelu(_bn(_conv(h, dp[f"Conv_{i}"], 2), dv, f"BatchNorm_{i - 1}"), 0.2)
    return h.reshape(N, 4 * 4 * 16) @ dp["head"]["kernel"][:, 0] + dp["head"]["bias"][0]

  x = jax.random.uniform(KEY, (N, 32, 32, 3), minval=-1.0, maxval=1.0)
  _, x_g = _check_against(g, d, generator, discriminator, _z(), x)
  chex.assert_shape(x_g, (N, 32, 32, 3))


def test_sndcgan_forward_matches_table_3():
  """Miyato et al. 2018, Table 3 (M = 4, w = 4): G = Dense (no bias) -> MxMx8w -> BN -> ReLU -> [deconv 4x4/2 ->
  BN -> ReLU] to 4w, 2w, w -> conv 3x3/1 to C -> tanh; D = conv 3x3/1 w, 4x4/2 w, 3x3/1 2w, 4x4/2 2w, 3x3/1 4w,
  4x4/2 4w, 3x3/1 8w, each + bias -> LReLU(0.1), then flatten -> Dense(1). D without SN here (`cnn`); the SN
  division is tested in test_nets_layers.py."""
  g = dcgan.SNDCGANGenerator(resolution=32, channels=3, width=4)
  d = dcgan.SNDCGANDiscriminator(resolution=32, channels=3, width=4, spectral_norm=False)
  plan = [(3, 1), (4, 2), (3, 1), (4, 2), (3, 1), (4, 2), (3, 1)]  # (kernel, stride)

  def generator(gv, z):
    return jnp.tanh(_conv(_g_trunk(gv, z, 32, 3), gv["params"]["Conv_0"], 1))

  def discriminator(dv, x):
    dp, h = dv["params"], x
    for i, (_, stride) in enumerate(plan):
      h = _lrelu(_conv(h, dp[f"Conv_{i}"], stride), 0.1)
    return h.reshape(N, 4 * 4 * 32) @ dp["head"]["kernel"][:, 0] + dp["head"]["bias"][0]

  x = jax.random.uniform(KEY, (N, 32, 32, 3), minval=-1.0, maxval=1.0)
  dv, x_g = _check_against(g, d, generator, discriminator, _z(), x)
  assert float(jnp.min(x_g)) < 0.0 < float(jnp.max(x_g))  # tanh, not a sigmoid
  for i, (kernel, _) in enumerate(plan):
    assert dv["params"][f"Conv_{i}"]["kernel"].shape[:2] == (kernel, kernel)


def test_tiny_parameter_counts():
  g = dcgan.DCGANGenerator(resolution=32, channels=3, width=4)
  d = dcgan.DCGANDiscriminator(resolution=32, channels=3, width=4)
  gv = jax.eval_shape(g.init, KEY, jnp.zeros((N, Z)))
  dv = jax.eval_shape(d.init, KEY, jnp.zeros((N, 32, 32, 3)))
  # G: Dense 8 -> 4*4*16 (no bias), BN(16), ConvT 4x4 16->8, BN(8), ConvT 8->4, BN(4), ConvT 4->3 + bias.
  g_params = 8 * 4 * 4 * 16 + 2 * 16 + 16 * 16 * 8 + 2 * 8 + 16 * 8 * 4 + 2 * 4 + (16 * 4 * 3 + 3)
  assert count(gv["params"]) == g_params == 4859
  assert count(gv["batch_stats"]) == 2 * (16 + 8 + 4)
  # D: Conv 4x4 3->4 + bias, Conv 4->8, BN(8), Conv 8->16, BN(16), Dense 4*4*16 -> 1 + bias.
  d_params = (16 * 3 * 4 + 4) + 16 * 4 * 8 + 2 * 8 + 16 * 8 * 16 + 2 * 16 + (4 * 4 * 16 + 1)
  assert count(dv["params"]) == d_params == 3061
  assert count(dv["batch_stats"]) == 2 * (8 + 16)


def test_discriminator_norm_options():
  x = jnp.zeros((N, 28, 28, 1))
  for norm in ("layer", "none"):
    d = dcgan.DCGANDiscriminator(resolution=28, channels=1, width=4, norm=norm)
    variables = jax.eval_shape(d.init, KEY, x)
    assert "batch_stats" not in variables
  with pytest.raises(ValueError, match="norm must be one of"):
    jax.eval_shape(dcgan.DCGANDiscriminator(resolution=28, norm="group").init, KEY, x)


def test_unsupported_resolution():
  with pytest.raises(ValueError, match=r"unsupported resolution 48; supported: \[28, 32, 64\]"):
    jax.eval_shape(dcgan.DCGANGenerator(resolution=48).init, KEY, jnp.zeros((N, Z)))
  with pytest.raises(ValueError, match=r"supported: \[28, 32, 64\]"):
    jax.eval_shape(dcgan.DCGANDiscriminator(resolution=16).init, KEY, jnp.zeros((N, 16, 16, 3)))
  with pytest.raises(ValueError, match=r"supported: \[32, 48\]"):
    jax.eval_shape(dcgan.SNDCGANGenerator(resolution=64).init, KEY, jnp.zeros((N, Z)))
  with pytest.raises(ValueError, match="built for resolution 32"):
    jax.eval_shape(dcgan.DCGANDiscriminator(resolution=32).init, KEY, jnp.zeros((N, 28, 28, 3)))


# ----------------------------------------------------------------------------------------------------------------
# Class-conditional models.

K = 3
LABELS = jnp.array([0, 2], jnp.int32)
OTHER_LABELS = jnp.array([1, 1], jnp.int32)


@pytest.fixture(scope="module")
def cond_generator():
  g = dcgan.DCGANGenerator(resolution=28, channels=1, width=4, num_classes=K, embed_dim=4)
  variables = jax.jit(g.init)(KEY, _z(), LABELS)
  return g, variables, _apply_fn(g, False)


def test_conditional_generator_uses_labels(cond_generator):
  _, variables, fn = cond_generator
  x, _ = fn(variables, _z(), LABELS)
  x_other, _ = fn(variables, _z(), OTHER_LABELS)
  chex.assert_shape(x, (N, 28, 28, 1))
  assert float(jnp.max(jnp.abs(x - x_other))) > 1e-4
  chex.assert_shape(variables["params"]["label_embed"]["embedding"], (K, 4))


@pytest.mark.parametrize("labels,match", [
    (None, "labels are required"),
    (jnp.array([0.0, 1.0]), "dtype"),
    (jnp.array([0, 1, 2]), "shape"),
    (jnp.array([0, 3]), "values"),
])
def test_conditional_models_reject_bad_labels(cond_generator, labels, match):
  g, variables, _ = cond_generator
  with pytest.raises(ValueError, match=match):
    g.apply(variables, _z(), labels, train=False)
  d = dcgan.DCGANDiscriminator(resolution=28, channels=1, width=4, num_classes=K, conditioning="concat")
  with pytest.raises(ValueError, match=match):
    d.init(KEY, jnp.zeros((N, 28, 28, 1)), labels)


def test_bad_labels_under_jit(cond_generator):
  g, variables, fn = cond_generator
  with pytest.raises(ValueError, match="shape"):
    jax.jit(lambda v, y: g.apply(v, _z(), y, train=False))(variables, jnp.zeros((N, 1), jnp.int32))
  # Values cannot be checked at trace time: an out-of-range label gives NaN for its sample, not a wrong class.
  for bad in (-1, K):
    x, _ = fn(variables, _z(), jnp.array([1, bad], jnp.int32))
    assert np.all(np.isfinite(np.asarray(x[0]))) and np.all(np.isnan(np.asarray(x[1])))


def test_projection_discriminator_matches_hand_computation():
  d = dcgan.DCGANDiscriminator(resolution=28, channels=1, width=4, num_classes=K, conditioning="projection")
  x = jax.random.uniform(KEY, (N, 28, 28, 1), minval=-1.0, maxval=1.0)
  variables = fake_init(d, x, LABELS)

  @jax.jit
  def logits_and_phi(v, x, labels):
    captured = {}

    def grab_head_input(next_fun, args, kwargs, context):
      if context.module.name == "head" and context.method_name == "__call__":
        captured["phi"] = args[0]
      return next_fun(*args, **kwargs)

    with nn.intercept_methods(grab_head_input):
      logits = d.apply(v, x, labels, train=False)
    return logits, captured["phi"]

  logits, phi = logits_and_phi(variables, x, LABELS)
  other, _ = logits_and_phi(variables, x, OTHER_LABELS)
  params = variables["params"]
  phi = np.asarray(phi)
  chex.assert_shape(phi, (N, 7 * 7 * 8))
  embedding = np.asarray(params["class_embed"]["embedding"])
  chex.assert_shape(embedding, (K, 7 * 7 * 8))
  linear = phi @ np.asarray(params["head"]["kernel"])[:, 0] + np.asarray(params["head"]["bias"])[0]
  expected = linear + np.sum(embedding[np.asarray(LABELS)] * phi, axis=-1)
  np.testing.assert_allclose(np.asarray(logits), expected, rtol=1e-4, atol=1e-4)
  assert float(jnp.max(jnp.abs(logits - other))) > 1e-4


def test_concat_discriminator_uses_label_channels():
  d = dcgan.DCGANDiscriminator(resolution=28, channels=1, width=4, num_classes=K, conditioning="concat")
  x = jax.random.uniform(KEY, (N, 28, 28, 2), minval=-1.0, maxval=1.0)  # packed pairs of grey images
  variables = fake_init(d, x, LABELS)
  chex.assert_shape(variables["params"]["Conv_0"]["kernel"], (4, 4, 2 + K, 4))
  assert "class_embed" not in variables["params"]
  fn = jax.jit(lambda v, x, y: d.apply(v, x, y, train=False))
  logits, other = fn(variables, x, LABELS), fn(variables, x, OTHER_LABELS)
  chex.assert_shape(logits, (N,))
  assert float(jnp.max(jnp.abs(logits - other))) > 1e-6
  bad = np.asarray(fn(variables, x, jnp.array([0, K], jnp.int32)))  # out of range under jit: NaN
  assert np.isfinite(bad[0]) and np.isnan(bad[1])


def test_bad_conditioning_name():
  d = dcgan.DCGANDiscriminator(resolution=28, num_classes=K, conditioning="acgan")
  with pytest.raises(ValueError, match="conditioning must be one of"):
    jax.eval_shape(d.init, KEY, jnp.zeros((N, 28, 28, 1)), LABELS)


# ----------------------------------------------------------------------------------------------------------------
# SNDCGAN (Miyato et al. 2018, Table 3).


def test_sndcgan_generator_and_discriminator_32():
  g = dcgan.SNDCGANGenerator(resolution=32, width=4)
  d = dcgan.SNDCGANDiscriminator(resolution=32, width=4)
  gv = fake_init(g, _z())
  dv = fake_init(d, jnp.zeros((N, 32, 32, 3)))
  assert "batch_stats" not in dv

  @jax.jit
  def run(gv, dv, z):
    x, _ = g.apply(gv, z, mutable=["batch_stats"])
    logits, updates = d.apply(dv, x, train=True, mutable=["spectral"])
    return x, logits, updates

  x, logits, updates = run(gv, dv, _z())
  chex.assert_shape(x, (N, 32, 32, 3))
  assert float(jnp.max(jnp.abs(x))) <= 1.0
  chex.assert_shape(logits, (N,))
  # Every conv and the head are spectrally normalized; the convs' u advance in training mode (the head's u has
  # one element, +-1, a fixed point).
  assert sorted(dv["spectral"]) == [f"SNConv_{i}" for i in range(7)] + ["head"]
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), dv["spectral"], updates["spectral"])
  assert all(changed[f"SNConv_{i}"]["u"] for i in range(7))


def test_sndcgan_48_shapes_and_parametercount():
  g = dcgan.SNDCGANGenerator(resolution=48, width=4)
  d = dcgan.SNDCGANDiscriminator(resolution=48, width=4)
  gv = jax.eval_shape(g.init, KEY, jnp.zeros((N, Z)))
  x = jax.eval_shape(lambda v: g.apply(v, jnp.zeros((N, Z)), mutable=["batch_stats"])[0], gv)
  assert x.shape == (N, 48, 48, 3)
  dv = jax.eval_shape(d.init, KEY, jnp.zeros((N, 48, 48, 3)))
  # D (w = 4): convs 3x3 3->4, 4x4 4->4, 3x3 4->8, 4x4 8->8, 3x3 8->16, 4x4 16->16, 3x3 16->32, all with bias,
  # then Dense 6*6*32 -> 1; one u per layer of size (out,).
  convs = [(3, 3, 4), (4, 4, 4), (3, 4, 8), (4, 8, 8), (3, 8, 16), (4, 16, 16), (3, 16, 32)]
  expected = sum(k * k * cin * cout + cout for k, cin, cout in convs) + (6 * 6 * 32 + 1)
  assert count(dv["params"]) == expected
  assert count(dv["spectral"]) == sum(cout for _, _, cout in convs) + 1
  # G (w = 4): Dense 8 -> 6*6*32 (no bias), BN(32), ConvT 32->16, BN, ConvT 16->8, BN, ConvT 8->4, BN, conv 3x3 4->3.
  g_expected = (8 * 6 * 6 * 32 + 2 * 32 + 16 * 32 * 16 + 2 * 16 + 16 * 16 * 8 + 2 * 8 + 16 * 8 * 4 + 2 * 4
                + 9 * 4 * 3 + 3)
  assert count(gv["params"]) == g_expected


def test_studiogan_deepconv_options():
  """norm="batch", activation="relu", pooling="sum": every conv then batch norm then ReLU, D's last map summed."""
  d = dcgan.SNDCGANDiscriminator(width=4, spectral_norm=False, norm="batch", activation="relu", pooling="sum")
  x = jax.random.normal(KEY, (4, 32, 32, 3))
  dv = fake_init(d, x)
  assert sorted(dv["batch_stats"]) == [f"BatchNorm_{i}" for i in range(7)]
  assert dv["params"]["head"]["kernel"].shape == (32, 1)  # 8w summed features, not the 4x4x8w flattened map
  logits, updates = d.apply(dv, x, train=True, mutable=["batch_stats"])
  chex.assert_shape(logits, (4,))
  assert all(jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.any(a != b)), dv["batch_stats"],
                                          updates["batch_stats"])))

  # The same sum by hand: the last feature map of a copy of D that stops before the head.
  class Features(dcgan.SNDCGANDiscriminator):
    @nn.compact
    def __call__(self, x, labels=None, *, train=True):
      h = x
      plan = ((1, 3, 1), (1, 4, 2), (2, 3, 1), (2, 4, 2), (4, 3, 1), (4, 4, 2), (8, 3, 1))
      for i, (mult, kernel, stride) in enumerate(plan):
        h = dcgan.layers.Conv(mult * self.width, (kernel, kernel), (stride, stride), padding="SAME",
                              name=f"Conv_{i}")(h)
        h = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                 name=f"BatchNorm_{i}")(h))
      return h

  feats = Features(width=4).apply({k: v for k, v in dv.items()}, x, train=False)
  head = dv["params"]["head"]
  want = jnp.sum(feats, axis=(1, 2)) @ head["kernel"][:, 0] + head["bias"][0]
  np.testing.assert_allclose(d.apply(dv, x, train=False), want, rtol=1e-5, atol=1e-5)
  for kw, match in ((dict(activation="elu"), "activation must be one of leaky_relu, relu"),
                    (dict(pooling="mean"), "pooling must be flatten or sum"), (dict(norm="group"), "norm must be")):
    with pytest.raises(ValueError, match=match):
      jax.eval_shape(dcgan.SNDCGANDiscriminator(width=4, **kw).init, KEY, x)
  g = dcgan.SNDCGANGenerator(width=4, input_norm=False)
  gv = jax.eval_shape(g.init, KEY, jnp.zeros((N, Z)))
  assert sorted(gv["batch_stats"]) == ["BatchNorm_0", "BatchNorm_1", "BatchNorm_2"]  # none after the input layer
  assert gv["params"]["Dense_0"]["bias"].shape == (4 * 4 * 32,)
