"""Image-to-image translation networks: pix2pix's U-Net and PatchGAN, CycleGAN's ResNet generator.

* `UNetGenerator` (`unet_256`, `unet_128`): the encoder-decoder with skip connections of Isola et al. 2017
  (arXiv:1611.07004, section 3.2.1 and appendix 6.1.1), as `UnetGenerator` / `UnetSkipConnectionBlock` of the
  reference code (github.com/junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py). `num_downs` 4x4 stride-2
  convolutions 64-128-256-512-512-..., LeakyReLU(0.2) before every one but the first, norm after every one but the
  first and the innermost; the decoder mirrors it with ReLU -> ConvTranspose 4x4/2 -> norm, concatenating the
  encoder's map of the same size (U-Net skips), and ends ReLU -> ConvTranspose -> tanh.
* `PatchDiscriminator` (`basic` = 70x70 PatchGAN, `n_layers` 1/3/4 = 16/70/142 pixels) and `PixelDiscriminator`
  (1x1 PixelGAN), as the reference's `NLayerDiscriminator` / `PixelDiscriminator`: a fully convolutional D that
  returns one logit per overlapping patch, `(N, h, w)`. `receptive_field` computes the patch size from the same
  (kernel, stride) list that builds the layers.
* `ResNetTranslationGenerator` (`resnet_9blocks`, `resnet_6blocks`): Johnson et al. 2016 (arXiv:1603.08155) as used
  by CycleGAN (Zhu et al. 2017, arXiv:1703.10593, appendix 7.2): c7s1-64, d128, d256, 9 (or 6) x R256, u128, u64,
  c7s1-3, reflection padding, instance norm without affine parameters, tanh; the reference's `ResnetGenerator`.

Norms (`norm=`, the reference's `--norm`): "batch" (pix2pix's default; with its batch size 1 it is instance
normalization in train mode), "instance" (CycleGAN's default: `flax.linen.InstanceNorm` without scale and bias,
epsilon 1e-5, the reference's `InstanceNorm2d(affine=False)`), "none".

Where jaxgan matches the reference exactly (checked in tests/test_nets_pix2pix.py against the parameter counts the
reference prints: unet_256 54.414 M, resnet_9blocks 11.378 M, basic D 2.769 M on pix2pix's 6 input channels):
* convolution biases follow the reference's rule: off with batch norm, on with instance norm (which has no affine
  shift), and always on for the U-Net's output layer and D's first and last layers; with batch norm the U-Net's
  first and innermost down convolutions (not followed by a norm) have none, as there. With `norm="none"` every
  layer has a bias (the reference has none then, an artefact of its `norm_layer == InstanceNorm2d` test).
* padding: 4x4 stride-2 convolutions pad 1 (H -> H/2), D's stride-1 ones pad 1 (H -> H - 1: 256 -> 30x30 patches),
  the ResNet's transposed convolutions are PyTorch's `padding=1, output_padding=1` (input dilated and padded
  (1, 2)), reflection padding as `ReflectionPad2d`.
* initialization: N(0, 0.02) kernels, zero biases, batch-norm scales N(1, 0.02) (the reference's `init_type=normal`,
  the papers' "Gaussian with mean 0 and standard deviation 0.02").
* dropout (rate 0.5, rng collection "dropout", on when `train=True`): in the U-Net after the norm of the
  `num_downs - 5` decoder blocks next to the innermost (3 for unet_256, 2 for unet_128), as the reference's code;
  the paper's appendix lists it on the first three decoder layers (CD512-CD512-CD512-C512), counting the
  innermost. pix2pix keeps dropout (and batch statistics) at test time as its noise source: call with `train=True`.
* transposed-convolution kernels are flax's (`transpose_kernel=False`): the same layer up to a flip of the learned
  kernel.

All generators map `(N, H, W, C_in)` float32 in [-1, 1] to `(N, H, W, channels)` float32 in [-1, 1]; the
discriminators map `(N, H, W, C)` float32 (for pix2pix, concat(source, image) on the channel axis: the model
decides) to patch logits `(N, h, w)` float32. Batch statistics are in the "batch_stats" collection.

Example:
  >>> g = get_translation_generator("unet_tiny")                       # 6 downs, 64x64 inputs, width 4
  >>> x = jnp.zeros((2, 64, 64, 3))
  >>> variables = g.init({"params": key, "dropout": key}, x, train=False)
  >>> y, updates = g.apply(variables, x, train=True, rngs={"dropout": key}, mutable=["batch_stats"])
  >>> d = get_patch_discriminator("basic_tiny")
  >>> logits = d.apply(d.init(key, jnp.zeros((2, 64, 64, 6)), train=False), jnp.zeros((2, 64, 64, 6)),
  ...                  train=False)                                   # (2, 6, 6)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan._checks import is_int
from jaxgan.nets import layers

NORMS = ("batch", "instance", "none")
PADDINGS = {"reflect": "reflect", "replicate": "edge", "zero": "constant"}  # the reference's padding_type -> jnp.pad
_INIT_STD = 0.02
_kernel_init = nn.initializers.normal(_INIT_STD)


def _bn_scale_init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
  return 1.0 + _INIT_STD * jax.random.normal(key, shape, dtype)


def _check_choice(who: str, arg: str, value, allowed: Sequence) -> None:
  if value not in allowed:
    raise ValueError(f"{who}: {arg} must be one of {tuple(allowed)}, got {value!r}")


def _check_int(who: str, arg: str, value, smallest: int) -> None:
  if not is_int(value) or value < smallest:
    raise ValueError(f"{who}: {arg} must be an int >= {smallest}, got {value!r}")


def _check_rate(who: str, value) -> None:
  if not 0.0 <= value < 1.0:
    raise ValueError(f"{who}: dropout_rate must be in [0, 1), got {value!r}")


def norm_layer(x: jax.Array, norm: str, *, train: bool, bn_axis_name: str | None = None) -> jax.Array:
  """Applies batch norm, instance norm or nothing (call inside a compact method).

  * "batch": `flax.linen.BatchNorm` with jaxgan's contract (momentum 0.9 = PyTorch's 0.1, epsilon 1e-5, running
    averages when `train=False`, statistics averaged over `bn_axis_name`), scale initialized N(1, 0.02).
  * "instance": `flax.linen.InstanceNorm(use_scale=False, use_bias=False, epsilon=1e-5)`, i.e. per example and
    channel `(x - mean_hw x) / sqrt(var_hw x + 1e-5)` with the biased variance (PyTorch's `InstanceNorm2d` defaults:
    no affine parameters, no running statistics, so train and eval agree). The variance is computed as
    `mean((x - mean)^2)`, not flax's faster `mean(x^2) - mean^2`, which loses digits on maps with a large mean.
  * "none": `x`.

  Args:
    x: (N, H, W, C) float32.
    norm: one of NORMS.
    train: batch statistics (and their update) when True.
    bn_axis_name: pmap axis over which batch statistics are averaged, or None.
  Returns:
    (N, H, W, C) float32.
  """
  if norm == "batch":
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, axis_name=bn_axis_name,
                        scale_init=_bn_scale_init)(x)
  if norm == "instance":
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False, use_fast_variance=False)(x)
  if norm == "none":
    return x
  raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def _conv(features: int, kernel: int, stride: int, pad: int | tuple[int, int], use_bias: bool) -> layers.Conv:
  lo, hi = (pad, pad) if isinstance(pad, int) else pad
  return layers.Conv(features, (kernel, kernel), (stride, stride), padding=((lo, hi), (lo, hi)), use_bias=use_bias,
                     kernel_init=_kernel_init)


def _conv_transpose(features: int, kernel: int, pads: tuple[int, int], use_bias: bool) -> layers.ConvTranspose:
  """A stride-2 transposed convolution; `pads` of the dilated input (PyTorch's padding p, output_padding q give
  (k - 1 - p, k - 1 - p + q))."""
  return layers.ConvTranspose(features, (kernel, kernel), (2, 2), padding=(pads, pads), use_bias=use_bias,
                              kernel_init=_kernel_init)


def _check_image(who: str, x: jax.Array, multiple: int) -> None:
  if x.ndim != 4:
    raise ValueError(f"{who}: expected images (N, H, W, C), got shape {x.shape}")
  h, w = x.shape[1:3]
  if h % multiple or w % multiple:
    raise ValueError(f"{who}: height and width must be multiples of {multiple}, got {h}x{w}")


# ----------------------------------------------------------------------------------------------------------------
# U-Net generator.


class UNetGenerator(nn.Module):
  """pix2pix's U-Net generator (Isola et al. 2017, arXiv:1611.07004), the reference's `UnetGenerator`.

  Encoder (level i = 0 .. num_downs - 1): `e_i = Conv4x4/2(LReLU_0.2(e_{i-1}))` to `width * min(2^i, 8)` channels,
  then norm except for i = 0 (no activation before it either) and the innermost i = num_downs - 1. Decoder from
  the innermost: `d = norm(ConvT4x4/2(ReLU(e_innermost)))`, then at each level `d = norm(ConvT4x4/2(ReLU(concat(
  e_i, d))))` with dropout after the norm on the `num_downs - 5` levels next to the innermost, and finally
  `tanh(ConvT4x4/2(ReLU(concat(e_0, d))))` to `channels`. unet_256 (num_downs 8) brings 256x256 to a 1x1
  bottleneck; H and W must be multiples of 2^num_downs.

  Attributes:
    num_downs: number of stride-2 levels, >= 5 (8: unet_256, 7: unet_128).
    channels: output channels.
    width: channels of the first encoder map (the reference's ngf).
    norm: "batch" (pix2pix), "instance" or "none".
    use_dropout: dropout in the decoder (pix2pix: on; the reference's `--no_dropout` turns it off).
    dropout_rate: 0.5 in the paper.
    bn_axis_name: pmap axis over which batch statistics are averaged, or None.
  """
  num_downs: int = 8
  channels: int = 3
  width: int = 64
  norm: str = "batch"
  use_dropout: bool = True
  dropout_rate: float = 0.5
  bn_axis_name: str | None = None

  def __post_init__(self):
    who = type(self).__name__
    _check_int(who, "num_downs", self.num_downs, 5)
    _check_int(who, "channels", self.channels, 1)
    _check_int(who, "width", self.width, 1)
    _check_choice(who, "norm", self.norm, NORMS)
    _check_rate(who, self.dropout_rate)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = True) -> jax.Array:
    """Maps `(N, H, W, C_in)` float32 in [-1, 1] to `(N, H, W, channels)` float32 in [-1, 1].

    With `train=True` and `use_dropout`, needs the rng collection "dropout".
    """
    _check_image(type(self).__name__, x, 2 ** self.num_downs)
    depth = self.num_downs
    bias = self.norm != "batch"
    inner = [self.width * min(2 ** i, 8) for i in range(depth)]
    encoder = []
    h = x
    for i in range(depth):
      if i > 0:
        h = nn.leaky_relu(h, 0.2)
      h = _conv(inner[i], 4, 2, 1, bias)(h)
      if 0 < i < depth - 1:
        h = norm_layer(h, self.norm, train=train, bn_axis_name=self.bn_axis_name)
      encoder.append(h)
    dropout_levels = range(depth - 1 - (depth - 5), depth - 1)  # the num_downs - 5 levels next to the innermost
    h = encoder[-1]
    for i in range(depth - 1, 0, -1):
      h = _conv_transpose(inner[i - 1], 4, (2, 2), bias)(nn.relu(h))
      h = norm_layer(h, self.norm, train=train, bn_axis_name=self.bn_axis_name)
      if self.use_dropout and i in dropout_levels:
        h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
      h = jnp.concatenate([encoder[i - 1], h], axis=-1)
    h = _conv_transpose(self.channels, 4, (2, 2), True)(nn.relu(h))
    return jnp.tanh(h)


# ----------------------------------------------------------------------------------------------------------------
# PatchGAN / PixelGAN discriminators and receptive fields.


def patch_layers(n_layers: int) -> tuple[tuple[int, int], ...]:
  """(kernel, stride) of the convolutions of `PatchDiscriminator(n_layers)`: n_layers 4x4/2, then two 4x4/1."""
  _check_int("patch_layers", "n_layers", n_layers, 1)
  return ((4, 2),) * n_layers + ((4, 1), (4, 1))


PIXEL_LAYERS = ((1, 1), (1, 1), (1, 1))  # the convolutions of `PixelDiscriminator`


def receptive_field(conv_layers: Sequence[tuple[int, int]]) -> int:
  """Side of the input square that one output pixel of a stack of convolutions sees.

  `r = 1 + sum_i (k_i - 1) * prod_{j < i} s_j` (pointwise layers between them add nothing). For PatchGAN:
  `receptive_field(patch_layers(3)) == 70`, `patch_layers(1)` 16, `patch_layers(4)` 142, `PIXEL_LAYERS` 1.

  Args:
    conv_layers: (kernel, stride) of each convolution, input first; kernels and strides >= 1.
  Returns:
    The receptive field in input pixels.
  """
  field, jump = 1, 1
  for i, (kernel, stride) in enumerate(conv_layers):
    if not (is_int(kernel) and is_int(stride) and kernel >= 1 and stride >= 1):
      raise ValueError(f"receptive_field: layer {i} must be (kernel, stride) ints >= 1, got {(kernel, stride)!r}")
    field += (kernel - 1) * jump
    jump *= stride
  return field


def patch_output_size(size: int, n_layers: int) -> int:
  """Side of the patch map of `PatchDiscriminator(n_layers)` on a `size` input (256, 3 -> 30): pad 1 gives
  `floor(s / 2)` per stride-2 layer and `s - 1` per stride-1 layer."""
  for kernel, stride in patch_layers(n_layers):
    size = (size + 2 - kernel) // stride + 1
  return size


class PatchDiscriminator(nn.Module):
  """The PatchGAN discriminator (Isola et al. 2017, arXiv:1611.07004, section 3.2.2), the reference's
  `NLayerDiscriminator`.

  Conv4x4/2 (width, bias) -> LReLU_0.2, then for n = 1 .. n_layers - 1: Conv4x4/2 to `width * min(2^n, 8)` -> norm
  -> LReLU_0.2, then Conv4x4/1 to `width * min(2^n_layers, 8)` -> norm -> LReLU_0.2 and Conv4x4/1 to 1 (bias). All
  pad 1. Each logit judges one `receptive_field(patch_layers(n_layers))` square (n_layers 3: 70x70, on 256x256 a
  30x30 map); the loss averages them.

  Attributes:
    n_layers: stride-2 layers, >= 1 (1: 16x16 patches, 3: 70x70 "basic", 4: 142x142).
    width: channels of the first layer (the reference's ndf).
    norm: "batch" (pix2pix), "instance" (CycleGAN) or "none".
    bn_axis_name: pmap axis over which batch statistics are averaged, or None.
  """
  n_layers: int = 3
  width: int = 64
  norm: str = "batch"
  bn_axis_name: str | None = None

  def __post_init__(self):
    who = type(self).__name__
    _check_int(who, "n_layers", self.n_layers, 1)
    _check_int(who, "width", self.width, 1)
    _check_choice(who, "norm", self.norm, NORMS)
    super().__post_init__()

  @property
  def conv_layers(self) -> tuple[tuple[int, int], ...]:
    """(kernel, stride) of the layers, input first."""
    return patch_layers(self.n_layers)

  @property
  def receptive_field(self) -> int:
    """Side of the input square each logit sees."""
    return receptive_field(self.conv_layers)

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = True) -> jax.Array:
    """Maps `(N, H, W, C)` float32 to patch logits `(N, h, w)` float32, h = `patch_output_size(H, n_layers)`."""
    who = type(self).__name__
    _check_image(who, x, 1)
    small = min(x.shape[1:3])
    if patch_output_size(small, self.n_layers) < 1:
      raise ValueError(f"{who}: inputs of {x.shape[1]}x{x.shape[2]} are too small for n_layers={self.n_layers} "
                       "(no patch left)")
    bias = self.norm != "batch"
    plan = self.conv_layers
    h = x
    for i, (kernel, stride) in enumerate(plan[:-1]):
      features = self.width * min(2 ** i, 8)
      h = _conv(features, kernel, stride, 1, bias or i == 0)(h)
      if i > 0:
        h = norm_layer(h, self.norm, train=train, bn_axis_name=self.bn_axis_name)
      h = nn.leaky_relu(h, 0.2)
    kernel, stride = plan[-1]
    return _conv(1, kernel, stride, 1, True)(h)[..., 0]


class PixelDiscriminator(nn.Module):
  """The 1x1 PixelGAN discriminator (Isola et al. 2017, section 4.4), the reference's `PixelDiscriminator`.

  Conv1x1 (width, bias) -> LReLU_0.2 -> Conv1x1 (2 width) -> norm -> LReLU_0.2 -> Conv1x1 to 1: one logit per
  pixel, judging colour only. Biases as the reference: the last two layers have one unless `norm="batch"`.

  Attributes:
    width: channels of the first layer.
    norm: "batch", "instance" or "none".
    bn_axis_name: pmap axis over which batch statistics are averaged, or None.
  """
  width: int = 64
  norm: str = "batch"
  bn_axis_name: str | None = None

  def __post_init__(self):
    who = type(self).__name__
    _check_int(who, "width", self.width, 1)
    _check_choice(who, "norm", self.norm, NORMS)
    super().__post_init__()

  @property
  def conv_layers(self) -> tuple[tuple[int, int], ...]:
    return PIXEL_LAYERS

  @property
  def receptive_field(self) -> int:
    return receptive_field(PIXEL_LAYERS)

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = True) -> jax.Array:
    """Maps `(N, H, W, C)` float32 to per-pixel logits `(N, H, W)` float32."""
    _check_image(type(self).__name__, x, 1)
    bias = self.norm != "batch"
    h = nn.leaky_relu(_conv(self.width, 1, 1, 0, True)(x), 0.2)
    h = norm_layer(_conv(2 * self.width, 1, 1, 0, bias)(h), self.norm, train=train, bn_axis_name=self.bn_axis_name)
    h = nn.leaky_relu(h, 0.2)
    return _conv(1, 1, 1, 0, bias)(h)[..., 0]


# ----------------------------------------------------------------------------------------------------------------
# ResNet generator (CycleGAN).


class ResNetTranslationGenerator(nn.Module):
  """CycleGAN's generator (Zhu et al. 2017, arXiv:1703.10593, appendix 7.2; Johnson et al. 2016,
  arXiv:1603.08155), the reference's `ResnetGenerator`.

  c7s1-w (reflection pad 3, Conv7x7, norm, ReLU), d2w, d4w (Conv3x3/2 pad 1, norm, ReLU), `num_blocks` x R4w
  (x + [pad 1, Conv3x3, norm, ReLU, (dropout), pad 1, Conv3x3, norm]), u2w, uw (ConvTranspose3x3/2 as PyTorch's
  padding 1, output_padding 1, norm, ReLU), c7s1-channels (reflection pad 3, Conv7x7 with bias), tanh. H and W
  must be multiples of 4.

  Attributes:
    num_blocks: residual blocks, >= 0 (9 for 256x256 images, 6 for 128x128 in the paper).
    channels: output channels.
    width: w, channels of the first layer (the reference's ngf).
    norm: "instance" (CycleGAN), "batch" or "none".
    use_dropout: dropout between the two convolutions of each block (off in CycleGAN).
    dropout_rate: rate of that dropout.
    padding: padding of the residual blocks' convolutions: "reflect" (default), "replicate" or "zero".
    bn_axis_name: pmap axis over which batch statistics are averaged, or None.
  """
  num_blocks: int = 9
  channels: int = 3
  width: int = 64
  norm: str = "instance"
  use_dropout: bool = False
  dropout_rate: float = 0.5
  padding: str = "reflect"
  bn_axis_name: str | None = None

  def __post_init__(self):
    who = type(self).__name__
    _check_int(who, "num_blocks", self.num_blocks, 0)
    _check_int(who, "channels", self.channels, 1)
    _check_int(who, "width", self.width, 1)
    _check_choice(who, "norm", self.norm, NORMS)
    _check_choice(who, "padding", self.padding, tuple(PADDINGS))
    _check_rate(who, self.dropout_rate)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = True) -> jax.Array:
    """Maps `(N, H, W, C_in)` float32 in [-1, 1] to `(N, H, W, channels)` float32 in [-1, 1].

    With `train=True` and `use_dropout`, needs the rng collection "dropout".
    """
    _check_image(type(self).__name__, x, 4)
    bias = self.norm != "batch"
    norm = functools.partial(norm_layer, norm=self.norm, train=train, bn_axis_name=self.bn_axis_name)
    pad = lambda h, p, mode: jnp.pad(h, ((0, 0), (p, p), (p, p), (0, 0)), mode=mode)
    h = nn.relu(norm(_conv(self.width, 7, 1, 0, bias)(pad(x, 3, "reflect"))))
    for mult in (2, 4):
      h = nn.relu(norm(_conv(self.width * mult, 3, 2, 1, bias)(h)))
    mode = PADDINGS[self.padding]
    for _ in range(self.num_blocks):
      r = nn.relu(norm(_conv(4 * self.width, 3, 1, 0, bias)(pad(h, 1, mode))))
      if self.use_dropout:
        r = nn.Dropout(self.dropout_rate, deterministic=not train)(r)
      h = h + norm(_conv(4 * self.width, 3, 1, 0, bias)(pad(r, 1, mode)))
    for mult in (2, 1):
      h = nn.relu(norm(_conv_transpose(self.width * mult, 3, (1, 2), bias)(h)))
    return jnp.tanh(_conv(self.channels, 7, 1, 0, True)(pad(h, 3, "reflect")))


# ----------------------------------------------------------------------------------------------------------------
# Names.
#
# These nets do not fit `jaxgan.nets.registry`: its pairs are latent generators `G(z, labels)` and discriminators
# with one logit per example, built with resolution/num_classes, and the latent-GAN runner lists its names. Here
# generators take images and discriminators return patch maps, so they have their own lookups.

_p = functools.partial
TRANSLATION_GENERATORS: dict[str, Callable[..., nn.Module]] = {
    "unet_256": _p(UNetGenerator, num_downs=8),
    "unet_128": _p(UNetGenerator, num_downs=7),
    "resnet_9blocks": _p(ResNetTranslationGenerator, num_blocks=9),
    "resnet_6blocks": _p(ResNetTranslationGenerator, num_blocks=6),
    # tests: 64x64 inputs (6 downs, one dropout level), width 4
    "unet_tiny": _p(UNetGenerator, num_downs=6, width=4),
    "resnet_tiny": _p(ResNetTranslationGenerator, num_blocks=2, width=4),
}
PATCH_DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "basic": _p(PatchDiscriminator, n_layers=3),
    "n_layers": PatchDiscriminator,  # pass n_layers=...
    "pixel": PixelDiscriminator,
    "basic_tiny": _p(PatchDiscriminator, n_layers=3, width=4),
    "pixel_tiny": _p(PixelDiscriminator, width=4),
}
del _p


def _build(table: dict[str, Callable[..., nn.Module]], what: str, name: str, kwargs) -> nn.Module:
  if name not in table:
    raise ValueError(f"unknown {what} {name!r}; known: {', '.join(sorted(table))}")
  return table[name](**kwargs)


def get_translation_generator(name: str, **kwargs) -> nn.Module:
  """An image-to-image generator by name (`unet_256`, `unet_128`, `resnet_9blocks`, `resnet_6blocks`, `*_tiny`);
  `kwargs` override the variant's attributes (e.g. `channels=3, norm="instance", use_dropout=False`).

  Raises:
    ValueError: an unknown name (the message lists the known ones) or a bad attribute value.
  """
  return _build(TRANSLATION_GENERATORS, "translation generator", name, kwargs)


def get_patch_discriminator(name: str, **kwargs) -> nn.Module:
  """A patch discriminator by name (`basic` = 70x70 PatchGAN, `n_layers` with `n_layers=...`, `pixel`, `*_tiny`),
  as the reference's `--netD`; `kwargs` override the variant's attributes (e.g. `norm="instance"` for CycleGAN).

  Raises:
    ValueError: an unknown name (the message lists the known ones) or a bad attribute value.
  """
  return _build(PATCH_DISCRIMINATORS, "patch discriminator", name, kwargs)


def count_params(model: nn.Module, input_shape: Sequence[int]) -> int:
  """Number of trainable parameters ("params" collection; traced, not compiled) of `model` on inputs of
  `input_shape`, e.g. (1, 256, 256, 3): the number the reference prints (its batch-norm running statistics are
  buffers, not parameters, as flax's "batch_stats")."""
  x = jax.ShapeDtypeStruct(tuple(input_shape), jnp.float32)
  shapes = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes["params"]))
