"""Train-step throughput: jaxgan's compiled step next to the same GAN written in PyTorch (eager, torch.compile).

One run measures, on one device (or all local devices with `--mode mesh|pmap`), the steady-state time of a full
GAN training step (all discriminator updates, one generator update, optimizer updates included; data loading
excluded: the real batch already sits on the device) for

| config             | G / D                                         | loss                  | B per D step | D steps |
|--------------------|-----------------------------------------------|-----------------------|--------------|---------|
| dcgan32_b64        | DCGAN 32x32, width 64, batch norm in G and D  | non-saturating        | 64           | 1       |
| dcgan32_b256       | same                                          | non-saturating        | 256          | 1       |
| wgangp_resnet32    | ResNet (Gulrajani et al. 2017), width 128; critic without normalization | Wasserstein + GP (10) | 64 | 5 |

Reported per (config, implementation): ms/step (median over `--repeats` timings of `--iters` steps each, after
`--warmup` steps that include compilation), images/s = d_steps * B / step time (real images consumed), the time of
the first call (compilation), and the peak device memory (JAX: `memory_stats()["peak_bytes_in_use"]`; PyTorch:
`torch.cuda.max_memory_allocated`; both include what autotuning allocated), and for JAX the compiled step's own
footprint (`step_mib`: XLA's memory analysis, arguments + outputs - donated buffers + temporaries). Timing is device-synchronized (`block_until_ready`, `torch.cuda.synchronize`).
On GPU every (config, implementation) runs in a fresh subprocess (`--isolate`, default there), so peaks are per run
and JAX and PyTorch do not share the device's memory.

The PyTorch models mirror the flax ones layer for layer (NCHW weights, channels_last activations, Adam with
`fused=True` on CUDA). torch.compile cannot differentiate twice through a compiled graph, so for the gradient
penalty the critic's penalty pass (the one differentiated twice) runs eager when compiling it fails, G and the
critic's other passes compiled; the table says so, and such a row is no "vs compile" ratio.

Precision: `--precision default` (XLA's and cuDNN's TF32 on Ampere+ GPUs, the usual speed setting), `highest`
(strict float32 for both) or `bf16` (mixed precision: jaxgan's `StepConfig(compute_dtype="bfloat16")`, forward
passes and losses under `torch.autocast(dtype=torch.bfloat16)` in PyTorch; parameters and Adam float32 on both).

  python -m benchmarks.train_step --out train_step.json                 # GPU: full sizes, PyTorch if installed
  python -m benchmarks.train_step --smoke --out /tmp/train_step.json    # CPU check, tiny sizes, < 1 minute
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any, Callable

import jax
import numpy as np
import optax

from benchmarks.timing import time_calls, time_step
from jaxgan.losses.adversarial import non_saturating, wasserstein
from jaxgan.losses.base import chain
from jaxgan.losses.penalties import gradient_penalty
from jaxgan.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from jaxgan.nets.resnet import ResNetDiscriminator, ResNetGenerator
from jaxgan.train import parallel
from jaxgan.train.step import StepConfig, init_state, jit_step, make_train_step

IMPLS = ("jax", "torch_eager", "torch_compile")
PENALTY_EAGER = "penalty pass eager"  # the note of a torch.compile row whose gradient penalty ran eager
# What runs of 2026-11-26 wrote there (the whole critic ran eager then); such rows are left out of the ratios too.
_PARTLY_COMPILED = (PENALTY_EAGER, "critic eager")


@dataclasses.dataclass(frozen=True)
class BenchConfig:
  """One benchmarked GAN. `width` is G's and D's base width; `lr`, `betas` are Adam's (both players)."""

  name: str
  net: str  # "dcgan" or "resnet"
  loss: str  # "ns" (non-saturating) or "wgan_gp"
  batch: int  # B per D step (global)
  d_steps: int
  latent_dim: int
  width: int
  lr: float
  betas: tuple[float, float]
  resolution: int = 32
  channels: int = 3


def configs(smoke: bool) -> list[BenchConfig]:
  if smoke:
    return [
        # Smoke: 28x28x1 DCGAN (two up/down layers instead of three) to keep CPU compilation short.
        BenchConfig("dcgan32_b64", "dcgan", "ns", 8, 1, 16, 4, 2e-4, (0.5, 0.999), resolution=28, channels=1),
        BenchConfig("dcgan32_b256", "dcgan", "ns", 16, 1, 16, 4, 2e-4, (0.5, 0.999), resolution=28, channels=1),
        BenchConfig("wgangp_resnet32", "resnet", "wgan_gp", 8, 2, 16, 4, 1e-4, (0.0, 0.9)),
    ]
  return [
      BenchConfig("dcgan32_b64", "dcgan", "ns", 64, 1, 100, 64, 2e-4, (0.5, 0.999)),
      BenchConfig("dcgan32_b256", "dcgan", "ns", 256, 1, 100, 64, 2e-4, (0.5, 0.999)),
      BenchConfig("wgangp_resnet32", "resnet", "wgan_gp", 64, 5, 128, 128, 1e-4, (0.0, 0.9)),
  ]


# ------------------------------------------------------------------------------------------------------------ JAX


def _jax_parts(cfg: BenchConfig, precision: str = "default"):
  if cfg.net == "dcgan":
    g = DCGANGenerator(resolution=cfg.resolution, channels=cfg.channels, width=cfg.width)
    d = DCGANDiscriminator(resolution=cfg.resolution, channels=cfg.channels, width=cfg.width, norm="batch")
  else:
    g = ResNetGenerator(resolution=cfg.resolution, channels=cfg.channels, width=cfg.width)
    d = ResNetDiscriminator(resolution=cfg.resolution, channels=cfg.channels, width=cfg.width)
  loss = non_saturating() if cfg.loss == "ns" else chain(wasserstein(), gradient_penalty(10.0))
  tx = optax.adam(cfg.lr, b1=cfg.betas[0], b2=cfg.betas[1])
  return g, d, loss, tx, StepConfig(latent_dim=cfg.latent_dim, d_steps=cfg.d_steps,
                                    compute_dtype="bfloat16" if precision == "bf16" else None)


def _step_footprint_bytes(step: Any, state: Any, batch: Any) -> int | None:
  """What the compiled step itself holds at its peak, from XLA's memory analysis: arguments + outputs - donated
  (aliased) buffers + temporaries. Unlike the device's peak it leaves out what compilation (autotuning) and the
  initialization allocated."""
  try:
    m = step.lower(state, batch).compile().memory_analysis()
    return int(m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes)
  except Exception:  # pylint: disable=broad-except  # backends without the analysis
    return None


def _jax_peak_bytes() -> int | None:
  peaks = []
  for dev in jax.local_devices():
    try:
      stats = dev.memory_stats()
    except Exception:  # pylint: disable=broad-except
      stats = None
    if stats and "peak_bytes_in_use" in stats:
      peaks.append(int(stats["peak_bytes_in_use"]))
  return max(peaks) if peaks else None


def run_jax(cfg: BenchConfig, *, mode: str, precision: str, warmup: int, iters: int, repeats: int) -> dict:
  g, d, loss, tx, step_cfg = _jax_parts(cfg, precision)
  rng = np.random.default_rng(0)
  host = {"image": rng.uniform(-1, 1, (cfg.d_steps * cfg.batch, cfg.resolution, cfg.resolution,
                                      cfg.channels)).astype(np.float32)}
  with jax.default_matmul_precision("highest" if precision == "highest" else "default"):
    state = jax.jit(lambda key, b: init_state(key, g, d, loss, tx, tx, step_cfg, b))(jax.random.key(0), host)
    if mode == "jit":
      step = jit_step(make_train_step(g, d, loss, tx, tx, step_cfg))
      batch = jax.device_put(host)
    elif mode == "mesh":
      mesh = parallel.make_mesh()
      step = parallel.make_mesh_step(g, d, loss, tx, tx, step_cfg, mesh)
      state = parallel.put_state(state, "mesh", mesh=mesh)
      batch = parallel.shard_batch(host, "mesh", d_steps=cfg.d_steps, mesh=mesh)
    else:
      step = parallel.make_pmap_step(g, d, loss, tx, tx, step_cfg)
      state = parallel.put_state(state, "pmap")
      batch = parallel.shard_batch(host, "pmap", d_steps=cfg.d_steps)
    first, per_step, state = time_step(step, state, batch, warmup=warmup, iters=iters, repeats=repeats)
    peak = _jax_peak_bytes()
    footprint = _step_footprint_bytes(step, state, batch) if mode != "pmap" else None
  return {"impl": "jax", "mode": mode, "first_call_s": first, "ms_per_step": 1e3 * per_step,
          "images_per_s": cfg.d_steps * cfg.batch / per_step,
          "peak_mib": None if peak is None else peak / 2**20,
          "step_mib": None if footprint is None else footprint / 2**20, "note": ""}


# -------------------------------------------------------------------------------------------------------- PyTorch


def _torch_modules(cfg: BenchConfig):
  """PyTorch G and D mirroring the flax DCGAN / ResNet models (same layers, widths, activations)."""
  import torch  # pylint: disable=import-outside-toplevel
  from torch import nn  # pylint: disable=import-outside-toplevel
  import torch.nn.functional as F  # pylint: disable=import-outside-toplevel

  w, c, res = cfg.width, cfg.channels, cfg.resolution
  num_up = {28: 2, 32: 3, 64: 4}[res] if cfg.net == "dcgan" else {32: 3, 64: 4}[res]
  base = res // 2**num_up

  class DCGANG(nn.Module):
    def __init__(self):
      super().__init__()
      feats = w * 2 ** (num_up - 1)
      self.feats = feats
      self.fc = nn.Linear(cfg.latent_dim, base * base * feats, bias=False)
      self.bn0 = nn.BatchNorm2d(feats, eps=1e-5, momentum=0.1)
      ups = []
      for _ in range(num_up - 1):
        ups += [nn.ConvTranspose2d(feats, feats // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(feats // 2), nn.ReLU()]
        feats //= 2
      ups += [nn.ConvTranspose2d(feats, c, 4, 2, 1), nn.Tanh()]
      self.ups = nn.Sequential(*ups)

    def forward(self, z):
      h = self.fc(z).view(z.shape[0], base, base, self.feats).permute(0, 3, 1, 2)
      h = F.relu(self.bn0(h.contiguous(memory_format=torch.channels_last)))
      return self.ups(h)

  class DCGAND(nn.Module):
    def __init__(self):
      super().__init__()
      layers = [nn.Conv2d(c, w, 4, 2, 1), nn.LeakyReLU(0.2)]
      feats = w
      for _ in range(1, num_up):
        layers += [nn.Conv2d(feats, feats * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(feats * 2), nn.LeakyReLU(0.2)]
        feats *= 2
      self.body = nn.Sequential(*layers)
      self.fc = nn.Linear(feats * base * base, 1)

    def forward(self, x):
      h = self.body(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # NHWC flatten order, like flax
      return self.fc(h)[:, 0]

  class GBlock(nn.Module):
    def __init__(self, cin, cout):
      super().__init__()
      self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
      self.c1, self.c2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
      self.sc = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
      h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
      h = self.c2(F.relu(self.bn2(self.c1(h))))
      return h + self.sc(F.interpolate(x, scale_factor=2, mode="nearest"))

  class DBlock(nn.Module):
    def __init__(self, cin, cout, down, optimized):
      super().__init__()
      self.down, self.optimized = down, optimized
      self.c1, self.c2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
      self.sc = nn.Conv2d(cin, cout, 1) if (down or cin != cout) else None

    def forward(self, x):
      h = x if self.optimized else F.relu(x)
      h = self.c2(F.relu(self.c1(h)))
      if self.down:
        h = F.avg_pool2d(h, 2)
      s = x
      if self.sc is not None:
        if self.optimized:
          s = self.sc(F.avg_pool2d(x, 2))
        else:
          s = self.sc(x)
          s = F.avg_pool2d(s, 2) if self.down else s
      return h + s

  class ResG(nn.Module):
    def __init__(self):
      super().__init__()
      self.fc = nn.Linear(cfg.latent_dim, base * base * w)
      self.blocks = nn.Sequential(*[GBlock(w, w) for _ in range(num_up)])
      self.bn = nn.BatchNorm2d(w)
      self.out = nn.Conv2d(w, c, 3, 1, 1)

    def forward(self, z):
      h = self.fc(z).view(z.shape[0], base, base, w).permute(0, 3, 1, 2)
      h = self.blocks(h.contiguous(memory_format=torch.channels_last))
      return torch.tanh(self.out(F.relu(self.bn(h))))

  class ResD(nn.Module):
    def __init__(self):
      super().__init__()
      blocks = [DBlock(c, w, True, True)] + [DBlock(w, w, True, False) for _ in range(num_up - 2)]
      blocks += [DBlock(w, w, False, False) for _ in range(2)]
      self.blocks = nn.Sequential(*blocks)
      self.fc = nn.Linear(w, 1)

    def forward(self, x):
      return self.fc(F.relu(self.blocks(x)).sum(dim=(2, 3)))[:, 0]

  return (DCGANG(), DCGAND()) if cfg.net == "dcgan" else (ResG(), ResD())


def _torch_step(cfg: BenchConfig, g, d, d_module, g_opt, d_opt, device, amp: Callable[[], Any], d_penalty=None):
  """The jaxgan step in PyTorch: d_steps D updates (fresh latents, own real slice), then one G update.

  `d` is the callable D (maybe compiled), `d_module` the plain module that owns its parameters, `d_penalty` the
  callable D of the gradient penalty's pass (default `d`: the one differentiated twice); `amp()` is the context of
  the forward passes and losses (bf16 autocast, or none); backward passes run outside it.
  """
  import torch  # pylint: disable=import-outside-toplevel
  import torch.nn.functional as F  # pylint: disable=import-outside-toplevel

  b = cfg.batch
  d_penalty = d if d_penalty is None else d_penalty

  def d_loss(real, fake):
    d_real, d_fake = d(real), d(fake)
    if cfg.loss == "ns":
      return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    eps = torch.rand(real.shape[0], 1, 1, 1, device=device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(d_penalty(x_hat).sum(), x_hat, create_graph=True)
    norm = torch.sqrt(grad.square().flatten(1).sum(1) + 1e-12)
    return d_fake.mean() - d_real.mean() + 10.0 * (norm - 1.0).square().mean()

  def step(real_all):
    for i in range(cfg.d_steps):
      real = real_all[i * b:(i + 1) * b]
      with torch.no_grad(), amp():
        fake = g(torch.randn(b, cfg.latent_dim, device=device))
      d_opt.zero_grad(set_to_none=True)
      with amp():
        loss = d_loss(real, fake)
      loss.backward()
      d_opt.step()
    g_opt.zero_grad(set_to_none=True)
    d_params = list(d_module.parameters())
    for p in d_params:  # G's update needs no gradient of D's parameters (jaxgan differentiates G's only)
      p.requires_grad_(False)
    with amp():
      d_fake = d(g(torch.randn(b, cfg.latent_dim, device=device)))
      g_loss = F.softplus(-d_fake).mean() if cfg.loss == "ns" else -d_fake.mean()
    g_loss.backward()
    g_opt.step()
    for p in d_params:
      p.requires_grad_(True)
    return g_loss

  return step


def run_torch(cfg: BenchConfig, *, compiled: bool, precision: str, warmup: int, iters: int, repeats: int) -> dict:
  import torch  # pylint: disable=import-outside-toplevel

  impl = "torch_compile" if compiled else "torch_eager"
  cuda = torch.cuda.is_available()
  device = torch.device("cuda" if cuda else "cpu")
  tf32 = precision != "highest"
  amp = ((lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16"
         else contextlib.nullcontext)
  torch.backends.cuda.matmul.allow_tf32 = tf32
  torch.backends.cudnn.allow_tf32 = tf32
  torch.backends.cudnn.benchmark = True
  torch.manual_seed(0)
  g, d = (m.to(device).to(memory_format=torch.channels_last) for m in _torch_modules(cfg))
  g.train()
  d.train()
  adam = dict(lr=cfg.lr, betas=cfg.betas, **({"fused": True} if cuda else {}))
  g_opt, d_opt = torch.optim.Adam(g.parameters(), **adam), torch.optim.Adam(d.parameters(), **adam)
  real = (torch.rand(cfg.d_steps * cfg.batch, cfg.channels, cfg.resolution, cfg.resolution, device=device) * 2 - 1
          ).contiguous(memory_format=torch.channels_last)
  sync = (lambda _: torch.cuda.synchronize()) if cuda else (lambda _: None)
  note = ""
  g_run, d_run = g, d
  if compiled:
    g_run, d_run = torch.compile(g), torch.compile(d)
  if cuda:
    torch.cuda.reset_peak_memory_stats()
  step = _torch_step(cfg, g_run, d_run, d, g_opt, d_opt, device, amp)
  t_fail = time.perf_counter()
  try:
    first, per_step = time_calls(lambda: step(real), sync, warmup=warmup, iters=iters, repeats=repeats)
  except Exception as e:  # pylint: disable=broad-except
    if not compiled or cfg.loss != "wgan_gp":
      raise
    # The penalty's critic pass (differentiated twice) runs eager, the critic's other passes and G compiled: not a
    # torch.compile measurement of the whole step, so `_ratios` leaves it out of the "vs compile" ratios; the failed
    # attempt's compilation counts in the first call.
    note = f"{PENALTY_EAGER}: torch.compile failed on the double backward ({type(e).__name__})"
    failed_s = time.perf_counter() - t_fail
    step = _torch_step(cfg, g_run, d_run, d, g_opt, d_opt, device, amp, d_penalty=d)
    first, per_step = time_calls(lambda: step(real), sync, warmup=warmup, iters=iters, repeats=repeats)
    first += failed_s
  peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
  return {"impl": impl, "mode": "single", "first_call_s": first, "ms_per_step": 1e3 * per_step,
          "images_per_s": cfg.d_steps * cfg.batch / per_step, "peak_mib": peak, "note": note}


# ----------------------------------------------------------------------------------------------------------- main


def _torch_version() -> str | None:
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError:
    return None
  return torch.__version__


def run_job(job: dict) -> dict:
  cfg = BenchConfig(**{**job["config"], "betas": tuple(job["config"]["betas"])})
  kw = dict(precision=job["precision"], warmup=job["warmup"], iters=job["iters"], repeats=job["repeats"])
  if job["impl"] == "jax":
    out = run_jax(cfg, mode=job["mode"], **kw)
  else:
    out = run_torch(cfg, compiled=job["impl"] == "torch_compile", **kw)
  return {"config": cfg.name, **out}


def _run_isolated(job: dict) -> dict:
  proc = subprocess.run([sys.executable, "-m", "benchmarks.train_step", "--job", json.dumps(job)],
                        capture_output=True, text=True, check=False,
                        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  if proc.returncode != 0:
    return {"config": job["config"]["name"], "impl": job["impl"], "error": proc.stderr.strip()[-2000:]}
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(results: list[dict]) -> str:
  head = (f"{'config':<18} {'impl':<14} {'ms/step':>9} {'img/s':>10} {'peak MiB':>9} {'step MiB':>9} "
          f"{'1st call s':>10}  note")
  lines = [head, "-" * len(head)]
  for r in results:
    if "error" in r:
      lines.append(f"{r['config']:<18} {r['impl']:<14} {'error':>9}  {r['error'].splitlines()[-1][:80]}")
      continue
    peak = "n/a" if r.get("peak_mib") is None else f"{r['peak_mib']:.0f}"
    own = "n/a" if r.get("step_mib") is None else f"{r['step_mib']:.0f}"
    lines.append(f"{r['config']:<18} {r['impl']:<14} {r['ms_per_step']:9.2f} {r['images_per_s']:10.0f} "
                 f"{peak:>9} {own:>9} {r['first_call_s']:10.1f}  {r.get('note', '')}")
  return "\n".join(lines)


def _ratios(results: list[dict], num_devices: int = 1) -> dict[str, dict[str, float]]:
  """Per config: step time of each PyTorch variant divided by JAX's (> 1: JAX faster).

  Only like against like: none when JAX ran on several devices (PyTorch runs on one), and no "vs compile" where
  part of the step ran eager (the gradient penalty's pass, or in older results the whole critic).
  """
  out: dict[str, dict[str, float]] = {}
  for r in results:
    if r.get("impl") != "jax" or "error" in r or (r.get("mode") != "jit" and num_devices > 1):
      continue
    for t in results:
      if (t["config"] == r["config"] and t["impl"] != "jax" and "error" not in t
          and not t.get("note", "").startswith(_PARTLY_COMPILED)):
        out.setdefault(r["config"], {})[f"{t['impl']}/jax"] = t["ms_per_step"] / r["ms_per_step"]
  return out


def main(argv: list[str] | None = None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", default=None, help="write the results as JSON here")
  parser.add_argument("--smoke", action="store_true", help="tiny sizes for a CPU check (< 1 min)")
  parser.add_argument("--configs", default=None, help="comma-separated subset of the config names")
  parser.add_argument("--impls", default=",".join(IMPLS), help=f"comma-separated subset of {IMPLS}")
  parser.add_argument("--mode", default="jit", choices=("jit", "mesh", "pmap"),
                      help="JAX compilation: one device (jit), all local devices over a Mesh, or pmap")
  parser.add_argument("--precision", default="default", choices=("default", "highest", "bf16"),
                      help="default: TF32 on both sides; highest: strict float32; bf16: mixed precision "
                           "(jaxgan compute_dtype=bfloat16, torch.autocast(bfloat16))")
  parser.add_argument("--warmup", type=int, default=5, help="untimed steps, compilation included")
  parser.add_argument("--iters", type=int, default=20, help="steps per timing")
  parser.add_argument("--repeats", type=int, default=5, help="timings; the median is reported")
  parser.add_argument("--isolate", default="auto", choices=("auto", "yes", "no"),
                      help="one subprocess per (config, impl); auto: yes on GPU")
  parser.add_argument("--job", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.smoke:
    # Cheap CPU compilation for the smoke run (read when the backend starts, which has not happened yet).
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0 "
                               "--xla_llvm_disable_expensive_passes=true").strip()
  if args.job is not None:  # a worker of an isolated run
    result = run_job(json.loads(args.job))
    print(json.dumps(result))
    return result

  if args.smoke:
    args.warmup, args.iters, args.repeats = 1, min(args.iters, 2), min(args.repeats, 2)
  chosen = configs(args.smoke)
  if args.configs:
    names = args.configs.split(",")
    unknown = sorted(set(names) - {c.name for c in chosen})
    if unknown:
      raise ValueError(f"unknown config(s) {unknown}; known: {[c.name for c in chosen]}")
    chosen = [c for c in chosen if c.name in names]
  impls = [i for i in args.impls.split(",") if i]
  bad = sorted(set(impls) - set(IMPLS))
  if bad:
    raise ValueError(f"unknown impl(s) {bad}; known: {IMPLS}")
  notes = []
  torch_version = _torch_version()
  if torch_version is None and any(i != "jax" for i in impls):
    notes.append("PyTorch columns skipped: torch is not installed (pip install 'jaxgan[bench]')")
    impls = [i for i in impls if i == "jax"]
  backend = jax.default_backend()
  isolate = args.isolate == "yes" or (args.isolate == "auto" and backend == "gpu")

  results = []
  jobs = [(cfg, impl) for cfg in chosen for impl in impls]

  def report() -> dict:
    return {
        "benchmark": "train_step",
        "device": str(jax.devices()[0].device_kind), "backend": backend, "num_devices": jax.device_count(),
        "mode": args.mode, "precision": args.precision, "smoke": args.smoke, "isolated": isolate,
        "warmup": args.warmup, "iters": args.iters, "repeats": args.repeats,
        "jax": jax.__version__, "torch": torch_version, "python": platform.python_version(),
        "configs": [dataclasses.asdict(c) for c in chosen], "results": results,
        "ratios": _ratios(results, jax.device_count()),
        "complete": len(results) == len(jobs), "notes": notes,
    }

  for cfg, impl in jobs:
    job = {"config": dataclasses.asdict(cfg), "impl": impl, "mode": args.mode, "precision": args.precision,
           "warmup": args.warmup, "iters": args.iters, "repeats": args.repeats}
    results.append(_run_isolated(job) if isolate else run_job(job))
    print(_table(results[-1:]).splitlines()[-1], flush=True)
    if args.out:  # after every job, so that a run stopped at a time limit keeps what it measured
      with open(args.out, "w") as f:
        json.dump(report(), f, indent=1)
  print()
  print(_table(results))
  for n in notes:
    print("note:", n)
  return report()


if __name__ == "__main__":
  main()
