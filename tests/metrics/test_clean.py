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


def _copy_run(exp, into):
    import shutil
    from pathlib import Path

    source = Path(exp.config.out) / exp.config.run_name()
    return Path(shutil.copytree(source, into / source.name, ignore=shutil.ignore_patterns("eval")))


def test_clean_files_record_weights_and_samples(trained, tmp_path):
    import csv
    import json

    from labelrobust.runs import weights_sha256

    run = _copy_run(trained("onehot"), tmp_path)
    report = evaluate_run(run, device="cpu")
    sha = weights_sha256(run / "model.safetensors")
    saved = json.loads((run / "eval" / "clean-test.json").read_text())
    assert saved["format"] == "labelrobust-clean-eval-2" and saved["weights"]["sha256"] == sha and saved["samples"]["n"] == report.n
    assert saved["samples"]["split"] == "test" and len(saved["samples"]["sha256"]) == 64
    row = next(csv.DictReader((run / "eval" / "clean-test.csv").open()))
    assert row["weights"] == "latest" and row["weights_sha256"] == sha
    confusion = list(csv.reader((run / "eval" / "confusion-test.csv").open()))
    assert confusion[0][-3:] == ["weights", "weights_sha256", "samples_sha256"] and all(r[-2] == sha for r in confusion[1:])
    with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
        evaluate_run(run, batch_size=-1)


def test_clean_metrics_on_the_device(trained, tmp_path, device):
    """The model on ``device``, the data on the CPU: the outputs come back to the CPU."""
    import copy

    from labelrobust.metrics.inference import model_outputs

    exp = trained("onehot")
    model = copy.deepcopy(exp.model).to(device)
    images = exp.dataset.test.subset(torch.arange(40))
    outputs = model_outputs(model, images, batch_size=16)
    assert outputs.device.type == "cpu" and torch.allclose(outputs, model_outputs(exp.model, images), atol=1e-4)
    assert 0 <= evaluate_clean(model, exp.space, images, exp.dataset.class_names, batch_size=16).accuracy <= 1
    assert evaluate_run(_copy_run(exp, tmp_path), device=device).n > 0
