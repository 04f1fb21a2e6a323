"""Pure flax.linen generators and discriminators, and a registry by name."""

from jaxgan.nets.dcgan import DCGANDiscriminator
from jaxgan.nets.dcgan import DCGANGenerator
from jaxgan.nets.dcgan import SNDCGANDiscriminator
from jaxgan.nets.dcgan import SNDCGANGenerator
from jaxgan.nets.infogan import InfoGANDiscriminator
from jaxgan.nets.infogan import InfoGANGenerator
from jaxgan.nets.mlp import MLPDiscriminator
from jaxgan.nets.mlp import MLPGenerator
from jaxgan.nets.pix2pix import PatchDiscriminator
from jaxgan.nets.pix2pix import PixelDiscriminator
from jaxgan.nets.pix2pix import ResNetTranslationGenerator
from jaxgan.nets.pix2pix import UNetGenerator
from jaxgan.nets.pix2pix import get_patch_discriminator
from jaxgan.nets.pix2pix import get_translation_generator
from jaxgan.nets.pix2pix import receptive_field
from jaxgan.nets.registry import get_discriminator
from jaxgan.nets.registry import get_generator
from jaxgan.nets.registry import list_networks
from jaxgan.nets.registry import register
from jaxgan.nets.resnet import ResNetDiscriminator
from jaxgan.nets.resnet import ResNetGenerator
