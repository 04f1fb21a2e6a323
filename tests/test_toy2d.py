"""The toy 2D experiment: a smoke run writes every artefact; the default run covers the ring."""

import json

import numpy as np
import pytest

from experiments import toy2d


def test_smoke_run_writes_workdir(tmp_path):
  cfg = toy2d.get_config()
  cfg.smoke = True
  states, summary = toy2d.main(cfg, str(tmp_path))
  for name in ("ring", "grid"):
    sub = tmp_path / name
    lines = [json.loads(l) for l in open(sub / "metrics.jsonl")]
    assert [l["step"] for l in lines] == [2, 4, 6]
    assert len(lines[0]["d_loss"]) == 2  # one value per seed
    assert (sub / "scatter_000006.png").exists() and (sub / "losses.png").exists()
    assert int(np.asarray(states[name].step)[0]) == 6
  saved = json.load(open(tmp_path / "summary.json"))
  assert saved["mixtures"]["ring"]["num_modes"] == 8 and saved["mixtures"]["grid"]["num_modes"] == 25
  for key in ("modes", "modes_strict", "high_quality", "reverse_kl"):
    assert set(saved["mixtures"]["grid"][key]) == {"mean", "sem"}
  assert json.load(open(tmp_path / "config.json"))["smoke"] is True
  assert "ring" in toy2d.format_table(summary)


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
