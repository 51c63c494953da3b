"""Every data set declares the box its inputs lie in, and its samples do lie in it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from labelrobust.data import available_datasets, load_dataset
from labelrobust.data.base import Dataset, ImageSet
from labelrobust.data.disk2d import load_disk2d
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import DataError

# What each registered data set must declare; tiny-imagenet and cifar100 are not in the shared
# test data and are skipped when their files are missing.
EXPECTED = {name: UNIT_BOX for name in available_datasets()} | {"disk2d": Box(-1.0, 1.0), "toy3": Box(-1.2, 1.2)}


def _offline(name: str, root: Path) -> Dataset:
    try:
        return load_dataset(name, root=root)
    except DataError as error:
        if "not found under data root" in str(error):
            pytest.skip(f"{name} is not in the shared test data")
        raise


@pytest.mark.parametrize("name", available_datasets())
def test_every_dataset_declares_a_domain_and_its_samples_lie_in_it(name, data_root: Path, tmp_path: Path):
    if name == "image-folder":  # the user's own images: a small folder of class subfolders
        from tests.data.test_image_folder import class_folder

        ds = load_dataset(name, options={"path": str(class_folder(tmp_path, data_root))})
    else:
        ds = _offline(name, data_root)
    assert isinstance(ds.domain, Box) and ds.domain == EXPECTED[name]
    for split in (ds.train, ds.test):
        x = split.float_images()
        assert float(x.min()) >= ds.domain.low and float(x.max()) <= ds.domain.high
        ds.domain.check(x)  # the attacks' own input check agrees


def test_the_datasets_the_brief_names_are_among_those_checked(data_root: Path):
    for name in ("digits", "disk2d", "mnist"):
        assert _offline(name, data_root).domain == EXPECTED[name]


@pytest.mark.parametrize("radius", [1.0, 2.5, 0.1])
def test_disk2d_domain_is_minus_r_to_r_and_holds_every_point(radius):
    ds = load_disk2d(Path("unused"), False, radius=radius, n_train=3000, n_test=500, seed=2)
    assert ds.domain == Box(-radius, radius)
    for split in (ds.train, ds.test):
        ds.domain.check(split.float_images())
        # the points fill the square's inscribed disk, so they reach close to every side
        assert float(split.images.abs().max()) > 0.95 * radius


def test_disk2d_domain_survives_cutting():
    ds = load_dataset("disk2d", train_size=100, test_size=50, val_size=20, classes=["rim", "centre"])
    assert ds.domain == Box(-1.0, 1.0)


def test_float_images_keep_vector_data_as_stored():
    ds = load_disk2d(Path("unused"), False, n_train=20, n_test=5)
    assert torch.equal(ds.train.float_images(), ds.train.images)
    assert float(ds.train.float_images().min()) < 0  # not mapped onto [0, 1]


def _split(values: torch.Tensor) -> ImageSet:
    return ImageSet(values, torch.zeros(len(values), dtype=torch.int64))


def test_samples_outside_the_declared_domain_are_refused():
    split = _split(torch.tensor([[-0.5, 0.2], [0.1, 0.3]]))
    with pytest.raises(DataError, match=r"^dataset toy: train inputs lie in \[-0\.5, 0\.3\], outside its declared domain \[0, 1\]$"):
        Dataset("toy", ("a",), split, _split(torch.zeros(1, 2)), (0.0, 0.0), (1.0, 1.0))
    Dataset("toy", ("a",), split, split, (0.0, 0.0), (1.0, 1.0), domain=Box(-1, 1))  # declared: fine


def test_non_finite_samples_and_a_non_box_domain_are_refused():
    good = _split(torch.zeros(1, 2))
    with pytest.raises(DataError, match="test inputs contain NaN or inf values"):
        Dataset("toy", ("a",), good, _split(torch.tensor([[float("nan"), 0.0]])), (0.0, 0.0), (1.0, 1.0))
    with pytest.raises(DataError, match=r"domain must be a labelrobust\.domain\.Box, got \(0, 1\)"):
        Dataset("toy", ("a",), good, good, (0.0, 0.0), (1.0, 1.0), domain=(0, 1))


def test_uint8_pixels_need_a_domain_that_holds_zero_to_one():
    pixels = ImageSet(torch.tensor([[0, 255]], dtype=torch.uint8), torch.zeros(1, dtype=torch.int64))
    assert Dataset("px", ("a",), pixels, pixels, (0.0, 0.0), (1.0, 1.0)).domain == UNIT_BOX
    with pytest.raises(DataError, match=r"outside its declared domain \[0, 0\.5\]"):
        Dataset("px", ("a",), pixels, pixels, (0.0, 0.0), (1.0, 1.0), domain=Box(0, 0.5))
