"""The weighted robustness score: its formula on a constructed confusion, the 0-1 identity on
real runs (abstentions of a code-based space included), the Wasserstein attack raising its
objective, relative scores and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

from labelrobust.analysis import weighted_score, weighted_scores, write_score_report
from labelrobust.analysis.weighted_score import CLEAN, WASSERSTEIN
from labelrobust.errors import ConfigError
from tests.analysis import analysis_runs, random_metric, zero_one_metric

FAST = {"steps": 3, "n": 60}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return analysis_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def zero_one(runs):
    return weighted_scores([runs["standard"], runs["pgd"], runs["codes"]], zero_one_metric(), 1.0, 0.1, reference=runs["pgd"], **FAST)


def test_score_formula_on_a_constructed_confusion():
    cost = np.array([[0, 1, 4], [1, 0, 2], [4, 2, 0]], float)
    m = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])  # last column: abstained
    # rows: 0.5·1; 0; 0.25·4 + 0.25·2 + abstain 0.25·max(4, 2, 0)
    assert weighted_score(m, cost) == pytest.approx(0.5 + 0.0 + 2.5)
    assert weighted_score(m[:, :3], cost) == pytest.approx(0.5 + 0.0 + 1.5)
    with pytest.raises(ConfigError, match="K×K or K×\\(K\\+1\\)"):
        weighted_score(np.eye(2), cost)


def test_zero_one_score_is_the_sum_of_per_class_errors(zero_one):
    assert {r.attack for r in zero_one.rows} == {CLEAN, WASSERSTEIN, "pgd-loss"}
    for row in zero_one.rows:
        pred, y = zero_one.predictions[row.run, row.attack], zero_one.labels[row.run]
        per_class_error = [1.0 - (pred[y == k] == k).double().mean().item() for k in range(10)]
        assert row.score == pytest.approx(float(np.sum(per_class_error)), abs=1e-12), (row.run, row.attack)
        assert row.power == 1.0 and row.n == 60
    assert any(zero_one.row("codes", a).abstain_rate > 0 for a in (CLEAN, WASSERSTEIN, "pgd-loss"))  # abstentions are costed


def test_reference_scores_are_zero_relative_and_one_as_a_ratio(zero_one):
    assert zero_one.reference == "pgd"
    for row in zero_one.rows:
        ref = zero_one.row("pgd", row.attack).score
        assert row.score_minus_ref == row.score - ref
        if row.run == "pgd":
            assert row.score_minus_ref == 0.0 and row.score_over_ref == 1.0


def test_the_wasserstein_attack_raises_its_objective_and_robust_accuracy_drops(runs):
    result = weighted_scores([runs["standard"]], random_metric(), 2.5, 0.1, reference=runs["pgd"], **FAST)
    assert [r.run for r in result.rows if r.attack == CLEAN] == ["standard", "pgd"]  # the reference is added
    for run in ("standard", "pgd"):
        attacked, clean = result.row(run, WASSERSTEIN), result.row(run, CLEAN)
        assert attacked.wasserstein_adv > attacked.wasserstein_clean
        assert attacked.robust_accuracy <= clean.clean_accuracy and clean.robust_accuracy == clean.clean_accuracy
    assert result.settings["steps"] == 3 and result.settings["lam"] == "inf" and result.power == 2.5


def test_score_report_files(zero_one, tmp_path):
    written = {p.name for p in write_score_report(zero_one, tmp_path / "score")}
    assert {"scores.csv", "scores.md", "scores.png", "summary.json", "confusion-codes-wasserstein.csv"} <= written
    header = (tmp_path / "score" / "confusion-codes-clean.csv").read_text().splitlines()[0]
    assert header.endswith(",9,abstain")
    assert "p = 1" in (tmp_path / "score" / "scores.md").read_text()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"power": 0.0}, "--power must be a finite number > 0"),
        ({"power": -1.0}, "--power must be a finite number > 0"),
        ({"eps": -0.1}, "eps must be a finite number ≥ 0"),
        ({"steps": 0}, "steps must be"),
        ({"lam": 0.0}, "--lam must be"),
        ({"plain_objective": "margin"}, "plain_objective must be one of"),
        ({"eps": 5.0}, "exceeds the largest linf distance"),
        ({"n": 0}, "n must be a positive integer"),
    ],
)
def test_refusals(runs, kwargs, message):
    args = {"power": 1.0, "eps": 0.1, "steps": 2, "n": 20, **kwargs}
    with pytest.raises(ConfigError, match=message):
        weighted_scores([runs["standard"]], zero_one_metric(), **args)


def test_runs_on_other_classes_are_refused(runs):
    with pytest.raises(ConfigError, match="not on the same classes"):
        weighted_scores([runs["standard"], runs["three"]], zero_one_metric(), 1.0, 0.1, steps=2, n=20)
