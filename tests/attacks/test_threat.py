"""Threat models: random starts and projections stay in the ball (property tests); the L2
ascent direction has norm 1 however small the gradient; radii are checked against the input
domain, not capped at 1; eps parsing."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.attacks import L2, Linf, make_threat_model, parse_eps
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError


@settings(max_examples=50, deadline=None)
@given(norm=st.sampled_from(["linf", "l2"]), eps=st.floats(0.0, 1.0), scale=st.floats(0.0, 10.0), seed=st.integers(0, 1000))
def test_random_start_and_projection_stay_in_the_ball(norm, eps, scale, seed):
    torch.manual_seed(seed)
    threat = make_threat_model(norm, eps)
    x = torch.rand(4, 1, 5, 5)
    p = float("inf") if norm == "linf" else 2
    start = threat.random_start(x)
    assert (start.flatten(1).norm(p=p, dim=1) <= eps * (1 + 1e-5) + 1e-7).all()
    delta = scale * torch.randn_like(x)
    projected = threat.project(delta)
    assert (projected.flatten(1).norm(p=p, dim=1) <= eps * (1 + 1e-5) + 1e-7).all()
    inside = threat.project(projected)
    assert torch.allclose(inside, projected, atol=1e-6)  # projecting twice changes nothing


def test_eps_parsing_and_errors():
    assert parse_eps("8/255") == pytest.approx(8 / 255)
    assert parse_eps(0.3) == 0.3
    with pytest.raises(ConfigError, match="fraction like 8/255"):
        parse_eps("eight")
    with pytest.raises(ConfigError, match="l2 eps must be a finite number ≥ 0"):
        make_threat_model("l2", -0.5)
    with pytest.raises(ConfigError, match="unknown norm 'l1'"):
        make_threat_model("l1", 0.1)


def test_l2_direction_of_an_underflowing_gradient_has_norm_one():
    """The squares of 1e-20 underflow in float32: dividing by that norm gave 1.4e-8, not 1."""
    assert L2(0.5).ascent_direction(torch.full((1, 2), 1e-20)).norm().item() == pytest.approx(1.0, rel=1e-6)
    tiny = torch.tensor([[3e-30, -4e-30], [3.0, 4.0], [0.0, 1e-44]])
    direction = L2(0.5).ascent_direction(tiny)
    torch.testing.assert_close(direction, torch.tensor([[0.6, -0.8], [0.6, 0.8], [0.0, 1.0]]))
    images = torch.full((2, 1, 8, 8), 1e-25)
    assert torch.allclose(L2(1.0).ascent_direction(images).flatten(1).norm(dim=1), torch.ones(2))
    zero = L2(0.5).ascent_direction(torch.zeros(2, 3))
    assert torch.equal(zero, torch.zeros(2, 3))  # a zero gradient gives no direction, and no NaN
    assert torch.equal(Linf(0.1).ascent_direction(torch.tensor([[1e-30, -1e-30, 0.0]])), torch.tensor([[1.0, -1.0, 0.0]]))


@settings(max_examples=50, deadline=None)
@given(exponent=st.integers(-44, 30), seed=st.integers(0, 1000))
def test_l2_direction_is_a_unit_vector_at_every_scale(exponent, seed):
    torch.manual_seed(seed)
    grad = torch.randn(3, 1, 4, 4) * 10.0**exponent
    norms = L2(1.0).ascent_direction(grad).flatten(1).norm(dim=1)
    nonzero = grad.flatten(1).abs().amax(1) > 0
    assert torch.allclose(norms[nonzero], torch.ones(int(nonzero.sum())), atol=1e-5)


def test_radius_is_checked_against_the_domain_not_capped_at_one():
    # L∞ 1.5 is a radius smaller than the box [−1, 1] (width 2), and meaningless on pixels
    threat = make_threat_model("linf", 1.5)
    threat.check_domain((2,), Box(-1, 1))
    with pytest.raises(ConfigError, match=r"eps 1\.5 \(linf\) exceeds the largest linf distance between two 2 inputs in \[0, 1\] \(1\).*write 8/255, not 8"):
        threat.check_domain((2,), UNIT_BOX)
    make_threat_model("l2", 8.0).check_domain((1, 8, 8))  # the L2 diameter of 8×8 pixels is 8
    with pytest.raises(ConfigError, match=r"method\.eps 8\.5 \(l2\) exceeds .*1×8×8 inputs in \[0, 1\] \(8\)"):
        make_threat_model("l2", 8.5).check_domain((1, 8, 8), UNIT_BOX, "method.eps")
    assert make_threat_model("l2", 1).diameter((2,), Box(-1, 1)) == pytest.approx(2 * 2**0.5)
