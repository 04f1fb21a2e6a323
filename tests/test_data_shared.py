"""Loaders on the shared assets (MNIST, Fashion-MNIST, CIFAR-10 JPEG zip, CelebA crops); skipped without them."""

import zipfile

import numpy as np
import pytest

from jaxgan.data import files
from jaxgan.data import registry
from jaxgan.data.pipeline import Pipeline

# Class counts of the MNIST training set (LeCun et al.), a fingerprint of the canonical files.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture(scope="module")
def mnist_train(assets):
  return registry.get_dataset("mnist", data_dir=str(assets / "data"), split="train")


def test_mnist(assets, mnist_train):
  assert mnist_train.images.shape == (60000, 28, 28, 1) and mnist_train.images.dtype == np.uint8
  np.testing.assert_array_equal(np.bincount(mnist_train.labels), MNIST_TRAIN_COUNTS)
  np.testing.assert_array_equal(mnist_train.labels[:8], [5, 0, 4, 1, 9, 2, 1, 3])
  assert abs(mnist_train.images.mean() / 255 - 0.1307) < 1e-3  # the usual normalization constant
  images, labels = files.load_uint8(str(assets / "data" / "mnist"), split="test")
  assert images.shape == (10000, 28, 28, 1) and labels.shape == (10000,) and labels.dtype == np.int32
  assert np.bincount(labels).tolist()[:2] == [980, 1135]


def test_fashion_mnist_is_balanced(assets):
  for split, num in (("train", 60000), ("test", 10000)):
    dataset = registry.get_dataset("fashion_mnist", data_dir=str(assets / "data" / "fashion_mnist"), split=split)
    assert dataset.images.shape == (num, 28, 28, 1)
    np.testing.assert_array_equal(np.bincount(dataset.labels), [num // 10] * 10)


def test_mnist_at_32x32_rgb_in_float(assets):
  images, labels = files.load(str(assets / "data" / "mnist"), split="test", resolution=32, channels=3, limit=64)
  assert images.shape == (64, 32, 32, 3) and images.dtype == np.float32 and labels.shape == (64,)
  assert images.min() == -1.0 and images.max() <= 1.0
  np.testing.assert_array_equal(images[..., 0], images[..., 2])


def test_cifar10_zip_counts_and_balanced_subset(assets):
  path = assets / "data" / "cifar10_jpeg_q75.zip"
  with zipfile.ZipFile(path) as archive:
    names = [n for n in archive.namelist() if n.endswith(".jpg")]
  assert sum(n.startswith("train/") for n in names) == 50000
  assert sum(n.startswith("test/") for n in names) == 10000
  subset = files.load_source(path, split="train", limit=500, subset="even")
  assert subset.images.shape == (500, 32, 32, 3) and subset.class_names == CIFAR10_CLASSES
  np.testing.assert_array_equal(np.bincount(subset.labels), [50] * 10)
  first = registry.get_dataset("cifar10", data_dir=str(assets / "data"), split="train", limit=20)
  np.testing.assert_array_equal(first.images[0], subset.images[0])  # both start with train/airplane/0001.jpg


def test_cifar10_zip_test_split_decodes_fully(assets):
  dataset = registry.get_dataset("cifar10", data_dir=str(assets / "data"), split="test")
  assert dataset.images.shape == (10000, 32, 32, 3)
  np.testing.assert_array_equal(np.bincount(dataset.labels), [1000] * 10)
  assert 100 < dataset.images.mean() < 140  # CIFAR-10's mean intensity is about 120


@pytest.mark.slow
def test_cifar10_zip_train_split_decodes_fully(assets):
  images, labels = files.load_uint8(str(assets / "data" / "cifar10_jpeg_q75.zip"), split="train")
  assert images.shape == (50000, 32, 32, 3)
  np.testing.assert_array_equal(np.bincount(labels), [5000] * 10)


def test_celeba_folder_center_crop(assets):
  dataset = registry.get_dataset("folder", data_dir=str(assets / "data" / "celeba_32"), resolution=64)
  assert dataset.images.shape == (32, 64, 64, 3) and dataset.labels is None
  gray = files.load_source(assets / "data" / "celeba_32", resolution=(16, 8), channels=1, limit=2)
  assert gray.images.shape == (2, 16, 8, 1)
  with pytest.raises(ValueError, match="218x178"):  # all photos are 218x178 (HxW): a crop-only size check
    files.load_source(assets / "data" / "celeba_32", resolution=256, resize="crop", limit=1)


def test_pipeline_over_mnist(mnist_train):
  data = Pipeline.from_dataset(mnist_train, 256, seed=0, flip=True)
  batch = next(data)
  data.close()
  assert batch["image"].shape == (256, 28, 28, 1) and batch["label"].shape == (256,)
  assert data.steps_per_epoch == 234
