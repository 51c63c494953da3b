"""Training methods on real digits: per-sample losses against hand computations, the inner
attack's contract, every method on every label space, and errors before training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from labelrobust.config import MethodConfig
from labelrobust.data import load_dataset
from labelrobust.errors import ConfigError
from labelrobust.labels import available_label_spaces, make_label_space
from labelrobust.models import build_model
from labelrobust.training.methods import available_methods, make_method
from labelrobust.training.methods.base import kl_per_sample, log_probabilities
from labelrobust.training.diagnostics import EpochTally
from labelrobust.training.methods.mart import mart_bce
from labelrobust.training.reweight import normalise

SPACES = {"onehot": {}, "smoothing": {}, "soft": {}, "binary": {"scale": 1.0}, "deepbe": {}, "interval": {"alpha": 1.0, "beta": 3.0}, "wasserstein": {}}
ADVERSARIAL = {"eps": 0.1, "steps": 3}


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits", train_size=48, test_size=10, seed=0)
    x = data.train.float_images(slice(0, 48))
    return data, x, data.train.labels[:48]


def model_for(data, space):
    torch.manual_seed(0)
    return build_model("mnist-cnn", input_shape=data.input_shape, out_dim=space.out_dim, mean=data.mean, std=data.std, width=8)


def config(name, **extra):
    base = {} if name in ("standard", "noise") else dict(ADVERSARIAL)
    if name == "noise":
        base["noise_std"] = 0.1
    return MethodConfig(name=name, **{**base, **extra})


def test_every_space_is_covered():
    assert set(SPACES) == set(available_label_spaces())


@pytest.mark.parametrize("space_name", sorted(SPACES))
@pytest.mark.parametrize("method_name", ["standard", "noise", "at", "trades", "mart", "wpgd", "clirat"])
def test_every_method_on_every_label_space(digits, device, space_name, method_name):
    """The contract, on every device under test: per-sample losses on the batch's device, the
    model's mode restored, no parameter gradient from the inner attack, weights and the
    epoch's diagnostics computable from what the method returns."""
    data, x, y = digits
    x, y = x.to(device), y.to(device)
    space = make_label_space(space_name, 10, **SPACES[space_name])
    targets = space.encode(F.one_hot(y, 10).float() * 0.9 + 0.01) if space.requires_soft_targets else space.encode(y)
    model = model_for(data, space).to(device).train()
    method, weighting = make_method(config(method_name), space)
    parts = method.losses(model, model, x, targets, y)
    assert model.training, "the method must restore the model's mode"
    assert all(p.grad is None for p in model.parameters()), "the inner attack must leave no parameter gradient"
    loss = parts.total().mean()
    assert parts.weighted.shape == (48,) and parts.weighted.device == x.device and torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    tally = EpochTally()
    tally.add_loss(parts.total().detach())
    if parts.clean_outputs is not None:
        tally.add_clean(space, parts.clean_outputs, y)
    if method.adversarial:
        assert parts.attacked_outputs.shape == (48, space.out_dim)
        tally.add_attacked(space, parts.attacked_outputs, y, margins=True)
        if weighting is not None:
            weights = normalise(weighting.raw(weighting.margins(space, parts.attacked_outputs, y)))
            assert weights.shape == (48,) and weights.device == x.device
            tally.add_weights(weights)
    flat = tally.to_tensor(device)
    assert flat.device == x.device and EpochTally.from_tensor(flat) == tally


def test_inner_point_stays_in_the_ball_and_raises_the_loss(digits):
    data, x, y = digits
    space = make_label_space("onehot", 10)
    model = model_for(data, space)
    method, _ = make_method(config("at", eps=0.2, steps=5), space)
    x_adv = method.inner_point(model, x, y, method.training_loss_objective(space.encode(y)))
    assert (x_adv - x).abs().max() <= 0.2 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        assert space.loss(model(x_adv), space.encode(y)).mean() > space.loss(model(x), space.encode(y)).mean()


def test_at_loss_is_the_space_loss_at_the_adversarial_point(digits):
    data, x, y = digits
    space = make_label_space("binary", 10, scale=1.0)
    model = model_for(data, space).eval()
    method, _ = make_method(config("at"), space)
    parts = method.losses(model, model, x, space.encode(y), y)
    assert torch.allclose(parts.weighted, space.loss(parts.attacked_outputs, space.encode(y)), atol=1e-6)
    assert parts.rest is None


def onehot_parts_and_kl(digits, name, **settings):
    """A method's loss parts on a one-hot model, with p(x), p(x') and KL(p(x) ‖ p(x')) by hand."""
    data, x, y = digits
    space = make_label_space("onehot", 10)
    model = model_for(data, space).eval()
    method, _ = make_method(config(name, **settings), space)
    parts = method.losses(model, model, x, space.encode(y), y)
    p_clean, p_adv = F.softmax(parts.clean_outputs, 1), F.softmax(parts.attacked_outputs, 1)
    return parts, p_clean, (p_clean * (p_clean.log() - p_adv.log())).sum(1)


def test_trades_parts_by_hand(digits):
    parts, _, kl = onehot_parts_and_kl(digits, "trades", trades_beta=2.0)
    y = digits[2]
    assert torch.allclose(parts.weighted, 2.0 * kl, atol=1e-5)
    assert torch.allclose(parts.rest, F.cross_entropy(parts.clean_outputs, y, reduction="none"), atol=1e-5)
    assert (parts.weighted > 0).all()  # the inner point moved the prediction


def test_mart_parts_by_hand(digits):
    log_p = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]]).log()
    assert mart_bce(log_p, torch.tensor([0, 0])).tolist() == pytest.approx(
        [-math.log(0.6) - math.log(1.0001 - 0.3), -math.log(0.2) - math.log(1.0001 - 0.7)], rel=1e-5
    )
    parts, p_clean, kl = onehot_parts_and_kl(digits, "mart", mart_lambda=3.0)
    y = digits[2]
    true_clean = p_clean.gather(1, y[:, None]).squeeze(1)
    assert torch.allclose(parts.rest, 3.0 * kl * (1 - true_clean), atol=1e-5)
    assert torch.allclose(parts.weighted, mart_bce(F.log_softmax(parts.attacked_outputs, 1), y), atol=1e-5)


def test_wpgd_objective_is_the_wasserstein_loss_on_probabilities():
    cost = [[0, 1, 4], [1, 0, 2], [4, 2, 0]]
    space = make_label_space("binary", 3, scale=1.0)
    method, _ = make_method(MethodConfig(name="wpgd", eps=0.1, cost=cost, power=2.0, wasserstein_lam=0.5), space)
    outputs = torch.randn(5, space.out_dim)
    y = torch.tensor([0, 1, 2, 0, 1])
    p = space.probabilities(outputs)
    c2 = torch.tensor(cost, dtype=torch.float32) ** 2
    entropy = -(p * p.log()).sum(1)
    expected = (c2[y] * p).sum(1) - entropy / (0.5 * math.log(3))
    assert torch.allclose(method.wasserstein_objective(space, outputs, y, None), expected, atol=1e-5)


def test_log_probabilities_and_kl():
    space = make_label_space("interval", 4, alpha=1.0, beta=3.0)
    outputs = torch.randn(6, 1) * 5
    assert torch.allclose(log_probabilities(space, outputs).exp(), space.probabilities(outputs), atol=1e-6)
    p, q = torch.rand(6, 4).softmax(1), torch.rand(6, 4).softmax(1)
    assert torch.allclose(kl_per_sample(p.log(), q.log()), F.kl_div(q.log(), p, reduction="none").sum(1), atol=1e-6)


def test_eps_warmup_ramps_the_inner_radius():
    method, _ = make_method(config("at", eps=0.3, eps_warmup=2), make_label_space("onehot", 10))
    method.start_batch(0.0)
    assert method.pgd.threat.eps == 0.0
    method.start_batch(1.0)
    assert method.pgd.threat.eps == pytest.approx(0.15) and method.pgd.step_size == pytest.approx(2.5 * 0.15 / 3)
    method.start_batch(5.0)
    assert method.pgd.threat.eps == pytest.approx(0.3)


@pytest.mark.parametrize(
    "cfg, message",
    [
        (MethodConfig(name="pgd-at"), "unknown training method 'pgd-at'; known: at, clir-mart"),
        (MethodConfig(name="at"), "needs method.eps, the radius of the inner attack"),
        (MethodConfig(name="at", eps="8/x"), "eps must be a number or a fraction like 8/255"),
        (MethodConfig(name="at", eps=1.5), "eps"),
        (MethodConfig(name="at", eps=0.1, norm="l1"), "unknown norm 'l1'"),
        (MethodConfig(name="at", eps=0.1, objective="hinge"), "unknown attack objective 'hinge'"),
        (MethodConfig(name="noise"), "needs method.noise_std"),
        (MethodConfig(name="noise", noise_std=2.0), "needs method.noise_std"),
        (MethodConfig(name="standard", objective="margin"), "has no inner attack"),
        (MethodConfig(name="trades", eps=0.1, trades_beta=-1.0), "trades_beta must be ≥ 0"),
        (MethodConfig(name="mart", eps=0.1, mart_lambda=-1.0), "mart_lambda must be ≥ 0"),
        (MethodConfig(name="wpgd", eps=0.1, cost=[[0, 1], [1, 0]]), r"method 'wpgd' \(method\.cost, method\.power, method\.wasserstein_lam\): cost matrix must be 10×10"),
    ],
)
def test_bad_methods_fail_before_training(cfg, message):
    with pytest.raises(ConfigError, match=message):
        make_method(cfg, make_label_space("onehot", 10))


def test_available_methods_lists_composites():
    assert {"standard", "noise", "at", "trades", "mart", "wpgd", "mail-at", "clirat", "clir-trades", "clir-mart", "mail-trades", "mail-mart"} == set(available_methods())


def test_wpgd_cost_file_with_text_names_the_file_and_line(tmp_path):
    path = tmp_path / "metric.csv"
    path.write_text("cat,dog\n0,1\n1,0\n")
    with pytest.raises(ConfigError, match=r"method 'wpgd' \(method\.cost.*\): cost matrix .*metric\.csv, line 1: 'cat' is not a number; expected a K×K numeric matrix, comma-separated") as info:
        make_method(MethodConfig(name="wpgd", eps=0.1, cost=str(path)), make_label_space("onehot", 2))
    assert "\n" not in str(info.value)
    path.write_text("0,1\n1,0\n")
    method, _ = make_method(MethodConfig(name="wpgd", eps=0.1, cost=str(path), wasserstein_lam=float("inf")), make_label_space("onehot", 2))
    assert method.metric.lam == float("inf")
