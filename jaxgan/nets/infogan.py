"""InfoGAN-style generator and discriminator for 28x28 images (MNIST, Fashion-MNIST).

The networks of Chen et al. 2016 (arXiv:1606.03657, appendix C.1) as used by the large-scale study of Lucic et al.
2018 ("Are GANs Created Equal?", arXiv:1711.10337, Table 7):

* G: FC 1024 - BN - ReLU, FC 7*7*128 - BN - ReLU, deconv 4x4/2 64 - BN - ReLU, deconv 4x4/2 C - sigmoid.
* D: conv 4x4/2 64 - lReLU(0.2), conv 4x4/2 128 - BN - lReLU, FC 1024 - BN - lReLU, FC 1.

With `width = 64`: 1024 = 16 * width, 128 = 2 * width. Where jaxgan differs: the sigmoid output s is mapped to
the library's image range as `2 s - 1` (in [-1, 1]); D's normalization is selectable (`norm`), because WGAN-GP
critics must not use batch norm (Gulrajani et al. 2017, arXiv:1704.00028): use "layer" or "none" there; and D's
layers can be spectrally normalized (`spectral_norm`, Miyato et al. 2018, arXiv:1802.05957) for hinge + SN rows.
G's activation is selectable (`activation`): Chen et al. and Lucic et al.'s Table 7 use ReLU, while the code
released with Lucic et al.'s study (google/compare_gan, 2018) uses LeakyReLU(0.2) in G.
The resolution must be a multiple of 4 (28 by default; 32 also works).
"""
import flax.linen as nn
import jax

from jaxgan.nets import conditional
from jaxgan.nets import layers


_ACTIVATIONS = {"relu": nn.relu, "leaky_relu": lambda x: nn.leaky_relu(x, 0.2)}


def _base(resolution: int, who: str) -> int:
  if resolution <= 0 or resolution % 4:
    raise ValueError(f"{who}: resolution must be a positive multiple of 4 (e.g. 28, 32), got {resolution}")
  return resolution // 4


class InfoGANGenerator(nn.Module):
  """InfoGAN generator (Chen et al. 2016; Lucic et al. 2018, arXiv:1711.10337).

  Attributes:
    resolution: output side, a multiple of 4 (28 for MNIST).
    channels: output channels C.
    width: channels of the last hidden map (64); the FC layers have 16 * width and (r/4)^2 * 2 * width units.
    num_classes: K > 0 for a class-conditional generator (label embedding concatenated to z), 0 otherwise.
    embed_dim: width of the label embedding.
    activation: "relu" (the papers) or "leaky_relu" (slope 0.2, the compare_gan code).
    bn_axis_name: axis name over which batch statistics are averaged (pmap), or None.
  """
  resolution: int = 28
  channels: int = 1
  width: int = 64
  num_classes: int = 0
  embed_dim: int = 32
  activation: str = "relu"
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, *, train: bool = True) -> jax.Array:
    """Maps z (N, Z) float32 (and labels int (N,) if conditional) to images (N, H, W, C) float32 in [-1, 1]."""
    who = type(self).__name__
    base = _base(self.resolution, who)
    if self.activation not in _ACTIVATIONS:
      raise ValueError(f"{who}: activation must be one of {', '.join(_ACTIVATIONS)}, got {self.activation!r}")
    act = _ACTIVATIONS[self.activation]
    h = conditional.generator_inputs(
        z, labels, num_classes=self.num_classes, embed_dim=self.embed_dim, who=who)
    bn = lambda y: layers.batch_norm(y, train=train, bn_axis_name=self.bn_axis_name)
    h = act(bn(nn.Dense(16 * self.width, use_bias=False)(h)))
    h = act(bn(nn.Dense(base * base * 2 * self.width, use_bias=False)(h)))
    h = h.reshape(h.shape[0], base, base, 2 * self.width)
    h = act(bn(layers.ConvTranspose(self.width, (4, 4), (2, 2), padding="SAME", use_bias=False)(h)))
    h = layers.ConvTranspose(self.channels, (4, 4), (2, 2), padding="SAME")(h)
    return 2.0 * nn.sigmoid(h) - 1.0


class InfoGANDiscriminator(nn.Module):
  """InfoGAN discriminator (Chen et al. 2016; Lucic et al. 2018, arXiv:1711.10337).

  Attributes:
    resolution: input side, a multiple of 4.
    channels: nominal input channels C (any input channel count works, e.g. packed m*C).
    width: channels of the first conv (64); then 2 * width and an FC layer of 16 * width.
    num_classes: K > 0 for a class-conditional discriminator, 0 otherwise.
    conditioning: "projection" (on the FC features) or "concat" (one-hot label maps appended to the input).
    norm: "batch" (the paper), "layer" or "none" (for WGAN-GP critics).
    spectral_norm: spectral normalization of every conv and dense layer (use with norm="none").
    bn_axis_name: axis name over which batch statistics are averaged (pmap), or None.
  """
  resolution: int = 28
  channels: int = 1
  width: int = 64
  num_classes: int = 0
  conditioning: str = "projection"
  norm: str = "batch"
  spectral_norm: bool = False
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, *, train: bool = True) -> jax.Array:
    """Maps images (N, H, W, C') float32 (and labels int (N,) if conditional) to logits (N,) float32."""
    who = type(self).__name__
    _base(self.resolution, who)
    conditional.check_conditioning(self.num_classes, self.conditioning, who)
    layers.check_norm(self.norm, who)
    h, proj_labels = conditional.discriminator_inputs(
        x, labels, resolution=self.resolution, num_classes=self.num_classes, conditioning=self.conditioning,
        who=who)
    norm = lambda y: layers.normalization(y, self.norm, train=train, bn_axis_name=self.bn_axis_name)
    bias, sn = self.norm == "none", self.spectral_norm
    layer = lambda m, y: layers.call_layer(m, y, train)
    h = nn.leaky_relu(layer(layers.conv(self.width, 4, 2, spectral_norm=sn), h), 0.2)
    h = layer(layers.conv(2 * self.width, 4, 2, spectral_norm=sn, use_bias=bias), h)
    h = nn.leaky_relu(norm(h), 0.2)
    h = h.reshape(h.shape[0], -1)
    phi = nn.leaky_relu(norm(layer(layers.dense(16 * self.width, spectral_norm=sn, use_bias=bias), h)), 0.2)
    return conditional.project(phi, proj_labels, self.num_classes, spectral_norm=sn, train=train)
