"""Training methods on real digits: per-sample losses against hand computations, the inner
attack's contract (any gradient attack through ``maximize``; fgsm-rs spends one gradient pass),
every method on every label space, declared parameters, presets, and errors before training."""

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
from labelrobust.attacks import OBJECTIVES
from labelrobust.attacks.base import PassCounter
from labelrobust.domain import Box
from labelrobust.training.methods import METHODS, method_class, method_parameters, method_params
from labelrobust.training.methods.base import kl_per_sample
from labelrobust.training.methods.params import declared
from labelrobust.training.diagnostics import EpochTally
from labelrobust.training.methods.mart import mart_bce
from labelrobust.training.reweight import normalise

SPACES = {"onehot": {}, "smoothing": {}, "soft": {}, "binary": {"scale": 1.0}, "deepbe": {}, "interval": {"alpha": 1.0, "beta": 3.0}, "wasserstein": {}, "multilabel": {}}
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
    return MethodConfig(name=name, params={**base, **extra})


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
    method, _ = make_method(MethodConfig(name="wpgd", params={"eps": 0.1, "cost": cost, "power": 2.0, "wasserstein_lam": 0.5}), space)
    outputs = torch.randn(5, space.out_dim)
    y = torch.tensor([0, 1, 2, 0, 1])
    p = space.probabilities(outputs)
    c2 = torch.tensor(cost, dtype=torch.float32) ** 2
    entropy = -(p * p.log()).sum(1)
    expected = (c2[y] * p).sum(1) - entropy / (0.5 * math.log(3))
    assert torch.allclose(method.wasserstein_objective(space, outputs, y, None), expected, atol=1e-5)


def test_wpgd_sinkhorn_solver_maximises_the_sinkhorn_loss(digits):
    """wasserstein_solver: sinkhorn builds the metric space with the Sinkhorn solver and its
    settings; on the one-hot labels of the inner attack that loss is the closed form (one coupling
    only), so the objective, the inner points and the training losses are the closed-form WPGD's."""
    cost = [[0, 1, 4], [1, 0, 2], [4, 2, 0]]
    space = make_label_space("binary", 3, scale=1.0)
    settings = {"eps": 0.1, "cost": cost, "power": 2.0, "wasserstein_lam": 0.5}
    closed, _ = make_method(MethodConfig("wpgd", settings), space)
    entropic, _ = make_method(MethodConfig("wpgd", {**settings, "wasserstein_solver": "sinkhorn", "sinkhorn_reg": "0.8", "sinkhorn_iters": 50}), space)
    assert closed.metric.solver == "closed" and closed.params.sinkhorn_settings() == {}
    metric = entropic.describe()["metric"]
    assert (metric["solver"], metric["reg"], metric["sinkhorn_iters"], metric["sinkhorn_tol"]) == ("sinkhorn", 0.8, 50, 1e-5)
    outputs, y = torch.randn(5, space.out_dim), torch.tensor([0, 1, 2, 0, 1])
    assert torch.allclose(entropic.wasserstein_objective(space, outputs, y, None), closed.wasserstein_objective(space, outputs, y, None), atol=1e-5)

    data, x, labels = digits
    onehot = make_label_space("onehot", 10)
    model = model_for(data, onehot).eval()
    parts = {}
    for solver in ("closed", "sinkhorn"):
        method, _ = make_method(MethodConfig("wpgd", {**ADVERSARIAL, "wasserstein_solver": solver}), onehot)
        torch.manual_seed(1)  # the same random start for both
        parts[solver] = method.losses(model, model, x, onehot.encode(labels), labels)
    assert torch.allclose(parts["closed"].attacked_outputs, parts["sinkhorn"].attacked_outputs, atol=1e-4)
    assert torch.allclose(parts["closed"].weighted, parts["sinkhorn"].weighted, atol=1e-4)


def test_kl_per_sample():
    p, q = torch.rand(6, 4).softmax(1), torch.rand(6, 4).softmax(1)
    assert torch.allclose(kl_per_sample(p.log(), q.log()), F.kl_div(q.log(), p, reduction="none").sum(1), atol=1e-6)


def test_eps_warmup_ramps_the_inner_radius():
    method, _ = make_method(config("at", eps=0.3, eps_warmup=2), make_label_space("onehot", 10))
    method.start_batch(0.0)
    assert method.inner.threat.eps == 0.0
    method.start_batch(1.0)
    assert method.inner.threat.eps == pytest.approx(0.15) and method.inner.step_size == pytest.approx(2.5 * 0.15 / 3)
    method.start_batch(5.0)
    assert method.inner.threat.eps == pytest.approx(0.3)
    fast, _ = make_method(MethodConfig("at", {"eps": 0.3, "eps_warmup": 2, "inner": "fgsm-rs"}), make_label_space("onehot", 10))
    fast.start_batch(1.0)
    assert fast.inner.threat.eps == pytest.approx(0.15) and fast.inner.step_size == pytest.approx(1.25 * 0.15)


@pytest.mark.parametrize(
    "cfg, message",
    [
        (MethodConfig(name="pgd-at"), "unknown training method 'pgd-at'; known: at, clir-mart"),
        (MethodConfig(name="at"), r"method 'at' needs parameter eps \(method.params.eps\): radius of the inner attack"),
        (MethodConfig("at", {"eps": "8/x"}), "method 'at': eps must be a number or a fraction like 8/255, got '8/x'"),
        (MethodConfig("at", {"eps": -0.1}), "method 'at': eps must be a finite number ≥ 0, got -0.1"),
        (MethodConfig("at", {"eps": 0.1, "norm": "l1"}), "method 'at': norm must be one of linf, l2, got 'l1'"),
        (MethodConfig("at", {"eps": 0.1, "objective": "hinge"}), "unknown attack objective 'hinge'"),
        (MethodConfig("at", {"eps": 0.1, "steps": 0}), "method 'at': steps must be an integer ≥ 1 or None, got 0"),
        (MethodConfig("at", {"eps": 0.1, "random_start": "yes"}), "method 'at': random_start must be true or false, got 'yes'"),
        (MethodConfig("at", {"eps": 0.1, "epz": 0.3}), "method 'at' has no parameter 'epz'; accepted: eps, norm, inner, steps"),
        (MethodConfig("at", {"eps": 0.1, "trades_beta": 6}), "method 'at' has no parameter 'trades_beta'"),
        (MethodConfig("at", {"eps": 0.1, "inner": "square"}), "method 'at': attack 'square' cannot be an inner maximisation .*use one of cw, fgsm, fgsm-rs, pgd"),
        (MethodConfig("at", {"eps": 0.1, "inner": "fgsm-rs", "steps": 3}), "method 'at': inner attack 'fgsm-rs': attack 'fgsm-rs' has no parameter 'steps'"),
        (MethodConfig("at", {"eps": 0.1, "inner_params": {"steps": 3}}), "set steps as method parameters of their own, not inside inner_params"),
        (MethodConfig("at", {"eps": 0.1, "inner_params": {"momentum": 2.0}}), r"inner attack 'pgd': pgd: momentum must lie in \[0, 1\)"),
        (MethodConfig("at", {"eps": 0.1, "inner": "pgdd"}), "unknown attack 'pgdd'"),
        (MethodConfig(name="noise"), r"method 'noise' needs parameter noise_std \(method.params.noise_std\)"),
        (MethodConfig("noise", {"noise_std": 2.0}), r"noise_std 2 exceeds the width of the input domain \[0, 1\]"),
        (MethodConfig("noise", {"noise_std": 0}), "method 'noise': noise_std must be a finite number > 0, got 0"),
        (MethodConfig("standard", {"objective": "margin"}), "method 'standard' has no parameter 'objective'; accepted: none"),
        (MethodConfig("trades", {"eps": 0.1, "trades_beta": -1.0}), "method 'trades': trades_beta must be a finite number ≥ 0, got -1.0"),
        (MethodConfig("mart", {"eps": 0.1, "mart_lambda": "many"}), "method 'mart': mart_lambda must be a finite number ≥ 0, got 'many'"),
        (MethodConfig("wpgd", {"eps": 0.1, "power": 0}), "method 'wpgd': power must be a finite number > 0, got 0"),
        (MethodConfig("wpgd", {"eps": 0.1, "cost": [[0, 1], [1, 0]]}), r"method 'wpgd' \(cost, power, wasserstein_lam\): cost matrix must be 10×10"),
        (MethodConfig("wpgd", {"eps": 0.1, "wasserstein_solver": "exact"}), "method 'wpgd': wasserstein_solver must be one of closed, sinkhorn, got 'exact'"),
        (MethodConfig("wpgd", {"eps": 0.1, "wasserstein_solver": "sinkhorn", "sinkhorn_reg": 0}), "method 'wpgd': sinkhorn_reg must be a finite number > 0, got 0"),
        (MethodConfig("wpgd", {"eps": 0.1, "wasserstein_solver": "sinkhorn", "sinkhorn_iters": 0}), "method 'wpgd': sinkhorn_iters must be an integer ≥ 1 or None, got 0"),
        (MethodConfig("wpgd", {"eps": 0.1, "wasserstein_solver": "sinkhorn", "sinkhorn_tol": "-1"}), "method 'wpgd': sinkhorn_tol must be a finite number ≥ 0"),
        (MethodConfig("wpgd", {"eps": 0.1, "sinkhorn_reg": 0.1}), "method 'wpgd': sinkhorn_reg applies to wasserstein_solver 'sinkhorn' only; set wasserstein_solver: sinkhorn"),
    ],
)
def test_bad_methods_fail_before_training(cfg, message):
    with pytest.raises(ConfigError, match=message) as info:
        make_method(cfg, make_label_space("onehot", 10))
    assert "\n" not in str(info.value)


def test_available_methods_lists_composites():
    assert {"standard", "noise", "at", "trades", "mart", "wpgd", "mail-at", "clirat", "clir-trades", "clir-mart", "mail-trades", "mail-mart"} == set(available_methods())


def test_wpgd_cost_file_with_text_names_the_file_and_line(tmp_path):
    path = tmp_path / "metric.csv"
    path.write_text("cat,1\n0,1\n1,0\n")
    with pytest.raises(ConfigError, match=r"method 'wpgd' \(cost.*\): cost matrix .*metric\.csv, line 1: 'cat' is not a number; expected a K×K numeric matrix, comma-separated") as info:
        make_method(MethodConfig("wpgd", {"eps": 0.1, "cost": str(path)}), make_label_space("onehot", 2))
    assert "\n" not in str(info.value)
    path.write_text("0,1\n1,0\n")
    method, _ = make_method(MethodConfig("wpgd", {"eps": 0.1, "cost": str(path), "wasserstein_lam": "inf"}), make_label_space("onehot", 2))
    assert method.metric.lam == float("inf")


@pytest.mark.parametrize("inner, steps, gradients", [("fgsm-rs", None, 1), ("fgsm", None, 1), ("pgd", 3, 3), ("cw", 2, 2)])
def test_inner_attack_cost_is_exact(digits, inner, steps, gradients):
    """AT with each inner attack spends exactly its gradient passes per sample on the inner
    point (fast AT: one) and one more forward pass for the outer loss."""
    data, x, y = digits
    space = make_label_space("onehot", 10)
    model = model_for(data, space).train()
    params = {"eps": 0.1, "inner": inner, **({"steps": steps} if steps else {})}
    method, _ = make_method(MethodConfig("at", params), space)
    counter = PassCounter(model)
    parts = method.losses(model, model, x, space.encode(y), y)
    cost = counter.close()
    assert (cost.gradients, cost.forwards) == (gradients * len(x), (gradients + 1) * len(x))
    assert method.describe()["inner"]["name"] == inner and parts.attacked_outputs.shape == (len(x), 10)


@pytest.mark.parametrize("inner", ["pgd", "fgsm", "fgsm-rs", "cw"])
def test_every_gradient_attack_is_an_inner_maximisation(digits, inner):
    """The inner point stays in the ball and the input domain and raises what it maximises
    (the method's own loss; the margin for cw, which fixes its objective)."""
    data, x, y = digits
    space = make_label_space("onehot", 10)
    model = model_for(data, space).eval()
    method, _ = make_method(config("at", eps=0.2, steps=5 if inner in ("pgd", "cw") else None, inner=inner), space)
    own = method.training_loss_objective(space.encode(y))
    x_adv = method.inner_point(model, x, y, own)
    assert (x_adv - x).abs().max() <= 0.2 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    raised = OBJECTIVES.get("margin") if inner == "cw" else own
    with torch.no_grad():
        assert raised(space, model(x_adv), y, None).mean() > raised(space, model(x), y, None).mean()
    expected = "margin" if inner == "cw" else "the label space's training loss"
    assert method.describe()["inner"]["objective"] == expected


def test_inner_point_stays_in_the_datasets_domain(digits):
    """On a domain other than [0, 1] (the disk's [−R, R]²), the random start and every step
    are clipped to that box, not to pixels."""
    data, x, y = digits
    box = Box(-2.0, 2.0)
    x = x * 4 - 2  # the digits, spread over [−2, 2]
    space = make_label_space("onehot", 10)
    model = model_for(data, space)
    method, _ = make_method(config("at", eps=0.5, steps=3), space, domain=box)
    x_adv = method.inner_point(model, x, y, method.training_loss_objective(space.encode(y)))
    assert (x_adv - x).abs().max() <= 0.5 + 1e-6 and x_adv.min() >= -2 and x_adv.max() <= 2
    assert x_adv.min() < 0  # clipping to [0, 1] would have lifted every coordinate to 0 or more
    with pytest.raises(ConfigError, match=r"method.params.eps 3 \(linf\) exceeds the largest linf distance .* in \[0, 1\]"):
        make_method(config("at", eps=3.0), space)[0].check_input_shape(data.input_shape)
    method, _ = make_method(config("at", eps=3.0), space, domain=box)
    method.check_input_shape(data.input_shape)  # the box is 4 wide: a radius of 3 is inside it


def test_objective_parameter_overrides_the_methods_own():
    space = make_label_space("onehot", 10)
    method, _ = make_method(config("trades", objective="margin"), space)
    assert method.describe()["inner"]["objective"] == "margin" and method.inner.objective_name == "margin"
    method, _ = make_method(config("trades"), space)
    assert method.describe()["inner"]["objective"] == "KL(p(x) ‖ p(x'))"


def test_inner_params_reach_the_inner_attack():
    method, _ = make_method(config("at", inner_params={"momentum": 0.5}), make_label_space("onehot", 10))
    assert method.inner.momentum == 0.5 and method.describe()["inner"]["budget"]["momentum"] == 0.5


def test_every_method_declares_documented_parameters():
    """Every parameter has a help text; the flags cover them; every preset's defaults are
    parameters its base method accepts, so a preset can never name a parameter that is gone."""
    for name in METHODS.available():
        cls, preset = method_class(name)
        info = declared(cls.Params)
        assert all(len(p.help) > 15 for p in info.values()), name
        if preset is not None:
            assert set(preset.defaults) <= set(info), name
            assert method_params(name, {"eps": 0.1}).reweight == preset.defaults["reweight"]
    flags = method_parameters()
    assert flags["eps"][1] == ["at", "mart", "trades", "wpgd"] and flags["noise_std"][1] == ["noise"]
    assert flags["eps"][0].required and flags["inner"][0].default == "pgd"


def test_method_params_check_without_a_label_space():
    params = method_params("clirat", {"eps": "8/255", "burn_in": 2})
    assert params.eps == pytest.approx(8 / 255) and (params.reweight, params.gamma, params.bias, params.burn_in) == ("cl-pm", 10.0, -0.5, 2)
    assert method_params("clirat", {"eps": 0.1, "gamma": "3"}).gamma == 3.0  # numbers as text, as a shell passes them
    with pytest.raises(ConfigError, match="method 'clirat': params must be a mapping"):
        method_params("clirat", ["eps"])
