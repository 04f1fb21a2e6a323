"""The README's Python examples run as written (with their placeholders bound to small arrays), so it stays true."""

import ast
import importlib
import inspect
import pathlib
import re
import shlex

import numpy as np

from benchmarks import reproduce
from jaxgan import config as config_lib
from jaxgan import metrics
from jaxgan.train import experiment

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> dict[str, str]:
  """Each ```python block of the README, under its first line."""
  text = README.read_text()
  return {block.split("\n", 1)[0]: block for block in re.findall(r"```python\n(.*?)```", text, re.S)}


def _block(first_line: str) -> str:
  blocks = _blocks()
  assert first_line in blocks, f"README has no python block starting {first_line!r}; blocks: {list(blocks)}"
  return blocks[first_line]


def _run(source: str, namespace: dict) -> dict:
  exec(compile(source, str(README), "exec"), namespace)  # pylint: disable=exec-used
  return namespace


def _pieces() -> dict:
  """'The pieces': one DCGAN training step with lazy R1, the README's placeholders bound to 4 random images."""
  images = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
  return _run(_block("import jax, optax"), {"example_batch": {"image": images}, "images": images})


def test_the_pieces_example_takes_a_step():
  ns = _pieces()
  assert int(ns["state"].step) == 1
  assert {"d_loss", "g_loss", "d/r1", "d/non_saturating"} <= set(ns["metrics"])
  assert all(np.all(np.isfinite(np.asarray(v))) for v in ns["metrics"].values())


def test_the_scaling_out_example_trains_from_the_pieces():
  """'Scaling out, from Python' continues the pieces' names (G, D, loss, cfg, ...); its endless loop over the
  pipeline is cut to two steps here."""
  ns = _pieces()
  rng = np.random.default_rng(1)
  ns.update(key=ns["jax"].random.key(1), example=ns["example_batch"], batch_size=4,
            images=rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), labels=rng.integers(0, 10, 8))
  source = _block("import jaxgan")
  loop = "for batch in pipeline:"
  assert loop in source
  _run("import itertools\n" + source.replace(loop, "for batch in itertools.islice(pipeline, 2):"), ns)
  assert int(ns["jax"].device_get(ns["state"].step)) == 2
  assert np.isfinite(float(ns["metrics"]["d_loss"])) and np.isfinite(float(ns["metrics"]["g_loss"]))


def test_the_data_example_reads_the_shared_files(assets):
  source = _block("from jaxgan import data").replace("../shared", str(assets))
  ns = _run(source, {})
  assert ns["ds"].images.shape == (60000, 28, 28, 1) and ns["images"].shape == (10000, 32, 32, 3)
  assert ns["batch"]["image"].shape == (128, 28, 28, 1) and ns["batch"]["label"].shape == (128,)
  assert set(ns["position"]) and all(isinstance(v, int) for v in ns["position"].values())


def test_the_evaluation_example_calls_what_exists():
  """The evaluation example needs pytorch-fid's weights and 50k samples, too much to run here: every
  `metrics.<name>(...)` it calls must exist and take the keywords it passes."""
  tree = ast.parse(_block("import jax"))
  calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
           and isinstance(n.func.value, ast.Name) and n.func.value.id == "metrics"]
  assert len(calls) >= 8
  for call in calls:
    fn = getattr(metrics, call.func.attr, None)
    assert callable(fn), f"README calls metrics.{call.func.attr}, which jaxgan.metrics does not have"
    params = inspect.signature(fn).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for kw in call.keywords:
      assert takes_kwargs or kw.arg in params, f"README passes {kw.arg}= to metrics.{call.func.attr}"
    positional = [p for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(call.args) <= len(positional), f"README passes too many arguments to metrics.{call.func.attr}"


def _experiment_commands() -> list[tuple[str, list[str]]]:
  """(module, argv) of every `python -m experiments.NAME ...` line in the README's bash blocks (continued lines
  joined, comments cut)."""
  out = []
  for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
    for line in block.replace("\\\n", " ").splitlines():
      words = shlex.split(line, comments=True)
      if words[:2] == ["python", "-m"] and words[2].startswith("experiments."):
        out.append((words[2].split(".", 1)[1], words[3:]))
  return out


def test_the_experiment_commands_parse_and_pass_the_config_checks(monkeypatch):
  """Every experiment command line in the README names existing config fields with valid values: parsed as the
  CLI parses them, through each experiment's own `main` up to `experiment.run`, whose config checks run (nothing
  is trained or read)."""
  checked = []

  def run(c, workdir, resume, **kwargs):
    del workdir, resume, kwargs
    experiment.check_config(c)
    checked.append(c)
    return None, {}

  monkeypatch.setattr(experiment, "run", run)
  commands = _experiment_commands()
  assert {m for m, _ in commands} == {"toy2d", "dcgan", "wgan", "wgan_gp", "lsgan"}
  for module_name, argv in commands:
    module = importlib.import_module(f"experiments.{module_name}")
    defaults = module.get_config()
    config, workdir, resume = config_lib.parse_args(defaults, argv)
    experiment.check_overrides(config, defaults)
    if module_name == "toy2d":  # its main trains at once; its checks are check_config's
      module.check_config(config)
    else:
      before = len(checked)
      module.main(config, workdir, resume)
      assert len(checked) == before + 1, f"experiments.{module_name}.main did not reach experiment.run"


def test_the_reproduce_commands_pass_the_argument_checks(assets, tmp_path):
  """Every `python -m benchmarks.reproduce ...` command the README quotes passes reproduce's argument checks
  (`--plan`: rows, seeds, datasets, data folders, weights; nothing runs), its placeholders bound to the shared
  files."""
  data = assets / "data"
  placeholders = {"--rows": "mnist_ns", "--datasets": "mnist", "--data-dir": str(data / "mnist"),
                  "--weights": str(assets / "weights" / "fid_inception_2015_12_05.npz")}
  pairs = {"DIR1": str(data / "mnist"), "DIR2": str(data / "fashion_mnist"),  # dataset=DIR pairs
           "ZIP": str(data / "cifar10_jpeg_q75.zip")}
  commands = re.findall(r"`(python -m benchmarks\.reproduce[^`]*)`", README.read_text())
  assert len(commands) >= 3
  for command in commands:
    argv = shlex.split(" ".join(command.split()))[3:]
    for i, word in enumerate(argv[1:], 1):  # a placeholder (upper case, or the weights' bare file name) by its flag
      if argv[i - 1] in placeholders and (word.isupper() or argv[i - 1] == "--weights"):
        argv[i] = placeholders[argv[i - 1]]
    argv = [re.sub(r"=(DIR\d|ZIP)\b", lambda m: "=" + pairs[m.group(1)], w) for w in argv]
    if "--out" in argv:
      argv[argv.index("--out") + 1] = str(tmp_path / "out")
    reproduce.main(argv + ([] if "--plan" in argv else ["--plan"]))
  assert not (tmp_path / "out").exists()  # --plan writes nothing
