"""AutoAttack and APGD through the label space's scores, on models trained on real digits:
identical to the published package on logits, unmasking a code-based space, side-effect free,
bad settings refused."""

from __future__ import annotations

import logging
import sys

import pytest
import torch

from labelrobust.attacks import make_attack
from labelrobust.attacks.scores_model import scores_model
from labelrobust.errors import ConfigError

pyautoattack = pytest.importorskip("pyautoattack")
from pyautoattack.autopgd_base import APGDAttack  # noqa: E402


def batch(exp, n=100):
    return exp.dataset.test.float_images(slice(0, n)), exp.dataset.test.labels[:n]


def test_autoattack_equals_the_published_package_per_sample(trained):
    """Same model, eps, seed, sub-attacks and batches: the same robust flags and the same points
    (measured: 51 of 100 robust at L∞ 0.1, clean 98)."""
    exp = trained("onehot")
    x, y = batch(exp, 50)
    eps = 0.1
    published = pyautoattack.AutoAttack(exp.model, norm="Linf", eps=eps, seed=0, version="custom", attacks=["apgd-ce", "apgd-dlr"])
    their_x, their_pred = published.run_standard_evaluation(x, y, batch_size=50)
    ours = make_attack("autoattack", norm="linf", eps=eps, version="custom", attacks=["apgd-ce", "apgd-dlr"], seed=0, batch_size=50)(exp.model, exp.space, x, y)
    assert torch.equal(ours.success, their_pred != y)
    assert torch.equal(ours.x_adv, their_x)
    with torch.no_grad():
        clean = (exp.model(x).argmax(1) == y).float().mean().item()
    robust = 1 - ours.success.float().mean().item()
    assert 0.2 < robust < clean - 0.2, (robust, clean)  # a radius where the comparison means something
    assert (ours.x_adv - x).abs().max() <= eps + 1e-6


@pytest.mark.parametrize(("norm", "eps", "loss"), [("linf", 0.1, "ce"), ("l2", 1.0, "dlr")])
def test_apgd_equals_the_published_package(trained, norm, eps, loss):
    exp = trained("onehot")
    x, y = batch(exp)
    theirs = APGDAttack(exp.model, n_iter=10, norm={"linf": "Linf", "l2": "L2"}[norm], eps=eps, seed=0, loss=loss).perturb(x, y)
    ours = make_attack(f"apgd-{loss}", norm=norm, eps=eps, n_iter=10)(exp.model, exp.space, x, y)
    assert torch.equal(ours.x_adv, theirs)
    with torch.no_grad():
        assert torch.equal(ours.success, exp.model(theirs).argmax(1) != y)
    with torch.no_grad():
        attacked = int((exp.model(x).argmax(1) == y).sum())  # the package attacks what it classifies correctly
    assert ours.cost.gradients == 11 * attacked  # the initial gradient and 10 iterations, one restart
    assert ours.success.float().mean() > 0.3


def test_scores_model_is_the_logits_of_distribution_spaces(trained):
    onehot, binary = trained("onehot"), trained("binary")
    x, _ = batch(onehot, 16)
    with torch.no_grad():
        assert torch.equal(scores_model(onehot.model, onehot.space)(x), onehot.model(x))
        assert torch.equal(scores_model(binary.model, binary.space)(x), binary.space.scores(binary.model(x)))
    assert not onehot.model.training and not scores_model(onehot.model, onehot.space).training


def test_autoattack_on_scores_removes_the_masking_of_a_code_space(trained):
    """RBC's own loss is flat once every bit clears its scale: PGD on it leaves 68% (measured),
    APGD and AutoAttack on the scores 0%."""
    exp = trained("binary")
    x, y = batch(exp)
    with torch.no_grad():
        clean = (exp.space.decode(exp.model(x)) == y).float().mean().item()
    own = make_attack("pgd", norm="linf", eps=0.3, steps=20, objective="loss")(exp.model, exp.space, x, y)
    own_acc = 1 - own.success.float().mean().item()
    for name, params in [("autoattack", {"version": "custom", "attacks": ["apgd-ce", "apgd-dlr"], "n_iter": 20}), ("apgd-dlr", {"n_iter": 20})]:
        result = make_attack(name, norm="linf", eps=0.3, **params)(exp.model, exp.space, x, y)
        acc = 1 - result.success.float().mean().item()
        assert acc < 0.2 < clean - 0.5, (name, acc, clean)
        assert own_acc > acc + 0.3, (name, own_acc, acc)


def test_model_rng_and_tracer_untouched(trained, caplog):
    """FAB calls backward on the outputs (parameter gradients), every sub-attack re-seeds the
    global RNG, and the dynamic-defence check clears the trace function: none of it may leak."""
    exp = trained("onehot")
    x, y = batch(exp, 16)
    exp.model.train()
    frozen = next(exp.model.parameters())
    frozen.requires_grad_(False)
    previous = sys.gettrace()

    def tracer(frame, event, arg):  # a stand-in for a debugger or coverage tool
        return None

    try:
        torch.manual_seed(7)
        expected = torch.rand(3)
        torch.manual_seed(7)
        sys.settrace(tracer)
        attacks = [
            make_attack("autoattack", norm="linf", eps=0.05, n_iter=5, n_queries=50),  # all four published sub-attacks
            make_attack("apgd-ce", norm="l2", eps=0.5, n_iter=5),
        ]
        with caplog.at_level(logging.DEBUG, logger="auto-attack"):
            for attack in attacks:
                attack(exp.model, exp.space, x, y)
        assert sys.gettrace() is tracer
        sys.settrace(previous)
        assert torch.equal(torch.rand(3), expected)
        assert exp.model.training and not frozen.requires_grad
        assert all(p.requires_grad for p in list(exp.model.parameters())[1:])
        assert all(p.grad is None for p in exp.model.parameters())
        assert "robust accuracy after SQUARE" in caplog.text  # FAB-T and Square did run
    finally:
        sys.settrace(previous)
        frozen.requires_grad_(True)
        exp.model.eval()


def test_bad_settings(trained):
    exp = trained("onehot")
    x, y = batch(exp, 4)
    with pytest.raises(ConfigError, match="unknown sub-attack 'apgd-cw'; known: apgd-ce"):
        make_attack("autoattack", norm="linf", eps=0.1, version="custom", attacks=["apgd-ce", "apgd-cw"])
    with pytest.raises(ConfigError, match="version='custom' needs attacks"):
        make_attack("autoattack", norm="linf", eps=0.1, version="custom")
    with pytest.raises(ConfigError, match="attacks is only used with version='custom'"):
        make_attack("autoattack", norm="linf", eps=0.1, attacks=["apgd-ce"])
    with pytest.raises(ConfigError, match="unknown version 'fast'"):
        make_attack("autoattack", norm="linf", eps=0.1, version="fast")
    with pytest.raises(ConfigError, match="lists a sub-attack twice"):
        make_attack("autoattack", norm="linf", eps=0.1, version="custom", attacks=["square", "square"])
    with pytest.raises(ConfigError, match="takes no objective"):
        make_attack("apgd-ce", norm="linf", eps=0.1, objective="margin")
    with pytest.raises(ConfigError, match="n_iter must be an integer ≥ 1"):
        make_attack("apgd-dlr", norm="linf", eps=0.1, n_iter=0)
    with pytest.raises(ConfigError, match="seed must be an integer ≥ 0"):
        make_attack("autoattack", norm="linf", eps=0.1, seed=-1)
    with pytest.raises(ConfigError, match="has no parameter 'steps'"):
        make_attack("autoattack", norm="linf", eps=0.1, steps=10)
    for name in ("autoattack", "apgd-ce"):
        with pytest.raises(ConfigError, match="is untargeted: the published package picks its own target classes"):
            make_attack(name, norm="linf", eps=0.1)(exp.model, exp.space, x, y, (y + 1) % 10)
