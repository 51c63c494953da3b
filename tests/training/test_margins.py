"""PM and CL-PM against methods.md §3's worked example, hand-computed cases and properties."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.errors import ConfigError
from labelrobust.training.margins import confused_label_margin, confused_labels, probability_margin


def test_methods_md_example():
    y = torch.tensor([0, 0])
    one_confused = torch.tensor([[0.3, 0.5, 0.2, 0.0]])
    two_confused = torch.tensor([[0.3, 0.5, 0.4, 0.0]])  # methods.md: p_y 0.3, p_j 0.5, p_k 0.4 (not a distribution; margins do not care)
    assert probability_margin(one_confused, y[:1]).item() == pytest.approx(-0.2)
    assert confused_label_margin(one_confused, y[:1]).item() == pytest.approx(-0.2)
    assert probability_margin(two_confused, y[:1]).item() == pytest.approx(-0.2)
    assert confused_label_margin(two_confused, y[:1]).item() == pytest.approx(-0.3)
    assert confused_labels(two_confused, y[:1]).tolist() == [[False, True, True, False]]


def test_correct_samples_keep_pm_and_ties_do_not_confuse():
    probs = torch.tensor([[0.1, 0.7, 0.2], [0.4, 0.4, 0.2]])
    y = torch.tensor([1, 0])
    assert probability_margin(probs, y).tolist() == pytest.approx([0.5, 0.0])
    assert confused_label_margin(probs, y).tolist() == pytest.approx([0.5, 0.0])
    assert not confused_labels(probs, y).any()


def test_shapes_are_checked():
    with pytest.raises(ConfigError, match=r"shape \(N, K\) and labels of shape \(N,\)"):
        probability_margin(torch.rand(4, 3), torch.tensor([0, 1]))


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 8), st.integers(1, 6), st.data())
def test_cl_pm_never_exceeds_pm_and_agrees_with_one_confusion(k, n, data):
    logits = torch.tensor(data.draw(st.lists(st.lists(st.floats(-5, 5), min_size=k, max_size=k), min_size=n, max_size=n)))
    y = torch.tensor(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    probs = logits.softmax(1)
    pm, clpm, count = probability_margin(probs, y), confused_label_margin(probs, y), confused_labels(probs, y).sum(1)
    assert (clpm <= pm + 1e-6).all()
    assert torch.allclose(clpm[count <= 1], pm[count <= 1])
    assert ((pm < 0) == (count > 0)).all()  # PM is negative exactly when some label confuses
