"""benchmarks/gpu_classics.sh: rows shared by PAR workers, the time limit, the packed results (with a stand-in
for benchmarks.reproduce, so no training)."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("bash", "timeout", "tar", "awk", "sed")),
                                reason="needs bash, timeout, tar, awk and sed")


def _run(tmp_path, **env):
  full = {**os.environ, "PYTHON": sys.executable, "REPRO_MODULE": "tests._fake_reproduce",
          "RESULTS": str(tmp_path / "results"), **env}
  for k in ("XLA_PYTHON_CLIENT_MEM_FRACTION", "JAX_COMPILATION_CACHE_DIR"):
    if k not in env:
      full.pop(k, None)
  return subprocess.run(["bash", "benchmarks/gpu_classics.sh", str(tmp_path / "out")], cwd=ROOT, env=full,
                        capture_output=True, text=True, timeout=120)


def test_workers_share_the_rows_within_the_limit(tmp_path):
  proc = _run(tmp_path, ROWS="slow,r1,r2,r3,r4", SEEDS="0,1,2,3", PAR="2", LIMIT="12", DATA_DIR="mnist=/d/m")
  assert proc.returncode == 0, proc.stderr
  results = tmp_path / "results"
  runs = {r: json.loads((results / f"{r}.json").read_text()) for r in ("slow", "r1", "r2", "r3", "r4")}
  # Every quick row ran all seeds exactly once; the slow row's seed 1 was stopped by LIMIT, its other seeds stay.
  assert all(runs[r]["seeds"] == [0, 1, 2, 3] for r in ("r1", "r2", "r3", "r4"))
  assert runs["slow"]["seeds"] == [0, 2, 3]
  pids = [pid for r in runs for pid in runs[r]["pids"].values()]
  assert len(pids) == len(set(pids)) == 19  # one process per row and seed
  log = (tmp_path / "out" / "classics.log").read_text()
  # One worker is held by the slow item, the other takes the items after it; seeds go in order over the rows.
  slow_worker = "[w1]" if "[w1] slow seed 1: start" in log else "[w2]"
  other = "[w2]" if slow_worker == "[w1]" else "[w1]"
  assert f"{slow_worker} slow seed 1: stopped at LIMIT" in log and f"{other} r4 seed 3: done" in log
  assert log.index("r4 seed 0: start") < log.index("r1 seed 1: start")
  assert log.count(": start") == 20 and log.count(": done") == 19
  assert "[w1]" in proc.stdout and "[w2]" in proc.stdout  # the live output, tagged by worker
  assert "tar:" not in proc.stderr + proc.stdout  # no archive attempted before anything was finished
  assert (tmp_path / "out" / "classics_results.tgz").stat().st_mode & 0o777 == 0o644
  first = runs["r1"]
  assert first["data_dir"] == "mnist=/d/m" and first["fid_batch"] == "500" and first["checkpoint_every"] == "0"
  assert first["mem_fraction"] == "0.450" and first["cache"] == str(results / ".jax_cache") and first["skip_done"]
  assert first["workers"] == "2"
  # One lock file for all workers (their evaluations take turns), in the run's scratch folder, gone afterwards.
  locks = {runs[r]["eval_lock"] for r in runs}
  assert len(locks) == 1 and pathlib.Path(locks.pop()).parent.parent == results
  # Packed: the rows, the table, and each finished run's newest sample grid and loss curves.
  archive = tmp_path / "out" / "classics_results.tgz"
  assert _packed(archive) == sorted(["results.md"] + [f"{r}.json" for r in runs])
  assert _packed(archive, runs=True) == sorted(f"runs/{r}/seed_{s}/{f}" for r in runs for s in runs[r]["seeds"]
                                               for f in ("losses.png", "samples/step_1000000.png"))
  assert (tmp_path / "out" / "results.md").read_text().count("| ") == 5
  assert sorted(p.name for p in results.iterdir()) == sorted(["results.md", "runs"] + [f"{r}.json" for r in runs])


def test_together_gives_each_row_one_process_for_its_seeds(tmp_path):
  results = tmp_path / "results"
  results.mkdir()
  (results / "r1.json").write_text(json.dumps({"seeds": [0]}))  # measured before: only seeds 1, 2 are left
  proc = _run(tmp_path, ROWS="r1,r2", SEEDS="0,1,2", PAR="2", LIMIT="30", TOGETHER="1")
  assert proc.returncode == 0, proc.stderr
  runs = {r: json.loads((results / f"{r}.json").read_text()) for r in ("r1", "r2")}
  assert runs["r1"]["seeds"] == [0, 1, 2] and runs["r2"]["seeds"] == [0, 1, 2]
  assert runs["r1"]["together"] and len(set(runs["r1"]["pids"].values())) == 1  # seeds 1 and 2 in one process
  assert len(set(runs["r2"]["pids"].values())) == 1
  log = (tmp_path / "out" / "classics.log").read_text()
  assert "r1 seed 1,2: done" in log and "r2 seed 0,1,2: done" in log and log.count(": start") == 2
  bad = _run(tmp_path, ROWS="r1", TOGETHER="yes")
  assert bad.returncode == 2 and "TOGETHER must be 0 or 1, got 'yes'" in bad.stderr


def test_bad_arguments_stop_before_any_work(tmp_path):
  proc = _run(tmp_path, ROWS="r1,bad")
  assert proc.returncode != 0 and "unknown row 'bad'" in proc.stderr
  assert not (tmp_path / "out" / "classics_results.tgz").exists() and not list((tmp_path / "results").glob("*"))
  proc = _run(tmp_path, ROWS="r1", PAR="two")
  assert proc.returncode == 2 and "PAR must be a positive integer" in proc.stderr
  one = _run(tmp_path, ROWS="r1", XLA_PYTHON_CLIENT_MEM_FRACTION="0.3", PAR="3")
  assert one.returncode == 0 and json.loads((tmp_path / "results" / "r1.json").read_text())["mem_fraction"] == "0.3"


def test_earlier_rows_are_copied_in_without_overwriting(tmp_path):
  earlier, results = tmp_path / "earlier", tmp_path / "results"
  earlier.mkdir()
  results.mkdir()
  (earlier / "old.json").write_text('{"seeds": [0]}')
  (earlier / "r1.json").write_text('{"seeds": [0]}')  # measured in an earlier lease: only seed 1 is left
  (earlier / "kept.json").write_text('{"seeds": [0]}')
  (results / "kept.json").write_text('{"seeds": [0, 1]}')  # this lease's file is newer: left alone
  proc = _run(tmp_path, ROWS="r1", SEEDS="0,1", EARLIER=str(earlier), LIMIT="30")
  assert proc.returncode == 0, proc.stderr
  log = (tmp_path / "out" / "classics.log").read_text()
  assert "r1 seed 1: done" in log and "r1 seed 0" not in log
  assert json.loads((results / "r1.json").read_text())["seeds"] == [0, 1]
  assert json.loads((results / "old.json").read_text()) == {"seeds": [0]}
  assert json.loads((results / "kept.json").read_text()) == {"seeds": [0, 1]}
  archive = tmp_path / "out" / "classics_results.tgz"  # packed with the rows run now, and only their runs
  assert _packed(archive) == ["kept.json", "old.json", "r1.json", "results.md"]
  assert _packed(archive, runs=True) == ["runs/r1/seed_1/losses.png", "runs/r1/seed_1/samples/step_1000000.png"]
  proc = _run(tmp_path, ROWS="r1", EARLIER=str(tmp_path / "missing"))
  assert proc.returncode == 2 and "EARLIER=" in proc.stderr and "is not a folder" in proc.stderr


def _packed(path, runs=False):
  """The files in the archive at `path`: the top-level ones by name, or (`runs`) those under runs/ by path."""
  try:
    with tarfile.open(path) as tar:
      names = [pathlib.PurePath(m.name) for m in tar.getmembers() if m.isfile()]
  except (FileNotFoundError, tarfile.ReadError, EOFError):
    return []
  return sorted(str(n) for n in names if n.parts[0] == "runs") if runs else sorted(
      n.name for n in names if len(n.parts) == 1)


def test_archive_keeps_finished_rows_when_the_call_is_cut_off(tmp_path):
  env = {**os.environ, "PYTHON": sys.executable, "REPRO_MODULE": "tests._fake_reproduce",
         "RESULTS": str(tmp_path / "results"), "ROWS": "r1,slow", "SEEDS": "0,1", "LIMIT": "100"}
  proc = subprocess.Popen(["bash", "benchmarks/gpu_classics.sh", str(tmp_path / "out")], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
  archive = tmp_path / "out" / "classics_results.tgz"
  try:
    deadline = time.monotonic() + 60
    while "slow.json" not in _packed(archive) and time.monotonic() < deadline:
      time.sleep(0.2)  # r1's and slow's seed 0 finish (packed after each), then slow's seed 1 takes a minute
    assert proc.poll() is None  # still running: the archive was packed along the way
  finally:
    os.killpg(proc.pid, signal.SIGKILL)  # the lease's call ends: nothing runs after this
    proc.wait()
  assert _packed(archive) == ["r1.json", "slow.json"]
  assert not list((tmp_path / "out").glob(".classics_results.*"))  # no half-written archive left beside it


def test_nothing_finished_packs_nothing_until_the_table(tmp_path):
  proc = _run(tmp_path, ROWS="slow", SEEDS="1", LIMIT="8")  # its only seed outlasts LIMIT
  assert proc.returncode == 0, proc.stderr
  assert "tar:" not in proc.stderr + proc.stdout  # after the stopped item there was nothing to pack: silence
  assert "slow seed 1: stopped at LIMIT" in (tmp_path / "out" / "classics.log").read_text()
  assert _packed(tmp_path / "out" / "classics_results.tgz") == ["results.md"]


def test_runs_that_have_not_finished_training_leave_their_grids_out(tmp_path):
  """A run's grids are packed once its summary.json says it finished training (before, a grid may be mid-write)."""
  proc = _run(tmp_path, ROWS="r1,unfinished", LIMIT="30")
  assert proc.returncode == 0, proc.stderr
  archive = tmp_path / "out" / "classics_results.tgz"
  assert _packed(archive) == ["r1.json", "results.md", "unfinished.json"]
  assert _packed(archive, runs=True) == ["runs/r1/seed_0/losses.png", "runs/r1/seed_0/samples/step_1000000.png"]
