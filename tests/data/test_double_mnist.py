"""DOUBLE-MNIST on the real MNIST files: reproducible from the seed, two different digits per
canvas, masks that are the pasted digits, layouts and canvas options, one-line errors, and
label sets and masks that survive every cut of the data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from labelrobust.data import ImageSet, load_dataset
from labelrobust.data.double_mnist import draw_pairs, load_double_mnist, paste, pixel_statistics, random_places
from labelrobust.data.mnist import _read_split
from labelrobust.errors import ConfigError, DataError

SMALL = {"n_train": 300, "n_test": 100}


def _load(root: Path, **options) -> object:
    return load_dataset("double-mnist", root=root, options={**SMALL, **options})


@pytest.fixture(scope="module")
def side_by_side(data_root):
    return _load(data_root, seed=5)


@pytest.fixture(scope="module")
def sources(data_root):
    """Every MNIST image (train and test split) by its bytes → its digit."""
    table = {}
    for train in (True, False):
        split = _read_split(data_root, train, False)
        for image, label in zip(split.images[:, 0], split.labels.tolist()):
            table[image.numpy().tobytes()] = label
    return table


def test_same_seed_gives_bit_identical_samples_and_masks(data_root, side_by_side):
    again = _load(data_root, seed=5)
    for a, b in ((side_by_side.train, again.train), (side_by_side.test, again.test)):
        for field in ("images", "labels", "label_sets", "object_masks"):
            assert torch.equal(getattr(a, field), getattr(b, field)), field
    other = _load(data_root, seed=6)
    assert not torch.equal(other.train.images, side_by_side.train.images)
    # the test split depends on the seed alone, not on how many training samples were drawn
    assert torch.equal(_load(data_root, seed=5, n_train=50).test.images, side_by_side.test.images)


def test_side_by_side_pastes_two_different_real_digits(side_by_side, sources):
    ds = side_by_side
    assert ds.name == "double-mnist" and ds.class_names == tuple("0123456789") and ds.input_shape == (1, 28, 56)
    assert ds.train.images.dtype == torch.uint8 and len(ds.train) == 300 and len(ds.test) == 100
    for split in (ds.train, ds.test):
        sets = split.label_sets
        assert (sets.sum(dim=1) == 2).all()  # two digits, and they differ
        assert sets.gather(1, split.labels[:, None]).all()  # labels = object 0's digit
        for n in range(40):
            left, right = split.images[n, 0, :, :28], split.images[n, 0, :, 28:]
            assert sources[left.numpy().tobytes()] == split.labels[n]
            other = sets[n].nonzero().flatten().tolist()
            other.remove(int(split.labels[n]))
            assert sources[right.numpy().tobytes()] == other[0]


def test_masks_are_the_nonzero_pixels_of_each_pasted_digit(side_by_side):
    split = side_by_side.train
    masks, pixels = split.object_masks, split.images[:, 0]
    assert masks.shape == (300, 2, 28, 56) and masks.dtype == torch.bool
    assert torch.equal(masks[:, 0, :, :28], pixels[:, :, :28] != 0) and not masks[:, 0, :, 28:].any()
    assert torch.equal(masks[:, 1, :, 28:], pixels[:, :, 28:] != 0) and not masks[:, 1, :, :28].any()


@pytest.mark.parametrize("size", [(28, 56), (56, 28), (56, 56), (60, 90), (30, 120)])
def test_random_places_never_overlap_and_stay_on_the_canvas(size):
    h, w = size
    rows, cols = random_places(2000, h, w, torch.Generator().manual_seed(1))
    assert (rows >= 0).all() and (cols >= 0).all() and (rows <= h - 28).all() and (cols <= w - 28).all()
    apart = ((rows[:, 0] - rows[:, 1]).abs() >= 28) | ((cols[:, 0] - cols[:, 1]).abs() >= 28)
    assert apart.all()
    if (h, w) == (28, 56):  # the only two placements: one digit left, one right
        assert set(map(tuple, cols.tolist())) == {(0, 28), (28, 0)} and not rows.any()
    elif (h, w) == (56, 28):  # one above the other
        assert set(map(tuple, rows.tolist())) == {(0, 28), (28, 0)} and not cols.any()
    else:
        assert len(set(map(tuple, torch.cat([rows, cols], 1).tolist()))) > 100  # really random


def test_random_layout_on_a_given_canvas(data_root, sources):
    ds = _load(data_root, layout="random", height=40, width=70, seed=2)
    split = ds.train
    assert ds.input_shape == (1, 40, 70) and ds.report["layout"] == "random"
    masks, pixels = split.object_masks, split.images[:, 0]
    assert not (masks[:, 0] & masks[:, 1]).any()
    assert torch.equal(masks[:, 0] | masks[:, 1], pixels != 0)
    for n in range(20):  # each mask's bounding box lies inside one pasted 28×28 MNIST digit
        for o in range(2):
            r, c = masks[n, o].nonzero().unbind(1)
            assert r.max() - r.min() < 28 and c.max() - c.min() < 28
    assert _load(data_root, layout="random").input_shape == (1, 56, 56)  # the default canvas


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"layout": "diagonal"}, r"option layout must be one of side-by-side, random, got 'diagonal'"),
        ({"height": 40}, r"layout side-by-side uses a 28×56 canvas, got height 40, width None; height and width apply to layout random"),
        ({"layout": "random", "height": 20}, r"option height must be an integer ≥ 28 or None, got 20"),
        ({"layout": "random", "height": 40, "width": 50}, r"layout random needs room for two non-overlapping 28×28 digits: height or width ≥ 56, got a 40×50 canvas"),
        ({"n_train": 0}, r"option n_train must be an integer ≥ 1, got 0"),
        ({"n_test": 2.5}, r"option n_test must be an integer ≥ 1, got 2\.5"),
        ({"seed": -1}, r"option seed must be an integer ≥ 0, got -1"),
    ],
)
def test_bad_options_are_one_line_errors(data_root, options, message):
    with pytest.raises(ConfigError, match=rf"^double-mnist {message}$"):
        _load(data_root, **options)


def test_unknown_option_and_missing_mnist(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown option 'canvas' for dataset 'double-mnist'; accepted options: layout='side-by-side', height=None"):
        load_dataset("double-mnist", root=tmp_path, options={"canvas": 56})
    with pytest.raises(DataError, match=r"^double-mnist is built from MNIST, which it could not read: mnist: file MNIST/raw/train-images-idx3-ubyte not found") as info:
        load_double_mnist(tmp_path, False)
    assert "\n" not in str(info.value)


def test_masks_and_label_sets_are_carried_through_subset_and_cuts(data_root, side_by_side):
    split = side_by_side.train
    index = torch.tensor([7, 3, 250])
    part = split.subset(index)
    assert torch.equal(part.object_masks, split.object_masks[index]) and torch.equal(part.label_sets, split.label_sets[index])
    cut = load_dataset("double-mnist", root=data_root, options=SMALL, train_size=120, val_size=30, test_size=50)
    for piece in (cut.train, cut.val, cut.test):
        assert piece.object_masks.shape[0] == len(piece) == piece.label_sets.shape[0]
        assert torch.equal(piece.object_masks.any(1), piece.images[:, 0] != 0)


def test_select_classes_keeps_only_samples_whose_whole_set_is_kept(data_root):
    full = _load(data_root)
    kept = load_dataset("double-mnist", root=data_root, options=SMALL, classes=[3, 1, 4, 7])
    assert kept.class_names == ("3", "1", "4", "7") and kept.train.label_sets.shape[1] == 4
    assert (kept.train.label_sets.sum(1) == 2).all()
    inside = ~full.train.label_sets[:, [0, 2, 5, 6, 8, 9]].any(1)
    assert len(kept.train) == int(inside.sum())
    torch.testing.assert_close(kept.train.object_masks, full.train.object_masks[inside])


def test_draw_pairs_and_paste_on_real_digits(data_root):
    source = _read_split(data_root, False, False)
    first, second = draw_pairs(source.labels, 500, torch.Generator().manual_seed(0))
    assert (source.labels[first] != source.labels[second]).all()
    with pytest.raises(DataError, match="at least two different digits"):
        draw_pairs(torch.zeros(5, dtype=torch.int64), 3, torch.Generator())
    patches = torch.stack([source.images[first[:4], 0], source.images[second[:4], 0]], 1)
    canvas, masks = paste(patches, torch.tensor([[0, 28]] * 4), torch.tensor([[5, 40]] * 4), 56, 70)
    assert torch.equal(canvas[:, :28, 5:33], patches[:, 0]) and torch.equal(canvas[:, 28:, 40:68], patches[:, 1])
    assert int(canvas.sum()) == int(patches.sum()) and torch.equal(masks[:, 1, 28:, 40:68], patches[:, 1] != 0)


def test_mean_and_std_are_the_training_pixels_statistics(side_by_side):
    x = side_by_side.train.images.double() / 255
    assert side_by_side.mean[0] == pytest.approx(float(x.mean()), abs=1e-9)
    assert side_by_side.std[0] == pytest.approx(float(x.std(unbiased=False)), abs=1e-9)
    assert pixel_statistics(torch.tensor([0, 255], dtype=torch.uint8)) == (0.5, 0.5)
    assert isinstance(side_by_side.train, ImageSet) and side_by_side.domain.low == 0 and side_by_side.domain.high == 1
