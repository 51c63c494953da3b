"""What ``loss`` accepts as targets (one validation path for the API and the CLI), numeric
parameters given as text, and the wasserstein cost-matrix files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labelrobust.errors import ConfigError
from labelrobust.label_metrics import resolve_metric
from labelrobust.labels import available_label_spaces, make_label_space

K = 4
DISTRIBUTION_SPACES = ["onehot", "smoothing", "soft"]


# --- loss targets ------------------------------------------------------------------------


@pytest.mark.parametrize("name", DISTRIBUTION_SPACES)
@pytest.mark.parametrize(
    "bad, message",
    [
        ([[5.0, 5.0, 5.0, 0.0], [0.25] * 4], r"loss targets must sum to 1 per row \(±0\.0001\); rows \[0\] sum to \[15\.0\]"),
        ([[0.25] * 4, [1.5, -0.5, 0.0, 0.0]], r"loss targets must be non-negative; negative entries in rows \[1\]"),
        ([[float("nan"), 0.5, 0.5, 0.0], [0.25] * 4], r"loss targets contain NaN/inf in rows \[0\]"),
        ([[float("inf"), 0.0, 0.0, 0.0], [0.25] * 4], r"loss targets contain NaN/inf in rows \[0\]"),
    ],
)
def test_distribution_losses_refuse_non_distributions(device, name, bad, message):
    space = make_label_space(name, K)
    with pytest.raises(ConfigError, match=rf"label space '{name}': {message}"):
        space.loss(torch.zeros(2, K, device=device), torch.tensor(bad, device=device))


@pytest.mark.parametrize("name", available_label_spaces())
def test_hard_labels_given_to_loss_are_a_one_line_error(device, name):
    space = make_label_space(name, K)
    y = torch.tensor([0, 3], device=device)
    with pytest.raises(ConfigError, match=r"loss\(\) takes encode\(y\) targets \(N×.*\), not hard labels \(shape \(2,\), torch\.int64\); call space\.loss\(outputs, space\.encode\(y\)\)") as info:
        space.loss(torch.zeros(2, space.out_dim, device=device), y)
    assert "\n" not in str(info.value)
    space.loss(torch.zeros(2, space.out_dim, device=device), space.encode(y))  # what the message says to do


@pytest.mark.parametrize("name", available_label_spaces())
def test_target_shapes_rows_and_types_are_checked(device, name):
    space = make_label_space(name, K)
    outputs = torch.zeros(3, space.out_dim, device=device)
    good = space.encode(torch.tensor([0, 1, 2], device=device))
    with pytest.raises(ConfigError, match=r"3 outputs but 2 targets"):
        space.loss(outputs, good[:2])
    with pytest.raises(ConfigError, match=rf"loss targets must have shape \(N, {good.shape[1]}\)"):
        space.loss(outputs, torch.cat([good, good[:, :1]], 1))
    with pytest.raises(ConfigError, match="floating-point"):
        space.loss(outputs, good.long())
    with pytest.raises(ConfigError, match="must be a tensor"):
        space.loss(outputs, good.tolist())


def test_targets_on_another_device_than_the_outputs():
    space = make_label_space("onehot", K)
    meta_outputs = torch.zeros(2, K, device="meta")  # a second device that every machine has
    with pytest.raises(ConfigError, match=r"the targets are on cpu but the outputs on meta; move them with targets\.to\(outputs\.device\)"):
        space.loss(meta_outputs, space.encode(torch.tensor([0, 1])))


@pytest.mark.parametrize(
    "name, bad, message",
    [
        ("binary", [[1.0, 0.5], [0.0, 1.0]], r"codewords of 0/1 .*rows \[0\] hold other values, e\.g\. \[1\.0, 0\.5\]"),
        ("deepbe", [[0.0, 1.0], [2.0, 0.0]], r"codewords of 0/1 .*rows \[1\]"),
        ("interval", [[0.0, 16.0], [40.0, 20.0]], r"finite bounds \[L, U\] with L ≤ U .*rows \[1\]"),
        ("interval", [[float("nan"), 16.0], [0.0, 16.0]], r"finite bounds .*rows \[0\]"),
        ("wasserstein", [[0.5, 0.5, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]], r"one-hot rows .*rows \[0\] are not"),
        ("wasserstein", [[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]], r"one-hot rows .*rows \[0\] are not"),
    ],
)
def test_code_and_wasserstein_targets_are_checked(device, name, bad, message):
    space = make_label_space(name, K)
    with pytest.raises(ConfigError, match=rf"label space '{name}': loss targets must be {message}"):
        space.loss(torch.zeros(2, space.out_dim, device=device), torch.tensor(bad, device=device))


def test_a_target_changed_in_place_after_encode_is_checked_again():
    """Every loss call checks the values it gets, also of a tensor that passed before."""
    space = make_label_space("soft", K)
    targets = space.encode(torch.tensor([0, 1]))
    outputs = torch.zeros(2, K)
    space.loss(outputs, targets)
    targets[0, 0] = 5.0
    with pytest.raises(ConfigError, match="sum to 1 per row"):
        space.loss(outputs, targets)
    checked = torch.full((2, K), 1 / K)
    space.loss(outputs, checked)  # checked once here...
    checked.mul_(15)
    with pytest.raises(ConfigError, match=r"sum to \[15\.0"):  # ...and again after the change
        space.loss(outputs, checked)


@settings(max_examples=150, deadline=None)
@given(
    q=arrays(
        np.float32,
        st.tuples(st.integers(1, 6), st.just(K)),
        elements=st.floats(-1.0, 2.0, width=32) | st.sampled_from([0.0, 0.25, 1.0, float("nan"), float("inf")]),
    )
)
def test_fast_target_check_agrees_with_the_detailed_validator(q):
    """loss refuses exactly what check_soft_labels refuses, with the same message."""
    space = make_label_space("soft", K)
    q = torch.from_numpy(q)
    try:
        space.check_soft_labels(q, "loss targets")
    except ConfigError as expected:
        with pytest.raises(ConfigError) as info:
            space.loss(torch.zeros(len(q), K), q)
        assert str(info.value) == str(expected)
    else:
        assert torch.isfinite(space.loss(torch.zeros(len(q), K), q)).all()


@settings(max_examples=40, deadline=None)
@given(logits=arrays(np.float32, st.tuples(st.integers(1, 6), st.just(K)), elements=st.floats(-30, 30, width=32)))
def test_every_softmax_row_is_a_valid_target(logits):
    q = torch.from_numpy(logits).softmax(1)
    loss = make_label_space("soft", K).loss(torch.zeros(len(q), K), q)
    assert (loss >= -1e-5).all()


# --- numeric parameters given as text ----------------------------------------------------


@pytest.mark.parametrize(
    "name, params, attribute, value",
    [
        ("binary", {"scale": "3.5e2"}, "scale", 350.0),
        ("binary", {"bits": "5", "threshold": "-0.5"}, "bits", 5),
        ("smoothing", {"eps": " 0.2 "}, "eps", 0.2),
        ("interval", {"s0": "-1", "alpha": "1e0", "beta": "3."}, "beta", 3.0),
        ("wasserstein", {"lam": "inf"}, "lam", math.inf),
        ("wasserstein", {"lam": ".inf"}, "lam", math.inf),
        ("wasserstein", {"lam": float("inf")}, "lam", math.inf),
        ("wasserstein", {"power": "2", "lam": np.float32(0.5)}, "power", 2.0),
    ],
)
def test_numeric_parameters_accept_float_spellings(name, params, attribute, value):
    space = make_label_space(name, 10, **params)
    assert getattr(space, attribute) == value
    for key, given_value in params.items():
        assert isinstance(getattr(space, key), (int, float)), (key, given_value)


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("binary", {"scale": "big"}, r"scale S must be a finite number ≥ 0, got 'big'"),
        ("binary", {"bits": "4.5"}, r"bits must be an integer ≥ 1 or None, got 4\.5"),
        ("smoothing", {"eps": "0.1.2"}, r"eps must be a finite number in \[0, 1\), got '0\.1\.2'"),
        ("interval", {"alpha": "nan"}, "alpha must be a finite number"),
        ("wasserstein", {"lam": "-inf"}, r"lam \(λ\) must be a number > 0, got -inf"),
        ("wasserstein", {"power": [1]}, r"power p must be a finite number > 0, got \[1\]"),
    ],
)
def test_non_numbers_keep_their_messages(name, params, message):
    with pytest.raises(ConfigError, match=message):
        make_label_space(name, 10, **params)


# --- wasserstein cost files --------------------------------------------------------------


@pytest.mark.parametrize(
    "filename, content, message",
    [
        ("mixed.csv", "a,1,c\n0,1,1\n1,0,1\n1,1,0\n", r"mixed\.csv, line 1: 'a' is not a number; expected a K×K numeric matrix, comma-separated, one row per line, after an optional header row of class names"),
        ("late-header.csv", "0,1,1\na,b,c\n1,1,0\n", r"late-header\.csv, line 2: 'a' is not a number"),
        ("header-size.csv", "a,b\n0,1,1\n1,0,1\n1,1,0\n", r"header-size\.csv has a header row of class names"),
        ("word.csv", "0,1,1\n1,zero,1\n1,1,0\n", r"word\.csv, line 2: 'zero' is not a number"),
        ("ragged.csv", "0,1,1\n1,0\n1,1,0\n", r"ragged\.csv, line 2 has 2 numbers but the first row has 3"),
        ("empty.csv", "# nothing\n\n", r"empty\.csv holds no numbers"),
        ("spaces.txt", "0 1 1\n1 0 one\n1 1 0\n", r"spaces\.txt, line 2: 'one' is not a number; .*whitespace-separated"),
        ("latin1.csv", b"0,1,1\n\xe9\n", r"latin1\.csv cannot be read as text"),
        ("junk.npy", b"not an array", r"junk\.npy is not a readable \.npy array \(it does not start with the NumPy file header\)"),
    ],
)
def test_bad_cost_files_name_the_file_and_line(tmp_path, filename, content, message):
    path = tmp_path / filename
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ConfigError, match=rf"label space 'wasserstein': cost matrix .*{message}") as info:
        make_label_space("wasserstein", 3, cost=str(path))
    assert "\n" not in str(info.value)


def test_cost_files_that_are_folders_or_hold_text_arrays(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        make_label_space("wasserstein", 3, cost=str(tmp_path))
    np.save(tmp_path / "words.npy", np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ConfigError, match=r"words\.npy is not a numeric matrix .*expected a K×K matrix of numbers"):
        make_label_space("wasserstein", 3, cost=str(tmp_path / "words.npy"))
    np.save(tmp_path / "objects.npy", np.array([[0, None]], dtype=object), allow_pickle=True)
    with pytest.raises(ConfigError, match=r"objects\.npy is not a readable \.npy array"):
        make_label_space("wasserstein", 3, cost=str(tmp_path / "objects.npy"))


def test_a_header_row_of_class_names_needs_the_dataset_classes(tmp_path):
    # without the dataset's class names the order cannot be checked: refused, not used in file order
    (tmp_path / "named.csv").write_text("dog,cat,truck\n0,1,3\n1,0,2\n3,2,0\n")
    with pytest.raises(ConfigError, match=r"has a header row of class names, which must be matched to the dataset's classes; .*resolve_metric"):
        make_label_space("wasserstein", 3, cost=str(tmp_path / "named.csv"))
    with pytest.raises(ConfigError, match=r"cost matrix 'wordnet' is computed for a dataset's classes"):
        make_label_space("wasserstein", 3, cost="wordnet")
    metric = resolve_metric(tmp_path / "named.csv", ("cat", "dog", "truck"))
    space = make_label_space("wasserstein", 3, cost=metric)
    assert torch.equal(space.cost, torch.tensor([[0.0, 1, 2], [1, 0, 3], [2, 3, 0]]))
    assert space.params()["cost"]["sha256"] == metric.fingerprint()


def test_good_cost_files_with_comments_and_blank_lines(tmp_path):
    (tmp_path / "metric.csv").write_text("# the 0-1 metric\n0, 1, 2\n\n1, 0, 1  # row 2\n2, 1, 0\n")
    (tmp_path / "metric.txt").write_text("0 1 2\n1 0 1\n2 1 0\n")
    expected = torch.tensor([[0.0, 1, 2], [1, 0, 1], [2, 1, 0]])
    for name in ("metric.csv", "metric.txt"):
        assert torch.equal(make_label_space("wasserstein", 3, cost=str(tmp_path / name)).cost, expected)
