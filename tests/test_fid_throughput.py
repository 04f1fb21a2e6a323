"""benchmarks.fid_throughput on the CPU (`--smoke --no-torch`): every stage's record, and a run cut off mid-way keeps
the stages it finished and says which one it was in."""

import pytest

from _run_files import read_json
from benchmarks import fid_throughput


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  out = tmp_path_factory.mktemp("fid_throughput") / "fid.json"
  result = fid_throughput.main(["--smoke", "--no-torch", "--out", str(out)])
  return result, read_json(out)


def test_a_finished_run_writes_every_stage(smoke):
  result, written = smoke
  assert written == result and written["finished"] is True and written["stage"] is None
  assert sorted((r["framework"], r["mode"], r["batch"]) for r in written["throughput"]) == [
      ("jax", "bf16", 2), ("jax", "strict", 2), ("jax", "tf32", 2)]
  assert all(r["images_per_s"] > 0 for r in written["throughput"])
  # On the CPU TF32 does not exist: the 'tf32' program computes the strict features, so its drift is nil and its
  # full FID is strict's; bf16 rounds (the same generator, so its FID stays close).
  drift = {r["mode"]: r for r in written["drift"]}
  assert drift["tf32"]["max_abs_pool3_vs_strict"] == pytest.approx(0.0, abs=1e-6)
  assert 0 < drift["bf16"]["max_abs_pool3_vs_strict"] < 0.1
  full = {r["mode"]: r["fid_vs_dummy_ref"]["eig"] for r in written["full_fid"]}
  assert full["tf32"] == pytest.approx(full["strict"], rel=1e-6)
  assert full["bf16"] == pytest.approx(full["strict"], rel=1e-3)
  assert written["real_fid"] is None and written["parity"] == {}  # not asked for; no PyTorch


def test_a_run_cut_off_keeps_its_finished_stages_and_names_the_one_it_was_in(tmp_path, monkeypatch):
  """As when `timeout` stops it on a leased GPU: the drift stage never returns."""
  out = tmp_path / "fid.json"

  def cut(*args, **kwargs):
    raise KeyboardInterrupt

  monkeypatch.setattr(fid_throughput, "_drift", cut)
  with pytest.raises(KeyboardInterrupt):
    fid_throughput.main(["--smoke", "--no-torch", "--out", str(out)])
  written = read_json(out)
  assert written["stage"] == "drift" and written["finished"] is False
  assert len(written["throughput"]) == 3 and written["drift"] is None and written["full_fid"] is None
