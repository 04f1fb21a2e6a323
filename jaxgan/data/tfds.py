"""TensorFlow Datasets (optional extra `tfds`): any TFDS image dataset as an in-memory `ImageDataset`.

tensorflow_datasets is imported inside `load_tfds` only, so jaxgan imports without it. Install it with
`pip install -e ".[tfds]"`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxgan.data import arrays
from jaxgan.data.arrays import ImageDataset

INSTALL_HINT = 'pip install -e ".[tfds]"  (or: pip install tensorflow-datasets tensorflow-cpu)'


def import_tfds() -> Any:
  """Imports tensorflow_datasets or raises an ImportError that says how to install it."""
  try:
    import tensorflow_datasets  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ImportError(f"TFDS datasets need the optional extra 'tfds', which is not installed ({e}). Install it "
                      f"with: {INSTALL_HINT}") from e
  return tensorflow_datasets


def _is_prepared(builder: Any) -> bool:
  is_prepared = getattr(builder, "is_prepared", None)
  if callable(is_prepared):
    return bool(is_prepared())
  return os.path.exists(os.path.join(os.fspath(builder.data_dir), "dataset_info.json"))


def load_tfds(name: str, *, split: str = "train", data_dir: str | None = None, download: bool = False,
              image_key: str = "image", label_key: str | None = "label",
              resolution: int | Sequence[int] | None = None, channels: int | None = None,
              resize: str = "center_crop", resample: str = "lanczos", limit: int | None = None) -> ImageDataset:
  """Reads a TFDS image dataset into host memory.

  Args:
    name: TFDS name, optionally with config and version ("cifar10", "celeb_a", "mnist:3.0.1").
    split: TFDS split, slicing included ("train", "test", "train[:10%]").
    data_dir: where prepared TFDS data live (TFDS default, usually ~/tensorflow_datasets, when None).
    download: False (offline): never touches the network; missing data raise FileNotFoundError saying what to
      place where. True: download and prepare when missing.
    image_key: feature holding the image, `(H, W, C) uint8`.
    label_key: feature holding an integer class label; None, or a dataset without that feature, gives no labels.
    resolution, channels, resize, resample: as in `jaxgan.data.files.load_image_folder`.
    limit: the first `limit` examples of the split.
  Returns:
    `ImageDataset`: images `(N, H, W, C) uint8`, labels `(N,) int32` or None, class names when TFDS knows them.
  Raises:
    ImportError: tensorflow_datasets is not installed (says `pip install -e ".[tfds]"`).
    FileNotFoundError: offline and the dataset is not prepared under `data_dir`.
  """
  arrays.check_transform_args(channels, resize, resample)
  size = arrays.normalize_resolution(resolution)
  tfds = import_tfds()
  builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
  if not _is_prepared(builder):
    if not download:
      root = data_dir or "~/tensorflow_datasets (the TFDS default)"
      raise FileNotFoundError(
        f"TFDS dataset {name!r} is not prepared: {builder.data_dir}/dataset_info.json is missing, and download=False "
        f"(offline) never downloads. On a machine with network access run `tfds build {name} --data_dir=<dir>` "
        f"(or load with download=True), then copy <dir>/{name.split(':')[0]}/ into {root} so that "
        f"{builder.data_dir} holds dataset_info.json and the record files; set data_dir to that root. Datasets "
        f"with manual downloads also need their files in <data_dir>/downloads/manual/.")
    builder.download_and_prepare()
  features = getattr(builder.info, "features", {})
  if label_key is not None and label_key not in features:
    label_key = None
  examples = tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))
  if limit is not None:
    examples = itertools.islice(examples, limit)
  images, labels = [], []
  for example in examples:
    image = np.asarray(example[image_key])
    if image.ndim == 2:
      image = image[..., None]
    if size is not None or channels is not None:
      image = arrays.transform_arrays(image[None], resolution=size, channels=channels, resize=resize,
                                      resample=resample, num_workers=1)[0]
    images.append(image)
    if label_key is not None:
      labels.append(int(example[label_key]))
  source = f"tfds:{name} (split {split!r})"
  stacked = arrays.stack_images(images, [f"example {i}" for i in range(len(images))], channels=channels,
                                source=source)
  class_names = getattr(features[label_key], "names", None) if label_key is not None else None
  return ImageDataset(stacked, np.asarray(labels, np.int32) if label_key is not None else None,
                      tuple(class_names) if class_names else None, source=source)
