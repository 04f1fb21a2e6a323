"""Command line FID: statistics of an image source, and the FID between two sources or statistics files.

  python -m jaxgan.fid stats SOURCE --out stats.npz [--mode tf1] [--batch-size 100] [--num N] [--weights PATH]
                                     [--resolution N]
  python -m jaxgan.fid score A B [--mode tf1] ...          # prints "FID: <value>"
  python -m jaxgan.fid download                             # fetch pytorch-fid's weights into the cache

SOURCE is anything `jaxgan.data.files.load_uint8` reads: a folder of images, a .zip of images, an .npz with an image
array, or an idx(.gz) file such as MNIST's `train-images-idx3-ubyte.gz`. In `score`, A and B may also be statistics
files (.npz with `mu` and `sigma`, as written by `stats`, TTUR or pytorch-fid). Both sides must use the same mode.
Weights: --weights, else $JAXGAN_FID_WEIGHTS, the jaxgan cache, torch's hub cache, or --download.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Sequence

import numpy as np

from jaxgan.metrics import pipeline as fid_lib
from jaxgan.metrics import modes, stats, weights
from jaxgan.metrics.frechet import METHODS as FRECHET_METHODS


def _is_stats_file(path: str) -> bool:
  p = pathlib.Path(path)
  if p.suffix.lower() != ".npz" or not p.is_file():
    return False
  names, _ = stats.read_npz(p, ())  # a corrupt .npz: one clear error (recreate it), not numpy's pickle advice
  return "mu" in names and "sigma" in names


def _check_source(source: str) -> None:
  """Fails fast, before weights load or any image is measured, on a source that is missing or of no known kind."""
  path = pathlib.Path(source)
  if not path.exists():
    raise FileNotFoundError(f"image source {source} does not exist")
  if _is_stats_file(source):
    return
  try:
    from jaxgan.data import files  # pylint: disable=import-outside-toplevel
  except ImportError:
    return  # _load_images says what is missing
  files.check_source(path)


def _load_images(source: str, args: argparse.Namespace) -> np.ndarray:
  try:
    from jaxgan.data.files import load_uint8  # pylint: disable=import-outside-toplevel
  except ImportError as err:
    raise SystemExit(f"jaxgan.data.files.load_uint8 is not available ({err}); compute stats from arrays with "
                     "jaxgan.metrics.stats_from_images instead") from err
  images, _ = load_uint8(source, split=args.split, resolution=args.resolution, limit=args.num)
  return images


def _stats_of(source: str, args: argparse.Namespace, extractor: list) -> stats.Stats:
  if _is_stats_file(source):
    return stats.load_stats(source)
  images = _load_images(source, args)
  if not extractor:
    extractor.append(fid_lib.inception_extractor(args.weights, mode=args.mode, download=args.download,
                                                 logits=False, verify=not args.no_verify))
  print(f"{source}: {images.shape[0]} images {images.shape[1:]}, mode {args.mode}", file=sys.stderr)
  return fid_lib.stats_from_images(images, extractor[0], batch_size=args.batch_size, allow_few=args.allow_few)


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="python -m jaxgan.fid", description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)
  common = argparse.ArgumentParser(add_help=False)
  common.add_argument("--mode", default="tf1", choices=modes.MODES, help="resize/normalization (default tf1)")
  common.add_argument("--batch-size", type=int, default=100, help="images per compiled call")
  common.add_argument("--num", type=int, default=None, help="use at most this many images per source")
  common.add_argument("--split", default=None, help="split for idx/CIFAR sources or sub-folder (load_uint8)")
  common.add_argument("--resolution", type=int, default=None,
                      help="center-crop and resize every image to this square size first (images of mixed sizes)")
  common.add_argument("--weights", default=None, help="FID Inception weights (.pth of pytorch-fid or NVIDIA npz)")
  common.add_argument("--download", action="store_true", help="download pytorch-fid's weights if none are found")
  common.add_argument("--no-verify", action="store_true", help="skip the sha256 check of the weights")
  common.add_argument("--allow-few", action="store_true", help="allow fewer than 2048 images (biased FID)")
  p_stats = sub.add_parser("stats", parents=[common], help="write mu/sigma of a source to an .npz")
  p_stats.add_argument("source")
  p_stats.add_argument("--out", required=True, help="output .npz (keys mu, sigma, num)")
  p_score = sub.add_parser("score", parents=[common], help="FID between two sources or stats files")
  p_score.add_argument("a")
  p_score.add_argument("b")
  p_score.add_argument("--method", default="sqrtm", choices=FRECHET_METHODS)
  p_dl = sub.add_parser("download", help="download pytorch-fid's weights into the cache and verify them")
  p_dl.add_argument("--dir", default=None, help="destination folder (default: the jaxgan cache)")
  return parser


def main(argv: Sequence[str] | None = None) -> float | None:
  """Runs the CLI; returns the FID for `score` (for tests), None otherwise."""
  args = _parser().parse_args(argv)
  if args.command == "download":
    print(weights.download_weights(args.dir))
    return None
  extractor: list = []
  for source in [args.source] if args.command == "stats" else [args.a, args.b]:
    _check_source(source)  # both sides, before weights load or A is measured
  if args.command == "stats":
    result = _stats_of(args.source, args, extractor)
    written = stats.save_stats(args.out, result)
    print(f"wrote {written}: mu {result.mu.shape}, sigma {result.sigma.shape}, {result.num} images")
    return None
  a = _stats_of(args.a, args, extractor)
  b = _stats_of(args.b, args, extractor)
  value = fid_lib.fid_from_stats(a, b, method=args.method)
  print(f"FID: {value:.6f}")
  return value


if __name__ == "__main__":
  try:
    main()
  except (ValueError, OSError, KeyError) as err:  # one clear line instead of a traceback
    raise SystemExit(f"error: {err}") from err
