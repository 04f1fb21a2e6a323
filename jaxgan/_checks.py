"""Argument checks shared across jaxgan."""

from typing import Any

import numpy as np


def is_int(value: Any) -> bool:
  """An int or a numpy integer, and not a bool (True would otherwise pass as 1)."""
  return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
