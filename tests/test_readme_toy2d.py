"""The README's toy2d tables: every figure is the one of its committed JSON (benchmarks/results/.../toy2d/*.json).

A jaxgan row names its JSON in its first cell (a link); the JSON holds the toy2d command, its wall time and the run's
summary.json. The PacGAN paper rows are checked against `experiments.toy2d.PAPER`. A cell reads "mean ± s.e." or
"mean" at the precision shown; "—" means the run has no such figure.
"""

import json
import pathlib
import re
import shlex

import pytest

from experiments import toy2d
from jaxgan import config as config_lib

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_LINK = re.compile(r"\]\((benchmarks/results/[^)]+/toy2d/[^)]+\.json)\)")


def _section() -> str:
  text = README.read_text()
  start = text.index("### `toy2d`")
  end = text.find("\n## ", start)
  return text[start:end if end >= 0 else len(text)]


def _tables(section: str) -> list[tuple[list[str], list[list[str]]]]:
  """(header cells, rows of cells) of each markdown table of the section."""
  tables, lines = [], section.splitlines()
  i = 0
  while i < len(lines):
    if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| :]+\|$", lines[i + 1]):
      header = [c.strip() for c in lines[i].strip("|").split("|")]
      rows, i = [], i + 2
      while i < len(lines) and lines[i].startswith("|"):
        rows.append([c.strip().strip("*").strip() for c in lines[i].strip("|").split("|")])
        i += 1
      tables.append((header, rows))
    else:
      i += 1
  return tables


def _decimals(text: str) -> int:
  return len(text.split(".")[1]) if "." in text else 0


def _check_cell(cell: str, mean: float, sem: float | None, where: str) -> None:
  cell = cell.replace(",", "")
  parts = [p.strip() for p in cell.split("±")]
  want_mean = f"{mean:.{_decimals(parts[0])}f}"
  assert parts[0] == want_mean, f"{where}: README {cell!r}, JSON mean {mean!r} ({want_mean})"
  if len(parts) == 2:
    assert sem is not None, f"{where}: README gives a s.e. the JSON does not hold"
    want_sem = f"{sem:.{_decimals(parts[1])}f}"
    assert parts[1] == want_sem, f"{where}: README {cell!r}, JSON s.e. {sem!r} ({want_sem})"


_METRICS = {"modes": ("modes", 1.0), "strict": ("modes_strict", 1.0), "HQ %": ("high_quality", 100.0),
            "reverse KL": ("reverse_kl", 1.0)}


def _metric(header: str) -> tuple[str | None, str, float] | None:
  """'ring HQ %' -> ('ring', 'high_quality', 100); 'modes /K' -> (None, 'modes', 1); None for other columns."""
  for label, (key, factor) in _METRICS.items():
    m = re.fullmatch(rf"(?:(\S+) )?{re.escape(label)}(?: /\d+)?", header)
    if m:
      return m.group(1), key, factor
  return None


def _rows_with_json():
  for header, rows in _tables(_section()):
    for row in rows:
      link = _LINK.search(row[0])
      if link:
        yield header, row, json.loads((ROOT / link.group(1)).read_text()), link.group(1)


def test_the_toy2d_tables_have_the_rows_we_report():
  rows = list(_rows_with_json())
  assert len(rows) >= 4, "the toy2d section should link the default run and its confirmations to their JSON"
  names = {r[-1].rsplit("/", 1)[-1] for r in rows}
  assert "default.json" in names


def test_every_jaxgan_figure_is_its_json():
  checked = 0
  for header, row, record, path in _rows_with_json():
    mixtures = record["summary"]["mixtures"]
    mixture_col = header.index("mixture") if "mixture" in header else None
    for title, cell in zip(header, row):
      if title == "wall time":
        assert cell == f"{record['wall_seconds']:.0f} s", f"{path}: wall time {cell!r} vs {record['wall_seconds']}"
        checked += 1
        continue
      if title == "seeds":
        seeds = {tuple(m["seeds"]) for m in mixtures.values()}
        assert len(seeds) == 1, path
        [seeds] = seeds
        assert cell == (f"{seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])), f"{path}: seeds {cell!r}"
        checked += 1
        continue
      metric = _metric(title)
      if metric is None:
        continue
      name, key, factor = metric
      name = name or row[mixture_col].strip("`")
      if cell == "—":
        assert name not in mixtures, f"{path}: README has no {title!r} but the JSON has mixture {name!r}"
        continue
      s = mixtures[name]
      _check_cell(cell, factor * s[key]["mean"], factor * s[key]["sem"], f"{path} {title}")
      checked += 1
    if "all modes" in " ".join(header):
      col = next(i for i, h in enumerate(header) if "all modes" in h)
      names = [row[mixture_col].strip("`")] if mixture_col is not None else list(mixtures)
      want = " / ".join(f"{sum(p['modes'] == mixtures[n]['num_modes'] for p in mixtures[n]['per_seed'])}/"
                        f"{len(mixtures[n]['per_seed'])}" for n in names)
      assert row[col] == want, f"{path}: seeds with all modes {row[col]!r}, JSON {want!r}"
  assert checked >= 20


def test_the_json_commands_are_toy2d_commands_of_the_recorded_config():
  """Each JSON's command, parsed as the CLI parses it, gives the config its summary records."""
  for _, _, record, path in _rows_with_json():
    argv = shlex.split(record["command"])
    assert argv[:3] == ["python", "-m", "experiments.toy2d"], path
    cfg, _, _ = config_lib.parse_args(toy2d.get_config(), argv[3:])
    cfg.mixtures = toy2d.mixture_names(cfg)
    saved = record["summary"]["config"]
    assert json.loads(json.dumps(cfg.to_dict(), default=str)) == saved, path


def test_the_paper_rows_are_pacgan_table_1():
  seen = 0
  for header, rows in _tables(_section()):
    for row in rows:
      m = re.fullmatch(r"PacGAN paper: (\w+)", row[0])
      if not m:
        continue
      paper = toy2d.PAPER[m.group(1)]
      for title, cell in zip(header, row):
        metric = _metric(title)
        if metric is None or metric[0] is None:
          continue
        key = {"modes": "modes", "reverse_kl": "reverse_kl"}.get(metric[1])
        want = paper.get(f"{metric[0]}_{key}") if key else None
        assert (cell == "—") == (want is None), f"{row[0]} {title}: {cell!r} vs {want!r}"
        if want is not None:
          assert float(cell) == pytest.approx(want), f"{row[0]} {title}"
      seen += 1
  assert seen == 3


def test_the_quick_start_quotes_the_default_run():
  """The Quick start's CPU and wall time of the first command are those of the default row's JSON."""
  text = README.read_text()
  quick = text[text.index("## Quick start"):text.index("\n## ", text.index("## Quick start") + 1)]
  record = json.loads((ROOT / "benchmarks/results/cpu_2026-12-06/toy2d/default.json").read_text())
  m = re.search(r"(\d+) s of CPU time, (\d+) s wall", " ".join(quick.split()))
  assert m, "the Quick start should say how long the first command took"
  cpu = record["cpu_seconds"]["user"] + record["cpu_seconds"]["system"]
  assert (int(m.group(1)), int(m.group(2))) == (round(cpu), round(record["wall_seconds"]))
  argv = shlex.split(record["command"])
  assert argv[:4] == ["python", "-m", "experiments.toy2d", "--workdir"] and len(argv) == 5  # the default, no flags
  assert record["summary"]["config"] == json.loads(json.dumps(toy2d.get_config().to_dict(), default=str))
