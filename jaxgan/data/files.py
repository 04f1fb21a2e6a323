"""Image datasets from files: idx(.gz) (MNIST, Fashion-MNIST), image folders, zip archives of images, and npz.

Every loader returns an `ImageDataset` whose images are `(N, H, W, C) uint8 in [0, 255]`; `load` converts them to
the library's `(N, H, W, C) float32 in [-1, 1]`. The order is deterministic: idx and npz keep the file's order,
folders and zips are sorted by path. Labels are int32; for folders and zips the class of an image is the first
sub-folder under the split folder (or the root), and classes are numbered in sorted name order.

Example:
  >>> images, labels = load_uint8("data/mnist", split="test")          # (10000, 28, 28, 1) uint8, (10000,) int32
  >>> images, labels = load("cifar10.zip", split="train", limit=1000)   # (1000, 32, 32, 3) float32 in [-1, 1]
"""

from __future__ import annotations

import gzip
import io
import os
import pathlib
import pickle
import tarfile
import zipfile
import zlib
from collections.abc import Sequence

import numpy as np
from PIL import Image

from jaxgan import _npz
from jaxgan.data import arrays
from jaxgan.data.arrays import ImageDataset

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")

# idx type codes (third byte of the magic number) -> big-endian numpy dtypes.
_IDX_DTYPES = {
  0x08: np.dtype(">u1"),
  0x09: np.dtype(">i1"),
  0x0B: np.dtype(">i2"),
  0x0C: np.dtype(">i4"),
  0x0D: np.dtype(">f4"),
  0x0E: np.dtype(">f8"),
}
# split -> file-name prefix, as distributed by the MNIST and Fashion-MNIST authors.
_IDX_PREFIX = {"train": "train", "test": "t10k", "t10k": "t10k"}

PathLike = str | os.PathLike


# ----------------------------------------------------------------------------------------------------------- idx


_GZIP_ERRORS = (OSError, EOFError, zlib.error)  # truncated, bad CRC or header, corrupt deflate data


def _gunzip(data: bytes) -> bytes:
  """`data`, decompressed when it is a gzip stream (its magic, whatever the file name says), the whole stream at
  once so that its CRC is checked; raises one of `_GZIP_ERRORS` when it is damaged."""
  return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _read_maybe_gzip(path: pathlib.Path) -> bytes:
  """The bytes of `path`, decompressed when it is gzipped.

  Raises:
    ValueError: a gzip stream that is truncated (EOFError), fails its CRC or has a bad header (OSError), or holds
      corrupt deflate data (zlib.error, e.g. after a bit flip); the message says to re-download the file.
  """
  with open(path, "rb") as f:
    data = f.read()
  try:
    return _gunzip(data)
  except _GZIP_ERRORS as e:
    raise ValueError(f"{path}: corrupt gzip stream ({e}); the file is damaged or incomplete: re-download "
                     "it") from e


def read_idx(path: PathLike) -> np.ndarray:
  """Reads one idx file (gzipped or not) into a numpy array of its declared dtype and shape.

  The idx header is 4 magic bytes `0, 0, type, ndim`, then `ndim` big-endian uint32 sizes, then the data in
  big-endian order. All of it is validated.

  Args:
    path: an idx file, e.g. `train-images-idx3-ubyte.gz`.
  Returns:
    An array with the file's shape, in native byte order (uint8 for MNIST images and labels).
  Raises:
    ValueError: bad magic, unknown type code, zero dimensions, or a data size that does not match the header.
  """
  path = pathlib.Path(path)
  data = _read_maybe_gzip(path)
  if len(data) < 4:
    raise ValueError(f"{path}: not an idx file ({len(data)} bytes, the header alone is at least 4)")
  zero0, zero1, code, ndim = data[:4]
  if zero0 or zero1:
    raise ValueError(f"{path}: not an idx file: magic number {data[:4].hex()} must start with two zero bytes")
  if code not in _IDX_DTYPES:
    known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
    raise ValueError(f"{path}: unknown idx type code 0x{code:02X} (known: {known})")
  if ndim == 0:
    raise ValueError(f"{path}: idx header declares 0 dimensions")
  header_size = 4 + 4 * ndim
  if len(data) < header_size:
    raise ValueError(f"{path}: idx header truncated: {ndim} dimensions need {header_size} bytes, file has "
                     f"{len(data)}")
  shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
  dtype = _IDX_DTYPES[code]
  expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
  actual = len(data) - header_size
  if actual != expected:
    raise ValueError(f"{path}: idx header declares shape {shape} of {dtype.name} = {expected} data bytes, but the "
                     f"file has {actual} ({'truncated' if actual < expected else 'trailing bytes'})")
  array = np.frombuffer(data, dtype, offset=header_size).reshape(shape)
  return array.astype(dtype.newbyteorder("="))


def _idx_candidates(prefix: str, kind: str) -> list[str]:
  rank = "3" if kind == "images" else "1"
  names = [f"{prefix}-{kind}-idx{rank}-ubyte", f"{prefix}-{kind}.idx{rank}-ubyte"]
  return [n + ext for n in names for ext in (".gz", "")]


def idx_file_names(split: str) -> tuple[str, str]:
  """The canonical (images, labels) file names of a split, e.g. `train-images-idx3-ubyte.gz`."""
  prefix = _idx_prefix(split)
  return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def _idx_prefix(split: str) -> str:
  if split not in _IDX_PREFIX:
    raise ValueError(f"idx datasets have splits 'train' and 'test', got split={split!r}")
  return _IDX_PREFIX[split]


def find_idx(directory: pathlib.Path, split: str, kind: str) -> pathlib.Path | None:
  """The `kind` ("images" or "labels") idx file of `split` in `directory` (gzipped or not), or None."""
  for name in _idx_candidates(_idx_prefix(split), kind):
    if (directory / name).is_file():
      return directory / name
  return None


def _idx_images(array: np.ndarray, path: pathlib.Path) -> np.ndarray:
  if array.dtype != np.uint8:
    raise ValueError(f"{path}: idx images must be unsigned bytes (type 0x08), got {array.dtype}")
  if array.ndim == 3:
    return array[..., None]
  if array.ndim == 4 and array.shape[-1] in (1, 3):
    return array
  raise ValueError(f"{path}: idx images must have 3 dimensions (N, H, W), got shape {array.shape}"
                   + (" (this looks like a labels file)" if array.ndim == 1 else ""))


def load_idx(path: PathLike, *, split: str = "train") -> ImageDataset:
  """MNIST-style idx data: a directory with `<prefix>-images-idx3-ubyte[.gz]` (+ labels), or one images file.

  Args:
    path: a directory holding the files as distributed (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
      `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`; gzipped or not), or one images file (its labels
      file beside it is used when present).
    split: "train" or "test" (directory only).
  Returns:
    `ImageDataset` with images `(N, H, W, 1) uint8` and labels `(N,) int32` (None when there is no labels file).
  Raises:
    FileNotFoundError: no images file for the split (the message names the expected files).
    ValueError: a corrupt header, or label and image counts that differ.
  """
  path = pathlib.Path(path)
  if path.is_dir():
    images_path = find_idx(path, split, "images")
    if images_path is None:
      images_name, labels_name = idx_file_names(split)
      raise FileNotFoundError(
        f"no idx images for split {split!r} in {path}: expected {images_name} and {labels_name} "
        f"(or the same names without .gz)")
    labels_path = find_idx(path, split, "labels")
  elif path.is_file():
    images_path = path
    sibling = path.with_name(path.name.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1"))
    labels_path = sibling if sibling != path and sibling.is_file() else None
  else:
    raise FileNotFoundError(f"{path} does not exist")
  images = _idx_images(read_idx(images_path), images_path)
  labels = None
  if labels_path is not None:
    labels = read_idx(labels_path)
    if labels.ndim != 1:
      raise ValueError(f"{labels_path}: idx labels must have 1 dimension, got shape {labels.shape}")
    if len(labels) != len(images):
      raise ValueError(f"label count mismatch: {labels_path} has {len(labels)} labels but {images_path} has "
                       f"{len(images)} images")
  return ImageDataset(images, labels, source=str(images_path))


def _is_idx_name(name: str) -> bool:
  name = name.lower().removesuffix(".gz")
  return ("idx" in name and name.endswith("ubyte")) or name.endswith(".idx")


# ------------------------------------------------------------------------------------------------ folders, zips


def _is_image_name(rel: str) -> bool:
  parts = rel.split("/")
  if any(p.startswith(".") or p == "__MACOSX" for p in parts):
    return False
  return rel.lower().endswith(IMAGE_EXTENSIONS)


def _classes(rel_paths: Sequence[str]) -> tuple[np.ndarray | None, tuple[str, ...] | None]:
  """Labels from the first path component; None when any image lies directly in the root."""
  if not rel_paths or any("/" not in p for p in rel_paths):
    return None, None
  tops = [p.split("/", 1)[0] for p in rel_paths]
  names = tuple(sorted(set(tops)))
  index = {n: i for i, n in enumerate(names)}
  return np.array([index[t] for t in tops], np.int32), names


def _list_folder(root: pathlib.Path, split: str | None) -> tuple[pathlib.Path, list[str]]:
  base = root
  if split is not None:
    base = root / split
    if not base.is_dir():
      subdirs = sorted(p.name for p in root.iterdir() if p.is_dir())
      raise FileNotFoundError(f"no {split!r} sub-folder in {root} (sub-folders: {subdirs or 'none'}); pass the "
                              "split folder's name as split=..., or split=None to use the whole folder")
  rel_paths = []
  for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
    dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    rel_dir = pathlib.Path(dirpath).relative_to(base).as_posix()
    for name in filenames:
      rel = name if rel_dir == "." else f"{rel_dir}/{name}"
      if _is_image_name(rel):
        rel_paths.append(rel)
  return base, sorted(rel_paths)


def open_zip(path: PathLike) -> zipfile.ZipFile:
  """Opens a zip archive of images for reading.

  Raises:
    ValueError: the file is not a readable zip archive (the message names it and says what to do).
  """
  try:
    return zipfile.ZipFile(path)
  except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as e:
    raise ValueError(f"{path} is not a valid zip archive (corrupt or not a zip): re-download it, or point data_dir "
                     f"at a folder of images ({type(e).__name__}: {e})") from None


def read_zip_member(archive: zipfile.ZipFile, name: str, path: PathLike) -> bytes:
  """The bytes of member `name` of `archive` (opened from `path`).

  Raises:
    ValueError: the member's data is corrupt (bad CRC-32, bad deflate data, truncated), or stored in a way
      `zipfile` cannot read (unsupported compression, encryption); the message names the archive and the member.
  """
  try:
    return archive.read(name)
  except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
    raise ValueError(f"{path}: member {name} is corrupt ({type(e).__name__}: {e}); the archive is damaged or "
                     "incomplete: re-download it, or re-create it from the original images") from None
  except (NotImplementedError, RuntimeError) as e:  # unsupported compression method; encrypted member
    raise ValueError(f"{path}: member {name} cannot be read ({e}); re-create the archive with standard (deflate) "
                     "compression and no password") from None


def _list_zip(archive: zipfile.ZipFile, split: str | None, source: str) -> tuple[str, list[str]]:
  names = [i.filename for i in archive.infolist() if not i.is_dir()]
  prefix = "" if split is None else f"{split.strip('/')}/"
  rel_paths = sorted(n[len(prefix):] for n in names if n.startswith(prefix) and _is_image_name(n[len(prefix):]))
  if split is not None and not rel_paths:
    tops = sorted({n.split("/", 1)[0] for n in names if "/" in n})
    raise FileNotFoundError(f"no images under {prefix} in {source} (top-level folders: {tops or 'none'}); pass one "
                            "of them as split=..., or split=None to use the whole archive")
  return prefix, rel_paths


def load_image_folder(path: PathLike, *, split: str | None = None, resolution: int | Sequence[int] | None = None,
                      channels: int | None = None, resize: str = "center_crop", resample: str = "lanczos",
                      limit: int | None = None, subset: str = "first",
                      num_workers: int | None = None) -> ImageDataset:
  """Decodes every image of a folder or a zip archive (JPEG, PNG, ...) with PIL on a thread pool.

  Layout: `<root>[/<split>]/<class>/**/<image>` gives labels (classes numbered in sorted name order);
  `<root>[/<split>]/<image>` gives none. Files and folders starting with "." and `__MACOSX` are skipped.

  Args:
    path: a directory or a `.zip` file.
    split: sub-folder (or top-level zip folder) to read, e.g. "train"; None reads the whole root.
    resolution: target size, int (square) or (H, W); None keeps the size, which must then be the same for all.
    channels: 1 (gray), 3 (RGB) or None: keep, promoting gray images to RGB when some are RGB.
    resize: how to reach `resolution`: "center_crop" (default), "stretch" or "crop"; see `arrays.transform_image`.
    resample: PIL filter used to resize ("lanczos", "bicubic", "bilinear", "box", "nearest").
    limit: decode only this many images (see `subset`); None for all.
    subset: "first": the first `limit` in sorted order; "even": evenly spaced ones (every class of a class-sorted
      folder is kept).
    num_workers: decoding threads; None for cpu_count + 2 (at most 32).
  Returns:
    `ImageDataset`: images `(N, H, W, C) uint8`, labels `(N,) int32` or None, class names or None.
  Raises:
    FileNotFoundError: missing path or split folder.
    ValueError: no images, images of different sizes without `resolution`, or an image PIL cannot decode.
  """
  arrays.check_transform_args(channels, resize, resample)
  size = arrays.normalize_resolution(resolution)
  path = pathlib.Path(path)
  source = str(path) if split is None else f"{path} (split {split!r})"
  kwargs = dict(resolution=size, channels=channels, resize=resize, resample=resample)

  def decode(name: str, raw: bytes | pathlib.Path) -> np.ndarray:
    try:
      with Image.open(io.BytesIO(raw) if isinstance(raw, bytes) else raw) as image:
        return arrays.transform_image(image, **kwargs)
    except Exception as e:
      raise ValueError(f"cannot read image {name} in {path}: {e}") from e

  if path.is_dir():
    base, rel_paths = _list_folder(path, split)
    labels, class_names = _classes(rel_paths)
    index = _subset(len(rel_paths), limit, subset, source)
    rel_paths = [rel_paths[i] for i in index]
    decoded = arrays.parallel_map(lambda rel: decode(rel, base / rel), rel_paths, num_workers=num_workers)
  elif path.is_file() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)):
    with open_zip(path) as archive:
      prefix, rel_paths = _list_zip(archive, split, source)
      labels, class_names = _classes(rel_paths)
      index = _subset(len(rel_paths), limit, subset, source)
      rel_paths = [rel_paths[i] for i in index]
      # ZipFile reads members from several threads safely (one shared file handle behind a lock).
      decoded = arrays.parallel_map(lambda rel: decode(rel, read_zip_member(archive, prefix + rel, path)),
                                    rel_paths, num_workers=num_workers)
  elif path.exists():
    raise ValueError(f"{path} is neither a folder nor a zip archive")
  else:
    raise FileNotFoundError(f"{path} does not exist")
  images = arrays.stack_images(decoded, rel_paths, channels=channels, source=source)
  if labels is not None:
    labels = labels[index]
  return ImageDataset(images, labels, class_names, source=source)


def _subset(num: int, limit: int | None, subset: str, source: str) -> np.ndarray:
  if num == 0:
    raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {source}")
  return np.arange(num) if limit is None else arrays.subset_indices(num, limit, subset)


# ------------------------------------------------------------------------------------------------------------ npz


_NPZ = (".npz file (corrupt or not written by numpy.savez)", "recreate it")  # what it is, what to do


def open_npz(path: PathLike) -> np.lib.npyio.NpzFile:
  """`np.load(path, allow_pickle=False)` of an `.npz`, with one clear error for a file that is not one.

  Raises:
    ValueError: the file is corrupt or not an npz archive (numpy's own message would talk about pickles).
  """
  return _npz.open_npz(path, *_NPZ)


def load_npz(path: PathLike, *, split: str | None = None) -> ImageDataset:
  """Images (and labels) from a numpy `.npz` file.

  Keys: `images` or `x` (`(N, H, W)` or `(N, H, W, C)`, uint8 in [0, 255] or float in [-1, 1]) and optionally
  `labels` or `y` (`(N,)` integers). With a split, `x_<split>`/`images_<split>` and `y_<split>`/`labels_<split>`
  are used when present (Keras' `mnist.npz` layout); a file without per-split keys holds one split.

  Returns:
    `ImageDataset` with images `(N, H, W, C) uint8` (floats quantized with `arrays.to_uint8`), labels int32 or None.
  Raises:
    ValueError: no image key (the message lists the keys expected and the keys found), a corrupt file, wrong shape
      or range, or label and image counts that differ.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path} does not exist")
  with open_npz(path) as data:
    keys = set(data.files)
    image_keys = ([f"x_{split}", f"images_{split}"] if split else []) + ["images", "x"]
    image_key = next((k for k in image_keys if k in keys), None)
    if image_key is None:
      raise ValueError(_missing_image_key(path, split, image_keys, keys))
    suffix = image_key[image_key.index("_"):] if "_" in image_key else ""
    label_key = next((k for k in (f"labels{suffix}", f"y{suffix}") if k in keys), None)
    images = arrays.images_to_uint8(_npz.read_array(data, image_key, path, *_NPZ), what=f"{path}[{image_key!r}]")
    labels = None if label_key is None else _npz.read_array(data, label_key, path, *_NPZ)
  if labels is not None:
    labels = arrays.check_labels(labels, len(images), what=f"{path}[{label_key!r}]")
  return ImageDataset(images, labels, source=str(path))


def _missing_image_key(path: pathlib.Path, split: str | None, expected: list[str], found: set[str]) -> str:
  """The message for an npz without any of the `expected` image keys: the keys expected, found, and what to do."""
  splits = sorted({k.split("_", 1)[1] for k in found if k.startswith(("x_", "images_"))} - {""})
  where = f" for split {split!r}" if split else ""
  if splits:  # a per-split (Keras) layout that lacks the split asked for
    hint = f"its splits are {splits}: pass one of them as split=..."
  else:
    hint = "save the images under 'images' (or 'x'), e.g. np.savez(path, images=images, labels=labels)"
  return (f"{path}: no image array{where}; expected one of the keys {expected}, the file has "
          f"{sorted(found) or 'no arrays'}; {hint}")


# ------------------------------------------------------------------------------------------- CIFAR-10 (python)

_CIFAR_REMEDY = "the file is corrupt or not CIFAR-10's python version: re-download it"
CIFAR10_PYTHON_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


class _NumpyOnlyUnpickler(pickle.Unpickler):
  """Unpickles plain containers and numpy arrays only: no other callable can run while loading."""

  _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
              ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
              ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

  def find_class(self, module: str, name: str) -> object:
    if (module, name) not in self._ALLOWED:
      raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
    return super().find_class(module, name)


def _unpickle(data: bytes, name: str) -> dict:
  try:
    batch = _NumpyOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
  except Exception as e:
    raise ValueError(f"cannot read CIFAR-10 batch {name}: {e}; {_CIFAR_REMEDY}") from e
  if not isinstance(batch, dict):
    raise ValueError(f"CIFAR-10 batch {name}: expected a dict, got {type(batch).__name__}; {_CIFAR_REMEDY}")
  # A corrupt key is replaced, not fatal: the caller then names the keys it expected.
  return {k.decode(errors="replace") if isinstance(k, bytes) else k: v for k, v in batch.items()}


def load_cifar10_python(path: PathLike, *, split: str = "train") -> ImageDataset:
  """CIFAR-10 as distributed by its authors, "python version": `cifar-10-python.tar.gz` or its extracted folder.

  Args:
    path: the `.tar.gz`, or the `cifar-10-batches-py` folder (data_batch_1..5, test_batch, batches.meta).
    split: "train" (50000) or "test" (10000).
  Returns:
    `ImageDataset`: images `(N, 32, 32, 3) uint8`, labels `(N,) int32`, and the class names of batches.meta.
  """
  if split not in CIFAR10_PYTHON_FILES:
    raise ValueError(f"CIFAR-10 has splits 'train' and 'test', got split={split!r}")
  path = pathlib.Path(path)
  wanted = CIFAR10_PYTHON_FILES[split] + ("batches.meta",)
  raw: dict[str, bytes] = {}
  if path.is_dir():
    for name in wanted:
      if (path / name).is_file():
        raw[name] = (path / name).read_bytes()
  elif path.is_file():
    try:  # a bit flip or a truncated download fails anywhere in here, as whichever layer notices it first
      # Decompressed first: tarfile, seeking to the members, never reaches the CRC at the stream's end.
      with tarfile.open(fileobj=io.BytesIO(_gunzip(path.read_bytes()))) as archive:
        for member in archive.getmembers():
          base = member.name.rsplit("/", 1)[-1]
          if member.isfile() and base in wanted:
            raw[base] = archive.extractfile(member).read()
    except (tarfile.TarError, *_GZIP_ERRORS) as e:
      detail = " ".join(str(e).split())  # tarfile lists one line per compression method it tried
      raise ValueError(f"{path} is not a readable cifar-10-python.tar.gz (corrupt or incomplete: "
                       f"{type(e).__name__}: {detail}); re-download it") from None
  else:
    raise FileNotFoundError(f"{path} is neither a cifar-10-batches-py folder nor cifar-10-python.tar.gz")
  missing = [n for n in CIFAR10_PYTHON_FILES[split] if n not in raw]
  if missing:
    raise FileNotFoundError(f"{path}: missing CIFAR-10 batches {missing}; the download is incomplete or corrupt: "
                            "re-download cifar-10-python.tar.gz")
  images, labels = [], []
  for name in CIFAR10_PYTHON_FILES[split]:
    batch = _unpickle(raw[name], name)
    if "data" not in batch or "labels" not in batch:
      raise ValueError(f"CIFAR-10 batch {name} of {path}: expected the keys 'data' and 'labels', got "
                       f"{sorted(map(str, batch))}; {_CIFAR_REMEDY}")
    data = np.asarray(batch["data"], np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
      raise ValueError(f"CIFAR-10 batch {name}: expected data of shape (N, 3072), got {data.shape}")
    images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # stored channel-major, rows of 32
    labels.append(arrays.check_labels(batch["labels"], len(data), what=name))
  class_names = None
  if "batches.meta" in raw:
    names = _unpickle(raw["batches.meta"], "batches.meta").get("label_names")
    class_names = (tuple(n.decode(errors="replace") if isinstance(n, bytes) else str(n) for n in names) if names
                   else None)
  return ImageDataset(np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels), class_names,
                      source=f"{path} (split {split!r})")


# ------------------------------------------------------------------------------------------------------ dispatch


def load_source(source: PathLike, *, split: str | None = None, resolution: int | Sequence[int] | None = None,
                channels: int | None = None, limit: int | None = None, subset: str = "first",
                resize: str = "center_crop", resample: str = "lanczos",
                num_workers: int | None = None) -> ImageDataset:
  """Loads any file source: an image folder, a zip of images, an npz, idx(.gz) files, or CIFAR-10's python batches.

  Args:
    source: the path. A directory holding `<prefix>-images-idx3-ubyte[.gz]` files is read as idx, one holding
      `data_batch_1`/`test_batch` (or a `cifar-10-python.tar.gz`) as CIFAR-10 (split defaults to "train" for
      both); any other directory as an image folder.
    split: see the loader of each kind (`load_idx`, `load_image_folder`, `load_npz`).
    resolution, channels, resize, resample: target size and channels, applied to every kind of source (see
      `load_image_folder`).
    limit, subset: keep `limit` examples, the first ones or evenly spaced ones; applied before decoding/resizing.
    num_workers: decoding/resizing threads.
  Returns:
    `ImageDataset` with `(N, H, W, C) uint8` images.
  """
  arrays.check_transform_args(channels, resize, resample)
  path = check_source(source)
  if path.is_dir() and any(find_idx(path, s, "images") for s in ("train", "test")):
    dataset = load_idx(path, split=split or "train")
    return _finish(dataset, resolution, channels, limit, subset, resize, resample, num_workers)
  if is_cifar10_python(path):
    dataset = load_cifar10_python(path, split=split or "train")
    return _finish(dataset, resolution, channels, limit, subset, resize, resample, num_workers)
  if path.is_dir() or (path.suffix.lower() == ".zip"):
    return load_image_folder(path, split=split, resolution=resolution, channels=channels, resize=resize,
                             resample=resample, limit=limit, subset=subset, num_workers=num_workers)
  dataset = load_npz(path, split=split) if path.suffix.lower() == ".npz" else load_idx(path)  # check_source: idx
  return _finish(dataset, resolution, channels, limit, subset, resize, resample, num_workers)


def check_source(source: PathLike) -> pathlib.Path:
  """The path of `source` if it is of a kind `load_source` reads; nothing is read from it.

  Raises:
    FileNotFoundError: it does not exist.
    ValueError: it is a file of no known kind.
  """
  path = pathlib.Path(source)
  if not path.exists():
    raise FileNotFoundError(f"{path} does not exist")
  if not (path.is_dir() or path.suffix.lower() in (".zip", ".npz") or _is_idx_name(path.name)
          or is_cifar10_python(path)):
    raise ValueError(f"{path}: unknown kind of source; expected a folder of images, a .zip of images, an .npz, "
                     "an idx file (*-idx3-ubyte[.gz]), a folder of idx files, or cifar-10-python.tar.gz")
  return path


def is_cifar10_python(path: pathlib.Path) -> bool:
  """Whether `path` is CIFAR-10's python version: a folder with its batches, or cifar-10-python.tar.gz."""
  if path.is_dir():
    return (path / "data_batch_1").is_file() or (path / "test_batch").is_file()
  return path.name.lower().startswith("cifar-10-python") and path.name.lower().endswith((".tar.gz", ".tgz", ".tar"))


def _finish(dataset: ImageDataset, resolution, channels, limit, subset, resize, resample,
            num_workers) -> ImageDataset:
  if limit is not None:
    dataset = dataset.take(limit, subset=subset)
  images = arrays.transform_arrays(dataset.images, resolution=resolution, channels=channels, resize=resize,
                                   resample=resample, num_workers=num_workers)
  if images is dataset.images:
    return dataset
  return ImageDataset(images, dataset.labels, dataset.class_names, dataset.source)


def load_uint8(source: str, *, split: str | None = None, resolution: int | None = None, channels: int | None = None,
               limit: int | None = None, subset: str = "first") -> tuple[np.ndarray, np.ndarray | None]:
  """Images and labels of a file source as uint8 (for metrics, which quantize anyway).

  Args:
    source: an image folder, a `.zip` of images, an `.npz`, an idx(.gz) file, a directory of idx files, or
      CIFAR-10's python version (`cifar-10-python.tar.gz` or its `cifar-10-batches-py` folder).
    split: "train"/"test" for idx and CIFAR-10 (default "train"); the sub-folder for folders and zips (None: all).
    resolution: square target size (center crop + Lanczos resize), None to keep.
    channels: 1 or 3 to convert, None to keep.
    limit: at most this many examples.
    subset: which `limit` examples: "first" in the source's (sorted) order, or "even": evenly spaced, so a
      folder sorted by class keeps every class (the first 5000 of CIFAR-10's train folder are one class).
  Returns:
    `((N, H, W, C) uint8 in [0, 255], (N,) int32 labels or None)`.
  """
  dataset = load_source(source, split=split, resolution=resolution, channels=channels, limit=limit, subset=subset)
  return dataset.images, dataset.labels


def load(source: str, *, split: str | None = None, resolution: int | None = None, channels: int | None = None,
         limit: int | None = None, subset: str = "first") -> tuple[np.ndarray, np.ndarray | None]:
  """Like `load_uint8`, but images are `(N, H, W, C) float32 in [-1, 1]`."""
  images, labels = load_uint8(source, split=split, resolution=resolution, channels=channels, limit=limit,
                              subset=subset)
  return arrays.to_float(images), labels
