"""Square (black-box) through the label space's scores, on models trained on real digits: it
lowers accuracy, never beats white-box PGD by much, stays in the ball, refuses bad settings."""

from __future__ import annotations

import pytest
import torch

from labelrobust.attacks import make_attack
from labelrobust.errors import ConfigError

pytest.importorskip("pyautoattack")


def batch(exp, n=100):
    return exp.dataset.test.float_images(slice(0, n)), exp.dataset.test.labels[:n]


@pytest.mark.parametrize(("norm", "eps"), [("linf", 0.2), ("l2", 1.0)])
def test_square_lowers_accuracy_but_not_below_white_box(trained, norm, eps):
    """Measured on 100 images (clean 98%): L∞ 0.2 Square-300 7% vs PGD-20-margin 2%;
    L2 1.0 Square-300 15% vs PGD 2%."""
    exp = trained("onehot")
    x, y = batch(exp)
    with torch.no_grad():
        clean = (exp.space.decode(exp.model(x)) == y).float().mean().item()
    square = make_attack("square", norm=norm, eps=eps, n_queries=300)(exp.model, exp.space, x, y)
    pgd = make_attack("pgd", norm=norm, eps=eps, steps=20, objective="margin")(exp.model, exp.space, x, y)
    square_acc, pgd_acc = 1 - square.success.float().mean().item(), 1 - pgd.success.float().mean().item()
    assert clean > 0.9 and square_acc < clean - 0.5, (clean, square_acc)
    assert square_acc >= pgd_acc - 0.05, (square_acc, pgd_acc)
    delta = (square.x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert size.max() <= eps + 1e-5 and square.x_adv.min() >= 0 and square.x_adv.max() <= 1
    # queries only: the initial point, the search, the package's final check, our decoding
    assert square.cost.gradients == 0 and len(x) < square.cost.forwards <= len(x) * (300 + 3 + 1)


def test_square_seeded_and_side_effect_free(trained):
    exp = trained("onehot")
    x, y = batch(exp, 16)
    exp.model.train()
    try:
        torch.manual_seed(3)
        expected = torch.rand(2)
        torch.manual_seed(3)
        first = make_attack("square", norm="linf", eps=0.1, n_queries=30)(exp.model, exp.space, x, y)
        assert torch.equal(torch.rand(2), expected)  # the package's re-seeding did not leak
        again = make_attack("square", norm="linf", eps=0.1, n_queries=30)(exp.model, exp.space, x, y)
        other = make_attack("square", norm="linf", eps=0.1, n_queries=30, seed=1)(exp.model, exp.space, x, y)
        assert torch.equal(first.x_adv, again.x_adv) and not torch.equal(first.x_adv, other.x_adv)
        drawn = []
        for _ in range(2):  # seed=None: the caller's torch seed decides
            torch.manual_seed(4)
            drawn.append(make_attack("square", norm="linf", eps=0.1, n_queries=30, seed=None)(exp.model, exp.space, x, y).x_adv)
        assert torch.equal(*drawn)
        assert exp.model.training and all(p.grad is None and p.requires_grad for p in exp.model.parameters())
    finally:
        exp.model.eval()


def test_bad_settings(trained):
    exp = trained("onehot")
    x, y = batch(exp, 4)
    with pytest.raises(ConfigError, match="n_queries must be an integer ≥ 1, got 0"):
        make_attack("square", norm="linf", eps=0.1, n_queries=0)
    with pytest.raises(ConfigError, match="n_queries must be an integer ≥ 1, got 1.5"):
        make_attack("square", norm="linf", eps=0.1, n_queries=1.5)
    with pytest.raises(ConfigError, match=r"p_init .* must lie in \(0, 1\]"):
        make_attack("square", norm="linf", eps=0.1, p_init=0)
    with pytest.raises(ConfigError, match="attack .square. takes no objective"):
        make_attack("square", norm="linf", eps=0.1, objective="loss")
    with pytest.raises(ConfigError, match="square is untargeted"):
        make_attack("square", norm="linf", eps=0.1)(exp.model, exp.space, x, y, (y + 1) % 10)
    with pytest.raises(ConfigError, match=r"inputs must have shape \(N, C, H, W\), got \(4, 64\)"):
        make_attack("square", norm="linf", eps=0.1)(exp.model, exp.space, x.flatten(1), y)
