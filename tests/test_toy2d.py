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
  cfg.num_steps, cfg.num_seeds, cfg.batch_size, cfg.eval_samples = 4, 1, 8, 50
  cfg.g_hidden, cfg.d_hidden, cfg.log_every, cfg.checkpoint_every = (8,), (4, 4), 1, 0
  smoke = toy2d._apply_smoke(cfg)  # pylint: disable=protected-access
  assert (smoke.num_steps, smoke.num_seeds, smoke.batch_size, smoke.eval_samples) == (4, 1, 8, 50)
  assert (smoke.g_hidden, smoke.d_hidden, smoke.log_every, smoke.plot_every) == ((8,), (4,), 1, 1)
  assert smoke.checkpoint_every == 0
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
  # Behavioural: the default settings (fixed seeds 0, 1, 2) cover >= 7 of 8 ring modes, each
  # with at least a fifth of its fair share of high-quality samples (the strict rule).
  cfg = toy2d.get_config()
  cfg.mixtures = ("ring",)
  _, summary = toy2d.main(cfg, str(tmp_path))
  per_seed = summary["mixtures"]["ring"]["per_seed"]
  assert len(per_seed) == cfg.num_seeds
  assert all(s["modes_strict"] >= 7 for s in per_seed), per_seed


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
         "--d_hidden=16", "--log_every=2", "--plot_every=2", "--checkpoint_every=2", "--eval_samples=50"]


def _tiny_config(**overrides):
  cfg, _, _ = toy2d.config_lib.parse_args(toy2d.get_config(), _TINY)
  for k, v in overrides.items():
    setattr(cfg, k, v)
  return cfg


def _eval_steps(path):
  return [r["step"] for r in read_jsonl(path)]


@pytest.mark.parametrize("arg,message", [
    ("--mixtures=rings", "unknown mixture 'rings' (config field `mixtures`); known: grid, ring"),
    ("--loss=hnge", "loss: unknown loss 'hnge'"),
    ("--lr_schedule=linear", "unknown lr_schedule 'linear'; known: constant, cosine"),
    ("--batch_size=15", "batch_size=15 must be a multiple of packing=2"),
    ("--num_seeds=0", "num_seeds must be an integer >= 1, got 0"),
    ("--log_every=0", "log_every must be an integer >= 1, got 0"),
    ("--d_steps=0", "d_steps must be an integer >= 1, got 0"),
    ("--eval_samples=0", "eval_samples must be an integer >= 1, got 0"),
    ("--plot_every=0", "plot_every must be an integer >= 1, got 0"),
    ("--plot_every=150", "plot_every=150 must be a multiple of log_every=100 (scatter plots are drawn at log steps); "
                         "e.g. --plot_every=200"),
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
