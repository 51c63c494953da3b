"""The multi-label study's three training variants (methods.md §5) as ordinary runs on real
DOUBLE-MNIST: no defence, the L0 defence (black-rectangle augmentation) and PGD-AT on the
multi-label loss; the command line; and what the multilabel space refuses."""

from __future__ import annotations

import json

import pytest
import torch

from labelrobust.cli.main import main
from labelrobust.config import load_config
from labelrobust.errors import ConfigError
from labelrobust.runs import build_experiment, load_run, read_metrics
from labelrobust.training import train
from labelrobust.training.loop import training_labels
from tests.multilabel_runs import TINY, VARIANTS, overrides, train_variant


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_variant_trains_and_reports_set_and_target_accuracy(data_root, tmp_path, variant):
    run = train_variant(data_root, tmp_path, variant)
    summary = json.loads((run / "summary.json").read_text())
    test = summary["test"]
    assert summary["label_space"] == {"name": "multilabel", "k": 2, "threshold": None} and test["n"] == TINY["n_test"]
    assert 0.0 <= test["set_accuracy"] <= test["target_accuracy"] == test["accuracy"] <= 1.0
    assert test["target_accuracy"] > 0.3  # one epoch on 400 samples already beats chance (2 of 10 classes: 0.2)
    record = read_metrics(run)[-1]
    assert 0.0 <= record["train_acc"] <= 1.0 and record["train_abstain"] == 0.0
    if variant == "pgd-at":
        assert summary["method"]["inner"]["objective"] == "the label space's training loss" and "adv_train_acc" in record
    if variant == "l0":
        assert summary["method"]["name"] == "standard" and load_run(run).config.data.augment_options == {"min_size": 4, "max_size": 10}


def test_the_training_targets_are_the_label_sets(data_root, tmp_path):
    exp = build_experiment(load_config(None, overrides(data_root, tmp_path, "t")))
    sets = exp.dataset.train.label_sets
    assert torch.equal(training_labels(exp.space, exp.dataset.train), sets)
    assert torch.equal(exp.space.encode(training_labels(exp.space, exp.dataset.train)), sets.float())
    onehot = build_experiment(load_config(None, overrides(data_root, tmp_path, "o", ("labels.name", "onehot"))))
    assert torch.equal(training_labels(onehot.space, onehot.dataset.train), onehot.dataset.train.labels)  # object 0's digit


def test_the_command_line_trains_the_l0_defence_and_evaluates_it(data_root, tmp_path, capsys):
    args = [
        "train", "--dataset", "double-mnist", "--data-root", str(data_root), "--data-option", "n_train=300", "--data-option", "n_test=100",
        "--model", "multilabel-cnn", "--model-option", "channels=[4,8]", "--label-space", "multilabel", "--data.augment", "black-rectangle",
        "--augment-option", "min_size=3", "--augment-option", "max_size=8", "--epochs", "1", "--batch-size", "32", "--out", str(tmp_path),
        "--name", "cli", "--quiet",
    ]
    assert main(args) == 0
    assert main(["evaluate", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert "set_accuracy" in out and "target_accuracy" in out
    saved = json.loads((tmp_path / "cli" / "eval" / "clean-test.json").read_text())
    assert saved["n"] == 100 and saved["target_accuracy"] == saved["accuracy"] and saved["set_accuracy"] <= saved["accuracy"]
    assert "set_accuracy,target_accuracy" in (tmp_path / "cli" / "eval" / "clean-test.csv").read_text().splitlines()[0]


def test_multilabel_space_needs_label_sets_and_bad_augment_options_fail_before_training(data_root, tmp_path):
    cfg = load_config(None, [("data.name", "digits"), ("labels.name", "multilabel"), ("model.options", {"width": 8}), ("out", str(tmp_path))])
    with pytest.raises(ConfigError, match=r"^label space 'multilabel' trains on multi-label sets, but dataset 'digits' has none; use a multi-label dataset \(double-mnist\) or a single-label space \(onehot\)$"):
        train(cfg, quiet=True)
    bad = load_config(None, overrides(data_root, tmp_path, "bad", ("data.augment", "black-rectangle"), ("data.augment_options", {"max_size": 30})))
    with pytest.raises(ConfigError, match=r"max_size 30 does not fit images of 28×56 pixels"):
        train(bad, quiet=True)
    typo = load_config(None, overrides(data_root, tmp_path, "typo", ("data.augment", "black-rectangle"), ("data.augment_options", {"max": 3})))
    with pytest.raises(ConfigError, match=r"augmentation 'black-rectangle' has no option 'max'; accepted: min_size=4, max_size=12"):
        train(typo, quiet=True)
    assert not (tmp_path / "bad" / "checkpoint.safetensors").exists() and not (tmp_path / "typo").exists()
