"""Threat models: random starts and projections stay in the ball (property tests); eps parsing."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.attacks import make_threat_model, parse_eps
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
    with pytest.raises(ConfigError, match=r"L∞ eps must lie in \[0, 1\].*got 8"):
        make_threat_model("linf", 8)
    with pytest.raises(ConfigError, match="l2 eps must be a finite number ≥ 0"):
        make_threat_model("l2", -0.5)
    with pytest.raises(ConfigError, match="unknown norm 'l1'"):
        make_threat_model("l1", 0.1)
