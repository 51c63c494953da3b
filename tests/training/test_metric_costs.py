"""Label metrics by name or by a CSV with class names, end to end: WPGD's cost through
make_method(dataset=...), the wasserstein space's cost through a run config and load_run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labelrobust.config import MethodConfig, load_config
from labelrobust.data import load_dataset
from labelrobust.errors import ConfigError
from labelrobust.label_metrics import LabelMetric, write_metric_csv
from labelrobust.label_metrics.wordnet import shipped_metric
from labelrobust.labels import make_label_space
from labelrobust.runs import load_run
from labelrobust.training import train
from labelrobust.training.methods import make_method

SUBSET = ["truck", "cat", "dog"]


@pytest.fixture(scope="module")
def cifar_subset(data_root):
    return load_dataset("cifar10", root=data_root, classes=SUBSET, train_size=60, test_size=30, seed=0)


def full_wordnet() -> LabelMetric:
    return shipped_metric("cifar10", "path")


def expected(names) -> np.ndarray:
    full = full_wordnet()
    idx = [full.class_names.index(n) for n in names]
    return full.matrix[np.ix_(idx, idx)]


def test_wpgd_cost_wordnet_and_a_larger_header_csv_follow_the_dataset_classes(cifar_subset, tmp_path):
    names = cifar_subset.class_names
    assert list(names) == SUBSET  # --classes keeps the order given
    space = make_label_space("onehot", 3)
    method, _ = make_method(MethodConfig("wpgd", {"eps": 0.03, "cost": "wordnet"}), space, dataset=cifar_subset)
    np.testing.assert_allclose(method.metric.cost.numpy(), expected(names), rtol=1e-6)
    write_metric_csv(tmp_path / "all10.csv", full_wordnet())  # 10 classes, file order ≠ dataset order
    method, _ = make_method(MethodConfig("wpgd", {"eps": 0.03, "cost": str(tmp_path / "all10.csv"), "power": 2.0}), space, dataset=cifar_subset)
    np.testing.assert_allclose(method.metric.cost.numpy(), expected(names), rtol=1e-6)
    np.testing.assert_allclose(method.metric.cost_power.numpy(), expected(names) ** 2, rtol=1e-5)
    assert method.describe()["metric"]["cost"]["classes"] == SUBSET


def test_wpgd_names_need_a_dataset_and_a_metric_without_a_class_is_refused(cifar_subset, tmp_path):
    space = make_label_space("onehot", 3)
    with pytest.raises(ConfigError, match=r"method 'wpgd': cost 'wordnet' is computed for a dataset's classes"):
        make_method(MethodConfig("wpgd", {"eps": 0.03, "cost": "wordnet"}), space)
    write_metric_csv(tmp_path / "two.csv", full_wordnet().for_classes(("cat", "dog")))
    with pytest.raises(ConfigError, match=r"method 'wpgd': cost .*two\.csv.* has no class 'truck'"):
        make_method(MethodConfig("wpgd", {"eps": 0.03, "cost": str(tmp_path / "two.csv")}), space, dataset=cifar_subset)
    digits = load_dataset("digits")
    with pytest.raises(ConfigError, match=r"no reviewed WordNet synset for class '0'"):
        make_method(MethodConfig("wpgd", {"eps": 0.03, "cost": "wordnet"}), make_label_space("onehot", 10), dataset=digits)


def test_a_wasserstein_run_with_cost_wordnet_trains_and_reloads(data_root, tmp_path):
    cfg = load_config(None, [
        ("data.name", "cifar10"), ("data.root", str(data_root)), ("data.classes", SUBSET), ("data.train_size", 60), ("data.test_size", 30),
        ("model.name", "fc"), ("model.options", {"hidden": 16, "depth": 1}), ("labels.name", "wasserstein"), ("labels.params", {"cost": "wordnet", "power": 2.5}),
        ("epochs", 1), ("batch_size", 30), ("out", str(tmp_path)), ("name", "w"),
    ])
    exp = load_run(train(cfg, quiet=True))
    torch.testing.assert_close(exp.space.cost.double(), torch.as_tensor(expected(SUBSET)), rtol=1e-6, atol=0)
    assert exp.space.params()["cost"]["source"] == "wordnet (the run's copy, labels-cost.csv)"


def test_a_run_keeps_its_computed_metric_and_reloads_it_without_recomputing(tmp_path, monkeypatch):
    # the cost is a file the user may later change: the run reloads the copy it trained with
    metric_file = tmp_path / "digits-metric.csv"
    names = tuple(str(d) for d in range(10))
    rng = np.random.default_rng(0)
    points = rng.normal(size=(10, 2))
    write_metric_csv(metric_file, LabelMetric(np.linalg.norm(points[:, None] - points[None], axis=-1), names, source="test"))
    cfg = load_config(None, [
        ("data.name", "digits"), ("model.name", "fc"), ("model.options", {"hidden": 16, "depth": 1}),
        ("labels.name", "wasserstein"), ("labels.params", {"cost": str(metric_file)}),
        ("epochs", 1), ("batch_size", 64), ("out", str(tmp_path)), ("name", "w"),
    ])
    run_dir = train(cfg, quiet=True)
    trained_with = load_run(run_dir).space.cost.clone()
    assert (run_dir / "label-metrics" / "labels-cost.csv").is_file()
    write_metric_csv(metric_file, LabelMetric(np.ones((10, 10)) - np.eye(10), names, source="changed"))
    torch.testing.assert_close(load_run(run_dir).space.cost, trained_with)
