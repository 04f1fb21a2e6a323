"""Tests of jaxgan.nets.pix2pix: U-Net, PatchGAN/PixelGAN and CycleGAN's ResNet generator.

Shapes and parameter counts are traced (`jax.eval_shape`), not compiled; the numerical tests run tiny nets.
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.nets import layers
from jaxgan.nets import pix2pix
from _nets_util import KEY, count, fake_init

N = 2


def _shape(model, x_shape, **kwargs):
  x = jax.ShapeDtypeStruct(x_shape, jnp.float32)
  variables = jax.eval_shape(lambda x: model.init({"params": KEY, "dropout": KEY}, x, train=False), x)
  out = jax.eval_shape(lambda v, x: model.apply(v, x, train=True, rngs={"dropout": KEY},
                                                mutable=["batch_stats"])[0], variables, x)
  return variables, out


# ----------------------------------------------------------------------------------------------------------------
# Independent parameter counts, from the architectures as the papers' appendices and the reference code write them.


def _unet_count(num_downs, c_in, c_out, w, norm):
  inner = [w * min(2 ** i, 8) for i in range(num_downs)]
  bias = norm != "batch"
  affine = 2 if norm == "batch" else 0  # batch norm's scale and shift; instance norm has none
  total = 0
  prev = c_in
  for i, c in enumerate(inner):  # down convs
    total += 16 * prev * c + c * bias
    if 0 < i < num_downs - 1:
      total += affine * c
    prev = c
  total += 16 * inner[-1] * inner[-2] + inner[-2] * bias + affine * inner[-2]  # innermost up
  for i in range(num_downs - 2, 0, -1):  # up convs reading concat(e_i, d)
    total += 16 * 2 * inner[i] * inner[i - 1] + inner[i - 1] * bias + affine * inner[i - 1]
  return total + 16 * 2 * inner[0] * c_out + c_out  # outermost up, always with bias


def _patch_count(n_layers, c_in, w, norm):
  bias = norm != "batch"
  affine = 2 if norm == "batch" else 0
  total = 16 * c_in * w + w
  prev = w
  for n in list(range(1, n_layers)) + [n_layers]:
    c = w * min(2 ** n, 8)
    total += 16 * prev * c + c * bias + affine * c
    prev = c
  return total + 16 * prev + 1


def _resnet_count(num_blocks, c_in, c_out, w, norm):
  bias = norm != "batch"
  affine = 2 if norm == "batch" else 0
  conv = lambda k, cin, cout: k * k * cin * cout + cout * bias + affine * cout
  total = conv(7, c_in, w) + conv(3, w, 2 * w) + conv(3, 2 * w, 4 * w)
  total += num_blocks * 2 * conv(3, 4 * w, 4 * w)
  total += conv(3, 4 * w, 2 * w) + conv(3, 2 * w, w)
  return total + 49 * w * c_out + c_out


@pytest.mark.parametrize("name, res, kwargs, expected", [
    ("unet_256", 256, {}, _unet_count(8, 3, 3, 64, "batch")),
    ("unet_128", 128, {}, _unet_count(7, 3, 3, 64, "batch")),
    ("unet_256", 256, dict(norm="instance"), _unet_count(8, 3, 3, 64, "instance")),
    ("unet_tiny", 64, dict(channels=1), _unet_count(6, 3, 1, 4, "batch")),
    ("unet_tiny", 64, dict(norm="none"), _unet_count(6, 3, 3, 4, "none")),
    ("resnet_9blocks", 256, {}, _resnet_count(9, 3, 3, 64, "instance")),
    ("resnet_6blocks", 128, {}, _resnet_count(6, 3, 3, 64, "instance")),
    ("resnet_9blocks", 64, dict(norm="batch"), _resnet_count(9, 3, 3, 64, "batch")),
    ("resnet_tiny", 32, dict(channels=1), _resnet_count(2, 3, 1, 4, "instance")),
])
def test_generator_shapes_and_parameter_counts(name, res, kwargs, expected):
  g = pix2pix.get_translation_generator(name, **kwargs)
  variables, y = _shape(g, (N, res, res, 3))
  assert y.shape == (N, res, res, g.channels) and y.dtype == jnp.float32
  assert count(variables["params"]) == expected == pix2pix.count_params(g, (1, res, res, 3))
  assert ("batch_stats" in variables) == (g.norm == "batch")


@pytest.mark.parametrize("name, c_in, kwargs, expected", [
    ("basic", 6, {}, _patch_count(3, 6, 64, "batch")),
    ("basic", 3, dict(norm="instance"), _patch_count(3, 3, 64, "instance")),
    ("n_layers", 6, dict(n_layers=1), _patch_count(1, 6, 64, "batch")),
    ("n_layers", 6, dict(n_layers=4), _patch_count(4, 6, 64, "batch")),
    ("n_layers", 6, dict(n_layers=5), _patch_count(5, 6, 64, "batch")),  # channels capped at 8 * width
    ("basic_tiny", 3, dict(norm="none"), _patch_count(3, 3, 4, "none")),
    ("pixel", 6, {}, 6 * 64 + 64 + 64 * 128 + 2 * 128 + 128),
    ("pixel", 6, dict(norm="instance"), 6 * 64 + 64 + 64 * 128 + 128 + 128 + 1),
])
def test_discriminator_shapes_and_parameter_counts(name, c_in, kwargs, expected):
  d = pix2pix.get_patch_discriminator(name, **kwargs)
  variables, logits = _shape(d, (N, 256, 256, c_in))
  if name == "pixel":
    side = 256
  else:
    side = {1: 126, 3: 30, 4: 14, 5: 6}[d.n_layers]
    assert pix2pix.patch_output_size(256, d.n_layers) == side
  assert logits.shape == (N, side, side) and logits.dtype == jnp.float32
  assert count(variables["params"]) == expected


def test_parameter_counts_match_the_reference_code():
  """The numbers pytorch-CycleGAN-and-pix2pix prints at start-up ("Total number of parameters : 54.414 M"):
  pix2pix (unet_256, basic D on 6 channels, batch norm) and CycleGAN (resnet_9blocks, basic D on 3, instance)."""
  millions = lambda model, shape: round(pix2pix.count_params(model, shape) / 1e6, 3)
  assert millions(pix2pix.get_translation_generator("unet_256"), (1, 256, 256, 3)) == 54.414
  assert millions(pix2pix.get_patch_discriminator("basic"), (1, 256, 256, 6)) == 2.769
  assert millions(pix2pix.get_translation_generator("resnet_9blocks"), (1, 256, 256, 3)) == 11.378
  assert millions(pix2pix.get_patch_discriminator("basic", norm="instance"), (1, 256, 256, 3)) == 2.765


# ----------------------------------------------------------------------------------------------------------------
# Receptive fields.


def test_receptive_field_from_layers():
  assert pix2pix.receptive_field(pix2pix.patch_layers(1)) == 16
  assert pix2pix.receptive_field(pix2pix.patch_layers(3)) == 70
  assert pix2pix.receptive_field(pix2pix.patch_layers(4)) == 142
  assert pix2pix.receptive_field(pix2pix.PIXEL_LAYERS) == 1
  assert pix2pix.get_patch_discriminator("basic").receptive_field == 70
  assert pix2pix.get_patch_discriminator("pixel").receptive_field == 1
  assert pix2pix.receptive_field([(3, 1), (3, 1)]) == 5 and pix2pix.receptive_field([(3, 2), (3, 2)]) == 7
  with pytest.raises(ValueError, match=r"layer 1 must be \(kernel, stride\) ints >= 1, got \(3, 0\)"):
    pix2pix.receptive_field([(3, 1), (3, 0)])


@pytest.mark.parametrize("n_layers, size", [(1, 40), (3, 96), (4, 176), (None, 8)])
def test_receptive_field_by_gradient_support(n_layers, size):
  """The input pixels on which one central logit depends (non-zero gradient) form a square of the computed side.

  Batch norm in eval mode (running averages) keeps examples and pixels independent; weights are random, so no
  gradient vanishes by accident."""
  d = (pix2pix.PatchDiscriminator(n_layers=n_layers, width=2) if n_layers else pix2pix.PixelDiscriminator(width=2))
  x = jax.random.normal(jax.random.key(1), (1, size, size, 2))
  variables = d.init(KEY, x, train=False)
  out_side = d.apply(variables, x, train=False).shape[1]
  center = out_side // 2
  grad = jax.jit(jax.grad(lambda x: d.apply(variables, x, train=False)[0, center, center]))(x)
  support = np.abs(np.asarray(grad[0])).sum(-1) > 0
  rows, cols = np.nonzero(support.any(1))[0], np.nonzero(support.any(0))[0]
  assert 0 < rows[0] and rows[-1] < size - 1 and 0 < cols[0] and cols[-1] < size - 1  # not clipped by the border
  side = rows[-1] - rows[0] + 1
  assert side == cols[-1] - cols[0] + 1 == support.sum(0).max() == d.receptive_field
  assert support[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()


# ----------------------------------------------------------------------------------------------------------------
# Layers as PyTorch's.


def _torch_conv_transpose_1d(x, w, stride, padding, output_padding):
  """PyTorch's ConvTranspose (one spatial dim, one channel) by its definition: y[s*i - p + k] += x[i] w[k]."""
  k = len(w)
  out = np.zeros((len(x) - 1) * stride - 2 * padding + k + output_padding)
  for i, xi in enumerate(x):
    for j in range(k):
      o = stride * i - padding + j
      if 0 <= o < len(out):
        out[o] += xi * w[j]
  return out


@pytest.mark.parametrize("kernel, pads, torch_padding, torch_output_padding", [(4, (2, 2), 1, 0), (3, (1, 2), 1, 1)])
def test_transposed_convolutions_align_with_pytorch(kernel, pads, torch_padding, torch_output_padding):
  """The U-Net's and the ResNet's up-sampling layers are PyTorch's ConvTranspose2d(k, 2, padding, output_padding)
  with the kernel flipped (flax's transpose_kernel=False): the same output pixels, not shifted by one."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=7)
  w = rng.normal(size=kernel)
  ours = layers.conv_transpose(jnp.asarray(x, jnp.float32).reshape(1, 7, 1, 1),
                               jnp.asarray(w[::-1].copy(), jnp.float32).reshape(kernel, 1, 1, 1), (2, 1),
                               (pads, (0, 0)))
  expected = _torch_conv_transpose_1d(x, w, 2, torch_padding, torch_output_padding)
  assert ours.shape[1] == len(expected) == 14
  np.testing.assert_allclose(np.asarray(ours)[0, :, 0, 0], expected, atol=1e-5)


def test_instance_norm_against_its_formula():
  """`norm_layer(..., "instance")`: per example and channel, (x - mean) / sqrt(biased var + 1e-5); no parameters,
  no state, train and eval alike."""

  class Wrap(nn.Module):
    norm: str

    @nn.compact
    def __call__(self, x, train):
      return pix2pix.norm_layer(x, self.norm, train=train)

  x = np.random.default_rng(0).normal(3.0, 2.0, size=(2, 5, 4, 3)).astype(np.float32)
  model = Wrap("instance")
  variables = model.init(KEY, x, True)
  assert not jax.tree.leaves(variables)
  mean = x.astype(np.float64).mean(axis=(1, 2), keepdims=True)
  var = ((x - mean) ** 2).mean(axis=(1, 2), keepdims=True)
  expected = (x - mean) / np.sqrt(var + 1e-5)
  for train in (True, False):
    np.testing.assert_allclose(model.apply(variables, x, train), expected, atol=1e-5)
  np.testing.assert_array_equal(Wrap("none").apply({}, x, True), x)


def test_unet_dropout_is_on_in_train_mode_only():
  """Dropout (rate 0.5) sits after the norm of the num_downs - 5 decoder levels next to the innermost; it draws from
  the "dropout" rng in train mode and is off in eval mode."""
  g = pix2pix.get_translation_generator("unet_tiny")  # 6 downs: one dropout level
  x = jax.random.uniform(jax.random.key(2), (N, 64, 64, 3), minval=-1, maxval=1)
  variables = fake_init(g, x)
  is_dropout = lambda module, method: isinstance(module, nn.Dropout)

  @functools.partial(jax.jit, static_argnames=("train", "use_dropout"))
  def run(key, train, use_dropout=True):
    y, state = g.clone(use_dropout=use_dropout).apply(
        variables, x, train=train, rngs={"dropout": key} if train else {}, mutable=["batch_stats", "intermediates"],
        capture_intermediates=is_dropout)
    return y, jax.tree.leaves(state.get("intermediates", {}))

  y1, dropped = run(jax.random.key(3), True)
  y2, _ = run(jax.random.key(4), True)
  y1_again, _ = run(jax.random.key(3), True)
  assert len(dropped) == 1 and dropped[0].shape == (N, 4, 4, 32)  # level 4: 64 / 2^4, width * 8 channels
  zeros = float(jnp.mean(dropped[0] == 0))
  assert 0.4 < zeros < 0.6, zeros
  assert not np.allclose(y1, y2)
  np.testing.assert_array_equal(y1, y1_again)
  y_eval, kept = run(None, False)  # no dropout rng needed
  assert float(jnp.mean(kept[0] == 0)) == 0.0
  np.testing.assert_array_equal(run(jax.random.key(3), True, False)[0], run(jax.random.key(4), True, False)[0])
  assert float(jnp.max(jnp.abs(y_eval))) <= 1.0


def test_unet_256_dropout_levels():
  """unet_256: dropout on the three decoder levels next to the innermost (whose up-sampling gives the 2x2 map):
  the 4x4, 8x8 and 16x16 maps of 512 channels."""
  g = pix2pix.get_translation_generator("unet_256")
  x = jax.ShapeDtypeStruct((1, 256, 256, 3), jnp.float32)
  variables = jax.eval_shape(lambda x: g.init({"params": KEY}, x, train=False), x)

  def captured(v, x):
    return g.apply(v, x, train=True, rngs={"dropout": KEY}, mutable=["batch_stats", "intermediates"],
                   capture_intermediates=lambda m, _: isinstance(m, nn.Dropout))[1]["intermediates"]

  shapes = sorted(leaf.shape for leaf in jax.tree.leaves(jax.eval_shape(captured, variables, x)))
  assert shapes == [(1, 4, 4, 512), (1, 8, 8, 512), (1, 16, 16, 512)]


def test_resnet_generator_runs_and_keeps_range():
  """resnet_tiny: tanh range, and instance norm has no running statistics (train and eval give the same image)."""
  g = pix2pix.get_translation_generator("resnet_tiny")
  x = jax.random.uniform(jax.random.key(5), (N, 32, 32, 3), minval=-1, maxval=1)
  variables = fake_init(g, x)
  apply = jax.jit(g.apply, static_argnames="train")
  y_train, y_eval = apply(variables, x, train=True), apply(variables, x, train=False)
  np.testing.assert_allclose(y_train, y_eval, atol=1e-6)
  assert y_train.shape == (N, 32, 32, 3) and float(jnp.max(jnp.abs(y_train))) < 1.0
  assert float(jnp.std(y_train)) > 0.0


# ----------------------------------------------------------------------------------------------------------------
# Arguments.


@pytest.mark.parametrize("factory, kwargs, match", [
    (pix2pix.UNetGenerator, dict(num_downs=4), r"UNetGenerator: num_downs must be an int >= 5, got 4"),
    (pix2pix.UNetGenerator, dict(norm="layer"), r"norm must be one of \('batch', 'instance', 'none'\), got 'layer'"),
    (pix2pix.UNetGenerator, dict(dropout_rate=1.0), r"dropout_rate must be in \[0, 1\), got 1.0"),
    (pix2pix.PatchDiscriminator, dict(n_layers=0), r"PatchDiscriminator: n_layers must be an int >= 1, got 0"),
    (pix2pix.PatchDiscriminator, dict(width=2.0), r"width must be an int >= 1, got 2.0"),
    (pix2pix.PixelDiscriminator, dict(norm="group"), r"PixelDiscriminator: norm must be one of"),
    (pix2pix.ResNetTranslationGenerator, dict(padding="circular"),
     r"padding must be one of \('reflect', 'replicate', 'zero'\), got 'circular'"),
    (pix2pix.ResNetTranslationGenerator, dict(num_blocks=-1), r"num_blocks must be an int >= 0, got -1"),
])
def test_bad_hyper_parameters_are_named(factory, kwargs, match):
  with pytest.raises(ValueError, match=match):
    factory(**kwargs)


def test_bad_names_and_sizes():
  with pytest.raises(ValueError, match=r"unknown translation generator 'unet_512'; known: .*resnet_9blocks.*unet_256"):
    pix2pix.get_translation_generator("unet_512")
  with pytest.raises(ValueError, match=r"unknown patch discriminator 'patch'; known: basic, basic_tiny, n_layers"):
    pix2pix.get_patch_discriminator("patch")
  with pytest.raises(ValueError, match=r"UNetGenerator: height and width must be multiples of 256, got 128x128"):
    _shape(pix2pix.get_translation_generator("unet_256"), (1, 128, 128, 3))
  with pytest.raises(ValueError, match=r"multiples of 4, got 30x30"):
    _shape(pix2pix.get_translation_generator("resnet_tiny"), (1, 30, 30, 3))
  with pytest.raises(ValueError, match=r"inputs of 16x16 are too small for n_layers=3"):
    _shape(pix2pix.get_patch_discriminator("basic_tiny"), (1, 16, 16, 3))
