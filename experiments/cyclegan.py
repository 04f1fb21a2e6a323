"""CycleGAN (Zhu et al. 2017, arXiv:1703.10593) as the paper and the reference code
(github.com/junyanz/pytorch-CycleGAN-and-pix2pix): ResNet generators (resnet_9blocks at 256x256, resnet_6blocks at
128x128), 70x70 PatchGANs, instance norm, LSGAN, cycle lambda 10 both ways, identity 0.5 x lambda, image pools of
50, Adam 2e-4 (0.5, 0.999), batch 1, 100 epochs constant then 100 decaying to 0, G step then D step.

The paper's datasets (horse2zebra, ...) are not available offline; the stand-ins (`dataset`):
  * facades_unpaired (default): facades labels <-> photos from disjoint halves of the train pairs, evaluated on the
    106 paired test images (anchors, FID at n = 106 labels -> photo: 123.6 official, 119.7 without identity,
    124.8 MMGeneration), with jitter 286 -> 256;
  * mnist_fashion: MNIST <-> Fashion-MNIST at 28x28x1 (kept one channel; the FID Inception repeats it to RGB);
  * cifar_horse_deer: CIFAR-10 horse <-> deer, 32x32.

  python -m experiments.cyclegan --workdir workdirs/cyclegan_facades                  # the paper's setting (GPU)
  python -m experiments.cyclegan --dataset=mnist_fashion --resolution=0 --generator=resnet_6blocks ...
  python -m experiments.cyclegan --smoke --workdir /tmp/cg
"""

from __future__ import annotations

import sys

import ml_collections

from jaxgan.models import cyclegan as cyclegan_lib
from jaxgan.train import experiment, translation

PAPER = {"anchors": {"fid_facades_labels2photo_n106": {"official": 123.6, "official_no_identity": 119.7,
                                                       "mmgeneration": 124.8}},
         "source": "Zhu et al. 2017 (arXiv:1703.10593); FIDs as reported by MMGeneration for facades"}


def get_config() -> ml_collections.ConfigDict:
  c = translation.translation_config()
  c.dataset = "facades_unpaired"  # facades_unpaired, mnist_fashion, cifar_horse_deer
  c.direction = "BtoA"  # facades: A = labels, B = photos
  c.resolution = 256
  c.generator = "resnet_9blocks"  # resnet_6blocks for 128x128, resnet_tiny for tests
  c.d_patch = "70"
  c.norm = "instance"
  c.lambda_a = 10.0  # cycle A -> B -> A
  c.lambda_b = 10.0  # cycle B -> A -> B
  c.lambda_identity = 0.5  # identity weight, a fraction of lambda (0: none)
  c.pool_size = 50
  c.num_steps = 40_000  # 200 epochs x 200 images (a half of the 400 train pairs per domain) at batch 1
  c.decay_steps = 20_000
  c.test_mode = "eval"  # instance norm: train and eval mode agree
  c.eval_batch = 0  # 50 per call
  return c


def main(config: ml_collections.ConfigDict, workdir: str | None, resume: bool = True):
  """Trains and evaluates; returns (state, summary)."""
  return translation.run(config, workdir, resume, build=cyclegan_lib.spec_from_config,
                         tiny_generator="resnet_tiny", name="cyclegan", paper=PAPER)


if __name__ == "__main__":
  experiment.cli(get_config, main, sys.argv[1:], default_workdir="workdirs/cyclegan")
