"""Transfer attacks between models trained on real digits: weaker than white-box on the victim,
identical to white-box when source and victim are one model, built through make_attack."""

from __future__ import annotations

import pytest
import torch

from labelrobust.attacks import make_attack
from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space

EPS = 0.1


def batch(exp, n=100):
    return exp.dataset.test.float_images(slice(0, n)), exp.dataset.test.labels[:n]


def test_transfer_succeeds_less_than_white_box(trained):
    """Measured: PGD-10 crafted on onehot fools the smoothing model on 21% (white-box on it: 34%)."""
    source, victim = trained("onehot"), trained("smoothing")
    x, y = batch(victim)
    torch.manual_seed(0)
    white = make_attack("pgd", norm="linf", eps=EPS, steps=10)(victim.model, victim.space, x, y)
    torch.manual_seed(0)
    transfer = make_attack("transfer", norm="linf", eps=EPS, source_model=source.model, source_space=source.space, attack_params={"steps": 10})(victim.model, victim.space, x, y)
    assert 0 < transfer.success.float().mean() < white.success.float().mean()
    with torch.no_grad():
        assert torch.equal(transfer.pred, victim.space.decode(victim.model(transfer.x_adv)))
    # the victim only decodes the crafted points; the gradients were the source's
    assert transfer.cost.forwards == len(x) and transfer.cost.gradients == 0
    assert 0 < transfer.cost.source_gradients <= 10 * len(x) and (transfer.x_adv - x).abs().max() <= EPS + 1e-6


def test_transfer_from_the_victim_itself_is_white_box(trained):
    exp = trained("onehot")
    x, y = batch(exp)
    torch.manual_seed(0)
    white = make_attack("pgd", norm="linf", eps=EPS, steps=10, objective="margin")(exp.model, exp.space, x, y)
    torch.manual_seed(0)
    attack = make_attack("transfer", norm="linf", eps=EPS, source_model=exp.model, source_space=exp.space, objective="margin", attack_params={"steps": 10})
    assert attack.objective_name == attack.source.objective_name == "margin"
    transfer = attack(exp.model, exp.space, x, y)
    assert torch.equal(transfer.x_adv, white.x_adv) and torch.equal(transfer.success, white.success)
    assert transfer.cost.source_gradients == white.cost.gradients and transfer.cost.source_forwards == white.cost.forwards


def test_models_untouched(trained):
    source, victim = trained("onehot"), trained("smoothing")
    x, y = batch(victim, 16)
    source.model.train()
    try:
        make_attack("transfer", norm="l2", eps=1.0, source_model=source.model, source_space=source.space, attack="cw", attack_params={"steps": 5})(victim.model, victim.space, x, y)
        assert source.model.training and not victim.model.training
        assert all(p.grad is None for m in (source.model, victim.model) for p in m.parameters())
    finally:
        source.model.eval()


def test_bad_settings(trained):
    exp = trained("onehot")
    x, y = batch(exp, 4)
    src = {"source_model": exp.model, "source_space": exp.space}
    with pytest.raises(ConfigError, match="transfer needs source_model"):
        make_attack("transfer", norm="linf", eps=EPS)
    with pytest.raises(ConfigError, match="transfer needs source_space"):
        make_attack("transfer", norm="linf", eps=EPS, source_model=exp.model)
    with pytest.raises(ConfigError, match="source_space must be a LabelSpace, got str"):
        make_attack("transfer", norm="linf", eps=EPS, source_model=exp.model, source_space="onehot")
    with pytest.raises(ConfigError, match="cannot itself be a transfer attack"):
        make_attack("transfer", norm="linf", eps=EPS, attack="transfer", **src)
    with pytest.raises(ConfigError, match="attack 'pgd' has no parameter 'iterations'"):
        make_attack("transfer", norm="linf", eps=EPS, attack_params={"iterations": 3}, **src)
    with pytest.raises(ConfigError, match="shares this attack's threat model"):
        make_attack("transfer", norm="linf", eps=EPS, attack_params={"eps": 0.5}, **src)
    with pytest.raises(ConfigError, match="attack 'transfer' has no parameter 'steps'"):
        make_attack("transfer", norm="linf", eps=EPS, steps=3, **src)  # configs pass attack_params
    with pytest.raises(ConfigError, match="the source space has 5 classes but the victim's has 10"):
        make_attack("transfer", norm="linf", eps=EPS, source_model=exp.model, source_space=make_label_space("onehot", 5))(exp.model, exp.space, x, y)
