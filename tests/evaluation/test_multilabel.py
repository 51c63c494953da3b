"""Attacks and evaluations of a real multi-label run judge by set membership
(``space.decide``): an attack on class y succeeds exactly when y leaves the predicted top-2
set, and the evaluation's clean accuracy is the target accuracy (docs/multilabel.md)."""

from __future__ import annotations

import pytest
import torch

from labelrobust.attacks import make_attack
from labelrobust.cli.main import main
from labelrobust.evaluation import DIAGNOSTIC_ROLE, AttackSpec, robust_evaluate_run
from labelrobust.metrics.inference import model_outputs
from labelrobust.runs import load_run
from tests.multilabel_runs import train_variant


@pytest.fixture(scope="module")
def run(data_root, tmp_path_factory):
    return train_variant(data_root, tmp_path_factory.mktemp("multilabel-eval"), "plain")


def test_attack_success_is_the_target_leaving_the_predicted_set(run):
    exp = load_run(run)
    test = exp.dataset.test.subset(torch.arange(60))
    x, y = test.float_images(), test.labels
    kept = exp.space.predict_sets(exp.model(x)).gather(1, y[:, None]).squeeze(1)
    x, y = x[kept], y[kept]  # attack the samples whose target is in the clean set
    for objective in ("top2-margin", "loss"):
        result = make_attack("pgd", norm="linf", eps=0.15, steps=10, objective=objective)(exp.model, exp.space, x, y)
        with torch.no_grad():
            sets = exp.space.predict_sets(exp.model(result.x_adv))
        assert torch.equal(result.success, ~sets.gather(1, y[:, None]).squeeze(1))
        assert torch.equal(result.pred, exp.space.decide(exp.model(result.x_adv), y))
    assert result.success.any()


def test_the_evaluation_counts_a_sample_correct_while_its_target_is_in_the_set(run, tmp_path):
    exp = load_run(run)
    test = exp.dataset.test.subset(torch.arange(60))
    sets = exp.space.predict_sets(model_outputs(exp.model, test))
    spec = AttackSpec("pgd-top2", "pgd", {"steps": 10, "objective": "top2-margin"}, role=DIAGNOSTIC_ROLE)
    report = robust_evaluate_run(run, [spec], [0.05, 0.2], name="ml", n=60, checks=False, quiet=True, out=tmp_path)
    assert torch.equal(report.clean_pred == report.labels, sets.gather(1, test.labels[:, None]).squeeze(1))
    assert report.clean_accuracy == pytest.approx(sets.gather(1, test.labels[:, None]).float().mean().item())
    robust = report.worst_case()
    assert robust[0.2] <= robust[0.05] <= report.clean_accuracy and robust[0.2] < report.clean_accuracy


def test_the_command_line_attacks_a_multilabel_run_with_top2_margin(run, tmp_path, capsys):
    args = ["attack", str(run), "--attack", "pgd", "--objective", "top2-margin", "--eps", "0.1", "--steps", "5", "--n", "40", "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "pgd-objective=top2-margin-steps=5" in out and "robust_accuracy" in out
    assert (tmp_path / "robust-attack-pgd-objective=top2-margin-steps=5.csv").is_file()
