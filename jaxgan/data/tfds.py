"""TensorFlow Datasets (optional extra `tfds`): any TFDS image dataset as an in-memory `ImageDataset`.

tensorflow_datasets is imported inside `load_tfds` only, so jaxgan imports without it. Install it with
`pip install -e ".[tfds]"`. TensorFlow only reads the records here: it is kept off the GPUs (which stay JAX's) and
its C++ logging is limited to errors unless TF_CPP_MIN_LOG_LEVEL says otherwise.

Order: TFDS shuffles the examples of most datasets when it prepares them (by key, so deterministically), and
jaxgan reads the record files without shuffling: the order is the same on every run and machine, but not the order
of the original files. A dataset prepared with `disable_shuffling` is read in its own order.
"""

from __future__ import annotations

import difflib
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
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO and WARNING lines (CPU features...)
  try:
    import tensorflow_datasets  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ImportError(f"TFDS datasets need the optional extra 'tfds', which is not installed ({e}). Install it "
                      f"with: {INSTALL_HINT}") from e
  _hide_gpus_from_tensorflow()
  return tensorflow_datasets


def _hide_gpus_from_tensorflow() -> None:
  """Keeps a GPU build of TensorFlow from reserving the GPU memory that JAX needs (tf.data reads on the CPU)."""
  try:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.config.set_visible_devices([], "GPU")
  except (ImportError, AttributeError, RuntimeError, ValueError):  # no TF, a stand-in, or TF already on the GPUs
    pass


def _builder(tfds: Any, name: str, data_dir: str | None) -> Any:
  """`tfds.builder(name)` with short errors (TFDS lists every dataset it knows when it knows no `name`).

  A dataset TFDS has no code for is still read from its prepared files under `data_dir`.
  """
  not_found = getattr(getattr(getattr(tfds, "core", None), "registered", None), "DatasetNotFoundError", ())
  try:
    return tfds.builder(name, data_dir=data_dir, try_gcs=False)
  except not_found:
    base = name.split(":")[0].split("/")[0]
    try:
      close = difflib.get_close_matches(base, list(tfds.list_builders(with_community_datasets=False)), n=5)
    except Exception:  # pylint: disable=broad-except  (only for the hint)
      close = []
    hint = f"close names: {', '.join(close)}" if close else "see https://www.tensorflow.org/datasets/catalog"
    root = data_dir or "~/tensorflow_datasets (the TFDS default)"
    raise ValueError(f"tensorflow-datasets {getattr(tfds, '__version__', '?')} knows no dataset {base!r} ({hint}), "
                     f"and data_dir {root} holds no prepared {base}/<version>/dataset_info.json; check the name, "
                     "or set data_dir to the folder holding the prepared dataset") from None
  except (ValueError, AssertionError) as e:  # a config or version it does not have ("only: 3.0.1")
    detail = (str(e).strip().splitlines() or [type(e).__name__])[-1]
    raise ValueError(f"TFDS cannot load {name!r}: {detail}") from None


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
  builder = _builder(tfds, name, data_dir)
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
  if image_key not in features:
    raise ValueError(f"TFDS dataset {name!r} has no feature {image_key!r}; its features are {sorted(features)}: "
                     "set image_key to the one holding the images")
  if label_key is not None and label_key not in features:
    label_key = None
  try:
    # No autocache: TFDS would cache a small dataset in memory beside the copy made here, and complain when
    # `limit` stops reading it early.
    dataset = builder.as_dataset(split=split, shuffle_files=False, read_config=tfds.ReadConfig(try_autocache=False))
  except (ValueError, KeyError) as e:  # "Unknown split 'validation'. Should be one of ['train', 'test']."
    raise ValueError(f"TFDS dataset {name!r}, split {split!r}: {e}") from None
  examples = tfds.as_numpy(dataset)
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
