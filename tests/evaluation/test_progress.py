"""Telling the user how long an evaluation takes: budgets in gradient-pass units read from the
attacks' own descriptions, an estimate logged after the first batch, a bar over the cells."""

from __future__ import annotations

import logging

import pytest

from labelrobust.attacks import make_attack
from labelrobust.evaluation import AttackSpec, evaluate_attacks, get_suite
from labelrobust.evaluation.progress import FORWARD_UNIT, Progress, budget_units
from tests.evaluation.cells import first

LOGGER = "labelrobust.evaluation.progress"


def units(name, **params):
    return budget_units(make_attack(name, norm="linf", eps=0.1, **params).describe())


def test_budget_units_per_attack():
    assert units("fgsm") == 1 and units("cw") == 30
    assert units("pgd", steps=20, restarts=2) == 40 and units("pgd", steps=50, targets=3) == 150
    assert units("apgd-ce", n_iter=50) == 50 and units("apgd-dlr", n_iter=10, n_restarts=3) == 30
    assert units("square", n_queries=300) == pytest.approx(300 * FORWARD_UNIT)  # forwards only: a third of a gradient pass
    # AutoAttack: every sub-attack's budget; the targeted ones once per target class
    assert units("autoattack") == pytest.approx(100 + 100 * 9 + 100 * 9 + 5000 * FORWARD_UNIT)
    assert units("autoattack", version="custom", attacks=["apgd-ce", "apgd-dlr"], n_iter=20) == 40


def test_the_estimate_is_logged_after_the_first_batch(trained, caplog):
    exp = trained("onehot")
    images = first(exp.dataset.test, 40)
    specs = [AttackSpec("fgsm", "fgsm"), AttackSpec("pgd", "pgd", {"steps": 3})]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        evaluate_attacks(exp.model, exp.space, images, specs, [0.1, 0.2], batch_size=16, quiet=True)
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    budget = [line for line in lines if line.startswith("budget: ")]
    estimates = [line for line in lines if line.startswith("estimate after the first batch")]
    # the budget of what is to be computed first (fgsm 1 + pgd 3 units, at two radii), then the estimate
    assert budget == ["budget: 4 (attack, eps) cell(s) to compute, at most 8 gradient-pass units per sample over all of them "
                      "(a forward-only query counts 1/3)"]
    assert len(estimates) == 1 and "for 4 (attack, eps) cell(s)" in estimates[0] and "at most ~" in estimates[0]
    assert lines.index(budget[0]) < lines.index(estimates[0])


def test_no_estimate_when_every_cell_is_reused(trained, caplog, tmp_path):
    exp = trained("onehot")
    images = first(exp.dataset.test, 20)
    state = tmp_path / "state.json"
    evaluate_attacks(exp.model, exp.space, images, get_suite("quick")[:1], [0.1], state_path=state, quiet=True)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="labelrobust.evaluation"):
        evaluate_attacks(exp.model, exp.space, images, get_suite("quick")[:1], [0.1], state_path=state, quiet=True)
    assert "1 of 1 (attack, eps) results already in" in caplog.text
    assert "estimate after the first batch" not in caplog.text and "budget: " not in caplog.text


def test_progress_counts_cells_and_estimates_once(caplog):
    progress = Progress([("a", "0.1", 10.0, 100), ("b", "0.1", 1.0, 100)], quiet=True)
    assert progress.total_units == 1100
    with caplog.at_level(logging.INFO, logger=LOGGER):
        progress.start_cell("a", "0.1")
        progress.first_batch(units=500.0, seconds=5.0)  # 0.01 s per unit: at most 11 s in all
        progress.first_batch(units=500.0, seconds=50.0)  # only the first batch of the evaluation
        progress.end_cell(1000.0, 10.0)
        progress.end_cell(100.0, 11.0)
    progress.close()
    lines = [r.getMessage() for r in caplog.records if "estimate" in r.getMessage()]
    assert len(lines) == 1 and "at most ~11 s for 2 (attack, eps) cell(s)" in lines[0]
    assert progress.done_units == 1100
