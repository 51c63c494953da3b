"""LabelMetric, the metric file formats and resolve_metric: validation, reordering, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.errors import ConfigError
from labelrobust.label_metrics import LabelMetric, is_metric_name, read_metric, resolve_metric, write_metric_csv
from labelrobust.label_metrics.metric import normalised_name, validate_matrix

NAMES = ("cat", "dog", "truck")
C3 = np.array([[0.0, 1, 3], [1, 0, 2.5], [3, 2.5, 0]])


def random_metric(k: int, seed: int) -> np.ndarray:
    points = np.random.default_rng(seed).normal(size=(k, 3))
    return np.linalg.norm(points[:, None] - points[None], axis=-1)


@pytest.mark.parametrize(
    "matrix, message",
    [
        ([[0, 1, 1], [1, 0, 1]], "must be square"),
        ([], "must be square"),
        ([[0, 1], [1, float("nan")]], r"must be finite; C\[1,1\] = nan"),
        ([[0, -1], [-1, 0]], r"non-negative; C\[0,1\] = -1"),
        ([[0, 1], [2, 0]], r"symmetric; C\[0,1\] = 1.0 but C\[1,0\] = 2.0"),
        ([[1, 1], [1, 0]], r"zero on the diagonal; C\[0,0\] = 1"),
        ([["a", "b"], ["c", "d"]], "not a numeric matrix"),
    ],
)
def test_validate_matrix_names_the_first_broken_property(matrix, message):
    with pytest.raises(ConfigError, match=message) as info:
        validate_matrix(matrix, "my metric")
    assert str(info.value).startswith("my metric") and "\n" not in str(info.value)


def test_label_metric_checks_its_names():
    with pytest.raises(ConfigError, match="2 class names for a 3×3 matrix"):
        LabelMetric(C3, ("cat", "dog"), source="test")
    with pytest.raises(ConfigError, match="class name 'cat' appears twice"):
        LabelMetric(C3, ("cat", "dog", "cat"), source="test")
    with pytest.raises(ConfigError, match="class name 1 is empty"):
        LabelMetric(C3, ("cat", " ", "truck"), source="test")


def test_for_classes_reorders_and_restricts_by_name():
    metric = LabelMetric(C3, NAMES, source="test")
    sub = metric.for_classes(("Truck", "cat"))  # case-insensitive, reordered, a subset
    assert sub.class_names == ("Truck", "cat")
    np.testing.assert_array_equal(sub.matrix, [[0, 3], [3, 0]])
    with pytest.raises(ConfigError, match=r"has no class 'horse' \(1 of 2 missing\); it is for cat, dog, truck") as info:
        metric.for_classes(("cat", "horse"))
    assert "\n" not in str(info.value)


def test_normalised_names_ignore_case_spaces_underscores_and_hyphens():
    assert normalised_name("Maple_Tree") == normalised_name("maple tree") == normalised_name(" maple-tree ")
    assert normalised_name("sea") != normalised_name("seal")


def test_power_and_fingerprint():
    metric = LabelMetric(C3, NAMES, source="test")
    np.testing.assert_allclose(metric.power(2.5).matrix, C3**2.5)
    assert metric.power(2.5).details["power"] == 2.5
    for bad in (0, -1, float("inf"), "2", True):
        with pytest.raises(ConfigError, match="power p must be a finite number > 0"):
            metric.power(bad)
    assert metric.fingerprint() == LabelMetric(C3.copy(), NAMES, source="other").fingerprint()
    assert metric.fingerprint() != metric.power(2).fingerprint()
    assert metric.fingerprint() != LabelMetric(C3, ("a", "b", "c"), source="test").fingerprint()
    assert len(metric.off_diagonal()) == 6


def test_csv_with_header_is_reordered_to_the_dataset(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("truck,cat,dog\n0,3,2.5\n3,0,1\n2.5,1,0\n")
    metric = read_metric(path, NAMES)
    assert metric.class_names == NAMES
    np.testing.assert_array_equal(metric.matrix, C3)
    with pytest.raises(ConfigError, match=r"has no class 'horse'"):
        read_metric(path, ("cat", "horse"))


def test_headerless_text_and_npy_must_match_the_number_of_classes(tmp_path):
    np.save(tmp_path / "m.npy", C3)
    (tmp_path / "m.txt").write_text("0 1 3\n1 0 2.5\n3 2.5 0\n")
    for name in ("m.npy", "m.txt"):
        np.testing.assert_array_equal(read_metric(tmp_path / name, NAMES).matrix, C3)
        with pytest.raises(ConfigError, match="is 3×3 but the dataset has 2 classes"):
            read_metric(tmp_path / name, ("cat", "dog"))


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 12), seed=st.integers(0, 10_000), data=st.data())
def test_csv_round_trip_is_exact_in_any_order(tmp_path_factory, k, seed, data):
    names = tuple(f"class {i}" for i in range(k))
    metric = LabelMetric(random_metric(k, seed), names, source="test")
    path = tmp_path_factory.mktemp("csv") / "m.csv"
    write_metric_csv(path, metric)
    order = data.draw(st.permutations(names))
    back = read_metric(path, order)
    assert back.class_names == tuple(order)
    idx = [names.index(n) for n in order]
    np.testing.assert_array_equal(back.matrix, metric.matrix[np.ix_(idx, idx)])


def test_resolve_metric_forms(tmp_path):
    metric = LabelMetric(C3, NAMES, source="test")
    assert resolve_metric(metric, ("dog", "cat")).matrix[0, 1] == 1
    assert resolve_metric(C3.tolist(), NAMES).source == "matrix"
    write_metric_csv(tmp_path / "m.csv", metric)
    assert resolve_metric(str(tmp_path / "m.csv"), NAMES).source.startswith("file:")
    assert resolve_metric(tmp_path / "m.csv", NAMES).class_names == NAMES


@pytest.mark.parametrize(
    "spec, message",
    [
        ("linear-boundary", "computed from a dataset's training images, and none was given"),
        ("visual:", "'visual:' needs a run directory"),
        ("no-such-metric", "'no-such-metric' is not a metric name or an existing file; expected wordnet"),
        ("missing.csv", r"missing\.csv does not exist"),
        (42, "expected wordnet"),
        ([[0, 1], [1, 0]], "is 2×2 but the dataset has 3 classes"),
    ],
)
def test_resolve_metric_errors_are_one_line(spec, message):
    with pytest.raises(ConfigError, match=message) as info:
        resolve_metric(spec, NAMES, who="my option")
    assert "\n" not in str(info.value) and str(info.value).startswith("my option")


def test_is_metric_name():
    assert is_metric_name("wordnet") and is_metric_name("wordnet:wup") and is_metric_name("visual:runs/a") and is_metric_name("linear-boundary")
    assert not is_metric_name("metric.csv") and not is_metric_name([[0]]) and not is_metric_name(None)


def test_numeric_class_names_in_the_header_are_read_as_names(tmp_path):
    path = tmp_path / "digits.csv"
    path.write_text("2,0,1\n0,3,2.5\n3,0,1\n2.5,1,0\n")  # MNIST-style names "0", "1", "2"
    metric = read_metric(path, ("0", "1", "2"))
    np.testing.assert_array_equal(metric.matrix, [[0, 1, 3], [1, 0, 2.5], [3, 2.5, 0]])
    write_metric_csv(tmp_path / "back.csv", metric)
    assert read_metric(tmp_path / "back.csv").class_names == ("0", "1", "2")


def test_a_header_of_the_wrong_length_is_refused(tmp_path):
    (tmp_path / "m.csv").write_text("a,b\n0,1,1\n1,0,1\n1,1,0\n")
    with pytest.raises(ConfigError, match=r"m\.csv: the header names 2 classes but the matrix is 3×3"):
        read_metric(tmp_path / "m.csv")


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    (tmp_path / "excel.csv").write_bytes("\ufeffcat,dog\n0,1\n1,0\n".encode("utf-8"))
    assert read_metric(tmp_path / "excel.csv", ("dog", "cat")).class_names == ("dog", "cat")
