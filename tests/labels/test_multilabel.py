"""The ``multilabel`` label space on real DOUBLE-MNIST label sets: the loss is the summed binary
cross-entropy, targets are checked, decode / predict_sets / decide agree, the top-2 set is the
two largest logits (a property test), and the threshold variant."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.data import load_dataset
from labelrobust.errors import ConfigError
from labelrobust.labels import ABSTAIN, make_label_space
from labelrobust.labels.multilabel import MultiLabel


@pytest.fixture(scope="module")
def label_sets(data_root):
    train = load_dataset("double-mnist", root=data_root, options={"n_train": 64, "n_test": 10}).train
    return train.label_sets, train.labels


def test_loss_is_the_summed_binary_cross_entropy_of_the_label_sets(label_sets, device):
    sets, _ = label_sets
    space = make_label_space("multilabel", 10)
    targets = space.encode(sets.to(device))
    assert targets.dtype == torch.float32 and torch.equal(targets, sets.float().to(device))
    outputs = torch.randn(len(sets), 10, device=device, requires_grad=True)
    loss = space.loss(outputs, targets)
    expected = F.binary_cross_entropy_with_logits(outputs, targets, reduction="none").sum(1)
    torch.testing.assert_close(loss, expected)
    by_hand = -(targets * F.logsigmoid(outputs) + (1 - targets) * F.logsigmoid(-outputs)).sum(1)
    torch.testing.assert_close(loss, by_hand)
    loss.sum().backward()
    torch.testing.assert_close(outputs.grad, torch.sigmoid(outputs.detach()) - targets)  # ∂ℓ/∂z = σ(z) − t
    assert space.requires_label_sets and space.multi_label and not space.can_abstain and space.out_dim == 10


def test_hard_labels_encode_as_one_class_sets(label_sets):
    _, labels = label_sets
    space = make_label_space("multilabel", 10)
    assert torch.equal(space.encode(labels), F.one_hot(labels, 10).float())


def test_encode_and_loss_refuse_targets_that_are_not_multi_hot(label_sets):
    sets, _ = label_sets
    space = make_label_space("multilabel", 10)
    bad = sets.float().clone()
    bad[3, 0], bad[5, 1] = 0.5, 2.0
    with pytest.raises(ConfigError, match=r"^label space 'multilabel': label sets must be multi-hot rows of 0/1; rows \[3, 5\] hold other values, e\.g\. \[0\.5") as info:
        space.encode(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"loss targets must be multi-hot rows of 0/1; rows \[3, 5\]"):
        space.loss(torch.zeros(len(bad), 10), bad)
    with pytest.raises(ConfigError, match=r"label sets must have shape \(N, 10\), got \(64, 4\)"):
        space.encode(sets[:, :4])
    with pytest.raises(ConfigError, match=r"loss targets must have shape \(N, 10\)"):
        space.loss(torch.zeros(2, 10), torch.zeros(2, 4))


def test_decode_is_the_arg_max_and_always_in_the_top2_set(label_sets):
    sets, labels = label_sets
    space = make_label_space("multilabel", 10)
    outputs = 6.0 * (2 * sets.float() - 1) + 0.1 * torch.randn(len(sets), 10)  # a good model: both digits high
    predicted = space.predict_sets(outputs)
    assert predicted.dtype == torch.bool and torch.equal(predicted, sets)
    assert torch.equal(space.decode(outputs), outputs.argmax(1))
    assert predicted.gather(1, space.decode(outputs)[:, None]).all()
    assert torch.equal(space.decide(outputs, labels), labels)  # the target is in every set
    outside = (~sets).float().argmax(1)  # a class outside each set
    decided = space.decide(outputs, outside)
    assert (decided != outside).all() and torch.equal(decided, space.decode(outputs))


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_top2_set_holds_exactly_the_two_largest_logits(data):
    n, k = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4))
    values = data.draw(st.lists(st.floats(-30, 30, allow_nan=False, width=32), min_size=n * 6, max_size=n * 6))
    outputs = torch.tensor(values).reshape(n, 6)
    space = make_label_space("multilabel", 6, k=k)
    sets = space.predict_sets(outputs)
    assert (sets.sum(1) == k).all()
    inside = outputs.masked_fill(~sets, float("inf")).amin(1)
    outside = outputs.masked_fill(sets, float("-inf")).amax(1)
    assert (inside >= outside).all()  # no class outside the set scores above one inside it
    decoded = space.decode(outputs)
    assert sets.gather(1, decoded[:, None]).all() and torch.equal(space.scores(outputs).argmax(1), decoded)
    y = torch.tensor(data.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)))
    assert torch.equal(space.decide(outputs, y) == y, sets.gather(1, y[:, None]).squeeze(1))


def test_threshold_sets_and_abstention():
    space = make_label_space("multilabel", 4, threshold=0.5)
    outputs = torch.tensor([[2.0, -1.0, 0.5, -3.0], [-1.0, -2.0, -0.5, -4.0], [1.0, 3.0, 2.0, 0.2]])
    assert torch.equal(space.predict_sets(outputs), outputs > 0)  # σ(z) > 0.5 ⇔ z > 0
    assert space.decode(outputs).tolist() == [0, ABSTAIN, 1] and space.can_abstain
    assert space.decide(outputs, torch.tensor([2, 1, 3])).tolist() == [2, ABSTAIN, 3]
    high = make_label_space("multilabel", 4, threshold="0.9")  # text, as a config file passes it
    assert torch.equal(high.predict_sets(outputs), torch.sigmoid(outputs) > 0.9)
    assert high.params() == {"k": None, "threshold": 0.9}


def test_parameters_round_trip_and_bad_parameters():
    space = make_label_space("multilabel", 10)
    assert space.params() == {"k": 2, "threshold": None} and isinstance(space, MultiLabel)
    assert make_label_space("multilabel", 10, **space.params()).k == 2
    assert make_label_space("multilabel", 10, k="3").k == 3
    for params, message in [
        ({"k": 3, "threshold": 0.5}, r"give k \(top-k sets\) or threshold \(sigmoid > threshold\), not both"),
        ({"k": 10}, r"k must be smaller than the 10 classes"),
        ({"k": 0}, r"k must be an integer ≥ 1, got 0"),
        ({"threshold": 1.0}, r"threshold must be a finite number in \(0, 1\), got 1\.0"),
        ({"top": 2}, r"has no parameter 'top'; accepted: k, threshold"),
    ]:
        with pytest.raises(ConfigError, match=message):
            make_label_space("multilabel", 10, **params)


def test_single_label_spaces_decide_by_decode(label_sets):
    _, labels = label_sets
    space = make_label_space("onehot", 10)
    outputs = torch.randn(len(labels), 10)
    assert torch.equal(space.decide(outputs, labels), space.decode(outputs))
    assert not space.multi_label and not space.requires_label_sets
