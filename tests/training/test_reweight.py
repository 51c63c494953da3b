"""Instance weights: the sigmoid formula, per-batch normalisation, burn-in, config checks."""

from __future__ import annotations

import math

import pytest
import torch

from labelrobust.config import MethodConfig
from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space
from labelrobust.training.methods import describe, make_method
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


def test_presets_resolve_to_the_papers_settings():
    space = make_label_space("onehot", 10)
    method, weighting = make_method(MethodConfig("clirat", {"eps": 0.3}), space)
    assert method.name == "at" and (weighting.margin, weighting.gamma, weighting.bias) == ("cl-pm", 10.0, -0.5)
    method, weighting = make_method(MethodConfig("clir-trades", {"eps": "8/255"}), space)
    assert method.name == "trades" and method.params.trades_beta == 5.0 and (weighting.gamma, weighting.bias) == (2.0, 0.0)
    assert method.inner.threat.eps == pytest.approx(8 / 255) and method.inner.step_size == pytest.approx(2 / 255)
    method, weighting = make_method(MethodConfig("mart", {"eps": 0.1, "reweight": "pm", "gamma": 3.0}), space)
    assert method.params.mart_lambda == 6.0 and (weighting.margin, weighting.gamma, weighting.bias) == ("pm", 3.0, -0.5)
    assert weighting.active(0) and not make_method(MethodConfig("mail-at", {"eps": 0.1, "burn_in": 2}), space, epochs=5)[1].active(1)
    # a preset's defaults are defaults: the user's parameters win, except the margin the preset is
    method, weighting = make_method(MethodConfig("mail-trades", {"eps": 0.1, "trades_beta": 1.0, "gamma": 4.0}), space)
    assert method.params.trades_beta == 1.0 and weighting.gamma == 4.0 and weighting.margin == "pm"
    assert describe(method)["preset"] == "mail-trades" and describe(method)["reweight"]["gamma"] == 4.0
    assert make_method(MethodConfig("at", {"eps": 0.1}), space)[1] is None


@pytest.mark.parametrize(
    "cfg, message",
    [
        (MethodConfig("clirat", {"eps": 0.3, "reweight": "pm"}), r"method 'clirat' is at with reweight cl-pm; for reweight pm use method at with params \{reweight: pm\}"),
        (MethodConfig("standard", {"reweight": "pm"}), "method 'standard' has no parameter 'reweight'; accepted: none"),
        (MethodConfig("noise", {"noise_std": 0.1, "burn_in": 2}), "method 'noise' has no parameter 'burn_in'; accepted: noise_std"),
        (MethodConfig("at", {"eps": 0.3, "gamma": 2.0}), "method 'at': gamma, bias and burn_in set the instance weights; they need reweight pm or cl-pm"),
        (MethodConfig("at", {"eps": 0.3, "reweight": "margin"}), "method 'at': reweight must be one of none, cl-pm, pm, got 'margin'"),
        (MethodConfig("clirat", {"eps": 0.3, "gamma": -1.0}), "method 'clirat': gamma must be a finite number > 0, got -1.0"),
        (MethodConfig("clirat", {"eps": 0.3, "bias": float("nan")}), "method 'clirat': bias must be a finite number"),
        (MethodConfig("clirat", {"eps": 0.3, "burn_in": 5}), "method 'clirat': burn_in=5 covers all 5 epochs"),
        (MethodConfig("clirat", {"eps": 0.3, "burn_in": -1}), "method 'clirat': burn_in must be an integer ≥ 0, got -1"),
    ],
)
def test_bad_weightings_fail_before_training(cfg, message):
    with pytest.raises(ConfigError, match=message):
        make_method(cfg, make_label_space("onehot", 10), epochs=5)
