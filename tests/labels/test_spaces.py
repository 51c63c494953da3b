"""Contract tests run over every registered label space, plus property tests of encode/decode."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.errors import ConfigError
from labelrobust.labels import ABSTAIN, available_label_spaces, make_label_space

K = 10


def ideal_outputs(space, y):
    """Outputs a perfect model would give for labels ``y`` (inside the class's region / large logit)."""
    if space.name in ("binary", "deepbe"):
        return space.threshold + (2 * space.encode(y) - 1) * (space.scale + 1.0)
    if space.name == "interval":
        bounds = space.encode(y)
        return bounds.mean(dim=1, keepdim=True)
    if space.name == "smoothing":
        return torch.log(space.encode(y))  # the minimiser of KL(t ‖ softmax(z))
    if space.name == "multilabel":
        return 10.0 * (2 * space.encode(y) - 1)  # every sigmoid near its 0/1 target
    return 10.0 * torch.nn.functional.one_hot(y, space.num_classes).float()


@pytest.mark.parametrize("name", available_label_spaces())
def test_contract_on_real_digits(name, device):
    """Every space, on every device under test: shapes, per-sample loss, decode/scores
    agreement, gradients, on real digits labels; everything stays on the labels' device."""
    from sklearn.datasets import load_digits

    y = torch.as_tensor(load_digits().target[:64], dtype=torch.int64, device=device)
    space = make_label_space(name, K)
    targets = space.encode(y)
    assert targets.device == y.device
    outputs = torch.randn(len(y), space.out_dim, device=device, requires_grad=True)
    loss = space.loss(outputs, targets)
    assert loss.shape == (len(y),) and loss.device == y.device
    assert torch.isfinite(loss).all() and (loss >= -1.0 - 1e-6).all()
    loss.sum().backward()
    assert outputs.grad is not None and outputs.grad.abs().sum() > 0
    scores = space.scores(outputs.detach())
    assert scores.shape == (len(y), K) and scores.device == y.device
    decoded = space.decode(outputs.detach())
    assert decoded.dtype == torch.int64 and decoded.shape == (len(y),) and decoded.device == y.device
    standing = decoded != ABSTAIN
    assert torch.equal(scores.argmax(1)[standing], decoded[standing])
    if not space.can_abstain:
        assert standing.all()
    probs = space.probabilities(outputs.detach())
    torch.testing.assert_close(probs.sum(1), torch.ones(len(y), device=device))
    # A perfect model decodes every label back and has the least loss.
    perfect = ideal_outputs(space, y)
    assert torch.equal(space.decode(perfect), y)
    assert space.loss(perfect, targets).mean() < loss.detach().mean()


@pytest.mark.parametrize("name", available_label_spaces())
@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.integers(0, K - 1), min_size=1, max_size=20))
def test_round_trip(name, labels):
    space = make_label_space(name, K)
    y = torch.tensor(labels)
    assert torch.equal(space.decode(ideal_outputs(space, y)), y)


@pytest.mark.parametrize("name", available_label_spaces())
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_scores_argmax_equals_decode(name, data):
    space = make_label_space(name, K)
    n = data.draw(st.integers(1, 8))
    values = data.draw(
        st.lists(
            st.floats(-50, 250, allow_nan=False, width=32) | st.sampled_from([0.0, 0.5, 16.0, 20.0]),
            min_size=n * space.out_dim,
            max_size=n * space.out_dim,
        )
    )
    outputs = torch.tensor(values, dtype=torch.float32).reshape(n, space.out_dim)
    decoded = space.decode(outputs)
    standing = decoded != ABSTAIN
    assert torch.equal(space.scores(outputs).argmax(1)[standing], decoded[standing])


@pytest.mark.parametrize("name", available_label_spaces())
def test_rejects_bad_labels_and_outputs(name, device):
    space = make_label_space(name, K)
    with pytest.raises(ConfigError, match=r"labels must lie in 0\.\.9"):
        space.encode(torch.tensor([0, 10], device=device))
    with pytest.raises(ConfigError, match="integer tensor"):
        space.encode(torch.tensor([0.0, 1.0], device=device))
    with pytest.raises(ConfigError, match=r"shape \(N,\)"):
        space.encode(torch.zeros(2, 2, 2, dtype=torch.int64, device=device))
    with pytest.raises(ConfigError, match=f"out_dim={space.out_dim}"):
        space.scores(torch.zeros(3, space.out_dim + 1, device=device))
    with pytest.raises(ConfigError, match=r"loss\(\) takes encode\(y\) targets .*not hard labels.*call space\.loss\(outputs, space\.encode\(y\)\)"):
        space.loss(torch.zeros(2, space.out_dim, device=device), torch.tensor([0, 1], device=device))


def test_unknown_name_and_parameter():
    with pytest.raises(ConfigError, match="unknown label space 'onehto'; known: .*onehot"):
        make_label_space("onehto", K)
    with pytest.raises(ConfigError, match="has no parameter 'epsilon'; accepted: eps"):
        make_label_space("smoothing", K, epsilon=0.1)
    with pytest.raises(ConfigError, match="num_classes must be an integer ≥ 2"):
        make_label_space("onehot", 1)


@pytest.mark.parametrize("name", available_label_spaces())
def test_log_probabilities_is_the_stable_log_of_probabilities(name, device):
    """``log_probabilities`` (the primitive TRADES, MART and the margins use) is
    ``log_softmax(scores)``: its exponential is ``probabilities``, and it stays finite where the
    probabilities underflow to 0 (their log would be −inf)."""
    space = make_label_space(name, K)
    outputs = torch.randn(32, space.out_dim, device=device) * 3
    log_p = space.log_probabilities(outputs)
    assert log_p.shape == (32, K) and log_p.device == outputs.device
    torch.testing.assert_close(log_p.exp(), space.probabilities(outputs))
    torch.testing.assert_close(log_p, torch.log_softmax(space.scores(outputs), 1))
    extreme = outputs * 1e4
    assert (space.probabilities(extreme) == 0).any()  # underflow: log(probabilities) would be −inf here
    assert torch.isfinite(space.log_probabilities(extreme)).all()
    with pytest.raises(ConfigError, match="reads outputs of shape"):
        space.log_probabilities(torch.zeros(3, space.out_dim + 1, device=device))
