"""DCGAN (Radford, Metz & Chintala 2015, arXiv:1511.06434) on MNIST, Fashion-MNIST or CIFAR-10.

The paper's training settings (Sec. 4): Adam with learning rate 2e-4 and beta1 = 0.5,
mini-batches of 128, weights from N(0, 0.02), z of 100 dimensions, the non-saturating loss,
batch norm in G and D (not on G's output and D's input layer), no pooling. Images are
scaled to [-1, 1] (tanh output). The nets are `jaxgan.nets.dcgan` at the data's resolution
(28 for MNIST-like, 32 for CIFAR-10, 64). Class-conditional with `--conditional=true`
(label embedding in G, projection D, Miyato & Koyama 2018, arXiv:1802.05637).

The default width (G 32, D 32) is narrower than the paper's 64x64 model (128/1024) so MNIST
trains on a laptop CPU: recognisable digits after about 500 steps (~3 minutes on 2 shared
CPU cores); `--g_width=64 --d_width=64` is the usual full-size MNIST/CIFAR model.

Run:
  python -m experiments.dcgan --workdir workdirs/dcgan_mnist                 # ../shared/data/mnist
  python -m experiments.dcgan --workdir workdirs/dcgan_fashion --dataset=fashion_mnist
  python -m experiments.dcgan --workdir workdirs/dcgan_cifar --dataset=cifar10 --flip=true \
      --g_width=64 --d_width=64 --data_dir=../shared/data   # cifar10*.zip, a train/<class>/ folder, or python tarball
  python -m experiments.dcgan --workdir workdirs/dcgan_cifar_tfds --dataset=tfds:cifar10
  python -m experiments.dcgan --workdir workdirs/cdcgan_mnist --conditional=true

Writes to the workdir: config.json, metrics.jsonl, losses.png, samples/step_XXXXXX.png
(fixed latents; one class per column when conditional), checkpoints/, summary.json.
"""

from __future__ import annotations

import sys
from typing import Any

import ml_collections

from jaxgan.train import experiment

PAPER = {"reference": "Radford et al. 2015, arXiv:1511.06434", "optimizer": "adam",
         "lr": 2e-4, "beta1": 0.5, "batch_size": 128, "init_std": 0.02, "latent_dim": 100}


def get_config() -> ml_collections.ConfigDict:
  c = experiment.base_config()
  c.dataset = "mnist"  # mnist, fashion_mnist, cifar10, folder, npz or tfds:<name> (e.g. tfds:cifar10)
  c.net = "dcgan"
  c.g_width = 32  # CPU-friendly; 64 is the common full-size DCGAN at 28/32 pixels
  c.d_width = 32
  c.loss = "non_saturating"
  c.optimizer = "adam"
  c.g_lr = c.d_lr = 2e-4
  c.beta1, c.beta2 = 0.5, 0.999
  c.batch_size = 128
  c.latent_dim = 100
  c.init, c.init_std = "normal", 0.02
  c.num_steps = 5000
  c.log_every = 50
  c.sample_every = 250
  c.checkpoint_every = 500
  return c


def main(config: ml_collections.ConfigDict, workdir: str | None = None,
         resume: bool = True) -> tuple[Any, dict[str, Any]]:
  """Trains DCGAN; returns (final GANState, summary)."""
  return experiment.run(config, workdir, resume, name="dcgan", paper=PAPER)


if __name__ == "__main__":
  experiment.cli(get_config, main, sys.argv[1:], default_workdir="workdirs/dcgan")
