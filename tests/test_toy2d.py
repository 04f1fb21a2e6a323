"""The toy 2D experiment: a smoke run writes every artefact; the default run covers the ring."""

import shutil

import numpy as np
import pytest

from _run_files import read_json, read_jsonl
from experiments import toy2d


def test_smoke_run_writes_workdir(tmp_path):
  cfg = toy2d.get_config()
  cfg.smoke = True
  states, summary = toy2d.main(cfg, str(tmp_path))
  for name in ("ring", "grid"):
    sub = tmp_path / name
    lines = read_jsonl(sub / "metrics.jsonl")
    assert [l["step"] for l in lines] == [2, 4, 6]
    assert len(lines[0]["d_loss"]) == 2  # one value per seed
    assert (sub / "scatter_000006.png").exists() and (sub / "losses.png").exists()
    assert sorted(p.name for p in (sub / "checkpoints").iterdir()) == ["4", "6"]
    assert int(np.asarray(states[name].step)[0]) == 6
  saved = read_json(tmp_path / "summary.json")
  assert saved["mixtures"]["ring"]["num_modes"] == 8 and saved["mixtures"]["grid"]["num_modes"] == 25
  for key in ("modes", "modes_strict", "high_quality", "reverse_kl"):
    assert set(saved["mixtures"]["grid"][key]) == {"mean", "sem"}
  assert read_json(tmp_path / "config.json")["smoke"] is True
  assert "ring" in toy2d.format_table(summary)


def test_smoke_only_makes_values_smaller():
  """--smoke=true caps the sizes; what the command line set below the caps stays (it was overwritten)."""
  cfg = toy2d.get_config()
  smoke = toy2d._apply_smoke(cfg)  # pylint: disable=protected-access
  assert (smoke.num_steps, smoke.num_seeds, smoke.batch_size, smoke.eval_samples) == (6, 2, 16, 200)
  assert (smoke.g_hidden, smoke.d_hidden, smoke.log_every, smoke.plot_every) == ((16, 16), (16,), 2, 2)
  assert (smoke.checkpoint_every, smoke.steps_per_call) == (4, 2)  # the multi-step path is the tested one
  cfg.num_steps, cfg.num_seeds, cfg.batch_size, cfg.eval_samples = 4, 1, 8, 50
  cfg.g_hidden, cfg.d_hidden, cfg.log_every, cfg.checkpoint_every = (8,), (4, 4), 1, 0
  smoke = toy2d._apply_smoke(cfg)  # pylint: disable=protected-access
  assert (smoke.num_steps, smoke.num_seeds, smoke.batch_size, smoke.eval_samples) == (4, 1, 8, 50)
  assert (smoke.g_hidden, smoke.d_hidden, smoke.log_every, smoke.plot_every) == ((8,), (4,), 1, 1)
  assert (smoke.checkpoint_every, smoke.steps_per_call) == (0, 1)
  cfg = toy2d.get_config()
  cfg.packing = 5
  assert toy2d._apply_smoke(cfg).batch_size == 15  # pylint: disable=protected-access
  toy2d.check_config(toy2d._apply_smoke(cfg))  # pylint: disable=protected-access


def test_unknown_mixture_fails_before_compute(tmp_path):
  cfg = toy2d.get_config()
  cfg.mixtures = ("ring", "spiral")
  with pytest.raises(ValueError, match="unknown mixture 'spiral'"):
    toy2d.main(cfg, str(tmp_path))
  assert not (tmp_path / "ring").exists()


@pytest.mark.parametrize("field,value,match", [("top_k", 1.5, "minimum must be in"),
                                               ("top_k_decay", 0.0, "decay must be in"),
                                               ("loss", "wgan_typo", "unknown loss 'wgan_typo'")])
def test_bad_loss_settings_fail_before_compute(tmp_path, field, value, match):
  cfg = toy2d.get_config()
  cfg.smoke, cfg.top_k = True, 0.5
  setattr(cfg, field, value)
  with pytest.raises(ValueError, match=match):
    toy2d.main(cfg, str(tmp_path))
  assert not (tmp_path / "ring").exists()


@pytest.mark.slow
def test_default_covers_ring_modes(tmp_path):
  # Behavioural: the default settings (fixed seeds 0, 1, 2) cover all 8 ring modes on every seed, at least 7 of them
  # with a fifth of their fair share of high-quality samples (the strict rule), and 70 % of the samples are within
  # 3 std of a mode (the README's default row: 8/8, strict 8, 7, 7, 76.4-78.2 %).
  cfg = toy2d.get_config()
  cfg.mixtures = ("ring",)
  _, summary = toy2d.main(cfg, str(tmp_path))
  per_seed = summary["mixtures"]["ring"]["per_seed"]
  assert len(per_seed) == cfg.num_seeds
  assert all(s["modes"] == 8 and s["modes_strict"] >= 7 and s["high_quality"] >= 0.7 for s in per_seed), per_seed


def test_ema_run_also_scores_the_raw_generator(tmp_path):
  # Tracking an EMA does not change training, so the raw generator of an EMA run scores as the
  # generator of the same run without EMA (same evaluation key); the EMA itself differs.
  def ring_summary(ema_decay, workdir):
    cfg = toy2d.get_config()
    cfg.smoke, cfg.mixtures, cfg.ema_decay = True, ("ring",), ema_decay
    return toy2d.main(cfg, str(workdir))[1]["mixtures"]["ring"]

  with_ema = ring_summary(0.5, tmp_path / "ema")
  plain = ring_summary(0.0, tmp_path / "plain")
  assert "without_ema" not in plain
  assert len(with_ema["per_seed"]) == 2
  assert with_ema["without_ema"]["per_seed"] == plain["per_seed"]
  assert with_ema["per_seed"] != plain["per_seed"]


# A tiny run (one seed, 6 steps) that logs, scores and checkpoints at steps 2, 4 and 6.
_TINY = ["--mixtures=ring", "--num_seeds=1", "--num_steps=6", "--batch_size=16", "--g_hidden=16,16",
         "--d_hidden=16", "--log_every=2", "--plot_every=2", "--checkpoint_every=2", "--eval_samples=50",
         "--steps_per_call=2"]


def _tiny_config(**overrides):
  cfg, _, _ = toy2d.config_lib.parse_args(toy2d.get_config(), _TINY)
  for k, v in overrides.items():
    setattr(cfg, k, v)
  return cfg


def _eval_steps(path):
  return [r["step"] for r in read_jsonl(path)]


@pytest.mark.parametrize("arg,message", [
    ("--mixtures=rings", "config field `mixtures`: unknown mixture 'rings' (the family must be one of grid, ring); "
                         "a mixture is ring[:K=<modes>,r=<radius>,std=<std>]"),
    ("--mixtures=ring:K=12,radius=2", "unknown mixture 'ring:K=12,radius=2' (ring has no field 'radius'; its fields: "
                                      "K, r, std)"),
    ("--mixtures=ring,ring:K=8", "mixture 'ring' is listed twice in --mixtures; list each once"),
    ("--steps_per_call=0", "steps_per_call must be an integer >= 1, got 0"),
    ("--steps_per_call=300", "steps_per_call=300 needs num_steps, log_every and checkpoint_every (when > 0) that are "
                             "multiples of 300"),
    ("--loss=hnge", "loss: unknown loss 'hnge'"),
    ("--lr_schedule=linear", "unknown lr_schedule 'linear'; known: constant, cosine"),
    ("--batch_size=15", "batch_size=15 must be a multiple of packing=2"),
    ("--num_seeds=0", "num_seeds must be an integer >= 1, got 0"),
    ("--log_every=0", "log_every must be an integer >= 1, got 0"),
    ("--d_steps=0", "d_steps must be an integer >= 1, got 0"),
    ("--eval_samples=0", "eval_samples must be an integer >= 1, got 0"),
    ("--plot_every=0", "plot_every must be an integer >= 1, got 0"),
    ("--plot_every=1250", "plot_every=1250 must be a multiple of log_every=500 (scatter plots are drawn at log "
                          "steps); e.g. --plot_every=1000"),
    ("--seed=-1", "seed must be >= 0"),
])
def test_cli_refuses_bad_values_in_one_line_before_writing(tmp_path, arg, message):
  with pytest.raises(SystemExit) as exit_info:
    toy2d.cli(["--workdir", str(tmp_path / "wd"), arg])
  text = str(exit_info.value.code)
  assert text.startswith("error: ") and message in text and "\n" not in text
  assert not (tmp_path / "wd").exists()


def test_rerun_and_resume_keep_eval_log_and_curves(tmp_path, monkeypatch):
  plotted = []
  real_save_curves = toy2d.viz.save_curves
  def save_curves(records, *args, **kwargs):
    plotted.append([r["step"] for r in records])
    real_save_curves(records, *args, **kwargs)
  monkeypatch.setattr(toy2d.viz, "save_curves", save_curves)

  wd, sub = str(tmp_path), tmp_path / "ring"
  first = toy2d.main(_tiny_config(), wd)[1]["mixtures"]["ring"]
  evals = (sub / "eval.jsonl").read_text()
  assert _eval_steps(sub / "eval.jsonl") == [2, 4, 6]
  # The finished quick-start command again: scored again, nothing appended, the whole history plotted.
  again = toy2d.main(_tiny_config(), wd)[1]["mixtures"]["ring"]
  assert (sub / "eval.jsonl").read_text() == evals
  assert plotted == [[2, 4, 6], [2, 4, 6]]
  saved = read_json(tmp_path / "summary.json")["mixtures"]["ring"]
  assert saved["final_d_loss"] == first["final_d_loss"] == again["final_d_loss"] is not None
  assert again["per_seed"] == first["per_seed"]
  # Resumed from step 4 (its last checkpoint lost): the lines after step 4 are written once, again.
  shutil.rmtree(sub / "checkpoints" / "6")
  (sub / "scatter_000006.png").unlink()
  toy2d.main(_tiny_config(), wd)
  assert (sub / "eval.jsonl").read_text() == evals
  assert (sub / "scatter_000006.png").exists() and plotted[-1] == [2, 4, 6]


def test_changed_config_is_refused_before_writing_and_no_resume_sets_the_run_aside(tmp_path):
  wd, sub = tmp_path / "wd", tmp_path / "wd" / "ring"
  toy2d.cli(["--workdir", str(wd), *_TINY])
  before = {n: (wd / n).read_bytes() for n in ("config.json", "summary.json", "ring/eval.jsonl")}
  with pytest.raises(SystemExit) as exit_info:
    toy2d.cli(["--workdir", str(wd), *_TINY, "--loss=hinge"])
  text = str(exit_info.value.code)
  assert text.startswith("error: cannot resume") and "loss='non_saturating' there, 'hinge' now" in text
  assert "--no-resume" in text and "\n" not in text
  assert {n: (wd / n).read_bytes() for n in before} == before  # config.json still describes the checkpoints

  toy2d.cli(["--workdir", str(wd), *_TINY, "--loss=hinge", "--no-resume"])
  assert read_json(wd / "config.json")["loss"] == "hinge"
  assert _eval_steps(sub / "eval.jsonl") == [2, 4, 6]  # the new run's only
  [old] = (wd / "superseded").iterdir()
  assert {n: (old / n).read_bytes() for n in before} == before
  assert sorted(p.name for p in (old / "ring").glob("scatter_*.png")) == [
      "scatter_000002.png", "scatter_000004.png", "scatter_000006.png"]
  assert not (sub / "superseded").exists()


def test_mixture_specs_from_the_command_line(tmp_path):
  """Any ring or grid by its spec: readable folders and summary keys, the same metrics; `ring` stays PacGAN's."""
  wd = tmp_path / "wd"
  summary = toy2d.cli(["--workdir", str(wd), "--smoke=true", "--mixtures=ring:r=2,K=3,grid:K=2,spacing=1,ring"])
  assert list(summary["mixtures"]) == ["ring:K=3,r=2", "grid:K=2,spacing=1", "ring"]
  assert [summary["mixtures"][k]["num_modes"] for k in summary["mixtures"]] == [3, 4, 8]
  assert read_json(wd / "config.json")["mixtures"] == ["ring:K=3,r=2", "grid:K=2,spacing=1", "ring"]
  for folder in ("ring_K3_r2", "grid_K2_spacing1", "ring"):
    assert (wd / folder / "eval.jsonl").exists() and (wd / folder / "checkpoints" / "6").is_dir()
  # Scored against the mixture's own modes: the per-mode counts have its K entries.
  [final] = [r for r in read_jsonl(wd / "ring_K3_r2" / "eval.jsonl") if r["step"] == 6]
  assert all(len(s["counts"]) == 3 for s in final["per_seed"])
  # --no-resume sets every mixture folder of the previous run aside, the spec ones included.
  toy2d.cli(["--workdir", str(wd), "--smoke=true", "--mixtures=grid", "--no-resume"])
  [old] = (wd / "superseded").iterdir()
  assert {p.name for p in old.iterdir()} == {"config.json", "summary.json", "ring_K3_r2", "grid_K2_spacing1", "ring"}


def test_steps_per_call_gives_the_numbers_of_one_step_per_call(tmp_path):
  """Two and three steps per compiled call train the same run as one step per call: the same losses and scores (to
  float32 rounding: XLA may lay out the vmapped step inside the scan differently, jaxgan.train.multistep)."""
  runs = {}
  for n in (1, 2, 3):
    cfg = _tiny_config(steps_per_call=n, log_every=6, plot_every=6, checkpoint_every=0)
    runs[n] = toy2d.main(cfg, str(tmp_path / str(n)))[1]["mixtures"]["ring"]
    runs[n]["losses"] = [r["d_loss"] for r in read_jsonl(tmp_path / str(n) / "ring" / "metrics.jsonl")]
  for n in (2, 3):
    np.testing.assert_allclose(runs[n]["losses"], runs[1]["losses"], rtol=1e-4)
    for got, want in zip(runs[n]["per_seed"], runs[1]["per_seed"]):
      assert got["modes"] == want["modes"] and got["high_quality"] == pytest.approx(want["high_quality"], abs=0.02)
