"""Tests of jaxgan.data.paired: AB and two-folder pairs, unpaired domains, class subsets, unpair, and the jitter.

Tiny PNG images are written to tmp_path (lossless, so loaded pixels are checked exactly); the shared facades,
MNIST/Fashion-MNIST and CIFAR-10 zip are used when present (skipped otherwise, see conftest.py).
"""
import pathlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxgan.data import paired
from jaxgan.data.arrays import ImageDataset

RNG = np.random.default_rng(0)


def _save(path: pathlib.Path, array: np.ndarray) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(array).save(path)


def _ab_folder(root: pathlib.Path, num: int = 3, h: int = 8, w: int = 8):
  """AB images: A (left) random, B (right) its negative, so that pairing and sides can be checked."""
  a = RNG.integers(0, 256, (num, h, w, 3), dtype=np.uint8)
  b = 255 - a
  for i in range(num):
    _save(root / f"{i}.png", np.concatenate([a[i], b[i]], axis=1))
  return a, b


# ------------------------------------------------------------------------------------------------------------ pairs


def test_split_ab_halves_and_direction():
  images = np.arange(2 * 3 * 8 * 1, dtype=np.uint8).reshape(2, 3, 8, 1)
  a, b = paired.split_ab(images)
  np.testing.assert_array_equal(a, images[:, :, :4])
  np.testing.assert_array_equal(b, images[:, :, 4:])
  b2, a2 = paired.split_ab(images, "BtoA")
  np.testing.assert_array_equal(a2, a)
  np.testing.assert_array_equal(b2, b)
  with pytest.raises(ValueError, match=r"split_ab: AB images must hold A and B side by side, .* 3x7 \(HxW\): the "
                                       r"width is odd"):
    paired.split_ab(images[:, :, :7])
  with pytest.raises(ValueError, match=r"split_ab: direction must be one of \('AtoB', 'BtoA'\) \(which side G reads\), "
                                       r"got 'AB'"):
    paired.split_ab(images, "AB")


def test_load_paired_ab(tmp_path):
  a, b = _ab_folder(tmp_path / "train")
  data = paired.load_paired_ab(tmp_path, split="train")
  assert data.paired and len(data) == 3
  np.testing.assert_array_equal(data.a.images, a)  # files sorted by name: 0, 1, 2
  np.testing.assert_array_equal(data.b.images, b)
  swapped = paired.load_paired_ab(tmp_path, split="train", direction="BtoA", limit=2)
  np.testing.assert_array_equal(swapped.a.images, b[:2])
  np.testing.assert_array_equal(swapped.b.images, a[:2])
  # resolution resizes each half after the split (PIL bicubic, as the reference)
  small = paired.load_paired_ab(tmp_path, split="train", resolution=4, channels=1)
  expected = np.asarray(Image.fromarray(a[1]).convert("L").resize((4, 4), Image.Resampling.BICUBIC))
  np.testing.assert_array_equal(small.a.images[1, ..., 0], expected)
  assert small.b.images.shape == (3, 4, 4, 1) and small.a.images.dtype == np.uint8


def test_load_paired_ab_errors(tmp_path):
  _save(tmp_path / "odd" / "0.png", RNG.integers(0, 256, (4, 7, 3), dtype=np.uint8))
  with pytest.raises(ValueError, match=r"must hold A and B side by side, in halves of equal width, but are 4x7"):
    paired.load_paired_ab(tmp_path / "odd")
  with pytest.raises(ValueError, match=r"load_paired_ab: direction must be one of \('AtoB', 'BtoA'\)"):
    paired.load_paired_ab(tmp_path / "odd", direction="atob")
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match=r"no images .* found in"):
    paired.load_paired_ab(tmp_path / "empty")
  _save(tmp_path / "sizes" / "0.png", np.zeros((4, 8, 3), np.uint8))
  _save(tmp_path / "sizes" / "1.png", np.zeros((4, 10, 3), np.uint8))
  with pytest.raises(ValueError, match=r"AB images must all have one size"):
    paired.load_paired_ab(tmp_path / "sizes", resolution=4)


def test_load_paired_folders_matches_names(tmp_path):
  a = RNG.integers(0, 256, (3, 6, 6, 3), dtype=np.uint8)
  for i, name in enumerate(["x/10", "2", "1"]):  # a sub-folder, and names that sort as strings
    _save(tmp_path / "A" / f"{name}.png", a[i])
    _save(tmp_path / "B" / f"{name}.bmp", 255 - a[i])  # another extension: matched without it
  data = paired.load_paired_folders(tmp_path / "A", tmp_path / "B")
  assert data.names == ("1", "2", "x/10") and data.paired
  np.testing.assert_array_equal(data.a.images, a[[2, 1, 0]])
  np.testing.assert_array_equal(data.b.images, 255 - data.a.images)
  swapped = paired.load_paired_folders(tmp_path / "A", tmp_path / "B", direction="BtoA", resolution=3)
  assert swapped.a.images.shape == (3, 3, 3, 3)
  np.testing.assert_array_equal(swapped.a.images[0], np.asarray(Image.fromarray(255 - a[2]).resize(
      (3, 3), Image.Resampling.BICUBIC)))


def test_load_paired_folders_errors(tmp_path):
  for name in ("1", "2", "3"):
    _save(tmp_path / "A" / f"{name}.png", np.zeros((4, 4, 3), np.uint8))
  for name in ("1", "2", "4"):
    _save(tmp_path / "B" / f"{name}.png", np.zeros((4, 4, 3), np.uint8))
  with pytest.raises(ValueError, match=r"file names of .*A and .*B do not match: 1 only in A \['3'\], 1 only in B "
                                       r"\['4'\]"):
    paired.load_paired_folders(tmp_path / "A", tmp_path / "B")
  (tmp_path / "E").mkdir()
  with pytest.raises(ValueError, match=r"load_paired_folders: folder B .*E has no images \(.jpg"):
    paired.load_paired_folders(tmp_path / "A", tmp_path / "E")
  with pytest.raises(FileNotFoundError, match=r"folder A .*missing does not exist"):
    paired.load_paired_folders(tmp_path / "missing", tmp_path / "A")
  _save(tmp_path / "A" / "3.bmp", np.zeros((4, 4, 3), np.uint8))
  with pytest.raises(ValueError, match=r"several images of one name with different extensions: \['3'\]"):
    paired.load_paired_folders(tmp_path / "A", tmp_path / "B")
  with pytest.raises(ValueError, match="direction must be one of"):
    paired.load_paired_folders(tmp_path / "A", tmp_path / "B", direction="B2A")


# ------------------------------------------------------------------------------------------------------------ unpaired


def test_load_unpaired_folders(tmp_path):
  a = RNG.integers(0, 256, (3, 5, 5, 3), dtype=np.uint8)
  b = RNG.integers(0, 256, (2, 7, 7, 1), dtype=np.uint8)
  for i in range(3):
    _save(tmp_path / "A" / f"{i}.png", a[i])
  for i in range(2):
    _save(tmp_path / "B" / f"{i}.png", b[i, ..., 0])
  data = paired.load_unpaired(tmp_path / "A", tmp_path / "B")
  assert not data.paired and len(data) == 3
  np.testing.assert_array_equal(data.a.images, a)
  np.testing.assert_array_equal(data.b.images, b)
  same = paired.load_unpaired(tmp_path / "A", tmp_path / "B", resolution=4, channels=3)
  assert same.a.images.shape == (3, 4, 4, 3) and same.b.images.shape == (2, 4, 4, 3)
  (tmp_path / "E").mkdir()
  with pytest.raises(ValueError, match=r"load_unpaired: domain B \(.*E\): no images"):
    paired.load_unpaired(tmp_path / "A", tmp_path / "E")
  with pytest.raises(FileNotFoundError, match=r"load_unpaired: domain A \(.*nowhere\): .* does not exist"):
    paired.load_unpaired(tmp_path / "nowhere", tmp_path / "A")


def test_load_unpaired_classes_from_folders(tmp_path):
  images = {}
  for cls, num in (("cat", 3), ("dog", 2), ("fish", 1)):
    images[cls] = RNG.integers(0, 256, (num, 4, 4, 3), dtype=np.uint8)
    for i in range(num):
      _save(tmp_path / "train" / cls / f"{i}.png", images[cls][i])
  data = paired.load_unpaired_classes(tmp_path, "dog", "cat")
  np.testing.assert_array_equal(data.a.images, images["dog"])
  np.testing.assert_array_equal(data.b.images, images["cat"])
  by_index = paired.load_unpaired_classes(tmp_path, 2, 0, limit=2)  # classes in sorted name order
  np.testing.assert_array_equal(by_index.a.images, images["fish"])
  np.testing.assert_array_equal(by_index.b.images, images["cat"][:2])
  with pytest.raises(ValueError, match=r"unknown class 'horse' in .*; known: cat, dog, fish"):
    paired.load_unpaired_classes(tmp_path, "horse", "cat")
  with pytest.raises(ValueError, match=r"class_a and class_b are both 'cat'"):
    paired.load_unpaired_classes(tmp_path, "cat", "cat")


def test_load_unpaired_classes_by_label(tmp_path):
  """Sources without class folders (here an npz with labels) are filtered by label."""
  images = RNG.integers(0, 256, (10, 4, 4, 1), dtype=np.uint8)
  labels = np.array([0, 1, 2, 1, 0, 2, 2, 1, 0, 0])
  np.savez(tmp_path / "d.npz", images=images, labels=labels)
  data = paired.load_unpaired_classes(tmp_path / "d.npz", 2, 0, split=None)
  np.testing.assert_array_equal(data.a.images, images[labels == 2])
  np.testing.assert_array_equal(data.b.images, images[labels == 0])
  with pytest.raises(ValueError, match=r"unknown class 'cat' in .*; known: labels 0..2"):
    paired.load_unpaired_classes(tmp_path / "d.npz", "cat", 0, split=None)
  with pytest.raises(ValueError, match=r"class 7 has no images"):
    paired.load_unpaired_classes(tmp_path / "d.npz", 7, 0, split=None)


def test_unpair_takes_the_domains_from_disjoint_pairs():
  ids = np.arange(7, dtype=np.uint8)
  a = np.broadcast_to(ids[:, None, None, None], (7, 2, 2, 3)).copy()
  data = paired.TranslationDataset(ImageDataset(a), ImageDataset(a + 100), True)
  un = paired.unpair(data, seed=3)
  assert not un.paired and len(un.a) == 3 and len(un.b) == 4
  a_ids, b_ids = set(un.a.images[:, 0, 0, 0]), set(un.b.images[:, 0, 0, 0] - 100)
  assert not a_ids & b_ids and a_ids | b_ids == set(ids)
  np.testing.assert_array_equal(paired.unpair(data, seed=3).a.images, un.a.images)  # deterministic
  assert set(paired.unpair(data, seed=4).a.images[:, 0, 0, 0]) != a_ids  # and seeded
  with pytest.raises(ValueError, match="already unpaired"):
    paired.unpair(un)


# ------------------------------------------------------------------------------------------------------------ jitter


def test_jitter_sizes():
  assert paired.jitter_sizes(256) == (286, 256)
  assert paired.jitter_sizes(64) == (72, 64)
  assert paired.jitter_sizes(128) == (143, 128)
  with pytest.raises(ValueError, match=r"crop_size must be an int >= 1, got 0"):
    paired.jitter_sizes(0)


def _find_crop(big, small):
  """(top, left, flipped) such that small is big's crop there (flipped left-right), or None."""
  k = small.shape[0]
  for top in range(big.shape[0] - k + 1):
    for left in range(big.shape[1] - k + 1):
      window = big[top:top + k, left:left + k]
      for flipped, candidate in ((False, window), (True, window[:, ::-1])):
        if np.array_equal(candidate, small):
          return top, left, flipped
  return None


def test_jitter_crops_and_flips_both_sides_alike():
  n = 24
  a = jax.random.uniform(jax.random.key(0), (n, 10, 10, 3), minval=-1, maxval=1)
  b = -a[..., :1]  # the other side of each pair: fewer channels, tied to a pixel by pixel
  def jitter_8(key, a, b):
    return paired.jitter(key, a, b, crop_size=8, load_size=10)

  fn = jax.jit(chex.assert_max_traces(jitter_8, n=1))
  out_a, out_b = fn(jax.random.key(1), a, b)
  out_a2, _ = fn(jax.random.key(2), a, b)  # no retrace
  assert out_a.shape == (n, 8, 8, 3) and out_b.shape == (n, 8, 8, 1)
  np.testing.assert_array_equal(out_b, -out_a[..., :1])  # same crop and flip
  found = [_find_crop(np.asarray(a[i]), np.asarray(out_a[i])) for i in range(n)]
  assert all(f is not None for f in found)  # load_size == H: an exact crop, maybe flipped
  assert len({f[:2] for f in found}) > 3 and {f[2] for f in found} == {False, True}
  assert not np.array_equal(out_a, out_a2)
  no_flip = paired.jitter(jax.random.key(1), a, crop_size=8, load_size=10, flip=False)[0]
  assert all(_find_crop(np.asarray(a[i]), np.asarray(no_flip[i]))[2] is False for i in range(n))


def test_jitter_resize_is_pils_bicubic():
  """With load_size == crop_size there is no crop: the output is the bicubic resize (PIL's, to 1e-5), maybe
  flipped."""
  x = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 12, 12, 1)).astype(np.float32)
  (out,) = paired.jitter(jax.random.key(0), jnp.asarray(x), crop_size=16, load_size=16)
  for i in range(2):
    expected = np.asarray(Image.fromarray(x[i, ..., 0], mode="F").resize((16, 16), Image.Resampling.BICUBIC))
    got = np.asarray(out[i, ..., 0])
    assert min(np.abs(got - expected).max(), np.abs(got[:, ::-1] - expected).max()) < 1e-5
  (default,) = paired.jitter(jax.random.key(0), jnp.asarray(x))  # crop_size = H = 12, load 13
  assert default.shape == (2, 12, 12, 1)


def test_jitter_errors():
  x = jnp.zeros((2, 8, 8, 3))
  with pytest.raises(ValueError, match=r"need ints 1 <= crop_size <= load_size, got crop_size=9, load_size=8"):
    paired.jitter(jax.random.key(0), x, crop_size=9, load_size=8)
  with pytest.raises(ValueError, match=r"images must be \(N, H, W, C\) with the same N, H, W"):
    paired.jitter(jax.random.key(0), x, jnp.zeros((2, 8, 6, 3)))
  with pytest.raises(ValueError, match="give at least one batch"):
    paired.jitter(jax.random.key(0))


# ------------------------------------------------------------------------------------------------------------ shared


def test_facades_labels_to_photo(assets):
  root = assets / "data" / "facades"
  if not root.is_dir():
    pytest.skip(f"no facades in {assets}")
  data = paired.load_paired_ab(root, split="test", direction="BtoA", limit=2)
  assert data.a.images.shape == data.b.images.shape == (2, 256, 256, 3)
  first = sorted(p.name for p in (root / "test").iterdir())[0]
  with Image.open(root / "test" / first) as image:
    ab = np.asarray(image.convert("RGB"))
  assert ab.shape == (256, 512, 3)
  np.testing.assert_array_equal(data.b.images[0], ab[:, :256])  # the photo is the left half
  np.testing.assert_array_equal(data.a.images[0], ab[:, 256:])  # the label map the right one
  small = paired.load_paired_ab(root, split="test", direction="BtoA", limit=2, resolution=64)
  assert small.a.images.shape == (2, 64, 64, 3)
  un = paired.unpair(small)
  assert len(un.a) == 1 and len(un.b) == 1


def test_mnist_to_fashion_mnist(assets):
  mnist, fashion = assets / "data" / "mnist", assets / "data" / "fashion_mnist"
  if not (mnist.is_dir() and fashion.is_dir()):
    pytest.skip(f"no MNIST / Fashion-MNIST in {assets}")
  data = paired.load_unpaired(mnist, fashion, split="test", limit=16)
  assert data.a.images.shape == data.b.images.shape == (16, 28, 28, 1)
  assert not np.array_equal(data.a.images, data.b.images)
  digits = paired.load_unpaired_classes(mnist, 3, 8, split="test", limit=5, resolution=32)
  assert digits.a.images.shape == (5, 32, 32, 1)


def test_cifar_horse_to_deer(assets):
  archive = assets / "data" / "cifar10_jpeg_q75.zip"
  if not archive.is_file():
    pytest.skip(f"no CIFAR-10 zip in {assets}")
  data = paired.load_unpaired_classes(archive, "horse", "deer", split="test", limit=8)
  assert data.a.images.shape == data.b.images.shape == (8, 32, 32, 3)
  assert "horse" in data.a.source and "deer" in data.b.source
  with pytest.raises(ValueError, match=r"unknown class 'zebra' .*; known: airplane, automobile, bird"):
    paired.load_unpaired_classes(archive, "zebra", "horse", split="test")
