"""ResNet generator and discriminator for 32x32 images (CIFAR-10).

The architecture of Gulrajani et al. 2017 (arXiv:1704.00028, appendix F) as used by Miyato et al. 2018
(arXiv:1802.05957, Table 4): pre-activation residual blocks with nearest-neighbour upsampling in G and average-pool
downsampling in D, a "optimized" first D block that starts directly from the image, global pooling before D's
linear head: a sum in Miyato et al.'s code, a mean in Gulrajani et al.'s (`pooling`). Spectral normalization of every
D layer is optional (`spectral_norm`, on for SN-GAN, off for WGAN-GP, whose critic has no normalization at all).

Where jaxgan differs: the class-conditional generator concatenates a label embedding to z instead of using
conditional batch norm (Miyato & Koyama 2018); the conditional discriminator uses the projection head
(Miyato & Koyama 2018, arXiv:1802.05637) on the pooled features, or one-hot input maps ("concat").

Resolutions: 32 (4 -> 32, three up blocks; D: 32 -> 16 -> 8, then two blocks at 8x8), 48 (6 -> 48; D ends at
12x12) and 64 (4 -> 64, four up blocks; D ends at 8x8).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.nets import conditional
from jaxgan.nets import layers

# resolution -> (side of the first generator feature map, number of upsampling blocks)
RESNET_RESOLUTIONS = {32: (4, 3), 48: (6, 3), 64: (4, 4)}
_POOLING = {"sum": jnp.sum, "mean": jnp.mean}  # D's global pooling before the head


def _plan(resolution: int, who: str) -> tuple[int, int]:
  if resolution not in RESNET_RESOLUTIONS:
    raise ValueError(f"{who}: unsupported resolution {resolution}; supported: {sorted(RESNET_RESOLUTIONS)}")
  return RESNET_RESOLUTIONS[resolution]


def _upsample(x: jax.Array) -> jax.Array:
  """Nearest-neighbour 2x upsampling, (N, H, W, C) -> (N, 2H, 2W, C)."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _downsample(x: jax.Array) -> jax.Array:
  """2x2 average pooling, (N, H, W, C) -> (N, H/2, W/2, C)."""
  return nn.avg_pool(x, (2, 2), (2, 2))


class GeneratorBlock(nn.Module):
  """Up block: BN-ReLU-up-conv3x3-BN-ReLU-conv3x3, plus shortcut up-conv1x1 (identity if no up and same width).

  Attributes:
    features: output channels.
    upsample: whether to double H and W.
    bn_axis_name: see the generator.
  """
  features: int
  upsample: bool = True
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    """(N, H, W, C) float32 -> (N, 2H, 2W, features) float32 (H, W kept without upsampling)."""
    h = nn.relu(layers.batch_norm(x, train=train, bn_axis_name=self.bn_axis_name))
    if self.upsample:
      h = _upsample(h)
    h = nn.Conv(self.features, (3, 3), padding="SAME")(h)
    h = nn.relu(layers.batch_norm(h, train=train, bn_axis_name=self.bn_axis_name))
    h = nn.Conv(self.features, (3, 3), padding="SAME")(h)
    shortcut = _upsample(x) if self.upsample else x
    if self.upsample or x.shape[-1] != self.features:
      shortcut = nn.Conv(self.features, (1, 1), padding="SAME", name="shortcut")(shortcut)
    return h + shortcut


class DiscriminatorBlock(nn.Module):
  """Down block, pre-activation: ReLU-conv3x3-ReLU-conv3x3-[avgpool], shortcut conv1x1-[avgpool].

  With `optimized=True` (the first block, which sees the image): conv3x3-ReLU-conv3x3-avgpool, shortcut
  avgpool-conv1x1 (Miyato et al. 2018's OptimizedBlock). The 1x1 shortcut conv exists only when the block
  downsamples or changes the channel count.

  Attributes:
    features: output channels.
    downsample: whether to halve H and W.
    optimized: first-block variant.
    spectral_norm: spectral normalization of the convs.
  """
  features: int
  downsample: bool = True
  optimized: bool = False
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    """(N, H, W, C) float32 -> (N, H/2, W/2, features) float32 (H, W kept without downsampling)."""
    sn = self.spectral_norm
    h = x if self.optimized else nn.relu(x)
    h = layers.call_layer(layers.conv(self.features, 3, spectral_norm=sn), h, train)
    h = layers.call_layer(layers.conv(self.features, 3, spectral_norm=sn), nn.relu(h), train)
    if self.downsample:
      h = _downsample(h)
    shortcut = x
    if self.downsample or x.shape[-1] != self.features:
      conv1x1 = layers.conv(self.features, 1, spectral_norm=sn, name="shortcut")
      if self.optimized:
        shortcut = layers.call_layer(conv1x1, _downsample(x), train)
      else:
        shortcut = layers.call_layer(conv1x1, x, train)
        shortcut = _downsample(shortcut) if self.downsample else shortcut
    return h + shortcut


class ResNetGenerator(nn.Module):
  """ResNet generator (Gulrajani et al. 2017, arXiv:1704.00028; Miyato et al. 2018, arXiv:1802.05957, Table 4a).

  z -> Dense(base*base*width) -> [GeneratorBlock(width, up)] x n -> BN -> ReLU -> Conv 3x3 to C -> tanh.
  At resolution 32, width 256 is SN-GAN's CIFAR-10 generator and width 128 Gulrajani et al.'s (`gpresnet`).

  Attributes:
    resolution: output side, 32, 48 or 64.
    channels: output channels C.
    width: channels of every block.
    num_classes: K > 0 for a class-conditional generator (label embedding concatenated to z), 0 otherwise.
    embed_dim: width of the label embedding.
    bn_axis_name: axis name over which batch statistics are averaged (pmap), or None.
  """
  resolution: int = 32
  channels: int = 3
  width: int = 256
  num_classes: int = 0
  embed_dim: int = 32
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, *, train: bool = True) -> jax.Array:
    """Maps z (N, Z) float32 (and labels int (N,) if conditional) to images (N, H, W, C) float32 in [-1, 1]."""
    who = type(self).__name__
    base, num_blocks = _plan(self.resolution, who)
    h = conditional.generator_inputs(
        z, labels, num_classes=self.num_classes, embed_dim=self.embed_dim, who=who)
    h = nn.Dense(base * base * self.width)(h).reshape(z.shape[0], base, base, self.width)
    for _ in range(num_blocks):
      h = GeneratorBlock(self.width, upsample=True, bn_axis_name=self.bn_axis_name)(h, train=train)
    h = nn.relu(layers.batch_norm(h, train=train, bn_axis_name=self.bn_axis_name))
    return jnp.tanh(nn.Conv(self.channels, (3, 3), padding="SAME")(h))


class ResNetDiscriminator(nn.Module):
  """ResNet discriminator (Gulrajani et al. 2017; Miyato et al. 2018, Table 4c).

  x -> optimized block (down) -> down blocks -> two blocks without downsampling, all `width` channels -> ReLU
  -> global sum (or mean) pooling -> phi (N, width) -> Dense(1) (+ projection term). width 128 at resolution 32
  is the CIFAR-10 model of both papers. No batch norm.

  Attributes:
    resolution: input side, 32, 48 or 64.
    channels: nominal input channels C (any input channel count works, e.g. packed m*C).
    width: channels of every block.
    num_classes: K > 0 for a class-conditional discriminator, 0 otherwise.
    conditioning: "projection" (on phi) or "concat" (one-hot label maps appended to the input).
    spectral_norm: spectral normalization of every conv and dense layer (SN-GAN); off for WGAN-GP.
    pooling: "sum" over H and W (Miyato et al.'s SN-GAN code) or "mean" (Gulrajani et al.'s WGAN-GP code); the
      function class is the same, the head's scale at init and its effective learning rate are not.
    head_bias: whether Dense(1) adds a bias (Gulrajani et al.'s code: yes; the SN-GAN code's 32x32 D: no).
  """
  resolution: int = 32
  channels: int = 3
  width: int = 128
  num_classes: int = 0
  conditioning: str = "projection"
  spectral_norm: bool = False
  pooling: str = "sum"
  head_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, *, train: bool = True) -> jax.Array:
    """Maps images (N, H, W, C') float32 (and labels int (N,) if conditional) to logits (N,) float32."""
    who = type(self).__name__
    _, num_blocks = _plan(self.resolution, who)
    if self.pooling not in _POOLING:
      raise ValueError(f"{who}: pooling must be one of {', '.join(_POOLING)}, got {self.pooling!r}")
    conditional.check_conditioning(self.num_classes, self.conditioning, who)
    h, proj_labels = conditional.discriminator_inputs(
        x, labels, resolution=self.resolution, num_classes=self.num_classes, conditioning=self.conditioning,
        who=who)
    sn = self.spectral_norm
    h = DiscriminatorBlock(self.width, downsample=True, optimized=True, spectral_norm=sn)(h, train=train)
    for _ in range(num_blocks - 2):
      h = DiscriminatorBlock(self.width, downsample=True, spectral_norm=sn)(h, train=train)
    for _ in range(2):
      h = DiscriminatorBlock(self.width, downsample=False, spectral_norm=sn)(h, train=train)
    phi = _POOLING[self.pooling](nn.relu(h), axis=(1, 2))
    return conditional.project(phi, proj_labels, self.num_classes, spectral_norm=sn, train=train,
                               head_bias=self.head_bias)
