"""What "correct" means for a multi-label run: set accuracy, target accuracy, and the clean
evaluation of a real DOUBLE-MNIST run (docs/multilabel.md)."""

from __future__ import annotations

import json

import pytest
import torch

from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space
from labelrobust.metrics import evaluate_clean, evaluate_run, set_accuracy, target_accuracy
from labelrobust.metrics.inference import model_outputs
from labelrobust.runs import load_run
from tests.multilabel_runs import train_variant

SETS = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 1]], dtype=torch.bool)
PRED = torch.tensor([[1, 1, 0, 0], [0, 1, 0, 1], [0, 1, 1, 0]], dtype=torch.bool)


@pytest.fixture(scope="module")
def run(data_root, tmp_path_factory):
    return train_variant(data_root, tmp_path_factory.mktemp("multilabel-metrics"), "plain")


def test_set_and_target_accuracy_by_hand():
    assert set_accuracy(PRED, SETS) == pytest.approx(1 / 3)  # only row 0 has both classes right
    assert target_accuracy(PRED, torch.tensor([0, 2, 3])) == pytest.approx(1 / 3)  # 0 ∈ P0, 2 ∉ P1, 3 ∉ P2
    assert target_accuracy(PRED, torch.tensor([1, 1, 1])) == 1.0
    assert set_accuracy(PRED, SETS.float()) == pytest.approx(1 / 3)  # 0/1 numbers read as sets


def test_set_and_target_accuracy_refuse_bad_input():
    with pytest.raises(ConfigError, match=r"predicted sets must be a bool N×K tensor, got torch\.float32"):
        set_accuracy(PRED.float(), SETS)
    with pytest.raises(ConfigError, match=r"must both be N×K, got \(3, 4\) and \(3, 3\)"):
        set_accuracy(PRED, SETS[:, :3])
    with pytest.raises(ConfigError, match="set accuracy of an empty split is undefined"):
        set_accuracy(PRED[:0], SETS[:0])
    with pytest.raises(ConfigError, match=r"3 predicted sets but 2 labels"):
        target_accuracy(PRED, torch.tensor([0, 1]))
    with pytest.raises(ConfigError, match=r"labels must be int64 of shape \(N,\) in 0\.\.3"):
        target_accuracy(PRED, torch.tensor([0, 1, 4]))


def test_clean_evaluation_of_a_real_multilabel_run(run):
    exp = load_run(run)
    test = exp.dataset.test
    report = evaluate_clean(exp.model, exp.space, test, exp.dataset.class_names, batch_size=32)
    sets = exp.space.predict_sets(model_outputs(exp.model, test))
    assert report.set_accuracy == pytest.approx((sets == test.label_sets).all(1).float().mean().item())
    assert report.target_accuracy == pytest.approx(sets.gather(1, test.labels[:, None]).float().mean().item())
    assert report.accuracy == report.target_accuracy and report.abstain_rate == 0.0
    assert 0.0 < report.set_accuracy < report.target_accuracy < 1.0
    confusion = torch.tensor(report.confusion)
    assert confusion.sum() == len(test) and confusion.diagonal().sum() == round(report.accuracy * len(test))


def test_evaluate_run_writes_set_and_target_accuracy(run, tmp_path):
    report = evaluate_run(run, out=tmp_path)
    saved = json.loads((tmp_path / "clean-test.json").read_text())
    assert saved["set_accuracy"] == report.set_accuracy and saved["target_accuracy"] == report.target_accuracy
    header = (tmp_path / "clean-test.csv").read_text().splitlines()[0]
    assert header.startswith("run,n,accuracy,abstain_rate,set_accuracy,target_accuracy")
    with pytest.raises(ConfigError, match="has no val split"):
        evaluate_run(run, split="val", out=tmp_path)


def test_single_label_runs_report_no_set_metrics(run):
    exp = load_run(run)
    onehot = make_label_space("onehot", 10)
    report = evaluate_clean(exp.model, onehot, exp.dataset.test, exp.dataset.class_names)
    assert report.set_accuracy is None and report.target_accuracy is None
