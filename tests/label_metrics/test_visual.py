"""Visual metrics of a trained run (boundary, centroid, confusion), their cache and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from labelrobust.cli.main import main
from labelrobust.config import load_config
from labelrobust.errors import ConfigError
from labelrobust.label_metrics import read_metric, resolve_metric
from labelrobust.label_metrics.visual import BoundarySearch, cached_visual_metric, metric_paths, targeted_deepfool, visual_metric
from labelrobust.labels import make_label_space
from labelrobust.runs import load_run
from labelrobust.training import train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("visual-runs")
    cfg = load_config(None, [("data.name", "digits"), ("model.options", {"width": 16}), ("epochs", 4), ("batch_size", 32), ("optim.lr", 0.02), ("out", str(out)), ("name", "std")])
    return train(cfg, quiet=True)


@pytest.fixture(scope="module")
def exp(run_dir):
    return load_run(run_dir, device="cpu")


def check_valid(metric, k=10):
    c = metric.matrix
    assert c.shape == (k, k) and np.isfinite(c).all() and (c >= 0).all()
    np.testing.assert_allclose(c, c.T)
    assert (np.diagonal(c) == 0).all()


@pytest.mark.parametrize("kind", ["boundary", "centroid", "confusion"])
def test_every_kind_gives_a_valid_metric(exp, kind):
    metric = visual_metric(exp, kind, search=BoundarySearch(n_per_class=5, steps=30))
    check_valid(metric)
    assert metric.source == f"visual:{kind}" and metric.class_names == exp.dataset.class_names


def test_deepfool_points_land_in_the_target_region(exp):
    x = exp.dataset.test.float_images(slice(0, 40))
    x_adv, dist, ok = targeted_deepfool(exp.model, exp.space, x, 3, BoundarySearch(steps=40), exp.dataset.domain)
    assert ok.float().mean() > 0.9  # a standard digits CNN is easy to push anywhere
    with torch.no_grad():
        landed = exp.space.decode(exp.model(x_adv))
    assert (landed[ok] == 3).all() and (landed[~ok] != 3).all()
    torch.testing.assert_close(dist, (x_adv - x).flatten(1).norm(dim=1))
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1  # clipped to the image domain
    again = targeted_deepfool(exp.model, exp.space, x, 3, BoundarySearch(steps=40), exp.dataset.domain)[1]
    torch.testing.assert_close(dist, again)  # deterministic


def test_deepfool_distance_on_a_linear_model_is_the_hyperplane_distance():
    model = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))  # boundary x0 = 0
    space = make_label_space("onehot", 2)
    from labelrobust.domain import Box

    x = torch.tensor([[0.5, 0.1], [2.0, -0.3]])
    _, dist, ok = targeted_deepfool(model, space, x, 1, BoundarySearch(steps=5, overshoot=0.0), Box(-10, 10))
    assert ok.all()
    torch.testing.assert_close(dist, x[:, 0], atol=1e-4, rtol=1e-4)


def test_cache_is_reused_until_the_weights_change(run_dir):
    first = cached_visual_metric(run_dir, "centroid")
    csv_path, info_path = metric_paths(run_dir, "centroid")
    assert csv_path.is_file() and json.loads(info_path.read_text())["settings"]["n"] is None
    stamp = csv_path.stat().st_mtime_ns
    again = resolve_metric(f"visual:centroid:{run_dir}", first.class_names)
    assert csv_path.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.matrix, first.matrix)
    assert again.source == "visual:centroid" and again.details == first.details  # a hit says what it is
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "weights_sha256": "0" * 64}))  # as if the run trained on
    cached_visual_metric(run_dir, "centroid")
    assert json.loads(info_path.read_text())["weights_sha256"] != "0" * 64
    for corrupt in ("{not json", "[1, 2]"):  # an unreadable sidecar is a stale cache, not a crash
        info_path.write_text(corrupt)
        np.testing.assert_allclose(cached_visual_metric(run_dir, "centroid").matrix, first.matrix, rtol=1e-6)
        assert json.loads(info_path.read_text())["settings"]["n"] is None


def test_no_confusion_is_free(exp):
    c = visual_metric(exp, "confusion").matrix
    assert c[~np.eye(10, dtype=bool)].min() == pytest.approx(0.05)


def test_unknown_kind_is_refused(exp, run_dir):
    with pytest.raises(ConfigError, match="unknown visual metric kind 'nearest'"):
        visual_metric(exp, "nearest")
    with pytest.raises(ConfigError, match="unknown visual metric kind"):
        cached_visual_metric(run_dir, "nearest")


def test_metric_cli_writes_a_csv_with_class_names(run_dir, tmp_path, capsys):
    out = tmp_path / "confusion.csv"
    assert main(["metric", str(run_dir), "--kind", "confusion", "--out", str(out), "--n", "200"]) == 0
    metric = read_metric(out)
    check_valid(metric)
    assert metric.class_names == tuple(str(d) for d in range(10))
    assert "written:" in capsys.readouterr().out
    assert main(["metric", str(run_dir), "--kind", "confusion", "--out", str(out)]) == 2  # exists, no --force
    assert "pass --force" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["metric", "--kind", "boundary"], "give RUN_DIR"),
        (["metric", "--kind", "linear-boundary"], "needs --dataset"),
        (["metric", "--kind", "linear-boundary", "--dataset", "mnist"], "needs --out"),
        (["metric", "RUN", "--kind", "wordnet", "--dataset", "cifar10", "--out", "x.csv"], "drop RUN_DIR"),
        (["metric", "--kind", "wordnet", "--dataset", "cifar10", "--out", "x.txt"], "ending in .csv"),
        (["metric", "RUN", "--kind", "centroid", "--steps", "5"], "--steps is for --kind boundary, not --kind centroid"),
        (["metric", "RUN", "--kind", "boundary", "--similarity", "wup"], "--similarity is for --kind wordnet"),
        (["metric", "RUN", "--kind", "boundary", "--dataset", "mnist"], "--dataset is for --kind linear-boundary or wordnet"),
        (["metric", "RUN", "--kind", "boundary", "--n-per-class", "5"], "other than the defaults need --out"),
        (["metric", "--kind", "wordnet", "--dataset", "digits", "--out", "/tmp/never-written.csv"], "no reviewed WordNet synset for class '0'"),
    ],
)
def test_metric_cli_bad_inputs_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
