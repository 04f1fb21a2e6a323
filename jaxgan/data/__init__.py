"""Datasets: loaders that give `(N, H, W, C)` images (uint8 on the host, float32 in [-1, 1] per batch) and labels."""

from jaxgan.data.arrays import ImageDataset
from jaxgan.data.arrays import to_float
from jaxgan.data.arrays import to_uint8
from jaxgan.data.files import load
from jaxgan.data.files import load_cifar10_python
from jaxgan.data.files import load_idx
from jaxgan.data.files import load_image_folder
from jaxgan.data.files import load_npz
from jaxgan.data.files import load_source
from jaxgan.data.files import load_uint8
from jaxgan.data.files import read_idx
from jaxgan.data.paired import TranslationDataset
from jaxgan.data.paired import jitter
from jaxgan.data.paired import load_paired_ab
from jaxgan.data.paired import load_paired_folders
from jaxgan.data.paired import load_unpaired
from jaxgan.data.paired import load_unpaired_classes
from jaxgan.data.paired import split_ab
from jaxgan.data.paired import unpair
from jaxgan.data.pipeline import Pipeline
from jaxgan.data.registry import check_dataset_name
from jaxgan.data.registry import dataset_names
from jaxgan.data.registry import get_dataset
from jaxgan.data.registry import register_dataset
from jaxgan.data.tfds import load_tfds
