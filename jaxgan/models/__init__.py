"""Model specs for the general step (`jaxgan.train.general`): one module per family wires nets, players, forward
and loss terms into a `Model`."""

from jaxgan.models.common import KeyedNet
from jaxgan.models.common import constant_then_linear
from jaxgan.models.common import patch_logits
from jaxgan.models.common import pooled_adversarial
from jaxgan.models.cyclegan import cyclegan_model
from jaxgan.models.pix2pix import pix2pix_model
