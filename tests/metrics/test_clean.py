"""Clean evaluation of a model on a split, and the model's mode is left as it was."""

from __future__ import annotations

import pytest
import torch

from labelrobust.data import load_dataset
from labelrobust.errors import CheckpointError, ConfigError
from labelrobust.labels import make_label_space
from labelrobust.metrics import evaluate_clean, evaluate_run
from labelrobust.models import build_model


class Constant(torch.nn.Module):
    """Always outputs the same vector: its decisions are known in advance."""

    def __init__(self, out):
        super().__init__()
        self.out = torch.nn.Parameter(torch.tensor(out))

    def forward(self, x):
        return self.out.expand(len(x), -1)


def test_constant_model_on_real_digits():
    data = load_dataset("digits")
    space = make_label_space("interval", 10, s0=0, alpha=1, beta=3)
    model = Constant([13.5])  # class 3
    model.train()
    report = evaluate_clean(model, space, data.test, data.class_names, batch_size=64)
    share_of_3 = (data.test.labels == 3).float().mean().item()
    assert report.accuracy == pytest.approx(share_of_3)
    assert report.abstain_rate == 0.0 and report.n == len(data.test)
    assert sum(map(sum, report.confusion)) == len(data.test)
    assert all(row[3] == sum(row) for row in report.confusion)
    assert model.training  # mode restored
    abstaining = evaluate_clean(Constant([15.5]), space, data.test, data.class_names)
    assert abstaining.accuracy == 0.0 and abstaining.abstain_rate == 1.0
    assert all(row[-1] == sum(row) for row in abstaining.confusion)


def test_soft_distances_only_with_soft_labels(data_root):
    data = load_dataset("cifar10h", root=data_root, test_size=100)
    space = make_label_space("onehot", 10)
    model = build_model("mnist-cnn", input_shape=data.input_shape, out_dim=10, mean=data.mean, std=data.std, width=4)
    report = evaluate_clean(model, space, data.test, data.class_names)
    assert report.soft_distances is not None and report.soft_distances["l1"] > 0
    digits = load_dataset("digits")
    digits_model = build_model("mnist-cnn", input_shape=digits.input_shape, out_dim=10, mean=digits.mean, std=digits.std, width=4)
    assert evaluate_clean(digits_model, space, digits.test, digits.class_names).soft_distances is None
    with pytest.raises(ConfigError, match=r"model input must have shape \(N, 3, ...\)"):
        evaluate_clean(model, space, digits.test, digits.class_names)


def test_evaluate_run_errors(tmp_path):
    with pytest.raises(CheckpointError, match="is not a run directory"):
        evaluate_run(tmp_path)
