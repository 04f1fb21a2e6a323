"""Tests of jaxgan.train.distributed.

Argument checks run in this process (they raise before JAX is touched). The multi-host check launches
`tests/_distributed_check.py` as 2 processes x 1 CPU device connected through `jax.distributed`
(coordinator on 127.0.0.1, a free port), and once as 1 process x 2 devices, and compares the parameters after 3
WGAN-GP steps (mesh-jit, and pmap across the 2 processes), the orbax checkpoint written by both processes, and the
host loop (`jaxgan.train.loop.train`) across both: one log writer, checkpoint and resume.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxgan.train import distributed

CHECK = pathlib.Path(__file__).with_name("_distributed_check.py")
FAST_XLA = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
  for var in (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES, distributed.ENV_PROCESS_ID,
              distributed.ENV_AUTO, "TPU_WORKER_HOSTNAMES", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
    monkeypatch.delenv(var, raising=False)


def test_single_process_is_a_no_op():
  info = distributed.initialize()
  assert (info.process_index, info.process_count, info.is_main) == (0, 1, True)
  assert info.device_count == jax.device_count()
  assert distributed.initialize(num_processes=1).process_count == 1
  assert distributed.data_shard() == {"process_index": 0, "process_count": 1}
  assert distributed.is_main_process()
  distributed.sync("nothing to wait for")
  distributed.assert_same_across_processes(3, "anything")


@pytest.mark.parametrize("kwargs, match", [
    (dict(coordinator="127.0.0.1:1234", num_processes=2, process_id=2), r"process_id=2 must be in \[0, "),
    (dict(coordinator="127.0.0.1:1234", num_processes=2, process_id=-1), "process_id must be an int >= 0"),
    (dict(coordinator="127.0.0.1:1234", num_processes=0, process_id=0), "num_processes must be an int >= 1"),
    (dict(coordinator="127.0.0.1:1234", num_processes=2), r"missing \['process_id'\]"),
    (dict(num_processes=2, process_id=0), r"missing \['coordinator'\]"),
    (dict(coordinator="127.0.0.1", num_processes=2, process_id=0), "host:port"),
    (dict(coordinator="127.0.0.1:99999", num_processes=2, process_id=0), "port"),
    (dict(num_processes=1, process_id=1), r"process_id=1 must be in \[0, num_processes=1\)"),
])
def test_inconsistent_settings_raise_before_connecting(kwargs, match):
  with pytest.raises(ValueError, match=match):
    distributed.initialize(**kwargs)
  assert not jax.distributed.is_initialized()


def test_environment_variables(monkeypatch):
  monkeypatch.setenv(distributed.ENV_COORDINATOR, "10.0.0.1:1234")
  monkeypatch.setenv(distributed.ENV_NUM_PROCESSES, "2")
  monkeypatch.setenv(distributed.ENV_PROCESS_ID, "5")
  with pytest.raises(ValueError, match=r"process_id=5 must be in \[0, num_processes=2\)"):
    distributed.initialize()
  monkeypatch.setenv(distributed.ENV_NUM_PROCESSES, "two")
  with pytest.raises(ValueError, match="JAXGAN_NUM_PROCESSES='two' is not valid"):
    distributed.initialize()
  # Explicit arguments win over the environment; one process needs no coordinator.
  assert distributed.initialize(num_processes=1, process_id=0).process_count == 1


def test_cluster_detection(monkeypatch):
  assert not distributed._cluster_detected()
  monkeypatch.setenv("TPU_WORKER_HOSTNAMES", "t1k-w-0")
  assert not distributed._cluster_detected()
  monkeypatch.setenv("TPU_WORKER_HOSTNAMES", "t1k-w-0,t1k-w-1")
  assert distributed._cluster_detected()


def test_unreliable_layout_is_named():
  why = distributed._unreliable_layout("cpu", 2, 2)
  assert "2 CPU devices in each of 2 processes" in why and "--xla_force_host_platform_device_count" in why
  for layout in (("cpu", 2, 1), ("cpu", 1, 8), ("gpu", 2, 8), ("tpu", 4, 4)):
    assert distributed._unreliable_layout(*layout) is None, layout


def test_main_process_only():
  calls = []

  @distributed.main_process_only
  def write(x):
    calls.append(x)
    return x

  assert write(3) == 3 and calls == [3]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _launch(args: list[str], num_devices: int) -> subprocess.Popen:
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={num_devices} {FAST_XLA}"
  env["JAX_PLATFORMS"] = "cpu"
  return subprocess.Popen([sys.executable, str(CHECK), *args], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _run_both(folder: pathlib.Path, timeout: float) -> list[tuple[int, str]] | None:
  """The 2-process run and the 1-process run into `folder`: [(returncode, log)], or None when one hung."""
  folder.mkdir()
  port = _free_port()
  multi = [_launch(["--coordinator", f"127.0.0.1:{port}", "--num_processes", "2", "--process_id", str(i),
                    "--out", str(folder / "multi.json"), "--ckpt", str(folder / "ckpt"), "--pmap",
                    "--workdir", str(folder / "work")], 1)
           for i in range(2)]
  single = _launch(["--out", str(folder / "single.json")], 2)
  procs = multi + [single]
  try:
    logs = [p.communicate(timeout=timeout)[0] for p in procs]
    return [(p.returncode, log) for p, log in zip(procs, logs)]
  except subprocess.TimeoutExpired:
    return None
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
  # One CPU device per process: with 2 virtual devices in each of the 2 processes, XLA's CPU cross-process
  # collectives (Gloo) hung in 9 of 12 runs on a 2-core machine (2026-11-26, jax 0.10.2; one process stuck in a
  # barrier's all-gather that the other had already passed; CI's run hung at all 4 attempts) and in 0 of 18 runs
  # with one device per process. Several devices per host across processes stay covered where they run in
  # practice (GPU/TPU collectives), the many-device mesh/pmap steps in one process by test_parallel.py. A hung
  # attempt (over 75 s; a passing one takes about 10 s) is still retried once on a fresh port.
  runs, attempts = None, 2
  for attempt in range(attempts):
    folder = tmp_path / f"attempt{attempt}"
    runs = _run_both(folder, 75.0)
    if runs is not None:
      break
  assert runs is not None, f"the 2-process run hung {attempts} times (over 75 s each)"
  for code, log in runs:
    assert code == 0, log[-4000:]

  a = json.loads((folder / "multi.json").read_text())
  b = json.loads((folder / "single.json").read_text())
  assert (a["process_count"], a["device_count"]) == (2, 2)
  assert (b["process_count"], b["device_count"]) == (1, 2)
  for part in ("g_params", "d_params"):
    for x, y in zip(a[part], b[part]):
      np.testing.assert_allclose(np.array(x), np.array(y), rtol=1e-5, atol=1e-6)
    for x, y in zip(a["pmap_" + part], b[part]):
      np.testing.assert_allclose(np.array(x), np.array(y), rtol=1e-5, atol=1e-6)
  for k, v in b["metrics"].items():
    assert a["metrics"][k] == pytest.approx(v, rel=1e-5, abs=1e-6), k
    assert a["pmap_metrics"][k] == pytest.approx(v, rel=1e-5, abs=1e-6), k
  # The orbax checkpoint written by both processes restores the same state, replicated on the 2-device mesh.
  assert a["restored_equal"] and a["restored_step"] == 3
  assert a["restored_sharding"] == "P()"
  assert a["extra"] == "multi-process"
  assert a["pmap_restored_equal"]  # a pmap run's checkpoint (one unreplicated copy) written by both processes
  assert sorted(os.listdir(folder / "ckpt")) == ["3"]
  # The host loop across both processes: checkpoint at step 5, resumed by a second run to step 6; one log writer.
  assert a["loop_steps"] == [5, 6] and a["loop_resumed_records"] == [6]
  logged = [json.loads(line)["step"] for line in (folder / "work" / "metrics.jsonl").read_text().splitlines()]
  assert logged == [1, 2, 3, 4, 5, 6]
  assert "5" in os.listdir(folder / "work" / "checkpoints")
