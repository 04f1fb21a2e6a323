"""Reading what a run wrote, with every file closed again (a bare `open()` in a test leaves that to the GC)."""

import json
import pathlib

import numpy as np
from PIL import Image


def read_json(path):
  """The JSON document in `path`."""
  return json.loads(pathlib.Path(path).read_text())


def read_jsonl(path) -> list:
  """The records of a JSON-lines file, one per line."""
  return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]


def read_image(path) -> Image.Image:
  """The image in `path`, loaded into memory with its format (PNG, JPEG, ...), its file closed."""
  with Image.open(path) as image:
    copy = image.copy()
    copy.format = image.format  # copy() leaves it out
    return copy


def read_pixels(path) -> np.ndarray:
  """The pixels of the image in `path` as a numpy array."""
  with Image.open(path) as image:
    return np.asarray(image)
