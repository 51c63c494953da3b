"""Sinkhorn (entropic OT) in torch against POT, its gradient against finite differences, its errors,
and the ``wasserstein`` label space with ``solver="sinkhorn"`` (soft targets).

POT is a test dependency only; ``ot.sinkhorn2`` is looped over the batch.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import ot
import pytest
import torch

from labelrobust.errors import ConfigError
from labelrobust.label_metrics.metric import LabelMetric
from labelrobust.labels import make_label_space, sinkhorn as sk
from labelrobust.labels.sinkhorn import DEFAULT_ITERS, DEFAULT_TOL, default_reg, sinkhorn, sinkhorn_wasserstein

TOY = [[0, 10, 0.01], [10, 0, 1], [0.01, 1, 0]]  # the 3-class toy metric of methods.md §4


def metric(k: int, seed: int, power: float = 1.0) -> np.ndarray:
    """Distances between random points in the plane, to the power ``power``."""
    points = np.random.default_rng(seed).normal(size=(k, 2))
    return np.linalg.norm(points[:, None] - points[None], axis=2) ** power


def histograms(n: int, k: int, seed: int, zeros: bool = True) -> np.ndarray:
    """``n`` random histograms over ``k`` classes; with ``zeros``, every other row has zero entries."""
    rng = np.random.default_rng(seed)
    h = rng.dirichlet(np.full(k, 0.7), size=n)
    if zeros and k > 2:
        h[::2, : k // 3] = 0.0
        h /= h.sum(1, keepdims=True)
    return h


def pot_sinkhorn2(a: np.ndarray, b: np.ndarray, cost: np.ndarray, reg: float, **kw) -> np.ndarray:
    """``ot.sinkhorn2`` per pair; a POT warning (not converged) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return np.array([ot.sinkhorn2(a[n], b[n], cost, reg, **kw) for n in range(len(a))])


# --- against POT ---------------------------------------------------------------------------------


@pytest.mark.parametrize("k, fraction", [(3, 0.05), (3, 0.5), (10, 0.05), (10, 0.2), (37, 0.05), (37, 1.0)])
def test_matches_pot_sinkhorn2_over_a_batch(k, fraction):
    """Same reg, same cost: the transport cost agrees with ot.sinkhorn2 to 1e-6 relative (float64).
    (POT's default solver divides by ``a``, so only ``b`` has zero entries here.)"""
    cost = metric(k, seed=k, power=2.0)
    p, q = histograms(6, k, seed=1, zeros=False), histograms(6, k, seed=2)
    reg = fraction * cost.max()
    ours = sinkhorn_wasserstein(torch.tensor(p), torch.tensor(q), torch.tensor(cost), reg, iters=20_000, tol=1e-11)
    reference = pot_sinkhorn2(p, q, cost, reg, numItermax=20_000)
    assert ours.dtype == torch.float64 and ours.shape == (6,)
    np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-6)


def test_returned_value_is_the_transport_cost_of_the_plan_as_in_pot():
    """ot.sinkhorn2 returns ⟨P, M⟩ of the entropic plan (not the regularised objective); so do we,
    with the same plan."""
    k, reg = 10, 0.3
    cost = metric(k, seed=0)
    p, q = histograms(4, k, seed=3, zeros=False), histograms(4, k, seed=4)
    result = sinkhorn(torch.tensor(p), torch.tensor(q), torch.tensor(cost), reg, iters=20_000, tol=1e-12)
    for n in range(4):
        plan = ot.sinkhorn(p[n], q[n], cost, reg, numItermax=20_000)
        linear = float((plan * cost).sum())
        entropy = -float((plan[plan > 0] * np.log(plan[plan > 0])).sum())
        assert ot.sinkhorn2(p[n], q[n], cost, reg, numItermax=20_000) == pytest.approx(linear, rel=1e-12)
        assert abs(linear - (linear - reg * entropy)) > 1e-3  # the regularised objective is another number
        np.testing.assert_allclose(result.plan()[n].numpy(), plan, atol=1e-9)
        assert result.cost[n].item() == pytest.approx(linear, rel=1e-7)
    torch.testing.assert_close(result.cost, (result.plan() * torch.tensor(cost)).sum(dim=(1, 2)), rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-7), (torch.float32, 1e-3)])
def test_small_reg_is_stable_and_near_exact_ot(dtype, tol):
    """reg = 1e-3·max C (C/ε up to 1000: exp(−C/ε) underflows even float64): no NaN or inf (log
    domain), finite gradients, the result above ot.emd2 by at most the entropic bias, and (float64)
    equal to POT's log-domain solver. In float32 the marginals are exact to ~1e-4 only here
    (a_i + b_j − C_ij/ε is a difference of numbers ~1e3)."""
    k = 10
    cost = metric(k, seed=5)
    p, q = histograms(4, k, seed=6, zeros=False), histograms(4, k, seed=7, zeros=False)
    reg = 1e-3 * cost.max()
    pt = torch.tensor(p, dtype=dtype, requires_grad=True)
    result = sinkhorn(pt, torch.tensor(q, dtype=dtype), torch.tensor(cost, dtype=dtype), reg, iters=5000, tol=tol)
    assert result.iterations < 5000 and result.marginal_error.max() <= 2 * tol  # rows exact to rounding, columns ≤ tol
    result.cost.sum().backward()
    assert torch.isfinite(result.cost).all() and torch.isfinite(pt.grad).all()
    ours = result.cost.detach().double().numpy()
    exact = np.array([ot.emd2(p[n], q[n], cost) for n in range(4)])
    slack = tol * cost.max()  # what a marginal error of tol can lower the cost by
    assert (ours >= exact - slack).all() and (ours <= exact + 2 * reg * math.log(k) + slack).all()
    if dtype == torch.float64:
        reference = pot_sinkhorn2(p[:2], q[:2], cost, reg, method="sinkhorn_log", numItermax=10_000, stopThr=1e-9)  # slow: 2 pairs
        np.testing.assert_allclose(ours[:2], reference, rtol=1e-6)


def test_kernel_product_and_logsumexp_agree(monkeypatch):
    """The two ways of computing the log-sum-exps (kernel product for moderate C/ε, N×K×K
    logsumexp below) give one number and one gradient."""
    cost = torch.tensor(metric(7, seed=8))
    z = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    q = torch.tensor(histograms(5, 7, seed=9))

    def run():
        value = sinkhorn_wasserstein(torch.softmax(z, 1), q, cost, 0.1, iters=100, tol=0.0)
        return value, torch.autograd.grad(value.sum(), z)[0]

    product = run()
    assert sk.LogKernel(cost, 0.1).product
    monkeypatch.setattr(sk, "KERNEL_LIMIT", {torch.float64: -1.0})  # no C/ε is below it: logsumexp
    assert not sk.LogKernel(cost, 0.1).product
    lse = run()
    torch.testing.assert_close(product[0], lse[0], rtol=1e-10, atol=0)
    torch.testing.assert_close(product[1], lse[1], rtol=1e-8, atol=1e-12)


# --- the gradient ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reg", [0.05, 0.5])
def test_gradient_matches_finite_differences(reg):
    """Autograd through the unrolled iterations is the derivative of the number returned: gradcheck
    (central differences, float64) through softmax logits, with a fixed iteration count, and
    against the converged value's differences in the direction of a random vector."""
    cost = torch.tensor(metric(4, seed=10))
    q = torch.tensor(histograms(3, 4, seed=11))
    z = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    fixed = lambda logits: sinkhorn_wasserstein(torch.softmax(logits, 1), q, cost, reg, iters=40, tol=0.0)  # noqa: E731
    assert torch.autograd.gradcheck(fixed, (z,), eps=1e-6, atol=1e-6, rtol=1e-4)

    converged = lambda logits: sinkhorn_wasserstein(torch.softmax(logits, 1), q, cost, reg, iters=20_000, tol=1e-13).sum()  # noqa: E731
    (grad,) = torch.autograd.grad(converged(z), z)
    direction = torch.randn_like(z)
    h = 1e-5
    with torch.no_grad():
        numeric = (converged(z + h * direction) - converged(z - h * direction)) / (2 * h)
    assert (grad * direction).sum().item() == pytest.approx(numeric.item(), rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_are_computed_in_float32(dtype):
    cost = torch.tensor(metric(6, seed=19))
    p, q = torch.tensor(histograms(3, 6, seed=20)), torch.tensor(histograms(3, 6, seed=21))
    reference = sinkhorn_wasserstein(p.float(), q.float(), cost.float(), 0.05)
    half = sinkhorn_wasserstein(p.to(dtype), q.to(dtype), cost.to(dtype), 0.05)
    assert half.dtype == dtype and torch.allclose(half.float(), reference, rtol=2e-2)


def test_zero_entries_give_empty_rows_and_columns_and_finite_gradients():
    """A zero entry is a −∞ potential: its row or column of the plan is exactly 0, the gradient
    stays finite, and the cost is POT's on the support (the classes with mass)."""
    k = 5
    cost = metric(k, seed=12)
    p = torch.tensor([[0.0, 0.6, 0.4, 0.0, 0.0], [0.2, 0.2, 0.2, 0.2, 0.2]], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([[0.3, 0.0, 0.0, 0.7, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    result = sinkhorn(p, q, torch.tensor(cost), 0.05, iters=5000, tol=1e-12)
    plan = result.plan()
    assert (plan[0, [0, 3, 4]] == 0).all() and (plan[0, :, [1, 2, 4]] == 0).all()
    result.cost.sum().backward()
    assert torch.isfinite(p.grad).all()
    assert result.marginal_error.max() <= 1e-12
    rows, cols = [1, 2], [0, 3]
    support = ot.sinkhorn2(p[0, rows].detach().numpy(), q[0, cols].numpy(), cost[np.ix_(rows, cols)], 0.05, numItermax=20_000, stopThr=1e-12)
    assert result.cost[0].item() == pytest.approx(support, rel=1e-9)


# --- one-hot targets, early stop, defaults ----------------------------------------------------------------


@pytest.mark.parametrize("fraction", [1e-3, 0.05, 10.0])
def test_one_hot_target_is_the_closed_form_after_two_iterations(fraction):
    """U(p, onehot(k)) holds one plan, p·e_kᵀ: the entropic plan is exact for every reg, and the
    early stop sees it after the second iteration."""
    cost = torch.tensor(metric(6, seed=13, power=2.5))
    p = torch.softmax(torch.randn(4, 6, dtype=torch.float64), 1)
    labels = torch.tensor([0, 5, 2, 2])
    result = sinkhorn(p, torch.eye(6, dtype=torch.float64)[labels], cost, fraction * cost.max().item())
    assert result.iterations == 2
    torch.testing.assert_close(result.cost, (cost[labels] * p).sum(1), rtol=1e-12, atol=0)


def test_early_stop_on_the_marginal_error():
    cost = torch.tensor(metric(10, seed=14))
    p, q = torch.tensor(histograms(4, 10, seed=15)), torch.tensor(histograms(4, 10, seed=16))
    loose = sinkhorn(p, q, cost, 0.2, iters=5000, tol=1e-4)
    assert 2 < loose.iterations < 5000 and loose.marginal_error.max() <= 1e-4
    tight = sinkhorn(p, q, cost, 0.2, iters=5000, tol=1e-10)
    assert tight.iterations > loose.iterations and tight.marginal_error.max() <= 1e-10
    fixed = sinkhorn(p, q, cost, 0.2, iters=7, tol=0.0)
    assert fixed.iterations == 7
    every = sinkhorn(p, q, cost, 0.2, iters=5000, tol=1e-4, check_every=10)
    assert every.iterations % 10 == 0 and every.iterations >= loose.iterations


def test_defaults():
    cost = torch.tensor(TOY)
    assert default_reg(cost) == pytest.approx(0.05 * 10)
    assert default_reg(torch.zeros(3, 3)) == 0.05  # every plan costs 0; any ε does
    assert (DEFAULT_ITERS, DEFAULT_TOL) == (1000, 1e-5)
    space = make_label_space("wasserstein", 3, cost=TOY, power=2.0, solver="sinkhorn")
    assert (space.reg, space.sinkhorn_iters, space.sinkhorn_tol) == (pytest.approx(0.05 * 100), 1000, 1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"reg": 0}, r"sinkhorn: reg \(ε\) must be a finite number > 0, got 0"),
        ({"reg": -1.0}, r"sinkhorn: reg \(ε\) must be a finite number > 0"),
        ({"reg": math.inf}, r"sinkhorn: reg \(ε\) must be a finite number > 0, got inf"),
        ({"reg": math.nan}, r"sinkhorn: reg \(ε\) must be a finite number > 0"),
        ({"iters": 0}, "sinkhorn: iters must be an integer ≥ 1, got 0"),
        ({"iters": 2.5}, "sinkhorn: iters must be an integer ≥ 1, got 2.5"),
        ({"tol": -1e-3}, "sinkhorn: tol must be a finite number ≥ 0"),
        ({"check_every": 0}, "sinkhorn: check_every must be an integer ≥ 1"),
        ({"q": torch.full((2, 4), 0.25)}, r"sinkhorn: p and q must both have shape \(N, K\), got \(2, 3\) and \(2, 4\)"),
        ({"cost": torch.zeros(4, 4)}, r"sinkhorn: cost must have shape \(3, 3\) for histograms over 3 classes, got \(4, 4\)"),
        ({"p": torch.tensor([[0.5, -0.5, 1.0], [1.0, 0.0, 0.0]])}, r"sinkhorn: p must hold histograms \(finite, ≥ 0"),
        ({"q": torch.tensor([[math.nan, 0.5, 0.5], [1.0, 0.0, 0.0]])}, r"sinkhorn: q must hold histograms"),
        ({"q": torch.zeros(2, 3)}, r"sinkhorn: q must hold histograms .*summing to > 0"),
        ({"cost": torch.tensor([[0, math.inf, 1], [1, 0, 1], [1, 1, 0]])}, "sinkhorn: cost must be finite"),
        ({"p": torch.tensor([[1, 0, 0], [0, 1, 0]])}, "sinkhorn: p must be a floating-point tensor, got torch.int64"),
    ],
)
def test_errors_are_one_line_config_errors(kwargs, message):
    args = {"p": torch.full((2, 3), 1 / 3), "q": torch.full((2, 3), 1 / 3), "cost": torch.tensor(TOY, dtype=torch.float32), "reg": 0.1}
    args.update(kwargs)
    p, q, cost, reg = args.pop("p"), args.pop("q"), args.pop("cost"), args.pop("reg")
    with pytest.raises(ConfigError, match=message) as info:
        sinkhorn_wasserstein(p, q, cost, reg, **args)
    assert "\n" not in str(info.value)


# --- the wasserstein label space with solver="sinkhorn" -------------------------------------------------


def test_space_takes_soft_targets_and_its_loss_is_pot_minus_the_entropy_term():
    k, power, lam = 10, 2.5, 2.0
    distance = metric(k, seed=17)
    space = make_label_space("wasserstein", k, cost=distance, power=power, lam=lam, solver="sinkhorn", sinkhorn_iters=20_000, sinkhorn_tol=1e-11)
    assert space.accepts_soft_targets and space.target_kind == "N×K distributions"
    soft = histograms(5, k, seed=18)
    targets = space.encode(torch.tensor(soft, dtype=torch.float32))
    assert targets.dtype == torch.float32 and torch.allclose(targets.double(), torch.tensor(soft), atol=1e-7)
    z = torch.randn(5, k, dtype=torch.float64)
    loss = space.loss(z, torch.tensor(soft))  # float64 targets: the float64 path end to end
    q = torch.softmax(z, 1)
    cost_p = space.cost_power.double().numpy()  # the space's C^p (kept in float32, as every table)
    reference = pot_sinkhorn2(q.numpy(), soft, cost_p, space.reg, numItermax=20_000)
    entropy = -(q * q.log()).sum(1)
    np.testing.assert_allclose(loss.numpy(), reference - (entropy / (lam * math.log(k))).numpy(), rtol=1e-6)
    assert space.reg == pytest.approx(0.05 * distance.max() ** power, rel=1e-6)


@pytest.mark.parametrize("fraction", [1e-3, 0.05, 1.0])
def test_space_on_one_hot_targets_equals_the_closed_form(fraction):
    """For a one-hot target the Sinkhorn loss is the closed form, loss and gradient (the only
    coupling is p·e_yᵀ), whatever the reg — in particular as reg → 0."""
    cost_p_max = 10.0**2
    closed = make_label_space("wasserstein", 3, cost=TOY, power=2.0, lam=0.5)
    entropic = make_label_space("wasserstein", 3, cost=TOY, power=2.0, lam=0.5, solver="sinkhorn", reg=fraction * cost_p_max)
    z = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    a, b = closed.loss(z, closed.encode(y)), entropic.loss(z, entropic.encode(y))
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(torch.autograd.grad(a.sum(), z)[0], torch.autograd.grad(b.sum(), z)[0], rtol=1e-9, atol=1e-9)
    assert torch.equal(entropic.decode(z.detach()), closed.decode(z.detach()))


@pytest.mark.parametrize(
    "bad, message",
    [
        ([[0.5, 0.6, 0.0], [0.0, 1.0, 0.0]], r"must sum to 1 per row .*rows \[0\]"),
        ([[1.5, -0.5, 0.0], [0.0, 1.0, 0.0]], r"must be non-negative; negative entries in rows \[0\]"),
        ([[math.nan, 0.5, 0.5], [0.0, 1.0, 0.0]], r"contain NaN/inf in rows \[0\]"),
    ],
)
def test_space_checks_soft_targets_as_the_soft_space_does(bad, message):
    space = make_label_space("wasserstein", 3, solver="sinkhorn")
    with pytest.raises(ConfigError, match=rf"label space 'wasserstein': loss targets {message}"):
        space.loss(torch.zeros(2, 3), torch.tensor(bad))
    with pytest.raises(ConfigError, match=rf"label space 'wasserstein': soft targets {message}"):
        space.encode(torch.tensor(bad))


def test_closed_solver_is_unchanged_and_refuses_soft_targets():
    space = make_label_space("wasserstein", 3)
    assert space.solver == "closed" and not space.accepts_soft_targets and space.target_kind == "N×K one-hot rows"
    assert type(space).accepts_soft_targets is False  # the class-level value describes the default solver
    with pytest.raises(ConfigError, match=r"takes hard labels .*use solver=sinkhorn for distributions"):
        space.encode(torch.full((2, 3), 1 / 3))
    with pytest.raises(ConfigError, match="loss targets must be one-hot rows"):
        space.loss(torch.zeros(1, 3), torch.full((1, 3), 1 / 3))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"solver": "exact"}, "solver must be one of closed, sinkhorn, got 'exact'"),
        ({"reg": 0.1}, r"reg=0.1 applies to solver 'sinkhorn' only; set solver=sinkhorn or leave reg, sinkhorn_iters, sinkhorn_tol out"),
        ({"sinkhorn_iters": 10}, "sinkhorn_iters=10 applies to solver 'sinkhorn' only"),
        ({"solver": "sinkhorn", "reg": 0}, r"reg \(the Sinkhorn ε, in units of C\^p\) must be a finite number > 0"),
        ({"solver": "sinkhorn", "reg": "inf"}, r"reg .* must be a finite number > 0, got inf"),
        ({"solver": "sinkhorn", "sinkhorn_iters": 0}, "sinkhorn_iters must be an integer ≥ 1, got 0"),
        ({"solver": "sinkhorn", "sinkhorn_tol": -1}, "sinkhorn_tol must be a finite number ≥ 0"),
    ],
)
def test_space_parameters_are_checked(params, message):
    with pytest.raises(ConfigError, match=rf"label space 'wasserstein': {message}") as info:
        make_label_space("wasserstein", 3, **params)
    assert "\n" not in str(info.value)


def test_params_are_recorded_and_rebuild_the_space():
    space = make_label_space("wasserstein", 3, cost=TOY, power="2", solver="sinkhorn", reg="0.5", sinkhorn_iters="50")
    recorded = space.params()
    assert recorded == {"cost": recorded["cost"], "power": 2.0, "lam": 1.0, "solver": "sinkhorn", "reg": 0.5, "sinkhorn_iters": 50, "sinkhorn_tol": 1e-5}
    again = make_label_space("wasserstein", 3, **recorded)
    assert again.params() == recorded
    closed = make_label_space("wasserstein", 3).params()
    assert closed == {"cost": None, "power": 1.0, "lam": 1.0, "solver": "closed", "reg": None, "sinkhorn_iters": None, "sinkhorn_tol": None}
    assert make_label_space("wasserstein", 3, **closed).params() == closed


def test_cost_as_a_label_metric():
    metric_ = LabelMetric(np.array(TOY, dtype=float), ("a", "b", "c"), "file:toy.csv")
    space = make_label_space("wasserstein", 3, cost=metric_, solver="sinkhorn")
    assert space.params()["cost"]["sha256"] == metric_.fingerprint()
    soft = torch.tensor([[0.2, 0.3, 0.5]])
    assert torch.isfinite(space.loss(torch.zeros(1, 3), space.encode(soft))).all()


def test_space_on_every_device(device):
    space = make_label_space("wasserstein", 3, cost=TOY, solver="sinkhorn")
    z = torch.randn(4, 3, device=device, requires_grad=True)
    targets = space.encode(torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])).to(device)
    loss = space.loss(z, targets)
    loss.sum().backward()
    assert loss.device == z.device and loss.shape == (4,) and torch.isfinite(z.grad).all()
