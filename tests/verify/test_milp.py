"""The MIPVerify-style MILP: sound (never below a sampled or vertex margin), exact (its maximiser's
float64 margin is its objective), encodings that agree (top-2 selection = pairwise clauses),
tightening that never changes the optimum, honest time limits, and clear errors."""

import math
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from labelrobust.errors import ConfigError, SolverError
from labelrobust.models.base import build_model
from labelrobust.verify.bounds import Bounds, interval_bounds
from labelrobust.verify.input_sets import InputSet, layered_neighbourhood, linf_ball
from labelrobust.verify.milp import MilpResult, solve_milp
from labelrobust.verify.network import float64_outputs, from_torch, reference_model
from labelrobust.verify.properties import argmax_property, linear_property, top2_property

EXACT = 1e-6


def _mlp(sizes, seed):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1]).double().eval()


def _cnn(seed):
    torch.manual_seed(seed)
    return build_model("multilabel-cnn", input_shape=(1, 8, 10), out_dim=5, mean=(0.1,), std=(0.3,), channels=(2, 2)).double().eval()


def _margins(model, prop, points, shape):
    return prop.margin(float64_outputs(reference_model(model), points, shape))


def _solve(model, box, prop, **kwargs):
    net = from_torch(model, box.shape)
    kwargs.setdefault("objective_cutoff", None)
    return solve_milp(net, box, prop, interval_bounds(net, box), timeout=kwargs.pop("timeout", 60), **kwargs)


def _check_sound_and_exact(model, box, prop, result, samples=3000):
    """Optimum ≥ every sampled (and vertex) margin; the maximiser's float64 margin = objective."""
    assert result.status == "optimal"
    points = box.sample(samples, torch.Generator().manual_seed(0))
    if int(box.free.sum()) <= 8:
        points = torch.cat([points, box.vertices()])
    assert float(_margins(model, prop, points, box.shape).max()) <= result.objective + EXACT
    assert box.contains(result.point[None])[0]
    assert float(_margins(model, prop, result.point[None], box.shape)[0]) == pytest.approx(result.objective, abs=EXACT)
    assert result.bound == pytest.approx(result.objective, abs=1e-5)


@pytest.mark.parametrize("sizes, eps", [((2, 4, 4, 3), 0.4), ((3, 6, 6, 5), 0.25)])
def test_mlp_optimum_is_sound_and_exact_for_argmax_top2_and_linear(sizes, eps):
    k = sizes[-1]
    props = [argmax_property(0, k), linear_property([([[1.0] + [0.0] * (k - 1)], [-0.1]), ([[0.0, 1.0] + [-1.0] * (k - 2)], [0.0])], k)]
    if k >= 3:
        props.append(top2_property(1, k))
    for seed in range(3):
        model = _mlp(sizes, seed)
        box = linf_ball(torch.rand(sizes[0], dtype=torch.float64, generator=torch.Generator().manual_seed(seed)), eps)
        for prop in props:
            _check_sound_and_exact(model, box, prop, _solve(model, box, prop))


def test_conv_maxpool_net_is_sound_and_exact_on_balls_and_layered_neighbourhoods():
    mask = torch.zeros(8, 10, dtype=torch.bool)
    mask[3:5, 2:4] = True
    x0, x1 = (torch.rand(1, 8, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) for seed in (0, 1))
    for model, box in ((_cnn(0), linf_ball(x0, 0.03)), (_cnn(1), layered_neighbourhood(x1, mask, [0.2, 0.05]))):
        result = _solve(model, box, top2_property(1, 5))
        _check_sound_and_exact(model, box, top2_property(1, 5), result)
        assert result.details["maxpool_binaries"] > 0
        fixed = ~box.free
        assert fixed.any() == (box.description["kind"] == "layered")
        assert torch.equal(result.point[fixed], box.center[fixed])  # fixed pixels are constants
        assert result.details["free_inputs"] == int(box.free.sum())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), eps=st.floats(0.05, 0.5), target=st.integers(0, 4))
def test_top2_selection_encoding_equals_the_pairwise_decomposition(seed, eps, target):
    model = _mlp((3, 6, 6, 5), seed)
    box = linf_ball(torch.rand(3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)), eps)
    prop = top2_property(target, 5)
    selection = _solve(model, box, prop, top2_encoding="selection", tighten="none")
    pairwise = _solve(model, box, prop, top2_encoding="pairwise", tighten="none")
    assert selection.status == pairwise.status == "optimal"
    assert selection.objective == pytest.approx(pairwise.objective, abs=EXACT)
    assert pairwise.details["clauses"] <= 6 and selection.details["top2_candidates"] <= 4


def test_top2_selection_equals_pairwise_on_the_conv_net():
    for seed, target in ((0, 0), (1, 3)):
        model = _cnn(seed)
        box = linf_ball(torch.rand(1, 8, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(10 + seed)), 0.02)
        prop = top2_property(target, 5)
        a = _solve(model, box, prop, top2_encoding="selection")
        b = _solve(model, box, prop, top2_encoding="pairwise")
        assert a.objective == pytest.approx(b.objective, abs=EXACT)


def test_top2_on_an_identity_network_is_the_order_statistic_of_the_box():
    # y = x over a box: max(2nd-highest non-target − y_t) = 2nd-highest upper bound of the others − lower of t
    net_model = nn.Sequential(nn.Linear(5, 5)).double().eval()
    with torch.no_grad():
        net_model[0].weight.copy_(torch.eye(5))
        net_model[0].bias.zero_()
    lower = torch.tensor([0.1, 0.5, 0.2, 0.4, 0.0], dtype=torch.float64)
    upper = torch.tensor([0.3, 0.9, 0.7, 0.6, 0.2], dtype=torch.float64)
    box = InputSet(lower, upper, (lower + upper) / 2, (5,))
    for target, expected in [(0, 0.7 - 0.1), (1, 0.6 - 0.5), (2, 0.6 - 0.2)]:
        for encoding in ("selection", "pairwise"):
            result = _solve(net_model, box, top2_property(target, 5), top2_encoding=encoding)
            assert result.objective == pytest.approx(expected, abs=1e-9)
    result = _solve(net_model, box, top2_property(0, 5), top2_encoding="selection")
    assert result.details["top2_candidates"] == 3  # class 4 (upper 0.2) never beats two others (lower ≥ 0.4)


def _tightening_runs(model, box, prop, modes):
    return {mode: _solve(model, box, prop, tighten=mode, min_unstable=1) for mode in modes}


def test_tightening_never_changes_the_optimum_and_reports_what_it_did():
    cases = [(_mlp((3, 6, 6, 5), seed), linf_ball(torch.rand(3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)), 0.3), ("none", "lp", "milp")) for seed in range(3)]
    cases.append((_cnn(0), linf_ball(torch.rand(1, 8, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(20)), 0.02), ("none", "lp")))
    for model, box, modes in cases:
        runs = _tightening_runs(model, box, argmax_property(2, 5), modes)
        values = [r.objective for r in runs.values()]
        assert max(values) - min(values) <= EXACT
        lp = runs["lp"].details
        assert lp["tightening"]["solves"] > 0 and lp["tightening"]["tightened"] >= lp["tightening"]["stabilised"]
        assert lp["binaries"] <= runs["none"].details["binaries"]
        assert runs["none"].details["tightening"]["solves"] == 0


def test_tightening_records_why_it_skips_a_layer():
    model = _mlp((3, 6, 6, 5), 0)
    box = linf_ball(torch.full((3,), 0.5, dtype=torch.float64), 0.3)
    result = _solve(model, box, argmax_property(0, 5), tighten="lp", min_unstable=100)
    layers = result.details["tightening"]["layers"]
    assert layers and "fewer than 100" in layers[0]["skipped"] and layers[0]["solves"] == 0
    assert result.details["unstable_before"] == result.details["unstable"]


def test_stable_units_need_no_binaries_and_a_dominant_pool_input_needs_none():
    model = _cnn(0)
    x = torch.rand(1, 8, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    tiny = _solve(model, linf_ball(x, 1e-7), argmax_property(0, 5))
    assert tiny.details["relu_binaries"] == tiny.details["maxpool_binaries"] == 0
    assert tiny.details["unstable"] == [0, 0]
    clean = float(_margins(model, argmax_property(0, 5), x.reshape(1, -1), (1, 8, 10))[0])
    assert tiny.objective == pytest.approx(clean, abs=1e-5)


def test_cutoff_stops_early_with_the_right_sign():
    for seed in range(4):
        model = _mlp((3, 6, 6, 5), seed)
        box = linf_ball(torch.rand(3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)), 0.2)
        prop = top2_property(seed % 5, 5)
        exact = _solve(model, box, prop).objective
        early = _solve(model, box, prop, objective_cutoff=0.0)
        assert early.status in ("cutoff", "optimal")
        if exact >= 1e-4:
            assert early.objective >= 0 and early.point is not None
        if exact <= -1e-4:
            assert early.bound < 0
        assert early.bound >= exact - EXACT and early.objective <= exact + EXACT


def test_a_time_limit_returns_the_time_limit_status_not_a_wrong_answer():
    model = _mlp((6, 40, 40, 40, 10), 0)
    box = linf_ball(torch.full((6,), 0.5, dtype=torch.float64), 0.5)
    prop = top2_property(0, 10)
    result = _solve(model, box, prop, timeout=0.3, tighten="none")
    assert isinstance(result, MilpResult) and result.status == "time limit"
    points = box.sample(2000, torch.Generator().manual_seed(0))
    assert result.bound >= float(_margins(model, prop, points, box.shape).max())
    if result.point is not None:
        assert float(_margins(model, prop, result.point[None], box.shape)[0]) >= result.objective - EXACT
    assert result.time < 10


def test_network_without_nonlinearity_and_fully_fixed_input():
    model = nn.Sequential(nn.Linear(3, 4)).double().eval()
    x = torch.tensor([0.2, 0.4, 0.6], dtype=torch.float64)
    box = linf_ball(x, 0.1)
    prop = argmax_property(1, 4)
    _check_sound_and_exact(model, box, prop, _solve(model, box, prop))
    fixed = linf_ball(x, 0.0)
    result = _solve(model, fixed, prop)
    assert result.details["free_inputs"] == 0 and torch.equal(result.point, x)
    assert result.objective == pytest.approx(float(_margins(model, prop, x[None], (3,))[0]), abs=1e-12)


def _query():
    model = _mlp((2, 4, 4, 3), 0)
    box = linf_ball(torch.tensor([0.5, 0.5], dtype=torch.float64), 0.1)
    net = from_torch(model, (2,))
    return net, box, argmax_property(0, 3), interval_bounds(net, box)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda q: {**q, "network": "net"}, "needs a verifier Network"),
        (lambda q: {**q, "input_set": linf_ball(torch.zeros(3, dtype=torch.float64), 0.1)}, "the input set has 3 values"),
        (lambda q: {**q, "prop": argmax_property(0, 4)}, "reads 4 outputs, the network has 3"),
        (lambda q: {**q, "prop": "top2"}, "needs an OutputProperty"),
        (lambda q: {**q, "bounds": Bounds(q["bounds"].lower[:-1], q["bounds"].upper[:-1])}, "Bounds with 6 lower and upper"),
        (lambda q: {**q, "bounds": Bounds([q["bounds"].lower[0] + 0.05, *q["bounds"].lower[1:]], q["bounds"].upper)}, "smaller input set"),
        (lambda q: {**q, "bounds": Bounds(q["bounds"].lower, [b + math.inf for b in q["bounds"].upper])}, "NaN or inf"),
        (lambda q: {**q, "timeout": 0}, "timeout must be a finite number > 0"),
        (lambda q: {**q, "top2_encoding": "sorting"}, "top2_encoding must be one of selection, pairwise"),
        (lambda q: {**q, "tighten": "crown"}, "tighten must be one of none, lp, milp"),
        (lambda q: {**q, "threads": 0}, "threads must be an integer ≥ 1"),
        (lambda q: {**q, "solver": "gurobi"}, "unknown MILP solver 'gurobi'"),
        (lambda q: {**q, "objective_cutoff": math.inf}, "objective_cutoff"),
    ],
)
def test_bad_input_is_a_config_error_before_any_solving(change, message):
    net, box, prop, bounds = _query()
    query = change({"network": net, "input_set": box, "prop": prop, "bounds": bounds, "timeout": 10})
    with pytest.raises(ConfigError, match=message):
        solve_milp(query.pop("network"), query.pop("input_set"), query.pop("prop"), query.pop("bounds"), **query)


def test_missing_highspy_is_a_solver_error_naming_the_package(monkeypatch):
    net, box, prop, bounds = _query()
    monkeypatch.setitem(sys.modules, "highspy", None)
    with pytest.raises(SolverError, match="pip install highspy"):
        solve_milp(net, box, prop, bounds, timeout=10)
