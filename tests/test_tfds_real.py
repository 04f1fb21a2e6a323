"""The `tfds:` loader against the real tensorflow-datasets package, on a TFDS dataset built offline from MNIST.

TFDS' own MNIST builder parses the shared idx files (its download step replaced by the local files) and writes
`mnist/3.0.1/` (dataset_info.json, features.json, PNG-encoded tfrecord shards) into a tmp data_dir, as
`tfds build mnist --data_dir=...` would on a machine with network access. jaxgan's `tfds:mnist` then reads it, and
its images and labels must equal, bit for bit, what jaxgan's idx loader reads from the same files.

Needs the `tfds` extra and the shared MNIST (../shared/data/mnist or $JAXGAN_ASSETS/data/mnist); skips without
either. Run: pip install -e ".[tfds]" && pytest tests/test_tfds_real.py   (about 30 s on 2 CPU cores)
"""

import gzip
import pathlib
import shutil

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets", reason='tensorflow_datasets is not installed: this test needs '
                           'the optional extra, pip install -e ".[tfds]"')

from tensorflow_datasets.image_classification import mnist as tfds_mnist  # pylint: disable=wrong-import-position

from jaxgan.data import registry  # pylint: disable=wrong-import-position

# The first examples of each split (TFDS' MNIST parser reads the first `num_examples` of the idx files).
NUM = {"train": 700, "test": 500}
_IDX_PREFIX = {"train": "train", "test": "t10k"}
_SHARDS = 3  # several record files, so the reading order across files is tested too


def _builder_class(ordered: bool) -> type:
  """TFDS' MNIST builder reading local idx files; `ordered`: written in the files' order (disable_shuffling)."""

  class LocalMnist(tfds_mnist.MNIST, skip_registration=True):  # the registered "mnist" reads what it writes
    name = "mnist"

    def _info(self):
      info = super()._info()
      if not ordered:
        return info  # shuffled by key when written, as `tfds build mnist` writes it
      return tfds.core.DatasetInfo(builder=self, description=info.description, features=info.features,
                                   supervised_keys=info.supervised_keys, disable_shuffling=True)

    def _split_generators(self, dl_manager):
      del dl_manager  # nothing to download: the idx files are local
      return [tfds.core.SplitGenerator(name=split, gen_kwargs=dict(
          num_examples=NUM[split], data_path=str(self._idx / f"{_IDX_PREFIX[split]}-images-idx3-ubyte"),
          label_path=str(self._idx / f"{_IDX_PREFIX[split]}-labels-idx1-ubyte"))) for split in NUM]

  return LocalMnist


@pytest.fixture(scope="module")
def mnist_dir(assets) -> pathlib.Path:
  path = assets / "data" / "mnist"
  if not (path / "t10k-images-idx3-ubyte.gz").is_file():
    pytest.skip(f"the shared MNIST idx files are not in {path}")
  return path


@pytest.fixture(scope="module")
def data_dirs(mnist_dir, tmp_path_factory) -> dict[str, str]:
  """{"ordered": data_dir, "shuffled": data_dir}, each holding a prepared `mnist/3.0.1/` of NUM examples a split."""
  root = tmp_path_factory.mktemp("tfds")
  idx = root / "idx"  # TFDS' parser reads the files uncompressed (its download step extracts them)
  idx.mkdir()
  for gz in mnist_dir.glob("*-ubyte.gz"):
    (idx / gz.name[:-3]).write_bytes(gzip.decompress(gz.read_bytes()))
  dirs = {}
  for kind in ("ordered", "shuffled"):
    builder = _builder_class(kind == "ordered")(data_dir=str(root / kind))
    builder._idx = idx  # pylint: disable=protected-access
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(num_shards=_SHARDS))
    assert len(list((root / kind / "mnist" / "3.0.1").glob("mnist-test.tfrecord-*"))) == _SHARDS
    dirs[kind] = str(root / kind)
  return dirs


def _idx(mnist_dir, split, **kwargs):
  return registry.get_dataset("mnist", data_dir=str(mnist_dir), split=split, limit=NUM[split], **kwargs)


@pytest.mark.parametrize("split", ["train", "test"])
def test_tfds_mnist_equals_the_idx_files_bit_for_bit(data_dirs, mnist_dir, split):
  """An ordered TFDS dataset in three record files reads back in the idx files' order, every pixel and label."""
  got = registry.get_dataset("tfds:mnist", data_dir=data_dirs["ordered"], split=split)
  want = _idx(mnist_dir, split)
  assert got.images.shape == (NUM[split], 28, 28, 1) and got.images.dtype == np.uint8
  assert got.labels.dtype == np.int32 and got.class_names == tuple(str(k) for k in range(10))
  np.testing.assert_array_equal(got.images, want.images)
  np.testing.assert_array_equal(got.labels, want.labels)
  assert got.source == f"tfds:mnist (split {split!r})"


def test_limit_and_split_slices_take_the_same_examples(data_dirs, mnist_dir):
  want = _idx(mnist_dir, "test")
  first = registry.get_dataset("tfds:mnist", data_dir=data_dirs["ordered"], split="test", limit=7)
  np.testing.assert_array_equal(first.images, want.images[:7])
  np.testing.assert_array_equal(first.labels, want.labels[:7])
  sliced = registry.get_dataset("tfds:mnist", data_dir=data_dirs["ordered"], split="test[200:230]")
  np.testing.assert_array_equal(sliced.images, want.images[200:230])
  np.testing.assert_array_equal(sliced.labels, want.labels[200:230])
  even = registry.get_dataset("tfds:mnist", data_dir=data_dirs["ordered"], split="test", limit=5, subset="even")
  want_even = want.take(5, subset="even")
  np.testing.assert_array_equal(even.images, want_even.images)
  np.testing.assert_array_equal(even.labels, want_even.labels)
  assert not np.array_equal(even.labels, want.labels[:5])  # evenly spaced is not the first five


def test_resolution_and_channels_match_the_idx_loader(data_dirs, mnist_dir):
  """The same resize and channel conversion on both paths: the same bytes."""
  got = registry.get_dataset("tfds:mnist", data_dir=data_dirs["ordered"], split="test", resolution=32, channels=3)
  want = _idx(mnist_dir, "test", resolution=32, channels=3)
  assert got.images.shape == (NUM["test"], 32, 32, 3)
  np.testing.assert_array_equal(got.images, want.images)


def _sorted_examples(dataset):
  order = sorted(range(len(dataset.labels)), key=lambda i: (int(dataset.labels[i]), dataset.images[i].tobytes()))
  return dataset.images[order], dataset.labels[order]


def test_a_shuffled_tfds_build_holds_the_same_examples_in_a_fixed_order(data_dirs, mnist_dir):
  """As `tfds build mnist` writes it (shuffled by key): the same examples as the idx files, in TFDS' order, which
  is the same on every read."""
  got = registry.get_dataset("tfds:mnist", data_dir=data_dirs["shuffled"], split="test")
  want = _idx(mnist_dir, "test")
  assert not np.array_equal(got.labels, want.labels)  # really another order, so the comparison below means something
  for a, b in zip(_sorted_examples(got), _sorted_examples(want)):
    np.testing.assert_array_equal(a, b)
  again = registry.get_dataset("tfds:mnist", data_dir=data_dirs["shuffled"], split="test")
  np.testing.assert_array_equal(again.images, got.images)
  np.testing.assert_array_equal(again.labels, got.labels)


def test_a_prepared_dataset_without_builder_code_is_read_from_its_files(data_dirs, mnist_dir, tmp_path):
  """A dataset prepared elsewhere, under a name TFDS has no code for: read from dataset_info.json and the records."""
  shutil.copytree(pathlib.Path(data_dirs["ordered"]) / "mnist", tmp_path / "jaxgan_digits")
  got = registry.get_dataset("tfds:jaxgan_digits", data_dir=str(tmp_path), split="test")
  want = _idx(mnist_dir, "test")
  np.testing.assert_array_equal(got.images, want.images)
  np.testing.assert_array_equal(got.labels, want.labels)
  assert got.class_names == tuple(str(k) for k in range(10))


def test_experiment_config_reads_tfds(data_dirs, mnist_dir):
  """The experiments' data path (config fields dataset, data_dir, split, limit) reads the same images."""
  from experiments import dcgan  # pylint: disable=import-outside-toplevel
  from jaxgan.train import experiment  # pylint: disable=import-outside-toplevel
  c = dcgan.get_config()
  c.dataset, c.data_dir, c.split, c.limit = "tfds:mnist", data_dirs["ordered"], "test", 0
  got = experiment.load_data(c)
  np.testing.assert_array_equal(got.images, _idx(mnist_dir, "test").images)


def test_real_package_errors_are_short_and_say_what_to_do(data_dirs, tmp_path):
  with pytest.raises(FileNotFoundError, match=r"TFDS dataset 'mnist' is not prepared: .*mnist/3\.0\.1/dataset_info"
                                              r"\.json is missing, and download=False .*tfds build mnist"):
    registry.get_dataset("tfds:mnist", data_dir=str(tmp_path))
  with pytest.raises(ValueError, match=r"^tensorflow-datasets [\d.]+ knows no dataset 'mnsit' \(close names: "
                                       r"[^)]*\bmnist\b[^)]*\), and data_dir .* holds no prepared "
                                       r"mnsit/<version>/dataset_info\.json; check the name") as info:
    registry.get_dataset("tfds:mnsit", data_dir=str(tmp_path))
  assert len(str(info.value)) < 400  # TFDS' own message lists every dataset it knows, ~450 lines
  with pytest.raises(ValueError, match=r"^TFDS dataset 'mnist', split 'validation': Unknown split 'validation'\. "
                                       r"Should be one of \['train', 'test'\]"):
    registry.get_dataset("tfds:mnist", data_dir=data_dirs["ordered"], split="validation")
  with pytest.raises(ValueError, match=r"^TFDS cannot load 'mnist:9\.9\.9': .*only: 3\.0\.1"):
    registry.get_dataset("tfds:mnist:9.9.9", data_dir=data_dirs["ordered"])
  from jaxgan.data import tfds as tfds_lib  # pylint: disable=import-outside-toplevel
  with pytest.raises(ValueError, match=r"no feature 'img'; its features are \['image', 'label'\]: set image_key"):
    tfds_lib.load_tfds("mnist", data_dir=data_dirs["ordered"], image_key="img")
