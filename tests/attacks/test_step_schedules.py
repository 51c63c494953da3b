"""PGD's step schedules: APGD's checkpoints as published, its step halving and restarts from the
best point per sample, the active set dropping samples, and APGD-schedule PGD at least as strong
as constant-step PGD with the same steps on a trained model."""

from __future__ import annotations

import pytest
import torch

from labelrobust.attacks import make_attack
from labelrobust.attacks.step_schedules import APGDSchedule, ConstantSchedule, apgd_checkpoints

PAPER_100 = [22, 41, 57, 70, 80, 87, 93, 99]
"""w_j = ⌈p_j·N⌉ for N = 100: p = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (Croce & Hein 2020, §3.1)."""


def test_apgd_checkpoints_are_the_papers():
    assert apgd_checkpoints(100) == PAPER_100  # floating point once made the third one 58
    assert apgd_checkpoints(200) == [44, 82, 114, 140, 160, 174, 186, 198]
    assert apgd_checkpoints(1) == [] and all(0 < w < n for n in (5, 10, 50) for w in apgd_checkpoints(n))


def test_apgd_checkpoints_agree_with_the_published_package():
    """The package counts in whole iterations: the first checkpoint after ⌊0.22·N⌋, each next
    one 0.03·N earlier than the last distance, at least 0.06·N."""
    autopgd = pytest.importorskip("pyautoattack.autopgd_base")
    apgd = autopgd.APGDAttack(torch.nn.Linear(2, 2), n_iter=100, eps=0.1, device="cpu")
    marks, k, step = [], apgd.n_iter_2, 0
    while step + k < 100:
        step += k
        marks.append(step)
        k = max(k - apgd.size_decr, apgd.n_iter_min)
    assert marks == PAPER_100 == apgd_checkpoints(100)


def _run(schedule, values, x):
    """Feed the per-step objective ``values`` (steps × n), stepping with a unit gradient."""
    steps = []
    x_adv = x.clone()
    for step, value in enumerate(values):
        schedule.observe(step, value, x_adv)
        steps.append(schedule.eta.clone())
        x_adv = schedule.step(x, x_adv, torch.ones_like(x), torch.sign, lambda c, cand: c + (cand - c).clamp(-1, 1))
    return steps


def test_apgd_halves_the_step_of_samples_that_stopped_improving():
    """Sample 0 improves at every step, sample 1 never does: only sample 1's step is halved at
    the first checkpoint (22 of 100), and it restarts from its best point."""
    x = torch.zeros(2, 3)
    schedule = APGDSchedule(x, initial_step=0.2, steps=100, rho=0.75)
    values = [torch.tensor([float(step), 0.0]) for step in range(23)]
    etas = _run(schedule, values, x)
    assert torch.equal(etas[21], torch.tensor([0.2, 0.2]))
    assert etas[22][0] == pytest.approx(0.2) and etas[22][1] == pytest.approx(0.1)
    # dropping a sample (PGD's active set) keeps the other's state
    schedule.keep(torch.tensor([False, True]))
    assert schedule.eta.tolist() == [pytest.approx(0.1)] and schedule.best_x.shape == (1, 3)


def test_constant_schedule_with_momentum_keeps_its_velocity_per_sample():
    x = torch.zeros(3, 2)
    schedule = ConstantSchedule(x, step_size=0.1, momentum=0.5)
    grad = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    schedule.step(x, x, grad, torch.sign, lambda c, cand: cand)
    schedule.keep(torch.tensor([True, False, True]))
    assert schedule.velocity.shape == (2, 2)
    assert ConstantSchedule(x, 0.1, 0.0).velocity is None  # plain PGD keeps no state


@pytest.mark.parametrize("objective", ["margin", "loss"])
def test_apgd_schedule_is_at_least_as_strong_as_constant_steps(trained, objective):
    """Measured on 200 digits at L∞ 0.1, 10 and 20 steps: constant 85–88, APGD schedule 85–91 broken."""
    exp = trained("onehot")
    x, y = exp.dataset.test.float_images(slice(0, 150)), exp.dataset.test.labels[:150]
    for steps in (10, 20):
        torch.manual_seed(0)
        constant = make_attack("pgd", norm="linf", eps=0.1, steps=steps, objective=objective)(exp.model, exp.space, x, y)
        torch.manual_seed(0)
        apgd = make_attack("pgd", norm="linf", eps=0.1, steps=steps, objective=objective, schedule="apgd")(exp.model, exp.space, x, y)
        assert apgd.success.sum() >= constant.success.sum() - 2, (steps, apgd.success.sum(), constant.success.sum())
        assert (apgd.x_adv - x).abs().max() <= 0.1 + 1e-6 and apgd.x_adv.min() >= 0 and apgd.x_adv.max() <= 1
        with torch.no_grad():
            assert torch.equal(apgd.pred, exp.space.decode(exp.model(apgd.x_adv)))
