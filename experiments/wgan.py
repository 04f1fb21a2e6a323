"""Wasserstein GAN with weight clipping (Arjovsky, Chintala & Bottou 2017, arXiv:1701.07875).

Algorithm 1 of the paper: the critic maximizes E[D(x)] - E[D(G(z))] (jaxgan's `wasserstein`
loss), its weights are clipped to [-0.01, 0.01] after every update (`clip_params`), it takes
n_critic = 5 updates per generator update, both players use RMSProp with learning rate
5e-5, mini-batches of 64. The nets are the DCGAN pair (the paper's main model; its critic
keeps batch norm). Every critic update reads its own 64 real images, so a step reads 320.

Run:
  python -m experiments.wgan --workdir workdirs/wgan_mnist                    # ../shared/data/mnist
  python -m experiments.wgan --workdir workdirs/wgan_cifar --dataset=cifar10 --data_dir=../shared/data
  python -m experiments.wgan --workdir workdirs/wgan_cifar_tfds --dataset=tfds:cifar10

Writes to the workdir: config.json, metrics.jsonl (d_loss is minus the critic's estimate of
the Wasserstein distance), losses.png, samples/step_XXXXXX.png, checkpoints/, summary.json.
"""

from __future__ import annotations

import sys
from typing import Any

import ml_collections

from jaxgan.train import experiment

PAPER = {"reference": "Arjovsky et al. 2017, arXiv:1701.07875, Algorithm 1", "optimizer": "rmsprop",
         "lr": 5e-5, "clip": 0.01, "n_critic": 5, "batch_size": 64}


def get_config() -> ml_collections.ConfigDict:
  c = experiment.base_config()
  c.dataset = "mnist"
  c.net = "dcgan"
  c.g_width = 16  # CPU-friendly (see experiments/dcgan.py); 64 for the full-size DCGAN pair
  c.d_width = 16
  c.loss = "wasserstein"
  c.optimizer = "rmsprop"
  c.g_lr = c.d_lr = 5e-5
  c.weight_clip = 0.01  # c in Algorithm 1
  c.d_steps = 5  # n_critic
  c.batch_size = 64  # m, per critic update
  c.init = "normal"
  c.num_steps = 2000
  c.log_every = 50
  c.sample_every = 250
  c.checkpoint_every = 500
  return c


def main(config: ml_collections.ConfigDict, workdir: str | None = None,
         resume: bool = True) -> tuple[Any, dict[str, Any]]:
  """Trains WGAN; returns (final GANState, summary)."""
  return experiment.run(config, workdir, resume, name="wgan", paper=PAPER)


if __name__ == "__main__":
  experiment.cli(get_config, main, sys.argv[1:], default_workdir="workdirs/wgan")
