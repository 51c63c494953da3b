"""The backend-neutral MILP builder and the HiGHS backend: exact optima against brute force,
normalised statuses, early stopping on the sign of the optimum, time limits, errors."""

import itertools
import math
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from labelrobust.errors import ConfigError, SolverError
from labelrobust.verify.solvers import (
    CUTOFF,
    INFEASIBLE,
    OPTIMAL,
    TIME_LIMIT,
    Model,
    Objective,
    SolveOptions,
    SolveResult,
    available_solvers,
    open_session,
    solve,
)


def _knapsack(n=10, rows=2, seed=0):
    """A small multi-knapsack: maximise v·x with W x ≤ c, x binary (and its brute-force optimum)."""
    rng = np.random.default_rng(seed)
    w = rng.integers(1, 20, (rows, n)).astype(float)
    v = rng.integers(1, 30, n).astype(float)
    cap = w.sum(axis=1) / 3
    model = Model()
    x = model.add_binaries(n)
    model.add_rows([(sp.csr_matrix(w), x)], -math.inf, cap)
    model.set_objective(x, v)
    best = max(v @ np.array(bits) for bits in itertools.product((0, 1), repeat=n) if (w @ np.array(bits) <= cap).all())
    return model, float(best)


def test_registry_lists_highs():
    assert "highs" in available_solvers()
    with pytest.raises(ConfigError, match="unknown MILP solver 'cplex'; known: highs"):
        open_session(Model(), "cplex")


def test_blocks_map_their_columns_onto_the_model_variables():
    model = Model()
    a = model.add_variables(2, 0.0, 1.0)
    b = model.add_variables(3, -1.0, [1.0, 2.0, 3.0])
    rows = model.add_rows([(np.array([[1.0, 2.0], [0.0, 3.0]]), a), (sp.csr_matrix([[4.0, 0.0, 5.0], [0.0, 6.0, 0.0]]), b[[2, 0, 1]])], [0.0, -1.0], [1.0, 1.0])
    model.add_rows([(sp.identity(2, format="csr"), None)], -math.inf, 0.5)  # columns = variables 0, 1
    assert list(rows) == [0, 1] and model.num_rows == 4 and model.num_variables == 5
    expected = np.array([[1, 2, 0, 5, 4], [0, 3, 6, 0, 0], [1, 0, 0, 0, 0], [0, 1, 0, 0, 0]], dtype=float)
    assert np.array_equal(model.matrix().toarray(), expected)
    lo, hi = model.row_bounds()
    assert list(lo) == [0.0, -1.0, -math.inf, -math.inf] and list(hi) == [1.0, 1.0, 0.5, 0.5]
    model.set_bounds([4], 0.0, 2.5)
    assert model.col_upper[4] == 2.5 and model.bound_changes[-1].tolist() == [4]
    assert model.violation(np.zeros(5)) == 0.0
    assert model.violation(np.array([2.0, 0, 0, 0, 0])) == pytest.approx(1.5)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda m: m.add_variables(2, [1.0, 0.0], 0.5), "lower ≤ upper"),
        (lambda m: m.add_rows([(np.ones((2, 2)), [0, 1]), (np.ones((3, 1)), [0])], 0, 1), "different numbers of rows"),
        (lambda m: m.add_rows([(np.ones((1, 2)), [0, 7])], 0, 1), "outside 0..2"),
        (lambda m: m.add_rows([(np.ones((1, 3)), [0, 1])], 0, 1), "does not match 1 rows and 2 variables"),
        (lambda m: m.add_rows([(np.array([[np.nan, 1.0]]), [0, 1])], 0, 1), "finite coefficients"),
        (lambda m: m.add_rows([], 0, 1), "at least one"),
        (lambda m: m.set_bounds([0], 2.0, 1.0), "lower ≤ upper"),
    ],
)
def test_bad_model_input_is_refused(build, message):
    model = Model()
    model.add_variables(3, 0.0, 1.0)
    with pytest.raises(ConfigError, match=message):
        build(model)


def test_highs_finds_the_brute_force_optimum_and_a_feasible_point():
    for seed in range(3):
        model, best = _knapsack(seed=seed)
        result = solve(model, timeout=30)
        assert result.status == OPTIMAL
        assert result.objective == pytest.approx(best) and result.bound == pytest.approx(best)
        assert model.objective.value(result.values) == pytest.approx(best)
        assert model.violation(result.values) < 1e-6
        relaxed = solve(model, timeout=30, relax=True)
        assert relaxed.status == OPTIMAL and relaxed.objective >= best - 1e-9 and relaxed.nodes == 0


def test_continuous_lp_with_objective_offset_and_minimisation_as_negated_max():
    model = Model()
    x = model.add_variables(2, 0.0, 10.0)
    model.add_rows([(np.array([[1.0, 1.0]]), x)], -math.inf, 4.0)
    session = open_session(model)
    top = session.solve(SolveOptions(timeout=10), Objective.of(x, [2.0, 1.0], offset=3.0))
    assert top.status == OPTIMAL and top.objective == pytest.approx(11.0) and np.allclose(top.values, [4.0, 0.0])
    bottom = session.solve(SolveOptions(timeout=10), Objective.of(x, [1.0, -1.0]))  # min y − x = −max(x − y)
    assert bottom.objective == pytest.approx(4.0)


def test_infeasible_model_reports_infeasible_with_minus_infinite_bound():
    model = Model()
    x = model.add_binaries(2)
    model.add_rows([(np.array([[1.0, 1.0]]), x)], 3.0, math.inf)
    model.set_objective(x, [1.0, 1.0])
    result = solve(model, timeout=10)
    assert result.status == INFEASIBLE and result.bound == -math.inf and result.values is None


def test_cutoff_stops_once_the_sign_is_known_and_stays_sound():
    model, best = _knapsack(n=14, rows=3, seed=4)
    below = solve(model, timeout=30, objective_cutoff=best - 20)
    assert below.status == CUTOFF and below.objective >= best - 20 and below.bound >= best - 1e-6
    above = solve(model, timeout=30, objective_cutoff=best + 0.5)
    assert above.status in (CUTOFF, OPTIMAL) and above.bound < best + 0.5 and above.bound >= best - 1e-6
    assert above.objective <= best + 1e-6


def _hard_lp(n=400, m=300, seed=0):
    rng = np.random.default_rng(seed)
    model = Model()
    x = model.add_variables(n, 0.0, 1.0)
    model.add_rows([(sp.random(m, n, density=0.05, random_state=seed, format="csr"), x)], -math.inf, 1.0)
    model.set_objective(x, rng.random(n))
    return model


def test_time_limits_return_the_time_limit_status_and_apply_to_each_solve():
    model, best = _knapsack(n=16, rows=3, seed=5)
    session = open_session(model)
    quick = session.solve(SolveOptions(timeout=1e-4))
    assert quick.status in (TIME_LIMIT, OPTIMAL)  # a tiny problem may finish at once
    if quick.status == TIME_LIMIT:
        assert quick.bound >= best - 1e-6 and quick.objective <= best + 1e-6
    # HiGHS's LP time limit counts the instance's whole run time: every solve must still get its own.
    lp = _hard_lp()
    session = open_session(lp)
    first = session.solve(SolveOptions(timeout=30))
    assert first.status == OPTIMAL
    rng = np.random.default_rng(1)
    timeout = max(10 * session._highs.getRunTime(), 0.5)
    while session._highs.getRunTime() < 2 * timeout:
        result = session.solve(SolveOptions(timeout=timeout), Objective.of(np.arange(400), rng.random(400)))
        assert result.status == OPTIMAL


def test_sessions_follow_rows_and_bounds_added_later():
    model = Model()
    x = model.add_variables(2, 0.0, 5.0)
    model.set_objective(x, [1.0, 1.0])
    session = open_session(model)
    assert session.solve(SolveOptions(timeout=10)).objective == pytest.approx(10.0)
    model.add_rows([(np.array([[1.0, 2.0]]), x)], -math.inf, 4.0)
    assert session.solve(SolveOptions(timeout=10)).objective == pytest.approx(4.0)  # x0 + 2 x1 ≤ 4
    model.set_bounds([0], 0.0, 1.0)
    y = model.add_binaries(1)
    model.add_rows([(np.array([[1.0, -1.0]]), np.array([x[1], y[0]]))], -math.inf, 0.0)  # x1 ≤ y
    model.set_objective(np.concatenate([x, y]), [1.0, 1.0, -0.25])
    result = session.solve(SolveOptions(timeout=10))
    assert result.objective == pytest.approx(1.0 + 1.0 - 0.25) and result.values[2] == pytest.approx(1.0)


def test_missing_highspy_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "highspy", None)  # import highspy now raises ImportError
    with pytest.raises(SolverError, match=r"pip install highspy"):
        open_session(Model())


def test_a_failing_highs_run_is_a_solver_error(monkeypatch):
    model, _ = _knapsack(n=4)
    session = open_session(model)
    monkeypatch.setattr(session._highs, "run", lambda: session._hs.HighsStatus.kError)
    with pytest.raises(SolverError, match="HiGHS failed to solve the model"):
        session.solve(SolveOptions(timeout=5))

    def boom():
        raise RuntimeError("bad_alloc")

    monkeypatch.setattr(session._highs, "run", boom)
    with pytest.raises(SolverError, match="bad_alloc"):
        session.solve(SolveOptions(timeout=5))


@pytest.mark.parametrize("kwargs, message", [({"timeout": 0}, "timeout"), ({"timeout": 1, "objective_cutoff": math.nan}, "objective_cutoff"), ({"timeout": 1, "rel_gap": -1}, "rel_gap")])
def test_bad_solve_options_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SolveOptions(**kwargs)


def test_solve_result_refuses_unknown_statuses():
    with pytest.raises(ValueError, match="solver status"):
        SolveResult("done", 0.0, 0.0, None, 0.0)


def test_sessions_with_different_thread_counts_follow_each_other():
    # HiGHS keeps one thread pool per process; a session asking for another size resets it
    for threads in (1, 2, 1):
        model, best = _knapsack(n=8, seed=threads)
        result = open_session(model, threads=threads).solve(SolveOptions(timeout=10))
        assert result.status == OPTIMAL and result.objective == pytest.approx(best)
    with pytest.raises(ConfigError, match="solver threads must be an integer ≥ 1"):
        open_session(Model(), threads=0)
