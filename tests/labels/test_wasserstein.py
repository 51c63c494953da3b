"""wasserstein: the closed-form loss against POT-free hand computation and cost-matrix checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space

TOY = [[0, 10, 0.01], [10, 0, 1], [0.01, 1, 0]]  # the 3-class toy metric of methods.md §4


def test_loss_by_hand_on_the_toy_metric():
    space = make_label_space("wasserstein", 3, cost=TOY, power=2.0, lam=2.0)
    logits = torch.tensor([[0.0, 1.0, 2.0]])
    q = torch.softmax(logits, 1)[0].tolist()
    transport = 100 * q[1] + 0.0001 * q[2]  # row 0 of C^{⊙2}
    entropy = -sum(v * math.log(v) for v in q)
    expected = transport - entropy / (2.0 * math.log(3))
    assert space.loss(logits, space.encode(torch.tensor([0]))).item() == pytest.approx(expected, rel=1e-5)


def test_closed_form_equals_optimal_transport_to_one_hot():
    """W_p^p(q, onehot(k)) = C^p_k · q: every coupling with a one-hot marginal moves all of q to k."""
    space = make_label_space("wasserstein", 3, cost=TOY, power=1.0, lam=float("inf"))
    logits = torch.tensor([[0.3, -1.0, 0.7]])
    q = torch.softmax(logits, 1)[0]
    # the only coupling: column k carries q; its cost is Σ_i q_i C_ik
    assert space.loss(logits, space.encode(torch.tensor([2]))).item() == pytest.approx(float(q @ torch.tensor(TOY)[:, 2]), rel=1e-6)


def test_cost_from_npy_file(tmp_path):
    path = tmp_path / "metric.npy"
    np.save(path, np.array(TOY))
    assert make_label_space("wasserstein", 3, cost=str(path)).cost[0, 1].item() == 10


@pytest.mark.parametrize(
    "cost, message",
    [
        ([[0, 1], [1, 0]], "must be 3×3"),
        ([[0, 1, 1], [1, 0, 1]], "must be square"),
        ([[0, 1, 1], [1, 0, float("inf")], [1, float("inf"), 0]], "must be finite"),
        ([[0, -1, 1], [-1, 0, 1], [1, 1, 0]], r"non-negative; C\[0,1\] = -1"),
        ([[0, 1, 2], [1, 0, 1], [1, 1, 0]], r"symmetric; C\[0,2\] = 2.0 but C\[2,0\] = 1.0"),
        ([[1, 1, 1], [1, 0, 1], [1, 1, 0]], r"zero on the diagonal; C\[0,0\] = 1"),
        ("/nonexistent/metric.npy", "does not exist"),
    ],
)
def test_rejects_bad_cost_matrices(cost, message):
    with pytest.raises(ConfigError, match=message):
        make_label_space("wasserstein", 3, cost=cost)


def test_refuses_soft_targets_and_bad_power():
    with pytest.raises(ConfigError, match="takes hard labels"):
        make_label_space("wasserstein", 3).encode(torch.full((1, 3), 1 / 3))
    with pytest.raises(ConfigError, match="power p must be"):
        make_label_space("wasserstein", 3, power=0)


def test_float64_outputs_on_every_device(device):
    """The cost matrix follows the outputs' dtype and device (float64 outputs used to fail in
    the matmul with the float32 one-hot targets): loss, gradient, scores and decode."""
    space = make_label_space("wasserstein", 3, cost=TOY, power=2.0, lam=2.0)
    logits = torch.tensor([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]], dtype=torch.float64, device=device, requires_grad=True)
    y = torch.tensor([0, 2], device=device)
    loss = space.loss(logits, space.encode(y))
    assert loss.dtype == torch.float64 and loss.device == logits.device
    q = torch.softmax(logits.detach().cpu(), 1)[0].tolist()  # row 0 by hand, as in test_loss_by_hand_on_the_toy_metric
    expected = 100 * q[1] + 0.0001 * q[2] + sum(v * math.log(v) for v in q) / (2.0 * math.log(3))
    assert loss[0].item() == pytest.approx(expected, rel=1e-12)  # float64 all the way: far below float32's 1e-7
    loss.sum().backward()
    assert logits.grad.dtype == torch.float64 and torch.isfinite(logits.grad).all()
    scores = space.scores(logits.detach())
    assert scores.dtype == torch.float64 and torch.equal(space.decode(logits.detach()), torch.tensor([2, 0], device=device))
    # the float32 copy of the cost is separate: the same space keeps working in float32
    loss32 = space.loss(logits.detach().float(), space.encode(y))
    assert loss32.dtype == torch.float32 and torch.allclose(loss32.double(), loss.detach(), rtol=1e-5)
