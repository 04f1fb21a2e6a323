"""Least Squares GAN (Mao et al. 2017, arXiv:1611.04076).

Eq. (2) of the paper: D minimizes 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2], G minimizes
1/2 E[(D(G(z)) - c)^2], on raw D outputs. The paper's two codings: (a, b, c) = (0, 1, 1)
(the default here) and (-1, 1, 0) (`--ls_a=-1 --ls_b=1 --ls_c=0`, Eq. 9's b - c = 1,
b - a = 2). Adam with learning rate 2e-4 and beta1 = 0.5, batch 64 (the paper's scene
experiments), DCGAN-style nets with batch norm.

Run:
  python -m experiments.lsgan --workdir workdirs/lsgan_mnist                  # ../shared/data/mnist
  python -m experiments.lsgan --workdir workdirs/lsgan_m101 --ls_a=-1 --ls_b=1 --ls_c=0
  python -m experiments.lsgan --workdir workdirs/lsgan_cifar --dataset=cifar10 --data_dir=../shared/data
  python -m experiments.lsgan --workdir workdirs/lsgan_cifar_tfds --dataset=tfds:cifar10

Writes to the workdir: config.json, metrics.jsonl, losses.png, samples/step_XXXXXX.png,
checkpoints/, summary.json.
"""

from __future__ import annotations

import sys
from typing import Any

import ml_collections

from jaxgan.train import experiment

PAPER = {"reference": "Mao et al. 2017, arXiv:1611.04076, Eq. 2 and 9", "optimizer": "adam",
         "lr": 2e-4, "beta1": 0.5, "abc": [[0, 1, 1], [-1, 1, 0]], "batch_size": 64}


def get_config() -> ml_collections.ConfigDict:
  c = experiment.base_config()
  c.dataset = "mnist"
  c.net = "dcgan"
  c.g_width = 16  # CPU-friendly (see experiments/dcgan.py); 64 for the full-size DCGAN pair
  c.d_width = 16
  c.loss = "least_squares"
  c.ls_a = 0.0  # D's target for fakes
  c.ls_b = 1.0  # D's target for reals
  c.ls_c = 1.0  # the value G wants D to give its samples
  c.optimizer = "adam"
  c.g_lr = c.d_lr = 2e-4
  c.beta1, c.beta2 = 0.5, 0.999
  c.batch_size = 64
  c.init = "normal"
  c.num_steps = 2000
  c.log_every = 50
  c.sample_every = 250
  c.checkpoint_every = 500
  return c


def main(config: ml_collections.ConfigDict, workdir: str | None = None,
         resume: bool = True) -> tuple[Any, dict[str, Any]]:
  """Trains LSGAN; returns (final GANState, summary)."""
  return experiment.run(config, workdir, resume, name="lsgan", paper=PAPER)


if __name__ == "__main__":
  experiment.cli(get_config, main, sys.argv[1:], default_workdir="workdirs/lsgan")
