"""Tests of the class-imbalance analysis (``labelrobust.analysis.imbalance``)."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from labelrobust.analysis.imbalance import Pair, resolve_pairs, run_imbalance
from labelrobust.errors import ConfigError
from labelrobust.runs import load_run, read_metrics

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# a small, fast network: the test checks the plumbing, not the study's result
TINY = {"model": "fc", "model_options": {"hidden": 16, "depth": 1}, "steps": 1, "eps_warmup": 0, "epochs": 1, "val_size": 40, "test_size": 100}


def test_resolve_pairs_by_name_and_index():
    pairs = resolve_pairs([("airplane", "horse"), ("cat", 5)], CIFAR10, "cifar10")
    assert pairs == [Pair(0, 7, ("airplane", "horse")), Pair(3, 5, ("cat", "dog"))]
    assert pairs[1].label == "cat/dog" and pairs[1].slug == "cat-dog"


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("cat", "cat")], r"pair \('cat', 'cat'\) names class 'cat' twice"),
        ([(3, "cat")], r"pair \(3, 'cat'\) names class 'cat' twice"),
        ([("cat", "kitten")], r"pairs: unknown class 'kitten' for cifar10; classes are: airplane, automobile"),
        ([(0, 10)], r"pairs: class index 10 is out of range for cifar10, which has 10 classes"),
        ([(True, 1)], "pairs: unknown class True"),
        ([(0, 1, 2)], "each pair must hold two classes"),
        ([(0, 1), (0, 1)], r"pair \(0, 1\) is listed twice"),
        ([], "pairs must be a non-empty list"),
        ("cat", "pairs must be a non-empty list"),
    ],
)
def test_bad_pairs_are_one_line_errors(pairs, message):
    with pytest.raises(ConfigError, match=message) as err:
        resolve_pairs(pairs, CIFAR10, "cifar10")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratio": 0}, r"ratio must be a number with 0 < ratio <= 1 .*got 0"),
        ({"ratio": -0.3}, "ratio must be a number with 0 < ratio <= 1"),
        ({"ratio": 1.5}, "ratio must be a number with 0 < ratio <= 1"),
        ({"ratio": True}, "ratio must be a number with 0 < ratio <= 1"),
        ({"dataset": "nope"}, "unknown dataset 'nope'; known:"),
        ({"dataset": "digits"}, "no default eps for dataset 'digits'"),
        ({"eps": "1/0"}, "eps must be a positive number or a fraction"),
        ({"epochs": 0}, "epochs must be an integer ≥ 1"),
        ({"val_size": 0}, "val_size must be an integer ≥ 1"),
        ({"model_options": [1]}, "model_options must be a mapping"),
        ({"force": 1}, "force must be true or false"),
    ],
)
def test_bad_settings_are_one_line_errors_before_any_data_is_read(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message) as err:
        run_imbalance(tmp_path / "out", data_root=tmp_path / "no-data", **kwargs)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("pairs", "message"),
    [(((3, "3"),), r"names class '3' twice"), ((("seven", 1),), "pairs: unknown class 'seven' for mnist")],
)
def test_bad_mnist_pairs(tmp_path, data_root, pairs, message):
    with pytest.raises(ConfigError, match=message) as err:
        run_imbalance(tmp_path / "out", pairs=pairs, data_root=data_root)
    assert "\n" not in str(err.value)


def test_run_imbalance_on_mnist(tmp_path, data_root):
    out = run_imbalance(tmp_path / "imb", pairs=((0, 7),), ratio=0.3, data_root=data_root, **TINY)
    assert (out / "imbalance-curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((out / "imbalance-summary.csv").open()))
    assert [(r["pair"], r["method"], r["minority"]) for r in rows] == [("0/7", "standard", "7"), ("0/7", "at", "7")]
    assert rows[1]["eps"] == "0.3" and rows[0]["eps"] == ""
    for r in rows:
        assert 0 <= float(r["test_acc_minority"]) <= 1 and 0 <= float(r["final_val_acc"]) <= 1

    # the imbalance is applied: the minority keeps round(0.3 · n) of its training samples,
    # split between the training and the validation split
    run = out / "runs" / "0-7-at"
    report = json.loads((run / "dataset_report.json").read_text())["imbalance"]["7"]
    assert report["after"] == int(0.3 * report["before"] + 0.5)
    exp = load_run(run)
    train_counts = torch.bincount(exp.dataset.train.labels, minlength=2).tolist()
    val_counts = torch.bincount(exp.dataset.val.labels, minlength=2).tolist()
    assert train_counts[1] + val_counts[1] == report["after"]
    assert train_counts[1] < 0.4 * train_counts[0]  # 0 and 7 are about equally common in MNIST
    assert [int(rows[1]["train_majority"]), int(rows[1]["train_minority"])] == train_counts
    assert len(exp.dataset.val) == 40 and "val_acc" in read_metrics(run)[0]  # validation accuracy is logged per epoch
