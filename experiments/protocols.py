"""Evaluation protocols of the papers the classics table is compared with: which real split, how many real and
generated images, which Inception preprocessing, which metrics.

A published FID is only comparable with one measured the same way: the number of generated samples biases FID
(Chong & Forsyth 2020, arXiv:1911.07023), and so do the reference split and the resize. Each `Protocol` pins these.

| name       | paper                               | reference (real)      | generated | metrics                 |
|------------|-------------------------------------|-----------------------|-----------|-------------------------|
| lucic2018  | Lucic et al. 2018, arXiv:1711.10337 | the 10k test images   | 10k       | FID                     |
| miyato2018 | Miyato et al. 2018, arXiv:1802.05957| the 10k test images   | 5k        | FID; IS of 10 x 5k      |
| studiogan  | Kang et al. 2023, arXiv:2206.09479  | the 50k train images  | 50k       | FID                     |

All use the TF1 Inception graph's bilinear resize (`mode="tf1"`, TTUR's FID code) and copy grayscale to 3 channels
(done by `jaxgan.metrics.modes.preprocess`). The real-data baseline of a protocol measures real images of the other
split (`baseline_split`, `baseline_num` of them) against the protocol's reference, i.e. the FID a perfect generator
would get from the train/test gap alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Known split sizes of the named datasets (our CIFAR-10 copy has the same counts as the original).
SPLIT_SIZES: dict[str, dict[str, int]] = {
    "mnist": {"train": 60_000, "test": 10_000},
    "fashion_mnist": {"train": 60_000, "test": 10_000},
    "cifar10": {"train": 50_000, "test": 10_000},
}
DATASET_LABELS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "JPEG CIFAR-10"}


class ProtocolError(ValueError):
  """A protocol that cannot be applied as asked (unknown name, a split too small)."""


@dataclasses.dataclass(frozen=True)
class Protocol:
  """How a paper measured its generators.

  Attributes:
    name: the lookup name.
    paper: the citation.
    real_split: the split whose images are the FID reference.
    num_real: reference images (the whole split when equal to its size; else a seeded random subset).
    num_generated: generated samples for FID.
    mode: Inception preprocessing mode (`jaxgan.metrics.modes.MODES`).
    metrics: "fid", and "is" for the Inception Score.
    is_num: generated samples for IS (0 when no IS).
    is_splits: IS is the mean +- std over this many consecutive chunks of `is_num` samples.
    baseline_split: the split measured against the reference in the real-data baseline.
    baseline_num: its images in the baseline.
    description: one line for tables.
  """
  name: str
  paper: str
  real_split: str
  num_real: int
  num_generated: int
  mode: str = "tf1"
  metrics: tuple[str, ...] = ("fid",)
  is_num: int = 0
  is_splits: int = 10
  baseline_split: str = "train"
  baseline_num: int = 10_000
  description: str = ""

  def shrunk(self, num: int) -> "Protocol":
    """The same protocol with every count capped at `num` (smoke or CPU runs: such FIDs are biased upwards and not
    comparable with the paper's; the description says so)."""
    return dataclasses.replace(
        self, num_real=min(self.num_real, num), num_generated=min(self.num_generated, num),
        is_num=min(self.is_num, num), is_splits=min(self.is_splits, 2), baseline_num=min(self.baseline_num, num),
        description=f"{self.description} [reduced: <= {num} images per side]")


PROTOCOLS: dict[str, Protocol] = {
    "lucic2018": Protocol(
        "lucic2018", "Lucic et al. 2018, arXiv:1711.10337", real_split="test", num_real=10_000,
        num_generated=10_000, baseline_split="train", baseline_num=10_000,
        description="FID 10k gen vs 10k test, tf1"),
    "miyato2018": Protocol(
        "miyato2018", "Miyato et al. 2018, arXiv:1802.05957", real_split="test", num_real=10_000,
        num_generated=5_000, metrics=("fid", "is"), is_num=50_000, is_splits=10, baseline_split="train",
        baseline_num=5_000, description="FID 5k gen vs 10k test, IS 10 x 5k, tf1"),
    "studiogan": Protocol(
        "studiogan", "Kang et al. 2023 (StudioGAN), arXiv:2206.09479; Karras et al. 2020, arXiv:2006.06676",
        real_split="train", num_real=50_000, num_generated=50_000, baseline_split="test", baseline_num=10_000,
        description="FID 50k gen vs 50k train, tf1"),
}


def get_protocol(name: str) -> Protocol:
  """The protocol called `name`.

  Raises:
    ProtocolError: unknown name (the message lists the known ones).
  """
  if name not in PROTOCOLS:
    raise ProtocolError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}")
  return PROTOCOLS[name]


@dataclasses.dataclass(frozen=True)
class SampleSpec:
  """Which real images to measure: `num` of split `split` of `dataset` (all of it when `num == size`)."""
  dataset: str
  split: str
  num: int
  size: int

  @property
  def whole(self) -> bool:
    return self.num == self.size

  def describe(self) -> str:
    count = f"{self.num // 1000}k" if self.num >= 1000 and self.num % 1000 == 0 else str(self.num)
    return f"{count} {self.split}"


def split_size(dataset: str, split: str, available: int | None = None) -> int:
  """Images in `split` of `dataset`: `available` when given (the loaded split), else the known size.

  Raises:
    ProtocolError: unknown dataset or split and no `available` count.
  """
  if available is not None:
    return int(available)
  try:
    return SPLIT_SIZES[dataset][split]
  except KeyError:
    raise ProtocolError(f"split {split!r} of dataset {dataset!r} has no known size; known: "
                        f"{', '.join(f'{d}/{s}' for d, v in SPLIT_SIZES.items() for s in v)}") from None


def _spec(protocol: Protocol, dataset: str, split: str, num: int, available: int | None, what: str) -> SampleSpec:
  size = split_size(dataset, split, available)
  if num > size:
    raise ProtocolError(f"protocol {protocol.name} asks for {num} {what} images of {dataset} split {split!r}, "
                        f"which has {size}")
  return SampleSpec(dataset, split, num, size)


def reference_spec(protocol: Protocol, dataset: str, available: int | None = None) -> SampleSpec:
  """The real images a generator is compared with under `protocol`.

  Args:
    protocol: the protocol.
    dataset: a dataset name.
    available: the size of the loaded reference split (None: the known size of the split).
  Raises:
    ProtocolError: the protocol asks for more real images than the split has.
  """
  return _spec(protocol, dataset, protocol.real_split, protocol.num_real, available, "reference")


def baseline_spec(protocol: Protocol, dataset: str, available: int | None = None) -> SampleSpec:
  """The real images of the other split that stand in for generated ones in the real-data baseline.

  Raises:
    ProtocolError: the protocol asks for more images than that split has.
  """
  return _spec(protocol, dataset, protocol.baseline_split, protocol.baseline_num, available, "baseline")


def select(images: np.ndarray, num: int, seed: int) -> np.ndarray:
  """`num` of `images` (N, H, W, C): all of them in order when num == N, else a random subset drawn with `seed`.

  Raises:
    ProtocolError: num > N.
  """
  n = images.shape[0]
  if num > n:
    raise ProtocolError(f"asked for {num} images of a split that has {n}")
  if num == n:
    return images
  index = np.sort(np.random.default_rng(seed).permutation(n)[:num])
  return images[index]
