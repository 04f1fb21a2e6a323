"""Weights of the FID Inception network: readers, the name mapping, hash checks, a cache and a download.

Two source files hold the same numbers (the TF graph of 2015-12-05):

- NVIDIA's layout as an .npz: `net.layers.<block>[.tower[_N]].conv[_N].{weight,beta,mean,var}`, OIHW conv weights,
  batch norm with eps 1e-3 and no gamma; no classifier layer.
- pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (torchvision names: `Mixed_5b.branch1x1.conv.weight`,
  `...bn.{weight,bias,running_mean,running_var}`, and `fc.{weight,bias}` with 1008 classes). It is read without
  torch by a restricted unpickler (`read_torch_state_dict`); torch is only a fallback for formats it does not know.

`inception_params_from_arrays` is the one place that maps names to flax parameters; it folds each batch norm into
its convolution (scale = gamma / sqrt(var + eps), shift = beta - mean * scale) in float64, then stores float32.
"""
from __future__ import annotations

import hashlib
import io
import os
import pathlib
import pickle
import shutil
import struct
import tempfile
import urllib.request
import zipfile
from collections import OrderedDict
from typing import Any, Mapping

import numpy as np

from jaxgan import _npz

BN_EPS = 1e-3
PTH_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
PTH_NAME = "pt_inception-2015-12-05-6726825d.pth"
PTH_SHA256_PREFIX = "6726825d"
# sha256 of files known to hold the 2015-12-05 weights, full digests.
KNOWN_SHA256 = {
    "ef979f6ae24b9ad730a072ab561c5236ac40d5931cfb4bc72a3c1b6300774079": "fid_inception_2015_12_05.npz (NVIDIA layout)",
}
_WEIGHTS_ENV = "JAXGAN_FID_WEIGHTS"
_CACHE_ENV = "JAXGAN_CACHE"
_CACHE_VERSION = 1


# ----------------------------------------------------------------------------------------------------------------
# The name table: flax path (torchvision names) <-> NVIDIA prefix.

def _block_table(kind: str) -> list[tuple[str, str]]:
  """(torchvision branch name, NVIDIA suffix) of one Inception block kind."""
  if kind == "A":
    return [("branch1x1", "conv"), ("branch5x5_1", "tower.conv"), ("branch5x5_2", "tower.conv_1"),
            ("branch3x3dbl_1", "tower_1.conv"), ("branch3x3dbl_2", "tower_1.conv_1"),
            ("branch3x3dbl_3", "tower_1.conv_2"), ("branch_pool", "tower_2.conv")]
  if kind == "B":
    return [("branch3x3", "conv"), ("branch3x3dbl_1", "tower.conv"), ("branch3x3dbl_2", "tower.conv_1"),
            ("branch3x3dbl_3", "tower.conv_2")]
  if kind == "C":
    return ([("branch1x1", "conv"), ("branch7x7_1", "tower.conv"), ("branch7x7_2", "tower.conv_1"),
             ("branch7x7_3", "tower.conv_2"), ("branch7x7dbl_1", "tower_1.conv")]
            + [(f"branch7x7dbl_{i + 1}", f"tower_1.conv_{i}") for i in range(1, 5)]
            + [("branch_pool", "tower_2.conv")])
  if kind == "D":
    return ([("branch3x3_1", "tower.conv"), ("branch3x3_2", "tower.conv_1"), ("branch7x7x3_1", "tower_1.conv")]
            + [(f"branch7x7x3_{i + 1}", f"tower_1.conv_{i}") for i in range(1, 4)])
  if kind == "E":
    return [("branch1x1", "conv"), ("branch3x3_1", "tower_conv"), ("branch3x3_2a", "tower_mixed_conv"),
            ("branch3x3_2b", "tower_mixed_conv_1"), ("branch3x3dbl_1", "tower_1_conv"),
            ("branch3x3dbl_2", "tower_1_conv_1"), ("branch3x3dbl_3a", "tower_1_mixed_conv"),
            ("branch3x3dbl_3b", "tower_1_mixed_conv_1"), ("branch_pool", "tower_2_conv")]
  raise ValueError(kind)


def conv_table() -> list[tuple[tuple[str, ...], str]]:
  """All 94 convolutions: (flax path as a tuple of torchvision names, NVIDIA key prefix without `.weight`)."""
  table = [(("Conv2d_1a_3x3",), "net.layers.conv"), (("Conv2d_2a_3x3",), "net.layers.conv_1"),
           (("Conv2d_2b_3x3",), "net.layers.conv_2"), (("Conv2d_3b_1x1",), "net.layers.conv_3"),
           (("Conv2d_4a_3x3",), "net.layers.conv_4")]
  blocks = [("Mixed_5b", "A"), ("Mixed_5c", "A"), ("Mixed_5d", "A"), ("Mixed_6a", "B"), ("Mixed_6b", "C"),
            ("Mixed_6c", "C"), ("Mixed_6d", "C"), ("Mixed_6e", "C"), ("Mixed_7a", "D"), ("Mixed_7b", "E"),
            ("Mixed_7c", "E")]
  for i, (block, kind) in enumerate(blocks):
    nv_block = "mixed" if i == 0 else f"mixed_{i}"
    for branch, suffix in _block_table(kind):
      table.append(((block, branch), f"net.layers.{nv_block}.{suffix}"))
  return table


def _source_keys(layout: str, flax_path: tuple[str, ...], nv_prefix: str) -> dict[str, str]:
  """Field -> key in the source file for one conv+BN ("weight", "beta", "mean", "var", maybe "gamma")."""
  if layout == "nvidia":
    return {f: f"{nv_prefix}.{f}" for f in ("weight", "beta", "mean", "var")}
  tv = ".".join(flax_path)
  return {"weight": f"{tv}.conv.weight", "gamma": f"{tv}.bn.weight", "beta": f"{tv}.bn.bias",
          "mean": f"{tv}.bn.running_mean", "var": f"{tv}.bn.running_var"}


def detect_layout(keys: Any) -> str:
  """"nvidia" or "torchvision" from the key names; ValueError when neither."""
  keys = set(keys)
  if "net.layers.conv.weight" in keys:
    return "nvidia"
  if "Conv2d_1a_3x3.conv.weight" in keys:
    return "torchvision"
  raise ValueError("inception weights: unknown key layout (expected NVIDIA `net.layers.conv.weight` or torchvision "
                   f"`Conv2d_1a_3x3.conv.weight`); got keys such as {sorted(keys)[:5]}")


def inception_params_from_arrays(arrays: Mapping[str, np.ndarray], *, eps: float = BN_EPS) -> dict[str, Any]:
  """Maps a flat dict of source arrays to flax params of `InceptionV3FID`, folding batch norm into the convs.

  Accepts both NVIDIA names (`net.layers.mixed.tower.conv.weight`, with beta/mean/var) and torchvision names
  (`Mixed_5b.branch5x5_1.conv.weight`, with bn.{weight,bias,running_mean,running_var}, optional
  `num_batches_tracked`, optional `fc.{weight,bias}`). Every array must be used exactly once.

  Args:
    arrays: name -> array; conv weights (O, I, KH, KW), BN vectors (O,).
    eps: batch-norm epsilon of the 2015 graph.
  Returns:
    Nested dict `{"Conv2d_1a_3x3": {"kernel": (KH, KW, I, O), "bias": (O,)}, "Mixed_5b": {...}, ...}` of float32
    numpy arrays, plus `"fc": {"kernel": (2048, 1008), "bias": (1008,)}` when the source has the classifier.
  Raises:
    ValueError: listing missing or unexpected keys, or a shape that does not fit.
  """
  layout = detect_layout(arrays.keys())
  used: set[str] = set()
  missing: list[str] = []
  params: dict[str, Any] = {}
  for flax_path, nv_prefix in conv_table():
    names = _source_keys(layout, flax_path, nv_prefix)
    if any(n not in arrays for n in names.values()):
      missing += [n for n in names.values() if n not in arrays]
      used.update(n for n in names.values() if n in arrays)  # known names, only incomplete
      continue
    used.update(names.values())
    w = np.asarray(arrays[names["weight"]], np.float64)
    if w.ndim != 4:
      raise ValueError(f"inception weights: {names['weight']} has shape {w.shape}, expected (O, I, KH, KW)")
    vec = {f: np.asarray(arrays[names[f]], np.float64).reshape(-1) for f in names if f != "weight"}
    for f, v in vec.items():
      if v.shape != (w.shape[0],):
        raise ValueError(f"inception weights: {names[f]} has shape {v.shape}, expected ({w.shape[0]},)")
    scale = vec.get("gamma", 1.0) / np.sqrt(vec["var"] + eps)
    node = params
    for part in flax_path:
      node = node.setdefault(part, {})
    node["kernel"] = (w.transpose(2, 3, 1, 0) * scale).astype(np.float32)
    node["bias"] = (vec["beta"] - vec["mean"] * scale).astype(np.float32)
  if layout == "torchvision":
    used.update(k for k in arrays if k.endswith(".bn.num_batches_tracked"))
    if "fc.weight" in arrays or "fc.bias" in arrays:
      if "fc.weight" not in arrays or "fc.bias" not in arrays:
        missing.append("fc.bias" if "fc.weight" in arrays else "fc.weight")
      else:
        used.update(("fc.weight", "fc.bias"))
        params["fc"] = {"kernel": np.asarray(arrays["fc.weight"], np.float32).T.copy(),
                        "bias": np.asarray(arrays["fc.bias"], np.float32).reshape(-1)}
  unexpected = sorted(set(arrays) - used)
  if missing or unexpected:
    raise ValueError(
        f"inception weights ({layout} layout): {len(missing)} missing keys {missing[:6]}, {len(unexpected)} "
        f"unexpected keys {unexpected[:6]}. The file is not the FID Inception (2015-12-05) in a known layout: use "
        f"pytorch-fid's {PTH_NAME} or the NVIDIA-layout npz.")
  return params


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
  """Nested dict -> {"Mixed_5b/branch1x1/kernel": array}."""
  flat = {}
  for k, v in params.items():
    name = f"{prefix}/{k}" if prefix else k
    if isinstance(v, Mapping):
      flat.update(flatten_params(v, name))
    else:
      flat[name] = np.asarray(v)
  return flat


def unflatten_params(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
  """Inverse of `flatten_params`."""
  params: dict[str, Any] = {}
  for name, v in flat.items():
    *parents, leaf = name.split("/")
    node = params
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = np.asarray(v)
  return params


# ----------------------------------------------------------------------------------------------------------------
# A torch-free reader of .pth state dicts.

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16, "LongStorage": np.int64,
    "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Storage:
  """A storage placeholder: dtype and element count now, data filled in later."""

  def __init__(self, dtype: Any, numel: int):
    self.dtype = np.dtype(dtype)
    self.numel = numel
    self.data: np.ndarray | None = None


class _StorageType:
  def __init__(self, name: str):
    self.dtype = _STORAGE_DTYPES[name]


class _LazyTensor:
  """What `torch._utils._rebuild_tensor_v2` would build, kept as a view to materialise once data is read."""

  def __init__(self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]):
    self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

  def numpy(self) -> np.ndarray:
    data = self.storage.data
    if data is None:
      raise ValueError("torch file: a tensor refers to a storage whose data was never read")
    if not self.size:
      if not 0 <= self.offset < data.size:
        raise ValueError(f"torch file: a scalar at offset {self.offset} lies outside its storage of {data.size} "
                         "elements (corrupt file)")
      return np.array(data[self.offset])
    # as_strided reads whatever memory the view spans: check it lies in the storage (a corrupt file must not read
    # past it).
    last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
    if (self.offset < 0 or min(self.stride) < 0 or min(self.size) < 0
        or (min(self.size) > 0 and last >= data.size)):
      raise ValueError(f"torch file: a tensor of size {self.size}, stride {self.stride} at offset {self.offset} "
                       f"lies outside its storage of {data.size} elements (corrupt file)")
    if min(self.size) == 0:
      return np.zeros(self.size, data.dtype)
    itemsize = data.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.size,
                                           strides=[s * itemsize for s in self.stride], writeable=False)
    return np.array(view)


def _rebuild_tensor(storage, offset, size, stride, *unused) -> _LazyTensor:
  return _LazyTensor(storage, offset, size, stride)


def _rebuild_parameter(data, *unused):
  return data


class _RestrictedUnpickler(pickle.Unpickler):
  """Unpickler that only builds OrderedDicts, tensors and storages; anything else is refused."""

  def __init__(self, file, persistent_load_fn):
    super().__init__(file)
    self._persistent_load_fn = persistent_load_fn

  def find_class(self, module: str, name: str):
    if (module, name) == ("collections", "OrderedDict"):
      return OrderedDict
    if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
      return _rebuild_tensor
    if module == "torch._utils" and name == "_rebuild_parameter":
      return _rebuild_parameter
    if module == "torch" and name in _STORAGE_DTYPES:
      return _StorageType(name)
    raise pickle.UnpicklingError(f"torch file: refusing to load {module}.{name} (only state dicts of tensors are "
                                 "read without torch)")

  def persistent_load(self, pid):
    return self._persistent_load_fn(pid)


def _storage_from_pid(pid, storages: dict[str, _Storage]) -> _Storage:
  if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
    raise pickle.UnpicklingError(f"torch file: unsupported persistent id {pid!r:.80}")
  storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
  if not isinstance(storage_type, _StorageType):
    raise pickle.UnpicklingError(f"torch file: unsupported storage type {storage_type!r}")
  if key not in storages:
    storages[key] = _Storage(storage_type.dtype, numel)
  if len(pid) > 5 and pid[5] is not None:
    raise pickle.UnpicklingError("torch file: storage views (legacy view_metadata) are not supported")
  return storages[key]


def _materialise(obj: Any) -> Any:
  if isinstance(obj, _LazyTensor):
    return obj.numpy()
  if isinstance(obj, Mapping):
    return {k: _materialise(v) for k, v in obj.items()}
  return obj


def _read_zip_pth(path: pathlib.Path) -> Any:
  with zipfile.ZipFile(path) as zf:
    names = zf.namelist()
    pkl = [n for n in names if n.endswith("data.pkl")]
    if len(pkl) != 1:
      raise ValueError(f"torch file {path}: expected one data.pkl in the zip, found {pkl}")
    root = pkl[0][: -len("data.pkl")]
    byteorder = zf.read(root + "byteorder").decode().strip() if root + "byteorder" in names else "little"
    storages: dict[str, _Storage] = {}
    obj = _RestrictedUnpickler(io.BytesIO(zf.read(pkl[0])), lambda pid: _storage_from_pid(pid, storages)).load()
    for key, st in storages.items():
      raw = zf.read(f"{root}data/{key}")
      if len(raw) < st.numel * st.dtype.itemsize:
        raise ValueError(f"torch file {path}: storage {key} holds {len(raw)} bytes, its header says "
                         f"{st.numel} x {st.dtype.itemsize} (truncated or corrupt file)")
      dtype = st.dtype.newbyteorder("<" if byteorder == "little" else ">")
      st.data = np.frombuffer(raw, dtype=dtype, count=st.numel).astype(st.dtype)
  return _materialise(obj)


def _read_legacy_pth(path: pathlib.Path) -> Any:
  with open(path, "rb") as f:
    plain = lambda: _RestrictedUnpickler(f, lambda pid: None).load()
    if plain() != _LEGACY_MAGIC:
      raise ValueError(f"torch file {path}: neither a zip archive nor a legacy torch file")
    plain()  # protocol version
    sys_info = plain()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
      raise ValueError(f"torch file {path}: big-endian legacy files are not supported")
    storages: dict[str, _Storage] = {}
    obj = _RestrictedUnpickler(f, lambda pid: _storage_from_pid(pid, storages)).load()
    keys = plain()
    for key in keys:
      if str(key) not in storages:
        raise ValueError(f"torch file {path}: storage {key} is listed but no tensor uses it (corrupt file)")
      st = storages[str(key)]
      head = f.read(8)
      numel = struct.unpack("<q", head)[0] if len(head) == 8 else -1
      raw = f.read(numel * st.dtype.itemsize) if numel == st.numel else b""
      if numel != st.numel or len(raw) != numel * st.dtype.itemsize:
        raise ValueError(f"torch file {path}: storage {key} should hold {st.numel} elements, the file has "
                         f"{max(numel, 0)} and {len(raw)} bytes of them (truncated or corrupt file)")
      st.data = np.frombuffer(raw, dtype=st.dtype.newbyteorder("<")).astype(st.dtype)
  return _materialise(obj)


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Reads a PyTorch state dict (.pth/.pt) into numpy without importing torch.

  Handles the zip format (torch >= 1.6: `<root>/data.pkl` + `<root>/data/<key>`) and the legacy format (a sequence
  of pickles followed by raw storages). Only OrderedDicts of tensors are rebuilt; any other class in the pickle is
  refused. If that fails and torch is installed, `torch.load(weights_only=True)` is tried instead.

  Args:
    path: the file.
  Returns:
    name -> numpy array (dtype as stored).
  Raises:
    ValueError: neither reader could read the file (the message gives both reasons).
  """
  path = pathlib.Path(path)
  try:
    obj = _read_zip_pth(path) if zipfile.is_zipfile(path) else _read_legacy_pth(path)
  except (pickle.UnpicklingError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
    # (a truncated pickle ends in EOFError; a zip member missing in KeyError)
    try:
      import torch  # optional fallback
    except ImportError:
      raise ValueError(f"could not read {path} without torch ({err}); install torch or convert the file to .npz") \
          from err
    try:
      obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as torch_err:  # pylint: disable=broad-except  (torch raises RuntimeError, UnpicklingError...)
      raise ValueError(f"could not read {path}: {err}; torch.load(weights_only=True) failed too: {torch_err}") \
          from torch_err
    obj = {k: v.detach().cpu().float().numpy() if v.is_floating_point() else v.cpu().numpy() for k, v in obj.items()}
  if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
    obj = obj["state_dict"]
  if not isinstance(obj, Mapping):
    raise ValueError(f"torch file {path}: expected a state dict, got {type(obj).__name__}")
  return {str(k): np.asarray(v) for k, v in obj.items()}


# ----------------------------------------------------------------------------------------------------------------
# Files: hashes, cache, download.

def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
  """Hex sha256 of a file, read in chunks."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(chunk), b""):
      h.update(block)
  return h.hexdigest()


def cache_dir() -> pathlib.Path:
  """`$JAXGAN_CACHE` or `~/.cache/jaxgan`."""
  return pathlib.Path(os.environ.get(_CACHE_ENV) or pathlib.Path.home() / ".cache" / "jaxgan")


def _check_hash(path: pathlib.Path, digest: str, expected: str | None) -> None:
  if expected is not None:
    if digest != expected.lower():
      raise ValueError(f"FID weights {path}: sha256 {digest} differs from the expected {expected}. The file is "
                       "corrupt or not the one you meant: download it again or pass the right path.")
    return
  if digest in KNOWN_SHA256 or digest.startswith(PTH_SHA256_PREFIX):  # whatever the file is named
    return
  raise ValueError(
      f"FID weights {path}: unknown sha256 {digest}. Known files are pytorch-fid's {PTH_NAME} (sha256 starts with "
      f"{PTH_SHA256_PREFIX}) and the NVIDIA-layout npz ({next(iter(KNOWN_SHA256))}). Download the standard file "
      "(load_inception_params(download=True) or `python -m jaxgan.fid download`), or, if you trust this file, pass "
      "sha256=<its digest> or verify=False (CLI: --no-verify).")


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Raw arrays of a weights file: .npz, or a torch state dict (.pth/.pt)."""
  path = pathlib.Path(path)
  if path.suffix == ".npz":
    remedy = "download the weights again or pass the right file"
    with _npz.open_npz(path, "FID weights file", remedy) as z:
      return {k: _npz.read_array(z, k, path, "FID weights file", remedy) for k in z.files}
  return read_torch_state_dict(path)


def download_weights(dest_dir: str | os.PathLike | None = None, *, url: str = PTH_URL,
                     sha256_prefix: str = PTH_SHA256_PREFIX) -> pathlib.Path:
  """Downloads pytorch-fid's standard weights into `dest_dir` (default: the cache) and checks the hash.

  Returns:
    The path of the verified file. A file already there with the right hash is reused.
  Raises:
    ValueError: when the downloaded file's sha256 does not start with `sha256_prefix` (the file is deleted).
  """
  dest_dir = pathlib.Path(dest_dir) if dest_dir is not None else cache_dir()
  dest = dest_dir / url.rsplit("/", 1)[-1]
  if dest.is_file() and sha256_file(dest).startswith(sha256_prefix):
    return dest
  dest_dir.mkdir(parents=True, exist_ok=True)
  with tempfile.NamedTemporaryFile(dir=dest_dir, delete=False, suffix=".part") as tmp:
    try:
      with urllib.request.urlopen(url) as response:
        shutil.copyfileobj(response, tmp)
    except OSError as err:
      os.unlink(tmp.name)
      raise OSError(f"could not download FID weights from {url}: {err}. Download the file by hand and pass its "
                    "path (weights=...) or set JAXGAN_FID_WEIGHTS.") from err
  digest = sha256_file(tmp.name)
  if not digest.startswith(sha256_prefix):
    os.unlink(tmp.name)
    raise ValueError(f"downloaded {url}: sha256 {digest} does not start with {sha256_prefix}; the download is "
                     "corrupt or the URL serves another file. Try again or download by hand.")
  os.replace(tmp.name, dest)
  return dest


def _default_weights_path(download: bool) -> pathlib.Path:
  candidates = []
  if os.environ.get(_WEIGHTS_ENV):
    candidates.append(pathlib.Path(os.environ[_WEIGHTS_ENV]))
  candidates += [cache_dir() / PTH_NAME, pathlib.Path.home() / ".cache" / "torch" / "hub" / "checkpoints" / PTH_NAME]
  for c in candidates:
    if c.is_file():
      return c
  if os.environ.get(_WEIGHTS_ENV):
    raise FileNotFoundError(f"${_WEIGHTS_ENV}={os.environ[_WEIGHTS_ENV]} does not exist")
  if download:
    return download_weights()
  raise FileNotFoundError(
      f"FID Inception weights not found (looked at ${_WEIGHTS_ENV}, {candidates[-2]}, {candidates[-1]}). Pass "
      f"weights=<path to {PTH_NAME} or the NVIDIA npz> (CLI: --weights), set {_WEIGHTS_ENV}, or download the "
      "standard file with load_inception_params(download=True) / `python -m jaxgan.fid download`.")


def load_inception_params(path: str | os.PathLike | None = None, *, sha256: str | None = None, verify: bool = True,
                          download: bool = False, use_cache: bool = True) -> dict[str, Any]:
  """Loads FID Inception weights as flax params (float32 numpy, BN folded), verified and cached.

  Args:
    path: an .npz (NVIDIA layout) or pytorch-fid's .pth. None looks at
      `$JAXGAN_FID_WEIGHTS`, the jaxgan cache and torch's hub cache, then downloads if `download`.
    sha256: the digest the file must have; None accepts the known files (see `KNOWN_SHA256` and pytorch-fid's
      hash prefix in the .pth name).
    verify: check the hash at all.
    download: fetch pytorch-fid's standard file (needs internet) when no local file is found.
    use_cache: read/write converted params under `cache_dir()/fid_inception_<sha256[:16]>.npz`.
  Returns:
    Params for `InceptionV3FID` (with "fc" when the file has the 1008-way classifier).
  Raises:
    FileNotFoundError: no weights file. ValueError: wrong hash, missing or unexpected keys.
  """
  path = pathlib.Path(path) if path is not None else _default_weights_path(download)
  if not path.is_file():
    raise FileNotFoundError(f"FID weights file {path} does not exist; pass the path of {PTH_NAME} or the NVIDIA npz")
  digest = sha256_file(path) if (verify or use_cache) else ""
  if verify:
    _check_hash(path, digest, sha256)
  cached = cache_dir() / f"fid_inception_{digest[:16]}.npz"
  if use_cache and cached.is_file():
    try:
      with _npz.open_npz(cached, "weights cache", "") as z:
        if int(z.get("__version__", -1)) == _CACHE_VERSION:
          return unflatten_params({k: z[k] for k in z.files if k != "__version__"})
    except _npz.ERRORS:
      pass  # a corrupt cache file (e.g. a disk filled mid-write) is rebuilt from the weights file below
  params = inception_params_from_arrays(read_arrays(path))
  if use_cache:
    try:
      cached.parent.mkdir(parents=True, exist_ok=True)
      with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False, suffix=".npz") as tmp:
        np.savez(tmp, __version__=np.int64(_CACHE_VERSION), **flatten_params(params))
      os.replace(tmp.name, cached)
    except OSError:
      pass  # a read-only home is not an error
  return params


def random_inception_params(seed: int = 0, *, num_classes: int = 0) -> dict[str, Any]:
  """Random params of the right shapes (for speed measurements and tests; features are meaningless).

  Kernels are scaled so activations stay O(1) through the 94 layers (He init with the ReLU gain).
  """
  from jaxgan.metrics.inception import param_shapes  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(seed)
  flat = flatten_params(_shape_tree(param_shapes(num_classes)))
  out = {}
  for name, shape in flat.items():
    shape = tuple(shape)
    if name.endswith("kernel"):
      fan_in = int(np.prod(shape[:-1]))
      out[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    else:
      out[name] = np.zeros(shape, np.float32)
  return unflatten_params(out)


def _shape_tree(tree: Mapping[str, Any]) -> dict[str, Any]:
  return {k: _shape_tree(v) if isinstance(v, Mapping) else np.array(v.shape) for k, v in tree.items()}

