"""benchmarks/gpu_assets.sh: parts carried over several calls are stashed, joined and checked; the export lines."""

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("bash", "sha256sum", "find", "xargs")),
                                reason="needs bash, sha256sum, find and xargs")


def _run(tmp_path, *dirs, **env):
  full = {**os.environ, "STASH": str(tmp_path / "stash"), "PYTHON": sys.executable, **env}
  return subprocess.run(["bash", "benchmarks/gpu_assets.sh", *map(str, dirs)], cwd=ROOT, env=full,
                        capture_output=True, text=True, timeout=60)


def test_weights_in_parts_and_datasets(tmp_path):
  weights = os.urandom(300_000)
  a = tmp_path / "assets"
  for d in ("w1", "w2", "mnist", "fashion", "cifar"):
    (a / d).mkdir(parents=True)
  # Three parts over two calls, as `split -b` names them.
  (a / "w1" / "wpart_aa").write_bytes(weights[:100_000])
  (a / "w2" / "wpart_ab").write_bytes(weights[100_000:200_000])
  (a / "w2" / "wpart_ac").write_bytes(weights[200_000:])
  for d in ("mnist", "fashion"):
    (a / d / "train-images-idx3-ubyte.gz").write_bytes(b"x")
  (a / "cifar" / "cifar10_jpeg_q75.zip").write_bytes(b"z")
  sha = hashlib.sha256(weights).hexdigest()
  stash = tmp_path / "stash"

  first = _run(tmp_path, a / "w1", a / "mnist", WEIGHTS_SHA256=sha)
  assert first.returncode == 0, first.stderr
  assert first.stdout.splitlines() == [f"export DATA_DIR=mnist={stash}/mnist"]  # no weights yet: no export
  assert "not whole yet; parts so far: wpart_aa" in first.stderr
  assert not (stash / "fid_inception_2015_12_05.npz").exists()

  second = _run(tmp_path, a / "w2", a / "fashion", a / "cifar", WEIGHTS_SHA256=sha)
  assert second.returncode == 0, second.stderr
  assert second.stdout.splitlines() == [
      f"export JAXGAN_FID_WEIGHTS={stash}/fid_inception_2015_12_05.npz",
      f"export DATA_DIR=mnist={stash}/mnist,fashion_mnist={stash}/fashion,"
      f"cifar10={stash}/cifar/cifar10_jpeg_q75.zip"]
  assert (stash / "fid_inception_2015_12_05.npz").read_bytes() == weights
  assert "joined from 3 parts, sha256 checked" in second.stderr


def test_wrong_parts_never_become_weights(tmp_path):
  (tmp_path / "w").mkdir()
  (tmp_path / "w" / "wpart_aa").write_bytes(b"not the weights")
  # The sha256 jaxgan pins for the real file: these bytes do not have it.
  run = _run(tmp_path, tmp_path / "w")
  assert run.returncode == 0 and run.stdout == "" and "not whole yet" in run.stderr
  assert not list((tmp_path / "stash").glob("*.npz*"))
  missing = _run(tmp_path, tmp_path / "nothing")
  assert missing.returncode == 2 and "is not a folder" in missing.stderr
