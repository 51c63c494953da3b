"""Instance weights: the sigmoid formula, per-batch normalisation, burn-in, config checks."""

from __future__ import annotations

import math

import pytest
import torch

from labelrobust.config import MethodConfig
from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space
from labelrobust.training.methods import make_method
from labelrobust.training.reweight import normalise, unnormalised_weights


def test_weights_by_hand():
    margins = torch.tensor([-0.3, -0.2, 0.5])
    raw = unnormalised_weights(margins, gamma=10.0, bias=-0.5)
    expected = [1 / (1 + math.exp(10 * (m + 0.5))) for m in (-0.3, -0.2, 0.5)]
    assert raw.tolist() == pytest.approx(expected)
    w = normalise(raw)
    assert w.mean().item() == pytest.approx(1.0) and w.argmax().item() == 0  # the riskiest sample weighs most
    assert w.tolist() == pytest.approx([3 * e / sum(expected) for e in expected])


def test_global_normaliser_matches_one_process():
    raw = torch.rand(10)
    whole = normalise(raw)
    halves = torch.cat([normalise(part, total=raw.sum(), count=10) for part in raw.split(5)])
    assert torch.allclose(whole, halves)


def test_composites_resolve_to_the_papers_settings():
    space = make_label_space("onehot", 10)
    method, weighting = make_method(MethodConfig(name="clirat", eps=0.3), space)
    assert method.name == "at" and (weighting.margin, weighting.gamma, weighting.bias) == ("cl-pm", 10.0, -0.5)
    method, weighting = make_method(MethodConfig(name="clir-trades", eps="8/255"), space)
    assert method.name == "trades" and method.beta == 5.0 and (weighting.gamma, weighting.bias) == (2.0, 0.0)
    assert method.pgd.threat.eps == pytest.approx(8 / 255) and method.pgd.step_size == pytest.approx(2 / 255)
    method, weighting = make_method(MethodConfig(name="mart", eps=0.1, reweight="pm", gamma=3.0), space)
    assert method.lam == 6.0 and (weighting.margin, weighting.gamma, weighting.bias) == ("pm", 3.0, -0.5)
    assert weighting.active(0) and not make_method(MethodConfig(name="mail-at", eps=0.1, burn_in=2), space, epochs=5)[1].active(1)


@pytest.mark.parametrize(
    "cfg, message",
    [
        (MethodConfig(name="clirat", eps=0.3, reweight="pm"), "clirat' reweights by cl-pm"),
        (MethodConfig(name="standard", reweight="pm"), "has none \\(use at, trades, mart or wpgd\\)"),
        (MethodConfig(name="at", eps=0.3, gamma=2.0), "need method.reweight pm or cl-pm"),
        (MethodConfig(name="at", eps=0.3, reweight="margin"), "method.reweight must be one of none, cl-pm, pm"),
        (MethodConfig(name="clirat", eps=0.3, gamma=-1.0), "method.gamma must be a finite number > 0"),
        (MethodConfig(name="clirat", eps=0.3, burn_in=5), "covers all 5 epochs"),
    ],
)
def test_bad_weightings_fail_before_training(cfg, message):
    with pytest.raises(ConfigError, match=message):
        make_method(cfg, make_label_space("onehot", 10), epochs=5)
