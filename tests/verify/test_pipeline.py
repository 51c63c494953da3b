"""Soundness of the staged verifier on hundreds of random queries of tiny networks, where the
truth is known from a fine grid (2-D inputs) or the box's vertices and dense sampling."""

import math

import pytest
import torch
from torch import nn

from labelrobust.errors import ConfigError
from labelrobust.models.base import Normalized
from labelrobust.verify.input_sets import InputSet, linf_ball
from labelrobust.verify.pipeline import VerifyConfig, make_query, verify_query
from labelrobust.verify.properties import argmax_property, linear_property, top2_property
from labelrobust.verify.verdict import NOT_ROBUST, ROBUST, UNKNOWN

FAST = VerifyConfig(timeout=30, attack_steps=8, attack_restarts=1)


def _tiny_net(seed: int, inputs: int, width: int, outputs: int, depth: int = 2) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    d = inputs
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    layers.append(nn.Linear(d, outputs))
    return Normalized(nn.Sequential(*layers), (0.5,) * inputs, (0.5,) * inputs, input_ndim=1).eval()


def _grid(box: InputSet, steps: int = 161) -> torch.Tensor:
    axes = [torch.linspace(float(lo), float(hi), steps, dtype=torch.float64) for lo, hi in zip(box.lower, box.upper)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(axes))


def _margins(model, prop, points):
    with torch.no_grad():
        return prop.margin(model.double()(points.double())).float().double()


def _check_against_truth(verdict, query, truth_max: float, slack: float) -> None:
    """robust ⇒ no sampled point violates; not robust ⇒ a float64 counterexample in the set;
    and, for complete answers, agreement with the sampled maximum up to ``slack``."""
    if verdict.status == ROBUST:
        assert truth_max < 0, f"robust, but a sampled point has margin {truth_max}"
        assert verdict.upper_bound < 0
    elif verdict.status == NOT_ROBUST:
        point = verdict.counterexample
        assert point is not None and bool(query.input_set.contains(point[None], 1e-12).all())
        with torch.no_grad():
            margin = query.prop.margin(query.reference(point[None].reshape(1, *query.input_set.shape)))
        assert float(margin) >= 0
        assert truth_max >= -slack, f"not robust, but the dense grid's best margin is {truth_max}"
    else:
        pytest.fail(f"tiny query left unknown: {verdict.reason}")


@pytest.mark.parametrize("seed", range(6))
def test_two_dimensional_queries_agree_with_a_fine_grid(seed):
    """120 queries: 2-D inputs, where a 161×161 grid of the box is as good as enumeration."""
    model = _tiny_net(seed, 2, 8, 4)
    g = torch.Generator().manual_seed(seed)
    counts = {ROBUST: 0, NOT_ROBUST: 0}
    for q in range(20):
        x = torch.rand(2, generator=g)
        eps = float(torch.empty(1).uniform_(0.01, 0.3, generator=g))
        box = linf_ball(x, eps)
        with torch.no_grad():
            target = int(model(x[None]).argmax())
        prop = argmax_property(target, 4) if q % 2 else top2_property(target, 4)
        query = make_query(model, box, prop)
        verdict = verify_query(query, FAST if q % 3 else VerifyConfig(timeout=30, attack_steps=0))
        grid = _grid(box)
        truth = float(_margins(model, prop, grid).max())
        # the margin is Lipschitz; the grid spacing bounds how far the true max can be above the grid's
        _check_against_truth(verdict, query, truth, slack=0.05 * eps)
        counts[verdict.status] += 1
    assert counts[ROBUST] + counts[NOT_ROBUST] == 20


@pytest.mark.parametrize("seed", range(4))
def test_vertex_and_sample_checks_on_wider_inputs(seed):
    """80 queries on 6-D inputs: never robust where a vertex or a random point violates."""
    model = _tiny_net(100 + seed, 6, 10, 5)
    g = torch.Generator().manual_seed(seed)
    for q in range(20):
        x = torch.rand(6, generator=g)
        box = linf_ball(x, float(torch.empty(1).uniform_(0.01, 0.25, generator=g)))
        with torch.no_grad():
            target = int(model(x[None]).argmax())
        prop = top2_property(target, 5) if q % 2 else argmax_property(target, 5)
        query = make_query(model, box, prop)
        verdict = verify_query(query, FAST)
        points = torch.cat([box.vertices(), box.sample(4000, g)])
        truth = float(_margins(model, prop, points).max())
        if verdict.status == ROBUST:
            assert truth < 0
        else:
            assert verdict.status == NOT_ROBUST
            _check_against_truth(verdict, query, max(truth, 0.0), slack=math.inf)


def test_milp_alone_agrees_with_the_full_pipeline():
    """The cheap stages change who answers, never the answer."""
    model = _tiny_net(7, 3, 12, 4)
    g = torch.Generator().manual_seed(7)
    milp_only = VerifyConfig(timeout=30, bounds="interval", attack_steps=0, tighten="none")
    for _ in range(15):
        x = torch.rand(3, generator=g)
        box = linf_ball(x, float(torch.empty(1).uniform_(0.02, 0.3, generator=g)))
        with torch.no_grad():
            target = int(model(x[None]).argmax())
        query = make_query(model, box, top2_property(target, 4))
        assert verify_query(query, FAST).status == verify_query(query, milp_only).status


def test_a_general_linear_property_and_the_stage_record():
    model = _tiny_net(3, 2, 6, 3)
    x = torch.tensor([0.4, 0.6])
    with torch.no_grad():
        y = model(x[None])[0].double()
    # unsafe: y_0 ≥ y_0(x) + 10 (far away) — robust at a small radius, decided by the bounds
    prop = linear_property([([[1.0, 0.0, 0.0]], [-(float(y[0]) + 10.0)])], 3)
    verdict = verify_query(make_query(model, linf_ball(x, 0.01), prop), FAST)
    assert verdict.status == ROBUST and verdict.stage in ("interval", "crown") and "interval" in verdict.times
    # unsafe: y_0 ≥ y_0(x) − 1: the clean point itself violates, before any bound is computed
    prop = linear_property([([[1.0, 0.0, 0.0]], [-(float(y[0]) - 1.0)])], 3)
    verdict = verify_query(make_query(model, linf_ball(x, 0.01), prop), FAST)
    assert verdict.status == NOT_ROBUST and verdict.stage == "clean" and torch.equal(verdict.counterexample, x.double())
    assert verdict.details["clean_margin"] == pytest.approx(1.0)
    # unsafe: y_0 ≥ y_0(x) + δ with δ just reachable inside the ball: the attack finds it
    prop = linear_property([([[1.0, 0.0, 0.0]], [-(float(y[0]) + 1e-4)])], 3)
    verdict = verify_query(make_query(model, linf_ball(x, 0.2), prop), FAST)
    assert verdict.status == NOT_ROBUST and verdict.stage in ("attack", "milp") and verdict.weakest_points


def test_milp_disabled_and_a_tiny_timeout_are_unknown_never_robust():
    model = _tiny_net(11, 2, 8, 4)
    x = torch.tensor([0.5, 0.5])
    with torch.no_grad():
        target = int(model(x[None]).argmax())
    # find a radius the bounds cannot decide
    for eps in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5):
        query = make_query(model, linf_ball(x, eps), argmax_property(target, 4))
        verdict = verify_query(query, VerifyConfig(attack_steps=0, milp=False))
        if verdict.status == UNKNOWN:
            assert "milp disabled" in verdict.reason
            assert verify_query(query, VerifyConfig(attack_steps=0, timeout=1e-9)).status == UNKNOWN
            return
    pytest.skip("every radius was decided by the bounds")


def test_query_and_config_errors():
    model = _tiny_net(0, 2, 4, 3)
    with pytest.raises(ConfigError, match="expects 1-D inputs with 2 channels"):
        make_query(model, linf_ball(torch.rand(3), 0.1), argmax_property(0, 3))
    query = make_query(model, linf_ball(torch.rand(2), 0.1), argmax_property(0, 3))
    with pytest.raises(ConfigError, match="input set has 3 values"):
        type(query)(query.network, query.reference, query.model, linf_ball(torch.rand(3), 0.1), query.prop)
    with pytest.raises(ConfigError, match="reads 4 outputs"):
        make_query(model, linf_ball(torch.rand(2), 0.1), argmax_property(0, 4))
    with pytest.raises(ConfigError, match="timeout"):
        VerifyConfig(timeout=0)
    with pytest.raises(ConfigError, match="tighten"):
        VerifyConfig(tighten="always")


@pytest.mark.parametrize("seed", range(4))
def test_milp_optimum_is_the_same_with_crown_or_interval_bounds_on_conv_nets(seed):
    """Sound bounds only prune the MILP, so its exact optimum must not depend on which bounds it
    got; CROWN bounds that cut off a real activation would show up here as a lower optimum. The
    optimum is also never below the margin of sampled points (checked in float64)."""
    from labelrobust.models.base import build_model
    from labelrobust.verify.bounds import crown_bounds, interval_bounds
    from labelrobust.verify.input_sets import layered_neighbourhood
    from labelrobust.verify.milp import solve_milp
    from labelrobust.verify.network import from_torch

    torch.manual_seed(seed)
    model = build_model("multilabel-cnn", input_shape=(1, 8, 10), out_dim=5, mean=(0.1,), std=(0.3,), channels=(2, 3)).eval()
    net = from_torch(model, (1, 8, 10))
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 8, 10, generator=g)
    mask = torch.zeros(8, 10, dtype=torch.bool)
    mask[2:5, 3:6] = True
    box = layered_neighbourhood(x, mask, (0.1, 0.05)) if seed % 2 else linf_ball(x, 0.03)
    with torch.no_grad():
        target = int(model(x[None]).argmax())
    prop = top2_property(target, 5) if seed % 4 < 2 else argmax_property(target, 5)
    coarse = interval_bounds(net, box)
    tight = crown_bounds(net, box, coarse)
    results = [solve_milp(net, box, prop, b, timeout=60, objective_cutoff=None, tighten="none") for b in (coarse, tight)]
    assert all(r.status == "optimal" for r in results), [r.status for r in results]
    assert results[0].objective == pytest.approx(results[1].objective, abs=1e-5)
    sampled = float(_margins(model, prop, box.sample(3000, g).reshape(-1, 1, 8, 10)).max())
    assert results[1].objective >= sampled - 1e-6
