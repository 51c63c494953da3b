"""Tests of the WPGD toy analysis (``labelrobust.analysis.toy``)."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from torch import nn

import labelrobust.analysis.toy as toy
from labelrobust.analysis.toy import ToyBudget, boundary_change, decision_regions, pair_flips, run_toy
from labelrobust.domain import Box
from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space

TINY = ToyBudget(n_train=60, n_test=30, hidden=8, depth=1, batch_size=30, inner_steps=2, eval_steps=2, resolution=24)


def _linear(weight: list[list[float]]) -> nn.Linear:
    layer = nn.Linear(2, len(weight))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.zero_()
    return layer


def test_decision_regions_is_the_arg_max_of_a_linear_model():
    # class 0 where x wins, 1 where y wins, 2 where −(x + y) wins
    model, space = _linear([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]), make_label_space("onehot", 3)
    regions = decision_regions(model, space, Box(-1.0, 1.0), resolution=21)
    assert regions.pred.shape == (21, 21) and torch.equal(regions.xs, torch.linspace(-1, 1, 21))
    for i in range(21):
        for j in range(21):
            x, y = float(regions.xs[j]), float(regions.ys[i])
            scores = [x, y, -x - y]
            best = max(scores)
            if sorted(scores)[-2] < best - 1e-6:  # skip exact ties
                assert int(regions.pred[i, j]) == scores.index(best), (x, y)
    assert int(regions.pred[10, 20]) == 0 and int(regions.pred[20, 10]) == 1 and int(regions.pred[0, 0]) == 2


def test_decision_regions_orientation():
    # depends on x only: columns are x, rows are y
    regions = decision_regions(_linear([[1.0, 0.0], [-1.0, 0.0]]), make_label_space("onehot", 2), Box(-1.0, 1.0), resolution=4)
    assert regions.pred.tolist() == [[1, 1, 0, 0]] * 4


def test_boundary_change_counts_each_pair():
    reference = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
    pred = torch.tensor([0, 1, 1, 2, 2, 0, 2, 0])
    support = torch.tensor([True] * 7 + [False])  # the last point is outside the support
    change = boundary_change(reference, pred, support)
    assert change == {(0, 1): pytest.approx(1 / 7), (0, 2): pytest.approx(2 / 7), (1, 2): pytest.approx(1 / 7)}


def test_pair_flips():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    clean = torch.tensor([0, 0, 1, 2, 2, 2])
    adv = torch.tensor([1, 2, 0, 2, 2, 1])
    flips = pair_flips(labels, clean, adv)
    assert flips[(0, 1)] == pytest.approx(2 / 3)  # 0→1 and 1→0 of the three correct a/b points
    assert flips[(0, 2)] == pytest.approx(1 / 4)  # 0→2 of the four correct a/c points
    assert flips[(1, 2)] == pytest.approx(1 / 3)  # 2→1 of the three correct b/c points


def test_run_toy_writes_the_figure_and_the_table_and_reuses_runs(tmp_path, monkeypatch):
    out = run_toy(tmp_path / "toy", eps=(0.2,), powers=(1.0, 10.0), epochs=1, budget=TINY)
    figure, table = out / "toy-boundaries.png", out / "toy-summary.csv"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(table.open()))
    assert [r["run"] for r in rows] == ["standard", "at-eps0.2", "wpgd-eps0.2-p1", "wpgd-eps0.2-p10"]
    assert [r["method"] for r in rows] == ["standard", "at", "wpgd", "wpgd"]
    assert {"clean_accuracy", "robust_accuracy", "changed_a_b", "changed_a_c", "changed_b_c", "changed_total", "flip_a_b"} <= set(rows[0])
    assert all(float(rows[0][k]) == 0 for k in ("changed_a_b", "changed_a_c", "changed_b_c", "changed_total"))
    for r in rows:
        parts = sum(float(r[k]) for k in ("changed_a_b", "changed_a_c", "changed_b_c"))
        assert parts == pytest.approx(float(r["changed_total"]), abs=1e-5)
        assert 0 <= float(r["robust_accuracy"]) <= float(r["clean_accuracy"]) <= 1
    summaries = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")}
    assert len(summaries) == 4

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(toy, "train", no_training)
    run_toy(tmp_path / "toy", eps=(0.2,), powers=(1.0, 10.0), epochs=1, budget=TINY)
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")} == summaries
    with pytest.raises(ConfigError, match=r"holds a run with other settings \(epochs\); pass force=True") as err:
        run_toy(tmp_path / "toy", eps=(0.2,), powers=(1.0,), epochs=2, budget=TINY)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eps": ()}, "eps must be a non-empty list of positive numbers"),
        ({"eps": (0.0,)}, "eps must hold positive finite numbers, got 0.0"),
        ({"eps": (0.1, 0.1)}, "eps lists a value twice"),
        ({"eps": (3.0,)}, "covers the whole input domain"),
        ({"eps": 0.1}, "eps must be a non-empty list"),
        ({"powers": (-1.0,)}, "powers must hold positive finite numbers"),
        ({"powers": (math.inf,)}, "powers must hold positive finite numbers"),
        ({"seed": -1}, "seed must be an integer ≥ 0"),
        ({"epochs": 0}, "epochs must be an integer ≥ 1"),
        ({"device": "gpu"}, "gpu"),
        ({"force": "yes"}, "force must be true or false"),
        ({"budget": {"n_train": 3}}, "budget must be a ToyBudget"),
    ],
)
def test_run_toy_bad_inputs_are_one_line_errors(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message) as err:
        run_toy(tmp_path / "toy", **kwargs)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "toy" / "runs").exists()  # refused before anything was trained
