"""Command-line handling shared by experiment modules: overrides of any config field.

`python -m experiments.NAME --workdir DIR [--no-resume] [--field=value ...]`, where a
field is a (dotted) name of the experiment's ConfigDict. Values are parsed to the type
of the field's default (bool accepts true/false/1/0; tuples and lists take comma
separated items).
"""

from __future__ import annotations

import ast
import difflib
import json
import os
from typing import Any, Sequence

import ml_collections


class ConfigError(ValueError):
  """A bad command line or configuration value."""


def _flat_names(cfg: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
  names = []
  for k, v in cfg.items():
    name = f"{prefix}{k}"
    if isinstance(v, ml_collections.ConfigDict):
      names += _flat_names(v, name + ".")
    else:
      names.append(name)
  return names


def _parse_value(name: str, text: str, default: Any) -> Any:
  if isinstance(default, bool):
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
      return True
    if low in ("0", "false", "no", "off"):
      return False
    raise ConfigError(f"--{name}: expected true/false, got {text!r}")
  if isinstance(default, (tuple, list)):
    # "a,b", "(a, b)", "[a, b]" and Python-quoted items ("('a', 'b')") all mean the same.
    inner = text.strip()
    if inner[:1] + inner[-1:] in ("()", "[]"):
      inner = inner[1:-1]
    items = [t.strip().strip("'\"") for t in inner.split(",") if t.strip()]
    kind = type(default[0]) if default else str
    return type(default)(_parse_value(name, t, kind()) for t in items)
  if isinstance(default, int):
    try:
      return int(text)
    except ValueError:
      raise ConfigError(f"--{name}: expected an integer, got {text!r}") from None
  if isinstance(default, float):
    try:
      return float(text)
    except ValueError:
      raise ConfigError(f"--{name}: expected a number, got {text!r}") from None
  if isinstance(default, str):
    return text
  if default is None:
    try:
      return ast.literal_eval(text)
    except (ValueError, SyntaxError):
      return None if text.lower() == "none" else text
  raise ConfigError(f"--{name}: cannot set a field of type {type(default).__name__}")


def parse_args(config: ml_collections.ConfigDict, argv: Sequence[str]) -> tuple[
    ml_collections.ConfigDict, str | None, bool]:
  """Applies `--field=value` / `--field value` overrides.

  Returns:
    (config, workdir or None, resume). `--workdir DIR` and `--no-resume` are not fields.
  Raises:
    ConfigError: an unknown field (with close matches), a bad value, a stray argument.
  """
  config = ml_collections.ConfigDict(config.to_dict())
  names = _flat_names(config)
  workdir, resume = None, True
  args = list(argv)
  i = 0
  while i < len(args):
    arg = args[i]
    if not arg.startswith("--"):
      raise ConfigError(f"unexpected argument {arg!r}: use --field=value")
    body = arg[2:]
    if "=" in body:
      name, value = body.split("=", 1)
    elif body in ("no-resume", "no_resume"):
      resume, i = False, i + 1
      continue
    else:
      if i + 1 >= len(args):
        raise ConfigError(f"--{body} needs a value")
      name, value, i = body, args[i + 1], i + 1
    i += 1
    name = name.replace("-", "_") if name not in names else name
    if name.startswith("config."):
      name = name[len("config."):]
    if name == "workdir":
      workdir = value
      continue
    if name not in names:
      close = difflib.get_close_matches(name, names, n=3)
      hint = f"; did you mean {', '.join(close)}?" if close else ""
      raise ConfigError(f"unknown config field {name!r}{hint} Known fields: {', '.join(names)}")
    *parents, leaf = name.split(".")
    node = config
    for p in parents:
      node = node[p]
    node[leaf] = _parse_value(name, value, node[leaf])
  return config, workdir, resume


def save_config(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Writes `workdir/config.json` and returns the config as a plain dict."""
  os.makedirs(workdir, exist_ok=True)
  plain = config.to_dict()
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(plain, f, indent=2, sort_keys=True, default=str)
  return plain
