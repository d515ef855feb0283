"""Data sets (a registry by name) decoded once into uint8 tensors, and on-device batching.

Python API::

    from parawire.data import load_dataset, make_batches
    splits = load_dataset("digits")                       # embedded, no data needed
    splits = load_dataset("cifar10", root="../shared/data/cifar10/cifar10-jpg.tar.gz")
    train, test = make_batches(splits, batch_size=128, device=torch.device("cpu"))
"""

from parawire.data import cifar10, digits, flowers102, synthetic  # noqa: F401  (fill the registry)
from parawire.data._base import ImageDataset, ImageSplits, default_cache_dir
from parawire.data._registry import create_dataset, list_datasets, load_dataset, register_dataset
from parawire.data.batches import (
    Augment,
    DeviceBatches,
    Normalize,
    make_batches,
    random_crop_flip,
    resize_splits,
)

__all__ = [
    "Augment",
    "DeviceBatches",
    "ImageDataset",
    "ImageSplits",
    "Normalize",
    "create_dataset",
    "default_cache_dir",
    "list_datasets",
    "load_dataset",
    "make_batches",
    "random_crop_flip",
    "register_dataset",
    "resize_splits",
]
