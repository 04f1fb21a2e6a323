"""Two-domain image datasets for translation (pix2pix, CycleGAN), and pix2pix's random jitter.

Paired (pix2pix; `TranslationDataset.paired` is True, `a.images[i]` goes with `b.images[i]`):
* `load_paired_ab`: images holding both sides, A on the left half and B on the right (the "AB" layout of the
  reference code's `aligned` datasets, github.com/junyanz/pytorch-CycleGAN-and-pix2pix, e.g. facades 512x256);
* `load_paired_folders`: two folders whose files match by name (relative path less the extension).
Unpaired (CycleGAN; the two domains may differ in size):
* `load_unpaired`: two sources of any kind `jaxgan.data.load_source` reads (folders, zips, idx as MNIST <->
  Fashion-MNIST, npz, CIFAR-10's python version);
* `load_unpaired_classes`: two classes of one dataset (CIFAR-10 horse <-> deer, MNIST 3 <-> 8);
* `unpair`: a paired set made unpaired, each domain from its own half of the pairs (facades photos <-> labels).

`direction` ("AtoB" or "BtoA", the reference's `--direction`) says which side G reads: after it, `a` is always the
input domain and `b` the output domain (facades labels -> photo is "BtoA"). Images are decoded and resized by
`jaxgan.data.files` / `jaxgan.data.arrays` (PIL, bicubic here as the reference, center crop to a square first),
kept as `(N, H, W, C) uint8` in `ImageDataset`s; `jaxgan.data.to_float` gives the library's [-1, 1].

`jitter` is pix2pix's augmentation (Isola et al. 2017, arXiv:1611.07004, section 6.2): resize to 286, random crop
256, random horizontal flip, the same crop and flip for both sides of a pair, jit-able on the device.

Example:
  >>> facades = load_paired_ab("../shared/data/facades", split="train", direction="BtoA", resolution=64)
  >>> source, target = to_float(facades.a.images[:4]), to_float(facades.b.images[:4])    # labels, photos
  >>> source, target = jitter(key, source, target)                                      # 72 -> crop 64, flip
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from jaxgan import _checks
from jaxgan.data import arrays
from jaxgan.data import files
from jaxgan.data.arrays import ImageDataset

DIRECTIONS = ("AtoB", "BtoA")
PathLike = str | os.PathLike
_LOAD_OVER_CROP = 286 / 256  # pix2pix's jitter: load_size 286 for crop_size 256


@dataclasses.dataclass(frozen=True)
class TranslationDataset:
  """Images of two domains, `a` (what G reads) and `b` (what it should produce).

  Attributes:
    a: the input domain, `(N_a, H, W, C_a) uint8` images in an `ImageDataset`.
    b: the output domain, `(N_b, H', W', C_b) uint8`.
    paired: whether `a.images[i]` and `b.images[i]` are a pair (then N_a == N_b).
    names: for pairs loaded from files, the name of each pair (relative path less the extension), or None.
    source: where the data came from, for messages.
  """
  a: ImageDataset
  b: ImageDataset
  paired: bool
  names: tuple[str, ...] | None = None
  source: str = ""

  def __post_init__(self):
    if self.paired and len(self.a) != len(self.b):
      raise ValueError(f"TranslationDataset {self.source}: paired domains must have as many images, got {len(self.a)}"
                       f" and {len(self.b)}")
    if self.names is not None:
      object.__setattr__(self, "names", tuple(self.names))
      if len(self.names) != len(self.a):
        raise ValueError(f"TranslationDataset {self.source}: {len(self.names)} names for {len(self.a)} pairs")

  def __len__(self) -> int:
    """Number of pairs (paired) or of images of the larger domain (unpaired, as the reference's epoch)."""
    return len(self.a) if self.paired else max(len(self.a), len(self.b))


def check_direction(direction: str, who: str) -> None:
  """Raises ValueError unless `direction` is "AtoB" or "BtoA"."""
  if direction not in DIRECTIONS:
    raise ValueError(f"{who}: direction must be one of {DIRECTIONS} (which side G reads), got {direction!r}")


def split_ab(images: np.ndarray, direction: str = "AtoB", *, what: str = "AB images") -> tuple[np.ndarray, np.ndarray]:
  """Splits side-by-side images into their halves: A on the left, B on the right.

  Args:
    images: (N, H, 2W, C) (numpy or jax), each holding a pair.
    direction: "AtoB" returns (A, B), "BtoA" returns (B, A): the input domain first.
    what: the images' name in messages.
  Returns:
    (input, target), each (N, H, W, C).
  Raises:
    ValueError: a bad direction, images that are not (N, H, W, C), or of odd width.
  """
  check_direction(direction, "split_ab")
  if images.ndim != 4:
    raise ValueError(f"split_ab: expected {what} of shape (N, H, 2W, C), got {images.shape}")
  width = images.shape[2]
  if width % 2:
    raise ValueError(f"split_ab: {what} must hold A and B side by side, in halves of equal width, but are "
                     f"{images.shape[1]}x{width} (HxW): the width is odd")
  a, b = images[:, :, :width // 2], images[:, :, width // 2:]
  return (a, b) if direction == "AtoB" else (b, a)


def _resize(images: np.ndarray, resolution, channels, resample: str, num_workers) -> np.ndarray:
  return arrays.transform_arrays(images, resolution=resolution, channels=channels, resize="center_crop",
                                 resample=resample, num_workers=num_workers)


def load_paired_ab(path: PathLike, *, split: str | None = None, direction: str = "AtoB",
                   resolution: int | Sequence[int] | None = None, channels: int | None = None,
                   resample: str = "bicubic", limit: int | None = None, subset: str = "first",
                   num_workers: int | None = None) -> TranslationDataset:
  """Pairs stored side by side in one image each (the reference's "aligned" layout, e.g. facades).

  Args:
    path: a folder or a zip of AB images (all of one size, an even width).
    split: sub-folder to read ("train", "test"), or None for the whole folder.
    direction: "AtoB" (G reads the left half) or "BtoA" (G reads the right half).
    resolution: size of each half after loading (square int or (H, W); center crop to that aspect, then resize),
      or None to keep the halves as they are.
    channels: 1 or 3 to convert both halves, None to keep.
    resample: PIL filter of the resize ("bicubic" as the reference, or any of `jaxgan.data.arrays`'s).
    limit, subset: keep `limit` pairs, the first in sorted name order or evenly spaced ones.
    num_workers: decoding/resizing threads.
  Returns:
    A paired `TranslationDataset`; `a` is the input side, `b` the target.
  Raises:
    ValueError: a bad direction, no images, images of different sizes, or of odd width.
    FileNotFoundError: a missing path or split.
  """
  check_direction(direction, "load_paired_ab")
  arrays.check_transform_args(channels, "center_crop", resample)
  size = arrays.normalize_resolution(resolution)
  try:
    full = files.load_image_folder(path, split=split, channels=channels, limit=limit, subset=subset,
                                   num_workers=num_workers)
  except ValueError as e:
    if "differ in size" not in str(e):
      raise
    raise ValueError(f"load_paired_ab: AB images must all have one size (resolution= resizes each half after the "
                     f"split, not the AB image): {e}") from e
  a, b = split_ab(full.images, direction, what=f"the AB images of {full.source}")
  a, b = (_resize(x, size, channels, resample, num_workers) for x in (a, b))
  return TranslationDataset(ImageDataset(a, source=full.source), ImageDataset(b, source=full.source), True,
                            source=f"{full.source} ({direction})")


def _image_names(folder: pathlib.Path, who: str, side: str) -> list[str]:
  """Sorted relative paths of the images of `folder`, in `load_image_folder`'s order."""
  if not folder.is_dir():
    raise FileNotFoundError(f"{who}: folder {side} {folder} does not exist or is not a folder")
  _, rel_paths = files._list_folder(folder, None)  # pylint: disable=protected-access  (load_image_folder's listing)
  if not rel_paths:
    raise ValueError(f"{who}: folder {side} {folder} has no images ({', '.join(files.IMAGE_EXTENSIONS)})")
  return rel_paths


def _stems(rel_paths: list[str], who: str, folder: pathlib.Path) -> list[str]:
  stems = [os.path.splitext(p)[0] for p in rel_paths]
  if len(set(stems)) != len(stems):
    seen, twice = set(), []
    for stem in stems:
      if stem in seen:
        twice.append(stem)
      seen.add(stem)
    raise ValueError(f"{who}: {folder} has several images of one name with different extensions: {twice[:3]}")
  return stems


def load_paired_folders(folder_a: PathLike, folder_b: PathLike, *, direction: str = "AtoB",
                        resolution: int | Sequence[int] | None = None, channels: int | None = None,
                        resample: str = "bicubic", num_workers: int | None = None) -> TranslationDataset:
  """Pairs stored in two folders, matched by name (relative path without the extension: `A/12.jpg` with
  `B/12.png`).

  Args:
    folder_a, folder_b: folders of the A and B images (sub-folders allowed, matched as paths).
    direction: "AtoB" (G reads A) or "BtoA".
    resolution: target size of both sides (center crop, then resize), or None to keep (each side must then have
      one size).
    channels: 1 or 3 to convert, None to keep.
    resample: PIL filter of the resize.
    num_workers: decoding threads.
  Returns:
    A paired `TranslationDataset` with `names`, in sorted name order.
  Raises:
    ValueError: a bad direction, an empty folder, or names that do not match (the message lists some of each
      side's unmatched names).
  """
  who = "load_paired_folders"
  check_direction(direction, who)
  arrays.check_transform_args(channels, "center_crop", resample)
  paths = pathlib.Path(folder_a), pathlib.Path(folder_b)
  stems = [_stems(_image_names(p, who, side), who, p) for p, side in zip(paths, "AB")]
  if stems[0] != stems[1]:
    only_a, only_b = sorted(set(stems[0]) - set(stems[1])), sorted(set(stems[1]) - set(stems[0]))
    raise ValueError(f"{who}: the file names of {paths[0]} and {paths[1]} do not match: {len(only_a)} only in A "
                     f"{only_a[:3]}, {len(only_b)} only in B {only_b[:3]}; pairs are matched by name without the "
                     "extension")
  loaded = [files.load_image_folder(p, resolution=resolution, channels=channels, resample=resample,
                                    num_workers=num_workers) for p in paths]
  a, b = (ImageDataset(d.images, source=d.source) for d in loaded)
  if direction == "BtoA":
    a, b = b, a
  return TranslationDataset(a, b, True, names=tuple(stems[0]), source=f"{paths[0]} + {paths[1]} ({direction})")


def _load_domain(who: str, side: str, source: PathLike, **kwargs) -> ImageDataset:
  try:
    dataset = files.load_source(source, **kwargs)
  except (ValueError, FileNotFoundError) as e:
    raise type(e)(f"{who}: domain {side} ({source}): {e}") from e
  return ImageDataset(dataset.images, source=dataset.source)


def load_unpaired(source_a: PathLike, source_b: PathLike, *, split: str | None = None,
                  resolution: int | Sequence[int] | None = None, channels: int | None = None,
                  resample: str = "bicubic", limit: int | None = None, subset: str = "first",
                  num_workers: int | None = None) -> TranslationDataset:
  """Two unpaired domains from two sources, e.g. two folders, or MNIST <-> Fashion-MNIST idx folders.

  Args:
    source_a, source_b: anything `jaxgan.data.load_source` reads (a folder or zip of images, an idx folder, an npz,
      CIFAR-10's python version).
    split: passed to both ("train"/"test" for idx, a sub-folder for folders; None: idx "train", whole folders).
    resolution, channels: target size and channels of both domains (give them when the domains differ, e.g. 32 and
      3 for MNIST <-> CIFAR).
    resample: PIL filter of the resize.
    limit, subset: at most `limit` images per domain.
    num_workers: decoding threads.
  Returns:
    An unpaired `TranslationDataset` (labels dropped).
  Raises:
    ValueError: a domain without images (named A or B), or another loading error, prefixed with its domain.
  """
  kwargs = dict(split=split, resolution=resolution, channels=channels, resample=resample, limit=limit, subset=subset,
                num_workers=num_workers)
  a = _load_domain("load_unpaired", "A", source_a, **kwargs)
  b = _load_domain("load_unpaired", "B", source_b, **kwargs)
  return TranslationDataset(a, b, False, source=f"{source_a} <-> {source_b}")


def _folder_classes(path: pathlib.Path, split: str | None) -> list[str] | None:
  """Class folder names of an image folder or zip under `split` (None when `path` is another kind of source)."""
  if path.is_dir() and not files.is_cifar10_python(path) and not any(
      files.find_idx(path, s, "images") for s in ("train", "test")):
    base = path if split is None else path / split
    if not base.is_dir():
      raise FileNotFoundError(f"no {split!r} sub-folder in {path}")
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
  if path.is_file() and path.suffix.lower() == ".zip":
    prefix = "" if split is None else f"{split.strip('/')}/"
    with files.open_zip(path) as archive:
      names = [n[len(prefix):] for n in archive.namelist() if n.startswith(prefix)]
    return sorted({n.split("/", 1)[0] for n in names if "/" in n and not n.startswith((".", "__MACOSX"))})
  return None


def load_unpaired_classes(source: PathLike, class_a: str | int, class_b: str | int, *, split: str | None = "train",
                          resolution: int | Sequence[int] | None = None, channels: int | None = None,
                          resample: str = "bicubic", limit: int | None = None, subset: str = "first",
                          num_workers: int | None = None) -> TranslationDataset:
  """Two classes of one labelled dataset as two unpaired domains (e.g. CIFAR-10 horse <-> deer).

  Folders and zips with `<split>/<class>/...` read only the two class folders; other sources (idx, npz, CIFAR-10's
  python version) are loaded whole and filtered by label.

  Args:
    source: a folder or zip with class sub-folders, an idx folder (MNIST), an npz with labels, CIFAR-10 python.
    class_a, class_b: class names (folder names, or `class_names` of the dataset) or label indices.
    split: the split ("train", "test") or None.
    resolution, channels, resample, limit, subset, num_workers: as `load_unpaired` (limit per class).
  Returns:
    An unpaired `TranslationDataset`.
  Raises:
    ValueError: the same class twice, an unknown class (the message lists the known ones), a class without images.
  """
  who = "load_unpaired_classes"
  if class_a == class_b:
    raise ValueError(f"{who}: class_a and class_b are both {class_a!r}; the two domains must differ")
  path = files.check_source(source)
  kwargs = dict(resolution=resolution, channels=channels, resample=resample, num_workers=num_workers)
  folder_classes = _folder_classes(path, split)
  if folder_classes is not None:
    domains = []
    for cls in (class_a, class_b):
      name = folder_classes[cls] if _checks.is_int(cls) and 0 <= cls < len(folder_classes) else cls
      if name not in folder_classes:
        raise ValueError(f"{who}: unknown class {cls!r} in {source}; known: {', '.join(folder_classes) or 'none'}")
      sub = name if split is None else f"{split.strip('/')}/{name}"
      dataset = files.load_image_folder(path, split=sub, limit=limit, subset=subset, **kwargs)
      domains.append(ImageDataset(dataset.images, source=dataset.source))
    return TranslationDataset(*domains, False, source=f"{source} ({class_a} <-> {class_b})")
  dataset = files.load_source(path, split=split)
  if dataset.labels is None:
    raise ValueError(f"{who}: {dataset.source} has no labels to select classes by")
  domains = []
  for cls in (class_a, class_b):
    if _checks.is_int(cls):
      label = int(cls)
    elif dataset.class_names is not None and cls in dataset.class_names:
      label = dataset.class_names.index(cls)
    else:
      known = ", ".join(dataset.class_names) if dataset.class_names else f"labels 0..{dataset.num_classes - 1}"
      raise ValueError(f"{who}: unknown class {cls!r} in {dataset.source}; known: {known}")
    index = np.nonzero(dataset.labels == label)[0]
    if not len(index):
      raise ValueError(f"{who}: class {cls!r} has no images in {dataset.source}")
    if limit is not None:
      index = index[arrays.subset_indices(len(index), limit, subset)]
    images = _resize(dataset.images[index], arrays.normalize_resolution(resolution), channels, resample, num_workers)
    domains.append(ImageDataset(images, source=f"{dataset.source} (class {cls!r})"))
  return TranslationDataset(*domains, False, source=f"{dataset.source} ({class_a} <-> {class_b})")


def unpair(dataset: TranslationDataset, *, seed: int = 0) -> TranslationDataset:
  """An unpaired stand-in from a paired set: the pairs are shuffled, `a` is taken from the first half and `b` from
  the second, so no image has its partner on the other side (facades photos <-> label maps for CycleGAN).

  Args:
    dataset: a paired `TranslationDataset` of at least 2 pairs.
    seed: of the shuffle (numpy's default_rng).
  Returns:
    An unpaired `TranslationDataset` with floor(N / 2) images in `a` and ceil(N / 2) in `b`.
  """
  if not dataset.paired:
    raise ValueError(f"unpair: {dataset.source} is already unpaired")
  if len(dataset) < 2:
    raise ValueError(f"unpair: needs at least 2 pairs, got {len(dataset)}")
  order = np.random.default_rng(seed).permutation(len(dataset))
  half = len(dataset) // 2
  a_index, b_index = np.sort(order[:half]), np.sort(order[half:])
  a = ImageDataset(dataset.a.images[a_index], source=dataset.a.source)
  b = ImageDataset(dataset.b.images[b_index], source=dataset.b.source)
  return TranslationDataset(a, b, False, source=f"{dataset.source} unpaired (seed {seed})")


# ----------------------------------------------------------------------------------------------------------------
# Random jitter.


def jitter_sizes(crop_size: int) -> tuple[int, int]:
  """(load_size, crop_size) of pix2pix's jitter scaled to `crop_size`: 256 -> (286, 256), 128 -> (143, 128),
  64 -> (72, 64), i.e. load = round(crop * 286 / 256), halves rounded up."""
  if not _checks.is_int(crop_size) or crop_size < 1:
    raise ValueError(f"jitter_sizes: crop_size must be an int >= 1, got {crop_size!r}")
  return int(np.floor(crop_size * _LOAD_OVER_CROP + 0.5)), int(crop_size)


def jitter(key: jax.Array, *images: jax.Array, crop_size: int | None = None, load_size: int | None = None,
           flip: bool = True, method: str = "bicubic") -> tuple[jax.Array, ...]:
  """pix2pix's random jitter (Isola et al. 2017, arXiv:1611.07004, section 6.2; the reference's `resize_and_crop`
  with `--no_flip` off): resize to load_size x load_size, crop a random crop_size x crop_size square, flip left-right
  with probability 1/2; each example draws its own crop and flip, the same for all of `images` (both sides of a
  pair). Jit-able (sizes are static).

  Resizing is `jax.image.resize` ("bicubic": Keys' a = -0.5, PIL's BICUBIC filter, which the reference applies;
  for upsampling the two agree to 1e-6) on float images, clipped to [-1, 1]; the reference resizes uint8 images,
  rounding to the 256 levels, which we skip.

  Args:
    key: PRNG key.
    *images: one or more `(N, H, W, C_i)` float32 in [-1, 1], same N, H, W (channels may differ).
    crop_size: output side; None for H.
    load_size: side to resize to first, >= crop_size; None for `jitter_sizes(crop_size)[0]` (286 for 256).
    flip: random horizontal flips.
    method: `jax.image.resize` method.
  Returns:
    A tuple of `(N, crop_size, crop_size, C_i)` float32, one per input.
  Raises:
    ValueError: no images, images of different N/H/W, or sizes out of range.
  """
  if not images:
    raise ValueError("jitter: give at least one batch of images")
  shape = images[0].shape
  for x in images:
    if x.ndim != 4 or x.shape[:3] != shape[:3]:
      raise ValueError(f"jitter: images must be (N, H, W, C) with the same N, H, W, got "
                       f"{[tuple(y.shape) for y in images]}")
  crop_size = shape[1] if crop_size is None else crop_size
  if load_size is None:
    load_size = jitter_sizes(crop_size)[0]
  if not (_checks.is_int(crop_size) and _checks.is_int(load_size) and 1 <= crop_size <= load_size):
    raise ValueError(f"jitter: need ints 1 <= crop_size <= load_size, got crop_size={crop_size!r}, "
                     f"load_size={load_size!r}")
  n = shape[0]
  widths = [x.shape[-1] for x in images]
  x = jnp.concatenate([jnp.asarray(x, jnp.float32) for x in images], axis=-1)
  c = x.shape[-1]
  if (shape[1], shape[2]) != (load_size, load_size):
    x = jnp.clip(jax.image.resize(x, (n, load_size, load_size, c), method), -1.0, 1.0)
  k_crop, k_flip = jax.random.split(key)
  offsets = jax.random.randint(k_crop, (n, 2), 0, load_size - crop_size + 1)
  x = jax.vmap(lambda img, o: lax.dynamic_slice(img, (o[0], o[1], 0), (crop_size, crop_size, c)))(x, offsets)
  if flip:
    flips = jax.random.bernoulli(k_flip, 0.5, (n,))
    x = jnp.where(flips[:, None, None, None], x[:, :, ::-1], x)
  splits = np.cumsum(widths)[:-1].tolist()
  return tuple(jnp.split(x, splits, axis=-1))
