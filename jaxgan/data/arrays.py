"""In-memory image datasets: the container every loader returns, and array-level helpers.

Loaders keep images as `(N, H, W, C) uint8 in [0, 255]` (4x smaller than float32 on the host) and convert to the
library's `(N, H, W, C) float32 in [-1, 1]` with `to_float` when a batch is needed.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

RESIZE_MODES = ("center_crop", "stretch", "crop")
_RESAMPLE = {
  "nearest": Image.Resampling.NEAREST,
  "box": Image.Resampling.BOX,
  "bilinear": Image.Resampling.BILINEAR,
  "bicubic": Image.Resampling.BICUBIC,
  "lanczos": Image.Resampling.LANCZOS,
}


@dataclasses.dataclass(frozen=True)
class ImageDataset:
  """Images held in host memory, with labels when the source has them.

  Attributes:
    images: `(N, H, W, C) uint8 in [0, 255]`, C in {1, 3}.
    labels: `(N,) int32` class indices, or None.
    class_names: names of the classes, `class_names[k]` for label k, or None.
    source: where the data came from (path or dataset name), for messages.
  """

  images: np.ndarray
  labels: np.ndarray | None = None
  class_names: tuple[str, ...] | None = None
  source: str = ""

  def __post_init__(self):
    check_uint8_images(self.images, what=f"images of {self.source or 'dataset'}")
    if self.labels is not None:
      object.__setattr__(self, "labels", check_labels(self.labels, len(self.images), what=self.source))
    if self.class_names is not None:
      object.__setattr__(self, "class_names", tuple(self.class_names))

  def __len__(self) -> int:
    return len(self.images)

  @property
  def resolution(self) -> tuple[int, int]:
    """(H, W) of the images."""
    return self.images.shape[1], self.images.shape[2]

  @property
  def channels(self) -> int:
    return self.images.shape[3]

  @property
  def num_classes(self) -> int | None:
    """Number of classes: len(class_names) if known, else max(label) + 1, else None."""
    if self.class_names is not None:
      return len(self.class_names)
    if self.labels is not None and len(self.labels):
      return int(self.labels.max()) + 1
    return None

  def float_images(self) -> np.ndarray:
    """All images as `(N, H, W, C) float32 in [-1, 1]` (a new array, 4x the memory of `images`)."""
    return to_float(self.images)

  def take(self, limit: int | None, *, subset: str = "first") -> ImageDataset:
    """The first `limit` examples (subset="first") or `limit` evenly spaced ones (subset="even")."""
    if limit is None or limit >= len(self):
      return self
    index = subset_indices(len(self), limit, subset)
    return dataclasses.replace(
      self, images=self.images[index], labels=None if self.labels is None else self.labels[index])


def to_float(images: np.ndarray) -> np.ndarray:
  """uint8 `[0, 255]` -> float32 `[-1, 1]`, as `x / 127.5 - 1` (0 -> -1, 255 -> 1)."""
  images = np.asarray(images)
  if images.dtype != np.uint8:
    raise TypeError(f"to_float expects uint8 images, got {images.dtype}")
  return images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def to_uint8(images: np.ndarray) -> np.ndarray:
  """float `[-1, 1]` -> uint8 `[0, 255]`, rounding `(x + 1) * 127.5` to nearest and clipping."""
  images = np.asarray(images, dtype=np.float32)
  return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def check_uint8_images(images: Any, *, what: str = "images") -> np.ndarray:
  """Checks `(N, H, W, C) uint8` with C in {1, 3}; returns the array."""
  if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
    raise TypeError(f"{what}: expected a uint8 numpy array, got {type(images).__name__} "
                    f"{getattr(images, 'dtype', '')}")
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f"{what}: expected shape (N, H, W, C) with C in (1, 3), got {images.shape}")
  return images


def check_labels(labels: Any, num_images: int, *, what: str = "") -> np.ndarray:
  """Checks labels are `(N,)` non-negative integers matching the image count; returns them as int32."""
  labels = np.asarray(labels)
  where = f" of {what}" if what else ""
  if labels.ndim != 1:
    raise ValueError(f"labels{where}: expected shape ({num_images},), got {labels.shape}")
  if len(labels) != num_images:
    raise ValueError(f"labels{where}: {len(labels)} labels for {num_images} images; the counts must match")
  if labels.dtype.kind == "f":
    if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
      raise ValueError(f"labels{where}: float labels must be whole numbers")
  elif labels.dtype.kind not in "iu":
    raise ValueError(f"labels{where}: expected integers, got dtype {labels.dtype}")
  if len(labels) and (labels.min() < 0 or labels.max() > np.iinfo(np.int32).max):
    raise ValueError(f"labels{where}: expected values in [0, 2**31), got [{labels.min()}, {labels.max()}]")
  return labels.astype(np.int32)


def images_to_uint8(images: Any, *, what: str = "images") -> np.ndarray:
  """Validates a whole dataset of images given as uint8 `[0, 255]` or float `[-1, 1]`; returns `(N, H, W, C) uint8`.

  Accepts `(N, H, W)` (adds C=1) and `(N, H, W, C)` with C in {1, 3}; channels-first arrays are refused.
  Floats are quantized with `to_uint8`. Float images none of which is below 0 are refused as `[0, 1]` data (the
  `x / 255` convention, which would otherwise be shifted to `[128, 255]`): pass the whole dataset, never one batch
  (a batch of bright images may legitimately lie in `[0, 1]`).

  Raises:
    ValueError: wrong shape or dtype, non-finite values, floats outside `[-1, 1]`, or floats in `[0, 1]`.
  """
  images = np.asarray(images)
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4:
    raise ValueError(f"{what}: expected (N, H, W) or (N, H, W, C), got shape {images.shape}")
  if images.shape[-1] not in (1, 3):
    hint = " (channels-first? transpose to NHWC)" if images.shape[1] in (1, 3) else ""
    raise ValueError(f"{what}: expected NHWC with C in (1, 3), got shape {images.shape}{hint}")
  if images.dtype == np.uint8:
    return images
  if images.dtype.kind == "f":
    if images.size:
      lo, hi = float(np.min(images)), float(np.max(images))
      if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1.0 - 1e-5 or hi > 1.0 + 1e-5:
        raise ValueError(f"{what}: float images must lie in [-1, 1], got [{lo}, {hi}]; "
                         "rescale them (x / 127.5 - 1 for [0, 255]) or store uint8")
      # The check is done here because both callers (`files.load_npz` and `Pipeline`) pass the whole dataset, never
      # a batch: in [-1, 1] data, 0 is mid-gray, so a real dataset without a single pixel darker than mid-gray does
      # not exist, while a few images (one batch of bright samples) may well have none; such a check would then
      # refuse good data. A dataset that lies in [0, 1] is the `x / 255` convention, silently brightened otherwise.
      if lo >= 0.0:
        raise ValueError(f"{what}: float images lie in [{lo:.4g}, {hi:.4g}], which looks like [0, 1] (x / 255), "
                         "but float images must lie in [-1, 1] (-1 black, 1 white); pass 2 * x - 1, or uint8 images "
                         "in [0, 255]")
    return to_uint8(images)
  raise ValueError(f"{what}: expected uint8 in [0, 255] or float in [-1, 1], got dtype {images.dtype}")


def subset_indices(num: int, limit: int, subset: str = "first") -> np.ndarray:
  """Indices of a deterministic subset of size min(limit, num).

  Args:
    num: dataset size.
    limit: subset size, >= 1.
    subset: "first" (the first `limit`) or "even" (evenly spaced over the whole range, so a dataset sorted by
      class keeps every class).
  Returns:
    `(min(limit, num),) int64` sorted indices.
  """
  if limit < 1:
    raise ValueError(f"limit must be >= 1, got {limit}")
  if subset not in ("first", "even"):
    raise ValueError(f"subset must be 'first' or 'even', got {subset!r}")
  limit = min(limit, num)
  if subset == "first":
    return np.arange(limit)
  return (np.arange(limit) * num) // limit


def normalize_resolution(resolution: int | Sequence[int] | None) -> tuple[int, int] | None:
  """int or (H, W) -> (H, W), validated; None stays None."""
  if resolution is None:
    return None
  if isinstance(resolution, (int, np.integer)):
    resolution = (int(resolution), int(resolution))
  resolution = tuple(int(r) for r in resolution)
  if len(resolution) != 2 or min(resolution) < 1:
    raise ValueError(f"resolution must be a positive int or (height, width), got {resolution}")
  return resolution


def check_transform_args(channels: int | None, resize: str, resample: str) -> None:
  if channels not in (None, 1, 3):
    raise ValueError(f"channels must be None (keep), 1 (grayscale) or 3 (RGB), got {channels}")
  if resize not in RESIZE_MODES:
    raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
  if resample not in _RESAMPLE:
    raise ValueError(f"resample must be one of {tuple(_RESAMPLE)}, got {resample!r}")


def _to_basic_mode(image: Image.Image) -> Image.Image:
  """Any PIL image -> mode 'L' or 'RGB' (alpha is dropped, 16-bit gray keeps its top 8 bits)."""
  mode = image.mode
  if mode in ("L", "RGB"):
    return image
  if mode in ("1", "LA", "La"):
    return image.convert("L")
  if mode.startswith("I;16"):
    return Image.fromarray((np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8), mode="L")
  if mode == "P":
    return image.convert("RGBA").convert("RGB") if "transparency" in image.info else image.convert("RGB")
  if mode in ("RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "PA"):
    return image.convert("RGB")
  raise ValueError(f"unsupported PIL image mode {mode!r}; convert the image to 8-bit gray or RGB")


def transform_image(image: Image.Image, *, resolution: int | Sequence[int] | None = None, channels: int | None = None,
                    resize: str = "center_crop", resample: str = "lanczos") -> np.ndarray:
  """One PIL image -> `(H, W, C) uint8` with C in {1, 3}.

  Args:
    image: any PIL image; palette, alpha, CMYK and 16-bit gray are reduced to 8-bit gray or RGB first.
    resolution: target size, int (square) or (H, W), or None to keep the size.
    channels: 1 (RGB -> gray with PIL's ITU-R 601-2 luma), 3 (gray repeated), or None to keep.
    resize: "center_crop": crop the largest centered box with the target's aspect ratio, then resize it;
      "stretch": resize the whole image, aspect ratio ignored; "crop": center crop, no scaling (the image must be
      at least as large as the target).
    resample: PIL filter name ("lanczos", "bicubic", "bilinear", "box", "nearest"); PIL antialiases when
      downscaling with all but "nearest".
  Returns:
    `(H, W, C) uint8`.
  """
  resolution = normalize_resolution(resolution)
  image = _to_basic_mode(image)
  if channels == 1 and image.mode == "RGB":
    image = image.convert("L")  # before resizing: one plane to resample instead of three
  if resolution is not None:
    image = _resize(image, resolution, resize, resample)
  array = np.asarray(image)
  if array.ndim == 2:
    array = array[..., None]
  if channels == 3 and array.shape[-1] == 1:
    array = np.repeat(array, 3, axis=-1)
  return array


def _resize(image: Image.Image, resolution: tuple[int, int], resize: str, resample: str) -> Image.Image:
  th, tw = resolution
  w, h = image.size
  if (h, w) == (th, tw):
    return image
  if resize == "stretch":
    return image.resize((tw, th), _RESAMPLE[resample])
  if resize == "crop":
    if h < th or w < tw:
      raise ValueError(f"resize='crop' needs images of at least {th}x{tw} (HxW), got {h}x{w}; "
                       "use resize='center_crop' to scale")
    left, top = (w - tw) // 2, (h - th) // 2
    return image.crop((left, top, left + tw, top + th))
  # center_crop: the largest centered box with aspect tw/th, then resize it to (tw, th).
  if w * th > h * tw:  # wider than the target
    bw, bh = max(1, round(h * tw / th)), h
  else:
    bw, bh = w, max(1, round(w * th / tw))
  left, top = (w - bw) // 2, (h - bh) // 2
  box = (left, top, left + bw, top + bh)
  if (bh, bw) == (th, tw):
    return image.crop(box)
  return image.resize((tw, th), _RESAMPLE[resample], box=box)


def stack_images(arrays: Sequence[np.ndarray], names: Sequence[str], *, channels: int | None,
                 source: str) -> np.ndarray:
  """Stacks `(H, W, C)` uint8 arrays into `(N, H, W, C)`; promotes gray to RGB when mixed and channels is None.

  Raises:
    ValueError: sizes differ (names two images and their sizes, says to set `resolution`), or nothing to stack.
  """
  if not arrays:
    raise ValueError(f"no images found in {source}")
  first = arrays[0].shape[:2]
  for name, array in zip(names, arrays):
    if array.shape[:2] != first:
      raise ValueError(
        f"images in {source} differ in size: {names[0]} is {first[0]}x{first[1]} (HxW) but {name} is "
        f"{array.shape[0]}x{array.shape[1]}; pass resolution=N (CLI: --resolution=N) to center-crop and resize "
        "them all to NxN")
  num_channels = channels or max(a.shape[-1] for a in arrays)
  out = np.empty((len(arrays), *first, num_channels), np.uint8)
  for i, array in enumerate(arrays):
    out[i] = array  # broadcasts (H, W, 1) -> (H, W, 3)
  return out


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any], *, num_workers: int | None = None,
                 chunk_size: int = 256) -> list[Any]:
  """`[fn(x) for x in items]` on a thread pool, in order. PIL releases the GIL while decoding and resizing."""
  num_workers = num_workers or min(32, (os.cpu_count() or 1) + 2)
  if num_workers <= 1 or len(items) <= chunk_size:
    return [fn(x) for x in items]
  chunks = [items[i:i + chunk_size] for i in range(0, len(items), chunk_size)]
  with concurrent.futures.ThreadPoolExecutor(num_workers) as pool:
    results = pool.map(lambda chunk: [fn(x) for x in chunk], chunks)
    return [y for chunk in results for y in chunk]


def transform_arrays(images: np.ndarray, *, resolution: int | Sequence[int] | None = None,
                     channels: int | None = None, resize: str = "center_crop", resample: str = "lanczos",
                     num_workers: int | None = None) -> np.ndarray:
  """Resizes / converts channels of `(N, H, W, C) uint8` images with the same rules as the file loaders.

  Returns the input unchanged when nothing is to be done.
  """
  check_uint8_images(images)
  check_transform_args(channels, resize, resample)
  size = normalize_resolution(resolution)
  same_size = size is None or size == images.shape[1:3]
  if same_size and channels in (None, images.shape[-1]):
    return images
  if same_size and channels == 3:
    return np.repeat(images, 3, axis=-1)

  def one(array: np.ndarray) -> np.ndarray:
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    return transform_image(image, resolution=size, channels=channels, resize=resize, resample=resample)

  arrays = parallel_map(one, list(images), num_workers=num_workers)
  if not arrays:
    h, w = size or images.shape[1:3]
    return np.zeros((0, h, w, channels or images.shape[-1]), np.uint8)
  return np.stack(arrays)
