"""Numpy `.npz` archives read without pickle, with one clear error for a file that is not one (data and metrics)."""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

# What numpy raises for a corrupt, truncated or foreign file; its own message talks about pickles and allow_pickle.
ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def not_npz(path: str | os.PathLike, what: str, remedy: str, detail: str = "") -> ValueError:
  """`ValueError("<path> is not a valid <what> (...): <remedy> (<detail>)")`."""
  return ValueError(f"{path} is not a valid {what}: {remedy}" + (f" ({detail})" if detail else ""))


def open_npz(path: str | os.PathLike, what: str, remedy: str) -> np.lib.npyio.NpzFile:
  """`np.load(path, allow_pickle=False)` of an archive of named arrays; closing it closes the file.

  Raises:
    ValueError: `not_npz(path, what, remedy)` for a corrupt file, a pickle, or a single `.npy` array. The file is
      closed again (`np.load` leaves it open when the archive cannot be read).
  """
  try:
    f = open(path, "rb")  # pylint: disable=consider-using-with  (the NpzFile owns it)
  except OSError:
    raise not_npz(path, what, remedy) from None
  detail = ""
  try:
    if f.read(6) == b"\x93NUMPY":  # a single .npy array saved under an .npz name
      detail = "a single .npy array, not an archive of named arrays"
    else:
      f.seek(0)
      return np.lib.npyio.NpzFile(f, own_fid=True, allow_pickle=False)
  except ERRORS:
    pass
  except BaseException:
    f.close()
    raise
  f.close()
  raise not_npz(path, what, remedy, detail)


def read_array(data: np.lib.npyio.NpzFile, key: str, path: str | os.PathLike, what: str, remedy: str) -> np.ndarray:
  """`data[key]`; a member that cannot be decompressed or parsed raises `not_npz` naming the key."""
  try:
    return np.asarray(data[key])
  except ERRORS as e:
    raise not_npz(path, what, remedy, f"array {key!r} cannot be read: {e}") from None
