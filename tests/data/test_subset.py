"""Tests of class selection, imbalance, validation split and stratified subsets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.data.base import Dataset, ImageSet
from labelrobust.data.cifar import load_cifar10
from labelrobust.data.softcifar10 import load_softcifar10
from labelrobust.data.subset import (
    imbalance_classes,
    select_classes,
    split_validation,
    stratified_counts,
    stratified_indices,
    stratified_subset,
)
from labelrobust.domain import Box
from labelrobust.errors import ConfigError


@pytest.fixture(scope="module")
def cifar10(data_root: Path) -> Dataset:
    return load_cifar10(data_root, False)


def _toy(labels: list[int], soft: list[list[float]] | None = None, num_classes: int = 3) -> Dataset:
    n = len(labels)
    split = ImageSet(
        torch.arange(n, dtype=torch.float32)[:, None],
        torch.tensor(labels, dtype=torch.int64),
        soft_labels=None if soft is None else torch.tensor(soft, dtype=torch.float32),
    )
    names = tuple("abcdefghij"[:num_classes])
    # The inputs are the sample numbers 0..n-1, so the domain is declared to hold them.
    return Dataset("toy", names, split, split, (0.0,), (1.0,), domain=Box(0.0, float(max(n, 1))))


# --- stratified subsets -------------------------------------------------------------------


def test_stratified_subset_real_cifar(cifar10: Dataset):
    sub = stratified_subset(cifar10.train, 1000, seed=3)
    assert len(sub) == 1000
    full = torch.bincount(cifar10.train.labels, minlength=10).double()
    got = torch.bincount(sub.labels, minlength=10).double()
    assert torch.all((got - 1000 * full / full.sum()).abs() < 1)
    # original order kept, samples are the originals
    assert torch.all(sub.source_index[1:] > sub.source_index[:-1])
    assert torch.equal(sub.images, cifar10.train.images[sub.source_index])


def test_stratified_subset_is_seeded(cifar10: Dataset):
    a = stratified_subset(cifar10.test, 300, seed=1)
    torch.manual_seed(123)  # the global RNG must not matter
    b = stratified_subset(cifar10.test, 300, seed=1)
    c = stratified_subset(cifar10.test, 300, seed=2)
    assert torch.equal(a.source_index, b.source_index)
    assert not torch.equal(a.source_index, c.source_index)


def test_stratified_counts_largest_remainder():
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 2)
    # exact quotas for 4 of 10: 2.0, 1.2, 0.8 -> floors 2, 1, 0; one left goes to class 2
    assert stratified_counts(labels, 4) == {0: 2, 1: 1, 2: 1}
    assert sum(stratified_counts(labels, 7).values()) == 7


def test_stratified_counts_keep_a_rare_class():
    labels = torch.tensor([0] * 3 + [1])
    # exact quotas for 2 of 4: 1.5, 0.5 -> largest remainder (tie: lower index) gives 2, 0;
    # class 1 would vanish, so it takes one sample from class 0
    assert stratified_counts(labels, 2) == {0: 1, 1: 1}
    labels = torch.tensor([0] * 97 + [1, 2, 3])
    assert stratified_counts(labels, 5) == {0: 2, 1: 1, 2: 1, 3: 1}


@pytest.mark.parametrize(
    ("size", "message"),
    [(0, "must be positive"), (-3, "must be positive"), (11, r"11 is larger than the split, which has 10"), (2.5, "integer")],
)
def test_stratified_subset_bad_sizes(size, message):
    split = _toy([0, 1] * 5).train
    with pytest.raises(ConfigError, match=message):
        stratified_subset(split, size, seed=0)


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(st.integers(0, 5), min_size=2, max_size=60), data=st.data())
def test_subsets_smaller_than_the_class_count_are_refused(labels, data):
    classes = len(set(labels))
    size = data.draw(st.integers(1, classes - 1)) if classes > 1 else None
    if size is None:
        return
    with pytest.raises(ConfigError, match=rf"train_size {size} is smaller than the {classes} classes .* at least one sample per class"):
        stratified_indices(torch.tensor(labels), size, seed=0, what="train_size")


def test_stratified_subset_needs_one_sample_per_class_on_real_cifar(cifar10: Dataset):
    with pytest.raises(ConfigError, match=r"train_size 5 is smaller than the 10 classes of the split: a stratified subset needs at least one sample per class \(train_size ≥ num_classes = 10\)"):
        stratified_subset(cifar10.train, 5, seed=0, what="train_size")
    assert torch.equal(torch.bincount(stratified_subset(cifar10.train, 10, seed=0).labels), torch.ones(10, dtype=torch.int64))


def test_stratified_indices_bad_seed():
    with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
        stratified_indices(torch.tensor([0, 1]), 1, seed=-1)


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 5), min_size=1, max_size=200),
    fraction=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31),
)
def test_stratified_subset_properties(labels, fraction, seed):
    labels_t = torch.tensor(labels, dtype=torch.int64)
    size = max(len(set(labels)), round(fraction * len(labels)))  # at least one sample per class
    index = stratified_indices(labels_t, size, seed)
    assert len(index) == size
    assert set(labels_t[index].tolist()) == set(labels)  # every class keeps a sample
    assert len(set(index.tolist())) == size and 0 <= int(index.min()) and int(index.max()) < len(labels)
    assert torch.all(index[1:] > index[:-1])
    full = torch.bincount(labels_t, minlength=6).double()
    got = torch.bincount(labels_t[index], minlength=6).double()
    exact = size * full / len(labels)
    if exact[full > 0].min() >= 1:  # no class rounds down to 0: plain largest remainder
        assert torch.all((got - exact).abs() < 1 + 1e-9)
    else:  # a class whose share is below one sample still gets one
        assert torch.equal(got[exact < 1][full[exact < 1] > 0], torch.ones(int(((exact < 1) & (full > 0)).sum()), dtype=torch.float64))
    assert torch.equal(index, stratified_indices(labels_t, size, seed))


# --- class selection ----------------------------------------------------------------------


def test_select_cat_and_dog(cifar10: Dataset):
    two = select_classes(cifar10, ["cat", "dog"])
    assert two.class_names == ("cat", "dog") and two.num_classes == 2
    cat, dog = cifar10.class_names.index("cat"), cifar10.class_names.index("dog")
    for old, new in ((cifar10.train, two.train), (cifar10.test, two.test)):
        assert len(new) == int(((old.labels == cat) | (old.labels == dog)).sum())
        assert torch.equal(new.labels == 0, old.labels[new.source_index] == cat)
    # given order defines the new labels; indices work too
    swapped = select_classes(cifar10, [dog, "cat"])
    assert swapped.class_names == ("dog", "cat")
    assert torch.equal(swapped.train.labels, 1 - two.train.labels)
    assert two.report["select_classes"]["classes"] == ["cat", "dog"]


def test_select_classes_soft_labels_renormalised_and_zero_mass_dropped():
    ds = _toy(
        [0, 1, 0, 2],
        soft=[[0.5, 0.25, 0.25], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0], [0.2, 0.2, 0.6]],
    )
    sel = select_classes(ds, ["a", "b"])
    # row 1 has hard label b but no mass on a or b; row 3 is class c
    assert sel.train.source_index.tolist() == [0, 2]
    assert torch.allclose(sel.train.soft_labels, torch.tensor([[2 / 3, 1 / 3], [0.5, 0.5]]))
    assert sel.report["select_classes"]["dropped_no_soft_mass"] == {"train": 1, "test": 1}


def test_select_classes_on_real_soft_labels(data_root: Path):
    ds = select_classes(load_softcifar10(data_root, False), ["cat", "dog"])
    for split in (ds.train, ds.val, ds.test):
        assert split.soft_labels.shape[1] == 2
        assert torch.allclose(split.soft_labels.sum(1), torch.ones(len(split)))


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (["cat", "unicorn"], r"unknown class 'unicorn' for cifar10; classes are: airplane, automobile"),
        ([10], r"class index 10 is out of range for cifar10, which has 10 classes"),
        (["cat", 3], "lists a class twice"),
        ([], "non-empty list"),
        ("cat", "non-empty list"),
        ([True], "unknown class True"),
        (["cat"], r"classes must keep at least 2 classes .*got \['cat'\]"),
        ([3], r"classes must keep at least 2 classes .*got \[3\]"),
    ],
)
def test_select_classes_errors(cifar10: Dataset, classes, message):
    with pytest.raises(ConfigError, match=message):
        select_classes(cifar10, classes)


# --- imbalance ----------------------------------------------------------------------------


def test_imbalance_train_only(cifar10: Dataset):
    out = imbalance_classes(cifar10, {"cat": 0.3, 5: 0.5}, seed=0)
    before = torch.bincount(cifar10.train.labels, minlength=10)
    after = torch.bincount(out.train.labels, minlength=10)
    # kept = n·f rounded half up
    assert int(after[3]) == math.floor(0.3 * int(before[3]) + 0.5)
    assert int(after[5]) == math.floor(0.5 * int(before[5]) + 0.5)
    others = [k for k in range(10) if k not in (3, 5)]
    assert torch.equal(after[others], before[others])
    assert out.test is cifar10.test
    assert out.report["imbalance"]["cat"] == {"fraction": 0.3, "before": int(before[3]), "after": int(after[3])}
    again = imbalance_classes(cifar10, {5: 0.5, "cat": 0.3}, seed=0)
    assert torch.equal(out.train.source_index, again.train.source_index)
    other = imbalance_classes(cifar10, {"cat": 0.3, 5: 0.5}, seed=1)
    assert not torch.equal(out.train.source_index, other.train.source_index)


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ({"cat": 0.0}, r"fraction for class 'cat' must be a number with 0 < f <= 1, got 0.0"),
        ({"cat": 1.5}, "0 < f <= 1"),
        ({"cat": float("nan")}, "0 < f <= 1"),
        ({"kitten": 0.5}, "unknown class 'kitten'"),
        ({"cat": 0.5, 3: 0.2}, "given twice"),
    ],
)
def test_imbalance_errors(cifar10: Dataset, fractions, message):
    with pytest.raises(ConfigError, match=message):
        imbalance_classes(cifar10, fractions, seed=0)


# --- validation split ---------------------------------------------------------------------


def test_split_validation(cifar10: Dataset):
    out = split_validation(cifar10, 500, seed=0)
    assert len(out.val) == 500 and len(out.train) == len(cifar10.train) - 500
    assert not set(out.val.source_index.tolist()) & set(out.train.source_index.tolist())
    assert torch.bincount(out.val.labels, minlength=10).min() >= 45
    assert split_validation(cifar10, 0, seed=0) is cifar10


def test_split_validation_errors(cifar10: Dataset, data_root: Path):
    with pytest.raises(ConfigError, match="softcifar10 has a fixed validation split of 1998 samples"):
        split_validation(load_softcifar10(data_root, False), 100, seed=0)
    with pytest.raises(ConfigError, match="leaves no training data"):
        split_validation(cifar10, len(cifar10.train), seed=0)
    with pytest.raises(ConfigError, match="val_size must be a non-negative integer"):
        split_validation(cifar10, -1, seed=0)
    with pytest.raises(ConfigError, match=r"val_size 5 is smaller than the 10 classes"):
        split_validation(cifar10, 5, seed=0)
    n = len(cifar10.train)
    with pytest.raises(ConfigError, match=rf"val_size {n - 4} leaves 4 training samples for 10 classes.*val_size ≤ {n - 10}"):
        split_validation(cifar10, n - 4, seed=0)
