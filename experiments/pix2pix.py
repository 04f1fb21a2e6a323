"""pix2pix (Isola et al. 2017, arXiv:1611.07004) on CMP Facades, labels -> photo (BtoA), as the paper and the
reference code (github.com/junyanz/pytorch-CycleGAN-and-pix2pix): U-Net G (unet_256) with dropout, 70x70 PatchGAN D
on concat(labels, photo), batch norm, vanilla GAN + 100 x L1, D's loss x 0.5, Adam 2e-4 (0.5, 0.999), batch 1,
jitter 286 -> 256 + flip, 200 epochs (100 constant + 100 decaying to 0) = 80,000 steps on the 400 train images.
Evaluated on the 106 test pairs in the paper's test mode (dropout on, the test image's own batch statistics):
FID at n = 106 against the test photos (anchors: 119.1 official model, 125.0 MMGeneration) next to the real-vs-real
floor at 106, L1 / PSNR / SSIM / LPIPS against the paired photo, and a grid labels | output | photo.

  python -m experiments.pix2pix --workdir workdirs/pix2pix_facades                     # the paper's run (GPU)
  python -m experiments.pix2pix --workdir workdirs/p2p64 --resolution=64 --generator=unet_tiny --g_width=32 ...
  python -m experiments.pix2pix --smoke --workdir /tmp/p2p                              # seconds
  python -m experiments.pix2pix --gan_loss=none ...                                     # the L1-only ablation

Time: on the development machine's 2 shared CPU cores, 64x64 with width-32 nets (CPU rows in
benchmarks/results/cpu_2026-12-06/translation/); the 256x256 paper run is a GPU job (benchmarks/gpu_translation.sh).
"""

from __future__ import annotations

import sys

import ml_collections

from jaxgan.models import pix2pix as pix2pix_lib
from jaxgan.train import experiment, translation

PAPER = {"anchors": {"fid_facades_labels2photo_n106": {"official_model": 119.1, "mmgeneration": 125.0}},
         "source": "Isola et al. 2017 (arXiv:1611.07004); FIDs as reported by MMGeneration for facades BtoA"}


def get_config() -> ml_collections.ConfigDict:
  c = translation.translation_config()
  c.dataset = "facades"
  c.direction = "BtoA"  # labels -> photo
  c.resolution = 256
  c.generator = "unet_256"  # unet_128 for 128x128, unet_tiny (6 downs: 64x64) for tests and CPU runs
  c.d_patch = "70"  # pixel, 16, 70 (the paper's), 142
  c.norm = "batch"
  c.dropout = True  # G's decoder dropout, at train and (test_mode=train) test time
  c.gan_loss = "vanilla"  # vanilla, lsgan, or none (the L1-only ablation)
  c.l1_weight = 100.0  # lambda_L1
  c.d_scale = 0.5  # D's loss x 0.5
  c.num_steps = 80_000  # 200 epochs x 400 images at batch 1
  c.decay_steps = 40_000  # the last 100 epochs decay to 0
  c.fid_num = 0  # the whole test set: 106, the anchors' n
  return c


def main(config: ml_collections.ConfigDict, workdir: str | None, resume: bool = True):
  """Trains and evaluates; returns (state, summary)."""
  return translation.run(config, workdir, resume, build=pix2pix_lib.spec_from_config, tiny_generator="unet_tiny",
                         name="pix2pix", paper=PAPER)


if __name__ == "__main__":
  experiment.cli(get_config, main, sys.argv[1:], default_workdir="workdirs/pix2pix")
