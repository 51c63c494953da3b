"""Data sets: loaders registered by name, and the functions that cut them to size.

``load_dataset("cifar10", root=..., train_size=1000)`` is the entry point; each data set is
one module here with one ``@DATASETS.register`` line.
"""

from labelrobust.data.base import DATA_ROOT_ENV, Dataset, ImageSet
from labelrobust.data.catalog import (
    DATASETS,
    available_datasets,
    dataset_options,
    load_dataset,
    resolve_data_root,
)

# Imported for their registration side effect; the registry must exist first.
from labelrobust.data import (  # noqa: E402,F401  isort: skip
    cifar,
    cifar10h,
    digits,
    disk2d,
    double_mnist,
    image_folder,
    mnist,
    softcifar10,
    tiny_imagenet,
    toy3,
)

__all__ = [
    "DATASETS",
    "DATA_ROOT_ENV",
    "Dataset",
    "ImageSet",
    "available_datasets",
    "dataset_options",
    "load_dataset",
    "resolve_data_root",
]
