"""Tests of jaxgan.data.files and arrays on tiny files written into tmp_path."""

import gc
import gzip
import pathlib
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from jaxgan.data import arrays
from jaxgan.data import files


def _idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
  header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
  return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _flip_deflate_block_type(gz: bytes) -> bytes:
  """Sets the first deflate block's type bits to 3 (reserved): what a bit flip does to a downloaded file."""
  data = bytearray(gz)
  flags, start = data[3], 10  # the deflate stream follows the 10-byte header and its optional fields (RFC 1952)
  if flags & 0x04:  # FEXTRA
    start += 2 + int.from_bytes(data[start:start + 2], "little")
  for field in (0x08, 0x10):  # FNAME, FCOMMENT: zero-terminated
    if flags & field:
      start = data.index(0, start) + 1
  if flags & 0x02:  # FHCRC
    start += 2
  data[start] |= 0b110
  return bytes(data)


def _write_idx_dir(directory: pathlib.Path, *, gz: bool, num: int = 7, hw: tuple[int, int] = (3, 4)) -> tuple:
  rng = np.random.default_rng(0)
  out = {}
  for split, prefix, n in (("train", "train", num), ("test", "t10k", num - 2)):
    images = rng.integers(0, 256, (n, *hw), dtype=np.uint8)
    labels = rng.integers(0, 10, (n,), dtype=np.uint8)
    for kind, array, rank in (("images", images, 3), ("labels", labels, 1)):
      name = f"{prefix}-{kind}-idx{rank}-ubyte"
      data = _idx_bytes(array)
      if gz:
        (directory / (name + ".gz")).write_bytes(gzip.compress(data))
      else:
        (directory / name).write_bytes(data)
    out[split] = (images, labels)
  return out


# ------------------------------------------------------------------------------------------------------------ idx


@pytest.mark.parametrize("gz", [False, True])
def test_idx_directory_gives_images_and_labels_per_split(tmp_path, gz):
  written = _write_idx_dir(tmp_path, gz=gz)
  for split in ("train", "test"):
    images, labels = files.load_uint8(str(tmp_path), split=split)
    assert images.shape == (len(written[split][0]), 3, 4, 1) and images.dtype == np.uint8
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(images[..., 0], written[split][0])
    np.testing.assert_array_equal(labels, written[split][1])
  images, _ = files.load_uint8(str(tmp_path))  # split defaults to train for idx
  np.testing.assert_array_equal(images[..., 0], written["train"][0])
  floats, _ = files.load(str(tmp_path), split="test")
  assert floats.dtype == np.float32
  np.testing.assert_allclose(floats[..., 0], written["test"][0] / 127.5 - 1, atol=1e-6)


def test_idx_single_file_finds_its_labels(tmp_path):
  written = _write_idx_dir(tmp_path, gz=True)
  images, labels = files.load_uint8(str(tmp_path / "t10k-images-idx3-ubyte.gz"))
  np.testing.assert_array_equal(images[..., 0], written["test"][0])
  np.testing.assert_array_equal(labels, written["test"][1])


def test_read_idx_other_dtypes(tmp_path):
  array = np.arange(-6, 6, dtype=np.int32).reshape(3, 4) * 1000
  (tmp_path / "a.idx").write_bytes(_idx_bytes(array, code=0x0C))
  got = files.read_idx(tmp_path / "a.idx")
  assert got.dtype == np.int32 and got.dtype.isnative
  np.testing.assert_array_equal(got, array)


@pytest.mark.parametrize("data, match", [
  (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", "two zero bytes"),
  (b"\x00\x00\x07\x01" + b"\x00\x00\x00\x01" + b"\x05", "unknown idx type code 0x07"),
  (b"\x00\x00\x08\x00", "0 dimensions"),
  (b"\x00\x00\x08\x03" + b"\x00\x00\x00\x01", "header truncated"),
  (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"\x05\x06", "truncated"),
  (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05\x06", "trailing bytes"),
  (b"\x00\x00", "not an idx file"),
])
def test_corrupt_idx_headers_are_refused(tmp_path, data, match):
  (tmp_path / "x-idx1-ubyte").write_bytes(data)
  with pytest.raises(ValueError, match=match):
    files.read_idx(tmp_path / "x-idx1-ubyte")


def test_idx_label_count_mismatch_and_missing_files(tmp_path):
  _write_idx_dir(tmp_path, gz=False)
  (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
  with pytest.raises(ValueError, match="3 labels but .* has 7 images"):
    files.load_uint8(str(tmp_path), split="train")
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz"):
    files.load_idx(empty, split="test")


# ------------------------------------------------------------------------------------------------ folders, zips


def _make_folder(root: pathlib.Path) -> dict:
  """train/{cat,ant}/ and test/ant/ with PNG (exact) and JPEG files of size 6x8 (HxW); returns the PNG arrays."""
  rng = np.random.default_rng(1)
  exact = {}
  for split, classes in (("train", ("cat", "ant")), ("test", ("ant",))):
    for cls in classes:
      (root / split / cls).mkdir(parents=True)
      for i in (2, 0, 1):  # written out of order
        array = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(array).save(root / split / cls / f"{i}.png")
        exact[f"{split}/{cls}/{i}.png"] = array
      Image.fromarray(array).save(root / split / cls / "3.jpg", quality=95, subsampling=0)  # a copy of 1.png
  (root / "train" / "cat" / ".hidden.png").write_bytes(b"not an image")
  (root / "train" / "notes.txt").write_text("ignored")
  return exact


def _zip_folder(root: pathlib.Path, archive: pathlib.Path) -> None:
  with zipfile.ZipFile(archive, "w") as z:
    for path in sorted(root.rglob("*"), reverse=True):  # member order must not matter
      z.write(path, path.relative_to(root).as_posix())


@pytest.mark.parametrize("as_zip", [False, True])
def test_folder_and_zip_sorted_order_classes_and_pixels(tmp_path, as_zip):
  root = tmp_path / "images"
  exact = _make_folder(root)
  source = root
  if as_zip:
    source = tmp_path / "images.zip"
    _zip_folder(root, source)
  dataset = files.load_source(source, split="train")
  assert dataset.class_names == ("ant", "cat")
  assert dataset.images.shape == (8, 6, 8, 3) and dataset.images.dtype == np.uint8
  np.testing.assert_array_equal(dataset.labels, [0, 0, 0, 0, 1, 1, 1, 1])
  for k, name in enumerate(["train/ant/0.png", "train/ant/1.png", "train/ant/2.png"]):
    np.testing.assert_array_equal(dataset.images[k], exact[name])
  assert np.abs(dataset.images[3].astype(int) - exact["train/ant/1.png"]).mean() < 8  # the JPEG copy, lossy
  again = files.load_source(source, split="train", num_workers=1)
  np.testing.assert_array_equal(again.images, dataset.images)
  whole = files.load_source(source)  # split=None: the classes are the split folders
  assert whole.class_names == ("test", "train") and len(whole) == 12
  first = files.load_source(source, split="train", limit=3)
  np.testing.assert_array_equal(first.images, dataset.images[:3])
  even = files.load_source(source, split="train", limit=2, subset="even")
  np.testing.assert_array_equal(even.labels, [0, 1])


def test_flat_folder_has_no_labels_and_missing_split_is_explained(tmp_path):
  for i in range(3):
    Image.fromarray(np.full((4, 4), i * 50, np.uint8)).save(tmp_path / f"{i}.png")
  images, labels = files.load_uint8(str(tmp_path))
  assert labels is None and images.shape == (3, 4, 4, 1)
  np.testing.assert_array_equal(images[:, 0, 0, 0], [0, 50, 100])
  with pytest.raises(FileNotFoundError, match="no 'train' sub-folder .* split=None"):
    files.load_uint8(str(tmp_path), split="train")


def test_mixed_sizes_need_resolution(tmp_path):
  Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(tmp_path / "a.png")
  Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "b.png")
  with pytest.raises(ValueError, match=r"a.png is 4x6 .* b.png is 5x5; pass resolution=N \(CLI: --resolution=N\)"):
    files.load_uint8(str(tmp_path))
  images, _ = files.load_uint8(str(tmp_path), resolution=2)
  assert images.shape == (2, 2, 2, 3)


def test_empty_folder_and_corrupt_image(tmp_path):
  with pytest.raises(ValueError, match="no images"):
    files.load_uint8(str(tmp_path))
  (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
  with pytest.raises(ValueError, match="cannot read image bad.png"):
    files.load_uint8(str(tmp_path))


def test_mixed_gray_and_rgb_promote_to_rgb_unless_channels_is_set(tmp_path):
  Image.fromarray(np.full((2, 2), 90, np.uint8)).save(tmp_path / "a.png")
  Image.fromarray(np.array([[[255, 0, 0]] * 2] * 2, np.uint8)).save(tmp_path / "b.png")
  images, _ = files.load_uint8(str(tmp_path))
  assert images.shape == (2, 2, 2, 3)
  np.testing.assert_array_equal(images[0, 0, 0], [90, 90, 90])
  gray, _ = files.load_uint8(str(tmp_path), channels=1)
  np.testing.assert_array_equal(gray[:, 0, 0, 0], [90, 76])  # ITU-R 601-2 luma of pure red: 0.299 * 255


# ------------------------------------------------------------------------------------------------------ transforms


def test_center_crop_then_box_resize_numbers():
  # 4x8 gray image: columns 0-1 and 6-7 are cropped away; the central 4x4 has 2x2 blocks 10, 20 / 30, 40.
  image = np.zeros((4, 8), np.uint8)
  image[:, :2], image[:, 6:] = 255, 255
  image[:2, 2:4], image[:2, 4:6], image[2:, 2:4], image[2:, 4:6] = 10, 20, 30, 40
  out = arrays.transform_image(Image.fromarray(image), resolution=(2, 2), resample="box")
  np.testing.assert_array_equal(out[..., 0], [[10, 20], [30, 40]])
  crop = arrays.transform_image(Image.fromarray(image), resolution=(4, 4), resize="crop")
  np.testing.assert_array_equal(crop[..., 0], image[:, 2:6])
  stretch = arrays.transform_image(Image.fromarray(image), resolution=(1, 2), resize="stretch", resample="box")
  halves = np.floor(np.array([image[:, :4].mean(), image[:, 4:].mean()]) + 0.5)  # 138.25, 142.5: PIL rounds up
  np.testing.assert_array_equal(stretch[..., 0], [halves])
  with pytest.raises(ValueError, match="at least 5x5"):
    arrays.transform_image(Image.fromarray(image), resolution=5, resize="crop")


def test_channel_conversion_numbers():
  rgb = Image.fromarray(np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8))
  gray = arrays.transform_image(rgb, channels=1)
  # PIL: L = (299 R + 587 G + 114 B) / 1000, rounded.
  np.testing.assert_array_equal(gray[0, :, 0], [76, 150, 29, 18])
  back = arrays.transform_image(Image.fromarray(gray[..., 0]), channels=3)
  np.testing.assert_array_equal(back[0], np.repeat(gray[0], 3, axis=-1))
  rgba = Image.fromarray(np.array([[[1, 2, 3, 0]]], np.uint8), mode="RGBA")
  np.testing.assert_array_equal(arrays.transform_image(rgba)[0, 0], [1, 2, 3])


def test_transforms_apply_to_array_sources(tmp_path):
  _write_idx_dir(tmp_path, gz=True, hw=(4, 4))
  images, labels = files.load_uint8(str(tmp_path), resolution=2, channels=3, limit=4)
  assert images.shape == (4, 2, 2, 3) and labels.shape == (4,)
  np.testing.assert_array_equal(images[..., 0], images[..., 2])


# ------------------------------------------------------------------------------------------------------------ npz


def test_npz_uint8_float_and_keras_layout(tmp_path):
  rng = np.random.default_rng(2)
  images = rng.integers(0, 256, (5, 3, 3, 3), dtype=np.uint8)
  np.savez(tmp_path / "u8.npz", images=images, labels=np.arange(5))
  got, labels = files.load_uint8(str(tmp_path / "u8.npz"))
  np.testing.assert_array_equal(got, images)
  assert labels.dtype == np.int32
  np.savez(tmp_path / "f.npz", x=arrays.to_float(images))
  got, labels = files.load_uint8(str(tmp_path / "f.npz"))
  np.testing.assert_array_equal(got, images)
  assert labels is None
  np.savez(tmp_path / "keras.npz", x_train=images[:3, ..., 0], y_train=[1, 2, 3], x_test=images[3:, ..., 0],
           y_test=[4, 5])
  got, labels = files.load_uint8(str(tmp_path / "keras.npz"), split="test")
  assert got.shape == (2, 3, 3, 1)
  np.testing.assert_array_equal(labels, [4, 5])


@pytest.mark.parametrize("content, error, match", [
  (dict(images=np.full((2, 3, 3), 2.0)), ValueError, r"must lie in \[-1, 1\]"),
  (dict(images=np.zeros((2, 3, 4, 4), np.uint8)), ValueError, "channels-first"),
  (dict(images=np.zeros((2, 3, 3), np.uint8), labels=np.zeros(3)), ValueError, "3 labels for 2 images"),
  (dict(pictures=np.zeros((2, 3, 3), np.uint8)), ValueError, "pictures"),
])
def test_npz_bad_content(tmp_path, content, error, match):
  np.savez(tmp_path / "bad.npz", **content)
  with pytest.raises(error, match=match):
    files.load_uint8(str(tmp_path / "bad.npz"))


def test_unknown_and_missing_sources(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    files.load_uint8(str(tmp_path / "nothing"))
  (tmp_path / "a.csv").write_text("1,2")
  with pytest.raises(ValueError, match="unknown kind of source"):
    files.load_uint8(str(tmp_path / "a.csv"))


# ------------------------------------------------------------------------------------------- CIFAR-10 (python)


def _write_cifar_python(folder: pathlib.Path) -> dict:
  import pickle
  rng = np.random.default_rng(3)
  folder.mkdir()
  written = {}
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    data = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, 2).tolist()
    with open(folder / name, "wb") as f:
      pickle.dump({b"batch_label": b"x", b"data": data, b"labels": labels}, f, protocol=2)
    written[name] = (data, labels)
  with open(folder / "batches.meta", "wb") as f:
    pickle.dump({b"label_names": [b"airplane", b"automobile"], b"num_vis": 3072}, f, protocol=2)
  return written


def test_cifar10_python_folder_and_tarball(tmp_path):
  import tarfile
  folder = tmp_path / "cifar-10-batches-py"
  written = _write_cifar_python(folder)
  tarball = tmp_path / "cifar-10-python.tar.gz"
  with tarfile.open(tarball, "w:gz") as archive:
    archive.add(folder, arcname="cifar-10-batches-py")
  for source in (folder, tarball):
    train = files.load_source(source)
    assert train.images.shape == (10, 32, 32, 3) and train.class_names == ("airplane", "automobile")
    data, labels = written["data_batch_2"]
    # Row layout: 1024 red values (32 rows of 32), then green, then blue.
    np.testing.assert_array_equal(train.images[2, 0, 1], data[0, [1, 1025, 2049]])
    np.testing.assert_array_equal(train.images[3, 1, 0], data[1, [32, 1056, 2080]])
    np.testing.assert_array_equal(train.labels[2:4], labels)
    test = files.load_source(source, split="test")
    np.testing.assert_array_equal(test.labels, written["test_batch"][1])


@pytest.mark.parametrize("damage, raw_error", [
  (lambda data: data[:len(data) // 2], EOFError),  # truncated download
  (_flip_deflate_block_type, zlib.error),  # bit flip
])
def test_corrupt_cifar10_tarball_says_to_re_download(tmp_path, damage, raw_error):
  import tarfile
  folder = tmp_path / "cifar-10-batches-py"
  _write_cifar_python(folder)
  tarball = tmp_path / "cifar-10-python.tar.gz"
  with tarfile.open(tarball, "w:gz") as archive:
    archive.add(folder, arcname="cifar-10-batches-py")
  tarball.write_bytes(damage(tarball.read_bytes()))
  with pytest.raises(raw_error):  # what gzip itself raises
    gzip.decompress(tarball.read_bytes())
  with pytest.raises(ValueError, match=r"cifar-10-python\.tar\.gz is not a readable cifar-10-python\.tar\.gz "
                     r"\(corrupt or incomplete: .+\); re-download it"):
    files.load_source(tarball)
  with pytest.raises(ValueError) as info:
    files.load_source(tarball)
  assert "\n" not in str(info.value)  # one `error:` line in the CLI


def test_cifar10_tarball_with_a_flipped_pixel_fails_its_crc(tmp_path):
  """A bit flip inside a member's pixel data decompresses cleanly (stored deflate blocks here), and tar has no
  checksum of member data: only the gzip CRC notices, which tarfile never checks when it seeks past the end."""
  import tarfile
  folder = tmp_path / "cifar-10-batches-py"
  written = _write_cifar_python(folder)
  tarball = tmp_path / "cifar-10-python.tar.gz"
  with tarfile.open(tarball, "w:gz", compresslevel=0) as archive:
    archive.add(folder, arcname="cifar-10-batches-py")
  raw = bytearray(tarball.read_bytes())
  # Past the member's tar header, an ASCII byte of the pickled pixels (numpy's protocol-2 pickle stores them as a
  # latin-1 string): flipping its lowest bit leaves a valid pickle with one pixel value changed.
  at = bytes(raw).index(b"cifar-10-batches-py/data_batch_1") + 512 + 2000
  at += next(i for i, b in enumerate(raw[at:]) if 0x20 <= b < 0x7f)
  raw[at] ^= 0x01
  tarball.write_bytes(bytes(raw))
  with tarfile.open(tarball) as archive:  # tarfile alone reads the damaged member without a word
    damaged = files._unpickle(archive.extractfile("cifar-10-batches-py/data_batch_1").read(), "data_batch_1")
  assert np.count_nonzero(np.asarray(damaged["data"]) != written["data_batch_1"][0]) == 1
  with pytest.raises(ValueError, match=r"is not a readable cifar-10-python\.tar\.gz \(corrupt or incomplete: "
                     r"BadGzipFile: CRC check failed\); re-download it"):
    files.load_source(tarball)


def test_cifar10_python_refuses_unsafe_pickles(tmp_path):
  import os
  import pickle

  class Evil:
    def __reduce__(self):
      return (os.system, ("echo pwned",))

  folder = tmp_path / "cifar-10-batches-py"
  _write_cifar_python(folder)
  (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil()}))
  with pytest.raises(ValueError, match="refusing to unpickle"):
    files.load_source(folder)


# ------------------------------------------------------------------------------------------------------- registry


def test_registry_names_paths_and_errors(tmp_path):
  from jaxgan.data import registry
  written = _write_idx_dir(_mkdir(tmp_path / "mnist"), gz=True)
  for data_dir in (tmp_path, tmp_path / "mnist"):  # the dataset folder, or a root with a `mnist` sub-folder
    dataset = registry.get_dataset("mnist", data_dir=str(data_dir), split="test", resolution=2)
    assert dataset.images.shape == (5, 2, 2, 1)
    np.testing.assert_array_equal(dataset.labels, written["test"][1])
  with pytest.raises(ValueError, match="unknown dataset 'mnits'; known: cifar10, fashion_mnist, folder"):
    registry.get_dataset("mnits", data_dir=str(tmp_path))
  with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz.*data_dir"):
    registry.get_dataset("fashion_mnist", data_dir=str(tmp_path))
  with pytest.raises(FileNotFoundError, match="needs its files.*data_dir"):
    registry.get_dataset("fashion_mnist")
  (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
  with pytest.raises(FileNotFoundError, match="not t10k-labels-idx1-ubyte.gz"):
    registry.get_dataset("mnist", data_dir=str(tmp_path), split="test")
  # Refused before anything is read, for every kind of dataset (a tfds one would otherwise read its whole split,
  # then fail in itertools.islice); numpy ints are ints.
  for bad in (0, -1, 2.5):
    for name in ("mnist", "tfds:mnist"):
      with pytest.raises(ValueError, match=rf"limit must be None \(everything\) or an int >= 1, got {bad!r}"):
        registry.get_dataset(name, data_dir=str(tmp_path / "nowhere"), limit=bad)
  with pytest.raises(ValueError, match="subset must be 'first' or 'even', got 'last'"):
    registry.get_dataset("tfds:mnist", limit=3, subset="last")
  assert len(registry.get_dataset("mnist", data_dir=str(data_dir), split="train", limit=np.int64(2))) == 2


def test_registry_cifar10_folder_and_npz(tmp_path):
  from jaxgan.data import registry
  _make_folder(tmp_path / "cifar10")
  dataset = registry.get_dataset("cifar10", data_dir=str(tmp_path), split="test", channels=1)
  assert dataset.images.shape == (4, 6, 8, 1) and dataset.class_names == ("ant",)
  flat = _mkdir(tmp_path / "flat")
  Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(flat / "a.png")
  assert len(registry.get_dataset("folder", data_dir=str(flat))) == 1  # no train/ sub-folder: the whole folder
  with pytest.raises(FileNotFoundError, match="no 'test' sub-folder"):
    registry.get_dataset("folder", data_dir=str(flat), split="test")
  np.savez(tmp_path / "flat" / "d.npz", images=np.zeros((4, 2, 2), np.uint8))
  assert registry.get_dataset("npz", data_dir=str(tmp_path / "flat" / "d.npz")).images.shape == (4, 2, 2, 1)
  with pytest.raises(FileNotFoundError, match="cifar10: found none of"):
    registry.get_dataset("cifar10", data_dir=str(flat))
  # train/ holds ant (4 images) then cat (4): the first 2 are both ants, 2 evenly spaced ones are one of each.
  first = registry.get_dataset("cifar10", data_dir=str(tmp_path), split="train", limit=2)
  even = registry.get_dataset("cifar10", data_dir=str(tmp_path), split="train", limit=2, subset="even")
  full = registry.get_dataset("cifar10", data_dir=str(tmp_path), split="train")
  assert full.class_names == ("ant", "cat") and list(full.labels) == [0] * 4 + [1] * 4
  assert list(first.labels) == [0, 0] and sorted(even.labels) == [0, 1]
  np.testing.assert_array_equal(even.images, full.images[[0, 4]])  # i * N // limit


def _mkdir(path: pathlib.Path) -> pathlib.Path:
  path.mkdir(parents=True)
  return path


# ----------------------------------------------------------------------------------------------------------- tfds


def test_tfds_missing_package_says_how_to_install(monkeypatch):
  import sys
  from jaxgan.data import registry
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # makes `import tensorflow_datasets` fail
  with pytest.raises(ImportError, match=r'pip install -e "\.\[tfds\]"'):
    registry.get_dataset("tfds:cifar10")


class _FakeBuilder:
  """The part of tfds.core.DatasetBuilder that load_tfds uses."""

  def __init__(self, root, prepared, examples):
    self.data_dir = f"{root}/fake/1.0.0"
    self.prepared = prepared
    self.examples = examples
    self.downloads = 0

    class Label:
      names = ["zero", "one", "two"]

    class Info:
      features = {"image": None, "label": Label()}

    self.info = Info()

  def is_prepared(self):
    return self.prepared

  def download_and_prepare(self):
    self.downloads += 1
    self.prepared = True

  def as_dataset(self, split, shuffle_files, read_config):
    assert split == "train[:3]" and shuffle_files is False and read_config == {"try_autocache": False}
    return self.examples


def _fake_tfds(monkeypatch, builder):
  import sys
  import types
  module = types.ModuleType("tensorflow_datasets")
  calls = []

  def make_builder(name, data_dir, try_gcs):
    calls.append((name, data_dir, try_gcs))
    return builder

  module.builder = make_builder
  module.as_numpy = lambda dataset: iter(dataset)
  module.ReadConfig = dict
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", module)
  return calls


def test_tfds_offline_missing_data_and_conversion(monkeypatch, tmp_path):
  from jaxgan.data import tfds as tfds_lib
  examples = [{"image": np.full((4, 4, 1), 10 * i, np.uint8), "label": np.int64(i)} for i in range(3)]
  builder = _FakeBuilder(tmp_path, prepared=False, examples=examples)
  calls = _fake_tfds(monkeypatch, builder)
  with pytest.raises(FileNotFoundError, match=r"not prepared.*download=False.*tfds build fake --data_dir"):
    tfds_lib.load_tfds("fake", split="train[:3]", data_dir=str(tmp_path))
  assert builder.downloads == 0 and calls == [("fake", str(tmp_path), False)]
  dataset = tfds_lib.load_tfds("fake", split="train[:3]", data_dir=str(tmp_path), download=True, limit=2,
                               resolution=2, channels=3)
  assert builder.downloads == 1
  assert dataset.images.shape == (2, 2, 2, 3) and dataset.class_names == ("zero", "one", "two")
  np.testing.assert_array_equal(dataset.images[1], np.full((2, 2, 3), 10))
  np.testing.assert_array_equal(dataset.labels, [0, 1])


# --------------------------------------------------------------------------------------------------- bad inputs


def test_corrupt_zip_names_the_path_and_what_to_do(tmp_path):
  from jaxgan.data import registry
  bad = tmp_path / "notzip.zip"
  bad.write_bytes(b"garbage")
  match = r"notzip\.zip is not a valid zip archive \(corrupt or not a zip\): re-download it"
  with pytest.raises(ValueError, match=match):
    registry.get_dataset("folder", data_dir=str(bad))
  with pytest.raises(ValueError, match=match):
    registry.get_dataset("folder", data_dir=str(bad), split=None)
  with pytest.raises(ValueError, match=match):
    registry.get_dataset("cifar10", data_dir=str(bad))
  with pytest.raises(ValueError, match=match):
    files.load_uint8(str(bad))


@pytest.mark.parametrize("content", [b"garbage", b"PK\x03\x04 truncated", b""])
def test_corrupt_npz_says_so_instead_of_talking_about_pickles(tmp_path, content):
  from jaxgan.data import registry
  bad = tmp_path / "data.npz"
  bad.write_bytes(content)
  match = r"data\.npz is not a valid \.npz file \(corrupt or not written by numpy\.savez\): recreate it"
  with pytest.raises(ValueError, match=match) as info:
    registry.get_dataset("npz", data_dir=str(bad))
  assert "pickle" not in str(info.value)
  with pytest.raises(ValueError, match=match):
    files.load_npz(bad)
  # ... and the file is closed again (np.load leaves it open when the archive cannot be read).
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with pytest.raises(ValueError, match=match):
      files.open_npz(bad)
    del info
    gc.collect()
  assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_npy_array_under_an_npz_name_is_refused(tmp_path):
  path = tmp_path / "single.npz"
  with open(path, "wb") as f:
    np.save(f, np.zeros((2, 3, 3), np.uint8))
  with pytest.raises(ValueError, match=r"not a valid \.npz file.*single \.npy array"):
    files.load_npz(path)


def test_unknown_dataset_name_is_refused_before_looking_for_files():
  from jaxgan.data import registry
  for data_dir in (None, "/nonexistent/path"):
    with pytest.raises(ValueError, match="unknown dataset 'mnsit'; known: cifar10, fashion_mnist, folder, mnist, npz"):
      registry.get_dataset("mnsit", data_dir=data_dir)
  with pytest.raises(ValueError, match="unknown dataset 'mnsit'; known: .*tfds:<name>"):
    registry.check_dataset_name("mnsit")
  with pytest.raises(ValueError, match="use 'tfds:<name>'"):
    registry.check_dataset_name("tfds:")
  registry.check_dataset_name("mnist")
  registry.check_dataset_name("tfds:cifar10")


def test_registered_dataset_is_loaded_and_checked(monkeypatch):
  from jaxgan.data import registry  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # pylint: disable=protected-access
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (10, 12, 12, 1), dtype=np.uint8)
  calls = []

  def loader(*, data_dir, split, resolution, channels, limit, subset):
    calls.append(dict(data_dir=data_dir, split=split, resolution=resolution, channels=channels, limit=limit,
                      subset=subset))
    return arrays.ImageDataset(images, np.arange(10, dtype=np.int32) % 3, source="blobs").take(limit, subset=subset)

  registry.register_dataset("blobs", loader)
  assert "blobs" in registry.dataset_names()
  data = registry.get_dataset("blobs", data_dir="/nowhere", split="test", limit=4, subset="even")
  np.testing.assert_array_equal(data.images, images[arrays.subset_indices(10, 4, "even")])
  assert calls == [dict(data_dir="/nowhere", split="test", resolution=None, channels=None, limit=4, subset="even")]
  # What the loader returns must be what was asked for: a loader that ignores an argument is named.
  with pytest.raises(ValueError, match=r"loader of dataset 'blobs' returned 12x12 images where resolution=8x8 was "
                     r"asked for"):
    registry.get_dataset("blobs", resolution=8)
  with pytest.raises(ValueError, match=r"returned 1-channel images where channels=3"):
    registry.get_dataset("blobs", channels=3)
  registry.register_dataset("raw", lambda **kw: images)
  with pytest.raises(TypeError, match=r"loader of dataset 'raw' returned ndarray, not a jaxgan.data.ImageDataset"):
    registry.get_dataset("raw")
  registry.register_dataset("greedy", lambda **kw: arrays.ImageDataset(images))
  with pytest.raises(ValueError, match=r"returned 10 examples where limit=4"):
    registry.get_dataset("greedy", limit=4)
  for name, match in (("blobs", "'blobs' is taken"), ("tfds:mine", "'tfds:mine' is taken"),
                      ("", "'' is not a non-empty string")):
    with pytest.raises(ValueError, match=match):
      registry.register_dataset(name, loader)
  with pytest.raises(TypeError, match="loader must be callable, got str"):
    registry.register_dataset("other", "blobs.npz")


@pytest.mark.parametrize("damage, raw_error", [
  (_flip_deflate_block_type, zlib.error),  # Error -3 while decompressing data: invalid block type
  (lambda gz: gz[:len(gz) // 2], EOFError),  # truncated download
])
def test_corrupt_gzip_idx_says_to_re_download(tmp_path, damage, raw_error):
  _write_idx_dir(tmp_path, gz=True)
  path = tmp_path / "train-images-idx3-ubyte.gz"
  path.write_bytes(damage(path.read_bytes()))
  with pytest.raises(raw_error):  # what gzip itself raises, so that the test covers that path
    gzip.decompress(path.read_bytes())
  match = r"train-images-idx3-ubyte\.gz: corrupt gzip stream \(.+\); the file is damaged or incomplete: re-download it"
  with pytest.raises(ValueError, match=match):
    files.load_uint8(str(tmp_path), split="train")
  with pytest.raises(ValueError, match=match):
    files.read_idx(path)


def _corrupt_zip_member(archive: pathlib.Path, name: str) -> None:
  """Flips one byte in the middle of member `name`'s data, so that its CRC-32 (or its deflate stream) fails."""
  with zipfile.ZipFile(archive) as z:
    info = z.getinfo(name)
  data = bytearray(archive.read_bytes())
  local = info.header_offset
  name_len, extra_len = int.from_bytes(data[local + 26:local + 28], "little"), int.from_bytes(
    data[local + 28:local + 30], "little")
  start = local + 30 + name_len + extra_len
  data[start + info.compress_size // 2] ^= 0xFF
  archive.write_bytes(bytes(data))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_corrupt_zip_member_names_the_archive_and_the_member(tmp_path, compression):
  from jaxgan.data import registry
  root = tmp_path / "images"
  _make_folder(root)
  archive = tmp_path / "images.zip"
  with zipfile.ZipFile(archive, "w", compression) as z:
    for path in sorted(root.rglob("*")):
      z.write(path, path.relative_to(root).as_posix())
  _corrupt_zip_member(archive, "train/cat/1.png")
  with zipfile.ZipFile(archive) as z, pytest.raises((zipfile.BadZipFile, zlib.error)):
    z.read("train/cat/1.png")  # what zipfile itself raises
  match = (r"images\.zip: member train/cat/1\.png is corrupt \(.+\); the archive is damaged or incomplete: "
           r"re-download it, or re-create it from the original images")
  with pytest.raises(ValueError, match=match):
    files.load_source(archive, split="train")
  with pytest.raises(ValueError, match=match):
    registry.get_dataset("folder", data_dir=str(archive), split="train")
  assert len(files.load_source(archive, split="test")) == 4  # the other members are still readable


@pytest.mark.parametrize("content, split, match", [
  (dict(data=np.zeros((2, 3, 3), np.uint8)), None,
   r"d\.npz: no image array; expected one of the keys \['images', 'x'\], the file has \['data'\]; save the "
   r"images under 'images' \(or 'x'\)"),
  (dict(x_train=np.zeros((2, 3, 3), np.uint8), y_train=np.zeros(2, np.int64)), "test",
   r"d\.npz: no image array for split 'test'; expected one of the keys \['x_test', 'images_test', 'images', 'x'\], "
   r"the file has \['x_train', 'y_train'\]; its splits are \['train'\]: pass one of them as split="),
  (dict(x_train=np.zeros((2, 3, 3), np.uint8), x_test=np.zeros((1, 3, 3), np.uint8)), None,
   r"expected one of the keys \['images', 'x'\], the file has \['x_test', 'x_train'\]; its splits are "
   r"\['test', 'train'\]"),
])
def test_npz_without_the_expected_keys_lists_found_and_expected(tmp_path, content, split, match):
  from jaxgan.data import registry
  np.savez(tmp_path / "d.npz", **content)
  with pytest.raises(ValueError, match=match):
    files.load_npz(tmp_path / "d.npz", split=split)
  with pytest.raises(ValueError, match=match):
    registry.get_dataset("npz", data_dir=str(tmp_path / "d.npz"), split=split)


def test_float_npz_in_zero_one_is_refused_not_brightened(tmp_path):
  images = np.random.default_rng(4).integers(0, 256, (6, 3, 3, 1), dtype=np.uint8)
  images[0, 0, 0], images[-1, -1, -1] = 0, 255
  np.savez(tmp_path / "unit.npz", images=images / 255.0)
  match = (r"unit\.npz\['images'\]: float images lie in \[0, 1\], which looks like \[0, 1\] \(x / 255\), "
           r"but float images must lie in \[-1, 1\].*pass 2 \* x - 1, or uint8 images in \[0, 255\]")
  with pytest.raises(ValueError, match=match):
    files.load_uint8(str(tmp_path / "unit.npz"))
  np.savez(tmp_path / "signed.npz", images=2 * (images / 255.0) - 1)  # what the message asks for
  np.testing.assert_array_equal(files.load_uint8(str(tmp_path / "signed.npz"))[0], images)
  dark = np.linspace(-1, 0, 6 * 9).reshape(6, 3, 3)  # [-1, 0]: legitimate, no value above mid-gray
  np.savez(tmp_path / "dark.npz", images=dark)
  assert files.load_uint8(str(tmp_path / "dark.npz"))[0].max() == 128
