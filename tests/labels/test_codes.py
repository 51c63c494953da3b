"""binary / deepbe / interval: the task-aware study's definitions, by hand."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.errors import ConfigError
from labelrobust.labels import ABSTAIN, make_label_space


def test_interval_example_from_the_study():
    space = make_label_space("interval", 10, s0=0, alpha=1, beta=3)
    torch.testing.assert_close(space.encode(torch.tensor([3])), torch.tensor([[12.0, 15.0]]))
    out = torch.tensor([[13.5], [15.5], [12.0], [15.0], [16.0], [-0.5], [39.0], [40.0]])
    assert space.decode(out).tolist() == [3, ABSTAIN, 3, 3, 4, ABSTAIN, 9, ABSTAIN]
    assert space.loss(torch.tensor([[10.0], [17.0], [13.0]]), space.encode(torch.tensor([3, 3, 3]))).tolist() == [4.0, 4.0, 0.0]


@settings(max_examples=200, deadline=None)
@given(o=st.floats(-30, 300, allow_nan=False, width=32), s0=st.sampled_from([0.0, -5.0, 2.5]))
def test_interval_decode_matches_floor_formula(o, s0):
    alpha, beta, k = 4.0, 16.0, 10
    space = make_label_space("interval", k, s0=s0, alpha=alpha, beta=beta)
    c = math.floor((o - s0) / (alpha + beta))
    inside = 0 <= c < k and o - (s0 + c * (alpha + beta)) <= beta
    assert space.decode(torch.tensor([[o]])).item() == (c if inside else ABSTAIN)


@pytest.mark.parametrize("kwargs, message", [({"alpha": 0}, "gap alpha must be a finite number > 0, got 0"), ({"beta": -1}, "width beta must be a finite number > 0, got -1"), ({"s0": float("nan")}, "s0 must be a finite")])
def test_interval_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_label_space("interval", 10, **kwargs)


def test_rbc_loss_and_decode_by_hand():
    space = make_label_space("binary", 10, scale=2.0)
    assert space.out_dim == 4
    assert space.encode(torch.tensor([5])).tolist() == [[0.0, 1.0, 0.0, 1.0]]
    out = torch.tensor([[-3.0, 1.0, -0.5, 2.0]])
    # relu(2 - (o ⊙ (2b-1)))² = relu(2-3)², relu(2-1)², relu(2-0.5)², relu(2-2)² = 0 + 1 + 2.25 + 0
    assert space.loss(out, space.encode(torch.tensor([5]))).item() == pytest.approx(3.25)
    assert space.decode(out).item() == 5
    # 1111 = 15 is no class of 10 → abstain
    assert space.decode(torch.ones(1, 4)).item() == ABSTAIN


def test_deepbe_is_s0_with_half_threshold():
    space = make_label_space("deepbe", 4)
    assert space.scale == 0.0 and space.threshold == 0.5
    out = torch.tensor([[0.2, 0.9]])
    # class 1 = code 01: relu(-(0.2-0.5)*(-1))² + relu(-(0.9-0.5)*1)² = 0 + 0
    assert space.loss(out, space.encode(torch.tensor([1]))).item() == 0.0
    # class 2 = code 10: relu(-(-0.3))² + relu(-(0.4)*(-1))² = 0.09 + 0.16
    assert space.loss(out, space.encode(torch.tensor([2]))).item() == pytest.approx(0.25)
    assert space.decode(out).item() == 1


def test_binary_scores_are_distance_to_orthant():
    space = make_label_space("binary", 4)
    out = torch.tensor([[0.5, -2.0]])  # bits 10 → class 2
    torch.testing.assert_close(space.scores(out), torch.tensor([[-0.5, -2.5, 0.0, -2.0]]))


def test_user_codebook_and_hadamard():
    book = [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    space = make_label_space("binary", 3, codebook=book)
    assert space.out_dim == 3 and space.decode(torch.tensor([[1.0, -1.0, -1.0]])).item() == 2
    assert space.decode(torch.tensor([[1.0, 1.0, -1.0]])).item() == ABSTAIN
    had = make_label_space("binary", 10, codebook="hadamard")
    assert had.out_dim == 16
    distances = torch.cdist(had.codebook, had.codebook, p=1)
    off_diagonal = distances[~torch.eye(10, dtype=torch.bool)]
    assert (off_diagonal == 8).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"bits": 3}, r"3 bits encode at most 8 classes, but there are 10; use bits ≥ 4"),
        ({"codebook": [[0, 0, 1, 1]] * 10}, r"classes 0 and 1 share the codeword \[0, 0, 1, 1\]"),
        ({"codebook": [[0, 1]] * 3}, r"shape \(10, B\)"),
        ({"codebook": [[2, 0, 0, 0]] + [[0, 0, 0, i % 2] for i in range(9)]}, "entries must be 0 or 1"),
        ({"codebook": "ecoc"}, "codebook must be None"),
        ({"codebook": "hadamard", "bits": 12}, "power of 2 greater than 10"),
        ({"scale": -1.0}, "scale S must be a finite number ≥ 0"),
    ],
)
def test_binary_rejects_bad_configuration(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_label_space("binary", 10, **kwargs)


@settings(max_examples=200, deadline=None)
@given(bits=st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32).filter(lambda v: v != 0.0), min_size=4, max_size=4))
def test_binary_decode_matches_the_sign_rule(bits):
    """Off the measure-zero threshold, decode is the study's rule: bit i = 1 iff o_i > 0, then look the code up."""
    space = make_label_space("binary", 10)
    o = torch.tensor([bits])
    code = (o > 0).float()
    match = (space.codebook == code).all(1).nonzero().flatten()
    assert space.decode(o).item() == (int(match[0]) if match.numel() else ABSTAIN)
