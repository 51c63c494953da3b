"""Output properties as VNN-LIB writes them: the unsafe set and its margin."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.errors import ConfigError
from labelrobust.verify.properties import argmax_property, linear_property, second_highest_other, top2_property


@settings(max_examples=80, deadline=None)
@given(st.integers(3, 10), st.integers(0, 10_000))
def test_top2_margin_is_the_pairwise_decomposition_and_means_leaving_the_top2(k, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn((50, k), generator=g, dtype=torch.float64)
    target = seed % k
    prop = top2_property(target, k)
    assert len(prop.clauses) == (k - 1) * (k - 2) // 2
    assert torch.equal(prop.margin(y), prop.clause_margins(y).amax(dim=1))
    top2 = y.topk(2, dim=1).indices
    in_top2 = (top2 == target).any(dim=1)
    assert torch.equal(prop.violated(y), ~in_top2)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 10), st.integers(0, 10_000))
def test_argmax_margin_is_the_cw_margin(k, seed):
    y = torch.randn((40, k), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    t = seed % k
    prop = argmax_property(t, k)
    others = torch.cat([y[:, :t], y[:, t + 1:]], dim=1)
    assert torch.allclose(prop.margin(y), others.amax(1) - y[:, t])
    assert torch.equal(prop.violated(y), y.argmax(1) != t)


def test_ties_count_as_violations():
    y = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64)
    assert bool(argmax_property(0, 3).violated(y))


def test_linear_property_is_max_over_clauses_of_min_over_rows():
    prop = linear_property([([[1.0, -1.0, 0.0]], [0.5]), ([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [0.0, -2.0])], 3)
    y = torch.tensor([[0.0, 1.0, 1.0], [2.0, 0.0, 3.0]], dtype=torch.float64)
    expected = [max(-0.5, min(1.0, -1.0)), max(2.5, min(0.0, 1.0))]
    assert prop.margin(y).tolist() == expected


def test_second_highest_other():
    y = torch.tensor([[5.0, 1.0, 4.0, 3.0]])
    assert second_highest_other(y, 0).item() == 3.0 and second_highest_other(y, 2).item() == 3.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: top2_property(3, 10, [1, 7]), "not in the image's label set"),
        (lambda: top2_property(10, 10), "not one of the network's 10 outputs"),
        (lambda: top2_property(0, 2), "at least 3 outputs"),
        (lambda: argmax_property(-1, 3), "target class must be"),
        (lambda: linear_property([], 3), "at least one clause"),
        (lambda: linear_property([([[1.0, 2.0]], [0.0])], 3), "clause 0"),
        (lambda: linear_property([([[float("nan"), 0.0, 0.0]], [0.0])], 3), "NaN"),
        (lambda: argmax_property(0, 3).margin(torch.zeros(2, 4)), "outputs of shape"),
    ],
)
def test_bad_properties_are_one_line_errors(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_label_set_as_multi_hot_vector():
    vector = torch.zeros(10, dtype=torch.bool)
    vector[[2, 5]] = True
    assert top2_property(5, 10, vector).target == 5
    with pytest.raises(ConfigError):
        top2_property(1, 10, vector)
    assert list(itertools.islice(top2_property(0, 4).clauses, 1))[0].coefficients.shape == (2, 4)
