"""Tests of the soft CIFAR-10 survey loader on the published file and on malformed copies."""

from __future__ import annotations

import pickle
import pickletools
from pathlib import Path

import pytest
import torch

from labelrobust.data.base import Dataset
from labelrobust.data.softcifar10 import (
    SURVEY_FILE,
    load_softcifar10,
    rating_means,
    read_survey,
    validate_rows,
)
from labelrobust.errors import ConfigError, DataError

# methods.md §1: average rating of the true class, plane … truck
PUBLISHED_DIAGONAL = [3.21, 3.55, 3.15, 2.81, 2.93, 3.07, 3.01, 3.37, 3.23, 3.38]
# (true class, rated class, mean rating): cat→dog, dog→cat, deer→horse, horse→dog,
# car→truck, truck→car, ship→truck
PUBLISHED_OFF_DIAGONAL = [(3, 5, 1.70), (5, 3, 1.65), (4, 7, 1.60), (7, 5, 1.42), (1, 9, 1.35), (9, 1, 1.24), (8, 9, 1.11)]


@pytest.fixture(scope="module")
def softcifar10(data_root: Path) -> Dataset:
    return load_softcifar10(data_root, False)


def test_real_survey_numbers(softcifar10: Dataset):
    r = softcifar10.report
    assert r["rows"] == 10000
    assert r["no_rating_count"] == 87
    assert r["no_rating_ranges"].startswith("1439, 3757") and "5801-5864" in r["no_rating_ranges"]
    assert r["label_mismatch_count"] == 85
    assert r["label_mismatch_ranges"].startswith("102-103, 105-109") and r["label_mismatch_ranges"].endswith("194-198")
    assert r["label_mismatch_span"] == "102-198"
    # default drop-span: the whole shifted stretch 102-198 (97 rows) goes, 12 chance matches included
    assert r["on_mismatch"] == "drop-span" and r["kept_inside_mismatch_span"] == 0
    assert r["rows_kept"] == 10000 - 87 - 97
    assert (r["train"], r["val"], r["test"]) == (6819, 1998, 999)
    assert (len(softcifar10.train), len(softcifar10.val), len(softcifar10.test)) == (6819, 1998, 999)
    assert not ((softcifar10.train.source_index >= 102) & (softcifar10.train.source_index <= 198)).any()


def test_drop_mode_drops_only_mismatching_rows(data_root: Path):
    r = load_softcifar10(data_root, False, on_mismatch="drop").report
    assert r["rows_kept"] == 10000 - 87 - 85
    assert (r["train"], r["val"], r["test"]) == (6831, 1998, 999)
    assert r["kept_inside_mismatch_span"] == 12


def test_real_survey_splits_and_soft_labels(softcifar10: Dataset, data_root: Path):
    train, val, test = softcifar10.train, softcifar10.val, softcifar10.test
    assert int(train.source_index.max()) < 7000
    assert 7000 <= int(val.source_index.min()) and int(val.source_index.max()) < 9000
    assert int(test.source_index.min()) >= 9000
    for split in (train, val, test):
        assert split.soft_labels.shape == (len(split), 10)
        assert torch.allclose(split.soft_labels.sum(1), torch.ones(len(split)))
    survey = read_survey(data_root / SURVEY_FILE)
    # soft label = ratings / sum, and hard labels are CIFAR-10's
    i = int(train.source_index[0])
    expected = survey.ratings[i].float() / survey.ratings[i].sum()
    assert torch.allclose(train.soft_labels[0], expected)
    assert torch.equal(train.labels, survey.labels[train.source_index])
    assert train.images.shape[1:] == (3, 32, 32) and train.images.dtype == torch.uint8


def test_survey_uses_no_globals(data_root: Path):
    ops = {op.name for op, _, _ in pickletools.genops((data_root / SURVEY_FILE).read_bytes())}
    assert ops <= {"PROTO", "EMPTY_LIST", "BINPUT", "LONG_BINPUT", "MARK", "BININT1", "TUPLE2", "APPENDS", "STOP"}


def test_refuse_on_mismatch(data_root: Path):
    with pytest.raises(DataError, match=r"85 rows have a hard label that differs .* \(rows 102-103, 105-109.*194-198\)"):
        load_softcifar10(data_root, False, on_mismatch="refuse")


def test_on_mismatch_value_checked(data_root: Path):
    with pytest.raises(ConfigError, match="on_mismatch must be one of drop-span, drop, refuse, got 'ignore'"):
        load_softcifar10(data_root, False, on_mismatch="ignore")


def test_rating_means_reproduce_published_table(data_root: Path):
    means = rating_means(read_survey(data_root / SURVEY_FILE))
    assert means.shape == (10, 10)
    assert torch.allclose(means.diagonal(), torch.tensor(PUBLISHED_DIAGONAL, dtype=torch.float64), atol=0.1)
    for true, rated, value in PUBLISHED_OFF_DIAGONAL:
        assert abs(float(means[true, rated]) - value) < 0.1
    rated_only = rating_means(read_survey(data_root / SURVEY_FILE), skip_unrated=True)
    assert torch.allclose(rated_only.diagonal(), torch.tensor(PUBLISHED_DIAGONAL, dtype=torch.float64), atol=0.1)


def test_rating_means_refuses_a_dataset(softcifar10: Dataset):
    with pytest.raises(ConfigError, match="needs the raw 0-4 ratings"):
        rating_means(softcifar10)
    assert softcifar10.report["rating_means_diagonal"] == PUBLISHED_DIAGONAL


def test_rating_means_from_rows():
    rows = [([4, 1, 0, 0, 0, 0, 0, 0, 0, 0], 0), ([2, 3, 0, 0, 0, 0, 0, 0, 0, 0], 0), ([0] * 9 + [4], 9)]
    means = rating_means(rows)
    assert means[0, :2].tolist() == [3.0, 2.0] and means[9, 9] == 4.0
    assert torch.isnan(means[5]).all()
    with pytest.raises(DataError, match="rating_means rows: row 0: label 11"):
        rating_means([([0] * 10, 11)])


def _write(tmp_path: Path, rows) -> Path:
    path = tmp_path / "survey_answers"
    path.write_bytes(pickle.dumps(rows, protocol=3))
    return path


GOOD = ([0, 0, 0, 1, 0, 3, 0, 0, 0, 0], 5)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (([0] * 9, 3), r"row 2: ratings must be a list of 10 ints, got 9"),
        (([0, 0, 5, 0, 0, 0, 0, 0, 0, 0], 2), r"row 2: rating 5 for class 2 is not an int in 0..4"),
        (([0] * 10, 10), r"row 2: label 10 is not an int in 0..9"),
        ([[0] * 10, 3], r"row 2 is a list .*expected a tuple \(ratings, label\)"),
        (([0] * 10, 3, 1), r"row 2 is a tuple of 3 items, expected 2"),
        ("oops", r"row 2 is a str"),
        (([0.5] + [0] * 9, 3), r"row 2: rating 0.5 for class 0"),
        (([True] + [0] * 9, 3), r"row 2: rating True"),
    ],
)
def test_malformed_rows(tmp_path: Path, bad, message):
    path = _write(tmp_path, [GOOD, GOOD, bad, GOOD])
    with pytest.raises(DataError, match=message):
        read_survey(path)


def test_survey_not_a_list(tmp_path: Path):
    with pytest.raises(DataError, match="expected a list of"):
        validate_rows({"a": 1}, "x")


def test_survey_with_a_global_is_refused(tmp_path: Path):
    path = tmp_path / "survey_answers"
    path.write_bytes(pickle.dumps([GOOD, (torch.Size([1]), 1)], protocol=3))
    with pytest.raises(DataError, match=r"forbidden global torch\.Size.*allowed globals: none"):
        read_survey(path)


def test_survey_length_must_match_batch(tmp_path: Path, data_root: Path):
    (tmp_path / "softcifar10").mkdir()
    _write(tmp_path / "softcifar10", [GOOD] * 5)
    (tmp_path / "cifar-10-batches-py").symlink_to(data_root / "cifar-10-batches-py")
    with pytest.raises(DataError, match="has 5 rows but .*data_batch_1 has 10000 images"):
        load_softcifar10(tmp_path, False)


def test_missing_survey_says_it_is_not_downloadable(tmp_path: Path):
    with pytest.raises(DataError, match=r"softcifar10/survey_answers not found .*cannot be downloaded automatically"):
        load_softcifar10(tmp_path, False)
