"""Every row of experiments.classics against a table written out from the papers (and the code released with them)
that the row cites: optimizer, learning rates, Adam's betas, D steps per G step, batch, latent, run length,
regularizer and loss coefficients, and the published figure the row is compared with. Configs only, nothing is
built or traced."""

import pytest

from experiments import classics

# ------------------------------------------------------------------------------------------ the papers' settings

# Radford et al. 2015 (DCGAN, arXiv:1511.06434), Sec. 4 (Details of adversarial training): Adam, learning rate
# 0.0002, beta1 0.5; beta2 is Adam's default 0.999 (Kingma & Ba 2015, arXiv:1412.6980, Algorithm 1). One D step per
# G step (Goodfellow et al. 2014, arXiv:1406.2661, Algorithm 1 with k = 1).
DCGAN_ADAM = dict(optimizer="adam", g_lr=0.0002, d_lr=0.0002, beta1=0.5, beta2=0.999, d_steps=1)
# Arjovsky et al. 2017 (WGAN, arXiv:1701.07875), Algorithm 1: alpha = 0.00005, c = 0.01, m = 64, n_critic = 5, with
# RMSProp; the code released with it (martinarjovsky/WassersteinGAN, PyTorch) uses torch.optim.RMSprop's default
# smoothing constant alpha = 0.99.
WGAN_RMSPROP = dict(optimizer="rmsprop", g_lr=0.00005, d_lr=0.00005, rmsprop_decay=0.99, weight_clip=0.01,
                    d_steps=5)
# Gulrajani et al. 2017 (WGAN-GP, arXiv:1704.00028), Algorithm 1: lambda = 10, n_critic = 5, alpha = 0.0001,
# beta2 = 0.9; beta1 = 0.5 as in the MNIST code released with it (gan_mnist.py: AdamOptimizer(learning_rate=1e-4,
# beta1=0.5, beta2=0.9) for G and D).
WGAN_GP_ADAM = dict(optimizer="adam", g_lr=0.0001, d_lr=0.0001, beta1=0.5, beta2=0.9, d_steps=5,
                    regularizer="gradient_penalty", reg_weight=10.0)
# Miyato et al. 2018 (SN-GAN, arXiv:1802.05957), Table 1: the optimizer settings of the standard-CNN experiments.
MIYATO_A = dict(optimizer="adam", g_lr=0.0001, d_lr=0.0001, beta1=0.5, beta2=0.9, d_steps=5)  # setting A (WGAN-GP's)
MIYATO_B = dict(optimizer="adam", g_lr=0.0001, d_lr=0.0001, beta1=0.5, beta2=0.999, d_steps=1)  # setting B
# Gulrajani et al. 2017, App. F / gan_cifar_resnet.py (LR = 2e-4, beta1 = 0, beta2 = 0.9, N_CRITIC = 5, DECAY,
# BATCH_SIZE = 64, GEN_BS_MULTIPLE = 2); Miyato et al. 2018 train their ResNet with the same optimizer.
RESNET_ADAM = dict(optimizer="adam", g_lr=0.0002, d_lr=0.0002, beta1=0.0, beta2=0.9, d_steps=5,
                   lr_schedule="linear", batch_size=64, g_batch_multiplier=2, latent_dim=128)

# Lucic et al. 2018 (arXiv:1711.10337): MNIST and Fashion-MNIST at batch 64, z of 64 dimensions ~ U(-1, 1), 20
# epochs of the 60,000 training images read by D: 20 * 60,000 / 64 = 18,750 D steps, i.e. 18,750 G steps with
# one D step per G step and 18,750 / 5 = 3,750 with five. The InfoGAN nets (their Table 7), LeakyReLU(0.2) in G as
# in the code released with the study (google/compare_gan).
LUCIC_28 = dict(net="infogan", g_activation="leaky_relu", batch_size=64, latent_dim=64, latent_dist="uniform",
                lr_schedule="constant", g_batch_multiplier=1)
STEPS_28 = {1: 18_750, 5: 3_750}

PAPER_28 = {
    "mm": dict(DCGAN_ADAM, loss="minimax", regularizer="none"),
    "ns": dict(DCGAN_ADAM, loss="non_saturating", regularizer="none"),
    # Mao et al. 2017 (LSGAN, arXiv:1611.04076): the 0-1 coding a = 0 (fake), b = 1 (real), c = 1 (what G wants).
    "ls": dict(DCGAN_ADAM, loss="least_squares", ls_a=0.0, ls_b=1.0, ls_c=1.0, regularizer="none"),
    "wgan": dict(WGAN_RMSPROP, loss="wasserstein", regularizer="none"),
    "wgan_gp": dict(WGAN_GP_ADAM, loss="wasserstein", d_norm="layer", weight_clip=0.0),
    # Kodali et al. 2017 (DRAGAN, arXiv:1705.07215): lambda = 10 on the non-saturating loss; Adam 1e-4 (0.5, 0.9)
    # and one D step, as the row's reference cites; layer norm in the critic, as for WGAN-GP's per-example penalty.
    "dragan": dict(optimizer="adam", g_lr=0.0001, d_lr=0.0001, beta1=0.5, beta2=0.9, d_steps=1,
                   loss="non_saturating", regularizer="dragan", reg_weight=10.0, d_norm="layer"),
    # Miyato et al. 2018: hinge loss (Eq. 17), spectral norm, setting B.
    "hinge_sn": dict(MIYATO_B, loss="hinge", net="sninfogan", regularizer="none"),
}

PAPER_CIFAR = {
    # StudioGAN (Kang et al. 2023, arXiv:2206.09479), src/configs/CIFAR10/DCGAN.yaml and its defaults: the deep_conv
    # nets, 2 D steps per G step, 200k G steps, z 128, batch 64, Adam 2e-4 (0.5, 0.999), orthogonal init, flips.
    "cifar_dcgan_ns": dict(net="deepconv", loss="non_saturating", optimizer="adam", g_lr=0.0002, d_lr=0.0002,
                           beta1=0.5, beta2=0.999, d_steps=2, num_steps=200_000, latent_dim=128, batch_size=64,
                           init="orthogonal", flip=True, lr_schedule="constant", g_batch_multiplier=1),
    # Miyato et al. 2018, Sec. 4: standard CNN, 100k G updates, batch 64, z 128; setting B.
    "cifar_sndcgan_ns": dict(MIYATO_B, net="sndcgan", loss="non_saturating", num_steps=100_000, batch_size=64,
                             latent_dim=128, regularizer="none", lr_schedule="constant", g_batch_multiplier=1),
    "cifar_sndcgan_hinge": dict(MIYATO_B, net="sndcgan", loss="hinge", num_steps=100_000, batch_size=64,
                                latent_dim=128, regularizer="none", lr_schedule="constant", g_batch_multiplier=1),
    # Miyato et al. 2018, Table 2's WGAN-GP on the standard CNN (no SN): setting A, lambda 10 (Gulrajani et al.).
    "cifar_wgan_gp_cnn": dict(MIYATO_A, net="cnn", loss="wasserstein", regularizer="gradient_penalty",
                              reg_weight=10.0, num_steps=100_000, batch_size=64, latent_dim=128,
                              lr_schedule="constant", g_batch_multiplier=1),
    # Gulrajani et al. 2017, gan_cifar_resnet.py: ITERS = 100000, lambda 10 (gradient_penalty = 10 * ...).
    "cifar_wgan_gp_resnet": dict(RESNET_ADAM, net="gpresnet", loss="wasserstein", regularizer="gradient_penalty",
                                 reg_weight=10.0, num_steps=100_000),
    # Miyato et al. 2018: ResNet, hinge loss, 50k G updates (the SN-GAN projection code's CIFAR-10 config).
    "cifar_sngan_resnet_hinge": dict(RESNET_ADAM, net="snresnet", loss="hinge", regularizer="none",
                                     num_steps=50_000),
}


def _paper_table() -> dict[str, dict]:
  table = {}
  for dataset, prefix in (("mnist", "mnist"), ("fashion_mnist", "fashion")):
    for key, fields in PAPER_28.items():
      row = dict(LUCIC_28, **fields, dataset=dataset)
      row["num_steps"] = STEPS_28[row["d_steps"]]
      table[f"{prefix}_{key}"] = row
  for name, fields in PAPER_CIFAR.items():
    table[name] = dict(fields, dataset="cifar10")
  return table


PAPER = _paper_table()


def test_the_table_has_every_row():
  assert set(PAPER) == set(classics.row_names())


@pytest.mark.parametrize("name", sorted(PAPER))
def test_row_hyper_parameters_are_the_papers(name):
  c = classics.get_config(name)
  expected = PAPER[name]
  got = {k: c[k] for k in expected}
  assert got == expected, {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}


def test_28x28_run_length_is_20_epochs_of_d_reads():
  """num_steps * d_steps * batch_size = 20 epochs of 60,000 images (Lucic et al. 2018) for every 28x28 row."""
  for name in classics.row_names():
    c = classics.get_config(name)
    if c.dataset in ("mnist", "fashion_mnist"):
      assert c.num_steps * c.d_steps * c.batch_size == 20 * 60_000, name


# ------------------------------------------------------------------------------------------ published figures

# Lucic et al. 2018, Table 2: best FID of the large-scale search (mean, std); the rows the table compares with.
LUCIC_FID = {
    "mnist_mm": (9.8, 0.9), "mnist_ns": (6.8, 0.5), "mnist_ls": (7.8, 0.6), "mnist_wgan": (6.7, 0.4),
    "mnist_wgan_gp": (20.3, 5.0),
    "fashion_ns": (26.5, 1.6), "fashion_ls": (30.7, 2.2), "fashion_wgan": (21.5, 1.6), "fashion_wgan_gp": (24.5, 2.1),
}
CIFAR_PUBLISHED = {
    "cifar_dcgan_ns": {"fid": 48.29},  # StudioGAN (Kang et al. 2023), DCGAN on CIFAR-10, 50k vs train
    "cifar_sndcgan_ns": {"fid": 29.3},  # Miyato et al. 2018, Table 2, SN-GANs, standard CNN
    "cifar_sndcgan_hinge": {"fid": 25.5},  # Miyato et al. 2018, Table 2, SN-GANs with the hinge loss, standard CNN
    "cifar_wgan_gp_cnn": {"fid": 40.2},  # Miyato et al. 2018, Table 2, WGAN-GP, standard CNN
    "cifar_wgan_gp_resnet": {"is": 7.86},  # Gulrajani et al. 2017, Table 3, unsupervised ResNet (no FID published)
    "cifar_sngan_resnet_hinge": {"fid": 21.7, "is": 8.22},  # Miyato et al. 2018, Table 2, SN-GANs ResNet (hinge)
}


@pytest.mark.parametrize("name", sorted(LUCIC_FID) + sorted(CIFAR_PUBLISHED))
def test_published_figures_are_the_papers(name):
  published = classics.get_row(name).published
  if name in LUCIC_FID:
    mean, std = LUCIC_FID[name]
    expected = {"fid": mean, "fid_std": std}
  else:
    expected = CIFAR_PUBLISHED[name]
  assert {k: v for k, v in published.items() if k != "source"} == expected
  assert published["source"]
