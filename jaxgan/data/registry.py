"""Datasets by name, as experiment configs refer to them.

`get_dataset("mnist", data_dir=...)` finds the files of a named dataset under `data_dir` (directly, or in a
sub-folder named like the dataset) and returns an `ImageDataset` (`(N, H, W, C) uint8` images, int32 labels). A
missing path or file gives an error that names the files expected and the `data_dir` setting to change.

Names:
  mnist, fashion_mnist: the idx files as distributed by their authors (gzipped or not).
  cifar10: a folder or zip with `train/<class>/*.jpg|png` and `test/<class>/...`, or the authors' python version
    (`cifar-10-python.tar.gz` or the `cifar-10-batches-py` folder).
  folder: any folder or zip of images (`data_dir` is that folder or zip).
  npz: a numpy archive (`data_dir` is the .npz file).
  tfds:<name>: a TensorFlow Datasets dataset (needs the `tfds` extra), offline unless download=True.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Sequence
from typing import Any

from jaxgan import _checks
from jaxgan.data import arrays
from jaxgan.data import files
from jaxgan.data import tfds as tfds_lib
from jaxgan.data.arrays import ImageDataset

_DATA_DIR_HINT = "set the data_dir argument (the `data_dir` field of the experiment config)"
Loader = Callable[..., ImageDataset]


def _need_data_dir(name: str, data_dir: str | None, what: str) -> pathlib.Path:
  if data_dir is None:
    raise FileNotFoundError(f"dataset {name!r} needs its files: {what}; {_DATA_DIR_HINT}")
  path = pathlib.Path(data_dir).expanduser()
  if not path.exists():
    raise FileNotFoundError(f"data_dir {str(path)!r} of dataset {name!r} does not exist; it should hold {what}; "
                            f"{_DATA_DIR_HINT}")
  return path


def _idx_dataset(name: str) -> Loader:
  def load(*, data_dir: str | None, split: str, **kwargs: Any) -> ImageDataset:
    images_name, labels_name = files.idx_file_names(split)
    what = f"{images_name} and {labels_name} (gzipped or not)"
    root = _need_data_dir(name, data_dir, what)
    for folder in (root, root / name):
      if folder.is_dir() and files.find_idx(folder, split, "images"):
        if files.find_idx(folder, split, "labels") is None:
          raise FileNotFoundError(f"{name}: {folder} has the images of split {split!r} but not {labels_name}")
        return files.load_source(folder, split=split, **kwargs)
    raise FileNotFoundError(f"{name}: no {what} in {root} or {root / name}; download the four idx files of {name} "
                            f"from its authors, place them in one folder and {_DATA_DIR_HINT}")
  return load


def _cifar10(*, data_dir: str | None, split: str, **kwargs: Any) -> ImageDataset:
  what = (f"a folder or .zip with {split}/<class>/*.jpg|png (e.g. cifar10_jpeg_q75.zip), or cifar-10-python.tar.gz "
          "or its cifar-10-batches-py folder")
  root = _need_data_dir("cifar10", data_dir, what)
  candidates = [root]
  if root.is_dir():
    candidates += [root / "cifar10", root / "cifar-10-batches-py", root / "cifar-10-python.tar.gz"]
    candidates += sorted(root.glob("cifar10*.zip")) + sorted(root.glob("cifar-10*.zip"))
  for path in candidates:
    if not path.exists():
      continue
    if files.is_cifar10_python(path):
      return files.load_source(path, split=split, **kwargs)
    if (path.is_dir() and (path / split).is_dir()) or path.suffix.lower() == ".zip":
      return files.load_source(path, split=split, **kwargs)
  raise FileNotFoundError(f"cifar10: found none of {what} at {root}; {_DATA_DIR_HINT}")


def _folder(*, data_dir: str | None, split: str | None, **kwargs: Any) -> ImageDataset:
  root = _need_data_dir("folder", data_dir, "a folder or .zip of images")
  if split is not None and not _has_split(root, split):
    if split != "train":
      raise FileNotFoundError(f"folder: {root} has no {split!r} sub-folder; a folder without split sub-folders is "
                              "used whole as split 'train'")
    split = None  # a folder without split sub-folders is all training data
  return files.load_source(root, split=split, **kwargs)


def _has_split(root: pathlib.Path, split: str) -> bool:
  if root.is_dir():
    return (root / split).is_dir()
  with files.open_zip(root) as archive:
    return any(n.startswith(f"{split}/") for n in archive.namelist())


def _npz(*, data_dir: str | None, split: str | None, **kwargs: Any) -> ImageDataset:
  path = _need_data_dir("npz", data_dir, "an .npz file with `images` (or `x`) and optional `labels` (or `y`)")
  if path.is_dir():
    found = sorted(path.glob("*.npz"))
    if len(found) != 1:
      raise FileNotFoundError(f"npz: data_dir {str(path)!r} is a folder with {len(found)} .npz files; set data_dir "
                              "to the .npz file itself")
    path = found[0]
  return files.load_source(path, split=split, **kwargs)


_REGISTRY: dict[str, Loader] = {
  "mnist": _idx_dataset("mnist"),
  "fashion_mnist": _idx_dataset("fashion_mnist"),
  "cifar10": _cifar10,
  "folder": _folder,
  "npz": _npz,
}


def register_dataset(name: str, loader: Loader) -> None:
  """Adds a named dataset. `loader(*, data_dir, split, resolution, channels, limit, subset) -> ImageDataset`.

  The loader applies `resolution`, `channels` and `limit` itself (`files.load_source` and `ImageDataset.take` do
  it for files and arrays); `get_dataset` checks that what it returns has what was asked for.

  Raises:
    ValueError: `name` is empty, not a string, taken, or starts with "tfds:".
    TypeError: `loader` is not callable.
  """
  if not isinstance(name, str) or not name:
    raise ValueError(f"dataset name {name!r} is not a non-empty string; known: {', '.join(dataset_names())}")
  if name in _REGISTRY or name.startswith("tfds:"):
    raise ValueError(f"dataset name {name!r} is taken; known: {', '.join(dataset_names())}")
  if not callable(loader):
    raise TypeError(f"register_dataset({name!r}): the loader must be callable, got {type(loader).__name__}")
  _REGISTRY[name] = loader


def _check_loaded(name: str, data: Any, resolution: tuple[int, int] | None, channels: int | None,
                  limit: int | None) -> ImageDataset:
  """What a loader returned, refused unless it is an ImageDataset with the size, channels and count asked for."""
  who = f"the loader of dataset {name!r}"
  if not isinstance(data, ImageDataset):
    raise TypeError(f"{who} returned {type(data).__name__}, not a jaxgan.data.ImageDataset")
  got = data.images.shape
  if resolution is not None and tuple(got[1:3]) != resolution:
    raise ValueError(f"{who} returned {got[1]}x{got[2]} images where resolution={resolution[0]}x{resolution[1]} "
                     "was asked for; the loader must apply `resolution` (files.load_source does)")
  if channels is not None and got[3] != channels:
    raise ValueError(f"{who} returned {got[3]}-channel images where channels={channels} was asked for; the loader "
                     "must apply `channels`")
  if limit is not None and len(data) > limit:
    raise ValueError(f"{who} returned {len(data)} examples where limit={limit} was asked for; the loader must "
                     "apply `limit` (ImageDataset.take does)")
  return data


def dataset_names() -> tuple[str, ...]:
  """The known names, "tfds:<name>" included."""
  return tuple(sorted(_REGISTRY)) + ("tfds:<name>",)


def check_dataset_name(name: str) -> None:
  """Refuses a name that no loader knows, before anything looks for its files.

  Raises:
    ValueError: `name` is not one of `dataset_names()` (the message lists them).
  """
  if not isinstance(name, str) or not name:
    raise ValueError(f"dataset name must be a non-empty string, got {name!r}; known: {', '.join(dataset_names())}")
  if name.startswith("tfds:"):
    if not name[len("tfds:"):]:
      raise ValueError("dataset 'tfds:' names no TFDS dataset; use 'tfds:<name>', e.g. 'tfds:cifar10'")
    return
  if name not in _REGISTRY:
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}")


def get_dataset(name: str, *, data_dir: str | None = None, split: str | None = "train",
                resolution: int | Sequence[int] | None = None, channels: int | None = None,
                limit: int | None = None, subset: str = "first", download: bool = False) -> ImageDataset:
  """A named dataset in host memory.

  Args:
    name: one of `dataset_names()`: "mnist", "fashion_mnist", "cifar10", "folder", "npz", or "tfds:<tfds name>".
    data_dir: where the files are (see the module docstring); for "tfds:..." the TFDS data_dir (None: TFDS'
      default).
    split: "train" or "test"; any TFDS split for "tfds:..."; for "folder" a sub-folder, where "train" means the
      whole folder when it has no "train" sub-folder, and None always means the whole folder.
    resolution: target size (int or (H, W)), center crop + Lanczos resize; None keeps the size.
    channels: 1 or 3 to convert, None to keep.
    limit: keep `limit` examples (see `subset`).
    subset: which ones: "first" in the source's order, or "even": evenly spaced over it, so that a limited
      class-sorted source (folders and zips are read class by class) still holds every class.
    download: "tfds:..." only: allow TFDS to download; False never touches the network.
  Returns:
    `ImageDataset`: `(N, H, W, C) uint8` images, `(N,) int32` labels or None, class names or None.
  Raises:
    ValueError: an unknown name (lists the known ones).
    FileNotFoundError: missing data (names the files expected and the `data_dir` setting).
  """
  check_dataset_name(name)
  if limit is not None and (not _checks.is_int(limit) or limit < 1):  # before any file (or TFDS split) is read
    raise ValueError(f"limit must be None (everything) or an int >= 1, got {limit!r}")
  if subset not in ("first", "even"):
    raise ValueError(f"subset must be 'first' or 'even', got {subset!r}")
  kwargs = dict(resolution=resolution, channels=channels, limit=limit)
  if name.startswith("tfds:"):
    after = subset != "first"  # TFDS reads in its own order: read everything, then take the subset
    data = tfds_lib.load_tfds(name[len("tfds:"):], split=split, data_dir=data_dir, download=download,
                              **dict(kwargs, limit=None if after else limit))
    return data.take(limit, subset=subset) if after else data
  kwargs["subset"] = subset
  if download:
    raise ValueError(f"download=True is only for 'tfds:<name>' datasets; {name!r} reads local files")
  data = _REGISTRY[name](data_dir=data_dir, split=split, **kwargs)
  return _check_loaded(name, data, arrays.normalize_resolution(resolution), channels, limit)
