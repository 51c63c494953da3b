"""Per-sample outcomes by hand: robust accuracy against the true label, survival against the
clean prediction, counted decisions (a diagnostic carries its own smaller-eps decisions, an
ensemble row counts the worst case so far), the worst case over eps, targeted hits."""

from __future__ import annotations

import pytest
import torch

from labelrobust.evaluation import ENSEMBLE_ROLE
from labelrobust.evaluation.outcomes import is_broken, merge_worst, metrics_of, ordered
from labelrobust.metrics.robustness import robust_accuracy, stability_ratio, survival_rate
from tests.evaluation.cells import breaking, cell, ensemble, report

LABELS = [0, 1, 2, 1, 0, 2, 1]
CLEAN = [0, 1, 2, 2, 0, -1, 0]
"""Samples 3 and 6 are wrong already (3: 2 for 1, 6: 0 for 1); sample 5 abstains."""
ATTACKED = [0, -1, 1, 2, 2, None, 1]
"""0 keeps its class; 1 abstains; 2 and 4 flip; 3 keeps its *wrong* class; 5 is not attacked
(no dominant class); 6 is pushed away from its wrong class — onto its true class."""


def test_survival_is_against_the_clean_prediction_and_robust_accuracy_against_the_label():
    r = report([ensemble("pgd", 0.1, ATTACKED)], labels=LABELS, clean=CLEAN)
    m = r.outcomes[0].metrics
    # robust: clean-correct and still correct — only sample 0; sample 6 ends on its true class
    # but was wrong before the attack, so it is never robust
    assert m["robust_accuracy"] == pytest.approx(1 / 7)
    # survival among the 6 samples with a dominant class: 0 and 3 keep their decision (3's is
    # wrong, and it survived the attack); 6 did not survive although it is now correct
    assert m["survival"] == pytest.approx(2 / 6)
    assert m["attack_success"] == pytest.approx(3 / 4)  # 1, 2, 4 of the clean-correct 0, 1, 2, 4
    assert m["abstain_rate"] == pytest.approx(2 / 7)  # 1 at its adversarial point, 5 already clean
    assert m["clean_accuracy"] == pytest.approx(4 / 7) and m["stability_ratio"] == pytest.approx(0.25)
    assert m["target_hit_rate"] is None
    # the pure metric functions agree (metrics/robustness.py, shared with the studies)
    adv, labels, clean = r.outcomes[0].adv_pred, torch.tensor(LABELS), torch.tensor(CLEAN)
    assert adv.tolist() == [0, -1, 1, 2, 2, -1, 1]
    assert robust_accuracy(adv, labels, clean) == pytest.approx(m["robust_accuracy"])
    assert robust_accuracy(adv, labels) == pytest.approx(2 / 7)  # without clean_pred: sample 6 would count
    assert survival_rate(clean, adv) == pytest.approx(m["survival"])
    assert stability_ratio(m["robust_accuracy"], m["clean_accuracy"]) == pytest.approx(0.25)
    assert r.worst_case() == {0.1: pytest.approx(1 / 7)} and r.clean_accuracy == pytest.approx(4 / 7)


def test_a_clean_wrong_sample_survives_only_if_its_wrong_decision_does():
    labels, clean = [1, 1], [2, 2]  # both wrong already
    kept, moved = [2, 2], [2, 0]
    assert report([ensemble("a", 0.1, kept)], labels=labels, clean=clean).outcomes[0].metrics["survival"] == 1.0
    m = report([ensemble("a", 0.1, moved)], labels=labels, clean=clean).outcomes[0].metrics
    assert m["survival"] == 0.5 and m["robust_accuracy"] == 0.0 and m["attack_success"] is None


def test_counted_decisions_of_diagnostics_and_of_the_ensemble():
    n = 10
    cells = [
        cell("probe", 0.1, breaking(n, {0, 1})),
        cell("probe", 0.2, breaking(n, {2}, attacked=range(2, n))),  # nested: 0 and 1 not attacked again
        ensemble("first", 0.1, breaking(n, {3}, attacked=range(2, n)), order=1),  # after the probe at 0.1
        ensemble("second", 0.1, breaking(n, {4}, attacked=range(4, n)), order=2),  # the active set
        ensemble("first", 0.2, breaking(n, {5}, attacked=range(5, n)), order=1),
        ensemble("second", 0.2, breaking(n, set(), attacked=range(6, n)), order=2),
    ]
    r = report(cells)
    acc = {(o.label, o.eps): o.robust_accuracy for o in r.outcomes}
    assert acc[("probe", 0.1)] == pytest.approx(0.8) and acc[("probe", 0.2)] == pytest.approx(0.7)  # carries 0 and 1
    # an ensemble row is the worst case so far: every cell before it in run order
    assert acc[("first", 0.1)] == pytest.approx(0.7) and acc[("second", 0.1)] == pytest.approx(0.6)
    assert acc[("first", 0.2)] == pytest.approx(0.4) and acc[("second", 0.2)] == pytest.approx(0.4)
    assert r.worst_case() == {0.1: pytest.approx(0.6), 0.2: pytest.approx(0.4)}
    assert [(o.label, o.eps) for o in ordered(r.outcomes)] == [
        ("probe", 0.1), ("first", 0.1), ("second", 0.1), ("probe", 0.2), ("first", 0.2), ("second", 0.2)]
    assert r.outcomes[1].attacked == 8 and r.outcomes[0].attacked == 10


def test_worst_case_takes_every_cell_at_or_below_each_radius_and_never_rises():
    n = 20
    cells = [cell("a", 0.1, breaking(n, {0, 1, 2})), cell("b", 0.2, breaking(n, {5})), cell("c", 0.3, breaking(n, {3, 4})),
             cell("large", 0.5, breaking(n, set(range(n))), fixed_eps=True)]
    r = report(cells)
    worst = r.worst_case()
    assert list(worst) == [0.1, 0.2, 0.3]  # the fixed-radius sanity run is no point of the curve
    assert list(worst.values()) == [pytest.approx(17 / 20), pytest.approx(16 / 20), pytest.approx(14 / 20)]
    assert all(a >= b for a, b in zip(list(worst.values()), list(worst.values())[1:]))
    assert (r.worst_pred(0.5) != 0).all()  # the large-eps run counts where its radius is reached
    assert r.worst_case_metrics()[0.2]["survival"] == pytest.approx(16 / 20)


def test_targeted_hits_win_over_mere_changes():
    clean = torch.tensor([0, 0, 0])
    cells = [cell("a", 0.1, [1, 2, 0], order=0), cell("b", 0.1, [2, 1, None], order=1)]  # target 2
    worst = merge_worst(clean, ordered(cells), target=2)
    assert worst.tolist() == [2, 2, 0]
    assert is_broken(worst, clean, 2).tolist() == [True, True, False]
    assert is_broken(torch.tensor([1, 0]), torch.tensor([0, 0]), None).tolist() == [True, False]
    r = report(cells, labels=[0, 0, 0], clean=clean, target=2)
    assert r.worst_case_metrics()[0.1]["target_hit_rate"] == pytest.approx(2 / 3)


def test_metrics_of_an_empty_or_fully_abstaining_split():
    labels, clean = torch.tensor([0, 1]), torch.tensor([-1, -1])
    m = metrics_of(clean.clone(), labels, clean, None)
    assert m["survival"] is None and m["robust_accuracy"] == 0.0 and m["stability_ratio"] is None and m["attack_success"] is None


def test_rows_say_what_ran_and_what_it_cost():
    o = ensemble("pgd", 0.1, [0, 1, None], order=3)
    o.cost = {"forwards": 40, "gradients": 30}
    o.skipped_active = 1
    report([o], labels=[0, 0, 0])
    row = o.row()
    assert (row["role"], row["attack"], row["kind"], row["objective"], row["adaptive"]) == (ENSEMBLE_ROLE, "pgd", "white-box", "margin", True)
    assert (row["n"], row["attacked"], row["skipped_active"], row["forwards"], row["gradients"], row["source_gradients"]) == (3, 2, 1, 40, 30, 0)
    assert row["budget"] == {"steps": 20, "restarts": 1, "targets": 0} and row["flags"] == "" and row["stale"] is False
    assert row["robust_accuracy"] == pytest.approx(2 / 3) and row["eps_text"] == "0.1"
