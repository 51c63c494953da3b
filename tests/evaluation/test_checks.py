"""The gradient-masking checks: by hand on constructed cells (each flag marks only the (attack,
eps) cells it concerns; differences within the paired chance level are no flag; like is
compared with like), then on models trained on real digits (no flag on a plain cross-entropy
model over several evaluation seeds; own-loss-only and zero-gradients on RBC's masked loss)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from labelrobust.cli.evaluate import LARGE_EPS_SPEC
from labelrobust.evaluation import evaluate_attacks, get_suite, run_checks, zero_gradient_check
from labelrobust.evaluation.checks import (
    CHECKS,
    check_black_box,
    check_eps_monotone,
    check_fgsm,
    check_large_eps,
    check_more_effort,
    check_own_loss,
    significant,
)
from labelrobust.labels import make_label_space
from tests.evaluation.cells import breaking, cell, ensemble, first, report

FGSM = {"steps": 1, "restarts": 1, "step_size": 0.1, "random_start": False}
SQUARE = {"n_queries": 1000, "n_restarts": 1}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "flags.md"


def own_and_margin(n, eps, own_broken, margin_broken, margin_attacked=None):
    return [cell("pgd-20", eps, breaking(n, own_broken), objective="loss", order=0),
            cell("pgd-20-margin", eps, breaking(n, margin_broken, attacked=margin_attacked), objective="margin", order=1)]


# -- by hand ---------------------------------------------------------------------------------------


def test_the_paired_chance_level():
    # two equally strong randomised runs: the gap is about √(discordant samples)
    assert not significant(6, 14, 500)  # the finding: 5 restarts beat one run by 6 of 500
    assert not significant(2, 2, 100) and not significant(5, 100, 1000)
    # one-sided (every discordant sample the same way): the gap must exceed 3√gap, i.e. 9
    assert significant(30, 30, 500) and significant(10, 10, 50) and not significant(9, 9, 50)
    assert significant(12, 12, 1000) and not significant(12, 12, 2000)  # and 1% of the samples


def test_a_flag_is_confined_to_the_eps_where_the_check_failed():
    """Own loss and margin agree at eps 0.1; at 0.2 the margin breaks 40 samples the own loss
    leaves standing: only the own-loss cell at 0.2 is flagged."""
    n = 200
    cells = own_and_margin(n, 0.1, set(range(20)), set(range(20)))
    # the margin probe is nested: its 20 from 0.1 are not attacked again, 40 more break at 0.2
    cells += own_and_margin(n, 0.2, set(range(20)), set(range(20, 60)), margin_attacked=range(20, n))
    r = report(cells)
    flag = check_own_loss(r)
    assert flag.ok is False and flag.cells == [("pgd-20", 0.2)]
    assert "eps 0.2: pgd-20-margin broke 40 samples pgd-20 did not (0 the other way)" in flag.detail and "eps 0.1" not in flag.detail
    run_checks(r)
    assert {(o.label, o.eps): o.flags for o in r.outcomes} == {
        ("pgd-20", 0.1): [], ("pgd-20-margin", 0.1): [], ("pgd-20", 0.2): ["own-loss-only"], ("pgd-20-margin", 0.2): []}
    assert [f.name for f in r.checks] == [c(r).name for c in CHECKS]


def test_own_loss_only_needs_a_gap_beyond_the_restart_to_restart_spread():
    n = 500
    # discordant both ways: margin breaks 10 the own loss does not, the own loss 4 the margin does not
    noisy = report(own_and_margin(n, 0.1, set(range(100)) | set(range(200, 204)), set(range(100)) | set(range(300, 310))))
    assert check_own_loss(noisy).ok is True
    masked = report(own_and_margin(n, 0.1, set(range(100)), set(range(160))))
    assert check_own_loss(masked).ok is False


def test_own_loss_only_compares_like_with_like():
    n = 100
    strong_margin = set(range(50))
    # another budget: the margin run has 5 steps, not 20 — no comparison
    cells = [cell("pgd-20", 0.1, breaking(n, set()), objective="loss"),
             cell("pgd-5-margin", 0.1, breaking(n, strong_margin), budget={"steps": 5, "restarts": 1, "targets": 0})]
    assert check_own_loss(report(cells)).ok is None
    # another attack (FGSM on the loss vs PGD on the margin) — no comparison either
    cells = [cell("fgsm", 0.1, breaking(n, set()), attack="fgsm", objective="loss", budget=FGSM), cell("pgd-20-margin", 0.1, breaking(n, strong_margin))]
    assert check_own_loss(report(cells)).ok is None
    # ensemble cells run on the active set and are never compared sample by sample
    cells = [ensemble("pgd-20", 0.1, breaking(n, set()), objective="loss"), ensemble("pgd-20-margin", 0.1, breaking(n, strong_margin), order=1)]
    assert check_own_loss(report(cells)).ok is None


def test_more_effort_and_fgsm_flag_the_overstated_cell():
    n = 100
    five = {"steps": 5, "restarts": 1, "targets": 0}
    weak_more = [cell("pgd-5", 0.1, breaking(n, set(range(40))), budget=five), cell("pgd-20", 0.1, breaking(n, set(range(20))), order=1)]
    flag = check_more_effort(report(weak_more))
    assert flag.ok is False and flag.cells == [("pgd-20", 0.1)]
    strong_more = [cell("pgd-5", 0.1, breaking(n, set(range(20))), budget=five), cell("pgd-20", 0.1, breaking(n, set(range(22))), order=1)]
    assert check_more_effort(report(strong_more)).ok is True
    fgsm_wins = [cell("fgsm", 0.1, breaking(n, set(range(30))), attack="fgsm", objective="loss", budget=FGSM),
                 cell("pgd-20", 0.1, breaking(n, set(range(10))), objective="loss", order=1)]
    flag = check_fgsm(report(fgsm_wins))
    assert flag.ok is False and flag.cells == [("pgd-20", 0.1)]
    assert check_fgsm(report([fgsm_wins[0], cell("pgd-20-margin", 0.1, breaking(n, set()), order=1)])).ok is None  # other objective


def test_eps_monotone_flags_the_larger_radius_only():
    n = 100
    cells = [cell("pgd-20", eps, breaking(n, set(range(k))), objective="loss") for eps, k in ((0.1, 10), (0.2, 30), (0.3, 12))]
    flag = check_eps_monotone(report(cells))
    assert flag.ok is False and flag.cells == [("pgd-20", 0.3)] and "at eps 0.2 that it left standing at eps 0.3" in flag.detail
    rising = [cell("pgd-20", eps, breaking(n, set(range(k))), objective="loss") for eps, k in ((0.1, 10), (0.2, 30), (0.3, 28))]
    assert check_eps_monotone(report(rising)).ok is True  # 2 fewer of 100: chance
    assert check_eps_monotone(report(cells[:1])).ok is None


def test_black_box_counts_only_what_each_cell_broke_at_its_own_eps():
    """Square (ensemble, after PGD) breaks 10 samples PGD left at 0.1. At 0.2 those 10 are
    nested (not attacked again) and Square finds nothing new: only the white-box cell at 0.1
    (the overstated one) is flagged — not every larger radius that carries the 10 in its worst case."""
    n = 100
    cells = [
        ensemble("pgd", 0.1, breaking(n, set(range(30)))),
        ensemble("square", 0.1, breaking(n, set(range(30, 40)), attacked=range(30, n)), attack="square", kind="black-box", budget=SQUARE, order=1),
        ensemble("pgd", 0.2, breaking(n, set(range(40, 60)), attacked=range(40, n))),
        ensemble("square", 0.2, breaking(n, set(), attacked=range(60, n)), attack="square", kind="black-box", budget=SQUARE, order=1),
    ]
    r = report(cells)
    flag = check_black_box(r)
    assert flag.ok is False and flag.cells == [("pgd", 0.1)] and "broke 10 samples that every white-box attack left standing" in flag.detail
    run_checks(r)
    assert [(o.label, o.eps) for o in r.outcomes if o.flags] == [("pgd", 0.1)] and r.outcomes[0].flags == ["black-box-beats-white-box"]
    # a black-box diagnostic that breaks only what the white-box diagnostics broke: fine
    quiet = [cell("pgd", 0.1, breaking(n, set(range(30)))), cell("square", 0.1, breaking(n, set(range(25))), attack="square", kind="black-box", budget=SQUARE, order=1)]
    assert check_black_box(report(quiet)).ok is True
    assert check_black_box(report(quiet[:1])).ok is None


def test_large_eps_reads_the_domain():
    n = 40
    large = lambda k: cell("pgd-large", 0.5, breaking(n, set(range(k))), fixed_eps=True)  # noqa: E731
    assert check_large_eps(report([large(n)])).ok is True
    flag = check_large_eps(report([large(n // 2)]))
    assert flag.ok is False and flag.cells == [("pgd-large", 0.5)] and "leaves 0.500" in flag.detail
    assert check_large_eps(report([cell("pgd", 0.1, breaking(n, set()))])).ok is None
    on_the_disk = report([large(n)], input_shape=(2,))
    on_the_disk.domain = {"low": -1.0, "high": 1.0}  # half the width of [−1, 1] is 1, not 0.5
    assert check_large_eps(on_the_disk).ok is None


def test_every_flag_links_to_its_entry_in_the_docs():
    r = report([cell("pgd", 0.1, breaking(10, set()))])
    headings = set(re.findall(r"^## (\S+)", DOCS.read_text(), flags=re.M))
    model = nn.Linear(64, 10)
    zero = zero_gradient_check(model, make_label_space("onehot", 10), torch.rand(4, 64), torch.zeros(4, dtype=torch.long))
    for flag in [*run_checks(r), zero]:
        assert flag.doc == f"docs/flags.md#{flag.name}" and flag.name in headings, flag.name


def test_zero_gradient_check_counts_vanishing_gradients():
    """Logits 300·x on points 0.2 from the boundary: every CE gradient is ~3e-24 — not one
    exactly zero, all numerically vanishing. The old check (exact zeros only) said 0%."""
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(300.0 * torch.eye(2))
    space = make_label_space("onehot", 2)
    u = torch.linspace(0.05, 0.7, 20)
    x, y = torch.stack([u, u + 0.2], 1), torch.ones(20, dtype=torch.long)
    cells = [cell("pgd-20", 0.1, breaking(20, set()), objective="loss"), cell("pgd-20-margin", 0.1, breaking(20, set()), order=1),
             cell("fgsm", 0.2, breaking(20, set()), attack="fgsm", objective="loss", budget=FGSM)]
    r = report(cells, labels=[1] * 20)
    mode = model.training
    flag = zero_gradient_check(model, space, x, y, r)
    assert flag.ok is False and "100.0% of samples have a vanishing gradient" in flag.detail and "0.0% exactly zero" in flag.detail
    assert flag.cells == [("pgd-20", 0.1), ("fgsm", 0.2)]  # the cells attacking the own loss
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    assert zero_gradient_check(model, space, x, y, r).ok is True
    assert model.training == mode and all(p.grad is None for p in model.parameters())


# -- on trained models -------------------------------------------------------------------------------

QUICK = get_suite("quick") + [LARGE_EPS_SPEC]


def checked(exp, specs, eps, n=100, seed=0):
    images = first(exp.dataset.test, n)
    r = evaluate_attacks(exp.model, exp.space, images, specs, eps, quiet=True, seed=seed)
    flags = run_checks(r, [zero_gradient_check(exp.model, exp.space, images.float_images(), images.labels, r)])
    return r, {f.name: f for f in flags}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_flag_on_a_plain_cross_entropy_model(trained, seed):
    exp = trained("onehot")
    r, flags = checked(exp, QUICK, [0.1, 0.2], seed=seed)
    assert not [f.detail for f in flags.values() if f.ok is False]
    assert flags["own-loss-only"].ok is True and flags["eps-monotone"].ok is True and flags["large-eps"].ok is True
    assert flags["fgsm-beats-pgd"].ok is True and flags["zero-gradients"].ok is True
    assert not any(o.flags for o in r.outcomes)


def test_no_flag_from_the_standard_suite_on_cheap_settings(trained):
    cheap = {"apgd-margin-top3": {"steps": 10}, "apgd-ce": {"n_iter": 10}, "square": {"n_queries": 30}}
    specs = [dataclasses.replace(s, params={**s.params, **cheap.get(s.label, {})}) for s in get_suite("standard")]
    r, flags = checked(trained("onehot"), specs, [0.1], n=60, seed=3)
    assert not [f.detail for f in flags.values() if f.ok is False]
    assert flags["more-effort"].ok is True and flags["black-box-beats-white-box"].ok is True


def test_own_loss_only_and_zero_gradients_fire_on_a_masked_model(trained):
    """RBC's loss relu(S − o⊙(2b−1))² is flat once every bit clears S: PGD on it stalls where the
    margin of the scores does not (measured: 94% vs 40% robust at 0.1)."""
    exp = trained("binary")
    r, flags = checked(exp, get_suite("quick"), [0.1, 0.2])
    assert flags["own-loss-only"].ok is False and flags["zero-gradients"].ok is False
    assert set(flags["own-loss-only"].cells) <= {("pgd-20", 0.1), ("pgd-20", 0.2)} and flags["own-loss-only"].cells
    assert all("own-loss-only" not in o.flags for o in r.outcomes if o.label != "pgd-20")
    assert not any(o.flags for o in r.outcomes if o.label == "pgd-20-margin")
