"""The named suites: every attack of every suite builds at both norms, each suite states its
budget from its attacks' own descriptions, probes compare the own loss with the class scores at
one budget, the default suite has APGD and a black-box attack in its ensemble; the full suites
run end to end on a few samples."""

from __future__ import annotations

import re

import pytest

from labelrobust.errors import ConfigError
from labelrobust.evaluation import DIAGNOSTIC_ROLE, ENSEMBLE_ROLE, SUITES, evaluate_attacks, get_suite, run_checks
from labelrobust.evaluation.progress import budget_units
from labelrobust.evaluation.specs import effort
from tests.evaluation.cells import first


@pytest.mark.parametrize("name", sorted(SUITES))
def test_every_suite_builds_and_states_its_budget(name):
    suite = SUITES[name]
    for norm, eps in (("linf", 0.1), ("l2", 1.0)):
        for spec in suite.specs:
            assert spec.build(norm, eps).describe().name == spec.attack
    text = suite.budget()
    if not suite.specs:
        assert text == "no attack"
        return
    units = sum(budget_units(s.describe("linf", 0.1)) for s in suite.specs)
    assert re.fullmatch(r"at most \d+ gradient-pass units per sample and eps \(.*\)", text) and f"at most {units:.0f} " in text


def test_labels_are_unique_and_probes_compare_like_with_like():
    for name, suite in SUITES.items():
        labels = [s.label for s in suite.specs]
        assert len(labels) == len(set(labels)), name
        probes = [s.describe("linf", 0.1) for s in suite.specs if s.role == DIAGNOSTIC_ROLE]
        if probes:  # own loss and an adaptive objective, same attack and budget: own-loss-only can compare them
            own = {(d.name, effort(d.budget)) for d in probes if not d.adaptive}
            adaptive = {(d.name, effort(d.budget)) for d in probes if d.adaptive}
            assert own & adaptive, name


def test_the_standard_suite_is_apgd_and_black_box_on_the_active_set():
    specs = get_suite("standard")
    ensemble = [s.describe("linf", 0.1) for s in specs if s.role == ENSEMBLE_ROLE]
    assert any(d.budget.get("schedule") == "apgd" and d.budget.get("targets") for d in ensemble)
    assert any(d.name == "apgd-ce" for d in ensemble)
    assert ensemble[-1].kind == "black-box" and ensemble[-1].budget["n_queries"] <= 1000  # Square last, on what is left
    assert get_suite("standard") is not get_suite("standard") and get_suite("standard") == specs  # a copy each time


def test_unknown_suite():
    with pytest.raises(ConfigError, match="unknown suite 'fast'; known: clean, quick, standard, autoattack"):
        get_suite("fast")


@pytest.mark.slow
@pytest.mark.parametrize("suite", ["standard", "autoattack"])
def test_the_full_suites_run_end_to_end(trained, suite):
    """Every attack of the suite, the black-box and published ones included, on a few samples
    at a large radius (most samples fall to the probes, so the ensemble stays cheap)."""
    exp = trained("onehot")
    report = evaluate_attacks(exp.model, exp.space, first(exp.dataset.test, 16), get_suite(suite), [0.3], quiet=True)
    assert {o.label for o in report.outcomes} == {spec.label for spec in get_suite(suite)}
    worst = report.worst_case()[0.3]
    assert all(worst <= o.robust_accuracy + 1e-9 for o in report.outcomes)
    ensemble = [o for o in report.outcomes if o.role == ENSEMBLE_ROLE]
    assert ensemble[-1].robust_accuracy == pytest.approx(worst)  # the last ensemble row is the worst case
    flags = {f.name: f.ok for f in run_checks(report, [])}
    assert flags.get("fgsm-beats-pgd") is not False and flags.get("black-box-beats-white-box") is not False
