"""DCGAN and SNDCGAN ("standard CNN") generators and discriminators.

* `DCGANGenerator`, `DCGANDiscriminator`: Radford et al. 2015 (arXiv:1511.06434), section 3 guidelines: strided
  (transposed) convolutions, no pooling, batch norm in G on every layer but the output and in D on every layer but
  the first and the last, ReLU in G, LeakyReLU(0.2) in D, tanh output. Resolutions 28 (7 -> 14 -> 28), 32
  (4 -> 8 -> 16 -> 32) and 64 (4 -> 8 -> 16 -> 32 -> 64). Channels double at every downsampling from `width`.
* `SNDCGANGenerator`, `SNDCGANDiscriminator`: the standard CNN of Miyato et al. 2018 (arXiv:1802.05957), Table 3,
  with spectral normalization in D, LeakyReLU(0.1). Resolutions 32 (CIFAR-10, M = 4) and 48 (STL-10, M = 6).
  Options give StudioGAN's "DCGAN" (Kang et al. 2023, arXiv:2206.09479; its `deep_conv` backbone, registered as
  `deepconv`): the same layers with no batch norm after G's input layer, batch norm and ReLU in D, and D's last
  map summed over H and W before the head.

All models follow the jaxgan network contract: `G(z, labels=None, *, train=True)` maps z `(N, Z)` float32 to images
`(N, H, W, C)` float32 in [-1, 1]; `D(x, labels=None, *, train=True)` maps `(N, H, W, C')` float32 to logits `(N,)`
float32, for any C' (packed inputs). With `num_classes > 0` they are class-conditional (see `conditional.py`).

Example:
  >>> g = DCGANGenerator(resolution=32, width=8)
  >>> variables = g.init(jax.random.key(0), jnp.zeros((2, 64)))
  >>> x, updates = g.apply(variables, jnp.zeros((2, 64)), mutable=["batch_stats"])
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.nets import conditional
from jaxgan.nets import layers

# resolution -> (spatial size of the first feature map, number of 2x up/downsamplings)
DCGAN_RESOLUTIONS = {28: (7, 2), 32: (4, 3), 64: (4, 4)}
SNDCGAN_RESOLUTIONS = {32: 4, 48: 6}
_SNDCGAN_ACTIVATIONS = {"leaky_relu": lambda x: nn.leaky_relu(x, 0.1), "relu": nn.relu}


def _dcgan_plan(resolution: int, who: str) -> tuple[int, int]:
  if resolution not in DCGAN_RESOLUTIONS:
    raise ValueError(
        f"{who}: unsupported resolution {resolution}; supported: {sorted(DCGAN_RESOLUTIONS)}")
  return DCGAN_RESOLUTIONS[resolution]


def _sndcgan_base(resolution: int, who: str) -> int:
  if resolution not in SNDCGAN_RESOLUTIONS:
    raise ValueError(
        f"{who}: unsupported resolution {resolution}; supported: {sorted(SNDCGAN_RESOLUTIONS)}")
  return SNDCGAN_RESOLUTIONS[resolution]


class DCGANGenerator(nn.Module):
  """DCGAN generator (Radford et al. 2015, arXiv:1511.06434).

  z -> Dense(base*base*width*2^(n-1)) -> BN -> ReLU -> [ConvT 4x4/2 (channels halve) -> BN -> ReLU] x (n-1)
  -> ConvT 4x4/2 to `channels` -> tanh, with (base, n) = (7, 2), (4, 3), (4, 4) for resolution 28, 32, 64.
  At resolution 64, width 128 gives the paper's Figure 1 generator (4x4x1024 -> 512 -> 256 -> 128 -> 3); the
  default width 64 is the common half-width reimplementation (512-256-128-64).

  Attributes:
    resolution: output side, one of 28, 32, 64.
    channels: output channels C.
    width: channels of the last hidden feature map; earlier maps have width * 2^k.
    num_classes: K > 0 for a class-conditional generator (label embedding concatenated to z), 0 otherwise.
    embed_dim: width of the label embedding.
    bn_axis_name: axis name over which batch statistics are averaged (pmap), or None.
  """
  resolution: int = 32
  channels: int = 3
  width: int = 64
  num_classes: int = 0
  embed_dim: int = 32
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, *, train: bool = True) -> jax.Array:
    """Maps z (N, Z) float32 (and labels int (N,) if conditional) to images (N, H, W, C) float32 in [-1, 1]."""
    who = type(self).__name__
    base, num_up = _dcgan_plan(self.resolution, who)
    h = conditional.generator_inputs(
        z, labels, num_classes=self.num_classes, embed_dim=self.embed_dim, who=who)
    features = self.width * 2 ** (num_up - 1)
    h = nn.Dense(base * base * features, use_bias=False)(h)
    h = h.reshape(h.shape[0], base, base, features)
    h = nn.relu(layers.batch_norm(h, train=train, bn_axis_name=self.bn_axis_name))
    for _ in range(num_up - 1):
      features //= 2
      h = layers.ConvTranspose(features, (4, 4), (2, 2), padding="SAME", use_bias=False)(h)
      h = nn.relu(layers.batch_norm(h, train=train, bn_axis_name=self.bn_axis_name))
    h = layers.ConvTranspose(self.channels, (4, 4), (2, 2), padding="SAME")(h)
    return jnp.tanh(h)


class DCGANDiscriminator(nn.Module):
  """DCGAN discriminator (Radford et al. 2015, arXiv:1511.06434).

  x -> Conv 4x4/2 (width) -> LReLU(0.2) -> [Conv 4x4/2 (channels double) -> norm -> LReLU(0.2)] x (n-1)
  -> flatten -> phi -> Dense(1) (+ projection term). The first and last layers have no normalization.

  Attributes:
    resolution: input side, one of 28, 32, 64.
    channels: nominal input channels C (documentation only: any input channel count works, e.g. packed m*C).
    width: channels of the first feature map.
    num_classes: K > 0 for a class-conditional discriminator, 0 otherwise.
    conditioning: "projection" (Miyato & Koyama 2018, arXiv:1802.05637) on phi, or "concat" (one-hot label maps
      appended to the input channels).
    norm: "batch" (the paper), "layer" or "none" (WGAN-GP critics must not use batch norm).
    bn_axis_name: axis name over which batch statistics are averaged (pmap), or None.
  """
  resolution: int = 32
  channels: int = 3
  width: int = 64
  num_classes: int = 0
  conditioning: str = "projection"
  norm: str = "batch"
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, *, train: bool = True) -> jax.Array:
    """Maps images (N, H, W, C') float32 (and labels int (N,) if conditional) to logits (N,) float32."""
    who = type(self).__name__
    _, num_down = _dcgan_plan(self.resolution, who)
    conditional.check_conditioning(self.num_classes, self.conditioning, who)
    layers.check_norm(self.norm, who)
    h, proj_labels = conditional.discriminator_inputs(
        x, labels, resolution=self.resolution, num_classes=self.num_classes, conditioning=self.conditioning,
        who=who)
    h = nn.leaky_relu(layers.Conv(self.width, (4, 4), (2, 2), padding="SAME")(h), 0.2)
    for i in range(1, num_down):
      h = layers.Conv(self.width * 2 ** i, (4, 4), (2, 2), padding="SAME", use_bias=self.norm == "none")(h)
      h = layers.normalization(h, self.norm, train=train, bn_axis_name=self.bn_axis_name)
      h = nn.leaky_relu(h, 0.2)
    phi = h.reshape(h.shape[0], -1)
    return conditional.project(phi, proj_labels, self.num_classes)


class SNDCGANGenerator(nn.Module):
  """Standard CNN generator of Miyato et al. 2018 (arXiv:1802.05957), Table 3(a).

  z -> Dense(M*M*8w) -> BN -> ReLU -> [Deconv 4x4/2 -> BN -> ReLU] to 4w, 2w, w -> Conv 3x3/1 to C -> tanh,
  M = resolution / 8 (w = 64 gives the paper's 512-256-128-64). With `input_norm=False` the Dense layer has a bias
  and feeds the first deconv directly, as StudioGAN's deep_conv generator does.

  Attributes:
    resolution: 32 (M = 4) or 48 (M = 6).
    channels: output channels C.
    width: w, channels of the last hidden map.
    num_classes: K > 0 for a class-conditional generator (label embedding concatenated to z), 0 otherwise.
    embed_dim: width of the label embedding.
    bn_axis_name: axis name over which batch statistics are averaged (pmap), or None.
    input_norm: batch norm and ReLU after the Dense layer (Miyato et al.), or neither and a bias (StudioGAN).
  """
  resolution: int = 32
  channels: int = 3
  width: int = 64
  num_classes: int = 0
  embed_dim: int = 32
  bn_axis_name: str | None = None
  input_norm: bool = True

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, *, train: bool = True) -> jax.Array:
    """Maps z (N, Z) float32 (and labels int (N,) if conditional) to images (N, H, W, C) float32 in [-1, 1]."""
    who = type(self).__name__
    base = _sndcgan_base(self.resolution, who)
    h = conditional.generator_inputs(
        z, labels, num_classes=self.num_classes, embed_dim=self.embed_dim, who=who)
    h = nn.Dense(base * base * 8 * self.width, use_bias=not self.input_norm)(h)
    h = h.reshape(h.shape[0], base, base, 8 * self.width)
    if self.input_norm:
      h = nn.relu(layers.batch_norm(h, train=train, bn_axis_name=self.bn_axis_name))
    for mult in (4, 2, 1):
      h = layers.ConvTranspose(mult * self.width, (4, 4), (2, 2), padding="SAME", use_bias=False)(h)
      h = nn.relu(layers.batch_norm(h, train=train, bn_axis_name=self.bn_axis_name))
    h = layers.Conv(self.channels, (3, 3), (1, 1), padding="SAME")(h)
    return jnp.tanh(h)


class SNDCGANDiscriminator(nn.Module):
  """Standard CNN discriminator of Miyato et al. 2018 (arXiv:1802.05957), Table 3(b).

  Conv 3x3/1 w, 4x4/2 w, 3x3/1 2w, 4x4/2 2w, 3x3/1 4w, 4x4/2 4w, 3x3/1 8w, each followed by LeakyReLU(0.1);
  flatten -> Dense(1) (+ projection term). w = 64 gives the paper's 64-...-512. No batch norm by default;
  StudioGAN's deep_conv discriminator is `norm="batch", activation="relu", pooling="sum"` without SN.

  Attributes:
    resolution: input side, 32 or 48.
    channels: nominal input channels C (any input channel count works).
    width: w.
    num_classes: K > 0 for a class-conditional discriminator, 0 otherwise.
    conditioning: "projection" or "concat" (see `DCGANDiscriminator`).
    spectral_norm: spectral normalization of every conv and dense layer (the paper's SN-GAN), default on.
    norm: "none" (the paper), "batch" or "layer", after every conv (convs keep their biases).
    activation: "leaky_relu" (slope 0.1, the paper) or "relu".
    pooling: "flatten" (the paper: Dense on the whole last map) or "sum" over H and W (StudioGAN).
    bn_axis_name: axis name over which batch statistics are averaged (pmap), or None.
  """
  resolution: int = 32
  channels: int = 3
  width: int = 64
  num_classes: int = 0
  conditioning: str = "projection"
  spectral_norm: bool = True
  norm: str = "none"
  activation: str = "leaky_relu"
  pooling: str = "flatten"
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, *, train: bool = True) -> jax.Array:
    """Maps images (N, H, W, C') float32 (and labels int (N,) if conditional) to logits (N,) float32."""
    who = type(self).__name__
    _sndcgan_base(self.resolution, who)
    conditional.check_conditioning(self.num_classes, self.conditioning, who)
    h, proj_labels = conditional.discriminator_inputs(
        x, labels, resolution=self.resolution, num_classes=self.num_classes, conditioning=self.conditioning,
        who=who)
    layers.check_norm(self.norm, who)
    if self.activation not in _SNDCGAN_ACTIVATIONS:
      raise ValueError(f"{who}: activation must be one of {', '.join(_SNDCGAN_ACTIVATIONS)}, got {self.activation!r}")
    if self.pooling not in ("flatten", "sum"):
      raise ValueError(f"{who}: pooling must be flatten or sum, got {self.pooling!r}")
    act = _SNDCGAN_ACTIVATIONS[self.activation]
    plan = ((1, 3, 1), (1, 4, 2), (2, 3, 1), (2, 4, 2), (4, 3, 1), (4, 4, 2), (8, 3, 1))
    for mult, kernel, stride in plan:
      layer = layers.conv(mult * self.width, kernel, stride, spectral_norm=self.spectral_norm)
      h = layers.call_layer(layer, h, train)
      h = act(layers.normalization(h, self.norm, train=train, bn_axis_name=self.bn_axis_name))
    phi = h.reshape(h.shape[0], -1) if self.pooling == "flatten" else jnp.sum(h, axis=(1, 2))
    return conditional.project(phi, proj_labels, self.num_classes, spectral_norm=self.spectral_norm, train=train)
