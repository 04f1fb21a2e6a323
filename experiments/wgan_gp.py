"""WGAN with gradient penalty (Gulrajani et al. 2017, arXiv:1704.00028).

Algorithm 1 of the paper: the Wasserstein critic loss plus lambda * (||grad D(x_hat)|| - 1)^2
at random interpolates x_hat of real and generated images, lambda = 10, n_critic = 5, Adam
with learning rate 1e-4 and betas (0.5, 0.9) for the DCGAN-like nets (their released MNIST and
CIFAR-10 DCGAN code; Algorithm 1's default beta1 is 0), (0, 0.9) for the
ResNets (`--net=gpresnet`, their CIFAR-10 nets, or `resnet`; beta1 = -1 in the config picks this
automatically), batch 64. The nets are 16 wide here, for the CPU: `--g_width=0 --d_width=0` keeps each
net's own width (128 for `gpresnet`). The
critic has no batch norm (the penalty is per example); the DCGAN critic uses layer norm,
the paper's suggested replacement, and the ResNet critic has no normalization.

Run:
  python -m experiments.wgan_gp --workdir workdirs/wgan_gp_mnist              # ../shared/data/mnist
  python -m experiments.wgan_gp --workdir workdirs/wgan_gp_cifar --dataset=cifar10 --net=gpresnet \
      --g_width=0 --d_width=0 --data_dir=../shared/data
  python -m experiments.wgan_gp --workdir workdirs/wgan_gp_cifar_tfds --dataset=tfds:cifar10 --net=gpresnet \
      --g_width=0 --d_width=0

Writes to the workdir: config.json, metrics.jsonl (with d/gradient_penalty and
d/grad_norm_interp), losses.png, samples/step_XXXXXX.png, checkpoints/, summary.json.
"""

from __future__ import annotations

import sys
from typing import Any

import ml_collections

from jaxgan.train import experiment

PAPER = {"reference": "Gulrajani et al. 2017, arXiv:1704.00028, Algorithm 1", "optimizer": "adam",
         "lr": 1e-4, "betas": [0.5, 0.9], "betas_resnet": [0.0, 0.9], "lambda": 10, "n_critic": 5,
         "batch_size": 64}


def get_config() -> ml_collections.ConfigDict:
  c = experiment.base_config()
  c.dataset = "mnist"
  c.net = "dcgan"
  c.g_width = 16  # CPU-friendly (see experiments/dcgan.py); 64 for the full-size DCGAN pair
  c.d_width = 16
  c.d_norm = "layer"  # no batch norm in the critic (Sec. 4); ignored by nets without the option
  c.loss = "wasserstein"
  c.regularizer = "gradient_penalty"
  c.reg_weight = 10.0  # lambda
  c.optimizer = "adam"
  c.g_lr = c.d_lr = 1e-4
  c.beta1 = -1.0  # -1: 0.0 for ResNet nets, 0.5 otherwise (the paper's two settings)
  c.beta2 = 0.9
  c.d_steps = 5  # n_critic
  c.batch_size = 64
  c.init = "normal"
  c.num_steps = 2000
  c.log_every = 50
  c.sample_every = 250
  c.checkpoint_every = 500
  return c


def main(config: ml_collections.ConfigDict, workdir: str | None = None,
         resume: bool = True) -> tuple[Any, dict[str, Any]]:
  """Trains WGAN-GP; returns (final GANState, summary)."""
  c = ml_collections.ConfigDict(config.to_dict())
  resnet = "resnet" in c.net
  if c.beta1 < 0:
    c.beta1 = 0.0 if resnet else 0.5
  if resnet and c.d_norm:
    c.d_norm = ""  # the ResNet critic has no normalization to choose
  return experiment.run(c, workdir, resume, name="wgan_gp", paper=PAPER)


if __name__ == "__main__":
  experiment.cli(get_config, main, sys.argv[1:], default_workdir="workdirs/wgan_gp")
