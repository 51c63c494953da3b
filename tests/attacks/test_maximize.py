"""The inner maximisation of training (``make_inner_maximizer``, ``GradientAttack.maximize``):
PGD, FGSM with a random start (fast AT) and FGSM return points inside the ball and the input
domain that raise the objective, spend a fixed budget on every sample, take any objective the
training method passes, and leave the model alone; attacks without an objective are refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from labelrobust.attacks import GradientAttack, make_inner_maximizer
from labelrobust.attacks.base import PassCounter
from labelrobust.domain import Box
from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space

INNER = [("pgd", {"steps": 5}), ("pgd", {"steps": 5, "schedule": "apgd"}), ("fgsm-rs", {}), ("fgsm", {}), ("cw", {"steps": 5})]


def batch(exp, n=100):
    return exp.dataset.test.float_images(slice(0, n)), exp.dataset.test.labels[:n]


def size(delta, norm):
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)


@pytest.mark.parametrize(("norm", "eps"), [("linf", 0.1), ("l2", 1.0)])
@pytest.mark.parametrize(("name", "params"), INNER, ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()))
def test_maximize_stays_in_the_ball_and_raises_the_objective(trained, name, params, norm, eps):
    exp = trained("onehot")
    x, y = batch(exp)
    attack = make_inner_maximizer(name, norm=norm, eps=eps, **params)
    assert isinstance(attack, GradientAttack)
    objective = attack.objective
    counter = PassCounter(exp.model)
    try:
        x_adv = attack.maximize(exp.model, exp.space, x, y)
    finally:
        cost = counter.close()
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert size(x_adv - x, norm).max() <= eps * (1 + 1e-5) and x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        before, after = objective(exp.space, exp.model(x), y, None), objective(exp.space, exp.model(x_adv), y, None)
    assert (after > before).float().mean() > 0.9 and after.mean() > before.mean()
    # a fixed budget on every sample: no early stop, no success test, no final decoding pass
    steps = attack.describe().budget["steps"]
    assert cost.gradients == steps * len(x)
    assert all(p.grad is None for p in exp.model.parameters()) and not exp.model.training


def test_maximize_takes_the_training_methods_objective(trained):
    """TRADES-like methods maximise their own function of the outputs, not the attack's objective."""
    exp = trained("onehot")
    x, y = batch(exp, 50)
    with torch.no_grad():
        clean_probs = exp.space.probabilities(exp.model(x))

    def kl_to_clean(space, outputs, y, target):
        return (clean_probs * (clean_probs.clamp_min(1e-12).log() - space.log_probabilities(outputs))).sum(1)

    for name in ("pgd", "fgsm-rs"):
        attack = make_inner_maximizer(name, norm="linf", eps=0.1)
        x_adv = attack.maximize(exp.model, exp.space, x, y, objective=kl_to_clean)
        with torch.no_grad():
            assert kl_to_clean(exp.space, exp.model(x_adv), y, None).mean() > kl_to_clean(exp.space, exp.model(x), y, None).mean() + 0.01


def test_maximize_stays_in_another_domain():
    """Points in [−1, 1]², eps larger than the unit box would allow: the ball and the box hold."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3)).eval()
    space, box = make_label_space("onehot", 3), Box(-1, 1)
    x = torch.rand(64, 2) * 2 - 1
    x[:4] = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]])  # corners: clipping must act
    with torch.no_grad():
        y = space.decode(model(x))
    for name in ("pgd", "fgsm-rs"):
        for norm, eps in (("linf", 1.2), ("l2", 0.8)):
            x_adv = make_inner_maximizer(name, norm=norm, eps=eps).maximize(model, space, x, y, domain=box)
            assert size(x_adv - x, norm).max() <= eps * (1 + 1e-5) and x_adv.min() >= -1 and x_adv.max() <= 1, (name, norm)
            assert x_adv.min() < 0  # the random start and the steps use the whole box, not [0, 1]


def test_fgsm_rs_is_fast_adversarial_trainings_step():
    attack = make_inner_maximizer("fgsm-rs", norm="linf", eps=0.1)
    assert attack.random_start and attack.step_size == pytest.approx(0.125)  # Wong et al. 2020: α = 1.25·eps
    assert make_inner_maximizer("fgsm-rs", norm="linf", eps=0.1, step_size=0.05).step_size == 0.05


@pytest.mark.parametrize("name", ["square", "autoattack", "apgd-ce", "apgd-dlr"])
def test_attacks_without_an_objective_cannot_be_an_inner_maximisation(name):
    with pytest.raises(ConfigError, match=rf"attack {name!r} cannot be an inner maximisation .*use one of cw, fgsm, fgsm-rs, pgd"):
        make_inner_maximizer(name, norm="linf", eps=0.1)


def test_transfer_cannot_be_an_inner_maximisation():
    source = nn.Linear(2, 2)
    with pytest.raises(ConfigError, match="attack 'transfer' cannot be an inner maximisation"):
        make_inner_maximizer("transfer", norm="linf", eps=0.1, source_model=source, source_space=make_label_space("onehot", 2))
