"""``evaluate_attacks`` on models trained on real digits: nested eps (a sample broken at a
smaller radius is not attacked at a larger one), the active set across ensemble attacks, both
off with ``nested=False, active_set=False``, attacks that push samples away from their clean
prediction, targeted evaluations, any input domain, bad arguments refused."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from labelrobust.data import ImageSet
from labelrobust.data.disk2d import load_disk2d
from labelrobust.errors import ConfigError
from labelrobust.evaluation import (
    DIAGNOSTIC_ROLE,
    HALF_DIAMETER,
    AttackSpec,
    evaluate_attacks,
    get_suite,
)
from labelrobust.evaluation.checks import check_large_eps
from labelrobust.labels import make_label_space

from tests.disk_models import fit_disk_mlp
from tests.evaluation.cells import first

EPS = [0.05, 0.1, 0.2]
FGSM = AttackSpec("fgsm", "fgsm")
PGD = AttackSpec("pgd", "pgd", {"steps": 5, "objective": "margin"})


def broken_at(outcome, clean):
    mask, values = outcome.decision_tensor()
    return mask & (values != clean)


def cells(report, label):
    return sorted((o for o in report.outcomes if o.label == label), key=lambda o: o.eps)


def test_nested_eps_skips_what_a_smaller_radius_broke(trained):
    exp = trained("onehot")
    images = first(exp.dataset.test, 80)
    r = evaluate_attacks(exp.model, exp.space, images, [PGD], EPS, quiet=True)
    clean = r.clean_pred
    runs = cells(r, "pgd")
    assert runs[0].attacked == 80 and runs[0].skipped_nested == 0
    for larger in runs[1:]:
        before = torch.zeros(80, dtype=torch.bool)
        for o in runs:
            if o.eps < larger.eps:
                before |= broken_at(o, clean)
        attacked, _ = larger.decision_tensor()
        assert not (attacked & before).any()  # its ball contains the smaller one: already adversarial
        assert torch.equal(attacked, ~before) and larger.skipped_nested == int(before.sum()) > 0
    worst = list(r.worst_case().values())
    assert all(a >= b for a, b in zip(worst, worst[1:])) and worst[-1] < worst[0]
    assert worst[-1] == pytest.approx(runs[-1].robust_accuracy)


def test_the_active_set_carries_across_ensemble_attacks(trained):
    exp = trained("onehot")
    images = first(exp.dataset.test, 80)
    r = evaluate_attacks(exp.model, exp.space, images, [FGSM, PGD], [0.1], quiet=True)
    fgsm, pgd = cells(r, "fgsm")[0], cells(r, "pgd")[0]
    broken = broken_at(fgsm, r.clean_pred)
    assert fgsm.attacked == 80 and broken.any()
    attacked, _ = pgd.decision_tensor()
    assert torch.equal(attacked, ~broken) and pgd.skipped_active == int(broken.sum()) and pgd.skipped_nested == 0
    assert pgd.robust_accuracy <= fgsm.robust_accuracy  # an ensemble row: the worst case so far
    assert r.worst_case()[0.1] == pytest.approx(pgd.robust_accuracy)


def test_diagnostics_run_on_every_sample_and_nest_only_on_their_own_results(trained):
    exp = trained("onehot")
    images = first(exp.dataset.test, 60)
    probe = AttackSpec("probe", "pgd", {"steps": 5}, role=DIAGNOSTIC_ROLE)
    flat = AttackSpec("flat", "pgd", {"steps": 5}, role=DIAGNOSTIC_ROLE, nested=False)
    r = evaluate_attacks(exp.model, exp.space, images, [FGSM, probe, flat], [0.05, 0.1], quiet=True)
    assert all(o.attacked == 60 for o in cells(r, "flat"))
    small, large = cells(r, "probe")
    own = broken_at(small, r.clean_pred)
    assert large.attacked == 60 - int(own.sum()) and large.skipped_nested == int(own.sum()) and large.skipped_active == 0
    # the ensemble FGSM ran after the probes at each eps: it skips what they broke
    assert cells(r, "fgsm")[0].skipped_active > 0


def test_no_nesting_and_no_active_set_attack_everything_and_never_find_less(trained):
    exp = trained("onehot")
    images = first(exp.dataset.test, 100)
    specs = [FGSM, PGD]
    nested = evaluate_attacks(exp.model, exp.space, images, specs, EPS, quiet=True)
    flat = evaluate_attacks(exp.model, exp.space, images, specs, EPS, quiet=True, nested=False, active_set=False)
    assert all(o.attacked == 100 and o.skipped_nested == o.skipped_active == 0 for o in flat.outcomes)
    assert sum(o.attacked for o in nested.outcomes) < sum(o.attacked for o in flat.outcomes)
    assert sum(o.cost.get("gradients", 0) for o in nested.outcomes) < sum(o.cost["gradients"] for o in flat.outcomes)
    for eps in EPS:  # nesting reuses points that are valid at larger radii: never weaker beyond chance
        assert nested.worst_case()[eps] <= flat.worst_case()[eps] + 2 / 100, eps
    with pytest.raises(ConfigError, match="nested must be true or false"):
        evaluate_attacks(exp.model, exp.space, images, specs, EPS, quiet=True, nested="no")


def test_attacks_push_samples_away_from_their_clean_prediction(trained):
    """A model that gets some samples wrong: those are attacked too (against their wrong class),
    and survive only where the wrong decision does; robust accuracy never counts them."""
    exp = trained("onehot")
    weak = copy.deepcopy(exp.model)
    with torch.no_grad():
        for p in weak.parameters():
            p.add_(0.05 * torch.randn_like(p))
    images = first(exp.dataset.test, 120)
    r = evaluate_attacks(weak, exp.space, images, [PGD], [0.3], quiet=True)
    wrong = (r.clean_pred != r.labels) & (r.clean_pred >= 0)
    assert wrong.sum() >= 3, int(wrong.sum())
    o = r.outcomes[0]
    attacked, decisions = o.decision_tensor()
    assert attacked[wrong].all()  # not skipped as "already broken" against the true label
    moved = decisions != r.clean_pred
    assert moved[wrong].float().mean() > 0.5  # pushed away from the wrong class
    survived = (o.adv_pred == r.clean_pred)[r.clean_pred >= 0].float().mean().item()
    assert o.metrics["survival"] == pytest.approx(survived)
    robust = ((o.adv_pred == r.labels) & (r.clean_pred == r.labels)).float().mean().item()
    assert o.robust_accuracy == pytest.approx(robust)


def test_a_targeted_evaluation_leaves_out_the_target_class(trained):
    exp = trained("onehot")
    images = first(exp.dataset.test, 100)
    r = evaluate_attacks(exp.model, exp.space, images, [AttackSpec("pgd-t", "pgd", {"steps": 20, "objective": "margin"})], [0.3], target=3, quiet=True)
    o = r.outcomes[0]
    assert len(o.decisions) == int((images.labels != 3).sum()) and r.target == 3
    assert (o.adv_pred == 3).float().mean() > 0.8 and o.metrics["target_hit_rate"] > 0.8


def test_an_evaluation_on_the_disk_stays_in_its_box():
    """disk2d lives in [−1, 1]²: the radii are read against that box and every sample can be attacked."""
    data = load_disk2d(Path("unused"), False, radius=1.0, n_train=1000, n_test=100, seed=1)
    space = make_label_space("onehot", 2)
    model = fit_disk_mlp(data.train, space, hidden_layers=1, lr=0.03, steps=200)
    specs = [AttackSpec("pgd", "pgd", {"steps": 10}), AttackSpec("pgd-margin", "pgd", {"steps": 10, "objective": "margin"})]
    for norm in ("linf", "l2"):
        r = evaluate_attacks(model, space, data.test, specs, [0.1, 0.25, 0.5], norm, quiet=True, domain=data.domain)
        worst = list(r.worst_case().values())
        assert len(worst) == 3 and worst[0] > worst[-1] and all(a >= b for a, b in zip(worst, worst[1:]))
        assert r.domain == {"low": -1.0, "high": 1.0}
    with pytest.raises(ConfigError, match=r"must lie in the input domain \[0, 1\]"):
        evaluate_attacks(model, space, data.test, specs, [0.1], quiet=True)  # read as pixels


def test_errors(trained):
    exp = trained("onehot")
    test = exp.dataset.test
    quick = get_suite("quick")
    with pytest.raises(ConfigError, match="at least one eps"):
        evaluate_attacks(exp.model, exp.space, test, quick, [], quiet=True)
    with pytest.raises(ConfigError, match=r"target class must lie in 0\.\.9"):
        evaluate_attacks(exp.model, exp.space, test, quick, [0.1], target=12, quiet=True)
    with pytest.raises(ConfigError, match=r"eps 100 \(l2\) exceeds the largest l2 distance between two 1×8×8 inputs in \[0, 1\] \(8\)"):
        evaluate_attacks(exp.model, exp.space, test, quick, [100], "l2", quiet=True)
    with pytest.raises(ConfigError, match=r"eps 1\.5 \(linf\) exceeds"):
        evaluate_attacks(exp.model, exp.space, test, quick, [1.5], quiet=True)
    for bad in (0, -1, 2.5):
        with pytest.raises(ConfigError, match=f"batch_size must be an integer ≥ 1, got {bad}"):
            evaluate_attacks(exp.model, exp.space, test, quick, [0.1], batch_size=bad, quiet=True)
    with pytest.raises(ConfigError, match="attack labels must be unique within an evaluation; repeated: fgsm"):
        evaluate_attacks(exp.model, exp.space, test, [FGSM, FGSM], [0.1], quiet=True)


def test_on_the_device(trained, device):
    """The model on ``device``, the data on the CPU: batches move there, decisions come back."""
    exp = trained("onehot")
    model = copy.deepcopy(exp.model).to(device)
    images = first(exp.dataset.test, 40)
    r = evaluate_attacks(model, exp.space, images, [FGSM, PGD], [0.1], target=1, batch_size=16, quiet=True)
    assert len(r.outcomes) == 2 and r.clean_pred.device.type == "cpu"
    assert len(r.outcomes[0].decisions) == int((images.labels != 1).sum())


def test_results_do_not_depend_on_batching(trained):
    exp = trained("onehot")
    images = ImageSet(exp.dataset.test.images[:30], exp.dataset.test.labels[:30])
    one = evaluate_attacks(exp.model, exp.space, images, [FGSM], [0.1], batch_size=30, quiet=True)
    three = evaluate_attacks(exp.model, exp.space, images, [FGSM], [0.1], batch_size=10, quiet=True)
    assert one.outcomes[0].decisions == three.outcomes[0].decisions


def test_eps_keeps_its_text_across_calls(trained, tmp_path):
    exp = trained("onehot")
    images = first(exp.dataset.test, 40)
    state = tmp_path / "state.json"
    evaluate_attacks(exp.model, exp.space, images, [FGSM], ["8/255"], state_path=state, quiet=True)
    r = evaluate_attacks(exp.model, exp.space, images, [FGSM], [" 0.2"], state_path=state, quiet=True)
    assert [(o.eps_text, o.eps) for o in r.outcomes] == [("8/255", pytest.approx(8 / 255)), ("0.2", 0.2)]
    assert r.eps_texts()[8 / 255] == "8/255" and not r.stale and r.rows()[0]["eps_text"] == "8/255"


def test_a_large_eps_run_at_half_the_domain_diameter(trained):
    exp = trained("onehot")
    images = first(exp.dataset.test, 20)
    spec = AttackSpec("pgd-large", "pgd", {"steps": 5, "objective": "margin"}, role=DIAGNOSTIC_ROLE, eps=HALF_DIAMETER)
    r = evaluate_attacks(exp.model, exp.space, images, [spec], [], "l2", quiet=True)
    assert r.outcomes[0].eps == 4.0 and r.outcomes[0].fixed_eps and r.worst_case() == {}
    assert check_large_eps(r).ok is True
