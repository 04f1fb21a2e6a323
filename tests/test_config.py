"""Command-line overrides of experiment configs."""


import ml_collections
import pytest

from _run_files import read_json
from jaxgan.config import ConfigError, parse_args, save_config


def _base():
  c = ml_collections.ConfigDict()
  c.lr = 1e-3
  c.steps = 10
  c.smoke = False
  c.name = "ring"
  c.hidden = (8, 8)
  c.opt = ml_collections.ConfigDict({"beta1": 0.5})
  return c


def test_overrides_are_typed():
  c, workdir, resume = parse_args(_base(), ["--lr=0.5", "--steps", "3", "--smoke=true",
                                            "--hidden=4,5,6", "--opt.beta1=0.9", "--workdir",
                                            "/tmp/x", "--no-resume", "--name=grid"])
  assert (c.lr, c.steps, c.smoke, c.hidden, c.opt.beta1, c.name) == (0.5, 3, True, (4, 5, 6),
                                                                       0.9, "grid")
  assert workdir == "/tmp/x" and resume is False
  given = _base()
  parse_args(given, ["--lr=0.5", "--hidden=4,5"])
  assert given.lr == 1e-3 and given.hidden == _base().hidden  # the input config is untouched
  for text in ("(4, 5)", "[4,5]", "4,5,"):
    assert parse_args(_base(), [f"--hidden={text}"])[0].hidden == (4, 5)
  base = _base()
  base.names = ("ring", "grid")
  for text in ('("grid",)', "['grid']", "grid"):
    assert parse_args(base, [f"--names={text}"])[0].names == ("grid",)


def test_override_errors():
  with pytest.raises(ConfigError, match="unknown config field 'stepz'; did you mean steps"):
    parse_args(_base(), ["--stepz=3"])
  with pytest.raises(ConfigError, match="expected an integer"):
    parse_args(_base(), ["--steps=many"])
  with pytest.raises(ConfigError, match="expected true/false"):
    parse_args(_base(), ["--smoke=maybe"])
  with pytest.raises(ConfigError, match="needs a value"):
    parse_args(_base(), ["--lr"])
  with pytest.raises(ConfigError, match="unexpected argument"):
    parse_args(_base(), ["lr=3"])


def test_save_config(tmp_path):
  plain = save_config(_base(), str(tmp_path))
  assert read_json(tmp_path / "config.json")["steps"] == 10 == plain["steps"]
