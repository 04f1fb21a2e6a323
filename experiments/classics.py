"""The classic GANs, one preset per table row of issue 7 ("Reproduce the classics").

MNIST and Fashion-MNIST rows follow the large-scale study of Lucic et al. 2018 ("Are GANs Created Equal?",
arXiv:1711.10337) and the code released with it (google/compare_gan, 2018): InfoGAN-style nets (Chen et al. 2016,
arXiv:1606.03657; `jaxgan.nets.infogan`) with LeakyReLU(0.2) in G as in that code, a 64-d latent ~ U(-1, 1),
batch 64, 20 epochs counted in D steps (18,750 D steps; G steps = D steps / n_critic), FID of 10k samples
against the 10k test images. Each row takes its loss' own paper for the optimizer settings: that is the choice of
configuration per loss, fixed from the papers before any test FID was seen and not revised after (issue 26); seeds
are added, settings are not tuned on test FID. Lucic et al. selected one configuration per loss and dataset with a
hyper-parameter search (learning rate, Adam's beta1, n_critic, batch norm in D on or off; the selected settings are
not published) and report the mean +- std of reruns of it (`LUCIC_FID`), so a row here is one point of their search
space, not their selected point. CIFAR-10 rows follow Miyato et al. 2018 (SN-GAN, arXiv:1802.05957) and Gulrajani et al. 2017 (WGAN-GP,
arXiv:1704.00028); the DCGAN row is StudioGAN's DCGAN (Kang et al. 2023, arXiv:2206.09479), compared with its
figure.

Where the 28x28 rows differ from the compare_gan code (read 2026-11-26; the published FIDs come from it), beyond
each row's optimizer: its LSGAN squares D's sigmoid output, where ours squares D's raw output as Mao et al. do; its
WGAN uses Adam, ours Arjovsky et al.'s RMSProp; its WGAN-GP and DRAGAN critics have no normalization and Adam's
beta2 0.999, ours layer norm and 0.9 (Gulrajani et al.); its DRAGAN penalizes the gradient of D's sigmoid output;
its batch norm keeps running averages with decay 0.999 and eps 1e-3 (ours 0.9 and 1e-5); its images are in [0, 1]
(ours [-1, 1], which changes what a gradient norm of 1 means in the penalties).

Where jaxgan differs from the papers (all written per row in `ROWS[...].note`):
  * Our CIFAR-10 is a JPEG (quality 75) copy: its FIDs are not comparable with published ones, so the tables say
    "JPEG CIFAR-10" and list the real-train-vs-real-test FID under the same protocol next to them.
  * hinge + SN on MNIST / Fashion is not in Lucic et al.: it uses the InfoGAN pair with a spectrally normalized
    critic (`sninfogan`) and Miyato et al.'s setting B optimizer.
  * The ResNet rows decay the learning rate linearly to 0 (Gulrajani et al.; the SN-GAN projection code of
    Miyato & Koyama 2018 does the same over 50k G steps). The two ResNet rows draw 128 latents per G update with D
    batch 64, as both papers' code does (`g_batch_multiplier=2`); the other rows draw D's batch.
  * "Epochs" count real images read: one G step reads `d_steps * batch_size` images.

Run one row (the benchmark runner `python -m benchmarks.reproduce` runs, evaluates and tabulates several):
  python -m experiments.classics --row mnist_ns --workdir workdirs/mnist_ns
  python -m experiments.classics --row cifar_sngan_resnet_hinge --workdir workdirs/sngan --data_dir=../shared/data
  python -m experiments.classics --list

Time: an MNIST row (18,750 G steps of the InfoGAN pair at batch 64, 3,750 for the n_critic = 5 rows) is a GPU
job. On one H200 (2026-11-26), with seven rows training side by side, each took 207-265 s to train and 13-34 s
to score (2 x 10k samples, G and its weight average); on the development machine's 2 CPU cores a `mnist_ns` step
took 349 ms with the cores idle (benchmarks/results/cpu_2026-11-26/cpu_convs.json: 1.8 h for the row, before any
FID), and on 2026-12-06, the cores shared with other jobs, 2.7 s and a `fashion_wgan_gp` G step 60.7 s
(benchmarks/results/cpu_2026-12-06/cpu_timings_steps.json).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import ml_collections

from jaxgan.train import experiment

LUCIC = "Lucic et al. 2018, arXiv:1711.10337"
MIYATO = "Miyato et al. 2018, arXiv:1802.05957"
_EPOCHS_28 = 20  # Lucic et al.: 20 epochs on MNIST and Fashion-MNIST
_TRAIN_28 = 60_000


@dataclasses.dataclass(frozen=True)
class Row:
  """One table row: a dataset, a model preset and the published figure it is compared with.

  Attributes:
    name: the row's name, e.g. "mnist_ns".
    dataset: "mnist", "fashion_mnist" or "cifar10".
    protocol: the evaluation protocol's name (see `experiments.protocols.PROTOCOLS`).
    fields: config fields set on top of the dataset defaults.
    reference: the papers the hyper-parameters come from.
    published: the published figures ({"fid": mean, "fid_std": std, "is": ..., "source": ...}); empty when no
      paper reports this row under this protocol.
    note: how this row differs from the paper.
  """
  name: str
  dataset: str
  protocol: str
  fields: dict[str, Any]
  reference: str
  published: dict[str, Any] = dataclasses.field(default_factory=dict)
  note: str = ""


def _steps(epochs: int, batch_size: int, d_steps: int, num_train: int = _TRAIN_28) -> int:
  """G steps that read `epochs` passes over the training set (each G step reads d_steps * batch_size)."""
  return max(1, round(epochs * num_train / (batch_size * d_steps)))


# Per-loss settings for the 28x28 rows: each loss' own paper's optimizer (batch 64 for all, Lucic et al.).
_ADAM_DCGAN = dict(optimizer="adam", g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999, d_steps=1)
_LOSSES_28: dict[str, tuple[dict[str, Any], str]] = {
    "mm": (dict(loss="minimax", **_ADAM_DCGAN),
           "Goodfellow et al. 2014, arXiv:1406.2661 (minimax); Adam 2e-4, beta1 0.5 of Radford et al. 2015"),
    "ns": (dict(loss="non_saturating", **_ADAM_DCGAN),
           "Goodfellow et al. 2014, arXiv:1406.2661 (non-saturating); Adam 2e-4, beta1 0.5 of Radford et al. 2015"),
    "ls": (dict(loss="least_squares", ls_a=0.0, ls_b=1.0, ls_c=1.0, **_ADAM_DCGAN),
           "Mao et al. 2017, arXiv:1611.04076, Eq. 2 with (a, b, c) = (0, 1, 1); Adam 2e-4, beta1 0.5"),
    "wgan": (dict(loss="wasserstein", optimizer="rmsprop", g_lr=5e-5, d_lr=5e-5, weight_clip=0.01, d_steps=5),
             "Arjovsky et al. 2017, arXiv:1701.07875, Algorithm 1: RMSProp 5e-5, clip 0.01, n_critic 5"),
    "wgan_gp": (dict(loss="wasserstein", regularizer="gradient_penalty", reg_weight=10.0, optimizer="adam",
                     g_lr=1e-4, d_lr=1e-4, beta1=0.5, beta2=0.9, d_steps=5, d_norm="layer"),
                "Gulrajani et al. 2017, arXiv:1704.00028, Algorithm 1: lambda 10, n_critic 5, Adam 1e-4, beta2 "
                "0.9; beta1 0.5 of their released MNIST code (gan_mnist.py; Algorithm 1's default is 0); critic "
                "with layer norm instead of batch norm"),
    "dragan": (dict(loss="non_saturating", regularizer="dragan", reg_weight=10.0, optimizer="adam", g_lr=1e-4,
                    d_lr=1e-4, beta1=0.5, beta2=0.9, d_steps=1, d_norm="layer"),
               "Kodali et al. 2017, arXiv:1705.07215: lambda 10, perturbation 0.5 std(x), Adam 1e-4 (0.5, 0.9); "
               "critic with layer norm (a per-example penalty)"),
    "hinge_sn": (dict(loss="hinge", net="sninfogan", optimizer="adam", g_lr=1e-4, d_lr=1e-4,
                      beta1=0.5, beta2=0.999, d_steps=1),
                 f"{MIYATO}: hinge loss (Eq. 17), spectral norm, setting B of Table 1 (Adam 1e-4, (0.5, 0.999), "
                 "n_dis 1)"),
}
# Lucic et al. 2018, Table 2 (FID, 10k generated vs the 10k test images): for each loss and dataset, the mean +- std
# over reruns with other seeds of the one configuration their hyper-parameter search selected, scoring G itself (no
# weight average). MNIST MM/NS/LS/WGAN/WGAN-GP and Fashion NS/LS/WGAN/WGAN-GP as listed in issue 7; DRAGAN, MM-GAN on
# Fashion-MNIST and BEGAN as quoted from that table by Dai & Wipf 2019 (arXiv:1903.05789, Table 1) and Zhang &
# Khoreva 2019 (arXiv:1901.10422, Table 2), both 10k test vs 10k generated. BEGAN has no row here (no BEGAN loss in
# jaxgan yet); its figures are context for the table.
LUCIC_LOSSES: dict[str, str] = {"mm": "MM-GAN", "ns": "NS-GAN", "ls": "LSGAN", "wgan": "WGAN", "wgan_gp": "WGAN-GP",
                                "dragan": "DRAGAN", "began": "BEGAN"}
LUCIC_FID: dict[tuple[str, str], tuple[float, float]] = {
    ("mnist", "mm"): (9.8, 0.9), ("mnist", "ns"): (6.8, 0.5), ("mnist", "ls"): (7.8, 0.6),
    ("mnist", "wgan"): (6.7, 0.4), ("mnist", "wgan_gp"): (20.3, 5.0), ("mnist", "dragan"): (7.6, 0.4),
    ("mnist", "began"): (13.1, 1.0),
    ("fashion_mnist", "mm"): (29.6, 1.6), ("fashion_mnist", "ns"): (26.5, 1.6), ("fashion_mnist", "ls"): (30.7, 2.2),
    ("fashion_mnist", "wgan"): (21.5, 1.6), ("fashion_mnist", "wgan_gp"): (24.5, 2.1),
    ("fashion_mnist", "dragan"): (27.7, 1.2), ("fashion_mnist", "began"): (22.9, 0.9),
}
_QUOTED = {("mnist", "dragan"), ("fashion_mnist", "dragan"), ("fashion_mnist", "mm"), ("mnist", "began"),
           ("fashion_mnist", "began")}


def lucic_source(dataset: str, loss: str) -> str:
  """Where the Lucic et al. figure of `loss` on `dataset` comes from (a key of `LUCIC_FID`)."""
  if (dataset, loss) in _QUOTED:
    return (f"{LUCIC}, Table 2, as quoted by Dai & Wipf 2019 (arXiv:1903.05789, Table 1) and Zhang & Khoreva 2019 "
            "(arXiv:1901.10422, Table 2): mean +- std over reruns of the selected configuration")
  return f"{LUCIC}, Table 2: mean +- std over reruns of the configuration their search selected"


def lucic_best(dataset: str) -> tuple[str, float, float]:
  """(loss key, mean, std) of the loss with the lowest Lucic et al. FID on `dataset`."""
  loss, (mean, std) = min(((k, v) for (d, k), v in LUCIC_FID.items() if d == dataset), key=lambda kv: kv[1][0])
  return loss, mean, std


def _rows_28() -> list[Row]:
  rows = []
  for dataset, prefix in (("mnist", "mnist"), ("fashion_mnist", "fashion")):
    for key, (fields, reference) in _LOSSES_28.items():
      fields = dict(fields)
      fields.setdefault("net", "infogan")
      fields.update(batch_size=64, latent_dim=64, latent_dist="uniform", g_activation="leaky_relu",
                    dataset=dataset)
      fields["num_steps"] = _steps(_EPOCHS_28, 64, fields["d_steps"])
      published = {}
      if (dataset, key) in LUCIC_FID:
        mean, std = LUCIC_FID[(dataset, key)]
        published = {"fid": mean, "fid_std": std, "source": lucic_source(dataset, key)}
      note = "InfoGAN nets (Lucic et al. Table 7, LeakyReLU G as in their code), z 64 ~ U(-1, 1), batch 64, 20 epochs"
      if key == "hinge_sn":
        note = "InfoGAN G, spectrally normalized InfoGAN critic without batch norm; not in Lucic et al."
      rows.append(Row(f"{prefix}_{key}", dataset, "lucic2018", fields, f"{LUCIC} (protocol, nets); {reference}",
                      published, note))
  return rows


def _rows_cifar() -> list[Row]:
  # G's weight average ramps its half-life up as StyleGAN2-ADA's CIFAR-10 config does (ema_rampup 0.05: 0.05 t
  # updates at update t, 693 from t = 13,860 on), so that a time-boxed run of a few thousand updates is not averaged
  # with G's initial weights (0.999^3000 = 5% of them without it). Training does not depend on it.
  avg = dict(ema_rampup=0.05)
  # Miyato et al. 2018, Sec. 4: standard CNN (SNDCGAN) 100k G updates, batch 64, z 128.
  snd = dict(avg, dataset="cifar10", net="sndcgan", g_width=0, d_width=0, latent_dim=128, batch_size=64,
             optimizer="adam", g_lr=1e-4, d_lr=1e-4, beta1=0.5, beta2=0.999, d_steps=1, num_steps=100_000)
  # Miyato et al. 2018 / Gulrajani et al. 2017: ResNet, Adam 2e-4 (0, 0.9), n_dis 5, batch 64; both papers' code
  # initializes the weights Glorot-uniform, gain sqrt(2) in the residual blocks' 3x3 convs (init="glorot").
  res = dict(avg, dataset="cifar10", g_width=0, d_width=0, latent_dim=128, batch_size=64, optimizer="adam",
             g_lr=2e-4, d_lr=2e-4, beta1=0.0, beta2=0.9, d_steps=5, init="glorot", lr_schedule="linear")
  jpeg = "JPEG CIFAR-10 (q75): not comparable with the published figure; see the real-data baseline"
  return [
      Row("cifar_dcgan_ns", "cifar10", "studiogan",
          dict(avg, dataset="cifar10", net="deepconv", g_width=0, d_width=0, loss="non_saturating", latent_dim=128,
               batch_size=64, optimizer="adam", g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999, d_steps=2,
               num_steps=200_000, init="orthogonal", flip=True),
          "StudioGAN's DCGAN (Kang et al. 2023, arXiv:2206.09479; the src/configs/CIFAR10/DCGAN.yaml released with "
          "it: the deep_conv nets, 2 D steps per G step, 200k G steps; its defaults: z 128, batch 64, Adam 2e-4 "
          "(0.5, 0.999), orthogonal init, random flips), after Radford et al. 2015, arXiv:1511.06434",
          {"fid": 48.29, "source": "StudioGAN (Kang et al. 2023), DCGAN on CIFAR-10, 50k vs train"},
          f"{jpeg}; StudioGAN's DCGAN is Miyato et al.'s standard CNN with batch norm and ReLU in D and D's last "
          "map sum-pooled (`deepconv`), not Radford et al.'s net; we score the final G (and its weight average) "
          "where StudioGAN's tables may report the best checkpoint"),
      Row("cifar_sndcgan_ns", "cifar10", "miyato2018", dict(snd, loss="non_saturating"),
          f"{MIYATO}, standard CNN with SN, setting B of Table 1",
          {"fid": 29.3, "source": f"{MIYATO}, Table 2 (SN-GANs, standard CNN)"}, jpeg),
      Row("cifar_sndcgan_hinge", "cifar10", "miyato2018", dict(snd, loss="hinge"),
          f"{MIYATO}, standard CNN with SN and hinge loss (Eq. 17), setting B of Table 1",
          {"fid": 25.5, "source": f"{MIYATO}, Table 2 (SN-GANs hinge, standard CNN)"}, jpeg),
      Row("cifar_wgan_gp_cnn", "cifar10", "miyato2018",
          dict(snd, net="cnn", loss="wasserstein", regularizer="gradient_penalty", reg_weight=10.0, beta2=0.9,
               d_steps=5),
          f"Gulrajani et al. 2017, arXiv:1704.00028 (lambda 10, n_critic 5, Adam 1e-4 (0.5, 0.9)); {MIYATO}'s "
          "standard CNN without SN and its 100k G steps",
          {"fid": 40.2, "source": f"{MIYATO}, Table 2 (WGAN-GP, standard CNN)"}, jpeg),
      Row("cifar_wgan_gp_resnet", "cifar10", "miyato2018",
          dict(res, net="gpresnet", loss="wasserstein", regularizer="gradient_penalty", reg_weight=10.0,
               num_steps=100_000, g_batch_multiplier=2),
          "Gulrajani et al. 2017, arXiv:1704.00028, Sec. 5 and App. F (ResNet, lambda 10, n_critic 5, Adam 2e-4 "
          "(0, 0.9) decayed linearly to 0, 100k G steps)",
          {"is": 7.86, "source": "Gulrajani et al. 2017, Table 3 (unsupervised ResNet; no FID published)"},
          f"{jpeg}; G and D 128 wide, D mean-pooled, 128 latents per G update with D batch 64, as in the code "
          "released with the paper (gan_cifar_resnet.py); its uniform dequantization noise on real images is not "
          "added"),
      Row("cifar_sngan_resnet_hinge", "cifar10", "miyato2018",
          dict(res, net="snresnet", loss="hinge", num_steps=50_000, g_batch_multiplier=2),
          f"{MIYATO}, ResNet with SN and hinge loss, Adam 2e-4 (0, 0.9), n_dis 5, 50k G steps, lr decayed "
          "linearly to 0 (as in the SN-GAN projection code's unconditional CIFAR-10 config)",
          {"fid": 21.7, "is": 8.22, "source": f"{MIYATO}, Table 2 (SN-GANs ResNet, hinge)"},
          f"{jpeg}; G draws 128 latents per update, D 64 per step, and D's head has no bias, as in the SN-GAN "
          "code"),
  ]


ROWS: dict[str, Row] = {r.name: r for r in _rows_28() + _rows_cifar()}


def row_names() -> list[str]:
  """Every row's name, in table order."""
  return list(ROWS)


def expand_rows(text: str) -> list[str]:
  """Comma-separated row names and groups (all, mnist, fashion, cifar) -> row names, in order, each once.

  Raises:
    ExperimentError: an unknown name (the message lists the known rows).
  """
  groups = {"all": row_names(), **{g: [n for n in row_names() if n.startswith(f"{g}_")]
                                   for g in ("mnist", "fashion", "cifar")}}
  rows: list[str] = []
  for name in (t.strip() for t in text.split(",") if t.strip()):
    for row in groups.get(name, [name]):
      get_row(row)
      if row not in rows:
        rows.append(row)
  return rows


def get_row(name: str) -> Row:
  """The row called `name`.

  Raises:
    experiment.ExperimentError: unknown name (the message lists the known ones).
  """
  if name not in ROWS:
    raise experiment.ExperimentError(f"unknown row {name!r}; known rows: {', '.join(ROWS)}")
  return ROWS[name]


def get_config(row: str = "mnist_ns") -> ml_collections.ConfigDict:
  """The experiment runner's config for one row (`experiment.base_config()` plus the row's fields).

  Args:
    row: a name of `ROWS`.
  Returns:
    A ConfigDict with the row's hyper-parameters; also `row` (its name) and `protocol`.
  Raises:
    experiment.ExperimentError: unknown row.
  """
  r = get_row(row)
  c = experiment.base_config()
  c.row = r.name  # which preset this is (written into config.json and the results)
  c.protocol = r.protocol  # how reproduce.py evaluates it
  c.init, c.init_std = "normal", 0.02  # N(0, 0.02) (Radford et al.), unless the row says "default"
  # G's weight average (Yazici et al. 2019, arXiv:1806.04498) is kept beside G; training does not depend on it.
  # benchmarks.reproduce scores G (the paper's figure) and the average separately.
  c.ema_decay = 0.999
  c.log_every = 100
  c.sample_every = 1000
  c.checkpoint_every = 2000
  if r.fields.get("loss") == "least_squares":
    c.ls_a, c.ls_b, c.ls_c = 0.0, 1.0, 1.0  # fields read by experiment.build_loss
  for k, v in r.fields.items():
    c[k] = v
  return c


def main(config: ml_collections.ConfigDict, workdir: str | None = None,
         resume: bool = True) -> tuple[Any, dict[str, Any]]:
  """Trains the row's GAN; returns (final GANState, summary)."""
  r = get_row(config.row)
  return experiment.run(config, workdir, resume, name=f"classics/{r.name}", paper=_paper(r))


def main_together(configs: list[ml_collections.ConfigDict],
                  workdirs: list[str | None]) -> tuple[list[Any], list[dict[str, Any]]]:
  """Trains seeds of one row side by side (`experiment.run_together`); returns (final states, summaries)."""
  r = get_row(configs[0].row)
  return experiment.run_together(configs, workdirs, name=f"classics/{r.name}", paper=_paper(r))


def _paper(r: Row) -> dict[str, Any]:
  return {"reference": r.reference, "published": r.published, "protocol": r.protocol, "note": r.note}


def _cli(argv: list[str]) -> None:
  if "--list" in argv:
    for r in ROWS.values():
      print(f"{r.name:28s} {r.dataset:14s} {r.protocol:11s} {r.reference}")
    return
  row = "mnist_ns"
  rest = []
  it = iter(argv)
  for a in it:
    if a == "--row":
      row = next(it, row)
    elif a.startswith("--row="):
      row = a.split("=", 1)[1]
    else:
      rest.append(a)
  try:
    get_row(row)
  except experiment.ExperimentError as e:
    sys.exit(f"error: {e}")
  experiment.cli(lambda: get_config(row), main, rest, default_workdir=f"workdirs/{row}")


if __name__ == "__main__":
  _cli(sys.argv[1:])
