"""wasserstein: the closed form W_p^p(q, onehot(k)) = C^{⊙p}_k · q against POT's exact solver.

POT (``ot.emd2``, a network-simplex LP) is a test dependency only: the library never imports it.
The metrics are distances between random points (symmetric, non-negative, zero diagonal), the
histograms are drawn by hypothesis, with zero entries.
"""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.labels import make_label_space

SIZES = (2, 3, 10, 37)
POWERS = (1.0, 2.5, 10.0)


def distances(points: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``points``: a valid label metric."""
    return np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)


def problem(k_classes: int):
    """Hypothesis strategy: (weights on the simplex with zeros allowed, logits, points of a metric, target class)."""
    weights = st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 1.0)), min_size=k_classes, max_size=k_classes).filter(lambda w: sum(w) > 0)
    logits = st.lists(st.floats(-15.0, 15.0), min_size=k_classes, max_size=k_classes)
    points = st.lists(st.floats(-3.0, 3.0), min_size=2 * k_classes, max_size=2 * k_classes)
    return st.tuples(weights, logits, points, st.integers(0, k_classes - 1))


@pytest.mark.parametrize("power", POWERS)
@pytest.mark.parametrize("k_classes", SIZES)
@settings(max_examples=12, deadline=None, derandomize=True)
@given(data=st.data())
def test_closed_form_is_the_exact_transport_cost_to_a_one_hot_target(k_classes, power, data):
    """C^p_k · q = ot.emd2(q, onehot(k), C^p) for histograms with zeros; and the space's loss with
    lam=inf on float64 logits is that number for q = softmax(z)."""
    weights, logits, coords, k = data.draw(problem(k_classes))
    points = np.asarray(coords).reshape(k_classes, 2)
    points[:, 0] += np.arange(k_classes)  # distinct points: a metric, not a pseudo-metric
    metric = distances(points)
    cost_p = metric**power
    onehot = np.eye(k_classes)[k]

    q = np.asarray(weights) / sum(weights)
    # POT's network simplex treats costs below its tolerance as 0 (C^10 of close points is ~1e-43):
    # solve on C^p / max C^p, which has the same plan, and scale back
    scale = cost_p.max()
    exact = ot.emd2(q, onehot, cost_p / scale) * scale
    assert cost_p[k] @ q == pytest.approx(exact, rel=1e-9, abs=1e-12 * cost_p.max())

    space = make_label_space("wasserstein", k_classes, cost=metric, power=power, lam=math.inf)
    z = torch.tensor([logits], dtype=torch.float64)
    q_z = torch.softmax(z, dim=1)[0].numpy()
    exact_z = ot.emd2(q_z, onehot, cost_p / scale) * scale
    loss = space.loss(z, space.encode(torch.tensor([k])))
    assert loss.dtype == torch.float64
    # the space keeps C in float32 (as every label space keeps its tables): ~1e-7 per entry, ×p for C^p
    assert loss.item() == pytest.approx(exact_z, rel=2e-6 * max(power, 1.0), abs=1e-12 * cost_p.max())
