"""The maximal robust layered neighbourhood searches: on synthetic exact oracles (a linear
model, whose robust region is decidable in closed form, and a hidden box), and on a real
small multi-label CNN verified by the full pipeline."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from labelrobust.errors import ConfigError
from labelrobust.verify.input_sets import chebyshev_layers, layered_neighbourhood
from labelrobust.verify.neighbourhood import (
    LayeredProblem,
    SearchSettings,
    binary_search,
    default_layer_weights,
    fixed_cut_weights,
    layer_weights,
    margin_gradient,
    oracle_search,
    run_search,
    sensitivity_cut_weights,
    start_radii,
    verifier_problem,
)
from labelrobust.verify.properties import argmax_property, top2_property
from labelrobust.verify.verdict import NOT_ROBUST, ROBUST, UNKNOWN, Verdict

F64 = torch.float64


def _image(seed: int = 0, size: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1×size×size image in [0.3, 0.7] (no clipping below radius 0.3) and a 3×3 object."""
    g = torch.Generator().manual_seed(seed)
    x = 0.3 + 0.4 * torch.rand(1, size, size, generator=g, dtype=F64)
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[4:7, 4:7] = True
    return x, mask


class LinearOracle:
    """The exact verifier of ``m(x') = a·x' + b`` over the layered box: its maximum is
    ``Σ_p max(a_p lower_p, a_p upper_p) + b`` at a vertex, robust iff it is < 0. With the
    image in [0.3, 0.7] and radii ≤ 0.3 nothing is clipped, so ``M(ε) = m(x) + Σ_d G_d ε_d``
    (``G_d = Σ_{p∈l_d} |a_p|``) and the best ``w·ε`` is the fractional knapsack's."""

    def __init__(self, layers: int = 4, seed: int = 0, margin: float = -1.0, unknown_band: float = 0.0, weights=None) -> None:
        self.x, self.mask = _image(seed)
        g = torch.Generator().manual_seed(seed + 1)
        self.distance = chebyshev_layers(self.mask)
        scale = torch.tensor([1.0, 0.3, 2.0, 0.5] + [1.0] * 20, dtype=F64)[self.distance.flatten()]
        self.a = torch.randn(self.x.numel(), generator=g, dtype=F64) * scale
        self.b = margin - float(self.a @ self.x.flatten())
        self.layers, self.band = layers, unknown_band
        self.weights = weights or default_layer_weights(layers)
        self.cost = [float(self.a[self.distance.flatten() == d].abs().sum()) for d in range(layers)]
        self.asked: list[tuple[tuple[float, ...], Verdict]] = []

    def max_margin(self, eps) -> tuple[float, torch.Tensor]:
        box = layered_neighbourhood(self.x, self.mask, eps)
        top = torch.where(self.a > 0, box.upper, box.lower)
        return float(self.a @ top + self.b), top

    def __call__(self, eps) -> Verdict:
        m, top = self.max_margin(eps)
        if m >= 0:
            verdict = Verdict(NOT_ROBUST, "milp", upper_bound=m, lower_bound=m, counterexample=top, weakest_points=[top])
        elif m >= -self.band:  # an undecided band below the boundary: never to be accepted
            verdict = Verdict(UNKNOWN, "milp", upper_bound=abs(m), lower_bound=m, reason="timeout", weakest_points=[top])
        else:
            verdict = Verdict(ROBUST, "milp", upper_bound=m, lower_bound=m, weakest_points=[top])
        self.asked.append((tuple(eps), verdict))
        return verdict

    def problem(self) -> LayeredProblem:
        gradient = lambda points: self.a.expand(len(points), -1).clone()  # noqa: E731
        return LayeredProblem(self.x, self.distance, self.weights, self, gradient)

    def optimum(self, cap: float = 0.3) -> float:
        """The fractional knapsack: fill layers by w_d/G_d until the slack −m(x) is used."""
        left, total = -(float(self.a @ self.x.flatten()) + self.b), 0.0
        for d in sorted(range(self.layers), key=lambda j: -self.weights[j] / self.cost[j]):
            e = min(left / self.cost[d], cap)
            total += self.weights[d] * e
            left -= self.cost[d] * e
        return total


class BoxOracle:
    """Robust iff ``ε_d < b_d`` for every layer; a counterexample moves only the violating layers."""

    def __init__(self, hidden=(0.05, 0.1, 0.02, 0.2)) -> None:
        self.x, self.mask = _image()
        self.distance = chebyshev_layers(self.mask).flatten()
        self.hidden = hidden
        self.weights = default_layer_weights(len(hidden))
        self.asked: list[tuple[tuple[float, ...], Verdict]] = []

    def __call__(self, eps) -> Verdict:
        over = [d for d, (e, b) in enumerate(zip(eps, self.hidden)) if e >= b]
        m = max(e / b for e, b in zip(eps, self.hidden)) - 1
        point = self.x.flatten().clone()
        for d in over:
            point[self.distance == d] = (point[self.distance == d] + eps[d]).clamp(max=1)
        verdict = Verdict(NOT_ROBUST if over else ROBUST, "milp", upper_bound=m, lower_bound=m, counterexample=point if over else None, weakest_points=[point])
        self.asked.append((tuple(eps), verdict))
        return verdict

    def problem(self) -> LayeredProblem:
        counts = [int((self.distance == d).sum()) for d in range(len(self.hidden))]
        g = torch.zeros(self.x.numel(), dtype=F64)
        for d, (b, n) in enumerate(zip(self.hidden, counts)):
            g[self.distance == d] = 1 / (b * n)
        return LayeredProblem(self.x, self.distance, self.weights, self, lambda p: g.expand(len(p), -1).clone())


# -- the weights -----------------------------------------------------------------------------


def test_fixed_cutting_weights_are_exactly_the_studys():
    assert fixed_cut_weights(4) == (3 / 4, 2 / 4, 1 / 4, 0.0)
    assert fixed_cut_weights(3) == (2 / 3, 1 / 3, 0.0)
    assert fixed_cut_weights(1) == (0.0,)
    with pytest.raises(ConfigError, match="number of layers must be an integer ≥ 1"):
        fixed_cut_weights(0)


def test_sensitivity_cutting_weights_cut_the_least_sensitive_layer_most():
    c = sensitivity_cut_weights([0.4, 0.1, 0.25, 0.4])
    assert c[1] == pytest.approx(3 / 4) and c[0] == c[3] == 0.0 and c[2] == pytest.approx(3 / 8)
    assert sensitivity_cut_weights([0.2, 0.2]) == (0.5, 0.5)


def test_default_weights_and_checked_vectors():
    assert default_layer_weights(4) == (1.0, 0.75, 0.5, 0.25)
    assert layer_weights(None, 2) == (1.0, 0.5)
    assert layer_weights([0, 2.0], 2) == (0.0, 2.0)
    with pytest.raises(ConfigError, match="got 3 weights for 4 layers"):
        layer_weights([1, 1, 1], 4)
    with pytest.raises(ConfigError, match=r"layer weight w_1 must be a finite number ≥ 0, got -0.5"):
        layer_weights([1, -0.5], 2)
    with pytest.raises(ConfigError, match="all 0"):
        layer_weights([0, 0], 2)
    with pytest.raises(ConfigError, match="layer weight w_0 must be a finite number"):
        layer_weights([math.nan, 1], 2)
    assert start_radii(None, 3) == (0.0, 0.0, 0.0)
    with pytest.raises(ConfigError, match="start ε: got 1 radii for 2 layers"):
        start_radii([0.1], 2)
    with pytest.raises(ConfigError, match="start ε_1 must be a finite number ≥ 0"):
        start_radii([0.1, -0.1], 2)


def test_search_settings_are_checked():
    with pytest.raises(ConfigError, match="tolerance must be a finite number > 0"):
        SearchSettings(tolerance=0)
    with pytest.raises(ConfigError, match="cut must be one of fixed, sensitivity"):
        SearchSettings(cut="random")
    with pytest.raises(ConfigError, match="max_calls must be an integer ≥ 1"):
        SearchSettings(max_calls=0)
    with pytest.raises(ConfigError, match="method must be one of search, binary"):
        run_search("grid", LinearOracle().problem())


# -- synthetic exact oracles ---------------------------------------------------------------------


def _accepted_are_robust(oracle, result) -> None:
    """Every accepted probe was a robust verdict on exactly its ε, and the final ε is one of them."""
    truth = {eps: v.status for eps, v in oracle.asked}
    accepted = [p for p in result.probes if p.accepted]
    assert all(p.status == ROBUST and truth[p.eps] == ROBUST for p in accepted)
    assert result.status == ROBUST and result.final.status == ROBUST
    assert result.eps in {p.eps for p in accepted}, "the final ε must carry the verdict of a call on exactly it"
    assert result.calls == len(result.probes) == len(oracle.asked)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("cut", ["fixed", "sensitivity"])
def test_search_reaches_the_linear_optimum_with_fewer_calls_than_binary_search(seed, cut):
    """A linear margin's optimum is a vertex of the knapsack polytope, which the search
    reaches with a balance μ near 1 (only layers within 90% of the best w_d/G_d expand)."""
    oracle = LinearOracle(seed=seed)
    found = oracle_search(oracle.problem(), SearchSettings(cut=cut, balance=0.9))
    _accepted_are_robust(oracle, found)
    assert found.weighted_size >= 0.95 * oracle.optimum()
    assert oracle.max_margin(found.eps)[0] < 0
    base_oracle = LinearOracle(seed=seed)
    base = binary_search(base_oracle.problem(), SearchSettings(cut=cut, balance=0.9))
    _accepted_are_robust(base_oracle, base)
    assert found.calls <= 0.5 * base.calls
    assert found.weighted_size >= base.weighted_size - 0.02 * oracle.optimum()


def test_search_finds_a_hidden_box_and_never_asks_inside_a_counterexamples_orthant():
    oracle = BoxOracle()
    found = oracle_search(oracle.problem(), SearchSettings(max_calls=80))
    _accepted_are_robust(oracle, found)
    best = sum(w * b for w, b in zip(oracle.weights, oracle.hidden))
    assert found.weighted_size >= 0.95 * best
    problem = oracle.problem()
    for k, (_, verdict) in enumerate(oracle.asked):
        if verdict.counterexample is not None:
            rho = problem.radii(verdict.counterexample)
            later = [eps for eps, _ in oracle.asked[k + 1:]]
            assert not any(all(e >= r for e, r in zip(eps, rho)) for eps in later), "a known counterexample's orthant was asked again"


def test_binary_search_bisects_each_layer_to_the_tolerance():
    oracle = BoxOracle()
    found = binary_search(oracle.problem(), SearchSettings(tolerance=1e-3))
    _accepted_are_robust(oracle, found)
    for e, b in zip(found.eps, oracle.hidden):
        assert b - 1e-3 <= e < b
    # per layer ⌈log2(saturation/τ)⌉ probes, plus the clean check
    expected = 1 + sum(math.ceil(math.log2(s / 1e-3)) for s in oracle.problem().saturation)
    assert found.calls == expected


def test_unknown_verdicts_are_never_accepted():
    oracle = LinearOracle(seed=1, unknown_band=0.3)
    for method in ("search", "binary"):
        oracle.asked.clear()
        found = run_search(method, oracle.problem())
        _accepted_are_robust(oracle, found)
        assert any(v.status == UNKNOWN for _, v in oracle.asked), "the band was probed"
        assert all(p.status != UNKNOWN for p in found.probes if p.accepted)
        assert oracle.max_margin(found.eps)[0] < -0.3


def test_a_clean_input_that_is_not_robust_is_reported_and_not_searched():
    for margin, status in ((0.5, NOT_ROBUST), (-0.1, UNKNOWN)):
        oracle = LinearOracle(margin=margin, unknown_band=0.2)
        for method in ("search", "binary"):
            found = run_search(method, oracle.problem())
            assert (found.status, found.calls, found.eps, found.weighted_size) == (status, 1, (0.0,) * 4, 0.0)
            assert "clean input" in found.stop


def test_the_call_limit_is_kept_and_a_start_is_used():
    oracle = LinearOracle(seed=2)
    for method in ("search", "binary"):
        found = run_search(method, oracle.problem(), SearchSettings(max_calls=5))
        assert found.calls <= 5 and found.status == ROBUST
    started = oracle_search(oracle.problem(), start=(0.01, 0.0, 0.0, 0.0))
    assert started.probes[1].eps == (0.01, 0.0, 0.0, 0.0) and all(e >= s for e, s in zip(started.eps, (0.01, 0, 0, 0)))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(-3.0, -0.05), st.sampled_from(["fixed", "sensitivity"]))
def test_every_accepted_eps_is_robust_on_random_linear_oracles(seed, margin, cut):
    oracle = LinearOracle(seed=seed, margin=margin, unknown_band=0.02)
    found = oracle_search(oracle.problem(), SearchSettings(cut=cut, max_calls=30))
    _accepted_are_robust(oracle, found)
    assert found.calls <= 30
    assert all(0 <= e <= s + 1e-12 for e, s in zip(found.eps, oracle.problem().saturation))


def test_result_as_dict_names_the_stages():
    oracle = LinearOracle()
    record = oracle_search(oracle.problem()).as_dict()
    assert record["stages"] == {"milp": record["calls"]} and record["final"]["status"] == ROBUST
    assert len(record["probes"]) == record["calls"] and record["method"] == "search"


# -- the verifier as the oracle ----------------------------------------------------------------


def _tiny_cnn() -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 4)).eval()


def test_margin_gradient_matches_finite_differences():
    model = _tiny_cnn()
    prop = argmax_property(1, 4)
    reference = model.double()
    gradient = margin_gradient(reference, prop, (1, 10, 10))
    x = torch.rand(1, 100, dtype=F64)
    g = gradient(x)[0]
    h = 1e-6
    for i in (0, 37, 99):
        step = torch.zeros(100, dtype=F64)
        step[i] = h
        with torch.no_grad():
            up = prop.margin(reference((x[0] + step).reshape(1, 1, 10, 10)))
            down = prop.margin(reference((x[0] - step).reshape(1, 1, 10, 10)))
        assert float((up - down) / (2 * h)) == pytest.approx(float(g[i]), abs=1e-6)


def test_verifier_problem_refuses_bad_masks_and_too_many_layers():
    model = _tiny_cnn()
    x = torch.rand(1, 10, 10)
    mask = torch.zeros(10, 10, dtype=torch.bool)
    prop = top2_property(0, 4)
    with pytest.raises(ConfigError, match="object mask is empty"):
        verifier_problem(model, x, mask, prop, (1.0, 0.5))
    mask[2:4, 2:4] = True
    with pytest.raises(ConfigError, match=r"has only 7"):
        verifier_problem(model, x, mask, prop, (1.0,) * 8)
    with pytest.raises(ConfigError, match="object mask has shape"):
        verifier_problem(model, x, mask[:5], prop, (1.0, 0.5))


def test_the_final_eps_of_a_real_cnn_is_robust_by_a_full_verifier_call():
    from labelrobust.verify.pipeline import VerifyConfig, make_query, verify_query

    model = _tiny_cnn()
    x = torch.rand(1, 10, 10, generator=torch.Generator().manual_seed(0)) * 0.5
    mask = torch.zeros(10, 10, dtype=torch.bool)
    mask[5:8, 5:8] = True
    with torch.no_grad():
        prop = top2_property(int(model(x[None])[0].argmax()), 4)
    problem = verifier_problem(model, x, mask, prop, (1.0, 0.5), VerifyConfig(timeout=5, attack_steps=10))
    settings_ = SearchSettings(tolerance=0.02, max_calls=8)
    for result in (oracle_search(problem, settings_), binary_search(problem, settings_)):
        assert result.status == ROBUST and result.final.status == ROBUST and result.calls <= 8
        assert result.final.upper_bound < 0 and result.final.stage in result.stages()
        again = verify_query(make_query(model, layered_neighbourhood(x, mask, result.eps), prop), VerifyConfig(timeout=60))
        assert again.status == ROBUST, "the reported ε must be certified by a complete call"
        assert any(e > 0 for e in result.eps)
