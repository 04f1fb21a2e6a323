"""FID end to end: images or a generator -> Inception features -> (mu, sigma) -> Fréchet distance.

The generator path runs one compiled step per batch: sample -> quantize to uint8 -> resize -> Inception ->
accumulate moments, all on device (sharded over the batch axis when there are several local devices); only the
final moments (two D x D float32 matrices) come back to the host. 50k images never exist on the host.

Example:
  >>> extractor = inception_extractor("pt_inception-2015-12-05-6726825d.pth")          # doctest: +SKIP
  >>> ref = stats_from_images(uint8_images, extractor)                                   # doctest: +SKIP
  >>> sample_fn = lambda key, n: generator.apply(variables, jax.random.normal(key, (n, 128)))
  >>> fid(sample_fn, ref, num=50_000, batch_size=250, extractor=extractor)              # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Any, Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxgan.metrics import frechet, modes as pre, stats as st
from jaxgan.metrics.inception import FEATURE_DIM, NUM_CLASSES, InceptionV3FID
from jaxgan.metrics.weights import load_inception_params

SampleFn = Callable[[jax.Array, int], jax.Array]  # (key, n) -> (n, H, W, C) float in [-1, 1] (or uint8)
ApplyFn = Callable[[Any, jax.Array], dict[str, jax.Array]]


@dataclasses.dataclass(frozen=True)
class InceptionApply:
  """images -> {"pool3", "logits"?}: preprocessing plus the network, as a hashable callable (so jit caches hit)."""
  mode: str = "tf1"
  quantize: bool = True
  dtype: Any = jnp.float32
  precision: Any = "highest"
  num_classes: int = 0

  def __call__(self, params: Any, images: jax.Array) -> dict[str, jax.Array]:
    x = pre.preprocess(images, mode=self.mode, quantize=self.quantize)
    net = InceptionV3FID(num_classes=self.num_classes, dtype=self.dtype, precision=self.precision)
    return net.apply({"params": params}, x)


@dataclasses.dataclass(frozen=True)
class FeatureExtractor:
  """A pure feature function and its parameters.

  Attributes:
    apply_fn: (params, images (N, H, W, C) uint8 or float in [-1, 1]) -> {"pool3": (N, D) float32, and "logits":
      (N, K) float32 when `has_logits`}. Must be hashable (it is a static argument of the compiled steps).
    params: pytree of device arrays.
    feature_dim: D.
    has_logits: whether apply_fn returns "logits".
  """
  apply_fn: ApplyFn
  params: Any
  feature_dim: int = FEATURE_DIM
  has_logits: bool = False


def inception_extractor(weights: str | os.PathLike | None = None, *, params: Any = None, mode: str = "tf1",
                        quantize: bool = True, dtype: Any = jnp.float32, precision: Any = "highest",
                        logits: bool | None = None, download: bool = False, verify: bool = True) -> FeatureExtractor:
  """The FID Inception as a FeatureExtractor.

  Args:
    weights: path of the weights (.pth of pytorch-fid or the NVIDIA npz); None: see `load_inception_params`.
    params: already-loaded params (then `weights` is ignored), e.g. `random_inception_params()` for benchmarks.
    mode: preprocessing, "tf1" (default, TTUR-comparable), "pytorch" or "none"; see `modes.preprocess`.
    quantize: round float images to uint8 first (StyleGAN2-ADA).
    dtype: compute dtype, float32 (exact) or bfloat16 (fast mode).
    precision: matmul precision, "highest" (strict float32, default) or None/"default" (TF32 on recent GPUs).
    logits: also return the 1008 logits (for Inception Score); None: when the weights have the classifier.
    download: fetch pytorch-fid's weights when none are found locally.
    verify: check the weights' sha256.
  Returns:
    A FeatureExtractor whose params are on the default device.
  """
  pre.check_mode(mode)
  if params is None:
    params = load_inception_params(weights, download=download, verify=verify)
  has_fc = "fc" in params
  if logits and not has_fc:
    raise ValueError("logits=True needs weights with the 1008-way classifier (pytorch-fid's .pth has it; the NVIDIA "
                     "npz has not)")
  want_logits = has_fc if logits is None else bool(logits)
  if not want_logits:
    params = {k: v for k, v in params.items() if k != "fc"}
  apply_fn = InceptionApply(mode, quantize, jnp.dtype(dtype).type, precision, NUM_CLASSES if want_logits else 0)
  return FeatureExtractor(apply_fn, jax.device_put(params), FEATURE_DIM, want_logits)


# ----------------------------------------------------------------------------------------------------------------
# Compiled steps.

@functools.partial(jax.jit, static_argnames=("apply_fn",), donate_argnames=("moments",))
def _images_step(apply_fn: ApplyFn, params: Any, moments: st.MomentState, images: jax.Array,
                 mask: jax.Array) -> st.MomentState:
  return st.update_moments(moments, apply_fn(params, images)["pool3"], mask)


@functools.partial(jax.jit, static_argnames=("apply_fn",))
def _images_features(apply_fn: ApplyFn, params: Any, images: jax.Array) -> dict[str, jax.Array]:
  return apply_fn(params, images)


def _sample(sample_fn: SampleFn, sample_args: Any, key: jax.Array, index: jax.Array, batch: int,
            sharding: NamedSharding | None):
  k = jax.random.fold_in(key, index)
  images = sample_fn(k, batch) if sample_args is None else sample_fn(sample_args, k, batch)
  if sharding is not None:
    images = jax.lax.with_sharding_constraint(images, sharding)
  if jnp.issubdtype(images.dtype, jnp.floating):
    x = images.astype(jnp.float32)
    finite = jnp.isfinite(x)
    lo = jnp.min(jnp.where(finite, x, jnp.inf))
    hi = jnp.max(jnp.where(finite, x, -jnp.inf))
    bad = jnp.sum(~finite).astype(jnp.int32)
  else:
    lo, hi, bad = jnp.float32(jnp.inf), jnp.float32(-jnp.inf), jnp.int32(0)
  return images, (lo, hi, bad)


def _merge_range(r, new):
  return jnp.minimum(r[0], new[0]), jnp.maximum(r[1], new[1]), r[2] + new[2]


@functools.partial(jax.jit, static_argnames=("apply_fn", "sample_fn", "batch", "sharding"),
                   donate_argnames=("moments", "ranges"))
def _generator_step(apply_fn: ApplyFn, sample_fn: SampleFn, batch: int, sharding: NamedSharding | None, params: Any,
                    sample_args: Any, moments: st.MomentState, ranges: tuple, key: jax.Array, index: jax.Array,
                    num: jax.Array):
  images, r = _sample(sample_fn, sample_args, key, index, batch, sharding)
  mask = index * batch + jnp.arange(batch) < num
  feats = apply_fn(params, images)["pool3"]
  return st.update_moments(moments, feats, mask), _merge_range(ranges, r)


@functools.partial(jax.jit, static_argnames=("apply_fn", "sample_fn", "batch", "sharding"))
def _generator_features(apply_fn: ApplyFn, sample_fn: SampleFn, batch: int, sharding: NamedSharding | None,
                        params: Any, sample_args: Any, key: jax.Array, index: jax.Array):
  images, r = _sample(sample_fn, sample_args, key, index, batch, sharding)
  return apply_fn(params, images), r


# ----------------------------------------------------------------------------------------------------------------
# Helpers.

def _default_extractor(extractor: FeatureExtractor | None) -> FeatureExtractor:
  return inception_extractor() if extractor is None else extractor


def _feature_dim(extractor: FeatureExtractor | None) -> int:
  """D of `extractor` (of the default Inception for None), without loading weights."""
  return FEATURE_DIM if extractor is None else extractor.feature_dim


def _rebatch(images: np.ndarray | Iterable[np.ndarray], batch_size: int, limit: int | None) -> Iterator[np.ndarray]:
  """Fixed-size host batches (the last one may be short) from an array or an iterable of arrays."""
  if isinstance(images, (np.ndarray, jax.Array)):
    total = images.shape[0] if limit is None else min(limit, images.shape[0])
    for i in range(0, total, batch_size):
      yield np.asarray(images[i:min(i + batch_size, total)])
    return
  buffer: list[np.ndarray] = []
  count = seen = 0
  for chunk in images:
    chunk = np.asarray(chunk)
    if limit is not None:
      chunk = chunk[:max(0, limit - seen)]
    seen += chunk.shape[0]
    buffer.append(chunk)
    count += chunk.shape[0]
    while count >= batch_size:
      joined = np.concatenate(buffer)
      yield joined[:batch_size]
      buffer, count = [joined[batch_size:]], count - batch_size
    if limit is not None and seen >= limit:
      break
  if count:
    yield np.concatenate(buffer)


def _pad(batch: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
  n = batch.shape[0]
  mask = np.arange(batch_size) < n
  if n < batch_size:
    batch = np.concatenate([batch, np.zeros((batch_size - n,) + batch.shape[1:], batch.dtype)])
  return batch, mask


def _mesh_sharding(batch_size: int) -> tuple[int, NamedSharding | None, NamedSharding | None]:
  """Batch size rounded up to the device count, and (data, replicated) shardings when there are several devices."""
  devices = jax.local_devices()
  if len(devices) == 1:
    return batch_size, None, None
  mesh = Mesh(np.array(devices), ("batch",))
  batch_size = math.ceil(batch_size / len(devices)) * len(devices)
  return batch_size, NamedSharding(mesh, PartitionSpec("batch")), NamedSharding(mesh, PartitionSpec())


def _check_generator_range(ranges: tuple, what: str = "sample_fn output") -> None:
  lo, hi, bad = (float(v) for v in jax.device_get(ranges))
  if bad:
    raise ValueError(f"{what}: {int(bad)} non-finite pixel values (NaN or inf); check the generator")
  if lo <= hi:  # some float output was seen
    pre.check_range(lo, hi, what=what)


def _check_counts(num: int, batch_size: int) -> None:
  if num < 1 or batch_size < 1:
    raise ValueError(f"num and batch_size must be >= 1, got num={num}, batch_size={batch_size}")


def _check_image_args(batch_size: int, limit: int | None) -> None:
  if batch_size < 1 or (limit is not None and limit < 1):
    raise ValueError(f"batch_size must be >= 1 and limit None or >= 1, got batch_size={batch_size}, limit={limit}")


def _known_count(images: Any, limit: int | None) -> int | None:
  """The number of images to measure when it is known before reading them (an array, or a `limit`), else None."""
  n = images.shape[0] if isinstance(images, (np.ndarray, jax.Array)) else None
  if limit is not None:
    n = limit if n is None else min(n, limit)
  return n


def _capped(batch_size: int, images: Any, limit: int | None = None) -> int:
  """The batch size for a known number of images: never more than there are (a 500-image batch compiled for 32
  images costs 15x the compute and, on a CPU, gigabytes of activations)."""
  counts = [batch_size] + [n for n in (getattr(images, "shape", (None,))[0], limit) if n is not None and n > 0]
  return min(counts)


# ----------------------------------------------------------------------------------------------------------------
# Public API.

def extract_features(images: np.ndarray | Iterable[np.ndarray], extractor: FeatureExtractor | None = None, *,
                     batch_size: int = 100, limit: int | None = None) -> dict[str, np.ndarray]:
  """Features of host images (all kept, for KID, precision/recall and IS).

  Args:
    images: (N, H, W, C) uint8 in [0, 255] or float in [-1, 1], or an iterable of such batches.
    extractor: default `inception_extractor()`.
    batch_size: images per compiled call (the last batch is padded, so one compilation); at most N (or limit).
    limit: use at most this many images.
  Returns:
    {"pool3": (N, D) float32, "logits": (N, K) float32 if the extractor has logits}.
  """
  _check_image_args(batch_size, limit)
  ex = _default_extractor(extractor)
  batch_size, data_sharding, replicated = _mesh_sharding(_capped(batch_size, images, limit))
  params = ex.params if replicated is None else jax.device_put(ex.params, replicated)
  outs: dict[str, list[np.ndarray]] = {}
  for batch in _rebatch(images, batch_size, limit):
    pre.check_images(batch)
    padded, mask = _pad(batch, batch_size)
    feats = jax.device_get(_images_features(ex.apply_fn, params, jax.device_put(padded, data_sharding)))
    for k, v in feats.items():
      outs.setdefault(k, []).append(np.asarray(v)[mask])
  if not outs:
    raise ValueError("extract_features: no images")
  out = {k: np.concatenate(v) for k, v in outs.items()}
  if not np.all(np.isfinite(out["pool3"])):
    raise ValueError("features contain NaN or inf: check the weights and the images")
  return out


def stats_from_images(images: np.ndarray | Iterable[np.ndarray], extractor: FeatureExtractor | None = None, *,
                      batch_size: int = 100, limit: int | None = None, allow_few: bool = False) -> st.Stats:
  """(mu, sigma) of Inception pool3 features of host images, accumulated batch by batch on device.

  Args:
    images: (N, H, W, C) uint8 in [0, 255] or float in [-1, 1] (C in {1, 3}), or an iterable of such batches
      (e.g. a data loader), so the whole set never needs to be in memory.
    extractor: default `inception_extractor()`.
    batch_size: images per compiled call, at most N (or limit) for an array, rounded up to a multiple of the local
      device count (batches are sharded over the devices).
    limit: use at most this many images.
    allow_few: accept fewer images than feature dimensions (2048).
  Returns:
    Stats(mu (D,), sigma (D, D), num).
  Raises:
    ValueError: bad dtype/range/shape, too few images, non-finite features.
  """
  _check_image_args(batch_size, limit)
  known = _known_count(images, limit)
  if known is not None:  # before any weights load or compute
    st.check_sample_count(known, _feature_dim(extractor), allow_few=allow_few)
  ex = _default_extractor(extractor)
  batch_size, data_sharding, replicated = _mesh_sharding(_capped(batch_size, images, limit))
  params, moments = ex.params, st.init_moments(ex.feature_dim)
  if replicated is not None:
    params, moments = jax.device_put((params, moments), replicated)
  for batch in _rebatch(images, batch_size, limit):
    pre.check_images(batch)
    padded, mask = _pad(batch, batch_size)
    moments = _images_step(ex.apply_fn, params, moments, *jax.device_put((padded, mask), data_sharding))
  return st.finalize_moments(moments, allow_few=allow_few)


def stats_from_generator(sample_fn: SampleFn, num: int = 50_000, *, key: jax.Array | None = None,
                         batch_size: int = 250, extractor: FeatureExtractor | None = None,
                         allow_few: bool = False, sample_args: Any = None) -> st.Stats:
  """(mu, sigma) of `num` generated samples, generated and measured on device batch by batch.

  Args:
    sample_fn: (key, n) -> (n, H, W, C) float in [-1, 1] (or uint8), jit-traceable; or, with `sample_args`,
      (sample_args, key, n) -> images. It is a static argument of the compiled step: pass the same function
      object every time (a module-level function, or one `functools.partial` kept around) and the generator's
      parameters through `sample_args`, and every evaluation reuses one compilation (parameters bound inside
      the function would be baked into the program as constants, and a new function object recompiles).
    num: number of samples (the last batch is masked, not shortened, so one compilation).
    key: PRNG key; batch i uses `fold_in(key, i)`. Default `jax.random.key(0)`.
    batch_size: samples per step, at most `num`, rounded up to a multiple of the local device count.
    extractor: default `inception_extractor()`.
    allow_few: accept num < feature dimension.
    sample_args: a pytree (e.g. G's variables) passed to `sample_fn` as a traced argument; None: not passed.
  Returns:
    Stats(mu, sigma, num).
  Raises:
    ValueError: generator output out of range or non-finite, too few samples.
  """
  _check_counts(num, batch_size)
  st.check_sample_count(num, _feature_dim(extractor), allow_few=allow_few)  # before any weights load or compute
  ex = _default_extractor(extractor)
  key = jax.random.key(0) if key is None else key
  batch_size, data_sharding, replicated = _mesh_sharding(min(batch_size, num))
  params, moments = ex.params, st.init_moments(ex.feature_dim)
  ranges = (jnp.float32(jnp.inf), jnp.float32(-jnp.inf), jnp.int32(0))
  if replicated is not None:
    params, sample_args, moments, ranges, key = jax.device_put((params, sample_args, moments, ranges, key),
                                                               replicated)
  num_arr = jnp.int32(num)
  for i in range(math.ceil(num / batch_size)):
    moments, ranges = _generator_step(ex.apply_fn, sample_fn, batch_size, data_sharding, params, sample_args,
                                      moments, ranges, key, jnp.int32(i), num_arr)
    if i == 0:  # a diverged (NaN) or wrongly scaled G is named after its first batch, not after all of them
      _check_generator_range(ranges)
  _check_generator_range(ranges)
  return st.finalize_moments(moments, allow_few=allow_few)


def features_from_generator(sample_fn: SampleFn, num: int, *, key: jax.Array | None = None, batch_size: int = 250,
                            extractor: FeatureExtractor | None = None, sample_args: Any = None
                            ) -> dict[str, np.ndarray]:
  """All features of `num` generated samples (for KID, precision/recall, IS); same samples as
  `stats_from_generator` with the same key and batch size (and `sample_args`, see there).

  Returns:
    {"pool3": (num, D) float32, "logits": (num, K) float32 if the extractor has logits}.
  """
  _check_counts(num, batch_size)
  ex = _default_extractor(extractor)
  key = jax.random.key(0) if key is None else key
  batch_size, data_sharding, replicated = _mesh_sharding(min(batch_size, num))
  params = ex.params
  if replicated is not None:
    params, sample_args = jax.device_put((params, sample_args), replicated)
  outs: dict[str, list[np.ndarray]] = {}
  ranges = (np.inf, -np.inf, 0)
  for i in range(math.ceil(num / batch_size)):
    feats, r = _generator_features(ex.apply_fn, sample_fn, batch_size, data_sharding, params, sample_args, key,
                                   jnp.int32(i))
    for k, v in jax.device_get(feats).items():
      outs.setdefault(k, []).append(np.asarray(v))
    ranges = _merge_range(ranges, r)
    if i == 0:  # as in stats_from_generator
      _check_generator_range(ranges)
  _check_generator_range(ranges)
  out = {k: np.concatenate(v)[:num] for k, v in outs.items()}
  if not np.all(np.isfinite(out["pool3"])):
    raise ValueError("features contain NaN or inf: check the weights and the generator")
  return out


def fid_from_stats(a: st.Stats | str | os.PathLike, b: st.Stats | str | os.PathLike, *, method: str = "sqrtm",
                   eps: float = 1e-6) -> float:
  """FID between two Stats (or stats .npz paths)."""
  a = st.load_stats(a) if isinstance(a, (str, os.PathLike)) else a
  b = st.load_stats(b) if isinstance(b, (str, os.PathLike)) else b
  return frechet.frechet_distance(a.mu, a.sigma, b.mu, b.sigma, method=method, eps=eps)


def fid(sample_fn: SampleFn, ref_stats: st.Stats | str | os.PathLike, num: int = 50_000, batch_size: int = 250, *,
        key: jax.Array | None = None, extractor: FeatureExtractor | None = None, method: str = "sqrtm",
        allow_few: bool = False, sample_args: Any = None) -> float:
  """FID of a generator against reference statistics (Heusel et al. 2017, arXiv:1706.08500).

  Args:
    sample_fn: (key, n) -> (n, H, W, C) float in [-1, 1], NHWC, or (sample_args, key, n) -> images; see
      `stats_from_generator`.
    ref_stats: Stats or the path of a stats .npz (`mu`, `sigma`), computed with the same preprocessing mode.
    num: samples (50,000 for the standard FID).
    batch_size: samples per compiled step.
    key: PRNG key of the samples.
    extractor: default `inception_extractor()` (tf1 mode, strict float32).
    method: "sqrtm" or "eig", see `frechet_distance`.
    allow_few: accept num < 2048.
    sample_args: the generator's parameters (any pytree), passed to `sample_fn` as a traced argument.
  Returns:
    FID, a Python float.
  """
  ref = st.load_stats(ref_stats) if isinstance(ref_stats, (str, os.PathLike)) else ref_stats
  dim = _feature_dim(extractor)  # checked before any weights load or compute (so is num, in stats_from_generator)
  if ref.mu.shape != (dim,):
    raise ValueError(f"reference statistics have dimension {ref.mu.shape[0]}, features have {dim}: compute the "
                     "reference with the same extractor (`stats_from_images` or `python -m jaxgan.fid stats`)")
  gen = stats_from_generator(sample_fn, num, key=key, batch_size=batch_size, extractor=extractor,
                             allow_few=allow_few, sample_args=sample_args)
  return frechet.frechet_distance(gen.mu, gen.sigma, ref.mu, ref.sigma, method=method)
