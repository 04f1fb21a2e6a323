"""Networks by name: `get_generator("dcgan", resolution=64)`, `get_discriminator("resnet", spectral_norm=True)`.

Each name maps to a pair of module factories (a class or a `functools.partial` of one, holding the variant's
defaults); keyword arguments given at lookup override those defaults. Tiny variants (`*_tiny`) exist for tests.

| name            | generator                     | discriminator                               |
|-----------------|-------------------------------|---------------------------------------------|
| dcgan           | DCGANGenerator (width 64)     | DCGANDiscriminator (width 64, batch norm)   |
| sndcgan         | SNDCGANGenerator (width 64)   | SNDCGANDiscriminator (spectral norm)        |
| resnet          | ResNetGenerator (width 256)   | ResNetDiscriminator (width 128, no SN)      |
| snresnet        | ResNetGenerator (width 256)   | ResNetDiscriminator (width 128, SN, no head bias) |
| gpresnet        | ResNetGenerator (width 128)   | ResNetDiscriminator (width 128, mean pool)  |
| infogan         | InfoGANGenerator (width 64)   | InfoGANDiscriminator (width 64, batch norm) |
| sninfogan       | InfoGANGenerator (width 64)   | InfoGANDiscriminator (SN, no batch norm)    |
| cnn             | SNDCGANGenerator (width 64)   | SNDCGANDiscriminator (no SN: WGAN-GP's CNN) |
| deepconv        | SNDCGANGenerator (no input BN) | SNDCGANDiscriminator (BN, ReLU, sum pool: StudioGAN's DCGAN) |

Example:
  >>> g = get_generator("dcgan_tiny", resolution=28, channels=1)
  >>> d = get_discriminator("dcgan_tiny", resolution=28, channels=1, norm="none")
"""
from collections.abc import Callable
import functools
from typing import Any, NamedTuple

import flax.linen as nn

from jaxgan._checks import is_int
from jaxgan.nets import dcgan
from jaxgan.nets import infogan
from jaxgan.nets import resnet

ModuleFactory = Callable[..., nn.Module]


class NetworkPair(NamedTuple):
  """Factories of a generator and its discriminator."""
  generator: ModuleFactory
  discriminator: ModuleFactory


_REGISTRY: dict[str, NetworkPair] = {}


def register(name: str, generator: ModuleFactory, discriminator: ModuleFactory, *, overwrite: bool = False) -> None:
  """Registers a generator/discriminator pair under `name`.

  Args:
    name: the lookup string.
    generator: a module class or factory; called with the lookup's keyword arguments.
    discriminator: likewise.
    overwrite: allow replacing an existing name.
  Raises:
    ValueError: `name` is taken and `overwrite` is False.
  """
  if name in _REGISTRY and not overwrite:
    raise ValueError(f"register: network {name!r} is already registered (pass overwrite=True to replace it)")
  _REGISTRY[name] = NetworkPair(generator, discriminator)


def list_networks() -> list[str]:
  """The registered names, sorted."""
  return sorted(_REGISTRY)


def _lookup(name: str) -> NetworkPair:
  if name not in _REGISTRY:
    raise ValueError(f"unknown network {name!r}; known: {', '.join(list_networks())}")
  return _REGISTRY[name]


_SIZES = {"resolution": 1, "channels": 1, "width": 1, "num_classes": 0}  # size argument -> its smallest value


def _check_sizes(what: str, name: str, kwargs: dict[str, Any]) -> None:
  for key, smallest in _SIZES.items():
    value = kwargs.get(key)
    if value is not None and (not is_int(value) or value < smallest):
      raise ValueError(f"{what}({name!r}): {key} must be an int >= {smallest}, got {value!r}")


def get_generator(name: str, **kwargs) -> nn.Module:
  """Builds the generator registered as `name`; `kwargs` override the variant's attributes.

  Raises:
    ValueError: unknown name (the message lists the known ones), or a size argument (resolution, channels,
      width, num_classes) that is not a positive int (num_classes: >= 0).
  """
  pair = _lookup(name)
  _check_sizes("get_generator", name, kwargs)
  return pair.generator(**kwargs)


def get_discriminator(name: str, **kwargs) -> nn.Module:
  """Builds the discriminator registered as `name`; `kwargs` override the variant's attributes.

  Raises:
    ValueError: unknown name (the message lists the known ones), or a size argument that is not a positive int.
  """
  pair = _lookup(name)
  _check_sizes("get_discriminator", name, kwargs)
  return pair.discriminator(**kwargs)


_p = functools.partial
register("dcgan", dcgan.DCGANGenerator, dcgan.DCGANDiscriminator)
register("dcgan_tiny", _p(dcgan.DCGANGenerator, width=4), _p(dcgan.DCGANDiscriminator, width=4))
register("sndcgan", dcgan.SNDCGANGenerator, dcgan.SNDCGANDiscriminator)
register("sndcgan_tiny", _p(dcgan.SNDCGANGenerator, width=4), _p(dcgan.SNDCGANDiscriminator, width=4))
register("resnet", resnet.ResNetGenerator, resnet.ResNetDiscriminator)
register("resnet_tiny", _p(resnet.ResNetGenerator, width=8), _p(resnet.ResNetDiscriminator, width=8))
# Miyato et al.'s SN-GAN: its 32x32 D's Dense(1) has no bias (sngan_projection's dis_models/snresnet_32.py).
register("snresnet", resnet.ResNetGenerator, _p(resnet.ResNetDiscriminator, spectral_norm=True, head_bias=False))
register(
    "snresnet_tiny", _p(resnet.ResNetGenerator, width=8),
    _p(resnet.ResNetDiscriminator, width=8, spectral_norm=True, head_bias=False))
# StudioGAN's "DCGAN" (its deep_conv backbone): the standard CNN with batch norm and ReLU in D, D sum-pooled.
_deepconv_d = _p(dcgan.SNDCGANDiscriminator, spectral_norm=False, norm="batch", activation="relu", pooling="sum")
register("deepconv", _p(dcgan.SNDCGANGenerator, input_norm=False), _deepconv_d)
register("deepconv_tiny", _p(dcgan.SNDCGANGenerator, width=4, input_norm=False), _p(_deepconv_d, width=4))
# Gulrajani et al. 2017's CIFAR-10 ResNet (the gan_cifar_resnet.py released with the paper): G and D 128 wide,
# D mean-pools.
register("gpresnet", _p(resnet.ResNetGenerator, width=128), _p(resnet.ResNetDiscriminator, pooling="mean"))
register("gpresnet_tiny", _p(resnet.ResNetGenerator, width=8),
         _p(resnet.ResNetDiscriminator, width=8, pooling="mean"))
register("infogan", infogan.InfoGANGenerator, infogan.InfoGANDiscriminator)
register("infogan_tiny", _p(infogan.InfoGANGenerator, width=4), _p(infogan.InfoGANDiscriminator, width=4))
register("sninfogan", infogan.InfoGANGenerator, _p(infogan.InfoGANDiscriminator, norm="none", spectral_norm=True))
register("sninfogan_tiny", _p(infogan.InfoGANGenerator, width=4),
         _p(infogan.InfoGANDiscriminator, width=4, norm="none", spectral_norm=True))
register("cnn", dcgan.SNDCGANGenerator, _p(dcgan.SNDCGANDiscriminator, spectral_norm=False))
register("cnn_tiny", _p(dcgan.SNDCGANGenerator, width=4), _p(dcgan.SNDCGANDiscriminator, width=4, spectral_norm=False))
del _p, _deepconv_d


def _mlp_options(num_classes: int, width: int | None) -> None:
  """The MLPs are unconditional and sized by `hidden`: refuse what the other nets take and they would ignore."""
  if num_classes:
    raise ValueError(f"net 'mlp' is unconditional, got num_classes={num_classes}: use a conditional net (e.g. "
                     "dcgan) or conditional=False")
  if width is not None:
    raise ValueError(f"net 'mlp' is sized by hidden=(...), not width (got width={width})")


def _mlp_generator(*, resolution: int | None = None, channels: int | None = None, num_classes: int = 0,
                   width: int | None = None, **kwargs) -> nn.Module:
  """MLPGenerator for images when `resolution`/`channels` are given (tanh output), else for vectors."""
  from jaxgan.nets import mlp  # pylint: disable=g-import-not-at-top
  _mlp_options(num_classes, width)
  if resolution is not None:
    kwargs.setdefault("out_shape", (resolution, resolution, channels or 1))
  return mlp.MLPGenerator(**kwargs)


def _mlp_discriminator(*, resolution: int | None = None, channels: int | None = None, num_classes: int = 0,
                       width: int | None = None, **kwargs) -> nn.Module:
  """MLPDiscriminator; `resolution`/`channels` are accepted for a uniform call and unused (input is flattened)."""
  from jaxgan.nets import mlp  # pylint: disable=g-import-not-at-top
  del resolution, channels
  _mlp_options(num_classes, width)
  return mlp.MLPDiscriminator(**kwargs)


register("mlp", _mlp_generator, _mlp_discriminator)
register("mlp_tiny", functools.partial(_mlp_generator, hidden=(8, 8)),
         functools.partial(_mlp_discriminator, hidden=(8,), maxout_pieces=2))
