"""Robust evaluation: attack specs and suites, per-sample outcomes with nested eps and an active
set across attacks, the gradient-masking checks, and the result files.

- ``specs.py``: what runs (an attack, its parameters, its role: ensemble or diagnostic);
- ``suites.py``: the named suites and their budgets;
- ``runner.py``: ``evaluate_attacks`` — which samples each (attack, eps) cell attacks;
- ``outcomes.py``: cells, counted decisions, worst case, robust accuracy and survival;
- ``checks.py``: the sanity checks, per cell;
- ``run_dir.py``: ``robust_evaluate_run`` on a run directory and its files;
- ``transfer_matrix.py``, ``plots.py``, ``progress.py``, ``state.py``.

The metric formulas themselves are pure functions in ``labelrobust.metrics``.
"""

from labelrobust.evaluation.checks import Flag, run_checks, zero_gradient_check
from labelrobust.evaluation.outcomes import Outcome, RobustReport
from labelrobust.evaluation.run_dir import read_results, results_stem, robust_evaluate_run, robust_evaluate_targets
from labelrobust.evaluation.runner import evaluate_attacks
from labelrobust.evaluation.specs import DIAGNOSTIC_ROLE, ENSEMBLE_ROLE, HALF_DIAMETER, AttackSpec
from labelrobust.evaluation.suites import SUITES, Suite, get_suite

__all__ = [
    "DIAGNOSTIC_ROLE", "ENSEMBLE_ROLE", "HALF_DIAMETER", "SUITES", "AttackSpec", "Flag", "Outcome", "RobustReport", "Suite",
    "evaluate_attacks", "get_suite", "read_results", "results_stem", "robust_evaluate_run", "robust_evaluate_targets", "run_checks", "zero_gradient_check",
]
