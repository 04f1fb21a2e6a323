"""DCGAN (Radford, Metz & Chintala 2015, arXiv:1511.06434) on MNIST, Fashion-MNIST or CIFAR-10.

The paper's training settings (Sec. 4): Adam with learning rate 2e-4 and beta1 = 0.5,
mini-batches of 128, weights from N(0, 0.02), z of 100 dimensions, the non-saturating loss,
batch norm in G and D (not on G's output and D's input layer), no pooling. Images are
scaled to [-1, 1] (tanh output). The nets are `jaxgan.nets.dcgan` at the data's resolution
(28 for MNIST-like, 32 for CIFAR-10, 64). Class-conditional with `--conditional=true`
(label embedding in G, projection D, Miyato & Koyama 2018, arXiv:1802.05637).

The defaults are sized for a CPU: width 16 in G and D (the paper's 64x64 model is
width 128 in G; `--g_width=64 --d_width=64` is the common full-size MNIST/CIFAR-10 model)
and batch 64 instead of the paper's 128 (`--batch_size=128`). On MNIST this runs at 3-5
steps/s on 2 shared AMD EPYC cores (loaded by other jobs): digit-like strokes by step
500, mostly recognisable digits by step ~1200 (about 6 minutes), cleaner by 2000 (the
default length, about 10 minutes).

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
  c.g_width = 16  # CPU-friendly (3-5 steps/s on 2 CPU cores); 64 is the common full-size model
  c.d_width = 16
  c.loss = "non_saturating"
  c.optimizer = "adam"
  c.g_lr = c.d_lr = 2e-4
  c.beta1, c.beta2 = 0.5, 0.999
  c.batch_size = 64  # the paper: 128 (--batch_size=128); 64 halves the CPU time per step
  c.latent_dim = 100
  c.init, c.init_std = "normal", 0.02
  c.num_steps = 2000
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
