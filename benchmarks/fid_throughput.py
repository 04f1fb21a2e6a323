"""FID feature-extraction throughput: jaxgan (JAX/flax) next to pytorch-fid's network (PyTorch), on one device.

What it measures, in one run and on the same device:

1. images/s of the Inception pool3 forward pass (preprocessing excluded: the input is a (B, S, S, 3) float batch
   already on the device, S = 299) for several batch sizes, in
   - strict float32: JAX `precision="highest"`; PyTorch with TF32 off for matmul and cuDNN;
   - TF32: JAX `precision="default"` (XLA's TF32 on Ampere+), PyTorch with TF32 on;
   - bf16: JAX `dtype=bfloat16`; PyTorch `autocast(bfloat16)`.
   PyTorch runs channels_last (NHWC, the fast cuDNN layout); its network is written here from the same folded
   arrays the JAX model uses (conv + bias + ReLU, with pytorch-fid's pooling variants).
2. drift of each fast mode: the FID between its statistics and strict float32's on the same images, and the max
   absolute pool3 difference; plus JAX-vs-PyTorch parity of the strict features.
3. wall time of a full FID from a DCGAN-sized random generator (z 128 -> 4x4x512 -> 32x32x3, tanh) through
   `jaxgan.metrics.stats_from_generator` (generate, quantize, tf1 resize to 299, Inception, moments, all compiled on
   device) in each mode, then the Fréchet distance on the host by both methods (`eig`, and `sqrtm` as pytorch-fid);
4. with `--real-data NAME:DIR`, the FID between `--real-num` train and as many test images of a real dataset
   (evenly spaced over each split) in each mode, and each fast mode's relative difference from strict float32:
   the drift as users meet it.

Weights: `--weights` (pytorch-fid's .pth or the NVIDIA npz), else random weights of the same shapes (speed does
not depend on the values; the drift numbers are then only indicative).

  python -m benchmarks.fid_throughput --weights pt_inception-2015-12-05-6726825d.pth --out fid_throughput.json
  python -m benchmarks.fid_throughput --weights W --real-data cifar10:cifar10_jpeg_q75.zip --out fid.json
  python -m benchmarks.fid_throughput --smoke        # CPU, tiny sizes, < 1 minute; skips PyTorch if absent
"""
from __future__ import annotations

import argparse
import functools
import json
import platform
import time
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import time_calls
from jaxgan.metrics import frechet, inception, pipeline, stats, weights

MODES = ("strict", "tf32", "bf16")


# ---------------------------------------------------------------------------------------------- PyTorch network

def _build_torch_inception(params: dict[str, Any], device: Any) -> Any:
  """pytorch-fid's FID Inception (pool3 only) in PyTorch, from jaxgan's folded params (HWIO kernels + bias)."""
  import torch  # pylint: disable=import-outside-toplevel
  import torch.nn.functional as F  # pylint: disable=import-outside-toplevel

  class Conv(torch.nn.Module):
    def __init__(self, p: dict[str, np.ndarray], stride: int = 1, padding: tuple[int, int] = (0, 0)):
      super().__init__()
      kernel = np.ascontiguousarray(np.asarray(p["kernel"]).transpose(3, 2, 0, 1))  # HWIO -> OIHW
      self.weight = torch.nn.Parameter(torch.from_numpy(kernel), requires_grad=False)
      self.bias = torch.nn.Parameter(torch.from_numpy(np.asarray(p["bias"]).copy()), requires_grad=False)
      self.stride, self.padding = stride, padding

    def forward(self, x):
      return F.relu(F.conv2d(x, self.weight, self.bias, self.stride, self.padding))

  def convs(block: dict, spec: dict[str, tuple]) -> torch.nn.ModuleDict:
    return torch.nn.ModuleDict({name: Conv(block[name], *args) for name, args in spec.items()})

  def avg3(x):
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)

  class BlockA(torch.nn.Module):
    def __init__(self, p):
      super().__init__()
      self.c = convs(p, {"branch1x1": (), "branch5x5_1": (), "branch5x5_2": (1, (2, 2)), "branch3x3dbl_1": (),
                         "branch3x3dbl_2": (1, (1, 1)), "branch3x3dbl_3": (1, (1, 1)), "branch_pool": ()})

    def forward(self, x):
      c = self.c
      return torch.cat([c["branch1x1"](x), c["branch5x5_2"](c["branch5x5_1"](x)),
                        c["branch3x3dbl_3"](c["branch3x3dbl_2"](c["branch3x3dbl_1"](x))),
                        c["branch_pool"](avg3(x))], 1)

  class BlockB(torch.nn.Module):
    def __init__(self, p):
      super().__init__()
      self.c = convs(p, {"branch3x3": (2,), "branch3x3dbl_1": (), "branch3x3dbl_2": (1, (1, 1)),
                         "branch3x3dbl_3": (2,)})

    def forward(self, x):
      c = self.c
      return torch.cat([c["branch3x3"](x), c["branch3x3dbl_3"](c["branch3x3dbl_2"](c["branch3x3dbl_1"](x))),
                        F.max_pool2d(x, 3, stride=2)], 1)

  class BlockC(torch.nn.Module):
    def __init__(self, p):
      super().__init__()
      h, v = (1, (0, 3)), (1, (3, 0))  # 1x7 and 7x1 paddings
      self.c = convs(p, {"branch1x1": (), "branch7x7_1": (), "branch7x7_2": h, "branch7x7_3": v,
                         "branch7x7dbl_1": (), "branch7x7dbl_2": v, "branch7x7dbl_3": h, "branch7x7dbl_4": v,
                         "branch7x7dbl_5": h, "branch_pool": ()})

    def forward(self, x):
      c = self.c
      b7 = c["branch7x7_3"](c["branch7x7_2"](c["branch7x7_1"](x)))
      bd = x
      for i in range(1, 6):
        bd = c[f"branch7x7dbl_{i}"](bd)
      return torch.cat([c["branch1x1"](x), b7, bd, c["branch_pool"](avg3(x))], 1)

  class BlockD(torch.nn.Module):
    def __init__(self, p):
      super().__init__()
      self.c = convs(p, {"branch3x3_1": (), "branch3x3_2": (2,), "branch7x7x3_1": (), "branch7x7x3_2": (1, (0, 3)),
                         "branch7x7x3_3": (1, (3, 0)), "branch7x7x3_4": (2,)})

    def forward(self, x):
      c = self.c
      b7 = x
      for i in range(1, 5):
        b7 = c[f"branch7x7x3_{i}"](b7)
      return torch.cat([c["branch3x3_2"](c["branch3x3_1"](x)), b7, F.max_pool2d(x, 3, stride=2)], 1)

  class BlockE(torch.nn.Module):
    def __init__(self, p, pool: str):
      super().__init__()
      h, v = (1, (0, 1)), (1, (1, 0))
      self.pool = pool
      self.c = convs(p, {"branch1x1": (), "branch3x3_1": (), "branch3x3_2a": h, "branch3x3_2b": v,
                         "branch3x3dbl_1": (), "branch3x3dbl_2": (1, (1, 1)), "branch3x3dbl_3a": h,
                         "branch3x3dbl_3b": v, "branch_pool": ()})

    def forward(self, x):
      c = self.c
      b3 = c["branch3x3_1"](x)
      b3 = torch.cat([c["branch3x3_2a"](b3), c["branch3x3_2b"](b3)], 1)
      bd = c["branch3x3dbl_2"](c["branch3x3dbl_1"](x))
      bd = torch.cat([c["branch3x3dbl_3a"](bd), c["branch3x3dbl_3b"](bd)], 1)
      pooled = avg3(x) if self.pool == "avg" else F.max_pool2d(x, 3, stride=1, padding=1)
      return torch.cat([c["branch1x1"](x), b3, bd, c["branch_pool"](pooled)], 1)

  class InceptionFID(torch.nn.Module):
    def __init__(self, p):
      super().__init__()
      self.stem = torch.nn.ModuleList([Conv(p["Conv2d_1a_3x3"], 2), Conv(p["Conv2d_2a_3x3"]),
                                       Conv(p["Conv2d_2b_3x3"], 1, (1, 1)), Conv(p["Conv2d_3b_1x1"]),
                                       Conv(p["Conv2d_4a_3x3"])])
      self.blocks = torch.nn.ModuleList(
          [BlockA(p["Mixed_5b"]), BlockA(p["Mixed_5c"]), BlockA(p["Mixed_5d"]), BlockB(p["Mixed_6a"]),
           BlockC(p["Mixed_6b"]), BlockC(p["Mixed_6c"]), BlockC(p["Mixed_6d"]), BlockC(p["Mixed_6e"]),
           BlockD(p["Mixed_7a"]), BlockE(p["Mixed_7b"], "avg"), BlockE(p["Mixed_7c"], "max")])

    def forward(self, x):  # (N, 3, H, W) in [-1, 1] -> (N, 2048)
      s = self.stem
      x = F.max_pool2d(s[2](s[1](s[0](x))), 3, stride=2)
      x = F.max_pool2d(s[4](s[3](x)), 3, stride=2)
      for block in self.blocks:
        x = block(x)
      return torch.mean(x.float(), dim=(2, 3))

  return InceptionFID(params).to(device).to(memory_format=torch.channels_last).eval()


def _torch_setup(mode: str) -> Any:
  """Sets TF32 flags for `mode`; returns the autocast context to run under."""
  import contextlib  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  tf32 = mode == "tf32"
  torch.backends.cuda.matmul.allow_tf32 = tf32
  torch.backends.cudnn.allow_tf32 = tf32
  # cuDNN's autotuner, as XLA autotunes its convolutions: the shapes are fixed and the warm-up calls cover the
  # search. (The 2026-11-26 H200 table ran without it; benchmarks.train_step always set it.)
  torch.backends.cudnn.benchmark = True
  if mode == "bf16":
    return torch.autocast("cuda" if torch.cuda.is_available() else "cpu", dtype=torch.bfloat16)
  return contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------- JAX side

@functools.lru_cache(maxsize=None)
def _jax_apply(mode: str) -> Callable:
  dtype = jnp.bfloat16 if mode == "bf16" else jnp.float32
  precision = "highest" if mode == "strict" else "default"
  net = inception.InceptionV3FID(dtype=dtype, precision=precision)
  return jax.jit(lambda p, x: net.apply({"params": p}, x)["pool3"])


def _extractor(params: Any, mode: str) -> pipeline.FeatureExtractor:
  return pipeline.inception_extractor(params=params, dtype=jnp.bfloat16 if mode == "bf16" else jnp.float32,
                                      precision="highest" if mode == "strict" else "default", logits=False)


class _Generator(nn.Module):
  """DCGAN-sized generator: z (128) -> 4x4x512 -> 8x8x256 -> 16x16x128 -> 32x32x3, tanh."""

  @nn.compact
  def __call__(self, z):
    x = nn.relu(nn.Dense(4 * 4 * 512)(z)).reshape(z.shape[0], 4, 4, 512)
    for f in (256, 128):
      x = nn.relu(nn.ConvTranspose(f, (4, 4), strides=(2, 2))(x))
    return jnp.tanh(nn.ConvTranspose(3, (4, 4), strides=(2, 2))(x))


_GEN = _Generator()
_GEN_VARS = None


def _sample_fn(key: jax.Array, n: int) -> jax.Array:
  return _GEN.apply(_GEN_VARS, jax.random.normal(key, (n, 128)))


# ---------------------------------------------------------------------------------------------- measurements

def _throughput(params, batch_sizes, size, iters, warmup, torch_net, torch_device) -> list[dict]:
  rows = []
  for batch in batch_sizes:
    x = jax.random.uniform(jax.random.key(batch), (batch, size, size, 3), minval=-1, maxval=1)
    for mode in MODES:
      apply = _jax_apply(mode)
      seconds = iters * time_calls(lambda: apply(params, x), jax.block_until_ready, warmup=warmup, iters=iters)[1]
      rows.append({"framework": "jax", "mode": mode, "batch": batch, "images_per_s": batch * iters / seconds})
      if torch_net is not None:
        import torch  # pylint: disable=import-outside-toplevel
        xt = torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy()).to(torch_device).contiguous(
            memory_format=torch.channels_last)
        sync = (lambda _: torch.cuda.synchronize()) if torch_device.type == "cuda" else (lambda _: None)
        ctx = _torch_setup(mode)
        with torch.inference_mode(), ctx:
          seconds = iters * time_calls(lambda: torch_net(xt), sync, warmup=warmup, iters=iters)[1]
        rows.append({"framework": "torch", "mode": mode, "batch": batch, "images_per_s": batch * iters / seconds})
      print(f"  batch {batch:4d} {mode:6s} " + "  ".join(f"{r['framework']} {r['images_per_s']:9.1f} img/s"
                                                        for r in rows[-(2 if torch_net is not None else 1):]))
  return rows


def _drift(params, num, batch, size, torch_net, torch_device) -> tuple[list[dict], dict]:
  """Features of the same `num` random images in every mode; FID of each fast mode vs strict float32."""
  xs = [jax.random.uniform(jax.random.key(1000 + i), (batch, size, size, 3), minval=-1, maxval=1)
        for i in range(-(-num // batch))]
  feats: dict[tuple[str, str], np.ndarray] = {}
  for mode in MODES:
    apply = _jax_apply(mode)
    feats[("jax", mode)] = np.concatenate([np.asarray(apply(params, x)) for x in xs])[:num]
    if torch_net is not None:
      import torch  # pylint: disable=import-outside-toplevel
      ctx = _torch_setup(mode)
      out = []
      with torch.inference_mode(), ctx:
        for x in xs:
          xt = torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy()).to(torch_device).contiguous(
              memory_format=torch.channels_last)
          out.append(torch_net(xt).float().cpu().numpy())
      feats[("torch", mode)] = np.concatenate(out)[:num]
  # FID needs num >= 2048 for a full-rank covariance; with fewer (smoke) only the feature differences are reported
  full_rank = num >= inception.FEATURE_DIM
  st = {k: stats.stats_from_features(v) for k, v in feats.items()} if full_rank else {}

  def fid_between(a, b):
    if not full_rank:
      return None
    return frechet.frechet_distance(st[a].mu, st[a].sigma, st[b].mu, st[b].sigma, method="eig")

  rows = []
  for (fw, mode), f in feats.items():
    if mode != "strict":
      rows.append({"framework": fw, "mode": mode, "fid_vs_strict": fid_between((fw, mode), (fw, "strict")),
                   "max_abs_pool3_vs_strict": float(np.abs(f - feats[(fw, "strict")]).max())})
  parity = {}
  if ("torch", "strict") in feats:
    parity = {"max_abs_pool3_jax_vs_torch_strict": float(np.abs(feats[("jax", "strict")]
                                                                 - feats[("torch", "strict")]).max()),
              "fid_jax_vs_torch_strict": fid_between(("jax", "strict"), ("torch", "strict"))}
  return rows, parity


def _frechet_both(a: stats.Stats, b: stats.Stats, methods: tuple[str, ...]) -> dict[str, dict[str, float]]:
  """{method: {"fid", "seconds"}}: the Fréchet distance of a and b by each method, timed on the host."""
  out = {}
  for method in methods:
    t0 = time.perf_counter()
    value = frechet.frechet_distance(a.mu, a.sigma, b.mu, b.sigma, method=method)
    out[method] = {"fid": float(value), "seconds": time.perf_counter() - t0}
  return out


def _full_fid(params, num, batch, modes, methods) -> list[dict]:
  """Wall time of a `num`-sample FID from the DCGAN-sized generator in each mode, with each Fréchet method."""
  global _GEN_VARS  # pylint: disable=global-statement
  _GEN_VARS = _GEN.init(jax.random.key(0), jnp.zeros((1, 128)))
  rng = np.random.default_rng(0)
  a = rng.standard_normal((inception.FEATURE_DIM, inception.FEATURE_DIM)) / 64
  ref = stats.Stats(np.zeros(inception.FEATURE_DIM), a @ a.T + np.eye(inception.FEATURE_DIM), 0)  # a dummy ref
  rows = []
  for mode in modes:
    ex = _extractor(params, mode)
    # compile once with a one-batch run, then time the full one (same step, same shapes)
    pipeline.stats_from_generator(_sample_fn, batch, batch_size=batch, extractor=ex, allow_few=True)
    start = time.perf_counter()
    gen = pipeline.stats_from_generator(_sample_fn, num, batch_size=batch, extractor=ex,
                                        allow_few=num < inception.FEATURE_DIM)
    seconds_stats = time.perf_counter() - start
    frechets = _frechet_both(gen, ref, methods)
    rows.append({"mode": mode, "num": num, "batch": batch, "seconds_stats": seconds_stats,
                 "images_per_s": num / seconds_stats, "frechet": frechets,
                 "seconds": {m: seconds_stats + f["seconds"] for m, f in frechets.items()},
                 "fid_vs_dummy_ref": {m: f["fid"] for m, f in frechets.items()}})
    print(f"  full FID, {num} samples, {mode}: {seconds_stats:.1f} s generate+resize+Inception+moments "
          f"({num / seconds_stats:.0f} img/s) + Fréchet distance " +
          ", ".join(f"{m} {f['seconds']:.1f} s (FID {f['fid']:.6g})" for m, f in frechets.items()))
  return rows


def _real_fid(params, name: str, data_dir: str, num: int, batch: int, modes, methods) -> list[dict]:
  """FID between `num` train and `num` test images of a real dataset, computed in each mode (TF1 resize).

  The relative difference of each mode's FID from strict float32's is the drift a user sees on real data.
  """
  from jaxgan.data import get_dataset  # pylint: disable=import-outside-toplevel
  t0 = time.perf_counter()
  train = get_dataset(name, data_dir=data_dir, split="train", limit=num, subset="even").images
  test = get_dataset(name, data_dir=data_dir, split="test", limit=num, subset="even").images
  print(f"  {name}: {len(train)} train and {len(test)} test images read in {time.perf_counter() - t0:.0f} s")
  few = min(len(train), len(test)) < inception.FEATURE_DIM
  rows = []
  for mode in modes:
    ex = _extractor(params, mode)
    start = time.perf_counter()
    a = pipeline.stats_from_images(train, ex, batch_size=batch, allow_few=few)
    b = pipeline.stats_from_images(test, ex, batch_size=batch, allow_few=few)
    seconds = time.perf_counter() - start
    rows.append({"mode": mode, "dataset": name, "num_train": len(train), "num_test": len(test),
                 "seconds_stats": seconds, "frechet": _frechet_both(a, b, methods)})
  strict = rows[0]["frechet"]
  for r in rows:
    for m, f in r["frechet"].items():
      f["rel_diff_vs_strict"] = (f["fid"] - strict[m]["fid"]) / strict[m]["fid"] if strict[m]["fid"] else None
    print(f"  {name} train vs test, {r['mode']}: " + ", ".join(
        f"{m} FID {f['fid']:.6g} ({100 * (f['rel_diff_vs_strict'] or 0):+.4f} % vs strict)"
        for m, f in r["frechet"].items()) + f" [{r['seconds_stats']:.1f} s for the statistics]")
  return rows


def main(argv: list[str] | None = None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--weights", default=None, help=".pth or NVIDIA npz; default: random weights, same shapes")
  parser.add_argument("--batch-sizes", default="32,64,128,256")
  parser.add_argument("--iters", type=int, default=20, help="timed forward passes per configuration")
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--drift-num", type=int, default=10_000, help="images for the drift FIDs")
  parser.add_argument("--fid-num", type=int, default=50_000)
  parser.add_argument("--fid-batch", type=int, default=250)
  parser.add_argument("--real-data", default=None, metavar="NAME:DIR",
                      help="also the train-vs-test FID of a real dataset in each mode, e.g. "
                           "cifar10:cifar10_jpeg_q75.zip (the drift on real images)")
  parser.add_argument("--real-num", type=int, default=10_000, help="images per side for --real-data")
  parser.add_argument("--no-torch", action="store_true")
  parser.add_argument("--smoke", action="store_true", help="tiny sizes for a CPU check (< 1 min)")
  parser.add_argument("--out", default=None, help="JSON output path")
  args = parser.parse_args(argv)
  size = 299
  batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
  if args.smoke:
    size, batch_sizes, args.iters, args.warmup = 75, [2], 1, 1
    args.drift_num, args.fid_num, args.fid_batch, args.real_num = 4, 4, 2, 4
  # sqrtm (pytorch-fid's method) needs full-rank covariances, which the smoke sizes do not give
  methods = ("eig",) if args.smoke else ("eig", "sqrtm")
  real = None
  if args.real_data:
    if ":" not in args.real_data:
      parser.error(f"--real-data {args.real_data!r}: expected NAME:DIR, e.g. cifar10:cifar10_jpeg_q75.zip")
    real = args.real_data.split(":", 1)

  notes = []
  params = (weights.load_inception_params(args.weights) if args.weights
            else weights.random_inception_params(0))
  params = {k: v for k, v in params.items() if k != "fc"}
  if not args.weights:
    notes.append("random weights of the FID Inception's shapes: speeds are real, drift values only indicative")
  torch_net, torch_device, torch_version = None, None, None
  if not args.no_torch:
    try:
      import torch  # pylint: disable=import-outside-toplevel
      torch_version = torch.__version__
      torch_device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
      torch_net = _build_torch_inception(params, torch_device)
    except ImportError:
      notes.append("torch not installed: PyTorch column skipped (pip install torch)")
  jparams = jax.device_put(params)
  device = jax.devices()[0]
  print(f"device: {device.device_kind} ({jax.default_backend()}), jax {jax.__version__}, torch {torch_version}")
  if jax.default_backend() == "cpu":
    notes.append("CPU run: TF32 does not exist on CPU, so 'tf32' equals 'strict' here")

  result = {"device": f"{device.device_kind} ({jax.default_backend()})", "jax": jax.__version__,
            "torch": torch_version, "python": platform.python_version(), "input_size": size,
            "weights": args.weights or "random",
            "weights_sha256": weights.sha256_file(args.weights) if args.weights else None, "smoke": args.smoke,
            "throughput": None, "drift": None,
            "parity": None, "full_fid": None, "real_fid": None, "notes": notes,
            "stage": None, "finished": False}

  def save(**parts):
    """Adds `parts` to the result and rewrites --out, so that a run stopped at a time limit keeps each stage;
    `stage` names the one under way, so such a JSON says where it was cut (a null part it names was not reached,
    not left out)."""
    result.update(parts)
    if args.out:
      with open(args.out, "w") as f:
        json.dump(result, f, indent=2)

  t0 = time.perf_counter()
  save(stage="throughput")
  print("throughput (network only, input already on device):")
  throughput = _throughput(jparams, batch_sizes, size, args.iters, args.warmup, torch_net, torch_device)
  save(throughput=throughput, stage="drift")
  print(f"drift on {args.drift_num} images: [{time.perf_counter() - t0:.0f} s]")
  drift, parity = _drift(jparams, args.drift_num, batch_sizes[-1], size, torch_net, torch_device)
  save(drift=drift, parity=parity, stage="full_fid")
  fmt = lambda v: "n/a (< 2048 images)" if v is None else f"{v:.3g}"
  for r in drift:
    print(f"  {r['framework']:5s} {r['mode']:5s} FID vs strict {fmt(r['fid_vs_strict'])}, "
          f"max |pool3 diff| {r['max_abs_pool3_vs_strict']:.3g}")
  if parity:
    print(f"  JAX vs PyTorch, strict: max |pool3 diff| {parity['max_abs_pool3_jax_vs_torch_strict']:.3g}, "
          f"FID {fmt(parity['fid_jax_vs_torch_strict'])}")
  print(f"full FID from a DCGAN-sized generator (JAX pipeline): [{time.perf_counter() - t0:.0f} s]")
  full = _full_fid(jparams, args.fid_num, args.fid_batch, MODES, methods)
  save(full_fid=full, stage="real_fid" if real is not None else None)
  if real is not None:
    print(f"real data, train vs test in each mode: [{time.perf_counter() - t0:.0f} s]")
    save(real_fid=_real_fid(jparams, real[0], real[1], args.real_num, args.fid_batch, MODES, methods))
  save(stage=None, finished=True)
  print("\n| batch | mode | " + " | ".join(["jax img/s"] + (["torch img/s", "jax/torch"] if torch_net else [])) + " |")
  print("|---|---|" + "---|" * (3 if torch_net else 1))
  for batch in batch_sizes:
    for mode in MODES:
      j = next(r["images_per_s"] for r in throughput if (r["framework"], r["mode"], r["batch"]) == ("jax", mode, batch))
      cells = [f"{j:.1f}"]
      if torch_net is not None:
        t = next(r["images_per_s"] for r in throughput
                 if (r["framework"], r["mode"], r["batch"]) == ("torch", mode, batch))
        cells += [f"{t:.1f}", f"{j / t:.2f}"]
      print(f"| {batch} | {mode} | " + " | ".join(cells) + " |")
  for n in notes:
    print("note:", n)
  if args.out:
    print("wrote", args.out)
  return result


if __name__ == "__main__":
  main()
