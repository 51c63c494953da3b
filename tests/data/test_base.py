"""Tests of the data types' helpers: missing-file errors and compact index ranges."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from labelrobust.data.base import (
    DATA_ROOT_ENV,
    Dataset,
    ImageSet,
    format_ranges,
    missing_data_error,
    require_file,
)
from labelrobust.errors import DataError


def test_format_ranges_compacts_runs():
    assert format_ranges([107, 102, 103, 104, 110, 111, 115]) == "102-104, 107, 110-111, 115"
    assert format_ranges([]) == ""
    assert format_ranges([5, 5]) == "5"


def test_require_file_returns_existing_path(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.bin").write_bytes(b"x")
    assert require_file("demo", tmp_path, "a/f.bin", downloadable=True) == tmp_path / "a" / "f.bin"


def test_require_file_message_says_where_and_how(tmp_path: Path):
    with pytest.raises(DataError, match=r"a/f\.bin not found under data root .*--data-root DIR.*") as info:
        require_file("demo", tmp_path, "a/f.bin", downloadable=True)
    assert DATA_ROOT_ENV in str(info.value) and "--download" in str(info.value)


def test_missing_data_error_for_absent_root_and_manual_source(tmp_path: Path):
    root = tmp_path / "nowhere"
    error = missing_data_error("demo", root / "x.npy", root, downloadable=False, source="the authors")
    assert "does not exist" in str(error)
    assert "--download" not in str(error) and "get it from the authors" in str(error)


def test_imageset_rejects_wrong_label_dtype():
    with pytest.raises(DataError, match="labels must be int64"):
        ImageSet(torch.zeros(2, 3, dtype=torch.uint8), torch.zeros(2, dtype=torch.int32))


def test_dataset_shape_and_counts():
    split = ImageSet(torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]))
    ds = Dataset("toy", ("a", "b"), split, split, (0.0, 0.0), (1.0, 1.0))
    assert ds.input_shape == (2,) and ds.num_classes == 2 and not ds.has_soft_labels


def test_missing_data_error_for_a_root_that_is_a_file(tmp_path: Path):
    root = tmp_path / "root.zip"
    root.write_bytes(b"PK")
    with pytest.raises(DataError, match=r"data root .*root\.zip is a file, not a folder"):
        require_file("demo", root, "a/f.bin", downloadable=True)


def test_subset_and_float_images_take_index_tensors():
    split = ImageSet(torch.arange(12, dtype=torch.uint8).reshape(4, 1, 3, 1), torch.tensor([0, 1, 0, 1]))
    part = split.subset(torch.tensor([3, 1]))
    assert part.labels.tolist() == [1, 1] and part.source_index.tolist() == [3, 1]
    assert torch.equal(split.float_images(torch.tensor([3, 1])), part.float_images())


def _multi(**fields) -> ImageSet:
    """Three 1×2×3 images with labels 0, 1, 2 of K = 4 classes; ``fields`` replace the defaults."""
    sets = torch.tensor([[1, 1, 0, 0], [0, 1, 0, 1], [0, 0, 1, 1]], dtype=torch.bool)
    masks = torch.zeros(3, 2, 2, 3, dtype=torch.bool)
    base = {"images": torch.zeros(3, 1, 2, 3), "labels": torch.tensor([0, 1, 2]), "label_sets": sets, "object_masks": masks}
    return ImageSet(**{**base, **fields})


def test_imageset_label_sets_and_object_masks_are_checked_and_subset():
    good = _multi()
    part = good.subset(torch.tensor([2, 0]))
    assert torch.equal(part.label_sets, good.label_sets[[2, 0]]) and part.object_masks.shape == (2, 2, 2, 3)
    cases = [
        ({"label_sets": good.label_sets.float()}, r"label_sets must be bool N×K with N=3, got torch\.float32 \(3, 4\)"),
        ({"label_sets": good.label_sets[:2]}, r"label_sets must be bool N×K with N=3"),
        ({"label_sets": good.label_sets & torch.tensor([[True], [True], [False]])}, r"label_sets rows \[2\] are empty"),
        ({"labels": torch.tensor([0, 2, 2])}, r"labels of rows \[1\] are not in their label_sets"),
        ({"labels": torch.tensor([0, 1, 4])}, r"labels must lie in 0\.\.3, the columns of label_sets"),
        ({"object_masks": torch.zeros(3, 2, 2, 4, dtype=torch.bool)}, r"object_masks must be bool N×O×H×W with N=3, H×W=2×3"),
        ({"object_masks": torch.zeros(3, 2, 2, 3)}, r"object_masks must be bool .*got torch\.float32"),
        ({"images": torch.zeros(3, 6)}, r"object_masks need image data N×C×H×W, got images of shape \(3, 6\)"),
    ]
    for fields, message in cases:
        with pytest.raises(DataError, match=message):
            _multi(**fields)


def test_dataset_says_whether_it_has_label_sets():
    multi, single = _multi(), ImageSet(torch.zeros(3, 1, 2, 3), torch.tensor([0, 1, 2]))
    assert Dataset("m", tuple("abcd"), multi, multi, (0.0,), (1.0,)).has_label_sets
    assert not Dataset("s", tuple("abc"), single, single, (0.0,), (1.0,)).has_label_sets
