"""Attacks describe themselves and count what they spend.

``describe()`` is what the evaluation reads instead of guessing from names (the old name table
said ``effort 10`` for CW, which runs 30 steps, ``loss`` for every transfer attack and
``margin`` for AutoAttack): kind, objective and budget must be what the attack runs. ``cost``
counts, for every attack the same way, the samples pushed through the victim (forwards) and
those whose pass also computed an input gradient (gradients); a transfer attack's source work
is counted apart. Published attacks bring their own losses and refuse an ``objective``.

Tiny untrained models on a few real digits: the counts do not depend on training.
"""

from __future__ import annotations

import pytest
import torch

from labelrobust.attacks import (
    ATTACKS,
    BLACK_BOX,
    ENSEMBLE,
    TRANSFER,
    WHITE_BOX,
    Cost,
    GradientAttack,
    PublishedAttack,
    available_attacks,
    make_attack,
)
from labelrobust.data import load_dataset
from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space
from labelrobust.models import build_model

pytest.importorskip("pyautoattack")

N = 12


@pytest.fixture(scope="module")
def setup():
    data = load_dataset("digits", test_size=N, seed=0)
    space = make_label_space("onehot", 10)
    victim, source = (tiny(data, space, seed) for seed in (0, 1))
    x = data.test.float_images()
    with torch.no_grad():
        y = space.decode(victim(x))  # the clean prediction: every sample can be attacked
    return space, victim, source, x, y


def tiny(data, space, seed):
    torch.manual_seed(seed)
    return build_model("mnist-cnn", input_shape=data.input_shape, out_dim=space.out_dim, mean=data.mean, std=data.std, width=4).eval()


def test_every_registered_attack_describes_itself(setup):
    space, _, source, _, _ = setup
    kinds = {WHITE_BOX, BLACK_BOX, TRANSFER, ENSEMBLE}
    for name in available_attacks():
        params = {"source_model": source, "source_space": space} if name == "transfer" else {}
        description = make_attack(name, norm="linf", eps=0.1, **params).describe()
        assert description.name == name and description.kind in kinds and description.objective
        assert description.norm == "linf" and description.eps == 0.1 and description.budget
        assert description.as_dict()["budget"] == description.budget
        # the two families are kept apart: gradient attacks choose an objective, published ones do not
        cls = ATTACKS.get(name)
        assert issubclass(cls, GradientAttack) or issubclass(cls, PublishedAttack) or name == "transfer", name


def test_descriptions_are_what_the_attacks_run(setup):
    space, _, source, _, _ = setup
    describe = lambda name, **p: make_attack(name, norm="linf", eps=0.1, **p).describe()  # noqa: E731

    cw = describe("cw")
    assert (cw.kind, cw.objective, cw.adaptive, cw.budget["steps"], cw.budget["restarts"]) == (WHITE_BOX, "margin", True, 30, 1)
    assert describe("cw", steps=7).budget["steps"] == 7
    pgd = describe("pgd")
    assert (pgd.objective, pgd.adaptive, pgd.budget["steps"], pgd.budget["step_size"]) == ("loss", False, 10, pytest.approx(0.025))
    apgd = describe("pgd", steps=50, objective="margin", schedule="apgd", targets=3)
    assert apgd.budget == {"steps": 50, "restarts": 1, "targets": 3, "schedule": "apgd", "momentum": 0.0, "random_start": True,
                           "early_stop": True, "step_size": pytest.approx(0.2)}  # APGD's initial step, 2·eps
    fgsm, fgsm_rs = describe("fgsm"), describe("fgsm-rs")
    assert fgsm.budget == {"steps": 1, "restarts": 1, "step_size": pytest.approx(0.1), "random_start": False}
    assert fgsm_rs.budget == {"steps": 1, "restarts": 1, "step_size": pytest.approx(0.125), "random_start": True}
    assert describe("fgsm", objective="dlr").objective == "dlr"

    aa = describe("autoattack")
    assert aa.kind == ENSEMBLE and aa.objective == "ce+dlr-targeted+fab-targeted+margin" and aa.adaptive
    assert aa.budget["attacks"] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert (aa.budget["n_iter"], aa.budget["n_restarts"], aa.budget["n_queries"], aa.budget["n_target_classes"]) == (100, 1, 5000, 9)
    plus = describe("autoattack", version="plus")
    assert plus.budget["n_restarts"] == 5 and plus.objective.split("+") == ["ce", "dlr", "fab", "margin", "dlr-targeted", "fab-targeted"]
    custom = describe("autoattack", version="custom", attacks=["apgd-ce", "apgd-dlr"], n_iter=20)
    assert custom.kind == ENSEMBLE and custom.objective == "ce+dlr" and custom.budget["n_iter"] == 20
    assert describe("autoattack", version="custom", attacks=["square"]).kind == BLACK_BOX
    assert describe("autoattack", version="custom", attacks=["apgd-ce"]).kind == WHITE_BOX

    square = describe("square")
    assert (square.kind, square.objective, square.adaptive, square.budget["n_queries"]) == (BLACK_BOX, "margin", True, 1000)
    for name, loss in (("apgd-ce", "ce"), ("apgd-dlr", "dlr")):
        d = describe(name, n_iter=30)
        assert (d.kind, d.objective, d.adaptive, d.budget["n_iter"], d.budget["n_restarts"]) == (WHITE_BOX, loss, True, 30, 1)

    src = {"source_model": source, "source_space": space}
    transfer = describe("transfer", **src)
    assert (transfer.kind, transfer.objective, transfer.adaptive) == (TRANSFER, "loss", False)
    assert transfer.budget["source_attack"] == "pgd" and transfer.budget["steps"] == 10
    via_cw = describe("transfer", attack="cw", **src)
    assert (via_cw.objective, via_cw.adaptive, via_cw.budget["steps"]) == ("margin", True, 30)
    assert describe("transfer", objective="dlr", attack_params={"steps": 4}, **src).budget["steps"] == 4
    assert describe("transfer", objective="dlr", **src).objective == "dlr"
    square_source = describe("transfer", attack="square", attack_params={"n_queries": 10}, **src)
    assert square_source.kind == TRANSFER and square_source.objective == "margin" and square_source.budget["n_queries"] == 10


def run(setup, name, **params):
    space, victim, _, x, y = setup
    return make_attack(name, norm="linf", eps=0.1, **params)(victim, space, x, y)


def test_fgsm_costs_one_gradient_and_one_decoding_forward_per_sample(setup):
    for name in ("fgsm", "fgsm-rs"):
        assert run(setup, name).cost == Cost(forwards=2 * N, gradients=N), name


@pytest.mark.parametrize(("name", "params", "steps"), [("pgd", {"steps": 4}, 4), ("cw", {}, 30), ("pgd", {"steps": 3, "restarts": 2}, 6)])
def test_pgd_without_early_stop_costs_its_steps(setup, name, params, steps):
    """``steps`` gradient passes and one scoring forward per run; the decoded classes of the
    search are reused, so no extra pass decodes the result."""
    result = run(setup, name, early_stop=False, **params)
    runs = params.get("restarts", 1)
    assert result.cost == Cost(forwards=(steps + runs) * N, gradients=steps * N)
    assert make_attack(name, norm="linf", eps=0.1, **params).describe().budget["steps"] * runs == steps


def test_targeted_runs_cost_one_ranking_forward_more(setup):
    result = run(setup, "pgd", steps=2, targets=3, early_stop=False, objective="margin")
    assert result.cost == Cost(forwards=N + 3 * 3 * N, gradients=3 * 2 * N)


def test_early_stop_spends_less(setup):
    full = run(setup, "pgd", steps=10, early_stop=False, objective="margin")
    early = run(setup, "pgd", steps=10, objective="margin")
    assert early.success.any() and early.cost.gradients < full.cost.gradients == 10 * N


def test_square_costs_forwards_only(setup):
    result = run(setup, "square", n_queries=15)
    assert result.cost.gradients == 0 and result.cost.source_forwards == result.cost.source_gradients == 0
    assert N <= result.cost.forwards <= N * (15 + 3) + N  # the package's checks, its queries, our decoding


def test_apgd_costs_its_iterations(setup):
    result = run(setup, "apgd-ce", n_iter=5)
    assert result.cost.gradients == N * (5 + 1)  # the first gradient and one per iteration, one restart
    assert result.cost.forwards > result.cost.gradients


def test_autoattack_counts_every_sub_attack(setup):
    result = run(setup, "autoattack", version="custom", attacks=["apgd-ce", "square"], n_iter=3, n_queries=5)
    assert result.cost.gradients >= N * 4 and result.cost.forwards > result.cost.gradients


def test_transfer_counts_source_and_victim_apart(setup):
    space, victim, source, x, y = setup
    attack = make_attack("transfer", norm="linf", eps=0.1, source_model=source, source_space=space, attack_params={"steps": 3, "early_stop": False})
    result = attack(victim, space, x, y)
    assert result.cost == Cost(forwards=N, gradients=0, source_forwards=4 * N, source_gradients=3 * N)
    assert (result.cost + result.cost).as_dict() == {"forwards": 2 * N, "gradients": 0, "source_forwards": 8 * N, "source_gradients": 6 * N}


def test_an_empty_batch_costs_nothing(setup):
    space, victim, _, x, y = setup
    assert make_attack("pgd", norm="linf", eps=0.1)(victim, space, x[:0], y[:0]).cost == Cost()


@pytest.mark.parametrize("name", ["apgd-ce", "apgd-dlr", "autoattack", "square"])
def test_published_attacks_refuse_an_objective_in_one_line(name):
    with pytest.raises(ConfigError, match=rf"attack {name!r} takes no objective: it runs a published package with its own losses") as err:
        make_attack(name, norm="linf", eps=0.1, objective="margin")
    assert "\n" not in str(err.value) and "use pgd, fgsm or cw" in str(err.value)
